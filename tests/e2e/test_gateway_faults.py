"""End-to-end faults behind `continuum gateway`: a node that answers garbage, a node that accepts
connections and never answers (a partition), emulated node speed, and node timings passed through."""
import http.client
import json
import os
import socket
import tempfile
import threading
import time
import unittest

from harness import Server, infer_body, make_repository
from test_gateway import Gateway

ADD_SUB = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
INFER = "/v2/models/add_sub/infer"


class FakeNode:
    """A TCP listener that misbehaves: 'garbage' answers bytes that are not HTTP, 'silent' reads
    the request and never answers (what a partitioned link looks like from the gateway)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.conns = []
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            while not self.stopping:
                data = c.recv(65536)
                if not data:
                    return
                if b"\r\n\r\n" in data:
                    self.requests += 1
                    if self.mode == "garbage":
                        c.sendall(b"\x00\x01garbage, not HTTP at all\r\n\r\n")
                        c.close()
                        return
        except OSError:
            return

    def stop(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def topology(nodes, links):
    return {"schema_version": 1, "residency_classes": ["eu"], "nodes": nodes, "links": links}


def node(name, port, tier, cost=0.0):
    return {"name": name, "url": "http://127.0.0.1:%d" % port, "tier": tier, "jurisdiction": ["eu"],
            "cost_per_compute_second": cost, "models": [{"name": "add_sub", "versions": [1], "compute_ms": 1}]}


class GatewayFaultsTest(unittest.TestCase):
    def setUp(self):
        self.repo = make_repository(["add_sub"])
        self.tmp = tempfile.mkdtemp(prefix="continuum-gwf-")
        self.cleanup = []

    def tearDown(self):
        for c in reversed(self.cleanup):
            c()

    def start_gateway(self, topo, *flags):
        path = os.path.join(self.tmp, "topology.json")
        with open(path, "w") as f:
            json.dump(topo, f)
        gw = Gateway(path, *flags)
        self.cleanup.append(gw.stop)
        return gw

    def start_node(self, *flags):
        s = Server(self.repo, *flags)
        self.cleanup.append(s.stop)
        return s

    def fake(self, mode):
        f = FakeNode(mode)
        self.cleanup.append(f.stop)
        return f

    def test_garbage_node_is_treated_as_failed(self):
        bad = self.fake("garbage")
        good = self.start_node()
        # The garbage node looks nearest, so it is the first choice.
        gw = self.start_gateway(topology([node("bad", bad.port, "edge"), node("good", good.port, "cloud")],
                                         [{"from": "gateway", "to": "bad", "rtt_ms": 1, "bandwidth_mbps": 1000},
                                          {"from": "gateway", "to": "good", "rtt_ms": 40, "bandwidth_mbps": 100}]))
        for _ in range(10):
            status, out, resp = gw.post(INFER, ADD_SUB)
            self.assertEqual(status, 200, out)
            self.assertEqual(out["outputs"][0]["data"], [3.0] * 16)
            self.assertEqual(resp.getheader("X-Continuum-Node"), "good")
        self.assertGreaterEqual(bad.requests, 1)
        # After repeated failures the garbage node is ejected: later requests go straight to the good one.
        self.assertLessEqual(bad.requests, 3)
        status, out, resp = gw.post(INFER, ADD_SUB)
        self.assertEqual(resp.getheader("X-Continuum-Fallback-Step"), "0")

    def test_partitioned_node_never_holds_a_request_past_its_deadline(self):
        silent = self.fake("silent")
        gw = self.start_gateway(topology([node("silent", silent.port, "edge")], []),
                                "--request-timeout-ms", "800")
        t0 = time.time()
        status, out, resp = gw.post(INFER, ADD_SUB)
        elapsed = time.time() - t0
        self.assertEqual(status, 504, out)
        self.assertIn("deadline", out["error"])
        # The only node was given the whole deadline before the 504 (a lower bound: load can only
        # make it later), and no more than that.
        self.assertGreaterEqual(elapsed, 0.8, out)
        self.assertLess(elapsed, 3.0)
        self.assertGreaterEqual(silent.requests, 1)
        # With a latency target the deadline is target x 20, at least 1 s.
        silent2 = self.fake("silent")
        good = self.start_node()
        gw2 = self.start_gateway(
            topology([node("silent", silent2.port, "edge"), node("good", good.port, "cloud")],
                     [{"from": "gateway", "to": "silent", "rtt_ms": 1, "bandwidth_mbps": 1000},
                      {"from": "gateway", "to": "good", "rtt_ms": 40, "bandwidth_mbps": 100}]),
            "--request-timeout-ms", "20000")
        t0 = time.time()
        status, out, resp = gw2.post(INFER, ADD_SUB, {"X-Continuum-Policy": "latency_target_ms=100"})
        elapsed = time.time() - t0
        # Deadline 100 x 20 = 2 s. The silent node, the first choice, may hold the request for
        # half of it (a candidate that is not the last waits at most max(4 x its p95, half the
        # deadline)); the good node then answers within the other half.
        self.assertEqual(status, 200, out)
        self.assertEqual(resp.getheader("X-Continuum-Node"), "good")
        self.assertEqual(resp.getheader("X-Continuum-Fallback-Step"), "1")
        self.assertGreaterEqual(silent2.requests, 1)
        self.assertGreaterEqual(elapsed, 1.0)
        self.assertLess(elapsed, 3.0)

    def test_node_timings_pass_through_and_feed_the_estimates(self):
        slow = self.start_node("--compute-scale", "1", "--inject-straggler-fraction", "1",
                               "--inject-straggler-ms", "60")
        fast = self.start_node()
        # Seeded equal; the straggling node's reported compute time must push traffic to the other.
        gw = self.start_gateway(topology([node("slow", slow.port, "edge"), node("fast", fast.port, "edge")],
                                         [{"from": "gateway", "to": "slow", "rtt_ms": 1, "bandwidth_mbps": 1000},
                                          {"from": "gateway", "to": "fast", "rtt_ms": 2, "bandwidth_mbps": 1000}]))
        status, out, resp = gw.post(INFER, ADD_SUB)
        self.assertEqual(status, 200, out)
        self.assertEqual(resp.getheader("X-Continuum-Node"), "slow")
        self.assertGreaterEqual(float(resp.getheader("X-Continuum-Compute-Ms")), 60.0)
        self.assertGreaterEqual(float(resp.getheader("X-Continuum-Run-Ms")), 60.0)  # the straggler is in the run
        nodes = [gw.post(INFER, ADD_SUB)[2].getheader("X-Continuum-Node") for _ in range(10)]
        self.assertEqual(nodes[-5:], ["fast"] * 5, nodes)

    def test_bad_emulation_flags_are_refused(self):
        import subprocess
        from harness import BIN
        for flags, word in ((["--compute-scale", "0.5"], "compute scale"),
                            (["--inject-straggler-fraction", "2"], "straggler fraction"),
                            (["--compute-scale", "fast"], "compute-scale")):
            p = subprocess.run([BIN, "serve", "--model-repository", self.repo, "--http-port", "0", *flags],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(word, p.stderr)

    def test_bad_gateway_flags_are_refused(self):
        import subprocess
        from harness import BIN
        path = os.path.join(self.tmp, "one-node.json")
        with open(path, "w") as f:
            json.dump(topology([node("edge", 1, "edge")], []), f)
        for flags in (["--explore-after-ms", "-1"], ["--attempt-budget-share", "2"],
                      ["--eject-after-failures", "0"], ["--max-body-bytes", "0"], ["--max-header-bytes", "10"],
                      ["--body-timeout-ms", "0"], ["--max-connections", "0"]):
            p = subprocess.run([BIN, "gateway", "--topology", path, "--http-port", "0", *flags],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("out of range", p.stderr)

    def test_listener_limits_are_the_gateways_own_flags(self):
        good = self.start_node()
        gw = self.start_gateway(topology([node("good", good.port, "edge")], []), "--max-body-bytes", "4096")
        status, out, _ = gw.post(INFER, ADD_SUB)
        self.assertEqual(status, 200, out)
        big = json.dumps({"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 2000],
                                      "data": [1.0] * 2000}]}).encode()
        self.assertGreater(len(big), 4096)
        c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        c.request("POST", INFER, body=big, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        c.close()
        self.assertEqual(r.status, 413, body)
        self.assertIn(b"4096", body)


if __name__ == "__main__":
    unittest.main()
