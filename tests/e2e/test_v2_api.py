"""End-to-end: the KServe v2 REST API of `continuum serve`, through real sockets."""
import json
import struct
import subprocess
import unittest

import numpy as np

from harness import Server, infer_body, make_repository

DTYPES = {
    # v2 name: (test model suffix, numpy dtype, sample values)
    "BOOL": ("bool", np.bool_, [True, False, True, True]),
    "UINT8": ("uint8", np.uint8, [0, 1, 200, 255]),
    "UINT16": ("uint16", np.uint16, [0, 1, 60000, 65535]),
    "UINT32": ("uint32", np.uint32, [0, 1, 4000000000, 7]),
    "UINT64": ("uint64", np.uint64, [0, 1, 18446744073709551615, 9]),
    "INT8": ("int8", np.int8, [-128, -1, 0, 127]),
    "INT16": ("int16", np.int16, [-32768, -1, 0, 32767]),
    "INT32": ("int32", np.int32, [-2147483648, -1, 0, 2147483647]),
    "INT64": ("int64", np.int64, [-9223372036854775808, -1, 0, 9223372036854775807]),
    "FP16": ("float16", np.float16, [0.5, -2.0, 65504.0, 0.0009765625]),
    "BF16": ("bfloat16", None, [1.0, -2.5, 3.140625, 0.0]),
    "FP32": ("float", np.float32, [1.5, -0.1, 3.4028234663852886e38, 1e-30]),
    "FP64": ("double", np.float64, [1.5, -0.1, 1.7976931348623157e308, 5e-324]),
    "BYTES": ("string", None, ["a", "", "héllo", "x y"]),
}


class V2ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        models = ["add_sub", "fixed_shape", "int_add"] + ["identity_" + v[0] for v in DTYPES.values()]
        cls.repo = make_repository(models)
        cls.server = Server(cls.repo)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_health_and_server_metadata(self):
        self.assertEqual(self.server.get("/v2/health/live"), (200, {"live": True}))
        self.assertEqual(self.server.get("/v2/health/ready"), (200, {"ready": True}))
        status, meta = self.server.get("/v2")
        self.assertEqual(status, 200)
        self.assertEqual(meta["name"], "continuum")
        for ext in ("binary_tensor_data", "model_repository", "statistics"):
            self.assertIn(ext, meta["extensions"])

    def test_model_metadata_is_derived_from_the_graph(self):
        status, meta = self.server.get("/v2/models/add_sub")
        self.assertEqual(status, 200)
        self.assertEqual(meta["name"], "add_sub")
        self.assertEqual(meta["versions"], ["1"])
        self.assertEqual(meta["platform"], "onnxruntime_onnx")
        self.assertEqual(meta["inputs"], [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 16]},
                                          {"name": "INPUT1", "datatype": "FP32", "shape": [-1, 16]}])
        self.assertEqual([o["name"] for o in meta["outputs"]], ["OUTPUT0", "OUTPUT1"])
        self.assertEqual(self.server.get("/v2/models/add_sub/versions/1")[0], 200)
        self.assertEqual(self.server.get("/v2/models/add_sub/ready"), (200, {"name": "add_sub", "ready": True}))
        status, cfg = self.server.get("/v2/models/add_sub/config")
        self.assertEqual(status, 200)
        self.assertEqual(cfg["max_batch_size"], 8)
        self.assertIn("dynamic_batching", cfg)
        self.assertEqual(cfg["execution_provider"], "cpu")
        status, cfg = self.server.get("/v2/models/fixed_shape/config")
        self.assertEqual(cfg["max_batch_size"], 0)
        self.assertNotIn("dynamic_batching", cfg)

    def test_infer_json(self):
        a = np.arange(32, dtype=np.float32).reshape(2, 16)
        b = np.full((2, 16), 0.5, dtype=np.float32)
        body = infer_body([("INPUT0", "FP32", [2, 16], a.tolist()),  # nested data
                           ("INPUT1", "FP32", [2, 16], b.flatten().tolist())],
                          id="req-7", parameters={"custom": "x", "n": 3})
        status, out, resp = self.server.post("/v2/models/add_sub/infer", body)
        self.assertEqual(status, 200, out)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        self.assertEqual(out["id"], "req-7")
        self.assertEqual(out["model_name"], "add_sub")
        self.assertEqual(out["model_version"], "1")
        self.assertEqual(out["parameters"]["custom"], "x")
        outs = {o["name"]: o for o in out["outputs"]}
        self.assertEqual(outs["OUTPUT0"]["datatype"], "FP32")
        self.assertEqual(outs["OUTPUT0"]["shape"], [2, 16])
        np.testing.assert_array_equal(np.array(outs["OUTPUT0"]["data"], np.float32), (a + b).flatten())
        np.testing.assert_array_equal(np.array(outs["OUTPUT1"]["data"], np.float32), (a - b).flatten())
        # The node reports its own time and queue, for routers in front of it.
        on_node = float(resp.getheader("X-Continuum-Compute-Ms"))
        run = float(resp.getheader("X-Continuum-Run-Ms"))
        self.assertGreater(run, 0.0)
        self.assertLessEqual(run, on_node)  # the run, without the queue wait
        self.assertLessEqual(float(resp.getheader("X-Continuum-Engine-Ms")), run)  # its share of the run
        self.assertGreaterEqual(int(resp.getheader("X-Continuum-Queue-Depth")), 0)

    def test_requested_outputs_and_versioned_path(self):
        body = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)],
                          outputs=[{"name": "OUTPUT1"}])
        status, out, _ = self.server.post("/v2/models/add_sub/versions/1/infer", body)
        self.assertEqual(status, 200, out)
        self.assertEqual([o["name"] for o in out["outputs"]], ["OUTPUT1"])
        self.assertEqual(out["outputs"][0]["data"], [-1.0] * 16)
        self.assertNotIn("id", out)

    def test_every_datatype_round_trips_through_json(self):
        for dt, (suffix, npt, values) in DTYPES.items():
            with self.subTest(datatype=dt):
                body = infer_body([("INPUT0", dt, [1, 4], values)])
                status, out, _ = self.server.post("/v2/models/identity_%s/infer" % suffix, body)
                self.assertEqual(status, 200, out)
                o = out["outputs"][0]
                self.assertEqual(o["datatype"], dt)
                self.assertEqual(o["shape"], [1, 4])
                if dt in ("FP32",):
                    np.testing.assert_array_equal(np.array(o["data"], np.float32), np.array(values, np.float32))
                else:
                    self.assertEqual(o["data"], values)

    def test_every_datatype_round_trips_through_binary(self):
        for dt, (suffix, npt, values) in DTYPES.items():
            if dt == "BF16":
                raw = b"".join(struct.pack("<H", struct.unpack("<I", struct.pack("<f", v))[0] >> 16) for v in values)
            elif dt == "BYTES":
                raw = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
            else:
                raw = np.array(values, dtype=npt).tobytes()
            with self.subTest(datatype=dt):
                header = json.dumps({"inputs": [{"name": "INPUT0", "datatype": dt, "shape": [1, 4],
                                                 "parameters": {"binary_data_size": len(raw)}}],
                                     "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}]}).encode()
                status, data, resp = self.server.request(
                    "POST", "/v2/models/identity_%s/infer" % suffix, header + raw,
                    {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"})
                self.assertEqual(status, 200, data)
                n = int(resp.getheader("Inference-Header-Content-Length"))
                meta = json.loads(data[:n])
                o = meta["outputs"][0]
                self.assertEqual(o["parameters"]["binary_data_size"], len(raw))
                self.assertNotIn("data", o)
                self.assertEqual(data[n:], raw)

    def test_binary_data_output_for_all_outputs(self):
        a = np.arange(16, dtype=np.float32)
        body = infer_body([("INPUT0", "FP32", [1, 16], a.tolist()), ("INPUT1", "FP32", [1, 16], a.tolist())],
                          parameters={"binary_data_output": True})
        status, data, resp = self.server.request("POST", "/v2/models/add_sub/infer", json.dumps(body))
        self.assertEqual(status, 200)
        n = int(resp.getheader("Inference-Header-Content-Length"))
        meta = json.loads(data[:n])
        sizes = [o["parameters"]["binary_data_size"] for o in meta["outputs"]]
        self.assertEqual(sizes, [64, 64])
        np.testing.assert_array_equal(np.frombuffer(data[n:n + 64], np.float32), a + a)
        np.testing.assert_array_equal(np.frombuffer(data[n + 64:], np.float32), a - a)

    def test_integer_model_and_stats(self):
        body = infer_body([("INPUT0", "INT64", [1, 8], list(range(8))), ("INPUT1", "INT64", [1, 8], [10] * 8)])
        status, out, _ = self.server.post("/v2/models/int_add/infer", body)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["outputs"][0]["data"], [10 + i for i in range(8)])
        status, stats = self.server.get("/v2/models/int_add/stats")
        self.assertEqual(status, 200)
        s = stats["model_stats"][0]
        self.assertEqual((s["name"], s["version"]), ("int_add", "1"))
        self.assertGreaterEqual(s["inference_stats"]["success"]["count"], 1)
        for k in ("queue", "compute_input", "compute_infer", "compute_output", "fail"):
            self.assertIn("ns", s["inference_stats"][k])
        self.assertGreaterEqual(s["execution_count"], 1)
        self.assertEqual(s["batch_stats"][0]["batch_size"], 1)
        status, all_stats = self.server.get("/v2/models/stats")
        self.assertIn("int_add", [m["name"] for m in all_stats["model_stats"]])

    def test_metrics_pass_promtool(self):
        self.server.post("/v2/models/int_add/infer", infer_body(
            [("INPUT0", "INT64", [1, 8], [1] * 8), ("INPUT1", "INT64", [1, 8], [1] * 8)]))
        status, data, resp = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/plain"))
        text = data.decode()
        for family in ("continuum_inference_request_success_total", "continuum_inference_request_failure_total",
                       "continuum_inference_count_total", "continuum_inference_exec_count_total",
                       "continuum_inference_pending_requests", "continuum_inference_queue_duration_seconds",
                       "continuum_inference_compute_infer_duration_seconds", "continuum_model_load_duration_seconds",
                       "process_resident_memory_bytes"):
            self.assertIn("# TYPE " + family, text)
        self.assertIn('continuum_inference_request_success_total{model="int_add",version="1"}', text)
        try:
            r = subprocess.run(["promtool", "check", "metrics"], input=data, capture_output=True, timeout=60)
        except FileNotFoundError:
            self.skipTest("promtool not installed")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_repository_index(self):
        status, index, _ = self.server.post("/v2/repository/index", {})
        self.assertEqual(status, 200)
        entry = [e for e in index if e["name"] == "add_sub"][0]
        self.assertEqual((entry["version"], entry["state"]), ("1", "READY"))
        # Loading is for explicit mode only, as in Triton.
        status, out, _ = self.server.post("/v2/repository/models/add_sub/unload")
        self.assertEqual(status, 400)
        self.assertIn("explicit", out["error"])


if __name__ == "__main__":
    unittest.main()
