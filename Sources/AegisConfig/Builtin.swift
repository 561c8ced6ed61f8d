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
    /// command pays for decoding its own entries, not for parsing YAML: `git`
    /// has 95 entries, which took a millisecond to parse.
    public static func commandMapping(program: String, path: String?) throws(BuiltinMappingError) -> [CommandMapping.Entry] {
        let resolvedName = path.map(CommandMapping.baseName)
        let programBytes = Array(program.utf8), resolvedBytes = resolvedName.map { Array($0.utf8) }
        let asciiNames = isASCII(programBytes) && (resolvedBytes.map(isASCII) ?? true)
        var out: [CommandMapping.Entry] = []
        var failed = false
        // Consecutive entries usually share a program; decide once per run of them.
        var lastToken: ArraySlice<UInt8> = []
        var lastMatches = false
        let whole = walkCompiled(PackageResources.commands_map) { token, entry in
            if token != lastToken || token.isEmpty {
                lastToken = token
                // Most tokens are plain ASCII words: compared as bytes, with no String made.
                if asciiNames, let word = plainASCIIWord(token) {
                    lastMatches = word.elementsEqual(programBytes) || (resolvedBytes.map { word.elementsEqual($0) } ?? false)
                } else {
                    lastMatches = tokenCanMatch(token, program: program, resolvedName: resolvedName, path: path)
                }
            }
            guard lastMatches else { return }
            do { out.append(try PolicyCodec.decodeEntry(entry)) } catch { failed = true }
        }
        if failed || !whole {
            throw BuiltinMappingError(diagnostics: [Diagnostic(file: mappingFile, line: 1, column: 1,
                message: "the compiled built-in mapping is damaged or does not match commands.yaml; rebuild aegis-exec")])
        }
        return out
    }

    static let compiledMagic = Array("AEGISBM1".utf8)

    /// The compiled mapping: the magic; the length of the commands.yaml it was
    /// made from and its number of entries (so a binary whose YAML was edited
    /// without regenerating it refuses to judge rather than judge by stale
    /// entries); then per entry line, its raw program token and its encoded
    /// entry (each length-prefixed, 4 bytes little-endian), in file order.
    public static func compileMapping(_ yaml: [UInt8]) throws(BuiltinMappingError) -> [UInt8] {
        var out = compiledMagic
        func append32(_ n: Int) { for k in 0..<4 { out.append(UInt8((n >> (8 * k)) & 0xFF)) } }
        var entries = 0
        forEachEntryLine(in: yaml) { _, _, _ in entries += 1 }
        append32(yaml.count)
        append32(entries)
        var problems: [Diagnostic] = []
        forEachEntryLine(in: yaml) { line, token, number in
            let file = PolicyLoader.load(bytes: Array("commands:\n".utf8) + line, file: mappingFile)
            guard file.isValid, file.policy.commands.count == 1, var entry = file.policy.commands.first else {
                problems.append(Diagnostic(file: mappingFile, line: number, column: 1, message: "not one valid entry: \(file.errors)"))
                return
            }
            // Where the entry really is in commands.yaml.
            entry.location = SourceLocation(file: mappingFile, line: number, column: 5)
            let encoded = PolicyCodec.encode(entry)
            append32(token.count)
            out += token
            append32(encoded.count)
            out += encoded
        }
        guard problems.isEmpty else { throw BuiltinMappingError(diagnostics: problems) }
        return out
    }

    /// Whether the embedded compiled mapping is whole and made from the
    /// embedded YAML: its header, then as many records as it says, to its end.
    static var compiledMappingIsWellFormed: Bool { walkCompiled(PackageResources.commands_map) { _, _ in } }

    /// Calls `body` with each record's program token and encoded entry; false
    /// when the bytes are not a whole compiled mapping of the embedded
    /// commands.yaml (then a command is refused).
    @discardableResult
    static func walkCompiled(_ bytes: [UInt8], yamlLength: Int = PackageResources.commands_yaml.count,
                             _ body: (ArraySlice<UInt8>, ArraySlice<UInt8>) -> Void) -> Bool {
        guard bytes.count >= compiledMagic.count, bytes[0..<compiledMagic.count].elementsEqual(compiledMagic) else { return false }
        var i = compiledMagic.count
        func read32() -> Int? {
            guard bytes.count - i >= 4 else { return nil }
            defer { i += 4 }
            return Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
        }
        guard read32() == yamlLength, let expected = read32() else { return false }
        var records = 0
        while i < bytes.count {
            guard let tn = read32(), bytes.count - i >= tn else { return false }
            let token = bytes[i..<(i + tn)]
            i += tn
            guard let en = read32(), bytes.count - i >= en else { return false }
            let entry = bytes[i..<(i + en)]
            i += en
            records += 1
            body(token, entry)
        }
        return records == expected
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
