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
    /// Only those lines are parsed, so a command pays for its own entries, not
    /// for a thousand others. This relies on the file's shape, one entry per
    /// line as `  - { program: NAME, ... }`; the test suite checks that shape
    /// and that both functions agree.
    public static func commandMapping(program: String, path: String?) throws(BuiltinMappingError) -> [CommandMapping.Entry] {
        let resolvedName = path.map(CommandMapping.baseName)
        let programBytes = Array(program.utf8), resolvedBytes = resolvedName.map { Array($0.utf8) }
        var selected: [UInt8] = Array("commands:\n".utf8)
        var any = false
        // Consecutive entries usually share a program; decide once per run of them.
        var lastToken: ArraySlice<UInt8> = []
        var lastMatches = false
        forEachEntryLine { line, token in
            if token != lastToken || token.isEmpty {
                lastToken = token
                // Most tokens are plain ASCII words: compared as bytes, with no String made.
                if let word = plainASCIIWord(token), isASCII(programBytes), resolvedBytes.map(isASCII) ?? true {
                    lastMatches = word.elementsEqual(programBytes) || (resolvedBytes.map { word.elementsEqual($0) } ?? false)
                } else {
                    lastMatches = tokenCanMatch(token, program: program, resolvedName: resolvedName, path: path)
                }
            }
            if lastMatches {
                selected += line
                selected.append(0x0A)
                any = true
            }
        }
        return any ? try parse(selected) : []
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
        let bytes = PackageResources.commands_yaml
        let prefix = entryPrefix
        bytes.withUnsafeBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            var start = 0
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
                    body(bytes[start..<end], bytes[(start + prefix.count)..<t])
                }
                start = end + 1
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
