// The gate's arguments, taken from glibc rather than by the Swift runtime.
//
// In a static executable the runtime's own capture (CommandLine.cpp) finds
// argv by reading /proc/self/maps and scanning the stack, in a constructor
// that every process runs: an open, a read of the kernel's map text and an
// sscanf loop, about 45 us per command paired against the same program
// without it. glibc already hands argc and argv to every function in
// .preinit_array, which runs before any other constructor, so the gate
// defines the two runtime entry points itself and the linker never pulls
// CommandLine.cpp's object out of libswiftCore.a. Should a toolchain move
// other symbols into that object, the link fails with a duplicate
// definition: loud, never a silently wrong argv. In a dynamic build the
// library's own copy may be the one called; it returns the same arguments.
#include "aegis_arguments.h"

static int saved_argc;
static char **saved_argv;
static char *empty_argv[] = {0};

static void capture(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

__attribute__((section(".preinit_array"), used))
static void (*const capture_entry)(int, char **, char **) = capture;

int aegis_argument_count(void) { return saved_argv ? saved_argc : 0; }
char **aegis_argument_vector(void) { return saved_argv ? saved_argv : empty_argv; }

// The Swift runtime's interface (stdlib/public/stubs/CommandLine.cpp).
char **_swift_stdlib_getUnsafeArgvArgc(int *outArgLen) {
    *outArgLen = aegis_argument_count();
    return aegis_argument_vector();
}

void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc) {
    saved_argv = argv;
    saved_argc = argc;
}
