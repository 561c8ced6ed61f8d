/// From a parsed shell string to the commands the gate judges: every simple
/// command, the commands that wrappers (env, sudo, xargs, find -exec, sh -c,
/// a nested aegis-exec …) would run, the files redirections write, and what
/// cannot be known before it runs.
public struct ShellAnalysis: Sendable {
    public struct Item: Sendable, Equatable {
        /// The words; a dynamic word keeps its source text (`$HOME`).
        public var argv: [[UInt8]]
        /// The wrappers it was found in, outermost first (`env`, `sh -c`, `find -exec`).
        public var via: [String]
        /// Why what runs here cannot be known before it runs, if so.
        public var unknowable: String?
        public var context: ShellCommand.Context

        public var programIsStatic: Bool { unknowable == nil }
    }

    public var items: [Item]
    public var functions: [String]
    public var analyzable: Bool { items.allSatisfy { $0.unknowable == nil } }

    public static let maxWrapping = 16
    /// More commands than this in one string are not judged one by one (each
    /// costs a judgement): the string is then unanalyzable as a whole.
    public static let maxCommands = 10_000

    /// `home`: what an unquoted leading `~` stands for (the shell's $HOME).
    public static func analyze(_ source: [UInt8], dialect: ShellDialect = .posix, home: String? = nil) throws(ShellSyntaxError) -> ShellAnalysis {
        var a = Analyzer()
        a.dialect = dialect
        a.home = home.map { Array($0.utf8) }
        try a.script(source, via: [], depth: 0)
        if a.items.count > maxCommands {
            let why = "the string has \(a.items.count) commands, more than the \(maxCommands) judged one by one"
            return ShellAnalysis(items: [Item(argv: [Array(source.prefix(200))], via: [], unknowable: why, context: .direct)],
                                 functions: a.functions)
        }
        return ShellAnalysis(items: a.items, functions: a.functions)
    }

    public static func analyze(_ source: String, dialect: ShellDialect = .posix, home: String? = nil) throws(ShellSyntaxError) -> ShellAnalysis {
        try analyze(Array(source.utf8), dialect: dialect, home: home)
    }
}

struct Analyzer {
    var items: [ShellAnalysis.Item] = []
    var functions: [String] = []
    /// The grammar of the shell that runs the string being read.
    var dialect: ShellDialect = .posix
    var home: [UInt8]?

    /// `~` and `~/…`, unquoted at the start of a word, as the shell expands them.
    func expandingTilde(_ w: Word) -> Word {
        guard let home, w.isStatic, w.bytes.first == 0x7E, w.unquotedPrefix >= 1,
              w.bytes.count == 1 || w.bytes[1] == 0x2F else { return w }
        var out = w
        out.bytes = home + w.bytes.dropFirst()
        return out
    }

    typealias Word = ShellWord

    mutating func script(_ source: [UInt8], via: [String], depth: Int) throws(ShellSyntaxError) {
        guard depth <= ShellAnalysis.maxWrapping else {
            items.append(.init(argv: [source], via: via, unknowable: "commands nested more than \(ShellAnalysis.maxWrapping) levels deep", context: .direct))
            return
        }
        let parsed = try ShellSyntax.parse(source, dialect: dialect)
        functions += parsed.functions
        for c in parsed.commands {
            // Files a redirection writes are judged as writes (`tee FILE`).
            for r in c.redirections where r.writesFile && r.target.bytes != Array("/dev/null".utf8) {
                items.append(.init(argv: [Array("tee".utf8), expandingTilde(r.target).bytes], via: via + ["redirection \(r.op)"],
                                   unknowable: nil, context: c.context))
            }
            // Variables that change what a name runs, or what runs first:
            // the program judged would not be the program that runs.
            let assigned = c.assignments + (c.words.first.map { ["export", "readonly", "declare", "typeset", "local"].contains($0.text) } == true
                ? Array(c.words.dropFirst()) : [])
            if let risky = assigned.first(where: { Self.changesWhatRuns($0) }) {
                items.append(.init(argv: c.words.map(\.bytes).isEmpty ? [risky.bytes] : c.words.map(\.bytes), via: via,
                                   unknowable: "it sets \(String(decoding: risky.bytes.prefix { $0 != 0x3D }, as: UTF8.self)), which changes what commands run",
                                   context: c.context))
            }
            if !c.words.isEmpty { try command(c.words.map(expandingTilde), via: via, context: c.context, depth: depth) }
        }
    }

    /// A shell string given to a wrapper (`sh -c S`, `eval S`, `watch S`).
    mutating func shellString(_ w: Word, via: [String], context: ShellCommand.Context, depth: Int, what: String) throws(ShellSyntaxError) {
        guard w.isStatic else {
            items.append(.init(argv: [w.bytes], via: via, unknowable: "\(what) of a string known only at run time", context: context))
            return
        }
        try script(w.bytes, via: via, depth: depth + 1)
    }

    mutating func command(_ words: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        guard depth <= ShellAnalysis.maxWrapping else {
            items.append(.init(argv: words.map(\.bytes), via: via, unknowable: "commands nested more than \(ShellAnalysis.maxWrapping) levels deep", context: context))
            return
        }
        guard let first = words.first else { return }
        guard first.isStatic else {
            items.append(.init(argv: words.map(\.bytes), via: via, unknowable: "the command name comes from an expansion (\(first.text))", context: context))
            return
        }
        let name = Self.baseName(first.bytes)
        let rest = Array(words.dropFirst())
        items.append(.init(argv: words.map(\.bytes), via: via, unknowable: nil, context: context))
        let inner = via + [name]
        switch name {
        case "eval":
            if rest.isEmpty { return }
            if rest.allSatisfy(\.isStatic) {
                let joined = Array(rest.map(\.bytes).joined(separator: [0x20]))
                try script(joined, via: inner, depth: depth + 1)
            } else {
                markUnknowable("eval of a string known only at run time")
            }
        case "source", ".":
            markUnknowable("\(name) runs the commands of a file in this shell")
        case "exec":
            var r = rest[...]
            while let w = r.first, w.isStatic, w.bytes.first == 0x2D {
                r = r.dropFirst()
                if w.text == "-a" { r = r.dropFirst() }
                if w.text == "--" { break }
            }
            if !r.isEmpty { try command(Array(r), via: inner, context: context, depth: depth + 1) }
        case "command":
            var r = rest[...]
            while let w = r.first, w.isStatic, w.bytes.first == 0x2D {
                if w.text.contains("v") || w.text.contains("V") { return }  // a lookup, nothing runs
                r = r.dropFirst()
                if w.text == "--" { break }
            }
            if !r.isEmpty { try command(Array(r), via: inner, context: context, depth: depth + 1) }
        case "builtin", "nohup":
            if !rest.isEmpty { try command(rest, via: inner, context: context, depth: depth + 1) }
        case "alias":
            // dash expands aliases even in a -c string: a later word may run
            // the alias's text with the words after it (alias x=eval).
            if rest.contains(where: { $0.bytes.contains(0x3D) }) {
                markUnknowable("an alias makes a later command name run something else")
            }
        case "trap":
            let args = rest.first?.text == "--" ? Array(rest.dropFirst()) : rest
            if let action = args.first, !(action.isStatic && action.bytes.first == 0x2D), args.count >= 2 {
                try shellString(action, via: inner, context: context, depth: depth, what: "a trap")
            }
        case "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox":
            try shell(rest, name: name, via: inner, context: context, depth: depth)
        case "find":
            try find(rest, via: inner, context: context, depth: depth)
        case "watch":
            try watch(rest, via: inner, context: context, depth: depth)
        case "flock":
            try flock(rest, via: inner, context: context, depth: depth)
        case "sudo", "doas":
            try sudo(rest, name: name, via: inner, context: context, depth: depth)
        case "aegis-exec":
            try nestedGate(rest, via: inner, context: context, depth: depth)
        default:
            if let spec = Self.wrappers[name] {
                try wrapped(rest, spec: spec, via: inner, context: context, depth: depth)
            }
        }
    }

    static func changesWhatRuns(_ w: Word) -> Bool {
        let name = String(decoding: w.bytes.prefix { $0 != 0x3D && $0 != 0x2B }, as: UTF8.self)
        return ["PATH", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS"].contains(name)
            || name.hasPrefix("LD_") || name.hasPrefix("BASH_FUNC_")
    }

    mutating func markUnknowable(_ why: String) {
        items[items.count - 1].unknowable = why
    }

    static func baseName(_ bytes: [UInt8]) -> String {
        let last = bytes.split(separator: 0x2F, omittingEmptySubsequences: true).last.map(Array.init) ?? bytes
        return String(decoding: last, as: UTF8.self)
    }

    // MARK: wrappers that run the rest of their words

    struct Spec {
        /// Options that take a value (short `-x` and long `--xx`); a long
        /// option may also carry it as `--xx=V`, a short one attached (`-xV`).
        var valued: Set<String>
        /// Positional words before the command (timeout's duration).
        var leading = 0
        /// `NAME=VALUE` words may follow the options (env).
        var assignments = false
        /// The inner command when none is given (xargs runs echo).
        var defaultCommand: [String] = []
        /// Options after which no command runs (ionice -p PID).
        var noCommand: Set<String> = []
    }

    static let wrappers: [String: Spec] = [
        "env": Spec(valued: ["-u", "--unset", "-C", "--chdir", "-a", "--argv0"], assignments: true),
        "nice": Spec(valued: ["-n", "--adjustment"]),
        "ionice": Spec(valued: ["-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid"],
                       noCommand: ["-p", "--pid", "-P", "--pgid", "-u", "--uid"]),
        "timeout": Spec(valued: ["-s", "--signal", "-k", "--kill-after"], leading: 1),
        "time": Spec(valued: ["-f", "--format", "-o", "--output"]),
        "stdbuf": Spec(valued: ["-i", "--input", "-o", "--output", "-e", "--error"]),
        "setsid": Spec(valued: []),
        "chrt": Spec(valued: [], leading: 1),
        "taskset": Spec(valued: [], leading: 1),
        "unshare": Spec(valued: ["--map-user", "--map-group", "-S", "--setuid", "-G", "--setgid", "-R", "--root", "-w", "--wd"]),
        "xargs": Spec(valued: ["-d", "--delimiter", "-E", "-I", "-L", "-n", "--max-args", "-P", "--max-procs", "-s", "--max-chars",
                               "-a", "--arg-file", "--process-slot-var"], defaultCommand: ["echo"]),
        "strace": Spec(valued: ["-e", "-o", "-p", "-s", "-u", "-E", "-P", "-a", "-b", "-I", "-O", "-S", "-X"]),
        "ltrace": Spec(valued: ["-e", "-o", "-p", "-s", "-u", "-a", "-n"]),
        "nsenter": Spec(valued: ["-t", "--target", "-S", "--setuid", "-G", "--setgid", "-r", "--root", "-w", "--wd"]),
        "chroot": Spec(valued: ["--userspec", "--groups"], leading: 1),
        "runuser": Spec(valued: ["-u", "--user", "-g", "--group", "-G", "--supp-group"]),
    ]

    /// Splits options from the command: returns the command's words, or nil
    /// when the wrapper runs none.
    func strip(_ words: [Word], spec: Spec) -> [Word]? {
        var i = 0
        while i < words.count {
            let w = words[i]
            guard w.isStatic else { break }
            let t = w.text
            if t == "--" { i += 1; break }
            guard t.hasPrefix("-"), t.count > 1 else { break }
            if t.hasPrefix("--") {
                let name = String(t.split(separator: "=", maxSplits: 1)[0])
                if spec.noCommand.contains(name) { return nil }
                if spec.valued.contains(name) && !t.contains("=") { i += 1 }
            } else {
                // A cluster: -abc, or -nVALUE for a valued option.
                for (k, ch) in t.dropFirst().enumerated() {
                    let opt = "-" + String(ch)
                    if spec.noCommand.contains(opt) { return nil }
                    if spec.valued.contains(opt) {
                        if k == t.count - 2 { i += 1 }  // value is the next word
                        break
                    }
                }
            }
            i += 1
        }
        if spec.assignments {
            while i < words.count, words[i].bytes.contains(0x3D), words[i].bytes.first != 0x3D { i += 1 }
        }
        i += spec.leading
        guard i < words.count else { return spec.defaultCommand.isEmpty ? nil : spec.defaultCommand.map { Word($0) } }
        return Array(words[i...])
    }

    mutating func wrapped(_ rest: [Word], spec: Spec, via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        // env -S 'cmd args': the string is split into words.
        if let s = rest.firstIndex(where: { $0.text == "-S" || $0.text == "--split-string" || $0.text.hasPrefix("--split-string=") }),
           via.last == "env" {
            let value: Word
            if rest[s].text.hasPrefix("--split-string=") {
                value = Word(bytes: Array(rest[s].bytes.dropFirst("--split-string=".utf8.count)), isStatic: rest[s].isStatic, quoted: false)
            } else if s + 1 < rest.count {
                value = rest[s + 1]
            } else { return }
            try shellString(value, via: via, context: context, depth: depth, what: "env -S")
            return
        }
        guard let cmd = strip(rest, spec: spec) else { return }
        try command(cmd, via: via, context: context, depth: depth + 1)
    }

    mutating func sudo(_ rest: [Word], name: String, via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        let valued: Set<String> = name == "doas"
            ? ["-u", "-C"]
            : ["-u", "--user", "-g", "--group", "-h", "--host", "-p", "--prompt", "-C", "--close-from", "-D", "--chdir",
               "-r", "--role", "-t", "--type", "-T", "--command-timeout", "-U", "--other-user"]
        let shellFlags = rest.prefix { $0.isStatic && $0.text.hasPrefix("-") }
            .contains { $0.text == "--shell" || $0.text == "--login" || (!$0.text.hasPrefix("--") && ($0.text.contains("s") || $0.text.contains("i"))) }
        guard let cmd = strip(rest, spec: Spec(valued: valued, assignments: name == "sudo")) else {
            if shellFlags { markUnknowable("\(name) opens an interactive shell") }
            return
        }
        if shellFlags && name == "sudo" {
            // sudo -s/-i CMD runs CMD through the target user's shell.
            try shellString(Word(bytes: Array(cmd.map(\.bytes).joined(separator: [0x20])), isStatic: cmd.allSatisfy(\.isStatic), quoted: false),
                            via: via, context: context, depth: depth, what: "sudo -s")
            return
        }
        try command(cmd, via: via, context: context, depth: depth + 1)
    }

    mutating func shell(_ rest: [Word], name: String, via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        var r = rest[...]
        if name == "busybox" {
            guard let applet = r.first else { return }
            if !["sh", "ash", "bash"].contains(applet.text) {
                try command(Array(r), via: via, context: context, depth: depth + 1)
                return
            }
            r = r.dropFirst()
        }
        var hasC = false
        var script: Word?
        while let w = r.first {
            r = r.dropFirst()
            let t = w.text
            if w.isStatic && (t == "-o" || t == "+o" || t == "-O" || t == "+O" || t == "--rcfile" || t == "--init-file") {
                r = r.dropFirst()
                continue
            }
            if w.isStatic && t == "--" { script = r.first; break }
            if w.isStatic && t.hasPrefix("-") && t.count > 1 && !t.hasPrefix("--") {
                if t.contains("c") { hasC = true }
                continue
            }
            if w.isStatic && t.hasPrefix("--") { continue }
            if w.isStatic && t.hasPrefix("+") { continue }
            script = w
            break
        }
        if hasC {
            guard let s = script else { return }
            let saved = dialect
            dialect = ["bash", "zsh", "ksh", "mksh"].contains(name) ? .bash : .posix
            defer { dialect = saved }
            try shellString(s, via: via.dropLast() + ["\(name) -c"], context: context, depth: depth, what: "\(name) -c")
        } else if script == nil {
            markUnknowable("\(name) reads its commands from standard input")
        }
        // A script file: judged as `name FILE`; what it runs is seen when it runs.
    }

    mutating func find(_ rest: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        var i = 0
        var starts: [Word] = []
        while i < rest.count, let f = rest[i].bytes.first, f != 0x2D, f != 0x28, f != 0x21 || rest[i].bytes.count > 1 {
            starts.append(rest[i])
            i += 1
        }
        if starts.isEmpty { starts = [Word(".")] }
        while i < rest.count {
            let t = rest[i].text
            if ["-exec", "-execdir", "-ok", "-okdir"].contains(t) {
                var j = i + 1
                var cmd: [Word] = []
                while j < rest.count, !(rest[j].isStatic && (rest[j].text == ";" || (rest[j].text == "+" && cmd.last?.text == "{}"))) {
                    cmd.append(rest[j])
                    j += 1
                }
                if !cmd.isEmpty { try command(cmd, via: via.dropLast() + ["find \(t)"], context: context, depth: depth + 1) }
                i = j + 1
            } else if t == "-delete" {
                try command([Word("rm"), Word("-r")] + starts, via: via.dropLast() + ["find -delete"], context: context, depth: depth + 1)
                i += 1
            } else {
                i += 1
            }
        }
    }

    mutating func watch(_ rest: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        let spec = Spec(valued: ["-n", "--interval", "-q", "--equexit"])
        let exec = rest.prefix { $0.isStatic && $0.text.hasPrefix("-") }.contains { $0.text == "-x" || $0.text == "--exec" }
        guard let cmd = strip(rest, spec: spec) else { return }
        if exec {
            try command(cmd, via: via, context: context, depth: depth + 1)
        } else {
            // Without -x, watch joins its words and runs them with sh -c.
            let joined = Word(bytes: Array(cmd.map(\.bytes).joined(separator: [0x20])), isStatic: cmd.allSatisfy(\.isStatic), quoted: false)
            try shellString(joined, via: via, context: context, depth: depth, what: "watch")
        }
    }

    mutating func flock(_ rest: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        guard let afterOptions = strip(rest, spec: Spec(valued: ["-w", "--timeout", "-E", "--conflict-exit-code"])),
              afterOptions.count >= 2 else { return }
        let cmd = Array(afterOptions.dropFirst())  // the lock file or fd
        if let c = cmd.first, c.text == "-c" || c.text == "--command" {
            if cmd.count >= 2 { try shellString(cmd[1], via: via, context: context, depth: depth, what: "flock -c") }
        } else {
            try command(cmd, via: via, context: context, depth: depth + 1)
        }
    }

    /// A nested `aegis-exec [OPTIONS] -- CMD` or `aegis-exec -c STRING`: the
    /// outer gate judges the inner command as well.
    mutating func nestedGate(_ rest: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        var i = 0
        while i < rest.count {
            let t = rest[i].text
            if t == "--" { i += 1; break }
            if ["--policy", "--agent", "--param", "--params"].contains(t) { i += 2; continue }
            if t.hasPrefix("--policy=") || t.hasPrefix("--agent=") || t.hasPrefix("--param=") || t.hasPrefix("--params=") { i += 1; continue }
            if t.hasPrefix("-") && !t.hasPrefix("--") && t.contains("c") {
                if i + 1 < rest.count { try shellString(rest[i + 1], via: via, context: context, depth: depth, what: "aegis-exec -c") }
                return
            }
            if t == "--login" || t == "-l" || t == "-e" { i += 1; continue }
            break
        }
        if i < rest.count { try command(Array(rest[i...]), via: via, context: context, depth: depth + 1) }
    }
}
