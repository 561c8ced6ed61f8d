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
        let mem = RemoteMemory(pid: n.pid)
        // The path's first piece and the first block of argv's pointers come
        // in one call; whatever is not complete there is read on its own.
        // Whole pointers up to the page's end (one that straddles two is read as itself).
        func block(_ p: UInt64) -> RemoteMemory.Piece { RemoteMemory.Piece(address: p, count: max(8, RemoteMemory.chunk(p, 512) & ~7)) }
        let pathPiece = RemoteMemory.Piece(address: pathPointer, count: RemoteMemory.chunk(pathPointer, 256))
        let first = mem.readPrefix(argvPointer != 0 ? [pathPiece, block(argvPointer)] : [pathPiece])
        let pathChunk = first.bytes[..<pathPiece.count]
        let pathBytes: [UInt8]
        if first.whole >= 1, let z = pathChunk.firstIndex(of: 0) {
            pathBytes = Array(pathChunk[..<z])
        } else {
            guard let s = mem.string(at: pathPointer, limit: Int(PATH_MAX)) else { return nil }
            pathBytes = s
        }
        // The pointers first, in blocks; then the strings they point at, up to
        // 1,024 in one call.
        var pointers: [UInt64] = []
        var p = argvPointer
        var readAhead: ArraySlice<UInt8>? = first.whole == 2 ? first.bytes[pathPiece.count...] : nil
        reading: while argvPointer != 0 {
            let piece = block(p)
            let bytes: ArraySlice<UInt8>
            if let ahead = readAhead {
                bytes = ahead
                readAhead = nil
            } else {
                guard let b = mem.read([piece]) else { return nil }
                bytes = b[...]
            }
            for k in stride(from: 0, to: piece.count, by: 8) {
                let ptr = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: k, as: UInt64.self) }
                if ptr == 0 { break reading }
                guard pointers.count < maxArgs else { return nil }
                pointers.append(ptr)
            }
            p += UInt64(piece.count)
        }
        var argv: [[UInt8]] = []
        argv.reserveCapacity(pointers.count)
        var total = 0
        // argv[0] is most often the very string the path was read from: not
        // read again. (Both reads are of the same stopped process; the id is
        // checked after all of them.)
        var unread = 0
        if pathBytes.count < pathPiece.count, pointers.first == pathPointer {
            argv.append(pathBytes)
            total = pathBytes.count + 1
            unread = 1
        }
        for start in stride(from: unread, to: pointers.count, by: RemoteMemory.maxPieces) {
            let pieces = pointers[start..<min(start + RemoteMemory.maxPieces, pointers.count)].map {
                RemoteMemory.Piece(address: $0, count: RemoteMemory.chunk($0, 256))
            }
            let (bytes, whole) = mem.readPrefix(pieces)
            var offset = 0
            for (k, piece) in pieces.enumerated() {
                guard maxArgBytes - total >= 0 else { return nil }
                let arg: [UInt8]
                if k < whole, let z = bytes[offset..<(offset + piece.count)].firstIndex(of: 0) {
                    arg = Array(bytes[offset..<z])
                } else {
                    // Longer than its first piece, or not read with the others.
                    guard let s = mem.string(at: piece.address, limit: maxArgBytes - total) else { return nil }
                    arg = s
                }
                total += arg.count + 1
                argv.append(arg)
                offset += piece.count
            }
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
}

/// Another process's memory, read with process_vm_readv: no descriptor to
/// open (opening /proc/PID/mem cost ~15 µs for each new process), and many
/// pieces in one call. Each piece is kept within one page, so memory that is
/// not mapped ends a read at a piece's boundary, never inside one.
struct RemoteMemory {
    let pid: Int32

    struct Piece {
        var address: UInt64
        var count: Int
    }

    static let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    /// IOV_MAX: the most pieces one call takes.
    static let maxPieces = 1024

    /// Up to `want` bytes from `address`, not past the end of its page (at least 1).
    static func chunk(_ address: UInt64, _ want: Int) -> Int {
        min(want, page - Int(address % UInt64(page)))
    }

    /// The pieces' bytes, one after another, and how many pieces came whole
    /// (the rest of the buffer is zero).
    func readPrefix(_ pieces: [Piece]) -> (bytes: [UInt8], whole: Int) {
        let total = pieces.reduce(0) { $0 + $1.count }
        var bytes = [UInt8](repeating: 0, count: total)
        let got = bytes.withUnsafeMutableBytes { buf -> Int in
            var offset = 0
            var local: [iovec] = []
            var remote: [iovec] = []
            local.reserveCapacity(pieces.count)
            remote.reserveCapacity(pieces.count)
            for piece in pieces {
                local.append(iovec(iov_base: buf.baseAddress! + offset, iov_len: piece.count))
                remote.append(iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt(piece.address)), iov_len: piece.count))
                offset += piece.count
            }
            return aegis_process_vm_readv(pid, local, UInt(local.count), remote, UInt(remote.count))
        }
        var whole = 0
        var covered = 0
        for piece in pieces {
            covered += piece.count
            if covered > got { break }
            whole += 1
        }
        return (bytes, whole)
    }

    /// All the pieces, or nil if any could not be read.
    func read(_ pieces: [Piece]) -> [UInt8]? {
        let (bytes, whole) = readPrefix(pieces)
        return whole == pieces.count ? bytes : nil
    }

    /// The NUL-terminated string at `address`, without its NUL; nil if it
    /// cannot be read or runs past `limit` bytes.
    func string(at address: UInt64, limit: Int) -> [UInt8]? {
        var out: [UInt8] = []
        var at = address
        while out.count <= limit {
            let n = RemoteMemory.chunk(at, 256)
            guard let chunk = read([Piece(address: at, count: n)]) else { return nil }
            if let z = chunk.firstIndex(of: 0) {
                out += chunk[..<z]
                return out
            }
            out += chunk
            at += UInt64(n)
        }
        return nil
    }
}
