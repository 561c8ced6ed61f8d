"""An approver endpoint for the tests, on 127.0.0.1.

usage: approver-server.py MODE LOG [--secret FILE] [--token TOKEN] [--tls CERT KEY]
Prints the port on the first line of stdout, then serves until killed. Every
request is appended to LOG as a JSON line: method, path, headers, body, and
whether its signature (with --secret) and bearer token (with --token) were right.
"""
import hashlib, hmac, http.server, json, ssl, sys, threading, time

mode, log_path = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
secret = token = tls = None
while args:
    if args[0] == "--secret":
        secret = open(args[1], "rb").read().strip()
        args = args[2:]
    elif args[0] == "--token":
        token, args = args[1], args[2:]
    elif args[0] == "--tls":
        tls, args = (args[1], args[2]), args[3:]
    else:
        sys.exit("unknown argument " + args[0])

lock = threading.Lock()
polls = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self, body):
        entry = {"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": body.decode("utf-8", "replace")}
        if secret is not None:
            ts = self.headers.get("X-Aegis-Timestamp", "")
            want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            entry["signature_ok"] = hmac.compare_digest(want, self.headers.get("X-Aegis-Signature", ""))
        if token is not None:
            entry["token_ok"] = self.headers.get("Authorization") == "Bearer " + token
        with lock, open(log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def answer(self, status, obj, request_id, headers=()):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        if secret is not None and mode != "unsigned":
            ts = str(int(time.time()) - (3600 if mode == "stale" else 0))
            rid = "someone-else" if mode == "replay" else request_id
            sig = hmac.new(secret, ts.encode() + b"." + rid.encode() + b"." + body, hashlib.sha256).hexdigest()
            if mode == "badsig":
                sig = "0" * 64
            self.send_header("X-Aegis-Timestamp", ts)
            self.send_header("X-Aegis-Signature", "sha256=" + sig)
        self.end_headers()
        self.wfile.write(body)

    def decide(self, request_id):
        if mode in ("approve", "pending-approve", "badsig", "stale", "replay", "unsigned"):
            return 200, {"approved": True, "approver": "alice", "reason": "looks fine\x1b[2J", "request_id": request_id}
        if mode == "deny":
            return 200, {"approved": False, "approver": "bob", "reason": "not on a Friday"}
        if mode == "string-true":
            return 200, {"approved": "true"}
        if mode == "error":
            return 500, {"approved": True}
        if mode == "garbage":
            return 200, b"<html>approved</html>"
        raise AssertionError(mode)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.record(body)
        rid = self.headers.get("X-Aegis-Request-Id", "")
        if mode == "slow":
            time.sleep(30)
        if mode.startswith("pending"):
            with lock:
                polls[rid] = 0
            return self.answer(202, {"status": "pending"}, rid, [("Location", "/poll/" + rid), ("Retry-After", "0.2")])
        status, obj = self.decide(rid)
        self.answer(status, obj, rid)

    def do_GET(self):
        self.record(b"")
        rid = self.path.rsplit("/", 1)[-1]
        with lock:
            polls[rid] = polls.get(rid, 0) + 1
            n = polls[rid]
        if mode == "pending-forever" or n < 3:
            return self.answer(202, {"status": "pending"}, rid, [("Location", "/poll/" + rid), ("Retry-After", "0.2")])
        status, obj = self.decide(rid)
        self.answer(status, obj, rid)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls[0], tls[1])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
