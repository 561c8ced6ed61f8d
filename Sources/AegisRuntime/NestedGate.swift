#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy

/// Judges the execs that a gated command's process tree attempts, against
/// the same policy, each audited as a child row of the command's row.
///
/// MUST: an exec that cannot be judged or recorded is refused.
public final class NestedGate: @unchecked Sendable {  // used by the supervisor thread only
    let loaded: LoadedPolicy
    let agent: String?
    let callerParams: JSONObject
    let sessionID: String
    let parentRow: Int64
    let auditPath: String
    private var store: AuditStore?
    private let builtinCache = BuiltinMappingCache()
    private lazy var user = ProcessInfo.userName()

    public init(loaded: LoadedPolicy, agent: String?, callerParams: JSONObject, sessionID: String, parentRow: Int64, auditPath: String) {
        self.loaded = loaded
        self.agent = agent
        self.callerParams = callerParams
        self.sessionID = sessionID
        self.parentRow = parentRow
        self.auditPath = auditPath
    }

    /// After the command: leave the write-ahead log short for the next command.
    public func finish() {
        store?.truncateLog()
    }

    /// The file's path with every link resolved, as the mapping wants it.
    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    public func decide(_ exec: NestedExec) -> Bool {
        let resolved = Self.realPath(exec.path) ?? exec.path
        let argv = exec.argv.isEmpty ? [Array(exec.path.utf8)] : exec.argv
        let (seconds, micros) = ProcessInfo.now()
        guard let judgement = try? Gate.judge(argv: argv, cwd: exec.cwd, resolvedPath: resolved, policy: loaded, agent: agent,
                                               callerParams: callerParams, at: Instant(unixSeconds: seconds),
                                               builtinCache: builtinCache, withSandbox: false) else { return false }
        do {
            if store == nil {
                store = try AuditStore(path: auditPath, synchronous: loaded.audit?.synchronous ?? .normal, walFrames: 256, reuseLog: true)
            }
        } catch {
            return false
        }
        guard let store else { return false }
        let logged = loaded.redactor.forLog(judgement.action, argv: argv)
        var record = AuditStore.DecisionRecord(
            sessionID: sessionID, timestamp: ISO8601.format(unixSeconds: seconds, microseconds: micros), action: logged.action,
            decision: judgement.decision, resultStatus: "pending", resultError: nil, argvJSON: Gate.argvJSON(logged.argv),
            cwd: exec.cwd, user: user, pid: exec.pid, executable: resolved,
            policyFiles: loaded.files.map(\.path), sandbox: "inherited", parentID: parentRow)
        switch judgement.decision.approval {
        case .auto:
            record.resultStatus = "allowed"
            return (try? store.record(record)) != nil
        case .block:
            record.resultStatus = "blocked"
            record.resultError = "blocked by rule \(judgement.decision.rule)"
            record.exitStatus = nil
            _ = try? store.record(record)
            return false
        case .approve:
            guard let row = try? store.record(record) else { return false }
            let asked = Approvals.obtain(Approvals.Request(
                loaded: loaded, judgement: judgement, argv: argv, loggedArgv: logged.argv, loggedAction: logged.action,
                cwd: exec.cwd, sessionID: sessionID, executable: resolved, store: store, row: row))
            let o: AuditStore.Outcome
            let allowed: Bool
            switch asked {
            case .approved(let who):
                o = Gate.outcome(ProcessInfo.monotonicNanoseconds(), status: "allowed", error: nil, exit: nil, signal: nil, human: who)
                allowed = true
            case .denied(let human, let reason, _):
                o = Gate.outcome(ProcessInfo.monotonicNanoseconds(), status: "denied", error: reason, exit: nil, signal: nil, human: human)
                allowed = false
            }
            return (try? store.complete(row: row, o)) != nil && allowed
        }
    }
}
