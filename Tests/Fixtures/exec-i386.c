// Execs argv[1] through the i386 system call ABI (int 0x80, execve = 11),
// which a 64-bit process may use when the kernel has IA-32 emulation. Prints
// the errno when the exec fails; on success the program runs instead.
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    // The i386 ABI takes 32-bit pointers: static buffers of a non-PIE
    // binary (cc -no-pie) lie below 4 GiB.
    static char path[256];
    static char *args[2];
    for (int i = 0; i < 255 && argv[1][i]; i++) path[i] = argv[1][i];
    args[0] = path;
    args[1] = 0;
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(11), "b"(path), "c"(args), "d"(0) : "memory");
    printf("%ld\n", -ret);
    return 1;
}
