import Foundation
import Testing

/// A real approver endpoint on 127.0.0.1 (Tests/Fixtures/approver-server.py),
/// started by each test in the mode it needs.
final class ApproverServer: @unchecked Sendable {  // immutable after init
    let pid: pid_t
    let port: Int
    let log: String

    init(_ mode: String, in s: Sandbox, extra: [String] = []) throws {
        log = s.dir + "/approver-requests.jsonl"
        let portFile = s.dir + "/approver-port-" + UUID().uuidString
        // Started in the background by a shell, its output in a file: the
        // test waits for the port line, and kills the server when done.
        let script = "python3 \"$0\" \"$@\" > \"$PORT_FILE\" 2>&1 & echo $!"
        let r = spawn(["sh", "-c", script, repoRoot.path + "/Tests/Fixtures/approver-server.py", mode, log] .map { Array($0.utf8) }
                      + extra.map { Array($0.utf8) }, env: s.environment.merging(["PORT_FILE": portFile]) { $1 }, cwd: s.dir)
        pid = pid_t(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        var port = 0
        for _ in 0..<800 {  // up to 20 s on a loaded machine
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), text.hasSuffix("\n"),
               let p = Int(text.split(separator: "\n").first ?? "") {
                port = p
                break
            }
            usleep(25_000)
        }
        self.port = port
    }

    deinit {
        if pid > 0 { kill(pid, SIGKILL) }
    }

    var requests: [[String: Any]] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}

@Suite struct ApproverEndpointTests {
    static func policy(url: String, _ approver: String = ", timeout: 5", sandbox s: Sandbox) -> String {
        """
        defaults: { risk_level: low, approval: auto }
        approver: { url: "\(url)"\(approver) }
        rules:
          - name: deploys-need-a-yes
            match: { type: "file.*" }
            risk_level: high
            approval: approve
        audit: { path: \(s.auditPath) }
        """
    }

    /// A policy, a secret file and a server in `mode` that signs with it.
    func setUp(_ mode: String, secret: Bool = true, timeout: Int = 5) throws -> (Sandbox, ApproverServer, String) {
        let s = Sandbox()
        var extra: [String] = []
        var approver = ", timeout: \(timeout)"
        if secret {
            let key = s.write("approver.key", "correct horse battery staple\n", mode: 0o600)
            extra = ["--secret", key]
            approver += ", secret_file: \(key)"
        }
        let server = try ApproverServer(mode, in: s, extra: extra)
        let p = s.policy(Self.policy(url: "http://127.0.0.1:\(server.port)/approve", approver, sandbox: s))
        return (s, server, p)
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    @Test func anApprovalRunsTheCommandAndIsAudited() throws {
        let (s, server, p) = try setUp("approve")
        let token = s.write("approver.token", "t0ken-abc\n", mode: 0o600)
        try "\(try String(contentsOfFile: p, encoding: .utf8))".replacingOccurrences(of: "timeout: 5,", with: "timeout: 5, token_file: \(token),")
            .write(toFile: p, atomically: true, encoding: .utf8)
        let r = s.run("--policy", p, "--agent", "claude", "--", "touch", "made", "token=hunter2")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(exists(s.dir + "/made"))
        let rows = s.sql("select result_status, human_decision from audit_log")
        #expect(rows == ["success|approved by alice via http://127.0.0.1:\(server.port)/approve: looks fine[2J"], "\(rows)")

        let reqs = server.requests
        try #require(reqs.count == 1)
        let req = reqs[0]
        #expect(req["method"] as? String == "POST")
        #expect(req["signature_ok"] as? Bool == true)
        let headers = req["headers"] as? [String: String] ?? [:]
        #expect(headers["authorization"] == "Bearer t0ken-abc")
        let body = try JSONSerialization.jsonObject(with: Data((req["body"] as? String ?? "").utf8)) as? [String: Any] ?? [:]
        #expect(body["request_id"] as? String == headers["x-aegis-request-id"])
        #expect(body["action_type"] as? String == "file.write")
        #expect(body["risk_level"] as? String == "HIGH")
        #expect(body["approval"] as? String == "approve")
        #expect(body["matched_rule"] as? String == "deploys-need-a-yes")
        #expect((body["action_description"] as? String)?.hasPrefix("touch made ") == true, "\(body)")
        let command = body["command"] as? [String: Any] ?? [:]
        #expect(command["cwd"] as? String == s.dir)
        #expect(command["agent"] as? String == "claude")
        #expect(command["user"] as? String == "root")
        // Credentials do not leave the machine.
        #expect(!(req["body"] as? String ?? "").contains("hunter2"))
    }

    /// An exec deep in the command's tree that needs approval is asked about
    /// while the command waits, runs once approved, and is audited as a child row.
    @Test func aNestedExecApprovedByTheEndpointRuns() throws {
        let (s, server, p) = try setUp("approve")
        let r = s.run("--policy", p, "--", "python3", "-c", "import subprocess; print(subprocess.call(['touch', 'made']))")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "0\n")
        #expect(exists(s.dir + "/made"))
        let asked = server.requests.compactMap { req -> String? in
            let body = try? JSONSerialization.jsonObject(with: Data((req["body"] as? String ?? "").utf8)) as? [String: Any]
            return body?["action_type"] as? String
        }
        #expect(asked == ["file.write"], "\(asked)")
        #expect(s.sql("select json_extract(argv, '$[0]'), parent_id is not null, substr(human_decision, 1, 17) from audit_log where human_decision is not null")
                == ["touch|1|approved by alice"])
    }

    /// A command approved by the endpoint has its row in the store, which the
    /// gate holds open while the command runs. Its execs' records are then
    /// moved in place before the gate ends, by no forked process: a child
    /// must not open a store its parent has open (SQLite's locks are per
    /// process). All of them reach the table, chain intact.
    @Test func anApprovedCommandsExecsAreMovedInPlace() throws {
        let (s, server, _) = try setUp("approve")
        let p = s.policy("""
            defaults: { risk_level: low, approval: auto }
            approver: { url: "http://127.0.0.1:\(server.port)/approve", timeout: 5, secret_file: \(s.dir)/approver.key }
            rules:
              - name: shells-need-a-yes
                match: { program: sh }
                risk_level: high
                approval: approve
            audit: { path: \(s.auditPath) }
            """, name: "shells.yaml")
        let n = 400
        let r = s.run("--policy", p, "--", "sh", "-c", "i=0; while [ $i -lt \(n) ]; do /bin/true; i=$((i+1)); done")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(processes(holding: s.auditPath).isEmpty)
        // Read without moving anything: the gate moved them.
        let rows = spawn(["sqlite3", s.auditPath, "select count(*) from audit_log where parent_id is not null"].map { Array($0.utf8) },
                         env: s.environment, cwd: s.dir).stdout
        #expect(rows == "\(n)\n")
        #expect(s.run("audit", "verify", "--db", s.auditPath).status == 0)
        #expect(s.sql("select substr(human_decision, 1, 17) from audit_log where parent_id is null") == ["approved by alice"])
    }

    @Test func aDenialIsTheApproversAnswer() throws {
        let (s, server, p) = try setUp("deny")
        defer { withExtendedLifetime(server) {} }
        let r = s.run("--policy", p, "--", "touch", "made")
        #expect(r.status == 77)
        #expect(!exists(s.dir + "/made"))
        #expect(r.stderr.contains("was not approved (denied by bob via http://127.0.0.1:"))
        #expect(r.stderr.contains("not on a Friday"))
        #expect(s.sql("select result_status, exit_status, substr(human_decision, 1, 17) from audit_log") == ["denied|77|denied by bob via"])
    }

    /// Every failure denies, is audited with its reason, and stderr says which.
    @Test(arguments: [
        ("string-true", true, "`approved` is string, not a JSON boolean"),
        ("error", true, "answered HTTP 500"),
        ("garbage", true, "answer is not a JSON object"),
        ("badsig", true, "bad signature"),
        // The fixture stamps its whole second an hour back; the gate reads its clock a moment
        // later, which may be in the next second: 3600 or 3601.
        ("stale", true, "timestamped 360"),
        ("replay", true, "bad signature"),
        ("unsigned", true, "not signed"),
        ("pending-forever", true, "still pending after 2 s"),
    ])
    func failuresDeny(_ mode: String, _ secret: Bool, _ reason: String) throws {
        let (s, server, p) = try setUp(mode, secret: secret, timeout: mode == "pending-forever" ? 2 : 5)
        let r = s.run("--policy", p, "--", "touch", "made")
        #expect(r.status == 77, "\(mode): \(r.stderr)")
        #expect(!exists(s.dir + "/made"))
        #expect(r.stderr.contains(reason), "\(mode): \(r.stderr)")
        let rows = s.sql("select result_status, result_error from audit_log")
        #expect(rows.count == 1)
        #expect(rows.first?.hasPrefix("denied|approver http://127.0.0.1:\(server.port)/approve: ") == true, "\(rows)")
        #expect(rows.first?.contains(reason) == true)
    }

    @Test func aSlowApproverTimesOut() throws {
        let (s, server, p) = try setUp("slow", timeout: 1)
        defer { withExtendedLifetime(server) {} }
        let started = Date()
        let r = s.run("--policy", p, "--", "touch", "made")
        #expect(r.status == 77)
        #expect(r.stderr.contains("no answer within 1 s"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(!exists(s.dir + "/made"))
    }

    @Test func aPendingAnswerIsPolledUntilApproved() throws {
        let (s, server, p) = try setUp("pending-approve")
        let r = s.run("--policy", p, "--", "touch", "made")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(exists(s.dir + "/made"))
        let reqs = server.requests
        #expect(reqs.map { $0["method"] as? String ?? "" } == ["POST", "GET", "GET", "GET"])
        #expect(reqs.allSatisfy { $0["signature_ok"] as? Bool == true })
    }

    @Test func anUnreachableApproverDenies() throws {
        let s = Sandbox()
        // A port nothing listens on: bound, then closed.
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) } }
        close(sock)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let key = s.write("approver.key", "k\n", mode: 0o600)
        let p = s.policy(Self.policy(url: "http://127.0.0.1:\(port)/approve", ", timeout: 5, secret_file: \(key)", sandbox: s))
        let r = s.run("--policy", p, "--", "touch", "made")
        #expect(r.status == 77)
        #expect(r.stderr.contains("connect"), "\(r.stderr)")
        #expect(s.sql("select result_status from audit_log") == ["denied"])
    }

    /// https through curl's TLS: a private CA named by `ca_file` is trusted,
    /// the same server without it is refused.
    @Test func httpsWithAPrivateCA() throws {
        let s = Sandbox()
        let gen = spawn(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", s.dir + "/key.pem", "-out", s.dir + "/cert.pem"]
            .map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        try #require(gen.status == 0, "\(gen.stderr)")
        let server = try ApproverServer("approve", in: s, extra: ["--tls", s.dir + "/cert.pem", s.dir + "/key.pem"])
        let url = "https://127.0.0.1:\(server.port)/approve"
        let trusted = s.policy(Self.policy(url: url, ", timeout: 5, ca_file: \(s.dir)/cert.pem", sandbox: s), name: "trusted.yaml")
        let r = s.run("--policy", trusted, "--", "touch", "made")
        #expect(r.status == 0, "\(r.stderr)")
        let untrusted = s.policy(Self.policy(url: url, sandbox: s), name: "untrusted.yaml")
        let u = s.run("--policy", untrusted, "--", "touch", "other")
        #expect(u.status == 77)
        #expect(u.stderr.lowercased().contains("certificate"), "\(u.stderr)")
        #expect(!exists(s.dir + "/other"))
    }

    /// Nothing in the agent's environment changes where the request goes or
    /// which certificate passes: proxies, curl's config, CA overrides, PATH.
    @Test func theAgentsEnvironmentCannotRedirectTheRequest() throws {
        let (s, server, p) = try setUp("approve")
        let fakeBin = s.dir + "/bin"
        try FileManager.default.createDirectory(atPath: fakeBin, withIntermediateDirectories: true)
        _ = s.write("bin/curl", "#!/bin/sh\nprintf 'HTTP/1.1 200 OK\\r\\n\\r\\n{\"approved\": true}'\n", mode: 0o755)
        _ = s.write(".curlrc", "url = \"http://127.0.0.1:9/evil\"\n")
        let env = [
            "PATH": fakeBin + ":/usr/bin:/bin", "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
            "ALL_PROXY": "http://127.0.0.1:9", "CURL_HOME": s.dir, "SSL_CERT_FILE": "/dev/null", "CURL_CA_BUNDLE": "/dev/null",
        ]
        let r = s.run("--policy", p, "--", "touch", "made", env: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(server.requests.count == 1)
    }

    /// An approver named by a caller's file may not answer for a more trusted
    /// layer: the user policy's `approve` still needs a person.
    @Test func aCallersApproverDoesNotAnswerForTheUserPolicy() throws {
        let (s, server, p) = try setUp("approve")
        try FileManager.default.createDirectory(atPath: s.dir + "/config/aegis", withIntermediateDirectories: true)
        _ = s.write("config/aegis/policy.yaml", """
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: user-asks
                match: { type: "file.*" }
                approval: approve
            audit: { path: \(s.auditPath) }
            """)
        let r = s.run("--policy", p, "--", "touch", "made")
        #expect(r.status == 77)
        #expect(server.requests.isEmpty)
        #expect(r.stderr.contains("the approver in the command line policy may not answer for the user and command line policy"), "\(r.stderr)")

        // Named by the user policy, it answers for both.
        let userPolicy = try String(contentsOfFile: s.dir + "/config/aegis/policy.yaml", encoding: .utf8)
        let approverLine = try String(contentsOfFile: p, encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("approver:") }!
        _ = s.write("config/aegis/policy.yaml", userPolicy + "\n" + approverLine + "\n")
        let again = s.run("--policy", p, "--", "touch", "made")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(server.requests.count == 1)
    }

    @Test func aSecretFileOthersCanReadIsRefused() throws {
        let (s, server, p) = try setUp("approve")
        chmod(s.dir + "/approver.key", 0o644)
        let r = s.run("--policy", p, "--", "touch", "made")
        #expect(r.status == 77)
        #expect(r.stderr.contains("can be read or written by others (chmod 600"), "\(r.stderr)")
        #expect(server.requests.isEmpty)
    }
}
