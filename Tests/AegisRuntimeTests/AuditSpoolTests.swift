import Foundation
import Testing
@testable import AegisRuntime
@testable import AegisPolicy
import CLibSQLite3

/// The spool on a real file, moved into a real SQLite store.
@Suite struct AuditSpoolTests {
    struct Place {
        let dir = NSTemporaryDirectory() + "aegis-spool-" + UUID().uuidString
        var store: String { dir + "/audit.db" }
        var spool: String { store + "-spool" }
        func remove() { try? FileManager.default.removeItem(atPath: dir) }
        func spoolText() -> String { (try? String(contentsOfFile: spool, encoding: .utf8)) ?? "" }
        /// Rewrites the spool in place (a new file would leave open writers on the old one).
        func writeSpool(_ text: String) {
            let fd = open(spool, O_WRONLY | O_TRUNC)
            precondition(fd >= 0)
            _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
    }

    func record(_ target: String, status: String = "pending", parent: String? = nil) -> AuditStore.DecisionRecord {
        AuditStore.DecisionRecord(
            sessionID: "s", timestamp: ISO8601.format(unixSeconds: 0), action: Action(type: "exec", target: target),
            decision: Decision(riskLevel: .high, approval: .auto, rule: "r", layer: "command line", ruleLocation: nil, trace: []),
            resultStatus: status, resultError: status == "blocked" ? "blocked by rule r" : nil,
            argvJSON: #"["true","\udcff"]"#, cwd: "/", user: "root", pid: 1, executable: "/usr/bin/true",
            policyFiles: ["p.yaml"], sandbox: "default", exitStatus: status == "blocked" ? 77 : nil, parentRecord: parent)
    }

    let finished = AuditStore.Outcome(status: "failure", error: nil, exitStatus: 3, signal: nil, durationMilliseconds: 2.5,
                                      finishedAt: "2026-12-01T00:00:01+00:00")

    func rows(_ store: AuditStore, _ columns: String) throws -> [String] {
        let q = try store.connection.prepare("SELECT \(columns) FROM audit_log ORDER BY id")
        var out: [String] = []
        while try q.step() {
            out.append((0..<sqlite3_column_count(q.stmt)).map { q.text($0) ?? "NULL" }.joined(separator: "|"))
        }
        return out
    }

    /// The duration is spelled as `String(Double)` spells it (the outcome
    /// hash covers that text, and is checked again from the table's value).
    @Test func durationsAreSpelledAsTheStandardLibrarySpellsThem() {
        var values: [Double] = [0, 0.001, 0.01, 0.1, 1, 1.5, 2.25, 10, 999.999, 1000, 123456.789, 0.0005, 1e-7, 1.0 / 3,
                                -0.0, -1, .infinity, .nan, 1e15, 1e20, 5e-324]
        for _ in 0..<20_000 {
            let micros = UInt64.random(in: 0...(UInt64(1) << UInt64.random(in: 1...49)))
            values.append(Double(micros) / 1000)
        }
        for _ in 0..<2_000 { values.append(Double.random(in: 0...1e6)) }
        for v in values {
            #expect(AuditSpool.millisecondsText(v) == String(v), "\(v)")
        }
    }

    @Test func recordsReachTheTableWithTheirOutcomesParentsAndAnIntactChain() throws {
        let place = Place()
        defer { place.remove() }
        let spool = try AuditSpool(storePath: place.store)
        let parent = record("/bin/sh")
        try spool.recordDecision(parent)
        try spool.recordDecision(record("/bin/rm", status: "blocked", parent: parent.recordID))
        try spool.recordOutcome(parent.recordID, finished)
        // Nothing is in the table yet; a reader moves it there first.
        #expect(!FileManager.default.fileExists(atPath: place.store))
        let store = try AuditStore.openExisting(path: place.store)
        #expect(try store.ingestSpool() == 3)
        #expect(try rows(store, "id, parent_id, action_target, risk_level, result_status, exit_status, duration_ms, argv") == [
            #"1|NULL|/bin/sh|HIGH|failure|3|2.5|["true","\udcff"]"#,
            #"2|1|/bin/rm|HIGH|blocked|77|NULL|["true","\udcff"]"#,
        ])
        #expect(try store.verify() == AuditStore.VerifyReport(rows: 2, unchained: 0, firstProblem: nil))
        // What is left is one seal line, and the next records chain onto it.
        #expect(place.spoolText().hasPrefix(#"{"k":"seal"}"#))
        #expect(place.spoolText().split(separator: "\n").count == 1)
        try spool.recordDecision(record("/bin/ls"))
        #expect(try store.ingestSpool() == 1)
        #expect(try store.verify().firstProblem == nil)
        #expect(try store.ingestSpool() == 0)
    }

    @Test func anOutcomeAfterItsDecisionMovedStillFindsItsRow() throws {
        let place = Place()
        defer { place.remove() }
        let spool = try AuditSpool(storePath: place.store)
        let r = record("/bin/sleep")
        try spool.recordDecision(r)
        let store = try AuditStore(path: place.store)
        try store.ingestSpool()
        #expect(try rows(store, "result_status") == ["pending"])
        try spool.recordOutcome(r.recordID, finished)
        try store.ingestSpool()
        #expect(try rows(store, "result_status, exit_status") == ["failure|3"])
        #expect(try store.verify().firstProblem == nil)
    }

    @Test func aRowWrittenStraightToTheTableComesAfterWhatWasSpooled() throws {
        let place = Place()
        defer { place.remove() }
        let spool = try AuditSpool(storePath: place.store)
        let outer = record("/bin/sh")
        try spool.recordDecision(outer)
        let store = try AuditStore(path: place.store)
        let row = try store.record(record("/usr/bin/approved", parent: outer.recordID))
        #expect(row == 2)
        #expect(try rows(store, "id, parent_id, action_target") == ["1|NULL|/bin/sh", "2|1|/usr/bin/approved"])
        #expect(try store.verify().firstProblem == nil)
    }

    /// An ingestion killed after its commit, before it cut the spool: the
    /// next one moves nothing twice and reports nothing broken.
    @Test func anInterruptedIngestionMovesNothingTwice() throws {
        let place = Place()
        defer { place.remove() }
        let spool = try AuditSpool(storePath: place.store)
        for t in ["/a", "/b"] { try spool.recordDecision(record(t)) }
        let uncut = place.spoolText()
        let store = try AuditStore(path: place.store)
        try store.ingestSpool()
        place.writeSpool(uncut)
        try spool.recordDecision(record("/c"))
        #expect(try store.ingestSpool() == 1)
        #expect(try rows(store, "action_target") == ["/a", "/b", "/c"])
        #expect(try store.verify().firstProblem == nil)
    }

    @Test(arguments: [
        ("edit", "a record was edited"),
        ("delete", "a record was edited, or records before it were removed"),
        ("behead", "the spool's first records were removed"),
        ("tear", "a record cut short was dropped"),
        ("garble", "a damaged record was dropped"),
    ])
    func tamperingWithTheSpoolShowsInVerify(_ how: String, _ message: String) throws {
        let place = Place()
        defer { place.remove() }
        let spool = try AuditSpool(storePath: place.store)
        let store = try AuditStore(path: place.store)
        if how == "behead" {
            try spool.recordDecision(record("/first"))
            try store.ingestSpool()  // the spool is now sealed
        }
        for t in ["/a", "/b", "/c"] { try spool.recordDecision(record(t)) }
        var lines = place.spoolText().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = lines.firstIndex { $0.contains(#""/b""#) }!
        switch how {
        case "edit": lines[b] = lines[b].replacingOccurrences(of: #""/b""#, with: #""/x""#)
        case "delete": lines.remove(at: b)
        case "behead": lines.removeFirst()  // the seal
        case "tear":
            lines.removeLast()  // the last line loses its newline and the end of its hash
            lines[lines.count - 1].removeLast(10)
        default: lines[b] = "not a record"
        }
        place.writeSpool(lines.joined(separator: "\n"))
        let report = try store.verify()
        #expect(report.firstProblem?.message.contains(message) == true, "\(String(describing: report.firstProblem))")
        // What was not damaged still reached the table.
        #expect(try rows(store, "action_target").contains("/a"))
        #expect(try rows(store, "action_target").contains("/c") == (how != "tear"))
    }

    @Test func aWriterAfterATornLineStartsAFreshLine() throws {
        let place = Place()
        defer { place.remove() }
        let spool = try AuditSpool(storePath: place.store)
        try spool.recordDecision(record("/a"))
        place.writeSpool(String(place.spoolText().dropLast(20)))
        let reopened = try AuditSpool(storePath: place.store)
        try reopened.recordDecision(record("/b"))
        let store = try AuditStore(path: place.store)
        try store.ingestSpool()
        #expect(try rows(store, "action_target") == ["/b"])
        #expect(try store.spoolBreaks().count == 1)
    }

    /// Many threads, each with its own descriptor, as concurrent gates have.
    @Test func concurrentWritersInterleaveWholeRecords() async throws {
        let place = Place()
        defer { place.remove() }
        _ = try AuditSpool(storePath: place.store)
        let store = place.store
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<16 {
                group.addTask {
                    let spool = try! AuditSpool(storePath: store)
                    for j in 0..<25 {
                        let r = AuditSpoolTests().record("/\(i)/\(j)")
                        try! spool.recordDecision(r)
                        try! spool.recordOutcome(r.recordID, AuditSpoolTests().finished)
                        if j == 12 { _ = try! AuditStore(path: store).ingestSpool() }
                    }
                }
            }
        }
        let s = try AuditStore(path: place.store)
        try s.ingestSpool()
        #expect(try rows(s, "count(*), count(finished_at)") == ["400|400"])
        #expect(try s.verify() == AuditStore.VerifyReport(rows: 400, unchained: 0, firstProblem: nil))
    }

    @Test func aStoreThatCannotTakeTheRecordsRefusesTheSpool() throws {
        let place = Place()
        defer { place.remove() }
        _ = try AuditStore(path: place.store)
        // Root may write any file it can reach, but not an immutable one.
        func chattr(_ flag: String) throws {
            let p = try Process.run(URL(fileURLWithPath: "/usr/bin/chattr"), arguments: [flag, place.store])
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        if getuid() == 0 { try chattr("+i") } else { chmod(place.store, 0o400) }
        defer { if getuid() == 0 { try? chattr("-i") } }
        #expect(throws: AuditStore.OpenError.self) { try AuditSpool(storePath: place.store) }
    }

    /// A store from before the spool (schema 5) is upgraded in place; its
    /// rows are kept and the chain goes on.
    @Test func aVersion5StoreIsUpgraded() throws {
        let place = Place()
        defer { place.remove() }
        try FileManager.default.createDirectory(atPath: place.dir, withIntermediateDirectories: true)
        let old = try SQLiteConnection(path: place.store, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        try old.execute(AuditStore.schemaV1)
        try old.execute("""
            ALTER TABLE audit_log ADD COLUMN sandbox TEXT; ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
            ALTER TABLE audit_log ADD COLUMN row_hash TEXT; ALTER TABLE audit_log ADD COLUMN outcome_hash TEXT;
            ALTER TABLE audit_log ADD COLUMN parent_id INTEGER;
            """)
        try old.execute(AuditStore.grantsV5)
        try old.execute("""
            INSERT INTO audit_log (session_id, timestamp, action_type, action_target, risk_level, approval, result_status, argv)
            VALUES ('s', 't', 'exec', '/old', 'LOW', 'auto', 'success', '[]');
            PRAGMA user_version=5;
            """)
        let spool = try AuditSpool(storePath: place.store)
        try spool.recordDecision(record("/new"))
        let store = try AuditStore(path: place.store)
        #expect(try store.connection.intPragma("user_version") == 6)
        try store.ingestSpool()
        #expect(try rows(store, "action_target") == ["/old", "/new"])
        #expect(try store.verify() == AuditStore.VerifyReport(rows: 2, unchained: 1, firstProblem: nil))
    }

    /// A line copied in the spool (the same record id twice) is reported; the
    /// first stays, and the rest of the batch still moves.
    @Test func aCopiedRecordIsReportedAndTheBatchStillMoves() throws {
        let place = Place()
        defer { place.remove() }
        let spool = try AuditSpool(storePath: place.store)
        let r = record("/a")
        try spool.recordDecision(r)
        try spool.recordDecision(r)
        try spool.recordDecision(record("/b"))
        let store = try AuditStore(path: place.store)
        try store.ingestSpool()
        #expect(try rows(store, "action_target") == ["/a", "/b"])
        #expect(try store.verify().firstProblem?.message.contains("already in the log") == true)
    }

    /// Stopped after writing the seal over the spool's start but before cutting
    /// the rest: the next ingestion moves nothing twice and reports nothing.
    @Test func anIngestionStoppedBeforeItsCutLeavesNoFalseReport() throws {
        let place = Place()
        defer { place.remove() }
        let spool = try AuditSpool(storePath: place.store)
        for t in ["/a", "/b"] { try spool.recordDecision(record(t)) }
        let uncut = place.spoolText()
        let store = try AuditStore(path: place.store)
        try store.ingestSpool()
        let seal = place.spoolText()
        place.writeSpool(seal + uncut.dropFirst(seal.utf8.count))
        try spool.recordDecision(record("/c"))
        try store.ingestSpool()
        #expect(try rows(store, "action_target") == ["/a", "/b", "/c"])
        #expect(try store.verify() == AuditStore.VerifyReport(rows: 3, unchained: 0, firstProblem: nil))
    }

    /// A full spool takes no more decisions (the gate then refuses with 78),
    /// but still takes the outcome of a command that has run.
    @Test func aFullSpoolRefusesDecisionsButKeepsOutcomes() throws {
        let place = Place()
        defer { place.remove() }
        let spool = try AuditSpool(storePath: place.store)
        let r = record("/a")
        try spool.recordDecision(r)
        let fd = open(place.spool, O_WRONLY)
        #expect(ftruncate(fd, off_t(AuditSpool.capacity)) == 0)
        close(fd)
        #expect(throws: AuditSpool.WriteError.self) { try spool.recordDecision(record("/b")) }
        let appended = try spool.recordOutcome(r.recordID, finished)
        #expect(appended.before == AuditSpool.capacity)
    }

    @Test func ingestionIsRetriedAtDoublingSizesOnly() {
        let t = 131_072
        #expect(AuditSpool.Appended(before: t - 10, after: t + 10).crossedIngestPoint(t))
        #expect(!AuditSpool.Appended(before: t + 10, after: t + 900).crossedIngestPoint(t))
        #expect(AuditSpool.Appended(before: 2 * t - 1, after: 2 * t).crossedIngestPoint(t))
        #expect(AuditSpool.Appended(before: 8 * t - 5, after: 8 * t + 5).crossedIngestPoint(t))
        #expect(!AuditSpool.Appended(before: 5 * t, after: 6 * t).crossedIngestPoint(t))
        #expect(!AuditSpool.Appended(before: 10, after: 900).crossedIngestPoint(t))
    }

    /// A FIFO planted where the spool goes would swallow records or block the gate.
    @Test func aSpoolThatIsNotARegularFileIsRefused() throws {
        let place = Place()
        defer { place.remove() }
        try FileManager.default.createDirectory(atPath: place.dir, withIntermediateDirectories: true)
        #expect(mkfifo(place.spool, 0o600) == 0)
        #expect(throws: AuditStore.OpenError.self) { try AuditSpool(storePath: place.store) }
        // Nor a second name of another file.
        unlink(place.spool)
        let other = place.dir + "/other"
        #expect(FileManager.default.createFile(atPath: other, contents: Data()))
        #expect(link(other, place.spool) == 0)
        #expect(throws: AuditStore.OpenError.self) { try AuditSpool(storePath: place.store) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: other)).isEmpty)
    }

    /// Outcomes and nested rows find their row by record id, so the id is
    /// covered by the row's hash: swapping two rows' ids shows.
    @Test func swappedRecordIDsShowInVerify() throws {
        let place = Place()
        defer { place.remove() }
        let spool = try AuditSpool(storePath: place.store)
        for t in ["/a", "/b"] { try spool.recordDecision(record(t)) }
        let store = try AuditStore(path: place.store)
        try store.ingestSpool()
        #expect(try store.verify().firstProblem == nil)
        let ids = try rows(store, "record_id")
        try store.connection.execute("""
            UPDATE audit_log SET record_id = 'swap' WHERE id = 1;
            UPDATE audit_log SET record_id = '\(ids[0])' WHERE id = 2;
            UPDATE audit_log SET record_id = '\(ids[1])' WHERE id = 1;
            """)
        #expect(try store.verify().firstProblem?.row == 1)
    }
}
