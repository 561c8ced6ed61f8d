/// Wrappers that run other commands (nice, timeout, xargs, sudo, sh -c, find
/// -exec, a nested aegis-exec ...): what each would run, read as the tool
/// itself reads its arguments, or marked unknowable where that is not sure.
extension Analyzer {
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
}
