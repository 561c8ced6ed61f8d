#if canImport(Glibc)
import Glibc
#endif
import CLibSQLite3
import AegisConfig
import AegisPolicy

/// The audit log: one row per judged command, written and committed before the
/// command starts, completed with its outcome after it ends.
///
/// MUST: a decision row is committed before the command runs; if it cannot be,
///       the command does not run.
/// MUST: the store is created private to the user (directory 0700, file 0600).
/// Columns follow the Python original's audit_log table, then what a shell gate adds.
public final class AuditStore {
    public static let schemaVersion: Int64 = 6

    let connection: SQLiteConnection
    public let path: String
    let synchronous: AuditSettings.Synchronous
    private var insertStatement: Statement?
    // Prepared once per connection: a supervisor writes a row per nested exec.
    private var lastHashStatement: Statement?
    private var outcomeStatement: Statement?
    /// Hashes of the rows this connection wrote, for chaining their outcomes.
    /// (A short list: a command's store writes one row, a supervisor's one per
    /// exec, and a dictionary type costs a short process its first-use setup.)
    private var rowHashes: [(row: Int64, hash: String)] = []

    public enum OpenError: Error, Sendable, CustomStringConvertible {
        case directory(path: String, reason: String)
        case database(path: String, reason: String)
        case newerSchema(path: String, version: Int64)

        public var description: String {
            switch self {
            case .directory(let p, let reason), .database(let p, let reason): "\(p): \(reason)"
            case .newerSchema(let p, let v): "\(p): schema version \(v) is newer than this aegis-exec understands"
            }
        }
    }

    /// Opens (creating if needed) the store at `path`.
    /// `walFrames`: the write-ahead log is checkpointed once a commit leaves
    /// this many frames, and truncated too unless `reuseLog` (a long-lived
    /// writer, which truncates with `truncateLog()` when done).
    public init(
        path: String, synchronous: AuditSettings.Synchronous = .normal, walFrames: Int32 = 64, reuseLog: Bool = false
    ) throws(OpenError) {
        self.path = path
        self.synchronous = synchronous
        try AuditStore.makeParentDirectory(of: path)
        try AuditStore.refuseLinks(at: path)
        // New database files (and their -wal/-shm) are created private.
        let oldMask = umask(0o077)
        defer { umask(oldMask) }
        let version: Int64
        do {
            connection = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            sqlite3_busy_timeout(connection.db, 10_000)
            _ = aegis_sqlite_no_checkpoint_on_close(connection.db)
            aegis_sqlite_install_wal_hook(connection.db, walFrames, reuseLog ? 1 : 0)
            try connection.execute("PRAGMA synchronous=\(synchronous == .full ? "FULL" : "NORMAL")")
            version = try connection.intPragma("user_version")
        } catch {
            throw .database(path: path, reason: error.message)
        }
        if version > AuditStore.schemaVersion { throw .newerSchema(path: path, version: version) }
        if version < AuditStore.schemaVersion {
            do { try migrate() } catch { throw .database(path: path, reason: error.message) }
        }
    }

    static func makeParentDirectory(of path: String) throws(OpenError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        if let failure = makeDirectories(String(path[..<slash])) {
            throw .directory(path: failure.path, reason: String(cString: strerror(failure.errno)))
        }
    }

    /// MUST: no file of the store is a symbolic link. SQLite opens the store
    /// and its -journal, -wal and -shm with O_NOFOLLOW (so root reading a
    /// user's log never truncates or writes the file a planted link names),
    /// but then only says "unable to open database file"; this says which
    /// file and why.
    static func refuseLinks(at path: String) throws(OpenError) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            var st = stat()
            if lstat(path + suffix, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK {
                throw .database(path: path + suffix, reason: "is a symbolic link; the audit store's files must be "
                                + "regular files (remove the link)")
            }
        }
    }

    /// MUST: a root gate writes its audit store only in a directory reached
    /// through directories that root owns and no one else can write
    /// (RootOwnedPath). Otherwise whoever owns one of them (the user whose
    /// HOME a `sudo -E` passed on, or who wrote a user-layer policy naming the
    /// path) could swap the store, or point root's writes elsewhere with a link.
    /// Checked where the gate opens its spool, before any record is written
    /// (the gate opens the store itself only after its spool); reading a
    /// user's log as root (`aegis-exec audit --db`) stays possible.
    static func rootOwnedParent(of path: String, create: Bool) throws(OpenError) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let parent = slash == path.startIndex ? "/" : String(path[..<slash])
        do {
            _ = try RootOwnedPath.open(parent, create: create)
        } catch {
            throw .directory(path: error.path, reason: error.reason
                             + " (a root gate keeps its audit store only in directories root owns and no one else can write)")
        }
    }

    /// Creates or upgrades the schema in one immediate transaction, so that
    /// concurrent first runs do not race.
    func migrate() throws(SQLiteError) {
        try connection.execute("PRAGMA journal_mode=WAL")
        try connection.execute("BEGIN IMMEDIATE")
        do {
            let version = try connection.intPragma("user_version")
            // Each step upgrades one version; a store from any earlier version
            // walks through all of them.
            if version < 1 {
                try connection.execute(AuditStore.schemaV1)
            }
            if version < 2 {
                try connection.execute("ALTER TABLE audit_log ADD COLUMN sandbox TEXT")
            }
            if version < 3 {
                // The hash chain starts with the first row written after this upgrade.
                try connection.execute("""
                    ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
                    ALTER TABLE audit_log ADD COLUMN row_hash TEXT;
                    ALTER TABLE audit_log ADD COLUMN outcome_hash TEXT;
                    """)
            }
            if version < 4 {
                try connection.execute("ALTER TABLE audit_log ADD COLUMN parent_id INTEGER")
            }
            if version < 5 {
                try connection.execute(AuditStore.grantsV5)
            }
            if version < 6 {
                try connection.execute(AuditStore.spoolV6)
            }
            try connection.execute("PRAGMA user_version=\(AuditStore.schemaVersion)")
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    static let schemaV1 = """
        CREATE TABLE IF NOT EXISTS audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            timestamp TEXT NOT NULL,
            action_type TEXT NOT NULL,
            action_target TEXT NOT NULL,
            action_params TEXT NOT NULL DEFAULT '{}',
            risk_level TEXT NOT NULL,
            approval TEXT NOT NULL,
            matched_rule TEXT,
            human_decision TEXT,
            result_status TEXT NOT NULL,
            result_error TEXT,
            agent_id TEXT,
            argv TEXT NOT NULL,
            cwd TEXT,
            user TEXT,
            pid INTEGER,
            executable TEXT,
            policy_layer TEXT,
            policy_files TEXT,
            exit_status INTEGER,
            signal INTEGER,
            duration_ms REAL,
            finished_at TEXT
        );
        CREATE INDEX IF NOT EXISTS audit_log_session ON audit_log(session_id);
        CREATE INDEX IF NOT EXISTS audit_log_timestamp ON audit_log(timestamp);
        CREATE INDEX IF NOT EXISTS audit_log_rule ON audit_log(matched_rule);
        """

    /// Approvals a person gave for a while: one exact command (by the hash of
    /// its key) in one session, until `expires_at` (Unix seconds). The audit
    /// row that recorded the answer is `audit_id`.
    static let grantsV5 = """
        CREATE TABLE IF NOT EXISTS grants (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL,
            session_id TEXT NOT NULL,
            matched_rule TEXT,
            granted_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            granted_by TEXT NOT NULL,
            audit_id INTEGER
        );
        CREATE INDEX IF NOT EXISTS grants_key ON grants(key);
        """

    /// Records reach the table through the spool (see AuditSpool). Each row
    /// keeps its record's id, by which outcomes and nested rows find it; the
    /// last hash ingested seals the spool; what ingestion found broken is kept
    /// for `verify`.
    static let spoolV6 = """
        ALTER TABLE audit_log ADD COLUMN record_id TEXT;
        CREATE UNIQUE INDEX IF NOT EXISTS audit_log_record ON audit_log(record_id);
        CREATE TABLE IF NOT EXISTS audit_spool (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_hash TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS audit_breaks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            found_at TEXT NOT NULL,
            message TEXT NOT NULL
        );
        """

    public struct Grant: Sendable, Equatable {
        public var id: Int64
        public var grantedAt: Int64
        public var expiresAt: Int64
        public var grantedBy: String
        public var auditRow: Int64?
    }

    /// A grant for `key` still valid at `now`, lasting no longer than
    /// `maxSeconds` (what the policy allows today, whatever was stored).
    public func activeGrant(key: String, now: Int64, maxSeconds: Int64) throws(SQLiteError) -> Grant? {
        let q = try connection.prepare("""
            SELECT id, granted_at, expires_at, granted_by, audit_id FROM grants
            WHERE key=? AND expires_at>? AND granted_at<=? AND expires_at-granted_at<=?
            ORDER BY expires_at DESC LIMIT 1
            """)
        try q.bind([.text(key), .int(now), .int(now), .int(maxSeconds)])
        defer { q.reset() }
        guard try q.step() else { return nil }
        return Grant(id: q.int(0), grantedAt: q.int(1), expiresAt: q.int(2), grantedBy: q.text(3) ?? "",
                     auditRow: q.isNull(4) ? nil : q.int(4))
    }

    /// Stores a grant, and drops the expired ones.
    public func addGrant(key: String, sessionID: String, rule: String, grantedAt: Int64, expiresAt: Int64,
                         grantedBy: String, auditRow: Int64) throws(SQLiteError) {
        try connection.prepare("DELETE FROM grants WHERE expires_at<=?").run([.int(grantedAt)])
        try connection.prepare("""
            INSERT INTO grants (key, session_id, matched_rule, granted_at, expires_at, granted_by, audit_id)
            VALUES (?,?,?,?,?,?,?)
            """).run([.text(key), .text(sessionID), .text(rule), .int(grantedAt), .int(expiresAt), .text(grantedBy), .int(auditRow)])
    }

    /// Checkpoints and truncates the write-ahead log (a busy one is left for later).
    public func truncateLog() {
        aegis_sqlite_truncate_wal(connection.db)
    }

    /// Records who decided before the command runs, so a gate killed while
    /// the command runs still leaves the approval in the log.
    public func setHumanDecision(row: Int64, _ text: String) throws(SQLiteError) {
        try connection.prepare("UPDATE audit_log SET human_decision=? WHERE id=?").run([.text(text), .int(row)])
    }

    /// What the gate decided, before anything runs.
    public struct DecisionRecord: Sendable {
        public var sessionID: String
        public var timestamp: String
        public var action: Action
        public var decision: Decision
        public var resultStatus: String
        public var resultError: String?
        public var argvJSON: String
        public var cwd: String
        public var user: String
        public var pid: Int32
        public var executable: String?
        public var policyFiles: [String]
        public var sandbox: String?
        public var exitStatus: Int32?
        /// The record of the gated command this one runs inside, if any.
        public var parentRecord: String?
        /// This record's id, by which its outcome and nested records find it.
        public var recordID: String

        public init(
            sessionID: String, timestamp: String, action: Action, decision: Decision, resultStatus: String,
            resultError: String?, argvJSON: String, cwd: String, user: String, pid: Int32, executable: String?,
            policyFiles: [String], sandbox: String? = nil, exitStatus: Int32? = nil, parentRecord: String? = nil,
            recordID: String = AuditSpool.newRecordID()
        ) {
            self.recordID = recordID
            self.sessionID = sessionID
            self.timestamp = timestamp
            self.action = action
            self.decision = decision
            self.resultStatus = resultStatus
            self.resultError = resultError
            self.argvJSON = argvJSON
            self.cwd = cwd
            self.user = user
            self.pid = pid
            self.executable = executable
            self.policyFiles = policyFiles
            self.sandbox = sandbox
            self.exitStatus = exitStatus
            self.parentRecord = parentRecord
        }
    }

    /// Inserts and commits a decision row; returns its id. What the spool
    /// holds goes in first, under the spool's lock, so rows stay in the
    /// order they were written. (The gate writes here only when it will ask
    /// someone: approvals need the row's id; everything else takes the spool.)
    public func record(_ r: DecisionRecord) throws(SQLiteError) -> Int64 {
        // The gate writing its own row: the spool must be this user's own.
        guard let spool = try lockedSpool(create: true, reading: false) else { throw SQLiteError(code: SQLITE_CANTOPEN, message: path) }
        try ingestLocked(spool.fd, spoolPath: spool.path)
        try connection.execute("BEGIN IMMEDIATE")
        do {
            let parent = try r.parentRecord.flatMap { p throws(SQLiteError) in try rowForRecord(p)?.id }
            let row = AuditChain.Row(
                id: try nextRowID(), prevHash: try lastRowHash(), sessionID: r.sessionID, timestamp: r.timestamp, actionType: r.action.type,
                actionTarget: r.action.target, actionParams: JSON.object(r.action.params).serialized,
                riskLevel: r.decision.riskLevel.upperName, approval: r.decision.approval.name, matchedRule: r.decision.rule,
                agentID: r.action.agent, argv: r.argvJSON, cwd: r.cwd, user: r.user, pid: Int64(r.pid),
                executable: r.executable, policyLayer: r.decision.layer,
                policyFiles: JSON.array(r.policyFiles.map(JSON.string)).serialized, sandbox: r.sandbox, parentID: parent,
                recordID: r.recordID)
            let hash = try insertChained(row, status: r.resultStatus, error: r.resultError,
                                         exitStatus: r.exitStatus.map(Int64.init), recordID: r.recordID)
            try connection.execute("COMMIT")
            rowHashes.append((row.id, hash))
            return row.id
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// The newest row's hash, which the next row chains to ("" for none).
    func lastRowHash() throws(SQLiteError) -> String {
        if lastHashStatement == nil {
            lastHashStatement = try connection.prepare("SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1")
        }
        let last = lastHashStatement!
        last.reset()
        let prev = try last.step() ? (last.text(0) ?? "") : ""
        // A statement left mid-row keeps a read open, and the checkpoint
        // after the commit could then not truncate the WAL.
        last.reset()
        return prev
    }

    /// The row written for a record, with its hash.
    func rowForRecord(_ recordID: String) throws(SQLiteError) -> (id: Int64, hash: String?)? {
        let q = try connection.prepare("SELECT id, row_hash FROM audit_log WHERE record_id=?")
        try q.bind([.text(recordID)])
        defer { q.reset() }
        guard try q.step() else { return nil }
        return (q.int(0), q.text(1))
    }

    /// The id the next row gets: AUTOINCREMENT's, known before the insert so
    /// that a row is written once, with its hashes (inside a transaction).
    func nextRowID() throws(SQLiteError) -> Int64 {
        let q = try connection.prepare("""
            SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name='audit_log'), 0),
                       coalesce((SELECT max(id) FROM audit_log), 0)) + 1
            """)
        defer { q.reset() }
        guard try q.step() else { return 1 }
        return q.int(0)
    }

    /// Inserts a decision row (`row.id` from `nextRowID`) chained to
    /// `row.prevHash`, inside the caller's transaction, and returns its hash.
    /// With `outcome`, the row is written complete; without, a row that
    /// arrives with its final status (refused, not found) gets its outcome hash at once.
    func insertChained(
        _ row: AuditChain.Row, status: String, error: String?, exitStatus: Int64?, recordID: String, outcome: Outcome? = nil
    ) throws(SQLiteError) -> String {
        if insertStatement == nil {
            insertStatement = try connection.prepare("""
                INSERT INTO audit_log (id, session_id, timestamp, action_type, action_target, action_params,
                    risk_level, approval, matched_rule, result_status, result_error, agent_id, argv, cwd,
                    user, pid, executable, policy_layer, policy_files, exit_status, sandbox, prev_hash, parent_id, record_id,
                    row_hash, outcome_hash, human_decision, signal, duration_ms, finished_at)
                VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                """)
        }
        func text(_ s: String?) -> Statement.Value { s.map { .text($0) } ?? .null }
        func int(_ i: Int64?) -> Statement.Value { i.map { .int($0) } ?? .null }
        let hash = AuditChain.rowHash(row)
        var final = (status: status, error: error, exit: exitStatus, human: String?.none, signal: Int64?.none,
                     duration: Double?.none, finished: String?.none)
        if let o = outcome {
            final = (o.status, o.error, o.exitStatus.map(Int64.init), o.humanDecision, o.signal.map(Int64.init),
                     o.durationMilliseconds, o.finishedAt)
        }
        var outcomeHash: Statement.Value = .null
        if final.status != "pending" {
            outcomeHash = .text(AuditChain.outcomeHash(rowHash: hash, AuditChain.OutcomeFields(
                status: final.status, error: final.error, humanDecision: final.human, exitStatus: final.exit,
                signal: final.signal, durationMilliseconds: final.duration, finishedAt: final.finished)))
        }
        try insertStatement!.run([
            .int(row.id), .text(row.sessionID), .text(row.timestamp), .text(row.actionType), .text(row.actionTarget),
            .text(row.actionParams), .text(row.riskLevel), .text(row.approval), text(row.matchedRule), .text(final.status),
            text(final.error), text(row.agentID), .text(row.argv), text(row.cwd), text(row.user), int(row.pid),
            text(row.executable), text(row.policyLayer), text(row.policyFiles), int(final.exit), text(row.sandbox),
            .text(row.prevHash), int(row.parentID), .text(recordID), .text(hash), outcomeHash, text(final.human),
            int(final.signal), final.duration.map { .double($0) } ?? .null, text(final.finished),
        ])
        return hash
    }

    public struct Outcome: Sendable {
        public var status: String
        public var error: String?
        public var exitStatus: Int32?
        public var signal: Int32?
        public var durationMilliseconds: Double
        public var finishedAt: String
        /// Who approved or denied (a person at the terminal, an endpoint, a grant).
        public var humanDecision: String?

        public init(status: String, error: String?, exitStatus: Int32?, signal: Int32?, durationMilliseconds: Double,
                    finishedAt: String, humanDecision: String? = nil) {
            self.humanDecision = humanDecision
            self.status = status
            self.error = error
            self.exitStatus = exitStatus
            self.signal = signal
            self.durationMilliseconds = durationMilliseconds
            self.finishedAt = finishedAt
        }
    }

    /// Completes a decision row with what happened.
    public func complete(row: Int64, _ o: Outcome) throws(SQLiteError) {
        try applyOutcome(row: row, rowHash: rowHashes.last(where: { $0.row == row })?.hash, o)
    }

    /// Writes an outcome into its row, hashed onto the row's hash.
    func applyOutcome(row: Int64, rowHash: String?, _ o: Outcome) throws(SQLiteError) {
        let outcomeHash = rowHash.map { AuditChain.outcomeHash(rowHash: $0, AuditChain.OutcomeFields(
            status: o.status, error: o.error, humanDecision: o.humanDecision, exitStatus: o.exitStatus.map(Int64.init),
            signal: o.signal.map(Int64.init), durationMilliseconds: o.durationMilliseconds, finishedAt: o.finishedAt)) }
        if outcomeStatement == nil {
            outcomeStatement = try connection.prepare("""
                UPDATE audit_log SET result_status=?, result_error=?, exit_status=?, signal=?, duration_ms=?, finished_at=?,
                    outcome_hash=?, human_decision=?
                WHERE id=?
                """)
        }
        try outcomeStatement!.run([
            .text(o.status), o.error.map { .text($0) } ?? .null, o.exitStatus.map { .int(Int64($0)) } ?? .null,
            o.signal.map { .int(Int64($0)) } ?? .null, .double(o.durationMilliseconds), .text(o.finishedAt),
            outcomeHash.map { .text($0) } ?? .null, o.humanDecision.map { .text($0) } ?? .null, .int(row),
        ])
    }

    /// Where the store lives when no policy names one:
    /// `$XDG_STATE_HOME/aegis/audit.db`, by default `~/.local/state/aegis/audit.db`.
    public static func defaultPath(environment env: Environment) -> String? {
        if let x = env["XDG_STATE_HOME"], x.hasPrefix("/") { return x + "/aegis/audit.db" }
        if let home = env["HOME"], home.hasPrefix("/") { return home + "/.local/state/aegis/audit.db" }
        return nil
    }
}
