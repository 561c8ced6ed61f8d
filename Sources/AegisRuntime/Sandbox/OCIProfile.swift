#if canImport(Glibc)
import Glibc
#endif
import AegisPolicy
import CLibSeccomp

/// Seccomp profiles in the OCI runtime-spec JSON format (what Docker, Podman
/// and Kubernetes use), compiled as their runtimes compile them for a
/// container with Docker's default capabilities on this architecture.
public enum OCIProfile {
    /// Docker's default capability set: a profile's `includes.caps` /
    /// `excludes.caps` are decided as for a default container.
    static let defaultCapabilities: Set<String> = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]

    /// This machine's architecture as OCI profiles name it (Go's names).
    static var nativeArch: String {
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch machine {
        case "x86_64": return "amd64"
        case "aarch64": return "arm64"
        case "i686", "i386": return "386"
        default: return machine
        }
    }

    static var kernelRelease: [Int] {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    }

    static func action(_ name: String, errno: Int64?) throws(SandboxError) -> UInt32 {
        switch name {
        case "SCMP_ACT_ALLOW": return 0x7fff_0000
        case "SCMP_ACT_ERRNO": return 0x0005_0000 | UInt32(truncatingIfNeeded: errno ?? Int64(EPERM)) & 0xffff
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return 0
        case "SCMP_ACT_KILL_PROCESS": return 0x8000_0000
        case "SCMP_ACT_TRAP": return 0x0003_0000
        case "SCMP_ACT_LOG": return 0x7ffc_0000
        default: throw .build("action \(name) is not supported (use ALLOW, ERRNO, KILL, KILL_PROCESS, TRAP or LOG)")
        }
    }

    static let operators: [String: scmp_compare] = [
        "SCMP_CMP_NE": SCMP_CMP_NE, "SCMP_CMP_LT": SCMP_CMP_LT, "SCMP_CMP_LE": SCMP_CMP_LE, "SCMP_CMP_EQ": SCMP_CMP_EQ,
        "SCMP_CMP_GE": SCMP_CMP_GE, "SCMP_CMP_GT": SCMP_CMP_GT, "SCMP_CMP_MASKED_EQ": SCMP_CMP_MASKED_EQ,
    ]

    static let libseccompArch: [String: String] = [
        "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32", "SCMP_ARCH_ARM": "arm",
        "SCMP_ARCH_AARCH64": "aarch64",
    ]
    static let goArch: [String: String] = ["SCMP_ARCH_X86_64": "amd64", "SCMP_ARCH_AARCH64": "arm64", "SCMP_ARCH_X86": "386"]

    /// Reads and compiles a profile file.
    public static func compile(path: String) throws(SandboxError) -> SeccompFilter {
        let bytes: [UInt8]
        do {
            let fd = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK)
            bytes = try fd.readAll(limit: 1 << 20)
        } catch {
            throw .build("cannot read seccomp profile \(path): \(error.reason)")
        }
        let doc: JSON
        do { doc = try JSON.parse(String(decoding: bytes, as: UTF8.self)) } catch {
            throw .build("seccomp profile \(path) is not valid JSON: \(error.message) at byte \(error.offset)")
        }
        do {
            return try compile(doc)
        } catch {
            if case .build(let why) = error { throw .build("seccomp profile \(path): \(why)") }
            throw error
        }
    }

    public static func compile(_ doc: JSON) throws(SandboxError) -> SeccompFilter {
        guard case .object(let profile) = doc else { throw .build("the profile must be a JSON object") }
        let defaultErrno: Int64? = if case .int(let e)? = profile["defaultErrnoRet"] { e } else { nil }
        guard let defaultName = profile["defaultAction"]?.string else { throw .build("defaultAction is missing") }
        guard let ctx = seccomp_init(try action(defaultName, errno: defaultErrno)) else { throw .build("seccomp_init failed") }
        defer { seccomp_release(ctx) }
        let native = nativeArch
        // Architectures: the native one and the sub-architectures the profile lists for it.
        if case .array(let maps)? = profile["archMap"] {
            for case .object(let m) in maps {
                guard let arch = m["architecture"]?.string, goArch[arch] == native else { continue }
                if case .array(let subs)? = m["subArchitectures"] {
                    for sub in subs.compactMap(\.string) {
                        guard let name = libseccompArch[sub] else { continue }
                        let token = seccomp_arch_resolve_name(name)
                        if token != 0 { _ = seccomp_arch_add(ctx, token) }
                    }
                }
            }
        }
        let kernel = kernelRelease
        guard case .array(let entries)? = profile["syscalls"] else { throw .build("syscalls is missing") }
        for case .object(let entry) in entries {
            if !applies(entry, native: native, kernel: kernel) { continue }
            let errnoRet: Int64? = if case .int(let e)? = entry["errnoRet"] { e } else { nil }
            guard let actionName = entry["action"]?.string else { throw .build("a syscalls entry has no action") }
            let act = try action(actionName, errno: errnoRet)
            var cmps: [scmp_arg_cmp] = []
            if case .array(let args)? = entry["args"] {
                for case .object(let a) in args {
                    guard case .int(let index)? = a["index"], (0...5).contains(index),
                          let opName = a["op"]?.string, let op = operators[opName] else {
                        throw .build("an args entry needs index 0-5 and a known op")
                    }
                    let value: UInt64 = if case .int(let v)? = a["value"] { UInt64(bitPattern: v) } else { 0 }
                    let valueTwo: UInt64 = if case .int(let v)? = a["valueTwo"] { UInt64(bitPattern: v) } else { 0 }
                    cmps.append(scmp_arg_cmp(arg: UInt32(index), op: op, datum_a: value, datum_b: valueTwo))
                }
            }
            guard case .array(let names)? = entry["names"] else { continue }
            for name in names.compactMap(\.string) {
                let nr = seccomp_syscall_resolve_name(name)
                // Names this kernel or architecture lacks are skipped, as runtimes do.
                if nr == __NR_SCMP_ERROR || nr < 0 { continue }
                let rc = cmps.withUnsafeBufferPointer { seccomp_rule_add_array(ctx, act, nr, UInt32($0.count), $0.baseAddress) }
                // -EEXIST/-EACCES: the rule equals the default action; not an error.
                if rc != 0 && rc != -EEXIST && rc != -EACCES {
                    throw .build("rule for \(name): \(String(cString: strerror(-rc)))")
                }
            }
        }
        return try SeccompCompiler.export(ctx)
    }

    /// includes / excludes: capabilities, architectures, minimum kernel.
    static func applies(_ entry: JSONObject, native: String, kernel: [Int]) -> Bool {
        func list(_ o: JSONObject, _ key: String) -> [String] {
            if case .array(let a)? = o[key] { return a.compactMap(\.string) }
            return []
        }
        if case .object(let inc)? = entry["includes"] {
            let caps = list(inc, "caps"), arches = list(inc, "arches")
            if !caps.isEmpty && !caps.allSatisfy(defaultCapabilities.contains) { return false }
            if !arches.isEmpty && !arches.contains(native) { return false }
            if let min = inc["minKernel"]?.string {
                let want = min.split(separator: ".").compactMap { Int($0) }
                if kernel.lexicographicallyPrecedes(want) { return false }
            }
        }
        if case .object(let exc)? = entry["excludes"] {
            if list(exc, "caps").contains(where: defaultCapabilities.contains) { return false }
            if list(exc, "arches").contains(native) { return false }
        }
        return true
    }
}
