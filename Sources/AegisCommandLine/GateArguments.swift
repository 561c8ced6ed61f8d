import AegisPolicy
import AegisRuntime

/// The gate's own options, read straight from the raw argv so the command's
/// bytes are never decoded and re-encoded: `[OPTIONS] [--] CMD [ARGS...]`.
/// Every option only adds (a policy layer, a param, an agent id); none removes
/// a layer or relaxes a decision.
package struct GateArguments {
    package var policies: [String] = []
    package var agent: String?
    package var params = JSONObject()
    package var command: [[UInt8]] = []
    /// Shell mode: `-c STRING [ARG0 [ARGS...]]`.
    package var shell: ShellRequest?

    package struct UsageError: Error {
        package var message: String
    }

    package static let valueOptions = GateOptionSyntax.valueOptions

    package static func parse(_ args: ArraySlice<[UInt8]>) throws(UsageError) -> GateArguments {
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
            if !valueOptions.contains(name) && isShellOption(word) {
                g.shell = try parseShell(args[i...])
                return g
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

    package static func isShellOption(_ word: String) -> Bool { GateOptionSyntax.isShellOption(word) }

    package static func parseShell(_ args: ArraySlice<[UInt8]>) throws(UsageError) -> ShellRequest {
        var options: [[UInt8]] = []
        var hasC = false
        var i = args.startIndex
        func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
        while i < args.endIndex {
            let w = text(args[i])
            if w == "--" { i += 1; break }
            // A login shell would first run /etc/profile and $HOME/.profile,
            // files the caller chooses and the gate does not judge: accepted, not passed on.
            if w == "--login" { i += 1; continue }
            if w == "-o" || w == "+o" {
                guard i + 1 < args.endIndex else { throw UsageError(message: "\(w) needs an option name") }
                options += [args[i], args[i + 1]]
                i += 2
                continue
            }
            guard isShellOption(w) else {
                if w.hasPrefix("-") && w.count > 1 && !hasC {
                    throw UsageError(message: "unknown shell option '\(w)'; as a shell, aegis-exec runs `-c STRING` (with -l, -e, -x, -o NAME ...)")
                }
                break
            }
            let letters = w.dropFirst().filter { $0 != "c" && $0 != "l" }
            if w.dropFirst().contains("c") { hasC = true }
            if !letters.isEmpty { options.append(Array((String(w.first!) + letters).utf8)) }
            i += 1
        }
        guard hasC else {
            throw UsageError(message: "as a shell, aegis-exec only runs strings given with -c; an interactive shell is not gated")
        }
        guard i < args.endIndex else { throw UsageError(message: "-c needs a command string") }
        return ShellRequest(string: args[i], options: options, positional: Array(args[(i + 1)...]))
    }

    package mutating func apply(_ name: String, _ value: String) throws(UsageError) {
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
    package static func addParam(_ text: String, to params: inout JSONObject) throws(UsageError) {
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

    package static func addParams(_ text: String, to params: inout JSONObject) throws(UsageError) {
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
    package static func checkKey(_ key: String) throws(UsageError) {
        if CommandMapping.reservedParams.contains(key) {
            throw UsageError(message: "param '\(key)' is filled from the command itself and cannot be passed")
        }
    }
}
