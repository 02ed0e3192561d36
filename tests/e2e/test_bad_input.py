"""End-to-end: malformed and hostile requests get the right status and a JSON error, and the
server stays up and keeps answering."""
import json
import select
import socket
import time
import unittest

from harness import Server, infer_body, make_repository

GOOD = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = make_repository(["add_sub", "fixed_shape"], bad=["not_onnx", "external_escape"])
        cls.server = Server(cls.repo, "--max-body-bytes", "100000", "--header-timeout-ms", "500",
                            "--body-timeout-ms", "500", wait_ready=False)
        cls.server.wait(lambda: cls.server.get("/v2/models/add_sub/ready")[0] == 200, what="add_sub")

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        assert rc == 0, "server exit code %s" % rc

    def expect_error(self, status, body, path="/v2/models/add_sub/infer", headers=None, contains=()):
        got, data, resp = self.server.request("POST", path, body, headers)
        self.assertEqual(got, status, data)
        self.assertTrue(resp.getheader("Content-Type", "").startswith("application/json"))
        err = json.loads(data)["error"]
        for c in contains:
            self.assertIn(c, err)
        return err

    def tearDown(self):
        # Whatever the test sent, the server must still answer a good request.
        status, out, _ = self.server.post("/v2/models/add_sub/infer", GOOD)
        self.assertEqual(status, 200, out)

    def test_malformed_json(self):
        self.expect_error(400, '{"inputs": [', contains=("JSON",))
        self.expect_error(400, "not json at all")
        self.expect_error(400, "")

    def test_deeply_nested_json(self):
        self.expect_error(400, '{"inputs":' + "[" * 5000 + "]" * 5000 + "}")
        data = "[" * 40 + "1.0" + "]" * 40
        self.expect_error(400, '{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":%s}]}' % data)

    def test_unknown_model_and_version(self):
        err = self.expect_error(404, json.dumps(GOOD), path="/v2/models/nope/infer")
        self.assertIn("nope", err)
        self.expect_error(404, json.dumps(GOOD), path="/v2/models/add_sub/versions/9/infer")
        self.expect_error(400, json.dumps(GOOD), path="/v2/models/add_sub/versions/x/infer")
        self.assertEqual(self.server.get("/v2/models/nope")[0], 404)
        self.assertEqual(self.server.get("/v2/nothing/here")[0], 404)

    def test_wrong_method(self):
        status, data, resp = self.server.request("GET", "/v2/models/add_sub/infer")
        self.assertEqual(status, 405)
        self.assertEqual(resp.getheader("Allow"), "POST")

    def test_wrong_datatype_rank_shape(self):
        body = infer_body([("INPUT0", "FP64", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
        self.expect_error(400, json.dumps(body), contains=("INPUT0", "FP64", "FP32"))
        body = infer_body([("INPUT0", "FP32", [16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
        self.expect_error(400, json.dumps(body), contains=("INPUT0", "rank"))
        body = infer_body([("INPUT0", "FP32", [2, 8], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
        self.expect_error(400, json.dumps(body), contains=("INPUT0", "dimension 1"))
        body = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16)])
        self.expect_error(400, json.dumps(body), contains=("missing input", "INPUT1"))
        body = infer_body([("INPUT0", "FLOAT", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
        self.expect_error(400, json.dumps(body), contains=("FLOAT",))
        body = infer_body([("INPUT0", "FP32", [9, 16], [1.0] * 144), ("INPUT1", "FP32", [9, 16], [2.0] * 144)])
        self.expect_error(400, json.dumps(body), contains=("max_batch_size",))
        body = dict(GOOD, outputs=[{"name": "NOPE"}])
        self.expect_error(400, json.dumps(body), contains=("NOPE",))

    def test_element_count_overflow_and_data_length(self):
        body = infer_body([("INPUT0", "FP32", [4294967296, 4294967296], [1.0]), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
        self.expect_error(400, json.dumps(body), contains=("inputs[0].shape", "elements"))
        body = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 15), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
        self.expect_error(400, json.dumps(body), contains=("inputs[0]",))
        body = infer_body([("INPUT0", "FP32", [1, -16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
        self.expect_error(400, json.dumps(body))

    def test_binary_section_shorter_or_longer_than_declared(self):
        header = json.dumps({"inputs": [
            {"name": "INPUT0", "datatype": "FP32", "shape": [1, 16], "parameters": {"binary_data_size": 64}},
            {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16], "parameters": {"binary_data_size": 64}}]}).encode()
        h = {"Inference-Header-Content-Length": str(len(header))}
        self.expect_error(400, header + b"\0" * 100, headers=h)
        self.expect_error(400, header + b"\0" * 130, headers=h)
        self.expect_error(400, header + b"\0" * 128, headers={"Inference-Header-Content-Length": "99999"})
        self.expect_error(400, header + b"\0" * 128, headers={"Inference-Header-Content-Length": "abc"})
        status, _, _ = self.server.request("POST", "/v2/models/add_sub/infer", header + b"\0" * 128, h)
        self.assertEqual(status, 200)

    def test_body_over_limit_is_413(self):
        got, data, _ = self.server.request("POST", "/v2/models/add_sub/infer", b"x" * 200000)
        self.assertEqual(got, 413)
        self.assertIn("error", json.loads(data))

    def test_slow_and_half_sent_requests_time_out(self):
        # Headers dribbled one byte every 50 ms (the slow client is the behaviour under test) past
        # the header timeout (500 ms; the header needs 2.5 s at this pace). The client stops
        # sending as soon as the server has answered, so the answer is read, not lost to a reset.
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        start = time.time()
        answered = False
        for ch in b"POST /v2/models/add_sub/infer HTTP/1.1\r\nHost: x\r\n":
            s.sendall(bytes([ch]))
            if select.select([s], [], [], 0.05)[0]:
                answered = True
                break
        self.assertTrue(answered, "the server never answered a header dribbled past its timeout")
        got = s.recv(4096)
        s.close()
        self.assertLess(time.time() - start, 4)
        self.assertIn(b"408", got.split(b"\r\n")[0], got)
        # A body that never completes.
        out = self.server.raw(b"POST /v2/models/add_sub/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"in")
        self.assertIn(b"408", out.split(b"\r\n")[0])

    def test_garbage_http(self):
        out = self.server.raw(b"\x00\x01\x02 not http\r\n\r\n")
        self.assertTrue(out == b"" or b"400" in out.split(b"\r\n")[0], out)

    def test_bad_model_files_are_reported_not_served(self):
        # Models load one by one: add_sub (waited for in setUpClass) may be ready before the bad
        # files have been tried, and until then the index lists them as not yet loaded.
        def attempted():
            index = self.server.post("/v2/repository/index", {})[1]
            reasons = {e["name"]: e.get("reason") for e in index}
            return all(reasons.get(n) not in (None, "unloaded") for n in ("not_onnx", "external_escape"))
        self.server.wait(attempted, what="load attempts of the bad model files")
        status, index, _ = self.server.post("/v2/repository/index", {})
        by_name = {e["name"]: e for e in index}
        self.assertEqual(by_name["not_onnx"]["state"], "UNAVAILABLE")
        self.assertIn("not an ONNX model", by_name["not_onnx"]["reason"])
        self.assertEqual(by_name["external_escape"]["state"], "UNAVAILABLE")
        self.assertIn("outside the model's folder", by_name["external_escape"]["reason"])
        self.assertEqual(self.server.get("/v2/models/not_onnx/ready")[0], 400)
        self.assertEqual(self.server.get("/v2/health/ready")[0], 400)  # not every model is ready


if __name__ == "__main__":
    unittest.main()
