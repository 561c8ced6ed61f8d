#if canImport(Glibc)
import Glibc
#endif
import AegisPolicy

/// Asks the person at the terminal.
///
/// MUST: the question and the answer go through /dev/tty, never stdin or
///       stdout: those belong to the command, and the agent controls stdin.
/// MUST: input typed before the question is discarded, so nothing queued
///       in advance can answer it.
/// MUST: no answer, an empty answer, end of file, a timeout, an interrupt
///       (Ctrl-C) or a terminal we are in the background of all deny.
public enum TerminalPrompt {
    public struct Question: Sendable {
        /// The exact command, quoted so control characters show as escapes.
        public var command: String
        public var cwd: String
        public var action: String
        public var rule: String
        public var why: String
        public var rememberMinutes: Int
        public var timeoutSeconds: Double

        public init(command: String, cwd: String, action: String, rule: String, why: String, rememberMinutes: Int, timeoutSeconds: Double) {
            self.command = command
            self.cwd = cwd
            self.action = action
            self.rule = rule
            self.why = why
            self.rememberMinutes = rememberMinutes
            self.timeoutSeconds = timeoutSeconds
        }
    }

    public enum Answer: Sendable, Equatable {
        case once
        case remember
        case deny(String)
    }

    public enum Unavailable: Error, Sendable, Equatable {
        /// No controlling terminal (a CI job, a daemon, an agent without a tty).
        case noTerminal(String)
        /// The terminal belongs to another process group: asking would stop us
        /// (SIGTTIN) or be answered by whatever is in the foreground.
        case background
    }

    public static func ask(_ q: Question) throws(Unavailable) -> Answer {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw .noTerminal(String(cString: strerror(errno))) }
        defer { close(fd) }
        let foreground = tcgetpgrp(fd)
        guard foreground >= 0 else { throw .noTerminal(String(cString: strerror(errno))) }
        guard foreground == getpgrp() else { throw .background }

        // Interrupts arrive on a descriptor the prompt polls with the terminal.
        let watch = SignalWatch()
        defer { watch.stop() }
        let sfd = watch.fd

        // A line-mode, echoing terminal for the answer, whatever mode the
        // agent left it in; TCSAFLUSH also drops anything typed ahead.
        var saved = termios()
        let haveTermios = tcgetattr(fd, &saved) == 0
        if haveTermios {
            var t = saved
            // First byte by byte, to drop type-ahead still on its way: the
            // kernel hands typed bytes to the terminal's input from a worker,
            // which a loaded machine runs late, after a flush. Quiet for 50 ms
            // (a partial line counts: in line mode it would not show) before
            // the question.
            t.c_lflag &= ~tcflag_t(ICANON)
            withUnsafeMutableBytes(of: &t.c_cc) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
            _ = tcsetattr(fd, TCSAFLUSH, &t)
            TerminalPrompt.dropTypeAhead(fd)
            t.c_lflag |= tcflag_t(ICANON | ECHO | ISIG)
            t.c_iflag |= tcflag_t(ICRNL)
            _ = tcsetattr(fd, TCSAFLUSH, &t)
        } else {
            _ = tcflush(fd, TCIFLUSH)
        }
        defer { if haveTermios { _ = tcsetattr(fd, TCSANOW, &saved) } }

        let remember = q.rememberMinutes > 0 ? ", [a] for \(q.rememberMinutes) min in this session" : ""
        let seconds = Int(q.timeoutSeconds.rounded())
        put(fd, """

            aegis-exec: this command needs your approval
              command  \(q.command)
              in       \(q.cwd)
              action   \(q.action)
              rule     \(q.rule)
              why      \(q.why)
            Allow? [y] once\(remember), [N] deny (\(seconds) s): 
            """)

        let deadline = ProcessInfo.monotonicNanoseconds() + UInt64(q.timeoutSeconds * 1e9)
        var line: [UInt8] = []
        while true {
            let now = ProcessInfo.monotonicNanoseconds()
            if now >= deadline {
                put(fd, "\naegis-exec: no answer in \(seconds) s; denied\n")
                return .deny("no answer at the terminal within \(seconds) s")
            }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: sfd, events: Int16(POLLIN), revents: 0)]
            let waitMs = Int32(min((deadline - now) / 1_000_000 + 1, 60_000))
            let n = poll(&fds, sfd >= 0 ? 2 : 1, waitMs)
            if n < 0 {
                if errno == EINTR { continue }
                return .deny("cannot read the terminal: \(String(cString: strerror(errno)))")
            }
            if sfd >= 0 && fds[1].revents != 0 {
                put(fd, "\naegis-exec: interrupted; denied\n")
                return .deny("interrupted at the prompt")
            }
            guard fds[0].revents != 0 else { continue }
            var buf = [UInt8](repeating: 0, count: 256)
            let got = read(fd, &buf, buf.count)
            if got < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if got <= 0 {
                put(fd, "\naegis-exec: denied\n")
                return .deny("the terminal closed")
            }
            line += buf[..<got]
            if let end = line.firstIndex(where: { $0 == 10 || $0 == 13 }) {
                let answer = String(decoding: line[..<end], as: UTF8.self)
                    .trimmingWhitespace().lowercased()
                if answer == "y" || answer == "yes" { return .once }
                if (answer == "a" || answer == "always") && q.rememberMinutes > 0 { return .remember }
                put(fd, "aegis-exec: denied\n")
                return .deny("denied at the terminal")
            }
            if line.count > 1024 { return .deny("the answer was too long") }
        }
    }

    static func put(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}

extension TerminalPrompt {
    /// Discards input until the terminal has been quiet for 50 ms (a second at most).
    static func dropTypeAhead(_ fd: Int32) {
        for _ in 0..<20 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, 50)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 || p.revents & Int16(POLLIN) == 0 { return }
            _ = tcflush(fd, TCIFLUSH)
        }
    }
}
