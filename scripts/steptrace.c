// Single-steps a command (and its threads, and its children until they exec)
// and writes each distinct instruction address in [LO, HI) that it ran, in hex:
// which functions the gate really runs, for scripts/order-functions. Slow
// (every instruction is a stop), so it traces one command at a time.
//
//   steptrace OUT LO HI CMD ARGS...   (LO, HI in hex: the binary's code segment)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/user.h>
int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: steptrace OUT LO HI CMD...\n"); return 2; }
    FILE *out = fopen(argv[1], "w");
    uint64_t lo = strtoull(argv[2], 0, 16), hi = strtoull(argv[3], 0, 16);
    uint8_t *seen = calloc(hi - lo, 1);
    pid_t root = fork();
    if (root == 0) { ptrace(PTRACE_TRACEME, 0, 0, 0); raise(SIGSTOP); execv(argv[4], argv + 4); _exit(127); }
    int st; waitpid(root, &st, 0);
    ptrace(PTRACE_SETOPTIONS, root, 0, PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
    ptrace(PTRACE_CONT, root, 0, 0);  // to the exec of the command
    int stepping_root = 0, live = 1; long steps = 0;
    while (live > 0) {
        pid_t pid = waitpid(-1, &st, __WALL);
        if (pid < 0) break;
        if (WIFEXITED(st) || WIFSIGNALED(st)) { live--; continue; }
        if (!WIFSTOPPED(st)) continue;
        int sig = WSTOPSIG(st), ev = st >> 16;
        if (sig == SIGTRAP && ev == PTRACE_EVENT_EXEC) {
            if (pid == root && !stepping_root) { stepping_root = 1; ptrace(PTRACE_SINGLESTEP, pid, 0, 0); }
            else { ptrace(PTRACE_DETACH, pid, 0, 0); live--; }  // a child now runs another program
            continue;
        }
        if (sig == SIGTRAP && (ev == PTRACE_EVENT_CLONE || ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK)) {
            live++; ptrace(PTRACE_SINGLESTEP, pid, 0, 0); continue;
        }
        if (sig == SIGTRAP || sig == SIGSTOP) {
            struct user_regs_struct r; ptrace(PTRACE_GETREGS, pid, 0, &r);
            if (r.rip >= lo && r.rip < hi) seen[r.rip - lo] = 1;
            steps++;
            ptrace(PTRACE_SINGLESTEP, pid, 0, 0); continue;
        }
        ptrace(PTRACE_SINGLESTEP, pid, 0, sig);  // the command's own signal
    }
    long n = 0;
    for (uint64_t a = 0; a < hi - lo; a++) if (seen[a]) { fprintf(out, "%lx\n", (unsigned long)(lo + a)); n++; }
    fclose(out);
    fprintf(stderr, "steptrace: %ld steps, %ld distinct addresses\n", steps, n);
    return 0;
}
