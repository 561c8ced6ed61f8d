import AegisPolicy

/// A compact binary form of a loaded policy file, so that the gate can skip
/// YAML parsing when a file has not changed (see AegisRuntime's PolicyCache).
///
/// MUST: `decode(encode(f))` judges every command exactly as `f` does. Globs,
///       regexes and templates are stored as their source text and compiled
///       again by the same initialisers the loader uses; time zones are stored
///       by name and resolved again by the caller's resolver.
/// MUST: decoding never traps on any input; anything unexpected is a
///       `DecodeError`, which callers treat as "no cached copy" (or, for a
///       deferred rule, found when its match holds, `DeferredRules.Damaged`:
///       the gate then judges by the files themselves).
/// MUST: only parsed files are encoded (a deferred policy's `rules` is empty).
public enum PolicyCodec {
    public struct DecodeError: Error, Sendable {}

    public static func encode(_ file: PolicyFile) -> [UInt8] {
        var w = Writer()
        w.policyFile(file)
        return w.out
    }

    /// `deferRules`: each rule's match is decoded and the rest of it kept
    /// encoded, for `Evaluator` to decode when the match holds (the gate's
    /// way: see `DeferredRules`); the file's `policy.rules` is then empty.
    public static func decode(
        _ bytes: ArraySlice<UInt8>, zones: @escaping PolicyLoader.ZoneResolver, deferRules: Bool = false
    ) throws(DecodeError) -> PolicyFile {
        var r = Reader(bytes: bytes, zones: zones)
        r.deferRules = deferRules
        let f = try r.policyFile()
        guard r.atEnd else { throw DecodeError() }
        return f
    }

    /// One mapping entry, for the compiled built-in mapping.
    public static func encode(_ entry: CommandMapping.Entry) -> [UInt8] {
        var w = Writer()
        w.entry(entry)
        return w.out
    }

    public static func decodeEntry(_ bytes: ArraySlice<UInt8>) throws(DecodeError) -> CommandMapping.Entry {
        var r = Reader(bytes: bytes, zones: { _ in nil })
        let e = try r.entry()
        guard r.atEnd else { throw DecodeError() }
        return e
    }

    // MARK: - Writing

    struct Writer {
        var out: [UInt8] = []

        mutating func int(_ v: Int64) {
            // Zig-zag, then LEB128: small numbers of either sign take one byte.
            var u = UInt64(bitPattern: (v << 1) ^ (v >> 63))
            while u >= 0x80 {
                out.append(UInt8(u & 0x7F) | 0x80)
                u >>= 7
            }
            out.append(UInt8(u))
        }
        mutating func int(_ v: Int) { int(Int64(v)) }
        mutating func bool(_ b: Bool) { out.append(b ? 1 : 0) }
        mutating func double(_ d: Double) {
            var bits = d.bitPattern
            for _ in 0..<8 {
                out.append(UInt8(bits & 0xFF))
                bits >>= 8
            }
        }
        mutating func string(_ s: String) {
            var s = s
            s.withUTF8 { buf in
                int(buf.count)
                out.append(contentsOf: buf)
            }
        }
        mutating func optional<T>(_ v: T?, _ body: (inout Writer, T) -> Void) {
            if let v {
                out.append(1)
                body(&self, v)
            } else {
                out.append(0)
            }
        }
        mutating func list<T>(_ xs: [T], _ body: (inout Writer, T) -> Void) {
            int(xs.count)
            for x in xs { body(&self, x) }
        }
        mutating func strings(_ xs: [String]) { list(xs) { $0.string($1) } }

        mutating func policyFile(_ f: PolicyFile) {
            string(f.path)
            policy(f.policy)
            list(f.examples) { $0.example($1) }
            bool(f.declaresDefaults)
            optional(f.audit) { $0.audit($1) }
            optional(f.approver) { $0.approver($1) }
            optional(f.prompt) { $0.prompt($1) }
            optional(f.shell) { $0.string($1) }
            string(f.timeZone.name)
            list(f.diagnostics) { $0.diagnostic($1) }
        }

        mutating func policy(_ p: Policy) {
            int(p.defaults.riskLevel.rawValue)
            int(p.defaults.approval.rawValue)
            sandbox(p.defaults.sandbox)
            list(p.rules) { $0.rule($1) }
            list(p.commands) { $0.entry($1) }
            strings(p.files)
        }

        mutating func sandbox(_ s: SandboxSpec) {
            optional(s.profile) { w, p in
                switch p {
                case .none: w.int(0)
                case .standard: w.int(1)
                case .strict: w.int(2)
                case .file(let path): w.int(3); w.string(path)
                }
            }
            optional(s.network) { $0.bool($1) }
            strings(s.deny)
            optional(s.intercept) { $0.bool($1) }
        }

        /// The match, then the rest of the rule length-prefixed, so that a
        /// reader can keep the rest for later (see `DeferredRules`).
        mutating func rule(_ r: Rule) {
            for g in [r.match.type, r.match.target, r.match.agent, r.match.program, r.match.args] {
                optional(g) { $0.string($1.pattern) }
            }
            var rest = Writer()
            rest.ruleRest(r)
            int(rest.out.count)
            out += rest.out
        }

        mutating func ruleRest(_ r: Rule) {
            string(r.name)
            list(r.conditions) { $0.condition($1) }
            int(r.riskLevel.rawValue)
            int(r.approval.rawValue)
            optional(r.location) { $0.location($1) }
            string(r.zone.name)
            optional(r.sandbox) { $0.sandbox($1) }
        }

        mutating func condition(_ c: Condition) {
            switch c {
            case .timeWindow(let after, let before):
                int(0); optional(after) { $0.int($1) }; optional(before) { $0.int($1) }
            case .weekdays(let days):
                int(1); list(days.sorted()) { $0.int($1) }
            case .paramEq(let key, let value):
                int(2); string(key); json(value)
            case .paramCompare(let key, let op, let value):
                int(3); string(key); string(op.rawValue); double(value)
            case .paramContains(let key, let value):
                int(4); string(key); json(value)
            case .paramMatches(let key, let pattern):
                int(5); string(key); string(pattern.source)
            case .flagsAny(let flags):
                int(6); strings(flags)
            case .flagsAll(let flags):
                int(7); strings(flags)
            case .argAny(let globs):
                int(8); list(globs) { $0.string($1.pattern) }
            case .pathOutside(let dirs):
                int(9); strings(dirs)
            case .pathInside(let dirs):
                int(10); strings(dirs)
            case .any(let groups):
                int(11); list(groups) { w, g in w.list(g) { $0.condition($1) } }
            case .not(let group):
                int(12); list(group) { $0.condition($1) }
            }
        }

        mutating func json(_ j: JSON) {
            switch j {
            case .null: int(0)
            case .bool(let b): int(1); bool(b)
            case .int(let i): int(2); int(i)
            case .double(let d): int(3); double(d)
            case .string(let s): int(4); string(s)
            case .array(let a): int(5); list(a) { $0.json($1) }
            case .object(let o): int(6); object(o)
            }
        }

        mutating func object(_ o: JSONObject) {
            list(o.entries) { w, e in w.string(e.key); w.json(e.value) }
        }

        mutating func entry(_ e: CommandMapping.Entry) {
            string(e.program.pattern)
            optional(e.subcommand) { $0.string($1.pattern) }
            optional(e.args) { $0.string($1.pattern) }
            string(e.type)
            string(e.target.source)
            strings(e.valueOptions.sorted())
            object(e.params)
            optional(e.location) { $0.location($1) }
        }

        mutating func location(_ l: SourceLocation) {
            string(l.file); int(l.line); int(l.column)
        }

        mutating func example(_ e: Example) {
            strings(e.argv)
            int(e.approval.rawValue)
            optional(e.rule) { $0.string($1) }
            optional(e.at) { $0.int($1.unixSeconds) }
            location(e.location)
        }

        mutating func audit(_ a: AuditSettings) {
            optional(a.path) { $0.string($1) }
            string(a.synchronous.rawValue)
            list(a.redact) { $0.string($1.source) }
            optional(a.location) { $0.location($1) }
        }

        mutating func approver(_ a: ApproverSettings) {
            string(a.url.scheme); string(a.url.host); int(a.url.port); string(a.url.path)
            double(a.timeoutSeconds)
            optional(a.secretFile) { $0.string($1) }
            optional(a.tokenFile) { $0.string($1) }
            bool(a.allowHTTP)
            optional(a.caFile) { $0.string($1) }
            optional(a.location) { $0.location($1) }
        }

        mutating func prompt(_ p: PromptSettings) {
            double(p.timeoutSeconds)
            int(p.rememberMinutes)
            optional(p.location) { $0.location($1) }
        }

        mutating func diagnostic(_ d: Diagnostic) {
            string(d.file); int(d.line); int(d.column); string(d.severity.rawValue); string(d.message)
        }
    }

    // MARK: - Reading

    struct Reader {
        let bytes: ArraySlice<UInt8>
        var i: Int
        let zones: PolicyLoader.ZoneResolver
        /// Zones resolved so far: every rule of a file names the same one.
        /// (A struct, not a tuple: an array of tuples has its type built by
        /// the runtime on first use, 13 us of every command.)
        var resolved: [KnownZone] = [KnownZone(name: "UTC", zone: .utc)]

        struct KnownZone {
            var name: String
            var zone: TimeZoneTable
        }
        /// Keep rules encoded past their match (see `decode`).
        var deferRules = false

        init(bytes: ArraySlice<UInt8>, zones: @escaping PolicyLoader.ZoneResolver) {
            self.bytes = bytes
            self.i = bytes.startIndex
            self.zones = zones
        }

        var atEnd: Bool { i == bytes.endIndex }
        /// How deep `any`/`not` and JSON values nest, bounded so that no input
        /// can exhaust the stack (the loader allows far less).
        var depth = 0
        static let maxDepth = 512

        mutating func descend() throws(DecodeError) {
            depth += 1
            guard depth <= Reader.maxDepth else { throw DecodeError() }
        }

        mutating func byte() throws(DecodeError) -> UInt8 {
            guard i < bytes.endIndex else { throw DecodeError() }
            defer { i += 1 }
            return bytes[i]
        }

        mutating func int() throws(DecodeError) -> Int64 {
            var u: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 64 else { throw DecodeError() }
                u |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
        }
        mutating func small() throws(DecodeError) -> Int {
            let v = try int()
            guard v >= Int64(Int32.min), v <= Int64(Int32.max) else { throw DecodeError() }
            return Int(v)
        }
        mutating func count() throws(DecodeError) -> Int {
            let n = try small()
            // Every element takes at least one byte: a larger count is corrupt.
            guard n >= 0, n <= bytes.endIndex - i else { throw DecodeError() }
            return n
        }
        mutating func bool() throws(DecodeError) -> Bool {
            switch try byte() {
            case 0: return false
            case 1: return true
            default: throw DecodeError()
            }
        }
        mutating func double() throws(DecodeError) -> Double {
            guard bytes.endIndex - i >= 8 else { throw DecodeError() }
            var bits: UInt64 = 0
            for k in 0..<8 { bits |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
            i += 8
            return Double(bitPattern: bits)
        }
        /// The last long string decoded: locations repeat their file's path.
        var lastLong: (bytes: ArraySlice<UInt8>, text: String)?

        mutating func string() throws(DecodeError) -> String {
            let n = try count()
            let s = bytes[i..<(i + n)]
            i += n
            if n > 15, let last = lastLong, last.bytes.elementsEqual(s) { return last.text }
            // Only what `encode` wrote is accepted: valid UTF-8, byte for byte.
            // Policies are mostly ASCII, which needs no further check.
            let text: String
            if s.allSatisfy({ $0 < 0x80 }) {
                text = s.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }
            } else {
                guard let t = String(validating: s, as: UTF8.self) else { throw DecodeError() }
                text = t
            }
            if n > 15 { lastLong = (s, text) }
            return text
        }
        mutating func optional<T>(_ body: (inout Reader) throws(DecodeError) -> T) throws(DecodeError) -> T? {
            try bool() ? try body(&self) : nil
        }
        mutating func list<T>(_ body: (inout Reader) throws(DecodeError) -> T) throws(DecodeError) -> [T] {
            let n = try count()
            var out: [T] = []
            out.reserveCapacity(min(n, 1024))
            for _ in 0..<n { out.append(try body(&self)) }
            return out
        }
        mutating func strings() throws(DecodeError) -> [String] { try list { r throws(DecodeError) in try r.string() } }

        mutating func risk() throws(DecodeError) -> RiskLevel {
            guard let r = RiskLevel(rawValue: try small()) else { throw DecodeError() }
            return r
        }
        mutating func approval() throws(DecodeError) -> Approval {
            guard let a = Approval(rawValue: try small()) else { throw DecodeError() }
            return a
        }
        mutating func glob() throws(DecodeError) -> Glob {
            do { return try Glob(try string()) } catch { throw DecodeError() }
        }
        mutating func pattern() throws(DecodeError) -> Pattern {
            do { return try Pattern(try string()) } catch { throw DecodeError() }
        }
        mutating func zone() throws(DecodeError) -> TimeZoneTable {
            let name = try string()
            if let z = resolved.first(where: { $0.name == name }) { return z.zone }
            guard let z = zones(name) else { throw DecodeError() }
            resolved.append(KnownZone(name: name, zone: z))
            return z
        }

        mutating func policyFile() throws(DecodeError) -> PolicyFile {
            let path = try string()
            let policy = try policy()
            let examples = try list { r throws(DecodeError) in try r.example() }
            let declaresDefaults = try bool()
            let audit = try optional { r throws(DecodeError) in try r.audit() }
            let approver = try optional { r throws(DecodeError) in try r.approver() }
            let prompt = try optional { r throws(DecodeError) in try r.prompt() }
            let shell = try optional { r throws(DecodeError) in try r.string() }
            let zone = try zone()
            let diagnostics = try list { r throws(DecodeError) in try r.diagnostic() }
            return PolicyFile(path: path, policy: policy, examples: examples, declaresDefaults: declaresDefaults, audit: audit,
                              approver: approver, prompt: prompt, shell: shell, timeZone: zone, diagnostics: diagnostics)
        }

        mutating func policy() throws(DecodeError) -> Policy {
            let defaults = Defaults(riskLevel: try risk(), approval: try approval(), sandbox: try sandbox())
            var rules: [Rule] = []
            var deferred: DeferredRules?
            if deferRules {
                // One pass, recording where each rule's parts lie: no slice per
                // rule (each retains the copy) and no prefix copied; every
                // command from a copy reads every rule this way.
                let n = try count()
                var spans: [RuleSpan] = [], ranges: [DeferredRules.PrefixRanges] = []
                spans.reserveCapacity(n)
                ranges.reserveCapacity(n)
                for _ in 0..<n { try encodedRuleParts(into: &spans, &ranges) }
                let zones = self.zones, known = resolved, base = bytes, ruleSpans = spans
                deferred = DeferredRules(count: n, prefixBytes: base, prefixRanges: ranges, match: { k in
                    var r = Reader(bytes: base[ruleSpans[k].match], zones: zones)
                    guard let match = try? r.match(), r.atEnd else { return nil }
                    return match
                }, rule: { k, match in
                    var r = Reader(bytes: base[ruleSpans[k].rest], zones: zones)
                    r.resolved = known
                    guard let rule = try? r.ruleRest(match: match), r.atEnd else { return nil }
                    return rule
                })
            } else {
                rules = try list { r throws(DecodeError) in try r.rule() }
            }
            let commands = try list { r throws(DecodeError) in try r.entry() }
            return Policy(defaults: defaults, rules: rules, commands: commands, files: try strings(), deferredRules: deferred)
        }

        mutating func sandbox() throws(DecodeError) -> SandboxSpec {
            let profile = try optional { r throws(DecodeError) -> SandboxSpec.Profile in
                switch try r.small() {
                case 0: return .none
                case 1: return .standard
                case 2: return .strict
                case 3: return .file(try r.string())
                default: throw DecodeError()
                }
            }
            let network = try optional { r throws(DecodeError) in try r.bool() }
            let deny = try strings()
            let intercept = try optional { r throws(DecodeError) in try r.bool() }
            return SandboxSpec(profile: profile, network: network, deny: deny, intercept: intercept)
        }

        mutating func match() throws(DecodeError) -> Match {
            let type = try optional { r throws(DecodeError) in try r.glob() }
            let target = try optional { r throws(DecodeError) in try r.glob() }
            let agent = try optional { r throws(DecodeError) in try r.glob() }
            let program = try optional { r throws(DecodeError) in try r.glob() }
            let args = try optional { r throws(DecodeError) in try r.glob() }
            return Match(type: type, target: target, agent: agent, program: program, args: args)
        }

        /// Where a rule's encoded match and the rest of it lie.
        struct RuleSpan {
            var match: Range<Int>
            var rest: Range<Int>
        }

        /// Where a rule's match and the rest of it lie, undecoded, and the
        /// literal prefixes of its patterns (see `DeferredRules.Prefixes`),
        /// counted from the start of `bytes`.
        mutating func encodedRuleParts(
            into spans: inout [RuleSpan], _ ranges: inout [DeferredRules.PrefixRanges]
        ) throws(DecodeError) {
            let start = i
            let type = try literalPrefix(), target = try literalPrefix(), agent = try literalPrefix()
            _ = try encodedOptionalString()  // program
            _ = try encodedOptionalString()  // args
            let matchEnd = i
            let n = try count()
            spans.append(RuleSpan(match: start..<matchEnd, rest: i..<(i + n)))
            ranges.append(DeferredRules.PrefixRanges(type: type, target: target, agent: agent))
            i += n
        }

        /// An optional pattern's literal prefix (as `DeferredRules.Prefixes.literal`
        /// finds it): start from the beginning of `bytes` and length, or length -1.
        mutating func literalPrefix() throws(DecodeError) -> (Int, Int) {
            guard try bool() else { return (0, -1) }
            let n = try count()
            let start = i
            i += n
            return (start - bytes.startIndex, DeferredRules.Prefixes.literal(bytes[start..<i]).count)
        }

        /// An optional string's bytes, unchecked (decoding the match checks them).
        mutating func encodedOptionalString() throws(DecodeError) -> ArraySlice<UInt8>? {
            guard try bool() else { return nil }
            let n = try count()
            defer { i += n }
            return bytes[i..<(i + n)]
        }

        /// The match and where the rest of the rule lies.
        mutating func ruleParts() throws(DecodeError) -> (match: Match, rest: ArraySlice<UInt8>) {
            let match = try match()
            let n = try count()
            defer { i += n }
            return (match, bytes[i..<(i + n)])
        }

        mutating func rule() throws(DecodeError) -> Rule {
            let (match, rest) = try ruleParts()
            var r = Reader(bytes: rest, zones: zones)
            r.resolved = resolved
            r.lastLong = lastLong
            r.depth = depth
            let rule = try r.ruleRest(match: match)
            guard r.atEnd else { throw DecodeError() }
            resolved = r.resolved
            lastLong = r.lastLong
            return rule
        }

        mutating func ruleRest(match: Match) throws(DecodeError) -> Rule {
            let name = try string()
            let conditions = try list { r throws(DecodeError) in try r.condition() }
            let risk = try risk()
            let approval = try approval()
            let location = try optional { r throws(DecodeError) in try r.location() }
            let zone = try zone()
            let sandbox = try optional { r throws(DecodeError) in try r.sandbox() }
            return Rule(name: name, match: match, conditions: conditions, riskLevel: risk, approval: approval,
                        location: location, zone: zone, sandbox: sandbox)
        }

        mutating func condition() throws(DecodeError) -> Condition {
            try descend()
            defer { depth -= 1 }
            switch try small() {
            case 0:
                let after = try optional { r throws(DecodeError) in try r.small() }
                let before = try optional { r throws(DecodeError) in try r.small() }
                return .timeWindow(after: after, before: before)
            case 1: return .weekdays(Set(try list { r throws(DecodeError) in try r.small() }))
            case 2: return .paramEq(key: try string(), value: try json())
            case 3:
                let key = try string()
                guard let op = Condition.Comparison(rawValue: try string()) else { throw DecodeError() }
                return .paramCompare(key: key, op: op, value: try double())
            case 4: return .paramContains(key: try string(), value: try json())
            case 5: return .paramMatches(key: try string(), pattern: try pattern())
            case 6: return .flagsAny(try strings())
            case 7: return .flagsAll(try strings())
            case 8: return .argAny(try list { r throws(DecodeError) in try r.glob() })
            case 9: return .pathOutside(try strings())
            case 10: return .pathInside(try strings())
            case 11:
                return .any(try list { r throws(DecodeError) in try r.list { q throws(DecodeError) in try q.condition() } })
            case 12: return .not(try list { r throws(DecodeError) in try r.condition() })
            default: throw DecodeError()
            }
        }

        mutating func json() throws(DecodeError) -> JSON {
            try descend()
            defer { depth -= 1 }
            switch try small() {
            case 0: return .null
            case 1: return .bool(try bool())
            case 2: return .int(try int())
            case 3: return .double(try double())
            case 4: return .string(try string())
            case 5: return .array(try list { r throws(DecodeError) in try r.json() })
            case 6: return .object(try object())
            default: throw DecodeError()
            }
        }

        mutating func object() throws(DecodeError) -> JSONObject {
            let pairs = try list { r throws(DecodeError) -> (String, JSON) in (try r.string(), try r.json()) }
            let o = JSONObject(pairs)
            // Keys are unique in what `encode` wrote; a repeated one is corrupt.
            guard o.count == pairs.count else { throw DecodeError() }
            return o
        }

        mutating func entry() throws(DecodeError) -> CommandMapping.Entry {
            let program = try glob()
            let subcommand = try optional { r throws(DecodeError) in try r.glob() }
            let args = try optional { r throws(DecodeError) in try r.glob() }
            let type = try string()
            let target: Template
            do { target = try Template(try string()) } catch { throw DecodeError() }
            let valueOptions = Set(try strings())
            let params = try object()
            let location = try optional { r throws(DecodeError) in try r.location() }
            return CommandMapping.Entry(program: program, subcommand: subcommand, args: args, type: type, target: target,
                                        valueOptions: valueOptions, params: params, location: location)
        }

        mutating func location() throws(DecodeError) -> SourceLocation {
            SourceLocation(file: try string(), line: try small(), column: try small())
        }

        mutating func example() throws(DecodeError) -> Example {
            let argv = try strings()
            let approval = try approval()
            let rule = try optional { r throws(DecodeError) in try r.string() }
            let at = try optional { r throws(DecodeError) in Instant(unixSeconds: try r.int()) }
            return Example(argv: argv, approval: approval, rule: rule, at: at, location: try location())
        }

        mutating func audit() throws(DecodeError) -> AuditSettings {
            var a = AuditSettings()
            a.path = try optional { r throws(DecodeError) in try r.string() }
            guard let sync = AuditSettings.Synchronous(rawValue: try string()) else { throw DecodeError() }
            a.synchronous = sync
            a.redact = try list { r throws(DecodeError) in try r.pattern() }
            a.location = try optional { r throws(DecodeError) in try r.location() }
            return a
        }

        mutating func approver() throws(DecodeError) -> ApproverSettings {
            let url = EndpointURL(scheme: try string(), host: try string(), port: try small(), path: try string())
            var a = ApproverSettings(url: url)
            a.timeoutSeconds = try double()
            a.secretFile = try optional { r throws(DecodeError) in try r.string() }
            a.tokenFile = try optional { r throws(DecodeError) in try r.string() }
            a.allowHTTP = try bool()
            a.caFile = try optional { r throws(DecodeError) in try r.string() }
            a.location = try optional { r throws(DecodeError) in try r.location() }
            return a
        }

        mutating func prompt() throws(DecodeError) -> PromptSettings {
            var p = PromptSettings()
            p.timeoutSeconds = try double()
            p.rememberMinutes = try small()
            p.location = try optional { r throws(DecodeError) in try r.location() }
            return p
        }

        mutating func diagnostic() throws(DecodeError) -> Diagnostic {
            let file = try string(), line = try small(), column = try small()
            guard let severity = Diagnostic.Severity(rawValue: try string()) else { throw DecodeError() }
            return Diagnostic(file: file, line: line, column: column, severity: severity, message: try string())
        }
    }
}

extension EndpointURL {
    /// The parts as `init(_:)` found them, for the codec.
    init(scheme: String, host: String, port: Int, path: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
    }
}
