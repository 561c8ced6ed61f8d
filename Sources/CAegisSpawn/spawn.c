// Starting and supervising the command.
//
// The child's set-up runs in this fixed order; each step depends on the one
// before it:
//   0. with interception only: the parent-death signal, SIGKILL (see
//      supervised_child)
//   1. restore the signal mask the supervisor had before it blocked signals
//   2. (nothing: the descriptor is close-on-exec and stays so)
//   3. no_new_privs (with a sandbox only): required to load a filter
//      unprivileged, and it stops a set-uid program regaining what it takes away
//   4. load the seccomp filters, last, so that nothing aegis-exec itself does
//      runs under them; from here on only execveat is needed (with
//      interception, the filter that stops execs makes the listener)
//   5. execveat(fd, "", argv, envp, AT_EMPTY_PATH): run the very file judged
//      (a script: execve by the path it was found at, see aegis_spawn.h)
//   6. on failure, report errno (through the close-on-exec pipe; with
//      interception, in the memory it shares with the gate) and _exit(127)
// The child runs after vfork, sharing the parent's memory until it execs, so
// it only makes system calls and never allocates. With interception it is
// cloned instead, and the gate answers its first exec (see
// aegis_spawn_supervised).
#define _GNU_SOURCE
#include "aegis_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sched.h>
#include <sys/mman.h>
#include <linux/futex.h>
#include <linux/audit.h>
#include <linux/openat2.h>
#include <link.h>
#include <elf.h>
#include <unistd.h>

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

// SIGCONT is blocked too (which never stops it continuing the gate): read
// from the queue, it says the gate was just continued (see follow_stop).
static void supervised_set(sigset_t *set) {
    sigemptyset(set);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(set, forwarded[i]);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGCONT);
}

// A signal the supervisor got, passed on to the command. The terminal
// signals the whole foreground group, so the command already has those.
// Whatever a process sent (kill(1), a timeout, an agent's terminate()) is
// forwarded, unless the command sent it itself: a group-wide kill reaching
// the command twice is harmless, a missed one hangs. SIGCHLD only wakes the wait.
static void forward(pid_t pid, int sig, int code, pid_t from) {
    if (sig == SIGCHLD || sig == SIGCONT || code == SI_KERNEL || from == pid) return;
    kill(pid, sig);
}

// Whether a SIGCONT waits unread: the gate has been continued.
static int sigcont_pending(void) {
    sigset_t pending;
    return sigpending(&pending) == 0 && sigismember(&pending, SIGCONT) == 1;
}

// The command stopped. A job-control stop the command took alone (ssh's
// ~^Z, a program that sends itself SIGTSTP) stops the gate with the same
// signal, so the shell that started the gate sees its job stop and takes the
// terminal back, as without the gate; once the gate is continued (fg, bg), so
// is the command. A stop the whole group took (^Z at the terminal) already
// stopped the gate: if the gate has just been continued, the command is only
// continued with it (the group's SIGCONT may not have reached it yet), not
// stopped on. A SIGSTOP (a debugger, kill -STOP) is left to whoever sent it.
static void follow_stop(pid_t pid, int status, int continued) {
    int sig = WSTOPSIG(status);
    if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU) return;
    // A SIGCONT not yet read counts too: the same ^Z may have stopped the
    // gate just after it saw the command's stop.
    if (!continued && !sigcont_pending()) {
        kill(getpid(), sig);
        // Not stopped after all (the signal ignored, or an orphaned group,
        // where the kernel drops it): the command stays stopped, as it would
        // without the gate, rather than be woken to stop again at once.
        if (!sigcont_pending()) return;
    }
    kill(pid, SIGCONT);
}

// Reads every signal queued for the gate: forwards each, and says whether a
// SIGCONT was among them.
static int drain_signals(const sigset_t *set, pid_t pid) {
    int continued = 0;
    siginfo_t info;
    const struct timespec now = {0, 0};
    for (;;) {
        int sig = sigtimedwait(set, &info, &now);
        if (sig < 0) {
            if (errno == EINTR) continue;
            return continued;
        }
        if (sig == SIGCONT) continued = 1;
        forward(pid, sig, info.si_code, info.si_pid);
    }
}

// execve and execveat go to the supervisor; all else passes. A call made in
// another architecture's ABI (int 0x80 on x86-64 is i386, whose execve is
// 11) or with an x32 number (bit 30 set: the supervisor would read its
// 4-byte argv slots as 8-byte ones) is refused: these rules are not for them.
static struct sock_filter notify_program[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 4, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execve, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
};

const void *aegis_notify_program(int *count) {
    *count = (int)(sizeof notify_program / sizeof notify_program[0]);
    return notify_program;
}

// Linux 6.6's, not yet in every distribution's headers.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

const int aegis_nr_execve = __NR_execve;
const int aegis_nr_execveat = __NR_execveat;

// The child's side, after vfork: only system calls from here on.
static void become_command(const aegis_spawn_request *req, const sigset_t *old, int result_fd) {
    int e = 0;
    sigprocmask(SIG_SETMASK, old, NULL);                                   // 1
    if (req->filter_count > 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {                 // 3
            e = errno;
        } else {                                                           // 4
            for (int i = 0; i < req->filter_count && e == 0; i++) {
                struct sock_fprog prog = {req->filter_lens[i], (struct sock_filter *)req->filters[i]};
                if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) e = errno;
            }
        }
    }
    if (e == 0) {
        if (req->script_path)                                              // 5
            execve(req->script_path, req->argv, req->envp);
        else
            syscall(SYS_execveat, req->exec_fd, "", req->argv, req->envp, AT_EMPTY_PATH);
        e = errno;
    } else {
        e = -e;  // negative: the sandbox could not be set up (not an exec failure)
    }
    ssize_t unused = write(result_fd, &e, sizeof e);                        // 6
    (void)unused;
    _exit(127);
}

static int spawn_result(pid_t pid, int result_pipe, int *child_errno) {
    int e = 0;
    ssize_t n;
    do n = read(result_pipe, &e, sizeof e); while (n < 0 && errno == EINTR);
    close(result_pipe);
    if (n == (ssize_t)sizeof e) {
        // The exec failed: reap the child, report why.
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        sigset_t block;
        supervised_set(&block);
        sigprocmask(SIG_UNBLOCK, &block, NULL);
        *child_errno = e ? e : EIO;  // negative: sandbox set-up failed
        return -1;
    }
    return 0;
}

pid_t aegis_spawn(const aegis_spawn_request *req, int *child_errno) {
    *child_errno = 0;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;

    sigset_t block, old;
    supervised_set(&block);
    sigprocmask(SIG_BLOCK, &block, &old);

    pid_t pid = vfork();
    if (pid == 0) become_command(req, &old, pipefd[1]);
    int fork_errno = errno;
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        sigprocmask(SIG_SETMASK, &old, NULL);
        errno = fork_errno;
        return -1;
    }
    return spawn_result(pid, pipefd[0], child_errno) == 0 ? pid : -1;
}

// Interception without a thread of its own. The child is cloned sharing the
// gate's memory and descriptor table (CLONE_VM | CLONE_FILES), on a stack of
// its own, and unlike vfork the gate keeps running: the child's first exec
// stops for the supervisor, and the supervisor is this very thread. The
// listener the child makes is therefore already in the gate's table; the
// child publishes its number in `word` and wakes the gate.
// The kernel writes 0 to `word` and wakes the gate when the child leaves the
// shared memory, by exec or by exit (CLONE_CHILD_CLEARTID), which is how the
// gate learns that the exec happened, as vfork's return tells it otherwise.
// The child makes raw system calls only: it shares the gate's errno too.
typedef struct {
    const aegis_spawn_request *req;
    sigset_t old;
    volatile int word;  // 1: starting; 2: listener published; 0: child gone (exec or exit)
    int listener;       // -1 when a supervisor above judges the tree (outer_supervised)
    int error;          // why the child stopped: errno of the exec, or -errno of the sandbox
    pid_t gate;         // the gate's pid, to tell whether it died before the child's first step
} supervised_start;

#if defined(__x86_64__)
static long raw_syscall(long n, long a, long b, long c, long d, long e) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
    return ret;  // -errno on failure
}
#else
static long raw_syscall(long n, long a, long b, long c, long d, long e) {
    long r = syscall(n, a, b, c, d, e);
    return r < 0 ? -errno : r;
}
#endif

static int supervised_child(void *arg) {
    supervised_start *s = arg;
    const aegis_spawn_request *req = s->req;
    // The command dies with its gate (and stays dead if the gate died
    // already): no one would judge its execs any more. It matters most at the
    // first exec, which waits in the kernel for the gate's answer on a
    // listener that the shared descriptor table keeps open, so a gate killed
    // then would leave the child waiting for ever.
    long r = raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (r == 0 && raw_syscall(SYS_getppid, 0, 0, 0, 0, 0) != s->gate) raw_syscall(SYS_exit, 127, 0, 0, 0, 0);
    if (r == 0) r = raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&s->old, 0, _NSIG / 8, 0);  // 1
    if (r == 0) r = raw_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);                  // 3
    for (int i = 0; i < req->filter_count && r == 0; i++) {                                   // 4
        struct sock_fprog prog = {req->filter_lens[i], (struct sock_filter *)req->filters[i]};
        if (i == req->listener_filter) {
            long lfd = raw_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, (long)&prog, 0, 0);
            if (lfd >= 0) s->listener = (int)lfd;  // close-on-exec: the command never has it
            r = lfd < 0 ? lfd : 0;
        } else {
            r = raw_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog, 0, 0);
        }
    }
    if (r == 0 && req->listener_filter < 0) {
        struct sock_fprog prog = {sizeof notify_program / sizeof notify_program[0], notify_program};
        long lfd = raw_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, (long)&prog, 0, 0);
        if (lfd == -EBUSY && req->outer_supervised) {
            // A supervisor above already has a listener on this process tree
            // (a gate inside a gated command): the kernel allows one per
            // tree, and that supervisor judges this command's execs.
            s->listener = -1;
        } else if (lfd < 0) {
            r = lfd;
        } else {
            s->listener = (int)lfd;  // close-on-exec: the command never has it
        }
    }
    if (r != 0) {
        s->error = (int)r;  // negative: the sandbox could not be set up
        raw_syscall(SYS_exit, 127, 0, 0, 0, 0);
    }
    __atomic_store_n(&s->word, 2, __ATOMIC_RELEASE);
    raw_syscall(SYS_futex, (long)&s->word, FUTEX_WAKE, 1, 0, 0);
    if (req->script_path)                                                                     // 5
        r = raw_syscall(SYS_execve, (long)req->script_path, (long)req->argv, (long)req->envp, 0, 0);
    else
        r = raw_syscall(SYS_execveat, req->exec_fd, (long)"", (long)req->argv, (long)req->envp, AT_EMPTY_PATH);
    s->error = (int)-r;                                                                        // 6
    raw_syscall(SYS_exit, 127, 0, 0, 0, 0);
    return 127;
}

// One notification off a listener that polled readable: 1 with *out, 0 when
// there was none after all (or the call it was for has gone), -1 on error.
static int notify_recv(int listener, aegis_exec_notification *out) {
    struct seccomp_notif req;
    memset(&req, 0, sizeof req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) return errno == EINTR || errno == ENOENT ? 0 : -1;
    out->id = req.id;
    out->pid = (int)req.pid;
    out->nr = req.data.nr;
    for (int i = 0; i < 6; i++) out->args[i] = req.data.args[i];
    return 1;
}

static void wait_while(volatile int *word, int value) {
    // Not errno: the child may write the shared one until it leaves.
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == value)
        raw_syscall(SYS_futex, (long)word, FUTEX_WAIT, value, 0, 0);
}

pid_t aegis_spawn_supervised(const aegis_spawn_request *req, int *listener, int *child_errno) {
    *child_errno = 0;
    *listener = -1;
    supervised_start s = {.req = req, .word = 1, .listener = -1, .error = 0, .gate = getpid()};
    sigset_t block;
    supervised_set(&block);
    sigprocmask(SIG_BLOCK, &block, &s.old);
    // The child's stack: set-up is a handful of system calls. From the heap,
    // not a mapping of its own: unmapping it after the exec cost the gate a
    // TLB flush on every CPU the command had run on (mmap and munmap, ~20 us).
    const size_t stack_size = 64 * 1024;
    void *stack = aligned_alloc(64, stack_size);
    if (!stack) {
        int e = errno;
        sigprocmask(SIG_SETMASK, &s.old, NULL);
        errno = e;
        return -1;
    }
    // The pidfd is close-on-exec: the command never has it.
    int pidfd = -1;
    pid_t pid = clone(supervised_child, (char *)stack + stack_size,
                      CLONE_VM | CLONE_FILES | CLONE_CHILD_CLEARTID | CLONE_PIDFD | SIGCHLD, &s, &pidfd, NULL, &s.word);
    if (pid < 0) {
        int e = errno;
        free(stack);
        sigprocmask(SIG_SETMASK, &s.old, NULL);
        errno = e;
        return -1;
    }
    wait_while(&s.word, 1);
    if (__atomic_load_n(&s.word, __ATOMIC_ACQUIRE) == 2 && s.listener >= 0) {
        // Each stopped exec is a ping-pong: the child waits while the supervisor
        // answers. Woken on another CPU, the supervisor spun on the filter's lock
        // the child still held (a third of a nested exec's cost on two CPUs);
        // woken on the child's own CPU (Linux 6.6+), it runs as the child sleeps.
        // Older kernels refuse the flag, which only costs that speed.
        // (The flags are the ioctl's argument itself, not a pointer to them.)
        (void)ioctl(s.listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (unsigned long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
        // The command's own exec, judged before it started, is let through; no
        // other process is in the tree yet. Ends when that answer is taken,
        // or when the child is gone (its pidfd: a dead child's filter may stay
        // in use, and its listener quiet, until it is reaped).
        int unanswerable = 0;
        while (!unanswerable && __atomic_load_n(&s.word, __ATOMIC_ACQUIRE) == 2) {
            struct pollfd fds[2] = {{s.listener, POLLIN, 0}, {pidfd, POLLIN, 0}};
            int ready = poll(fds, pidfd >= 0 ? 2 : 1, 1000);
            if (ready < 0 && errno != EINTR) { unanswerable = 1; continue; }
            if (ready <= 0) continue;
            if (pidfd >= 0 && (fds[1].revents & POLLIN)) break;  // exited first (e.g. a filter refused its exec)
            if (fds[0].revents & (POLLHUP | POLLERR)) break;
            if (!(fds[0].revents & POLLIN)) continue;
            aegis_exec_notification n;
            int got = notify_recv(s.listener, &n);
            if (got < 0) { unanswerable = 1; continue; }
            if (got == 0) continue;
            if (n.pid != pid) {
                (void)aegis_notify_respond(s.listener, n.id, 0, EPERM);
                continue;
            }
            // Refused when the call has gone meanwhile (the child stopped, or
            // its exec restarted): its new notification comes round again.
            if (aegis_notify_respond(s.listener, n.id, 1, 0) == 0) break;
        }
        if (unanswerable) {
            // Closed, the listener fails a waiting exec (ENOSYS) rather than
            // leave the child stopped for ever.
            close(s.listener);
            s.listener = -1;
        }
    }
    if (pidfd >= 0) close(pidfd);
    // Until the kernel says the child has exec'd (or exited), it may still be
    // on its stack and reading the request.
    wait_while(&s.word, 2);
    free(stack);
    if (s.error != 0) {
        // The exec (or the sandbox before it) failed: reap the child, report why.
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (s.listener >= 0) close(s.listener);
        sigprocmask(SIG_UNBLOCK, &block, NULL);
        *child_errno = s.error;
        return -1;
    }
    *listener = s.listener;
    return pid;
}

int aegis_wait_supervised(pid_t pid, int listener, int *status) {
    sigset_t set;
    supervised_set(&set);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) return 1;  // a supervisor thread and aegis_wait do the same work
    struct pollfd fds[2] = {{sfd, POLLIN, 0}, {listener, POLLIN, 0}};
    nfds_t watched = 2;
    int continued = 0;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG | WUNTRACED);
        if (r == pid && WIFSTOPPED(st)) {
            follow_stop(pid, st, continued);
            continued = 0;
            continue;
        }
        continued = 0;
        if (r == pid) {
            close(sfd);
            *status = st;
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            int e = errno;
            close(sfd);
            errno = e;
            return -1;
        }
        if (poll(fds, watched, -1) < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(sfd);
            errno = e;
            return -1;
        }
        if (watched == 2 && (fds[1].revents & POLLIN)) {
            close(sfd);  // signals still pending are left for aegis_wait
            return 1;
        }
        // No process uses the filter any more: only the exit is still to come.
        if (watched == 2 && (fds[1].revents & (POLLHUP | POLLERR))) watched = 1;
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo info;
            while (read(sfd, &info, sizeof info) == (ssize_t)sizeof info) {
                if (info.ssi_signo == SIGCONT) continued = 1;
                forward(pid, (int)info.ssi_signo, info.ssi_code, (pid_t)info.ssi_pid);
            }
        }
    }
}

int aegis_notify_receive(int listener, int wake_fd, aegis_exec_notification *out, int timeout_ms) {
    struct pollfd fds[2] = {{listener, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int n = poll(fds, wake_fd >= 0 ? 2 : 1, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -1;
    if (n == 0 || (fds[1].revents & POLLIN)) return 0;
    if (fds[0].revents & (POLLHUP | POLLERR)) { errno = ENOENT; return -1; }
    return notify_recv(listener, out);
}

int aegis_notify_id_valid(int listener, unsigned long long id) {
    __u64 v = id;
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &v) == 0 ? 0 : -1;
}

int aegis_notify_respond(int listener, unsigned long long id, int allow, int error) {
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = id;
    if (allow) {
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    } else {
        resp.error = -error;
    }
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0 ? 0 : -1;
}

int aegis_wait(pid_t pid) {
    sigset_t set;
    supervised_set(&set);
    int continued = 0;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG | WUNTRACED);
        if (r == pid && WIFSTOPPED(status)) {
            follow_stop(pid, status, continued);
            continued = 0;
            continue;
        }
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return -1;
        siginfo_t info;
        int sig = sigwaitinfo(&set, &info);
        continued = sig == SIGCONT;
        if (sig >= 0) forward(pid, sig, info.si_code, info.si_pid);
        continued |= drain_signals(&set, pid);
    }
}

const int aegis_o_path = O_PATH;

long aegis_process_vm_readv(pid_t pid, const struct iovec *local, unsigned long local_count,
                            const struct iovec *remote, unsigned long remote_count) {
    return (long)process_vm_readv(pid, local, local_count, remote, remote_count, 0);
}

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

// The running binary's GNU build id (from its PT_NOTE segments), for telling
// builds apart when their files look alike.
struct build_id_search { unsigned char *out; int max; int found; };

static int build_id_callback(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct build_id_search *s = data;
    if (s->found >= 0) return 1;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_NOTE) continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        size_t left = info->dlpi_phdr[i].p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
            size_t name = (n->n_namesz + 3) & ~3u, desc = (n->n_descsz + 3) & ~3u;
            size_t total = sizeof *n + name + desc;
            if (total > left) break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(p + sizeof *n, "GNU", 4) == 0) {
                int len = (int)n->n_descsz < s->max ? (int)n->n_descsz : s->max;
                memcpy(s->out, p + sizeof *n + name, (size_t)len);
                s->found = len;
                return 1;
            }
            p += total;
            left -= total;
        }
    }
    return 1;  // the executable comes first; libraries do not matter
}

int aegis_build_id(unsigned char *out, int max) {
    struct build_id_search s = {out, max, -1};
    dl_iterate_phdr(build_id_callback, &s);
    return s.found < 0 ? 0 : s.found;
}

int aegis_open_directory_no_links(const char *path) {
    struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS};
    return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
}

int aegis_detach_quietly(const char *name) {
    if (setsid() < 0) return -1;
    (void)prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (syscall(SYS_close_range, 0U, ~0U, 0U) != 0) {
        for (int fd = 0; fd < 65536; fd++) close(fd);  // kernels before 5.9
    }
    int null = open("/dev/null", O_RDWR);  // 0: the lowest free descriptor
    if (null != 0) return -1;
    if (dup2(0, 1) != 1 || dup2(0, 2) != 2) return -1;
    return 0;
}
