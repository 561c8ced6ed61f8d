/// Takes credentials out of what is written to the audit log (the command
/// itself still runs with every byte it was given). What is recognised:
/// - values of options and assignments named like secrets: `--password=x`,
///   `--token x`, `API_KEY=x`, `?access_token=x`;
/// - the value of `Authorization:`-style headers and of URL user:password@;
/// - tokens with a known shape: AWS key ids (AKIA…), GitHub (ghp_…,
///   github_pat_…), GitLab (glpat-…), Slack (xox?-…), `sk-…` API keys, JWTs,
///   PEM private keys;
/// - in params, the value of any key named like a secret;
/// - words matching a policy's own `audit.redact` patterns (the whole word).
public struct Redactor: Sendable {
    public static let marker = "[REDACTED]"
    public var patterns: [Pattern]

    public init(patterns: [Pattern] = []) { self.patterns = patterns }

    /// Whether a name (option, variable, header, param key) names a secret.
    public static func isSecretName(_ name: String) -> Bool {
        let n = name.lowercased().filter { $0 != "-" && $0 != "_" && $0 != "." }
        if n.isEmpty { return false }
        for word in ["password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey",
                     "signingkey", "encryptionkey", "masterkey", "credential", "authorization", "cookie", "sessionid"]
            where n.containsText(word) {
            return true
        }
        if ["pass", "pwd", "key", "auth", "oauth", "basicauth"].contains(n) { return true }
        // The last word of a compound name: STRIPE_KEY, --client-key, DB_PASS,
        // MYSQL_PWD; but not a key that orders or indexes data (--sort-key).
        let words = name.lowercased().split(whereSeparator: { $0 == "-" || $0 == "_" || $0 == "." })
        guard words.count >= 2, let last = words.last else { return false }
        if last == "pass" || last == "pwd" { return true }
        return last == "key" && !dataKeyWords.contains(String(words[words.count - 2]))
    }

    /// Words before "key" that name no secret.
    static let dataKeyWords: Set<String> = ["sort", "primary", "foreign", "partition", "group", "hash", "index", "cache", "row",
                                           "shard", "lookup", "map", "dedup", "idempotency", "public", "unique", "composite",
                                           "range", "routing", "object"]

    static let headerNames = ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token",
                              "private-token", "x-amz-security-token"]

    /// An argument list: each word on its own, and a word after a secret
    /// option that takes its value separately (`--password hunter2`).
    public func redact(words: [String]) -> [String] {
        var out: [String] = []
        var hideNext = false
        for w in words {
            if hideNext {
                out.append(Redactor.marker)
                hideNext = false
                continue
            }
            out.append(redact(word: w))
            if w.hasPrefix("-"), !w.utf8.contains(0x3D), Redactor.isSecretName(String(w.drop(while: { $0 == "-" }))) {
                hideNext = true
            }
        }
        return out
    }

    /// One argument or string value.
    public func redact(word: String) -> String {
        if patterns.contains(where: { $0.search(word) }) { return Redactor.marker }
        // Most words hold none of the bytes the rules below look for, and then
        // only their token shapes can apply. (Byte scans: with a long argument
        // list, these rules' Character-level searches were most of the gate's time.)
        if !Redactor.mayHoldSeparators(word) { return redactKnownTokens(word) }
        // A header: everything after the colon.
        if word.utf8.contains(0x3A), let colon = word.firstIndex(of: ":"),
           Redactor.headerNames.contains(String(word[..<colon]).lowercased().trimmingWhitespace()) {
            return String(word[...colon]) + " " + Redactor.marker
        }
        var w = word
        // NAME=value and --name=value.
        if w.utf8.contains(0x3D), let eq = w.firstIndex(of: "="), eq != w.startIndex {
            let name = String(w[..<eq].drop(while: { $0 == "-" }))
            if !name.utf8.contains(0x2F), !name.utf8.contains(0x20), Redactor.isSecretName(name) {
                return String(w[...eq]) + Redactor.marker
            }
        }
        // Words inside a longer string (a header given as one argument, a URL, args joined).
        if w.utf8.contains(0x20) {
            let parts = w.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            for i in parts.indices where parts[i].utf8.last == 0x3A {
                let lower = parts[i].lowercased()
                if Redactor.headerNames.contains(String(lower.dropLast())) {
                    let before = redact(words: Array(parts[..<i]))
                    let after = parts[(i + 1)...].contains { !$0.isEmpty } ? [Redactor.marker] : []
                    return (before + [parts[i]] + after).joined(separator: " ")
                }
            }
            let redacted = redact(words: parts)
            w = redacted.joined(separator: " ")
        }
        w = redactURLSecrets(w)
        w = redactKnownTokens(w)
        return w
    }

    /// Params: keys named like secrets lose their values; strings and lists
    /// of strings go through the word rules.
    public func redact(_ value: JSON, key: String? = nil) -> JSON {
        if let key, Redactor.isSecretName(key), value != .null { return .string(Redactor.marker) }
        switch value {
        case .string(let s): return .string(redact(word: s))
        case .array(let items):
            if items.allSatisfy({ $0.string != nil }) {
                return .array(redact(words: items.compactMap(\.string)).map(JSON.string))
            }
            return .array(items.map { redact($0) })
        case .object(let o):
            return .object(JSONObject(o.entries.map { ($0.key, redact($0.value, key: $0.key)) }))
        default: return value
        }
    }

    /// The secret parts of the words that redaction changed: what differs
    /// between each original and its redacted form. Values derived from the
    /// words (joined arguments, resolved paths, targets) are scrubbed of them.
    public static func fragments(original: [String], redacted: [String]) -> [String] {
        var out: [String] = []
        for (o, r) in zip(original, redacted) where o != r {
            let a = Array(o), b = Array(r)
            var prefix = 0
            while prefix < min(a.count, b.count), a[prefix] == b[prefix] { prefix += 1 }
            var suffix = 0
            while suffix < min(a.count, b.count) - prefix, a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
            let secret = String(a[prefix..<(a.count - suffix)])
            if secret.count >= 3 { out.append(secret) }
        }
        return out.sorted { $0.count > $1.count }
    }

    /// Replaces every occurrence of the fragments in the strings of a value.
    public static func scrub(_ value: JSON, _ fragments: [String]) -> JSON {
        if fragments.isEmpty { return value }
        switch value {
        case .string(let s): return .string(scrub(s, fragments))
        case .array(let items): return .array(items.map { scrub($0, fragments) })
        case .object(let o): return .object(JSONObject(o.entries.map { ($0.key, scrub($0.value, fragments)) }))
        default: return value
        }
    }

    public static func scrub(_ s: String, _ fragments: [String]) -> String {
        var out = s
        for f in fragments where out.containsText(f) { out = out.replacingAll(f, with: marker) }
        return out
    }

    /// Whether a word holds a byte that a header (`:`), an assignment (`=`),
    /// words inside it (space) or a URL's secrets (`?`, `@`) need.
    static func mayHoldSeparators(_ word: String) -> Bool {
        word.utf8.contains { $0 == 0x3A || $0 == 0x3D || $0 == 0x20 || $0 == 0x3F || $0 == 0x40 }
    }

    /// `scheme://user:password@host` and `?token=…&` in URLs.
    func redactURLSecrets(_ s: String) -> String {
        // Neither part applies without a "?" or a "://" in the bytes.
        guard s.utf8.contains(0x3F) || s.containsText("://") else { return s }
        var out = s
        if let scheme = out.range(of: "://"), let at = out[scheme.upperBound...].firstIndex(of: "@") {
            let userinfo = out[scheme.upperBound..<at]
            if let colon = userinfo.firstIndex(of: ":"), !userinfo.utf8.contains(0x2F) {
                out.replaceSubrange(out.index(after: colon)..<at, with: Redactor.marker)
            }
        }
        guard let q = out.firstIndex(of: "?") else { return out }
        var query = out[out.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map(String.init)
        for i in query.indices {
            if let eq = query[i].firstIndex(of: "="), Redactor.isSecretName(String(query[i][..<eq])) {
                var end = query[i].endIndex
                if let stop = query[i][eq...].firstIndex(where: { $0 == " " || $0 == "#" }) { end = stop }
                query[i].replaceSubrange(query[i].index(after: eq)..<end, with: Redactor.marker)
            }
        }
        return String(out[...q]) + query.joined(separator: "&")
    }

    struct TokenShape: Sendable {
        enum Alphabet: Sendable { case upperOrDigit, alnum, token, tokenOrDot }
        let prefix: [UInt8]
        let minLength: Int
        let alphabet: Alphabet

        func allows(_ c: UInt8) -> Bool {
            let alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            switch alphabet {
            case .upperOrDigit: return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A)
            case .alnum: return alnum
            case .token: return alnum || c == 0x5F || c == 0x2D
            case .tokenOrDot: return alnum || c == 0x5F || c == 0x2D || c == 0x2E
            }
        }
    }

    static func shape(_ prefix: String, _ minLength: Int, _ alphabet: TokenShape.Alphabet) -> TokenShape {
        TokenShape(prefix: Array(prefix.utf8), minLength: minLength, alphabet: alphabet)
    }

    static let shapes: [TokenShape] = [
        shape("AKIA", 16, .upperOrDigit), shape("ASIA", 16, .upperOrDigit),
        shape("ghp_", 30, .alnum), shape("gho_", 30, .alnum), shape("ghu_", 30, .alnum), shape("ghs_", 30, .alnum),
        shape("ghr_", 30, .alnum), shape("github_pat_", 20, .token), shape("glpat-", 20, .token),
        shape("xoxb-", 10, .token), shape("xoxp-", 10, .token), shape("xoxa-", 10, .token), shape("xoxr-", 10, .token),
        shape("xoxs-", 10, .token), shape("sk-", 20, .token), shape("eyJ", 20, .tokenOrDot),
    ]
    /// The first byte of every shape's prefix (RedactionTests holds it to
    /// `shapes`): a static string, because a set built from `shapes` at the
    /// first word of every command, and hashing each byte into it, was a
    /// short process's first-use work.
    static let shapeStartBytes: StaticString = "Agxse"

    static func mayStartShape(_ b: UInt8) -> Bool {
        let starts = UnsafeBufferPointer(start: shapeStartBytes.utf8Start, count: shapeStartBytes.utf8CodeUnitCount)
        return starts.contains(b)
    }

    /// Tokens recognisable by their shape, wherever they stand (on bytes:
    /// every shape is ASCII).
    func redactKnownTokens(_ s: String) -> String {
        if s.utf8.contains(0x2D), s.containsText("-----BEGIN") && s.containsText("PRIVATE KEY") { return Redactor.marker }
        // Most words have no shape's first letter at a token's start: nothing to copy.
        let tokenChar = TokenShape(prefix: [], minLength: 0, alphabet: .token)
        var previous: UInt8 = 0x20
        var mayMatch = false
        for b in s.utf8 {
            if Redactor.mayStartShape(b), !tokenChar.allows(previous) {
                mayMatch = true
                break
            }
            previous = b
        }
        guard mayMatch else { return s }
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        var changed = false
        var i = 0
        while i < bytes.count {
            if Redactor.mayStartShape(bytes[i]), i == 0 || !tokenChar.allows(bytes[i - 1]) {
                var matchedEnd: Int?
                for shape in Redactor.shapes where bytes[i...].starts(with: shape.prefix) {
                    var j = i + shape.prefix.count
                    while j < bytes.count, shape.allows(bytes[j]) { j += 1 }
                    if j - i - shape.prefix.count >= shape.minLength {
                        matchedEnd = j
                        break
                    }
                }
                if let end = matchedEnd {
                    out += Array(Redactor.marker.utf8)
                    i = end
                    changed = true
                    continue
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return changed ? String(decoding: out, as: UTF8.self) : s
    }
}

extension String {
    /// Without leading and trailing whitespace (no Foundation on the gate's path).
    public func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    /// Every occurrence of `needle` replaced (no Foundation on the gate's path).
    public func replacingAll(_ needle: String, with replacement: String) -> String {
        guard !needle.isEmpty else { return self }
        var out = ""
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) {
                out += replacement
                i = index(i, offsetBy: needle.count)
            } else {
                out.append(self[i])
                i = index(after: i)
            }
        }
        return out
    }

    /// Substring search on the UTF-8 bytes. The standard library's
    /// `contains(_: StringProtocol)` builds a search table whose generic
    /// metadata costs a conformance scan at the first call, on every command.
    func containsText(_ needle: String) -> Bool {
        let h = Array(utf8), n = Array(needle.utf8)
        guard !n.isEmpty else { return true }
        guard h.count >= n.count else { return false }
        for i in 0...(h.count - n.count) where h[i] == n[0] {
            var k = 1
            while k < n.count && h[i + k] == n[k] { k += 1 }
            if k == n.count { return true }
        }
        return false
    }

    func range(of needle: String) -> Range<String.Index>? {
        guard !needle.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}
