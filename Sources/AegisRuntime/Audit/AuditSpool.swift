#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy

/// The head of the audit log: the records a command writes on its way,
/// appended to `<store>-spool` next to the SQLite store, and moved into the
/// store's table in batches (`AuditStore.ingestSpool`).
///
/// Why a spool: opening the SQLite store costs a one-command process about
/// 0.8 ms (the WAL's shared-memory index is rebuilt whenever no other
/// process has the store open, then the schema is read and two transactions
/// commit), more than everything else the gate does. An append costs tens
/// of microseconds, with the same durability as the store's default
/// (`synchronous=NORMAL`: written to the kernel, not synced; `full` syncs).
///
/// MUST: a record is written whole, in one write(2), under the spool's lock.
/// MUST: each record carries the hash of the one before it, so an edit or a
///       removal before ingestion shows, as it does in the store's table.
/// MUST: every reader of the log ingests first: what the gate wrote is never
///       missing from what `aegis-exec audit` shows.
///
/// A line is `JSON TAB HASH NEWLINE`, HASH = SHA-256 of the previous line's
/// HASH, a newline, and JSON. After an ingestion the spool is cut to one seal
/// line, `{"k":"seal"} TAB HASH`, carrying the last hash ingested.
public final class AuditSpool {
    public let path: String
    public let storePath: String
    let descriptor: FileDescriptor
    let syncEachRecord: Bool

    public static func path(forStore store: String) -> String { store + "-spool" }

    static let sealBody = Array(#"{"k":"seal"}"#.utf8)

    /// Opens (creating, private to the user) the spool of the store at `storePath`.
    public init(storePath: String, synchronous: AuditSettings.Synchronous = .normal) throws(AuditStore.OpenError) {
        self.storePath = storePath
        path = AuditSpool.path(forStore: storePath)
        syncEachRecord = synchronous == .full
        let flags = O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK
        if geteuid() == 0 { try AuditStore.rootOwnedParent(of: storePath, create: true) }
        do {
            descriptor = try FileDescriptor.open(path, flags | AuditSpool.noAccessTime, mode: 0o600)
        } catch where error.errno == EPERM {
            // Not the owner's: opened without it, to be refused with the reason below.
            do { descriptor = try FileDescriptor.open(path, flags, mode: 0o600) } catch {
                throw .database(path: path, reason: error.reason)
            }
        } catch where error.errno == ENOENT {
            // The first command: make the directories (0700), then open again.
            try AuditStore.makeParentDirectory(of: storePath)
            do { descriptor = try FileDescriptor.open(path, flags | AuditSpool.noAccessTime, mode: 0o600) } catch {
                throw .database(path: path, reason: error.reason)
            }
        } catch {
            throw .database(path: path, reason: error.reason)
        }
        // A FIFO or device planted at the path would swallow records or hang the gate.
        if let reason = AuditSpool.unusable(descriptor.raw) { throw .database(path: path, reason: reason) }
        // The store itself must take the records later: a store that cannot
        // be written now would leave them in the spool for good.
        if access(storePath, W_OK) != 0 && errno != ENOENT {
            throw .database(path: storePath, reason: String(cString: strerror(errno)))
        }
    }

    /// O_NOATIME: each append reads the last line's hash back, and with
    /// `relatime` that read after a write dirtied the inode again every time.
    static let noAccessTime: Int32 = 0o1000000

    /// Why an opened spool cannot be used, or nil: it must be a regular file
    /// with one name (a hard link could point a root gate's appends at
    /// another file), owned by this user; `reading` lets root move another
    /// user's spool (SQLite gives the files it creates the store's owner).
    static func unusable(_ fd: Int32, reading: Bool = false) -> String? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return String(cString: strerror(errno)) }
        if st.st_mode & S_IFMT != S_IFREG { return "not a regular file" }
        if st.st_nlink != 1 { return "has \(st.st_nlink) names (hard links); it must have one" }
        if st.st_uid != geteuid() && !(reading && geteuid() == 0) {
            return "owned by uid \(st.st_uid), not by the user the gate runs as"
        }
        return nil
    }

    /// Past this the gate refuses to write more: the spool has not been moved
    /// into the store for thousands of commands, and moving it keeps failing
    /// (see `crossedIngestPoint`); `aegis-exec audit flush` says why.
    public static let capacity = 16 << 20

    public enum WriteError: Error, Sendable, CustomStringConvertible {
        case locked(path: String)
        case system(path: String, SystemError)
        case full(path: String, bytes: Int)

        public var description: String {
            switch self {
            case .locked(let p): "\(p) stayed locked by another process for 10 s"
            case .system(let p, let e): "\(p): \(e.reason)"
            case .full(let p, let n):
                "\(p) holds \(n >> 20) MiB that could not be moved into the audit store; run `aegis-exec audit flush` to see why"
            }
        }
    }

    /// The spool's size before and after one append.
    public struct Appended: Sendable {
        public var before: Int
        public var after: Int

        /// Whether this append took the spool past `threshold`, or past any
        /// doubling of it: moving into the store is tried then, so a store
        /// that keeps failing is retried at 128 KiB, 256 KiB, 512 KiB... and
        /// not re-read by every command.
        public func crossedIngestPoint(_ threshold: Int) -> Bool {
            var point = threshold
            while point <= after {
                if before < point { return true }
                point *= 2
            }
            return false
        }
    }

    /// Takes the spool's lock, waiting at most 10 s: a holder that is stopped
    /// or stuck makes commands fail, not hang. The 10 s are read off the
    /// monotonic clock, not summed from the sleeps: on a loaded machine each
    /// sleep overruns, and a sum of 10 s took over 14 s of real time.
    static func lock(_ fd: Int32, path: String) throws(WriteError) {
        var started: UInt64 = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw .system(path: path, SystemError("flock", errno: errno)) }
            let now = ProcessInfo.monotonicNanoseconds()
            if started == 0 { started = now }
            let waited = now - started
            if waited >= 10_000_000_000 { throw .locked(path: path) }
            usleep(waited < 10_000_000 ? 200 : 2_000)
        }
    }

    /// The hash the next line chains to: the last line's, or nil when the
    /// spool is empty. A last line cut short (a crash mid-write on a disk
    /// that tears) is ended, and the chain restarts; ingestion reports it.
    static func tail(_ fd: Int32, path: String) throws(WriteError) -> (hash: [UInt8]?, size: Int, torn: Bool) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .system(path: path, SystemError("fstat", errno: errno)) }
        let size = Int(st.st_size)
        if size == 0 { return (nil, 0, false) }
        var buf = [UInt8](repeating: 0, count: 66)
        let want = min(66, size)
        let got = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(size - want)) }
        guard got == want else { throw .system(path: path, SystemError("pread", errno: got < 0 ? errno : EIO)) }
        if want == 66, buf[65] == 0x0A, buf[0] == 0x09, buf[1..<65].allSatisfy(isHexDigit) {
            return (Array(buf[1..<65]), size, false)
        }
        return (nil, size, true)
    }

    static func isHexDigit(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) || (0x61...0x66).contains(b) }

    /// SHA-256 (hex) of the previous hash, a newline and the record's JSON.
    static func lineHash(previous: [UInt8]?, _ body: [UInt8]) -> [UInt8] {
        var h = SHA256()
        if let previous { h.update(previous) }
        h.update([0x0A])
        h.update(body)
        return SHA256.hexBytes(h.finalize())
    }

    /// Appends one record. `mayFill`: an outcome is written even past
    /// `capacity` (its command has run); a decision is refused there.
    @discardableResult
    func append(_ body: [UInt8], mayFill: Bool = false) throws(WriteError) -> Appended {
        let fd = descriptor.raw
        try AuditSpool.lock(fd, path: path)
        defer { flock(fd, LOCK_UN) }
        let (previous, size, torn) = try AuditSpool.tail(fd, path: path)
        if size >= AuditSpool.capacity && !mayFill { throw .full(path: path, bytes: size) }
        var line: [UInt8] = []
        line.reserveCapacity(body.count + 68)
        if torn { line.append(0x0A) }
        line += body
        line.append(0x09)
        line += AuditSpool.lineHash(previous: previous, body)
        line.append(0x0A)
        // One write(2) in practice; a signal can cut a large one short, and the
        // rest follows under the same lock, so the line stays whole.
        var written = 0
        while written < line.count {
            let n = line.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n > 0 { written += n; continue }
            if n < 0 && errno == EINTR { continue }
            let e = n < 0 ? errno : ENOSPC
            // Leave no torn line behind (best effort: the disk may be failing).
            if written > 0 { _ = ftruncate(fd, off_t(size)) }
            throw .system(path: path, SystemError("write", errno: e))
        }
        if syncEachRecord && fdatasync(fd) != 0 { throw .system(path: path, SystemError("fdatasync", errno: errno)) }
        return Appended(before: size, after: size + line.count)
    }

    /// The spool's size now (0 if it cannot be read).
    public func size() -> Int {
        var st = stat()
        return fstat(descriptor.raw, &st) == 0 ? Int(st.st_size) : 0
    }

    /// A new record's id: 128 random bits, unique across every writer of a store.
    public static func newRecordID() -> String { Approvals.randomHex(16) }

    /// A record id as the gate writes them (32 lowercase hex digits), or nil.
    public static func validRecordID(_ s: String) -> String? {
        s.utf8.count == 32 && s.utf8.allSatisfy(isHexDigit) ? s : nil
    }

    /// Writes a decision; its outcome follows as `recordOutcome` with the same id.
    @discardableResult
    public func recordDecision(_ r: AuditStore.DecisionRecord) throws(WriteError) -> Appended {
        var w = RecordWriter("d")
        w.text("id", r.recordID)
        w.text("parent", r.parentRecord)
        w.text("session", r.sessionID)
        w.text("ts", r.timestamp)
        w.text("type", r.action.type)
        w.text("target", r.action.target)
        w.text("params", bytes: JSON.object(r.action.params).serializedBytes)
        w.text("risk", r.decision.riskLevel.upperName)
        w.text("approval", r.decision.approval.name)
        w.text("rule", r.decision.rule)
        w.text("layer", r.decision.layer)
        w.text("status", r.resultStatus)
        w.text("error", r.resultError)
        w.text("agent", r.action.agent)
        w.text("argv", r.argvJSON)
        w.text("cwd", r.cwd)
        w.text("user", r.user)
        w.int("pid", Int64(r.pid))
        w.text("exe", r.executable)
        w.text("files", bytes: JSON.array(r.policyFiles.map(JSON.string)).serializedBytes)
        w.text("sandbox", r.sandbox)
        w.int("exit", r.exitStatus.map(Int64.init))
        return try append(w.finish())
    }

    @discardableResult
    public func recordOutcome(_ recordID: String, _ o: AuditStore.Outcome) throws(WriteError) -> Appended {
        var w = RecordWriter("o")
        w.text("id", recordID)
        w.text("status", o.status)
        w.text("error", o.error)
        w.text("human", o.humanDecision)
        w.int("exit", o.exitStatus.map(Int64.init))
        w.int("signal", o.signal.map(Int64.init))
        // As text: the outcome hash covers this exact spelling.
        w.text("duration", AuditSpool.millisecondsText(o.durationMilliseconds))
        w.text("finished", o.finishedAt)
        return try append(w.finish(), mayFill: true)
    }

    /// `String(ms)`, the spelling the outcome hash covers, written by hand for
    /// a whole number of microseconds (as the gate measures): the standard
    /// library's shortest-digits conversion cost a command 10 us on its first
    /// use. Such a value's shortest spelling is its decimal digits, with the
    /// fraction's trailing zeros dropped (one kept), and tests hold the two
    /// equal; any other value is left to the standard library.
    static func millisecondsText(_ ms: Double) -> String {
        let scaled = (ms * 1000).rounded()
        guard ms.sign == .plus, ms.isFinite, scaled < 1e15, Double(UInt64(scaled)) / 1000 == ms else { return String(ms) }
        let micros = UInt64(scaled)
        var digits: [UInt8] = []
        var whole = micros / 1000
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(whole % 10))
            whole /= 10
        } while whole > 0
        digits.reverse()
        digits.append(UInt8(ascii: "."))
        let f = UInt8(micros % 1000 / 100), g = UInt8(micros % 100 / 10), h = UInt8(micros % 10)
        digits.append(UInt8(ascii: "0") + f)
        if g != 0 || h != 0 { digits.append(UInt8(ascii: "0") + g) }
        if h != 0 { digits.append(UInt8(ascii: "0") + h) }
        return String(decoding: digits, as: UTF8.self)
    }

    /// A record's JSON, written straight to bytes.
    struct RecordWriter {
        var bytes: [UInt8] = []

        init(_ kind: String) {
            bytes.reserveCapacity(1024)
            bytes += #"{"k":"#.utf8
            JSON.appendString(kind, to: &bytes)
        }

        mutating func key(_ k: String) {
            bytes.append(UInt8(ascii: ","))
            JSON.appendString(k, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
        }

        mutating func text(_ k: String, _ s: String?) {
            key(k)
            if let s { JSON.appendString(s, to: &bytes) } else { bytes += "null".utf8 }
        }

        /// Text held as its UTF-8 bytes (JSON serialized for a text column).
        mutating func text(_ k: String, bytes text: [UInt8]) {
            key(k)
            JSON.appendStringLiteral(text, to: &bytes)
        }

        mutating func int(_ k: String, _ i: Int64?) {
            key(k)
            if let i { bytes += String(i).utf8 } else { bytes += "null".utf8 }
        }

        mutating func finish() -> [UInt8] {
            bytes.append(UInt8(ascii: "}"))
            return bytes
        }
    }
}
