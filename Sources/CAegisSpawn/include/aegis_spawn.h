#pragma once
#include <sys/types.h>

/// What the child needs to become the command. Everything is prepared by the
/// parent: the child only makes async-signal-safe system calls.
typedef struct {
    /// The executable, opened once by the parent (so the file judged is the file run).
    int exec_fd;
    /// For a script (#!): the path it was found at. Its interpreter opens the
    /// script by name whatever we do, and exec'ing the descriptor would make
    /// its $0 read /dev/fd/N, which breaks scripts that look at their own
    /// name (version-manager shims, wrappers); so scripts are exec'd by path.
    const char *script_path;
    char *const *argv;
    char *const *envp;
    /// Compiled seccomp filters (struct sock_filter[] each), loaded in order;
    /// the kernel applies every one and the most restrictive answer wins.
    const void *const *filters;
    const unsigned short *filter_lens;
    int filter_count;
} aegis_spawn_request;

/// Starts the command. Returns its pid, or -1 with *child_errno set to why the
/// exec failed (0 when the failure was the fork itself, then errno is set;
/// negative -E when no_new_privs or the seccomp filter could not be set).
/// Signals that the supervisor forwards are blocked in the caller on return.
pid_t aegis_spawn(const aegis_spawn_request *req, int *child_errno);

/// Waits for the child, forwarding signals sent to the supervisor (SIGINT,
/// SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH) that the child did not
/// already get from the terminal. Returns the wait status, or -1 with errno.
int aegis_wait(pid_t pid);

/// O_PATH, which Swift's Glibc module does not export (it needs _GNU_SOURCE).
extern const int aegis_o_path;

#include <signal.h>
#include <stddef.h>

/// A non-blocking, close-on-exec signalfd for `mask` (Swift's Glibc module
/// does not export signalfd): the prompt waits on the terminal and on
/// signals in one poll, so Ctrl-C denies instead of killing the gate unlogged.
int aegis_signalfd(const sigset_t *mask);

/// Fills `buf` with `n` bytes from the kernel's random generator (getrandom).
/// Returns 0, or -1 with errno.
int aegis_random(void *buf, size_t n);
