#!/usr/bin/env python3
"""Writes the 1-based numbers of the corpus lines that `bash -n` rejects, one
per line: the reference the shell parser's corpus test compares against.

  scripts/bash-verdicts.py ../shared/data/nl2bash-commands.txt > Tests/Fixtures/nl2bash-bash-rejects.txt
"""
import concurrent.futures, subprocess, sys

lines = open(sys.argv[1], encoding="utf-8", errors="surrogateescape").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()


def rejected(item):
    n, line = item
    r = subprocess.run(["bash", "-n", "-c", line.encode("utf-8", "surrogateescape")], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return n if r.returncode != 0 else None


with concurrent.futures.ThreadPoolExecutor(4) as pool:
    for n in pool.map(rejected, enumerate(lines, 1)):
        if n is not None:
            print(n)
