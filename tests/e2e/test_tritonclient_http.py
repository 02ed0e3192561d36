"""End-to-end: the KServe v2 REST endpoint of `continuum serve`, spoken to by Triton's own HTTP
client (tritonclient[http], pinned in tools/pyclients.txt; run with the venv tools/pyclients.sh
makes). The client library is used unchanged: whatever it cannot read is a bug of the node."""
import gzip
import json
import os
import unittest
import zlib

import gevent.ssl
import numpy as np
from geventhttpclient.response import HTTPConnectionClosed
import tritonclient.http as hc
from tritonclient.utils import InferenceServerException

from harness import Server, make_repository

MODELS = ["add_sub", "fixed_shape", "identity_string", "identity_int32", "identity_float16", "identity_bool"]


def tensor(name, array, datatype, binary):
    t = hc.InferInput(name, list(array.shape), datatype)
    t.set_data_from_numpy(array, binary_data=binary)
    return t


class TritonHttpClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = make_repository(MODELS)
        cls.server = Server(cls.repo)
        cls.client = hc.InferenceServerClient(url="127.0.0.1:%d" % cls.server.port, concurrency=4)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop()

    def add_sub(self, binary, **kwargs):
        a = np.arange(32, dtype=np.float32).reshape(2, 16)
        b = np.full((2, 16), 0.5, dtype=np.float32)
        inputs = [tensor("INPUT0", a, "FP32", binary), tensor("INPUT1", b, "FP32", binary)]
        outputs = [hc.InferRequestedOutput("OUTPUT0", binary_data=binary),
                   hc.InferRequestedOutput("OUTPUT1", binary_data=binary)]
        return a, b, self.client.infer("add_sub", inputs, outputs=outputs, **kwargs)

    def test_health_and_metadata(self):
        self.assertTrue(self.client.is_server_live())
        self.assertTrue(self.client.is_server_ready())
        self.assertTrue(self.client.is_model_ready("add_sub"))
        self.assertTrue(self.client.is_model_ready("add_sub", "1"))
        self.assertFalse(self.client.is_model_ready("add_sub", "7"))
        self.assertFalse(self.client.is_model_ready("missing"))
        meta = self.client.get_server_metadata()
        self.assertEqual(meta["name"], "continuum")
        self.assertIn("binary_tensor_data", meta["extensions"])
        m = self.client.get_model_metadata("add_sub")
        self.assertEqual((m["name"], m["versions"], m["platform"]), ("add_sub", ["1"], "onnxruntime_onnx"))
        self.assertEqual([(t["name"], t["datatype"], t["shape"]) for t in m["inputs"]],
                         [("INPUT0", "FP32", [-1, 16]), ("INPUT1", "FP32", [-1, 16])])
        self.assertEqual(self.client.get_model_metadata("add_sub", "1")["versions"], ["1"])
        cfg = self.client.get_model_config("add_sub")
        self.assertEqual(cfg["name"], "add_sub")
        self.assertEqual([t["name"] for t in cfg["outputs"]], ["OUTPUT0", "OUTPUT1"])
        index = {m["name"]: m["state"] for m in self.client.get_model_repository_index()}
        self.assertEqual(index, {m: "READY" for m in MODELS})

    def test_infer_fp32_json_and_binary(self):
        for binary in (False, True):
            with self.subTest(binary=binary):
                a, b, r = self.add_sub(binary, request_id="req-%d" % binary)
                self.assertEqual(r.get_response()["id"], "req-%d" % binary)
                self.assertEqual(r.get_response()["model_name"], "add_sub")
                self.assertEqual(r.get_response()["model_version"], "1")
                np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
                np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)
                self.assertEqual(r.get_output("OUTPUT0")["shape"], [2, 16])

    def test_only_requested_outputs(self):
        a = np.ones((1, 16), dtype=np.float32)
        r = self.client.infer("add_sub", [tensor("INPUT0", a, "FP32", True), tensor("INPUT1", a, "FP32", False)],
                              outputs=[hc.InferRequestedOutput("OUTPUT1", binary_data=True)])
        np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), np.zeros((1, 16), dtype=np.float32))
        self.assertIsNone(r.as_numpy("OUTPUT0"))

    def test_infer_int32_bytes_fp16_bool(self):
        cases = [
            ("identity_int32", "INT32", np.array([[-2147483648, -1, 0, 2147483647]], dtype=np.int32)),
            ("identity_string", "BYTES", np.array([[b"a", b"", "h\u00e9llo".encode(), b"x y"]], dtype=np.object_)),
            ("identity_float16", "FP16", np.array([[0.5, -2.0, 65504.0, 0.0009765625]], dtype=np.float16)),
            ("identity_bool", "BOOL", np.array([[True, False, False, True]], dtype=np.bool_)),
        ]
        for model, dtype, x in cases:
            for binary in (False, True):
                if dtype == "FP16" and not binary:
                    continue  # the client refuses FP16 as JSON: binary only, as in Triton
                with self.subTest(model=model, binary=binary):
                    r = self.client.infer(model, [tensor("INPUT0", x, dtype, binary)],
                                          outputs=[hc.InferRequestedOutput("OUTPUT0", binary_data=binary)])
                    self.assertEqual(r.get_output("OUTPUT0")["datatype"], dtype)
                    want = x
                    if dtype == "BYTES" and not binary:  # JSON strings: the client gives str, as from Triton
                        want = np.array([[v.decode() for v in row] for row in x], dtype=np.object_)
                    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), want)

    def test_bytes_from_str_objects(self):
        s = np.array([["a", "", "h\u00e9llo", "x y"]], dtype=np.object_)
        for binary in (False, True):
            with self.subTest(binary=binary):
                r = self.client.infer("identity_string", [tensor("INPUT0", s, "BYTES", binary)],
                                      outputs=[hc.InferRequestedOutput("OUTPUT0", binary_data=binary)])
                got = r.as_numpy("OUTPUT0")
                self.assertEqual([[v.decode() if isinstance(v, bytes) else v for v in row] for row in got],
                                 s.tolist())

    def test_custom_parameters_are_echoed(self):
        _, _, r = self.add_sub(True, request_id="p1", parameters={"tenant_tag": "blue", "n": 3, "flag": True})
        self.assertEqual(r.get_response()["id"], "p1")
        self.assertEqual(r.get_response().get("parameters", {}).get("tenant_tag"), "blue")

    def test_async_infer(self):
        x = np.arange(4, dtype=np.int32).reshape(1, 4)
        pending = [self.client.async_infer("identity_int32", [tensor("INPUT0", x + k, "INT32", k % 2 == 0)],
                                           request_id=str(k)) for k in range(6)]
        for k, p in enumerate(pending):
            r = p.get_result()
            self.assertEqual(r.get_response()["id"], str(k))
            np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), x + k)

    def test_compression(self):
        for req_alg in (None, "gzip", "deflate"):
            for resp_alg in (None, "gzip", "deflate"):
                with self.subTest(request=req_alg, response=resp_alg):
                    a, b, r = self.add_sub(req_alg != "deflate", request_compression_algorithm=req_alg,
                                           response_compression_algorithm=resp_alg)
                    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
                    np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)
        # The answer really travels compressed when asked for (the client inflates it unseen).
        body = json.dumps({"inputs": [{"name": n, "datatype": "FP32", "shape": [1, 16], "data": [1.0] * 16}
                                      for n in ("INPUT0", "INPUT1")]})
        for alg, decode in (("gzip", gzip.decompress), ("deflate", zlib.decompress)):
            status, data, resp = self.server.request("POST", "/v2/models/add_sub/infer", body,
                                                     {"Accept-Encoding": alg})
            self.assertEqual((status, resp.getheader("Content-Encoding")), (200, alg))
            self.assertEqual(json.loads(decode(data))["outputs"][0]["data"], [2.0] * 16)

    def error(self, fn, *args, **kwargs):
        with self.assertRaises(InferenceServerException) as cm:
            fn(*args, **kwargs)
        return cm.exception

    def test_errors_name_the_problem(self):
        x = np.zeros((1, 4), dtype=np.int32)
        e = self.error(self.client.infer, "missing", [tensor("INPUT0", x, "INT32", False)])
        self.assertEqual(e.status(), "404")
        self.assertIn("missing", e.message())
        e = self.error(self.client.get_model_metadata, "missing")
        self.assertEqual(e.status(), "404")
        self.assertIn("missing", e.message())
        for binary in (False, True):
            with self.subTest(binary=binary):
                y = np.zeros((1, 3, 4, 5), dtype=np.float32)  # fixed_shape takes [1,3,224,224]-like dims
                e = self.error(self.client.infer, "fixed_shape", [tensor("x", y, "FP32", binary)])
                self.assertEqual(e.status(), "400")
                self.assertIn("x", e.message())
                self.assertIn("shape", e.message())
                e = self.error(self.client.infer, "identity_int32",
                               [tensor("INPUT0", x.astype(np.float32), "FP32", binary)])
                self.assertEqual(e.status(), "400")
                self.assertIn("INPUT0", e.message())
                self.assertIn("FP32", e.message())
                e = self.error(self.client.infer, "identity_int32",
                               [tensor("NOPE", x, "INT32", binary)])
                self.assertEqual(e.status(), "400")
                self.assertIn("NOPE", e.message())

    def test_unimplemented_extensions_are_refused_by_name(self):
        # Classification and shared memory would change where or in what form the answer comes:
        # refused with 400 naming the parameter, never ignored.
        a = np.ones((1, 16), dtype=np.float32)
        inputs = [tensor("INPUT0", a, "FP32", True), tensor("INPUT1", a, "FP32", True)]
        e = self.error(self.client.infer, "add_sub", inputs,
                       outputs=[hc.InferRequestedOutput("OUTPUT0", class_count=3)])
        self.assertEqual(e.status(), "400")
        self.assertIn("outputs[0].parameters.classification", e.message())
        out = hc.InferRequestedOutput("OUTPUT0")
        out.set_shared_memory("region", 64)
        e = self.error(self.client.infer, "add_sub", inputs, outputs=[out])
        self.assertEqual(e.status(), "400")
        self.assertIn("outputs[0].parameters.shared_memory_region", e.message())
        self.assertNotIn("shared_memory", " ".join(self.client.get_server_metadata()["extensions"]))

    def test_versioned_infer(self):
        a = np.ones((1, 16), dtype=np.float32)
        inputs = [tensor("INPUT0", a, "FP32", True), tensor("INPUT1", a, "FP32", True)]
        r = self.client.infer("add_sub", inputs, model_version="1")
        self.assertEqual(r.get_response()["model_version"], "1")
        np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), 2 * a)
        e = self.error(self.client.infer, "add_sub", inputs, model_version="9")
        self.assertEqual(e.status(), "404")
        self.assertIn("9", e.message())

    def test_statistics(self):
        x = np.zeros((1, 4), dtype=np.int32)
        before = self.client.get_inference_statistics("identity_int32")["model_stats"][0]["inference_count"]
        self.client.infer("identity_int32", [tensor("INPUT0", x, "INT32", True)])
        stats = self.client.get_inference_statistics("identity_int32")["model_stats"]
        self.assertEqual([(s["name"], s["version"]) for s in stats], [("identity_int32", "1")])
        self.assertEqual(stats[0]["inference_count"], before + 1)
        self.assertGreaterEqual(stats[0]["inference_stats"]["success"]["count"], 1)
        self.assertEqual(self.client.get_inference_statistics("identity_int32", "1")["model_stats"][0]["version"], "1")
        names = {s["name"] for s in self.client.get_inference_statistics()["model_stats"]}
        self.assertEqual(names, set(MODELS))


class TritonHttpLimitsTest(unittest.TestCase):
    def test_inflated_body_is_held_to_max_body_bytes(self):
        repo = make_repository(["add_sub"])
        with Server(repo, "--max-body-bytes", "4096") as s:
            client = hc.InferenceServerClient(url="127.0.0.1:%d" % s.port)
            a = np.zeros((64, 16), dtype=np.float32)  # about 6 KiB of JSON, a few hundred bytes gzipped
            inputs = [tensor("INPUT0", a, "FP32", False), tensor("INPUT1", a, "FP32", False)]
            with self.assertRaises(InferenceServerException) as cm:
                client.infer("add_sub", inputs, request_compression_algorithm="gzip")
            self.assertEqual(cm.exception.status(), "413")
            self.assertIn("inflates to more than 4096 bytes (--max-body-bytes)", cm.exception.message())
            small = [tensor("INPUT0", a[:2], "FP32", False), tensor("INPUT1", a[:2], "FP32", False)]
            r = client.infer("add_sub", small, request_compression_algorithm="gzip")
            np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a[:2])
            client.close()


class TritonHttpRepositoryTest(unittest.TestCase):
    def test_index_load_unload(self):
        repo = make_repository(["add_sub", "int_add"])
        with Server(repo, "--model-control-mode", "explicit", "--load-model", "int_add") as s:
            client = hc.InferenceServerClient(url="127.0.0.1:%d" % s.port)
            index = {m["name"]: m["state"] for m in client.get_model_repository_index()}
            self.assertEqual(index, {"add_sub": "UNAVAILABLE", "int_add": "READY"})
            self.assertFalse(client.is_model_ready("add_sub"))
            client.load_model("add_sub")
            self.assertTrue(client.is_model_ready("add_sub"))
            a = np.ones((1, 16), dtype=np.float32)
            r = client.infer("add_sub", [tensor("INPUT0", a, "FP32", True), tensor("INPUT1", a, "FP32", True)])
            np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), 2 * a)
            client.unload_model("add_sub")
            self.assertFalse(client.is_model_ready("add_sub"))
            with self.assertRaises(InferenceServerException) as cm:
                client.load_model("missing")
            self.assertEqual(cm.exception.status(), "404")
            self.assertIn("missing", cm.exception.message())
            with self.assertRaises(InferenceServerException) as cm:
                client.load_model("add_sub", config='{"max_batch_size": 1}')
            self.assertEqual(cm.exception.status(), "400")
            self.assertIn("config", cm.exception.message())
            self.assertFalse(client.is_model_ready("add_sub"))
            client.close()


class TritonHttpTlsTest(unittest.TestCase):
    """HTTPS with client certificates required (--tls-client-ca alone means require), spoken to
    by Triton's HTTP client with its own ssl arguments, unchanged."""

    @classmethod
    def setUpClass(cls):
        cls.pki = os.environ["CONTINUUM_TEST_PKI"]
        cls.repo = make_repository(["add_sub"])
        cls.server = Server(cls.repo, "--tls-cert", cls.file("server.pem"), "--tls-key", cls.file("server.key"),
                            "--tls-client-ca", cls.file("ca.pem"), wait_ready=False)
        cls.url = "127.0.0.1:%d" % cls.server.port
        cls.client = cls.tls_client("ca", "client")
        cls.server.wait(cls.client.is_server_ready, what="readiness over HTTPS")

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop()

    @classmethod
    def file(cls, name):
        return os.path.join(cls.pki, name)

    @classmethod
    def tls_client(cls, ca, client=None, factory=None):
        options = {"ca_certs": cls.file(ca + ".pem")}
        if client:
            options.update(certfile=cls.file(client + ".pem"), keyfile=cls.file(client + ".key"))
        return hc.InferenceServerClient(url=cls.url, ssl=True, ssl_options=options, ssl_context_factory=factory)

    def refused(self, client, error=gevent.ssl.SSLError):
        # The handshake fails, or, in TLS 1.3, the server's alert (certificate required, unknown
        # CA) ends the connection on the first read: never an answer.
        with self.assertRaises(error):
            client.is_server_live()
        client.close()

    def test_infer_over_mutual_tls(self):
        a = np.arange(32, dtype=np.float32).reshape(2, 16)
        b = np.full((2, 16), 0.5, dtype=np.float32)
        for binary in (False, True):
            r = self.client.infer("add_sub", [tensor("INPUT0", a, "FP32", binary), tensor("INPUT1", b, "FP32", binary)])
            np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
        self.assertEqual(self.client.get_model_metadata("add_sub")["name"], "add_sub")

    def test_ssl_context_factory(self):
        client = self.tls_client("ca", "client-b", factory=gevent.ssl.create_default_context)
        self.assertTrue(client.is_server_live())
        client.close()

    def test_a_client_without_a_certificate_is_refused(self):
        self.refused(self.tls_client("ca"))

    def test_a_certificate_from_another_ca_is_refused(self):
        self.refused(self.tls_client("ca", "other-ca-client"))

    def test_a_client_that_trusts_another_ca_refuses_the_server(self):
        self.refused(self.tls_client("other-ca", "client"))

    def test_plaintext_is_refused(self):
        # The server finds no TLS handshake and closes the connection unanswered.
        self.refused(hc.InferenceServerClient(url=self.url), HTTPConnectionClosed)


if __name__ == "__main__":
    unittest.main()
