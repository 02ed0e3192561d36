"""End-to-end: dynamic batching merges concurrent requests into fewer executions and gives each
request exactly its own rows back."""
import threading
import unittest

import numpy as np

from harness import Server, infer_body, make_repository


class BatchingTest(unittest.TestCase):
    def test_concurrent_requests_are_merged_and_split_back(self):
        repo = make_repository(["add_sub"], configs={"add_sub": {
            "max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 20000}}})
        with Server(repo) as s:
            n = 16
            results = [None] * n

            def call(i):
                a = np.full((1, 16), float(i), np.float32)
                body = infer_body([("INPUT0", "FP32", [1, 16], a.tolist()), ("INPUT1", "FP32", [1, 16], a.tolist())],
                                  id=str(i))
                conn = s.conn()
                results[i] = s.request("POST", "/v2/models/add_sub/infer", __import__("json").dumps(body), conn=conn)
                conn.close()

            threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            import json
            for i, (status, data, _) in enumerate(results):
                self.assertEqual(status, 200, data)
                out = json.loads(data)
                self.assertEqual(out["id"], str(i))
                o = {x["name"]: x["data"] for x in out["outputs"]}
                self.assertEqual(o["OUTPUT0"], [2.0 * i] * 16)
                self.assertEqual(o["OUTPUT1"], [0.0] * 16)
            stats = s.get("/v2/models/add_sub/stats")[1]["model_stats"][0]
            self.assertEqual(stats["inference_count"], n)
            self.assertEqual(stats["inference_stats"]["success"]["count"], n)
            self.assertLess(stats["execution_count"], n, stats)
            self.assertGreater(max(b["batch_size"] for b in stats["batch_stats"]), 1)

    def test_batching_off_runs_one_by_one(self):
        repo = make_repository(["add_sub"], configs={"add_sub": {"max_batch_size": 8}})
        with Server(repo) as s:
            cfg = s.get("/v2/models/add_sub/config")[1]
            self.assertNotIn("dynamic_batching", cfg)
            body = infer_body([("INPUT0", "FP32", [2, 16], [1.0] * 32), ("INPUT1", "FP32", [2, 16], [1.0] * 32)])
            for _ in range(3):
                self.assertEqual(s.post("/v2/models/add_sub/infer", body)[0], 200)
            stats = s.get("/v2/models/add_sub/stats")[1]["model_stats"][0]
            self.assertEqual(stats["execution_count"], 3)
            self.assertEqual(stats["inference_count"], 6)


if __name__ == "__main__":
    unittest.main()
