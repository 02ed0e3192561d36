"""End-to-end: `continuum gateway` in front of two real `continuum serve` nodes (edge: eu, cloud: us),
over HTTP and again with every node served over HTTPS (the test PKI, CONTINUUM_TEST_PKI)."""
import http.client
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import unittest

from harness import BIN, Server, infer_body, make_repository

PKI = os.environ.get("CONTINUUM_TEST_PKI", os.path.join(os.path.dirname(__file__), "../../build/test_pki"))


class TlsNode(Server):
    """A `continuum serve` over HTTPS with the test PKI's leaf `leaf`; this test talks to it trusting
    the test CA (or, for a leaf a client must refuse, without verifying: to check it runs), with
    the test PKI's client certificate `client` when given."""

    def __init__(self, repository, leaf="server", *flags, client=None):
        if leaf == "server":
            self.ssl_context = ssl.create_default_context(cafile=os.path.join(PKI, "ca.pem"))
        else:
            self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        if client:
            self.ssl_context.load_cert_chain(os.path.join(PKI, client + ".pem"), os.path.join(PKI, client + ".key"))
        super().__init__(repository, "--tls-cert", os.path.join(PKI, leaf + ".pem"),
                         "--tls-key", os.path.join(PKI, leaf + ".key"), *flags)

    def conn(self, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ssl_context)


ADD_SUB = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
INFER = "/v2/models/add_sub/infer"


class Gateway(Server):
    """A `continuum gateway` process on a free port (same helpers as harness.Server)."""

    def __init__(self, topology_path, *flags):
        self.proc = subprocess.Popen(
            [BIN, "gateway", "--topology", topology_path, "--http-port", "0", "--http-address", "127.0.0.1", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr_lines = []
        line = self.proc.stdout.readline()
        if "listening on port" not in line:
            self.proc.kill()
            raise RuntimeError("gateway did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = int(line.strip().rsplit(" ", 1)[1])
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()


def successes(node):
    """continuum_inference_request_success_total for add_sub on a node."""
    status, data, _ = node.request("GET", "/metrics")
    assert status == 200
    m = re.search(r'^continuum_inference_request_success_total\{model="add_sub",version="1"\} (\S+)$',
                  data.decode(), re.M)
    return float(m.group(1)) if m else 0.0


class GatewayTest(unittest.TestCase):
    scheme = "http"

    def node(self):
        return Server(self.repo)

    def gateway_flags(self):
        return []

    def setUp(self):
        self.repo = make_repository(["add_sub"])
        self.edge = self.node()
        self.cloud = self.node()
        self.tmp = tempfile.mkdtemp(prefix="continuum-gw-")
        topology = {
            "schema_version": 1,
            "residency_classes": ["eu", "us"],
            "nodes": [
                {"name": "edge-eu", "url": "%s://127.0.0.1:%d" % (self.scheme, self.edge.port), "tier": "edge",
                 "jurisdiction": ["eu"], "cost_per_compute_second": 0.001,
                 "models": [{"name": "add_sub", "versions": [1]}]},
                {"name": "cloud-us", "url": "%s://127.0.0.1:%d" % (self.scheme, self.cloud.port), "tier": "cloud",
                 "jurisdiction": ["us"], "cost_per_compute_second": 0.0001,
                 "models": [{"name": "add_sub", "versions": [1]}]},
            ],
            # The edge is near, the cloud far: unconstrained requests go to the edge first.
            "links": [{"from": "gateway", "to": "edge-eu", "rtt_ms": 1, "bandwidth_mbps": 1000},
                      {"from": "gateway", "to": "cloud-us", "rtt_ms": 60, "bandwidth_mbps": 100}],
        }
        path = os.path.join(self.tmp, "topology.json")
        with open(path, "w") as f:
            json.dump(topology, f)
        self.log_path = os.path.join(self.tmp, "decisions.jsonl")
        self.gw = Gateway(path, "--decision-log", self.log_path, "--request-timeout-ms", "10000",
                          *self.gateway_flags())

    def tearDown(self):
        self.gw.stop()
        self.edge.stop()
        self.cloud.stop()

    def post(self, body=ADD_SUB, headers=None):
        return self.gw.post(INFER, body, headers)

    def test_routes_fails_closed_and_falls_back(self):
        # Answered, with the routing headers.
        status, out, resp = self.post()
        self.assertEqual(status, 200, out)
        self.assertEqual(out["outputs"][0]["data"], [3.0] * 16)
        self.assertIn(resp.getheader("X-Continuum-Tier"), ("edge", "cloud"))
        self.assertIn(resp.getheader("X-Continuum-Node"), ("edge-eu", "cloud-us"))
        self.assertEqual(resp.getheader("X-Continuum-Fallback-Step"), "0")
        reason = resp.getheader("X-Continuum-Reason")
        self.assertTrue(reason and len(reason) <= 200 and reason.isascii(), reason)

        # Residency eu (body parameters or header) goes to the edge node.
        for headers, body in (({}, dict(ADD_SUB, parameters={"residency": "eu"})),
                              ({"X-Continuum-Policy": "residency=eu"}, ADD_SUB)):
            status, out, resp = self.post(body, headers)
            self.assertEqual(status, 200, out)
            self.assertEqual(resp.getheader("X-Continuum-Node"), "edge-eu")
            self.assertEqual(resp.getheader("X-Continuum-Tier"), "edge")
        # Residency us goes to the cloud.
        status, out, resp = self.post(headers={"X-Continuum-Policy": "residency=us"})
        self.assertEqual(status, 200, out)
        self.assertEqual(resp.getheader("X-Continuum-Node"), "cloud-us")

        # Bad policy: 400 naming the field; unknown residency: 400; answered locally.
        status, out, resp = self.post(headers={"X-Continuum-Policy": "objective=slowest"})
        self.assertEqual(status, 400)
        self.assertIn("objective", out["error"])
        status, out, _ = self.post(dict(ADD_SUB, parameters={"latency_target_ms": "soon"}))
        self.assertEqual(status, 400)
        self.assertIn("latency_target_ms", out["error"])
        status, out, _ = self.post(headers={"X-Continuum-Policy": "residency=mars"})
        self.assertEqual(status, 400)
        # A node's 4xx is returned unchanged.
        status, out, resp = self.post({"inputs": []}, {"X-Continuum-Policy": "residency=eu"})
        self.assertEqual(status, 400)
        self.assertEqual(resp.getheader("X-Continuum-Node"), "edge-eu")
        self.assertEqual(self.gw.get("/v2/health/ready")[0], 200)
        self.assertEqual(self.gw.request("GET", "/nope")[0], 404)

        # The edge node dies.
        cloud_before = successes(self.cloud)
        self.edge.proc.kill()
        self.edge.proc.wait()
        for _ in range(6):
            status, out, resp = self.post(dict(ADD_SUB, parameters={"residency": "eu"}))
            self.assertEqual(status, 503, out)
            # Either the dead node was tried (the answer names the class, the candidates tried
            # and why each failed) or the router already ejected it (no candidate in the class).
            # Either way no node answered, and the routing headers say so.
            self.assertRegex(out["error"], r"^no node of residency class 'eu' could serve the request: "
                                           r"1 of 1 candidate tried: edge-eu: .+|^no candidate: .*'eu'")
            for h in ("X-Continuum-Node", "X-Continuum-Tier", "X-Continuum-Fallback-Step"):
                self.assertEqual(resp.getheader(h), "none", (h, out))
        # Fail closed: not one eu request reached the us cloud node.
        self.assertEqual(successes(self.cloud), cloud_before)

        # Unconstrained requests fall back to the cloud: none lost.
        for _ in range(20):
            status, out, resp = self.post()
            self.assertEqual(status, 200, out)
            self.assertEqual(out["outputs"][0]["data"], [3.0] * 16)
            self.assertEqual(resp.getheader("X-Continuum-Node"), "cloud-us")
            self.assertIn(resp.getheader("X-Continuum-Fallback-Step"), ("0", "1"))
        self.assertEqual(successes(self.cloud), cloud_before + 20)

        # The decision log holds one chained record per routed request, with outcomes.
        self.gw.stop()
        with open(self.log_path) as f:
            records = [json.loads(line) for line in f]
        self.assertGreaterEqual(len(records), 30)
        self.assertEqual(records[0]["prev_hash"], "0" * 64)
        self.assertTrue(all(r["outcome"] for r in records))
        self.assertTrue(any(r["outcome"] == "ok" for r in records))
        self.assertFalse(any(r["choice"] == "cloud-us" and r["policy"].get("residency") == "eu" for r in records))

    def test_metrics_count_answers_by_node_and_pass_promtool(self):
        for _ in range(3):
            self.assertEqual(self.post(headers={"X-Continuum-Policy": "residency=eu"})[0], 200)
        self.assertEqual(self.post(headers={"X-Continuum-Policy": "residency=us"})[0], 200)
        status, data, resp = self.gw.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/plain"))
        text = data.decode()

        def value(sample):
            m = re.search("^" + re.escape(sample) + r" (\S+)$", text, re.M)
            self.assertIsNotNone(m, sample + " missing in:\n" + text)
            return float(m.group(1))
        self.assertEqual(value('continuum_gateway_answers_total{node="edge-eu",tier="edge",step="first"}'), 3)
        self.assertEqual(value('continuum_gateway_answers_total{node="cloud-us",tier="cloud",step="first"}'), 1)
        self.assertEqual(value('continuum_gateway_request_duration_seconds_count{node="edge-eu",tier="edge"}'), 3)
        self.assertEqual(value('continuum_gateway_failures_total'), 0)
        self.assertEqual(value('continuum_gateway_hedges_total{result="sent"}'), 0)
        self.assertEqual(value('continuum_router_node_up{node="edge-eu"}'), 1)
        self.assertGreater(value('continuum_router_bandwidth_bytes_per_second{node="cloud-us"}'), 0)
        self.assertIn("# TYPE process_resident_memory_bytes gauge", text)
        self.assertEqual(self.gw.post("/metrics", {})[0], 405)
        try:
            r = subprocess.run(["promtool", "check", "metrics"], input=data, capture_output=True, timeout=60)
        except FileNotFoundError:
            self.skipTest("promtool not installed")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class TlsGatewayTest(GatewayTest):
    """The routing tests above with both nodes served over HTTPS: the gateway verifies them against
    --upstream-ca. And a node whose certificate has expired: never used, ejected, and why is in the
    decision log and the metrics."""
    scheme = "https"

    def node(self):
        return TlsNode(self.repo)

    def gateway_flags(self):
        return ["--upstream-ca", os.path.join(PKI, "ca.pem")]

    def test_a_node_whose_certificate_fails_verification_is_ejected_with_the_reason(self):
        expired = TlsNode(self.repo, "expired")
        self.addCleanup(expired.stop)
        topology = {
            "schema_version": 1,
            "nodes": [
                {"name": "edge-expired", "url": "https://127.0.0.1:%d" % expired.port, "tier": "edge",
                 "models": [{"name": "add_sub", "versions": [1]}]},
                # Its own tls block: the same CA, and the name its certificate carries.
                {"name": "cloud-us", "url": "https://127.0.0.1:%d" % self.cloud.port, "tier": "cloud",
                 "tls": {"ca": os.path.join(PKI, "ca.pem"), "server_name": "localhost"},
                 "models": [{"name": "add_sub", "versions": [1]}]},
            ],
            "links": [{"from": "gateway", "to": "edge-expired", "rtt_ms": 1, "bandwidth_mbps": 1000},
                      {"from": "gateway", "to": "cloud-us", "rtt_ms": 60, "bandwidth_mbps": 100}],
        }
        path = os.path.join(self.tmp, "topology-expired.json")
        with open(path, "w") as f:
            json.dump(topology, f)
        log_path = os.path.join(self.tmp, "decisions-expired.jsonl")
        gw = Gateway(path, "--decision-log", log_path, "--eject-after-failures", "2", *self.gateway_flags())
        self.addCleanup(gw.stop)
        expired_before = successes(expired)
        for _ in range(5):
            status, out, resp = gw.post(INFER, ADD_SUB)
            self.assertEqual(status, 200, out)
            self.assertEqual(out["outputs"][0]["data"], [3.0] * 16)
            self.assertEqual(resp.getheader("X-Continuum-Node"), "cloud-us")
        self.assertEqual(successes(expired), expired_before)  # it runs, but was never used

        def metrics():
            status, data, _ = gw.request("GET", "/metrics")
            self.assertEqual(status, 200)
            return data.decode()
        # Ejected (the gauge follows the router at the prober's next round).
        gw.wait(lambda: re.search(r'(?m)^continuum_router_node_up\{node="edge-expired"\} 0$', metrics()),
                what="edge-expired reported down")
        text = metrics()
        self.assertRegex(text, r'(?m)^continuum_gateway_attempt_failures_total\{node="edge-expired",reason="tls"\} 2$')
        self.assertRegex(text, r'(?m)^continuum_gateway_attempt_failures_total\{node="cloud-us",reason="tls"\} 0$')
        gw.stop()
        with open(log_path) as f:
            records = [json.loads(line) for line in f]
        failures = [x for r in records for x in r.get("failures", [])]
        self.assertEqual(len(failures), 2, records)
        for x in failures:
            self.assertEqual(x["node"], "edge-expired")
            self.assertEqual(x["error"], "TLS handshake with 127.0.0.1:%d failed: certificate verify failed: "
                                         "certificate has expired" % expired.port)


    def test_a_node_that_requires_a_client_certificate_gets_the_gateways(self):
        node = TlsNode(self.repo, "server", "--tls-client-ca", os.path.join(PKI, "ca.pem"), client="client")
        self.addCleanup(node.stop)
        path = os.path.join(self.tmp, "topology-mtls.json")
        with open(path, "w") as f:
            json.dump({"schema_version": 1, "nodes": [
                {"name": "edge-mtls", "url": "https://127.0.0.1:%d" % node.port, "tier": "edge",
                 "models": [{"name": "add_sub", "versions": [1]}]}]}, f)
        with_cert = Gateway(path, *self.gateway_flags(), "--upstream-cert", os.path.join(PKI, "client.pem"),
                            "--upstream-key", os.path.join(PKI, "client.key"))
        self.addCleanup(with_cert.stop)
        status, out, resp = with_cert.post(INFER, ADD_SUB)
        self.assertEqual(status, 200, out)
        self.assertEqual(resp.getheader("X-Continuum-Node"), "edge-mtls")
        without = Gateway(path, *self.gateway_flags())
        self.addCleanup(without.stop)
        status, out, _ = without.post(INFER, ADD_SUB)
        self.assertEqual(status, 503, out)
        self.assertIn("edge-mtls: ", out["error"])
        # A key that is not the certificate's stops the gateway at start, naming the file.
        r = subprocess.run([BIN, "gateway", "--topology", path, "--http-port", "0", *self.gateway_flags(),
                            "--upstream-cert", os.path.join(PKI, "client.pem"),
                            "--upstream-key", os.path.join(PKI, "client-b.key")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("client key file %s does not match the certificate in %s" % (
            os.path.join(PKI, "client-b.key"), os.path.join(PKI, "client.pem")), r.stderr)


class LocalNodeTest(unittest.TestCase):
    """`continuum gateway --model-repository`: a local:// device node served in-process beside a real
    remote `continuum serve` node."""

    def setUp(self):
        self.repo = make_repository(["add_sub"])
        self.cloud = Server(self.repo)
        self.tmp = tempfile.mkdtemp(prefix="continuum-gw-local-")
        topology = {
            "schema_version": 1,
            "residency_classes": ["eu", "us"],
            "nodes": [
                {"name": "phone", "url": "local://", "tier": "device", "jurisdiction": ["eu"],
                 "models": [{"name": "add_sub", "versions": [1]}]},
                {"name": "cloud-us", "url": "http://127.0.0.1:%d" % self.cloud.port, "tier": "cloud",
                 "jurisdiction": ["us"], "models": [{"name": "add_sub", "versions": [1]}]},
            ],
            # In-process: no network between the gateway and the device node.
            "links": [{"from": "gateway", "to": "phone", "rtt_ms": 0, "bandwidth_mbps": 100000},
                      {"from": "gateway", "to": "cloud-us", "rtt_ms": 40, "bandwidth_mbps": 100}],
        }
        path = os.path.join(self.tmp, "topology.json")
        with open(path, "w") as f:
            json.dump(topology, f)
        self.gw = Gateway(path, "--model-repository", self.repo, "--intra-op-threads", "1",
                          "--request-timeout-ms", "10000")

    def tearDown(self):
        self.gw.stop()
        self.cloud.stop()

    def post(self, body=ADD_SUB, headers=None):
        return self.gw.post(INFER, body, headers)

    def test_local_node_and_offload(self):
        cloud_before = successes(self.cloud)
        # Unconstrained: the device node, in-process, with the real model's answer.
        for _ in range(3):
            status, out, resp = self.post()
            self.assertEqual(status, 200, out)
            self.assertEqual(out["outputs"][0]["name"], "OUTPUT0")
            self.assertEqual(out["outputs"][0]["data"], [3.0] * 16)
            self.assertEqual(out["outputs"][1]["data"], [-1.0] * 16)
            self.assertEqual(resp.getheader("X-Continuum-Tier"), "device")
            self.assertEqual(resp.getheader("X-Continuum-Node"), "phone")
            self.assertEqual(resp.getheader("X-Continuum-Fallback-Step"), "0")
        self.assertEqual(successes(self.cloud), cloud_before)

        # The binary extension goes through the local node unchanged.
        header = json.dumps({"inputs": [
            {"name": "INPUT0", "datatype": "FP32", "shape": [1, 16], "parameters": {"binary_data_size": 64}},
            {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16], "parameters": {"binary_data_size": 64}}],
            "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}]}).encode()
        body = header + struct.pack("<16f", *([5.0] * 16)) + struct.pack("<16f", *([1.0] * 16))
        status, out, resp = self.gw.request("POST", INFER, body,
                                            {"Inference-Header-Content-Length": str(len(header))})
        self.assertEqual(status, 200, out)
        self.assertEqual(resp.getheader("X-Continuum-Node"), "phone")
        n = int(resp.getheader("Inference-Header-Content-Length"))
        self.assertEqual(list(struct.unpack("<16f", out[n:n + 64])), [6.0] * 16)

        # The policy offloads: prefer_tier=cloud, or a residency only the cloud node satisfies.
        for headers in ({"X-Continuum-Policy": "prefer_tier=cloud"}, {"X-Continuum-Policy": "residency=us"}):
            status, out, resp = self.post(headers=headers)
            self.assertEqual(status, 200, out)
            self.assertEqual(out["outputs"][0]["data"], [3.0] * 16)
            self.assertEqual(resp.getheader("X-Continuum-Tier"), "cloud")
            self.assertEqual(resp.getheader("X-Continuum-Node"), "cloud-us")
        self.assertEqual(successes(self.cloud), cloud_before + 2)

        # A 4xx from the local node is returned unchanged, not offloaded.
        status, out, resp = self.post({"inputs": []})
        self.assertEqual(status, 400, out)
        self.assertEqual(resp.getheader("X-Continuum-Node"), "phone")

        # The cloud node dies: residency us fails closed (never the eu device), the rest stays local.
        self.cloud.proc.kill()
        self.cloud.proc.wait()
        status, out, resp = self.post(headers={"X-Continuum-Policy": "residency=us"})
        self.assertEqual(status, 503, out)
        self.assertNotEqual(resp.getheader("X-Continuum-Node"), "phone")
        status, out, resp = self.post(headers={"X-Continuum-Policy": "residency=eu"})
        self.assertEqual(status, 200, out)
        self.assertEqual(resp.getheader("X-Continuum-Node"), "phone")


class Relay:
    """A TCP relay in front of a node that keeps every byte sent to the node."""

    def __init__(self, node_port):
        self.node_port = node_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.received = bytearray()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            node = socket.create_connection(("127.0.0.1", self.node_port))
            with self.lock:
                self.sockets += [client, node]
            threading.Thread(target=self._pump, args=(client, node, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(node, client, False), daemon=True).start()

    def _pump(self, src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    with self.lock:
                        self.received += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def data(self):
        with self.lock:
            return bytes(self.received)

    def close(self):
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                s.close()


class ForwardingTest(unittest.TestCase):
    """What reaches the node: the bytes the gateway writes upstream, recorded by a relay."""

    def setUp(self):
        self.repo = make_repository(["add_sub"])
        self.node = Server(self.repo)
        self.relay = Relay(self.node.port)
        self.tmp = tempfile.mkdtemp(prefix="continuum-gw-fwd-")
        topology = {
            "schema_version": 1,
            "nodes": [{"name": "edge", "url": "http://127.0.0.1:%d" % self.relay.port, "tier": "edge",
                       "models": [{"name": "add_sub", "versions": [1]}, {"name": "@cf/x", "versions": [1]}]}],
        }
        path = os.path.join(self.tmp, "topology.json")
        with open(path, "w") as f:
            json.dump(topology, f)
        self.gw = Gateway(path, "--request-timeout-ms", "10000")

    def tearDown(self):
        self.gw.stop()
        self.relay.close()
        self.node.stop()

    def test_escaped_crlf_in_the_path_never_becomes_a_header_upstream(self):
        target = "/accounts/x%0d%0aX-Injected:%20yes/ai/run/@cf/x"
        status, out, resp = self.gw.post(target, {"text": "hi"}, {
            "Proxy-Authorization": "Basic Zm9vOmJhcg==", "Connection": "X-Secret", "X-Secret": "s",
            "X-End-To-End": "kept"})
        # The node answered (it serves no such task: 404), through the relay.
        self.assertEqual(resp.getheader("X-Continuum-Node"), "edge", out)
        self.assertEqual(status, 404, out)
        self.gw.wait(lambda: b"X-End-To-End" in self.relay.data() or b"x-end-to-end" in self.relay.data(),
                     what="the forwarded request")
        raw = self.relay.data()
        lines = [line.lower() for line in raw.split(b"\r\n")]
        self.assertIn(("post %s http/1.1" % target.lower()).encode(), lines, raw)
        names = [line.split(b":", 1)[0] for line in lines]
        self.assertNotIn(b"x-injected", names, raw)
        # Hop-by-hop: neither the proxy credentials nor the header Connection named went on.
        self.assertNotIn(b"proxy-authorization", names, raw)
        self.assertNotIn(b"x-secret", names, raw)
        self.assertIn(b"x-end-to-end", names, raw)

        # A header value the gateway could not write on one line never reaches the node: 400.
        before = self.relay.data()
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"POST /v2/models/add_sub/infer HTTP/1.1\r\nHost: g\r\nX-Evil: a\x01b\r\n"
                  b"Content-Length: 2\r\n\r\n{}")
        answer = s.recv(65536)
        s.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer)
        status, out, _ = self.gw.post(INFER, ADD_SUB)
        self.assertEqual(status, 200, out)
        self.assertNotIn(b"X-Evil", self.relay.data()[len(before):])


if __name__ == "__main__":
    unittest.main()
