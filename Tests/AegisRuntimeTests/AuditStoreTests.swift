import Foundation
import Testing
@testable import AegisRuntime
@testable import AegisPolicy

@Suite struct AuditStoreTests {
    func record(_ status: String) -> AuditStore.DecisionRecord {
        AuditStore.DecisionRecord(
            sessionID: "s", timestamp: ISO8601.format(unixSeconds: 0), action: Action(type: "exec", target: "/bin/true"),
            decision: Decision(riskLevel: .low, approval: .auto, rule: "r", layer: "command line", ruleLocation: nil, trace: []),
            resultStatus: status, resultError: nil, argvJSON: #"["true"]"#, cwd: "/", user: "root", pid: 1,
            executable: "/usr/bin/true", policyFiles: ["p.yaml"])
    }

    @Test func createsTheSchemaOnceAndRecordsDecisionsAndOutcomes() throws {
        let dir = NSTemporaryDirectory() + "aegis-audit-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try AuditStore(path: dir + "/deep/audit.db")
        let row = try store.record(record("pending"))
        try store.complete(row: row, AuditStore.Outcome(status: "success", error: nil, exitStatus: 0, signal: nil,
                                                        durationMilliseconds: 1.5, finishedAt: "later"))
        // Reopening an existing store keeps its rows and version.
        let again = try AuditStore(path: dir + "/deep/audit.db")
        #expect(try again.connection.intPragma("user_version") == AuditStore.schemaVersion)
        let s = try again.connection.prepare("select result_status, exit_status, duration_ms, risk_level from audit_log")
        #expect(try s.step())
        #expect(s.text(0) == "success")
        #expect(s.int(1) == 0)
        #expect(s.double(2) == 1.5)
        #expect(s.text(3) == "LOW")
        let mode = try again.connection.prepare("PRAGMA journal_mode")
        #expect(try mode.step())
        #expect(mode.text(0) == "wal")
    }

    @Test func aStoreFromANewerVersionIsRefused() throws {
        let dir = NSTemporaryDirectory() + "aegis-audit-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try AuditStore(path: dir + "/audit.db")
        try store.connection.execute("PRAGMA user_version=99")
        #expect(throws: AuditStore.OpenError.self) { try AuditStore(path: dir + "/audit.db") }
    }
}
