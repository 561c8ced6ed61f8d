/// The seccomp sandbox a command runs under, as a policy states it: in
/// `defaults` and per rule. Keys a rule sets replace the defaults'; `deny`
/// lists add up. Unset everywhere, the built-in `default` profile applies.
public struct SandboxSpec: Sendable, Equatable {
    public enum Profile: Sendable, Equatable, CustomStringConvertible {
        case none
        case standard  // `default`
        case strict
        /// An OCI runtime-spec seccomp profile (JSON), by absolute path.
        case file(String)

        public init?(name: String) {
            switch name {
            case "none": self = .none
            case "default": self = .standard
            case "strict": self = .strict
            default:
                guard name.hasPrefix("/") else { return nil }
                self = .file(name)
            }
        }

        public var description: String {
            switch self {
            case .none: "none"
            case .standard: "default"
            case .strict: "strict"
            case .file(let path): path
            }
        }
    }

    public var profile: Profile?
    public var network: Bool?
    /// Syscall names and @group names.
    public var deny: [String]
    /// Judge every exec in the command's process tree (seccomp user
    /// notification). Unset: on, except under the `none` profile.
    public var intercept: Bool?

    public init(profile: Profile? = nil, network: Bool? = nil, deny: [String] = [], intercept: Bool? = nil) {
        self.profile = profile
        self.network = network
        self.deny = deny
        self.intercept = intercept
    }

    /// This spec over a base: what this one sets replaces, denials add.
    public func over(_ base: SandboxSpec) -> SandboxSpec {
        SandboxSpec(profile: profile ?? base.profile, network: network ?? base.network, deny: base.deny + deny,
                    intercept: intercept ?? base.intercept)
    }
}

/// What a command actually runs under, after every layer has had its say.
public struct EffectiveSandbox: Sendable, Equatable, CustomStringConvertible {
    /// Syscalls refused with EPERM (names; groups expanded), sorted and
    /// without repeats. (An array: a Set's first use costs a short process
    /// more than every operation on these forty-odd names.)
    public private(set) var denied: [String]
    /// Refuse sockets outside the unix family.
    public var noNetwork: Bool
    public var profiles: [SandboxSpec.Profile]
    /// Every exec in the command's tree is judged too: on if any layer wants it.
    public var intercept = false

    /// A built-in profile applies: besides the syscall denials, it refuses
    /// TIOCSTI, namespace-creating clone flags and clone3, whose flags a
    /// filter cannot read.
    public var hardened: Bool { profiles.contains { $0 == .standard || $0 == .strict } }

    /// OCI profiles to load as filters of their own, beside the built-in one.
    public var profileFiles: [String] {
        profiles.compactMap { if case .file(let p) = $0 { p } else { nil } }
    }

    /// Whether running under `self` gives everything `other` asks for: its
    /// denials, its network restriction, its profile files. A nested exec
    /// runs in its command's sandbox, so one that asks for more is refused.
    public func covers(_ other: EffectiveSandbox) -> Bool {
        SortedNames.isSubset(other.denied, of: denied) && (!other.noNetwork || noNetwork)
            && other.profileFiles.allSatisfy(profileFiles.contains) && (!other.hardened || hardened)
    }

    public var isNone: Bool { !hardened && denied.isEmpty && !noNetwork && profileFiles.isEmpty }

    /// Whether a filter of the built-in kind is needed (besides profile files).
    public var needsBuiltinFilter: Bool { hardened || !denied.isEmpty || noNetwork }

    /// (Concatenated by hand: the generic `joined(separator:)` had the runtime
    /// look up an associated type by its mangled name in every command, 2%
    /// of the gate's perf samples.)
    public var description: String {
        var text = ""
        for (i, p) in profiles.enumerated() {
            if i > 0 { text += "+" }
            text += p.description
        }
        if noNetwork { text += ", no network" }
        if !intercept && !isNone { text += ", execs not intercepted" }
        if intercept && isNone { text += ", execs intercepted" }
        return text
    }

    /// The union of every layer's restrictions: a layer can add to the
    /// sandbox, never take from what another layer asked for.
    public static func combine(_ specs: [SandboxSpec]) throws(SandboxGroups.UnknownGroup) -> EffectiveSandbox {
        var out = EffectiveSandbox(denied: [], noNetwork: false, profiles: [])
        for spec in specs {
            let profile = spec.profile ?? .standard
            if !out.profiles.contains(profile) { out.profiles.append(profile) }
            out.denied = SortedNames.union(out.denied, SandboxGroups.denied(by: profile))
            if !spec.deny.isEmpty {
                var extra: [String] = []
                for name in spec.deny { extra += try SandboxGroups.expand(name) }
                out.denied = SortedNames.union(out.denied, SortedNames.sortedUnique(extra))
            }
            // strict has no network unless a policy says otherwise.
            if spec.network == false || (profile == .strict && spec.network != true) { out.noNetwork = true }
            if spec.intercept ?? (profile != .none) { out.intercept = true }
        }
        return out
    }
}

/// Syscall groups, named as systemd names them.
public enum SandboxGroups {
    public struct UnknownGroup: Error, Sendable, Equatable {
        public var name: String
    }

    public static let groups: [String: [String]] = [
        "@mount": ["mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
                   "move_mount", "open_tree", "mount_setattr"],
        "@module": ["init_module", "finit_module", "delete_module"],
        "@reboot": ["reboot", "kexec_load", "kexec_file_load"],
        "@swap": ["swapon", "swapoff"],
        "@raw-io": ["ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write"],
        "@debug": ["ptrace", "process_vm_readv", "process_vm_writev", "perf_event_open", "lookup_dcookie", "pidfd_getfd"],
        "@obsolete": ["_sysctl", "afs_syscall", "create_module", "get_kernel_syms", "getpmsg", "putpmsg",
                      "query_module", "security", "sysfs", "tuxcall", "uselib", "ustat", "vserver"],
        "@clock": ["adjtimex", "clock_adjtime", "clock_settime", "settimeofday"],
        "@cpu-emulation": ["modify_ldt", "vm86", "vm86old"],
        "@chown": ["chown", "fchown", "fchownat", "lchown"],
        // systemd's: its own calls, and those of @chown, @clock, @module, @raw-io, @reboot and @swap.
        "@privileged": ["acct", "bpf", "capset", "chroot", "fanotify_init", "fanotify_mark", "nfsservctl", "open_by_handle_at",
                        "pivot_root", "quotactl", "quotactl_fd", "setdomainname", "setfsuid", "setgroups", "sethostname",
                        "setresuid", "setreuid", "setuid", "vhangup", "_sysctl",
                        "chown", "fchown", "fchownat", "lchown",
                        "adjtimex", "clock_adjtime", "clock_settime", "settimeofday",
                        "init_module", "finit_module", "delete_module",
                        "ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write",
                        "reboot", "kexec_load", "kexec_file_load", "swapon", "swapoff"],
        "@keyring": ["keyctl", "add_key", "request_key"],
        "@io-uring": ["io_uring_setup", "io_uring_enter", "io_uring_register"],
        "@namespace": ["unshare", "setns"],
    ]

    /// What the built-in `default` profile refuses: what no agent command
    /// needs and what escapes or attacks the machine.
    public static let standard: [String] = ["@debug", "@mount", "@module", "@reboot", "@swap", "@keyring",
                                            "@io-uring", "@namespace", "bpf", "userfaultfd"]
    /// `strict` refuses more: everything systemd calls privileged (changing
    /// owners and user ids among it), obsolete, raw I/O, clock setting and CPU
    /// emulation (and, unless allowed, the network).
    public static let strict: [String] = standard + ["@privileged", "@obsolete", "@raw-io", "@clock", "@cpu-emulation"]

    /// What a profile refuses, expanded and sorted.
    public static func denied(by profile: SandboxSpec.Profile) -> [String] {
        switch profile {
        case .none: return []
        case .standard: return standardDenied
        case .strict: return strictDenied
        case .file: return []
        }
    }

    /// `standard` and `strict` expanded and sorted, written out: every command
    /// combines them, and expanding the groups (a dictionary) and sorting cost
    /// a short process its first use of both. A test holds them equal to the
    /// expansion of the lists above.
    public static let standardDenied: [String] = [
        "add_key", "bpf", "chroot", "delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
        "init_module", "io_uring_enter", "io_uring_register", "io_uring_setup", "kexec_file_load", "kexec_load",
        "keyctl", "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
        "pidfd_getfd", "pivot_root", "process_vm_readv", "process_vm_writev", "ptrace", "reboot", "request_key",
        "setns", "swapoff", "swapon", "umount", "umount2", "unshare", "userfaultfd",
    ]
    public static let strictDenied: [String] = [
        "_sysctl", "acct", "add_key", "adjtimex", "afs_syscall", "bpf", "capset", "chown", "chroot", "clock_adjtime",
        "clock_settime", "create_module", "delete_module", "fanotify_init", "fanotify_mark", "fchown", "fchownat",
        "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "getpmsg", "init_module",
        "io_uring_enter", "io_uring_register", "io_uring_setup", "ioperm", "iopl", "kexec_file_load", "kexec_load",
        "keyctl", "lchown", "lookup_dcookie", "modify_ldt", "mount", "mount_setattr", "move_mount", "nfsservctl",
        "open_by_handle_at", "open_tree", "pciconfig_iobase", "pciconfig_read", "pciconfig_write", "perf_event_open",
        "pidfd_getfd", "pivot_root", "process_vm_readv", "process_vm_writev", "ptrace", "putpmsg", "query_module",
        "quotactl", "quotactl_fd", "reboot", "request_key", "security", "setdomainname", "setfsuid", "setgroups",
        "sethostname", "setns", "setresuid", "setreuid", "settimeofday", "setuid", "swapoff", "swapon", "sysfs",
        "tuxcall", "umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vhangup", "vm86", "vm86old",
        "vserver",
    ]

    public static func expand(_ name: String) throws(UnknownGroup) -> [String] {
        guard name.hasPrefix("@") else { return [name] }
        guard let members = groups[name] else { throw UnknownGroup(name: name) }
        return members
    }

    /// A syscall name as the kernel spells them (checked against the kernel's
    /// table when the filter is built).
    public static func isPlausibleSyscallName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }
}

/// Sets of syscall names as sorted arrays without repeats.
public enum SortedNames {
    public static func sortedUnique(_ names: [String]) -> [String] {
        var out: [String] = []
        for n in names.sorted() where out.last != n { out.append(n) }
        return out
    }

    public static func union(_ a: [String], _ b: [String]) -> [String] {
        if a.isEmpty { return b }
        if b.isEmpty || a == b { return a }
        var out: [String] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i] < b[j]) {
                out.append(a[i]); i += 1
            } else if i == a.count || b[j] < a[i] {
                out.append(b[j]); j += 1
            } else {
                out.append(a[i]); i += 1; j += 1
            }
        }
        return out
    }

    public static func isSubset(_ a: [String], of b: [String]) -> Bool {
        var j = 0
        for name in a {
            while j < b.count && b[j] < name { j += 1 }
            guard j < b.count && b[j] == name else { return false }
        }
        return true
    }
}
