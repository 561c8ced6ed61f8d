// Counts the CPUID instructions a program executes before it exits, by
// single-stepping it (its first thread only, through any exec it makes; its
// children and other threads run untraced).
// On a virtual machine each CPUID traps to the hypervisor, so this count times
// the per-instruction cost (cpuid-time.c) is what every process start pays there.
//
//   cpuid-count CMD ARGS...   (prints: N cpuid in M steps)
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/user.h>
int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: cpuid-count CMD...\n"); return 2; }
    pid_t pid = fork();
    if (pid == 0) { ptrace(PTRACE_TRACEME, 0, 0, 0); execv(argv[1], argv + 1); _exit(127); }
    int st;
    waitpid(pid, &st, 0);  // stopped at the exec
    long cpuids = 0, steps = 0;
    for (;;) {
        struct user_regs_struct r;
        if (ptrace(PTRACE_GETREGS, pid, 0, &r) != 0) break;
        long word = ptrace(PTRACE_PEEKTEXT, pid, r.rip, 0);
        if ((word & 0xffff) == 0xa20f) cpuids++;  // 0F A2
        steps++;
        if (ptrace(PTRACE_SINGLESTEP, pid, 0, 0) != 0) break;
        if (waitpid(pid, &st, 0) < 0 || WIFEXITED(st) || WIFSIGNALED(st)) break;
    }
    printf("%ld cpuid in %ld steps\n", cpuids, steps);
    return 0;
}
