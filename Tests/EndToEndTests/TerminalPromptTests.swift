import Foundation
import Testing

/// The terminal prompt, driven through a real pseudo-terminal by a person
/// simulated in Python (Tests/Fixtures/pty-driver.py).
@Suite struct TerminalPromptTests {
    static func policy(prompt: String = "{ timeout: 5 }") -> String {
        """
        defaults: { risk_level: low, approval: auto }
        prompt: \(prompt)
        rules:
          - name: ask-before-touching
            match: { type: "file.*" }
            risk_level: high
            approval: approve
        """
    }

    struct Screen {
        var status: Int
        var output: String
        func count(_ s: String) -> Int { output.components(separatedBy: s).count - 1 }
    }

    /// Runs `argv` as the session leader of a new pseudo-terminal and plays `steps`.
    func onTerminal(_ s: Sandbox, _ argv: [String], steps: [[Any]] = [], typeahead: String? = nil) throws -> Screen {
        var spec: [String: Any] = ["argv": argv, "env": s.environment, "cwd": s.dir, "steps": steps, "timeout": 20]
        if let typeahead { spec["typeahead"] = typeahead }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self)
        let r = spawn(["python3", repoRoot.path + "/Tests/Fixtures/pty-driver.py", json].map { Array($0.utf8) },
                      env: s.environment, cwd: s.dir)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return Screen(status: obj?["status"] as? Int ?? -1, output: (obj?["output"] as? String ?? "") + r.stderr)
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    @Test func yesRunsTheCommandOnceAndTheAnswerIsAudited() throws {
        let s = Sandbox()
        let p = s.policy(Self.policy())
        let t = try onTerminal(s, [binary, "--policy", p, "--", "touch", "made"], steps: [["expect", "Allow?"], ["send", "y\n"]])
        #expect(t.status == 0, "\(t.output)")
        #expect(exists(s.dir + "/made"))
        #expect(t.output.contains("command  touch made"))
        #expect(t.output.contains("ask-before-touching (command line policy"))
        #expect(t.output.contains("risk HIGH"))
        #expect(t.output.contains("in       \(s.dir)"))
        #expect(s.sql("select result_status, human_decision from audit_log") == ["success|approved once at the terminal by root"])
    }

    @Test(arguments: ["\n", "n\n", "no\n", "yes please\n"])
    func anythingButYesDenies(_ answer: String) throws {
        let s = Sandbox()
        let p = s.policy(Self.policy())
        let t = try onTerminal(s, [binary, "--policy", p, "--", "touch", "made"], steps: [["expect", "Allow?"], ["send", answer]])
        #expect(t.status == 77, "\(t.output)")
        #expect(!exists(s.dir + "/made"))
        #expect(t.output.contains("was not approved (denied at the terminal)"))
        #expect(s.sql("select result_status, exit_status, human_decision from audit_log") == ["denied|77|denied at the terminal (root)"])
    }

    /// The agent owns stdin: a "y" piped in, or typed before the question,
    /// must not answer it.
    @Test func neitherStdinNorTypeAheadAnswers() throws {
        let s = Sandbox()
        let p = s.policy(Self.policy(prompt: "{ timeout: 1 }"))
        let piped = try onTerminal(s, ["/bin/sh", "-c", "yes y | \"$0\" --policy \"$1\" -- touch made", binary, p])
        #expect(piped.status == 77, "\(piped.output)")
        #expect(piped.output.contains("no answer in 1 s"))
        let early = try onTerminal(s, [binary, "--policy", p, "--", "touch", "made"], typeahead: "y\ny\ny\n")
        #expect(early.status == 77, "\(early.output)")
        #expect(!exists(s.dir + "/made"))
        #expect(s.sql("select count(*) from audit_log where result_status='denied' and result_error like 'no answer%'") == ["2"])
    }

    /// Half a line typed ahead ("y", no Enter) is dropped too: the Enter
    /// pressed after the question is an empty answer, a denial.
    @Test func aHalfLineTypedAheadDoesNotJoinTheAnswer() throws {
        let s = Sandbox()
        let p = s.policy(Self.policy())
        let t = try onTerminal(s, [binary, "--policy", p, "--", "touch", "made"], steps: [["expect", "Allow?"], ["send", "\n"]],
                               typeahead: "y")
        #expect(t.status == 77, "\(t.output)")
        #expect(!exists(s.dir + "/made"))
        #expect(s.sql("select result_status from audit_log") == ["denied"])
    }

    @Test func ctrlCAtThePromptDeniesAndIsLogged() throws {
        let s = Sandbox()
        let p = s.policy(Self.policy())
        let t = try onTerminal(s, [binary, "--policy", p, "--", "touch", "made"], steps: [["expect", "Allow?"], ["send", "\u{03}"]])
        #expect(t.status == 77, "\(t.output)")
        #expect(t.output.contains("interrupted; denied"))
        #expect(s.sql("select result_status, result_error from audit_log") == ["denied|interrupted at the prompt"])
    }

    /// "a" remembers the answer for this exact command in this terminal
    /// session: the same command is not asked again, a different one is.
    @Test func aGrantCoversTheSameCommandInTheSameSession() throws {
        let s = Sandbox()
        let p = s.policy(Self.policy())
        let script = "\"$0\" --policy \"$1\" -- touch a; \"$0\" --policy \"$1\" -- touch a; \"$0\" --policy \"$1\" -- touch b"
        let t = try onTerminal(s, ["/bin/sh", "-c", script, binary, p],
                               steps: [["expect", "Allow?"], ["send", "a\n"], ["expect", "Allow?"], ["send", "n\n"]])
        #expect(t.output.contains("[a] for 15 min in this session"))
        #expect(exists(s.dir + "/a"))
        #expect(!exists(s.dir + "/b"))
        let rows = s.sql("select result_status, substr(human_decision, 1, 40) from audit_log order by id")
        #expect(rows.count == 3)
        #expect(rows.first?.hasPrefix("success|approved at the terminal by root for 15") == true, "\(rows)")
        #expect(rows.dropFirst().first?.hasPrefix("success|approved by grant #1 (at the terminal") == true, "\(rows)")
        #expect(rows.last == "denied|denied at the terminal (root)")
        #expect(s.sql("select expires_at - granted_at, audit_id from grants") == ["900|1"])
        // The grants table holds a hash, not the command.
        #expect(s.sql("select count(*) from grants where key like '%touch%'") == ["0"])
    }

    /// A new session starts without grants; a grant past its expiry, or one
    /// longer than the policy allows today, is not honoured.
    @Test func grantsDoNotOutliveTheirSessionOrTheirTime() throws {
        let s = Sandbox()
        let p = s.policy(Self.policy())
        let first = try onTerminal(s, [binary, "--policy", p, "--", "touch", "a"], steps: [["expect", "Allow?"], ["send", "a\n"]])
        #expect(first.status == 0)
        // Another terminal session: asked again.
        let other = try onTerminal(s, [binary, "--policy", p, "--", "touch", "a"], steps: [["expect", "Allow?"], ["send", "n\n"]])
        #expect(other.status == 77, "\(other.output)")

        for tamper in ["update grants set expires_at = granted_at - 50, granted_at = granted_at - 100",
                       "update grants set expires_at = granted_at + 864000"] {
            let script = "\"$0\" --policy \"$1\" -- touch a && sqlite3 \"$2\" \"$3\" && \"$0\" --policy \"$1\" -- touch a"
            let t = try onTerminal(s, ["/bin/sh", "-c", script, binary, p, s.auditPath, tamper],
                                   steps: [["expect", "Allow?"], ["send", "a\n"], ["expect", "Allow?"], ["send", "n\n"]])
            #expect(t.count("Allow?") == 2, "\(tamper): \(t.output)")
            #expect(t.status == 77)
        }
    }

    @Test func rememberZeroOffersOnlyOnce() throws {
        let s = Sandbox()
        let p = s.policy(Self.policy(prompt: "{ timeout: 5, remember: 0 }"))
        let t = try onTerminal(s, [binary, "--policy", p, "--", "touch", "made"], steps: [["expect", "Allow?"], ["send", "a\n"]])
        #expect(!t.output.contains("[a]"))
        #expect(t.status == 77)
        #expect(s.sql("select count(*) from grants") == ["0"])
    }

    /// A gate in a background job must not read the terminal: it refuses at once.
    @Test func inTheBackgroundItDoesNotAsk() throws {
        let s = Sandbox()
        let p = s.policy(Self.policy())
        let t = try onTerminal(s, ["/bin/sh", "-c", "set -m; \"$0\" --policy \"$1\" -- touch made & wait $!; echo \"status $?\"", binary, p])
        #expect(t.output.contains("status 77"), "\(t.output)")
        #expect(!t.output.contains("Allow?"))
        #expect(t.output.contains("aegis-exec runs in the background"))
        #expect(!exists(s.dir + "/made"))
    }

    /// Escape sequences in the command are shown, not interpreted, so the
    /// question cannot be redrawn to look like something else.
    @Test func controlCharactersAreShownEscaped() throws {
        let s = Sandbox()
        let p = s.policy(Self.policy())
        let t = try onTerminal(s, [binary, "--policy", p, "--", "touch", "x\u{1b}[2K\rls"], steps: [["expect", "Allow?"], ["send", "n\n"]])
        #expect(t.output.contains("command  touch $'x\\x1b[2K\\rls'"), "\(t.output)")
        #expect(!t.output.contains("\u{1b}[2K"), "\(t.output.debugDescription)")
    }

    @Test func withoutATerminalItRefusesWithHowToApprove() {
        let s = Sandbox()
        let p = s.policy(Self.policy())
        let r = spawn([binary, "--policy", p, "--", "touch", "made"].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(r.status == 77)
        #expect(r.stderr.contains("rule 'ask-before-touching'"))
        #expect(r.stderr.contains("there is no terminal to ask on; run it from a terminal, or set `approver:`"))
        #expect(s.sql("select result_status, result_error from audit_log") == ["denied|there is no terminal to ask on"])
    }
}
