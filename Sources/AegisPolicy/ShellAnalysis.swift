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
    /// links followed) from a directory (nil: the starting one), where it can be found.
    public static func analyze(_ source: [UInt8], dialect: ShellDialect = .posix, home: String? = nil,
                               cdSearchPath: String? = nil,
                               programName: (([UInt8], [UInt8]?) -> String?)? = nil) throws(ShellSyntaxError) -> ShellAnalysis {
        var a = Analyzer()
        a.programName = programName
        a.dialect = dialect
        a.home = home.map { Array($0.utf8) }
        // A CDPATH set anywhere in the string (export, read, a loop ...) counts.
        a.cdSearches = (cdSearchPath.map { !$0.isEmpty } ?? false) || Analyzer.contains(source, Array("CDPATH".utf8))
        try a.script(source, via: [], depth: 0)
        // A loop, a function or a trap runs after a cd that comes later in the
        // string, and a CDPATH set later changes an earlier cd: read it again
        // with every directory the reading before reached, for every command,
        // until nothing more is learnt (the flags only turn on: two more at most).
        var passes = 1
        while a.items.count <= maxCommands && (a.directories.count > 1 || a.directoryUnknown) && passes < 4 {
            var again = Analyzer()
            (again.programName, again.dialect, again.home, again.cdSearches) = (programName, dialect, a.home, a.cdSearches)
            (again.directories, again.directoryUnknown, again.directoriesFrozen) = (a.directories, a.directoryUnknown, true)
            try again.script(source, via: [], depth: 0)
            let learnt = again.directoryUnknown != a.directoryUnknown || again.cdSearches != a.cdSearches
            a = again
            passes += 1
            if !learnt { break }
        }
        if a.items.count > maxCommands {
            let why = "the string has more than the \(maxCommands) commands judged one by one"
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
    var programName: (([UInt8], [UInt8]?) -> String?)?
    /// The second reading: every command is judged in the directories the
    /// first one reached, and a cd adds none.
    var directoriesFrozen = false
    var functionNames: Set<String> = []
    /// The command being read may run more than once (a loop, a function, a
    /// trap): a relative cd there may go anywhere.
    var repeating = false
    /// The items of the command `command` last appended, which
    /// `markUnknowable` marks.
    var lastCommand: Range<Int> = 0..<0
    static let maxDirectories = 8

    /// `~` and `~/…`, unquoted at the start of a word, as the shell expands
    /// them; `~user`, `~-` and `~+` (another home, OLDPWD, PWD) are known
    /// only at run time.
    func expandingTilde(_ w: Word) -> Word {
        guard w.isStatic, w.bytes.first == 0x7E, w.unquotedPrefix >= 1 else { return w }
        var out = w
        guard w.bytes.count == 1 || w.bytes[1] == 0x2F else {
            out.isStatic = false
            return out
        }
        guard let home else { return w }
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
        addFunctions(parsed.functions)
        var commands = parsed.commands
        // /bin/sh is dash here but bash (or another shell) elsewhere, and a
        // policy's `shell:` may name one whose grammar is not dash's: where
        // bash reads the string differently (`$'\''`, `[[`, `&>`), what it
        // would run is judged as well. Bash runs a string line by line up to
        // a syntax error, so one it cannot parse is not known to be harmless.
        if dialect == .posix {
            do {
                let alt = try ShellSyntax.parse(source, dialect: .bash)
                if alt.commands != parsed.commands {
                    let known = Set(parsed.commands)
                    commands = Self.merged(parsed.commands, alt.commands.filter { !known.contains($0) })
                    addFunctions(alt.functions)
                }
            } catch {
                items.append(.init(argv: [Array(source.prefix(200))], via: via,
                                   unknowable: "bash cannot parse the string (\(error.message) at byte \(error.offset)), and where sh is bash it runs the lines before the error",
                                   context: .direct))
            }
        }
        for c in commands {
            if items.count > ShellAnalysis.maxCommands { return }  // unanalyzable as a whole; stop early
            noteCDPATH(c)
            let savedRepeating = repeating
            if c.repeats { repeating = true }
            defer { repeating = savedRepeating }
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
            // Files a redirection writes are judged as writes (`tee FILE`),
            // listed after the command they belong to, where they are written.
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
        }
    }

    /// CDPATH may be set here: named (after quote removal), or by a builtin
    /// that sets a variable whose name is known only at run time, or by shopt
    /// (bash's cdable_vars makes `cd NAME` go to $NAME).
    mutating func noteCDPATH(_ c: ShellCommand) {
        if cdSearches { return }
        let cdpath = Array("CDPATH".utf8)
        func names(_ w: Word) -> Bool { Self.contains(w.bytes, cdpath) }
        if c.assignments.contains(where: names) || c.words.contains(where: names) { cdSearches = true; return }
        guard let first = c.words.first?.text else { return }
        if first == "shopt" { cdSearches = true; return }
        guard Self.setsVariables.contains(first) else { return }
        if first == "printf" && !c.words.contains(where: { $0.isStatic && $0.text.hasPrefix("-v") }) { return }  // only printf -v sets one
        if c.words.dropFirst().contains(where: { !$0.isStatic }) { cdSearches = true }
    }

    static let setsVariables: Set<String> = ["export", "readonly", "declare", "typeset", "local", "read", "printf", "mapfile",
                                             "readarray", "getopts"]

    mutating func addFunctions(_ names: [String]) {
        for n in names where functionNames.insert(n).inserted { functions.append(n) }
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
        // Its relative paths (and a relative program path) would name files
        // in a directory nothing here knows.
        let unknowable = directoryUnknown
            ? "it runs \(String(decoding: argv.first ?? [], as: UTF8.self)) where a cd to a directory known only at run time may have moved it" : nil
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
        guard name != "popd", r.count <= 1 else { directoryUnknown = true; return }  // zsh and ksh: cd OLD NEW
        guard let target = r.first else {
            if home == nil { directoryUnknown = true } else if !directoriesFrozen { addDirectory(home!) }
            return
        }
        let t = target.bytes
        // CDPATH is not searched for ".", "..", and names starting "./" or "../".
        let explicit = t == [0x2E] || t == [0x2E, 0x2E] || t.starts(with: [0x2E, 0x2F]) || t.starts(with: [0x2E, 0x2E, 0x2F])
        let searched = cdSearches && t.first != 0x2F && !explicit
        guard target.isStatic, !Self.isPattern(t), t != [0x2D], t.first != 0x2B, t.first != 0x7E, !searched,
              t.first == 0x2F || !repeating else {
            directoryUnknown = true  // -, +N, ~-, ~user, a pattern, an expansion, CDPATH, a relative cd that repeats
            return
        }
        if !directoriesFrozen { addDirectory(t) }
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
        var brace = false, bracket = false
        for b in bytes {
            if b == 0x2A || b == 0x3F { return true }
            if b == 0x5B { bracket = true }
            if bracket && b == 0x5D { return true }  // [abc]; a lone `[` is the test program
            if b == 0x7B { brace = true }
            if brace && b == 0x2C { return true }
        }
        return brace && bytes.contains(0x7D) && bytes.indices.dropLast().contains { bytes[$0] == 0x2E && bytes[$0 + 1] == 0x2E }
    }

    /// A shell string given to a wrapper (`sh -c S`, `eval S`, `watch S`).
    /// `dialect`: the grammar of the shell that runs it, when that is not the
    /// current one (watch and flock -c use /bin/sh, read as dash and bash).
    mutating func shellString(_ w: Word, via: [String], context: ShellCommand.Context, depth: Int, what: String,
                              dialect other: ShellDialect? = nil) throws(ShellSyntaxError) {
        guard w.isStatic else {
            items.append(.init(argv: [w.bytes], via: via, unknowable: "\(what) of a string known only at run time", context: context))
            return
        }
        let saved = dialect
        if let other { dialect = other }
        defer { dialect = saved }
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
        // A file named through /proc or /dev/fd is a different file in each process.
        if first.bytes.starts(with: Array("/proc/".utf8)) || first.bytes.starts(with: Array("/dev/fd/".utf8))
            || first.bytes.starts(with: Array("/dev/std".utf8)) {
            items.append(.init(argv: words.map(\.bytes), via: via, unknowable: "it runs \(first.text), which names another file in the process that runs it",
                               context: context))
            return
        }
        let name = wrapperName(first.bytes)
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
            // bash's options, clustered or not: -c, -l, and -a NAME.
            let st = strip(rest, spec: Spec(valued: ["-a"], flags: ["-c", "-l"]))
            if let why = st.unsure { markUnknowable(why) }
            if let cmd = st.command { try command(cmd, via: inner, context: context, depth: depth + 1) }
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
                let saved = repeating
                repeating = true  // a trap may run again and again, and after anything
                defer { repeating = saved }
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
        case "runuser":
            try runuser(rest, via: inner, context: context, depth: depth)
        case "aegis-exec":
            try nestedGate(rest, via: inner, context: context, depth: depth)
        default:
            if let spec = Self.wrappers[name] {
                try wrapped(rest, spec: spec, via: inner, context: context, depth: depth)
            }
        }
    }

    /// The name a command is unwrapped by: as written, or, where that is no
    /// wrapper, the name of the file it leads to from any directory it may
    /// run in, so a link `e` to env unwraps as env. (A multi-call binary,
    /// coreutils or busybox, reads its part from the written name; a shell
    /// runs its builtins whatever a file of that name is.)
    func wrapperName(_ program: [UInt8]) -> String {
        let written = Self.baseName(program)
        if Self.handled.contains(written) { return written }
        guard let programName else { return written }
        let places: [[UInt8]?] = program.contains(0x2F) && program.first != 0x2F ? directories : [nil]
        for d in places {
            if let resolved = programName(program, d), resolved != "busybox", Self.handled.contains(resolved) { return resolved }
        }
        return written
    }

    /// Names `command` treats as more than a program.
    static let handled: Set<String> = builtins.union(["env", "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "find",
                                                       "watch", "flock", "sudo", "doas", "aegis-exec"]).union(wrappers.keys)

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
}

