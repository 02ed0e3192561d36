"""An HTTP/1.1 proxy in front of a registry that counts the body bytes it hands to clients and,
once, cuts a download: the first GET of the blob `cut_digest` is closed after `cut_after` body
bytes, as a dropped connection would. Used by bench/packages/run.py to measure how much a pull
moves again after a cut (a client that resumes asks for the rest with Range: bytes=N-).

    with CutProxy(upstream="127.0.0.1:5000") as proxy:
        proxy.host                           # "127.0.0.1:PORT", give it to the client
        proxy.arm(digest, after_bytes)       # cut the next download of this blob
        proxy.body_bytes                     # body bytes served so far (all requests)
        proxy.cut_done.is_set()              # the cut happened
        proxy.bytes_at_cut                   # body_bytes at that moment

Standard library only; one thread per connection; every request header is passed on as is (Range,
If-Range, Authorization), hop-by-hop ones aside.
"""
import http.client
import http.server
import threading

CHUNK_BYTES = 1 << 20
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self):
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(proxy.upstream, timeout=proxy.timeout_s)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            resp = upstream.getresponse()
            cut_after = proxy.take_cut(self.command, self.path, resp.status)
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.end_headers()
            if self.command == "HEAD":
                return
            sent = 0
            while True:
                want = CHUNK_BYTES if cut_after is None else min(CHUNK_BYTES, cut_after - sent)
                data = resp.read(want) if want > 0 else b""
                if data:
                    self.wfile.write(data)
                    sent += len(data)
                    proxy.add(len(data))
                if cut_after is not None and sent >= cut_after:
                    self.wfile.flush()
                    self.close_connection = True
                    proxy.mark_cut()
                    return
                if not data:
                    return
        finally:
            upstream.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward


class CutProxy:
    def __init__(self, upstream, timeout_s=120):
        self.upstream = upstream
        self.timeout_s = timeout_s
        self.body_bytes = 0
        self.bytes_at_cut = None  # body_bytes when the cut happened
        self.cut_done = threading.Event()
        self._lock = threading.Lock()
        self._cut = None  # (digest, after_bytes) until the cut is taken
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self
        self.host = "127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def arm(self, digest, after_bytes):
        with self._lock:
            self._cut = (digest, after_bytes)
            self.cut_done.clear()

    def take_cut(self, method, path, status):
        """The byte count to cut this response at, once, for a 200 or 206 GET of the armed blob."""
        with self._lock:
            if self._cut and method == "GET" and status in (200, 206) and path.endswith("/blobs/" + self._cut[0]):
                after, self._cut = self._cut[1], None
                return after
        return None

    def mark_cut(self):
        with self._lock:
            self.bytes_at_cut = self.body_bytes
        self.cut_done.set()

    def add(self, n):
        with self._lock:
            self.body_bytes += n

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
