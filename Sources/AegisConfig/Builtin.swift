import AegisPolicy

/// What ships inside the binary: the default command mapping and the policy
/// templates, embedded from policies/ at build time (so the files users read
/// are the files that run).
public enum Builtin {
    /// The default command mapping (policies/commands.yaml), tried after every
    /// layer's own `commands:`.
    /// The test suite validates the embedded file; should a build still carry
    /// a broken one, callers refuse to run anything rather than run it unmapped.
    public static func commandMapping() throws(BuiltinMappingError) -> [CommandMapping.Entry] {
        let file = PolicyLoader.load(bytes: PackageResources.commands_yaml, file: "<built-in commands.yaml>")
        guard file.isValid else { throw BuiltinMappingError(diagnostics: file.errors) }
        return file.policy.commands
    }

    public static let commandMappingText = String(decoding: PackageResources.commands_yaml, as: UTF8.self)

    /// Templates `aegis-exec init --template NAME` writes.
    public static let templates: [(name: String, text: String)] = [
        ("default", String(decoding: PackageResources.default_yaml, as: UTF8.self)),
    ]
}

public struct BuiltinMappingError: Error, Sendable {
    public var diagnostics: [Diagnostic]
}
