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

    /// A gate killed while its command's first exec waits in the kernel for
    /// the gate's answer takes the command with it; it used to leave the
    /// command stopped there for ever. strace holds the gate at the poll that
    /// precedes its answer, so the command is caught waiting; the gate is
    /// killed, then strace, which lets the kill take effect.
    @Test func aCommandWaitingForItsKilledGateDoesNotHang() {
        let s = Sandbox()
        let p = s.policy(Self.allowAll)
        let driver = """
            import os, signal, subprocess, sys, time
            def children(pid):
                out = []
                for d in os.listdir('/proc'):
                    try:
                        stat = open('/proc/%s/stat' % d).read()
                    except (OSError, ValueError):
                        continue
                    if d.isdigit() and int(stat.rsplit(')', 1)[1].split()[1]) == pid:
                        out.append(int(d))
                return out
            def wchan(pid):
                try:
                    return open('/proc/%d/wchan' % pid).read()
                except OSError:
                    return ''
            def gone(pid):
                try:
                    return open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
                except OSError:
                    return True
            tracer = subprocess.Popen(['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=poll',
                                       '-e', 'inject=poll:delay_enter=30000000',
                                       sys.argv[1], '--policy', sys.argv[2], '--', 'sleep', '240'])
            gate = command = None
            deadline = time.time() + 20
            while time.time() < deadline and command is None:
                for g in children(tracer.pid):
                    for c in children(g):
                        if wchan(c).startswith('seccomp_do_user_notif'):
                            gate, command = g, c
                time.sleep(0.02)
            if command is None:
                print('the command was never seen waiting'); tracer.kill(); sys.exit(1)
            # A traced gate stays stopped with the kill pending until strace lets go of it.
            os.kill(gate, signal.SIGKILL)
            tracer.kill(); tracer.wait()
            deadline = time.time() + 10
            while time.time() < deadline and not gone(command):
                time.sleep(0.02)
            print('gone' if gone(command) else 'waiting: ' + wchan(command))
            if not gone(command):
                os.kill(command, signal.SIGKILL)
            """
        let r = spawn(["python3", "-c", driver, binary, p].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(r.stdout == "gone\n", "\(r.stdout) \(r.stderr)")
        // Its decision was recorded before it started; its outcome never could be.
        #expect(s.sql("select result_status from audit_log") == ["pending"])
    }

    /// With interception the command dies with its gate, since no one would
    /// judge its execs; without it, it outlives the gate as under sudo.
    @Test(arguments: [("", "gone"), ("sandbox: { intercept: false }", "running")])
    func aGateKilledMidCommand(_ sandbox: String, _ expected: String) {
        let s = Sandbox()
        let p = s.policy("defaults: { risk_level: low, approval: auto\(sandbox.isEmpty ? "" : ", " + sandbox) }\nrules: []\n")
        let driver = """
            import os, signal, subprocess, sys, time
            gate = subprocess.Popen([sys.argv[1], '--policy', sys.argv[2], '--', 'sleep', '250'])
            def command():
                for d in os.listdir('/proc'):
                    try:
                        stat = open('/proc/%s/stat' % d).read()
                    except (OSError, ValueError):
                        continue
                    if d.isdigit() and int(stat.rsplit(')', 1)[1].split()[1]) == gate.pid and '(sleep)' in stat:
                        return int(d)
            deadline = time.time() + 20
            while time.time() < deadline and command() is None:
                time.sleep(0.02)
            c = command()
            if c is None:
                print('the command never started'); gate.kill(); sys.exit(1)
            gate.kill(); gate.wait()
            def running():
                try:
                    return open('/proc/%d/stat' % c).read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
                except OSError:
                    return False
            deadline = time.time() + 3
            while time.time() < deadline and running():
                time.sleep(0.02)
            print('running' if running() else 'gone')
            if running():
                os.kill(c, signal.SIGKILL)
            """
        let r = spawn(["python3", "-c", driver, binary, p].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(r.stdout == expected + "\n", "\(r.stdout) \(r.stderr)")
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

    // MARK: job control, played by Tests/Fixtures/job-control.py as a shell would

    /// The command's part: writes its pid, waits for DIR/go, prints "done".
    /// As one python3 (the gate's own thread supervises) or as sh running
    /// sleep again and again (a supervisor thread judges each exec).
    static func waiter(_ kind: String, _ dir: String) -> [String] {
        kind == "python"
            ? ["python3", "-c", "import os, time\nopen('\(dir)/pid', 'w').write(str(os.getpid()))\n"
                + "while not os.path.exists('\(dir)/go'): time.sleep(0.02)\nprint('done')"]
            : ["sh", "-c", "echo $$ > \(dir)/pid; while [ ! -e \(dir)/go ]; do sleep 0.02; done; echo done"]
    }

    static let jobSandboxes = ["", "sandbox: { intercept: false }", "sandbox: none"]

    func jobControl(_ scenario: String, sandbox: String, command: (String) -> [String]) -> Run {
        let s = Sandbox()
        let p = s.policy("defaults: { risk_level: low, approval: auto\(sandbox.isEmpty ? "" : ", " + sandbox) }\nrules: []\n")
        let script = repoRoot.appendingPathComponent("Tests/Fixtures/job-control.py").path
        return spawn((["python3", script, scenario, s.dir, binary, "--policy", p, "--"] + command(s.dir)).map { Array($0.utf8) },
                     env: s.environment, cwd: s.dir)
    }

    /// A command that stops itself (ssh's ~^Z) stops the gate with it, so the
    /// shell gets its terminal back; fg continues both.
    @Test(arguments: jobSandboxes)
    func aCommandThatStopsItselfStopsTheGate(_ sandbox: String) {
        let r = jobControl("self-stop", sandbox: sandbox) { dir in ["sh", "-c", "echo $$ > \(dir)/pid; kill -TSTP $$; echo resumed"] }
        #expect(r.stdout == "stopped SIGTSTP\nresumed\nexited 0\n", "\(r.stdout) \(r.stderr)")
    }

    /// ^Z stops the whole job and fg continues it, ten times over, without
    /// the gate stopping again on the command's old stop.
    @Test(arguments: jobSandboxes, ["python", "sh"])
    func aJobStoppedAndContinuedGoesOn(_ sandbox: String, _ kind: String) {
        let r = jobControl("group-stop", sandbox: sandbox) { Self.waiter(kind, $0) }
        let expected = String(repeating: "stopped SIGTSTP\nrunning\n", count: 10) + "done\nexited 0\n"
        #expect(r.stdout == expected, "\(r.stdout) \(r.stderr)")
    }

    /// A SIGSTOP someone else sends the command (a debugger) does not stop the gate.
    @Test(arguments: jobSandboxes)
    func aCommandStoppedFromOutsideLeavesTheGateWaiting(_ sandbox: String) {
        let r = jobControl("sigstop", sandbox: sandbox) { Self.waiter("python", $0) }
        #expect(r.stdout == "running\ndone\nexited 0\n", "\(r.stdout) \(r.stderr)")
    }

    /// SIGINT, SIGQUIT and SIGWINCH sent to the gate alone reach the command
    /// (started here with them at their defaults, as a shell starts a job).
    @Test(arguments: ["INT", "QUIT", "WINCH"])
    func terminalSignalsSentToTheGateReachTheCommand(_ name: String) {
        let r = jobControl("forward-\(name)", sandbox: "") { dir in
            ["python3", "-c", "import os, signal, sys, time\n"
                + "def got(n, f): print('got SIG\(name)', flush=True); sys.exit(7)\n"
                + "signal.signal(signal.SIG\(name), got)\nopen('\(dir)/pid', 'w').write(str(os.getpid()))\n"
                + "while True: time.sleep(0.02)"]
        }
        #expect(r.stdout == "got SIG\(name)\nexited 7\n", "\(r.stdout) \(r.stderr)")
    }
}
