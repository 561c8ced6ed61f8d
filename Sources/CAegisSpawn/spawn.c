// Starting and supervising the command.
//
// The child's set-up runs in this fixed order; each step depends on the one
// before it:
//   1. restore the signal mask the supervisor had before it blocked signals
//   2. (nothing: the descriptor is close-on-exec and stays so)
//   3. no_new_privs (with a sandbox only): required to load a filter
//      unprivileged, and it stops a set-uid program regaining what it takes away
//   4. load the seccomp filter, last, so that nothing aegis-exec itself does
//      runs under it; from here on only execveat is needed
//   5. execveat(fd, "", argv, envp, AT_EMPTY_PATH): run the very file judged
//      (a script: execve by the path it was found at, see aegis_spawn.h)
//   6. on failure, report errno through the close-on-exec pipe and _exit(127)
// The child runs after vfork, sharing the parent's memory until it execs, so
// it only makes system calls and never allocates.
#define _GNU_SOURCE
#include "aegis_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static void supervised_set(sigset_t *set) {
    sigemptyset(set);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(set, forwarded[i]);
    sigaddset(set, SIGCHLD);
}

pid_t aegis_spawn(const aegis_spawn_request *req, int *child_errno) {
    *child_errno = 0;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;

    sigset_t block, old;
    supervised_set(&block);
    sigprocmask(SIG_BLOCK, &block, &old);

    pid_t pid = vfork();
    if (pid == 0) {
        int e = 0;
        sigprocmask(SIG_SETMASK, &old, NULL);                              // 1
        if (req->filter_count > 0) {
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {             // 3
                e = errno;
            } else {                                                       // 4
                for (int i = 0; i < req->filter_count && e == 0; i++) {
                    struct sock_fprog prog = {req->filter_lens[i], (struct sock_filter *)req->filters[i]};
                    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) e = errno;
                }
            }
        }
        if (e == 0) {
            if (req->script_path)                                          // 5
                execve(req->script_path, req->argv, req->envp);
            else
                syscall(SYS_execveat, req->exec_fd, "", req->argv, req->envp, AT_EMPTY_PATH);
            e = errno;
        } else {
            e = -e;  // negative: the sandbox could not be set up (not an exec failure)
        }
        ssize_t unused = write(pipefd[1], &e, sizeof e);                    // 6
        (void)unused;
        _exit(127);
    }
    int fork_errno = errno;
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        sigprocmask(SIG_SETMASK, &old, NULL);
        errno = fork_errno;
        return -1;
    }
    int e = 0;
    ssize_t n;
    do n = read(pipefd[0], &e, sizeof e); while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof e) {
        // The exec failed: reap the child, report why.
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        sigprocmask(SIG_SETMASK, &old, NULL);
        *child_errno = e ? e : EIO;  // negative: sandbox set-up failed
        return -1;
    }
    return pid;
}

int aegis_wait(pid_t pid) {
    sigset_t set;
    supervised_set(&set);
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return -1;
        siginfo_t info;
        int sig = sigwaitinfo(&set, &info);
        if (sig < 0 || sig == SIGCHLD) continue;
        // The terminal signals the whole foreground group, so the command already
        // has it. Whatever a process sent (kill(1), a timeout, an agent's
        // terminate()) is forwarded, unless the command sent it itself: a
        // group-wide kill reaching the command twice is harmless, a missed one hangs.
        if (info.si_code == SI_KERNEL || info.si_pid == pid) continue;
        kill(pid, sig);
    }
}

const int aegis_o_path = O_PATH;

int aegis_signalfd(const sigset_t *mask) {
    return signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

int aegis_random(void *buf, size_t n) {
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}
