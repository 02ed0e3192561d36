"""Prometheus (Debian's) finding a fleet through the hub's HTTP service discovery (/api/v1/sd) with
deploy/prometheus/prometheus.yml, and the recording rules of deploy/prometheus/rules.yml computing
the rollouts' SLOs (error ratio, p95 latency per model and node) from two real `continuum serve`
nodes. The nodes are registered by reports posted to the hub's agent API (hub_harness.py), as
their agents would.
"""
import json
import math
import os
import shutil
import string
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from harness import Server, infer_body, make_repository, metric
from hub_harness import Hub, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.join(os.path.dirname(os.path.dirname(HERE)), "deploy", "prometheus")
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
TIMEOUT_S = 180  # Prometheus scrapes every second here; rates need two scrapes after the traffic
NODES = {"edge-1": "edge", "cloud-1": "cloud"}


def good_request():
    data = [1.0] * 16
    return infer_body([("INPUT0", "FP32", [1, 16], data), ("INPUT1", "FP32", [1, 16], data)])


def bad_request():
    # Well-formed JSON whose tensors do not have the model's shape: refused by the model
    # (400), counted as continuum_inference_request_failure_total{reason="REJECTED"}.
    data = [1.0] * 8
    return infer_body([("INPUT0", "FP32", [1, 8], data), ("INPUT1", "FP32", [1, 8], data)])


def render_config(hub_url, rules, interval="1s"):
    with open(os.path.join(DEPLOY, "prometheus.yml")) as f:
        template = string.Template(f.read())
    return template.substitute(HUB_URL=hub_url, SCRAPE_INTERVAL=interval, RULES_FILE=rules)


@unittest.skipUnless(PROMETHEUS and PROMTOOL, "no prometheus/promtool on PATH (Debian's prometheus package)")
class PrometheusTest(unittest.TestCase):
    def promtool(self, *args):
        r = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, "promtool %s:\n%s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def test_rules_and_config_check(self):
        self.promtool("check", "rules", os.path.join(DEPLOY, "rules.yml"))
        self.promtool("test", "rules", os.path.join(DEPLOY, "rules_test.yml"))
        tmp = tempfile.mkdtemp(prefix="continuum-prometheus-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "prometheus.yml")
        with open(path, "w") as f:
            f.write(render_config("http://127.0.0.1:7000", os.path.join(DEPLOY, "rules.yml"), "15s"))
        out = self.promtool("check", "config", path)
        self.assertIn("1 rule files found", out)

    def start_prometheus(self, hub_url):
        tmp = tempfile.mkdtemp(prefix="continuum-prometheus-")
        self.addCleanup(shutil.rmtree, tmp, True)
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(render_config(hub_url, os.path.join(DEPLOY, "rules.yml")))
        self.promtool("check", "config", config)
        self.prom_url = "http://127.0.0.1:%d" % free_port()
        log = open(os.path.join(tmp, "prometheus.log"), "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen([PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                                 "--web.listen-address=" + self.prom_url[len("http://"):]],
                                stdout=log, stderr=subprocess.STDOUT)
        self.prom_log = log.name

        def stop():
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.addCleanup(stop)
        self.poll(lambda: self.prom_get("/-/ready", raw=True), "Prometheus to be ready")

    def prom_get(self, path, raw=False, **params):
        url = self.prom_url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = r.read()
        except OSError:
            return None
        if raw:
            return body
        doc = json.loads(body)
        return doc["data"] if doc.get("status") == "success" else None

    def query(self, promql):
        data = self.prom_get("/api/v1/query", query=promql)
        return data["result"] if data else []

    def poll(self, cond, what, each=None):
        self.last = None  # what the condition saw last (conditions set it), for the failure message
        deadline = time.time() + TIMEOUT_S
        while time.time() < deadline:
            if each:
                each()
            got = cond()
            if got:
                return got
            time.sleep(0.2)
        with open(self.prom_log) as f:
            log = f.read()[-3000:]
        self.fail("timed out waiting for %s (last seen: %s)\nPrometheus log (end):\n%s" % (what, self.last, log))

    def test_targets_from_the_hub_and_slo_rules(self):
        hub = Hub()
        self.addCleanup(hub.stop)
        servers = {}
        for node, tier in NODES.items():
            servers[node] = Server(make_repository(["add_sub"]))
            self.addCleanup(servers[node].stop)
            hub.report(node, address="http://127.0.0.1:%d" % servers[node].port, properties={"tier": tier})
        status, sd = hub.get("/api/v1/sd")
        self.assertEqual(status, 200)
        self.assertEqual(sorted(g["labels"]["role"] for g in sd), ["hub", "node", "node"])

        self.start_prometheus(hub.url)

        def targets_up():
            data = self.prom_get("/api/v1/targets", state="active")
            if not data:
                return None
            up = {(t["labels"].get("role"), t["labels"].get("node"), t["labels"].get("tier")): t
                  for t in data["activeTargets"] if t["health"] == "up"}
            want = {("hub", "hub", None)} | {("node", n, t) for n, t in NODES.items()}
            return up if set(up) == want else None
        up = self.poll(targets_up, "the hub and both nodes discovered from the hub and up")
        self.assertEqual(up[("hub", "hub", None)]["scrapeUrl"], hub.url + "/metrics")

        # Which requests count as failures: a tensor of the wrong shape does.
        edge = servers["edge-1"]
        before = metric(edge, "continuum_inference_request_failure_total", model="add_sub")
        status, _, _ = edge.post("/v2/models/add_sub/infer", bad_request())
        self.assertEqual(status, 400)
        self.assertEqual(metric(edge, "continuum_inference_request_failure_total", model="add_sub", reason="REJECTED"),
                         before + 1)

        # Traffic while Prometheus scrapes: both nodes answer, edge-1 also gets bad requests.
        def traffic():
            for node, s in servers.items():
                for _ in range(5):
                    self.assertEqual(s.post("/v2/models/add_sub/infer", good_request())[0], 200)
            edge.post("/v2/models/add_sub/infer", bad_request())

        def ratios():
            got = {r["metric"].get("node"): float(r["value"][1])
                   for r in self.query('continuum:model_error_ratio:rate1m{model="add_sub"}')}
            self.last = got
            ok = set(got) == set(NODES) and got["edge-1"] > 0 and got["cloud-1"] == 0
            return got if ok else None
        ratios = self.poll(ratios, "error ratios of add_sub on both nodes (edge-1's above 0)", each=traffic)
        self.assertLess(ratios["edge-1"], 1)

        def p95():
            got = {r["metric"].get("node"): (r["metric"], float(r["value"][1]))
                   for r in self.query('continuum:model_request_duration_seconds:p95_1m{model="add_sub"}')}
            self.last = got
            return got if set(got) == set(NODES) and all(math.isfinite(v) and v > 0 for _, v in got.values()) else None
        p95 = self.poll(p95, "p95 latency of add_sub on both nodes", each=traffic)
        self.assertEqual(p95["edge-1"][0]["tier"], "edge")
        self.assertEqual(p95["cloud-1"][0]["tier"], "cloud")

        tiers = self.poll(lambda: {r["metric"]["tier"]: float(r["value"][1]) for r in
                                   self.query('continuum:tier_model_error_ratio:rate1m{model="add_sub"}')} or None,
                          "the per-tier error ratio", each=traffic)
        self.assertGreater(tiers.get("edge", 0), 0)

        # The labels from the hub land on the raw series too.
        series = self.query('continuum_inference_request_success_total{model="add_sub"}')
        self.assertEqual(sorted((s["metric"]["node"], s["metric"]["tier"], s["metric"]["role"]) for s in series),
                         [("cloud-1", "cloud", "node"), ("edge-1", "edge", "node")])
        self.assertTrue(self.query('continuum_hub_reports_total{role="hub",node="hub"}'))


if __name__ == "__main__":
    unittest.main()
