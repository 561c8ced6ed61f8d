#pragma once

/// The gate's argc and argv, as glibc passed them to the program's
/// pre-initialisers. Linked into the gate only (see arguments.c).
int aegis_argument_count(void);
char **aegis_argument_vector(void);
