// Starting and supervising the command.
//
// The child's set-up runs in this fixed order; each step depends on the one
// before it:
//   1. restore the signal mask the supervisor had before it blocked signals
//   2. keep the executable's descriptor open across exec only for scripts
//   3. execveat(fd, "", argv, envp, AT_EMPTY_PATH): run the very file judged
//   4. on failure, report errno through the close-on-exec pipe and _exit(127)
// The child runs after vfork, sharing the parent's memory until it execs, so
// it only makes system calls and never allocates.
#define _GNU_SOURCE
#include "aegis_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
        sigprocmask(SIG_SETMASK, &old, NULL);                              // 1
        if (req->keep_fd_for_script) fcntl(req->exec_fd, F_SETFD, 0);      // 2
        syscall(SYS_execveat, req->exec_fd, "", req->argv, req->envp, AT_EMPTY_PATH);  // 3
        int e = errno;                                                     // 4
        ssize_t unused = write(pipefd[1], &e, sizeof e);
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
        *child_errno = e ? e : EIO;
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
