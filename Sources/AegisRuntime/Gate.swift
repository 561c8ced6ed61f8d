#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy

/// The gate: judge a command, record the decision, run it if allowed, record
/// the outcome.
///
/// MUST: nothing runs unless the decision is `auto` and its audit row is committed.
/// MUST: the argument bytes judged are the bytes executed, unchanged.
/// MUST: the executable is resolved once; that opened file is what runs.
/// MUST: every error on the way to a decision refuses (fail closed).
public struct GateRequest: Sendable {
    public var argv: [[UInt8]]
    public var sources: PolicySources
    public var agent: String?
    public var callerParams: JSONObject
    public var cwd: String
    public var sessionID: String
    /// The audit record of the gated command this invocation runs inside.
    public var parentRecord: String?
    /// Shell mode: the string to judge and run with a shell; `argv` is then unused.
    public var shell: ShellRequest?
    /// Told what went wrong without stopping the command (one line each).
    public var warn: (@Sendable (String) -> Void)?
    /// Ends the process with the result, called where the gate still holds
    /// everything it made: a one-command process then frees nothing string
    /// by string before it exits (the first String freed also costs the
    /// runtime a type instantiation). Without it, `run` returns.
    public var exit: (@Sendable (GateResult) -> Never)?

    public init(
        argv: [[UInt8]], sources: PolicySources, agent: String?, callerParams: JSONObject, cwd: String, sessionID: String,
        parentRecord: String? = nil, shell: ShellRequest? = nil
    ) {
        self.shell = shell
        self.argv = argv
        self.sources = sources
        self.agent = agent
        self.callerParams = callerParams
        self.cwd = cwd
        self.sessionID = sessionID
        self.parentRecord = parentRecord
    }
}

public enum GateResult: Sendable {
    /// The command ran; its termination, and a warning if its outcome could not be recorded.
    case ran(Termination, auditWarning: String?)
    /// Refused by policy (exit 77).
    case refused(Judgement, reason: RefusalReason)
}

public enum RefusalReason: Sendable, Equatable {
    case blocked
    /// A person or the approver said no, or the answer could not be had
    /// (timeout, endpoint failure); the text says which.
    case approvalDenied(String)
    /// There was no one to ask: no terminal, and no approver that may answer.
    case approvalUnavailable(String)
}

public enum GateError: Error, Sendable {
    case policy(PolicyError)
    case builtinMapping(BuiltinMappingError)
    case auditUnavailable(path: String?, reason: String)
    case notFound(String, Judgement)
    case notExecutable(path: String, reason: String, Judgement)
    case spawn(SpawnError, Judgement)
    case sandbox(SandboxError)
    case usage(String)
    /// The shell that would run a `-c` string is not owned by root or is writable by others.
    case untrustedShell(String)
}

/// A command, judged: the action (as the deciding layer mapped it), the
/// decision, and the sandbox every layer's say adds up to.
public struct Judgement: Sendable {
    public var action: Action
    public var decision: Decision
    public var perLayer: [LayerJudgement]
    public var sandbox: EffectiveSandbox
    /// Shell mode: the command in the string whose decision stood.
    public var decidingArgv: [[UInt8]]? = nil
}

/// The built-in mapping entries per program, for a supervisor that judges
/// many execs of the same few programs.
public final class BuiltinMappingCache {
    var entries: [String: [CommandMapping.Entry]] = [:]
    public init() {}
    static func key(_ program: String, _ path: String?) -> String { program + "\u{0}" + (path ?? "") }
}

/// What a one-command process keeps until it exits. Freeing a loaded policy
/// object by object just before `exit` only costs time (a 200-rule policy is
/// thousands of allocations); the kernel takes the memory back at once.
enum ProcessLifetime {
    nonisolated(unsafe) private static var kept: [Any] = []
    static func keep(_ value: Any) { kept.append(value) }
}

public enum Gate {
    /// Judges a command against every layer without running it.
    public static func judge(
        argv: [[UInt8]], cwd: String, resolvedPath: String?, policy: LoadedPolicy, agent: String?,
        callerParams: JSONObject, at now: Instant, builtinCache: BuiltinMappingCache? = nil, traced: Bool = false
    ) throws(GateError) -> Judgement {
        let command = CommandMapping.Command(argv: argv, cwd: cwd, resolvedPath: resolvedPath)
        let builtin: [CommandMapping.Entry]
        do {
            let program = command.programName
            if let cached = builtinCache?.entries[BuiltinMappingCache.key(program, resolvedPath)] {
                builtin = cached
            } else {
                builtin = try Builtin.commandMapping(program: program, path: resolvedPath)
                builtinCache?.entries[BuiltinMappingCache.key(program, resolvedPath)] = builtin
            }
        } catch {
            throw .builtinMapping(error)
        }
        let results: [LayerJudgement]
        do {
            results = try policy.layered.judge(command, builtinMapping: builtin, agent: agent, callerParams: callerParams, at: now,
                                               traced: traced)
        } catch {
            throw .policy(.evaluation(error))
        }
        // The strictest decision; on a tie the more trusted layer's stands.
        let combined = results.dropFirst().reduce(results[0].decision) { $0.stricter($1.decision) }
        let best = results.first { $0.layer == combined.layer } ?? results[0]
        let sandbox: EffectiveSandbox
        do {
            sandbox = try EffectiveSandbox.combine(results.map(\.decision.sandbox))
        } catch {
            throw .sandbox(.unknownGroup(error.name))
        }
        return Judgement(action: best.action, decision: combined, perLayer: results, sandbox: sandbox)
    }

    /// Judges, records and runs one command. Called once per process: what
    /// it loads is kept until the process exits (see ProcessLifetime).
    public static func run(_ request: GateRequest) throws(GateError) -> GateResult {
        func load(_ sources: PolicySources) throws(GateError) -> LoadedPolicy {
            do { return try PolicyFiles.load(sources) } catch { throw .policy(error) }
        }
        var loaded = try load(request.sources)
        let (nowSeconds, micros) = ProcessInfo.now()
        var prepared: Prepared
        do {
            prepared = try prepare(request, loaded, at: nowSeconds)
        } catch {
            // A compiled copy that no longer decodes: judge by the files
            // themselves, which also replaces the copies.
            guard case .policy(.evaluation(let e)) = error, e.damagedCopy else { throw error }
            var sources = request.sources
            sources.refreshCache = true
            loaded = try load(sources)
            prepared = try prepare(request, loaded, at: nowSeconds)
        }
        ProcessLifetime.keep(loaded)
        let judgement = prepared.judgement, runArgv = prepared.runArgv
        let executable = prepared.executable, resolveError = prepared.resolveError

        let storePath = try auditPath(loaded, environment: request.sources.environment)
        let spool = try openSpool(storePath, loaded)
        // Credentials are taken out of what is written; the command still gets every byte.
        let logged = loaded.redactor.forLog(judgement.action, argv: runArgv)
        var record = AuditStore.DecisionRecord(
            sessionID: request.sessionID, timestamp: ISO8601.format(unixSeconds: nowSeconds, microseconds: micros),
            action: logged.action, decision: judgement.decision, resultStatus: "pending", resultError: nil,
            argvJSON: argvJSON(logged.argv), cwd: request.cwd, user: ProcessInfo.userName(), pid: getpid(),
            executable: executable?.path, policyFiles: loaded.files.map(\.path), sandbox: judgement.sandbox.description,
            parentRecord: request.parentRecord)

        func unavailable(_ reason: String) -> GateError { .auditUnavailable(path: spool.path, reason: reason) }
        func spoolDecision() throws(GateError) {
            let appended: AuditSpool.Appended
            do { appended = try spool.recordDecision(record) } catch { throw unavailable(error.description) }
            if let warning = ingestIfDue(spool, loaded, appended) { request.warn?(warning) }
        }
        func recordFinal(_ status: String, _ error: String?, exit: Int32?) throws(GateError) {
            record.resultStatus = status
            record.resultError = error
            record.exitStatus = exit
            try spoolDecision()
        }

        if judgement.decision.approval == .block {
            try recordFinal("blocked", "blocked by rule \(judgement.decision.rule)", exit: 77)
            if let exit = request.exit { withExtendedLifetime((prepared, record, spool)) { exit(.refused(judgement, reason: .blocked)) } }
            return .refused(judgement, reason: .blocked)
        }
        // A command that cannot run is recorded as such; no one is asked about it.
        guard let executable else {
            switch resolveError {
            case .notExecutable(let path, let reason)?:
                try recordFinal("not_executable", "\(path): \(reason)", exit: 126)
                throw .notExecutable(path: path, reason: reason, judgement)
            default:
                let name = String(decoding: runArgv[0], as: UTF8.self)
                try recordFinal("not_found", "\(name): command not found", exit: 127)
                throw .notFound(name, judgement)
            }
        }

        // A sandbox that cannot be built is a configuration error: the command
        // does not run without it.
        let filters: [SeccompFilter]
        do {
            filters = try SeccompCompiler.filters(for: judgement.sandbox,
                                                  notifyingExecs: judgement.sandbox.intercept && !Spawner.mayBeSupervisedFromAbove)
        } catch {
            try recordFinal("error", "sandbox: \(error)", exit: 78)
            throw .sandbox(error)
        }

        // The decision is written before anyone is asked and before the
        // command starts: a gate killed at the prompt still leaves its record.
        // A command someone must approve is written to the table itself (the
        // approval and any grant refer to its row); the rest to the spool.
        var entry: AuditEntry
        if judgement.decision.approval == .approve {
            let store = try openStore(storePath, loaded)
            do { entry = .row(store, try store.record(record)) } catch { throw unavailable(error.message) }
        } else {
            try spoolDecision()
            entry = .spooled(spool, record.recordID)
        }
        var humanDecision: String?
        if case .row(let store, let row) = entry {
            let asked = Approvals.obtain(Approvals.Request(
                loaded: loaded, judgement: judgement, argv: runArgv, loggedArgv: logged.argv, loggedAction: logged.action,
                cwd: request.cwd, sessionID: request.sessionID, executable: executable.path, store: store, row: row))
            switch asked {
            case .approved(let who):
                humanDecision = who
                do { try store.setHumanDecision(row: row, who) } catch { throw unavailable(error.message) }
            case .denied(let human, let reason, let unavailableNow):
                let o = outcome(ProcessInfo.monotonicNanoseconds(), status: "denied", error: reason, exit: 77, signal: nil, human: human)
                if let failure = entry.complete(o, loaded, warn: request.warn) { throw unavailable(failure) }
                return .refused(judgement, reason: unavailableNow ? .approvalUnavailable(reason) : .approvalDenied(reason))
            }
        }
        let started = ProcessInfo.monotonicNanoseconds()
        let termination: Termination
        // Its records are moved (`finish`) once the command's outcome is recorded.
        var nested: NestedGate?
        do {
            var intercept: (@Sendable (NestedExec) -> Bool)?
            if judgement.sandbox.intercept {
                let gate = NestedGate(loaded: loaded, agent: request.agent, callerParams: request.callerParams,
                                      sessionID: request.sessionID, parentRecord: record.recordID, auditPath: storePath,
                                      inherited: judgement.sandbox, sources: request.sources)
                intercept = { gate.decide($0) }
                nested = gate
            }
            termination = try Spawner.run(executable, argv: runArgv,
                                          environment: Spawner.currentEnvironment(settingParent: record.recordID,
                                                                                  forShell: request.shell != nil),
                                          filters: filters, intercept: intercept)
        } catch {
            let (status, reason, exit): (String, String, Int32)
            switch error {
            case .exec(let e): (status, reason, exit) = ("not_executable", String(cString: strerror(e)), 126)
            case .sandbox(let e): (status, reason, exit) = ("error", "sandbox: \(String(cString: strerror(e)))", 78)
            case .system(let s): (status, reason, exit) = ("error", s.description, 125)
            }
            _ = entry.complete(outcome(started, status: status, error: reason, exit: exit, signal: nil, human: humanDecision),
                               loaded, warn: request.warn)
            nested?.finish()
            throw .spawn(error, judgement)
        }
        let o: AuditStore.Outcome
        switch termination {
        case .exited(let code):
            o = outcome(started, status: code == 0 ? "success" : "failure", error: nil, exit: code, signal: nil, human: humanDecision)
        case .signaled(let sig):
            o = outcome(started, status: "failure", error: "killed by signal \(sig)", exit: 128 + sig, signal: sig, human: humanDecision)
        }
        var result = GateResult.ran(termination, auditWarning: nil)
        if let failure = entry.complete(o, loaded, warn: request.warn) {
            result = .ran(termination, auditWarning: "the command ran, but its outcome was not recorded in \(storePath): \(failure)")
        }
        nested?.finish()
        if let exit = request.exit { withExtendedLifetime((prepared, record, logged, spool, entry, filters, o)) { exit(result) } }
        return result
    }

    /// Where a command's decision went, and so where its outcome goes.
    enum AuditEntry {
        case spooled(AuditSpool, String)
        case row(AuditStore, Int64)

        /// Records the outcome; returns why it could not be, if it could not.
        func complete(_ o: AuditStore.Outcome, _ loaded: LoadedPolicy, warn: (@Sendable (String) -> Void)?) -> String? {
            switch self {
            case .spooled(let spool, let id):
                do {
                    let appended = try spool.recordOutcome(id, o)
                    if let warning = Gate.ingestIfDue(spool, loaded, appended) { warn?(warning) }
                } catch {
                    return error.description
                }
            case .row(let store, let row):
                do { try store.complete(row: row, o) } catch { return error.message }
            }
            return nil
        }
    }

    /// The spool is moved into the table once it holds this much: about a
    /// hundred commands, a few milliseconds for the one command that does it.
    static let spoolIngestBytes = 131_072

    /// Moves the spool into the table when this append made it due (see
    /// `crossedIngestPoint`). Returns a warning if that failed: the records
    /// stay in the spool, which takes decisions until `AuditSpool.capacity`.
    static func ingestIfDue(_ spool: AuditSpool, _ loaded: LoadedPolicy, _ appended: AuditSpool.Appended) -> String? {
        guard appended.crossedIngestPoint(spoolIngestBytes) else { return nil }
        do {
            let store = try AuditStore(path: spool.storePath, synchronous: loaded.audit?.synchronous ?? .normal)
            try store.ingestSpool()
            return nil
        } catch {
            return "the audit records in \(spool.path) could not be moved into the store (\(error)); "
                + "commands stop when it reaches \(AuditSpool.capacity >> 20) MiB"
        }
    }

    /// A command judged, and what would run: the command, or the shell with the string.
    struct Prepared {
        var judgement: Judgement
        var runArgv: [[UInt8]]
        /// Resolved once; a failure is judged and recorded like any other command.
        var executable: ResolvedExecutable?
        var resolveError: ResolveError?
    }

    static func prepare(_ request: GateRequest, _ loaded: LoadedPolicy, at nowSeconds: Int64) throws(GateError) -> Prepared {
        var resolveError: ResolveError?
        var executable: ResolvedExecutable?
        if let shell = request.shell {
            let shellPath = loaded.shell ?? ShellGate.defaultShell
            do { executable = try ExecutableResolver.resolve(Array(shellPath.utf8), searchPath: nil) } catch { resolveError = error }
            try ShellGate.checkShell(shellPath, executable)
            let (judgement, _) = try ShellGate.judge(
                string: shell.string, cwd: request.cwd, searchPath: request.sources.environment["PATH"], policy: loaded,
                agent: request.agent, callerParams: request.callerParams, at: Instant(unixSeconds: nowSeconds),
                dialect: ShellDialect.of(shell: shellPath), home: request.sources.environment["HOME"],
                cdSearchPath: request.sources.environment["CDPATH"])
            return Prepared(judgement: judgement, runArgv: ShellGate.shellArgv(shellPath, shell), executable: executable,
                            resolveError: resolveError)
        }
        do {
            executable = try ExecutableResolver.resolve(request.argv[0], searchPath: request.sources.environment["PATH"])
        } catch {
            resolveError = error
        }
        let judgement = try judge(
            argv: request.argv, cwd: request.cwd, resolvedPath: executable?.path, policy: loaded,
            agent: request.agent, callerParams: request.callerParams, at: Instant(unixSeconds: nowSeconds))
        return Prepared(judgement: judgement, runArgv: request.argv, executable: executable, resolveError: resolveError)
    }

    /// What happened, with the command's own duration (from spawn to exit).
    static func outcome(
        _ started: UInt64, status: String, error: String?, exit: Int32?, signal: Int32?, human: String? = nil
    ) -> AuditStore.Outcome {
        let (s, us) = ProcessInfo.now()
        // To the microsecond: the audit record spells it without a float conversion.
        let ms = Double((ProcessInfo.monotonicNanoseconds() - started) / 1_000) / 1_000
        return AuditStore.Outcome(status: status, error: error, exitStatus: exit, signal: signal,
                                  durationMilliseconds: ms, finishedAt: ISO8601.format(unixSeconds: s, microseconds: us),
                                  humanDecision: human)
    }

    static func auditPath(_ loaded: LoadedPolicy, environment: Environment) throws(GateError) -> String {
        guard let path = loaded.audit?.path ?? AuditStore.defaultPath(environment: environment) else {
            throw .auditUnavailable(path: nil, reason: "no audit location: set HOME or XDG_STATE_HOME, or `audit: {path: ...}` in the policy")
        }
        return path
    }

    static func openSpool(_ path: String, _ loaded: LoadedPolicy) throws(GateError) -> AuditSpool {
        do {
            return try AuditSpool(storePath: path, synchronous: loaded.audit?.synchronous ?? .normal)
        } catch {
            throw storeError(error)
        }
    }

    static func openStore(_ path: String, _ loaded: LoadedPolicy) throws(GateError) -> AuditStore {
        do {
            return try AuditStore(path: path, synchronous: loaded.audit?.synchronous ?? .normal)
        } catch {
            throw storeError(error)
        }
    }

    static func storeError(_ error: AuditStore.OpenError) -> GateError {
        switch error {
        case .directory(let p, let reason): .auditUnavailable(path: p, reason: reason)
        case .database(let p, let reason): .auditUnavailable(path: p, reason: reason)
        case .newerSchema(let p, let v): .auditUnavailable(path: p, reason: "schema version \(v) is newer than this aegis-exec understands")
        }
    }

    /// The exact argument bytes as a JSON list (invalid UTF-8 as \udcXX escapes).
    public static func argvJSON(_ argv: [[UInt8]]) -> String {
        var out: [UInt8] = [0x5B]
        for i in argv.indices {
            if i > 0 { out.append(0x2C) }
            JSON.appendByteStringLiteral(argv[i], to: &out)
        }
        out.append(0x5D)
        return String(decoding: out, as: UTF8.self)
    }

    /// The session an invocation belongs to: `AEGIS_SESSION` if set, else the
    /// terminal session (getsid) it runs in.
    public static func sessionID(environment: Environment) -> String {
        if let s = environment["AEGIS_SESSION"], !s.isEmpty { return s }
        return "sid-\(getsid(0))"
    }
}
