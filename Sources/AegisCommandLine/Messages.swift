#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy
import AegisRuntime

/// The only place errors become words and exit statuses. Each message is one
/// line that says what happened and what to change.
package enum Messages {
    /// One line, whatever the values in it hold: control characters from a
    /// path, a rule or an approver's answer are shown escaped.
    package static func printError(_ line: String) {
        writeStderr("aegis-exec: " + ShellQuote.visible(line) + "\n")
    }

    package static func printDiagnostics(_ diags: [Diagnostic]) {
        writeStderr(diags.map { $0.description + "\n" }.joined())
    }

    /// One write(2) per message, unbuffered, so lines from concurrent runs do not interleave.
    package static func writeStderr(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }

    package static func describe(_ j: Judgement) -> String {
        let where_ = j.decision.ruleLocation.map { ", \($0)" } ?? ""
        let rule = j.decision.rule == Decision.defaultRuleName
            ? "the \(j.decision.layer) policy's defaults (no rule matched)"
            : "rule '\(j.decision.rule)' (\(j.decision.layer) policy\(where_))"
        let action = j.action.target.isEmpty ? j.action.type : "\(j.action.type) \(j.action.target)"
        return ShellQuote.visible("\(action): \(rule), risk \(j.decision.riskLevel)")
    }

    package static func refusal(_ j: Judgement, _ reason: RefusalReason, argv: [[UInt8]], inShell: Bool = false) -> String {
        let cmd = ShellQuote.command(argv) + (inShell ? " (in the -c string)" : "")
        let explain = inShell ? "aegis-exec explain -c STRING" : "aegis-exec explain -- \(ShellQuote.command(argv))"
        switch reason {
        case .blocked:
            return "refused: \(cmd) is blocked by \(describe(j)); this command is not allowed here (see: \(explain))"
        case .approvalDenied(let why):
            return "refused: \(cmd) was not approved (\(why)); it needs approval under \(describe(j))"
        case .approvalUnavailable(let why):
            return "refused: \(cmd) needs approval under \(describe(j)), but \(why); run it from a terminal, or set `approver:` in the user or system policy"
        }
    }

    /// Message and exit status for a failure on the way to (or after) a decision.
    package static func failure(_ error: GateError, argv: [[UInt8]]) -> (String, Int32) {
        switch error {
        case .policy(let p): return policy(p)
        case .builtinMapping(let e):
            return ("internal error: the built-in command mapping is invalid (\(e.diagnostics.first?.description ?? "")); reinstall aegis-exec", ExitStatus.usage)
        case .auditUnavailable(let path, let reason):
            return ("cannot write the audit log\(path.map { " at \($0)" } ?? ""): \(reason); the command was not run (fix the path's permissions or set audit.path in the policy)", ExitStatus.configuration)
        case .notFound(let name, _):
            return ("\(ShellQuote.word(Array(name.utf8))): command not found", ExitStatus.notFound)
        case .notExecutable(let path, let reason, _):
            return ("\(path): cannot execute: \(reason)", ExitStatus.cannotExecute)
        case .spawn(let e, _):
            switch e {
            case .exec(let code):
                let name = ShellQuote.word(argv.first ?? [])
                return ("\(name): cannot execute: \(String(cString: strerror(code)))", ExitStatus.cannotExecute)
            case .sandbox(let code):
                return ("cannot load the sandbox into the command (\(String(cString: strerror(code)))); it was not run", ExitStatus.configuration)
            case .system(let s):
                return ("cannot start the command: \(s)", ExitStatus.usage)
            }
        case .sandbox(let e):
            switch e {
            case .unknownSyscall(let name):
                return ("sandbox: unknown system call '\(name)' in a sandbox deny list; the command was not run", ExitStatus.configuration)
            case .unknownGroup(let name):
                return ("sandbox: unknown group '\(name)'; the command was not run", ExitStatus.configuration)
            case .build(let why):
                return ("sandbox: cannot build the seccomp filter (\(why)); the command was not run", ExitStatus.configuration)
            }
        case .usage(let m):
            return (m, ExitStatus.usage)
        case .untrustedShell(let why):
            return ("refusing to run the string: \(why); set `shell:` in the policy to a root-owned shell", ExitStatus.configuration)
        }
    }

    package static func policy(_ error: PolicyError) -> (String, Int32) {
        switch error {
        case .noPolicy(let searched):
            return ("no policy: none found at \(searched.joined(separator: " or ")); pass --policy FILE, set AEGIS_POLICY, or create one with 'aegis-exec init'", ExitStatus.configuration)
        case .unreadable(let path, let reason):
            return ("cannot read policy \(path): \(reason)", ExitStatus.configuration)
        case .untrusted(let path, let reason):
            return ("refusing the system policy \(path): \(reason)", ExitStatus.configuration)
        case .invalid(let diags):
            let first = diags.first.map(\.description) ?? "invalid policy"
            let more = diags.count > 1 ? " (and \(diags.count - 1) more; run aegis-exec validate)" : ""
            return ("invalid policy: \(first)\(more)", ExitStatus.configuration)
        case .evaluation(let e):
            let at = e.location.map { " (\($0))" } ?? ""
            return ("cannot decide: rule '\(e.rule)'\(at): \(e.message); the command was not run", ExitStatus.configuration)
        }
    }
}
