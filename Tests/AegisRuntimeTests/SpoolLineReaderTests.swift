import Foundation
import Testing
@testable import AegisRuntime
@testable import AegisPolicy

/// Spool lines read field by field must read exactly as the JSON parser reads
/// them, and any line not as the writer left it must go to the parser.
@Suite struct SpoolLineReaderTests {
    /// Lines written by a real spool file, as ingestion splits them.
    func writtenLines(_ records: [AuditStore.DecisionRecord], outcome: AuditStore.Outcome) throws -> [ArraySlice<UInt8>] {
        let dir = NSTemporaryDirectory() + "aegis-lines-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try AuditSpool(storePath: dir + "/audit.db")
        for r in records {
            try spool.recordDecision(r)
            try spool.recordOutcome(r.recordID, outcome)
        }
        let bytes = try #require(FileManager.default.contents(atPath: dir + "/audit.db-spool"))
        return AuditStore.spoolLines(Array(bytes)).lines.map(\.body)
    }

    func record(_ text: String, exit: Int32? = nil, parent: String? = nil) -> AuditStore.DecisionRecord {
        var params = JSONObject()
        params["argv"] = .array([.string("printf"), .string(text)])
        params["n"] = .int(-42)
        return AuditStore.DecisionRecord(
            sessionID: "s-\(text)", timestamp: ISO8601.format(unixSeconds: 1_700_000_000, microseconds: 5),
            action: Action(type: "exec", target: text, params: params, agent: text.isEmpty ? nil : "agent \(text)"),
            decision: Decision(riskLevel: .medium, approval: .auto, rule: "r \(text)", layer: "user", ruleLocation: nil, trace: []),
            resultStatus: "blocked", resultError: text.isEmpty ? nil : "why: \(text)",
            argvJSON: JSON.array([.string("printf"), .string(text)]).serialized, cwd: "/home/\(text)", user: "u",
            pid: 4_194_303, executable: "/usr/bin/\(text)", policyFiles: ["/p/\(text).yaml"], sandbox: "default",
            exitStatus: exit, parentRecord: parent)
    }

    static let texts = ["", "plain", "quote \" and back\\slash", "line\nbreak\ttab\r", "control \u{01}\u{1F} del \u{7F} nul \u{0}",
                        "é ü ß", "emoji 🙂 and 中文", #"surrogate text \udcff"#, "slash / and </script>"]

    @Test func writtenLinesReadTheSameWithoutTheParser() throws {
        let outcome = AuditStore.Outcome(status: "failure", error: "exit \"3\"\n", exitStatus: -3, signal: 9,
                                         durationMilliseconds: 0.125, finishedAt: "2026-12-01T00:00:01+00:00",
                                         humanDecision: "ann at the terminal")
        let records = Self.texts.enumerated().map { record($0.element, exit: $0.offset % 2 == 0 ? nil : Int32($0.offset), parent: $0.offset % 3 == 0 ? nil : "p\($0.offset)") }
        let lines = try writtenLines(records, outcome: outcome)
        #expect(lines.count == records.count * 2)
        for line in lines {
            #expect(SpoolLineReader.fields(line) != nil, "\(String(decoding: line, as: UTF8.self))")
            let fast = try AuditStore.SpoolRecord(line)
            let parsed = try AuditStore.SpoolRecord(line, parserOnly: true)
            #expect("\(fast)" == "\(parsed)")
        }
    }

    /// Each edit takes the line off the fast path; both ways then agree,
    /// whether the line is read or dropped (and with the same message).
    @Test(arguments: [
        (#""id":"#, #" "id":"#),            // whitespace
        (#","pid":4194303"#, #","pid":4194303.0"#),  // a fraction
        (#","pid":4194303"#, #","pid":-0"#),
        (#","pid":4194303"#, #","pid":99999999999999999999"#),
        (#","pid":4194303"#, #","pid":042"#),
        (#","pid":4194303"#, #","pid":4e3"#),
        (#","pid":4194303"#, #","pid":true"#),
        (#","user":"u""#, #","user":"\ud83d\ude42""#),  // a surrogate pair
        (#","user":"u""#, #","user":"\ud800""#),
        (#","user":"u""#, #","user":"\x""#),
        (#","user":"u""#, #","user":"u","user":"v""#),  // a repeated key
        (#","user":"u""#, ""),                           // a missing key
        (#"{"k":"d","id":"#, #"{"id":"#),                // the kind moved
        (#"{"k":"d""#, #"{"k":"x""#),
        (#""sandbox":"default""#, #""sandbox":"default","more":1"#),
        (#""user":"u""#, "\"user\":\"\u{1}\""),          // a raw control byte
    ])
    func anEditedLineIsReadByTheParserAlike(_ edit: (String, String)) throws {
        let line = try #require(try writtenLines([record("x")], outcome: AuditStore.Outcome(
            status: "success", error: nil, exitStatus: 0, signal: nil, durationMilliseconds: 1, finishedAt: "f")).first)
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.contains(edit.0))
        let edited = Array(text.replacingOccurrences(of: edit.0, with: edit.1).utf8)[...]
        #expect(SpoolLineReader.fields(edited) == nil)
        func read(_ parserOnly: Bool) -> String {
            do { return "\(try AuditStore.SpoolRecord(edited, parserOnly: parserOnly))" } catch { return "dropped: \(error.message)" }
        }
        #expect(read(false) == read(true))
    }

    @Test func aValueOfTheWrongKindIsRefusedBothWays() throws {
        let line = try #require(try writtenLines([record("x")], outcome: AuditStore.Outcome(
            status: "success", error: nil, exitStatus: 0, signal: nil, durationMilliseconds: 1, finishedAt: "f")).first)
        let edited = Array(String(decoding: line, as: UTF8.self).replacingOccurrences(of: #""pid":4194303"#, with: #""pid":"4194303""#).utf8)[...]
        #expect(SpoolLineReader.fields(edited) != nil)
        for parserOnly in [false, true] {
            #expect(throws: AuditStore.IngestProblem.self) { try AuditStore.SpoolRecord(edited, parserOnly: parserOnly) }
        }
    }

    @Test func bytesThatAreNotUTF8GoToTheParser() throws {
        let line = try #require(try writtenLines([record("x")], outcome: AuditStore.Outcome(
            status: "success", error: nil, exitStatus: 0, signal: nil, durationMilliseconds: 1, finishedAt: "f")).first)
        var bytes = Array(line)
        let at = try #require(bytes.firstIndex(of: UInt8(ascii: "x")))
        bytes[at] = 0xFF
        #expect(SpoolLineReader.fields(bytes[...]) == nil)
        func read(_ parserOnly: Bool) -> String {
            do { return "\(try AuditStore.SpoolRecord(bytes[...], parserOnly: parserOnly))" } catch { return "dropped: \(error.message)" }
        }
        #expect(read(false) == read(true))
    }
}
