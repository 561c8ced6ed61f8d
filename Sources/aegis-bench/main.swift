#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy
import AegisRuntime

// aegis-bench POLICY [ITERATIONS]: median time to read+parse the policy file and
// to judge `/bin/true` against it, each measured ITERATIONS times in-process.
// aegis-bench --shell-corpus FILE [ROUNDS]: shell-parser throughput, in commands
// (lines) per second, over every line of FILE, best of ROUNDS.
let args = CommandLine.arguments
func median(_ xs: [UInt64]) -> Double { Double(xs.sorted()[xs.count / 2]) / 1000 }
/// An audit store in a directory of its own: a root gate keeps its store only
/// in directories no one else can write, which /tmp itself is not.
func privateAuditPath() -> String {
    var template = Array("/tmp/aegis-bench-XXXXXX".utf8CString)
    guard let dir = mkdtemp(&template) else { fatalError("mkdtemp: \(String(cString: strerror(errno)))") }
    return String(cString: dir) + "/audit.db"
}
func removeAuditFiles(_ path: String) {
    for suffix in ["", "-wal", "-shm", "-spool"] { unlink(path + suffix) }
    rmdir(String(path.dropLast("/audit.db".count)))
}
/// The policy through its compiled copy, as the gate loads it (the first load writes it).
func loadThroughCompiledCopy(_ path: String) throws -> LoadedPolicy {
    let cache = PolicyCache(directory: "/tmp/aegis-bench-cache-\(getuid())")
    let sources = PolicySources(explicit: [path], environment: [:], systemPath: "/nonexistent/policy.yaml", cache: cache)
    _ = try PolicyFiles.load(sources)
    let loaded = try PolicyFiles.load(sources)
    precondition(loaded.layered.layers.allSatisfy { $0.policy.deferredRules != nil }, "not read from its compiled copy")
    return loaded
}
guard args.count >= 2 else {
    print("usage: aegis-bench POLICY [ITERATIONS] | aegis-bench --shell-corpus FILE [ROUNDS]")
    exit(2)
}
// aegis-bench --sha256 [KB]: SHA-256 throughput, and a 1 KB record's digest time.
if args[1] == "--sha256" {
    let kb = args.count > 2 ? Int(args[2]) ?? 4096 : 4096
    let data = [UInt8](repeating: 0x61, count: kb * 1024)
    let t0 = ProcessInfo.monotonicNanoseconds()
    _ = SHA256.hexDigest(data)
    let t1 = ProcessInfo.monotonicNanoseconds()
    let record = [UInt8](repeating: 0x62, count: 1024)
    var times: [UInt64] = []
    for _ in 0..<2000 {
        let a = ProcessInfo.monotonicNanoseconds()
        _ = SHA256.hexDigest(record)
        times.append(ProcessInfo.monotonicNanoseconds() - a)
    }
    print("sha256_mb_per_s=\(Double(data.count) / (Double(t1 - t0) / 1e9) / 1e6) record_1k_us=\(median(times))")
    exit(0)
}
// aegis-bench --nested POLICY [N]: what the supervisor spends judging and
// recording one nested exec of /bin/true, in-process (median of N; with
// AEGIS_BENCH_TAIL set, also the decides over 1 ms: those that moved the spool).
if args[1] == "--nested", args.count >= 3 {
    let loaded = try loadThroughCompiledCopy(args[2])
    let n = args.count > 3 ? Int(args[3]) ?? 1000 : 1000
    let path = privateAuditPath()
    let gate = NestedGate(loaded: loaded, agent: nil, callerParams: JSONObject(), sessionID: "bench",
                          parentRecord: AuditSpool.newRecordID(), auditPath: path,
                          inherited: try EffectiveSandbox.combine([SandboxSpec()]))
    let exec = NestedExec(pid: getpid(), path: Array("/bin/true".utf8), argv: [Array("/bin/true".utf8)], cwd: "/")
    var times: [UInt64] = []
    for _ in 0..<n {
        let t0 = ProcessInfo.monotonicNanoseconds()
        precondition(gate.decide(exec))
        times.append(ProcessInfo.monotonicNanoseconds() - t0)
    }
    // The mean includes moving the records into the table, every ~180 execs.
    print("nested_decide_us=\(median(times)) mean_us=\(Double(times.reduce(0, +)) / Double(times.count) / 1000)")
    if getenv("AEGIS_BENCH_TAIL") != nil {
        let slow = times.filter { $0 > 1_000_000 }
        print("over_1ms=\(slow.count) their_total_ms=\(Double(slow.reduce(0, +)) / 1e6) total_ms=\(Double(times.reduce(0, +)) / 1e6)")
    }
    removeAuditFiles(path)
    exit(0)
}
// aegis-bench --ingest POLICY [N] [ROUNDS]: moving N nested execs' records from
// the spool into the table, as a supervisor does when its command ends (ms per
// batch and us per record, median of ROUNDS; the store grows across rounds).
if args[1] == "--ingest", args.count >= 3 {
    let loaded = try loadThroughCompiledCopy(args[2])
    let n = args.count > 3 ? Int(args[3]) ?? 1000 : 1000
    let rounds = args.count > 4 ? Int(args[4]) ?? 5 : 5
    let path = privateAuditPath()
    let store = try AuditStore(path: path, walFrames: 1024, reuseLog: true)
    var times: [UInt64] = []
    let spool = try AuditSpool(storePath: path)
    let exec = NestedExec(pid: getpid(), path: Array("/bin/true".utf8), argv: [Array("/bin/true".utf8)], cwd: "/")
    for _ in 0..<rounds {
        // The command's own decision first, as the gate writes it; then its
        // execs, fewer than a supervisor's batch, so none moves on its way.
        let judgement = try Gate.judge(argv: exec.argv, cwd: "/", resolvedPath: "/usr/bin/true", policy: loaded, agent: nil,
                                       callerParams: JSONObject(), at: Instant(unixSeconds: ProcessInfo.now().seconds))
        let command = AuditStore.DecisionRecord(
            sessionID: "bench", timestamp: ISO8601.format(unixSeconds: ProcessInfo.now().seconds), action: judgement.action,
            decision: judgement.decision, resultStatus: "pending", resultError: nil, argvJSON: Gate.argvJSON(exec.argv),
            cwd: "/", user: "bench", pid: getpid(), executable: "/usr/bin/true", policyFiles: [args[2]])
        try spool.recordDecision(command)
        let gate = NestedGate(loaded: loaded, agent: nil, callerParams: JSONObject(), sessionID: "bench",
                              parentRecord: command.recordID, auditPath: path,
                              inherited: try EffectiveSandbox.combine([SandboxSpec()]))
        for _ in 0..<n { precondition(gate.decide(exec)) }
        let t0 = ProcessInfo.monotonicNanoseconds()
        let moved = try store.ingestSpool()
        times.append(ProcessInfo.monotonicNanoseconds() - t0)
        precondition(moved == n + 1, "moved \(moved) of \(n + 1)")
    }
    let ms = median(times) / 1000
    print("ingest_ms=\(ms) per_record_us=\(ms * 1000 / Double(n))")
    removeAuditFiles(path)
    exit(0)
}
// aegis-bench --decode POLICY [N]: decoding the policy's compiled copy, and
// judging /bin/true with the result, in-process (first run, then median of N).
if args[1] == "--decode", args.count >= 3 {
    let fd = try FileDescriptor.open(args[2], O_RDONLY)
    let file = PolicyLoader.load(bytes: try fd.readAll(limit: 1 << 24), file: args[2], zones: TimeZones.resolve)
    let encoded = PolicyCodec.encode(file)
    let n = args.count > 3 ? Int(args[3]) ?? 200 : 200
    var times: [UInt64] = []
    for _ in 0...n {
        let t0 = ProcessInfo.monotonicNanoseconds()
        _ = try PolicyCodec.decode(encoded[...], zones: TimeZones.resolve)
        times.append(ProcessInfo.monotonicNanoseconds() - t0)
    }
    print("encoded_bytes=\(encoded.count) decode_first_us=\(Double(times[0]) / 1000) decode_us=\(median(Array(times.dropFirst())))")
    exit(0)
}
// aegis-bench --compile-mapping OUT: writes the compiled built-in mapping
// (Sources/AegisConfig/Compiled/commands.map) from policies/commands.yaml.
if args[1] == "--compile-mapping", args.count >= 3 {
    let yaml = try FileDescriptor.open("policies/commands.yaml", O_RDONLY).readAll(limit: 1 << 24)
    let compiled = try Builtin.compileMapping(yaml)
    let fd = open(args[2], O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0, compiled.withUnsafeBytes({ write(fd, $0.baseAddress!, $0.count) }) == compiled.count else {
        print("cannot write \(args[2])")
        exit(1)
    }
    close(fd)
    print("wrote \(args[2]): \(compiled.count) bytes")
    exit(0)
}
if args[1] == "--shell-corpus", args.count >= 3 {
    guard let fd = try? FileDescriptor.open(args[2], O_RDONLY), let bytes = try? fd.readAll(limit: 64 << 20) else {
        print("cannot read \(args[2])")
        exit(1)
    }
    let lines = bytes.split(separator: 0x0A).map(Array.init)
    let rounds = args.count > 3 ? Int(args[3]) ?? 5 : 5
    var best = UInt64.max
    var parsed = 0, analyzed = 0
    for _ in 0..<rounds {
        parsed = 0
        let t0 = ProcessInfo.monotonicNanoseconds()
        for line in lines where (try? ShellSyntax.parse(line, dialect: .bash)) != nil { parsed += 1 }
        best = min(best, ProcessInfo.monotonicNanoseconds() - t0)
    }
    var bestAnalysis = UInt64.max
    for _ in 0..<rounds {
        analyzed = 0
        let t0 = ProcessInfo.monotonicNanoseconds()
        for line in lines where (try? ShellAnalysis.analyze(line, dialect: .bash)) != nil { analyzed += 1 }
        bestAnalysis = min(bestAnalysis, ProcessInfo.monotonicNanoseconds() - t0)
    }
    // As the gate reads a string for /bin/sh: dash's grammar, and bash's as well.
    var bestShell = UInt64.max
    var analyzedShell = 0
    for _ in 0..<rounds {
        analyzedShell = 0
        let t0 = ProcessInfo.monotonicNanoseconds()
        for line in lines where (try? ShellAnalysis.analyze(line, dialect: .posix)) != nil { analyzedShell += 1 }
        bestShell = min(bestShell, ProcessInfo.monotonicNanoseconds() - t0)
    }
    let perSecond = Double(lines.count) / (Double(best) / 1e9)
    let perSecondAnalysis = Double(lines.count) / (Double(bestAnalysis) / 1e9)
    let perSecondShell = Double(lines.count) / (Double(bestShell) / 1e9)
    print("lines=\(lines.count) parsed=\(parsed) parse_per_s=\(Int(perSecond)) parse_us_per_line=\(Double(best) / 1000 / Double(lines.count))")
    print("analyzed=\(analyzed) analyze_per_s=\(Int(perSecondAnalysis)) (bash's grammar: parse + unwrapping wrappers)")
    print("analyzed=\(analyzedShell) analyze_sh_per_s=\(Int(perSecondShell)) (for /bin/sh: dash's grammar, and bash's where they differ)")
    exit(0)
}
let iterations = args.count > 2 ? Int(args[2]) ?? 200 : 200

var loadTimes: [UInt64] = []
var judgeTimes: [UInt64] = []
var auditTimes: [UInt64] = []
var sandboxTimes: [UInt64] = []
var openTimes: [UInt64] = []
var recordTimes: [UInt64] = []
var ingestTimes: [UInt64] = []
let auditPath = privateAuditPath()
defer { removeAuditFiles(auditPath) }
let argv: [[UInt8]] = [Array("/bin/true".utf8)]
let now = Instant(unixSeconds: ProcessInfo.now().seconds)
for _ in 0..<iterations {
    let t0 = ProcessInfo.monotonicNanoseconds()
    let loaded: LoadedPolicy
    do {
        loaded = try PolicyFiles.load(PolicySources(explicit: [args[1]], environment: [:], systemPath: "/nonexistent/policy.yaml"))
    } catch {
        print("cannot load \(args[1]): \(error)")
        exit(1)
    }
    let t1 = ProcessInfo.monotonicNanoseconds()
    let judgement = try Gate.judge(argv: argv, cwd: "/", resolvedPath: "/usr/bin/true", policy: loaded, agent: nil,
                                   callerParams: JSONObject(), at: now)
    let t2 = ProcessInfo.monotonicNanoseconds()
    // What the gate writes per command: open the spool, the decision, the outcome.
    let spool = try AuditSpool(storePath: auditPath)
    let tOpen = ProcessInfo.monotonicNanoseconds()
    let record = AuditStore.DecisionRecord(
        sessionID: "bench", timestamp: ISO8601.format(unixSeconds: now.unixSeconds), action: judgement.action,
        decision: judgement.decision, resultStatus: "pending", resultError: nil, argvJSON: Gate.argvJSON(argv), cwd: "/",
        user: ProcessInfo.userName(), pid: getpid(), executable: "/usr/bin/true", policyFiles: [args[1]])
    try spool.recordDecision(record)
    try spool.recordOutcome(record.recordID, AuditStore.Outcome(status: "success", error: nil, exitStatus: 0, signal: nil,
                                                                durationMilliseconds: 1, finishedAt: "x"))
    let t3 = ProcessInfo.monotonicNanoseconds()
    openTimes.append(tOpen - t2)
    recordTimes.append(t3 - tOpen)
    // Moving a batch of 100 commands into the table, per command.
    if recordTimes.count % 100 == 0 {
        let tIngest = ProcessInfo.monotonicNanoseconds()
        try AuditStore(path: auditPath).ingestSpool()
        ingestTimes.append((ProcessInfo.monotonicNanoseconds() - tIngest) / 100)
    }
    _ = try SeccompCompiler.filters(for: judgement.sandbox)
    let t4 = ProcessInfo.monotonicNanoseconds()
    sandboxTimes.append(t4 - t3)
    loadTimes.append(t1 - t0)
    judgeTimes.append(t2 - t1)
    auditTimes.append(t3 - t2)
}
let rules = (try? PolicyFiles.read(args[1]).policy.rules.count) ?? 0
print("rules=\(rules) load_us=\(median(loadTimes)) judge_us=\(median(judgeTimes)) audit_us=\(median(auditTimes)) (spool open \(median(openTimes)), records \(median(recordTimes)); table per command, in batches of 100: \(ingestTimes.isEmpty ? 0 : median(ingestTimes))) seccomp_compile_us=\(median(sandboxTimes))")
