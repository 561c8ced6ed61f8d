#if canImport(Glibc)
import Glibc
#endif
import AegisPolicy

/// What ships inside the binary: the default command mapping and the policy
/// templates, embedded from policies/ at build time (so the files users read
/// are the files that run).
public enum Builtin {
    static let mappingFile = "<built-in commands.yaml>"

    /// The whole built-in mapping (policies/commands.yaml). Parsing all of it
    /// costs milliseconds; the gate uses `commandMapping(program:path:)`.
    public static func commandMapping() throws(BuiltinMappingError) -> [CommandMapping.Entry] {
        try parse(PackageResources.commands_yaml)
    }

    /// The built-in entries that could match a program, in file order: what
    /// `commandMapping()` gives, minus entries whose program glob cannot match.
    /// They come from the compiled mapping embedded beside the YAML
    /// (Compiled/commands.map, made by `compileMapping` from
    /// policies/commands.yaml and checked against it by the test suite), so a
    /// command pays for decoding its own entries, not for parsing YAML (`git`
    /// has 95 entries, which took a millisecond to parse), and, through the
    /// mapping's index of plain program words, not for a walk past the
    /// thousand others.
    public static func commandMapping(program: String, path: String?) throws(BuiltinMappingError) -> [CommandMapping.Entry] {
        try select(program: program, path: path, from: PackageResources.commands_map)
    }

    static func select(program: String, path: String?, from bytes: [UInt8]) throws(BuiltinMappingError) -> [CommandMapping.Entry] {
        let resolvedName = path.map(CommandMapping.baseName)
        let programBytes = Array(program.utf8), resolvedBytes = resolvedName.map { Array($0.utf8) }
        // A non-ASCII name may equal a plain word as a String (canonical
        // equivalence: U+212A is K) without equalling its bytes; the walk
        // compares such names as the parser would.
        guard isASCII(programBytes) && (resolvedBytes.map(isASCII) ?? true) else {
            return try walkedMapping(program: program, resolvedName: resolvedName, path: path, from: bytes)
        }
        guard let map = CompiledMapping(bytes) else { throw damagedMapping }
        var records: [Int] = []
        // Records whose token is not a plain word (a glob or a quoted name)
        // are decided by the parser's rules.
        var lastToken: ArraySlice<UInt8> = []
        var lastMatches = false
        let table = map.walk(wants: { word in
            word.elementsEqual(programBytes) || (resolvedBytes.map { word.elementsEqual($0) } ?? false)
        }, record: { records.append($0) }, other: { n, token in
            if token != lastToken || token.isEmpty {
                lastToken = token
                lastMatches = !cannotMatchASCII(token, programBytes, resolvedBytes)
                    && tokenCanMatch(token, program: program, resolvedName: resolvedName, path: path)
            }
            if lastMatches { records.append(n) }
        })
        guard let table else { throw damagedMapping }
        records.sort()
        var out: [CommandMapping.Entry] = []
        out.reserveCapacity(records.count)
        for n in records {
            guard let record = map.record(n, offsets: table), let entry = try? PolicyCodec.decodeEntry(record.entry) else {
                throw damagedMapping
            }
            out.append(entry)
        }
        return out
    }

    /// The same selection by walking every record and deciding each token
    /// with the parser's rules: for names that are not ASCII, and as the
    /// reference the index is tested against.
    static func walkedMapping(program: String, resolvedName: String?, path: String?,
                              from bytes: [UInt8] = PackageResources.commands_map) throws(BuiltinMappingError) -> [CommandMapping.Entry] {
        var out: [CommandMapping.Entry] = []
        var failed = false
        var lastToken: ArraySlice<UInt8> = []
        var lastMatches = false
        let whole = walkCompiled(bytes) { token, entry in
            if token != lastToken || token.isEmpty {
                lastToken = token
                lastMatches = tokenCanMatch(token, program: program, resolvedName: resolvedName, path: path)
            }
            guard lastMatches else { return }
            do { out.append(try PolicyCodec.decodeEntry(entry)) } catch { failed = true }
        }
        if failed || !whole { throw damagedMapping }
        return out
    }

    static var damagedMapping: BuiltinMappingError {
        BuiltinMappingError(diagnostics: [Diagnostic(file: mappingFile, line: 1, column: 1,
            message: "the compiled built-in mapping is damaged or does not match commands.yaml; rebuild aegis-exec")])
    }

    static let compiledMagic = Array("AEGISBM2".utf8)

    /// The compiled mapping, all numbers 4 bytes little-endian:
    /// - the magic; the length of the commands.yaml it was made from and its
    ///   number of entries (so a binary whose YAML was edited without
    ///   regenerating it refuses to judge rather than judge by stale entries);
    /// - the index: the number of plain program words, then per word (as
    ///   `plainASCIIWord` gives it) its length, its bytes, the number of
    ///   records with that word and their numbers, ascending;
    /// - the number of other records (tokens that are globs or not plain),
    ///   then per record its number and its token (length-prefixed);
    /// - each record's offset in the blob;
    /// - the records, in file order: raw program token and encoded entry, each length-prefixed.
    public static func compileMapping(_ yaml: [UInt8]) throws(BuiltinMappingError) -> [UInt8] {
        var tokens: [ArraySlice<UInt8>] = []
        var encoded: [[UInt8]] = []
        var problems: [Diagnostic] = []
        forEachEntryLine(in: yaml) { line, token, number in
            let file = PolicyLoader.load(bytes: Array("commands:\n".utf8) + line, file: mappingFile)
            guard file.isValid, file.policy.commands.count == 1, var entry = file.policy.commands.first else {
                problems.append(Diagnostic(file: mappingFile, line: number, column: 1, message: "not one valid entry: \(file.errors)"))
                return
            }
            // Where the entry really is in commands.yaml.
            entry.location = SourceLocation(file: mappingFile, line: number, column: 5)
            tokens.append(token)
            encoded.append(PolicyCodec.encode(entry))
        }
        guard problems.isEmpty else { throw BuiltinMappingError(diagnostics: problems) }

        var out = compiledMagic
        func append32(_ n: Int) { for k in 0..<4 { out.append(UInt8((n >> (8 * k)) & 0xFF)) } }
        append32(yaml.count)
        append32(tokens.count)
        var words: [[UInt8]] = []
        var numbers: [[Int]] = []
        var others: [Int] = []
        for (n, token) in tokens.enumerated() {
            guard let word = plainASCIIWord(token).map(Array.init) else { others.append(n); continue }
            if let w = words.firstIndex(of: word) { numbers[w].append(n) } else { words.append(word); numbers.append([n]) }
        }
        append32(words.count)
        for (word, list) in zip(words, numbers) {
            append32(word.count)
            out += word
            append32(list.count)
            list.forEach(append32)
        }
        append32(others.count)
        for n in others {
            append32(n)
            append32(tokens[n].count)
            out += tokens[n]
        }
        var offset = out.count + 4 * tokens.count
        for (token, entry) in zip(tokens, encoded) {
            append32(offset)
            offset += 8 + token.count + entry.count
        }
        for (token, entry) in zip(tokens, encoded) {
            append32(token.count)
            out += token
            append32(entry.count)
            out += entry
        }
        return out
    }

    /// The compiled mapping's header and tables, read with every length and
    /// number checked against the blob: a damaged blob gives nil or false, never a trap.
    struct CompiledMapping {
        let bytes: [UInt8]
        let entryCount: Int
        let indexStart: Int

        init?(_ bytes: [UInt8], yamlLength: Int = PackageResources.commands_yaml.count) {
            self.bytes = bytes
            guard bytes.count >= compiledMagic.count, bytes[0..<compiledMagic.count].elementsEqual(compiledMagic),
                  CompiledMapping.read32(bytes, compiledMagic.count) == yamlLength,
                  let count = CompiledMapping.read32(bytes, compiledMagic.count + 4),
                  // Each record takes at least 12 bytes (its offset and two lengths): a larger count is damage.
                  count <= bytes.count / 12 else { return nil }
            entryCount = count
            indexStart = compiledMagic.count + 8
        }

        static func read32(_ bytes: [UInt8], _ i: Int) -> Int? {
            guard i >= 0, bytes.count - i >= 4 else { return nil }
            return Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
        }

        /// One pass over the tables: `wants` is called with each indexed
        /// word and `record` with the numbers of the records under each word
        /// it wants, then `other` with each record not in the index and its
        /// token. Returns where the offsets table starts; nil if damaged.
        func walk(wants: (ArraySlice<UInt8>) -> Bool, record: (Int) -> Void,
                  other: (Int, ArraySlice<UInt8>) -> Void) -> Int? {
            var i = indexStart
            guard let words = CompiledMapping.read32(bytes, i) else { return nil }
            i += 4
            for _ in 0..<words {
                guard let len = CompiledMapping.read32(bytes, i), bytes.count - (i + 4) >= len else { return nil }
                let wanted = wants(bytes[(i + 4)..<(i + 4 + len)])
                i += 4 + len
                guard let n = CompiledMapping.read32(bytes, i), n <= entryCount, bytes.count - (i + 4) >= 4 * n else { return nil }
                i += 4
                if wanted {
                    for k in 0..<n {
                        guard let r = CompiledMapping.read32(bytes, i + 4 * k), r < entryCount else { return nil }
                        record(r)
                    }
                }
                i += 4 * n
            }
            guard let n = CompiledMapping.read32(bytes, i), n <= entryCount else { return nil }
            i += 4
            for _ in 0..<n {
                guard let r = CompiledMapping.read32(bytes, i), r < entryCount,
                      let len = CompiledMapping.read32(bytes, i + 4), bytes.count - (i + 8) >= len else { return nil }
                other(r, bytes[(i + 8)..<(i + 8 + len)])
                i += 8 + len
            }
            return i
        }

        /// Where the offsets table starts.
        var offsetsStart: Int? { walk(wants: { _ in false }, record: { _ in }, other: { _, _ in }) }

        /// One record: its raw program token and its encoded entry. (A struct:
        /// an optional tuple's metadata is built at run time on first use.)
        struct Record {
            var token: ArraySlice<UInt8>
            var entry: ArraySlice<UInt8>
        }

        /// Record `n`.
        func record(_ n: Int, offsets table: Int) -> Record? {
            guard n >= 0, n < entryCount,
                  let at = CompiledMapping.read32(bytes, table + 4 * n), at >= table + 4 * entryCount,
                  let tn = CompiledMapping.read32(bytes, at), bytes.count - (at + 4) >= tn,
                  let en = CompiledMapping.read32(bytes, at + 4 + tn), bytes.count - (at + 8 + tn) >= en else { return nil }
            return Record(token: bytes[(at + 4)..<(at + 4 + tn)], entry: bytes[(at + 8 + tn)..<(at + 8 + tn + en)])
        }
    }

    /// Whether the embedded compiled mapping is whole and made from the
    /// embedded YAML: its header, then as many records as it says, to its end.
    static var compiledMappingIsWellFormed: Bool { walkCompiled(PackageResources.commands_map) { _, _ in } }

    /// Calls `body` with each record's program token and encoded entry, in
    /// order; false when the bytes are not a whole compiled mapping of the
    /// embedded commands.yaml (then a command is refused). Also checks that
    /// the index and the list of others name every record exactly once, each
    /// under its own word, and that the offsets point at the records.
    @discardableResult
    static func walkCompiled(_ bytes: [UInt8], yamlLength: Int = PackageResources.commands_yaml.count,
                             _ body: (ArraySlice<UInt8>, ArraySlice<UInt8>) -> Void) -> Bool {
        guard let map = CompiledMapping(bytes, yamlLength: yamlLength) else { return false }
        var owner = [Int](repeating: -1, count: map.entryCount)
        var consistent = true
        var words: [ArraySlice<UInt8>] = []
        var otherTokens: [ArraySlice<UInt8>?] = Array(repeating: nil, count: map.entryCount)
        let walked = map.walk(wants: { word in
            words.append(word)
            return true
        }, record: { n in
            if owner[n] != -1 { consistent = false } else { owner[n] = words.count - 1 }
        }, other: { n, token in
            if owner[n] != -1 { consistent = false } else { owner[n] = -2 }
            otherTokens[n] = token
        })
        guard let table = walked, bytes.count - table >= 4 * map.entryCount, consistent, !owner.contains(-1) else { return false }
        var i = table + 4 * map.entryCount
        for n in 0..<map.entryCount {
            guard CompiledMapping.read32(bytes, table + 4 * n) == i, let record = map.record(n, offsets: table) else { return false }
            let word = plainASCIIWord(record.token)
            if owner[n] == -2 ? word != nil || otherTokens[n] != record.token
                              : word.map({ !$0.elementsEqual(words[owner[n]]) }) ?? true { return false }
            i += 8 + record.token.count + record.entry.count
            body(record.token, record.entry)
        }
        return i == bytes.count
    }

    static func parse(_ bytes: [UInt8]) throws(BuiltinMappingError) -> [CommandMapping.Entry] {
        let file = PolicyLoader.load(bytes: bytes, file: mappingFile)
        guard file.isValid else { throw BuiltinMappingError(diagnostics: file.errors) }
        return file.policy.commands
    }

    static let entryPrefix = Array("  - { program: ".utf8)

    /// Calls `body` with each line of the embedded file that holds a mapping
    /// entry, and the raw program token that follows `program: ` on it.
    static func forEachEntryLine(_ body: (ArraySlice<UInt8>, ArraySlice<UInt8>) -> Void) {
        forEachEntryLine(in: PackageResources.commands_yaml) { line, token, _ in body(line, token) }
    }

    /// The same for any text of that shape, with each line's number (from 1).
    static func forEachEntryLine(in bytes: [UInt8], _ body: (ArraySlice<UInt8>, ArraySlice<UInt8>, Int) -> Void) {
        let prefix = entryPrefix
        bytes.withUnsafeBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            var start = 0
            var number = 1
            while start < buf.count {
                var end = buf.count
                if let nl = memchr(base + start, 0x0A, buf.count - start) {
                    end = UnsafePointer<UInt8>(nl.assumingMemoryBound(to: UInt8.self)) - base
                }
                let isEntry = end - start > prefix.count
                    && prefix.withUnsafeBufferPointer { memcmp(base + start, $0.baseAddress!, prefix.count) == 0 }
                if isEntry {
                    var t = start + prefix.count
                    while t < end && buf[t] != UInt8(ascii: ",") && buf[t] != UInt8(ascii: "}") { t += 1 }
                    body(bytes[start..<end], bytes[(start + prefix.count)..<t], number)
                }
                start = end + 1
                number += 1
            }
        }
    }

    /// True when a glob token certainly cannot match these ASCII names: its
    /// pattern is ASCII without '/' (so it is matched against the names
    /// scalar by scalar), and neither name both starts with its literal
    /// prefix and ends with its literal suffix. Saves parsing the thirty-odd globs of the
    /// mapping for every command; false (ask the parser) whenever unsure.
    static func cannotMatchASCII(_ raw: ArraySlice<UInt8>, _ program: [UInt8], _ resolved: [UInt8]?) -> Bool {
        var token = raw
        while token.last == UInt8(ascii: " ") { token = token.dropLast() }
        guard token.count >= 2, token.first == UInt8(ascii: "\""), token.last == UInt8(ascii: "\"") else { return false }
        token = token.dropFirst().dropLast()
        func wildcard(_ b: UInt8) -> Bool { b == UInt8(ascii: "*") || b == UInt8(ascii: "?") || b == UInt8(ascii: "[") }
        // The suffix starts after the last wildcard or class bracket: a class's members are not literals.
        guard let first = token.firstIndex(where: wildcard), let last = token.lastIndex(where: { wildcard($0) || $0 == UInt8(ascii: "]") }),
              !token.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "/") || $0 >= 0x80 })
        else { return false }
        let prefix = token[..<first], suffix = token[(last + 1)...]
        func possible(_ name: [UInt8]) -> Bool {
            name.count >= prefix.count + suffix.count && name.starts(with: prefix)
                && name[(name.count - suffix.count)...].elementsEqual(suffix)
        }
        return !possible(program) && !(resolved.map(possible) ?? false)
    }

    /// Whether an entry with this program token could match; true when the
    /// token is not a plain or simply quoted word (then the parser decides).
    static func tokenCanMatch(_ raw: ArraySlice<UInt8>, program: String, resolvedName: String?, path: String?) -> Bool {
        guard let pattern = programToken(raw) else { return true }
        if !pattern.utf8.contains(where: { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "/") }) {
            return pattern == program || pattern == resolvedName
        }
        guard let glob = try? Glob(pattern) else { return true }
        return CommandMapping.programMatches(glob, program: program, path: path)
    }

    /// The token as a bare ASCII word without wildcards or '/' (`rm`, `"git"`):
    /// what `programToken` would give for it, as bytes; nil for anything else,
    /// which `tokenCanMatch` then decides.
    static func plainASCIIWord(_ raw: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        var token = raw
        while token.last == UInt8(ascii: " ") { token = token.dropLast() }
        if let q = token.first, q == UInt8(ascii: "\"") || q == UInt8(ascii: "'") {
            guard token.count >= 2, token.last == q else { return nil }
            token = token.dropFirst().dropLast()
        }
        guard let first = token.first else { return nil }
        switch first {
        case UInt8(ascii: "*"), UInt8(ascii: "&"), UInt8(ascii: "!"), UInt8(ascii: "|"), UInt8(ascii: ">"), UInt8(ascii: "%"),
             UInt8(ascii: "@"), UInt8(ascii: "`"), UInt8(ascii: "#"), UInt8(ascii: "{"), UInt8(ascii: "["):
            return nil  // a YAML indicator, as in programToken
        default: break
        }
        for b in token where b >= 0x80 || b == UInt8(ascii: "*") || b == UInt8(ascii: "?") || b == UInt8(ascii: "[")
            || b == UInt8(ascii: "/") || b == UInt8(ascii: "\\") || b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") {
            return nil
        }
        return token
    }

    static func isASCII(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy { $0 < 0x80 } }

    /// `rm` or `"mkfs.*"` (trailing spaces ignored); nil for anything else.
    static func programToken(_ raw: ArraySlice<UInt8>) -> String? {
        var token = raw
        while token.last == UInt8(ascii: " ") { token = token.dropLast() }
        if let q = token.first, q == UInt8(ascii: "\"") || q == UInt8(ascii: "'") {
            guard token.count >= 2, token.last == q else { return nil }
            token = token.dropFirst().dropLast()
            if token.contains(UInt8(ascii: "\\")) || token.contains(q) { return nil }
        } else if let first = token.first, "*&!|>%@`#{[".utf8.contains(first) {
            return nil  // a YAML indicator (alias, anchor, tag, ...): not a plain word
        }
        return token.isEmpty ? nil : String(decoding: token, as: UTF8.self)
    }

    /// Templates `aegis-exec init --template NAME` writes.
    public static let templates: [(name: String, text: String)] = [
        ("default", String(decoding: PackageResources.default_yaml, as: UTF8.self)),
        ("coding-agent", String(decoding: PackageResources.coding_agent_yaml, as: UTF8.self)),
        ("read-only", String(decoding: PackageResources.read_only_yaml, as: UTF8.self)),
        ("ci", String(decoding: PackageResources.ci_yaml, as: UTF8.self)),
        ("devops", String(decoding: PackageResources.devops_yaml, as: UTF8.self)),
        ("data-pipeline", String(decoding: PackageResources.data_pipeline_yaml, as: UTF8.self)),
        ("financial", String(decoding: PackageResources.financial_yaml, as: UTF8.self)),
        ("crm", String(decoding: PackageResources.crm_yaml, as: UTF8.self)),
        ("ecommerce", String(decoding: PackageResources.ecommerce_yaml, as: UTF8.self)),
        ("healthcare", String(decoding: PackageResources.healthcare_yaml, as: UTF8.self)),
        ("support", String(decoding: PackageResources.support_yaml, as: UTF8.self)),
        ("browser", String(decoding: PackageResources.browser_yaml, as: UTF8.self)),
    ]
}

public struct BuiltinMappingError: Error, Sendable {
    public var diagnostics: [Diagnostic]
}
