/// A POSIX shell parser (with the bash extensions agents use) that finds
/// every simple command a string can run, before it runs.
///
/// It does not evaluate anything. Each simple command comes out with its
/// words after quote removal; a word whose value depends on an expansion
/// (`$x`, `$(…)`, `` `…` ``, `${…}`, `$((…))`) is marked dynamic and keeps
/// its source text. Commands inside substitutions, here-documents, function
/// bodies and every branch of every compound command are found too: the gate
/// judges all of them, whichever would run.
public struct ShellWord: Sendable, Hashable {
    /// The value after quote removal, or the source text when dynamic.
    public var bytes: [UInt8]
    /// False when the value comes from an expansion and is known only at run time.
    public var isStatic: Bool
    /// Some part was quoted or escaped (so `'if'` is not a reserved word).
    public var quoted: Bool
    /// How many leading bytes of `bytes` were unquoted: `"x=1"` is a word,
    /// not an assignment.
    public var unquotedPrefix = Int.max

    public init(_ text: String, isStatic: Bool = true, quoted: Bool = false) {
        bytes = Array(text.utf8)
        self.isStatic = isStatic
        self.quoted = quoted
    }

    init(bytes: [UInt8], isStatic: Bool, quoted: Bool) {
        self.bytes = bytes
        self.isStatic = isStatic
        self.quoted = quoted
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

public struct ShellRedirection: Sendable, Hashable {
    /// `>`, `>>`, `<`, `<>`, `>|`, `&>`, `&>>`, `<<`, `<<-`, `<<<`, `<&`, `>&`.
    public var op: String
    public var fd: Int?
    public var target: ShellWord

    /// Writes (creates or truncates) the file named by `target`.
    public var writesFile: Bool {
        [">", ">>", ">|", "&>", "&>>", "<>"].contains(op) || (op == ">&" && !target.bytes.allSatisfy { $0 >= 0x30 && $0 <= 0x39 || $0 == 0x2D })
    }
}

public struct ShellCommand: Sendable, Hashable {
    public enum Context: String, Sendable, Equatable {
        case direct, substitution, function, hereDocument
    }

    public var assignments: [ShellWord] = []
    public var words: [ShellWord] = []
    public var redirections: [ShellRedirection] = []
    /// Byte offset of the command in the string.
    public var offset: Int
    public var context: Context
    /// It may run more than once: in a loop or a function body.
    public var repeats = false
}

public struct ShellScript: Sendable, Equatable {
    /// In source order (a substitution's commands come before the command
    /// that uses its output, as they run first).
    public var commands: [ShellCommand]
    /// Names of functions the string defines.
    public var functions: [String]
}

public struct ShellSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public var description: String { "at byte \(offset): \(message)" }
}

/// Which shell's grammar: POSIX (dash, /bin/sh) or bash. They differ where
/// it matters: in dash `((x))` is two subshells, `[[` a program name, `$'`
/// a dollar sign and a quote, and `&>` a background job and a redirection.
public enum ShellDialect: Sendable, Equatable {
    case posix
    case bash

    /// The dialect of the shell at `path`: bash for bash, POSIX for the rest.
    public static func of(shell path: String) -> ShellDialect {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name == "bash" ? .bash : .posix
    }
}

public enum ShellSyntax {
    public static let maxDepth = 100

    public static func parse(_ source: [UInt8], dialect: ShellDialect = .posix) throws(ShellSyntaxError) -> ShellScript {
        var p = ShellParser(bytes: removingLineContinuations(source), dialect: dialect)
        try p.parseProgram()
        return ShellScript(commands: p.commands, functions: p.functions)
    }

    public static func parse(_ source: String, dialect: ShellDialect = .posix) throws(ShellSyntaxError) -> ShellScript {
        try parse(Array(source.utf8), dialect: dialect)
    }

    /// Backslash-newline is removed before the shell tokenizes, everywhere but
    /// in single quotes, comments and the bodies of quoted here-documents: so
    /// `i\⏎f`, `&\⏎&` and `$\⏎(cmd)` read as `if`, `&&` and `$(cmd)`.
    static func removingLineContinuations(_ b: [UInt8]) -> [UInt8] {
        guard b.contains(0x0A), b.contains(0x5C) else { return b }
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        var inSingle = false, inDouble = false
        var pendingDocs: [(delimiter: [UInt8], quoted: Bool, strip: Bool)] = []
        func wordStart() -> Bool {
            guard let last = out.last else { return true }
            return ShellParser.isMeta(last)
        }
        while i < b.count {
            let c = b[i]
            if inSingle {
                out.append(c)
                if c == 0x27 { inSingle = false }
                i += 1
                continue
            }
            if c == 0x5C && i + 1 < b.count && b[i + 1] == 0x0A {
                i += 2
                continue
            }
            if c == 0x5C && i + 1 < b.count {
                out += [c, b[i + 1]]
                i += 2
                continue
            }
            if inDouble {
                if c == 0x22 { inDouble = false }
                out.append(c)
                i += 1
                continue
            }
            switch c {
            case 0x27:
                inSingle = true
            case 0x22:
                inDouble = true
            case 0x23 where wordStart():
                // A comment runs to the end of the line, untouched.
                while i < b.count && b[i] != 0x0A { out.append(b[i]); i += 1 }
                continue
            case 0x3C where i + 1 < b.count && b[i + 1] == 0x3C && !(i + 2 < b.count && b[i + 2] == 0x3C):
                // A here-document: note its delimiter for the end of the line.
                out += [0x3C, 0x3C]
                i += 2
                var strip = false
                if i < b.count && b[i] == 0x2D { strip = true; out.append(0x2D); i += 1 }
                while i < b.count && (b[i] == 0x20 || b[i] == 0x09) { out.append(b[i]); i += 1 }
                var delimiter: [UInt8] = []
                var quoted = false
                while i < b.count && !ShellParser.isMeta(b[i]) {
                    let d = b[i]
                    if d == 0x27 || d == 0x22 || d == 0x5C { quoted = true } else { delimiter.append(d) }
                    out.append(d)
                    i += 1
                }
                pendingDocs.append((delimiter, quoted, strip))
                continue
            case 0x0A where !pendingDocs.isEmpty:
                out.append(c)
                i += 1
                // The bodies follow: a quoted one is copied as it is.
                for doc in pendingDocs {
                    while i < b.count {
                        var end = i
                        while end < b.count && b[end] != 0x0A { end += 1 }
                        var line = b[i..<end]
                        if doc.strip { while line.first == 0x09 { line = line.dropFirst() } }
                        let body = Array(b[i..<min(end + 1, b.count)])
                        i = min(end + 1, b.count)
                        if Array(line) == doc.delimiter {
                            out += body
                            break
                        }
                        if doc.quoted {
                            out += body
                        } else {
                            out += removingLineContinuations(body)
                        }
                    }
                }
                pendingDocs = []
                continue
            default:
                break
            }
            out.append(c)
            i += 1
        }
        return out
    }

    static let reserved: Set<String> = [
        "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "in", "{", "}", "!",
    ]
    /// Reserved only in bash; in dash these are ordinary words (programs).
    static let bashReserved: Set<String> = ["select", "function", "[[", "]]", "time"]
}

struct ShellParser {
    let b: [UInt8]
    let bash: Bool
    var i = 0
    var depth = 0
    var commands: [ShellCommand] = []
    var functions: [String] = []
    var context: ShellCommand.Context = .direct
    /// Inside a loop or a function body, however deep.
    var repeating = false
    var pendingHereDocs: [(delimiter: [UInt8], stripTabs: Bool, expands: Bool)] = []

    init(bytes: [UInt8], dialect: ShellDialect = .posix) {
        b = bytes
        bash = dialect == .bash
    }

    // MARK: characters

    var atEnd: Bool { i >= b.count }
    func peek(_ k: Int = 0) -> UInt8? { i + k < b.count ? b[i + k] : nil }
    func at(_ s: String) -> Bool {
        let u = Array(s.utf8)
        return i + u.count <= b.count && Array(b[i..<i + u.count]) == u
    }

    func fail(_ m: String) -> ShellSyntaxError { ShellSyntaxError(offset: i, message: m) }

    static func isMeta(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x3B || c == 0x26 || c == 0x7C || c == 0x28 || c == 0x29 || c == 0x3C || c == 0x3E
    }

    /// Spaces, tabs, line continuations and comments; not newlines.
    mutating func skipBlanks() {
        while let c = peek() {
            if c == 0x20 || c == 0x09 {
                i += 1
            } else if c == 0x5C && peek(1) == 0x0A {
                i += 2
            } else if c == 0x23 {  // '#' starts a comment where a word would start
                while let d = peek(), d != 0x0A { _ = d; i += 1 }
            } else {
                return
            }
        }
    }

    /// Consumes one newline, then any here-document bodies it ends the line of.
    mutating func newline() throws(ShellSyntaxError) {
        i += 1
        let docs = pendingHereDocs
        pendingHereDocs = []
        for doc in docs { try readHereDoc(doc) }
    }

    mutating func skipNewlines() throws(ShellSyntaxError) {
        while true {
            skipBlanks()
            if peek() == 0x0A { try newline() } else { return }
        }
    }

    // MARK: operators and reserved words

    static let operators = [
        ";;&", "&>>", "<<-", "<<<", "&&", "||", ";;", ";&", "|&", "&>", ">>", "<<", "<>", "<&", ">&", ">|",
        ";", "&", "|", "(", ")", "<", ">",
    ]
    static let bashOperators: Set<String> = [";;&", "&>>", "<<<", ";&", "|&", "&>"]

    func peekOperator() -> String? {
        guard let c = peek(), ShellParser.isMeta(c), c != 0x20, c != 0x09, c != 0x0A else { return nil }
        return ShellParser.operators.first { at($0) && (bash || !ShellParser.bashOperators.contains($0)) }
    }

    /// The reserved word at the cursor, if the next word is one (unquoted,
    /// followed by a delimiter). Nothing is consumed.
    func peekReserved() -> String? {
        var j = i
        while j < b.count, !ShellParser.isMeta(b[j]) {
            let c = b[j]
            guard (c >= 0x61 && c <= 0x7A) || c == 0x7B || c == 0x7D || c == 0x21 || c == 0x5B || c == 0x5D else { return nil }
            j += 1
        }
        guard j > i else { return nil }
        let w = String(decoding: b[i..<j], as: UTF8.self)
        return ShellSyntax.reserved.contains(w) || (bash && ShellSyntax.bashReserved.contains(w)) ? w : nil
    }

    mutating func expectReserved(_ w: String) throws(ShellSyntaxError) {
        try skipNewlines()
        guard peekReserved() == w else { throw fail("expected '\(w)'") }
        i += w.utf8.count
    }

    mutating func enter() throws(ShellSyntaxError) {
        depth += 1
        if depth > ShellSyntax.maxDepth { throw fail("nested more than \(ShellSyntax.maxDepth) levels deep") }
    }

    // MARK: grammar

    mutating func parseProgram() throws(ShellSyntaxError) {
        if let stop = try parseList(stops: []) {
            throw fail("unexpected '\(stop)'")
        }
        if !atEnd { throw fail("unexpected '\(String(decoding: [b[i]], as: UTF8.self))'") }
    }

    /// Parses commands separated by `;`, `&` and newlines until a stop word,
    /// `)`, a case terminator or the end. Returns what stopped it (unconsumed).
    mutating func parseList(stops: Set<String>) throws(ShellSyntaxError) -> String? {
        try enter()
        defer { depth -= 1 }
        var parsedAny = false
        while true {
            try skipNewlines()
            if atEnd { return nil }
            if let op = peekOperator(), [")", ";;", ";&", ";;&"].contains(op) { return op }
            if let w = peekReserved(), stops.contains(w) || ["then", "fi", "do", "done", "esac", "}", "elif", "else"].contains(w) {
                return w
            }
            if let op = peekOperator(), op == ";" || op == "&" {
                throw fail(parsedAny ? "unexpected '\(op)'" : "a list cannot start with '\(op)'")
            }
            try parseAndOr()
            parsedAny = true
            skipBlanks()
            if let op = peekOperator(), op == ";" || op == "&" {
                i += 1
            } else if peek() == 0x0A || atEnd {
                continue
            } else if let op = peekOperator(), [")", ";;", ";&", ";;&"].contains(op) {
                return op
            } else if let w = peekReserved(), stops.contains(w) || w == "}" {
                return w
            } else {
                throw fail("unexpected text after a command")
            }
        }
    }

    mutating func parseAndOr() throws(ShellSyntaxError) {
        try parsePipeline()
        while true {
            skipBlanks()
            guard let op = peekOperator(), op == "&&" || op == "||" else { return }
            i += 2
            try skipNewlines()
            try parsePipeline()
        }
    }

    mutating func parsePipeline() throws(ShellSyntaxError) {
        skipBlanks()
        if peekReserved() == "time" {
            i += 4
            skipBlanks()
            if at("-p ") { i += 2 }
            skipBlanks()
        }
        if peekReserved() == "!" {
            i += 1
            skipBlanks()
        }
        try parseCommand()
        while true {
            skipBlanks()
            guard let op = peekOperator(), op == "|" || op == "|&" else { return }
            i += op.utf8.count
            try skipNewlines()
            try parseCommand()
        }
    }

    mutating func parseCommand() throws(ShellSyntaxError) {
        try enter()
        defer { depth -= 1 }
        skipBlanks()
        if bash && at("((") {
            try readArithmetic(open: 2)
            try parseRedirections()
            return
        }
        if peekOperator() == "(" {
            i += 1
            let stop = try parseList(stops: [])
            guard stop == ")" else { throw fail("expected ')' to close a subshell") }
            i += 1
            try parseRedirections()
            return
        }
        switch peekReserved() {
        case "{"?:
            i += 1
            let stop = try parseList(stops: ["}"])
            guard stop == "}" else { throw fail("expected '}'") }
            i += 1
        case "if"?:
            i += 2
            _ = try parseList(stops: ["then"])
            try expectReserved("then")
            var stop = try parseList(stops: ["elif", "else", "fi"])
            while stop == "elif" {
                i += 4
                _ = try parseList(stops: ["then"])
                try expectReserved("then")
                stop = try parseList(stops: ["elif", "else", "fi"])
            }
            if stop == "else" {
                i += 4
                stop = try parseList(stops: ["fi"])
            }
            try expectReserved("fi")
        case "while"?, "until"?:
            i += 5
            let saved = repeating
            repeating = true
            defer { repeating = saved }
            _ = try parseList(stops: ["do"])
            try parseDoGroup()
        case "for"?, "select"?:
            i += peekReserved() == "for" ? 3 : 6
            let saved = repeating
            repeating = true
            defer { repeating = saved }
            try parseFor()
        case "case"?:
            i += 4
            try parseCase()
        case "function"?:
            i += 8
            skipBlanks()
            guard let name = try readWord() else { throw fail("expected a function name") }
            functions.append(name.text)
            skipBlanks()
            if at("()") { i += 2 }
            try parseFunctionBody()
            return
        case "[["?:
            i += 2
            try parseConditional()
        case let w? where ["then", "fi", "do", "done", "esac", "}", "elif", "else", "in", "]]"].contains(w):
            throw fail("unexpected '\(w)'")
        default:
            try parseSimpleCommand()
            return
        }
        try parseRedirections()
    }

    mutating func parseDoGroup() throws(ShellSyntaxError) {
        try skipNewlines()
        if peekReserved() == "{" {  // bash accepts a brace group as a for/while body
            try parseCommand()
            return
        }
        try expectReserved("do")
        let stop = try parseList(stops: ["done"])
        guard stop == "done" else { throw fail("expected 'done'") }
        i += 4
    }

    mutating func parseFor() throws(ShellSyntaxError) {
        skipBlanks()
        if bash && at("((") {
            try readArithmetic(open: 2)
        } else {
            guard let name = try readWord(), name.isStatic else { throw fail("expected a variable name after 'for'") }
            _ = name
            try skipNewlines()
            if peekReserved() == "in" {
                i += 2
                while true {
                    skipBlanks()
                    if peek() == 0x0A || atEnd { break }
                    if peekOperator() == ";" { break }
                    guard (try readWord()) != nil else { throw fail("unexpected text in a for list") }
                }
            }
        }
        skipBlanks()
        if peekOperator() == ";" { i += 1 }
        try parseDoGroup()
    }

    mutating func parseCase() throws(ShellSyntaxError) {
        skipBlanks()
        guard (try readWord()) != nil else { throw fail("expected a word after 'case'") }
        try expectReserved("in")
        while true {
            try skipNewlines()
            if peekReserved() == "esac" {
                i += 4
                return
            }
            if atEnd { throw fail("expected 'esac'") }
            if peekOperator() == "(" { i += 1 }
            // Patterns: words separated by '|', up to ')'.
            while true {
                skipBlanks()
                guard (try readWord()) != nil else { throw fail("expected a case pattern") }
                skipBlanks()
                if peekOperator() == "|" { i += 1; continue }
                guard peekOperator() == ")" else { throw fail("expected ')' after a case pattern") }
                i += 1
                break
            }
            let stop = try parseList(stops: ["esac"])
            if let stop, [";;", ";&", ";;&"].contains(stop) {
                i += stop.utf8.count
            } else if stop != "esac" {
                throw fail("expected ';;' or 'esac'")
            }
        }
    }

    /// `[[ … ]]`: words and operators up to `]]`; substitutions inside are found.
    mutating func parseConditional() throws(ShellSyntaxError) {
        while true {
            skipBlanks()
            if peek() == 0x0A { try newline(); continue }
            if atEnd { throw fail("expected ']]'") }
            if peekReserved() == "]]" {
                i += 2
                return
            }
            if let op = peekOperator() {
                i += op.utf8.count
                continue
            }
            guard (try readWord()) != nil else { throw fail("unexpected text in [[ ]]") }
        }
    }

    mutating func parseFunctionBody() throws(ShellSyntaxError) {
        try skipNewlines()
        let saved = (context, repeating)
        (context, repeating) = (.function, true)
        defer { (context, repeating) = saved }
        try parseCommand()
    }

    mutating func parseRedirections() throws(ShellSyntaxError) {
        while true {
            skipBlanks()
            guard try readRedirection() != nil else { return }
        }
    }

    /// A redirection at the cursor (with its optional fd number), or nil.
    mutating func readRedirection() throws(ShellSyntaxError) -> ShellRedirection? {
        let start = i
        var fd: Int?
        var j = i
        while j < b.count, b[j] >= 0x30 && b[j] <= 0x39 { j += 1 }
        if j > i, j < b.count, b[j] == 0x3C || b[j] == 0x3E {
            fd = Int(String(decoding: b[i..<j], as: UTF8.self))
            i = j
        }
        guard let op = peekOperator(), ["<", ">", ">>", "<>", ">|", "&>", "&>>", "<<", "<<-", "<<<", "<&", ">&"].contains(op) else {
            i = start
            return nil
        }
        // `<(` and `>(` are process substitutions, read as words.
        if bash && (op == "<" || op == ">") && peek(1) == 0x28 {
            i = start
            return nil
        }
        i += op.utf8.count
        skipBlanks()
        guard let target = try readWord() else { throw fail("expected a word after '\(op)'") }
        if op == "<<" || op == "<<-" {
            pendingHereDocs.append((target.bytes, op == "<<-", !target.quoted))
        }
        return ShellRedirection(op: op, fd: fd, target: target)
    }

    mutating func parseSimpleCommand() throws(ShellSyntaxError) {
        // Commands found in this command's words (substitutions) are recorded
        // as they are read, before this one: they run first.
        var cmd = ShellCommand(offset: i, context: context)
        cmd.repeats = repeating
        while true {
            skipBlanks()
            if atEnd || peek() == 0x0A { break }
            if let r = try readRedirection() {
                cmd.redirections.append(r)
                continue
            }
            if let op = peekOperator() {
                // A process substitution is a word; every other operator ends the command.
                if !(bash && (op == "<" || op == ">") && peek(1) == 0x28) { break }
            }
            guard let word = try readWord(allowAssignmentArray: cmd.words.isEmpty) else { break }
            if cmd.words.isEmpty && isAssignment(word) {
                cmd.assignments.append(word)
                continue
            }
            cmd.words.append(word)
            // name() compound-command: a function definition.
            if cmd.words.count == 1 && cmd.assignments.isEmpty {
                let save = i
                skipBlanks()
                if at("()") || at("( )") {
                    i += at("()") ? 2 : 3
                    functions.append(word.text)
                    try parseFunctionBody()
                    return
                }
                i = save
            }
        }
        if cmd.words.isEmpty && cmd.assignments.isEmpty && cmd.redirections.isEmpty {
            throw fail(atEnd ? "unexpected end of the string" : "expected a command")
        }
        commands.append(cmd)
    }

    func isAssignment(_ w: ShellWord) -> Bool {
        guard let eq = w.bytes.firstIndex(of: 0x3D), eq > 0, eq < w.unquotedPrefix else { return false }
        var name = w.bytes[..<eq]
        if name.last == 0x2B { name = name.dropLast() }  // NAME+=
        guard let first = name.first, !(first >= 0x30 && first <= 0x39) else { return false }
        return name.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }

    // MARK: words

    /// Reads one word: quotes removed, expansions found (their commands
    /// recorded) and marked dynamic. Nil at an operator, a newline or the end.
    mutating func readWord(allowAssignmentArray: Bool = false) throws(ShellSyntaxError) -> ShellWord? {
        let start = i
        var out: [UInt8] = []
        var isStatic = true
        var quoted = false
        var firstQuote: Int?
        while let c = peek() {
            if firstQuote == nil && (c == 0x5C || c == 0x27 || c == 0x22 || (c == 0x24 && (peek(1) == 0x27 || peek(1) == 0x22))) {
                firstQuote = out.count
            }
            if ShellParser.isMeta(c) {
                // Process substitution <(…) / >(…) inside or as a word.
                if bash && (c == 0x3C || c == 0x3E) && peek(1) == 0x28 {
                    i += 2
                    try parseSubstitutionBody(close: 0x29)
                    isStatic = false
                    continue
                }
                // NAME=( … ): a bash array assignment.
                if bash && c == 0x28 && allowAssignmentArray && out.last == 0x3D && isStatic {
                    try skipBalanced()
                    isStatic = false
                    continue
                }
                break
            }
            switch c {
            case 0x5C:  // backslash
                quoted = true
                if peek(1) == 0x0A {
                    i += 2
                } else if let n = peek(1) {
                    out.append(n)
                    i += 2
                } else {
                    out.append(c)
                    i += 1
                }
            case 0x27:  // 'single'
                quoted = true
                i += 1
                guard let end = b[i...].firstIndex(of: 0x27) else { throw fail("unterminated single quote") }
                out += b[i..<end]
                i = end + 1
            case 0x22:  // "double"
                quoted = true
                i += 1
                if !(try readDoubleQuoted(into: &out)) { isStatic = false }
            case 0x60:  // `backquote`
                i += 1
                try readBackquoted()
                isStatic = false
            case 0x24:  // $
                if bash && peek(1) == 0x27 {
                    quoted = true
                    i += 2
                    try readANSIC(into: &out)
                } else if bash && peek(1) == 0x22 {
                    quoted = true
                    i += 2
                    if !(try readDoubleQuoted(into: &out)) { isStatic = false }
                } else if try readDollar() {
                    isStatic = false
                } else {
                    out.append(c)
                    i += 1
                }
            default:
                out.append(c)
                i += 1
            }
        }
        guard i > start else { return nil }
        var word = ShellWord(bytes: isStatic ? out : Array(b[start..<i]), isStatic: isStatic, quoted: quoted)
        word.unquotedPrefix = firstQuote ?? Int.max
        return word
    }

    /// Inside "…": returns false if an expansion made the value dynamic.
    mutating func readDoubleQuoted(into out: inout [UInt8]) throws(ShellSyntaxError) -> Bool {
        var isStatic = true
        while true {
            guard let c = peek() else { throw fail("unterminated double quote") }
            switch c {
            case 0x22:
                i += 1
                return isStatic
            case 0x5C:
                if let n = peek(1), n == 0x24 || n == 0x60 || n == 0x22 || n == 0x5C || n == 0x0A {
                    if n != 0x0A { out.append(n) }
                    i += 2
                } else {
                    out.append(c)
                    i += 1
                }
            case 0x60:
                i += 1
                try readBackquoted()
                isStatic = false
            case 0x24:
                if try readDollar() { isStatic = false } else { out.append(c); i += 1 }
            default:
                out.append(c)
                i += 1
            }
        }
    }

    /// At `$`: consumes an expansion and returns true, or returns false for a
    /// literal dollar.
    mutating func readDollar() throws(ShellSyntaxError) -> Bool {
        guard let n = peek(1) else { return false }
        if n == 0x28 {
            if peek(2) == 0x28 {
                i += 1
                try readArithmetic(open: 2)
                return true
            }
            i += 2
            try parseSubstitutionBody(close: 0x29)
            return true
        }
        if n == 0x7B {
            i += 2
            try readBraceExpansion()
            return true
        }
        let isName = (n >= 0x41 && n <= 0x5A) || (n >= 0x61 && n <= 0x7A) || n == 0x5F
        if isName {
            i += 1
            while let c = peek(), (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F { i += 1 }
            return true
        }
        if (n >= 0x30 && n <= 0x39) || "@*#?-$!".utf8.contains(n) {
            i += 2
            return true
        }
        return false
    }

    /// `$( … )` or `<( … )`: the inside is a script of its own.
    mutating func parseSubstitutionBody(close: UInt8) throws(ShellSyntaxError) {
        let saved = context
        context = .substitution
        defer { context = saved }
        let stop = try parseList(stops: [])
        guard stop == ")" else { throw fail("expected ')' to close a command substitution") }
        i += 1
    }

    /// `` `…` ``: unescape, then parse the text as a script.
    mutating func readBackquoted() throws(ShellSyntaxError) {
        var inner: [UInt8] = []
        while true {
            guard let c = peek() else { throw fail("unterminated backquote") }
            i += 1
            if c == 0x60 { break }
            if c == 0x5C, let n = peek(), n == 0x60 || n == 0x5C || n == 0x24 {
                inner.append(n)
                i += 1
                continue
            }
            inner.append(c)
        }
        try parseNested(inner, context: .substitution)
    }

    mutating func parseNested(_ text: [UInt8], context ctx: ShellCommand.Context) throws(ShellSyntaxError) {
        try enter()
        defer { depth -= 1 }
        var sub = ShellParser(bytes: text, dialect: bash ? .bash : .posix)
        sub.depth = depth
        sub.context = ctx
        sub.repeating = repeating
        do {
            try sub.parseProgram()
        } catch {
            throw ShellSyntaxError(offset: i, message: "in a substitution: \(error.message)")
        }
        commands += sub.commands
        functions += sub.functions
    }

    /// `${ … }`: up to the matching brace; substitutions inside are parsed.
    mutating func readBraceExpansion() throws(ShellSyntaxError) {
        var depthHere = 1
        while true {
            guard let c = peek() else { throw fail("unterminated ${") }
            switch c {
            case 0x7D:
                i += 1
                depthHere -= 1
                if depthHere == 0 { return }
            case 0x5C: i += 2
            // Single quotes are not quoting here: inside "${…}" dash takes them
            // literally and runs a $(…) between them, so every $(…) is parsed.
            case 0x22:
                i += 1
                var scratch: [UInt8] = []
                _ = try readDoubleQuoted(into: &scratch)
            case 0x60:
                i += 1
                try readBackquoted()
            case 0x24:
                if peek(1) == 0x7B {
                    i += 2
                    depthHere += 1
                } else if !(try readDollar()) {
                    i += 1
                }
            default: i += 1
            }
        }
    }

    /// `((…))` or `$((…))`: balanced parentheses; substitutions inside are parsed.
    mutating func readArithmetic(open: Int) throws(ShellSyntaxError) {
        if peek() == 0x24 { i += 1 }
        i += open
        var level = open
        while level > 0 {
            guard let c = peek() else { throw fail("unterminated arithmetic expression") }
            if c == 0x28 { level += 1; i += 1 }
            else if c == 0x29 { level -= 1; i += 1 }
            else if c == 0x24, peek(1) == 0x28, peek(2) != 0x28 { i += 2; try parseSubstitutionBody(close: 0x29) }
            else if c == 0x60 { i += 1; try readBackquoted() }
            else { i += 1 }
        }
    }

    /// `( … )` of an array assignment: balanced, quotes respected.
    mutating func skipBalanced() throws(ShellSyntaxError) {
        i += 1
        while true {
            skipBlanks()
            if peek() == 0x0A { try newline(); continue }
            guard let c = peek() else { throw fail("unterminated array assignment") }
            if c == 0x29 { i += 1; return }
            guard (try readWord()) != nil else { throw fail("unexpected text in an array assignment") }
        }
    }

    /// `$'…'`: ANSI-C escapes, decoded to bytes.
    mutating func readANSIC(into out: inout [UInt8]) throws(ShellSyntaxError) {
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        while true {
            guard let c = peek() else { throw fail("unterminated $'") }
            i += 1
            if c == 0x27 { return }
            guard c == 0x5C, let e = peek() else { out.append(c); continue }
            i += 1
            switch e {
            case 0x6E: out.append(0x0A)
            case 0x74: out.append(0x09)
            case 0x72: out.append(0x0D)
            case 0x61: out.append(0x07)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x76: out.append(0x0B)
            case 0x65, 0x45: out.append(0x1B)
            case 0x63:
                if let x = peek() { out.append(x & 0x1F); i += 1 }
            case 0x78:
                var v: UInt8 = 0, n = 0
                while n < 2, let d = peek().flatMap(hex) { v = v * 16 + d; i += 1; n += 1 }
                out.append(v)
            case 0x75, 0x55:
                var v: UInt32 = 0, n = 0
                while n < (e == 0x75 ? 4 : 8), let d = peek().flatMap(hex) { v = v * 16 + UInt32(d); i += 1; n += 1 }
                if let s = Unicode.Scalar(v) { out += Array(String(Character(s)).utf8) }
            case 0x30...0x37:
                var v = UInt32(e - 0x30), n = 1
                while n < 3, let d = peek(), d >= 0x30 && d <= 0x37 { v = v * 8 + UInt32(d - 0x30); i += 1; n += 1 }
                out.append(UInt8(truncatingIfNeeded: v))
            default: out.append(e)
            }
        }
    }

    // MARK: here-documents

    mutating func readHereDoc(_ doc: (delimiter: [UInt8], stripTabs: Bool, expands: Bool)) throws(ShellSyntaxError) {
        var body: [UInt8] = []
        while !atEnd {
            var end = i
            while end < b.count, b[end] != 0x0A { end += 1 }
            var line = b[i..<end]
            i = min(end + 1, b.count)
            if doc.stripTabs { while line.first == 0x09 { line = line.dropFirst() } }
            if Array(line) == doc.delimiter { break }
            body += line
            body.append(0x0A)
        }
        if doc.expands { try scanExpansions(body) }
    }

    /// Finds the substitutions in text read like the inside of "…" (an
    /// unquoted here-document) and parses them.
    mutating func scanExpansions(_ text: [UInt8]) throws(ShellSyntaxError) {
        var sub = ShellParser(bytes: text, dialect: bash ? .bash : .posix)
        sub.depth = depth
        sub.context = .hereDocument
        sub.repeating = repeating
        while let c = sub.peek() {
            if c == 0x5C { sub.i += 2; continue }
            if c == 0x60 { sub.i += 1; try sub.readBackquoted(); continue }
            if c == 0x24, try sub.readDollar() { continue }
            sub.i += 1
        }
        commands += sub.commands
    }
}
