import AegisPolicy

/// The gate's own options, read straight from the raw argv so the command's
/// bytes are never decoded and re-encoded: `[OPTIONS] [--] CMD [ARGS...]`.
/// Every option only adds (a policy layer, a param, an agent id); none removes
/// a layer or relaxes a decision.
struct GateArguments {
    var policies: [String] = []
    var agent: String?
    var params = JSONObject()
    var command: [[UInt8]] = []

    struct UsageError: Error {
        var message: String
    }

    static let valueOptions = ["--policy", "--agent", "--param", "--params"]

    static func parse(_ args: ArraySlice<[UInt8]>) throws(UsageError) -> GateArguments {
        var g = GateArguments()
        var i = args.startIndex
        func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
        while i < args.endIndex {
            let word = text(args[i])
            if word == "--" { i += 1; break }
            guard word.hasPrefix("-"), word != "-" else { break }
            var name = word
            var value: String?
            if let eq = word.firstIndex(of: "="), word.hasPrefix("--") {
                name = String(word[..<eq])
                value = String(word[word.index(after: eq)...])
            }
            guard valueOptions.contains(name) else {
                throw UsageError(message: "unknown option '\(name)'; options come before the command (use -- before a command that starts with '-'); see aegis-exec --help")
            }
            if value == nil {
                i += 1
                guard i < args.endIndex else { throw UsageError(message: "option \(name) needs a value") }
                value = text(args[i])
            }
            try g.apply(name, value!)
            i += 1
        }
        g.command = Array(args[i...])
        guard !g.command.isEmpty else {
            throw UsageError(message: "no command given; usage: aegis-exec [--policy FILE]... -- COMMAND [ARGS...]")
        }
        return g
    }

    mutating func apply(_ name: String, _ value: String) throws(UsageError) {
        switch name {
        case "--policy": policies.append(value)
        case "--agent": agent = value
        case "--param": try GateArguments.addParam(value, to: &params)
        case "--params": try GateArguments.addParams(value, to: &params)
        default: break
        }
    }

    /// `KEY=VALUE`: VALUE is a number or boolean when it reads as one in JSON,
    /// else a string. `--params` passes exact JSON types.
    static func addParam(_ text: String, to params: inout JSONObject) throws(UsageError) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw UsageError(message: "--param needs KEY=VALUE, got '\(text)'")
        }
        let key = String(text[..<eq])
        let raw = String(text[text.index(after: eq)...])
        try checkKey(key)
        switch try? JSON.parse(raw) {
        case .int(let v)?: params[key] = .int(v)
        case .double(let v)?: params[key] = .double(v)
        case .bool(let v)?: params[key] = .bool(v)
        default: params[key] = .string(raw)
        }
    }

    static func addParams(_ text: String, to params: inout JSONObject) throws(UsageError) {
        let value: JSON
        do { value = try JSON.parse(text) } catch {
            throw UsageError(message: "--params is not valid JSON: \(error.message) at byte \(error.offset)")
        }
        guard case .object(let o) = value else { throw UsageError(message: "--params must be a JSON object") }
        for (k, v) in o {
            try checkKey(k)
            params[k] = v
        }
    }

    /// The command's own facts (argv, path, ...) cannot be supplied by the caller.
    static func checkKey(_ key: String) throws(UsageError) {
        if CommandMapping.reservedParams.contains(key) {
            throw UsageError(message: "param '\(key)' is filled from the command itself and cannot be passed")
        }
    }
}
