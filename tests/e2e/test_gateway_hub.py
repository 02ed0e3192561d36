"""End-to-end: `continuum gateway --hub URL` follows the topology the hub serves. Two real
`continuum serve` nodes, A and B; a stand-in for the hub's topology endpoint (topologyserver.py,
a process serving a file this test rewrites). Requests move from A to B when the served topology
does; the gateway goes on routing when the topology server is killed, and a gateway restarted
while it is down starts from its --hub-cache file."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import BIN, Server, infer_body, make_repository

ADD_SUB = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
INFER = "/v2/models/add_sub/infer"
HERE = os.path.dirname(os.path.abspath(__file__))


def topology(name, port):
    return {"schema_version": 1,
            "nodes": [{"name": name, "url": "http://127.0.0.1:%d" % port, "tier": "edge",
                       "models": [{"name": "add_sub", "versions": [1]}]}]}


def write_atomically(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


class TopologyServer:
    def __init__(self, doc_path):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "topologyserver.py"), doc_path],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on port" not in line:
            self.proc.kill()
            raise RuntimeError("the topology server did not start: %r" % line)
        self.url = "http://127.0.0.1:%d" % int(line.strip().rsplit(" ", 1)[1])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class HubGateway(Server):
    """`continuum gateway --hub URL` on a free port (the harness's helpers)."""

    def __init__(self, *flags):
        self.start([BIN, "gateway", "--http-port", "0", "--http-address", "127.0.0.1", *flags])


def cached_node(path):
    """The first node of the topology in the gateway's cache file."""
    with open(path) as f:
        return json.load(f)["nodes"][0]["name"]


def gauge(server, family):
    """The value of an unlabelled sample on the gateway's /metrics (0 when absent)."""
    text = server.request("GET", "/metrics")[1].decode()
    m = re.search(r"^%s (\S+)$" % re.escape(family), text, re.M)
    return float(m.group(1)) if m else 0.0


class GatewayHubTest(unittest.TestCase):
    def setUp(self):
        self.repo = make_repository(["add_sub"])
        self.a = Server(self.repo)
        self.b = Server(self.repo)
        self.tmp = tempfile.mkdtemp(prefix="continuum-gwhub-")
        self.doc = os.path.join(self.tmp, "served.json")
        self.cache = os.path.join(self.tmp, "cache", "topology.json")
        os.makedirs(os.path.dirname(self.cache))
        write_atomically(self.doc, topology("node-a", self.a.port))
        self.hub = TopologyServer(self.doc)
        self.gateways = []

    def tearDown(self):
        for g in self.gateways:
            g.stop()
        self.hub.kill()
        self.a.stop()
        self.b.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def gateway(self):
        g = HubGateway("--hub", self.hub.url, "--hub-cache", self.cache, "--hub-wait-s", "5",
                       "--request-timeout-ms", "10000")
        self.gateways.append(g)
        return g

    def node_of_answer(self, gw):
        status, out, resp = gw.post(INFER, ADD_SUB)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["outputs"][0]["data"], [3.0] * 16)
        return resp.getheader("X-Continuum-Node")

    def test_requests_follow_the_served_topology_and_survive_the_hub(self):
        gw = self.gateway()
        for _ in range(3):
            self.assertEqual(self.node_of_answer(gw), "node-a")
        self.assertEqual(gauge(gw, "continuum_gateway_topology_nodes"), 1)
        self.assertIn('continuum_gateway_topology_source{source="hub"} 1',
                      gw.request("GET", "/metrics")[1].decode())
        self.assertEqual(cached_node(self.cache), "node-a")

        # The hub moves the model to node B: the gateway follows (its long poll answers at once).
        write_atomically(self.doc, topology("node-b", self.b.port))
        gw.wait(lambda: self.node_of_answer(gw) == "node-b", what="requests moving to node B")
        for _ in range(3):
            self.assertEqual(self.node_of_answer(gw), "node-b")
        self.assertGreaterEqual(gauge(gw, "continuum_gateway_topology_updates_total"), 1)
        self.assertGreater(gauge(gw, "continuum_gateway_topology_last_update_timestamp_seconds"), 0)
        gw.wait(lambda: cached_node(self.cache) == "node-b", what="the cache")

        # The topology server dies: the gateway keeps routing with what it has, and counts errors.
        self.hub.kill()
        for _ in range(3):
            self.assertEqual(self.node_of_answer(gw), "node-b")
        gw.wait(lambda: gauge(gw, "continuum_gateway_hub_errors_total") >= 1, what="a hub error counted")
        gw.stop()

        # Restarted while the hub is still down: it starts from the cache and routes to node B.
        gw2 = self.gateway()
        self.assertEqual(self.node_of_answer(gw2), "node-b")
        self.assertIn('continuum_gateway_topology_source{source="cache"} 1',
                      gw2.request("GET", "/metrics")[1].decode())
        self.assertGreaterEqual(gauge(gw2, "continuum_gateway_hub_errors_total"), 1)

    def test_a_bad_document_keeps_the_topology_in_use(self):
        gw = self.gateway()
        self.assertEqual(self.node_of_answer(gw), "node-a")
        with open(self.doc, "w") as f:
            f.write('{"schema_version": 1, "nodes": [{"name": "node-b"}]}')
        gw.wait(lambda: gauge(gw, "continuum_gateway_hub_errors_total") >= 1, what="the bad document refused")
        self.assertEqual(self.node_of_answer(gw), "node-a")
        self.assertEqual(gauge(gw, "continuum_gateway_topology_updates_total"), 0)

    def test_without_hub_or_cache_the_gateway_does_not_start(self):
        self.hub.kill()
        proc = subprocess.run([BIN, "gateway", "--http-port", "0", "--hub", self.hub.url], capture_output=True,
                              text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("no cache file", proc.stderr)
        proc = subprocess.run([BIN, "gateway", "--http-port", "0"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("--topology or --hub is required", proc.stderr)


if __name__ == "__main__":
    unittest.main()
