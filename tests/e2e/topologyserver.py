"""Stands in for the hub's topology endpoint (GET /api/v1/topology, as `continuum hub` serves it):
the document is the content of a file the test rewrites; its ETag is the content's SHA-256.
`?wait_s=W` with a current `If-None-Match` is held until the file changes (checked every 50 ms),
or answered 304 after W seconds. Run as a process, so that a test can kill it:

    python3 topologyserver.py FILE      # prints "listening on port N", then serves
"""
import hashlib
import http.server
import sys
import time
import urllib.parse


def current(path):
    with open(path, "rb") as f:
        body = f.read()
    return body, '"%s"' % hashlib.sha256(body).hexdigest()[:16]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    path_of_doc = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/api/v1/topology":
            return self.answer(404, b'{"error": "no such route"}')
        wait_s = float(urllib.parse.parse_qs(url.query).get("wait_s", ["0"])[0])
        seen = self.headers.get("If-None-Match")
        deadline = time.time() + min(wait_s, 300)
        body, etag = current(self.path_of_doc)
        while etag == seen and time.time() < deadline:
            time.sleep(0.05)
            body, etag = current(self.path_of_doc)
        if etag == seen:
            return self.answer(304, b"", etag)
        return self.answer(200, body, etag)

    def answer(self, status, body, etag=None):
        self.send_response(status)
        if etag:
            self.send_header("ETag", etag)
        if status != 304:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)


def main():
    Handler.path_of_doc = sys.argv[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("listening on port %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
