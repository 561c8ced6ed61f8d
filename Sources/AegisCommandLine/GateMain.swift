#if canImport(Glibc)
import Glibc
#endif
import AegisPolicy
import AegisRuntime

/// The hot path: `aegis-exec [OPTIONS] -- CMD ARGS...`. No argument-parser
/// machinery, no Foundation: every agent command pays for what runs here.
package enum GateMain {
    package static func run(_ rawArgs: [[UInt8]]) -> Int32 {
        let args: GateArguments
        do {
            args = try GateArguments.parse(rawArgs.dropFirst())
        } catch {
            Messages.printError(error.message)
            return ExitStatus.usage
        }
        let env = ProcessInfo.environment()
        var request = GateRequest(
            argv: args.command, sources: PolicySources(explicit: args.policies, environment: env,
                                                        cache: PolicyCache.defaultLocation(environment: env)),
            agent: args.agent ?? env["AEGIS_AGENT"].flatMap { $0.isEmpty ? nil : $0 }, callerParams: args.params,
            cwd: ProcessInfo.currentDirectory(), sessionID: Gate.sessionID(environment: env),
            parentRecord: env[Spawner.parentVariable].flatMap(AuditSpool.validRecordID), shell: args.shell)
        request.warn = { Messages.printError("warning: " + $0) }
        let command = args.command, inShell = args.shell != nil
        @Sendable func status(_ result: GateResult) -> Int32 {
            switch result {
            case .ran(let termination, let warning):
                if let warning { Messages.printError("warning: " + warning) }
                return termination.shellStatus
            case .refused(let judgement, let reason):
                Messages.printError(Messages.refusal(judgement, reason, argv: judgement.decidingArgv ?? command, inShell: inShell))
                return ExitStatus.refused
            }
        }
        request.exit = { result in
            let code = status(result)
            // What the request holds is not freed first either.
            withExtendedLifetime((rawArgs, env)) { Glibc.exit(code) }
        }
        do {
            return status(try Gate.run(request))
        } catch {
            let (message, status) = Messages.failure(error, argv: args.command)
            Messages.printError(message)
            return status
        }
    }

    /// The process's own argument bytes, exactly as the kernel passed them.
    package static func rawArguments() -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(Int(CommandLine.argc))
        for i in 0..<Int(CommandLine.argc) {
            guard let p = CommandLine.unsafeArgv[i] else { out.append([]); continue }
            let n = strlen(p)
            // Copied as bytes, straight: no generic sequence initialiser.
            out.append([UInt8](unsafeUninitializedCapacity: n) { buf, count in
                if n > 0 { memcpy(buf.baseAddress!, p, n) }
                count = n
            })
        }
        return out
    }
}
