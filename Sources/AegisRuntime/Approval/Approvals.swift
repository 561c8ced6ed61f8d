#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy
import CAegisSpawn

/// Gets a yes or no for a command whose rule says `approve`: a grant a person
/// gave earlier, else the approver endpoint, else the terminal.
///
/// MUST: every path that is not an explicit yes denies.
/// MUST: an approver named by a less trusted layer (the caller's environment
///       or flags) never answers for a more trusted layer's `approve`; the
///       person at the terminal does.
/// MUST: grants cover one exact command (argv bytes, directory, executable,
///       rule) in one kernel session, and never last longer than the policy
///       allows now.
public enum Approvals {
    public struct Request {
        public var loaded: LoadedPolicy
        public var judgement: Judgement
        public var argv: [[UInt8]]
        /// What may leave the machine or be shown in logs: credentials redacted.
        public var loggedArgv: [[UInt8]]
        public var loggedAction: Action
        public var cwd: String
        public var sessionID: String
        public var executable: String
        public var store: AuditStore
        public var row: Int64
    }

    public enum Result: Sendable, Equatable {
        /// Approved; the text says by whom, for the audit row.
        case approved(String)
        /// Denied or not obtainable. `human` is who said no (nil when no one
        /// was asked); `unavailable` when there was no one to ask.
        case denied(human: String?, reason: String, unavailable: Bool)
    }

    public static func obtain(_ r: Request) -> Result {
        let asking = r.judgement.perLayer.filter { $0.decision.approval == .approve }.map(\.layer)
        let (now, _) = ProcessInfo.now()
        let rememberSeconds = Int64(r.loaded.prompt.rememberMinutes) * 60
        let key = SessionIdentity.current().map { grantKey(session: $0, r) }

        if let key, rememberSeconds > 0,
           let g = try? r.store.activeGrant(key: key, now: now, maxSeconds: rememberSeconds) {
            return .approved("approved by grant #\(g.id) (\(g.grantedBy), until \(ISO8601.format(unixSeconds: g.expiresAt, microseconds: 0)))")
        }

        if let approver = r.loaded.approver, r.loaded.approverMayAnswer(for: asking) {
            return askEndpoint(approver.settings, r)
        }

        let user = ProcessInfo.userName()
        let d = r.judgement.decision
        let rule = d.rule == Decision.defaultRuleName
            ? "no rule matched: the \(d.layer) policy's defaults"
            : "\(d.rule) (\(d.layer) policy\(d.ruleLocation.map { ", \($0)" } ?? ""))"
        let action = r.judgement.action.target.isEmpty ? r.judgement.action.type : "\(r.judgement.action.type) \(r.judgement.action.target)"
        let question = TerminalPrompt.Question(
            command: ShellQuote.command(r.argv), cwd: ShellQuote.visible(r.cwd), action: ShellQuote.visible(action),
            rule: ShellQuote.visible("\(rule), risk \(d.riskLevel.upperName)"),
            why: "the \(asking.joined(separator: " and ")) policy asks a person before this runs",
            rememberMinutes: key == nil ? 0 : r.loaded.prompt.rememberMinutes, timeoutSeconds: r.loaded.prompt.timeoutSeconds)
        let answer: TerminalPrompt.Answer
        do {
            answer = try TerminalPrompt.ask(question)
        } catch {
            var why: String
            switch error {
            case .noTerminal: why = "there is no terminal to ask on"
            case .background: why = "its terminal is in use by another program (aegis-exec runs in the background)"
            }
            if let approver = r.loaded.approver {
                why += "; the approver in the \(approver.layer) policy may not answer for the \(asking.joined(separator: " and ")) policy"
            }
            return .denied(human: nil, reason: why, unavailable: true)
        }
        switch answer {
        case .once:
            return .approved("approved once at the terminal by \(user)")
        case .remember:
            let until = now + rememberSeconds
            let by = "at the terminal by \(user)"
            if let key {
                do {
                    try r.store.addGrant(key: key, sessionID: r.sessionID, rule: d.rule, grantedAt: now, expiresAt: until,
                                         grantedBy: by, auditRow: r.row)
                } catch {
                    return .approved("approved once \(by) (the grant could not be stored: \(error.message))")
                }
            }
            return .approved("approved \(by) for \(r.loaded.prompt.rememberMinutes) min in this session, until \(ISO8601.format(unixSeconds: until, microseconds: 0))")
        case .deny(let why):
            return .denied(human: "\(why) (\(user))", reason: why, unavailable: false)
        }
    }

    static func askEndpoint(_ settings: ApproverSettings, _ r: Request) -> Result {
        let requestID = randomHex(16)
        let (now, micros) = ProcessInfo.now()
        let d = r.judgement.decision
        var command = JSONObject()
        command["argv"] = .array(r.loggedArgv.map { .string(String(decoding: $0, as: UTF8.self)) })
        command["cwd"] = .string(r.cwd)
        command["user"] = .string(ProcessInfo.userName())
        command["host"] = .string(hostName())
        command["session"] = .string(r.sessionID)
        command["agent"] = r.loggedAction.agent.map { .string($0) } ?? .null
        command["executable"] = .string(r.executable)
        var payload = JSONObject()
        payload["request_id"] = .string(requestID)
        payload["timestamp"] = .string(ISO8601.format(unixSeconds: now, microseconds: micros))
        payload["action_type"] = .string(r.loggedAction.type)
        payload["action_target"] = .string(r.loggedAction.target)
        payload["action_params"] = .object(r.loggedAction.params)
        payload["action_description"] = .string(ShellQuote.command(r.loggedArgv))
        payload["risk_level"] = .string(d.riskLevel.upperName)
        payload["approval"] = .string(d.approval.name)
        payload["matched_rule"] = .string(d.rule)
        payload["command"] = .object(command)

        let watch = SignalWatch()
        defer { watch.stop() }
        let via = "via \(settings.url)"
        switch ApproverClient.ask(settings, payload: payload, requestID: requestID, signalFD: watch.fd) {
        case .approved(let who, let reason):
            return .approved("approved by \(who ?? "the approver") \(via)\(reason.map { ": " + $0 } ?? "")")
        case .denied(let who, let reason):
            let text = "denied by \(who ?? "the approver") \(via)\(reason.map { ": " + $0 } ?? "")"
            return .denied(human: text, reason: text, unavailable: false)
        case .failed(let why):
            return .denied(human: nil, reason: "approver \(settings.url): \(why)", unavailable: false)
        }
    }

    /// The grant key: a hash, so the grants table holds no command text.
    static func grantKey(session: String, _ r: Request) -> String {
        let parts: [JSON] = [
            .string("aegis-grant-v1"), .string(session), .string(Gate.argvJSON(r.argv)), .string(r.cwd),
            .string(r.executable), .string(r.judgement.decision.layer), .string(r.judgement.decision.rule),
        ]
        return SHA256.hexDigest(Array(JSON.array(parts).serialized.utf8))
    }

    static func randomHex(_ n: Int) -> String {
        var bytes = [UInt8](repeating: 0, count: n)
        if aegis_random(&bytes, n) != 0 {
            // Unreachable on a kernel with getrandom; still unique enough per process.
            var s = SHA256()
            s.update(Array("\(getpid())-\(ProcessInfo.monotonicNanoseconds())".utf8))
            bytes = Array(s.finalize().prefix(n))
        }
        return SHA256.hex(bytes)
    }

    static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Holds INT, TERM, HUP and QUIT while a person or an endpoint is asked, and
/// makes them readable on `fd`: an interrupt then denies and is logged,
/// instead of killing the gate before the outcome is written.
final class SignalWatch {
    let fd: Int32
    private var previous = sigset_t()

    init() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, &previous)
        fd = aegis_signalfd(&set)
    }

    func stop() {
        if fd >= 0 {
            var info = [UInt8](repeating: 0, count: 128)
            while read(fd, &info, info.count) > 0 {}
            close(fd)
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}
