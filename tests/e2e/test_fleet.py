"""The fleet end to end, real processes over real sockets: a registry, `continuum hub`, three nodes
(device, edge, cloud), each `continuum serve` with a `continuum agent` beside it, and
`continuum gateway --hub`.

- a deployment reaches the nodes its constraint selects, in batches, and the gateway routes to the
  version the rollout brings, learning the topology from the hub;
- a package that fails its health check on the canary is rolled back there and reaches no other node;
- the hub killed: the nodes keep answering (0 failures) while an agent restarts; the hub back: the
  agents reconnect without reinstalling anything;
- a desired state signed by another key is refused and nothing is installed;
- the agent inside serve (`continuum serve --agent-hub ...`) installs, reports and stops with serve.
"""
import datetime
import json
import os
import signal
import ssl
import subprocess
import time
import unittest
import urllib.request

from cryptography.hazmat.primitives.asymmetric import ec

from fleet import Fleet, Proc, http_json, run, wait_for
from harness import BIN, pki, tls_context


def tls_context_files(base):
    """A client context trusting the test CA, with the client certificate BASE.pem / BASE.key."""
    ctx = ssl.create_default_context(cafile=pki("ca.pem"))
    ctx.load_cert_chain(base + ".pem", base + ".key")
    return ctx

HUB_DOWN_SECONDS = float(os.environ.get("CONTINUUM_FLEET_HUB_DOWN_SECONDS", "0"))
FAST = {"batch_size": 1, "min_success_ms": 500, "health_timeout_ms": 30000, "min_requests": 1000000}


def digest_of_package(node):
    return node.installed_digest()


class FleetTest(unittest.TestCase):
    def test_rollout_in_batches_and_gateway_follows(self):
        with Fleet(self) as f:
            d1 = f.publish("1", versions=(1,))
            f.start_hub()
            nodes = [f.start_node("device-1", tier="device", jurisdiction="list:eu"),
                     f.start_node("edge-1", tier="edge", jurisdiction="list:eu"),
                     f.start_node("cloud-1", tier="cloud", jurisdiction="list:eu,us")]
            plan = http_json(f.hub.url + "/api/v1/plan", "POST",
                             {"package": f.ref("1"), "constraint": "tier in (edge, cloud)"})[1]
            self.assertEqual(sorted(plan["selected"]), ["cloud-1", "edge-1"], plan)
            device_row = [r for r in plan["nodes"] if r["node"] == "device-1"][0]
            self.assertFalse(device_row["match"])
            self.assertIn("device", device_row["reason"])

            f.apply({"name": "add-sub", "package": f.ref("1"), "rollout": FAST})
            for n in nodes:
                wait_for(lambda n=n: n.installed_digest() == d1 and n.ready(1), 90, n.name + " on package 1")
            wait_for(lambda: f.rollout()["phase"] == "succeeded", 60, "first rollout succeeded")

            gw = Proc([BIN, "gateway", "--hub", f.hub.url, "--http-port", "0", "--http-address", "127.0.0.1"],
                      ready="listening on port")
            self.addCleanup(gw.stop)
            gw_port = int([l for l in gw.out if "listening on port" in l][0].strip().rsplit(" ", 1)[1])
            body = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16], "data": [1.0] * 16},
                               {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16], "data": [2.0] * 16}]}
            gw_url = "http://127.0.0.1:%d" % gw_port
            wait_for(lambda: http_json(gw_url + "/v2/models/add_sub/versions/1/infer", "POST", body)[0] == 200, 60,
                     "the gateway routes add_sub v1")

            # Version 2: a new package; the rollout moves node by node.
            d2 = f.publish("2", versions=(1, 2))
            f.apply({"name": "add-sub", "package": f.ref("2"), "rollout": FAST})
            for n in nodes:
                wait_for(lambda n=n: n.installed_digest() == d2 and n.ready(2), 120, n.name + " on package 2")
            wait_for(lambda: f.rollout()["phase"] == "succeeded", 60, "second rollout succeeded")
            r = f.rollout()
            self.assertEqual(len(r["batches"]), 3, r)
            self.assertTrue(all(b["state"] == "succeeded" for b in r["batches"]), r)
            started = [e for e in f.events() if e["kind"] == "batch_started"]
            self.assertGreaterEqual(len(started), 3)
            # The gateway learned version 2 from the hub.
            wait_for(lambda: http_json(gw_url + "/v2/models/add_sub/versions/2/infer", "POST", body)[0] == 200, 60,
                     "the gateway routes add_sub v2")
            # Nothing was installed twice: each agent installed each package once.
            for n in nodes:
                self.assertEqual(n.agent.count("installed add_sub " + d2), 1, n.agent.log())

    def test_agent_inside_serve(self):
        """`continuum serve --agent-hub ...`: one process installs what the hub assigns, reads its own
        readiness and counters in-process, reports them, and stops with serve."""
        with Fleet(self) as f:
            d1 = f.publish("1", versions=(1,))
            f.start_hub()
            node = f.start_node("edge-in", in_process=True, tier="edge")
            f.apply({"name": "add-sub", "package": f.ref("1"), "rollout": FAST})
            wait_for(lambda: node.installed_digest() == d1 and node.ready(1), 90, "package 1 installed and served")
            wait_for(lambda: f.rollout()["phase"] == "succeeded", 60, "rollout succeeded on the agent's report")
            want = [("edge-in", node.url, "edge", [{"name": "add_sub", "versions": [1]}])]
            wait_for(lambda: [(n["name"], n["url"], n["tier"], n["models"])
                              for n in f.hub.api("/api/v1/topology")[1]["nodes"]] == want, 30,
                     "the node in the hub's topology")
            # serve's own counters, read without a socket, reach the hub.
            for _ in range(3):
                self.assertEqual(node.infer(), 200)

            def success():
                report = f.hub.api("/api/v1/nodes/edge-in")[1]["report"]
                return sum(m["success"] for m in report["models"] if m["name"] == "add_sub")

            wait_for(lambda: success() >= 3, 60, "the node's request count at the hub")
            d2 = f.publish("2", versions=(1, 2))
            f.apply({"name": "add-sub", "package": f.ref("2"), "rollout": FAST})
            wait_for(lambda: node.installed_digest() == d2 and node.ready(2), 90, "package 2 installed and served")
            wait_for(lambda: f.rollout()["phase"] == "succeeded", 60, "second rollout succeeded")
            self.assertEqual(node.log_count("installed add_sub " + d2), 1)
            # The agent's layout keeps what its target needs: package 1 and its signature are gone.
            wait_for(lambda: node.log_count("pruned the layout") >= 1, 30, "the layout pruned")
            layout = os.path.join(node.state, "layout")
            with open(os.path.join(layout, "index.json")) as fh:
                tags = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in json.load(fh)["manifests"])
            self.assertEqual(tags, ["fleet-" + d2[7:], "sha256-%s.sig" % d2[7:]])
            self.assertFalse(os.path.exists(os.path.join(layout, "blobs", "sha256", d1[7:])))
            self.assertTrue(os.path.exists(os.path.join(layout, "blobs", "sha256", d2[7:])))
            # SIGTERM stops the agent with serve.
            self.assertEqual(node.serve.stop(), 0, "".join(node.serve.stderr_lines[-20:]))

    def test_mutual_tls_and_node_identity(self):
        """The hub over https with --agent-cert-identity: each agent presents a client certificate
        whose CN is its node's name; a certificate for one node cannot act for another, nor can an
        agent without one; the gateway follows the hub over https."""
        from test_tls import Pki
        with Fleet(self) as f:
            d1 = f.publish("1", versions=(1,))
            certs = Pki(f.tmp)
            now = datetime.datetime.now(datetime.timezone.utc)
            day = datetime.timedelta(days=1)
            edge1, edge2 = [certs.leaf(n, ec.generate_private_key(ec.SECP256R1()), n, now - day, now + day, server=False)
                            for n in ("edge-1", "edge-2")]
            f.start_hub("--tls-cert", pki("server.pem"), "--tls-key", pki("server.key"), "--tls-client-ca",
                        pki("ca.pem"), "--tls-client-auth", "optional", "--agent-cert-identity",
                        ssl_context=tls_context())
            self.assertTrue(f.hub.url.startswith("https://"))
            mtls = [("ca-file", pki("ca.pem")), ("client-cert", edge1 + ".pem"), ("client-key", edge1 + ".key")]
            node = f.start_node("edge-1", tier="edge", agent_flags=mtls)
            f.apply({"name": "add-sub", "package": f.ref("1"), "rollout": FAST})
            wait_for(lambda: node.installed_digest() == d1 and node.ready(1), 90, "package 1 over mutual TLS")
            wait_for(lambda: f.rollout()["phase"] == "succeeded", 60, "rollout succeeded")

            # edge-1's certificate cannot report for edge-2, and no certificate is no identity.
            report = {"schema_version": 1, "address": "http://127.0.0.1:1"}
            status, body = http_json(f.hub.url + "/api/v1/nodes/edge-2/report", "POST", report,
                                     context=tls_context_files(edge1))
            self.assertEqual(status, 403, body)
            self.assertIn("CN=edge-1, not CN=edge-2", body["error"])
            status, body = http_json(f.hub.url + "/api/v1/nodes/edge-2/report", "POST", report,
                                     context=tls_context())
            self.assertEqual(status, 403, body)
            self.assertEqual(http_json(f.hub.url + "/api/v1/nodes/edge-2/report", "POST", report,
                                       context=tls_context_files(edge2))[0], 200)
            # An agent that does not trust the hub's certificate never talks to it.
            stranger_dir = os.path.join(f.tmp, "edge-3")
            stranger = Proc([BIN, "agent", "--hub", f.hub.url, "--name", "edge-3", "--hub-key", f.hub_pub, "--key",
                             f.cosign_pub, "--model-repository", os.path.join(stranger_dir, "repo"), "--state-dir",
                             os.path.join(stranger_dir, "agent"), "--ca-file", pki("other-ca.pem"), "--client-cert",
                             edge2 + ".pem", "--client-key", edge2 + ".key"])
            self.addCleanup(stranger.stop)
            wait_for(lambda: stranger.count("certificate verify failed") >= 1, 30, "the stranger's TLS failure")
            names = sorted(n["name"] for n in f.hub.api("/api/v1/nodes")[1])
            self.assertEqual(names, ["edge-1", "edge-2"])

            gw = Proc([BIN, "gateway", "--hub", f.hub.url, "--hub-ca-file", pki("ca.pem"), "--hub-client-cert",
                       pki("client.pem"), "--hub-client-key", pki("client.key"), "--http-port", "0",
                       "--http-address", "127.0.0.1"], ready="listening on port")
            self.addCleanup(gw.stop)
            gw_port = int([l for l in gw.out if "listening on port" in l][0].strip().rsplit(" ", 1)[1])
            body = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16], "data": [1.0] * 16},
                               {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16], "data": [2.0] * 16}]}
            wait_for(lambda: http_json("http://127.0.0.1:%d/v2/models/add_sub/versions/1/infer" % gw_port, "POST",
                                       body)[0] == 200, 60, "the gateway routes add_sub from the hub's topology")

    def test_bad_package_rolls_back_on_the_canary_only(self):
        with Fleet(self) as f:
            d1 = f.publish("1")
            f.start_hub()
            nodes = [f.start_node("edge-%d" % i, tier="edge") for i in (1, 2, 3)]
            f.apply({"name": "add-sub", "package": f.ref("1"), "rollout": FAST})
            for n in nodes:
                wait_for(lambda n=n: n.installed_digest() == d1 and n.ready(1), 90, n.name + " on package 1")
            wait_for(lambda: f.rollout()["phase"] == "succeeded", 60, "first rollout")
            bad = f.publish("bad", bad=True)
            f.apply({"name": "add-sub", "package": f.ref("bad"),
                     "rollout": dict(FAST, health_timeout_ms=8000)})
            wait_for(lambda: f.rollout()["phase"] == "rolled_back", 90, "rollback")
            r = f.rollout()
            self.assertEqual(r["batches"][0]["state"], "failed", r)
            self.assertTrue(all(b["state"] == "pending" for b in r["batches"][1:]), r)
            canary = r["batches"][0]["nodes"][0]
            self.assertTrue(any(e["kind"] == "rollback" for e in f.events()))
            # Every node serves package 1 again; only the canary ever saw the bad one.
            for n in nodes:
                wait_for(lambda n=n: n.installed_digest() == d1 and n.ready(1), 90, n.name + " back on package 1")
                self.assertEqual(n.agent.count(bad), n.agent.count(bad) if n.name == canary else 0, n.agent.log())
                self.assertEqual(n.infer(), 200)

    def test_hub_down_nodes_keep_serving_and_reconnect_as_a_diff(self):
        with Fleet(self) as f:
            d1 = f.publish("1")
            f.start_hub()
            nodes = [f.start_node("edge-1", tier="edge"), f.start_node("edge-2", tier="edge")]
            f.apply({"name": "add-sub", "package": f.ref("1"), "rollout": dict(FAST, batch_size=2)})
            for n in nodes:
                wait_for(lambda n=n: n.installed_digest() == d1 and n.ready(1), 90, n.name + " on package 1")
            hub_port = f.hub.port
            f.hub.proc.kill()
            f.hub.proc.wait()
            # Requests keep succeeding while one agent restarts with the hub unreachable.
            failures = 0
            nodes[0].agent.kill()
            nodes[0].start_agent(ready=False)
            down_until = time.time() + HUB_DOWN_SECONDS
            sent = 0
            while sent < 50 or time.time() < down_until:
                for n in nodes:
                    failures += n.infer() != 200
                sent += 1
            self.assertEqual(failures, 0)
            wait_for(lambda: nodes[0].agent.count("hub unavailable") >= 1,
                     30, "the restarted agent noticing the hub is down")
            self.assertEqual(nodes[0].installed_digest(), d1)
            # The hub comes back on the same port and store: the agents reconnect; nothing is reinstalled.
            from fleet import Hub
            f.hub = Hub(f.hub.folder, f.hub_key, port=hub_port)
            wait_for(lambda: all(n["fresh"] for n in f.hub.api("/api/v1/nodes")[1]) and
                     len(f.hub.api("/api/v1/nodes")[1]) == 2, 60, "agents reconnected")
            for n in nodes:
                self.assertEqual(n.agent.count("installed add_sub"), 0 if n is nodes[0] else 1, n.agent.log())
                self.assertEqual(n.infer(), 200)

    def test_desired_state_signed_by_another_key_is_refused(self):
        with Fleet(self) as f:
            f.publish("1")
            f.start_hub()
            n = f.start_node("edge-1", tier="edge")
            n.agent.stop()
            n.start_agent(hub_key=os.path.join(f.tmp, "other.pub"))
            f.apply({"name": "add-sub", "package": f.ref("1"), "rollout": FAST})
            wait_for(lambda: n.agent.count("refused desired state") >= 1, 60, "the refusal")
            self.assertIsNone(n.installed_digest())
            self.assertEqual(n.agent.count("installed add_sub"), 0)


KILL_ITERATIONS = int(os.environ.get("CONTINUUM_FLEET_KILL_ITERATIONS", "3"))
FLAP_SECONDS = float(os.environ.get("CONTINUUM_FLEET_FLAP_SECONDS", "0"))


class FleetFaultTest(unittest.TestCase):
    def test_links_flapping_between_hub_and_agent(self):
        """The agent reaches the hub through the link emulator, cut for a second out of every three:
        the rollout still reaches the node, and the node serves throughout."""
        with Fleet(self) as f:
            d1 = f.publish("1")
            f.start_hub()
            scenario = os.path.join(f.tmp, "flap.json")
            with open(scenario, "w") as out:
                json.dump({"schema_version": 1, "seed": 3, "loop": True, "phases": [
                    {"name": "up", "duration_s": 2, "up": {"delay_ms": 20}, "down": {"delay_ms": 20}},
                    {"name": "cut", "duration_s": 1, "partition": True, "partition_mode": "reset"}]}, out)
            link = Proc([BIN, "linkemu", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:%d" % f.hub.port,
                         "--scenario", scenario], ready="listening on")
            self.addCleanup(link.stop)
            line = [l for l in link.out if "listening on" in l][0]
            port = int(line.split("listening on ", 1)[1].split(",")[0].rsplit(":", 1)[1])
            real_hub = f.hub.url
            f.hub.url = "http://127.0.0.1:%d" % port  # the node's agent goes through the link
            n = f.start_node("edge-1", tier="edge")
            f.hub.url = real_hub
            f.apply({"name": "add-sub", "package": f.ref("1"), "rollout": FAST})
            wait_for(lambda: n.installed_digest() == d1 and n.ready(1), 120, "the package through a flapping link")
            deadline = time.time() + FLAP_SECONDS
            while time.time() < deadline:  # the soak keeps the link flapping longer
                self.assertEqual(n.infer(), 200)
            self.assertEqual(n.agent.count("installed add_sub " + d1), 1, n.agent.log())

    def test_kill_9_agent_during_install(self):
        """The agent killed (SIGKILL) again and again while it pulls and installs a large package:
        each restart resumes, the node ends on the whole new package, never a mix."""
        with Fleet(self) as f:
            d1 = f.publish("1")
            f.start_hub()
            n = f.start_node("edge-1", tier="edge")
            f.apply({"name": "add-sub", "package": f.ref("1"), "rollout": FAST})
            wait_for(lambda: n.installed_digest() == d1 and n.ready(1), 90, "package 1")
            d2 = f.publish("2", versions=(1, 2), weights_bytes=48 << 20)
            f.apply({"name": "add-sub", "package": f.ref("2"), "rollout": FAST})
            for i in range(KILL_ITERATIONS):
                # Killed as soon as it starts applying the document: during the 48 MB pull or the install.
                agent = n.agent
                wait_for(lambda: agent.count("applying desired state") >= 1 or n.installed_digest() == d2, 60,
                         "the agent applying")
                agent.kill()
                self.assertIn(n.installed_digest(), (d1, d2))  # the whole old package or the whole new one
                n.start_agent(ready=False)
            wait_for(lambda: n.installed_digest() == d2 and n.ready(2), 180, "package 2 after the kills")
            self.assertEqual(n.infer(2), 200)
            wait_for(lambda: f.rollout()["phase"] == "succeeded", 60, "the rollout")

    def test_package_deleted_from_the_registry_mid_rollout(self):
        """The new package disappears from the registry after the canary installed it: the next node
        cannot pull it, fails, and the rollout rolls back to the old package, which every node serves."""
        with Fleet(self) as f:
            d1 = f.publish("1")
            f.start_hub()
            nodes = [f.start_node("edge-%d" % i, tier="edge") for i in (1, 2)]
            f.apply({"name": "add-sub", "package": f.ref("1"), "rollout": FAST})
            for n in nodes:
                wait_for(lambda n=n: n.installed_digest() == d1 and n.ready(1), 90, n.name + " on package 1")
            wait_for(lambda: f.rollout()["phase"] == "succeeded", 60, "first rollout")
            d2 = f.publish("2", versions=(1, 2))
            f.apply({"name": "add-sub", "package": f.ref("2"), "rollout": dict(FAST, min_success_ms=3000)})
            wait_for(lambda: any(n.installed_digest() == d2 for n in nodes), 90, "the canary on package 2")
            req = urllib.request.Request("%s/v2/%s/manifests/%s" % (f.registry.url, "models/add_sub", d2),
                                         method="DELETE")
            with urllib.request.urlopen(req, timeout=30) as r:
                self.assertEqual(r.status, 202)
            wait_for(lambda: f.rollout()["phase"] == "rolled_back", 120, "rollback")
            for n in nodes:
                wait_for(lambda n=n: n.installed_digest() == d1 and n.ready(1), 90, n.name + " back on package 1")
                self.assertEqual(n.infer(), 200)


if __name__ == "__main__":
    unittest.main()
