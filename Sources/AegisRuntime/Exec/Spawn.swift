#if canImport(Glibc)
import Glibc
#endif
import CAegisSpawn

/// How a command ended.
public enum Termination: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    /// The status a wrapper reports: the command's own, or 128+N for signal N.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let c): c
        case .signaled(let s): 128 + s
        }
    }
}

public enum SpawnError: Error, Equatable, Sendable {
    /// The exec itself failed in the child (errno), e.g. ENOEXEC, ETXTBSY.
    case exec(errno: Int32)
    /// no_new_privs or the seccomp filter could not be set (errno).
    case sandbox(errno: Int32)
    case system(SystemError)
}

public enum Spawner {
    /// Runs the executable with exactly these argument bytes and environment,
    /// and waits for it while forwarding signals.
    /// With `intercept`, every exec anywhere in the command's process tree is
    /// stopped and handed to it (on a supervisor thread, started at the first
    /// such exec); false refuses it with EPERM.
    public static func run(
        _ exe: ResolvedExecutable, argv: [[UInt8]], environment: [[UInt8]], filters: [SeccompFilter],
        intercept: (@Sendable (NestedExec) -> Bool)? = nil
    ) throws(SpawnError) -> Termination {
        let (pid, listener) = try start(exe, argv: argv, environment: environment, filters: filters, intercept: intercept != nil)
        var status: Int32 = -1
        var waitErrno: Int32 = 0
        var supervisor: ExecSupervisor?
        if listener >= 0, let intercept {
            // This thread supervises until an exec in the tree needs judging;
            // only then does a thread of its own take over (a command that
            // runs nothing else never starts one).
            let waited = aegis_wait_supervised(pid, listener, &status)
            waitErrno = errno
            if waited == 1 {
                let s = ExecSupervisor(listener: listener, judge: intercept)
                if s.start() {
                    supervisor = s
                } else {
                    // Unanswerable: closing the listener fails the tree's execs
                    // (the command goes on, and fails where it execs).
                    close(listener)
                }
                status = aegis_wait(pid)
                waitErrno = errno
            } else {
                close(listener)
                if waited < 0 { status = -1 }
            }
        } else {
            status = aegis_wait(pid)
            waitErrno = errno
        }
        supervisor?.stop()
        guard status >= 0 else { throw .system(SystemError("waitpid", errno: waitErrno)) }
        if (status & 0x7F) == 0 { return .exited((status >> 8) & 0xFF) }
        return .signaled(status & 0x7F)
    }

    /// Starts the command; with `intercept`, returns the listener too (-1
    /// when a supervisor above this gate judges the tree's execs).
    static func start(
        _ exe: ResolvedExecutable, argv: [[UInt8]], environment: [[UInt8]], filters: [SeccompFilter], intercept: Bool
    ) throws(SpawnError) -> (pid_t, Int32) {
        // NUL-terminated copies, alive until the child has exec'd. (Made as
        // optionals from the start: converting an array of pointers to one of
        // optional pointers cast every element at run time.)
        func cStrings(_ list: [[UInt8]]) -> [UnsafeMutablePointer<CChar>?] {
            var out: [UnsafeMutablePointer<CChar>?] = []
            out.reserveCapacity(list.count + 1)
            for bytes in list { out.append(cString(bytes)) }
            out.append(nil)
            return out
        }
        var cargv = cStrings(argv)
        var cenv = cStrings(environment)
        defer {
            for p in cargv { p?.deallocate() }
            for p in cenv { p?.deallocate() }
        }
        var childErrno: Int32 = 0
        let scriptPath = exe.isScript ? cString(exe.foundAt) : nil
        defer { scriptPath?.deallocate() }
        // Copies that live until the child has loaded them.
        let programs = filters.map { f -> UnsafeMutableRawPointer in
            let p = UnsafeMutableRawPointer.allocate(byteCount: f.program.count, alignment: 8)
            f.program.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: f.program.count) }
            return p
        }
        defer { programs.forEach { $0.deallocate() } }
        var pointers: [UnsafeRawPointer?] = programs.map { UnsafeRawPointer($0) }
        var lengths: [UInt16] = filters.map { UInt16($0.program.count / 8) }
        var listener: Int32 = -1
        let pid = cargv.withUnsafeMutableBufferPointer { a in
            cenv.withUnsafeMutableBufferPointer { e in
                pointers.withUnsafeMutableBufferPointer { fp in
                    lengths.withUnsafeMutableBufferPointer { lp in
                        var req = aegis_spawn_request(
                            exec_fd: exe.descriptor.raw, script_path: scriptPath,
                            argv: UnsafePointer(a.baseAddress!), envp: UnsafePointer(e.baseAddress!),
                            filters: UnsafePointer(fp.baseAddress), filter_lens: UnsafePointer(lp.baseAddress),
                            filter_count: Int32(filters.count),
                            listener_filter: intercept ? Int32(filters.firstIndex { $0.notifiesExecs } ?? -1) : -1,
                            outer_supervised: mayBeSupervisedFromAbove ? 1 : 0)
                        if intercept { return aegis_spawn_supervised(&req, &listener, &childErrno) }
                        return aegis_spawn(&req, &childErrno)
                    }
                }
            }
        }
        if pid < 0 {
            if childErrno < 0 { throw .sandbox(errno: -childErrno) }
            if childErrno != 0 { throw .exec(errno: childErrno) }
            throw .system(SystemError(intercept ? "clone" : "pipe2 or vfork", errno: errno))
        }
        return (pid, listener)
    }

    static func cString(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        bytes.withUnsafeBytes { if let base = $0.baseAddress { memcpy(p, base, $0.count) } }
        p[bytes.count] = 0
        return p
    }

    /// The variable that tells a nested aegis-exec which audit record it runs inside.
    public static let parentVariable = "AEGIS_AUDIT_PARENT"

    /// This gate may run inside a gated command, whose supervisor already
    /// holds the process tree's one listener. Its exec notification then goes
    /// in a filter of its own, which may fail with EBUSY; a sandbox filter
    /// carrying it would stop the execs with no listener to answer them.
    /// (The variable is the caller's to set: it only chooses between two
    /// ways of making a listener, and EBUSY without it fails the command.)
    public static var mayBeSupervisedFromAbove: Bool { getenv(parentVariable) != nil }

    /// The current environment as raw `NAME=value` byte strings, unchanged but
    /// for the parent variable, set to this command's audit record.
    /// For a shell running a judged string (`forShell`), the variables that
    /// make it run other code first are left out: BASH_ENV and ENV (a file
    /// it sources) and BASH_FUNC_* (functions bash imports, which can replace
    /// any command name).
    public static func currentEnvironment(settingParent record: String, forShell: Bool = false) -> [[UInt8]] {
        let prefix = Array((parentVariable + "=").utf8)
        let dropped = ["BASH_ENV=", "ENV=", "BASH_FUNC_"].map { Array($0.utf8) }
        var out: [[UInt8]] = []
        var p = environ
        while let entry = p.pointee {
            let bytes = Array(UnsafeRawBufferPointer(start: entry, count: strlen(entry)))
            if !bytes.starts(with: prefix) && !(forShell && dropped.contains { bytes.starts(with: $0) }) { out.append(bytes) }
            p += 1
        }
        out.append(prefix + Array(record.utf8))
        return out
    }
}
