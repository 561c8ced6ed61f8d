/// env(1), read as GNU coreutils reads it, -S splitting included.
extension Analyzer {
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
                case "--help", "--version":
                    return  // prints, runs nothing
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
