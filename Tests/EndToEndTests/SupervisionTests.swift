import Foundation
import Testing

/// aegis-exec as a well-behaved wrapper: signals reach the command, and on a
/// terminal the command owns the foreground as it would without the gate.
@Suite struct SupervisionTests {
    static let allowAll = "defaults: { risk_level: low, approval: auto }\nrules: []\n"

    // (SIGINT and SIGQUIT are left out: a shell starts background jobs with them ignored, and an
    // ignored signal is inherited and cannot be trapped.)
    @Test(arguments: [("TERM", 15), ("HUP", 1), ("USR1", 10), ("USR2", 12)])
    func signalsSentToTheGateReachTheCommand(_ name: String, _ number: Int32) {
        let s = Sandbox()
        let p = s.policy(Self.allowAll)
        let marker = s.dir + "/got"
        // The command traps the signal and records it; the test kills only the gate.
        let inner = "trap 'echo \(name) > \(marker); exit 7' \(name); echo ready > \(marker).ready; while :; do sleep 0.05; done"
        let script = "\"$0\" --policy \"$1\" -- sh -c \"$2\" & gate=$!; n=0; while [ ! -e \"$3.ready\" ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done; kill -\(name) $gate; wait $gate; echo \"status $?\""
        let r = spawn(["sh", "-c", script, binary, p, inner, marker].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(r.stdout == "status 7\n", "\(r.stdout) \(r.stderr)")
        #expect((try? String(contentsOfFile: marker, encoding: .utf8)) == "\(name)\n")
        #expect(s.sql("select exit_status from audit_log") == ["7"])
    }

    /// A command that starts nothing else is supervised by the gate's own
    /// thread until an exec in its tree needs judging: signals reach it then
    /// too, with exec interception on (the default sandbox) and off.
    @Test(arguments: ["", "sandbox: none"])
    func signalsReachACommandThatStartsNothingElse(_ sandbox: String) {
        let s = Sandbox()
        let p = s.policy("defaults: { risk_level: low, approval: auto\(sandbox.isEmpty ? "" : ", " + sandbox) }\nrules: []\n")
        let marker = s.dir + "/got"
        let inner = """
            import signal, sys, time
            def got(n, f):
                open(sys.argv[1], 'w').write('TERM'); sys.exit(7)
            signal.signal(signal.SIGTERM, got)
            open(sys.argv[1] + '.ready', 'w').write('ready')
            while True: time.sleep(0.05)
            """
        let script = "\"$0\" --policy \"$1\" -- python3 -c \"$2\" \"$3\" & gate=$!; n=0; while [ ! -e \"$3.ready\" ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done; kill -TERM $gate; wait $gate; echo \"status $?\""
        let r = spawn(["sh", "-c", script, binary, p, inner, marker].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(r.stdout == "status 7\n", "\(r.stdout) \(r.stderr)")
        #expect((try? String(contentsOfFile: marker, encoding: .utf8)) == "TERM")
        #expect(s.sql("select exit_status from audit_log") == ["7"])
    }

    /// Runs `python3 -c code` through the gate on a real pseudo-terminal
    /// (python's pty module) and returns what the terminal showed.
    func onTerminal(_ s: Sandbox, policy: String, python code: String) -> Run {
        let driver = """
            import os, pty, sys
            out = []
            def read(fd):
                data = os.read(fd, 1024)
                out.append(data)
                return data
            status = pty.spawn([sys.argv[1], '--policy', sys.argv[2], '--', 'python3', '-c', sys.argv[3]], read)
            sys.stdout.write(b''.join(out).decode())
            sys.exit(os.waitstatus_to_exitcode(status))
            """
        return spawn(["python3", "-c", driver, binary, policy, code].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
    }

    @Test func onATerminalTheCommandIsInTheForeground() throws {
        let s = Sandbox()
        let p = s.policy(Self.allowAll)
        let check = "import os; fg = os.tcgetpgrp(0) == os.getpgrp(); print('foreground' if fg else 'background', os.isatty(0))"
        let r = onTerminal(s, policy: p, python: check)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("foreground True"), "\(r.stdout)")
    }

    /// A TIOCSTI injection (typing into the terminal on the user's behalf) on a
    /// real pseudo-terminal: refused under the sandbox, possible without it.
    @Test func terminalInjectionIsRefused() {
        let s = Sandbox()
        let sandboxed = s.policy(Self.allowAll, name: "sandboxed.yaml")
        let open = s.policy("defaults: { risk_level: low, approval: auto, sandbox: none }\nrules: []\n", name: "open.yaml")
        let inject = "import fcntl, termios\ntry:\n fcntl.ioctl(0, termios.TIOCSTI, b'#')\n print('injected')\nexcept OSError as e:\n print('refused', e.errno)"
        #expect(onTerminal(s, policy: sandboxed, python: inject).stdout.contains("refused \(EPERM)"))
        #expect(!onTerminal(s, policy: open, python: inject).stdout.contains("refused \(EPERM)"))
    }
}
