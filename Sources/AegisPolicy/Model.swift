/// Risk levels, ordered: low < medium < high < critical.
public enum RiskLevel: Int, Comparable, CaseIterable, Sendable, CustomStringConvertible {
    case low, medium, high, critical

    public init?(name: String) {
        guard let r = RiskLevel.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = r
    }

    public var name: String { ["low", "medium", "high", "critical"][rawValue] }
    /// The audit log's spelling, as in the original's audit_log table.
    public var upperName: String { name.uppercased() }
    public var description: String { name }
    public static func < (a: RiskLevel, b: RiskLevel) -> Bool { a.rawValue < b.rawValue }
}

/// What happens to an action, ordered by strictness: auto < approve < block.
public enum Approval: Int, Comparable, CaseIterable, Sendable, CustomStringConvertible {
    case auto, approve, block

    public init?(name: String) {
        guard let a = Approval.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = a
    }

    public var name: String { ["auto", "approve", "block"][rawValue] }
    public var description: String { name }
    public static func < (a: Approval, b: Approval) -> Bool { a.rawValue < b.rawValue }
}

/// What an agent wants to do: the unit a policy judges.
public struct Action: Equatable, Sendable {
    public var type: String
    public var target: String
    public var params: JSONObject
    /// The agent's self-declared id; matched by a rule's `match.agent`.
    public var agent: String?

    public init(type: String, target: String, params: JSONObject = JSONObject(), agent: String? = nil) {
        self.type = type
        self.target = target
        self.params = params
        self.agent = agent
    }

    public var json: JSON {
        .object(JSONObject([("type", .string(type)), ("target", .string(target)), ("params", .object(params))]))
    }
}

/// Where something was written, for messages a user can jump to.
public struct SourceLocation: Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A rule's `match`: every present key must match (all globs).
public struct Match: Sendable {
    public var type: Glob?
    public var target: Glob?
    public var agent: Glob?
    /// Command-oriented keys: the program (basename glob, or a path glob when it
    /// contains '/') and the arguments joined by single spaces.
    public var program: Glob?
    public var args: Glob?

    public init(type: Glob? = nil, target: Glob? = nil, agent: Glob? = nil, program: Glob? = nil, args: Glob? = nil) {
        self.type = type
        self.target = target
        self.agent = agent
        self.program = program
        self.args = args
    }
}

public struct Rule: Sendable {
    public var name: String
    public var match: Match
    public var conditions: [Condition]
    public var riskLevel: RiskLevel
    public var approval: Approval
    public var location: SourceLocation?
    /// The clock the rule's time conditions read; each file may set its own zone.
    public var zone: TimeZoneTable
    /// The rule's `sandbox`, over the policy defaults' when it decides.
    public var sandbox: SandboxSpec?

    public init(
        name: String, match: Match = Match(), conditions: [Condition] = [],
        riskLevel: RiskLevel = .medium, approval: Approval = .approve,
        location: SourceLocation? = nil, zone: TimeZoneTable = .utc, sandbox: SandboxSpec? = nil
    ) {
        self.name = name
        self.match = match
        self.conditions = conditions
        self.riskLevel = riskLevel
        self.approval = approval
        self.location = location
        self.zone = zone
        self.sandbox = sandbox
    }
}

public struct Defaults: Sendable, Equatable {
    public var riskLevel: RiskLevel
    public var approval: Approval
    public var sandbox: SandboxSpec

    /// The original's values when a policy has no `defaults`: deny what no rule covers.
    public static let absent = Defaults(riskLevel: .medium, approval: .block)

    public init(riskLevel: RiskLevel, approval: Approval, sandbox: SandboxSpec = SandboxSpec()) {
        self.riskLevel = riskLevel
        self.approval = approval
        self.sandbox = sandbox
    }
}

/// One trust layer's rules: files merged as the original merges them (rules
/// concatenated in order, the first file's defaults win).
public struct Policy: Sendable {
    public var defaults: Defaults
    /// The rules in order, decoded; empty when they are `deferredRules`.
    public var rules: [Rule]
    /// A policy read from its compiled copy keeps its rules here instead of
    /// in `rules`. `Evaluator` judges by either; `allRules()` gives every one.
    public var deferredRules: DeferredRules?
    public var commands: [CommandMapping.Entry]
    public var files: [String]

    public init(defaults: Defaults = .absent, rules: [Rule] = [], commands: [CommandMapping.Entry] = [], files: [String] = [],
                deferredRules: DeferredRules? = nil) {
        self.defaults = defaults
        self.rules = rules
        self.deferredRules = deferredRules
        self.commands = commands
        self.files = files
    }

    /// How many rules, decoded or not.
    public var ruleCount: Int { deferredRules?.count ?? rules.count }

    /// Every rule, in order, decoding deferred ones.
    public func allRules() throws(DeferredRules.Damaged) -> [Rule] {
        guard let deferredRules else { return rules }
        var out: [Rule] = []
        out.reserveCapacity(deferredRules.count)
        for i in 0..<deferredRules.count { out.append(try deferredRules.rule(i)) }
        return out
    }

    /// Merges files in order, as the original's `from_yaml_files`.
    public static func merged(_ policies: [Policy]) -> Policy {
        guard let first = policies.first else { return Policy() }
        // One file (the usual layer) is its own merge: no copy of every rule.
        if policies.count == 1 { return first }
        var out = Policy(defaults: first.defaults)
        for p in policies {
            out.commands += p.commands
            out.files += p.files
        }
        if policies.contains(where: { $0.deferredRules != nil }) {
            out.deferredRules = DeferredRules.joined(policies)
        } else {
            for p in policies { out.rules += p.rules }
        }
        return out
    }
}

/// Rules read from a compiled copy of a policy file, decoded only as far as
/// a judgement needs: a rule whose match cannot hold is skipped on the
/// literal prefixes of its patterns, a match is decoded to be checked, and
/// the rest of a rule only once its match holds. Decoding a 200-rule file
/// whole cost every command half a millisecond, and decoding every match a
/// quarter, for a decision that at most one rule makes.
///
/// MUST: judging by deferred rules decides exactly as judging by the decoded
///       ones: a prefix skips only rules whose match cannot hold.
/// MUST: a rule that does not decode is `Damaged`, and nothing is judged by it.
public final class DeferredRules: Sendable {
    public struct Damaged: Error, Sendable, Equatable {
        /// The rule's position in the file (from 0).
        public var index: Int
    }

    /// The leading literal bytes of a rule's `type`, `target` and `agent`
    /// patterns, up to the first wildcard or non-ASCII byte (nil: no such
    /// key). A subject that is ASCII matches a pattern only if it starts with
    /// these bytes; one that is not ASCII is never judged by them (Swift
    /// compares text by canonical equivalence: U+212A KELVIN SIGN equals "K").
    public struct Prefixes: Sendable {
        public var type: ArraySlice<UInt8>?
        public var target: ArraySlice<UInt8>?
        public var agent: ArraySlice<UInt8>?

        public init(type: ArraySlice<UInt8>? = nil, target: ArraySlice<UInt8>? = nil, agent: ArraySlice<UInt8>? = nil) {
            self.type = type
            self.target = target
            self.agent = agent
        }

        /// The literal prefix of a glob pattern's bytes, as defined above.
        public static func literal(_ pattern: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            let end = pattern.firstIndex { $0 >= 0x80 || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?")
                || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "\\") } ?? pattern.endIndex
            return pattern[..<end]
        }
    }

    /// What the prefixes are compared with: a subject's bytes, nil when not ASCII.
    public struct Subject {
        var type, target, agent: [UInt8]?

        public init(type: String, target: String, agent: String) {
            func ascii(_ s: String) -> [UInt8]? {
                let b = Array(s.utf8)
                return b.allSatisfy { $0 < 0x80 } ? b : nil
            }
            self.type = ascii(type)
            self.target = ascii(target)
            self.agent = ascii(agent)
        }
    }

    public let count: Int
    /// Every match, when decoded once (`withMatchesDecoded`), boxed: the
    /// evaluator reads a boxed match where it lies, where taking one out of an
    /// array of structs copied it whole (a retain per field).
    let decodedMatches: [MatchBox]?
    /// Every rule's prefixes, for `candidates` (none: no rule is ruled out).
    private let table: PrefixTable

    final class MatchBox: Sendable {
        let match: Match
        init(_ match: Match) { self.match = match }

        /// Checked here, where the match lies: `box.match` taken out at the
        /// caller copied all five globs (a retain apiece) for every rule tried.
        func holds(_ s: Evaluator.MatchSubject) -> Bool { Evaluator.matchHolds(match, s) }
    }

    /// Where a rule's type, target and agent prefixes lie in the bytes they are
    /// read from: start and length (length -1: the rule has no such pattern).
    public struct PrefixRanges: Sendable {
        public var type = (0, -1), target = (0, -1), agent = (0, -1)

        public init(type: (Int, Int) = (0, -1), target: (Int, Int) = (0, -1), agent: (Int, Int) = (0, -1)) {
            self.type = type
            self.target = target
            self.agent = agent
        }
    }

    /// The prefixes' bytes and where each rule's lie: nothing to retain or
    /// release per rule while the rules are sifted. A compiled copy's table
    /// points into the copy itself, so reading one costs no copy per rule.
    struct PrefixTable: Sendable {
        var bytes: ArraySlice<UInt8> = []
        var ranges: [PrefixRanges] = []

        init(bytes: ArraySlice<UInt8>, ranges: [PrefixRanges]) {
            self.bytes = bytes
            self.ranges = ranges
        }

        init(_ prefixes: [Prefixes]) {
            var all: [UInt8] = []
            ranges.reserveCapacity(prefixes.count)
            for p in prefixes {
                var r = PrefixRanges()
                func add(_ slice: ArraySlice<UInt8>?) -> (Int, Int) {
                    guard let slice else { return (0, -1) }
                    all += slice
                    return (all.count - slice.count, slice.count)
                }
                r.type = add(p.type)
                r.target = add(p.target)
                r.agent = add(p.agent)
                ranges.append(r)
            }
            bytes = all[...]
        }

        /// The prefixes back as slices (for joining files' rules).
        func prefixes() -> [Prefixes] {
            ranges.map { r in
                func slice(_ x: (Int, Int)) -> ArraySlice<UInt8>? {
                    guard x.1 >= 0, x.0 >= 0, x.0 + x.1 <= bytes.count else { return nil }
                    let s = bytes.startIndex + x.0
                    return bytes[s..<(s + x.1)]
                }
                return Prefixes(type: slice(r.type), target: slice(r.target), agent: slice(r.agent))
            }
        }
    }
    private let decodeMatch: @Sendable (Int) -> Match?
    private let decodeRule: @Sendable (Int, Match) -> Rule?

    /// `prefixes` (one per rule, or none), `match(i)` rule `i`'s match, and
    /// `rule(i, match)` the whole rule; either gives nil if it does not decode.
    public init(count: Int, prefixes: [Prefixes] = [], match: @escaping @Sendable (Int) -> Match?,
                rule: @escaping @Sendable (Int, Match) -> Rule?) {
        self.count = count
        self.decodedMatches = nil
        self.table = PrefixTable(prefixes.count == count ? prefixes : [])
        self.decodeMatch = match
        self.decodeRule = rule
    }

    /// The same, with the prefixes given where they lie in `prefixBytes`
    /// (`PrefixRanges` counted from its start): one per rule, or none.
    public init(count: Int, prefixBytes: ArraySlice<UInt8>, prefixRanges: [PrefixRanges],
                match: @escaping @Sendable (Int) -> Match?, rule: @escaping @Sendable (Int, Match) -> Rule?) {
        self.count = count
        self.decodedMatches = nil
        self.table = prefixRanges.count == count ? PrefixTable(bytes: prefixBytes, ranges: prefixRanges) : PrefixTable([])
        self.decodeMatch = match
        self.decodeRule = rule
    }

    private init(decoded: [MatchBox], from d: DeferredRules) {
        count = d.count
        decodedMatches = decoded
        // Still the rules' prefixes: they rule most matches out before any is looked at.
        table = d.table
        decodeMatch = d.decodeMatch
        decodeRule = d.decodeRule
    }

    /// The rules whose match may hold for the subject, in order: all but
    /// those whose prefixes rule them out (see `Prefixes`).
    func candidates(_ s: Subject) -> [Int] {
        guard table.ranges.count == count else { return Array(0..<count) }
        var out: [Int] = []
        let empty: [UInt8] = []
        // A subject that is not ASCII (nil) is never ruled out.
        (s.type ?? empty).withUnsafeBufferPointer { type in
            (s.target ?? empty).withUnsafeBufferPointer { target in
                (s.agent ?? empty).withUnsafeBufferPointer { agent in
                    table.bytes.withUnsafeBufferPointer { bytes in
                        // A range outside the bytes (a damaged copy) rules nothing out.
                        func allows(_ r: (Int, Int), _ subject: UnsafeBufferPointer<UInt8>, known: Bool) -> Bool {
                            guard r.1 >= 0, known, r.0 >= 0, r.0 + r.1 <= bytes.count else { return true }
                            guard subject.count >= r.1 else { return false }
                            for k in 0..<r.1 where subject[k] != bytes[r.0 + k] { return false }
                            return true
                        }
                        for (i, r) in table.ranges.enumerated()
                        where allows(r.type, type, known: s.type != nil) && allows(r.target, target, known: s.target != nil)
                            && allows(r.agent, agent, known: s.agent != nil) {
                            out.append(i)
                        }
                    }
                }
            }
        }
        return out
    }

    public func match(_ i: Int) throws(Damaged) -> Match {
        guard i >= 0, i < count else { throw Damaged(index: i) }
        if let decodedMatches { return decodedMatches[i].match }
        guard let m = decodeMatch(i) else { throw Damaged(index: i) }
        return m
    }

    /// Rule `i` whole, given its match as `match(i)` decoded it.
    public func rule(_ i: Int, match: Match) throws(Damaged) -> Rule {
        guard i >= 0, i < count, let rule = decodeRule(i, match) else { throw Damaged(index: i) }
        return rule
    }

    public func rule(_ i: Int) throws(Damaged) -> Rule { try rule(i, match: try match(i)) }

    /// The same rules with every match decoded once: for a supervisor that
    /// judges many commands by them.
    public func withMatchesDecoded() throws(Damaged) -> DeferredRules {
        if decodedMatches != nil { return self }
        var all: [MatchBox] = []
        all.reserveCapacity(count)
        for i in 0..<count { all.append(MatchBox(try match(i))) }
        return DeferredRules(decoded: all, from: self)
    }

    /// The rules of several files in order, whether decoded or deferred.
    static func joined(_ policies: [Policy]) -> DeferredRules {
        var starts: [Int] = []
        var prefixes: [Prefixes] = []
        var total = 0
        for p in policies {
            starts.append(total)
            if let d = p.deferredRules {
                let own = d.table.ranges.count == d.count ? d.table.prefixes() : []
                prefixes += own.count == d.count ? own : Array(repeating: Prefixes(), count: d.count)
                total += d.count
            } else {
                prefixes += Array(repeating: Prefixes(), count: p.rules.count)
                total += p.rules.count
            }
        }
        let offsets = starts
        @Sendable func locate(_ i: Int) -> (Policy, Int)? {
            guard let part = offsets.lastIndex(where: { $0 <= i }) else { return nil }
            return (policies[part], i - offsets[part])
        }
        return DeferredRules(count: total, prefixes: prefixes, match: { i in
            guard let (p, local) = locate(i) else { return nil }
            if let d = p.deferredRules { return try? d.match(local) }
            return local < p.rules.count ? p.rules[local].match : nil
        }, rule: { i, match in
            guard let (p, local) = locate(i) else { return nil }
            if let d = p.deferredRules { return try? d.rule(local, match: match) }
            return local < p.rules.count ? p.rules[local] : nil
        })
    }
}
