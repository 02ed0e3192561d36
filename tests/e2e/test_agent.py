"""`continuum agent` against Debian's real docker-registry and a real `continuum serve` (poll mode),
with a stand-in for the hub's two agent endpoints written here (the hub's own end-to-end test
drives the agent with the real hub): packages pulled by digest, verified and installed, reported
ready with serve's metrics, upgraded, rolled back and removed; a kill -9 and a restart reinstall
nothing; a document signed by another key changes nothing."""
import base64
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from harness import BIN, MODELS, Server, infer_body
from registry import Registry, available

NODE = "edge-1"
PAYLOAD_TYPE = "application/vnd.continuum.desired-state.v1+json"
ADD = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, env=dict(os.environ, COSIGN_PASSWORD=""),
                       timeout=300)
    if r.returncode != 0:
        raise AssertionError("%s: %s" % (args, r.stderr))
    return r.stdout.strip()


def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def sign_dsse(key, payload):
    """A DSSE v1 envelope over `payload`: the PAE written here, signed by `openssl dgst`."""
    pae = b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=pae, capture_output=True,
                         check=True).stdout
    return json.dumps({"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
                       "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]})


class StandInHub:
    """POST /api/v1/nodes/{node}/report and the desired-state long poll, as the fleet protocol has them."""

    def __init__(self):
        self.cv = threading.Condition()
        self.sequence = 0
        self.envelope = None
        self.reports = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body=b""):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the agent was killed while it waited

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with hub.cv:
                    hub.reports.append(body)
                    hub.cv.notify_all()
                    sequence = hub.sequence
                self.answer(200, json.dumps({"sequence": sequence}).encode())

            def do_GET(self):
                q = parse_qs(urlparse(self.path).query)
                after, wait_s = int(q["after"][0]), int(q["wait_s"][0])
                with hub.cv:
                    hub.cv.wait_for(lambda: hub.sequence > after, timeout=wait_s)
                    envelope = hub.envelope if hub.sequence > after else None
                self.answer(200, envelope.encode()) if envelope else self.answer(304)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def publish(self, key, targets):
        now = int(time.time() * 1000)
        with self.cv:
            self.sequence += 1
            payload = json.dumps({"schema_version": 1, "type": "continuum-desired-state", "node": NODE,
                                  "sequence": self.sequence, "issued": rfc3339(now),
                                  "expires": rfc3339(now + 3600_000), "targets": targets},
                                 separators=(",", ":")).encode()
            self.envelope = sign_dsse(key, payload)
            self.cv.notify_all()
            return self.sequence

    def wait_report(self, cond, what, timeout=60):
        deadline = time.time() + timeout
        with self.cv:
            while time.time() < deadline:
                if self.reports and cond(self.reports[-1]):
                    return self.reports[-1]
                self.cv.wait(0.2)
            raise AssertionError("no report with %s; the last: %s" % (what, json.dumps(self.reports[-1:])))


@unittest.skipUnless(available(), "docker-registry is not installed")
class AgentTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="continuum-agent-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        for name in ("hub", "other"):
            key = os.path.join(self.tmp, name + ".key")
            subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                            key], check=True, capture_output=True)
            subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", key[:-4] + ".pub"], check=True)
        run("generate-key-pair", "--output-key-prefix", os.path.join(self.tmp, "cosign"))
        self.repo = os.path.join(self.tmp, "repo")
        os.makedirs(self.repo)
        self.registry = Registry()
        self.registry.__enter__()
        self.addCleanup(self.registry.__exit__, None, None, None)
        self.ref = self.registry.host + "/models/add_sub"
        self.digests = {v: self.push(v) for v in (1, 2)}
        self.serve = Server(self.repo, "--model-control-mode", "poll", "--repository-poll-secs", "1")
        self.addCleanup(self.serve.stop)
        self.hub = StandInHub()
        self.addCleanup(self.hub.close)
        self.agent = None

    def push(self, version):
        """add_sub with one version folder `version`, packed, signed, pushed; its digest."""
        src = os.path.join(self.tmp, "src%d" % version, "add_sub")
        os.makedirs(os.path.join(src, str(version)))
        shutil.copy(os.path.join(MODELS, "add_sub", "1", "model.onnx"), os.path.join(src, str(version)))
        with open(os.path.join(src, "config.json"), "w") as f:
            f.write('{"schema_version": 1}\n')
        tag = "%s:%d" % (self.ref, version)
        out = os.path.join(self.tmp, "out")
        digest = run("pack", src, "-t", tag, "--output", out)
        run("sign", tag, "--key", os.path.join(self.tmp, "cosign.key"), "--layout", out)
        run("push", tag, "--layout", out, "--insecure")
        return digest

    def target(self, version):
        return {"model": "add_sub", "package": "%s@%s" % (self.ref, self.digests[version]),
                "digest": self.digests[version], "deployment": "adds"}

    def start_agent(self):
        self.agent = subprocess.Popen(
            [BIN, "agent", "--hub", self.hub.url, "--name", NODE, "--hub-key", os.path.join(self.tmp, "hub.pub"),
             "--key", os.path.join(self.tmp, "cosign.pub"), "--model-repository", self.repo, "--state-dir",
             os.path.join(self.tmp, "state"), "--serve-url", "http://127.0.0.1:%d" % self.serve.port,
             "--registry-insecure", "--tier", "edge", "--jurisdiction", "eu,de", "--report-interval-ms", "200",
             "--serve-poll-secs", "1", "--wait-s", "5"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.agent_log = []
        threading.Thread(target=lambda p=self.agent, log=self.agent_log: log.extend(p.stderr), daemon=True).start()
        self.assertIn("continuum agent: ready", self.agent.stdout.readline())

    def stop_agent(self, sig=None):
        if sig:
            self.agent.send_signal(sig)
        else:
            self.agent.terminate()
        out, _ = self.agent.communicate(timeout=60)
        if not sig:  # a clean stop exits 0 (a sanitizer's finding would not)
            self.assertEqual(self.agent.returncode, 0, "".join(self.agent_log)[-4000:])
        return out

    def tearDown(self):
        if self.agent and self.agent.poll() is None:
            self.agent.kill()
            self.agent.communicate()

    def model(self, report):
        return report["models"][0] if report["models"] else {}

    def test_install_upgrade_rollback_remove(self):
        self.start_agent()
        first = self.hub.wait_report(lambda r: True, "anything")
        names = {p["name"]: p for p in first["properties"]}
        self.assertEqual(names["tier"]["value"], "edge")
        self.assertEqual(names["jurisdiction"], {"name": "jurisdiction", "type": "list", "value": ["eu", "de"]})
        self.assertIn("ort_version", names)
        self.hub.publish(os.path.join(self.tmp, "hub.key"), [self.target(1)])
        r = self.hub.wait_report(lambda r: r["sequence"] == 1 and self.model(r).get("ready"), "v1 ready")
        self.assertEqual(self.model(r)["digest"], self.digests[1])
        self.assertEqual(self.model(r)["versions"], [1])
        for _ in range(3):
            self.assertEqual(self.serve.post("/v2/models/add_sub/infer", ADD)[0], 200)
        r = self.hub.wait_report(lambda r: self.model(r).get("success", 0) >= 3, "the requests counted")
        self.assertEqual(self.model(r)["duration_buckets"][-1], ["+Inf", self.model(r)["success"]])
        self.hub.publish(os.path.join(self.tmp, "hub.key"), [self.target(2)])
        self.hub.wait_report(lambda r: r["sequence"] == 2 and self.model(r).get("digest") == self.digests[2] and
                             self.model(r)["ready"] and self.model(r)["versions"] == [2], "v2 ready")
        self.hub.publish(os.path.join(self.tmp, "hub.key"), [self.target(1)])  # a rollback: an older version
        self.hub.wait_report(lambda r: r["sequence"] == 3 and self.model(r).get("digest") == self.digests[1] and
                             self.model(r)["ready"] and self.model(r)["versions"] == [1], "rolled back to v1")
        self.hub.publish(os.path.join(self.tmp, "hub.key"), [])
        self.hub.wait_report(lambda r: r["sequence"] == 4 and not r["models"], "the model gone")
        self.serve.wait(lambda: self.serve.get("/v2/models/add_sub/ready")[0] != 200, what="add_sub unloaded")
        self.assertFalse(os.path.lexists(os.path.join(self.repo, "add_sub")))
        packages = os.path.join(self.repo, ".packages")  # no package folder of it either
        self.assertEqual([n for n in os.listdir(packages) if n.startswith("add_sub@")], [])
        # Nor a package in the agent's layout: no target is left.
        with open(os.path.join(self.tmp, "state", "layout", "index.json")) as f:
            self.assertEqual(json.load(f)["manifests"], [])
        out = self.stop_agent()
        self.assertIn("control-plane bytes sent", out)
        log = "".join(self.agent_log)
        self.assertEqual(log.count("installed add_sub "), 3, log)
        self.assertIn("removed add_sub", log)

    def test_restart_after_kill_reinstalls_nothing_and_refuses_a_foreign_document(self):
        self.start_agent()
        self.hub.publish(os.path.join(self.tmp, "hub.key"), [self.target(1)])
        self.hub.wait_report(lambda r: r["sequence"] == 1 and self.model(r).get("ready"), "v1 ready")
        self.stop_agent(9)
        self.start_agent()
        self.hub.wait_report(lambda r: r["sequence"] == 1 and self.model(r).get("ready"), "v1 ready again")
        # Signed by a key the agent does not trust: refused, nothing changes.
        self.hub.publish(os.path.join(self.tmp, "other.key"), [self.target(2)])
        r = self.hub.wait_report(lambda r: r["state"] == "error", "the refusal")
        self.assertIn("refused desired state", r["message"])
        self.assertEqual(r["sequence"], 1)
        self.assertEqual(self.model(r)["digest"], self.digests[1])
        self.stop_agent()
        self.assertNotIn("installed add_sub", "".join(self.agent_log))


if __name__ == "__main__":
    unittest.main()
