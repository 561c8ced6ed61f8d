import Foundation
import Testing

/// aegis-exec as the agent's shell: `-c STRING` judged command by command,
/// then run by /bin/sh.
@Suite struct ShellModeTests {
    static let noDeleting = noDeletingPolicy

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    @Test func aStringRunsInARealShellWithItsArguments() {
        let s = Sandbox()
        let p = s.policy(Self.noDeleting)
        let r = s.run("--policy", p, "-c", "echo \"$0:$1:$#\"; for w in a b; do printf %s $w; done", "zero", "one")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "zero:one:1\nab")
        #expect(r.stderr.isEmpty)
        #expect(s.sql("select result_status, argv from audit_log") ==
                [#"success|["/bin/sh","-c","echo \"$0:$1:$#\"; for w in a b; do printf %s $w; done","zero","one"]"#])
    }

    /// The flag forms SHELL=, make and subprocess use.
    @Test(arguments: [
        (["-c", "echo ok"], 0, "ok\n"),
        (["-lc", "echo ok"], 0, "ok\n"),
        (["-l", "-c", "echo ok"], 0, "ok\n"),
        (["--login", "-c", "echo ok"], 0, "ok\n"),
        (["-e", "-c", "false; echo not reached"], 1, ""),
        (["-ec", "false; echo not reached"], 1, ""),
        (["-o", "errexit", "-c", "false; echo not reached"], 1, ""),
        (["-c", "exit 3"], 3, ""),
    ])
    func shellFlagForms(_ args: [String], _ status: Int32, _ out: String) {
        let s = Sandbox()
        let p = s.policy(Self.noDeleting)
        let r = s.run((["--policy", p] + args).map { Array($0.utf8) })
        #expect(r.status == status, "\(args): \(r.stderr)")
        #expect(r.stdout == out)
    }

    @Test(arguments: [["-i"], ["-s"], ["-l"], ["-c"]])
    func whatIsNotAGatedStringIsAUsageError(_ args: [String]) {
        let s = Sandbox()
        let p = s.policy(Self.noDeleting)
        let r = s.run((["--policy", p] + args).map { Array($0.utf8) })
        #expect(r.status == 125, "\(args): \(r.stderr)")
        #expect(r.stderr.hasPrefix("aegis-exec: "))
    }

    /// One blocked command refuses the whole string: nothing in it runs.
    @Test func oneBlockedCommandRefusesTheString() {
        let s = Sandbox()
        let p = s.policy(Self.noDeleting)
        _ = s.write("victim", "")
        let r = s.run("--policy", p, "-c", "touch first; git status; rm -f victim")
        #expect(r.status == 77)
        #expect(!exists(s.dir + "/first"))
        #expect(exists(s.dir + "/victim"))
        #expect(r.stderr.contains("refused: rm -f victim (in the -c string) is blocked by file.delete"))
        #expect(r.stderr.contains("rule 'no-deleting'"))
        let row = s.sql("select action_type, matched_rule, result_status from audit_log")
        #expect(row == ["file.delete|no-deleting|blocked"])
        let commands = s.sql("select json_extract(action_params, '$.shell.commands') from audit_log").first ?? ""
        #expect(commands.contains(#""argv":["touch","first"]"#) && commands.contains(#""argv":["git","status"]"#))
    }

    /// What cannot be known before it runs needs a person, whatever a policy
    /// says to allow; a policy can block it.
    @Test func unanalyzableStringsAreNeverAutomatic() {
        let s = Sandbox()
        let allow = s.policy(Self.noDeleting + """

              - name: trust-everything
                match: { type: shell.unanalyzable }
                approval: auto
            """, name: "allow.yaml")
        let r = s.run("--policy", allow, "-c", "cmd=touch; $cmd made")
        #expect(r.status == 77)
        #expect(r.stderr.contains("needs approval under shell.unanalyzable the command name comes from an expansion ($cmd)"), "\(r.stderr)")
        #expect(!exists(s.dir + "/made"))

        let block = s.policy(Self.noDeleting + """

              - name: no-guessing
                match: { type: shell.unanalyzable }
                approval: block
            """, name: "block.yaml")
        let b = s.run("--policy", block, "-c", "eval \"$(cat script)\"")
        #expect(b.status == 77)
        #expect(b.stderr.contains("is blocked by shell.unanalyzable eval of a string known only at run time: rule 'no-guessing'"), "\(b.stderr)")
        #expect(s.sql("select action_type, result_status from audit_log order by id") ==
                ["shell.unanalyzable|denied", "shell.unanalyzable|blocked"])
    }

    /// A string that runs nothing (a comment, assignments) is allowed and logged as such.
    @Test func aStringThatRunsNothing() {
        let s = Sandbox()
        let p = s.policy(Self.noDeleting)
        #expect(s.run("--policy", p, "-c", "# nothing here\nx=1").status == 0)
        #expect(s.sql("select action_type, approval, result_status from audit_log where parent_id is null") == ["shell.none|auto|success"])
        // An assignment that runs a substitution is not nothing.
        _ = s.write("victim", "")
        #expect(s.run("--policy", p, "-c", "x=$(rm victim)").status == 77)
        #expect(FileManager.default.fileExists(atPath: s.dir + "/victim"))
    }

    @Test func explainListsEveryCommandInSourceOrder() throws {
        let s = Sandbox()
        let p = s.policy(Self.noDeleting)
        let r = s.run("explain", "--json", "--policy", p, "-c", "git status && sudo rm -rf build > log; $next")
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(obj["analyzable"] as? Bool == false)
        #expect(obj["approval"] as? String == "block")
        let commands = obj["commands"] as? [[String: Any]] ?? []
        #expect(commands.map { ($0["argv"] as? [String] ?? []).joined(separator: " ") } ==
                ["git status", "sudo rm -rf build", "rm -rf build", "tee log", "$next"])
        #expect(commands.map { $0["approval"] as? String ?? "" } == ["auto", "auto", "block", "auto", "approve"])
        #expect(commands[2]["via"] as? [String] == ["sudo"])
        #expect((commands[2]["action"] as? [String: Any])?["type"] as? String == "file.delete")
        #expect(commands[4]["unanalyzable"] as? String == "the command name comes from an expansion ($next)")
        #expect(commands.map { $0["rule"] as? String ?? "" } == ["<default>", "<default>", "no-deleting", "<default>", "<default>"])
        #expect(commands.map { $0["risk_level"] as? String ?? "" } == ["low", "low", "critical", "low", "low"])
        #expect(commands.allSatisfy { $0["cwd"] is NSNull })
        // After a cd, a command is listed where it started and where the cd may have taken it.
        let cd = s.run("explain", "--json", "--policy", p, "-c", "cd /tmp && rm -f x")
        let moved = (try JSONSerialization.jsonObject(with: Data(cd.stdout.utf8)) as? [String: Any])?["commands"] as? [[String: Any]] ?? []
        #expect(moved.map { $0["cwd"] as? String ?? "-" } == ["-", "/tmp", "-", "/tmp"], "\(cd.stdout)")
        #expect(moved.last.flatMap { ($0["action"] as? [String: Any])?["target"] as? String } == "/tmp/x")
    }

    // MARK: real clients

    @Test func makeWithAegisAsItsShell() throws {
        let s = Sandbox()
        let p = s.policy(Self.noDeleting)
        _ = s.write("Makefile", "all: built clean\nbuilt:\n\techo built > built.txt\n\techo second >> built.txt\nclean:\n\trm -f built.txt\n")
        let r = spawn(["make", "SHELL=\(binary)"].map { Array($0.utf8) }, env: s.environment.merging(["AEGIS_POLICY": p]) { $1 }, cwd: s.dir)
        #expect(r.status == 2, "\(r.stdout) \(r.stderr)")
        #expect((try? String(contentsOfFile: s.dir + "/built.txt", encoding: .utf8)) == "built\nsecond\n")
        #expect(r.stderr.contains("rm -f built.txt (in the -c string) is blocked"))
        #expect(s.sql("select result_status from audit_log order by id") == ["success", "success", "blocked"])
    }

    @Test func pythonSubprocessWithShellTrue() {
        let s = Sandbox()
        let p = s.policy(Self.noDeleting)
        let code = """
            import subprocess, sys
            ok = subprocess.run("echo from-python | tr a-z A-Z", shell=True, executable=sys.argv[1], capture_output=True, text=True)
            no = subprocess.run("rm -rf ~/x", shell=True, executable=sys.argv[1], capture_output=True, text=True)
            print(ok.returncode, ok.stdout.strip(), no.returncode)
            """
        let r = spawn(["python3", "-c", code, binary].map { Array($0.utf8) }, env: s.environment.merging(["AEGIS_POLICY": p]) { $1 }, cwd: s.dir)
        #expect(r.stdout == "0 FROM-PYTHON 77\n", "\(r.stderr)")
    }

    // MARK: the bypass corpus

    static let attempts: [String] = {
        let text = (try? String(contentsOf: repoRoot.appendingPathComponent("Tests/Fixtures/bypass-attempts.txt"), encoding: .utf8)) ?? ""
        return text.components(separatedBy: "\n\n").map { para in
            para.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        }.filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    }()

    @Test func theCorpusIsLoaded() {
        #expect(Self.attempts.count >= 80)
    }

    /// Every attempt to reach rm past the policy is refused, and the file survives.
    @Test(arguments: attempts)
    func bypassAttemptsAreRefused(_ attempt: String) throws {
        let s = Sandbox()
        let p = s.policy(Self.noDeleting)
        _ = s.write("victim", "precious")
        try FileManager.default.createSymbolicLink(atPath: s.dir + "/myrm", withDestinationPath: "/bin/rm")
        try FileManager.default.createSymbolicLink(atPath: s.dir + "/ls", withDestinationPath: "/bin/rm")
        try FileManager.default.createSymbolicLink(atPath: s.dir + "/e", withDestinationPath: "/usr/bin/env")
        let r = s.run("--policy", p, "-c", attempt, env: ["PATH": s.dir + "/bin:/usr/local/bin:/usr/bin:/bin"])
        #expect(r.status == 77, "\(attempt): \(r.stderr)")
        #expect(exists(s.dir + "/victim"), "\(attempt) deleted the file")
    }
}

/// `shell:` names the shell that runs strings; one the agent could have
/// written is refused.
@Suite struct ShellSettingTests {
    @Test func theShellComesFromThePolicyAndMustBeRootOwned() throws {
        let s = Sandbox()
        let bash = s.policy(noDeletingPolicy + "\nshell: /bin/bash\n", name: "bash.yaml")
        let r = s.run("--policy", bash, "-c", "echo $BASH_VERSION | cut -c1")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "5\n")
        #expect(s.sql("select json_extract(argv, '$[0]') from audit_log where parent_id is null") == ["/bin/bash"])

        try FileManager.default.createDirectory(atPath: s.dir + "/bin", withIntermediateDirectories: true)
        _ = s.write("bin/sh", "#!/bin/sh\nexec /bin/sh \"$@\"\n", mode: 0o777)
        let fake = s.policy(noDeletingPolicy + "\nshell: \(s.dir)/bin/sh\n", name: "fake.yaml")
        let f = s.run("--policy", fake, "-c", "echo hi")
        #expect(f.status == 78)
        #expect(f.stderr.contains("the shell \(s.dir)/bin/sh is writable by group or others"), "\(f.stderr)")
        #expect(f.stdout.isEmpty)

        // Not a shell at all: the string would not be read as shell code.
        let python = s.policy(noDeletingPolicy + "\nshell: /usr/bin/python3\n", name: "python.yaml")
        let py = s.run("--policy", python, "-c", "print(1)")
        #expect(py.status == 78)
        #expect(py.stderr.contains("is not one of sh, dash, bash"), "\(py.stderr)")
    }
}

/// Files and variables that would make the shell run code before the string
/// (code no one judged) are not honoured.
@Suite struct ShellStartupTests {
    @Test func loginProfilesBashEnvAndImportedFunctionsDoNotRun() throws {
        let s = Sandbox()
        _ = s.write(".profile", "touch \(s.dir)/profile-ran\n")
        let p = s.policy(noDeletingPolicy)
        #expect(s.run("--policy", p, "-l", "-c", "true").status == 0)
        #expect(s.run("--policy", p, "--login", "-c", "true").status == 0)
        #expect(!FileManager.default.fileExists(atPath: s.dir + "/profile-ran"))

        _ = s.write("env.sh", "touch \(s.dir)/bash-env-ran\n")
        let bash = s.policy(noDeletingPolicy + "\nshell: /bin/bash\n", name: "bash.yaml")
        let r = s.run("--policy", bash, "-c", "true", env: [
            "BASH_ENV": s.dir + "/env.sh", "ENV": s.dir + "/env.sh", "BASH_FUNC_true%%": "() { touch \(s.dir)/function-ran; }",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        for ran in ["bash-env-ran", "function-ran"] {
            #expect(!FileManager.default.fileExists(atPath: s.dir + "/" + ran), "\(ran)")
        }
    }
}
