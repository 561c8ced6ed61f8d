import Foundation
import Testing

/// The built aegis-exec, next to this test bundle.
let binary: String = {
    if let p = ProcessInfo.processInfo.environment["AEGIS_EXEC_BINARY"] { return p }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("aegis-exec").path
}()

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

struct Run {
    var status: Int32
    var signaled: Bool
    var stdout: String
    var stderr: String
    var stdoutBytes: [UInt8]
}

/// A scratch directory per test, with its own config/state homes so no
/// user-level policy or audit store leaks in.
final class Sandbox: @unchecked Sendable {  // immutable after init
    let dir: String
    init() {
        dir = NSTemporaryDirectory() + "aegis-e2e-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: dir + "/config", withIntermediateDirectories: true)
        try! FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    var auditPath: String { dir + "/audit.db" }

    /// Writes a policy with an audit path inside the sandbox (unless the text sets one).
    @discardableResult
    func policy(_ yaml: String, name: String = "policy.yaml") -> String {
        let path = dir + "/" + name
        let text = yaml.contains("audit:") ? yaml : yaml + "\naudit: { path: \(auditPath) }\n"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    /// Written through a descriptor opened O_CLOEXEC: a file the tests then
    /// exec must not be open for writing in a process another test is
    /// starting at that moment (posix_spawn passes on every descriptor
    /// without the flag, and the kernel refuses to exec a file open for
    /// writing: "Text file busy").
    func write(_ name: String, _ text: String, mode: Int = 0o644) -> String {
        let path = dir + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode))
        precondition(fd >= 0, "cannot write \(path)")
        let bytes = Array(text.utf8)
        precondition(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count)
        precondition(fchmod(fd, mode_t(mode)) == 0)  // whatever the umask took away
        close(fd)
        return path
    }

    var environment: [String: String] {
        [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": dir,
            "XDG_CONFIG_HOME": dir + "/config",
            "XDG_STATE_HOME": dir + "/state",
            "LANG": "C.UTF-8",
        ]
    }

    /// Runs aegis-exec with exact argument bytes; stdin is /dev/null.
    func run(_ args: [[UInt8]], env extra: [String: String] = [:], cwd: String? = nil) -> Run {
        spawn([Array(binary.utf8)] + args, env: environment.merging(extra) { $1 }, cwd: cwd ?? dir)
    }

    func run(_ args: String..., env: [String: String] = [:], cwd: String? = nil) -> Run {
        run(args.map { Array($0.utf8) }, env: env, cwd: cwd)
    }

    /// A count read from the table with sqlite3 (moving nothing from the
    /// spool), again every 0.1 s until it is `until` or 30 s have passed.
    func countWithoutMoving(_ query: String, until: Int) -> Int {
        var count = -1
        for _ in 0..<300 {
            let out = spawn(["sqlite3", auditPath, query].map { Array($0.utf8) }, env: environment, cwd: dir).stdout
            count = Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            if count == until { break }
            usleep(100_000)
        }
        return count
    }

    /// Runs SQL on the audit store, after moving the gate's spooled records into it.
    func sql(_ query: String) -> [String] {
        if FileManager.default.fileExists(atPath: auditPath + "-spool") {
            let flushed = run("audit", "flush", "--db", auditPath)
            precondition(flushed.status == 0, "audit flush: \(flushed.stderr)")
        }
        let r = spawn(["sqlite3", auditPath, query].map { Array($0.utf8) }, env: environment, cwd: dir)
        return r.stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}

/// posix_spawnp with byte-exact argv; output captured through files so large
/// outputs cannot deadlock a pipe.
func spawn(_ argv: [[UInt8]], env: [String: String], cwd: String) -> Run {
    let out = NSTemporaryDirectory() + "aegis-out-" + UUID().uuidString
    let err = out + ".err"
    defer {
        unlink(out)
        unlink(err)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    func cstrings(_ list: [[UInt8]]) -> [UnsafeMutablePointer<CChar>?] {
        list.map { bytes in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            p[bytes.count] = 0
            return p
        } + [nil]
    }
    // env -C sets the working directory without a shell touching the bytes.
    let cargv = cstrings([Array("/usr/bin/env".utf8), Array("-C".utf8), Array(cwd.utf8), Array("--".utf8)] + argv)
    let cenv = cstrings(env.map { Array("\($0.key)=\($0.value)".utf8) })
    defer {
        cargv.forEach { $0?.deallocate() }
        cenv.forEach { $0?.deallocate() }
    }
    // Start from default signal handling, whatever the test runner set up.
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var all = sigset_t(), none = sigset_t()
    sigfillset(&all)
    sigemptyset(&none)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setsigmask(&attr, &none)
    // A new session without a controlling terminal: a test run from a
    // terminal must not have the gate ask its developer (0x80 is POSIX_SPAWN_SETSID).
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | 0x80))
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, cargv[0]!, &actions, &attr, cargv, cenv)
    precondition(rc == 0, "spawn failed: \(rc)")
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let o = (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data()
    let e = (try? Data(contentsOf: URL(fileURLWithPath: err))) ?? Data()
    let signaled = (status & 0x7F) != 0
    return Run(status: signaled ? 128 + (status & 0x7F) : (status >> 8) & 0xFF, signaled: signaled,
               stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self), stdoutBytes: Array(o))
}

/// glibc's pipe2, which the Glibc module does not export: a pipe made
/// close-on-exec at once, so no program another test starts meanwhile holds it.
@_silgen_name("pipe2") func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

/// Runs a program with its standard output on a pipe, read to its end (as a
/// caller capturing output does): the exit status, the output, and the pipe's
/// inode (to find who else holds it).
func spawnReadingOutput(_ argv: [String], env: [String: String], cwd: String) -> (Int32, String, UInt64) {
    var fds: [Int32] = [-1, -1]
    precondition(pipe2(&fds, O_CLOEXEC) == 0)
    var st = stat()
    precondition(fstat(fds[0], &st) == 0)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let full = ["/usr/bin/env", "-C", cwd, "--"] + argv
    let cargv = full.map { strdup($0) } + [nil]
    let cenv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        cargv.forEach { free($0) }
        cenv.forEach { free($0) }
    }
    var pid: pid_t = 0
    precondition(posix_spawn(&pid, cargv[0]!, &actions, nil, cargv, cenv) == 0)
    close(fds[1])
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fds[0], &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    close(fds[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return ((status >> 8) & 0xFF, String(decoding: output, as: UTF8.self), UInt64(st.st_ino))
}

/// The processes (other than this one) with a descriptor that leads to `target`
/// (a path, or a pipe's "pipe:[INODE]").
func processes(holding target: String) -> [Int32] {
    let me = getpid()
    var out: [Int32] = []
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), pid != me else { continue }
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        if fds.contains(where: { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == target }) {
            out.append(pid)
        }
    }
    return out
}

/// Results written from concurrent work, read after it.
final class Results: @unchecked Sendable {
    private var values: [Int32]
    private let lock = NSLock()
    init(_ n: Int) { values = Array(repeating: -1, count: n) }
    subscript(i: Int) -> Int32 {
        get { lock.withLock { values[i] } }
        set { lock.withLock { values[i] = newValue } }
    }
}

/// A policy that allows everything but deleting files, which it blocks.
let noDeletingPolicy = """
    defaults: { risk_level: low, approval: auto }
    rules:
      - name: no-deleting
        match: { type: file.delete }
        risk_level: critical
        approval: block
    """
