import Testing
@testable import AegisPolicy
@testable import AegisRuntime

/// The chain's canonical text is what existing stores were hashed with: a
/// compact JSON list, element for element as the JSON values below write it.
/// Any other byte would make every store written before look tampered with.
@Suite struct AuditChainTests {
    static func text(_ s: String?) -> JSON { s.map(JSON.string) ?? .null }
    static func int(_ i: Int64?) -> JSON { i.map(JSON.int) ?? .null }

    static func reference(_ r: AuditChain.Row) -> String {
        let canonical = JSON.array([
            .string("aegis-audit-row-v1"), .int(r.id), .string(r.prevHash), .string(r.sessionID), .string(r.timestamp),
            .string(r.actionType), .string(r.actionTarget), .string(r.actionParams), .string(r.riskLevel),
            .string(r.approval), text(r.matchedRule), text(r.agentID), .string(r.argv), text(r.cwd), text(r.user),
            int(r.pid), text(r.executable), text(r.policyLayer), text(r.policyFiles), text(r.sandbox),
        ] + (r.parentID.map { [JSON.int($0)] } ?? [])).serialized
        return SHA256.hexDigest(Array(canonical.utf8))
    }

    static func reference(rowHash: String, _ o: AuditChain.OutcomeFields) -> String {
        let canonical = JSON.array([
            .string("aegis-audit-outcome-v1"), .string(rowHash), .string(o.status), text(o.error), text(o.humanDecision),
            int(o.exitStatus), int(o.signal), o.durationMilliseconds.map { JSON.string(String($0)) } ?? .null,
            text(o.finishedAt),
        ]).serialized
        return SHA256.hexDigest(Array(canonical.utf8))
    }

    // Plain text, every escape, control bytes, DEL, non-ASCII, JSON inside JSON, empty.
    static let texts = ["plain", "", "quote\" back\\slash", "new\nline\ttab\r", "\u{01}\u{1F}\u{7F}", "café ☃ 𝄞",
                        #"{"args":"rm -rf \"/\""}"#, #"["\udcff"]"#]

    @Test func rowHashesAreThoseOfTheJSONForm() {
        var checked = 0
        for (i, t) in Self.texts.enumerated() {
            for optional in [nil, t] as [String?] {
                for parent in [nil, Int64(7)] as [Int64?] {
                    let row = AuditChain.Row(
                        id: Int64(i + 1), prevHash: i == 0 ? "" : String(repeating: "a", count: 64), sessionID: t,
                        timestamp: "2026-12-01T10:00:00.000001Z", actionType: "shell.exec", actionTarget: t, actionParams: t,
                        riskLevel: "LOW", approval: "auto", matchedRule: optional, agentID: optional, argv: t, cwd: optional,
                        user: optional, pid: optional == nil ? nil : -42, executable: optional, policyLayer: optional,
                        policyFiles: optional, sandbox: optional, parentID: parent)
                    #expect(AuditChain.rowHash(row) == Self.reference(row), "\(t.debugDescription) \(String(describing: optional)) \(String(describing: parent))")
                    checked += 1
                }
            }
        }
        #expect(checked == Self.texts.count * 4)
    }

    @Test func outcomeHashesAreThoseOfTheJSONForm() {
        for t in Self.texts {
            for duration in [nil, 0.0, 1.5, 1234.000001, 1e-7] as [Double?] {
                let o = AuditChain.OutcomeFields(status: t, error: t.isEmpty ? nil : t, humanDecision: t, exitStatus: 0,
                                                 signal: duration == nil ? 9 : nil, durationMilliseconds: duration, finishedAt: t)
                #expect(AuditChain.outcomeHash(rowHash: t, o) == Self.reference(rowHash: t, o))
            }
        }
    }

    /// A known row's hash, fixed: a change to the canonical form shows here
    /// even if the reference above were changed alike.
    @Test func aKnownRowKeepsItsHash() {
        let row = AuditChain.Row(
            id: 1, prevHash: "", sessionID: "s", timestamp: "2026-12-01T10:00:00Z", actionType: "shell.exec",
            actionTarget: "true", actionParams: "{}", riskLevel: "LOW", approval: "auto", matchedRule: "(defaults)",
            agentID: nil, argv: #"["true"]"#, cwd: "/", user: "root", pid: 1, executable: "/usr/bin/true",
            policyLayer: "command line", policyFiles: #"["/p.yaml"]"#, sandbox: "default", parentID: nil)
        let canonical = #"["aegis-audit-row-v1",1,"","s","2026-12-01T10:00:00Z","shell.exec","true","{}","LOW","auto","(defaults)",null,"[\"true\"]","/","root",1,"/usr/bin/true","command line","[\"/p.yaml\"]","default"]"#
        #expect(AuditChain.rowHash(row) == SHA256.hexDigest(Array(canonical.utf8)))
    }
}
