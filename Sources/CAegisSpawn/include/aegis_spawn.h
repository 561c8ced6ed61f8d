#pragma once
#include <sys/types.h>

/// What the child needs to become the command. Everything is prepared by the
/// parent: the child only makes async-signal-safe system calls.
typedef struct {
    /// The executable, opened once by the parent (so the file judged is the file run).
    int exec_fd;
    /// Scripts (#!) are run through /dev/fd/N by the kernel, so the descriptor
    /// must survive the exec; binaries get it closed.
    int keep_fd_for_script;
    char *const *argv;
    char *const *envp;
} aegis_spawn_request;

/// Starts the command. Returns its pid, or -1 with *child_errno set to why the
/// exec failed (0 when the failure was the fork itself; then errno is set).
/// Signals that the supervisor forwards are blocked in the caller on return.
pid_t aegis_spawn(const aegis_spawn_request *req, int *child_errno);

/// Waits for the child, forwarding signals sent to the supervisor (SIGINT,
/// SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH) that the child did not
/// already get from the terminal. Returns the wait status, or -1 with errno.
int aegis_wait(pid_t pid);

/// O_PATH, which Swift's Glibc module does not export (it needs _GNU_SOURCE).
extern const int aegis_o_path;
