#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy
import AegisCommandLine
import AegisRuntime
import ArgumentParser

/// Where the audit log is: --db, else the policy's audit.path, else the default.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The audit database to read.", valueName: "file"), completion: .file(extensions: ["db"]))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("Find the audit log as the gate does with these policies.", valueName: "file"),
            completion: .file(extensions: ["yaml", "yml"]))
    var policy: [String] = []

    func path() throws -> String {
        if let db { return db }
        let env = ProcessInfo.environment()
        var configured: String?
        do {
            configured = try PolicyFiles.load(PolicySources(explicit: policy, environment: env)).audit?.path
        } catch .noPolicy where policy.isEmpty {
            // No policy anywhere: the default store is the one there is to read.
        } catch {
            // A policy the gate would refuse names no store to trust; reading
            // the default one instead would report on another log.
            throw policyFailure(error)
        }
        if let p = configured ?? AuditStore.defaultPath(environment: env) { return p }
        throw ValidationError("no audit log location: pass --db FILE")
    }

    func open() throws -> AuditStore {
        let p = try path()
        do {
            return try AuditStore.openExisting(path: p)
        } catch {
            Messages.printError("cannot open the audit log: \(error)")
            throw ExitCode(ExitStatus.configuration)
        }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show, export and verify the audit log.",
        subcommands: [AuditList.self, AuditVerify.self, AuditFlush.self], defaultSubcommand: AuditList.self)
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, jsonl, csv
}

struct AuditList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List audit rows, oldest first.")

    @OptionGroup var store: StoreOptions
    @Option(name: .long, help: "Only this session.") var session: String?
    @Option(name: .long, help: "Only this risk level (low, medium, high, critical).") var riskLevel: String?
    @Option(name: .long, help: "Only this decision (auto, approve, block).") var decision: String?
    @Option(name: .long, help: "Only rows decided by this rule.") var rule: String?
    @Option(name: .long, help: "Only this action type (a glob).") var type: String?
    @Option(name: .long, help: ArgumentHelp("From this time (ISO 8601).", valueName: "time")) var since: String?
    @Option(name: .long, help: ArgumentHelp("Before this time (ISO 8601).", valueName: "time")) var until: String?
    @Option(name: .long, help: "At most this many (the newest).") var limit: Int?
    @Option(name: .long, help: "table, json, jsonl or csv.") var format: OutputFormat = .table
    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"),
            completion: .file()) var output: String?
    @Flag(name: .long, help: "Keep printing new rows as they are written (every second).") var tail = false

    func filter() throws -> AuditStore.Filter {
        var f = AuditStore.Filter()
        f.session = session
        f.riskLevel = riskLevel
        f.approval = decision
        f.rule = rule
        f.type = type
        func iso(_ s: String?, _ name: String) throws -> String? {
            guard let s else { return nil }
            guard let t = ISO8601.parse(s) else { throw ValidationError("--\(name) '\(s)' is not an ISO 8601 time") }
            return ISO8601.format(unixSeconds: t.unixSeconds)
        }
        f.since = try iso(since, "since")
        f.until = try iso(until, "until")
        f.limit = limit
        return f
    }

    func run() throws {
        let db = try store.open()
        var f = try filter()
        var sink = try OutputSink(path: output)
        var rows = try db.entries(f)
        sink.write(AuditFormatter.render(rows, format: format, header: true))
        guard tail else { return }
        f.limit = nil
        while true {
            sleep(1)
            if let last = rows.last { f.afterID = last.id }
            rows = try db.entries(f)
            if !rows.isEmpty { sink.write(AuditFormatter.render(rows, format: format == .json ? .jsonl : format, header: false)) }
        }
    }
}

struct AuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the audit log's hash chain; report the first edited, deleted or reordered row.",
        discussion: "Exit status: 0 intact, 1 broken, 78 the log cannot be read.")

    @OptionGroup var store: StoreOptions

    func run() throws {
        let db = try store.open()
        let report: AuditStore.VerifyReport
        do { report = try db.verify() } catch {
            Messages.printError("cannot read the audit log: \(error.message)")
            throw ExitCode(ExitStatus.configuration)
        }
        if let problem = report.firstProblem {
            Messages.printError("audit log \(db.path) is not intact: \(problem.message)")
            throw ExitCode(1)
        }
        let older = report.unchained > 0 ? " (\(report.unchained) older rows predate the hash chain)" : ""
        print("\(db.path): \(report.rows) rows, hash chain intact\(older)")
    }
}

struct AuditFlush: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Move the records waiting in the spool into the audit table.",
        discussion: """
            The gate appends each record to FILE-spool beside the store and moves them into the table in batches; \
            every aegis-exec audit command does this first. Run flush before reading the store with other tools \
            (sqlite3, a SOC2 export). Exit status: 0 done, 78 the log cannot be read or written.
            """)

    @OptionGroup var store: StoreOptions

    func run() throws {
        let db = try store.open()
        do { try db.ingestSpool() } catch {
            Messages.printError("cannot move the spooled records into \(db.path): \(error.message)")
            throw ExitCode(ExitStatus.configuration)
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Per rule: decisions, results and median run time.")

    @OptionGroup var store: StoreOptions
    @Option(name: .long, help: "table or json.") var format: OutputFormat = .table

    func run() throws {
        let db = try store.open()
        let stats = try db.stats()
        if format != .table {
            for s in stats {
                print(JSON.object(JSONObject([
                    ("rule", .string(s.rule)), ("total", .int(Int64(s.total))),
                    ("approval", .object(JSONObject(s.byApproval.sorted { $0.key < $1.key }.map { ($0.key, JSON.int(Int64($0.value))) }))),
                    ("result", .object(JSONObject(s.byResult.sorted { $0.key < $1.key }.map { ($0.key, JSON.int(Int64($0.value))) }))),
                    ("median_duration_ms", s.medianDurationMilliseconds.map(JSON.double) ?? .null),
                ])).serialized)
            }
            return
        }
        var lines = [["RULE", "TOTAL", "AUTO", "APPROVE", "BLOCK", "RAN", "REFUSED", "MEDIAN MS"]]
        for s in stats {
            let ran = (s.byResult["success"] ?? 0) + (s.byResult["failure"] ?? 0)
            let refused = (s.byResult["blocked"] ?? 0) + (s.byResult["denied"] ?? 0)
            lines.append([s.rule, "\(s.total)", "\(s.byApproval["auto"] ?? 0)", "\(s.byApproval["approve"] ?? 0)",
                          "\(s.byApproval["block"] ?? 0)", "\(ran)", "\(refused)",
                          s.medianDurationMilliseconds.map { String(Int(($0 * 10).rounded()) / 10) + "." + String(Int(($0 * 10).rounded()) % 10) } ?? "-"])
        }
        print(AuditFormatter.table(lines), terminator: "")
    }
}

/// Standard output or a file (created 0600: audit exports hold commands).
struct OutputSink {
    let fd: Int32

    init(path: String?) throws {
        guard let path, path != "-" else { fd = 1; return }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    mutating func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}

enum AuditFormatter {
    static let tableColumns: [(title: String, key: String)] = [
        ("ID", "id"), ("TIME", "timestamp"), ("SESSION", "session_id"), ("ACTION", "action_type"), ("TARGET", "action_target"),
        ("RISK", "risk_level"), ("DECISION", "approval"), ("RESULT", "result_status"), ("RULE", "matched_rule"),
    ]

    static func cell(_ v: JSON?) -> String {
        switch v {
        case nil, .null?: ""
        case .string(let s)?: s
        case let v?: v.serialized
        }
    }

    static func render(_ rows: [AuditStore.Entry], format: OutputFormat, header: Bool) -> String {
        switch format {
        case .jsonl:
            return rows.map { JSON.object($0.fields).serialized + "\n" }.joined()
        case .json:
            return JSON.array(rows.map { .object($0.fields) }).serialized + "\n"
        case .csv:
            var out = header ? AuditStore.csvHeader + "\n" : ""
            for r in rows { out += r.fields.entries.map { csvField(cell($0.value)) }.joined(separator: ",") + "\n" }
            return out
        case .table:
            var lines: [[String]] = header ? [tableColumns.map(\.title)] : []
            for r in rows {
                lines.append(tableColumns.map { col in
                    var c = cell(r.fields[col.key])
                    if col.key == "timestamp" { c = String(c.prefix(19)).replacingAll("T", with: " ") }
                    return ShellQuote.isPrintable(c) ? c : ShellQuote.word(Array(c.utf8))
                })
            }
            return table(fit(lines, width: terminalWidth()))
        }
    }

    /// The width of the terminal on standard output, if it is one.
    static func terminalWidth() -> Int? {
        var size = winsize()
        guard isatty(1) == 1, ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    /// Shortens the widest of the free-text columns (target, rule, session,
    /// action), with an ellipsis, until the table fits the width.
    static func fit(_ lines: [[String]], width: Int?) -> [[String]] {
        guard let width, let first = lines.first else { return lines }
        var widths = first.indices.map { i in lines.map { $0[i].count }.max() ?? 0 }
        let shrinkable = [4, 8, 2, 3]  // TARGET, RULE, SESSION, ACTION
        func total() -> Int { widths.reduce(0, +) + 2 * (widths.count - 1) }
        while total() > width {
            guard let widest = shrinkable.filter({ widths[$0] > 8 }).max(by: { widths[$0] < widths[$1] }) else { break }
            widths[widest] = max(8, widths[widest] - (total() - width))
        }
        var fitted = lines.map { line in line.enumerated().map { i, c in ellipsis(c, widths[i]) } }
        // Still too wide: the session column goes first (`--session` filters by it).
        if total() > width { fitted = fitted.map { line in line.enumerated().filter { $0.offset != 2 }.map(\.element) } }
        return fitted
    }

    static func ellipsis(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingAll("\"", with: "\"\"") + "\"" : s
    }

    static func table(_ lines: [[String]]) -> String {
        guard let first = lines.first else { return "" }
        var widths = Array(repeating: 0, count: first.count)
        for l in lines { for (i, c) in l.enumerated() { widths[i] = max(widths[i], c.count) } }
        return lines.map { l in
            l.enumerated().map { i, c in i == l.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count) }
                .joined(separator: "  ") + "\n"
        }.joined()
    }
}

extension AuditStore {
    static let csvHeader = listedColumns.joined(separator: ",")
}
