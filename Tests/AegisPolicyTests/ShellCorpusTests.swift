import Foundation
import Testing
@testable import AegisPolicy

/// The parser against bash on 12,607 real one-liners (nl2bash): it must
/// accept what bash accepts and reject what bash rejects (`bash -n`, recorded
/// in Tests/Fixtures/nl2bash-bash-rejects.txt by scripts/bash-verdicts.py).
@Suite struct ShellCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func corpus() throws -> [[UInt8]] {
        let data = try Data(contentsOf: root.deletingLastPathComponent().appendingPathComponent("shared/data/nl2bash-commands.txt"))
        var lines = Array(data).split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        if lines.last == [] { lines.removeLast() }
        return lines
    }

    @Test func agreesWithBash() throws {
        let lines = try Self.corpus()
        #expect(lines.count == 12_607)
        let rejectsText = try String(contentsOf: Self.root.appendingPathComponent("Tests/Fixtures/nl2bash-bash-rejects.txt"), encoding: .utf8)
        let bashRejects = Set(rejectsText.split(separator: "\n").compactMap { Int($0) })
        var weRejectBashAccepts: [String] = []
        var weAcceptBashRejects: [String] = []
        for (k, line) in lines.enumerated() {
            var why: String?
            do { _ = try ShellSyntax.parse(line, dialect: .bash) } catch { why = error.description }
            let ok = why == nil
            let bashOK = !bashRejects.contains(k + 1)
            // bash -n does not parse the text between backquotes (it does so only
            // when it runs); the gate must, and a string that would fail then is
            // not analyzable now, so these count as agreement.
            let deferredByBash = line.contains(0x60) && why?.contains("in a substitution") == true
            if bashOK && !ok && !deferredByBash {
                weRejectBashAccepts.append("\(k + 1): \(String(decoding: line, as: UTF8.self)) -- \(why ?? "")")
            }
            if !bashOK && ok { weAcceptBashRejects.append("\(k + 1): \(String(decoding: line, as: UTF8.self))") }
        }
        #expect(weRejectBashAccepts.isEmpty, "\(weRejectBashAccepts.count) lines bash accepts are rejected:\n\(weRejectBashAccepts.prefix(40).joined(separator: "\n"))")
        #expect(weAcceptBashRejects.isEmpty, "\(weAcceptBashRejects.count) lines bash rejects are accepted:\n\(weAcceptBashRejects.prefix(40).joined(separator: "\n"))")
    }
}
