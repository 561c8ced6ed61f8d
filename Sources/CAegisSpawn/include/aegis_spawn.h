#pragma once
#include <signal.h>
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
    /// Load, last, a user-notification filter on execve/execveat whose
    /// listener the supervisor reads (see aegis_spawn_intercepted).
    int intercept;
    /// The gate runs inside a gated command, whose supervisor already has the
    /// tree's one listener: EBUSY then means "judged from above". Otherwise
    /// EBUSY (some other supervisor) fails the start: interception is never
    /// silently off.
    int outer_supervised;
} aegis_spawn_request;

/// Starts the command. Returns its pid, or -1 with *child_errno set to why the
/// exec failed (0 when the failure was the fork itself, then errno is set;
/// negative -E when no_new_privs or the seccomp filter could not be set).
/// Signals that the supervisor forwards are blocked in the caller on return.
pid_t aegis_spawn(const aegis_spawn_request *req, int *child_errno);

/// Interception, first step: makes the socket pair the child passes its
/// listener over and blocks the signals the supervisor forwards (the old mask
/// in *old). The supervisor thread is then started, so it inherits the
/// blocked mask and waits on sock[0] (aegis_receive_listener).
/// Returns 0, or -1 with errno.
int aegis_intercept_begin(int sock[2], sigset_t *old);

/// Second step: starts the command with every exec in its process tree
/// stopped for the supervisor to judge. The child is vforked (no copy of the
/// gate's memory), loads the filters, then the notification filter, sends
/// its listener on sock[1] and execs; that exec waits for the supervisor
/// thread, not for this one. Returns the pid, or -1 as aegis_spawn does.
/// sock[1] is closed on return; sock[0] stays the supervisor's.
pid_t aegis_spawn_intercepted(const aegis_spawn_request *req, const sigset_t *old, int sock[2], int *child_errno);

/// The supervisor's side: the listener (close-on-exec) with the command's
/// pid in *child; -2 when the process tree already has a supervisor above it
/// (the kernel allows one listener per tree; that one then judges these
/// execs); -1 when the child failed before sending one.
int aegis_receive_listener(int sock, pid_t *child);

/// The exec's outcome, read from the child's result pipe: 0 when it ran, or
/// -1 with *child_errno set (the child is then reaped).
int aegis_spawn_result(pid_t pid, int result_pipe, int *child_errno);

/// One stopped exec: who, which call, its raw arguments.
typedef struct {
    unsigned long long id;
    int pid;
    int nr;
    unsigned long long args[6];
} aegis_exec_notification;

/// Waits up to timeout_ms for a stopped exec on the listener, or for
/// `wake_fd` to become readable. Returns 1 with *out filled, 0 on timeout or
/// wake-up, -1 on error (errno).
int aegis_notify_receive(int listener, int wake_fd, aegis_exec_notification *out, int timeout_ms);

/// 0 while the stopped call is still waiting (its memory was read from the
/// process the notification named), -1 when it is gone.
int aegis_notify_id_valid(int listener, unsigned long long id);

/// Lets the exec proceed (allow) or fails it with `error`.
int aegis_notify_respond(int listener, unsigned long long id, int allow, int error);

/// System call numbers the notification carries.
extern const int aegis_nr_execve;
extern const int aegis_nr_execveat;

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

/// The running executable's GNU build id, up to `max` bytes into `out`;
/// returns its length, or 0 when it has none.
int aegis_build_id(unsigned char *out, int max);
