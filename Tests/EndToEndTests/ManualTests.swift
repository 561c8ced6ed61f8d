import Foundation
import Testing

/// The manual pages render cleanly and describe every flag and policy key the
/// tool has.
@Suite struct ManualTests {
    static let pages = ["man/aegis-exec.1", "man/aegis-policy.5"]

    func text(_ page: String) throws -> String {
        try String(contentsOf: repoRoot.appendingPathComponent(page), encoding: .utf8)
    }

    @Test(arguments: pages)
    func lintsClean(_ page: String) {
        let r = spawn(["mandoc", "-T", "lint", "-W", "warning", repoRoot.appendingPathComponent(page).path].map { Array($0.utf8) },
                      env: ["PATH": "/usr/bin:/bin"], cwd: "/")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test func everyFlagOfTheToolIsInItsManual() throws {
        let dump = spawn([binary, "--experimental-dump-help"].map { Array($0.utf8) }, env: ["PATH": "/usr/bin:/bin"], cwd: "/")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        var flags: Set<String> = ["--policy", "--agent", "--param", "--params"]  // the gate's own, parsed by hand
        func walk(_ command: [String: Any]) {
            for arg in command["arguments"] as? [[String: Any]] ?? [] {
                for name in arg["names"] as? [[String: Any]] ?? [] {
                    // (-help, the parser's single-dash spelling of --help, is left out.)
                    guard let n = name["name"] as? String, let kind = name["kind"] as? String,
                          kind != "longWithSingleDash" else { continue }
                    flags.insert(kind == "long" ? "--" + n : "-" + n)
                }
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] { walk(sub) }
        }
        walk(try #require(root["command"] as? [String: Any]))
        #expect(flags.count > 20)
        let page = try text("man/aegis-exec.1")
        for flag in flags.sorted() {
            // mdoc writes --name as "Fl -name" and -o as "Fl o".
            let macro = "Fl " + String(flag.dropFirst())
            #expect(page.contains(macro + " ") || page.contains(macro + "\n") || page.contains(macro + " ,"), "\(flag) is not in aegis-exec.1")
        }
    }

    @Test func everyPolicyKeyIsInThePolicyManual() throws {
        let schema = spawn([binary, "schema"].map { Array($0.utf8) }, env: ["PATH": "/usr/bin:/bin"], cwd: "/")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(schema.stdout.utf8)) as? [String: Any])
        var keys: Set<String> = []
        func walk(_ v: Any) {
            if let o = v as? [String: Any] {
                if let props = o["properties"] as? [String: Any] { keys.formUnion(props.keys) }
                o.values.forEach(walk)
            } else if let a = v as? [Any] {
                a.forEach(walk)
            }
        }
        walk(json)
        #expect(keys.contains("param_matches") && keys.contains("sandbox") && keys.contains("redact"))
        let page = try text("man/aegis-policy.5")
        for key in keys.sorted() {
            #expect(page.contains("Ic \(key)") || page.contains(", \(key)"), "\(key) is not in aegis-policy.5")
        }
    }
}
