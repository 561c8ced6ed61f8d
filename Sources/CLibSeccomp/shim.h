#include <seccomp.h>
#include <errno.h>
#include <sys/ioctl.h>

// SCMP_ACT_ERRNO and SCMP_A1_64 are macros Swift cannot import.
static inline uint32_t aegis_scmp_act_eperm(void) { return SCMP_ACT_ERRNO(EPERM); }

/// Deny ioctl(fd, request) when the low 32 bits of request equal `request`:
/// the kernel reads the request as an unsigned int, so a filter comparing all
/// 64 bits could be passed by setting high bits (CVE-2019-10063).
static inline int aegis_scmp_deny_ioctl(scmp_filter_ctx ctx, uint32_t request) {
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                            SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, request));
}

/// Deny socket(domain, ...) for one address family.
static inline int aegis_scmp_deny_socket_family(scmp_filter_ctx ctx, int domain) {
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
                            SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)domain));
}

static inline uint32_t aegis_tiocsti(void) { return TIOCSTI; }

/// Deny clone() when a namespace flag is set in its first argument.
static inline int aegis_scmp_deny_clone_flag(scmp_filter_ctx ctx, uint64_t flag) {
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                            SCMP_A0_64(SCMP_CMP_MASKED_EQ, flag, flag));
}

/// Make a syscall fail with ENOSYS, as if the kernel lacked it.
static inline int aegis_scmp_enosys(scmp_filter_ctx ctx, int nr) {
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
}

/// Make a syscall fail with EPERM (seccomp_rule_add is variadic).
static inline int aegis_scmp_deny(scmp_filter_ctx ctx, int nr) {
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
}
