"""A small HTTP/1.1 proxy in front of a real server (the registry) that counts what passes and
injects faults: a connection dropped after some body bytes, 5xx answers, a body cut short
with a Content-Length that matches it, a bit flipped in a body, bytes added to a body.

    with FaultProxy("127.0.0.1:5000") as proxy:
        proxy.host                      # "127.0.0.1:PORT", to give the client instead
        proxy.add_rule(Rule("GET", r"/blobs/sha256:", "drop", after=1000, times=1))
        proxy.requests                  # [Served(method, path, status, headers, body_bytes)]

The Host header is passed on unchanged, so the registry's upload Locations point at the proxy.
"""
import http.client
import http.server
import re
import socket
import sys
import threading
from dataclasses import dataclass, field


@dataclass
class Rule:
    method: str
    path: str  # a regular expression searched in the request target
    action: str  # "drop", "stall", "status", "lie_length", "flip", "pad", "ignore_range", "wrong_digest"
    after: int = 0  # drop, stall: body bytes sent first; flip: the byte flipped
    status: int = 500
    times: int = -1  # how many requests it applies to; -1: all
    extra: int = 64  # lie_length: bytes cut from the body; pad: bytes added to it

    def matches(self, method, path):
        return self.times != 0 and method == self.method and re.search(self.path, path) is not None


@dataclass
class Served:
    method: str
    path: str
    status: int
    headers: dict = field(default_factory=dict)  # request headers, names lower-cased
    body_bytes: int = 0  # response body bytes written to the client
    request_bytes: int = 0


class QuietServer(http.server.ThreadingHTTPServer):
    """A client closing a kept-alive connection is no error worth a traceback."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class FaultProxy:
    def __init__(self, upstream):
        self.upstream = upstream
        self.rules = []
        self.requests = []
        self.lock = threading.Lock()
        self.stalled = threading.Condition(self.lock)
        self.stalls = 0  # answers a "stall" rule is holding open now
        self.release = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                proxy.forward(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def add_rule(self, rule):
        with self.lock:
            self.rules.append(rule)

    def clear(self):
        with self.lock:
            self.rules = []
            self.requests = []

    def wait_stalled(self, timeout=120):
        """Waits until a "stall" rule holds an answer open (its first bytes sent); True if one does."""
        with self.stalled:
            return self.stalled.wait_for(lambda: self.stalls > 0, timeout)

    def release_stalls(self, timeout=120):
        """Lets every held answer end (its connection dropped), waiting until they have; stalls
        after this end at once until `release` is cleared."""
        self.release.set()
        with self.stalled:
            return self.stalled.wait_for(lambda: self.stalls == 0, timeout)

    def served(self, method=None, path=None):
        with self.lock:
            return [s for s in self.requests
                    if (method is None or s.method == method) and (path is None or re.search(path, s.path))]

    def _rule_for(self, method, path):
        with self.lock:
            for r in self.rules:
                if r.matches(method, path):
                    if r.times > 0:
                        r.times -= 1
                    return r
        return None

    def forward(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        rule = self._rule_for(h.command, h.path)
        served = Served(h.command, h.path, 0, {k.lower(): v for k, v in h.headers.items()}, 0, len(body))
        with self.lock:
            self.requests.append(served)
        if rule is not None and rule.action == "status":
            served.status = rule.status
            payload = b'{"errors":[{"code":"UNKNOWN","message":"injected"}]}'
            h.send_response(rule.status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            served.body_bytes = len(payload)
            return
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        dropped = ("connection", "content-length")
        if rule is not None and rule.action == "ignore_range":  # the whole body, as a server without ranges
            dropped += ("range", "if-range")
        headers = {k: v for k, v in h.headers.items() if k.lower() not in dropped}
        conn.request(h.command, h.path, body=body if length else None, headers=headers)
        resp = conn.getresponse()
        data = b"" if h.command == "HEAD" else resp.read()
        conn.close()
        served.status = resp.status
        declared = len(data)
        if rule is not None and resp.status in (200, 206) and h.command == "GET":
            if rule.action == "flip" and data:
                i = min(rule.after, len(data) - 1)
                data = data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]
                declared = len(data)
            elif rule.action == "pad":
                data = data + b"\0" * rule.extra
                declared = len(data)
            elif rule.action == "lie_length":  # a shorter body, announced as complete
                data = data[:max(len(data) - rule.extra, 0)]
                declared = len(data)
            elif rule.action in ("drop", "stall"):
                data = data[:rule.after]
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() == "docker-content-digest" and rule is not None and rule.action == "wrong_digest":
                v = "sha256:" + "0" * 64
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                h.send_header(k, v)
        if h.command == "HEAD":
            h.send_header("Content-Length", resp.getheader("Content-Length") or "0")
        else:
            h.send_header("Content-Length", str(declared))
        h.end_headers()
        if data:
            h.wfile.write(data)
        h.wfile.flush()
        served.body_bytes = len(data)
        if rule is not None and rule.action == "stall" and h.command == "GET":
            # The answer stops after `after` bytes and stays open until released (a client killed
            # meanwhile finds it so), then ends short like a drop.
            with self.stalled:
                self.stalls += 1
                self.stalled.notify_all()
            self.release.wait(300)
            with self.stalled:
                self.stalls -= 1
                self.stalled.notify_all()
        if rule is not None and rule.action in ("drop", "stall") and h.command == "GET":
            # The connection ends here, short of what the head announced.
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
