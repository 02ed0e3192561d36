"""End-to-end: requests whose clients give up are dropped before they run. A slow model with one
instance is held busy by one request; clients that send a request and close their connection at
once leave nothing to compute: the scheduler drops their requests unrun (counted as
continuum_inference_request_failure_total{reason="CANCELED"}), and the model runs fewer times than
requests were sent. Through `continuum gateway` the same holds: a client leaving the gateway makes
the gateway cancel its upstream call, and the node drops the request."""
import json
import os
import re
import socket
import tempfile
import unittest

from harness import Server, infer_body, make_repository, metric
from test_gateway import Gateway

SLOW = json.dumps(infer_body([("x", "FP32", [1, 1], [3.0])])).encode()
REQUEST = (b"POST /v2/models/slow/infer HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(SLOW)) + SLOW
STRAGGLER_MS = 2000  # every run of the model takes this much longer: the blocker holds the instance
GIVING_UP = 8


def counts(s):
    def m(family, **labels):
        return int(metric(s, family, model="slow", **labels))
    return {"cancelled": m("continuum_inference_request_failure_total", reason="CANCELED"),
            "success": m("continuum_inference_request_success_total"),
            "pending": m("continuum_inference_pending_requests"),
            "runs": m("continuum_inference_exec_count_total"),
            "rows": m("continuum_inference_count_total")}


def slow_node():
    repo = make_repository(["slow"], configs={"slow": {"max_batch_size": 0, "warmup": False}})
    return Server(repo, "--inject-straggler-fraction", "1", "--inject-straggler-ms", str(STRAGGLER_MS))


def print_saved(where, sent, c):
    print("\ncancellation%s: %d requests sent, %d dropped unrun; the model ran %d times (%d rows); "
          "compute saved: %d of %d runs (about %d ms of instance time)"
          % (where, sent, c["cancelled"], c["runs"], c["rows"], sent - c["runs"], sent,
             (sent - c["runs"]) * STRAGGLER_MS))


class CancelTest(unittest.TestCase):
    def test_clients_that_give_up_cost_no_compute(self):
        with slow_node() as s:
            blocker = socket.create_connection(("127.0.0.1", s.port), timeout=60)
            blocker.sendall(REQUEST)
            s.wait(lambda: counts(s)["pending"] == 1, what="the blocking request to reach the server")
            for _ in range(GIVING_UP):
                c = socket.create_connection(("127.0.0.1", s.port), timeout=60)
                c.sendall(REQUEST)
                c.close()
            # Every request is accounted for: answered, or dropped because its client went away.
            s.wait(lambda: counts(s)["cancelled"] + counts(s)["success"] == GIVING_UP + 1, timeout=120,
                   what="every request answered or dropped")
            answer = blocker.recv(65536)
            blocker.close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])
            c = counts(s)
            sent = GIVING_UP + 1
            print_saved("", sent, c)
            self.assertGreaterEqual(c["cancelled"], 1)
            self.assertEqual(c["runs"], c["success"])
            self.assertLess(c["rows"], sent)
            self.assertEqual(c["pending"], 0)
            # The server serves on.
            self.assertEqual(s.get("/v2/health/ready")[0], 200)

    def test_clients_that_leave_the_gateway_cost_no_compute_on_the_node(self):
        tmp = tempfile.mkdtemp(prefix="continuum-cancel-gw-")
        with slow_node() as node:
            topology = {"schema_version": 1,
                        "nodes": [{"name": "edge", "url": "http://127.0.0.1:%d" % node.port, "tier": "edge",
                                   "models": [{"name": "slow", "versions": [1]}]}]}
            path = os.path.join(tmp, "topology.json")
            with open(path, "w") as f:
                json.dump(topology, f)
            with Gateway(path) as gw:
                blocker = socket.create_connection(("127.0.0.1", gw.port), timeout=60)
                blocker.sendall(REQUEST)
                node.wait(lambda: counts(node)["pending"] == 1, what="the blocking request to reach the node")
                # Every client's request has reached the node's queue before the client leaves: what
                # the node drops is what the gateway cancelled for the client.
                clients = []
                for _ in range(GIVING_UP):
                    c = socket.create_connection(("127.0.0.1", gw.port), timeout=60)
                    c.sendall(REQUEST)
                    clients.append(c)
                node.wait(lambda: counts(node)["pending"] == GIVING_UP + 1, timeout=60,
                          what="every request queued on the node")
                for c in clients:
                    c.close()
                node.wait(lambda: counts(node)["cancelled"] == GIVING_UP, timeout=120,
                          what="the node to drop every request whose client left the gateway")
                answer = blocker.recv(65536)
                blocker.close()
                self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])
                node.wait(lambda: counts(node)["pending"] == 0, what="the node's queue to empty")
                c = counts(node)
                print_saved(" through the gateway", GIVING_UP + 1, c)
                self.assertEqual(c["runs"], 1)
                self.assertEqual(c["success"], 1)
                # A client that left is no failure of the nodes.
                text = gw.request("GET", "/metrics")[1].decode()
                failures = re.search(r"^continuum_gateway_failures_total (\S+)$", text, re.M)
                self.assertIsNotNone(failures, text[:2000])
                self.assertEqual(float(failures.group(1)), 0)
                self.assertEqual(gw.get("/v2/health/ready")[0], 200)


if __name__ == "__main__":
    unittest.main()
