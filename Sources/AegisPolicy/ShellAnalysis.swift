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
        /// Where it runs when a `cd` earlier in the string (or `env -C`) may
        /// have moved it: a path, absolute or relative to the starting
        /// directory; nil for the starting directory.
        public var directory: [UInt8]? = nil

        public init(argv: [[UInt8]], via: [String], unknowable: String?, context: ShellCommand.Context, directory: [UInt8]? = nil) {
            (self.argv, self.via, self.unknowable, self.context, self.directory) = (argv, via, unknowable, context, directory)
        }

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
    /// `cdSearchPath`: the shell's CDPATH, under which `cd NAME` may go elsewhere.
    /// `programName`: the name of the file a command name leads to (symbolic
    /// links followed), where it can be found.
    public static func analyze(_ source: [UInt8], dialect: ShellDialect = .posix, home: String? = nil,
                               cdSearchPath: String? = nil,
                               programName: (([UInt8]) -> String?)? = nil) throws(ShellSyntaxError) -> ShellAnalysis {
        var a = Analyzer()
        a.programName = programName
        a.dialect = dialect
        a.home = home.map { Array($0.utf8) }
        a.cdSearches = cdSearchPath.map { !$0.isEmpty } ?? false
        try a.script(source, via: [], depth: 0)
        if a.items.count > maxCommands {
            let why = "the string has \(a.items.count) commands, more than the \(maxCommands) judged one by one"
            return ShellAnalysis(items: [Item(argv: [Array(source.prefix(200))], via: [], unknowable: why, context: .direct)],
                                 functions: a.functions)
        }
        return ShellAnalysis(items: a.items, functions: a.functions)
    }

    public static func analyze(_ source: String, dialect: ShellDialect = .posix, home: String? = nil,
                               cdSearchPath: String? = nil) throws(ShellSyntaxError) -> ShellAnalysis {
        try analyze(Array(source.utf8), dialect: dialect, home: home, cdSearchPath: cdSearchPath)
    }
}

struct Analyzer {
    var items: [ShellAnalysis.Item] = []
    var functions: [String] = []
    /// The grammar of the shell that runs the string being read.
    var dialect: ShellDialect = .posix
    var home: [UInt8]?
    /// Where the next command may run: nil is the starting directory, a path
    /// one a `cd` earlier in the string may have moved to. A `cd` adds to
    /// them (it may fail, or sit in a branch not taken); each is judged.
    var directories: [[UInt8]?] = [nil]
    /// A `cd` to a directory known only at run time came earlier.
    var directoryUnknown = false
    /// CDPATH is set, so `cd NAME` may go somewhere other than ./NAME.
    var cdSearches = false
    var programName: (([UInt8]) -> String?)?
    /// The items of the command `command` last appended, which
    /// `markUnknowable` marks.
    var lastCommand: Range<Int> = 0..<0
    static let maxDirectories = 8

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
        var commands = parsed.commands
        // /bin/sh is dash here but bash (or another shell) elsewhere, and a
        // policy's `shell:` may name one whose grammar is not dash's: where
        // bash reads the string differently (`$'\''`, `[[`, `&>`), what it
        // would run is judged as well. A string bash cannot parse is read as
        // dash reads it.
        if dialect == .posix, let alt = try? ShellSyntax.parse(source, dialect: .bash), alt.commands != parsed.commands {
            let known = Set(parsed.commands)
            commands = Self.merged(parsed.commands, alt.commands.filter { !known.contains($0) })
            functions += alt.functions.filter { !functions.contains($0) }
        }
        for c in commands {
            // Files a redirection writes are judged as writes (`tee FILE`).
            for r in c.redirections where r.writesFile && r.target.bytes != Array("/dev/null".utf8) {
                let target = expandingTilde(r.target)
                let how = via + ["redirection \(r.op)"]
                if !target.isStatic || Self.isPattern(target.bytes) {
                    items.append(.init(argv: [Array("tee".utf8), target.bytes], via: how,
                                       unknowable: "a redirection writes to a file named only at run time (\(target.text))", context: c.context))
                } else if target.bytes.first != 0x2F && directoryUnknown {
                    items.append(.init(argv: [Array("tee".utf8), target.bytes], via: how,
                                       unknowable: "a redirection writes to \(target.text) after a cd to a directory known only at run time",
                                       context: c.context))
                } else {
                    appendCommand([Array("tee".utf8), target.bytes], via: how, context: c.context)
                }
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
            if c.assignments.contains(where: { $0.bytes.starts(with: Array("CDPATH=".utf8)) }) { cdSearches = true }
            if !c.words.isEmpty { try command(c.words.map(expandingTilde), via: via, context: c.context, depth: depth) }
        }
    }

    /// Two lists of commands, each in the order it runs, as one list in the
    /// order of their places in the string.
    static func merged(_ a: [ShellCommand], _ b: [ShellCommand]) -> [ShellCommand] {
        var out: [ShellCommand] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i].offset <= b[j].offset) {
                out.append(a[i]); i += 1
            } else {
                out.append(b[j]); j += 1
            }
        }
        return out
    }

    /// One item for the command in each directory it may run in.
    mutating func appendCommand(_ argv: [[UInt8]], via: [String], context: ShellCommand.Context) {
        let start = items.count
        let relativeProgram = argv.first.map { $0.first != 0x2F && $0.contains(0x2F) } ?? false
        let unknowable = directoryUnknown && relativeProgram
            ? "it runs \(String(decoding: argv[0], as: UTF8.self)) after a cd to a directory known only at run time" : nil
        for d in directories {
            items.append(.init(argv: argv, via: via, unknowable: unknowable, context: context, directory: d))
        }
        lastCommand = start..<items.count
    }

    /// `cd DIR` / `pushd DIR`: later commands may run in DIR.
    mutating func changeDirectory(_ args: [Word], name: String) {
        var r = args[...]
        while let w = r.first, w.isStatic, w.bytes.count > 1, w.bytes.first == 0x2D {
            r = r.dropFirst()
            if w.text == "--" { break }
        }
        guard name != "popd" else { directoryUnknown = true; return }
        guard let target = r.first else {
            if let home { addDirectory(home) } else { directoryUnknown = true }
            return
        }
        let t = target.bytes
        let searched = cdSearches && t.first != 0x2F && !(t.first == 0x2E && (t.count == 1 || t[1] == 0x2F || t[1] == 0x2E))
        guard target.isStatic, !Self.isPattern(t), t != [0x2D], t.first != 0x2B, !searched else {
            directoryUnknown = true
            return
        }
        addDirectory(t)
    }

    mutating func addDirectory(_ dir: [UInt8]) {
        var next = directories
        for d in directories {
            let joined = dir.first == 0x2F || d == nil ? dir : d! + [0x2F] + dir
            if !next.contains(joined) { next.append(joined) }
        }
        if next.count > Self.maxDirectories { directoryUnknown = true } else { directories = next }
    }

    /// A word the shell may expand as a pattern (`/bin/r?`, `{rm,x}`): what
    /// it names is known only when it runs. Quoting is not told apart here;
    /// a name that is a quoted pattern is only asked about.
    static func isPattern(_ bytes: [UInt8]) -> Bool {
        var brace = false
        for b in bytes {
            if b == 0x2A || b == 0x3F || b == 0x5B { return true }
            if b == 0x7B { brace = true }
            if brace && b == 0x2C { return true }
        }
        return brace && bytes.contains(0x7D) && bytes.indices.dropLast().contains { bytes[$0] == 0x2E && bytes[$0 + 1] == 0x2E }
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
        guard !Self.isPattern(first.bytes) else {
            items.append(.init(argv: words.map(\.bytes), via: via, unknowable: "the command name is a pattern the shell expands (\(first.text))",
                               context: context))
            return
        }
        // A wrapper is known by the file a name leads to, so a link `e` to
        // env unwraps as env does (busybox reads its applet from the name).
        let written = Self.baseName(first.bytes)
        let builtin = !first.bytes.contains(0x2F) && Self.builtins.contains(written)
        let name = builtin ? written : programName?(first.bytes).flatMap { $0 == "busybox" ? nil : $0 } ?? written
        let rest = Array(words.dropFirst())
        appendCommand(words.map(\.bytes), via: via, context: context)
        let inner = via + [name]
        switch name {
        case "cd", "pushd", "popd":
            changeDirectory(rest, name: name)
        case "env":
            try env(rest, via: inner, context: context, depth: depth)
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
        case "builtin":
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

    /// Names the shell runs itself, whatever a file of that name on PATH is.
    static let builtins: Set<String> = ["cd", "pushd", "popd", "eval", "source", ".", "exec", "command", "builtin", "alias", "trap", "time"]

    static func changesWhatRuns(_ w: Word) -> Bool {
        let name = String(decoding: w.bytes.prefix { $0 != 0x3D && $0 != 0x2B }, as: UTF8.self)
        // PS4 is expanded, substitutions and all, before each command `set -x` traces.
        return ["PATH", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4"].contains(name)
            || name.hasPrefix("LD_") || name.hasPrefix("BASH_FUNC_")
    }

    mutating func markUnknowable(_ why: String) {
        for k in lastCommand { items[k].unknowable = why }
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
        "nohup": Spec(valued: []),
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
        guard let cmd = strip(rest, spec: spec) else { return }
        try command(cmd, via: via, context: context, depth: depth + 1)
    }

    mutating func sudo(_ rest: [Word], name: String, via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        let valued: Set<String> = name == "doas"
            ? ["-u", "-C"]
            : ["-u", "--user", "-g", "--group", "-h", "--host", "-p", "--prompt", "-C", "--close-from", "-D", "--chdir",
               "-r", "--role", "-t", "--type", "-T", "--command-timeout", "-U", "--other-user", "-R", "--chroot"]
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
    /// outer gate judges the inner command as well, reading the options with
    /// the gate's own grammar (GateOptionSyntax), as the nested gate will.
    mutating func nestedGate(_ rest: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        var i = 0
        while i < rest.count {
            guard let t = nestedOption(rest[i]) else { return }
            if t == "--" { i += 1; break }
            guard t.hasPrefix("-"), t != "-" else { break }
            let name = t.hasPrefix("--") ? String(t.prefix { $0 != "=" }) : t
            if !GateOptionSyntax.valueOptions.contains(name) && GateOptionSyntax.isShellOption(t) {
                try nestedShell(rest[i...], via: via, context: context, depth: depth)
                return
            }
            guard GateOptionSyntax.valueOptions.contains(name) else {
                markUnknowable("a nested aegis-exec is given an option this gate does not know (\(t))")
                return
            }
            i += name == t ? 2 : 1
        }
        if i < rest.count { try command(Array(rest[i...]), via: via, context: context, depth: depth + 1) }
    }

    /// A nested gate's option word; nil, with the command marked, when it is
    /// known only at run time.
    mutating func nestedOption(_ w: Word) -> String? {
        guard w.isStatic else {
            markUnknowable("a nested aegis-exec is given options known only at run time (\(w.text))")
            return nil
        }
        return w.text
    }

    /// `aegis-exec [SHELL OPTIONS] -c STRING`, read as GateArguments.parseShell reads it.
    mutating func nestedShell(_ rest: ArraySlice<Word>, via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        var hasC = false
        var i = rest.startIndex
        while i < rest.endIndex {
            guard let t = nestedOption(rest[i]) else { return }
            if t == "--" { i += 1; break }
            if t == "--login" { i += 1; continue }
            if t == "-o" || t == "+o" { i += 2; continue }
            guard GateOptionSyntax.isShellOption(t) else {
                if t.hasPrefix("-") && t.count > 1 && !hasC {
                    markUnknowable("a nested aegis-exec is given an option this gate does not know (\(t))")
                    return
                }
                break
            }
            if t.dropFirst().contains("c") { hasC = true }
            i += 1
        }
        // Without -c, or without a string, the nested gate refuses to run anything.
        guard hasC, i < rest.endIndex else { return }
        try shellString(rest[i], via: via, context: context, depth: depth, what: "aegis-exec -c")
    }

    /// env(1) as GNU coreutils reads it: options (`-` is `-i`; `-u`, `-C`,
    /// `-a` take a value, attached or next; `-S STRING` splits STRING into
    /// arguments and reads on), then NAME=VALUE, then the command.
    mutating func env(_ rest: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        guard depth <= ShellAnalysis.maxWrapping else {
            markUnknowable("commands nested more than \(ShellAnalysis.maxWrapping) levels deep")
            return
        }
        var i = 0
        var directory: Word?
        func value(_ attached: ArraySlice<UInt8>) -> Word? {
            if !attached.isEmpty { return Word(bytes: Array(attached), isStatic: rest[i].isStatic, quoted: false) }
            i += 1
            return i < rest.count ? rest[i] : nil
        }
        options: while i < rest.count {
            let w = rest[i]
            guard w.isStatic else { break }
            let b = w.bytes
            if b == [0x2D, 0x2D] { i += 1; break }
            if b == [0x2D] { i += 1; continue }
            guard b.count > 1, b[0] == 0x2D else { break }
            if b[1] == 0x2D {
                let eq = b.firstIndex(of: 0x3D)
                let name = String(decoding: b[..<(eq ?? b.endIndex)], as: UTF8.self)
                let attached = eq.map { b[($0 + 1)...] } ?? []
                switch name {
                case "--split-string":
                    guard let s = eq == nil ? value([]) : Word(bytes: Array(attached), isStatic: true, quoted: false) else { return }
                    try splitString(s, then: Array(rest[(i + 1)...]), via: via, context: context, depth: depth)
                    return
                case "--chdir":
                    directory = eq == nil ? value([]) : Word(bytes: Array(attached), isStatic: true, quoted: false)
                case "--unset", "--argv0":
                    if eq == nil { _ = value([]) }
                default:
                    break
                }
                i += 1
                continue
            }
            var k = 1
            while k < b.count {
                switch b[k] {
                case UInt8(ascii: "S"):
                    guard let s = value(b[(k + 1)...]) else { return }
                    try splitString(s, then: Array(rest[(i + 1)...]), via: via, context: context, depth: depth)
                    return
                case UInt8(ascii: "C"):
                    directory = value(b[(k + 1)...])
                    k = b.count
                case UInt8(ascii: "u"), UInt8(ascii: "a"):
                    _ = value(b[(k + 1)...])
                    k = b.count
                default:
                    k += 1
                }
            }
            i += 1
        }
        // NAME=VALUE: one that changes what a name runs (PATH, LD_PRELOAD ...)
        // leaves the program judged unsure.
        while i < rest.count, rest[i].bytes.contains(0x3D), rest[i].bytes.first != 0x3D {
            if Self.changesWhatRuns(rest[i]) {
                markUnknowable("env sets \(String(decoding: rest[i].bytes.prefix { $0 != 0x3D }, as: UTF8.self)), which changes what commands run")
            }
            i += 1
        }
        guard i < rest.count else { return }
        let cmd = Array(rest[i...])
        guard let directory else {
            try command(cmd, via: via, context: context, depth: depth + 1)
            return
        }
        guard directory.isStatic, !Self.isPattern(directory.bytes) else {
            markUnknowable("env -C changes to a directory known only at run time (\(directory.text))")
            return
        }
        // The command runs in DIR (or not at all).
        let saved = directories
        directories = []
        for d in saved {
            let joined = directory.bytes.first == 0x2F || d == nil ? directory.bytes : d! + [0x2F] + directory.bytes
            if !directories.contains(joined) { directories.append(joined) }
        }
        defer { directories = saved }
        try command(cmd, via: via, context: context, depth: depth + 1)
    }

    /// `env -S STRING ARGS...`: STRING split as env splits it, then read as
    /// env's own arguments again. A string env would expand or that this
    /// reading is unsure of is not guessed at.
    mutating func splitString(_ s: Word, then more: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        guard s.isStatic, let words = Self.envSplit(s.bytes) else {
            markUnknowable("env -S splits a string this gate cannot read exactly (\(s.text))")
            return
        }
        try env(words.map { Word(bytes: $0, isStatic: true, quoted: false) } + more, via: via, context: context, depth: depth + 1)
    }

    /// GNU env's -S splitting: blanks separate; '...' keeps all but \\ and
    /// \'; "..." and bare words take \" \\ \' \# \$ \_ \f \n \r \t \v;
    /// `\_` outside quotes separates; `#` starting a word ends the string;
    /// `\c` ends it. nil for `${VAR}` (expanded from the environment) and
    /// anything env would reject.
    static func envSplit(_ b: [UInt8]) -> [[UInt8]]? {
        var out: [[UInt8]] = []
        var cur: [UInt8] = []
        var inWord = false
        var i = 0
        func end() { if inWord { out.append(cur); cur = []; inWord = false } }
        while i < b.count {
            let c = b[i]
            switch c {
            case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D:
                end()
                i += 1
            case 0x23 where !inWord:
                return out
            case 0x27:
                inWord = true
                i += 1
                while true {
                    guard i < b.count else { return nil }
                    if b[i] == 0x27 { i += 1; break }
                    if b[i] == 0x5C, i + 1 < b.count, b[i + 1] == 0x5C || b[i + 1] == 0x27 {
                        cur.append(b[i + 1]); i += 2; continue
                    }
                    cur.append(b[i]); i += 1
                }
            case 0x22:
                inWord = true
                i += 1
                while true {
                    guard i < b.count else { return nil }
                    if b[i] == 0x22 { i += 1; break }
                    if b[i] == 0x24 { return nil }
                    if b[i] == 0x5C {
                        guard i + 1 < b.count, let e = escaped(b[i + 1]) else { return nil }
                        if e.isEmpty { end(); return out }  // \c
                        cur += e; i += 2; continue
                    }
                    cur.append(b[i]); i += 1
                }
            case 0x24:
                return nil
            case 0x5C:
                guard i + 1 < b.count else { return nil }
                if b[i + 1] == UInt8(ascii: "_") { end(); i += 2; continue }
                guard let e = escaped(b[i + 1]) else { return nil }
                if e.isEmpty { end(); return out }
                inWord = true
                cur += e
                i += 2
            default:
                inWord = true
                cur.append(c)
                i += 1
            }
        }
        end()
        return out
    }

    /// What env -S makes of a backslash and `c`: [] for `\c` (stop), nil
    /// for an escape it rejects.
    static func escaped(_ c: UInt8) -> [UInt8]? {
        switch c {
        case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "#"), UInt8(ascii: "$"): return [c]
        case UInt8(ascii: "_"): return [0x20]
        case UInt8(ascii: "f"): return [0x0C]
        case UInt8(ascii: "n"): return [0x0A]
        case UInt8(ascii: "r"): return [0x0D]
        case UInt8(ascii: "t"): return [0x09]
        case UInt8(ascii: "v"): return [0x0B]
        case UInt8(ascii: "c"): return []
        default: return nil
        }
    }
}
