#if canImport(Glibc)
import Glibc
#endif
import AegisPolicy
import CLibSeccomp

/// A compiled seccomp-BPF program, ready for the child to load.
public struct SeccompFilter: Sendable {
    /// Raw `struct sock_filter` array, as the kernel takes it.
    public let program: [UInt8]
    /// It stops execve and execveat for the supervisor: loading it makes the
    /// command's listener (exec interception with one filter instead of two).
    public var notifiesExecs = false

    public init(program: [UInt8], notifiesExecs: Bool = false) {
        self.program = program
        self.notifiesExecs = notifiesExecs
    }
}

public enum SandboxError: Error, Sendable, Equatable {
    case unknownSyscall(String)
    case unknownGroup(String)
    case build(String)
}

/// Compiles an effective sandbox into its filters: the built-in one written
/// directly (FilterBuilder), OCI profiles with libseccomp.
///
/// MUST: everything not denied is allowed (a denylist: commands must run).
/// MUST: denied calls fail with EPERM, never kill, so programs see an error.
/// MUST: syscalls of foreign architectures (i386, x32 on x86-64) are refused,
///       or they would walk around every rule written for the native table.
/// MUST: ioctl requests compare only their low 32 bits (CVE-2019-10063).
public enum SeccompCompiler {
    static let cloneNamespaceFlags: [UInt64] = [
        0x0002_0000, // CLONE_NEWNS
        0x0200_0000, // CLONE_NEWCGROUP
        0x0400_0000, // CLONE_NEWUTS
        0x0800_0000, // CLONE_NEWIPC
        0x1000_0000, // CLONE_NEWUSER
        0x2000_0000, // CLONE_NEWPID
        0x4000_0000, // CLONE_NEWNET
        0x0000_0080, // CLONE_NEWTIME
    ]

    /// Address families refused without network: inet, inet6, netlink, packet.
    static let networkFamilies: [Int32] = [2, 10, 16, 17]

    /// Every filter the command runs under: the built-in one, then each OCI
    /// profile a layer names. With `notifyingExecs`, the built-in one also
    /// stops execve and execveat for the supervisor (each filter loaded costs
    /// the command 50-130 us), so the spawn needs no filter of its own for that.
    public static func filters(for sandbox: EffectiveSandbox, notifyingExecs: Bool = false) throws(SandboxError) -> [SeccompFilter] {
        var out: [SeccompFilter] = []
        if sandbox.needsBuiltinFilter, let f = try compile(sandbox, notifyingExecs: notifyingExecs) { out.append(f) }
        for path in sandbox.profileFiles { out.append(try OCIProfile.compile(path: path)) }
        return out
    }

    public static func compile(_ sandbox: EffectiveSandbox, notifyingExecs: Bool = false) throws(SandboxError) -> SeccompFilter? {
        if !sandbox.needsBuiltinFilter { return nil }
        #if arch(x86_64)
        if sandbox.hardened && !sandbox.noNetwork && sandbox.denied == SandboxGroups.standardDenied {
            return SeccompFilter(program: notifyingExecs ? BuiltinFilters.standardNotifying : BuiltinFilters.standard,
                                 notifiesExecs: notifyingExecs)
        }
        #endif
        return SeccompFilter(program: FilterBuilder.bytes(FilterBuilder.program(try rules(for: sandbox, notifyingExecs: notifyingExecs))),
                             notifiesExecs: notifyingExecs)
    }

    /// What the built-in filter does per syscall number, in ascending order.
    /// A call denied outright stays denied whatever else would only check its
    /// arguments. (A list, not a dictionary: each dictionary type costs a
    /// short process its first-use setup.)
    static func rules(for sandbox: EffectiveSandbox, notifyingExecs: Bool = false) throws(SandboxError) -> [(nr: Int32, rule: FilterBuilder.Rule)] {
        var rules: [(nr: Int32, rule: FilterBuilder.Rule)] = []
        func add(_ name: String, _ rule: FilterBuilder.Rule) throws(SandboxError) {
            if let nr = try FilterBuilder.number(name), !rules.contains(where: { $0.nr == nr }) { rules.append((nr, rule)) }
        }
        // Sorted (EffectiveSandbox keeps them so), so the first unknown name is always the one reported.
        for name in sandbox.denied { try add(name, .fail(EPERM)) }
        if sandbox.hardened {
            try add("ioctl", .failIfArgEquals(arg: 1, values: [aegis_tiocsti()]))
            try add("clone", .failIfArgHasAny(arg: 0, mask: UInt32(cloneNamespaceFlags.reduce(0, |))))
            // clone3 passes its flags in memory a filter cannot read: ENOSYS
            // makes libc fall back to clone, whose flags are checked above.
            try add("clone3", .fail(ENOSYS))
        }
        if sandbox.noNetwork {
            try add("socket", .failIfArgEquals(arg: 0, values: networkFamilies.map { UInt32($0) }))
            try add("io_uring_setup", .fail(EPERM))
        }
        // After the denials: a denied exec stays denied. (Other ABIs' numbers
        // for them are refused by the program's header.)
        if notifyingExecs {
            try add("execve", .notify)
            try add("execveat", .notify)
        }
        rules.sort { $0.nr < $1.nr }
        return rules
    }

    /// seccomp_export_bpf writes to a descriptor; a pipe brings it back.
    static func export(_ ctx: scmp_filter_ctx) throws(SandboxError) -> SeccompFilter {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw .build("pipe: \(String(cString: strerror(errno)))") }
        defer {
            close(fds[0])
        }
        let rc = seccomp_export_bpf(ctx, fds[1])
        close(fds[1])
        guard rc == 0 else { throw .build("export: \(String(cString: strerror(-rc)))") }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        guard !out.isEmpty, out.count % 8 == 0, out.count / 8 <= 4096 else { throw .build("filter has an unexpected size") }
        return SeccompFilter(program: out)
    }
}
