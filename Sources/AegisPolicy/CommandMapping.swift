/// How a command line becomes an action. Entries are tried in order; the first
/// whose program and argument patterns match gives the type, target and extra
/// params. A command no entry matches gets the fallback action
/// `type: exec`, `target: <resolved path>`.
public enum CommandMapping {
    public static let fallbackType = "exec"

    public struct Entry: Sendable {
        /// Basename glob (matched against argv[0]'s basename and the resolved
        /// executable's), or a path glob when it contains '/' (matched against
        /// the resolved path).
        public var program: Glob
        /// Glob against the first positional argument (git push, kubectl delete).
        public var subcommand: Glob?
        /// Glob against all arguments joined by single spaces.
        public var args: Glob?
        public var type: String
        public var target: Template
        /// Options that take a value, so `-n prod` and `--context prod` are read
        /// as option values rather than positional arguments.
        public var valueOptions: Set<String>
        public var params: JSONObject
        public var location: SourceLocation?

        public init(
            program: Glob, subcommand: Glob? = nil, args: Glob? = nil, type: String,
            target: Template = Template.defaultTarget, valueOptions: Set<String> = [],
            params: JSONObject = JSONObject(), location: SourceLocation? = nil
        ) {
            self.program = program
            self.subcommand = subcommand
            self.args = args
            self.type = type
            self.target = target
            self.valueOptions = valueOptions
            self.params = params
            self.location = location
        }
    }

    /// The words of a command and where it runs: what was asked, before judging.
    public struct Command: Sendable {
        /// The exact argument bytes; never altered, only read.
        public var argv: [[UInt8]]
        public var cwd: String
        /// The executable as resolved (symlinks followed), or nil if not found.
        public var resolvedPath: String?

        public init(argv: [[UInt8]], cwd: String, resolvedPath: String?) {
            self.argv = argv
            self.cwd = cwd
            self.resolvedPath = resolvedPath
        }

        /// Arguments as text for matching; bytes that are not UTF-8 read as U+FFFD.
        public var words: [String] { argv.map { String(decoding: $0, as: UTF8.self) } }
        public var programName: String { basename(String(decoding: argv.first ?? [], as: UTF8.self)) }
    }

    /// Flags, option values and positional words of a command line, read the
    /// way getopt-style programs read them.
    public struct ParsedArguments: Equatable, Sendable {
        public var flags: [String] = []
        public var options = JSONObject()
        public var positional: [String] = []
    }

    public static func parseArguments(_ words: ArraySlice<String>, valueOptions: Set<String>) -> ParsedArguments {
        var out = ParsedArguments()
        func addFlag(_ f: String) { if !out.flags.contains(f) { out.flags.append(f) } }
        var i = words.startIndex
        var endOfOptions = false
        while i < words.endIndex {
            let w = words[i]
            i += 1
            if endOfOptions || w == "-" || !w.hasPrefix("-") || isNegativeNumber(w) {
                out.positional.append(w)
                continue
            }
            if w == "--" { endOfOptions = true; continue }
            if w.hasPrefix("--") {
                let body = w.dropFirst(2)
                if let eq = body.firstIndex(of: "=") {
                    let name = String(body[..<eq])
                    addFlag(name)
                    out.options[name] = .string(String(body[body.index(after: eq)...]))
                } else {
                    let name = String(body)
                    addFlag(name)
                    if valueOptions.contains(name), i < words.endIndex {
                        out.options[name] = .string(words[i])
                        i += 1
                    }
                }
                continue
            }
            // A cluster: -rf sets r and f; -n5 or -n 5 gives option n the value 5.
            var rest = Substring(w.dropFirst())
            while let c = rest.first {
                let name = String(c)
                rest = rest.dropFirst()
                addFlag(name)
                if valueOptions.contains(name) {
                    if !rest.isEmpty {
                        out.options[name] = .string(String(rest))
                    } else if i < words.endIndex {
                        out.options[name] = .string(words[i])
                        i += 1
                    }
                    break
                }
            }
        }
        return out
    }

    static func isNegativeNumber(_ w: String) -> Bool {
        w.count > 1 && w.dropFirst().allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
    }

    /// Maps a command to an action with the first matching entry, or the fallback.
    public static func action(
        for command: Command, entries: [Entry], agent: String? = nil, callerParams: JSONObject = JSONObject()
    ) -> (action: Action, entry: Entry?) {
        let words = command.words
        let program = command.programName
        let argsText = joined(words.dropFirst(), " ")
        // The file that runs decides first: a link named `ls` that points at rm
        // is mapped as rm. The name it was called by comes second (multi-call
        // binaries such as busybox are known only by that name).
        var passes: [(Entry) -> Bool] = [{ programMatches($0.program, program: program, path: command.resolvedPath) }]
        if let path = command.resolvedPath, basename(path) != program {
            passes.insert({ $0.program.pattern.utf8.contains(0x2F) ? $0.program.matches(path) : $0.program.matches(basename(path)) }, at: 0)
        }
        for matches in passes {
            for entry in entries where matches(entry) {
                let parsed = parseArguments(words.dropFirst(), valueOptions: entry.valueOptions)
                if let sub = entry.subcommand, !sub.matches(parsed.positional.first ?? "") { continue }
                if let args = entry.args, !args.matches(argsText) { continue }
                let params = baseParams(command, words: words, argsText: argsText, parsed: parsed, extra: entry.params,
                                        caller: callerParams)
                let action = Action(type: entry.type, target: entry.target.render(params), params: params, agent: agent)
                return (action, entry)
            }
        }
        let parsed = parseArguments(words.dropFirst(), valueOptions: [])
        let params = baseParams(command, words: words, argsText: argsText, parsed: parsed, extra: JSONObject(),
                                caller: callerParams)
        let target = command.resolvedPath ?? (words.first ?? "")
        return (Action(type: fallbackType, target: target, params: params, agent: agent), nil)
    }

    /// Params every command action carries; the names in `reservedParams`.
    static func baseParams(
        _ command: Command, words: [String], argsText: String, parsed: ParsedArguments, extra: JSONObject, caller: JSONObject
    ) -> JSONObject {
        var p = JSONObject()
        // Caller params first, so the command's own facts overwrite any attempt
        // to pass a different argv or path under the same names.
        for (k, v) in caller { p[k] = v }
        for (k, v) in extra { p[k] = v }
        p["argv"] = .array(words.map(JSON.string))
        p["args"] = .string(argsText)
        p["argc"] = .int(Int64(words.count))
        p["program"] = .string(basename(words.first ?? ""))
        p["path"] = command.resolvedPath.map(JSON.string) ?? .null
        p["cwd"] = .string(command.cwd)
        p["flags"] = .array(parsed.flags.map(JSON.string))
        p["options"] = .object(parsed.options)
        p["positional"] = .array(parsed.positional.map(JSON.string))
        p["paths"] = .array(parsed.positional.map { .string(normalizePath($0, cwd: command.cwd)) })
        return p
    }

    // A list, not a set: a set type costs a one-command process its first-use set-up.
    public static let reservedParams: [String] = [
        "argv", "args", "argc", "program", "path", "cwd", "flags", "options", "positional", "paths",
    ]

    public static func programMatches(_ glob: Glob, program: String, path: String?) -> Bool {
        programMatches(glob, program: program, path: path, pathBase: path.map(basename))
    }

    /// The same with the path's basename already taken (the evaluator tries
    /// one command against many rules).
    static func programMatches(_ glob: Glob, program: String, path: String?, pathBase: String?) -> Bool {
        if glob.pattern.utf8.contains(0x2F) {
            return path.map(glob.matches) ?? false
        }
        return glob.matches(program) || (pathBase.map(glob.matches) ?? false)
    }
}

extension CommandMapping {
    /// The last component of a path, as basename(1) gives it.
    public static func baseName(_ path: String) -> String { basename(path) }
}

/// On the bytes, as the kernel splits a path: every "/" byte separates, even
/// one a combining mark follows (a Character-level search would not see it).
func basename(_ path: String) -> String {
    var path = path
    return path.withUTF8 { u -> String in
        var end = u.count
        while end > 1 && u[end - 1] == 0x2F { end -= 1 }
        if end == 1 && u[0] == 0x2F { return "/" }
        var start = end
        while start > 0 && u[start - 1] != 0x2F { start -= 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: u[start..<end]), as: UTF8.self)
    }
}

/// Joins a path to the working directory and removes `.` and `..` lexically
/// (symlinks are not followed: this names what the command was asked to touch).
/// On the bytes, as the kernel reads a path: every "/" byte separates, even
/// one a combining mark follows (where a Character-level split would see no
/// "/", and keep a ".." the kernel climbs). It is also what keeps a command
/// with a hundred thousand paths quick.
public func normalizePath(_ path: String, cwd: String) -> String {
    var out: [UInt8] = []
    var starts: [Int] = []  // where each kept component's "/" stands in `out`
    func walk(_ text: String) {
        var text = text
        text.withUTF8 { b in
            var i = 0
            while i < b.count {
                while i < b.count && b[i] == 0x2F { i += 1 }
                var j = i
                while j < b.count && b[j] != 0x2F { j += 1 }
                let n = j - i
                if n == 1 && b[i] == 0x2E {
                    // "."
                } else if n == 2 && b[i] == 0x2E && b[i + 1] == 0x2E {
                    if let start = starts.popLast() { out.removeSubrange(start...) }
                } else if n > 0 {
                    starts.append(out.count)
                    out.append(0x2F)
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<j]))
                }
                i = j
            }
        }
    }
    if !path.utf8.starts(with: [0x2F]) { walk(cwd) }
    walk(path)
    return out.isEmpty ? "/" : String(decoding: out, as: UTF8.self)
}

/// Strings joined by a separator. The standard library's `joined` is generic
/// over the collection and costs a one-command process a runtime lookup of
/// its conformances the first time (about 30 µs on the gate's path).
func joined<S: StringProtocol>(_ parts: some Collection<S>, _ separator: String) -> String {
    var out = ""
    var first = true
    for part in parts {
        if !first { out += separator }
        out += part
        first = false
    }
    return out
}

/// A target or param template: `{name}` is replaced by a param's value (lists
/// joined by spaces), `{argN}` by argv[N], `{posN}` by the N-th positional
/// argument (from 1), `{options.NAME}` by an option's value; missing values
/// are empty. `{{` and `}}` are literal braces.
public struct Template: Sendable, Equatable, CustomStringConvertible {
    enum Piece: Sendable, Equatable {
        case text(String)
        case variable(String)
    }

    public let source: String
    let pieces: [Piece]
    public var description: String { source }

    public static let defaultTarget = try! Template("{path}")

    public struct SyntaxError: Error, Sendable, Equatable {
        public let message: String
    }

    public init(_ source: String) throws(SyntaxError) {
        self.source = source
        var pieces: [Piece] = []
        var text = ""
        var chars = Substring(source)
        while let c = chars.first {
            chars = chars.dropFirst()
            if c == "{" && chars.first == "{" { text.append("{"); chars = chars.dropFirst(); continue }
            if c == "}" && chars.first == "}" { text.append("}"); chars = chars.dropFirst(); continue }
            if c == "}" { throw SyntaxError(message: "unmatched '}' in template '\(source)' (write }} for a literal brace)") }
            guard c == "{" else { text.append(c); continue }
            guard let close = chars.firstIndex(of: "}") else {
                throw SyntaxError(message: "unclosed '{' in template '\(source)'")
            }
            let name = String(chars[..<close])
            guard Template.isKnownVariable(name) else {
                throw SyntaxError(message: "unknown variable {\(name)} in template '\(source)'; known: "
                    + CommandMapping.reservedParams.sorted().map { "{\($0)}" }.joined(separator: ", ")
                    + ", {argN}, {posN}, {options.NAME}")
            }
            if !text.isEmpty { pieces.append(.text(text)); text = "" }
            pieces.append(.variable(name))
            chars = chars[chars.index(after: close)...]
        }
        if !text.isEmpty { pieces.append(.text(text)) }
        self.pieces = pieces
    }

    static func isKnownVariable(_ name: String) -> Bool {
        if CommandMapping.reservedParams.contains(name) { return true }
        if name.hasPrefix("options."), name.count > 8 { return true }
        for prefix in ["arg", "pos"] where name.hasPrefix(prefix) {
            let n = name.dropFirst(3)
            if !n.isEmpty, n.allSatisfy({ $0.isASCII && $0.isNumber }) { return true }
        }
        return false
    }

    public func render(_ params: JSONObject) -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .text(let t): out += t
            case .variable(let name): out += Template.text(of: Template.lookup(name, in: params))
            }
        }
        return out
    }

    static func lookup(_ name: String, in params: JSONObject) -> JSON? {
        if let v = params[name] { return v }
        if name.hasPrefix("options."), case .object(let o)? = params["options"] {
            return o[String(name.dropFirst(8))]
        }
        if let n = Int(name.dropFirst(3)) {
            let list = name.hasPrefix("arg") ? params["argv"] : params["positional"]
            let index = name.hasPrefix("arg") ? n : n - 1
            if case .array(let a)? = list, index >= 0, index < a.count { return a[index] }
        }
        return nil
    }

    static func text(of value: JSON?) -> String {
        switch value {
        case nil, .null?: ""
        case .string(let s)?: s
        case .array(let a)?: a.map { text(of: $0) }.joined(separator: " ")
        case let v?: v.serialized
        }
    }
}
