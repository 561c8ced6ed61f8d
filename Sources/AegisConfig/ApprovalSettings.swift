import AegisPolicy

/// `approver:` — the HTTP endpoint asked when a rule says `approve`.
public struct ApproverSettings: Sendable, Equatable {
    public var url: EndpointURL
    /// Seconds the endpoint has to answer, pending polls included.
    public var timeoutSeconds: Double = 120
    /// HMAC-SHA256 key: requests are signed with it and responses must be.
    public var secretFile: String?
    /// Bearer token sent in `Authorization`.
    public var tokenFile: String?
    /// Plain http to a host that is not loopback; off unless the policy says so.
    public var allowHTTP = false
    /// CA bundle (PEM) for an https endpoint with a private CA.
    public var caFile: String?
    public var location: SourceLocation?

    public init(url: EndpointURL) { self.url = url }

    public static func == (a: ApproverSettings, b: ApproverSettings) -> Bool {
        a.url == b.url && a.timeoutSeconds == b.timeoutSeconds && a.secretFile == b.secretFile
            && a.tokenFile == b.tokenFile && a.allowHTTP == b.allowHTTP && a.caFile == b.caFile
    }
}

/// `prompt:` — how the terminal prompt behaves.
public struct PromptSettings: Sendable, Equatable {
    /// Seconds a person has to answer; no answer denies.
    public var timeoutSeconds: Double = 60
    /// Minutes an "approve for a while" answer lasts; 0 offers approve-once only.
    public var rememberMinutes: Int = 15
    public var location: SourceLocation?

    public init() {}

    public static func == (a: PromptSettings, b: PromptSettings) -> Bool {
        a.timeoutSeconds == b.timeoutSeconds && a.rememberMinutes == b.rememberMinutes
    }
}

/// An http(s) URL, split into the parts the gate checks: scheme, host, port, path.
public struct EndpointURL: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    /// Path and query, starting with '/'.
    public var path: String

    public var description: String {
        let defaultPort = scheme == "https" ? 443 : 80
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(h)\(port == defaultPort ? "" : ":\(port)")\(path)"
    }

    /// Same scheme, host and port: where a pending answer may be polled.
    public func sameOrigin(_ other: EndpointURL) -> Bool {
        scheme == other.scheme && host == other.host && port == other.port
    }

    /// Loopback only by address or the name `localhost`.
    public var isLoopback: Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    public enum ParseError: Error, Equatable, Sendable {
        case invalid(String)
    }

    /// Parses an absolute http or https URL. User info is refused: a
    /// credential belongs in `token_file`, not in a URL that ends up in logs.
    public init(_ text: String) throws(ParseError) {
        let scheme: String
        let rest: Substring
        if text.lowercased().hasPrefix("https://") {
            (scheme, rest) = ("https", text.dropFirst(8))
        } else if text.lowercased().hasPrefix("http://") {
            (scheme, rest) = ("http", text.dropFirst(7))
        } else {
            throw .invalid("it must start with https:// or http://")
        }
        let stops: Set<Character> = ["/", "?", "#"]
        let authorityEnd: Substring.Index = rest.firstIndex { (c: Character) -> Bool in stops.contains(c) } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        if path.isEmpty || path.first == "?" { path = "/" + path }
        guard !authority.contains("@") else { throw .invalid("it must not carry a user or password; use token_file") }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .invalid("unclosed '[' in the host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalid("unexpected text after the host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw .invalid("it has no host") }
        let hostOK = host.unicodeScalars.allSatisfy { (c: Unicode.Scalar) -> Bool in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "." || c == ":" || c == "_"
        }
        guard hostOK else {
            throw .invalid("the host '\(host)' has characters a host name cannot have")
        }
        var port = scheme == "https" ? 443 : 80
        if let p = portText {
            guard let n = Int(p), (1...65535).contains(n) else { throw .invalid("port '\(p)' is not 1-65535") }
            port = n
        }
        let pathOK = path.unicodeScalars.allSatisfy { (c: Unicode.Scalar) -> Bool in
            c.value > 0x20 && c.value < 0x7F && c != "\"" && c != "\\"
        }
        guard pathOK else {
            throw .invalid("the path has spaces, quotes or characters that must be percent-encoded")
        }
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = port
        self.path = path
    }

    /// A `Location` from a pending answer: absolute, or a path on this origin.
    public func resolving(_ reference: String) throws(ParseError) -> EndpointURL {
        if reference.hasPrefix("/") && !reference.hasPrefix("//") {
            var u = self
            u.path = ""
            return try EndpointURL(u.description + reference)
        }
        return try EndpointURL(reference)
    }
}
