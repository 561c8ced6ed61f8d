import Foundation
import Testing

/// Hostile or broken policy files through the real binary: each is refused
/// with FILE:LINE:COLUMN and exit 78, and the command never runs.
@Suite struct BadInputTests {
    static func aliasBomb() -> [UInt8] {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<12 { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        return Array((yaml + "rules: *a11\n").utf8)
    }

    static let inputs: [(String, @Sendable () -> [UInt8], String)] = [
        ("malformed", { Array("rules:\n  - name: a\n    match: { type: \"a\"\n".utf8) }, "did not find expected"),
        ("deep", { Array(("rules: " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8) }, "nested deeper"),
        ("bomb", aliasBomb, "alias bomb"),
        ("utf8", { Array("rules:\n  - name: \"".utf8) + [0xC3, 0x28] + Array("\"\n".utf8) }, "UTF-8"),
        ("empty", { [] }, "the policy is empty"),
        ("wrong-type", { Array("rules:\n  - name: a\n    conditions: { param_lt: { n: [1] } }\n".utf8) }, "must be a number"),
    ]

    @Test(arguments: inputs.map(\.0))
    func refusedWithPositionAndNothingRuns(_ name: String) throws {
        let (_, make, text) = Self.inputs.first { $0.0 == name }!
        let s = Sandbox()
        let path = s.dir + "/\(name).yaml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(make()))
        let marker = s.dir + "/ran"
        let r = s.run("--policy", path, "--", "touch", marker)
        #expect(r.status == 78)
        #expect(r.stderr.hasPrefix("aegis-exec: invalid policy: \(path):"), "\(r.stderr)")
        #expect(r.stderr.contains(text), "\(r.stderr)")
        #expect(r.stderr.filter { $0 == "\n" }.count == 1)
        #expect(!FileManager.default.fileExists(atPath: marker))
        let v = s.run("validate", path)
        #expect(v.status == 78)
        #expect(v.stdout.contains(text) || v.stderr.contains(text))
    }

    @Test func aHundredMegabytePolicyIsRefusedWithoutBeingRead() throws {
        let s = Sandbox()
        let path = s.dir + "/huge.yaml"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        #expect(truncate(path, 100 << 20) == 0)  // sparse: costs no disk
        let marker = s.dir + "/ran"
        let r = s.run("--policy", path, "--", "touch", marker)
        #expect(r.status == 78)
        #expect(r.stderr == "aegis-exec: invalid policy: \(path):1:1: file is 100 MiB; the limit for a policy is 4 MiB\n")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}
