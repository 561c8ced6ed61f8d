import Foundation
import Testing
@testable import AegisConfig
@testable import AegisPolicy

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func load(_ yaml: String, file: String = "p.yaml") -> PolicyFile {
    PolicyLoader.load(bytes: Array(yaml.utf8), file: file, zones: { name in
        name == "UTC" ? .utc : name == "+02:00" ? TimeZoneTable(name: name, fixedOffset: 7200) : nil
    })
}

func messages(_ f: PolicyFile) -> [String] { f.diagnostics.map(\.description) }

@Suite struct PolicyLoaderTests {
    let noon = ISO8601.parse("2026-11-25T12:00:00Z")!

    @Test func originalPolicyLoadsAndDecidesAsTheOriginal() throws {
        let text = try String(contentsOf: repoRoot.appendingPathComponent("Tests/Fixtures/valid/original-readme.yaml"), encoding: .utf8)
        let f = load(text)
        #expect(f.isValid, "\(messages(f))")
        func d(_ t: String, _ params: JSONObject = JSONObject()) throws -> Decision {
            try Evaluator.evaluate(Action(type: t, target: "crm", params: params), policy: f.policy, at: noon)
        }
        #expect(try d("read").approval == .auto)
        #expect(try d("bulk_update", JSONObject([("count", .int(150))])).rule == "bulk_ops_need_approval")
        #expect(try d("bulk_update", JSONObject([("count", .int(50))])).rule == "<default>")
        #expect(try d("delete").approval == .block)
        #expect(try d("other").approval == .approve)
    }

    @Test func ruleDefaultsAndNames() throws {
        let f = load("""
            rules:
              - match: { type: a }
              - name: named
            """)
        #expect(f.isValid)
        #expect(f.policy.rules.map(\.name) == ["rule_0", "named"])
        #expect((f.policy.rules[0].riskLevel, f.policy.rules[0].approval) == (.medium, .approve))
        // No defaults: medium / block.
        #expect(f.policy.defaults == Defaults(riskLevel: .medium, approval: .block))
        #expect(!f.declaresDefaults)
    }

    @Test func matchWithoutKeysMatchesEverything() throws {
        let f = load("rules:\n  - name: all\n    approval: block\n")
        let d = try Evaluator.evaluate(Action(type: "anything", target: "x"), policy: f.policy, at: noon)
        #expect(d.rule == "all")
    }

    @Test func unquotedTimeIsReadAsTheTimeItLooksLikeWithAWarning() throws {
        let f = load("""
            rules:
              - name: evening
                conditions: { time_after: 18:00 }
                approval: block
            """)
        #expect(f.isValid)
        #expect(f.diagnostics.count == 1)
        #expect(f.diagnostics[0].severity == .warning)
        #expect(f.diagnostics[0].message.contains("1080"))
        let at18 = try Evaluator.evaluate(Action(type: "t", target: ""), policy: f.policy, at: ISO8601.parse("2026-11-25T18:00Z")!)
        #expect(at18.rule == "evening")
        // 09:00 is a string to YAML 1.1 (leading zero), so no warning.
        let g = load("rules:\n  - conditions: { time_before: 09:00 }\n")
        #expect(g.diagnostics.isEmpty)
    }

    @Test func yaml11ScalarsResolveAsPyYAMLDoes() {
        #expect(YAMLScalar.resolve("yes", plain: true) == .bool(true))
        #expect(YAMLScalar.resolve("Off", plain: true) == .bool(false))
        #expect(YAMLScalar.resolve("yes", plain: false) == .string("yes"))
        #expect(YAMLScalar.resolve("~", plain: true) == .null)
        #expect(YAMLScalar.resolve("010", plain: true) == .int(8))
        #expect(YAMLScalar.resolve("0x1F", plain: true) == .int(31))
        #expect(YAMLScalar.resolve("1_000", plain: true) == .int(1000))
        #expect(YAMLScalar.resolve("18:00", plain: true) == .int(1080))
        #expect(YAMLScalar.resolve("09:00", plain: true) == .string("09:00"))
        #expect(YAMLScalar.resolve("1.5", plain: true) == .double(1.5))
        #expect(YAMLScalar.resolve("1e3", plain: true) == .string("1e3"))
        #expect(YAMLScalar.resolve("1.0e+3", plain: true) == .double(1000))
        #expect(YAMLScalar.resolve("-.inf", plain: true) == .double(-.infinity))
    }

    @Test func paramEqKeepsYamlTypes() throws {
        let f = load("""
            rules:
              - name: r
                conditions: { param_eq: { count: 100, flag: yes, env: "prod" } }
            """)
        guard case .paramEq(_, let count) = f.policy.rules[0].conditions[0],
              case .paramEq(_, let flag) = f.policy.rules[0].conditions[1],
              case .paramEq(_, let env) = f.policy.rules[0].conditions[2] else {
            Issue.record("unexpected conditions")
            return
        }
        #expect(count == .int(100))
        #expect(flag == .bool(true))
        #expect(env == .string("prod"))
    }

    @Test func timezoneAppliesToEveryRuleInTheFile() throws {
        let f = load("""
            timezone: "+02:00"
            rules:
              - name: office
                conditions: { time_after: "09:00", time_before: "17:00" }
                approval: auto
            """)
        #expect(f.isValid, "\(messages(f))")
        // 07:30 UTC is 09:30 at +02:00.
        let d = try Evaluator.evaluate(Action(type: "t", target: ""), policy: f.policy, at: ISO8601.parse("2026-11-25T07:30Z")!)
        #expect(d.rule == "office")
    }

    @Test func everyProblemIsReportedNotJustTheFirst() {
        let f = load("""
            rules:
              - name: a
                risk: low
              - name: b
                approval: sometimes
              - name: c
                conditions: { nope: 1 }
            """)
        #expect(f.errors.count == 3)
        #expect(f.errors.map(\.line) == [3, 5, 7])
    }

    @Test func deepNestingIsRefusedWithAPosition() {
        let deep = "rules: " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let f = load(deep)
        #expect(!f.isValid)
        #expect(f.errors[0].message.contains("nested deeper than 64 levels"))
        #expect(f.errors[0].line == 1)
    }

    @Test func aliasBombIsRefused() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<10 { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        yaml += "rules: *a9\n"
        let f = load(yaml)
        #expect(!f.isValid)
        #expect(f.errors[0].message.contains("alias bomb"))
    }

    @Test func hugeInputIsRefusedBeforeParsing() {
        let big = [UInt8](repeating: UInt8(ascii: "#"), count: 100 << 20)
        let f = PolicyLoader.load(bytes: big, file: "big.yaml")
        #expect(f.errors.map(\.description) == ["big.yaml:1:1: file is 100 MiB; the limit for a policy is 4 MiB"])
    }

    @Test func invalidUTF8IsReportedWithItsPosition() {
        let bytes = Array("rules:\n  - name: a\n    match: { type: \"".utf8) + [0xFF, 0xFE] + Array("\" }\n".utf8)
        let f = PolicyLoader.load(bytes: bytes, file: "bad.yaml")
        #expect(!f.isValid)
        #expect(f.errors[0].line == 3)
        #expect(f.errors[0].message.contains("UTF-8"))
    }

    @Test func nulBytesAreRefused() {
        let bytes = Array("rules: []\n".utf8) + [0] + Array("x: 1\n".utf8)
        #expect(!PolicyLoader.load(bytes: bytes, file: "nul.yaml").isValid)
    }

    @Test func multipleDocumentsAreRefused() {
        #expect(load("rules: []\n---\nrules: []\n").errors.first?.message.contains("second '---'") == true)
    }

    @Test func customTagsAreRefused() {
        #expect(load("rules: !!python/object:os.system []\n").errors.first?.message.contains("not allowed") == true)
    }
}

/// Every fixture under Tests/Fixtures: valid ones load cleanly, invalid ones
/// give the errors their `# expect: LINE:COL: text` headers name.
@Suite struct FixtureTests {
    static func files(_ dir: String) -> [URL] {
        let d = repoRoot.appendingPathComponent("Tests/Fixtures/\(dir)")
        return ((try? FileManager.default.contentsOfDirectory(at: d, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "yaml" }.sorted { $0.path < $1.path }
    }

    static func zones(_ name: String) -> TimeZoneTable? {
        guard let data = FileManager.default.contents(atPath: "/usr/share/zoneinfo/\(name)") else { return nil }
        return TimeZoneTable.parseTZif(name: name, bytes: Array(data))
    }

    @Test func thereAreFixtures() {
        #expect(Self.files("valid").count >= 4)
        #expect(Self.files("invalid").count >= 20)
    }

    @Test(arguments: files("valid"))
    func validFixtureLoads(_ url: URL) throws {
        let f = PolicyLoader.load(bytes: Array(try Data(contentsOf: url)), file: url.lastPathComponent, zones: Self.zones)
        #expect(f.isValid, "\(f.errors)")
    }

    @Test(arguments: files("invalid"))
    func invalidFixtureReportsWhereAndWhat(_ url: URL) throws {
        let text = try String(contentsOf: url, encoding: .utf8)
        let f = PolicyLoader.load(bytes: Array(text.utf8), file: url.lastPathComponent, zones: Self.zones)
        #expect(!f.isValid)
        let expectations = text.split(separator: "\n").filter { $0.hasPrefix("# expect: ") }.map { $0.dropFirst(10) }
        #expect(!expectations.isEmpty, "fixture without # expect: lines")
        for e in expectations {
            let want = "\(url.lastPathComponent):\(e.prefix(while: { $0 != " " })) "
            let text = e.drop(while: { $0 != " " }).dropFirst()
            #expect(f.errors.contains { $0.description.hasPrefix(want) && $0.description.contains(text) },
                    "want \(want)…\(text); got \(f.errors.map(\.description))")
        }
    }
}
