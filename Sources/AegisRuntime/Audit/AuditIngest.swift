#if canImport(Glibc)
import Glibc
#endif
import AegisPolicy
import CLibSQLite3

/// Moving the spool's records into the store's table (see AuditSpool).
///
/// MUST: ingestion holds the spool's lock from the first read to the cut, so
///       no record is written between being read and being cut away.
/// MUST: records move in one transaction; the spool is cut only after it
///       commits. An ingestion killed in between moves nothing twice: rows are
///       found by record id, and the stored seal says where the last one ended.
extension AuditStore {
    /// Moves what the spool holds into the table; returns how many records moved.
    @discardableResult
    public func ingestSpool() throws(SQLiteError) -> Int {
        guard let spool = try lockedSpool(create: false, reading: true) else { return 0 }
        return try ingestLocked(spool.fd, spoolPath: spool.path)
    }

    /// The store's spool, opened, checked (see `AuditSpool.unusable`) and
    /// locked until the value is dropped; nil when there is none and
    /// `create` is false. Every path that moves or cuts the spool takes it here.
    final class LockedSpool {
        let fd: Int32
        let path: String
        init(fd: Int32, path: String) { self.fd = fd; self.path = path }
        deinit {
            flock(fd, LOCK_UN)
            close(fd)
        }
    }

    func lockedSpool(create: Bool, reading: Bool) throws(SQLiteError) -> LockedSpool? {
        let path = AuditSpool.path(forStore: self.path)
        let fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0), 0o600)
        if fd < 0 {
            if errno == ENOENT && !create { return nil }
            throw SQLiteError(code: SQLITE_CANTOPEN, message: "\(path): \(String(cString: strerror(errno)))")
        }
        if let reason = AuditSpool.unusable(fd, reading: reading) {
            close(fd)
            throw SQLiteError(code: SQLITE_CANTOPEN, message: "\(path): \(reason)")
        }
        do { try AuditSpool.lock(fd, path: path) } catch {
            close(fd)
            throw SQLiteError(code: SQLITE_BUSY, message: error.description)
        }
        return LockedSpool(fd: fd, path: path)
    }

    /// One line of the spool, split into its JSON and its hash.
    struct SpoolLine {
        var body: ArraySlice<UInt8>
        /// nil: the line is not `JSON TAB HASH` (damaged).
        var hash: [UInt8]?
        var offset: Int
        var isSeal: Bool { hash != nil && body.elementsEqual(AuditSpool.sealBody) }
    }

    /// Splits the spool's bytes into lines; a last line without its newline is
    /// returned apart (a write torn by a crash).
    static func spoolLines(_ bytes: [UInt8]) -> (lines: [SpoolLine], tornAt: Int?) {
        var lines: [SpoolLine] = []
        var start = 0
        while start < bytes.count {
            guard let nl = bytes[start...].firstIndex(of: 0x0A) else { return (lines, start) }
            let line = bytes[start..<nl]
            if line.count > 65, line[nl - 65] == 0x09, line[(nl - 64)...].allSatisfy(AuditSpool.isHexDigit) {
                lines.append(SpoolLine(body: line[..<(nl - 65)], hash: Array(line[(nl - 64)...]), offset: start))
            } else if !line.isEmpty {
                lines.append(SpoolLine(body: line, hash: nil, offset: start))
            }
            start = nl + 1
        }
        return (lines, nil)
    }

    @discardableResult
    func ingestLocked(_ fd: Int32, spoolPath: String) throws(SQLiteError) -> Int {
        func ioError(_ what: String) -> SQLiteError {
            SQLiteError(code: SQLITE_IOERR, message: "\(spoolPath): \(what): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError("fstat") }
        let size = Int(st.st_size)
        guard size > 0 else { return 0 }
        // The gate moves the spool every ~100 commands, so only something
        // else (a stuck store, a flood of lines) makes it this large.
        guard size <= AuditStore.spoolLimit else {
            throw SQLiteError(code: SQLITE_TOOBIG, message: "\(spoolPath) holds \(size) bytes, more than the \(AuditStore.spoolLimit >> 20) MiB "
                              + "that can be moved at once; see why the store did not take it, and move it aside")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var got = 0
        while got < size {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, size - got, off_t(got)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw ioError("read") }
            if n == 0 { break }
            got += n
        }
        bytes.removeSubrange(got...)
        let (lines, tornAt) = AuditStore.spoolLines(bytes)

        // The spool is cut after this commit, so the commit must be on the
        // disk first: with `synchronous=NORMAL` a WAL commit is not synced, and
        // a power cut could keep the cut and lose the batch.
        try connection.execute("PRAGMA synchronous=FULL")
        defer { try? connection.execute("PRAGMA synchronous=\(synchronous == .full ? "FULL" : "NORMAL")") }
        try connection.execute("BEGIN IMMEDIATE")
        var moved = 0
        var lastHash: [UInt8]?
        do {
            let stored = try storedSeal()
            var breaks: [String] = []
            // Lines up to the stored seal's are in the table already.
            var first = 0
            var previous: [UInt8]? = nil
            if let stored {
                if let k = lines.lastIndex(where: { $0.hash == stored }) {
                    first = k + 1
                    previous = stored
                } else {
                    breaks.append("the spool's first records were removed before they reached the table")
                }
            }
            lastHash = previous
            // Nothing since the seal: leave the spool as it is.
            if first == lines.count && tornAt == nil && breaks.isEmpty {
                try connection.execute("COMMIT")
                return 0
            }
            // First the chain and the JSON of every line; then the rows, each
            // decision written once with its outcome when that is in the batch.
            var records: [(offset: Int, record: SpoolRecord)] = []
            for line in lines[first...] {
                guard let hash = line.hash else {
                    breaks.append("spool byte \(line.offset): a damaged record was dropped")
                    previous = nil
                    continue
                }
                defer { previous = hash; lastHash = hash }
                if line.isSeal { continue }
                if AuditSpool.lineHash(previous: previous, Array(line.body)) != hash {
                    breaks.append("spool byte \(line.offset): a record was edited, or records before it were removed")
                }
                do {
                    records.append((line.offset, try SpoolRecord(line.body)))
                } catch {
                    breaks.append("spool byte \(line.offset): \(error.message)")
                }
            }
            // A decision's first outcome in the same batch goes into its row.
            var pendingDecision: [String: Int] = [:]
            var outcomeOf: [Int: Int] = [:]
            var merged = Set<Int>()
            for (k, r) in records.enumerated() {
                switch r.record {
                case .decision(let d): pendingDecision[d.recordID] = k
                case .outcome(let id, _):
                    if let d = pendingDecision.removeValue(forKey: id) {
                        outcomeOf[d] = k
                        merged.insert(k)
                    }
                }
            }
            var state = IngestState(prevRowHash: try lastRowHash(), nextID: try nextRowID(),
                                    mayRepeat: stored != nil && first == 0)
            for (k, r) in records.enumerated() where !merged.contains(k) {
                do {
                    var outcome: Outcome?
                    if let o = outcomeOf[k], case .outcome(_, let found) = records[o].record { outcome = found }
                    moved += try apply(r.record, outcome: outcome, &state)
                } catch let e as IngestProblem {
                    breaks.append("spool byte \(r.offset): \(e.message)")
                }
            }
            if let tornAt { breaks.append("spool byte \(tornAt): a record cut short was dropped") }
            if let lastHash {
                try connection.prepare("INSERT OR REPLACE INTO audit_spool (id, last_hash) VALUES (1, ?)")
                    .run([.text(String(decoding: lastHash, as: UTF8.self))])
            }
            if !breaks.isEmpty {
                let (s, us) = ProcessInfo.now()
                let add = try connection.prepare("INSERT INTO audit_breaks (found_at, message) VALUES (?, ?)")
                for b in breaks { try add.run([.text(ISO8601.format(unixSeconds: s, microseconds: us)), .text(b)]) }
            }
            try connection.execute("COMMIT")
        } catch let e as SQLiteError {
            try? connection.execute("ROLLBACK")
            throw e
        } catch {
            try? connection.execute("ROLLBACK")
            throw SQLiteError(code: SQLITE_ERROR, message: "\(error)")
        }
        // Committed: cut the spool to its seal, written over its start and then
        // cut after it. Stopped anywhere in between, the spool still holds a
        // line with the stored seal's hash, and the next ingestion skips up to it.
        if let lastHash {
            let seal = AuditSpool.sealBody + [0x09] + lastHash + [0x0A]
            guard seal.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == seal.count else { throw ioError("pwrite") }
            guard ftruncate(fd, off_t(seal.count)) == 0 else { throw ioError("ftruncate") }
        } else {
            guard ftruncate(fd, 0) == 0 else { throw ioError("ftruncate") }
        }
        return moved
    }

    static let spoolLimit = 1 << 30

    func storedSeal() throws(SQLiteError) -> [UInt8]? {
        let q = try connection.prepare("SELECT last_hash FROM audit_spool WHERE id=1")
        defer { q.reset() }
        guard try q.step(), let h = q.text(0) else { return nil }
        return Array(h.utf8)
    }

    struct IngestProblem: Error { var message: String }

    /// What ingestion knows: the chain's head, the next row id, and the rows
    /// it wrote. `mayRepeat`: the spool's seal was not found, so records
    /// already in the table may come again (they are skipped by record id).
    struct IngestState {
        var prevRowHash: String
        var nextID: Int64
        var mayRepeat: Bool
        var rows: [String: (id: Int64, hash: String?)] = [:]
        /// Rows of earlier batches, looked up by record id.
        var found: [String: (id: Int64, hash: String?)] = [:]
    }

    /// A spool line's JSON, read.
    enum SpoolRecord {
        case decision(Decision)
        case outcome(String, Outcome)

        struct Decision {
            var recordID: String
            var parent: String?
            var row: AuditChain.Row
            var status: String
            var error: String?
            var exit: Int64?
        }

        /// `parserOnly`: read by the JSON parser even a line the writer left
        /// as it was (to hold both ways to the same result).
        init(_ body: ArraySlice<UInt8>, parserOnly: Bool = false) throws(IngestProblem) {
            // A line as the writer left it is read field by field in its order;
            // any other, by the JSON parser.
            let o: JSONObject
            if let fields = parserOnly ? nil : SpoolLineReader.fields(body) {
                o = fields
            } else {
                // From the bytes; a line that is not UTF-8 is read as it was before (repaired), and its hash reports it.
                let parsed = (try? JSON.parse(bytes: Array(body))) ?? (try? JSON.parse(String(decoding: body, as: UTF8.self)))
                guard case .object(let object)? = parsed else {
                    throw IngestProblem(message: "a record that is not JSON was dropped")
                }
                o = object
            }
            // Read in the order RecordWriter writes them (see JSONObject.value(_:cursor:)).
            var cursor = 0
            func text(_ k: String) throws(IngestProblem) -> String? {
                switch o.value(k, cursor: &cursor) {
                case nil, .null?: return nil
                case .string(let s)?: return s
                default: throw IngestProblem(message: "a record whose '\(k)' is not text was dropped")
                }
            }
            func int(_ k: String) throws(IngestProblem) -> Int64? {
                switch o.value(k, cursor: &cursor) {
                case nil, .null?: return nil
                case .int(let i)?: return i
                default: throw IngestProblem(message: "a record whose '\(k)' is not a number was dropped")
                }
            }
            func required(_ k: String) throws(IngestProblem) -> String {
                guard let v = try text(k) else { throw IngestProblem(message: "a record without '\(k)' was dropped") }
                return v
            }
            let kind = try text("k")
            let recordID = try required("id")
            switch kind {
            case "d":
                let parent = try text("parent"), session = try required("session"), ts = try required("ts")
                let type = try required("type"), target = try required("target"), params = try required("params")
                let risk = try required("risk"), approval = try required("approval"), rule = try text("rule")
                let layer = try text("layer"), status = try required("status"), error = try text("error")
                let agent = try text("agent"), argv = try required("argv"), cwd = try text("cwd"), user = try text("user")
                let pid = try int("pid"), exe = try text("exe"), files = try text("files"), sandbox = try text("sandbox")
                let exit = try int("exit")
                let row = AuditChain.Row(
                    id: 0, prevHash: "", sessionID: session, timestamp: ts, actionType: type, actionTarget: target,
                    actionParams: params, riskLevel: risk, approval: approval, matchedRule: rule, agentID: agent, argv: argv,
                    cwd: cwd, user: user, pid: pid, executable: exe, policyLayer: layer, policyFiles: files, sandbox: sandbox,
                    parentID: nil, recordID: recordID)
                self = .decision(Decision(recordID: recordID, parent: parent, row: row, status: status, error: error, exit: exit))
            case "o":
                let status = try required("status"), error = try text("error"), human = try text("human")
                let exit = try int("exit"), signal = try int("signal")
                guard let duration = try text("duration").flatMap(Double.init) else {
                    throw IngestProblem(message: "an outcome without a duration was dropped")
                }
                self = .outcome(recordID, Outcome(
                    status: status, error: error, exitStatus: exit.map { Int32(truncatingIfNeeded: $0) },
                    signal: signal.map { Int32(truncatingIfNeeded: $0) }, durationMilliseconds: duration,
                    finishedAt: try required("finished"), humanDecision: human))
            default:
                throw IngestProblem(message: "a record of an unknown kind was dropped")
            }
        }
    }

    /// Writes one record (a decision with its outcome, if given); returns how
    /// many spool records that moved.
    func apply(_ record: SpoolRecord, outcome: Outcome?, _ state: inout IngestState) throws -> Int {
        func row(_ id: String) throws(SQLiteError) -> (id: Int64, hash: String?)? {
            if let r = state.rows[id] ?? state.found[id] { return r }
            // Kept for the batch: a command's nested execs all name its row as their parent.
            let r = try rowForRecord(id)
            if let r { state.found[id] = r }
            return r
        }
        switch record {
        case .decision(let d):
            // Moved already by an ingestion whose seal was lost: only its
            // outcome may be new.
            if state.mayRepeat, let existing = try rowForRecord(d.recordID) {
                guard let outcome else { return 0 }
                try applyOutcome(row: existing.id, rowHash: existing.hash, outcome)
                return 1
            }
            var r = d.row
            r.id = state.nextID
            r.prevHash = state.prevRowHash
            r.parentID = try d.parent.flatMap { p throws(SQLiteError) in try row(p)?.id }
            let hash = try insertOnce(r, d, outcome)
            state.nextID += 1
            state.prevRowHash = hash
            state.rows[d.recordID] = (r.id, hash)
            return outcome == nil ? 1 : 2
        case .outcome(let id, let o):
            guard let target = try row(id) else {
                throw IngestProblem(message: "an outcome for a decision that is not in the log was dropped")
            }
            try applyOutcome(row: target.id, rowHash: target.hash, o)
            return 1
        }
    }

    /// Inserts a spooled decision. A record id the table has already (a line
    /// copied in the spool) leaves the row as it was, and the copy is reported.
    private func insertOnce(_ r: AuditChain.Row, _ d: SpoolRecord.Decision, _ outcome: Outcome?) throws -> String {
        do {
            return try insertChained(r, status: d.status, error: d.error, exitStatus: d.exit, recordID: d.recordID,
                                     outcome: outcome)
        } catch {
            guard error.code & 0xFF == SQLITE_CONSTRAINT else { throw error }
            throw IngestProblem(message: "a record whose id is already in the log was dropped")
        }
    }

    /// What ingestion found broken, oldest first.
    func spoolBreaks() throws(SQLiteError) -> [String] {
        let q = try connection.prepare("SELECT found_at, message FROM audit_breaks ORDER BY id")
        var out: [String] = []
        while try q.step() { out.append((q.text(1) ?? "") + " (found \(q.text(0) ?? ""))") }
        return out
    }
}
