"""Plays the job-control shell a gate runs under: starts the gate in a
process group of its own (as a shell starts a job), stops and continues it
as ^Z, fg and kill do, and reports what it sees, one line per event.

usage: job-control.py SCENARIO DIR GATE [ARGS...]
  self-stop    the command stops itself with SIGTSTP (ssh's ~^Z): the gate
               must stop too, and both go on after SIGCONT to the job
  group-stop   SIGTSTP to the whole job (^Z at a terminal), then SIGCONT,
               ten times: each time the job stops, and goes on after fg
  sigstop      the command is sent SIGSTOP by someone else: the gate waits
               on, and the command goes on when that someone continues it
  forward-SIG  SIG (INT, QUIT, WINCH) sent to the gate alone reaches the command
DIR/pid holds the command's pid once it runs.
"""
import os, signal, sys, time

scenario, folder, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
pidfile = os.path.join(folder, "pid")


def say(text):
    print(text, flush=True)


pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    for s in (signal.SIGPIPE, signal.SIGINT, signal.SIGQUIT):
        signal.signal(s, signal.SIG_DFL)
    os.execv(argv[0], argv)
try:
    os.setpgid(pid, pid)
except OSError:
    pass


def state(timeout):
    """The gate's next change within timeout: stopped, exited, or still running."""
    deadline = time.monotonic() + timeout
    while True:
        r, st = os.waitpid(pid, os.WNOHANG | os.WUNTRACED)
        if r == pid:
            if os.WIFSTOPPED(st):
                return "stopped " + signal.Signals(os.WSTOPSIG(st)).name
            if os.WIFEXITED(st):
                return "exited %d" % os.WEXITSTATUS(st)
            return "killed " + signal.Signals(os.WTERMSIG(st)).name
        if time.monotonic() >= deadline:
            return "running"
        time.sleep(0.01)


def command_pid():
    for _ in range(1000):
        try:
            text = open(pidfile).read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    say("the command never started")
    sys.exit(1)


if scenario == "self-stop":
    say(state(20))
    os.killpg(pid, signal.SIGCONT)
    say(state(20))
elif scenario == "group-stop":
    command_pid()
    for _ in range(10):
        os.killpg(pid, signal.SIGTSTP)
        say(state(20))
        os.killpg(pid, signal.SIGCONT)
        # Continued, the job must not stop again on its own.
        say(state(0.2))
    open(os.path.join(folder, "go"), "w").close()
    say(state(20))
elif scenario == "sigstop":
    child = command_pid()
    os.kill(child, signal.SIGSTOP)
    say(state(1))
    os.kill(child, signal.SIGCONT)
    open(os.path.join(folder, "go"), "w").close()
    say(state(20))
elif scenario.startswith("forward-"):
    command_pid()
    os.kill(pid, getattr(signal, "SIG" + scenario[len("forward-"):]))
    say(state(20))
else:
    say("unknown scenario " + scenario)
    os.kill(pid, signal.SIGKILL)
    sys.exit(2)
