// Calls each named system call with arguments that make it fail harmlessly
// when allowed, and prints NAME ERRNO per line (0 when it succeeded).
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

struct probe { const char *name; long nr; long a[6]; };

int main(int argc, char **argv) {
    struct probe probes[] = {
        {"ptrace", SYS_ptrace, {-1, 0, 0, 0}},
        {"process_vm_readv", SYS_process_vm_readv, {0, 0, 0, 0, 0, -1}},
        {"process_vm_writev", SYS_process_vm_writev, {0, 0, 0, 0, 0, -1}},
        {"mount", SYS_mount, {0, 0, 0, 0, 0}},
        {"umount2", SYS_umount2, {0, -1}},
        {"pivot_root", SYS_pivot_root, {0, 0}},
        {"init_module", SYS_init_module, {0, 0, 0}},
        {"finit_module", SYS_finit_module, {-1, 0, -1}},
        {"delete_module", SYS_delete_module, {0, -1}},
        {"kexec_load", SYS_kexec_load, {0, 0, 0, -1}},
        {"kexec_file_load", SYS_kexec_file_load, {-1, -1, 0, 0, -1}},
        {"bpf", SYS_bpf, {-1, 0, 0}},
        {"perf_event_open", SYS_perf_event_open, {0, 0, 0, 0, 0}},
        {"keyctl", SYS_keyctl, {-1, 0, 0, 0, 0}},
        {"add_key", SYS_add_key, {0, 0, 0, 0, 0}},
        {"request_key", SYS_request_key, {0, 0, 0, 0}},
        {"userfaultfd", SYS_userfaultfd, {-1}},
        {"reboot", SYS_reboot, {0, 0, 0, 0}},
        {"swapon", SYS_swapon, {0, 0}},
        {"swapoff", SYS_swapoff, {0}},
        {"io_uring_setup", SYS_io_uring_setup, {0, 0}},
        {"io_uring_enter", SYS_io_uring_enter, {-1, 0, 0, 0, 0, 0}},
        {"io_uring_register", SYS_io_uring_register, {-1, 0, 0, 0}},
        {"unshare", SYS_unshare, {-1}},
        {"setns", SYS_setns, {-1, 0}},
        {"clone-newuser", SYS_clone, {0x10000000 | 0x11 /* CLONE_NEWUSER|SIGCHLD */, 0, 0, 0, 0}},
        {"clone3", SYS_clone3, {0, 0}},
        {"tiocsti", SYS_ioctl, {-1, TIOCSTI, 0}},
        {"tiocsti-high-bits", SYS_ioctl, {-1, (long)(0x100000000UL | TIOCSTI), 0}},
        {"sethostname", SYS_sethostname, {0, -1}},
        {"socket-inet", SYS_socket, {2 /* AF_INET */, 1 /* SOCK_STREAM */, 0}},
        {"socket-inet-high-bits", SYS_socket, {(long)(0x100000000UL | 2), 1, 0}},
        {"getpid", SYS_getpid, {0}},
        // The rest of @mount and @debug (bad descriptors, null paths).
        {"chroot", SYS_chroot, {0}},
        {"fsopen", SYS_fsopen, {0, 0}},
        {"fsconfig", SYS_fsconfig, {-1, 0, 0, 0, 0}},
        {"fsmount", SYS_fsmount, {-1, 0, 0}},
        {"fspick", SYS_fspick, {-1, 0, 0}},
        {"move_mount", SYS_move_mount, {-1, 0, -1, 0, 0}},
        {"open_tree", SYS_open_tree, {-1, 0, 0}},
        {"mount_setattr", SYS_mount_setattr, {-1, 0, 0, 0, 0}},
        {"lookup_dcookie", SYS_lookup_dcookie, {0, 0, 0}},
        {"pidfd_getfd", SYS_pidfd_getfd, {-1, -1, 0}},
        // strict's own: what it adds to the default profile. (vhangup is left
        // out: allowed, it would hang up the terminal.)
        {"acct", SYS_acct, {1}},
        {"capset", SYS_capset, {0, 0}},
        {"setdomainname", SYS_setdomainname, {0, -1}},
        {"quotactl", SYS_quotactl, {0, 0, 0, 0}},
        {"quotactl_fd", SYS_quotactl_fd, {-1, 0, 0, 0}},
        {"open_by_handle_at", SYS_open_by_handle_at, {-1, 0, 0}},
        {"fanotify_init", SYS_fanotify_init, {-1, -1}},
        {"fanotify_mark", SYS_fanotify_mark, {-1, 0, 0, -1, 0}},
        {"setuid", SYS_setuid, {-1}},
        {"setreuid", SYS_setreuid, {-1, -1}},
        {"setresuid", SYS_setresuid, {-1, -1, -1}},
        {"setgroups", SYS_setgroups, {-1, 0}},
        {"chown", SYS_chown, {0, -1, -1}},
        {"fchown", SYS_fchown, {-1, -1, -1}},
        {"fchownat", SYS_fchownat, {-1, 0, -1, -1, 0}},
        {"lchown", SYS_lchown, {0, -1, -1}},
        {"clock_settime", SYS_clock_settime, {-1, 0}},
        {"settimeofday", SYS_settimeofday, {1, 1}},
        {"adjtimex", SYS_adjtimex, {0}},
        {"clock_adjtime", SYS_clock_adjtime, {-1, 0}},
        {"iopl", SYS_iopl, {4}},
        {"ioperm", SYS_ioperm, {-1, 1, 0}},
        {"modify_ldt", SYS_modify_ldt, {-1, 0, 0}},
        {"uselib", SYS_uselib, {0}},
        {"ustat", SYS_ustat, {0, 0}},
        {"sysfs", SYS_sysfs, {-1}},
    };
    for (int i = 1; i < argc; i++) {
        for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
            struct probe *p = &probes[k];
            if (strcmp(p->name, argv[i]) != 0) continue;
            errno = 0;
            long r = syscall(p->nr, p->a[0], p->a[1], p->a[2], p->a[3], p->a[4], p->a[5]);
            if (r > 0 && p->nr == SYS_clone) _exit(0);  // child of an allowed clone
            printf("%s %d\n", p->name, r < 0 ? errno : 0);
        }
    }
    return 0;
}
