#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import CAegisSpawn

/// One HTTP exchange, made by curl(1) in a child process.
///
/// Why a child and not a linked library: the auto-approved path must not pay
/// for HTTP or TLS (linking libcurl alone adds milliseconds to every start),
/// and curl brings maintained TLS with the system's CA store.
///
/// MUST: curl runs from a fixed path with a clean environment and `-q`, so
///       nothing the agent controls (PATH, proxies, CURL_HOME, SSL_CERT_FILE,
///       ~/.curlrc) changes where the request goes or what certificate passes.
/// MUST: secrets (token, body) reach curl on a pipe, never in its argv,
///       which any process can read in /proc.
/// MUST: no redirects are followed; only http and https are spoken.
public enum CurlTransport {
    public static let curlPath = "/usr/bin/curl"
    static let maxResponse = 1 << 20

    public struct Response: Sendable {
        public var status: Int
        /// Header names lowercased, in order.
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? { headers.last { $0.name == name }?.value }
    }

    public enum Failure: Error, Sendable, Equatable {
        case unavailable(String)
        case transport(String)
        case timeout
        case interrupted
        case malformed(String)
    }

    /// Makes the request, giving up at `deadline` (monotonic nanoseconds) or
    /// when a signal arrives on `signalFD`.
    public static func exchange(
        method: String, url: EndpointURL, headers: [String], body: [UInt8]?, deadline: UInt64, caFile: String?, signalFD: Int32
    ) throws(Failure) -> Response {
        guard access(curlPath, X_OK) == 0 else {
            throw .unavailable("the approver endpoint needs curl(1) at \(curlPath) (apt-get install curl)")
        }
        let now = ProcessInfo.monotonicNanoseconds()
        guard deadline > now + 50_000_000 else { throw .timeout }
        let seconds = Double(deadline - now) / 1e9
        var config = """
            url = "\(quote(url.description))"
            request = "\(method)"
            silent
            show-error
            include
            globoff
            proto = "=http,https"
            noproxy = "*"
            max-filesize = \(maxResponse)
            max-time = \(String(format3(seconds)))
            connect-timeout = \(String(format3(min(seconds, 10))))
            header = "Expect:"

            """
        for h in headers { config += "header = \"\(quote(h))\"\n" }
        if let caFile { config += "cacert = \"\(quote(caFile))\"\n" }
        if let body { config += "data-binary = \"\(quote(String(decoding: body, as: UTF8.self)))\"\n" }

        let (output, errors, status) = try run(input: Array(config.utf8), deadline: deadline + 1_000_000_000, signalFD: signalFD)
        guard status == 0 else {
            if status == 28 { throw .timeout }
            let line = String(decoding: errors, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init)
            throw .transport(line ?? "curl exited with status \(status)")
        }
        return try parse(output)
    }

    /// `--config` strings: backslash and double quote are escaped; the
    /// values we pass have no raw line breaks (JSON escapes them).
    static func quote(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func format3(_ v: Double) -> String {
        let ms = Int((v * 1000).rounded(.down))
        let frac = String(ms % 1000)
        return "\(ms / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
    }

    /// Splits `--include` output: status line, headers, body. Interim 1xx
    /// blocks are skipped.
    static func parse(_ raw: [UInt8]) throws(Failure) -> Response {
        var rest = raw[...]
        while true {
            guard let end = find(rest, [13, 10, 13, 10]) else { throw .malformed("the answer has no complete HTTP header") }
            // Bytes, not String: Swift treats "\r\n" as one Character.
            var lines = rest[rest.startIndex..<end].split(separator: 10, omittingEmptySubsequences: false).map {
                String(decoding: $0.last == 13 ? $0.dropLast() : $0, as: UTF8.self)
            }
            rest = rest[(end + 4)...]
            let statusLine = lines.removeFirst()
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) else {
                throw .malformed("the answer's status line is not HTTP")
            }
            if (100..<200).contains(code) { continue }
            var headers: [(name: String, value: String)] = []
            for l in lines {
                guard let colon = l.firstIndex(of: ":") else { continue }
                headers.append((l[..<colon].lowercased(), String(l[l.index(after: colon)...]).trimmingWhitespace()))
            }
            return Response(status: code, headers: headers, body: Array(rest))
        }
    }

    static func find(_ hay: ArraySlice<UInt8>, _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = hay.startIndex
        while i <= hay.endIndex - needle.count {
            if hay[i] == needle[0] && Array(hay[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }

    /// Runs curl with `input` on stdin, collecting stdout and stderr; kills
    /// it at the deadline or on a signal.
    static func run(input: [UInt8], deadline: UInt64, signalFD: Int32) throws(Failure) -> ([UInt8], [UInt8], Int32) {
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw .unavailable("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let args: [String] = [curlPath, "-q", "--config", "-"]
        let vars: [String] = ["PATH=/usr/bin:/bin", "LC_ALL=C"]
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = vars.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, curlPath, &actions, &attr, argv, envp)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            [inPipe[1], outPipe[0], errPipe[0]].forEach { close($0) }
            throw .unavailable("cannot start \(curlPath): \(String(cString: strerror(rc)))")
        }
        var stdinFD = inPipe[1]
        _ = fcntl(stdinFD, F_SETFL, O_NONBLOCK)
        var out: [UInt8] = [], err: [UInt8] = []
        var pending = input[...]
        var open = (out: true, err: true)
        var failure: Failure?
        var buf = [UInt8](repeating: 0, count: 65_536)
        while open.out || open.err {
            let now = ProcessInfo.monotonicNanoseconds()
            if now >= deadline { failure = .timeout; break }
            var fds = [
                pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0),
                pollfd(fd: open.out ? outPipe[0] : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: open.err ? errPipe[0] : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
            ]
            let n = poll(&fds, 4, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
            if n < 0 && errno != EINTR { failure = .transport("poll: \(String(cString: strerror(errno)))"); break }
            if n <= 0 { continue }
            if fds[3].revents != 0 { failure = .interrupted; break }
            if stdinFD >= 0 && fds[0].revents != 0 {
                if fds[0].revents & Int16(POLLOUT) != 0 && !pending.isEmpty {
                    let w = pending.withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
                    if w > 0 { pending = pending.dropFirst(w) }
                }
                if pending.isEmpty || fds[0].revents & Int16(POLLERR | POLLHUP) != 0 {
                    close(stdinFD)
                    stdinFD = -1
                }
            }
            for (i, isOut) in [(1, true), (2, false)] where fds[i].revents != 0 {
                let fd = isOut ? outPipe[0] : errPipe[0]
                let r = read(fd, &buf, buf.count)
                if r > 0 {
                    if isOut { out += buf[..<r] } else { err += buf[..<r] }
                    if out.count > maxResponse + 65_536 { failure = .malformed("the answer is larger than \(maxResponse >> 20) MiB") }
                } else if r == 0 || (errno != EINTR && errno != EAGAIN) {
                    if isOut { open.out = false } else { open.err = false }
                }
            }
            if failure != nil { break }
        }
        if stdinFD >= 0 { close(stdinFD) }
        close(outPipe[0])
        close(errPipe[0])
        if failure != nil { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if let failure { throw failure }
        let exited = status & 0x7F == 0
        return (out, err, exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F))
    }
}
