#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy
import AegisRuntime

// aegis-bench POLICY [ITERATIONS]: median time to read+parse the policy file and
// to judge `/bin/true` against it, each measured ITERATIONS times in-process.
let args = CommandLine.arguments
guard args.count >= 2 else {
    print("usage: aegis-bench POLICY [ITERATIONS]")
    exit(2)
}
let iterations = args.count > 2 ? Int(args[2]) ?? 200 : 200

func median(_ xs: [UInt64]) -> Double { Double(xs.sorted()[xs.count / 2]) / 1000 }

var loadTimes: [UInt64] = []
var judgeTimes: [UInt64] = []
var auditTimes: [UInt64] = []
var sandboxTimes: [UInt64] = []
let auditPath = "/tmp/aegis-bench-\(getpid()).db"
defer { for suffix in ["", "-wal", "-shm"] { unlink(auditPath + suffix) } }
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
    // What the gate writes per command: open, decision row, outcome.
    let store = try AuditStore(path: auditPath)
    let row = try store.record(AuditStore.DecisionRecord(
        sessionID: "bench", timestamp: ISO8601.format(unixSeconds: now.unixSeconds), action: judgement.action,
        decision: judgement.decision, resultStatus: "pending", resultError: nil, argvJSON: Gate.argvJSON(argv), cwd: "/",
        user: ProcessInfo.userName(), pid: getpid(), executable: "/usr/bin/true", policyFiles: [args[1]]))
    try store.complete(row: row, AuditStore.Outcome(status: "success", error: nil, exitStatus: 0, signal: nil,
                                                    durationMilliseconds: 1, finishedAt: "x"))
    let t3 = ProcessInfo.monotonicNanoseconds()
    _ = try SeccompCompiler.filters(for: judgement.sandbox)
    let t4 = ProcessInfo.monotonicNanoseconds()
    sandboxTimes.append(t4 - t3)
    loadTimes.append(t1 - t0)
    judgeTimes.append(t2 - t1)
    auditTimes.append(t3 - t2)
}
let rules = (try? PolicyFiles.read(args[1]).policy.rules.count) ?? 0
print("rules=\(rules) load_us=\(median(loadTimes)) judge_us=\(median(judgeTimes)) audit_us=\(median(auditTimes)) seccomp_compile_us=\(median(sandboxTimes))")
