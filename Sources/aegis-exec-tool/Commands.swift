#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy
import AegisCommandLine
import AegisRuntime
import ArgumentParser

let version = "0.1.0"

struct AegisExec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aegis-exec",
        abstract: "Judge, audit and run a command under a policy: a sudo-style gate for AI agents' shell commands.",
        usage: """
            aegis-exec [--policy <file>]... [--agent <id>] [--param <key=value>]... [--params <json>] [--] <command> [<arg>...]
            aegis-exec <subcommand> [<options>]
            """,
        discussion: """
            With no subcommand, COMMAND is judged against every policy layer: 'auto' runs it and exits \
            with its status, 'block' and 'approve' refuse with status 77. Every decision and outcome \
            goes to the SQLite audit log.

            Exit status: the command's own (128+N for signal N); 77 refused; 78 configuration error \
            (policy or audit store); 125 usage or internal error; 126 cannot execute; 127 not found.
            """,
        version: version,
        subcommands: [Init.self, Validate.self, Schema.self, Simulate.self, Explain.self, Audit.self, Stats.self]
    )

    func run() throws {
        // Commands never reach the parser (main.swift routes them to the gate),
        // so arriving here means there was none.
        throw ValidationError("no command given; usage: aegis-exec [--policy FILE]... -- COMMAND [ARGS...]")
    }
}

/// Options that choose policy layers and describe the caller. Each only adds.
struct GateOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "A policy file; repeat to merge files in order. Adds a layer: it can only make decisions stricter than the system and user policies.",
        valueName: "file"), completion: .file(extensions: ["yaml", "yml"]))
    var policy: [String] = []

    @Option(name: .long, help: ArgumentHelp("The agent's id, matched by rules' match.agent (self-declared; also AEGIS_AGENT).", valueName: "id"))
    var agent: String?

    @Option(name: .long, help: ArgumentHelp("A param for conditions, KEY=VALUE (VALUE read as JSON number or boolean when it is one).", valueName: "key=value"))
    var param: [String] = []

    @Option(name: .long, help: ArgumentHelp("Params as a JSON object; types kept exactly.", valueName: "json"))
    var params: String?

    func callerParams() throws -> JSONObject {
        var out = JSONObject()
        do {
            for p in param { try GateArguments.addParam(p, to: &out) }
            if let params { try GateArguments.addParams(params, to: &out) }
        } catch {
            throw ValidationError(error.message)
        }
        return out
    }

    func loadPolicy() throws -> LoadedPolicy {
        do {
            return try PolicyFiles.load(PolicySources(explicit: policy, environment: ProcessInfo.environment()))
        } catch {
            throw policyFailure(error)
        }
    }
}

/// Says why the policy cannot be loaded, as the gate would; the exit status to leave with.
func policyFailure(_ error: PolicyError) -> ExitCode {
    let (message, status) = Messages.policy(error)
    if case .invalid(let diags) = error { Messages.printDiagnostics(diags) } else { Messages.printError(message) }
    return ExitCode(status)
}

struct ClockOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Judge as if it were this time (ISO 8601, e.g. 2026-11-25T09:30:00Z; UTC when no offset).", valueName: "time"))
    var at: String?

    func instant() throws -> Instant {
        guard let at else { return Instant(unixSeconds: ProcessInfo.now().seconds) }
        guard let i = ISO8601.parse(at) else {
            throw ValidationError("--at '\(at)' is not an ISO 8601 time such as 2026-11-25T09:30:00Z")
        }
        return i
    }
}

// MARK: - init

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a commented starter policy (never overwrites a file).")

    @Option(name: .long, help: ArgumentHelp("The template to start from.", valueName: "name"),
            completion: .list(Builtin.templates.map(\.name)))
    var template: String = "default"

    @Flag(name: .long, help: "List the templates and exit.")
    var list = false

    @Argument(help: ArgumentHelp("Where to write it; - for standard output.", valueName: "path"), completion: .file())
    var path: String = "policy.yaml"

    func run() throws {
        if list {
            for t in Builtin.templates { print(t.name) }
            return
        }
        guard let t = Builtin.templates.first(where: { $0.name == template }) else {
            throw ValidationError("no template '\(template)'; templates: \(Builtin.templates.map(\.name).joined(separator: ", "))")
        }
        if path == "-" {
            print(t.text, terminator: "")
            return
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            let e = errno
            Messages.printError(e == EEXIST
                ? "\(path) already exists; not overwriting it (choose another path or remove it first)"
                : "cannot create \(path): \(String(cString: strerror(e)))")
            throw ExitCode(ExitStatus.usage)
        }
        defer { close(fd) }
        let bytes = Array(t.text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                Messages.printError("cannot write \(path): \(String(cString: strerror(errno)))")
                throw ExitCode(ExitStatus.configuration)
            }
            written += n
        }
        print("wrote \(path) from template '\(t.name)'; check it with: aegis-exec validate \(path)")
    }
}

// MARK: - validate

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check policy files; report every problem as FILE:LINE:COLUMN: message.")

    @Flag(name: .long, help: "Treat warnings as errors.")
    var strict = false

    @Argument(help: ArgumentHelp("Policy files to check.", valueName: "file"), completion: .file(extensions: ["yaml", "yml"]))
    var files: [String]

    func run() throws {
        var failed = false
        for path in files {
            let file: PolicyFile
            do {
                file = try PolicyFiles.read(path)
            } catch {
                if case .invalid(let diags) = error {
                    Messages.printDiagnostics(diags)
                } else {
                    print("\(path):1:1: \(Messages.policy(error).0)")
                }
                failed = true
                continue
            }
            var findings = file.diagnostics
            if file.isValid { findings += file.shadowingWarnings + Examples.check(file) }
            findings.sort { ($0.line, $0.column) < ($1.line, $1.column) }
            for d in findings { print(d.description) }
            if findings.contains(where: { $0.severity == .error }) || (strict && !findings.isEmpty) {
                failed = true
            }
        }
        if failed { throw ExitCode(ExitStatus.configuration) }
    }
}

// MARK: - schema

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema (draft 2020-12) of the policy format.")

    func run() {
        print(PolicySchema.json)
    }
}

// MARK: - simulate

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Judge actions (TYPE:TARGET) without running anything.",
        discussion: "A first argument naming an existing file without ':' is read as a policy file, as in the Python original's 'aegis simulate policy.yaml read:crm'.")

    @OptionGroup var gate: GateOptions
    @OptionGroup var clock: ClockOption

    @Flag(name: .long, help: "One JSON object per action, one per line.")
    var json = false

    @Argument(help: ArgumentHelp("Actions to judge, as TYPE:TARGET.", valueName: "type:target"))
    var actions: [String]

    func run() throws {
        var gate = self.gate
        var actions = self.actions
        while let first = actions.first, !first.contains(":"), access(first, R_OK) == 0 {
            gate.policy.append(first)
            actions.removeFirst()
        }
        guard !actions.isEmpty else { throw ValidationError("no actions given; write them as TYPE:TARGET") }
        let now = try clock.instant()
        let params = try gate.callerParams()
        let loaded = try gate.loadPolicy()
        let agent = gate.agent ?? ProcessInfo.environment()["AEGIS_AGENT"]
        for text in actions {
            guard let colon = text.firstIndex(of: ":") else {
                throw ValidationError("'\(text)' is not TYPE:TARGET")
            }
            let action = Action(type: String(text[..<colon]), target: String(text[text.index(after: colon)...]),
                                params: params, agent: agent)
            let d: Decision
            do { d = try loaded.layered.judge(action, at: now) } catch {
                let (m, s) = Messages.policy(.evaluation(error))
                Messages.printError(m)
                throw ExitCode(s)
            }
            if json {
                print(JSON.object(JSONObject([
                    ("type", .string(action.type)), ("target", .string(action.target)),
                    ("risk_level", .string(d.riskLevel.name)), ("approval", .string(d.approval.name)),
                    ("rule", .string(d.rule)),
                ])).serialized)
            } else {
                print("\(text)  risk=\(d.riskLevel)  approval=\(d.approval)  rule=\(d.rule)")
            }
        }
    }
}

// MARK: - explain

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how a command maps to an action, every rule considered, and the decision, without running it.")

    @OptionGroup var gate: GateOptions
    @OptionGroup var clock: ClockOption

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    @Option(name: .customShort("c"), help: ArgumentHelp("A shell string to explain, judged as `aegis-exec -c` judges it: every command in it.", valueName: "string"))
    var shellString: String?

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command to explain.", valueName: "command"))
    var command: [String] = []

    func run() throws {
        if let shellString { return try explainShell(Array(shellString.utf8)) }
        var words = command
        if words.first == "--" { words.removeFirst() }
        guard !words.isEmpty else { throw ValidationError("no command given; usage: aegis-exec explain -- COMMAND [ARGS...]") }
        // Exact bytes for the command words, taken from the raw argv tail.
        let raw = GateMain.rawArguments()
        let argv = raw.count >= words.count ? Array(raw.suffix(words.count)) : words.map { Array($0.utf8) }
        let env = ProcessInfo.environment()
        let now = try clock.instant()
        let params = try gate.callerParams()
        let loaded = try gate.loadPolicy()
        let resolved = try? ExecutableResolver.resolve(argv[0], searchPath: env["PATH"])
        let judgement: Judgement
        do {
            judgement = try Gate.judge(argv: argv, cwd: ProcessInfo.currentDirectory(), resolvedPath: resolved?.path,
                                       policy: loaded, agent: gate.agent ?? env["AEGIS_AGENT"], callerParams: params, at: now,
                                       traced: true)
        } catch {
            let (m, s) = Messages.failure(error, argv: argv)
            Messages.printError(m)
            throw ExitCode(s)
        }
        let d = judgement.decision
        if json {
            print(JSON.object(JSONObject([
                ("action", judgement.action.json),
                ("risk_level", .string(d.riskLevel.name)), ("approval", .string(d.approval.name)),
                ("rule", .string(d.rule)), ("layer", .string(d.layer)),
                ("sandbox", .string(judgement.sandbox.description)),
                ("trace", .array(d.trace.map(\.json))),
            ])).serialized)
            return
        }
        print("command:  \(ShellQuote.command(argv))")
        print("program:  \(resolved?.path ?? "(not found)")")
        for j in judgement.perLayer {
            print("action:   \(j.action.type) \(j.action.target)   [\(j.layer) layer's mapping]")
        }
        print("params:   \(JSON.object(judgement.action.params).serialized)")
        print("rules:")
        for t in d.trace {
            print("  \(t.matched ? "MATCH" : "  -  ") [\(t.layer)] \(t.rule): \(t.reason)")
        }
        print("sandbox:  \(judgement.sandbox)")
        print("decision: \(d.approval) (risk \(d.riskLevel)) by \(d.rule == Decision.defaultRuleName ? "defaults" : "rule '\(d.rule)'") of the \(d.layer) policy")
    }

    /// Every command of a shell string, in source order, with its decision.
    func explainShell(_ string: [UInt8]) throws {
        let env = ProcessInfo.environment()
        let loaded = try gate.loadPolicy()
        let params = try gate.callerParams()
        let now = try clock.instant()
        let judged: (Judgement, [ShellCommandJudgement])
        do {
            judged = try ShellGate.judge(string: string, cwd: ProcessInfo.currentDirectory(), searchPath: env["PATH"], policy: loaded,
                                         agent: gate.agent ?? env["AEGIS_AGENT"], callerParams: params, at: now,
                                         dialect: ShellDialect.of(shell: loaded.shell ?? ShellGate.defaultShell), home: env["HOME"],
                                         cdSearchPath: env["CDPATH"])
        } catch {
            let (m, s) = Messages.failure(error, argv: [string])
            Messages.printError(m)
            throw ExitCode(s)
        }
        let (combined, commands) = judged
        let d = combined.decision
        if json {
            print(JSON.object(JSONObject([
                ("analyzable", .bool(commands.allSatisfy { $0.unknowable == nil })),
                ("commands", .array(commands.map { c in
                    .object(JSONObject([
                        ("argv", .array(c.argv.map { .string(String(decoding: $0, as: UTF8.self)) })),
                        ("via", .array(c.via.map(JSON.string))),
                        ("action", c.judgement.action.json),
                        ("risk_level", .string(c.judgement.decision.riskLevel.name)),
                        ("approval", .string(c.judgement.decision.approval.name)),
                        ("rule", .string(c.judgement.decision.rule)),
                        ("unanalyzable", c.unknowable.map(JSON.string) ?? .null),
                        ("cwd", c.directory.map(JSON.string) ?? .null),
                    ]))
                })),
                ("risk_level", .string(d.riskLevel.name)), ("approval", .string(d.approval.name)),
                ("rule", .string(d.rule)), ("layer", .string(d.layer)),
                ("sandbox", .string(combined.sandbox.description)),
            ])).serialized)
            return
        }
        print("string:   \(ShellQuote.word(string))")
        for c in commands {
            let via = c.via.isEmpty ? "" : "   [via \(c.via.joined(separator: " > "))]"
            let place = c.directory.map { "   [in \($0)]" } ?? ""
            let what = c.unknowable.map { "unanalyzable: \($0)" } ?? "\(c.judgement.action.type) \(c.judgement.action.target)"
            print("  \(c.judgement.decision.approval.name.padding(8)) \(ShellQuote.command(c.argv))  ->  \(what) (rule \(c.judgement.decision.rule))\(via)\(place)")
        }
        print("sandbox:  \(combined.sandbox)")
        print("decision: \(d.approval) (risk \(d.riskLevel)) by \(d.rule == Decision.defaultRuleName ? "defaults" : "rule '\(d.rule)'") of the \(d.layer) policy")
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

/// The command tree shell completions are generated from: the real one with
/// the gate's own options on the root as well. The gate reads those options
/// itself (GateMain), and swift-argument-parser cannot parse an option that a
/// root and its subcommands both declare, so this tree is only ever used to
/// generate completion scripts, never to parse a command line.
struct CompletionTree: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aegis-exec", version: version,
        subcommands: AegisExec.configuration.subcommands)

    @OptionGroup var gate: GateOptions

    @Option(name: .customShort("c"), help: ArgumentHelp(
        "Shell mode: judge every command in STRING, then run it with the shell.", valueName: "string"))
    var shellString: String?
}
