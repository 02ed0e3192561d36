"""The hub's dashboard (GET /, web/dashboard/index.html) in a real browser: Debian's headless
Chromium driven by the pinned playwright-core (tools/playwright.sh; tests/e2e/dashboard/drive.mjs).

The test plays three nodes by posting reports to the hub's agent API (hub_harness.py) and watches
the page follow a rollout batch by batch to success, then a second version whose canary fails to
load, rolled back. Screenshots (PNG) of each stage go to $CONTINUUM_ARTIFACTS/dashboard (default:
build/test-artifacts/dashboard); the test prints the folder.
Skipped when chromium or node is not installed.
"""
import json
import os
import queue
import shutil
import subprocess
import threading
import unittest

from harness import BIN
from hub_harness import Hub, model_report, now_ms

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHROMIUM = os.environ.get("CONTINUUM_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
WAIT_MS = 60000  # every condition the page must reach (a rollout here takes a few seconds)

DIGEST_V1 = "sha256:" + "1" * 64
DIGEST_V2 = "sha256:" + "2" * 64
REPOSITORY = "127.0.0.1:5999/models/add_sub"  # never contacted: the packages are named by digest
NODES = {"cloud-1": "cloud", "edge-1": "edge", "edge-2": "edge"}


def artifacts_dir():
    base = os.environ.get("CONTINUUM_ARTIFACTS") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(BIN))), "test-artifacts")
    path = os.path.join(base, "dashboard")
    os.makedirs(path, exist_ok=True)
    return path


class Page:
    """drive.mjs: one Chromium page, one JSON command per line."""

    def __init__(self, url, modules):
        env = dict(os.environ, CONTINUUM_PLAYWRIGHT=modules, CONTINUUM_CHROMIUM=CHROMIUM)
        self.proc = subprocess.Popen([NODE, os.path.join(HERE, "dashboard", "drive.mjs"), url], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=lambda: [self.lines.put(l) for l in self.proc.stdout], daemon=True).start()
        threading.Thread(target=lambda: [self.stderr.append(l) for l in self.proc.stderr], daemon=True).start()
        first = self._answer(90)
        if not first.get("ready"):
            raise AssertionError("the page did not load: %s\n%s" % (first, "".join(self.stderr[-30:])))
        self.version = first.get("version", "")

    def _answer(self, timeout_s):
        try:
            return json.loads(self.lines.get(timeout=timeout_s))
        except queue.Empty:
            raise AssertionError("drive.mjs did not answer in %d s\n%s" % (timeout_s, "".join(self.stderr[-30:])))

    def do(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = self._answer(cmd.get("timeout_ms", WAIT_MS) / 1000 + 60)
        if not answer.get("ok"):
            raise AssertionError("%s: %s\n%s" % (cmd, answer.get("error"), "".join(self.stderr[-30:])))
        return answer

    def wait(self, selector, fleet=None):
        try:
            self.do(wait=selector, timeout_ms=WAIT_MS)
        except AssertionError as e:
            if fleet is not None and fleet.failure is not None:
                raise AssertionError("%s\n(the stand-in nodes failed: %r)" % (e, fleet.failure)) from None
            raise

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"quit": true}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


class Fleet(threading.Thread):
    """Three stand-in nodes: each reads the targets the hub issued it and reports them installed
    (ready since then, 20 requests more per report) unless the node is held (it keeps what it has)
    or the digest is broken (it reports the load error instead)."""

    def __init__(self, hub):
        super().__init__(daemon=True)
        self.hub = hub
        self.lock = threading.Lock()
        self.held = set(NODES)
        self.broken = set()
        self.installed = {n: None for n in NODES}  # node -> (digest, since_ms, error)
        self.applied = {n: 0 for n in NODES}  # the desired-state sequence each node last applied
        self.requests = {n: 0 for n in NODES}
        self.stop = threading.Event()
        self.failure = None

    def release(self, *nodes):
        with self.lock:
            self.held -= set(nodes)

    def run(self):
        try:
            while not self.stop.is_set():
                for node in NODES:
                    self.step(node)
                self.stop.wait(0.1)
        except Exception as e:  # reported by the test's next check
            self.failure = e

    def step(self, node):
        targets, sequence = self.hub.targets(node)
        with self.lock:
            held, broken = node in self.held, set(self.broken)
        have = self.installed[node]
        if not held and targets and (have is None or have[0] != targets[0]["digest"]):
            digest = targets[0]["digest"]
            error = "cannot load add_sub: the package's model.onnx is not a valid ONNX graph" if digest in broken else ""
            self.installed[node] = have = (digest, now_ms(), error)
        if not held:
            self.applied[node] = sequence
        models = []
        if have is not None:
            digest, since, error = have
            if not error:
                self.requests[node] += 20
            n = self.requests[node]
            # 70% of the requests under 5 ms, 95% under 10 ms, all under 50 ms.
            buckets = [[0.005, n * 7 // 10], [0.01, n * 19 // 20], [0.05, n], ["+Inf", n]]
            models.append(model_report("add_sub", digest, ready=not error, error=error, since_ms=since,
                                       success=n, buckets=buckets))
        state, message = ("error", have[2]) if have and have[2] else ("ok", "")
        self.hub.report(node, address="http://127.0.0.1:%d" % (18000 + sorted(NODES).index(node)),
                        properties={"tier": NODES[node], "region": "eu-west", "memory_gb": 16},
                        models=models, sequence=self.applied[node], state=state, message=message)


@unittest.skipUnless(os.access(CHROMIUM, os.X_OK), "no Chromium at %s (Debian's chromium package)" % CHROMIUM)
@unittest.skipUnless(NODE, "no node on PATH (Debian's nodejs package)")
class DashboardTest(unittest.TestCase):
    def setUp(self):
        r = subprocess.run([os.path.join(ROOT, "tools", "playwright.sh")], capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, "tools/playwright.sh: " + r.stderr)
        self.modules = r.stdout.strip().splitlines()[-1]
        self.shots = artifacts_dir()
        print("dashboard screenshots in " + self.shots, flush=True)
        self.hub = Hub()
        self.addCleanup(self.hub.stop)
        self.fleet = Fleet(self.hub)
        for node in NODES:  # registered before the deployment: one rollout over all three
            self.fleet.step(node)
        self.fleet.start()
        self.addCleanup(self.fleet.stop.set)
        self.page = Page(self.hub.url + "/", self.modules)
        self.addCleanup(self.page.close)

    def wait(self, selector):
        self.page.wait(selector, self.fleet)

    def shot(self, name):
        path = os.path.join(self.shots, name + ".png")
        self.page.do(screenshot=path)
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        print("  " + path, flush=True)

    def deploy(self, digest):
        self.hub.deploy("add-sub", {
            "package": REPOSITORY + "@" + digest, "constraint": "memory_gb >= 8",
            "rollout": {"batch_size": 1, "min_success_ms": 500, "health_timeout_ms": 120000, "max_failures": 0}})

    def batches(self):
        status, rollout = self.hub.get("/api/v1/rollouts/add-sub")
        self.assertEqual(status, 200, rollout)
        return [b["nodes"] for b in rollout["batches"]]

    def test_rollout_then_rollback(self):
        dep = '[data-deployment="add-sub"]'
        batch = lambda i, state: '%s [data-batch="%d"][data-state="%s"]' % (dep, i, state)
        for node in NODES:
            self.wait('tr[data-node="%s"]' % node)
        self.shot("1-nodes")

        # Version 1 over three batches of one node; the nodes install only when released.
        self.deploy(DIGEST_V1)
        self.wait(dep + '[data-phase="progressing"] ' + '[data-batch="1"][data-state="in_progress"]')
        self.wait(batch(3, "pending"))
        order = self.batches()
        self.assertEqual(sorted(n for b in order for n in b), sorted(NODES))
        self.shot("2-canary-in-progress")
        self.fleet.release(order[0][0], order[1][0])
        self.wait(batch(1, "succeeded"))
        self.wait(batch(2, "succeeded"))
        self.wait(batch(3, "in_progress"))
        self.shot("3-progressing")
        self.fleet.release(order[2][0])
        self.wait(dep + '[data-phase="succeeded"]')
        for i in (1, 2, 3):
            self.wait(batch(i, "succeeded"))
        for node in NODES:
            self.wait('tr[data-node="%s"] [data-digest="%s"][data-ready="true"]' % (node, DIGEST_V1))
        self.wait('#events tr[data-kind="succeeded"]')
        self.wait('#tiers tr[data-tier="edge"]')
        self.shot("4-succeeded")
        self.assertIsNone(self.fleet.failure)

        # Version 2: its canary cannot load it, the rollout goes back to version 1.
        with self.fleet.lock:
            self.fleet.broken.add(DIGEST_V2)
        self.deploy(DIGEST_V2)
        self.wait(dep + '[data-phase="rolled_back"]')
        self.wait(batch(1, "failed"))
        self.wait('#events tr[data-kind="rollback"]')
        self.wait('#events tr[data-kind="node_failed"]')
        canary = self.batches()[0][0]
        reason = self.page.do(text=dep + " .reason")["text"]
        self.assertIn(canary, reason)
        # Every node is told to run version 1 again; the canary reports it ready once more.
        for node in NODES:
            self.wait('tr[data-node="%s"] [data-digest="%s"][data-ready="true"]' % (node, DIGEST_V1))
        self.shot("5-rolled-back")
        self.assertIsNone(self.fleet.failure)
        errors = [l for l in self.page.stderr if l.startswith("page error")]
        self.assertEqual(errors, [], "the page's scripts failed")


if __name__ == "__main__":
    unittest.main()
