#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy

/// `aegis-exec -c STRING [ARG0 [ARGS...]]`: the string is parsed, every
/// command it could run is judged, and the strictest decision decides
/// whether a real shell runs it.
///
/// MUST: a command whose program cannot be known before it runs (a name
///       from an expansion, eval of one, source, a shell reading stdin) or a
///       string that cannot be parsed is never `auto`: the policy decides it
///       as `shell.unanalyzable`, at least `approve`.
/// MUST: the string the shell runs is the string that was judged, byte for byte.
public struct ShellRequest: Sendable {
    public var string: [UInt8]
    /// Shell options passed through (`-e`, `-l`, `-o pipefail`).
    public var options: [[UInt8]]
    /// `$0` and the positional parameters.
    public var positional: [[UInt8]]

    public init(string: [UInt8], options: [[UInt8]], positional: [[UInt8]]) {
        self.string = string
        self.options = options
        self.positional = positional
    }
}

/// One command found in a shell string, judged.
public struct ShellCommandJudgement: Sendable {
    public var argv: [[UInt8]]
    public var via: [String]
    public var unknowable: String?
    /// Where it was judged to run when a `cd` earlier in the string may have moved it.
    public var directory: String?
    public var judgement: Judgement
}

/// The files command names lead to, looked up once a string: for the
/// analysis (which wrapper a name is) and for judging each command.
final class ProgramPaths {
    let searchPath: String?
    var found: [[UInt8]: String?] = [:]

    init(searchPath: String?) { self.searchPath = searchPath }

    /// `directory`: where a relative path with a slash is looked up from
    /// (nil: the working directory).
    func path(_ program: [UInt8], in directory: String?) -> String? {
        var lookup = program
        if let directory, program.first != 0x2F, program.contains(0x2F) { lookup = Array(directory.utf8) + [0x2F] + program }
        if let known = found[lookup] { return known }
        let path = try? ExecutableResolver.resolve(lookup, searchPath: searchPath).path
        found[lookup] = .some(path)
        return path
    }
}

public enum ShellGate {
    /// The shell that runs strings.
    public static let defaultShell = "/bin/sh"
    public static let unanalyzableType = "shell.unanalyzable"

    /// Judges every command of `string`; the combined judgement's action is
    /// the deciding command's, with all of them listed in its params.
    public static func judge(
        string: [UInt8], cwd: String, searchPath: String?, policy: LoadedPolicy, agent: String?,
        callerParams: JSONObject, at now: Instant, dialect: ShellDialect = .posix, home: String? = nil,
        cdSearchPath: String? = nil
    ) throws(GateError) -> (Judgement, [ShellCommandJudgement]) {
        var found: [ShellAnalysis.Item]
        let paths = ProgramPaths(searchPath: searchPath)
        do {
            found = try ShellAnalysis.analyze(string, dialect: dialect, home: home, cdSearchPath: cdSearchPath) { name, directory in
                let place = directory.map { normalizePath(String(decoding: $0, as: UTF8.self), cwd: cwd) }
                return paths.path(name, in: place).map { String($0.split(separator: "/").last ?? "") }
            }.items
        } catch {
            found = [.init(argv: [string], via: [], unknowable: "the string cannot be parsed (\(error.message) at byte \(error.offset))",
                           context: .direct)]
        }
        if found.isEmpty {
            // Nothing runs (an empty string, only comments or assignments).
            found = [.init(argv: [], via: [], unknowable: nil, context: .direct)]
        }
        var judged: [ShellCommandJudgement] = []
        for item in found {
            // A command a `cd` may have moved is judged where it would run:
            // its relative paths, and a relative program path, from there.
            let directory = item.directory.map { normalizePath(String(decoding: $0, as: UTF8.self), cwd: cwd) }
            let here = directory ?? cwd
            let j: Judgement
            if let why = item.unknowable {
                j = try unanalyzable(why, argv: item.argv, cwd: here, policy: policy, agent: agent, at: now)
            } else if item.argv.isEmpty {
                j = try unanalyzable("", argv: [], cwd: here, policy: policy, agent: agent, at: now, nothingRuns: true)
            } else {
                let path = paths.path(item.argv[0], in: directory)
                j = try Gate.judge(argv: item.argv, cwd: here, resolvedPath: path, policy: policy, agent: agent,
                                   callerParams: callerParams, at: now)
            }
            judged.append(ShellCommandJudgement(argv: item.argv, via: item.via, unknowable: item.unknowable, directory: directory, judgement: j))
        }
        // The strictest decides; on a tie the first in source order.
        var best = 0
        for k in judged.indices.dropFirst() {
            let a = judged[best].judgement.decision, b = judged[k].judgement.decision
            if b.approval > a.approval || (b.approval == a.approval && b.riskLevel > a.riskLevel) { best = k }
        }
        let sandbox: EffectiveSandbox
        do {
            sandbox = try EffectiveSandbox.combine(judged.flatMap { $0.judgement.perLayer.map(\.decision.sandbox) })
        } catch {
            throw .sandbox(.unknownGroup(error.name))
        }
        var combined = judged[best].judgement
        combined.perLayer = judged.flatMap(\.judgement.perLayer)
        combined.sandbox = sandbox
        combined.decidingArgv = judged[best].argv
        combined.action.params["shell"] = .object(JSONObject([
            ("string", .string(String(decoding: string, as: UTF8.self))),
            ("commands", .array(judged.map { c in
                .object(JSONObject([
                    ("argv", .array(c.argv.map { .string(String(decoding: $0, as: UTF8.self)) })),
                    ("type", .string(c.judgement.action.type)), ("target", .string(c.judgement.action.target)),
                    ("approval", .string(c.judgement.decision.approval.name)), ("rule", .string(c.judgement.decision.rule)),
                ]))
            })),
        ]))
        return (combined, judged)
    }

    /// What cannot be known before it runs is judged as its own action type,
    /// so a policy can block it; it is never allowed without asking.
    static func unanalyzable(
        _ why: String, argv: [[UInt8]], cwd: String, policy: LoadedPolicy, agent: String?, at now: Instant,
        nothingRuns: Bool = false
    ) throws(GateError) -> Judgement {
        let action = Action(
            type: nothingRuns ? "shell.none" : unanalyzableType, target: why,
            params: JSONObject([("argv", .array(argv.map { .string(String(decoding: $0, as: UTF8.self)) })), ("cwd", .string(cwd))]),
            agent: agent)
        var perLayer: [LayerJudgement] = []
        for layer in policy.layered.layers {
            var d: Decision
            do {
                d = try Evaluator.evaluate(action, policy: layer.policy, at: now, layer: layer.name, traced: false)
            } catch {
                throw .policy(.evaluation(error))
            }
            if nothingRuns {
                (d.riskLevel, d.approval, d.rule, d.ruleLocation) = (.low, .auto, Decision.defaultRuleName, nil)
            } else if d.approval < .approve {
                d.approval = .approve
            }
            perLayer.append(LayerJudgement(layer: layer.name, action: action, decision: d))
        }
        let combined = perLayer.dropFirst().reduce(perLayer[0].decision) { $0.stricter($1.decision) }
        let sandbox: EffectiveSandbox
        do { sandbox = try EffectiveSandbox.combine(perLayer.map(\.decision.sandbox)) } catch {
            throw .sandbox(.unknownGroup(error.name))
        }
        return Judgement(action: action, decision: combined, perLayer: perLayer, sandbox: sandbox)
    }

    static let knownShells = ["sh", "dash", "bash", "ash", "ksh", "mksh", "zsh", "posh", "yash"]

    /// The shell runs the string unjudged: it must be a shell (the string is
    /// judged as shell code), and a file the agent cannot have made.
    static func checkShell(_ path: String, _ executable: ResolvedExecutable?) throws(GateError) {
        guard knownShells.contains(String(path.split(separator: "/").last ?? "")) else {
            throw .untrustedShell("the shell \(path) is not one of \(knownShells.joined(separator: ", "))")
        }
        guard let executable else { return }  // not found: judged and refused as such (127)
        let st: stat
        do { st = try executable.descriptor.stat() } catch {
            throw .untrustedShell("cannot check the shell \(path): \(error.reason)")
        }
        if let problem = PolicyFiles.trustProblem(st, what: "the shell \(path)") { throw .untrustedShell(problem) }
    }

    /// The shell's argv: `SHELL [OPTIONS] -c STRING [ARG0 [ARGS...]]`.
    static func shellArgv(_ shellPath: String, _ r: ShellRequest) -> [[UInt8]] {
        [Array(shellPath.utf8)] + r.options + [Array("-c".utf8), r.string] + r.positional
    }
}
