import Testing
@testable import AegisConfig

@Suite struct ApprovalSettingsTests {
    @Test func approverAndPromptLoad() throws {
        let f = load("""
            rules: []
            approver: { url: "https://approvals.example.com:8443/v1/ask?team=ops", timeout: 300, secret_file: /etc/aegis/hmac.key }
            prompt: { timeout: 30, remember: 5 }
            """)
        #expect(f.errors.isEmpty, "\(f.diagnostics)")
        let a = try #require(f.approver)
        #expect(a.url.description == "https://approvals.example.com:8443/v1/ask?team=ops")
        #expect(a.url.host == "approvals.example.com" && a.url.port == 8443)
        #expect(a.timeoutSeconds == 300)
        #expect(a.secretFile == "/etc/aegis/hmac.key")
        #expect(f.prompt?.timeoutSeconds == 30 && f.prompt?.rememberMinutes == 5)
    }

    @Test(arguments: [
        ("approver: { url: \"http://approvals.example.com/\" }", "plain http to approvals.example.com, which is not loopback"),
        ("approver: { url: \"ftp://x/\" }", "must start with https:// or http://"),
        ("approver: { url: \"https://user:pw@x/\" }", "must not carry a user or password"),
        ("approver: { url: \"https://x:99999/\" }", "port '99999' is not 1-65535"),
        ("approver: { url: \"https://x/a b\" }", "percent-encoded"),
        ("approver: { timeout: 5 }", "approver needs a `url:`"),
        ("approver: { url: \"https://x/\", timeout: 0 }", "approver.timeout (seconds) must be a number from 1 to 3600"),
        ("approver: { url: \"https://x/\", timeout: \"5\" }", "must be a number"),
        ("approver: { url: \"https://x/\", secret_file: key.txt }", "approver.secret_file must be an absolute path"),
        ("approver: { url: \"https://x/\", secert_file: /k }", "unknown key 'secert_file' in approver (did you mean 'secret_file'?)"),
        ("approver: { url: \"https://x/\", allow_http: maybe }", "approver.allow_http must be true or false"),
        ("prompt: { remember: 2000 }", "prompt.remember (minutes) must be a number from 0 to 1440"),
        ("prompt: { remember: 1.5 }", "whole number of minutes"),
        ("prompt: { timout: 3 }", "unknown key 'timout' in prompt"),
    ])
    func mistakesAreErrorsWithPositions(_ yaml: String, _ message: String) {
        let f = load("rules: []\n" + yaml + "\n")
        #expect(f.errors.contains { $0.message.contains(message) && $0.line == 2 }, "\(f.diagnostics)")
    }

    @Test func plainHTTPIsFineOnLoopbackOrWhenAllowed() {
        for url in ["http://127.0.0.1:8080/a", "http://localhost/a", "http://[::1]:9/a"] {
            #expect(load("rules: []\napprover: { url: \"\(url)\", secret_file: /k }\n").errors.isEmpty, "\(url)")
        }
        #expect(load("rules: []\napprover: { url: \"http://10.0.0.5/\", allow_http: true, secret_file: /k }\n").errors.isEmpty)
        // Without TLS, only a signature says who answered.
        #expect(load("rules: []\napprover: { url: \"http://127.0.0.1:8080/a\" }\n").errors.contains {
            $0.message.contains("plain http, so it needs `secret_file:`")
        })
    }

    @Test func pollLocationsResolveOnTheSameOrigin() throws {
        let base = try EndpointURL("https://a.example/v1/ask")
        #expect(try base.resolving("/v1/poll/7").description == "https://a.example/v1/poll/7")
        #expect(try base.resolving("https://a.example/x").sameOrigin(base))
        #expect(!(try base.resolving("https://evil.example/x").sameOrigin(base)))
        #expect(!(try base.resolving("http://a.example/x").sameOrigin(base)))
    }
}
