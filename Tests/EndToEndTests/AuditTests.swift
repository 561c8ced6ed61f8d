import Foundation
import Testing

/// Reading the audit log back, and its tamper evidence, on a real SQLite file.
@Suite struct AuditTests {
    static let policy = """
        defaults: { risk_level: low, approval: auto }
        rules:
          - name: no-touch
            match: { program: touch }
            risk_level: high
            approval: block
        """

    func populated() -> (Sandbox, String) {
        let s = Sandbox()
        let p = s.policy(Self.policy)
        for i in 0..<4 { _ = s.run("--policy", p, "--", "sh", "-c", "exit \(i % 2)") }
        _ = s.run("--policy", p, "--", "touch", s.dir + "/x")
        return (s, p)
    }

    @Test func verifyPassesOnAnUntouchedLog() {
        let (s, _) = populated()
        let r = s.run("audit", "verify", "--db", s.auditPath)
        #expect(r.status == 0)
        #expect(r.stdout == "\(s.auditPath): 5 rows, hash chain intact\n")
    }

    @Test(arguments: [
        ("update audit_log set action_target = 'x' where id = 3", "row 3 was changed"),
        ("update audit_log set exit_status = 0 where id = 2", "row 2's outcome was changed"),
        ("update audit_log set result_status = 'success' where id = 5", "row 5's outcome was changed"),
        ("delete from audit_log where id = 3", "row 4 does not follow"),
        ("delete from audit_log where id = 1", "row 2 follows a row that is no longer there"),
        ("update audit_log set id = 99 where id = 2", "row 3 does not follow"),
        ("insert into audit_log (session_id, timestamp, action_type, action_target, risk_level, approval, result_status, argv) values ('s','t','x','y','LOW','auto','success','[]')", "row 6 has no hash"),
    ])
    func verifyFindsTheFirstTamperedRow(_ sql: String, _ message: String) {
        let (s, _) = populated()
        _ = s.sql(sql)
        let r = s.run("audit", "verify", "--db", s.auditPath)
        #expect(r.status == 1)
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }

    @Test func listingsFilterAndRoundTrip() throws {
        let (s, p) = populated()
        let table = s.run("audit", "--policy", p)
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.count == 6)
        #expect(lines[0].hasPrefix("ID  TIME"))
        #expect(lines[5].contains("no-touch") && lines[5].contains("blocked") && lines[5].contains("HIGH"))
        let jsonl = s.run("audit", "--db", s.auditPath, "--format", "jsonl")
        let objects = try jsonl.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(objects.count == 5)
        #expect(objects.map { $0["id"] as? Int } == [1, 2, 3, 4, 5])
        #expect((objects[0]["argv"] as? [String]) == ["sh", "-c", "exit 0"])
        let json = try JSONSerialization.jsonObject(with: Data(s.run("audit", "--db", s.auditPath, "--format", "json").stdout.utf8)) as! [[String: Any]]
        #expect(json.count == 5)
        let high = s.run("audit", "--db", s.auditPath, "--risk-level", "HIGH", "--format", "jsonl")
        #expect(high.stdout.split(separator: "\n").count == 1)
        #expect(s.run("audit", "--db", s.auditPath, "--decision", "block", "--format", "jsonl").stdout.contains("no-touch"))
        #expect(s.run("audit", "--db", s.auditPath, "--rule", "<default>", "--format", "jsonl").stdout.split(separator: "\n").count == 4)
        #expect(s.run("audit", "--db", s.auditPath, "--type", "file.*", "--format", "jsonl").stdout.split(separator: "\n").count == 1)
        #expect(s.run("audit", "--db", s.auditPath, "--limit", "2", "--format", "jsonl").stdout.split(separator: "\n").count == 2)
        #expect(s.run("audit", "--db", s.auditPath, "--since", "2999-01-01", "--format", "jsonl").stdout.isEmpty)
        #expect(s.run("audit", "--db", s.auditPath, "--until", "2999-01-01", "--format", "jsonl").stdout.split(separator: "\n").count == 5)
        let csv = s.run("audit", "--db", s.auditPath, "--format", "csv", "-o", s.dir + "/out.csv")
        #expect(csv.status == 0)
        let text = try String(contentsOfFile: s.dir + "/out.csv", encoding: .utf8)
        #expect(text.hasPrefix("id,session_id,timestamp,"))
        #expect(text.split(separator: "\n").count == 6)
        let mode = try FileManager.default.attributesOfItem(atPath: s.dir + "/out.csv")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// CSV and JSONL carry the same values, read back with Python's own csv
    /// and json modules: commas, quotes and newlines in an argument included,
    /// arrays and objects as JSON text, null as an empty field.
    @Test func csvReadsBackAsTheJSONDoes() throws {
        let (s, p) = populated()
        _ = s.run("--policy", p, "--", "sh", "-c", "exit 0", "zero", "a,b \"q\"\nline2")
        _ = s.run("audit", "--db", s.auditPath, "--format", "csv", "-o", s.dir + "/rows.csv")
        _ = s.run("audit", "--db", s.auditPath, "--format", "jsonl", "-o", s.dir + "/rows.jsonl")
        let check = """
            import csv, json, sys
            rows = list(csv.DictReader(open(sys.argv[1], newline='')))
            objs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
            assert len(rows) == len(objs) == 6, (len(rows), len(objs))
            def same(c, j):
                if j is None: return c == ''
                if isinstance(j, (list, dict)): return json.loads(c) == j
                if isinstance(j, bool): return c == ('true' if j else 'false')
                if isinstance(j, (int, float)): return float(c) == j
                return c == j
            bad = [(r['id'], k, r.get(k), o[k]) for r, o in zip(rows, objs) for k in o if k not in r or not same(r[k], o[k])]
            print(bad if bad else 'same', objs[-1]['argv'][-1] == 'a,b "q"\\nline2')
            """
        let r = spawn(["python3", "-c", check, s.dir + "/rows.csv", s.dir + "/rows.jsonl"].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(r.stdout == "same True\n", "\(r.stdout) \(r.stderr)")
    }

    /// On an 80-column terminal the table fits, long targets shortened.
    @Test func theTableFitsTheTerminal() {
        let s = Sandbox()
        let p = s.policy(Self.policy)
        _ = s.run("--policy", p, "--", "touch", s.dir + "/" + String(repeating: "long-name-", count: 12))
        let driver = """
            import fcntl, os, struct, subprocess, sys, termios
            master, slave = os.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0))
            subprocess.run([sys.argv[1], 'audit', '--db', sys.argv[2]], stdout=slave, stderr=slave)
            os.close(slave)
            out = b''
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            sys.stdout.write(out.decode())
            """
        let r = spawn(["python3", "-c", driver, binary, s.auditPath].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        let lines = r.stdout.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.count == 2, "\(r.stdout)")
        #expect(lines.allSatisfy { $0.count <= 80 }, "\(lines.map(\.count))")
        #expect(lines.last?.contains("…") == true)
        // Not a terminal: nothing is cut, so machines can read every value.
        #expect(s.run("audit", "--db", s.auditPath).stdout.contains(String(repeating: "long-name-", count: 12)))
    }

    /// The reading commands find the log as the gate does, and refuse as it
    /// does: a policy the gate would refuse does not send them to another log.
    @Test func readersFindTheLogThroughThePolicyOrRefuse() {
        let (s, p) = populated()
        #expect(s.run("audit", "verify", "--policy", p).stdout == "\(s.auditPath): 5 rows, hash chain intact\n")
        #expect(s.run("stats", "--policy", p, "--format", "json").stdout.split(separator: "\n").count == 2)
        #expect(s.run("audit", "--policy", p, "--format", "jsonl").stdout.split(separator: "\n").count == 5)
        let broken = s.write("broken.yaml", "rules:\n  - name: x\n    match: { tpye: y }\n")
        for args in [["audit", "verify", "--policy", broken], ["audit", "--policy", broken], ["stats", "--policy", broken],
                     ["audit", "verify", "--policy", s.dir + "/missing.yaml"]] {
            let r = s.run(args.map { Array($0.utf8) })
            #expect(r.status == 78, "\(args): \(r.stdout) \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
            #expect(r.stderr.hasPrefix("aegis-exec: ") || r.stderr.contains("broken.yaml:3:"), "\(args): \(r.stderr)")
        }
    }

    /// With no policy anywhere, the default store under XDG_STATE_HOME is read.
    @Test func withoutAPolicyTheDefaultStoreIsRead() {
        let s = Sandbox()
        let r = s.run("audit", "verify")
        #expect(r.status == 78, "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains(s.dir + "/state/aegis"), "\(r.stderr)")
    }

    @Test func statsCountPerRule() {
        let (s, _) = populated()
        let r = s.run("stats", "--db", s.auditPath, "--format", "json")
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix(#"{"rule":"<default>","total":4,"approval":{"auto":4},"result":{"failure":2,"success":2},"median_duration_ms":"#))
        #expect(lines[1].hasPrefix(#"{"rule":"no-touch","total":1,"approval":{"block":1},"result":{"blocked":1},"median_duration_ms":null"#))
        #expect(s.run("stats", "--db", s.auditPath).stdout.hasPrefix("RULE "))
    }

    @Test func tailPrintsRowsAsTheyAreWritten() {
        let (s, p) = populated()
        // Each step waits for the one before it (up to 20 s), not for a fixed time:
        // the tail prints row 5, then a command writes row 6, the tail prints it, and is ended.
        let lines = "$(cat \"$3\" 2>/dev/null | grep -c .)"
        let script = "\"$0\" audit --db \"$2\" --tail --format jsonl --limit 1 > \"$3\" & tail=$!; i=0; "
            + "while [ \(lines) -lt 1 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; "
            + "\"$0\" --policy \"$1\" -- true; i=0; "
            + "while [ \(lines) -lt 2 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; "
            + "kill $tail; wait $tail; cat \"$3\""
        let r = spawn(["sh", "-c", script, binary, p, s.auditPath, s.dir + "/tailed"].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        let ids = r.stdout.split(separator: "\n").compactMap { line -> Int? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? Int
        }
        #expect(ids == [5, 6])
    }

    @Test func aKilledGateLeavesAnIntactLogAndAnUnknownOutcome() {
        let s = Sandbox()
        let p = s.policy(Self.policy)
        // The gate is killed while its command runs; the command is killed with it.
        // Killed once its command runs (so the decision is written), and reaped;
        // the command dies with it (its parent-death signal).
        let script = "\"$0\" --policy \"$1\" -- sleep 30 & gate=$!; i=0; "
            + "while ! pgrep -P $gate -x sleep >/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; "
            + "kill -KILL $gate; wait $gate"
        _ = spawn(["sh", "-c", script, binary, p].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(s.sql("pragma integrity_check") == ["ok"])
        #expect(s.sql("select action_type, result_status from audit_log") == ["file.read|pending"])
        let listed = s.run("audit", "--db", s.auditPath, "--format", "jsonl")
        #expect(listed.stdout.contains(#""result_status":"unknown""#))
        #expect(s.run("audit", "verify", "--db", s.auditPath).status == 0)
    }

    /// Killed and not yet reaped (a zombie, whose pid still answers), the
    /// gate's decision already reads as an unknown outcome.
    @Test func aKilledGateNotYetReapedIsAnUnknownOutcome() {
        let s = Sandbox()
        let p = s.policy(Self.policy)
        let script = """
            import os, signal, subprocess, sys, time
            gate, policy, db = sys.argv[1:4]
            g = subprocess.Popen([gate, '--policy', policy, '--', 'sleep', '30'])
            def state(pid):
                try: return open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[0]
                except OSError: return ''
            deadline = time.monotonic() + 20
            while subprocess.run(['pgrep', '-P', str(g.pid), '-x', 'sleep'], capture_output=True).returncode != 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(g.pid, signal.SIGKILL)
            while state(g.pid) != 'Z' and time.monotonic() < deadline:
                time.sleep(0.02)
            listed = subprocess.run([gate, 'audit', '--db', db, '--format', 'jsonl'], capture_output=True, text=True).stdout
            print(state(g.pid), '"result_status":"unknown"' in listed)
            g.wait()
            """
        let r = spawn(["python3", "-c", script, binary, p, s.auditPath].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(r.stdout == "Z True\n", "\(r.stdout) \(r.stderr)")
    }

    @Test func aNestedGateRecordsItsParentRow() {
        let s = Sandbox()
        let p = s.policy(Self.policy)
        let r = s.run("--policy", p, "--", binary, "--policy", p, "--", "sh", "-c", "exit 4")
        #expect(r.status == 4)
        // Row 2 is the inner gate's own; row 3 the outer supervisor's record of
        // the inner gate's exec of sh (the outer one judges every exec below it).
        #expect(s.sql("select id, parent_id, action_type, exit_status from audit_log order by id")
                == ["1||exec|4", "2|1|shell.exec|4", "3|1|shell.exec|"])
        #expect(s.run("audit", "verify", "--db", s.auditPath).status == 0)
    }

    /// A user's gate writes its own log; root reads it (which moves the
    /// user's spool) without taking the files away from the user, who keeps
    /// writing. The gate runs as `nobody` through setpriv(1).
    @Test func rootReadsAUsersLogAndTheUserKeepsWriting() throws {
        let s = Sandbox()
        let home = s.dir + "/nobody"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        #expect(chmod(s.dir, 0o755) == 0 && chown(home, 65534, 65534) == 0)
        let p = s.write("p.yaml", "defaults: { risk_level: low, approval: auto }\nrules: []\naudit: { path: \(home)/audit.db }\n")
        let env = ["PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"]
        func asNobody() -> Run {
            spawn(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--", binary, "--policy", p, "--", "/bin/true"]
                .map { Array($0.utf8) }, env: env, cwd: "/")
        }
        let first = asNobody()
        #expect(first.status == 0, "\(first.stderr)")
        let read = s.run("audit", "--db", home + "/audit.db", "--format", "csv")
        #expect(read.status == 0, "\(read.stderr)")
        #expect(read.stdout.split(separator: "\n").count == 2)
        for suffix in ["", "-wal", "-shm", "-spool"] {
            let owner = try FileManager.default.attributesOfItem(atPath: home + "/audit.db" + suffix)[.ownerAccountID] as? Int
            #expect(owner == 65534, "audit.db\(suffix) is owned by \(owner ?? -1)")
        }
        let second = asNobody()
        #expect(second.status == 0, "\(second.stderr)")
        #expect(s.run("audit", "--db", home + "/audit.db", "--format", "csv").stdout.split(separator: "\n").count == 3)
        #expect(s.run("audit", "verify", "--db", home + "/audit.db").status == 0)
    }

    /// Someone who can write the store's directory plants links where SQLite
    /// keeps its side files, aimed at a file of root's. Reading the log as
    /// root refuses, names the link, and leaves the file it points at as it was.
    @Test(arguments: ["-wal", "-shm", "-journal", ""])
    func aPlantedLinkBesideTheStoreIsRefusedNotFollowed(_ suffix: String) throws {
        let (s, _) = populated()
        #expect(s.run("audit", "flush", "--db", s.auditPath).status == 0)
        let victim = s.write("precious", "root's file\n", mode: 0o600)
        if suffix.isEmpty { try FileManager.default.moveItem(atPath: s.auditPath, toPath: s.dir + "/moved.db") }
        unlink(s.auditPath + suffix)
        #expect(symlink(victim, s.auditPath + suffix) == 0)
        for args in [["audit", "--db", s.auditPath], ["audit", "verify", "--db", s.auditPath], ["stats", "--db", s.auditPath]] {
            let r = s.run(args.map { Array($0.utf8) })
            #expect(r.status == 78, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("audit.db\(suffix): is a symbolic link"), "\(args): \(r.stderr)")
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "root's file\n")
        #expect(try FileManager.default.attributesOfItem(atPath: victim)[.size] as? Int == 12)
    }

    @Test func aMissingLogIsAConfigurationError() {
        let s = Sandbox()
        let r = s.run("audit", "--db", s.dir + "/none.db")
        #expect(r.status == 78)
        #expect(r.stderr.contains("no audit log there"))
        #expect(!FileManager.default.fileExists(atPath: s.dir + "/none.db"))
    }
}

@Suite struct RedactionEndToEndTests {
    @Test func secretsReachTheCommandButNotTheLog() throws {
        let s = Sandbox()
        let p = s.policy("""
            defaults: { risk_level: low, approval: auto }
            rules: []
            audit: { path: \(s.auditPath), redact: ["^ticket-[0-9]+$"] }
            """)
        let r = s.run("--policy", p, "--", "sh", "-c", "echo \"$1 $2 $3\"", "sh", "--password=hunter2",
                      "Authorization: Bearer abc.def", "ticket-77")
        #expect(r.status == 0)
        #expect(r.stdout == "--password=hunter2 Authorization: Bearer abc.def ticket-77\n")
        let row = s.sql("select argv || action_params || action_target from audit_log").joined()
        #expect(!row.contains("hunter2"))
        #expect(!row.contains("abc.def"))
        #expect(!row.contains("ticket-77"))
        #expect(row.contains("--password=[REDACTED]"))
        #expect(s.run("audit", "verify", "--db", s.auditPath).status == 0)
    }
}
