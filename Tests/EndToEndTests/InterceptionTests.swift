import Foundation
import Testing

/// The backstop: every exec in a gated command's process tree is stopped by
/// the kernel and judged, whatever started it (a shell, Python, make, a
/// script on disk, xargs, find).
@Suite struct InterceptionTests {
    static let noDeleting = noDeletingPolicy

    func setUp(_ policy: String = noDeleting) -> (Sandbox, String) {
        let s = Sandbox()
        let p = s.policy(policy)
        _ = s.write("victim", "precious")
        return (s, p)
    }

    func exists(_ s: Sandbox) -> Bool { FileManager.default.fileExists(atPath: s.dir + "/victim") }

    @Test func aShellsNestedExecIsRefusedWithEPERM() {
        let (s, p) = setUp()
        let r = s.run("--policy", p, "--", "sh", "-c", "rm victim; echo status=$?; echo still running")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "status=126\nstill running\n")
        #expect(r.stderr.contains("Operation not permitted"))
        #expect(exists(s))
        let rows = s.sql("select id, parent_id, action_type, matched_rule, result_status, argv from audit_log where parent_id is not null")
        #expect(rows.contains(#"2|1|file.delete|no-deleting|blocked|["rm","victim"]"#), "\(rows)")
        #expect(rows.contains { $0.contains(#"|file.read|<default>|allowed|["echo"#) } == false)  // echo is a builtin: no exec
        #expect(s.run("audit", "verify", "--db", s.auditPath).status == 0)
    }

    /// The supervisor reads a nested exec's arguments from the stopped
    /// process: thousands of them, empty ones, ones at and across its read
    /// sizes and page sizes, one near the kernel's per-argument limit, and
    /// bytes that are not UTF-8, all audited exactly.
    @Test func aNestedExecsArgumentsAreReadExactly() {
        let (s, p) = setUp()
        let lengths = [0, 1, 255, 256, 257, 511, 4095, 4096, 4097, 10_000, 130_000]
        let code = """
            import os
            a = [b'true'] + [b'a' * n for n in \(lengths)] + [b'x%d' % i for i in range(3000)] + [b'\\xffend']
            os.execv(b'/bin/true', a)
            """
        let r = s.run("--policy", p, "--", "/usr/bin/python3", "-c", code)
        #expect(r.status == 0, "\(r.stderr)")
        let words = ["true"] + lengths.map { String(repeating: "a", count: $0) } + (0..<3000).map { "x\($0)" }
        let expected = "[" + words.map { "\"\($0)\"" }.joined(separator: ",") + #","\udcffend"]"#
        let rows = s.sql("select argv from audit_log where parent_id = 1 and executable = '/usr/bin/true'")
        #expect(rows.count == 1 && rows.first == expected, "\(rows.map { $0.prefix(200) })")
    }

    @Test func pythonCallingOsSystem() {
        let (s, p) = setUp()
        let code = "import os; os.system('rm victim'); os.system('touch made')"
        let r = s.run("--policy", p, "--", "/usr/bin/python3", "-c", code)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(exists(s))
        #expect(FileManager.default.fileExists(atPath: s.dir + "/made"))
        #expect(s.sql("select action_type, result_status from audit_log where parent_id = 1 and action_type like 'file.%' order by id")
                == ["file.delete|blocked", "file.delete|blocked", "file.write|allowed"])
    }

    @Test func aScriptOnDisk() {
        let (s, p) = setUp()
        _ = s.write("cleanup.sh", "#!/bin/sh\nrm victim\necho after=$?\n", mode: 0o755)
        let r = s.run("--policy", p, "--", "./cleanup.sh")
        #expect(r.stdout == "after=126\n", "\(r.stderr)")
        #expect(exists(s))
    }

    @Test(arguments: [
        ["find", ".", "-name", "victim", "-exec", "rm", "{}", ";"],
        ["sh", "-c", "echo victim | xargs rm"],
        ["env", "rm", "victim"],
        ["nice", "timeout", "5", "rm", "victim"],
        // Names that mean "this process" are resolved in the process, not the supervisor.
        ["sh", "-c", "exec 3</bin/rm; /dev/fd/3 victim"],
        ["sh", "-c", "exec 3</bin/rm; /proc/self/fd/3 victim"],
        ["sh", "-c", "cd /bin && ./rm \"$OLDPWD\"/victim"],
    ])
    func wrappersReachingABlockedProgram(_ command: [String]) {
        let (s, p) = setUp()
        let r = s.run((["--policy", p, "--"] + command).map { Array($0.utf8) })
        #expect(exists(s), "\(command): \(r.stderr)")
        #expect(s.sql("select count(*) from audit_log where parent_id = 1 and result_status = 'blocked'") != ["0"])
    }

    /// A Makefile whose recipe only calls a script: the string parse allows
    /// it; the script's rm is stopped when it runs, and the build fails.
    @Test func makeWithAScriptThatDeletes() {
        let (s, p) = setUp()
        _ = s.write("clean.sh", "#!/bin/sh\nset -e\nrm victim\n", mode: 0o755)
        _ = s.write("Makefile", "all:\n\techo building\n\t./clean.sh\n")
        let r = spawn(["make", "SHELL=\(binary)"].map { Array($0.utf8) }, env: s.environment.merging(["AEGIS_POLICY": p]) { $1 }, cwd: s.dir)
        #expect(r.status == 2, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("building"))
        #expect(exists(s))
    }

    @Test func aNestedExecThatNeedsApprovalIsDeniedWithoutATerminal() {
        let (s, p) = setUp("""
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: ask-first
                match: { type: file.delete }
                approval: approve
            """)
        let r = s.run("--policy", p, "--", "sh", "-c", "rm victim || echo refused")
        #expect(r.stdout == "refused\n", "\(r.stderr)")
        #expect(exists(s))
        #expect(s.sql("select result_status, result_error from audit_log where parent_id = 1 and action_type = 'file.delete' limit 1")
                == ["denied|there is no terminal to ask on"])
    }

    /// `intercept: false` turns it off for the commands a rule covers, but
    /// only when every layer's decision says so.
    @Test func interceptionCanBeTurnedOffButNotByACallerAlone() throws {
        let (s, off) = setUp(Self.noDeleting + """

              - name: trusted-build
                match: { type: shell.exec }
                approval: auto
                sandbox: { intercept: false }
            """)
        let r = s.run("--policy", off, "--", "sh", "-c", "rm victim")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!exists(s))
        #expect(s.sql("select count(*) from audit_log where parent_id is not null") == ["0"])

        // The user policy keeps interception; the caller's `intercept: false` does not lift it.
        _ = s.write("victim", "again")
        try FileManager.default.createDirectory(atPath: s.dir + "/config/aegis", withIntermediateDirectories: true)
        _ = s.write("config/aegis/policy.yaml", Self.noDeleting + "\naudit: { path: \(s.auditPath) }\n")
        let layered = s.run("--policy", off, "--", "sh", "-c", "rm victim")
        #expect(exists(s), "\(layered.stderr)")
    }

    /// A gate inside a gated command that hides that it is (the variable that
    /// says so removed) cannot make a listener of its own, and does not run
    /// its command without one: 78, nothing run.
    @Test func aNestedGateThatHidesItsParentRefusesToRun() {
        let (s, p) = setUp()
        let r = s.run("--policy", p, "--", "env", "-u", "AEGIS_AUDIT_PARENT", binary, "--policy", p, "--", "touch", "marker")
        #expect(r.status == 78, "\(r.stderr)")
        #expect(r.stderr.contains("cannot load the sandbox"))
        #expect(!FileManager.default.fileExists(atPath: s.dir + "/marker"))
        // Told, it runs, and the outer supervisor judges its execs.
        let told = s.run("--policy", p, "--", binary, "--policy", p, "--", "touch", "marker")
        #expect(told.status == 0, "\(told.stderr)")
        #expect(FileManager.default.fileExists(atPath: s.dir + "/marker"))
    }

    @Test func signalsAndExitStatusStillPassThrough() {
        let (s, p) = setUp()
        let r = s.run("--policy", p, "--", "sh", "-c", "/bin/true; kill -TERM $$")
        #expect(r.status == 128 + 15)
    }
}

@Suite struct NestedSandboxTests {
    /// A nested exec runs in its command's sandbox: one whose rule asks for
    /// a stricter sandbox than that is refused, not run with less.
    @Test func aNestedExecNeedingAStricterSandboxIsRefused() {
        let s = Sandbox()
        let p = s.policy("""
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: fetch-offline-only
                match: { type: "net.*" }
                approval: auto
                sandbox: { network: false }
            """)
        let r = s.run("--policy", p, "--", "sh", "-c", "curl -s http://127.0.0.1:9/ ; echo status=$?")
        #expect(r.stdout == "status=126\n", "\(r.stderr)")
        let rows = s.sql("select result_status, result_error from audit_log where parent_id = 1")
        #expect(rows.contains { $0.hasPrefix("blocked|needs the sandbox default, no network, stricter than its command's (default)") }, "\(rows)")
        // Run directly, the same command gets its own sandbox and runs.
        #expect(s.run("--policy", p, "--", "curl", "-s", "http://127.0.0.1:9/").status != 77)
    }
}

@Suite struct ForeignABITests {
    /// An exec through the i386 ABI (int 0x80) would pass a filter that only
    /// knows x86-64 numbers; interception refuses it even with no other filter.
    @Test func anI386ExecIsRefused() throws {
        let s = Sandbox()
        let exe = s.dir + "/exec-i386"
        let cc = spawn(["cc", "-O", "-no-pie", "-o", exe, repoRoot.path + "/Tests/Fixtures/exec-i386.c"].map { Array($0.utf8) },
                       env: s.environment, cwd: s.dir)
        try #require(cc.status == 0, "\(cc.stderr)")
        let intercepted = s.policy("defaults: { risk_level: low, approval: auto, sandbox: { profile: none, intercept: true } }\nrules: []\n",
                                   name: "intercepted.yaml")
        let r = s.run("--policy", intercepted, "--", exe, "/bin/echo")
        #expect(r.stdout == "\(EPERM)\n", "\(r.stdout) \(r.stderr)")
        // Without any filter the same exec runs (echo prints an empty line).
        let open = s.policy("defaults: { risk_level: low, approval: auto, sandbox: none }\nrules: []\n", name: "open.yaml")
        #expect(s.run("--policy", open, "--", exe, "/bin/echo").stdout == "\n")
    }
}
