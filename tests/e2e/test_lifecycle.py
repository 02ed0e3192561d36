"""End-to-end: model lifecycle — explicit load/unload, poll mode, version policies, draining on
unload and shutdown, and the bounded queue."""
import json
import os
import shutil
import threading
import unittest

from harness import MODELS, Server, infer_body, make_repository

ADD = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
SLOW = infer_body([("x", "FP32", [1, 1], [3.0])])


def add_version(repo, model, version, source="add_sub"):
    d = os.path.join(repo, model, str(version))
    os.makedirs(d)
    os.symlink(os.path.join(os.path.abspath(MODELS), source, "1", "model.onnx"), os.path.join(d, "model.onnx"))


def pending_requests(server, model):
    """The server's count of requests for `model` received and not yet answered."""
    text = server.request("GET", "/metrics")[1].decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("continuum_inference_pending_requests{") and 'model="%s"' % model in line)


def wait_received(server, model, results, n):
    """Waits until the server has received all `n` requests: each one is either still pending
    there or already answered (and in `results`). The server stops counting a request as pending
    before it answers, so the sum never runs ahead of what was received."""
    server.wait(lambda: pending_requests(server, model) + len(results) >= n,
                what="%d requests to reach the server" % n)


class LifecycleTest(unittest.TestCase):
    def test_explicit_load_and_unload(self):
        repo = make_repository(["add_sub", "int_add"])
        with Server(repo, "--model-control-mode", "explicit", "--load-model", "int_add") as s:
            self.assertEqual(s.get("/v2/models/int_add/ready")[0], 200)
            self.assertEqual(s.get("/v2/models/add_sub/ready"), (400, {"name": "add_sub", "ready": False}))
            status, index, _ = s.post("/v2/repository/index", {})
            self.assertIn({"name": "add_sub", "state": "UNAVAILABLE", "reason": "unloaded"}, index)
            self.assertEqual(s.post("/v2/repository/models/add_sub/load")[0], 200)
            self.assertEqual(s.post("/v2/models/add_sub/infer", ADD)[0], 200)
            status, index, _ = s.post("/v2/repository/index", {"ready": True})
            self.assertEqual(sorted(e["name"] for e in index), ["add_sub", "int_add"])
            self.assertEqual(s.post("/v2/repository/models/add_sub/unload")[0], 200)
            self.assertEqual(s.post("/v2/models/add_sub/infer", ADD)[0], 404)
            self.assertEqual(s.post("/v2/repository/models/missing/load")[0], 404)
            self.assertEqual(s.post("/v2/repository/models/add_sub/unload")[0], 404)

    def test_version_policies(self):
        repo = make_repository(["add_sub"])
        add_version(repo, "add_sub", 2)
        add_version(repo, "add_sub", 3)
        cases = [({}, ["3"]),
                 ({"version_policy": {"latest": {"num_versions": 2}}}, ["2", "3"]),
                 ({"version_policy": {"all": {}}}, ["1", "2", "3"]),
                 ({"version_policy": {"specific": {"versions": [1, 3]}}}, ["1", "3"])]
        for cfg, versions in cases:
            with self.subTest(config=cfg):
                with open(os.path.join(repo, "add_sub", "config.json"), "w") as f:
                    json.dump(cfg, f)
                with Server(repo) as s:
                    self.assertEqual(s.get("/v2/models/add_sub")[1]["versions"], versions)
                    for v in ("1", "2", "3"):
                        status, out, _ = s.post("/v2/models/add_sub/versions/%s/infer" % v, ADD)
                        self.assertEqual(status, 200 if v in versions else 404, out)
                    status, out, _ = s.post("/v2/models/add_sub/infer", ADD)
                    self.assertEqual(out["model_version"], versions[-1])

    def test_poll_mode_follows_the_repository(self):
        repo = make_repository(["add_sub"])
        with Server(repo, "--model-control-mode", "poll", "--repository-poll-secs", "1") as s:
            self.assertEqual(s.get("/v2/models/add_sub")[1]["versions"], ["1"])
            add_version(repo, "add_sub", 2)
            s.wait(lambda: s.get("/v2/models/add_sub")[1]["versions"] == ["2"], what="version 2")
            # A new model appears, then the first one goes away.
            shutil.copytree(os.path.join(repo, "add_sub"), os.path.join(repo, "copy"), symlinks=True)
            s.wait(lambda: s.get("/v2/models/copy/ready")[0] == 200, what="new model")
            shutil.rmtree(os.path.join(repo, "add_sub"))
            s.wait(lambda: s.get("/v2/models/add_sub/ready")[0] == 404, what="removal")
            # A config change is applied without a restart.
            with open(os.path.join(repo, "copy", "config.json"), "w") as f:
                json.dump({"max_batch_size": 4}, f)
            s.wait(lambda: s.get("/v2/models/copy/config")[1]["max_batch_size"] == 4, what="config change")
            # A broken config keeps the served version up and says why in the index.
            with open(os.path.join(repo, "copy", "config.json"), "w") as f:
                f.write('{"max_batch_size": "lots"}')
            def broken():
                index = s.post("/v2/repository/index", {})[1]
                return any("max_batch_size" in e.get("reason", "") for e in index)
            s.wait(broken, what="config error in index")
            self.assertEqual(s.post("/v2/models/copy/infer", ADD)[0], 200)

    def test_unload_and_shutdown_wait_for_in_flight_requests(self):
        repo = make_repository(["slow"], configs={"slow": {"max_batch_size": 0, "warmup": False}})
        s = Server(repo, "--model-control-mode", "explicit", "--load-model", "slow")
        results = []

        def call():
            results.append(s.post("/v2/models/slow/infer", SLOW)[0])

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        wait_received(s, "slow", results, 4)  # queued or running
        status, out, _ = s.post("/v2/repository/models/slow/unload")
        self.assertEqual(status, 200, out)
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 4)
        # Shutdown drains as well.
        self.assertEqual(s.post("/v2/repository/models/slow/load")[0], 200)
        results.clear()
        threads = [threading.Thread(target=call) for _ in range(3)]
        for t in threads:
            t.start()
        wait_received(s, "slow", results, 3)
        self.assertEqual(s.stop(), 0)
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 3)

    def test_full_queue_answers_503_with_retry_after(self):
        repo = make_repository(["slow"], configs={"slow": {"max_batch_size": 0, "limits": {"max_queue_size": 2}}})
        with Server(repo) as s:
            statuses, retry = [], []

            def call():
                st, out, resp = s.post("/v2/models/slow/infer", SLOW)
                statuses.append(st)
                if st == 503:
                    retry.append(resp.getheader("Retry-After"))
                    self.assertIn("queue full", out["error"])

            threads = [threading.Thread(target=call) for _ in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertIn(503, statuses)
            self.assertIn(200, statuses)
            self.assertEqual(set(retry), {"1"})
            metrics = s.request("GET", "/metrics")[1].decode()
            self.assertIn('continuum_inference_request_failure_total{model="slow",reason="QUEUE_FULL",version="1"}',
                          metrics.replace('version="1",reason="QUEUE_FULL"', 'reason="QUEUE_FULL",version="1"'))

    def test_queue_byte_budget_refuses_a_larger_request(self):
        # ADD carries 2 x 16 FP32 = 128 bytes of tensors.
        repo = make_repository(["add_sub", "int_add"], configs={"add_sub": {"limits": {"max_queue_bytes": 100}},
                                                                 "int_add": {"limits": {"max_queue_bytes": 4096}}})
        with Server(repo, "--max-queue-bytes", "64") as s:
            status, out = s.post("/v2/models/add_sub/infer", ADD)[:2]
            self.assertEqual(status, 413, out)
            self.assertIn("128 bytes", out["error"])
            self.assertIn("limits.max_queue_bytes", out["error"])
            self.assertEqual(s.get("/v2/models/add_sub/config")[1]["limits"]["max_queue_bytes"], 64)
            # The flag caps what a config asks for.
            self.assertEqual(s.get("/v2/models/int_add/config")[1]["limits"]["max_queue_bytes"], 64)
        with Server(make_repository(["add_sub"])) as s:
            self.assertEqual(s.post("/v2/models/add_sub/infer", ADD)[0], 200)

    def test_cuda_preference_falls_back_to_cpu_and_says_so(self):
        repo = make_repository(["add_sub"], configs={"add_sub": {"execution_providers": ["cuda", "cpu"]}})
        with Server(repo) as s:
            cfg = s.get("/v2/models/add_sub/config")[1]
            if cfg["execution_provider"] == "cuda":
                self.skipTest("a GPU is present")
            self.assertEqual(cfg["execution_provider"], "cpu")
            self.assertIn("CUDA", cfg["execution_provider_fallback"])
            self.assertEqual(s.post("/v2/models/add_sub/infer", ADD)[0], 200)


if __name__ == "__main__":
    unittest.main()
