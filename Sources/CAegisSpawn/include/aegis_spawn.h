#pragma once
#include <signal.h>
#include <sys/types.h>
#include <sys/uio.h>

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
    /// aegis_spawn_supervised only: which of `filters` already stops
    /// execve/execveat for the supervisor (loaded with
    /// SECCOMP_FILTER_FLAG_NEW_LISTENER, it makes the listener), or -1 to
    /// load, last, a notification filter of its own.
    int listener_filter;
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

/// Starts the command with every exec in its process tree stopped for a
/// supervisor to judge, and answers the command's own first exec itself (it
/// was judged before). No thread is started: the child is cloned sharing the
/// gate's memory and descriptors, loads the filters, then the notification
/// filter, publishes its listener and execs; this thread lets that exec
/// through. Returns the pid with the listener (close-on-exec) in *listener,
/// -1 there when a supervisor above already judges the tree
/// (outer_supervised); or -1 as aegis_spawn does.
/// Signals that the supervisor forwards are blocked in the caller on return.
pid_t aegis_spawn_supervised(const aegis_spawn_request *req, int *listener, int *child_errno);

/// Waits for a supervised child as aegis_wait does, for as long as no exec
/// in its tree is waiting. Returns 0 with the wait status in *status; 1 when
/// an exec waits on the listener (a supervisor thread then takes the
/// listener over and aegis_wait the waiting); -1 with errno.
int aegis_wait_supervised(pid_t pid, int listener, int *status);

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

/// The separate notification filter (struct sock_filter[*count]), for tests.
const void *aegis_notify_program(int *count);

/// System call numbers the notification carries.
extern const int aegis_nr_execve;
extern const int aegis_nr_execveat;

/// Waits for the child, forwarding signals sent to the supervisor (SIGINT,
/// SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH) that the child did not
/// already get from the terminal. Returns the wait status, or -1 with errno.
int aegis_wait(pid_t pid);

/// O_PATH, which Swift's Glibc module does not export (it needs _GNU_SOURCE).
extern const int aegis_o_path;

/// process_vm_readv(2), which Swift's Glibc module does not export either.
long aegis_process_vm_readv(pid_t pid, const struct iovec *local, unsigned long local_count,
                            const struct iovec *remote, unsigned long remote_count);

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

/// Opens the directory at an absolute path (O_RDONLY | O_DIRECTORY |
/// O_CLOEXEC) with openat2's RESOLVE_NO_SYMLINKS: a symbolic link anywhere in
/// the path fails it with ELOOP. Returns the descriptor, or -1 with errno
/// (ENOSYS on kernels before 5.6).
int aegis_open_directory_no_links(const char *path);

/// For a process just forked to work on after its parent exits: a session of
/// its own (the terminal's job-control signals are not for it), no signal
/// blocked, every descriptor closed (a caller reading the parent's output
/// through a pipe must see it end when the parent does) and /dev/null as
/// standard input, output and error; `name` is what ps and top show for it
/// (at most 15 bytes). Returns 0, or -1 with errno.
int aegis_detach_quietly(const char *name);
