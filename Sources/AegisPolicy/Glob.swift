/// An fnmatch-style pattern, matched against the whole string, case-sensitively:
/// `*` any run of characters (including `/`), `?` one character, `[abc]`,
/// `[a-z]`, `[!abc]`. No braces. `]` first in a class is literal. This is the
/// glob language of the Python original; an unclosed `[` is an error here
/// where fnmatch would quietly read it as a literal.
public struct Glob: Sendable, Equatable, CustomStringConvertible {
    enum Token: Sendable, Equatable {
        case literal(Unicode.Scalar)
        case any            // ?
        case star           // *
        case set(negated: Bool, items: [ClassItem])
    }

    enum ClassItem: Sendable, Equatable {
        case single(Unicode.Scalar)
        case range(Unicode.Scalar, Unicode.Scalar)
    }

    public let pattern: String
    let tokens: [Token]
    /// Patterns without wildcards compare as plain strings (the common case).
    let literal: String?

    public var description: String { pattern }

    public struct SyntaxError: Error, Equatable, Sendable {
        public let message: String
    }

    public init(_ pattern: String) throws(SyntaxError) {
        self.pattern = pattern
        // Most patterns are plain words: no tokens needed, they compare as strings.
        if !pattern.utf8.contains(where: { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") }) {
            tokens = []
            literal = pattern
            return
        }
        var tokens: [Token] = []
        tokens.reserveCapacity(pattern.utf8.count)
        let s = Array(pattern.unicodeScalars)
        var i = 0
        while i < s.count {
            let c = s[i]
            switch c {
            case "*":
                if tokens.last != .star { tokens.append(.star) }
                i += 1
            case "?":
                tokens.append(.any)
                i += 1
            case "[":
                var j = i + 1
                var negated = false
                if j < s.count, s[j] == "!" { negated = true; j += 1 }
                var items: [ClassItem] = []
                var first = true
                var closed = false
                while j < s.count {
                    if s[j] == "]" && !first { closed = true; break }
                    first = false
                    if j + 2 < s.count, s[j + 1] == "-", s[j + 2] != "]" {
                        guard s[j].value <= s[j + 2].value else {
                            throw SyntaxError(message: "invalid range '\(s[j])-\(s[j + 2])' in glob '\(pattern)'")
                        }
                        items.append(.range(s[j], s[j + 2]))
                        j += 3
                    } else {
                        items.append(.single(s[j]))
                        j += 1
                    }
                }
                guard closed else {
                    throw SyntaxError(message: "unclosed '[' in glob '\(pattern)' (write [[] for a literal '[')")
                }
                tokens.append(.set(negated: negated, items: items))
                i = j + 1
            default:
                tokens.append(.literal(c))
                i += 1
            }
        }
        self.tokens = tokens
        self.literal = tokens.allSatisfy { if case .literal = $0 { true } else { false } } ? pattern : nil
    }

    public static let everything = try! Glob("*")

    public var matchesEverything: Bool { literal == nil && tokens == [.star] }

    public func matches(_ text: String) -> Bool {
        if let literal { return literal == text }
        if matchesEverything { return true }
        return Glob.match(tokens[...], Array(text.unicodeScalars)[...])
    }

    /// A text matched against many globs: its scalars are taken once, not per glob.
    public struct Subject {
        public let text: String
        let scalars: [Unicode.Scalar]
        public init(_ text: String) {
            self.text = text
            scalars = Array(text.unicodeScalars)
        }
    }

    public func matches(_ s: Subject) -> Bool {
        if let literal { return literal == s.text }
        if matchesEverything { return true }
        return Glob.match(tokens[...], s.scalars[...])
    }

    /// Iterative wildcard matching with single-star backtracking: linear in
    /// practice and never exponential, whatever the pattern.
    static func match(_ p: ArraySlice<Token>, _ t: ArraySlice<Unicode.Scalar>) -> Bool {
        var pi = p.startIndex, ti = t.startIndex
        var starP = -1, starT = -1
        while ti < t.endIndex {
            if pi < p.endIndex {
                switch p[pi] {
                case .star:
                    starP = pi
                    starT = ti
                    pi += 1
                    continue
                case .any:
                    pi += 1; ti += 1
                    continue
                case .literal(let c) where c == t[ti]:
                    pi += 1; ti += 1
                    continue
                case .set(let negated, let items) where classMatches(items, t[ti]) != negated:
                    pi += 1; ti += 1
                    continue
                default:
                    break
                }
            }
            guard starP >= 0 else { return false }
            pi = starP + 1
            starT += 1
            ti = starT
        }
        while pi < p.endIndex, p[pi] == .star { pi += 1 }
        return pi == p.endIndex
    }

    static func classMatches(_ items: [ClassItem], _ c: Unicode.Scalar) -> Bool {
        items.contains { item in
            switch item {
            case .single(let x): x == c
            case .range(let lo, let hi): lo.value <= c.value && c.value <= hi.value
            }
        }
    }
}
