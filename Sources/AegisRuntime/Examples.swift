import AegisConfig
import AegisPolicy

/// Checks a policy file's `examples:`: each command, judged by that file
/// alone as the gate would judge it, must get the stated approval (and rule).
public enum Examples {
    public static func check(_ file: PolicyFile, environment: Environment = ProcessInfo.environment()) -> [Diagnostic] {
        let loaded = LoadedPolicy(layered: LayeredPolicy(layers: [.init(name: "policy", policy: file.policy)]), files: [file], audit: nil, approver: nil, prompt: PromptSettings())
        var out: [Diagnostic] = []
        for ex in file.examples {
            let argv = ex.argv.map { Array($0.utf8) }
            let path = try? ExecutableResolver.resolve(argv[0], searchPath: environment["PATH"]).path
            let at = ex.at ?? Instant(unixSeconds: ProcessInfo.now().seconds)
            func fail(_ m: String) {
                out.append(Diagnostic(file: file.path, line: ex.location.line, column: ex.location.column, message: m))
            }
            let command = ShellQuote.command(argv)
            do {
                let j = try Gate.judge(argv: argv, cwd: "/work/project", resolvedPath: path, policy: loaded, agent: nil,
                                       callerParams: JSONObject(), at: at)
                if j.decision.approval != ex.approval || (ex.rule.map { $0 != j.decision.rule } ?? false) {
                    fail("example '\(command)' gets \(j.decision.approval) by rule '\(j.decision.rule)', not "
                         + "\(ex.approval)" + (ex.rule.map { " by rule '\($0)'" } ?? ""))
                }
            } catch {
                fail("example '\(command)' cannot be judged: \(error)")
            }
        }
        return out
    }
}
