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
    _ = try Gate.judge(argv: argv, cwd: "/", resolvedPath: "/usr/bin/true", policy: loaded, agent: nil,
                       callerParams: JSONObject(), at: now)
    let t2 = ProcessInfo.monotonicNanoseconds()
    loadTimes.append(t1 - t0)
    judgeTimes.append(t2 - t1)
}
let rules = (try? PolicyFiles.read(args[1]).policy.rules.count) ?? 0
print("rules=\(rules) load_us=\(median(loadTimes)) judge_us=\(median(judgeTimes))")
