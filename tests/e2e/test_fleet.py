"""The fleet end to end, real processes over real sockets: a registry, `continuum hub`, three nodes
(device, edge, cloud), each `continuum serve` with a `continuum agent` beside it, and
`continuum gateway --hub`.

- a deployment reaches the nodes its constraint selects, in batches, and the gateway routes to the
  version the rollout brings, learning the topology from the hub;
- a package that fails its health check on the canary is rolled back there and reaches no other node;
- the hub killed: the nodes keep answering (0 failures) while an agent restarts; the hub back: the
  agents reconnect without reinstalling anything;
- a desired state signed by another key is refused and nothing is installed.
"""
import json
import os
import signal
import subprocess
import time
import unittest

from fleet import Fleet, Proc, http_json, run, wait_for
from harness import BIN

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
            for _ in range(50):
                for n in nodes:
                    failures += n.infer() != 200
            self.assertEqual(failures, 0)
            wait_for(lambda: nodes[0].agent.count("unreachable") >= 1 or nodes[0].agent.count("cannot reach") >= 1,
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


if __name__ == "__main__":
    unittest.main()
