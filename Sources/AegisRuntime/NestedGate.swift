#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy
import CAegisSpawn

/// Judges the execs that a gated command's process tree attempts, against
/// the same policy, each audited as a child row of the command's row.
///
/// MUST: an exec that cannot be judged or recorded is refused.
public final class NestedGate: @unchecked Sendable {  // used by the supervisor thread only
    private(set) var loaded: LoadedPolicy
    /// Where the policy came from, to read it again from the files if a
    /// compiled copy turns out damaged (nil: no second reading).
    let sources: PolicySources?
    let agent: String?
    let callerParams: JSONObject
    let sessionID: String
    let parentRecord: String
    let auditPath: String
    /// The sandbox every process of the command runs under.
    let inherited: EffectiveSandbox
    private var spool: AuditSpool?
    /// Opened only for an exec someone must approve (see Gate.run).
    private var store: AuditStore?
    private let builtinCache = BuiltinMappingCache()
    private lazy var user = ProcessInfo.userName()

    public init(
        loaded: LoadedPolicy, agent: String?, callerParams: JSONObject, sessionID: String, parentRecord: String, auditPath: String,
        inherited: EffectiveSandbox, sources: PolicySources? = nil
    ) {
        self.inherited = inherited
        self.loaded = loaded
        self.sources = sources
        self.agent = agent
        self.callerParams = callerParams
        self.sessionID = sessionID
        self.parentRecord = parentRecord
        self.auditPath = auditPath
    }

    /// The file's path with every link resolved, as the mapping wants it.
    static func realPath(_ path: [UInt8]) -> String? {
        let c = path.map { CChar(bitPattern: $0) } + [0]
        guard let p = realpath(c, nil) else { return nil }
        defer { free(p) }
        let bytes = Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
        // A path that is not UTF-8 cannot be shown or matched faithfully as text.
        guard UTF8Validation.isValid(bytes) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A file's identity: the device and inode a name leads to now.
    struct FileIdentity: Equatable {
        var device: UInt64
        var inode: UInt64

        init?(_ path: UnsafePointer<CChar>) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
        }
    }

    struct ResolvedName {
        var name: String
        var file: FileIdentity
    }

    /// The resolved name of each file judged, by the name it was exec'd as:
    /// a build execs the same few programs thousands of times, and realpath
    /// asks the kernel about every component of the name each time. Bounded:
    /// names under /proc/PID are new for every process.
    private var resolvedNames: [[UInt8]: ResolvedName] = [:]
    static let resolvedNamesKept = 256

    /// The file's path with every link resolved, as the mapping wants it,
    /// and only if it names the very file `path` leads to now (a deleted or
    /// anonymous file, or one swapped meanwhile, has no such name).
    func resolve(_ path: [UInt8]) -> String? {
        let c = path.map { CChar(bitPattern: $0) } + [0]
        guard let file = FileIdentity(c) else { return nil }
        // A name resolved before still counts while both names lead to the
        // same file: the check a fresh realpath gets. (If links along either
        // name changed since, realpath might now spell another true name of
        // the same file; which file is judged does not change.)
        if let known = resolvedNames[path], known.file == file, FileIdentity(known.name) == file { return known.name }
        guard let name = Self.realPath(path), FileIdentity(name) == file else { return nil }
        if resolvedNames.count >= Self.resolvedNamesKept { resolvedNames.removeAll(keepingCapacity: true) }
        resolvedNames[path] = ResolvedName(name: name, file: file)
        return name
    }

    private func openStore() -> AuditStore? {
        // A long-lived writer: the log is checkpointed less often, and left
        // short by `finish`.
        if store == nil {
            store = try? AuditStore(path: auditPath, synchronous: loaded.audit?.synchronous ?? .normal, walFrames: 1024,
                                    reuseLog: true)
        }
        return store
    }

    /// A supervisor moves its spool into the store in batches this large, not
    /// the one-shot gate's 128 KiB: every batch commits with a sync of the
    /// log (and now and then a checkpoint's), a few milliseconds whatever its
    /// size, and at 128 KiB that was half of what a nested exec cost on
    /// average. The exec that crosses the mark waits for the move (about
    /// 1,400 records, tens of milliseconds).
    static let ingestBytes = 1 << 20

    /// After the command and its outcome record: what its execs left in the
    /// spool past the one-shot gate's mark is moved into the store now (the
    /// next short command would otherwise pay for the whole batch), and the
    /// write-ahead log is left short for the next reader. The move is made by
    /// a process of its own, forked for it, so that the command's caller is
    /// not kept waiting: tens of milliseconds after a command that ran a
    /// thousand programs, a fifth of what each of their execs cost. The
    /// records are already in the audit log (the spool) and readers move what
    /// is left before reading; a move that fails leaves them there, as it did
    /// when made in place. (Forked, not exec'd: a gate inside another gate's
    /// sandbox would have the outer one judge that exec.)
    ///
    /// MUST: the move is forked only while this process has no SQLite
    ///       connection open (SQLite's locks and shared memory are per process,
    ///       and a child must not open a store its parent has open) and one
    ///       thread (a lock another thread held at the fork would stay held in
    ///       the child: the gate has one here, a program embedding this may
    ///       not); otherwise it is made in place.
    /// MUST: called after the command's outcome is in the spool, so that no
    ///       append of the gate's waits on the move's lock.
    public func finish() {
        guard let spool, spool.size() >= Gate.spoolIngestBytes else {
            store?.truncateLog()
            return
        }
        store = nil  // this supervisor's connection, closed
        // In the gate the supervisor has stopped by now (Spawner.run joined its thread).
        if SQLiteConnection.openCount.load(ordering: .sequentiallyConsistent) == 0, ProcessCheck.ownThreads() == 1 {
            let synchronous = loaded.audit?.synchronous ?? .normal, path = auditPath
            switch fork() {
            case 0:
                if aegis_detach_quietly("aegis-flush") == 0,
                   let store = try? AuditStore(path: path, synchronous: synchronous, walFrames: 1024, reuseLog: true) {
                    _ = try? store.ingestSpool()
                    store.truncateLog()
                }
                _exit(0)
            case let pid where pid > 0:
                return
            default:
                break
            }
        }
        if let store = openStore() { _ = try? store.ingestSpool() }
        store?.truncateLog()
    }

    private var matchesDecoded = false

    /// A supervisor judges many execs by the same rules: their matches are
    /// decoded once, on the first (a command that runs nothing else never pays).
    private func decodeMatchesOnce() {
        guard !matchesDecoded else { return }
        matchesDecoded = true
        for i in loaded.layered.layers.indices {
            // A damaged match stays deferred; judging then finds it and reads the files.
            if let d = loaded.layered.layers[i].policy.deferredRules, let all = try? d.withMatchesDecoded() {
                loaded.layered.layers[i].policy.deferredRules = all
            }
        }
    }

    public func decide(_ exec: NestedExec) -> Bool {
        decodeMatchesOnce()
        // The file judged must be the file named: a name that resolves to
        // another file (a deleted or anonymous one, or one swapped meanwhile) is refused.
        guard let resolved = resolve(exec.path) else { return false }
        let argv = exec.argv.isEmpty ? [exec.path] : exec.argv
        let (seconds, micros) = ProcessInfo.now()
        func judge() throws(GateError) -> Judgement {
            try Gate.judge(argv: argv, cwd: exec.cwd, resolvedPath: resolved, policy: loaded, agent: agent,
                           callerParams: callerParams, at: Instant(unixSeconds: seconds), builtinCache: builtinCache)
        }
        let judgement: Judgement
        do {
            judgement = try judge()
        } catch {
            // A compiled copy that no longer decodes: read the files again
            // (which replaces the copies) and judge by them, once.
            guard case .policy(.evaluation(let e)) = error, e.damagedCopy, var fresh = sources else { return false }
            fresh.refreshCache = true
            guard let reloaded = try? PolicyFiles.load(fresh) else { return false }
            loaded = reloaded
            matchesDecoded = false
            decodeMatchesOnce()
            guard let again = try? judge() else { return false }
            judgement = again
        }
        do {
            if spool == nil { spool = try AuditSpool(storePath: auditPath, synchronous: loaded.audit?.synchronous ?? .normal) }
        } catch {
            return false
        }
        guard let spool else { return false }
        let logged = loaded.redactor.forLog(judgement.action, argv: argv)
        var record = AuditStore.DecisionRecord(
            sessionID: sessionID, timestamp: ISO8601.format(unixSeconds: seconds, microseconds: micros), action: logged.action,
            decision: judgement.decision, resultStatus: "pending", resultError: nil, argvJSON: Gate.argvJSON(logged.argv),
            cwd: exec.cwd, user: user, pid: exec.pid, executable: resolved,
            policyFiles: loaded.files.map(\.path), sandbox: "inherited", parentRecord: parentRecord)
        // It cannot get a sandbox of its own: one that asks for more than its
        // command runs under is refused.
        if judgement.decision.approval != .block && !inherited.covers(judgement.sandbox) {
            record.resultStatus = "blocked"
            record.resultError = "needs the sandbox \(judgement.sandbox), stricter than its command's (\(inherited))"
            _ = try? spool.recordDecision(record)
            return false
        }
        switch judgement.decision.approval {
        case .auto:
            record.resultStatus = "allowed"
            guard let appended = try? spool.recordDecision(record) else { return false }
            // A long build's execs would grow the spool without bound; this
            // exec waits while the batch moves (a failure leaves the records
            // where they are, until the spool is full).
            if appended.crossedIngestPoint(Self.ingestBytes), let store = openStore() { _ = try? store.ingestSpool() }
            return true
        case .block:
            record.resultStatus = "blocked"
            record.resultError = "blocked by rule \(judgement.decision.rule)"
            record.exitStatus = nil
            _ = try? spool.recordDecision(record)
            return false
        case .approve:
            guard let store = openStore(), let row = try? store.record(record) else { return false }
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
