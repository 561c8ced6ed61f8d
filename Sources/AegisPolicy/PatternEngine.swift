/// The regular expressions of `param_matches`: Python `re` syntax, searched
/// (not anchored) as `re.search` does, matched by a Thompson NFA in time
/// linear in the input, so neither a policy nor an agent's arguments can make
/// the gate backtrack for ever. Constructs whose meaning depends on
/// backtracking or captures (backreferences, lookaround, possessive and atomic
/// forms, conditionals) are refused when the policy loads.
struct PatternProgram: Sendable {
    enum Inst: Sendable {
        case char(Unicode.Scalar, caseless: Bool)
        case set(CharSet, caseless: Bool)
        case any(dotAll: Bool)
        case split(Int, Int)
        case jump(Int)
        case assert(Assertion)
        case match
    }

    enum Assertion: Sendable {
        case lineStart, lineEnd, textStart, textEnd, textEndOrFinalNewline, wordBoundary, notWordBoundary
    }

    struct CharSet: Sendable {
        enum Item: Sendable {
            case scalar(Unicode.Scalar)
            case range(Unicode.Scalar, Unicode.Scalar)
            case digit(Bool), word(Bool), space(Bool)  // Bool: negated
        }
        var negated: Bool
        var items: [Item]

        func contains(_ c: Unicode.Scalar, caseless: Bool) -> Bool {
            var hit = items.contains { $0.matches(c) }
            if !hit && caseless {
                for alt in caseVariants(c) where alt != c && items.contains(where: { $0.matches(alt) }) {
                    hit = true
                    break
                }
            }
            return hit != negated
        }
    }

    let insts: [Inst]
    static let maxInstructions = 20_000

    /// Whether the pattern matches anywhere in `text`.
    func search(_ text: String) -> Bool {
        let input = Array(text.unicodeScalars)
        var current = Set<Int>(), next = Set<Int>()
        var stack: [Int] = []
        func addThread(_ pc: Int, at i: Int, into list: inout Set<Int>) {
            stack.append(pc)
            while let p = stack.popLast() {
                guard list.insert(p).inserted else { continue }
                switch insts[p] {
                case .split(let a, let b):
                    stack.append(b)
                    stack.append(a)
                case .jump(let a):
                    stack.append(a)
                case .assert(let kind):
                    if holds(kind, input, i) { stack.append(p + 1) }
                default:
                    break
                }
            }
        }
        for i in 0...input.count {
            // Unanchored search: a new thread starts at every position.
            addThread(0, at: i, into: &current)
            for pc in current {
                if case .match = insts[pc] { return true }
            }
            guard i < input.count else { break }
            let c = input[i]
            next.removeAll(keepingCapacity: true)
            for pc in current {
                let advances: Bool
                switch insts[pc] {
                case .char(let s, let caseless): advances = s == c || (caseless && caseVariants(c).contains(s))
                case .set(let set, let caseless): advances = set.contains(c, caseless: caseless)
                case .any(let dotAll): advances = dotAll || c != "\n"
                default: advances = false
                }
                if advances { addThread(pc + 1, at: i + 1, into: &next) }
            }
            swap(&current, &next)
        }
        return false
    }

    func holds(_ a: Assertion, _ s: [Unicode.Scalar], _ i: Int) -> Bool {
        switch a {
        case .textStart: return i == 0
        case .textEnd: return i == s.count
        case .textEndOrFinalNewline: return i == s.count || (i == s.count - 1 && s[i] == "\n")
        case .lineStart: return i == 0 || s[i - 1] == "\n"
        case .lineEnd: return i == s.count || s[i] == "\n"
        case .wordBoundary, .notWordBoundary:
            let before = i > 0 && isWord(s[i - 1])
            let after = i < s.count && isWord(s[i])
            return (before != after) == (a == .wordBoundary)
        }
    }
}

func isWord(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil }
func isDigit(_ c: Unicode.Scalar) -> Bool { c.properties.numericType == .decimal }
func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace || (c.value >= 0x1C && c.value <= 0x1F) }

func caseVariants(_ c: Unicode.Scalar) -> [Unicode.Scalar] {
    var out = [c]
    for m in [c.properties.lowercaseMapping, c.properties.uppercaseMapping] {
        let scalars = Array(m.unicodeScalars)
        if scalars.count == 1, !out.contains(scalars[0]) { out.append(scalars[0]) }
    }
    return out
}

extension PatternProgram.CharSet.Item {
    func matches(_ c: Unicode.Scalar) -> Bool {
        switch self {
        case .scalar(let s): s == c
        case .range(let lo, let hi): lo.value <= c.value && c.value <= hi.value
        case .digit(let neg): isDigit(c) != neg
        case .word(let neg): isWord(c) != neg
        case .space(let neg): isSpace(c) != neg
        }
    }
}

/// Parses Python `re` syntax into a small syntax tree, then compiles it.
struct PatternParser {
    indirect enum Node {
        case empty
        case char(Unicode.Scalar, caseless: Bool)
        case set(PatternProgram.CharSet, caseless: Bool)
        case any(dotAll: Bool)
        case assert(PatternProgram.Assertion)
        case concat([Node])
        case alternate([Node])
        case repeat_(Node, min: Int, max: Int?)
    }

    struct Flags {
        var ignoreCase = false, dotAll = false, multiline = false, verbose = false
    }

    let s: [Unicode.Scalar]
    var i = 0
    var flags = Flags()

    init(_ pattern: String) { s = Array(pattern.unicodeScalars) }

    func fail(_ m: String) -> Pattern.SyntaxError { Pattern.SyntaxError(message: "\(m) at position \(i)") }

    var atEnd: Bool { i >= s.count }
    func peek(_ k: Int = 0) -> Unicode.Scalar? { i + k < s.count ? s[i + k] : nil }

    static func compile(_ pattern: String) throws(Pattern.SyntaxError) -> PatternProgram {
        var p = PatternParser(pattern)
        try p.leadingFlags()
        let node = try p.alternation(depth: 0)
        if !p.atEnd { throw p.fail(p.peek() == ")" ? "unbalanced parenthesis" : "unexpected '\(p.peek()!)'") }
        var insts: [PatternProgram.Inst] = []
        try emit(node, into: &insts)
        insts.append(.match)
        return PatternProgram(insts: insts)
    }

    /// Global inline flags, which Python allows only at the start: (?i), (?s), ...
    mutating func leadingFlags() throws(Pattern.SyntaxError) {
        while peek() == "(", peek(1) == "?", let f = peek(2), "aiLmsux".unicodeScalars.contains(f) {
            var j = i + 2
            var local = flags
            while j < s.count, "aiLmsux".unicodeScalars.contains(s[j]) {
                switch s[j] {
                case "i": local.ignoreCase = true
                case "s": local.dotAll = true
                case "m": local.multiline = true
                case "x": local.verbose = true
                default: break
                }
                j += 1
            }
            guard j < s.count, s[j] == ")" else { return }  // a scoped group (?i:...), read later
            flags = local
            i = j + 1
        }
    }

    mutating func alternation(depth: Int) throws(Pattern.SyntaxError) -> Node {
        guard depth < 100 else { throw fail("nested too deeply") }
        var branches = [try concatenation(depth: depth)]
        while peek() == "|" {
            i += 1
            branches.append(try concatenation(depth: depth))
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    mutating func concatenation(depth: Int) throws(Pattern.SyntaxError) -> Node {
        var items: [Node] = []
        while let c = peek(), c != "|", c != ")" {
            if flags.verbose {
                if c.properties.isWhitespace { i += 1; continue }
                if c == "#" {
                    while let d = peek(), d != "\n" { _ = d; i += 1 }
                    continue
                }
            }
            var atom = try self.atom(depth: depth)
            atom = try quantified(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .concat(items)
    }

    mutating func quantified(_ atom: Node) throws(Pattern.SyntaxError) -> Node {
        var node = atom
        var quantifiedOnce = false
        while let c = peek() {
            var min = 0, max: Int? = nil
            switch c {
            case "*": i += 1
            case "+": min = 1; i += 1
            case "?": max = 1; i += 1
            case "{":
                guard let (lo, hi, len) = braces() else { return node }  // a literal '{'
                min = lo; max = hi; i += len
            default: return node
            }
            if quantifiedOnce { throw fail("multiple repeat") }
            if case .assert = node { throw fail("nothing to repeat") }
            if case .empty = node { throw fail("nothing to repeat") }
            if peek() == "?" { i += 1 }  // lazy: the same set of matches for search
            else if peek() == "+" { throw fail("possessive quantifiers are not supported") }
            if let max, max < min { throw fail("min repeat greater than max repeat") }
            if min > 1000 || (max ?? 0) > 1000 { throw fail("repeat count above 1000") }
            node = .repeat_(node, min: min, max: max)
            quantifiedOnce = true
        }
        return node
    }

    /// `{m}`, `{m,}`, `{,n}`, `{m,n}`: (min, max, length); nil when not a quantifier.
    func braces() -> (Int, Int?, Int)? {
        var j = i + 1
        func number() -> Int? {
            var v: Int?
            while j < s.count, let d = Int(String(s[j])), s[j].isASCII {
                v = (v ?? 0) * 10 + d
                if v! > 100_000 { v = 100_000 }
                j += 1
            }
            return v
        }
        let lo = number()
        if j < s.count, s[j] == "}" {
            guard let lo else { return nil }
            return (lo, lo, j - i + 1)
        }
        guard j < s.count, s[j] == "," else { return nil }
        j += 1
        let hi = number()
        guard j < s.count, s[j] == "}" else { return nil }
        return (lo ?? 0, hi, j - i + 1)
    }

    mutating func atom(depth: Int) throws(Pattern.SyntaxError) -> Node {
        let c = s[i]
        i += 1
        switch c {
        case ".": return .any(dotAll: flags.dotAll)
        case "^": return .assert(flags.multiline ? .lineStart : .textStart)
        case "$": return .assert(flags.multiline ? .lineEnd : .textEndOrFinalNewline)
        case "[": return .set(try bracket(), caseless: flags.ignoreCase)
        case "\\": return try escape()
        case "*", "+", "?": throw fail("nothing to repeat")
        case "{":
            i -= 1
            if braces() != nil { throw fail("nothing to repeat") }
            i += 1
            return .char(c, caseless: false)
        case "(":
            return try group(depth: depth)
        default:
            return .char(c, caseless: flags.ignoreCase)
        }
    }

    mutating func group(depth: Int) throws(Pattern.SyntaxError) -> Node {
        let saved = flags
        defer { flags = saved }
        if peek() == "?" {
            i += 1
            switch peek() {
            case ":": i += 1
            case "P":
                if peek(1) == "<" {
                    i += 2
                    guard let close = s[i...].firstIndex(of: ">"), close > i,
                          s[i..<close].allSatisfy({ $0 == "_" || $0.properties.isAlphabetic || ($0.isASCII && Character($0).isNumber) }) else {
                        throw fail("bad group name")
                    }
                    i = close + 1
                } else {
                    throw fail("backreferences are not supported")
                }
            case "<" where peek(1) != "=" && peek(1) != "!":
                throw fail("unknown extension ?<")
            case "=", "!", "<": throw fail("lookahead and lookbehind are not supported")
            case ">": throw fail("atomic groups are not supported")
            case "(": throw fail("conditional groups are not supported")
            case "#":
                while let c = peek(), c != ")" { _ = c; i += 1 }
                guard peek() == ")" else { throw fail("missing ), unterminated comment") }
                i += 1
                return .empty
            default:
                // Scoped flags: (?i:...), (?-i:...).
                var on = true
                while let c = peek(), c != ":" {
                    switch c {
                    case "-": on = false
                    case "i": flags.ignoreCase = on
                    case "s": flags.dotAll = on
                    case "m": flags.multiline = on
                    case "x": flags.verbose = on
                    case "a", "u", "L": break
                    case ")": throw fail("global flags not at the start of the expression")
                    default: throw fail("unknown flag '\(c)'")
                    }
                    i += 1
                }
                guard peek() == ":" else { throw fail("missing :") }
                i += 1
            }
        }
        let inner = try alternation(depth: depth + 1)
        guard peek() == ")" else { throw fail("missing ), unterminated subpattern") }
        i += 1
        return inner
    }

    mutating func escape() throws(Pattern.SyntaxError) -> Node {
        guard let c = peek() else { throw fail("bad escape (end of pattern)") }
        i += 1
        let ci = flags.ignoreCase
        switch c {
        case "d": return .set(.init(negated: false, items: [.digit(false)]), caseless: false)
        case "D": return .set(.init(negated: false, items: [.digit(true)]), caseless: false)
        case "w": return .set(.init(negated: false, items: [.word(false)]), caseless: false)
        case "W": return .set(.init(negated: false, items: [.word(true)]), caseless: false)
        case "s": return .set(.init(negated: false, items: [.space(false)]), caseless: false)
        case "S": return .set(.init(negated: false, items: [.space(true)]), caseless: false)
        case "b": return .assert(.wordBoundary)
        case "B": return .assert(.notWordBoundary)
        case "A": return .assert(.textStart)
        case "Z": return .assert(.textEnd)
        case "1"..."9": throw fail("backreferences are not supported")
        default:
            i -= 1
            return .char(try escapedScalar(inClass: false), caseless: ci)
        }
    }

    /// The scalar an escape stands for (after the backslash).
    mutating func escapedScalar(inClass: Bool) throws(Pattern.SyntaxError) -> Unicode.Scalar {
        guard i < s.count else { throw fail("bad escape (end of pattern)") }
        let c = s[i]
        i += 1
        switch c {
        case "n": return "\n"
        case "t": return "\t"
        case "r": return "\r"
        case "f": return "\u{0C}"
        case "v": return "\u{0B}"
        case "a": return "\u{07}"
        case "0": return "\0"
        case "b" where inClass: return "\u{08}"
        case "x": return try hex(2)
        case "u": return try hex(4)
        case "U": return try hex(8)
        default:
            if c.isASCII && (c.properties.isAlphabetic || Character(c).isNumber) {
                throw fail("bad escape \\\(c)")
            }
            return c
        }
    }

    mutating func hex(_ n: Int) throws(Pattern.SyntaxError) -> Unicode.Scalar {
        guard i + n <= s.count, s[i..<i + n].allSatisfy({ $0.properties.isASCIIHexDigit }),
              let v = UInt32(String(String.UnicodeScalarView(s[i..<i + n])), radix: 16),
              let u = Unicode.Scalar(v) else { throw fail("bad hexadecimal escape") }
        i += n
        return u
    }

    mutating func bracket() throws(Pattern.SyntaxError) -> PatternProgram.CharSet {
        var set = PatternProgram.CharSet(negated: false, items: [])
        if peek() == "^" { set.negated = true; i += 1 }
        var first = true
        while true {
            guard let c = peek() else { throw fail("unterminated character set") }
            if c == "]" && !first { i += 1; break }
            first = false
            var lo: Unicode.Scalar
            if c == "\\" {
                i += 1
                guard let e = peek() else { throw fail("bad escape (end of pattern)") }
                switch e {
                case "d", "D", "w", "W", "s", "S":
                    i += 1
                    let neg = e.properties.isUppercase
                    set.items.append(e == "d" || e == "D" ? .digit(neg) : e == "w" || e == "W" ? .word(neg) : .space(neg))
                    continue
                default:
                    lo = try escapedScalar(inClass: true)
                }
            } else {
                lo = c
                i += 1
            }
            if peek() == "-", let after = peek(1), after != "]" {
                i += 1
                var hi: Unicode.Scalar
                if after == "\\" {
                    i += 1
                    hi = try escapedScalar(inClass: true)
                } else {
                    hi = after
                    i += 1
                }
                guard lo.value <= hi.value else { throw fail("bad character range \(lo)-\(hi)") }
                set.items.append(.range(lo, hi))
            } else {
                set.items.append(.scalar(lo))
            }
        }
        return set
    }

    static func emit(_ node: Node, into p: inout [PatternProgram.Inst]) throws(Pattern.SyntaxError) {
        guard p.count < PatternProgram.maxInstructions else {
            throw Pattern.SyntaxError(message: "pattern too large (over \(PatternProgram.maxInstructions) steps once repeats are expanded)")
        }
        switch node {
        case .empty: break
        case .char(let c, let ci): p.append(.char(c, caseless: ci))
        case .set(let set, let ci): p.append(.set(set, caseless: ci))
        case .any(let dotAll): p.append(.any(dotAll: dotAll))
        case .assert(let a): p.append(.assert(a))
        case .concat(let items): for n in items { try emit(n, into: &p) }
        case .alternate(let branches):
            var jumps: [Int] = []
            for (k, b) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = p.count
                    p.append(.split(split + 1, -1))
                    try emit(b, into: &p)
                    jumps.append(p.count)
                    p.append(.jump(-1))
                    p[split] = .split(split + 1, p.count)
                } else {
                    try emit(b, into: &p)
                }
            }
            for j in jumps { p[j] = .jump(p.count) }
        case .repeat_(let inner, let min, let max):
            for _ in 0..<min { try emit(inner, into: &p) }
            if let max {
                // Optional copies: each may be skipped to the end.
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(p.count)
                    p.append(.split(p.count + 1, -1))
                    try emit(inner, into: &p)
                }
                for sp in splits { p[sp] = .split(sp + 1, p.count) }
            } else {
                let loop = p.count
                p.append(.split(loop + 1, -1))
                try emit(inner, into: &p)
                p.append(.jump(loop))
                p[loop] = .split(loop + 1, p.count)
            }
        }
    }
}
