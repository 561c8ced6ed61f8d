import Testing
@testable import AegisPolicy

@Suite struct RedactionTests {
    let r = Redactor()
    let X = Redactor.marker

    @Test(arguments: [
        ("--password=hunter2", "--password=[REDACTED]"),
        ("--api-key=abc123", "--api-key=[REDACTED]"),
        ("token=abc", "token=[REDACTED]"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "AWS_SECRET_ACCESS_KEY=[REDACTED]"),
        ("PGPASSWORD=pw", "PGPASSWORD=[REDACTED]"),
        ("STRIPE_KEY=rk_live_abc", "STRIPE_KEY=[REDACTED]"),
        ("DEPLOY_KEY=abc", "DEPLOY_KEY=[REDACTED]"),
        ("--client-key=pem", "--client-key=[REDACTED]"),
        ("ssh.key=abc", "ssh.key=[REDACTED]"),
        ("DB_PASS=pw", "DB_PASS=[REDACTED]"),
        ("S3_KEY=wJalrXUt", "S3_KEY=[REDACTED]"),  // where a key's kind is unclear, it is hidden
        ("MYSQL_PWD=pw", "MYSQL_PWD=[REDACTED]"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "Authorization: [REDACTED]"),
        ("authorization:basic dXNlcjpwYXNz", "authorization: [REDACTED]"),
        ("https://user:s3cret@example.com/repo.git", "https://user:[REDACTED]@example.com/repo.git"),
        ("https://api.example.com/v1?access_token=abc&page=2", "https://api.example.com/v1?access_token=[REDACTED]&page=2"),
        ("key AKIAIOSFODNN7EXAMPLE here", "key [REDACTED] here"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED]"),
        ("sk-proj-abcdefghijklmnopqrstuvwx", "[REDACTED]"),
        ("xoxb-1234567890-abcdefghij", "[REDACTED]"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl", "[REDACTED]"),
        // Words with no separator byte take the token scan alone.
        ("/tmp/AKIAIOSFODNN7EXAMPLE.log", "/tmp/[REDACTED].log"),
        ("é,ghp_abcdefghijklmnopqrstuvwxyz0123456789", "é,[REDACTED]"),
    ])
    func credentialsAreReplaced(_ input: String, _ expected: String) {
        #expect(r.redact(word: input) == expected)
    }

    @Test(arguments: ["--author=Ann", "ls -la", "/home/u/keys/notes.txt", "--sort-key=name", "--primary-key=id", "PUBLIC_KEY=ssh-ed25519", "OLDPWD=/tmp", "skeleton", "-pv", "AKIA-short",
                      "git@github.com:org/repo.git", "https://example.com/?page=2", "--monkey=1",
                      "xghp_abcdefghijklmnopqrstuvwxyz0123456789", "task-AKIAIOSFODNN7EXAMPLE", "éléphant"])
    func ordinaryWordsAreLeftAlone(_ input: String) {
        #expect(r.redact(word: input) == input)
    }

    @Test func theTokenScanStartsAtEveryShapesFirstByte() {
        let starts = Set(UnsafeBufferPointer(start: Redactor.shapeStartBytes.utf8Start,
                                             count: Redactor.shapeStartBytes.utf8CodeUnitCount))
        #expect(starts == Set(Redactor.shapes.map { $0.prefix[0] }))
    }

    @Test func aSecretOptionHidesTheNextWord() {
        #expect(r.redact(words: ["mysql", "--password", "hunter2", "-u", "root"]) == ["mysql", "--password", X, "-u", "root"])
        #expect(r.redact(words: ["curl", "--client-key", "k.pem", "--sort-key", "name"]) == ["curl", "--client-key", X, "--sort-key", "name"])
        #expect(r.redact(words: ["curl", "-H", "Authorization: Bearer abc", "https://x"]) == ["curl", "-H", "Authorization: \(X)", "https://x"])
        #expect(r.redact(word: "login --token abc --verbose") == "login --token \(X) --verbose")
    }

    @Test func paramsLoseSecretValuesByKey() {
        let params = JSON.object(JSONObject([
            ("options", .object(JSONObject([("password", .string("pw")), ("user", .string("ann"))]))),
            ("api_key", .string("k")), ("count", .int(3)), ("argv", .array([.string("--token"), .string("t")])),
        ]))
        #expect(r.redact(params) == .object(JSONObject([
            ("options", .object(JSONObject([("password", .string(X)), ("user", .string("ann"))]))),
            ("api_key", .string(X)), ("count", .int(3)), ("argv", .array([.string("--token"), .string(X)])),
        ])))
    }

    @Test func policyPatternsReplaceTheWholeWord() throws {
        let custom = Redactor(patterns: [try Pattern("^INTERNAL-[0-9]+$")])
        #expect(custom.redact(words: ["deploy", "INTERNAL-4242", "x"]) == ["deploy", X, "x"])
    }
}
