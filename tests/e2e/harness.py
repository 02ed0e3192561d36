"""Helpers for end-to-end tests: start the real `continuum` binary on a free port and talk HTTP.

Run with Debian's /usr/bin/python3 (it sees python3-onnx and numpy). Environment:
  CONTINUUM_BIN          path to build/bin/continuum
  CONTINUUM_TEST_MODELS  generated test model repository (tools/gen_test_models.py)
  CONTINUUM_TEST_PKI     the test certificates (build/test_pki, src/tls/test_pki.h)
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

BIN = os.environ.get("CONTINUUM_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin/continuum"))
MODELS = os.environ.get("CONTINUUM_TEST_MODELS", os.path.join(os.path.dirname(__file__), "../../build/test_models"))
MODELS_BAD = os.path.join(os.path.dirname(os.path.abspath(MODELS)), "test_models_bad")
PKI = os.environ.get("CONTINUUM_TEST_PKI", os.path.join(os.path.dirname(__file__), "../../build/test_pki"))


def pki(name):
    """The path of a test PKI file, e.g. pki("server.pem")."""
    return os.path.join(os.path.abspath(PKI), name)


def tls_context(ca="ca.pem", cert=None):
    """A client context trusting the test CA `ca` (hostname checked), with the client certificate
    `cert` (a PKI name without extension: "client") when given."""
    ctx = ssl.create_default_context(cafile=pki(ca))
    if cert:
        ctx.load_cert_chain(pki(cert + ".pem"), pki(cert + ".key"))
    return ctx


def make_repository(models, configs=None, bad=()):
    """A temporary repository holding symlinks to the named test models (and bad models)."""
    root = tempfile.mkdtemp(prefix="continuum-e2e-")
    for m in models:
        src = os.path.join(os.path.abspath(MODELS), m)
        dst = os.path.join(root, m)
        os.makedirs(dst)
        for version in os.listdir(src):
            if version.isdigit():
                os.makedirs(os.path.join(dst, version))
                os.symlink(os.path.join(src, version, "model.onnx"), os.path.join(dst, version, "model.onnx"))
    for m in bad:
        shutil.copytree(os.path.join(MODELS_BAD, m), os.path.join(root, m))
    for m, cfg in (configs or {}).items():
        with open(os.path.join(root, m, "config.json"), "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))
    return root


class Server:
    """A `continuum serve` process on a free port; stops (SIGTERM) on exit.

    ssl_context: the server listens over TLS (its flags give the certificate); every helper below
    then speaks https with this client context (tls_context())."""

    ssl_context = None

    def __init__(self, repository, *flags, wait_ready=True, ssl_context=None):
        self.repository = repository
        self.start([BIN, "serve", "--model-repository", repository, "--http-port", "0", "--http-address", "127.0.0.1",
                    "--grpc-port", "0", "--intra-op-threads", "1", *flags], ssl_context)
        if wait_ready:
            self.wait(lambda: self.get("/v2/health/ready")[0] == 200, what="readiness")

    def start(self, argv, ssl_context=None):
        """Starts `argv`, which prints "listening on port N" first (every long-running command).
        Without `ssl_context`, one a subclass set before keeps serving."""
        if ssl_context is not None:
            self.ssl_context = ssl_context
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr_lines = []
        line = self.proc.stdout.readline()
        if "listening on port" not in line:
            self.proc.kill()
            raise RuntimeError("%s did not start: %r %s" % (argv[1], line, self.proc.stderr.read()))
        self.port = int(line.strip().rsplit(" ", 1)[1])
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def wait(self, cond, timeout=30, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if cond():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("timed out waiting for " + what + "\n" + "".join(self.stderr_lines[-20:]))

    def stdout_line(self, contains, timeout=30):
        """The next line the server prints on stdout that contains `contains` (earlier ones are skipped)."""
        found = []

        def read():
            for line in self.proc.stdout:
                if contains in line:
                    found.append(line.rstrip("\n"))
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not found:
            raise AssertionError("the server printed no line with %r\n%s" % (contains, "".join(self.stderr_lines[-20:])))
        return found[0]

    def conn(self, timeout=30):
        if self.ssl_context is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ssl_context)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, data, r

    def get(self, path):
        status, data, _ = self.request("GET", path)
        return status, json.loads(data) if data else None

    def post(self, path, body=None, headers=None):
        status, data, resp = self.request("POST", path, body, headers)
        ctype = resp.getheader("Content-Type", "")
        return status, (json.loads(data) if data and ctype.startswith("application/json") else data), resp

    def raw(self, payload, read_timeout=10):
        """Sends raw bytes on a fresh socket; returns everything read until close or timeout."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=read_timeout)
        if self.ssl_context is not None:
            s = self.ssl_context.wrap_socket(s, server_hostname="127.0.0.1")
        s.sendall(payload)
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        except socket.timeout:
            pass
        s.close()
        return b"".join(chunks)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drain.join(timeout=5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f and not f.closed:
                f.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def metric(server, family, **labels):
    """The sum of the samples of the Prometheus `family` on /metrics whose labels include `labels`."""
    text = server.request("GET", "/metrics")[1].decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(family + "{") and all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def infer_body(inputs, outputs=None, **extra):
    """inputs: list of (name, datatype, shape, data)."""
    body = {"inputs": [{"name": n, "datatype": dt, "shape": shape, "data": data} for n, dt, shape, data in inputs]}
    if outputs is not None:
        body["outputs"] = outputs
    body.update(extra)
    return body
