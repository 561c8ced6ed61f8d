import Foundation
import Testing
@testable import AegisConfig
@testable import AegisPolicy
@testable import AegisRuntime

/// The gate judges without building rule traces (a faster path through the
/// rules), by rules its compiled copy decodes only when their match holds;
/// `explain` builds traces from the parsed file. All must decide alike on every command:
/// every shipped policy and a 200-rule policy of every rule shape, against
/// real one-liners (the nl2bash corpus) and hand-picked commands.
@Suite struct UntracedJudgementTests {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func policies() throws -> [PolicyFile] {
        let dir = repo.appendingPathComponent("policies").path
        var out: [PolicyFile] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where name.hasSuffix(".yaml") && name != "commands.yaml" {
            out.append(try PolicyFiles.read(dir + "/" + name))
        }
        let bench = Process()
        bench.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        bench.arguments = [repo.appendingPathComponent("scripts/make-bench-policy").path, "200"]
        let pipe = Pipe()
        bench.standardOutput = pipe
        try bench.run()
        let text = pipe.fileHandleForReading.readDataToEndOfFile()
        bench.waitUntilExit()
        out.append(PolicyLoader.load(bytes: Array(text), file: "bench-200.yaml", zones: TimeZones.resolve))
        return out
    }

    func commands() throws -> [[[UInt8]]] {
        var out: [[[UInt8]]] = [
            ["rm", "-rf", "/home/me/project"], ["git", "push", "--force", "origin", "main"], ["tool13", "--x"],
            ["deploy-6", "--env", "prod"], ["/usr/bin/true"], ["kubectl", "--context", "prod-2", "delete", "pod", "x"],
        ].map { $0.map { Array($0.utf8) } }
        let corpus = repo.deletingLastPathComponent().appendingPathComponent("shared/data/nl2bash-commands.txt")
        let lines = try String(contentsOf: corpus, encoding: .utf8).split(separator: "\n")
        for line in lines.prefix(600) {
            guard let analysis = try? ShellAnalysis.analyze(String(line), dialect: .bash) else { continue }
            out += analysis.items.map(\.argv).filter { !$0.isEmpty }
        }
        return out
    }

    @Test func tracedAndUntracedJudgementsAgree() throws {
        let files = try policies()
        let commands = try commands()
        #expect(files.count >= 13)
        #expect(commands.count > 600)
        let noon = Instant(unixSeconds: 1_765_000_000)
        let cache = BuiltinMappingCache()
        var compared = 0
        for file in files {
            try #require(file.isValid, "\(file.path)")
            let loaded = LoadedPolicy(layered: LayeredPolicy(layers: [.init(name: "policy", policy: file.policy)]), files: [file],
                                      audit: nil, approver: nil, prompt: PromptSettings())
            // As the gate reads it from its compiled copy: rules decoded when their match holds.
            let copy = try PolicyCodec.decode(PolicyCodec.encode(file)[...], zones: TimeZones.resolve, deferRules: true)
            let deferred = LoadedPolicy(layered: LayeredPolicy(layers: [.init(name: "policy", policy: copy.policy)]), files: [copy],
                                        audit: nil, approver: nil, prompt: PromptSettings())
            for argv in commands {
                let path = "/usr/bin/" + String(decoding: argv[0].split(separator: 0x2F).last ?? [], as: UTF8.self)
                let params = JSONObject([("ticket", .string("none"))])
                let fast = try? Gate.judge(argv: argv, cwd: "/work/project", resolvedPath: path, policy: loaded, agent: "bot-1",
                                           callerParams: params, at: noon, builtinCache: cache, traced: false)
                let slow = try? Gate.judge(argv: argv, cwd: "/work/project", resolvedPath: path, policy: loaded, agent: "bot-1",
                                           callerParams: params, at: noon, builtinCache: cache, traced: true)
                let gate = try? Gate.judge(argv: argv, cwd: "/work/project", resolvedPath: path, policy: deferred, agent: "bot-1",
                                           callerParams: params, at: noon, builtinCache: cache, traced: false)
                #expect(fast?.decision.rule == slow?.decision.rule, "\(file.path): \(ShellQuote.command(argv))")
                #expect(fast?.decision.approval == slow?.decision.approval)
                #expect(fast?.decision.riskLevel == slow?.decision.riskLevel)
                #expect(gate?.decision.rule == slow?.decision.rule, "deferred, \(file.path): \(ShellQuote.command(argv))")
                #expect(gate?.decision.approval == slow?.decision.approval)
                #expect(gate?.decision.riskLevel == slow?.decision.riskLevel)
                #expect(gate?.decision.sandbox == slow?.decision.sandbox)
                #expect(gate?.decision.ruleLocation == slow?.decision.ruleLocation)
                compared += 1
            }
        }
        #expect(compared > 8_000)
    }

    /// The literal prefixes that let a copy skip rules unread must never skip
    /// one that matches, however patterns and subjects spell their text:
    /// U+212A KELVIN SIGN equals "K" as Swift compares text, a pattern may
    /// start with a wildcard or a class, and a subject may be empty.
    @Test func prefixesSkipOnlyRulesThatCannotMatch() throws {
        let yaml = """
            version: "1"
            defaults: { risk_level: low, approval: auto }
            rules:
              - { name: kelvin-literal, match: { type: "\u{212A}elvin" }, approval: block }
              - { name: k-glob, match: { type: "K*" }, approval: block }
              - { name: k-literal, match: { type: "Kill" }, approval: block }
              - { name: class-target, match: { type: "net.*", target: "[ab]x*" }, approval: block }
              - { name: agent-prefix, match: { agent: "bot-*", type: "file.write" }, approval: block }
              - { name: empty-target, match: { target: "" , type: "x" }, approval: block }
              - { name: any, match: { type: "*.delete" }, approval: block }
            """
        let file = PolicyLoader.load(bytes: Array(yaml.utf8), file: "p.yaml", zones: TimeZones.resolve)
        try #require(file.isValid, "\(file.diagnostics)")
        let copy = try PolicyCodec.decode(PolicyCodec.encode(file)[...], zones: TimeZones.resolve, deferRules: true)
        let deferred = try #require(copy.policy.deferredRules)
        var decodedOnce = copy.policy
        decodedOnce.deferredRules = try deferred.withMatchesDecoded()
        let now = Instant(unixSeconds: 1_765_000_000)
        var compared = 0
        for type in ["Kill", "\u{212A}ill", "Kelvin", "\u{212A}elvin", "K", "", "net.fetch", "file.write", "x", "rm.delete", "é.delete"] {
            for target in ["", "ax1", "bx", "cx", "\u{212A}"] {
                for agent in [nil, "bot-1", "bot", "\u{212A}"] {
                    let action = Action(type: type, target: target, agent: agent)
                    let expected = try Evaluator.evaluate(action, policy: file.policy, at: now, traced: true).rule
                    #expect(try Evaluator.evaluate(action, policy: copy.policy, at: now, traced: false).rule == expected,
                            "\(type) \(target) \(agent ?? "-")")
                    #expect(try Evaluator.evaluate(action, policy: decodedOnce, at: now, traced: false).rule == expected)
                    compared += 1
                }
            }
        }
        #expect(compared == 220)
        // The Kelvin sign does equal "K" here, so the test above tries what it
        // claims: a pattern that starts with it matches an ASCII subject.
        #expect(try Evaluator.evaluate(Action(type: "\u{212A}ill", target: ""), policy: file.policy, at: now).rule == "k-literal")
        #expect(try Evaluator.evaluate(Action(type: "Kelvin", target: ""), policy: file.policy, at: now).rule == "kelvin-literal")
        #expect(try Evaluator.evaluate(Action(type: "Kelvin", target: ""), policy: copy.policy, at: now, traced: false).rule
                == "kelvin-literal")
    }
}
