"""A real OCI distribution registry for the package tests: Debian's `docker-registry` (distribution
2.8) started as its own process on loopback with its own config and storage, stopped on exit.

    with Registry() as reg:                      # plain HTTP on 127.0.0.1:<free port>
        reg.host                                 # "127.0.0.1:PORT"
    with Registry(auth="htpasswd", users={"alice": "secret"}, tls=(cert, key)) as reg: ...

The registry writes its log (one access line per request at level info) to `reg.log_path`;
`reg.log()` returns it. Storage lives in `reg.root` and is removed on exit.
"""
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REGISTRY_BIN = os.environ.get("CONTINUUM_REGISTRY_BIN", shutil.which("docker-registry") or "/usr/bin/docker-registry")
# A second implementation of the same spec, `impl="distribution3"`: distribution v3, which
# tools/registry3.sh builds into the cache. It reads the same configuration file.
REGISTRY3_BIN = os.environ.get("CONTINUUM_REGISTRY3_BIN", os.path.join(
    os.environ.get("CONTINUUM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "continuum"),
    "go", "bin", "registry3"))
IMPLS = {"docker-registry": REGISTRY_BIN, "distribution3": REGISTRY3_BIN}


def available(impl="docker-registry"):
    """Whether the registry binary of `impl` is installed (tools/setup.sh installs docker-registry;
    tools/registry3.sh builds distribution3)."""
    return os.access(IMPLS[impl], os.X_OK)


class Registry:
    def __init__(self, auth=None, users=None, tls=None, extra_config="", start_timeout=60, impl="docker-registry",
                 binary=None):
        if auth not in (None, "htpasswd"):
            raise ValueError("auth is None or 'htpasswd'")
        if impl not in IMPLS:
            raise ValueError("impl is one of %s" % ", ".join(sorted(IMPLS)))
        self.impl = impl
        self.binary = binary or IMPLS[impl]
        self.auth = auth
        self.users = dict(users or {})
        self.tls = tls
        self.extra_config = extra_config
        self.start_timeout = start_timeout
        self.proc = None
        self.host = None
        self.root = None

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        return "%s://%s" % (self.scheme, self.host)

    def _config(self):
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            "    rootdirectory: %s" % os.path.join(self.root, "data"),
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            "  addr: 127.0.0.1:0",
            "  secret: continuum-test-registry",
        ]
        if self.tls:
            lines += ["  tls:", "    certificate: %s" % self.tls[0], "    key: %s" % self.tls[1]]
        if self.auth == "htpasswd":
            path = os.path.join(self.root, "htpasswd")
            with open(path, "w") as f:
                for user, password in self.users.items():
                    out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True,
                                         text=True).stdout
                    f.write(out.strip() + "\n")
            lines += ["auth:", "  htpasswd:", "    realm: continuum-test", "    path: %s" % path]
        return "\n".join(lines) + "\n" + self.extra_config

    def start(self):
        self.root = tempfile.mkdtemp(prefix="continuum-registry-")
        config = os.path.join(self.root, "config.yml")
        with open(config, "w") as f:
            f.write(self._config())
        self.log_path = os.path.join(self.root, "registry.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.binary, "serve", config], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while self.host is None:
            m = re.search(r'listening on (127\.0\.0\.1:\d+)', self.log())
            if m:
                self.host = m.group(1)
                break
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s" % (self.impl, self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not start:\n%s" % (self.impl, self.log()))
            time.sleep(0.05)
        # The listener is up once the log says so; /v2/ answering (200, or 401 with auth) confirms it.
        while True:
            status = self.probe()
            if status in (200, 401):
                return self
            if time.monotonic() > deadline:
                raise RuntimeError("%s does not answer /v2/ (%s):\n%s" % (self.impl, status, self.log()))
            time.sleep(0.05)

    def probe(self):
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(self.url + "/v2/", timeout=5, context=ctx) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def requests(self, method=None, path_re=None):
        """The access-log lines of requests, optionally of one method and a path matching path_re."""
        out = []
        for line in self.log().splitlines():
            m = re.search(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP', line)
            if not m:
                continue
            if method and m.group(1) != method:
                continue
            if path_re and not re.search(path_re, m.group(2)):
                continue
            out.append((m.group(1), m.group(2)))
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
