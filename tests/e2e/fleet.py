"""A fleet on one machine for the end-to-end tests: a real OCI registry, `continuum hub`, and nodes
that each run `continuum serve` (poll mode) with a `continuum agent` beside it, all real processes
over real sockets.

    with Fleet(test) as f:
        f.publish("1", versions=(1,))               # pack, sign, push add_sub:1
        hub = f.start_hub()
        edge = f.start_node("edge-1", tier="edge")
        f.apply({"name": "add-sub", "package": f.ref("1"), "rollout": {...}})
        f.wait(lambda: edge.serves_digest(...))
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

from harness import BIN, MODELS, Server
from registry import Registry

REPO = "models/add_sub"
# What Proc.stop, Node.stop and Fleet.__exit__ found: processes that did not exit 0 on SIGTERM.
UNCLEAN = []


def run(*args, env=None, timeout=300):
    e = dict(os.environ)
    e["COSIGN_PASSWORD"] = ""
    e.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=e, timeout=timeout)


def wait_for(cond, timeout=60, what="condition", interval=0.05):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if cond():
                return
        except (OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (%s)" % (what, last))


def http_json(url, method="GET", body=None, token=None, timeout=30, context=None):
    """`context`: an ssl.SSLContext for an https:// URL."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw) if raw else None
        except ValueError:
            return e.code, raw


class Proc:
    """A long-running `continuum` process whose stderr is collected; stop() ends it."""

    def __init__(self, argv, env=None, ready=None):
        e = dict(os.environ)
        e["COSIGN_PASSWORD"] = ""
        e.update(env or {})
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
        self.lines = []
        self.out = []
        self._t = [threading.Thread(target=self._read, args=(self.proc.stderr, self.lines), daemon=True),
                   threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True)]
        for t in self._t:
            t.start()
        if ready:
            wait_for(lambda: any(ready in l for l in self.out) or self.proc.poll() is not None, 60, ready)
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (argv[1], self.log()))

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line)

    def log(self):
        return "".join(self.lines[-40:])

    def count(self, text):
        return sum(text in l for l in self.lines)

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self):
        running = self.proc.poll() is None
        if running:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._t:
            t.join(timeout=5)
        if running and self.proc.returncode != 0:  # SIGTERM is a clean stop (a sanitizer's finding is not)
            UNCLEAN.append("%s exited %s on SIGTERM:\n%s" % (self.argv[1], self.proc.returncode, self.log()[-4000:]))
        return self.proc.returncode


class Hub(Server):
    """`continuum hub` on a free port (its store and key in `folder`)."""

    def __init__(self, folder, key, *flags, store=None, port=0, ssl_context=None):
        """`ssl_context`: the hub listens over TLS (`flags` give its certificate); api() speaks https."""
        self.folder = folder
        self.context = ssl_context
        env_password = os.environ.get("COSIGN_PASSWORD")
        os.environ["COSIGN_PASSWORD"] = ""
        try:
            self.start([BIN, "hub", "--http-port", str(port), "--http-address", "127.0.0.1", "--key", key,
                        "--store", store or "sqlite:" + os.path.join(folder, "hub.db"), "--tick-ms", "100",
                        "--registry-insecure", *flags])
        finally:
            if env_password is None:
                os.environ.pop("COSIGN_PASSWORD", None)
            else:
                os.environ["COSIGN_PASSWORD"] = env_password
        self.url = "%s://127.0.0.1:%d" % ("https" if ssl_context else "http", self.port)

    def api(self, path, method="GET", body=None):
        return http_json(self.url + path, method, body, context=self.context)


class Node:
    """One node: `continuum serve` on its own repository and a `continuum agent` beside it, or with
    `in_process` the agent inside serve (`continuum serve --agent-hub ...`)."""

    def __init__(self, fleet, name, properties, in_process=False, agent_flags=()):
        self.fleet = fleet
        self.name = name
        self.properties = properties
        self.dir = os.path.join(fleet.tmp, name)
        self.repo = os.path.join(self.dir, "repo")
        self.state = os.path.join(self.dir, "agent")
        os.makedirs(self.repo, exist_ok=True)
        os.makedirs(self.state, exist_ok=True)
        self.agent = None
        self.extra_agent_flags = list(agent_flags)  # (name, value) pairs: --name value, or --name
        agent_flags = self.agent_flags("agent-") if in_process else []
        self.serve = Server(self.repo, "--model-control-mode", "poll", "--repository-poll-secs", "1", *agent_flags)
        self.url = "http://127.0.0.1:%d" % self.serve.port
        if in_process:  # registered with the hub, as start_agent waits for
            self.serve.stdout_line("continuum agent: ready", timeout=60)
        else:
            self.start_agent()

    def agent_flags(self, prefix, hub_key=None):
        """The agent's flags, named PREFIX + name (serve's in-process agent: "agent-")."""
        flags = {"hub": self.fleet.hub.url if self.fleet.hub else self.fleet.hub_url, "name": self.name,
                 "hub-key": hub_key or self.fleet.hub_pub, "key": self.fleet.cosign_pub, "state-dir": self.state,
                 "report-interval-ms": "200", "wait-s": "5"}
        argv = []
        for k, v in flags.items():
            argv += ["--" + prefix + k, v]
        argv.append("--" + prefix + "registry-insecure")
        for k, v in self.extra_agent_flags:
            argv += ["--" + prefix + k] + ([v] if v is not None else [])
        for k, v in self.properties.items():
            argv += ["--" + prefix + "property", "%s=%s" % (k, v)]
        return argv

    def agent_argv(self, hub_key=None):
        return [BIN, "agent", *self.agent_flags("", hub_key), "--model-repository", self.repo, "--serve-url", self.url,
                "--serve-poll-secs", "1"]

    def log_count(self, text):
        """How many of the agent's log lines (its own process's, or serve's with the agent inside) hold `text`."""
        if self.agent:
            return self.agent.count(text)
        return sum(text in line for line in self.serve.stderr_lines)

    def start_agent(self, hub_key=None, ready=True):
        self.agent = Proc(self.agent_argv(hub_key), ready="continuum agent: ready" if ready else None)
        return self.agent

    def infer(self, version=None):
        body = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16], "data": [1.0] * 16},
                           {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16], "data": [2.0] * 16}]}
        path = "/v2/models/add_sub" + ("/versions/%d" % version if version else "") + "/infer"
        return self.serve.post(path, body)[0]

    def installed_digest(self):
        """The package digest REPO/add_sub links to (install's provenance), or None."""
        link = os.path.join(self.repo, "add_sub")
        if not os.path.islink(link):
            return None
        target = os.readlink(link)
        at = target.rfind("@sha256-")
        return "sha256:" + target[at + 8:at + 8 + 64] if at >= 0 else None

    def ready(self, version=1):
        return self.serve.get("/v2/models/add_sub/versions/%d/ready" % version)[0] == 200

    def stop(self):
        if self.agent:
            self.agent.stop()
        running = self.serve.proc.poll() is None
        if self.serve.stop() != 0 and running:
            UNCLEAN.append("serve %s exited %s on SIGTERM:\n%s" % (self.name, self.serve.proc.returncode,
                                                                   "".join(self.serve.stderr_lines[-40:])))


class Fleet:
    """A registry, packages of add_sub, a hub and nodes in one temporary folder."""

    def __init__(self, test):
        self.test = test
        del UNCLEAN[:]
        self.tmp = tempfile.mkdtemp(prefix="continuum-fleet-")
        test.addCleanup(shutil.rmtree, self.tmp, True)
        self.layout = os.path.join(self.tmp, "layout")
        for name in ("cosign", "hub", "other"):
            r = run("generate-key-pair", "--output-key-prefix", os.path.join(self.tmp, name))
            test.assertEqual(r.returncode, 0, r.stderr)
        self.cosign_pub = os.path.join(self.tmp, "cosign.pub")
        self.hub_key = os.path.join(self.tmp, "hub.key")
        self.hub_pub = os.path.join(self.tmp, "hub.pub")
        self.registry = Registry()
        self.registry.__enter__()
        test.addCleanup(self.registry.__exit__, None, None, None)
        self.hub = None
        self.hub_url = None
        self.nodes = {}
        self.digests = {}

    def ref(self, tag):
        return "%s/%s:%s" % (self.registry.host, REPO, tag)

    def model_folder(self, tag, versions, bad=False, weights_bytes=0):
        d = os.path.join(self.tmp, "src-" + tag, "add_sub")
        for v in versions:
            os.makedirs(os.path.join(d, str(v)))
            src = os.path.join(MODELS, "fixed_shape" if bad else "add_sub", "1", "model.onnx")
            shutil.copy(src, os.path.join(d, str(v), "model.onnx"))
        if weights_bytes:  # a large file, so that a pull and an install take a while
            with open(os.path.join(d, str(versions[0]), "weights.bin"), "wb") as out:
                out.write(os.urandom(1 << 20) * (weights_bytes >> 20))
        with open(os.path.join(d, "config.json"), "w") as f:
            # A bad package: a graph with fixed dimensions declared batchable, which no node can load.
            f.write('{"schema_version": 1, "max_batch_size": 8}\n' if bad else '{"schema_version": 1}\n')
        return d

    def publish(self, tag, versions=(1,), bad=False, epoch=None, weights_bytes=0):
        """Packs add_sub with `versions`, signs it with cosign.key, pushes it; returns its digest."""
        r = run("pack", self.model_folder(tag, versions, bad, weights_bytes), "-t", self.ref(tag), "--output", self.layout,
                "--created-at", epoch or str(1767323045 + len(self.digests)))
        self.test.assertEqual(r.returncode, 0, r.stderr)
        digest = r.stdout.strip().split()[-1]
        s = run("sign", self.ref(tag), "--key", os.path.join(self.tmp, "cosign.key"), "--layout", self.layout)
        self.test.assertEqual(s.returncode, 0, s.stderr)
        p = run("push", self.ref(tag), "--layout", self.layout, "--insecure")
        self.test.assertEqual(p.returncode, 0, p.stderr)
        self.digests[tag] = digest
        return digest

    def start_hub(self, *flags, ssl_context=None):
        folder = os.path.join(self.tmp, "hub")
        os.makedirs(folder, exist_ok=True)
        self.hub = Hub(folder, self.hub_key, *flags, ssl_context=ssl_context)
        self.hub_url = self.hub.url
        return self.hub

    def start_node(self, name, in_process=False, agent_flags=(), **properties):
        n = Node(self, name, properties, in_process, agent_flags)
        self.nodes[name] = n
        self.test.addCleanup(n.stop)
        return n

    def apply(self, deployment):
        status, body = self.hub.api("/api/v1/deployments/" + deployment["name"], "PUT", deployment)
        self.test.assertEqual(status, 200, body)
        return body

    def rollout(self, name="add-sub"):
        return self.hub.api("/api/v1/rollouts/" + name)[1]

    def events(self):
        return self.hub.api("/api/v1/events?limit=1000")[1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for n in self.nodes.values():
            n.stop()
        if self.hub:
            running = self.hub.proc.poll() is None
            if self.hub.stop() != 0 and running:
                UNCLEAN.append("hub exited %s on SIGTERM:\n%s" % (self.hub.proc.returncode,
                                                                 "".join(self.hub.stderr_lines[-40:])))
        if UNCLEAN and exc[0] is None:
            self.test.fail("\n".join(UNCLEAN))
