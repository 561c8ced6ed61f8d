/// Why a rule did or did not decide an action.
public struct RuleTrace: Sendable, Equatable {
    public var rule: String
    public var layer: String
    public var matched: Bool
    public var reason: String

    public var json: JSON {
        .object(JSONObject([
            ("rule", .string(rule)), ("layer", .string(layer)),
            ("matched", .bool(matched)), ("reason", .string(reason)),
        ]))
    }
}

public struct Decision: Sendable, Equatable {
    public var riskLevel: RiskLevel
    public var approval: Approval
    /// The deciding rule's name, or `<default>` when no rule matched.
    public var rule: String
    /// The layer whose decision stood (`system`, `user`, ...).
    public var layer: String
    public var ruleLocation: SourceLocation?
    public var trace: [RuleTrace]
    /// The sandbox this layer asks for: the deciding rule's over the defaults'.
    public var sandbox = SandboxSpec()

    public static let defaultRuleName = "<default>"

    /// The stricter of two decisions: the stricter approval, then the higher
    /// risk; on a tie the earlier (more trusted) layer's decision stands.
    public func stricter(_ other: Decision) -> Decision {
        var winner = self
        if other.approval > approval || (other.approval == approval && other.riskLevel > riskLevel) {
            winner = other
        }
        winner.trace = trace + other.trace
        return winner
    }
}

/// A runtime type mismatch: a param of the wrong type for a condition. The
/// original raises here; we refuse to decide rather than guess.
public struct EvaluationError: Error, Sendable, Equatable {
    public var rule: String
    public var location: SourceLocation?
    public var message: String
    /// The rule came from a compiled copy that no longer decodes: the
    /// caller may judge again by the file itself.
    public var damagedCopy = false
}

public enum Evaluator {
    /// Judges an action against one layer: the first rule whose match and
    /// conditions all hold decides; none gives the layer's defaults.
    /// `traced` records why each rule did or did not decide (for explain);
    /// the gate does without, since building those reasons costs more than
    /// matching the rules.
    public static func evaluate(
        _ action: Action, policy: Policy, at now: Instant, layer: String = "policy", traced: Bool = true
    ) throws(EvaluationError) -> Decision {
        var trace: [RuleTrace] = []
        let subject = MatchSubject(action)

        // The rule's decision if its match (when traced) and conditions hold.
        func decides(_ rule: Rule) throws(EvaluationError) -> Decision? {
            if traced, let miss = matchFailure(rule.match, action) {
                trace.append(RuleTrace(rule: rule.name, layer: layer, matched: false, reason: miss))
                return nil
            }
            let failed: String?
            do {
                failed = try firstFailure(rule.conditions, action, now: now, zone: rule.zone)
            } catch {
                throw EvaluationError(rule: rule.name, location: rule.location, message: error.message)
            }
            if let failed {
                if traced { trace.append(RuleTrace(rule: rule.name, layer: layer, matched: false, reason: failed)) }
                return nil
            }
            if traced {
                let why = rule.conditions.isEmpty ? "match holds" : "match and all conditions hold"
                trace.append(RuleTrace(rule: rule.name, layer: layer, matched: true, reason: why))
            }
            return Decision(riskLevel: rule.riskLevel, approval: rule.approval, rule: rule.name, layer: layer,
                            ruleLocation: rule.location, trace: trace,
                            sandbox: rule.sandbox.map { $0.over(policy.defaults.sandbox) } ?? policy.defaults.sandbox)
        }

        if let deferred = policy.deferredRules {
            let bytes = traced ? nil : DeferredRules.Subject(type: action.type, target: action.target, agent: action.agent ?? "")
            let decoded = traced ? nil : deferred.decodedMatches
            // Only what the judgement needs is decoded: no match whose literal
            // prefixes rule it out, no rule whose match fails.
            for i in bytes.map(deferred.candidates) ?? Array(0..<deferred.count) {
                // Matches decoded already (a supervisor's) are checked in place.
                if let decoded, !decoded[i].holds(subject) { continue }
                let rule: Rule
                do {
                    let match = try deferred.match(i)
                    if !traced && !matchHolds(match, subject) { continue }
                    rule = try deferred.rule(i, match: match)
                } catch {
                    throw EvaluationError(rule: "rule \(i + 1) of layer \(layer)", location: nil, message:
                        "its compiled copy no longer decodes; judge by the policy files (removing the policy cache is safe)",
                        damagedCopy: true)
                }
                if let d = try decides(rule) { return d }
            }
        } else {
            let rules = policy.rules
            for i in rules.indices {
                // The match is checked in place: binding each rule first copied
                // all its fields (a retain apiece), most of judging 200 rules.
                if !traced && !matchHolds(rules[i].match, subject) { continue }
                if let d = try decides(rules[i]) { return d }
            }
        }
        if traced {
            trace.append(RuleTrace(rule: Decision.defaultRuleName, layer: layer, matched: true,
                                   reason: "no rule matched; defaults apply"))
        }
        return Decision(riskLevel: policy.defaults.riskLevel, approval: policy.defaults.approval,
                        rule: Decision.defaultRuleName, layer: layer, ruleLocation: nil, trace: trace,
                        sandbox: policy.defaults.sandbox)
    }

    /// What a rule's `match` reads of an action, looked up once for all rules.
    struct MatchSubject {
        let type: Glob.Subject
        let target: Glob.Subject
        let agent: String
        let program: String?
        let path: String?
        let pathBase: String?
        /// `args` as matched: present or not, and its text ("" unless a string).
        let hasArgs: Bool
        let args: String

        init(_ a: Action) {
            type = Glob.Subject(a.type)
            target = Glob.Subject(a.target)
            agent = a.agent ?? ""
            program = a.params["program"]?.string
            path = a.params["path"]?.string
            pathBase = path.map(CommandMapping.baseName)
            hasArgs = a.params["args"] != nil
            args = a.params["args"]?.string ?? ""
        }
    }

    /// `matchFailure(m, a) == nil`, without building the reason.
    @inline(__always)  // inlined, the match is read where it lies instead of copied whole (a retain per field)
    static func matchHolds(_ m: Match, _ s: MatchSubject) -> Bool {
        if let g = m.type, !g.matches(s.type) { return false }
        if let g = m.target, !g.matches(s.target) { return false }
        if let g = m.agent, !g.matches(s.agent) { return false }
        if let g = m.program {
            guard let program = s.program,
                  CommandMapping.programMatches(g, program: program, path: s.path, pathBase: s.pathBase) else { return false }
        }
        if let g = m.args, !(s.hasArgs && g.matches(s.args)) { return false }
        return true
    }

    static func matchFailure(_ m: Match, _ a: Action) -> String? {
        if let g = m.type, !g.matches(a.type) { return "type '\(a.type)' does not match '\(g)'" }
        if let g = m.target, !g.matches(a.target) { return "target '\(a.target)' does not match '\(g)'" }
        // An action without an agent id is matched as the empty string.
        if let g = m.agent, !g.matches(a.agent ?? "") { return "agent '\(a.agent ?? "")' does not match '\(g)'" }
        if let g = m.program {
            let program = a.params["program"]?.string
            let path = a.params["path"]?.string
            guard let program, CommandMapping.programMatches(g, program: program, path: path) else {
                return "program '\(program ?? "")' does not match '\(g)'"
            }
        }
        if let g = m.args {
            let args = a.params["args"]?.string ?? ""
            guard a.params["args"] != nil, g.matches(args) else { return "args '\(args)' do not match '\(g)'" }
        }
        return nil
    }

    struct ConditionTypeError: Error {
        var message: String
    }

    /// The reason the first failing condition fails, or nil when all hold.
    static func firstFailure(_ conditions: [Condition], _ a: Action, now: Instant, zone: TimeZoneTable) throws(ConditionTypeError) -> String? {
        for c in conditions {
            if let why = try failure(c, a, now: now, zone: zone) { return why }
        }
        return nil
    }

    static func failure(_ c: Condition, _ a: Action, now: Instant, zone: TimeZoneTable) throws(ConditionTypeError) -> String? {
        switch c {
        case .timeWindow(let after, let before):
            let (secs, _) = now.civil(in: zone)
            let minute = secs / 60
            let afterOK = after.map { secs >= $0 * 60 } ?? true
            let beforeOK = before.map { secs < $0 * 60 } ?? true
            let holds: Bool
            if let after, let before, after > before {
                holds = afterOK || beforeOK  // overnight window
            } else {
                holds = afterOK && beforeOK
            }
            let window = "\(after.map(hhmm) ?? "00:00")-\(before.map(hhmm) ?? "24:00") \(zone.name)"
            return holds ? nil : "time \(hhmm(minute)) is outside \(window)"
        case .weekdays(let days):
            let (_, wd) = now.civil(in: zone)
            return days.contains(wd) ? nil : "weekday \(wd) is not in \(days.sorted())"
        case .paramEq(let key, let value):
            guard let v = param(key, a), v != .null else { return "param \(key) is missing" }
            return v.looselyEquals(value) ? nil : "param \(key) = \(v.serialized), not \(value.serialized)"
        case .paramCompare(let key, let op, let bound):
            guard let v = param(key, a), v != .null else { return "param \(key) is missing" }
            guard let n = v.number else {
                throw ConditionTypeError(message: "param \(key) is a \(v.typeName) (\(v.serialized)); \(op.rawValue) needs a number")
            }
            return op.holds(n, bound) ? nil : "param \(key) = \(v.serialized) is not \(op.symbol) \(JSON.double(bound).compactNumber)"
        case .paramContains(let key, let needle):
            guard let v = param(key, a), v != .null else { return "param \(key) is missing" }
            switch v {
            case .string(let s):
                guard let n = needle.string else {
                    throw ConditionTypeError(message: "param \(key) is a string; param_contains needs a string to look for")
                }
                return s.contains(n) ? nil : "param \(key) does not contain \(needle.serialized)"
            case .array(let items):
                return items.contains(where: { $0.looselyEquals(needle) }) ? nil : "param \(key) has no element \(needle.serialized)"
            case .object(let o):
                guard let n = needle.string else { return "param \(key) has no key \(needle.serialized)" }
                return o[n] != nil ? nil : "param \(key) has no key \(needle.serialized)"
            default:
                throw ConditionTypeError(message: "param \(key) is a \(v.typeName); param_contains needs a string or a list")
            }
        case .paramMatches(let key, let pattern):
            guard let v = param(key, a), v != .null else { return "param \(key) is missing" }
            switch v {
            case .string(let s):
                return pattern.search(s) ? nil : "param \(key) does not match /\(pattern.source)/"
            case .array(let items):
                // Lists: some string element matches.
                return items.contains(where: { $0.string.map(pattern.search) ?? false })
                    ? nil : "no element of param \(key) matches /\(pattern.source)/"
            default:
                throw ConditionTypeError(message: "param \(key) is a \(v.typeName); param_matches needs a string")
            }
        case .flagsAny(let names):
            let flags = stringList("flags", a)
            return names.contains(where: flags.contains) ? nil : "none of the flags \(names.map(flagText)) is given"
        case .flagsAll(let names):
            let flags = stringList("flags", a)
            let missing = names.filter { !flags.contains($0) }
            return missing.isEmpty ? nil : "flag \(flagText(missing[0])) is not given"
        case .argAny(let globs):
            let pos = stringList("positional", a)
            return pos.contains(where: { p in globs.contains { $0.matches(p) } })
                ? nil : "no argument matches \(globs.map(\.pattern))"
        case .pathOutside(let dirs):
            let paths = stringList("paths", a)
            if let p = paths.first(where: { p in !dirs.contains { isInside(p, $0) } }) { _ = p; return nil }
            return paths.isEmpty ? "no path arguments" : "every path is inside \(dirs)"
        case .pathInside(let dirs):
            let paths = stringList("paths", a)
            return paths.contains(where: { p in dirs.contains { isInside(p, $0) } }) ? nil : "no path is inside \(dirs)"
        case .any(let groups):
            var reasons: [String] = []
            for g in groups {
                guard let why = try firstFailure(g, a, now: now, zone: zone) else { return nil }
                reasons.append(why)
            }
            return "no alternative of 'any' holds (" + reasons.joined(separator: "; ") + ")"
        case .not(let group):
            return try firstFailure(group, a, now: now, zone: zone) == nil ? "the 'not' group holds" : nil
        }
    }

    /// A param by name; a dotted name reaches into a mapping param when no
    /// param has the literal name (`options.context`).
    static func param(_ key: String, _ a: Action) -> JSON? {
        if let v = a.params[key] { return v }
        var parts = key.split(separator: ".", omittingEmptySubsequences: false)[...]
        guard parts.count > 1, var cur = a.params[String(parts.removeFirst())] else { return nil }
        for p in parts {
            guard case .object(let o) = cur, let next = o[String(p)] else { return nil }
            cur = next
        }
        return cur
    }

    static func stringList(_ key: String, _ a: Action) -> [String] {
        guard case .array(let items)? = a.params[key] else { return [] }
        return items.compactMap(\.string)
    }

    static func isInside(_ path: String, _ dir: String) -> Bool {
        dir == "/" || path == dir || path.hasPrefix(dir + "/")
    }

    static func flagText(_ f: String) -> String { f.count == 1 ? "-" + f : "--" + f }
}

func hhmm(_ minutes: Int) -> String {
    let h = minutes / 60, m = minutes % 60
    return (h < 10 ? "0" : "") + String(h) + ":" + (m < 10 ? "0" : "") + String(m)
}

extension JSON {
    /// A number without a trailing ".0" when it is integral.
    var compactNumber: String {
        if case .double(let d) = self, d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return serialized
    }
}

/// What one layer made of a command: its action (by its own mapping) and decision.
/// (A struct, not a tuple: a tuple's metadata is built at run time on first
/// use, and converting between labelled and unlabelled arrays of them copies.)
public struct LayerJudgement: Sendable {
    public var layer: String
    public var action: Action
    public var decision: Decision

    public init(layer: String, action: Action, decision: Decision) {
        self.layer = layer
        self.action = action
        self.decision = decision
    }
}

/// Judges an action against every trust layer; the strictest decision stands.
public struct LayeredPolicy: Sendable {
    public struct Layer: Sendable {
        public var name: String
        public var policy: Policy

        public init(name: String, policy: Policy) {
            self.name = name
            self.policy = policy
        }
    }

    public var layers: [Layer]
    public init(layers: [Layer]) { self.layers = layers }

    /// Each layer maps the command with its own command entries before the
    /// entries of more trusted layers and the built-in mapping, so a less
    /// trusted layer cannot rename a command to dodge a stricter layer's rule.
    public func judge(
        _ command: CommandMapping.Command, builtinMapping: [CommandMapping.Entry],
        agent: String?, callerParams: JSONObject, at now: Instant, traced: Bool = true
    ) throws(EvaluationError) -> [LayerJudgement] {
        var results: [LayerJudgement] = []
        var trustedEntries: [CommandMapping.Entry] = []
        for layer in layers {
            // Most layers map nothing of their own: then the built-in list is
            // used as it is, not copied entry by entry (git has 95).
            let entries = layer.policy.commands.isEmpty && trustedEntries.isEmpty
                ? builtinMapping : layer.policy.commands + trustedEntries + builtinMapping
            let (action, _) = CommandMapping.action(for: command, entries: entries, agent: agent, callerParams: callerParams)
            let d = try Evaluator.evaluate(action, policy: layer.policy, at: now, layer: layer.name, traced: traced)
            results.append(LayerJudgement(layer: layer.name, action: action, decision: d))
            trustedEntries += layer.policy.commands
        }
        return results
    }

    /// Judges a raw action (simulate): the same action in every layer.
    public func judge(_ action: Action, at now: Instant) throws(EvaluationError) -> Decision {
        var combined: Decision?
        for layer in layers {
            let d = try Evaluator.evaluate(action, policy: layer.policy, at: now, layer: layer.name)
            combined = combined.map { $0.stricter(d) } ?? d
        }
        guard let combined else { return try Evaluator.evaluate(action, policy: Policy(), at: now) }
        return combined
    }
}
