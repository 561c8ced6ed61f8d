import Foundation
import Testing

/// The gate keeps compiled copies of policy files (~/.cache/aegis/policies) to
/// skip YAML parsing. A user must never be able to tell, except by speed.
@Suite struct CompiledPolicyTests {
    /// Two policies of the same length: an edit from one to the other keeps the size.
    static let allowTrue = """
        defaults: { risk_level: low, approval: auto }
        rules:
          - name: true-rule
            match: { program: "true" }
            approval:  auto
        """
    static let blockTrue = """
        defaults: { risk_level: low, approval: auto }
        rules:
          - name: true-rule
            match: { program: "true" }
            approval: block
        """

    func entries(_ s: Sandbox) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: s.dir + "/.cache/aegis/policies")) ?? []
    }

    func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int) ?? -1
    }

    @Test func anEditCountsAtOnceEvenWithTheSameSizeAndTimestamp() throws {
        let s = Sandbox()
        let path = s.policy(Self.allowTrue)
        #expect(s.run("--policy", path, "--", "true").status == 0)
        #expect(entries(s).count == 1)
        #expect(s.run("--policy", path, "--", "true").status == 0)

        let before = try FileManager.default.attributesOfItem(atPath: path)
        s.policy(Self.blockTrue)
        try FileManager.default.setAttributes([.modificationDate: before[.modificationDate]!], ofItemAtPath: path)
        #expect((try FileManager.default.attributesOfItem(atPath: path))[.size] as? Int == before[.size] as? Int)
        let r = s.run("--policy", path, "--", "true")
        #expect(r.status == 77)
        #expect(r.stderr.contains("rule 'true-rule'"))
    }

    @Test func theCopiesArePrivateToTheUser() throws {
        let s = Sandbox()
        #expect(s.run("--policy", s.policy(Self.blockTrue), "--", "true").status == 77)
        let dir = s.dir + "/.cache/aegis/policies"
        #expect(mode(dir) == 0o700)
        let names = entries(s)
        try #require(names.count == 1)
        #expect(mode(dir + "/" + names[0]) == 0o600)
    }

    @Test func aDamagedCopyChangesNothingAndIsReplaced() throws {
        let s = Sandbox()
        let path = s.policy(Self.blockTrue)
        #expect(s.run("--policy", path, "--", "true").status == 77)
        let entry = s.dir + "/.cache/aegis/policies/" + entries(s)[0]
        let good = try Data(contentsOf: URL(fileURLWithPath: entry))
        for junk in [Data(), Data("AEGISPC1".utf8), good.prefix(good.count - 3), Data(repeating: 0xFF, count: good.count)] {
            try junk.write(to: URL(fileURLWithPath: entry))
            let r = s.run("--policy", path, "--", "true")
            #expect(r.status == 77)
            #expect(r.stderr.contains("rule 'true-rule'"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: entry)) == good)
        }
    }

    /// Damages the encoded rest of the rule `name` in the sandbox's only copy,
    /// leaving the copy's frame whole; returns the copy's path and its good bytes.
    func damageRule(named name: String, in s: Sandbox) throws -> (String, Data) {
        let entry = s.dir + "/.cache/aegis/policies/" + entries(s)[0]
        let good = try Data(contentsOf: URL(fileURLWithPath: entry))
        var bytes = [UInt8](good)
        // The copy holds the YAML first, then the encoding: the name's last occurrence is the encoded one.
        let n = Array(name.utf8)
        let at = try #require((0...(bytes.count - n.count)).last { Array(bytes[$0..<($0 + n.count)]) == n })
        bytes[at - 1] = 0x7F  // its length: a negative one, once zig-zag decoded
        try Data(bytes).write(to: URL(fileURLWithPath: entry))
        return (entry, good)
    }

    /// The copy keeps a rule's rest encoded until its match holds. If that
    /// rest is damaged while the frame around it is whole, the command that
    /// reaches the rule is judged by the file itself, and the copy replaced.
    @Test func aDamagedRuleInAWholeCopyIsJudgedByTheFileAndReplaced() throws {
        let s = Sandbox()
        let path = s.policy("""
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: block-false
                match: { program: "false" }
                approval: block
              - name: block-true-rule
                match: { program: "true" }
                approval: block
            """)
        #expect(s.run("--policy", path, "--", "true").status == 77)
        let (entry, good) = try damageRule(named: "block-true-rule", in: s)

        #expect(s.run("--policy", path, "--", "/bin/echo", "ok").stdout == "ok\n")  // reaches no rule: the copy serves
        #expect(try Data(contentsOf: URL(fileURLWithPath: entry)) != good)
        let reached = s.run("--policy", path, "--", "true")
        #expect(reached.status == 77)
        #expect(reached.stderr.contains("rule 'block-true-rule'"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: entry)) == good)
        #expect(s.run("--policy", path, "--", "true").status == 77)
    }

    /// A nested exec that reaches a damaged rule is judged by the file too.
    @Test func aNestedExecReachingADamagedRuleIsJudgedByTheFile() throws {
        let s = Sandbox()
        let path = s.policy("""
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: no-nested-echo
                match: { program: "echo" }
                approval: block
            """)
        let before = s.run("--policy", path, "--", "/bin/sh", "-c", "/bin/echo nested; echo status $?")
        #expect(!before.stdout.contains("nested\n"))
        let (entry, good) = try damageRule(named: "no-nested-echo", in: s)
        let after = s.run("--policy", path, "--", "/bin/sh", "-c", "/bin/echo nested; echo status $?")
        #expect(after.stdout == before.stdout)
        #expect(!after.stdout.contains("status 0"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: entry)) == good)
    }

    /// Two builds used side by side keep a copy each rather than replacing
    /// each other's on every command.
    @Test func twoBinariesKeepACopyEach() throws {
        let s = Sandbox()
        let other = s.dir + "/aegis-exec-other"
        try #require(spawn(["cp", binary, other].map { Array($0.utf8) }, env: s.environment, cwd: s.dir).status == 0)
        let path = s.policy(Self.blockTrue)
        for exe in [binary, other, binary, other] {
            let r = spawn([exe, "--policy", path, "--", "true"].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
            #expect(r.status == 77)
        }
        let names = entries(s)
        #expect(names.count == 2)
        let dir = s.dir + "/.cache/aegis/policies/"
        let before = try names.map { try FileManager.default.attributesOfItem(atPath: dir + $0)[.modificationDate] as? Date }
        #expect(s.run("--policy", path, "--", "true").status == 77)
        let after = try names.map { try FileManager.default.attributesOfItem(atPath: dir + $0)[.modificationDate] as? Date }
        #expect(before == after)  // read, not rewritten
    }

    /// A root gate given someone else's cache location (sudo -E keeps the
    /// caller's HOME) writes nothing there: not through a symbolic link, not
    /// into a directory another user owns or could change.
    @Test func aRootGateWritesOnlyWhereOnlyRootCould() throws {
        try #require(geteuid() == 0, "needs root")
        let s = Sandbox()
        let path = s.policy(Self.blockTrue)
        let target = s.dir + "/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        symlink(target, s.dir + "/link")
        let foreign = s.dir + "/foreign"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        chown(foreign, 65534, 65534)
        let open = s.dir + "/open"
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: true)
        chmod(open, 0o777)
        for home in [s.dir + "/link", foreign, open] {
            let r = s.run("--policy", path, "--", "true", env: ["XDG_CACHE_HOME": home])
            #expect(r.status == 77, "\(home): \(r.stderr)")
        }
        for dir in [target, foreign, open] {
            #expect((try FileManager.default.contentsOfDirectory(atPath: dir)).isEmpty, "\(dir)")
        }
        // Its own private directory it does use.
        let mine = s.dir + "/mine"
        #expect(s.run("--policy", path, "--", "true", env: ["XDG_CACHE_HOME": mine]).status == 77)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: mine + "/aegis/policies")) ?? []).count == 1)
    }

    @Test func anInvalidPolicyIsReportedEveryTimeAndNotCached() {
        let s = Sandbox()
        let path = s.policy("rules:\n  - name: x\n    approval: sometimes\n")
        for _ in 0..<2 {
            let r = s.run("--policy", path, "--", "true")
            #expect(r.status == 78)
            #expect(r.stderr.contains("sometimes"))
        }
        #expect(entries(s).isEmpty)
    }

    /// An ordinary user's cache could hold anything the user wrote, so a
    /// policy file someone else owns (the system policy, a team file) is never
    /// taken from it; the user's own files are.
    @Test func anotherUsersPolicyIsNeverTakenFromTheCache() throws {
        try #require(geteuid() == 0, "needs root to run the gate as another user")
        let s = Sandbox()
        // The gate runs as nobody: a copy of the binary, a home and an audit store it owns.
        let exe = s.dir + "/aegis-exec"
        // Copied by a child process: a descriptor open for writing in this
        // process could leak into a concurrent test's fork and make the exec ETXTBSY.
        try #require(spawn(["cp", binary, exe].map { Array($0.utf8) }, env: s.environment, cwd: s.dir).status == 0)
        chmod(s.dir, 0o755)
        let home = s.dir + "/nobody"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        chown(home, 65534, 65534)
        let teamPolicy = s.write("team.yaml", Self.blockTrue + "\naudit: { path: \(home)/audit.db }\n")  // root's, 0644
        let ownPolicy = home + "/own.yaml"
        _ = FileManager.default.createFile(atPath: ownPolicy, contents: Data((Self.blockTrue + "\naudit: { path: \(home)/audit.db }\n").utf8))
        chown(ownPolicy, 65534, 65534)
        func runAsNobody(_ policy: String) -> Run {
            spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", exe, "--policy", policy, "--", "true"].map { Array($0.utf8) },
                  env: ["PATH": "/usr/bin:/bin", "HOME": home, "XDG_CONFIG_HOME": home + "/config"], cwd: home)
        }
        let cacheDir = home + "/.cache/aegis/policies"
        let team = runAsNobody(teamPolicy)
        #expect(team.status == 77, "\(team.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cacheDir)) ?? []).isEmpty)
        let own = runAsNobody(ownPolicy)
        #expect(own.status == 77, "\(own.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cacheDir)) ?? []).count == 1)
        #expect(runAsNobody(teamPolicy).status == 77)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cacheDir)) ?? []).count == 1)
    }
}
