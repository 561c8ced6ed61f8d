#if canImport(Glibc)
import Glibc
#endif
import CAegisSpawn

/// An exec attempted somewhere in a gated command's process tree, read from
/// the stopped process.
public struct NestedExec: Sendable {
    public var pid: Int32
    /// The file being exec'd, as the supervisor can open it: absolute, with
    /// anything relative to the process (its cwd, its descriptors,
    /// /proc/self, /dev/fd) made relative to /proc/PID. Exact bytes.
    public var path: [UInt8]
    public var argv: [[UInt8]]
    public var cwd: String

    public init(pid: Int32, path: [UInt8], argv: [[UInt8]], cwd: String) {
        self.pid = pid
        self.path = path
        self.argv = argv
        self.cwd = cwd
    }

    /// Names that mean "this process" to the process and something else to
    /// the supervisor, rewritten to the process's own /proc directory.
    static func inProcess(_ path: [UInt8], pid: Int32) -> [UInt8] {
        let proc = Array("/proc/\(pid)/".utf8)
        for (prefix, replacement) in [("/proc/self/", proc), ("/proc/thread-self/", proc), ("/dev/fd/", proc + Array("fd/".utf8))] {
            let p = Array(prefix.utf8)
            if path.starts(with: p) { return replacement + path.dropFirst(p.count) }
        }
        for (name, fd) in [("/dev/stdin", "0"), ("/dev/stdout", "1"), ("/dev/stderr", "2")] where path == Array(name.utf8) {
            return proc + Array("fd/\(fd)".utf8)
        }
        return path
    }
}

/// The supervisor of a command run with interception: a thread that answers
/// the kernel's notifications for every execve/execveat in the tree, started
/// when the first of them waits (the gate's own thread lets the command's
/// first exec through and watches until then: aegis_spawn_supervised).
///
/// MUST: an exec whose arguments cannot be read is refused (EPERM).
/// MUST: the notification id is re-validated after the arguments are read,
///       so what was read belongs to the call being answered.
/// What it cannot prevent: another thread of a multi-threaded process
/// rewriting the argument memory between the check and the kernel's own read.
final class ExecSupervisor: @unchecked Sendable {  // its state is touched by its thread only, until join
    let judge: @Sendable (NestedExec) -> Bool
    /// The command's listener, its first exec already answered (aegis_spawn_supervised).
    private var listener: Int32
    private var wake: [Int32] = [-1, -1]
    private var thread = pthread_t()
    private var started = false

    init(listener: Int32, judge: @escaping @Sendable (NestedExec) -> Bool) {
        self.listener = listener
        self.judge = judge
    }

    /// Starts the supervisor thread; false if it could not be started (the
    /// caller then closes the listener, so the tree's execs fail rather than wait).
    func start() -> Bool {
        guard pipe(&wake) == 0 else { return false }
        for fd in wake { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { ctx in
            let s = Unmanaged<ExecSupervisor>.fromOpaque(ctx!).takeRetainedValue()
            s.loop()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<ExecSupervisor>.fromOpaque(box).release()
            for fd in wake { close(fd) }
            wake = [-1, -1]
            return false
        }
        started = true
        return true
    }

    /// Stops answering and waits for the thread; execs still to come in a
    /// tree that outlives the command then fail (the listener is closed).
    func stop() {
        guard started else { return }
        var b: UInt8 = 1
        _ = write(wake[1], &b, 1)
        pthread_join(thread, nil)
        for fd in wake { close(fd) }
        if listener >= 0 { close(listener) }
    }

    private func loop() {
        while true {
            var n = aegis_exec_notification()
            let r = aegis_notify_receive(listener, wake[0], &n, 1000)
            if r < 0 {
                // Unanswerable from here on: closing the listener makes the kernel
                // fail the tree's execs instead of leaving them waiting forever.
                close(listener)
                listener = -1
                return
            }
            if r == 0 {
                var fds = [pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
                if poll(&fds, 1, 0) > 0 { return }
                continue
            }
            handle(n)
        }
    }

    private func handle(_ n: aegis_exec_notification) {
        guard let exec = Self.read(n), aegis_notify_id_valid(listener, n.id) == 0 else {
            _ = aegis_notify_respond(listener, n.id, 0, EPERM)
            return
        }
        // A path that is not there or not executable (shells try each PATH
        // entry in turn): answered with the kernel's own error rather than let
        // through, so a file that appears in between is never run unjudged.
        let executable = exec.path.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { Array($0) + [0] }
        }
        guard access(executable, X_OK) == 0 else {
            _ = aegis_notify_respond(listener, n.id, 0, errno == ENOENT || errno == ENOTDIR ? errno : EACCES)
            return
        }
        let allowed = judge(exec)
        _ = aegis_notify_respond(listener, n.id, allowed ? 1 : 0, EPERM)
    }

    // MARK: reading the stopped process

    static let maxArgBytes = 2 << 20
    static let maxArgs = 1 << 16

    static func read(_ n: aegis_exec_notification) -> NestedExec? {
        let isExecveat = n.nr == aegis_nr_execveat
        let pathPointer = isExecveat ? n.args.1 : n.args.0
        let argvPointer = isExecveat ? n.args.2 : n.args.1
        let dirfd = isExecveat ? Int32(truncatingIfNeeded: n.args.0) : AT_FDCWD
        let mem = open("/proc/\(n.pid)/mem", O_RDONLY | O_CLOEXEC)
        guard mem >= 0 else { return nil }
        defer { close(mem) }
        guard let pathBytes = readString(mem, at: pathPointer, limit: Int(PATH_MAX)) else { return nil }
        var argv: [[UInt8]] = []
        var total = 0
        var p = argvPointer
        while argvPointer != 0 {
            var ptr: UInt64 = 0
            guard pread(mem, &ptr, 8, off_t(Int64(bitPattern: p))) == 8 else { return nil }
            if ptr == 0 { break }
            guard argv.count < maxArgs, let arg = readString(mem, at: ptr, limit: maxArgBytes - total) else { return nil }
            total += arg.count + 1
            argv.append(arg)
            p += 8
        }
        guard let cwd = ProcessInfo.readLink("/proc/\(n.pid)/cwd") else { return nil }
        // Relative names are resolved through the process's own cwd and
        // descriptors, never through paths read back as text.
        let absolute: [UInt8]
        if pathBytes.first == 0x2F {
            absolute = NestedExec.inProcess(pathBytes, pid: n.pid)
        } else {
            let base = Array((dirfd == AT_FDCWD ? "/proc/\(n.pid)/cwd" : "/proc/\(n.pid)/fd/\(dirfd)").utf8)
            absolute = pathBytes.isEmpty ? base : base + [0x2F] + pathBytes
        }
        return NestedExec(pid: n.pid, path: absolute, argv: argv, cwd: cwd)
    }

    static func readString(_ fd: Int32, at address: UInt64, limit: Int) -> [UInt8]? {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256)
        var at = address
        while out.count <= limit {
            let n = pread(fd, &chunk, chunk.count, off_t(Int64(bitPattern: at)))
            guard n > 0 else { return nil }
            if let z = chunk[..<n].firstIndex(of: 0) {
                out += chunk[..<z]
                return out
            }
            out += chunk[..<n]
            at += UInt64(n)
        }
        return nil
    }
}
