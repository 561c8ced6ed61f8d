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
        /// Valued options that run the command in another directory (unshare -w).
        var chdir: Set<String> = []
        /// Options whose effect on what runs is not followed here (nsenter -r).
        var unsure: Set<String> = []
        /// Valued options that name a file it writes (strace -o, time -o).
        var output: Set<String> = []
        /// Every option it takes without a value, where any other makes it
        /// unsure (for tools whose options this reading does not all know).
        var flags: Set<String>? = nil
        /// Valued options whose value is NAME=VALUE for the command's environment (strace -E).
        var environment: Set<String> = []
        /// Short options whose optional value is the rest of the cluster (nsenter -mFILE).
        var attachedOnly: Set<String> = []
    }

    /// What a wrapper's words come to.
    struct Stripped {
        /// nil: it runs none.
        var command: [Word]?
        /// The value of a chdir option.
        var directory: Word?
        /// Why what it runs cannot be read exactly.
        var unsure: String?
        /// Files its options name for it to write.
        var outputs: [Word] = []
    }

    static let wrappers: [String: Spec] = [
        "nohup": Spec(valued: []),
        "nice": Spec(valued: ["-n", "--adjustment"]),
        "ionice": Spec(valued: ["-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid"],
                       noCommand: ["-p", "--pid", "-P", "--pgid", "-u", "--uid"]),
        "timeout": Spec(valued: ["-s", "--signal", "-k", "--kill-after"], leading: 1),
        "time": Spec(valued: ["-f", "--format", "-o", "--output"], output: ["-o", "--output"],
                     flags: ["-a", "--append", "-p", "--portability", "-q", "--quiet", "-v", "--verbose"]),
        "stdbuf": Spec(valued: ["-i", "--input", "-o", "--output", "-e", "--error"]),
        "setsid": Spec(valued: []),
        "chrt": Spec(valued: ["-T", "--sched-runtime", "-P", "--sched-period", "-D", "--sched-deadline"], leading: 1,
                     noCommand: ["-p", "--pid", "-m", "--max", "-h", "--help", "-V", "--version"],
                     flags: ["-b", "--batch", "-d", "--deadline", "-f", "--fifo", "-i", "--idle", "-o", "--other", "-r", "--rr",
                             "-R", "--reset-on-fork", "-a", "--all-tasks", "-v", "--verbose"]),
        "taskset": Spec(valued: [], leading: 1),
        "unshare": Spec(valued: ["--map-user", "--map-group", "--map-users", "--map-groups", "--propagation", "--setgroups",
                                 "-S", "--setuid", "-G", "--setgid", "--monotonic", "--boottime", "-R", "--root", "-w", "--wd"],
                        chdir: ["-w", "--wd"], unsure: ["-R", "--root"],
                        flags: ["-m", "--mount", "-u", "--uts", "-i", "--ipc", "-n", "--net", "-p", "--pid", "-U", "--user", "-C",
                                "--cgroup", "-T", "--time", "-f", "--fork", "-r", "--map-root-user", "-c", "--map-current-user",
                                "--map-auto", "--kill-child", "--mount-proc", "--keep-caps"]),
        "xargs": Spec(valued: ["-d", "--delimiter", "-E", "-I", "-L", "-n", "--max-args", "-P", "--max-procs", "-s", "--max-chars",
                               "-a", "--arg-file", "--process-slot-var"], defaultCommand: ["echo"]),
        // Their short options only; a long one (strace has dozens) is not read here.
        "strace": Spec(valued: ["-e", "-o", "-p", "-s", "-u", "-E", "-P", "-a", "-b", "-I", "-O", "-S", "-U", "-X"],
                       output: ["-o"],
                       flags: ["-c", "-C", "-d", "-D", "-f", "-F", "-i", "-k", "-n", "-q", "-r", "-t", "-T", "-v", "-w", "-x", "-y",
                               "-z", "-Z"], environment: ["-E"]),
        "ltrace": Spec(valued: ["-a", "-A", "-D", "-e", "-F", "-l", "-n", "-o", "-p", "-s", "-u", "-w", "-x"], output: ["-o"],
                       flags: ["-b", "-c", "-C", "-f", "-i", "-r", "-S", "-t", "-T"]),
        // -m ... -T take a file attached only; -r and -w likewise, and without
        // one mean the target's root and directory.
        "nsenter": Spec(valued: ["-t", "--target", "-S", "--setuid", "-G", "--setgid", "-W", "--wdns"],
                        unsure: ["-r", "--root", "-w", "--wd", "-W", "--wdns"],
                        flags: ["-a", "--all", "-m", "--mount", "-u", "--uts", "-i", "--ipc", "-n", "--net", "-p", "--pid", "-C",
                                "--cgroup", "-U", "--user", "-T", "--time", "--preserve-credentials", "-F", "--no-fork",
                                "-Z", "--follow-context"],
                        attachedOnly: ["-m", "-u", "-i", "-n", "-p", "-C", "-U", "-T"]),
        "chroot": Spec(valued: ["--userspec", "--groups"], leading: 1),
        // With -u; runuser without it is su, read in runuser().
        "runuser": Spec(valued: ["-u", "--user", "-g", "--group", "-G", "--supp-group", "-w", "--whitelist-environment", "-s",
                                 "--shell"],
                        flags: ["-m", "-p", "--preserve-environment", "-P", "--pty", "-f", "--fast"]),
    ]

    /// Splits a wrapper's options from the command it runs. A word that is
    /// an expansion or a pattern ends the options (and, as the command name,
    /// is unknowable); a long option that may abbreviate one that takes a
    /// value is not guessed at (GNU tools take any unique prefix).
    func strip(_ words: [Word], spec: Spec) -> Stripped {
        var out = Stripped()
        var i = 0
        // A value known only at run time may split into several words and
        // move where the command starts (timeout $D, with D="5 rm").
        var slotUnsure: String?
        func value(_ attached: Substring) -> Word? {
            if !attached.isEmpty { return Word(String(attached)) }
            i += 1
            guard i < words.count else { return nil }
            if !words[i].isStatic || Self.isPattern(words[i].bytes) { slotUnsure = "an option's value is known only at run time (\(words[i].text))" }
            return words[i]
        }
        while i < words.count {
            let w = words[i]
            guard w.isStatic, !Self.isPattern(w.bytes) else { break }
            let t = w.text
            if t == "--" { i += 1; break }
            guard t.hasPrefix("-"), t.count > 1 else { break }
            if t.hasPrefix("--") {
                let parts = t.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0])
                if spec.noCommand.contains(name) { return out }
                if spec.unsure.contains(name) {
                    out.unsure = "\(name) changes what it runs in ways not followed here"
                    return out
                }
                if spec.valued.contains(name) {
                    let v = parts.count == 2 ? Word(String(parts[1])) : value("")
                    if spec.chdir.contains(name) { out.directory = v }
                    if spec.output.contains(name), let v { out.outputs.append(v) }
                } else if spec.valued.contains(where: { $0.hasPrefix("--") && $0.hasPrefix(name) }) {
                    out.unsure = "\(name) may abbreviate one of its options"
                    return out
                } else if let flags = spec.flags, !flags.contains(name) {
                    out.unsure = "it is given \(name), an option not read here"
                    return out
                }
            } else {
                // A cluster: -abc, or -nVALUE for a valued option.
                for (k, ch) in t.dropFirst().enumerated() {
                    let opt = "-" + String(ch)
                    if spec.noCommand.contains(opt) { return out }
                    if spec.unsure.contains(opt) {
                        out.unsure = "\(opt) changes what it runs in ways not followed here"
                        return out
                    }
                    if spec.attachedOnly.contains(opt) { break }  // the rest of the cluster is its file
                    if spec.valued.contains(opt) {
                        let v = value(t.dropFirst(k + 2))
                        if spec.chdir.contains(opt) { out.directory = v }
                        if spec.output.contains(opt), let v { out.outputs.append(v) }
                        if spec.environment.contains(opt), let v, Self.changesWhatRuns(v) {
                            out.unsure = "it sets \(String(decoding: v.bytes.prefix { $0 != 0x3D }, as: UTF8.self)), which changes what commands run"
                        }
                        break
                    }
                    if let flags = spec.flags, !flags.contains(opt) {
                        out.unsure = "it is given \(opt), an option not read here"
                        return out
                    }
                }
            }
            i += 1
        }
        if spec.assignments {
            while i < words.count, words[i].isStatic, !Self.isPattern(words[i].bytes), words[i].bytes.contains(0x3D), words[i].bytes.first != 0x3D {
                if Self.changesWhatRuns(words[i]) {
                    out.unsure = "it sets \(String(decoding: words[i].bytes.prefix { $0 != 0x3D }, as: UTF8.self)), which changes what commands run"
                }
                i += 1
            }
        }
        for k in i..<min(i + spec.leading, words.count) where !words[k].isStatic || Self.isPattern(words[k].bytes) {
            slotUnsure = "its argument \(words[k].text) is known only at run time"
        }
        i += spec.leading
        if out.unsure == nil { out.unsure = slotUnsure }
        if i < words.count {
            out.command = Array(words[i...])
        } else if !spec.defaultCommand.isEmpty {
            out.command = spec.defaultCommand.map { Word($0) }
        }
        return out
    }

    mutating func wrapped(_ rest: [Word], spec: Spec, via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        let st = strip(rest, spec: spec)
        if let why = st.unsure { markUnknowable(why) }
        for file in st.outputs {
            if file.isStatic, file.bytes.first == 0x7C || file.bytes.first == 0x21 {
                // strace -o '|cmd' and '!cmd' pipe into a shell command.
                try shellString(Word(bytes: Array(file.bytes.dropFirst()), isStatic: true, quoted: false), via: via,
                                context: context, depth: depth, what: "an output pipe", dialect: .posix)
            } else if file.isStatic && !Self.isPattern(file.bytes) {
                appendCommand([Array("tee".utf8), expandingTilde(file).bytes], via: via + ["output"], context: context)
            } else {
                items.append(.init(argv: [Array("tee".utf8), file.bytes], via: via + ["output"],
                                   unknowable: "it writes to a file named only at run time (\(file.text))", context: context))
            }
        }
        guard var cmd = st.command else { return }
        if via.last == "xargs" {
            let options = rest.count >= cmd.count && Array(rest.suffix(cmd.count)) == cmd ? Array(rest.dropLast(cmd.count)) : rest
            cmd = Self.xargsCommand(cmd, options: options)
        }
        try command(cmd, in: st.directory, via: via, context: context, depth: depth + 1)
    }

    /// xargs adds words read from its input: without -I, at the end of the
    /// command (so `xargs sh -c` runs a string known only at run time); with
    /// -I STR, in place of STR in each word that holds it.
    static func xargsCommand(_ cmd: [Word], options: [Word]) -> [Word] {
        var replace: [UInt8]?
        for (k, w) in options.enumerated() {
            let t = w.text
            if t == "-I", k + 1 < options.count { replace = options[k + 1].bytes }
            else if t.hasPrefix("-I") && t.count > 2 { replace = Array(w.bytes.dropFirst(2)) }
            else if t == "-i" || t == "--replace" { replace = Array("{}".utf8) }
            else if t.hasPrefix("-i") && t.count > 2 { replace = Array(w.bytes.dropFirst(2)) }
            else if t.hasPrefix("--replace=") { replace = Array(w.bytes.dropFirst(10)) }
        }
        guard let replace, !replace.isEmpty else {
            return cmd + [Word(bytes: Array("{input}".utf8), isStatic: false, quoted: false)]
        }
        return cmd.enumerated().map { k, w in
            guard k > 0, contains(w.bytes, replace) else { return w }  // xargs does not replace in the command name
            var d = w
            d.isStatic = false
            return d
        }
    }

    /// Whether `part` occurs in `bytes`.
    static func contains(_ bytes: [UInt8], _ part: [UInt8]) -> Bool {
        guard !part.isEmpty, bytes.count >= part.count else { return false }
        return (0...(bytes.count - part.count)).contains { i in bytes[i] == part[0] && bytes[i..<(i + part.count)].elementsEqual(part) }
    }

    /// A command a wrapper runs in another directory (env -C, unshare -w,
    /// sudo -D): judged there, and only there.
    mutating func command(_ cmd: [Word], in directory: Word?, via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        guard let directory else {
            try command(cmd, via: via, context: context, depth: depth)
            return
        }
        guard directory.isStatic, !Self.isPattern(directory.bytes), directory.bytes.first != 0x7E else {
            markUnknowable("it changes to a directory known only at run time (\(directory.text))")
            return
        }
        let saved = directories
        directories = []
        for d in saved {
            let joined = directory.bytes.first == 0x2F || d == nil ? directory.bytes : d! + [0x2F] + directory.bytes
            if !directories.contains(joined) { directories.append(joined) }
        }
        defer { directories = saved }
        try command(cmd, via: via, context: context, depth: depth)
    }

    /// runuser -u USER CMD runs CMD; without -u it is su: -c STRING runs
    /// through the user's shell, and anything else starts that shell.
    mutating func runuser(_ rest: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        let options = rest.prefix { !($0.isStatic && $0.text == "--") }
        if options.contains(where: { $0.isStatic && ($0.text == "-u" || $0.text.hasPrefix("--user") || ($0.text.hasPrefix("-u") && !$0.text.hasPrefix("--"))) }) {
            try wrapped(rest, spec: Self.wrappers["runuser"]!, via: via, context: context, depth: depth)
            return
        }
        for (k, w) in rest.enumerated() where w.isStatic {
            let t = w.text
            if t == "-c" || t == "--command" || t == "--session-command", k + 1 < rest.count {
                try shellString(rest[k + 1], via: via, context: context, depth: depth, what: "runuser -c", dialect: .posix)
                return
            }
            if t.hasPrefix("--command=") || t.hasPrefix("--session-command=") {
                let value = Word(bytes: Array(w.bytes.drop { $0 != 0x3D }.dropFirst()), isStatic: true, quoted: false)
                try shellString(value, via: via, context: context, depth: depth, what: "runuser -c", dialect: .posix)
                return
            }
        }
        markUnknowable("runuser without -u starts the user's shell with what it is given")
    }

    mutating func sudo(_ rest: [Word], name: String, via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        let valued: Set<String> = name == "doas"
            ? ["-u", "-C"]
            : ["-u", "--user", "-g", "--group", "-h", "--host", "-p", "--prompt", "-C", "--close-from", "-D", "--chdir",
               "-r", "--role", "-t", "--type", "-T", "--command-timeout", "-U", "--other-user", "-R", "--chroot"]
        let shellFlags = rest.prefix { $0.isStatic && $0.text.hasPrefix("-") }
            .contains { $0.text == "--shell" || $0.text == "--login" || (!$0.text.hasPrefix("--") && ($0.text.contains("s") || $0.text.contains("i"))) }
        let st = strip(rest, spec: Spec(valued: valued, assignments: name == "sudo", chdir: name == "sudo" ? ["-D", "--chdir"] : []))
        if let why = st.unsure { markUnknowable(why) }
        guard let cmd = st.command else {
            if shellFlags { markUnknowable("\(name) opens an interactive shell") }
            return
        }
        if shellFlags && name == "sudo" {
            // sudo -s/-i CMD runs CMD through the target user's shell.
            try shellString(Word(bytes: Array(cmd.map(\.bytes).joined(separator: [0x20])), isStatic: cmd.allSatisfy(\.isStatic), quoted: false),
                            via: via, context: context, depth: depth, what: "sudo -s", dialect: .posix)
            return
        }
        try command(cmd, in: st.directory, via: via, context: context, depth: depth + 1)
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
            // Only bash is read as bash alone; any other shell as dash and bash both.
            dialect = name == "bash" ? .bash : .posix
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
        let st = strip(rest, spec: spec)
        if let why = st.unsure { markUnknowable(why) }
        guard let cmd = st.command else { return }
        if exec {
            try command(cmd, via: via, context: context, depth: depth + 1)
        } else {
            // Without -x, watch joins its words and runs them with sh -c.
            let joined = Word(bytes: Array(cmd.map(\.bytes).joined(separator: [0x20])), isStatic: cmd.allSatisfy(\.isStatic), quoted: false)
            try shellString(joined, via: via, context: context, depth: depth, what: "watch", dialect: .posix)
        }
    }

    mutating func flock(_ rest: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        let st = strip(rest, spec: Spec(valued: ["-w", "--timeout", "-E", "--conflict-exit-code"]))
        if let why = st.unsure { markUnknowable(why) }
        guard let afterOptions = st.command, afterOptions.count >= 2 else { return }
        let cmd = Array(afterOptions.dropFirst())  // the lock file or fd
        if let c = cmd.first, c.text == "-c" || c.text == "--command" {
            if cmd.count >= 2 { try shellString(cmd[1], via: via, context: context, depth: depth, what: "flock -c", dialect: .posix) }
        } else {
            try command(cmd, via: via, context: context, depth: depth + 1)
        }
    }

    /// A nested `aegis-exec [OPTIONS] -- CMD` or `aegis-exec -c STRING`: the
    /// outer gate judges the inner command as well, reading the options with
    /// the gate's own grammar (GateOptionSyntax), as the nested gate will.
    mutating func nestedGate(_ rest: [Word], via: [String], context: ShellCommand.Context, depth: Int) throws(ShellSyntaxError) {
        if let first = rest.first, first.isStatic, GateOptionSyntax.isToolCommand(first.text) {
            // A subcommand, which gates nothing; `init [PATH]` writes a starter policy.
            if first.text == "init" {
                var path = Word("policy.yaml")
                var k = 1
                while k < rest.count {
                    if rest[k].text == "--template" { k += 2; continue }
                    if !rest[k].text.hasPrefix("-") || rest[k].text == "-" { path = rest[k] }
                    k += 1
                }
                if path.text != "-" {
                    if path.isStatic { appendCommand([Array("tee".utf8), path.bytes], via: via + ["init"], context: context) } else {
                        items.append(.init(argv: [Array("tee".utf8), path.bytes], via: via + ["init"],
                                           unknowable: "aegis-exec init writes to a file named only at run time (\(path.text))", context: context))
                    }
                }
            }
            return
        }
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
            if name == t, i + 1 < rest.count, !rest[i + 1].isStatic {
                markUnknowable("a nested aegis-exec is given an option value known only at run time (\(rest[i + 1].text))")
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
        try shellString(rest[i], via: via, context: context, depth: depth, what: "aegis-exec -c", dialect: .posix)
    }

    /// env(1) as GNU coreutils reads it: options (`-` is `-i`; `-u`, `-C`,
    /// `-a` take a value, attached or next; `-S STRING` splits STRING into
    /// arguments and reads on), then NAME=VALUE, then the command.
    /// `directory`: a -C given before a -S whose words are read here.
    mutating func env(_ rest: [Word], via: [String], context: ShellCommand.Context, depth: Int,
                      directory chdir: Word? = nil) throws(ShellSyntaxError) {
        guard depth <= ShellAnalysis.maxWrapping else {
            markUnknowable("commands nested more than \(ShellAnalysis.maxWrapping) levels deep")
            return
        }
        var i = 0
        var directory = chdir
        func value(_ attached: ArraySlice<UInt8>) -> Word? {
            if !attached.isEmpty { return Word(bytes: Array(attached), isStatic: rest[i].isStatic, quoted: false) }
            i += 1
            guard i < rest.count else { return nil }
            // One known only at run time may split and shift the command (env -u $V).
            if !rest[i].isStatic || Self.isPattern(rest[i].bytes) {
                markUnknowable("an option's value is known only at run time (\(rest[i].text))")
            }
            return rest[i]
        }
        options: while i < rest.count {
            let w = rest[i]
            // An expansion or a pattern may become any option: as the command
            // name it is unknowable.
            guard w.isStatic, !Self.isPattern(w.bytes) else { break }
            let b = w.bytes
            if b == [0x2D, 0x2D] { i += 1; break }
            if b == [0x2D] { i += 1; continue }
            guard b.count > 1, b[0] == 0x2D else { break }
            if b[1] == 0x2D {
                let eq = b.firstIndex(of: 0x3D)
                let written = String(decoding: b[..<(eq ?? b.endIndex)], as: UTF8.self)
                let attached = eq.map { b[($0 + 1)...] } ?? []
                // GNU env takes any unique prefix of a long option (--spl for --split-string).
                let matches = Self.envLongOptions.filter { $0.hasPrefix(written) }
                guard let name = matches.contains(written) ? written : (matches.count == 1 ? matches[0] : nil) else {
                    if !matches.isEmpty { markUnknowable("env is given \(written), which abbreviates more than one of its options") }
                    return  // env refuses an option it does not know, and runs nothing
                }
                switch name {
                case "--split-string":
                    guard let s = eq == nil ? value([]) : Word(bytes: Array(attached), isStatic: true, quoted: false) else { return }
                    try splitString(s, then: Array(rest[(i + 1)...]), via: via, context: context, depth: depth, directory: directory)
                    return
                case "--chdir":
                    directory = eq == nil ? value([]) : Word(bytes: Array(attached), isStatic: true, quoted: false)
                case "--unset", "--argv0":
                    if eq == nil { _ = value([]) }
                case "--help", "--version", "--list-signal-handling":
                    if name != "--list-signal-handling" { return }  // prints, runs nothing
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
                    try splitString(s, then: Array(rest[(i + 1)...]), via: via, context: context, depth: depth, directory: directory)
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
        // leaves the program judged unsure. Only a literal word is an assignment:
        // an expansion or a pattern may become an option or the command.
        while i < rest.count, rest[i].isStatic, !Self.isPattern(rest[i].bytes), rest[i].bytes.contains(0x3D), rest[i].bytes.first != 0x3D {
            if Self.changesWhatRuns(rest[i]) {
                markUnknowable("env sets \(String(decoding: rest[i].bytes.prefix { $0 != 0x3D }, as: UTF8.self)), which changes what commands run")
            }
            i += 1
        }
        guard i < rest.count else { return }
        // With -C DIR the command runs in DIR (or not at all).
        try command(Array(rest[i...]), in: directory, via: via, context: context, depth: depth + 1)
    }

    /// GNU env's long options (coreutils 9), for reading abbreviations as env does.
    static let envLongOptions = ["--argv0", "--block-signal", "--chdir", "--debug", "--default-signal", "--help",
                                 "--ignore-environment", "--ignore-signal", "--list-signal-handling", "--null",
                                 "--split-string", "--unset", "--version"]

    /// `env -S STRING ARGS...`: STRING split as env splits it, then read as
    /// env's own arguments again. A string env would expand or that this
    /// reading is unsure of is not guessed at.
    mutating func splitString(_ s: Word, then more: [Word], via: [String], context: ShellCommand.Context, depth: Int,
                              directory: Word?) throws(ShellSyntaxError) {
        guard s.isStatic, let words = Self.envSplit(s.bytes) else {
            markUnknowable("env -S splits a string this gate cannot read exactly (\(s.text))")
            return
        }
        try env(words.map { Word(bytes: $0, isStatic: true, quoted: false) } + more, via: via, context: context, depth: depth + 1,
                directory: directory)
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
