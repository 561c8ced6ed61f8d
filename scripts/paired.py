#!/usr/bin/env python3
"""Paired, interleaved timing of whole commands: each round runs every command
once, in rotating order, so machine noise hits all of them alike. Prints the
median wall time of each and the median of per-round differences against the
first command (the baseline)."""
import os
import shutil
import statistics
import sys
import time

runs = int(sys.argv[1])
# AEGIS_PAIRED_SETTLE=1: after each timed run, wait (untimed) until no
# aegis-flush process is left, so that the audit move a gate leaves behind
# after a command with many execs never overlaps the next command timed.
settle = os.environ.get("AEGIS_PAIRED_SETTLE") == "1"
# Leading NAME=value words set the command's environment (as env(1) would,
# without timing an extra exec).
cmds, envs = [], []
for text in sys.argv[2:]:
    words, env = text.split(), dict(os.environ)
    while words and "=" in words[0] and not words[0].startswith("/"):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    words[0] = shutil.which(words[0]) or words[0]
    cmds.append(words)
    envs.append(env)
devnull = os.open(os.devnull, os.O_RDWR)


def once(argv, env):
    t = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=[
        (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sys.exit(f"{' '.join(argv)} was killed by signal {os.WTERMSIG(status)}")
    # A command that fails (a refusal, a configuration error) would time the wrong path.
    if os.WEXITSTATUS(status) != 0:
        sys.exit(f"{' '.join(argv)} exited {os.WEXITSTATUS(status)}; not timing a failing command")
    elapsed = (time.perf_counter_ns() - t) / 1e6
    while settle and movers():
        time.sleep(0.005)
    return elapsed


def movers():
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and open(f"/proc/{entry}/comm").read().strip() == "aegis-flush":
                return True
        except OSError:
            pass
    return False


for argv, env in zip(cmds, envs):  # warm-up
    for _ in range(20):
        once(argv, env)
times = [[] for _ in cmds]
for r in range(runs):
    order = list(range(len(cmds)))
    order = order[r % len(order):] + order[:r % len(order)]
    for i in order:
        times[i].append(once(cmds[i], envs[i]))
base = times[0]
print(f"{'command':60} {'median ms':>10} {'added ms':>10}")
for text, ts in zip(sys.argv[2:], times):
    added = statistics.median(t - b for t, b in zip(ts, base))
    print(f"{text[-60:]:60} {statistics.median(ts):10.3f} {added:10.3f}")
