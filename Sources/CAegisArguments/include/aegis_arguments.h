#pragma once

/// The gate's argc and argv, as glibc passed them to the program's
/// pre-initialisers. Linked into the gate only (see arguments.c).
int aegis_argument_count(void);
char **aegis_argument_vector(void);

/// Puts back the environment the gate was given, after the runtime's
/// constructors have read the gate's own backtracer setting (see arguments.c).
/// main calls it first, before anything reads or passes on the environment.
void aegis_restore_environment(void);
