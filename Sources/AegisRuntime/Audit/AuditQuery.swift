#if canImport(Glibc)
import Glibc
#endif
import AegisPolicy
import CLibSQLite3

/// Reading the audit log back: filtered listings and per-rule statistics.
extension AuditStore {
    public struct Filter: Sendable {
        public var session: String?
        public var riskLevel: String?
        public var approval: String?
        public var rule: String?
        public var type: String?
        /// ISO-8601 bounds, compared as the stored UTC text.
        public var since: String?
        public var until: String?
        public var afterID: Int64?
        public var limit: Int?

        public init() {}
    }

    public struct Entry: Sendable {
        public var fields: JSONObject
        public var id: Int64 { if case .int(let i)? = fields["id"] { i } else { 0 } }
    }

    public static let listedColumns = [
        "id", "session_id", "timestamp", "action_type", "action_target", "action_params", "risk_level", "approval",
        "matched_rule", "human_decision", "result_status", "result_error", "agent_id", "argv", "cwd", "user", "pid",
        "executable", "policy_layer", "sandbox", "exit_status", "signal", "duration_ms", "finished_at", "parent_id",
    ]

    /// Opens an existing store for reading; a missing file is an error, not a new store.
    public static func openExisting(path: String) throws(OpenError) -> AuditStore {
        if access(path, F_OK) != 0 {
            var st = stat()
            guard stat(AuditSpool.path(forStore: path), &st) == 0 else { throw .database(path: path, reason: "no audit log there") }
            // Only a spool yet. Root reading another user's log creates the
            // store as that user's: SQLite then gives its WAL files the same
            // owner, and the user's gates can go on moving records into it.
            if geteuid() == 0 && st.st_uid != 0 {
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                if fd >= 0 {
                    _ = fchown(fd, st.st_uid, st.st_gid)
                    close(fd)
                }
            }
        }
        return try AuditStore(path: path)
    }

    /// Rows matching the filter, oldest first (the newest `limit` of them).
    public func entries(_ f: Filter) throws(SQLiteError) -> [Entry] {
        try ingestSpool()
        var clauses: [String] = []
        var values: [Statement.Value] = []
        func add(_ clause: String, _ v: String?) {
            guard let v else { return }
            clauses.append(clause)
            values.append(.text(v))
        }
        add("session_id = ?", f.session)
        add("risk_level = upper(?)", f.riskLevel)
        add("approval = lower(?)", f.approval)
        add("matched_rule = ?", f.rule)
        add("action_type GLOB ?", f.type)
        add("timestamp >= ?", f.since)
        add("timestamp < ?", f.until)
        if let after = f.afterID {
            clauses.append("id > ?")
            values.append(.int(after))
        }
        var sql = "SELECT " + AuditStore.listedColumns.joined(separator: ", ") + " FROM audit_log"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY id DESC"
        if let limit = f.limit { sql += " LIMIT \(max(0, limit))" }
        let s = try connection.prepare(sql)
        try s.bind(values)
        var out: [Entry] = []
        while try s.step() {
            var o = JSONObject()
            for (i, name) in AuditStore.listedColumns.enumerated() {
                let c = Int32(i)
                switch sqlite3_column_type(s.stmt, c) {
                case SQLITE_NULL: o[name] = .null
                case SQLITE_INTEGER: o[name] = .int(s.int(c))
                case SQLITE_FLOAT: o[name] = .double(s.double(c))
                default:
                    let t = s.text(c) ?? ""
                    // JSON columns are returned as JSON, not as strings of JSON.
                    if name == "action_params" || name == "argv", let v = try? JSON.parse(t) { o[name] = v } else { o[name] = .string(t) }
                }
            }
            // A decision whose process is gone without an outcome: it was killed.
            if o["result_status"] == .string("pending"), case .int(let pid)? = o["pid"],
               ProcessCheck.isGone(pid_t(pid), decidedAt: o["timestamp"]?.string.flatMap(ISO8601.parse)) {
                o["result_status"] = .string("unknown")
            }
            out.append(Entry(fields: o))
        }
        return out.reversed()
    }

    public struct RuleStats: Sendable {
        public var rule: String
        public var total: Int
        public var byApproval: [String: Int]
        public var byResult: [String: Int]
        public var medianDurationMilliseconds: Double?
    }

    /// Per rule: how often it decided, by approval and by result, and the
    /// median run time of the commands it let run.
    public func stats() throws(SQLiteError) -> [RuleStats] {
        try ingestSpool()
        let s = try connection.prepare("SELECT matched_rule, approval, result_status, duration_ms FROM audit_log ORDER BY matched_rule")
        var byRule: [String: (Int, [String: Int], [String: Int], [Double])] = [:]
        var order: [String] = []
        while try s.step() {
            let rule = s.text(0) ?? "<none>"
            if byRule[rule] == nil { byRule[rule] = (0, [:], [:], []); order.append(rule) }
            byRule[rule]!.0 += 1
            byRule[rule]!.1[s.text(1) ?? "", default: 0] += 1
            byRule[rule]!.2[s.text(2) ?? "", default: 0] += 1
            if !s.isNull(3) { byRule[rule]!.3.append(s.double(3)) }
        }
        return order.map { rule in
            let (total, a, r, d) = byRule[rule]!
            let sorted = d.sorted()
            let median = sorted.isEmpty ? nil
                : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            return RuleStats(rule: rule, total: total, byApproval: a, byResult: r, medianDurationMilliseconds: median)
        }
    }
}

/// Whether the process that wrote a decision is gone: no such process, a
/// zombie (killed, not yet reaped), or a process that started after the
/// decision (its pid reused).
enum ProcessCheck {
    static func isGone(_ pid: pid_t, decidedAt: Instant?) -> Bool {
        if kill(pid, 0) != 0 { return errno == ESRCH }
        guard let fd = try? FileDescriptor.open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC),
              let stat = try? fd.readAll(limit: 4096),
              let close = stat.lastIndex(of: 0x29) else { return false }  // after "(comm)", which may hold anything
        let fields = stat[(close + 1)...].split(separator: 0x20)
        // Field 3 is the state; field 22 the start time in clock ticks since boot.
        guard fields.count > 19 else { return false }
        if fields[0].first == UInt8(ascii: "Z") { return true }
        guard let decidedAt, let ticks = Int64(String(decoding: fields[19], as: UTF8.self)), let boot = bootTime() else { return false }
        let hz = Int64(sysconf(Int32(_SC_CLK_TCK)))
        guard hz > 0 else { return false }
        return boot + ticks / hz > decidedAt.unixSeconds + 1
    }

    /// How many threads this process has (field 20 of /proc/self/stat), or nil.
    static func ownThreads() -> Int? {
        guard let fd = try? FileDescriptor.open("/proc/self/stat", O_RDONLY | O_CLOEXEC),
              let stat = try? fd.readAll(limit: 4096),
              let close = stat.lastIndex(of: 0x29) else { return nil }
        let fields = stat[(close + 1)...].split(separator: 0x20)
        guard fields.count > 17 else { return nil }
        return Int(String(decoding: fields[17], as: UTF8.self))
    }

    /// The boot time in Unix seconds (`btime` in /proc/stat).
    static func bootTime() -> Int64? {
        guard let fd = try? FileDescriptor.open("/proc/stat", O_RDONLY | O_CLOEXEC), let text = try? fd.readAll(limit: 1 << 20) else { return nil }
        for line in text.split(separator: 0x0A) where line.starts(with: Array("btime ".utf8)) {
            return Int64(String(decoding: line.dropFirst(6), as: UTF8.self))
        }
        return nil
    }
}
