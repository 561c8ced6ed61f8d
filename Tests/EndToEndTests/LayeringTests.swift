import Foundation
import Testing

/// What the caller controls (flags, environment, its own files) can only add
/// layers, and a layer can only make the decision stricter.
@Suite struct LayeringTests {
    static let allowAll = "defaults: { risk_level: low, approval: auto }\nrules: []\n"
    static let blockTrue = """
        defaults: { risk_level: low, approval: auto }
        rules:
          - name: no-true
            match: { program: "true" }
            risk_level: high
            approval: block
        """

    @Test func aCallerPolicyCannotLoosenTheUserPolicy() {
        let s = Sandbox()
        try? FileManager.default.createDirectory(atPath: s.dir + "/config/aegis", withIntermediateDirectories: true)
        s.policy(Self.blockTrue, name: "config/aegis/policy.yaml")
        let loose = s.policy(Self.allowAll, name: "loose.yaml")
        let r = s.run("--policy", loose, "--", "true")
        #expect(r.status == 77)
        #expect(r.stderr.contains("rule 'no-true' (user policy"))
    }

    @Test func theEnvironmentAddsALayerThatTightens() {
        let s = Sandbox()
        let loose = s.policy(Self.allowAll, name: "loose.yaml")
        let strict = s.policy(Self.blockTrue, name: "strict.yaml")
        #expect(s.run("--policy", loose, "--", "true").status == 0)
        let r = s.run("--policy", loose, "--", "true", env: ["AEGIS_POLICY": strict])
        #expect(r.status == 77)
        #expect(r.stderr.contains("environment policy"))
    }

    @Test func severalPolicyFilesMergeAsTheOriginal() {
        let s = Sandbox()
        // The first file's defaults win; rules run in file order.
        let first = s.policy("defaults: { risk_level: low, approval: auto }\nrules:\n  - name: first-true\n    match: { program: \"true\" }\n    approval: auto\n", name: "a.yaml")
        let second = s.policy("defaults: { risk_level: critical, approval: block }\nrules:\n  - name: second-true\n    match: { program: \"true\" }\n    approval: block\n", name: "b.yaml")
        #expect(s.run("--policy", first, "--policy", second, "--", "true").status == 0)
        #expect(s.run("--policy", first, "--policy", second, "--", "false").status == 1)
        #expect(s.run("--policy", second, "--policy", first, "--", "true").status == 77)
    }

    @Test func aCallerMappingCannotDisguiseACommandFromAnotherLayer() {
        let s = Sandbox()
        try? FileManager.default.createDirectory(atPath: s.dir + "/config/aegis", withIntermediateDirectories: true)
        s.policy("""
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: no-deletes
                match: { type: file.delete }
                risk_level: critical
                approval: block
            """, name: "config/aegis/policy.yaml")
        let disguise = s.policy("""
            defaults: { risk_level: low, approval: auto }
            commands:
              - program: rm
                type: file.read
            rules: []
            """, name: "disguise.yaml")
        let victim = s.write("victim", "x")
        let r = s.run("--policy", disguise, "--", "rm", victim)
        #expect(r.status == 77)
        #expect(FileManager.default.fileExists(atPath: victim))
    }
}
