import Foundation
import Testing

/// `aegis-exec -- CMD`: decisions, exit statuses, messages and audit rows,
/// through the built binary and a real SQLite file.
@Suite struct GateTests {
    static let allowShell = """
        version: "1"
        defaults: { risk_level: medium, approval: approve }
        rules:
          - name: no-touch
            match: { program: touch }
            risk_level: critical
            approval: block
          - name: shells
            match: { program: sh }
            risk_level: low
            approval: auto
          - name: tools
            match: { program: "[a-z]*" , type: "file.read" }
            risk_level: low
            approval: auto
          - name: python
            match: { program: "python3*" }
            risk_level: low
            approval: auto
          - name: sqlite
            match: { program: sqlite3 }
            risk_level: low
            approval: auto
        """

    @Test func autoRunsTheCommandQuietlyAndPassesItsStatusThrough() {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        let r = s.run("--policy", p, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
        #expect(r.status == 3)
        #expect(r.stdout == "out\n")
        #expect(r.stderr == "err\n")
    }

    /// The command gets the environment the gate was given, and one variable
    /// more (its audit row, for nested records): the setting the gate puts in
    /// front of the environment for its own start-up (SWIFT_BACKTRACE, which
    /// turns off the runtime's crash backtracer) never reaches the command,
    /// and an agent's own SWIFT_BACKTRACE does, unchanged.
    @Test func theCommandGetsTheEnvironmentTheGateWasGiven() {
        let s = Sandbox()
        let p = s.policy("defaults: { risk_level: low, approval: auto }\nrules: []\n")
        func variables(_ r: Run) -> Set<String> {
            Set(r.stdout.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("AEGIS_AUDIT_PARENT=") })
        }
        let plain = s.run("--policy", p, "--", "/usr/bin/env")
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(variables(plain) == Set(s.environment.map { "\($0.key)=\($0.value)" }))
        #expect(plain.stdout.split(separator: "\n").filter { $0.hasPrefix("AEGIS_AUDIT_PARENT=") }.count == 1)
        let given = s.run("--policy", p, "--", "/usr/bin/env", env: ["SWIFT_BACKTRACE": "enable=yes,color=no"])
        #expect(given.status == 0, "\(given.stderr)")
        #expect(variables(given) == Set(s.environment.map { "\($0.key)=\($0.value)" } + ["SWIFT_BACKTRACE=enable=yes,color=no"]))
    }

    /// The gate never looks for the runtime's crash-report helper (it would
    /// exec one found beside it if it crashed, and the search cost every
    /// command a readlink and eight stats), whatever SWIFT_BACKTRACE says.
    @Test func theGateDoesNotLookForACrashReportHelper() throws {
        let s = Sandbox()
        let p = s.policy("defaults: { risk_level: low, approval: auto }\nrules: []\n")
        for extra in [[:], ["SWIFT_BACKTRACE": "enable=yes"]] {
            let r = spawn(["strace", "-f", "-e", "trace=%file", binary, "--policy", p, "--", "true"].map { Array($0.utf8) },
                          env: s.environment.merging(extra) { $1 }, cwd: s.dir)
            #expect(r.status == 0, "\(r.stderr)")
            // strace saw the gate start and the command's exec.
            #expect(r.stderr.contains("policy.yaml") && r.stderr.contains("execveat("), "\(r.stderr)")
            #expect(!r.stderr.contains("swift-backtrace") && !r.stderr.contains("libexec/swift"), "\(r.stderr)")
        }
    }

    @Test func aSignalGives128PlusItsNumber() {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        let r = s.run("--policy", p, "--", "sh", "-c", "kill -TERM $$")
        #expect(r.status == 143)
        #expect(!r.signaled)
        #expect(s.sql("select result_status, exit_status, signal from audit_log") == ["failure|143|15"])
    }

    @Test func blockRefusesWithOneLineAnd77AndTheCommandNeverStarts() {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        let target = s.dir + "/created"
        let r = s.run("--policy", p, "--", "touch", target)
        #expect(r.status == 77)
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(r.stderr.hasPrefix("aegis-exec: refused: touch "))
        #expect(r.stderr.contains("rule 'no-touch'"))
        #expect(r.stderr.contains("risk critical"))
        #expect(r.stderr.filter { $0 == "\n" }.count == 1)
        #expect(r.stdout.isEmpty)
        #expect(s.sql("select action_type, risk_level, approval, matched_rule, result_status from audit_log")
                == ["file.write|CRITICAL|block|no-touch|blocked"])
    }

    @Test func approveRefusesWhileNoApproverIsAvailable() {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        let r = s.run("--policy", p, "--", "env")
        #expect(r.status == 77)
        #expect(r.stderr.contains("needs approval"))
        #expect(r.stderr.contains("there is no terminal to ask on"))
        #expect(r.stdout.isEmpty)
        #expect(s.sql("select approval, matched_rule, result_status from audit_log") == ["approve|<default>|denied"])
    }

    /// The CI guard: with no terminal, a step that needs approval fails closed
    /// with 77 and names its rule; build steps run.
    @Test func theCITemplateGuardsASteps() {
        let s = Sandbox()
        let ci = repoRoot.appendingPathComponent("policies/ci.yaml").path
        let publish = s.run("--policy", ci, "--", "npm", "publish")
        #expect(publish.status == 77)
        #expect(publish.stderr.contains("needs approval") && publish.stderr.contains("rule 'publish'"), "\(publish.stderr)")
        let destroy = s.run("--policy", ci, "--", "terraform", "destroy")
        #expect(destroy.status == 77)
        #expect(destroy.stderr.contains("rule 'infra-destroy'"))
        let check = s.run("--policy", ci, "--", "true")
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test func theDecisionIsCommittedBeforeTheCommandStarts() {
        let s = Sandbox()
        // The command itself reads the audit log while it runs, as a person
        // would: with aegis-exec audit (allowed by the policy), then with sqlite3.
        let p = s.policy(Self.allowShell + """

              - name: own-log
                match: { program: "aegis-exec*" }
                approval: auto
            """)
        let script = "\"$0\" audit --db \"$1\" --rule shells --format jsonl; sqlite3 \"$1\" \"select result_status from audit_log where matched_rule='shells'\""
        let r = s.run("--policy", p, "--", "sh", "-c", script, binary, s.auditPath)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].contains(#""result_status":"pending""#) && lines[1] == "pending", "\(r.stdout)")
        let rows = s.sql("select result_status, exit_status, duration_ms > 0, finished_at is not null, pid > 0 from audit_log")
        #expect(rows.first == "success|0|1|1|1")
    }

    @Test func theOutcomeRecordsHowLongTheCommandRan() {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        #expect(s.run("--policy", p, "--", "sh", "-c", "sleep 0.3").status == 0)
        #expect(s.sql("select duration_ms >= 300, duration_ms < 60000 from audit_log where parent_id is null") == ["1|1"])
    }

    @Test func auditRowsCarryTheOriginalsColumnsAndTheCommand() {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        let r = s.run("--policy", p, "--agent", "coder-1", "--", "sh", "-c", "true", env: ["AEGIS_SESSION": "s-42"])
        #expect(r.status == 0)
        let row = s.sql("""
            select session_id, action_type, risk_level, approval, matched_rule, agent_id, argv, cwd, executable,
                   policy_layer, json_extract(action_params, '$.argc'), substr(timestamp, 11, 1), substr(timestamp, 27)
            from audit_log
            """)
        #expect(row == [#"s-42|shell.exec|LOW|auto|shells|coder-1|["sh","-c","true"]|\#(s.dir)|/usr/bin/dash|command line|3|T|+00:00"#])
    }

    @Test func theAgentIdComesFromTheFlagOrTheEnvironment() {
        let s = Sandbox()
        let p = s.policy("""
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: no-interns
                match: { agent: "intern-*" }
                risk_level: high
                approval: block
            """)
        #expect(s.run("--policy", p, "--", "true").status == 0)
        #expect(s.run("--policy", p, "--", "true", env: ["AEGIS_AGENT": "intern-7"]).status == 77)
        #expect(s.run("--policy", p, "--agent", "intern-8", "--", "true").status == 77)
        #expect(s.run("--policy", p, "--agent", "lead", "--", "true", env: ["AEGIS_AGENT": "intern-7"]).status == 0)
        #expect(s.sql("select coalesce(agent_id, '-'), result_status from audit_log order by id")
                == ["-|success", "intern-7|blocked", "intern-8|blocked", "lead|success"])
    }

    @Test func unknownCommandIs127AndNonExecutableIs126() {
        let s = Sandbox()
        let p = s.policy("rules:\n  - name: all\n    approval: auto\n    risk_level: low\n")
        let missing = s.run("--policy", p, "--", "no-such-command-xyz")
        #expect(missing.status == 127)
        #expect(missing.stderr == "aegis-exec: no-such-command-xyz: command not found\n")
        let plain = s.write("notexec.sh", "#!/bin/sh\necho hi\n", mode: 0o644)
        let noexec = s.run("--policy", p, "--", plain)
        #expect(noexec.status == 126)
        #expect(noexec.stderr.contains("cannot execute"))
        let dir = s.run("--policy", p, "--", "/tmp")
        #expect(dir.status == 126)
        #expect(s.sql("select result_status, exit_status from audit_log order by id") == ["not_found|127", "not_executable|126", "not_executable|126"])
    }

    /// The kernel's own refusal of the exec (a file it cannot run) comes back
    /// from the child as 126 with the reason, supervised or not.
    @Test(arguments: ["", "sandbox: { intercept: false }", "sandbox: none"])
    func anExecTheKernelRefusesIs126WithTheReason(_ sandbox: String) {
        let s = Sandbox()
        let p = s.policy("defaults: { risk_level: low, approval: auto\(sandbox.isEmpty ? "" : ", " + sandbox) }\nrules: []\n")
        let junk = s.write("junk", "\u{7F}ELF but not really\n", mode: 0o755)
        let r = s.run("--policy", p, "--", junk)
        #expect(r.status == 126)
        #expect(r.stderr.contains("Exec format error"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        #expect(s.sql("select result_status, exit_status from audit_log") == ["not_executable|126"])
    }

    /// A sandbox that refuses the very call the gate execs with stops the
    /// command at once with the reason (126), supervised or not; the gate
    /// does not wait on an exec that will never come.
    @Test(arguments: ["", "intercept: false"])
    func aSandboxThatRefusesTheExecItselfIs126AtOnce(_ extra: String) {
        let s = Sandbox()
        let p = s.policy("defaults: { risk_level: low, approval: auto, sandbox: { deny: [execve, execveat]\(extra.isEmpty ? "" : ", " + extra) } }\nrules: []\n")
        let script = s.write("hello.sh", "#!/bin/sh\necho hello\n", mode: 0o755)
        for argv in [["/bin/echo", "hi"], [script]] {
            let r = s.run((["--policy", p, "--"] + argv).map { Array($0.utf8) })
            #expect(r.status == 126, "\(argv): \(r.stderr)")
            #expect(r.stderr.contains("Operation not permitted"), "\(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        #expect(s.sql("select result_status, exit_status from audit_log") == ["not_executable|126", "not_executable|126"])
    }

    /// The child's set-up, as the kernel reports it: the signal mask the gate
    /// blocked for itself is restored, no_new_privs and the filter are the
    /// command's alone (the gate, its parent, has neither), and dispositions
    /// the caller ignored stay ignored.
    @Test(arguments: ["", "sandbox: { intercept: false }", "sandbox: none"])
    func theChildIsSetUpAsDocumented(_ sandbox: String) {
        let s = Sandbox()
        let p = s.policy(Self.allowShell.replacingOccurrences(of: "defaults: { risk_level: medium, approval: approve }",
                                                              with: "defaults: { risk_level: medium, approval: approve\(sandbox.isEmpty ? "" : ", " + sandbox) }"))
        func fields(_ text: Substring) -> [String: String] {
            var out: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let kv = line.split(separator: ":", maxSplits: 1)
                if kv.count == 2 { out[String(kv[0])] = kv[1].trimmingCharacters(in: .whitespaces) }
            }
            return out
        }
        let bare = spawn(["sh", "-c", "cat /proc/self/status"].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        let r = s.run("--policy", p, "--", "sh", "-c", "cat /proc/self/status; echo ===; cat /proc/$PPID/status")
        #expect(r.status == 0, "\(r.stderr)")
        let parts = r.stdout.components(separatedBy: "===\n")
        try? #require(parts.count == 2)
        let command = fields(Substring(parts[0])), gate = fields(Substring(parts[1])), caller = fields(Substring(bare.stdout))
        #expect(command["SigBlk"] == "0000000000000000", "\(command)")
        #expect(command["SigIgn"] == caller["SigIgn"])
        #expect(gate["NoNewPrivs"] == "0" && gate["Seccomp"] == "0", "\(gate)")
        if sandbox == "sandbox: none" {
            #expect(command["NoNewPrivs"] == "0" && command["Seccomp"] == "0", "\(command)")
        } else {
            #expect(command["NoNewPrivs"] == "1" && command["Seccomp"] == "2", "\(command)")
        }
    }

    @Test func aScriptRunsWithItsArguments() {
        let s = Sandbox()
        let p = s.policy("rules:\n  - name: all\n    approval: auto\n")
        let script = s.write("hello.sh", "#!/bin/sh\necho \"hello $1\"\n", mode: 0o755)
        let r = s.run("--policy", p, "--", script, "world")
        #expect(r.status == 0)
        #expect(r.stdout == "hello world\n")
    }

    @Test func argumentBytesReachTheCommandExactly() {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        let weird: [[UInt8]] = [[0xFF, 0xFE], Array("é".utf8), [0x1B, 0x5B, 0x41], Array("a b".utf8), [], Array("-".utf8)]
        let dump = "import sys,os; sys.stdout.buffer.write(b'\\x00'.join(os.fsencode(a) for a in sys.argv[1:]))"
        let r = s.run([Array("--policy".utf8), Array(p.utf8), Array("--".utf8), Array("python3".utf8), Array("-c".utf8), Array(dump.utf8)] + weird)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdoutBytes == Array(weird.joined(separator: [0])))
        let argv = s.sql("select argv from audit_log")
        #expect(argv.first?.contains(#"["python3","-c","#) == true)
        #expect(argv.first?.hasSuffix(#""\udcff\udcfe","é","\u001b[A","a b","","-"]"#) == true)
    }

    @Test func anArgvNearArgMaxRunsAndIsAudited() {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        let big = Array(repeating: String(repeating: "x", count: 1000), count: 1500)
        let r = s.run(["--policy", p, "--", "sh", "-c", "echo $#", "sh"].map { Array($0.utf8) } + big.map { Array($0.utf8) })
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "1500\n")
        #expect(s.sql("select json_array_length(argv), result_status from audit_log") == ["1504|success"])
    }

    /// 200 gates alive at once (each command sleeps, so they overlap from
    /// decision to outcome): 200 decisions, 200 outcomes, not a word on stderr.
    @Test func manyConcurrentInvocationsLoseNoRow() throws {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        let n = 200
        let script = "i=0; while [ $i -lt \(n) ]; do "
            + "( \"$0\" --policy \"$1\" -- sh -c \"sleep 0.5; exit $((i % 7))\" 2> \"$2/err.$i\"; echo $? > \"$2/status.$i\" ) & "
            + "i=$((i+1)); done; wait"
        let out = s.dir + "/runs"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        _ = spawn(["sh", "-c", script, binary, p, out].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        for i in 0..<n {
            let status = (try? String(contentsOfFile: "\(out)/status.\(i)", encoding: .utf8)) ?? "missing"
            #expect(status == "\(i % 7)\n", "run \(i): \(status)")
            let err = (try? String(contentsOfFile: "\(out)/err.\(i)", encoding: .utf8)) ?? "missing"
            #expect(err.isEmpty, "run \(i): \(err)")
        }
        #expect(s.sql("select count(*), count(finished_at), sum(exit_status) from audit_log where parent_id is null")
                == ["\(n)|\(n)|\((0..<n).map { $0 % 7 }.reduce(0, +))"])
        // Each command's exec of sleep, judged by its supervisor, is a row of its own.
        #expect(s.sql("select count(*) from audit_log where parent_id is not null and json_extract(argv, '$[0]') = 'sleep'") == ["\(n)"])
        #expect(s.sql("pragma integrity_check") == ["ok"])
    }

    /// Records wait in the spool until it holds about a hundred commands, and
    /// are then moved into the table by the gate itself: neither the spool
    /// nor the WAL grows however many commands are refused or run.
    @Test func theSpoolAndTheWriteAheadLogStayShort() throws {
        let s = Sandbox()
        let p = s.policy("defaults: { risk_level: low, approval: block }\nrules: []\n")
        func size(_ suffix: String) -> Int {
            (try? FileManager.default.attributesOfItem(atPath: s.auditPath + suffix)[.size] as? Int) ?? 0
        }
        var largest = 0
        for _ in 0..<300 {
            #expect(s.run("--policy", p, "--", "true").status == 77)
            largest = max(largest, size("-spool"))
        }
        #expect(largest < 140_000, "the spool reached \(largest) bytes")
        #expect(FileManager.default.fileExists(atPath: s.auditPath), "the gate never moved the spool into the table")
        #expect(size("-wal") < 1 << 20, "WAL is \(size("-wal")) bytes")
        #expect(s.sql("select count(*) from audit_log") == ["300"])
    }

    /// A command that runs many programs (a build) keeps the spool as short:
    /// what its execs left there is moved into the table after it ends, by a
    /// process the gate forks for that, so the caller is not kept waiting.
    /// Here the store is held locked while the gate ends: the gate still ends
    /// (its output with it) while the move waits, in a session of its own,
    /// holding nothing of the caller's but /dev/null; once the lock goes the
    /// records reach the table with no one moving them, chain intact.
    @Test func aLongCommandsExecsAreMovedAfterItWithoutKeepingTheCallerWaiting() throws {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        #expect(s.run("--policy", p, "--", "true").status == 0)
        #expect(s.sql("select count(*) from audit_log") == ["1"])  // the store exists, as the gate made it
        let locker = Process()
        locker.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        locker.arguments = ["-c", """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
            c.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            sys.stdin.read()
            c.execute("ROLLBACK")
            """, s.auditPath]
        let toLocker = Pipe(), fromLocker = Pipe()
        locker.standardInput = toLocker
        locker.standardOutput = fromLocker
        try locker.run()
        var said = Data()
        while !String(decoding: said, as: UTF8.self).contains("locked") {
            let more = fromLocker.fileHandleForReading.availableData
            try #require(!more.isEmpty, "the locker ended")
            said += more
        }
        defer {
            try? toLocker.fileHandleForWriting.close()
            locker.waitUntilExit()
        }

        let n = 400
        let loop = "i=0; while [ $i -lt \(n) ]; do /bin/true; i=$((i+1)); done; echo done"
        let (status, output, pipeInode) = spawnReadingOutput([binary, "--policy", p, "--", "sh", "-c", loop],
                                                             env: s.environment, cwd: s.dir)
        #expect(status == 0)
        #expect(output == "done\n")
        // The gate has ended and its output with it; no process holds the pipe.
        #expect(processes(holding: "pipe:[\(pipeInode)]").isEmpty)
        // The move waits for the lock, in a process of its own (which may
        // still be on its way to opening the store when the output ends).
        var movers: [Int32] = []
        for _ in 0..<100 where movers.isEmpty {
            movers = processes(holding: s.auditPath).filter { $0 != locker.processIdentifier }
            if movers.isEmpty { usleep(50_000) }
        }
        #expect(movers.count == 1, "\(movers)")
        for pid in movers {
            #expect(getsid(pid) == pid)
            for fd in 0...2 {
                #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) == "/dev/null")
            }
        }
        let spool = (try FileManager.default.attributesOfItem(atPath: s.auditPath + "-spool")[.size] as? Int) ?? 0
        #expect(spool > 140_000, "the spool holds \(spool) bytes: moved before the gate ended")
        try toLocker.fileHandleForWriting.close()
        locker.waitUntilExit()
        // Read without moving anything (sqlite3, not `s.sql`): the mover does it.
        let moved = s.countWithoutMoving("select count(*) from audit_log where parent_id = 2 and result_status = 'allowed'",
                                         until: n)
        #expect(moved == n)
        let size = (try FileManager.default.attributesOfItem(atPath: s.auditPath + "-spool")[.size] as? Int) ?? 0
        #expect(size < 140_000, "the spool holds \(size) bytes")
        #expect(s.run("audit", "verify", "--db", s.auditPath).status == 0)
    }

    /// A build that runs thousands of programs: its supervisor opens the store
    /// to move batches while the command runs, and closes it before it forks
    /// the last move (a child must not open a store its parent has open).
    /// Every record reaches the table, the store stays sound.
    @Test func aSupervisorThatMovedBatchesForksTheLastMoveSafely() throws {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        let n = 2_000
        let r = s.run("--policy", p, "--", "sh", "-c", "i=0; while [ $i -lt \(n) ]; do /bin/true; i=$((i+1)); done")
        #expect(r.status == 0, "\(r.stderr)")
        let moved = s.countWithoutMoving("select count(*) from audit_log where parent_id is not null", until: n)
        #expect(moved == n, "moved without a reader: \(moved)")
        #expect(s.sql("pragma integrity_check") == ["ok"])
        #expect(s.run("audit", "verify", "--db", s.auditPath).status == 0)
    }

    /// A store that cannot take the spooled records (here: a directory where
    /// the file should be) does not stop commands at once: the records are
    /// safe in the spool, each failed move is a one-line warning, and the
    /// reading subcommands say what is wrong.
    @Test func aStoreThatCannotTakeTheRecordsIsAWarningUntilTheSpoolIsFull() throws {
        let s = Sandbox()
        let p = s.policy("defaults: { risk_level: low, approval: block }\nrules: []\n")
        try FileManager.default.createDirectory(atPath: s.auditPath, withIntermediateDirectories: true)
        var warned = 0
        for _ in 0..<200 {
            let r = s.run("--policy", p, "--", "true")
            #expect(r.status == 77)
            if r.stderr.contains("warning: the audit records in") && r.stderr.contains("could not be moved") { warned += 1 }
        }
        #expect(warned == 1, "a failed move is retried when the spool has doubled, not by every command")
        let flush = s.run("audit", "flush", "--db", s.auditPath)
        #expect(flush.status == 78)
        #expect(flush.stderr.hasPrefix("aegis-exec: cannot"), "\(flush.stderr)")
    }

    /// A spool held locked by a process that does not let go (stopped, stuck)
    /// makes the gate refuse after 10 s, not hang and not run unlogged.
    @Test func aSpoolLockedForTooLongStopsTheCommand() {
        let s = Sandbox()
        let p = s.policy(Self.allowShell)
        #expect(s.run("--policy", p, "--", "sh", "-c", "true").status == 0)
        let marker = s.dir + "/ran"
        // The gate starts only once the holder has the lock (on a loaded
        // machine a fixed second was not always enough for flock to take it).
        // The holder keeps it far longer than the gate waits, and is ended once the gate has given up.
        let script = "flock \"$1\" sh -c ': > \"$0.held\"; exec sleep 120' \"$3\" >/dev/null 2>&1 & holder=$!; i=0; "
            + "while [ ! -e \"$3.held\" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; "
            + "\"$0\" --policy \"$2\" -- sh -c \"touch $3\"; echo \"status $?\"; pkill -P $holder; kill $holder"
        let r = spawn(["sh", "-c", script, binary, s.auditPath + "-spool", p, marker].map { Array($0.utf8) },
                      env: s.environment, cwd: s.dir)
        #expect(r.stdout.contains("status 78"), "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("stayed locked by another process for 10 s"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func anUnwritableAuditStoreStopsTheCommand() {
        let s = Sandbox()
        let p = s.policy("audit: { path: /etc/hostname/audit.db }\nrules:\n  - name: all\n    approval: auto\n")
        let marker = s.dir + "/ran"
        let r = s.run("--policy", p, "--", "sh", "-c", "touch \(marker)")
        #expect(r.status == 78)
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(r.stderr.hasPrefix("aegis-exec: cannot write the audit log"))
    }

    @Test func theAuditStoreIsPrivate() throws {
        let s = Sandbox()
        let p = s.policy("rules:\n  - name: all\n    approval: auto\n", name: "p.yaml")
        // Without audit.path: the per-user default under XDG_STATE_HOME.
        try String(contentsOfFile: p, encoding: .utf8).replacingOccurrences(of: "audit: { path: \(s.auditPath) }", with: "")
            .write(toFile: p, atomically: true, encoding: .utf8)
        #expect(s.run("--policy", p, "--", "true").status == 0)
        let db = s.dir + "/state/aegis/audit.db"
        func mode(_ path: String) throws -> Int? { try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int }
        #expect(try mode(db + "-spool") == 0o600)
        #expect(try mode(s.dir + "/state/aegis") == 0o700)
        // The table, once the records move into it, is as private.
        #expect(s.run("audit", "flush", "--policy", p).status == 0)
        #expect(try mode(db) == 0o600)
    }

    /// A root gate writes its audit store only where no one else can change
    /// it: pointed (as `sudo -E` would) at another user's state directory, a
    /// directory anyone can write, or one reached through a symbolic link, it
    /// runs nothing (78) and says which directory.
    @Test(.enabled(if: geteuid() == 0, "only a root gate has directories to refuse"))
    func aRootGateKeepsItsAuditStoreInRootsOwnDirectories() throws {
        let s = Sandbox()
        let p = s.policy("rules:\n  - name: all\n    approval: auto\n", name: "p.yaml")
        try String(contentsOfFile: p, encoding: .utf8).replacingOccurrences(of: "audit: { path: \(s.auditPath) }", with: "")
            .write(toFile: p, atomically: true, encoding: .utf8)
        let fm = FileManager.default
        let others = s.dir + "/others"
        try fm.createDirectory(atPath: others, withIntermediateDirectories: false)
        #expect(chown(others, 65534, 65534) == 0)
        let open = s.dir + "/open"
        try fm.createDirectory(atPath: open, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
        try fm.createSymbolicLink(atPath: s.dir + "/link", withDestinationPath: s.dir + "/state")
        let marker = s.dir + "/ran"
        for (state, refused, why) in [(others, others, "owned by uid 65534, not root"),
                                      (others + "/deeper", others, "owned by uid 65534, not root"),
                                      (open, open, "writable by users other than root"),
                                      (s.dir + "/link", s.dir + "/link", "a symbolic link")] {
            let r = s.run("--policy", p, "--", "touch", marker, env: ["XDG_STATE_HOME": state])
            #expect(r.status == 78, "\(state): \(r.stderr)")
            #expect(r.stderr.hasPrefix("aegis-exec: cannot write the audit log at \(refused): \(why)"), "\(r.stderr)")
            #expect(!fm.fileExists(atPath: marker))
            #expect(!fm.fileExists(atPath: state + "/aegis"))
        }
        // Root's own directories, made as needed: it runs.
        #expect(s.run("--policy", p, "--", "touch", marker, env: ["XDG_STATE_HOME": s.dir + "/state/deep"]).status == 0)
        #expect(fm.fileExists(atPath: marker))
        #expect(fm.fileExists(atPath: s.dir + "/state/deep/aegis/audit.db-spool"))
    }

    @Test func anInvalidPolicyRunsNothingAndSaysWhere() {
        let s = Sandbox()
        let p = s.write("bad.yaml", "rules:\n  - name: a\n    approval: sometimes\n")
        let marker = s.dir + "/ran"
        let r = s.run("--policy", p, "--", "touch", marker)
        #expect(r.status == 78)
        #expect(r.stderr == "aegis-exec: invalid policy: \(p):3:15: approval 'sometimes' is not one of auto, approve, block\n")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func aPolicyThatIsNotARegularFileIsRefusedAtOnce() {
        let s = Sandbox()
        let fifo = s.dir + "/fifo.yaml"
        #expect(mkfifo(fifo, 0o600) == 0)
        let r = s.run("--policy", fifo, "--", "true")
        #expect(r.status == 78)
        #expect(r.stderr.contains("not a regular file"))
        let dir = s.run("--policy", s.dir, "--", "true")
        #expect(dir.status == 78)
        #expect(dir.stderr.contains("directory"))
    }

    @Test func noPolicyAtAllIsAConfigurationError() {
        let s = Sandbox()
        let r = s.run("--", "true")
        #expect(r.status == 78)
        #expect(r.stderr.contains("no policy"))
        let missing = s.run("--policy", s.dir + "/nope.yaml", "--", "true")
        #expect(missing.status == 78)
        #expect(missing.stderr.contains("cannot read policy"))
    }

    @Test func usageErrorsAre125() {
        let s = Sandbox()
        #expect(s.run("--bogus", "--", "true").status == 125)
        #expect(s.run("--policy").status == 125)
        let p = s.policy(Self.allowShell)
        #expect(s.run("--policy", p, "--param", "argv=forged", "--", "true").status == 125)
        #expect(s.run("--policy", p, "--params", "{not json", "--", "true").status == 125)
    }

    @Test func callerParamsReachConditionsWithTheirTypes() {
        let s = Sandbox()
        let p = s.policy("""
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: big-batch
                conditions: { param_gt: { count: 100 } }
                risk_level: high
                approval: block
            """)
        #expect(s.run("--policy", p, "--param", "count=150", "--", "true").status == 77)
        #expect(s.run("--policy", p, "--params", #"{"count": 50}"#, "--", "true").status == 0)
        // A string where the rule compares numbers cannot be decided: refused, not allowed.
        let r = s.run("--policy", p, "--params", #"{"count": "150"}"#, "--", "true")
        #expect(r.status == 78)
        #expect(r.stderr.contains("rule 'big-batch'"))
    }

    @Test func commandOrientedRulesJudgeFlagsAndPaths() {
        let s = Sandbox()
        let scratch = s.dir + "/scratch"
        let p = s.policy("""
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: rm-recursive-outside-scratch
                match: { type: file.delete }
                conditions:
                  flags_any: [r, R, recursive]
                  path_outside: [\(scratch)]
                risk_level: high
                approval: block
            """)
        let victim = s.dir + "/keep"
        try? FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try? FileManager.default.createDirectory(atPath: scratch + "/junk", withIntermediateDirectories: true)
        let r = s.run("--policy", p, "--", "rm", "-rf", "keep")
        #expect(r.status == 77)
        #expect(r.stderr.contains("rm-recursive-outside-scratch"))
        #expect(FileManager.default.fileExists(atPath: victim))
        // Relative paths are resolved against the working directory, and .. cannot hide an escape.
        #expect(s.run("--policy", p, "--", "rm", "-r", "scratch/../keep").status == 77)
        #expect(FileManager.default.fileExists(atPath: victim))
        #expect(s.run("--policy", p, "--", "rm", "-rf", "scratch/junk").status == 0)
        #expect(!FileManager.default.fileExists(atPath: scratch + "/junk"))
        // Without -r the rule does not apply.
        let file = s.write("plain.txt", "x")
        #expect(s.run("--policy", p, "--", "rm", file).status == 0)
    }
}
