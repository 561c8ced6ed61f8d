import Foundation
import Testing

/// `aegis-exec schema` checked by a real JSON Schema validator against the
/// shipped policies (all accepted) and the invalid fixtures (all rejected).
@Suite struct SchemaTests {
    func files(_ dir: String) -> [String] {
        let d = repoRoot.appendingPathComponent(dir).path
        return ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
            .map { d + "/" + $0 }
    }

    func check(_ paths: [String]) throws -> [String: String] {
        let s = Sandbox()
        let schema = s.run("schema")
        #expect(schema.status == 0)
        let schemaPath = s.write("schema.json", schema.stdout)
        let r = spawn((["python3", repoRoot.path + "/scripts/check-schema.py", schemaPath] + paths).map { Array($0.utf8) },
                      env: s.environment, cwd: s.dir)
        try #require(r.status == 0, "\(r.stderr)")
        var out: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            out[String(parts[0])] = String(parts[1]).trimmingCharacters(in: .whitespaces)
        }
        return out
    }

    @Test func acceptsEveryShippedPolicyAndValidFixture() throws {
        let paths = files("policies") + files("Tests/Fixtures/valid")
        #expect(paths.count >= 6)
        let results = try check(paths)
        for p in paths { #expect(results[p] == "ok", "\(p): \(results[p] ?? "missing")") }
    }

    @Test func rejectsEveryInvalidFixtureThatIsAboutShape() throws {
        // Fixtures whose problem only the loader can see (a bad glob, regex,
        // template or time zone, a duplicate rule name) are valid JSON shapes.
        let loaderOnly: Set<String> = ["bad-glob.yaml", "bad-regex.yaml", "duplicate-names.yaml", "unknown-timezone.yaml",
                                       "unknown-template-variable.yaml", "recursive-alias.yaml", "duplicate-key.yaml"]
        let paths = files("Tests/Fixtures/invalid").filter { !loaderOnly.contains(URL(fileURLWithPath: $0).lastPathComponent) }
        #expect(paths.count >= 12)
        let results = try check(paths)
        for p in paths { #expect(results[p]?.hasPrefix("rejected") == true, "\(p): \(results[p] ?? "missing")") }
    }
}
