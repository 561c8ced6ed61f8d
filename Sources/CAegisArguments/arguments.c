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
//
// The same pre-initialiser turns off the runtime's crash backtracer for the
// gate. Its constructor, run by every process, looks for the swift-backtrace
// helper beside the binary and in the toolchain (a readlink of /proc/self/exe
// and eight stats, ~25 us a command here), and a gate that crashed would then
// exec whatever helper it found there. The runtime takes its settings only
// from SWIFT_BACKTRACE, read once by the first constructor that asks. So for
// the constructors, the gate's own setting stands in one slot of the
// environment array the process was started with (in place of every
// SWIFT_BACKTRACE there, or else of another variable): in place, because in
// a dynamically linked build libc takes that very array as `environ` after
// this runs. aegis_restore_environment, main's first line, puts every slot
// back, so nothing else ever sees the gate's setting and the command receives
// the environment unchanged. (An empty environment has no slot: the runtime
// then searches as usual.)
#include "aegis_arguments.h"
#include <string.h>

static int saved_argc;
static char **saved_argv;
static char *empty_argv[] = {0};

static char backtrace_setting[] = "SWIFT_BACKTRACE=enable=no,interactive=no,color=no,swift-backtrace=";
enum { max_replaced = 8 };
static char **replaced_slot[max_replaced];
static char *replaced_value[max_replaced];
static int replaced_count;

static void replace(char **slot) {
    replaced_slot[replaced_count] = slot;
    replaced_value[replaced_count] = *slot;
    replaced_count++;
    *slot = backtrace_setting;
}

static void capture(int argc, char **argv, char **envp) {
    saved_argc = argc;
    saved_argv = argv;

    if (!envp || !envp[0]) return;
    int settings = 0;
    for (char **e = envp; *e; e++) settings += strncmp(*e, "SWIFT_BACKTRACE=", 16) == 0;
    if (settings > max_replaced) return;  // the runtime searches as usual
    if (settings == 0) {
        // A slot the runtime does not read (its variables all begin SWIFT_).
        char **slot = envp;
        while (slot[1] && strncmp(*slot, "SWIFT_", 6) == 0) slot++;
        replace(slot);
        return;
    }
    for (char **e = envp; *e; e++) {
        if (strncmp(*e, "SWIFT_BACKTRACE=", 16) == 0) replace(e);
    }
}

__attribute__((section(".preinit_array"), used))
static void (*const capture_entry)(int, char **, char **) = capture;

void aegis_restore_environment(void) {
    while (replaced_count > 0) {
        replaced_count--;
        *replaced_slot[replaced_count] = replaced_value[replaced_count];
    }
}

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
