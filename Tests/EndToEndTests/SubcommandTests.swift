import Foundation
import Testing

@Suite struct SubcommandTests {
    static let policy = """
        version: "1"
        defaults: { risk_level: medium, approval: approve }
        rules:
          - name: read_safe
            match: { type: "read*" }
            risk_level: low
            approval: auto
          - name: bulk
            match: { type: "bulk_*" }
            conditions: { param_gt: { count: 100 } }
            risk_level: high
            approval: approve
          - name: office-hours
            match: { type: deploy }
            conditions: { weekdays: [1, 2, 3, 4, 5], time_after: "09:00", time_before: "17:00" }
            risk_level: medium
            approval: auto
          - name: no_deletes
            match: { type: "delete*" }
            risk_level: critical
            approval: block
        """

    @Test func simulateJudgesActionsAsJSONLines() {
        let s = Sandbox()
        let p = s.policy(Self.policy)
        let r = s.run("simulate", "--policy", p, "--json", "--params", #"{"count": 150}"#, "read:crm", "bulk_update:crm", "delete:db", "other:x")
        #expect(r.status == 0)
        #expect(r.stdout.split(separator: "\n") == [
            #"{"type":"read","target":"crm","risk_level":"low","approval":"auto","rule":"read_safe"}"#,
            #"{"type":"bulk_update","target":"crm","risk_level":"high","approval":"approve","rule":"bulk"}"#,
            #"{"type":"delete","target":"db","risk_level":"critical","approval":"block","rule":"no_deletes"}"#,
            #"{"type":"other","target":"x","risk_level":"medium","approval":"approve","rule":"<default>"}"#,
        ])
    }

    @Test func simulateAcceptsTheOriginalsPositionalPolicy() {
        let s = Sandbox()
        let p = s.policy(Self.policy)
        let r = s.run("simulate", p, "read:crm", "delete:db")
        #expect(r.status == 0)
        #expect(r.stdout.contains("read:crm") && r.stdout.contains("rule=read_safe"))
        #expect(r.stdout.contains("rule=no_deletes"))
    }

    @Test func simulateAtFixesTheClock() {
        let s = Sandbox()
        let p = s.policy(Self.policy)
        func rule(_ at: String) -> String {
            s.run("simulate", "--policy", p, "--json", "--at", at, "deploy:prod").stdout
        }
        #expect(rule("2026-11-25T10:00:00Z").contains(#""rule":"office-hours""#))   // Wednesday
        #expect(rule("2026-11-25T18:00:00Z").contains(#""rule":"<default>""#))
        #expect(rule("2026-11-29T10:00:00Z").contains(#""rule":"<default>""#))      // Sunday
        #expect(s.run("simulate", "--policy", p, "--at", "noon", "deploy:prod").status == 64)
    }

    @Test func simulateOnAnInvalidPolicyIs78() {
        let s = Sandbox()
        let p = s.write("bad.yaml", "rules: 3\n")
        let r = s.run("simulate", "--policy", p, "read:x")
        #expect(r.status == 78)
        #expect(r.stderr.contains("bad.yaml:1:8: rules must be a list"))
    }

    @Test func explainShowsMappingTraceAndDecisionAsJSON() throws {
        let s = Sandbox()
        let p = s.policy("""
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: reads
                match: { type: file.read }
                approval: auto
                risk_level: low
              - name: force-push
                match: { type: git.push }
                conditions: { flags_any: [f, force] }
                risk_level: critical
                approval: block
            """)
        let r = s.run("explain", "--policy", p, "--json", "--", "git", "push", "--force", "origin", "main")
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let action = obj["action"] as! [String: Any]
        #expect(action["type"] as? String == "git.push")
        #expect((action["params"] as! [String: Any])["flags"] as? [String] == ["force"])
        #expect(obj["approval"] as? String == "block")
        #expect(obj["risk_level"] as? String == "critical")
        #expect(obj["rule"] as? String == "force-push")
        #expect(obj["sandbox"] as? String == "default")
        let trace = obj["trace"] as! [[String: Any]]
        #expect(trace.map { $0["rule"] as? String } == ["reads", "force-push"])
        #expect(trace.map { $0["matched"] as? Bool } == [false, true])
    }

    @Test func explainInTextNamesEachRule() {
        let s = Sandbox()
        let p = s.policy(Self.policy)
        let r = s.run("explain", "--policy", p, "--", "ls", "-la")
        #expect(r.status == 0)
        #expect(r.stdout.contains("action:   file.read"))
        #expect(r.stdout.contains("read_safe"))
        #expect(r.stdout.contains("decision: approve"))
    }

    @Test func initWritesATemplateAndNeverOverwrites() throws {
        let s = Sandbox()
        let path = s.dir + "/new.yaml"
        let r = s.run("init", path)
        #expect(r.status == 0)
        #expect(s.run("validate", path).status == 0)
        try "mine".write(toFile: path, atomically: true, encoding: .utf8)
        let again = s.run("init", path)
        #expect(again.status == 125)
        #expect(again.stderr.contains("already exists"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "mine")
        #expect(s.run("init", "--template", "nope", s.dir + "/x.yaml").status == 64)
        #expect(s.run("init", "--list").stdout.contains("default"))
        // "-" writes the template to standard output instead of a file.
        let printed = s.run("init", "--template", "ci", "-")
        #expect(printed.status == 0)
        #expect(printed.stdout == (try String(contentsOf: repoRoot.appendingPathComponent("policies/ci.yaml"), encoding: .utf8)))
    }

    @Test func validateReportsEveryProblemWithPositions() {
        let s = Sandbox()
        let good = s.policy(Self.policy)
        let bad = s.write("bad.yaml", "rules:\n  - name: a\n    risk: low\n  - name: b\n    conditions: { param_gt: { n: \"1\" } }\n")
        #expect(s.run("validate", good).status == 0)
        let r = s.run("validate", good, bad)
        #expect(r.status == 78)
        #expect(r.stdout.split(separator: "\n").map(String.init) == [
            "\(bad):3:5: unknown key 'risk' in a rule (did you mean 'risk_level'?); allowed: name, description, match, conditions, risk_level, approval, sandbox",
            "\(bad):5:34: param_gt.n must be a number, not a string; comparing a string with a number is an error",
        ])
    }

    @Test func validateWarnsAboutRulesThatCanNeverDecide() {
        let s = Sandbox()
        let p = s.write("order.yaml", """
            rules:
              - name: reads-and-writes
                match: { type: "*" }
                approval: auto
              - name: no-deletes
                match: { type: file.delete }
                approval: block
            """)
        let r = s.run("validate", p)
        #expect(r.status == 0)
        #expect(r.stdout == "\(p):5:5: warning: rule 'no-deletes' can never decide: rule 'reads-and-writes' (line 2) matches everything it matches and comes first; move it above\n")
        #expect(s.run("validate", "--strict", p).status == 78)
    }

    @Test func examplesAreCheckedAndAWrongOneIsReported() {
        let s = Sandbox()
        let p = s.write("ex.yaml", """
            rules:
              - name: no-force-push
                match: { type: git.push }
                conditions: { flags_any: [force] }
                approval: block
              - name: office-hours
                match: { type: deploy }
                conditions: { time_after: "09:00", time_before: "17:00" }
                approval: auto
            examples:
              - { command: "git push --force origin main", approval: block, rule: no-force-push }
              - { command: ["git", "push", "origin", "main"], approval: auto }
              - { command: "deploy prod", approval: auto, at: "2026-11-25T20:00:00Z" }
            """)
        let r = s.run("validate", p)
        #expect(r.status == 78)
        #expect(r.stdout == """
            \(p):12:5: example 'git push origin main' gets block by rule '<default>', not auto
            \(p):13:5: example 'deploy prod' gets block by rule '<default>', not auto

            """)
    }

    /// Every template's examples hold: a template cannot drift from what it promises.
    @Test func everyShippedTemplatePassesStrictValidation() throws {
        let s = Sandbox()
        let dir = repoRoot.appendingPathComponent("policies").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") && $0 != "commands.yaml" }
        #expect(files.count == 12)
        for f in files {
            let text = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
            #expect(text.contains("examples:"), "\(f) has no examples")
            let r = s.run("validate", "--strict", dir + "/" + f)
            #expect(r.status == 0, "\(f): \(r.stdout)")
        }
    }

    @Test func validateStrictFailsOnWarnings() {
        let s = Sandbox()
        let p = s.write("warn.yaml", "rules:\n  - name: a\n    conditions: { time_after: 18:00 }\n")
        #expect(s.run("validate", p).status == 0)
        let r = s.run("validate", "--strict", p)
        #expect(r.status == 78)
        #expect(r.stdout.contains("warning: time_after: 18:00 is unquoted"))
    }
}
