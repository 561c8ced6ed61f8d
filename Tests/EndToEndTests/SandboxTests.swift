import Foundation
import Testing

/// The seccomp sandbox on the real kernel: a sandboxed child really gets EPERM.
@Suite(.serialized) struct SandboxTests {
    /// A small C program that calls system calls with arguments that make an
    /// allowed call fail harmlessly, printing `NAME ERRNO` for each.
    static let probe: String = {
        let dir = NSTemporaryDirectory() + "aegis-probe-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = spawn(["cc", "-O", "-o", dir + "/probe", repoRoot.path + "/Tests/Fixtures/syscall-probe.c"].map { Array($0.utf8) },
                      env: ["PATH": "/usr/bin:/bin"], cwd: dir)
        precondition(r.status == 0, "cannot compile the probe: \(r.stderr)")
        return dir + "/probe"
    }()

    static let deniedByDefault = [
        "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "init_module",
        "finit_module", "delete_module", "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "keyctl",
        "add_key", "request_key", "userfaultfd", "reboot", "swapon", "swapoff", "io_uring_setup", "io_uring_enter",
        "io_uring_register", "unshare", "setns", "clone-newuser", "tiocsti", "tiocsti-high-bits",
        "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
        "lookup_dcookie", "pidfd_getfd",
    ]

    /// What `strict` refuses beyond the default profile, each probed (but
    /// vhangup, which would hang up the terminal were it allowed).
    static let deniedByStrict = [
        "sethostname", "acct", "capset", "setdomainname", "quotactl", "quotactl_fd", "open_by_handle_at",
        "fanotify_init", "fanotify_mark", "setuid", "setreuid", "setresuid", "setgroups", "chown", "fchown",
        "fchownat", "lchown", "clock_settime", "settimeofday", "adjtimex", "clock_adjtime", "iopl", "ioperm",
        "modify_ldt", "uselib", "ustat", "sysfs",
    ]

    func errnos(_ s: Sandbox, policy: String, _ names: [String]) -> [String: Int32] {
        let r = s.run(["--policy", policy, "--", Self.probe].map { Array($0.utf8) } + names.map { Array($0.utf8) })
        #expect(r.status == 0, "\(r.stderr)")
        var out: [String: Int32] = [:]
        for line in r.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            out[String(parts[0])] = Int32(parts[1])
        }
        return out
    }

    @Test func theDefaultProfileRefusesWithEPERM() {
        let s = Sandbox()
        let sandboxed = s.policy("defaults: { risk_level: low, approval: auto }\nrules: []\n", name: "default.yaml")
        let open = s.policy("defaults: { risk_level: low, approval: auto, sandbox: none }\nrules: []\n", name: "none.yaml")
        let inside = errnos(s, policy: sandboxed, Self.deniedByDefault + ["getpid", "clone3"])
        let outside = errnos(s, policy: open, Self.deniedByDefault + ["getpid", "clone3"])
        for name in Self.deniedByDefault {
            #expect(inside[name] == EPERM, "\(name): errno \(inside[name] ?? -1) under the default profile")
        }
        // The filter is what refuses: without it, most of these fail differently here.
        let provenByFilter = Self.deniedByDefault.filter { outside[$0] != EPERM }
        #expect(provenByFilter.count >= 20, "\(outside)")
        // clone3 reports ENOSYS so libc falls back to clone, whose flags the filter reads.
        #expect(inside["clone3"] == ENOSYS)
        #expect(inside["getpid"] == 0)
        #expect(s.sql("select sandbox from audit_log order by id") == ["default", "none"])
    }

    @Test func strictRefusesMoreAndTurnsTheNetworkOff() {
        let s = Sandbox()
        let strict = s.policy("defaults: { risk_level: low, approval: auto, sandbox: strict }\nrules: []\n", name: "strict.yaml")
        let standard = s.policy("defaults: { risk_level: low, approval: auto }\nrules: []\n", name: "default.yaml")
        let inside = errnos(s, policy: strict, Self.deniedByStrict + ["ptrace", "getpid"])
        let outside = errnos(s, policy: standard, Self.deniedByStrict + ["getpid"])
        for name in Self.deniedByStrict + ["ptrace"] {
            #expect(inside[name] == EPERM, "\(name): errno \(inside[name] ?? -1) under strict")
        }
        #expect(inside["getpid"] == 0)
        // The default profile lets them through, to fail (or succeed) on their own.
        #expect(Self.deniedByStrict.filter { outside[$0] != EPERM }.count >= 20, "\(outside)")
        #expect(outside["sethostname"] != EPERM)
        let inet = "import socket; socket.socket(socket.AF_INET); print('inet ok')"
        #expect(s.run("--policy", strict, "--", "python3", "-c", inet).status != 0)
        #expect(s.run("--policy", standard, "--", "python3", "-c", inet).stdout == "inet ok\n")
        let allowNet = s.policy("defaults: { risk_level: low, approval: auto, sandbox: { profile: strict, network: true } }\nrules: []\n", name: "strict-net.yaml")
        #expect(s.run("--policy", allowNet, "--", "python3", "-c", inet).stdout == "inet ok\n")
    }

    @Test func denyAddsSyscallsAndGroups() {
        let s = Sandbox()
        let p = s.policy("""
            defaults: { risk_level: low, approval: auto, sandbox: { profile: none, deny: [getpid, "@keyring"] } }
            rules: []
            """)
        let e = errnos(s, policy: p, ["getpid", "keyctl", "ptrace"])
        #expect(e["getpid"] == EPERM)
        #expect(e["keyctl"] == EPERM)
        #expect(e["ptrace"] != EPERM)
    }

    @Test func aStricterLayerCannotBeUndoneByTheCaller() throws {
        let s = Sandbox()
        try FileManager.default.createDirectory(atPath: s.dir + "/config/aegis", withIntermediateDirectories: true)
        s.policy("defaults: { risk_level: low, approval: auto, sandbox: { deny: [getpid] } }\nrules: []\n", name: "config/aegis/policy.yaml")
        let caller = s.policy("defaults: { risk_level: low, approval: auto, sandbox: none }\nrules: []\n", name: "caller.yaml")
        let e = errnos(s, policy: caller, ["getpid", "ptrace"])
        #expect(e["getpid"] == EPERM)
        #expect(e["ptrace"] == EPERM)
    }

    @Test func networkFalseRefusesInetSocketsButNotUnixOnes() throws {
        let s = Sandbox()
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        try #require(withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } } == 0)
        try #require(listen(listener, 16) == 0)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let connect = "import socket; socket.create_connection(('127.0.0.1', \(port)), timeout=5); print('connected')"
        let unix = "import socket; socket.socketpair(); print('unix ok')"
        let online = s.policy("defaults: { risk_level: low, approval: auto }\nrules: []\n", name: "online.yaml")
        let offline = s.policy("defaults: { risk_level: low, approval: auto, sandbox: { network: false } }\nrules: []\n", name: "offline.yaml")
        let ok = s.run("--policy", online, "--", "python3", "-c", connect)
        #expect(ok.status == 0 && ok.stdout == "connected\n", "\(ok.stderr)")
        let refused = s.run("--policy", offline, "--", "python3", "-c", connect)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("PermissionError") || refused.stderr.contains("Operation not permitted"), "\(refused.stderr)")
        #expect(s.run("--policy", offline, "--", "python3", "-c", unix).stdout == "unix ok\n")
    }

    /// socket() reads its family as an int: AF_INET with high bits set is
    /// still AF_INET, and must be refused like it.
    @Test func networkFalseComparesTheFamilyAsTheKernelReadsIt() {
        let s = Sandbox()
        let online = s.policy("defaults: { risk_level: low, approval: auto }\nrules: []\n", name: "online.yaml")
        let offline = s.policy("defaults: { risk_level: low, approval: auto, sandbox: { network: false } }\nrules: []\n", name: "offline.yaml")
        let probes = ["socket-inet", "socket-inet-high-bits"]
        let allowed = s.run(["--policy", online, "--", Self.probe].map { Array($0.utf8) } + probes.map { Array($0.utf8) })
        #expect(allowed.stdout == "socket-inet 0\nsocket-inet-high-bits 0\n", "\(allowed.stderr)")
        let refused = s.run(["--policy", offline, "--", Self.probe].map { Array($0.utf8) } + probes.map { Array($0.utf8) })
        #expect(refused.stdout == "socket-inet \(EPERM)\nsocket-inet-high-bits \(EPERM)\n", "\(refused.stderr)")
    }

    @Test func ordinaryCommandsRunUnderTheDefaultProfile() {
        let s = Sandbox()
        let p = s.policy("defaults: { risk_level: low, approval: auto }\nrules: []\n")
        let r = s.run("--policy", p, "--", "sh", "-c", "ls / >/dev/null && echo $(( 6 * 7 )) | cat && grep -c . /etc/hostname >/dev/null && echo done")
        #expect(r.status == 0)
        #expect(r.stdout == "42\ndone\n")
        #expect(s.run("--policy", p, "--", "grep", "Seccomp:", "/proc/self/status").stdout.contains("2"))
    }

    /// Docker's own default profile, as shipped by moby, behaves as under Docker.
    @Test func dockersProfileLoadsAndBehavesAsUnderDocker() throws {
        let s = Sandbox()
        let docker = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/data/docker-default-seccomp.json").path
        try #require(FileManager.default.fileExists(atPath: docker), "the shared test data is missing")
        let p = s.policy("defaults: { risk_level: low, approval: auto, sandbox: \(docker) }\nrules: []\n")
        let e = errnos(s, policy: p, ["clone-newuser", "unshare", "mount", "keyctl", "bpf", "ptrace", "getpid"])
        #expect(e["clone-newuser"] == EPERM)
        #expect(e["unshare"] == EPERM)
        #expect(e["mount"] == EPERM)
        #expect(e["keyctl"] == EPERM)
        #expect(e["bpf"] == EPERM)
        #expect(e["ptrace"] != EPERM)  // Docker allows ptrace on kernels from 4.8
        #expect(e["getpid"] == 0)
        let r = s.run("--policy", p, "--", "sh", "-c", "ls / >/dev/null && echo $(( 2 + 2 ))")
        #expect(r.stdout == "4\n")
        #expect(s.run("--policy", p, "--", "unshare", "-U", "true").status != 0)
    }

    @Test func aProfileFileIsFoundBesideThePolicyAndStacksWithTheBuiltInOne() throws {
        let s = Sandbox()
        // A small OCI profile that refuses only getpid, next to the policy.
        _ = s.write("deny-getpid.json", #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#)
        let p = s.policy("defaults: { risk_level: low, approval: auto, sandbox: deny-getpid.json }\nrules: []\n")
        #expect(errnos(s, policy: p, ["getpid", "ptrace"]) == ["getpid": EACCES, "ptrace": ESRCH])
        // A caller's profile file adds to the user layer's built-in profile.
        try FileManager.default.createDirectory(atPath: s.dir + "/config/aegis", withIntermediateDirectories: true)
        s.policy("defaults: { risk_level: low, approval: auto }\nrules: []\n", name: "config/aegis/policy.yaml")
        #expect(errnos(s, policy: p, ["getpid", "ptrace"]) == ["getpid": EACCES, "ptrace": EPERM])
    }

    @Test func aBrokenProfileFileStopsTheCommand() {
        let s = Sandbox()
        _ = s.write("broken.json", "{ not json")
        let p = s.policy("defaults: { risk_level: low, approval: auto, sandbox: broken.json }\nrules: []\n")
        let marker = s.dir + "/ran"
        let r = s.run("--policy", p, "--", "touch", marker)
        #expect(r.status == 78)
        #expect(r.stderr.contains("not valid JSON"))
        #expect(!FileManager.default.fileExists(atPath: marker))
        let missing = s.policy("defaults: { risk_level: low, approval: auto, sandbox: /nonexistent/p.json }\nrules: []\n", name: "m.yaml")
        #expect(s.run("--policy", missing, "--", "touch", marker).status == 78)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func badSandboxSettingsAreConfigurationErrors() {
        let s = Sandbox()
        let p = s.write("bad.yaml", "defaults: { approval: auto, sandbox: { deny: [\"@nope\", \"Bad-Name\"], network: maybe } }\nrules: []\n")
        let r = s.run("validate", p)
        #expect(r.status == 78)
        #expect(r.stdout.contains("unknown syscall group '@nope'"))
        #expect(r.stdout.contains("'Bad-Name' is not a system call name"))
        #expect(r.stdout.contains("sandbox.network must be true or false"))
        let unknown = s.policy("defaults: { risk_level: low, approval: auto, sandbox: { deny: [no_such_call] } }\nrules: []\n", name: "u.yaml")
        let marker = s.dir + "/ran"
        let u = s.run("--policy", unknown, "--", "touch", marker)
        #expect(u.status == 78)
        #expect(u.stderr.contains("unknown system call 'no_such_call'"))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}
