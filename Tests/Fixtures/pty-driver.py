"""Runs a command on a real pseudo-terminal and plays a person at it.

usage: pty-driver.py SPEC_JSON
SPEC: {"argv": [...], "env": {...}, "cwd": "...", "typeahead": "...",
       "steps": [["expect", TEXT] | ["send", TEXT] | ["sleep", SECONDS]], "timeout": SECONDS}
Prints {"status": N, "output": TEXT} as JSON. The child is a session leader
with the pty as its controlling terminal, in the foreground.
"""
import json, os, pty, select, sys, time

spec = json.loads(sys.argv[1])
deadline = time.monotonic() + spec.get("timeout", 20)
# The child execs only once any typeahead is in the terminal's input, so it
# is typed before the program starts, however the two are scheduled.
ready_r, ready_w = os.pipe()
pid, fd = pty.fork()
if pid == 0:
    os.close(ready_w)
    os.read(ready_r, 1)
    os.chdir(spec.get("cwd", "/"))
    os.execve(spec["argv"][0], spec["argv"], spec["env"])

os.close(ready_r)
if spec.get("typeahead"):
    os.write(fd, spec["typeahead"].encode())
os.write(ready_w, b"x")
os.close(ready_w)

out = b""
seen = 0


def pump(wait):
    global out
    r, _, _ = select.select([fd], [], [], wait)
    if not r:
        return True
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        return False
    if not chunk:
        return False
    out += chunk
    return True


alive = True
for step in spec.get("steps", []):
    kind, arg = step
    if kind == "expect":
        needle = arg.encode()
        while alive and out.find(needle, seen) < 0 and time.monotonic() < deadline:
            alive = pump(0.05)
        i = out.find(needle, seen)
        if i < 0:
            break
        seen = i + len(needle)
    elif kind == "send":
        os.write(fd, arg.encode())
    elif kind == "sleep":
        end = time.monotonic() + arg
        while alive and time.monotonic() < end:
            alive = pump(0.05)

while alive and time.monotonic() < deadline:
    alive = pump(0.1)
try:
    os.kill(pid, 9) if time.monotonic() >= deadline else None
except ProcessLookupError:
    pass
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
print(json.dumps({"status": code if code >= 0 else 128 - code, "output": out.decode("utf-8", "replace")}))
