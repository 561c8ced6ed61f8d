import AegisPolicy

/// One policy file, read: its rules and mapping, plus the file-level settings
/// the runtime needs (audit store, time zone).
public struct PolicyFile: Sendable {
    public var path: String
    public var policy: Policy
    /// Commands with the decision they must get, checked by `validate`.
    public var examples: [Example] = []
    public var declaresDefaults: Bool
    public var audit: AuditSettings?
    public var approver: ApproverSettings?
    public var prompt: PromptSettings?
    /// `shell:` — the shell that runs `-c` strings (absolute path).
    public var shell: String?
    public var timeZone: TimeZoneTable
    public var diagnostics: [Diagnostic]

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var isValid: Bool { errors.isEmpty }
}

/// `examples:` — a command and the decision the policy must give it.
public struct Example: Sendable {
    public var argv: [String]
    public var approval: Approval
    public var rule: String?
    public var at: Instant?
    public var location: SourceLocation
}

public struct AuditSettings: Sendable, Equatable {
    public enum Synchronous: String, Sendable { case normal, full }
    public var path: String?
    public var synchronous: Synchronous = .normal
    /// Extra patterns: a word matching one is written to the log as [REDACTED].
    public var redact: [Pattern] = []
    public var location: SourceLocation?

    public static func == (a: AuditSettings, b: AuditSettings) -> Bool {
        a.path == b.path && a.synchronous == b.synchronous && a.redact.map(\.source) == b.redact.map(\.source)
    }
}

/// Turns YAML bytes into a policy, collecting every problem with its position
/// instead of stopping at the first. Anything the original would silently
/// ignore (unknown keys, wrong types) is an error here.
public enum PolicyLoader {
    /// Looks up a named time zone (IANA name); the runtime reads the zone files.
    public typealias ZoneResolver = @Sendable (String) -> TimeZoneTable?

    public static func load(
        bytes: [UInt8], file: String, limits: YAMLDocument.Limits = YAMLDocument.Limits(),
        zones: @escaping ZoneResolver = { _ in nil }
    ) -> PolicyFile {
        var r = Reader(file: file, zones: zones)
        let doc: YAMLDocument
        do {
            doc = try YAMLDocument.parse(bytes, limits: limits)
        } catch {
            r.error(error.mark, error.message)
            return r.result(Policy(files: [file]), declaresDefaults: false)
        }
        r.doc = doc
        guard let root = doc.root, !r.isNull(root) else {
            r.error(YAMLDocument.Mark(line: 1, column: 1), "the policy is empty; it needs at least `rules:` (see `aegis-exec init`)")
            return r.result(Policy(files: [file]), declaresDefaults: false)
        }
        return r.readPolicy(root)
    }
}

struct Reader {
    typealias Mark = YAMLDocument.Mark
    let file: String
    let zones: PolicyLoader.ZoneResolver
    var doc = YAMLDocument(nodes: [], root: nil)
    var diagnostics: [Diagnostic] = []
    var audit: AuditSettings?
    var approver: ApproverSettings?
    var prompt: PromptSettings?
    var shell: String?
    var examples: [Example] = []
    var zone = TimeZoneTable.utc

    init(file: String, zones: @escaping PolicyLoader.ZoneResolver) {
        self.file = file
        self.zones = zones
    }

    mutating func error(_ m: Mark, _ message: String) {
        diagnostics.append(Diagnostic(file: file, line: m.line, column: m.column, message: message))
    }

    mutating func warn(_ m: Mark, _ message: String) {
        diagnostics.append(Diagnostic(file: file, line: m.line, column: m.column, severity: .warning, message: message))
    }

    func result(_ policy: Policy, declaresDefaults: Bool) -> PolicyFile {
        let sorted = diagnostics.enumerated().sorted { a, b in
            (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
        }.map(\.element)
        return PolicyFile(path: file, policy: policy, examples: examples, declaresDefaults: declaresDefaults, audit: audit,
                          approver: approver, prompt: prompt, shell: shell, timeZone: zone, diagnostics: sorted)
    }

    func mark(_ n: Int) -> Mark { doc[n].mark }
    func location(_ n: Int) -> SourceLocation { SourceLocation(file: file, line: mark(n).line, column: mark(n).column) }

    func isNull(_ n: Int) -> Bool {
        if case .scalar(let s, let plain) = doc[n].kind, YAMLScalar.resolve(s, plain: plain) == .null { return true }
        return false
    }

    func describe(_ n: Int) -> String {
        switch doc[n].kind {
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .scalar(let s, let plain):
            switch YAMLScalar.resolve(s, plain: plain) {
            case .null: return "nothing (null)"
            case .bool: return "a boolean (\(s))" + (["yes", "no", "on", "off", "Yes", "No", "On", "Off"].contains(s) ? "; quote it to mean the word" : "")
            case .int, .double: return "a number (\(s))"
            case .string: return "a string"
            }
        }
    }

    // MARK: typed accessors; each reports a problem and returns nil

    /// Mapping entries with `<<` merge keys applied (explicit keys win), and
    /// duplicate keys reported (YAML loaders silently keep the last).
    mutating func mapping(_ n: Int, _ what: String) -> [(key: String, keyNode: Int, value: Int)]? {
        guard case .mapping(let pairs) = doc[n].kind else {
            error(mark(n), "\(what) must be a mapping, not \(describe(n))")
            return nil
        }
        var out: [(key: String, keyNode: Int, value: Int)] = []
        var merged: [(key: String, keyNode: Int, value: Int)] = []
        for (k, v) in pairs {
            guard case .scalar(let key, let plain) = doc[k].kind else {
                error(mark(k), "keys in \(what) must be plain words")
                continue
            }
            if key == "<<" && plain {
                let sources: [Int]
                if case .sequence(let items) = doc[v].kind { sources = items } else { sources = [v] }
                for s in sources {
                    if let entries = mapping(s, "a `<<` merge source") {
                        merged += entries.filter { e in !merged.contains { $0.key == e.key } }
                    }
                }
                continue
            }
            if out.contains(where: { $0.key == key }) {
                error(mark(k), "duplicate key '\(key)' in \(what)")
                continue
            }
            out.append((key, k, v))
        }
        out += merged.filter { m in !out.contains { $0.key == m.key } }
        return out
    }

    mutating func sequence(_ n: Int, _ what: String) -> [Int]? {
        guard case .sequence(let items) = doc[n].kind else {
            error(mark(n), "\(what) must be a list, not \(describe(n))")
            return nil
        }
        return items
    }

    mutating func string(_ n: Int, _ what: String) -> String? {
        guard case .scalar(let s, let plain) = doc[n].kind else {
            error(mark(n), "\(what) must be a string, not \(describe(n))")
            return nil
        }
        guard case .string = YAMLScalar.resolve(s, plain: plain) else {
            error(mark(n), "\(what) must be a string, not \(describe(n))")
            return nil
        }
        return s
    }

    mutating func glob(_ n: Int, _ what: String) -> Glob? {
        guard let s = string(n, what) else { return nil }
        do {
            return try Glob(s)
        } catch {
            self.error(mark(n), error.message)
            return nil
        }
    }

    mutating func template(_ n: Int, _ what: String) -> Template? {
        guard let s = string(n, what) else { return nil }
        do {
            return try Template(s)
        } catch {
            self.error(mark(n), error.message)
            return nil
        }
    }

    mutating func stringList(_ n: Int, _ what: String) -> [String]? {
        guard let items = sequence(n, what) else { return nil }
        let out = items.compactMap { string($0, "each item of \(what)") }
        return out.count == items.count ? out : nil
    }

    /// Any YAML value as JSON (params and param_eq values).
    mutating func json(_ n: Int) -> JSON? {
        switch doc[n].kind {
        case .scalar(let s, let plain):
            switch YAMLScalar.resolve(s, plain: plain) {
            case .null: return .null
            case .bool(let b): return .bool(b)
            case .int(let i): return .int(i)
            case .double(let d): return .double(d)
            case .string(let s): return .string(s)
            }
        case .sequence(let items):
            let vals = items.compactMap { json($0) }
            return vals.count == items.count ? .array(vals) : nil
        case .mapping:
            guard let entries = mapping(n, "a value") else { return nil }
            var o = JSONObject()
            for e in entries {
                guard let v = json(e.value) else { return nil }
                o[e.key] = v
            }
            return .object(o)
        }
    }

    mutating func unknownKey(_ key: String, _ keyNode: Int, in what: String, known: [String]) {
        let hint = suggestion(key, known).map { " (did you mean '\($0)'?)" } ?? ""
        error(mark(keyNode), "unknown key '\(key)' in \(what)\(hint); allowed: \(known.joined(separator: ", "))")
    }

    // MARK: the policy

    static let topKeys = [
        "version", "description", "timezone", "defaults", "audit", "approver", "prompt", "shell", "commands", "rules",
        "examples",
    ]
    static let ruleKeys = ["name", "description", "match", "conditions", "risk_level", "approval", "sandbox"]
    static let matchKeys = ["type", "target", "agent", "program", "args"]
    static let commandKeys = ["program", "subcommand", "args", "type", "target", "options", "params"]

    mutating func readPolicy(_ root: Int) -> PolicyFile {
        var policy = Policy(files: [file])
        var declaresDefaults = false
        guard let top = mapping(root, "the policy") else { return result(policy, declaresDefaults: false) }
        // The zone applies to every rule in the file, wherever the key is written.
        if let tz = top.first(where: { $0.key == "timezone" }) { readZone(tz.value) }
        for e in top {
            switch e.key {
            case "version": readVersion(e.value)
            case "description": _ = string(e.value, "description")
            case "timezone": break
            case "defaults":
                declaresDefaults = true
                if let d = readDefaults(e.value) { policy.defaults = d }
            case "audit": readAudit(e.value)
            case "approver": readApprover(e.value)
            case "prompt": readPrompt(e.value)
            case "shell": shell = absolutePath(e.value, "shell")
            case "examples":
                if let items = sequence(e.value, "examples") { examples = items.compactMap { readExample($0) } }
            case "commands":
                if let items = sequence(e.value, "commands") {
                    policy.commands = items.compactMap { readCommand($0) }
                }
            case "rules":
                if isNull(e.value) { break }
                if let items = sequence(e.value, "rules") {
                    var names: [String: Int] = [:]
                    for (i, item) in items.enumerated() {
                        guard let rule = readRule(item, index: i) else { continue }
                        if let first = names[rule.name] {
                            error(mark(item), "duplicate rule name '\(rule.name)' (first used at line \(mark(first).line)); rule names must be unique")
                        } else {
                            names[rule.name] = item
                        }
                        policy.rules.append(rule)
                    }
                }
            default:
                unknownKey(e.key, e.keyNode, in: "the policy", known: Reader.topKeys)
            }
        }
        if !top.contains(where: { $0.key == "rules" }) && !top.contains(where: { $0.key == "commands" }) {
            error(mark(root), "the policy has no `rules:` (and no `commands:`)")
        }
        return result(policy, declaresDefaults: declaresDefaults)
    }

    mutating func readVersion(_ n: Int) {
        guard case .scalar(let s, _) = doc[n].kind, s == "1" || s == "1.0" else {
            error(mark(n), "unsupported policy version; this aegis-exec reads version \"1\"")
            return
        }
    }

    mutating func readZone(_ n: Int) {
        guard let name = string(n, "timezone") else { return }
        if let z = zones(name) {
            zone = z
        } else {
            error(mark(n), "unknown time zone '\(name)'; use an IANA name such as Europe/Berlin, or UTC")
        }
    }

    mutating func riskLevel(_ n: Int) -> RiskLevel? {
        guard let s = string(n, "risk_level") else { return nil }
        guard let r = RiskLevel(name: s) else {
            error(mark(n), "risk_level '\(s)' is not one of low, medium, high, critical")
            return nil
        }
        return r
    }

    mutating func approval(_ n: Int) -> Approval? {
        guard let s = string(n, "approval") else { return nil }
        guard let a = Approval(name: s) else {
            error(mark(n), "approval '\(s)' is not one of auto, approve, block")
            return nil
        }
        return a
    }

    mutating func readDefaults(_ n: Int) -> Defaults? {
        guard let entries = mapping(n, "defaults") else { return nil }
        var d = Defaults.absent
        for e in entries {
            switch e.key {
            case "risk_level": if let r = riskLevel(e.value) { d.riskLevel = r }
            case "approval": if let a = approval(e.value) { d.approval = a }
            case "sandbox": if let sb = readSandbox(e.value) { d.sandbox = sb }
            default: unknownKey(e.key, e.keyNode, in: "defaults", known: ["risk_level", "approval", "sandbox"])
            }
        }
        return d
    }

    /// A number of seconds (or minutes) within `range`.
    mutating func number(_ n: Int, _ what: String, in range: ClosedRange<Double>) -> Double? {
        if case .scalar(let s, let plain) = doc[n].kind {
            let v: Double?
            switch YAMLScalar.resolve(s, plain: plain) {
            case .int(let i): v = Double(i)
            case .double(let d): v = d
            default: v = nil
            }
            if let v, range.contains(v) { return v }
        }
        error(mark(n), "\(what) must be a number from \(Int(range.lowerBound)) to \(Int(range.upperBound)), not \(describe(n))")
        return nil
    }

    mutating func bool(_ n: Int, _ what: String) -> Bool? {
        if case .scalar(let s, let plain) = doc[n].kind, case .bool(let b) = YAMLScalar.resolve(s, plain: plain) { return b }
        error(mark(n), "\(what) must be true or false, not \(describe(n))")
        return nil
    }

    mutating func absolutePath(_ n: Int, _ what: String) -> String? {
        guard let p = string(n, what) else { return nil }
        guard p.hasPrefix("/") else {
            error(mark(n), "\(what) must be an absolute path")
            return nil
        }
        return p
    }

    static let approverKeys = ["url", "timeout", "secret_file", "token_file", "allow_http", "ca_file"]

    mutating func readApprover(_ n: Int) {
        guard let entries = mapping(n, "approver") else { return }
        var url: EndpointURL?
        var urlNode = n
        var s = ApproverSettings(url: try! EndpointURL("http://127.0.0.1/"))
        for e in entries {
            switch e.key {
            case "url":
                urlNode = e.value
                guard let text = string(e.value, "approver.url") else { continue }
                do { url = try EndpointURL(text) } catch {
                    if case .invalid(let why) = error { self.error(mark(e.value), "approver.url '\(text)' is not usable: \(why)") }
                }
            case "timeout": if let t = number(e.value, "approver.timeout (seconds)", in: 1...3600) { s.timeoutSeconds = t }
            case "secret_file": s.secretFile = absolutePath(e.value, "approver.secret_file")
            case "token_file": s.tokenFile = absolutePath(e.value, "approver.token_file")
            case "allow_http": if let b = bool(e.value, "approver.allow_http") { s.allowHTTP = b }
            case "ca_file": s.caFile = absolutePath(e.value, "approver.ca_file")
            default: unknownKey(e.key, e.keyNode, in: "approver", known: Reader.approverKeys)
            }
        }
        guard entries.contains(where: { $0.key == "url" }) else {
            error(mark(n), "approver needs a `url:`")
            return
        }
        guard let url else { return }
        if url.scheme == "http" && !url.isLoopback && !s.allowHTTP {
            error(mark(urlNode), "approver.url uses plain http to \(url.host), which is not loopback; use https, or set `allow_http: true` if the network path is trusted")
            return
        }
        // Without TLS nothing proves who answers: on loopback any local process
        // that binds the port while the approver is down could say yes.
        if url.scheme == "http" && s.secretFile == nil {
            error(mark(urlNode), "approver.url uses plain http, so it needs `secret_file:` (answers must be signed)")
            return
        }
        s.url = url
        s.location = location(n)
        approver = s
    }

    mutating func readPrompt(_ n: Int) {
        guard let entries = mapping(n, "prompt") else { return }
        var p = PromptSettings()
        p.location = location(n)
        for e in entries {
            switch e.key {
            case "timeout": if let t = number(e.value, "prompt.timeout (seconds)", in: 1...3600) { p.timeoutSeconds = t }
            case "remember":
                if let m = number(e.value, "prompt.remember (minutes)", in: 0...1440) {
                    if m != m.rounded() { error(mark(e.value), "prompt.remember must be a whole number of minutes") } else { p.rememberMinutes = Int(m) }
                }
            default: unknownKey(e.key, e.keyNode, in: "prompt", known: ["timeout", "remember"])
            }
        }
        prompt = p
    }

    mutating func readAudit(_ n: Int) {
        guard let entries = mapping(n, "audit") else { return }
        var a = AuditSettings(location: location(n))
        for e in entries {
            switch e.key {
            case "path":
                if let p = string(e.value, "audit.path") {
                    if p.hasPrefix("/") { a.path = p } else { error(mark(e.value), "audit.path must be an absolute path") }
                }
            case "synchronous":
                if let s = string(e.value, "audit.synchronous") {
                    if let v = AuditSettings.Synchronous(rawValue: s) { a.synchronous = v } else {
                        error(mark(e.value), "audit.synchronous must be normal or full")
                    }
                }
            case "redact":
                guard let items = sequence(e.value, "audit.redact") else { continue }
                for item in items {
                    guard let source = string(item, "each item of audit.redact") else { continue }
                    do { a.redact.append(try Pattern(source)) } catch { self.error(mark(item), error.message) }
                }
            default: unknownKey(e.key, e.keyNode, in: "audit", known: ["path", "synchronous", "redact"])
            }
        }
        audit = a
    }

    mutating func readCommand(_ n: Int) -> CommandMapping.Entry? {
        guard let entries = mapping(n, "a command mapping") else { return nil }
        var program: Glob?, type: String?
        var entry = CommandMapping.Entry(program: .everything, type: "")
        let before = diagnostics.count
        for e in entries {
            switch e.key {
            case "program": program = glob(e.value, "program")
            case "subcommand": entry.subcommand = glob(e.value, "subcommand")
            case "args": entry.args = glob(e.value, "args")
            case "type": type = string(e.value, "type")
            case "target": if let t = template(e.value, "target") { entry.target = t }
            case "options":
                if let names = stringList(e.value, "options") { entry.valueOptions = Set(names.map(stripDashes)) }
            case "params":
                if case .object(let o)? = json(e.value) {
                    for k in o.keys where CommandMapping.reservedParams.contains(k) {
                        error(mark(e.value), "params may not set '\(k)': it is filled from the command")
                    }
                    entry.params = o
                } else if diagnostics.count == before {
                    error(mark(e.value), "params must be a mapping, not \(describe(e.value))")
                }
            default: unknownKey(e.key, e.keyNode, in: "a command mapping", known: Reader.commandKeys)
            }
        }
        if program == nil && !entries.contains(where: { $0.key == "program" }) {
            error(mark(n), "a command mapping needs `program:`")
        }
        if type == nil && !entries.contains(where: { $0.key == "type" }) {
            error(mark(n), "a command mapping needs `type:`")
        }
        guard let program, let type, diagnostics.count == before else { return nil }
        entry.program = program
        entry.type = type
        entry.location = location(n)
        return entry
    }

    mutating func readRule(_ n: Int, index: Int) -> Rule? {
        guard let entries = mapping(n, "a rule") else { return nil }
        var rule = Rule(name: "rule_\(index)", location: location(n), zone: zone)
        let before = diagnostics.count
        for e in entries {
            switch e.key {
            case "name": if let s = string(e.value, "name") { rule.name = s }
            case "description": _ = string(e.value, "description")
            case "match": if let m = readMatch(e.value) { rule.match = m }
            case "conditions":
                if !isNull(e.value), let c = readConditions(e.value) { rule.conditions = c }
            case "risk_level": if let r = riskLevel(e.value) { rule.riskLevel = r }
            case "approval": if let a = approval(e.value) { rule.approval = a }
            case "sandbox": rule.sandbox = readSandbox(e.value)
            default: unknownKey(e.key, e.keyNode, in: "a rule", known: Reader.ruleKeys)
            }
        }
        return diagnostics.count == before || diagnostics[before...].allSatisfy({ $0.severity == .warning }) ? rule : nil
    }

    /// `{command: "git push --force", approval: block, rule: name, at: time}`;
    /// the command is words split on spaces, or a list of words.
    mutating func readExample(_ n: Int) -> Example? {
        guard let entries = mapping(n, "an example") else { return nil }
        var argv: [String]?, approval: Approval?, rule: String?, at: Instant?
        for e in entries {
            switch e.key {
            case "command":
                if case .sequence = doc[e.value].kind {
                    argv = stringList(e.value, "command")
                } else if let s = string(e.value, "command") {
                    argv = s.split(separator: " ").map(String.init)
                }
            case "approval": approval = self.approval(e.value)
            case "rule": rule = string(e.value, "rule")
            case "at":
                if let s = string(e.value, "at") {
                    if let t = ISO8601.parse(s) { at = t } else { error(mark(e.value), "at must be an ISO 8601 time") }
                }
            default: unknownKey(e.key, e.keyNode, in: "an example", known: ["command", "approval", "rule", "at"])
            }
        }
        guard let argv, !argv.isEmpty, let approval else {
            error(mark(n), "an example needs `command:` and `approval:`")
            return nil
        }
        return Example(argv: argv, approval: approval, rule: rule, at: at, location: location(n))
    }

    /// `sandbox: strict`, or `{profile, network, deny}`.
    mutating func readSandbox(_ n: Int) -> SandboxSpec? {
        func profile(_ node: Int) -> SandboxSpec.Profile? {
            guard let name = string(node, "sandbox profile") else { return nil }
            // A profile file is named relative to the policy that names it.
            if name.contains("/") || name.hasSuffix(".json") {
                let dir = file.lastIndex(of: "/").map { String(file[..<$0]) }
                return .file(name.hasPrefix("/") || dir == nil ? name : dir! + "/" + name)
            }
            if let p = SandboxSpec.Profile(name: name) { return p }
            error(mark(node), "sandbox profile '\(name)' is not one of default, strict, none, or the path of an OCI seccomp profile (JSON)")
            return nil
        }
        if case .scalar = doc[n].kind {
            return profile(n).map { SandboxSpec(profile: $0) }
        }
        guard let entries = mapping(n, "sandbox") else { return nil }
        var spec = SandboxSpec()
        for e in entries {
            switch e.key {
            case "profile": spec.profile = profile(e.value)
            case "network":
                if case .scalar(let s, let plain) = doc[e.value].kind, case .bool(let b) = YAMLScalar.resolve(s, plain: plain) {
                    spec.network = b
                } else {
                    error(mark(e.value), "sandbox.network must be true or false, not \(describe(e.value))")
                }
            case "deny":
                guard let names = stringList(e.value, "sandbox.deny") else { continue }
                for (name, node) in zip(names, sequence(e.value, "sandbox.deny") ?? []) {
                    if name.hasPrefix("@") {
                        if SandboxGroups.groups[name] == nil {
                            error(mark(node), "unknown syscall group '\(name)'; groups: \(SandboxGroups.groups.keys.sorted().joined(separator: ", "))")
                        }
                    } else if !SandboxGroups.isPlausibleSyscallName(name) {
                        error(mark(node), "'\(name)' is not a system call name")
                    }
                }
                spec.deny = names
            case "intercept": spec.intercept = bool(e.value, "sandbox.intercept")
            default: unknownKey(e.key, e.keyNode, in: "sandbox", known: ["profile", "network", "deny", "intercept"])
            }
        }
        return spec
    }

    mutating func readMatch(_ n: Int) -> Match? {
        if isNull(n) { return Match() }
        guard let entries = mapping(n, "match") else { return nil }
        var m = Match()
        for e in entries {
            switch e.key {
            case "type": m.type = glob(e.value, "match.type")
            case "target": m.target = glob(e.value, "match.target")
            case "agent": m.agent = glob(e.value, "match.agent")
            case "program": m.program = glob(e.value, "match.program")
            case "args": m.args = glob(e.value, "match.args")
            default: unknownKey(e.key, e.keyNode, in: "match", known: Reader.matchKeys)
            }
        }
        return m
    }

    static let conditionKeys = [
        "time_after", "time_before", "weekdays", "param_eq", "param_gt", "param_lt", "param_gte", "param_lte",
        "param_contains", "param_matches", "flags_any", "flags_all", "arg_any", "path_inside", "path_outside",
        "any", "not",
    ]

    mutating func readConditions(_ n: Int) -> [Condition]? {
        guard let entries = mapping(n, "conditions") else { return nil }
        for e in entries where e.key.hasPrefix("param_") {
            if case .mapping(let pairs) = doc[e.value].kind, pairs.isEmpty {
                error(mark(e.value), "\(e.key) is empty; give at least one param: {name: value}")
            }
        }
        var out: [Condition] = []
        var after: Int?, before: Int?
        for e in entries {
            switch e.key {
            case "time_after": after = time(e.value, e.key)
            case "time_before": before = time(e.value, e.key)
            case "weekdays":
                guard let items = sequence(e.value, "weekdays") else { continue }
                var days = Set<Int>()
                for item in items {
                    if case .scalar(let s, let plain) = doc[item].kind, case .int(let d) = YAMLScalar.resolve(s, plain: plain), (1...7).contains(d) {
                        days.insert(Int(d))
                    } else {
                        error(mark(item), "weekdays are numbers 1 (Monday) to 7 (Sunday), not \(describe(item))")
                    }
                }
                if items.isEmpty { error(mark(e.value), "weekdays is empty: the rule could never match") }
                out.append(.weekdays(days))
            case "param_eq", "param_contains":
                guard let pairs = mapping(e.value, e.key) else { continue }
                for p in pairs {
                    guard let v = json(p.value) else { continue }
                    if e.key == "param_contains", case .object = v {
                        error(mark(p.value), "param_contains looks for a string or a list element, not a mapping")
                        continue
                    }
                    out.append(e.key == "param_eq" ? .paramEq(key: p.key, value: v) : .paramContains(key: p.key, value: v))
                }
            case "param_gt", "param_lt", "param_gte", "param_lte":
                guard let pairs = mapping(e.value, e.key) else { continue }
                for p in pairs {
                    guard case .scalar(let s, let plain) = doc[p.value].kind else {
                        error(mark(p.value), "\(e.key).\(p.key) must be a number, not \(describe(p.value))")
                        continue
                    }
                    let bound: Double
                    switch YAMLScalar.resolve(s, plain: plain) {
                    case .int(let i): bound = Double(i)
                    case .double(let d) where !d.isNaN: bound = d
                    default:
                        error(mark(p.value), "\(e.key).\(p.key) must be a number, not \(describe(p.value)); comparing a string with a number is an error")
                        continue
                    }
                    out.append(.paramCompare(key: p.key, op: Condition.Comparison(rawValue: e.key)!, value: bound))
                }
            case "param_matches":
                guard let pairs = mapping(e.value, e.key) else { continue }
                for p in pairs {
                    guard let s = string(p.value, "param_matches.\(p.key)") else { continue }
                    do {
                        out.append(.paramMatches(key: p.key, pattern: try Pattern(s)))
                    } catch {
                        self.error(mark(p.value), error.message)
                    }
                }
            case "flags_any", "flags_all":
                guard let names = stringList(e.value, e.key) else { continue }
                let flags = names.map(stripDashes)
                out.append(e.key == "flags_any" ? .flagsAny(flags) : .flagsAll(flags))
            case "arg_any":
                guard let items = sequence(e.value, e.key) else { continue }
                let globs = items.compactMap { glob($0, "each item of arg_any") }
                if globs.count == items.count { out.append(.argAny(globs)) }
            case "path_inside", "path_outside":
                guard let dirs = stringList(e.value, e.key) else { continue }
                var clean: [String] = []
                for (d, node) in zip(dirs, sequence(e.value, e.key) ?? []) {
                    if d.hasPrefix("/") {
                        clean.append(normalizePath(d, cwd: "/"))
                    } else {
                        error(mark(node), "\(e.key) takes absolute directories, not '\(d)' (~ and variables are not expanded)")
                    }
                }
                out.append(e.key == "path_inside" ? .pathInside(clean) : .pathOutside(clean))
            case "any":
                guard let groups = sequence(e.value, "any") else { continue }
                let read = groups.compactMap { readConditions($0) }
                if read.count == groups.count { out.append(.any(read)) }
            case "not":
                if let group = readConditions(e.value) { out.append(.not(group)) }
            default:
                let hint = suggestion(e.key, Reader.conditionKeys).map { " (did you mean '\($0)'?)" } ?? ""
                error(mark(e.keyNode), "unknown condition '\(e.key)'\(hint); conditions are: \(Reader.conditionKeys.joined(separator: ", "))")
            }
        }
        if after != nil || before != nil { out.insert(.timeWindow(after: after, before: before), at: 0) }
        return out
    }

    /// "HH:MM" as minutes since midnight. An unquoted 18:00 (a base-60 number
    /// to YAML 1.1 loaders) is read as the time it looks like, with a warning.
    mutating func time(_ n: Int, _ key: String) -> Int? {
        guard case .scalar(let s, let plain) = doc[n].kind else {
            error(mark(n), "\(key) must be a time \"HH:MM\", not \(describe(n))")
            return nil
        }
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2,
              let h = Int(parts[0]), let m = Int(parts[1]), (0...23).contains(h), (0...59).contains(m),
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }) else {
            error(mark(n), "\(key) must be a time \"HH:MM\" between 00:00 and 23:59, not '\(s)'")
            return nil
        }
        if plain && YAMLScalar.looksSexagesimal(s) {
            warn(mark(n), "\(key): \(s) is unquoted; YAML 1.1 tools (PyYAML, the Python original) read it as the number \(YAMLScalar.int(s) ?? 0); write \"\(s)\"")
        }
        return h * 60 + m
    }
}

func stripDashes(_ s: String) -> String { String(s.drop(while: { $0 == "-" })) }

/// The known word a misspelt one most likely meant: close in spelling, or
/// one a prefix of the other (`risk` for `risk_level`).
func suggestion(_ word: String, _ known: [String]) -> String? {
    known.first { editDistance($0, word) <= 2 }
        ?? known.first { word.count >= 3 && ($0.hasPrefix(word) || word.hasPrefix($0)) }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[b.count]
}

extension PolicyFile {
    /// Rules an earlier rule always decides first. Quadratic in the number of
    /// rules, so `validate` asks for it; the gate does not.
    public var shadowingWarnings: [Diagnostic] {
        Shadowing.findings(policy.rules).compactMap { f in
            let rule = policy.rules[f.shadowed], by = policy.rules[f.by]
            guard let at = rule.location else { return nil }
            return Diagnostic(file: at.file, line: at.line, column: at.column, severity: .warning,
                              message: "rule '\(rule.name)' can never decide: rule '\(by.name)' (line \(by.location?.line ?? 0)) matches everything it matches and comes first; move it above")
        }
    }
}
