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
cmds = [c.split() for c in sys.argv[2:]]
for c in cmds:
    c[0] = shutil.which(c[0]) or c[0]
devnull = os.open(os.devnull, os.O_RDWR)


def once(argv):
    t = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sys.exit(f"{' '.join(argv)} was killed by signal {os.WTERMSIG(status)}")
    # A command that fails (a refusal, a configuration error) would time the wrong path.
    if os.WEXITSTATUS(status) != 0:
        sys.exit(f"{' '.join(argv)} exited {os.WEXITSTATUS(status)}; not timing a failing command")
    return (time.perf_counter_ns() - t) / 1e6


for argv in cmds:  # warm-up
    for _ in range(20):
        once(argv)
times = [[] for _ in cmds]
for r in range(runs):
    order = list(range(len(cmds)))
    order = order[r % len(order):] + order[:r % len(order)]
    for i in order:
        times[i].append(once(cmds[i]))
base = times[0]
print(f"{'command':60} {'median ms':>10} {'added ms':>10}")
for argv, ts in zip(cmds, times):
    added = statistics.median(t - b for t, b in zip(ts, base))
    print(f"{' '.join(argv)[:60]:60} {statistics.median(ts):10.3f} {added:10.3f}")
