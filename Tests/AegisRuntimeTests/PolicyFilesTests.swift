import Foundation
import Testing
@testable import AegisRuntime
@testable import AegisPolicy

/// The system policy's trust checks, on real files (the suite runs as root in CI).
@Suite struct PolicyFilesTests {
    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "aegis-sys-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return d
    }

    let policy = "defaults: { risk_level: low, approval: auto }\nrules:\n  - name: sys\n    match: { type: delete }\n    approval: block\n"

    @Test func aRootOwnedUnwritablePolicyIsTrusted() throws {
        try #require(getuid() == 0, "needs root to create root-owned files")
        let d = tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        _ = FileManager.default.createFile(atPath: d + "/policy.yaml", contents: Data(policy.utf8), attributes: [.posixPermissions: 0o644])
        let f = try PolicyFiles.readSystemPolicy(d + "/policy.yaml")
        #expect(f?.policy.rules.first?.name == "sys")
    }

    @Test func anAbsentSystemPolicyIsNoLayer() throws {
        #expect(try PolicyFiles.readSystemPolicy("/nonexistent-aegis/policy.yaml") == nil)
    }

    @Test func writableOrForeignOwnedOrSymlinkedPoliciesAreRefused() throws {
        try #require(getuid() == 0, "needs root to change ownership")
        let d = tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let path = d + "/policy.yaml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(policy.utf8), attributes: [.posixPermissions: 0o664])
        #expect(throws: PolicyError.self) { try PolicyFiles.readSystemPolicy(path) }
        chmod(path, 0o644)
        chown(path, 1000, 1000)
        #expect(throws: PolicyError.self) { try PolicyFiles.readSystemPolicy(path) }
        chown(path, 0, 0)
        chmod(d, 0o777)
        #expect(throws: PolicyError.self) { try PolicyFiles.readSystemPolicy(path) }
        chmod(d, 0o755)
        #expect(try PolicyFiles.readSystemPolicy(path) != nil)
        try FileManager.default.moveItem(atPath: path, toPath: d + "/real.yaml")
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: d + "/real.yaml")
        do {
            _ = try PolicyFiles.readSystemPolicy(path)
            Issue.record("a symlinked system policy was accepted")
        } catch {
            guard case .untrusted(_, let reason) = error else { Issue.record("wrong error \(error)"); return }
            #expect(reason.contains("symbolic link"))
        }
    }

    @Test func theSystemLayerAlwaysAppliesAndComesFirst() throws {
        try #require(getuid() == 0)
        let d = tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        _ = FileManager.default.createFile(atPath: d + "/policy.yaml", contents: Data(policy.utf8), attributes: [.posixPermissions: 0o644])
        let caller = d + "/caller.yaml"
        _ = FileManager.default.createFile(atPath: caller, contents: Data("defaults: { risk_level: low, approval: auto }\nrules: []\n".utf8))
        let loaded = try PolicyFiles.load(PolicySources(explicit: [caller], environment: ["HOME": d], systemPath: d + "/policy.yaml"))
        #expect(loaded.layered.layers.map(\.name) == ["system", "command line"])
        let decision = try loaded.layered.judge(Action(type: "delete", target: "x"), at: Instant(unixSeconds: 0))
        #expect((decision.approval, decision.layer) == (.block, "system"))
    }

    @Test func aBrokenSystemPolicyFailsClosed() throws {
        try #require(getuid() == 0)
        let d = tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        _ = FileManager.default.createFile(atPath: d + "/policy.yaml", contents: Data("rules: [".utf8), attributes: [.posixPermissions: 0o644])
        let caller = d + "/caller.yaml"
        _ = FileManager.default.createFile(atPath: caller, contents: Data("defaults: { approval: auto }\nrules: []\n".utf8))
        #expect(throws: PolicyError.self) {
            try PolicyFiles.load(PolicySources(explicit: [caller], environment: [:], systemPath: d + "/policy.yaml"))
        }
    }
}

@Suite struct TimeZoneTests {
    @Test func ianaZonesComeFromTheSystemDatabase() throws {
        let berlin = try #require(TimeZones.resolve("Europe/Berlin"))
        #expect(berlin.offset(at: ISO8601.parse("2026-01-15T12:00Z")!.unixSeconds) == 3600)
        #expect(berlin.offset(at: ISO8601.parse("2026-07-15T12:00Z")!.unixSeconds) == 7200)
        // The switch to summer time: 2026-03-29 01:00 UTC.
        #expect(berlin.offset(at: ISO8601.parse("2026-03-29T00:59:59Z")!.unixSeconds) == 3600)
        #expect(berlin.offset(at: ISO8601.parse("2026-03-29T01:00:00Z")!.unixSeconds) == 7200)
        #expect(TimeZones.resolve("UTC") == .utc)
        #expect(TimeZones.resolve("+05:30")?.offset(at: 0) == 19_800)
    }

    @Test func namesCannotEscapeTheDatabase() {
        #expect(TimeZones.resolve("../../etc/passwd") == nil)
        #expect(TimeZones.resolve("/etc/localtime") == nil)
        #expect(TimeZones.resolve("Mars/Olympus") == nil)
    }
}

@Suite struct ExecutableResolverTests {
    @Test func searchesPathInOrderAndResolvesSymlinks() throws {
        let exe = try ExecutableResolver.resolve(Array("sh".utf8), searchPath: "/nonexistent:/usr/bin")
        #expect(exe.path == "/usr/bin/dash")
        #expect(!exe.isScript)
    }

    @Test func notFoundAndNotExecutableAreDistinguished() throws {
        #expect(throws: ResolveError.notFound("no-such-tool")) {
            try ExecutableResolver.resolve(Array("no-such-tool".utf8), searchPath: "/usr/bin:/bin")
        }
        let plain = NSTemporaryDirectory() + "aegis-plain-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: plain, contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
        defer { unlink(plain) }
        #expect(throws: ResolveError.self) { try ExecutableResolver.resolve(Array(plain.utf8), searchPath: nil) }
        do {
            _ = try ExecutableResolver.resolve(Array("/tmp".utf8), searchPath: nil)
            Issue.record("a directory resolved")
        } catch {
            #expect(error == .notExecutable(path: "/tmp", reason: "is a directory"))
        }
    }

    @Test func scriptsAreRecognised() throws {
        let path = NSTemporaryDirectory() + "aegis-script-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: path, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        defer { unlink(path) }
        #expect(try ExecutableResolver.resolve(Array(path.utf8), searchPath: nil).isScript)
    }
}
