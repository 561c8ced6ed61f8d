#if canImport(Glibc)
import Glibc
#endif
import AegisPolicy

/// Subcommands (init, validate, explain, audit, ...) and help live in a second
/// binary, aegis-exec-tool, so the gate that every command starts stays small.
///
/// MUST: the tool is found next to the running binary only (never on PATH or
///       through the environment): who can replace it there can replace
///       aegis-exec itself.
package enum ToolCommand {
    package static func handles(_ first: String) -> Bool { GateOptionSyntax.isToolCommand(first) }

    /// Where the tool is: beside this binary (a build directory), or in
    /// ../libexec/aegis-exec/ (an installation).
    static func candidates() -> [String] {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, Int(PATH_MAX))
        guard n > 0 else { return [] }
        let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = exe.lastIndex(of: "/") else { return [] }
        let dir = String(exe[..<slash])
        return [dir + "/aegis-exec-tool", dir + "/../libexec/aegis-exec/aegis-exec-tool"]
    }

    /// Replaces this process with the tool, same arguments and environment;
    /// returns only if that fails (with the status to exit with).
    package static func exec(_ raw: [[UInt8]]) -> Int32 {
        let found = candidates()
        var args = raw.dropFirst().map { bytes -> UnsafeMutablePointer<CChar>? in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            p[bytes.count] = 0
            return p
        }
        args.insert(strdup("aegis-exec"), at: 0)
        args.append(nil)
        for path in found {
            execv(path, args)
            if errno != ENOENT { break }
        }
        let reason = String(cString: strerror(errno))
        Messages.printError("cannot run its subcommands: \(found.last ?? "aegis-exec-tool"): \(reason); reinstall aegis-exec (scripts/install)")
        return ExitStatus.usage
    }
}
