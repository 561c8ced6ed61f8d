import AegisPolicy

/// The audit log's hash chain. Each row's hash covers its decision fields,
/// its id and the previous row's hash; its outcome hash covers the outcome
/// fields and the row's hash. So an edited, deleted or reordered row breaks
/// the chain at that row. (Removing the newest rows leaves a shorter valid
/// chain: compare the count with a copy kept elsewhere to detect that.)
public enum AuditChain {
    public struct Row: Sendable {
        public var id: Int64
        public var prevHash: String
        public var sessionID, timestamp, actionType, actionTarget, actionParams, riskLevel, approval: String
        public var matchedRule: String?
        public var agentID: String?
        public var argv: String
        public var cwd, user: String?
        public var pid: Int64?
        public var executable, policyLayer, policyFiles, sandbox: String?
        public var parentID: Int64?
        /// By which outcomes and nested rows find the row (schema 6 on).
        public var recordID: String? = nil
    }

    public struct OutcomeFields: Sendable {
        public var status: String
        public var error, humanDecision: String?
        public var exitStatus, signal: Int64?
        public var durationMilliseconds: Double?
        public var finishedAt: String?
    }

    /// A row's canonical text: a compact JSON list, written straight to bytes
    /// (every command hashes two; building JSON values first cost a nested
    /// exec a tenth of its time). `AuditChainTests` holds it to the JSON form.
    struct Canonical {
        var bytes: [UInt8] = []

        init(_ tag: String) {
            bytes.reserveCapacity(1024)
            bytes.append(UInt8(ascii: "["))
            JSON.appendString(tag, to: &bytes)
        }

        mutating func text(_ s: String?) {
            bytes.append(UInt8(ascii: ","))
            if let s { JSON.appendString(s, to: &bytes) } else { bytes += "null".utf8 }
        }

        mutating func int(_ i: Int64?) {
            bytes.append(UInt8(ascii: ","))
            if let i { bytes += String(i).utf8 } else { bytes += "null".utf8 }
        }

        mutating func digest() -> String {
            bytes.append(UInt8(ascii: "]"))
            return SHA256.hexDigest(bytes)
        }
    }

    public static func rowHash(_ r: Row) -> String {
        var c = Canonical("aegis-audit-row-v1")
        c.int(r.id)
        c.text(r.prevHash)
        c.text(r.sessionID)
        c.text(r.timestamp)
        c.text(r.actionType)
        c.text(r.actionTarget)
        c.text(r.actionParams)
        c.text(r.riskLevel)
        c.text(r.approval)
        c.text(r.matchedRule)
        c.text(r.agentID)
        c.text(r.argv)
        c.text(r.cwd)
        c.text(r.user)
        c.int(r.pid)
        c.text(r.executable)
        c.text(r.policyLayer)
        c.text(r.policyFiles)
        c.text(r.sandbox)
        // Rows written before nested commands had a parent end without one,
        // and rows written before the spool without a record id.
        if let parent = r.parentID { c.int(parent) }
        if let record = r.recordID { c.text(record) }
        return c.digest()
    }

    public static func outcomeHash(rowHash: String, _ o: OutcomeFields) -> String {
        var c = Canonical("aegis-audit-outcome-v1")
        c.text(rowHash)
        c.text(o.status)
        c.text(o.error)
        c.text(o.humanDecision)
        c.int(o.exitStatus)
        c.int(o.signal)
        c.text(o.durationMilliseconds.map { String($0) })
        c.text(o.finishedAt)
        return c.digest()
    }
}

extension AuditStore {
    public struct VerifyReport: Sendable, Equatable {
        public var rows: Int
        /// Rows written before the store had a hash chain (schema < 3).
        public var unchained: Int
        /// The first break, with the row id where it shows; nil when intact.
        public var firstProblem: (row: Int64, message: String)?

        public static func == (a: VerifyReport, b: VerifyReport) -> Bool {
            a.rows == b.rows && a.unchained == b.unchained && a.firstProblem?.row == b.firstProblem?.row
                && a.firstProblem?.message == b.firstProblem?.message
        }
    }

    /// Walks the chain from the first row and reports the first row whose
    /// hashes do not hold.
    public func verify() throws(SQLiteError) -> VerifyReport {
        try ingestSpool()
        let s = try connection.prepare("""
            SELECT id, prev_hash, row_hash, outcome_hash, session_id, timestamp, action_type, action_target,
                action_params, risk_level, approval, matched_rule, agent_id, argv, cwd, user, pid, executable,
                policy_layer, policy_files, sandbox, result_status, result_error, human_decision, exit_status,
                signal, duration_ms, finished_at, parent_id, record_id
            FROM audit_log ORDER BY id
            """)
        var report = VerifyReport(rows: 0, unchained: 0, firstProblem: nil)
        var previous: String? = nil  // nil until the first chained row
        func int(_ c: Int32) -> Int64? { s.isNull(c) ? nil : s.int(c) }
        while try s.step() {
            report.rows += 1
            let id = s.int(0)
            guard let rowHash = s.text(2) else {
                if previous == nil {
                    report.unchained += 1
                    continue
                }
                report.firstProblem = (id, "row \(id) has no hash: it was not written by aegis-exec, or its hash was removed")
                return report
            }
            let prev = s.text(1) ?? ""
            if prev != (previous ?? "") {
                report.firstProblem = (id, previous == nil
                    ? "row \(id) follows a row that is no longer there: the oldest rows were deleted"
                    : "row \(id) does not follow the row before it: a row was deleted, inserted or reordered before it")
                return report
            }
            let row = AuditChain.Row(
                id: id, prevHash: prev, sessionID: s.text(4) ?? "", timestamp: s.text(5) ?? "", actionType: s.text(6) ?? "",
                actionTarget: s.text(7) ?? "", actionParams: s.text(8) ?? "", riskLevel: s.text(9) ?? "",
                approval: s.text(10) ?? "", matchedRule: s.text(11), agentID: s.text(12), argv: s.text(13) ?? "",
                cwd: s.text(14), user: s.text(15), pid: int(16), executable: s.text(17), policyLayer: s.text(18),
                policyFiles: s.text(19), sandbox: s.text(20), parentID: int(28), recordID: s.text(29))
            if AuditChain.rowHash(row) != rowHash {
                report.firstProblem = (id, "row \(id) was changed after it was written (its decision does not match its hash)")
                return report
            }
            let status = s.text(21) ?? ""
            if let outcomeHash = s.text(3) {
                let o = AuditChain.OutcomeFields(
                    status: status, error: s.text(22), humanDecision: s.text(23), exitStatus: int(24), signal: int(25),
                    durationMilliseconds: s.isNull(26) ? nil : s.double(26), finishedAt: s.text(27))
                if AuditChain.outcomeHash(rowHash: rowHash, o) != outcomeHash {
                    report.firstProblem = (id, "row \(id)'s outcome was changed after it was written")
                    return report
                }
            } else if status != "pending" {
                report.firstProblem = (id, "row \(id) has an outcome ('\(status)') that was not written by aegis-exec")
                return report
            }
            previous = rowHash
        }
        // Records edited or removed while they waited in the spool.
        if let first = try spoolBreaks().first {
            report.firstProblem = (0, "before it reached the table, \(first)")
        }
        return report
    }
}
