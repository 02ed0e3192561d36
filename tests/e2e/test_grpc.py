"""End-to-end: the KServe v2 gRPC endpoint of `continuum serve`, spoken to by Triton's own client
(tritonclient[grpc], pinned in tools/pyclients.txt; run with the venv tools/pyclients.sh makes)."""
import os
import re
import signal
import subprocess
import tempfile
import threading
import unittest

import grpc
import numpy as np
import tritonclient.grpc as tc
from google.protobuf import descriptor_pb2
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from harness import Server, infer_body, make_repository, metric

PROTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "grpc",
                     "inference_service.proto")


def grpc_port(server):
    return int(server.stdout_line("grpc listening on port").strip().rsplit(" ", 1)[1])


class GrpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = make_repository(["add_sub", "fixed_shape", "identity_string", "identity_int32", "identity_float16"])
        cls.server = Server(cls.repo)
        cls.url = "127.0.0.1:%d" % grpc_port(cls.server)
        cls.client = tc.InferenceServerClient(url=cls.url)
        cls.channel = grpc.insecure_channel(cls.url)
        cls.stub = service_pb2_grpc.GRPCInferenceServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.channel.close()
        cls.server.stop()

    def call_error(self, request):
        with self.assertRaises(grpc.RpcError) as cm:
            self.stub.ModelInfer(request)
        return cm.exception.code(), cm.exception.details()

    def test_health_and_metadata(self):
        self.assertTrue(self.client.is_server_live())
        self.assertTrue(self.client.is_server_ready())
        self.assertTrue(self.client.is_model_ready("add_sub"))
        self.assertTrue(self.client.is_model_ready("add_sub", "1"))
        meta = self.client.get_server_metadata()
        self.assertEqual(meta.name, "continuum")
        self.assertIn("model_repository", meta.extensions)
        m = self.client.get_model_metadata("add_sub")
        self.assertEqual(m.name, "add_sub")
        self.assertEqual(list(m.versions), ["1"])
        self.assertEqual(m.platform, "onnxruntime_onnx")
        self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in m.inputs],
                         [("INPUT0", "FP32", [-1, 16]), ("INPUT1", "FP32", [-1, 16])])
        self.assertEqual([t.name for t in m.outputs], ["OUTPUT0", "OUTPUT1"])

    def test_infer_raw_fp32(self):
        a = np.arange(32, dtype=np.float32).reshape(2, 16)
        b = np.full((2, 16), 0.5, dtype=np.float32)
        inputs = [tc.InferInput("INPUT0", [2, 16], "FP32"), tc.InferInput("INPUT1", [2, 16], "FP32")]
        inputs[0].set_data_from_numpy(a)
        inputs[1].set_data_from_numpy(b)
        r = self.client.infer("add_sub", inputs, request_id="r1",
                              outputs=[tc.InferRequestedOutput("OUTPUT1")])
        self.assertEqual(r.get_response().id, "r1")
        self.assertEqual(r.get_response().model_version, "1")
        np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)
        self.assertIsNone(r.as_numpy("OUTPUT0"))  # only what was requested

    def test_infer_raw_bytes_and_int32(self):
        s = np.array([[b"a", b"", "h\u00e9llo".encode(), b"x y"]], dtype=np.object_)
        i = tc.InferInput("INPUT0", [1, 4], "BYTES")
        i.set_data_from_numpy(s)
        np.testing.assert_array_equal(self.client.infer("identity_string", [i]).as_numpy("OUTPUT0"), s)
        n = np.array([[-2147483648, -1, 0, 2147483647]], dtype=np.int32)
        i = tc.InferInput("INPUT0", [1, 4], "INT32")
        i.set_data_from_numpy(n)
        np.testing.assert_array_equal(self.client.infer("identity_int32", [i]).as_numpy("OUTPUT0"), n)
        h = np.array([[0.5, -2.0, 65504.0, 0.0009765625]], dtype=np.float16)  # raw only: no typed field
        i = tc.InferInput("INPUT0", [1, 4], "FP16")
        i.set_data_from_numpy(h)
        np.testing.assert_array_equal(self.client.infer("identity_float16", [i]).as_numpy("OUTPUT0"), h)

    def typed_request(self, model, dtype, shape, field, values):
        req = service_pb2.ModelInferRequest(model_name=model)
        t = req.inputs.add(name="INPUT0", datatype=dtype, shape=shape)
        getattr(t.contents, field).extend(values)
        return req

    def test_infer_typed_contents(self):
        # Typed in, typed out (the answer follows the request's form).
        req = service_pb2.ModelInferRequest(model_name="add_sub", id="t")
        for name, values in (("INPUT0", range(16)), ("INPUT1", [0.25] * 16)):
            t = req.inputs.add(name=name, datatype="FP32", shape=[1, 16])
            t.contents.fp32_contents.extend(values)
        resp = self.stub.ModelInfer(req)
        self.assertEqual(len(resp.raw_output_contents), 0)
        self.assertEqual([o.name for o in resp.outputs], ["OUTPUT0", "OUTPUT1"])
        self.assertEqual(list(resp.outputs[0].shape), [1, 16])
        self.assertEqual(list(resp.outputs[0].contents.fp32_contents), [k + 0.25 for k in range(16)])
        resp = self.stub.ModelInfer(self.typed_request("identity_int32", "INT32", [1, 4], "int_contents",
                                                       [-2147483648, -1, 0, 2147483647]))
        self.assertEqual(list(resp.outputs[0].contents.int_contents), [-2147483648, -1, 0, 2147483647])
        values = [b"a", b"", "h\u00e9llo".encode(), b"x y"]
        resp = self.stub.ModelInfer(self.typed_request("identity_string", "BYTES", [1, 4], "bytes_contents", values))
        self.assertEqual(list(resp.outputs[0].contents.bytes_contents), values)
        # tritonclient reads typed answers too.
        r = tc.InferResult(resp)
        self.assertEqual(r.as_numpy("OUTPUT0").tolist(), [values])

    def test_shape_mismatch_is_invalid_argument_with_the_rest_message(self):
        x = np.zeros((1, 3, 4, 5), dtype=np.float32)
        status, body, _ = self.server.post("/v2/models/fixed_shape/infer",
                                           infer_body([("x", "FP32", [1, 3, 4, 5], x.flatten().tolist())]))
        self.assertEqual(status, 400)
        req = service_pb2.ModelInferRequest(model_name="fixed_shape")
        req.inputs.add(name="x", datatype="FP32", shape=[1, 3, 4, 5])
        req.raw_input_contents.append(x.tobytes())
        self.assertEqual(self.call_error(req), (grpc.StatusCode.INVALID_ARGUMENT, body["error"]))
        # tritonclient surfaces the same.
        i = tc.InferInput("x", [1, 3, 4, 5], "FP32")
        i.set_data_from_numpy(x)
        with self.assertRaises(InferenceServerException) as cm:
            self.client.infer("fixed_shape", [i])
        self.assertEqual(cm.exception.status(), "StatusCode.INVALID_ARGUMENT")
        self.assertEqual(cm.exception.message(), body["error"])

    def test_bad_contents(self):
        code, msg = self.call_error(self.typed_request("identity_int32", "INT32", [1, 4], "int_contents", [1, 2, 3]))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(msg, "inputs[0].contents: holds 3 elements but shape [1,4] needs 4")
        code, msg = self.call_error(self.typed_request("identity_int32", "INT32", [1, 4], "fp32_contents", [1] * 4))
        self.assertEqual(msg, "inputs[0].contents: INT32 elements go in int_contents, but fp32_contents holds 4")
        req = service_pb2.ModelInferRequest(model_name="identity_int32")
        req.inputs.add(name="INPUT0", datatype="INT32", shape=[1, 4])
        req.raw_input_contents.append(b"\0" * 15)
        code, msg = self.call_error(req)
        self.assertEqual((code, msg), (grpc.StatusCode.INVALID_ARGUMENT,
                                       "raw_input_contents[0]: 15 bytes but shape [1,4] of INT32 needs 16"))
        req = service_pb2.ModelInferRequest(model_name="identity_int32", model_version="x")
        self.assertEqual(self.call_error(req)[1], "model version 'x' is not a positive integer")

    def add_sub_inputs(self):
        inputs = [tc.InferInput(n, [1, 16], "FP32") for n in ("INPUT0", "INPUT1")]
        for i in inputs:
            i.set_data_from_numpy(np.ones((1, 16), dtype=np.float32))
        return inputs

    def test_request_parameters_are_echoed_as_over_rest(self):
        params = {"tenant_tag": "blue", "n": 3, "flag": True, "ratio": 0.5}
        r = self.client.infer("add_sub", self.add_sub_inputs(), request_id="p1", parameters=params)
        got = r.get_response().parameters
        self.assertEqual({k: v.WhichOneof("parameter_choice") for k, v in got.items()},
                         {"tenant_tag": "string_param", "n": "int64_param", "flag": "bool_param",
                          "ratio": "double_param"})
        self.assertEqual({k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in got.items()}, params)
        # REST answers the same request with the same parameters.
        body = infer_body([(n, "FP32", [1, 16], [1.0] * 16) for n in ("INPUT0", "INPUT1")], parameters=params)
        status, out, _ = self.server.post("/v2/models/add_sub/infer", body)
        self.assertEqual((status, out["parameters"]), (200, params))
        # Without parameters none come back.
        self.assertEqual(len(self.client.infer("add_sub", self.add_sub_inputs()).get_response().parameters), 0)

    def test_node_report_travels_as_metadata(self):
        """The timings REST sends as X-Continuum-* headers come as the call's initial metadata."""
        req = service_pb2.ModelInferRequest(model_name="add_sub")
        for name in ("INPUT0", "INPUT1"):
            req.inputs.add(name=name, datatype="FP32", shape=[1, 16]).contents.fp32_contents.extend([1.0] * 16)
        resp, call = self.stub.ModelInfer.with_call(req)
        self.assertEqual(list(resp.outputs[0].contents.fp32_contents), [2.0] * 16)
        md = dict(call.initial_metadata())
        on_node, run = float(md["x-continuum-compute-ms"]), float(md["x-continuum-run-ms"])
        self.assertGreater(run, 0.0)
        self.assertLessEqual(run, on_node)  # the run, without the queue wait
        self.assertLessEqual(float(md["x-continuum-engine-ms"]), run)  # its share of the run
        self.assertGreaterEqual(int(md["x-continuum-queue-depth"]), 0)
        # An error carries no report.
        with self.assertRaises(grpc.RpcError) as cm:
            self.stub.ModelInfer.with_call(service_pb2.ModelInferRequest(model_name="add_sub"))
        self.assertNotIn("x-continuum-compute-ms", dict(cm.exception.initial_metadata()))

    def test_unimplemented_extensions_are_refused_with_the_rest_message(self):
        for out, rest_params in ((tc.InferRequestedOutput("OUTPUT0", class_count=3), {"classification": 3}),
                                 (tc.InferRequestedOutput("OUTPUT0"), {"shared_memory_region": "region",
                                                                        "shared_memory_byte_size": 64})):
            if "shared_memory_region" in rest_params:
                out.set_shared_memory("region", 64)
            body = infer_body([(n, "FP32", [1, 16], [1.0] * 16) for n in ("INPUT0", "INPUT1")],
                              outputs=[{"name": "OUTPUT0", "parameters": rest_params}])
            status, rest, _ = self.server.post("/v2/models/add_sub/infer", body)
            self.assertEqual(status, 400)
            with self.assertRaises(InferenceServerException) as cm:
                self.client.infer("add_sub", self.add_sub_inputs(), outputs=[out])
            self.assertEqual(cm.exception.status(), "StatusCode.INVALID_ARGUMENT")
            self.assertEqual(cm.exception.message(), rest["error"])

    def test_unknown_model_is_not_found(self):
        status, body = self.server.get("/v2/models/missing")
        self.assertEqual(status, 404)
        req = service_pb2.ModelInferRequest(model_name="missing")
        self.assertEqual(self.call_error(req), (grpc.StatusCode.NOT_FOUND, body["error"]))
        with self.assertRaises(InferenceServerException) as cm:
            self.client.get_model_metadata("missing")
        self.assertEqual(cm.exception.status(), "StatusCode.NOT_FOUND")

    def test_statistics(self):
        i = tc.InferInput("INPUT0", [1, 4], "INT32")
        i.set_data_from_numpy(np.zeros((1, 4), dtype=np.int32))
        self.client.infer("identity_int32", [i])
        stats = self.client.get_inference_statistics("identity_int32").model_stats
        self.assertEqual([(s.name, s.version) for s in stats], [("identity_int32", "1")])
        self.assertGreaterEqual(stats[0].inference_count, 1)
        self.assertGreaterEqual(stats[0].inference_stats.success.count, 1)
        _, rest = self.server.get("/v2/models/identity_int32/stats")
        self.assertEqual(rest["model_stats"][0]["inference_count"], stats[0].inference_count)

    def test_model_config(self):
        """ModelConfig answers as Triton's does: dims without the batch dimension of a batchable model
        (perf_analyzer reads max_batch_size here; without the call it took add_sub's -1 for a free dim)."""
        c = self.client.get_model_config("add_sub").config
        self.assertEqual((c.name, c.platform, c.max_batch_size), ("add_sub", "onnxruntime_onnx", 8))
        self.assertEqual([(t.name, model_config_pb2.DataType.Name(t.data_type), list(t.dims)) for t in c.input],
                         [("INPUT0", "TYPE_FP32", [16]), ("INPUT1", "TYPE_FP32", [16])])
        self.assertEqual([t.name for t in c.output], ["OUTPUT0", "OUTPUT1"])
        self.assertTrue(c.HasField("dynamic_batching"))
        fixed = self.client.get_model_config("fixed_shape").config
        self.assertEqual((fixed.max_batch_size, list(fixed.input[0].dims)), (0, [1, 3, 4, 4]))
        self.assertFalse(fixed.HasField("dynamic_batching"))
        strings = self.client.get_model_config("identity_string").config
        self.assertEqual(model_config_pb2.DataType.Name(strings.input[0].data_type), "TYPE_STRING")
        with self.assertRaises(InferenceServerException) as cm:
            self.client.get_model_config("missing")
        self.assertEqual(cm.exception.status(), "StatusCode.NOT_FOUND")

    def test_wire_contract_matches_the_client(self):
        """Every message and field the project's .proto declares has the client's number and type."""
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "set.pb")
            subprocess.run(["protoc", "--proto_path", os.path.dirname(PROTO), "--descriptor_set_out", out,
                            os.path.basename(PROTO)], check=True)
            fds = descriptor_pb2.FileDescriptorSet()
            with open(out, "rb") as f:
                fds.ParseFromString(f.read())
        ours = fds.file[0]
        self.assertEqual(ours.package, "inference")

        def walk(msgs, prefix):
            for m in msgs:
                yield prefix + m.name, m
                yield from walk(m.nested_type, prefix + m.name + ".")
        pool = service_pb2.DESCRIPTOR.pool
        checked = 0
        for name, m in walk(ours.message_type, ""):
            theirs = pool.FindMessageTypeByName("inference." + name)
            for f in m.field:
                t = theirs.fields_by_name.get(f.name)
                self.assertIsNotNone(t, "%s.%s" % (name, f.name))
                self.assertEqual((t.number, t.type, t.label), (f.number, f.type, f.label), "%s.%s" % (name, f.name))
                checked += 1
        self.assertGreater(checked, 50)
        svc = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
        for method in ours.service[0].method:
            t = svc.methods_by_name[method.name]
            self.assertEqual(("." + t.input_type.full_name, "." + t.output_type.full_name),
                             (method.input_type, method.output_type))


class GrpcLimitsTest(unittest.TestCase):
    def test_oversize_message_is_resource_exhausted(self):
        repo = make_repository(["add_sub"])
        with Server(repo, "--max-body-bytes", "4096") as s:
            client = tc.InferenceServerClient(url="127.0.0.1:%d" % grpc_port(s))
            inputs = [tc.InferInput(n, [64, 16], "FP32") for n in ("INPUT0", "INPUT1")]
            for i in inputs:
                i.set_data_from_numpy(np.ones((64, 16), dtype=np.float32))
            with self.assertRaises(InferenceServerException) as cm:
                client.infer("add_sub", inputs)
            self.assertEqual(cm.exception.status(), "StatusCode.RESOURCE_EXHAUSTED")
            # Within the limit it answers.
            small = [tc.InferInput(n, [1, 16], "FP32") for n in ("INPUT0", "INPUT1")]
            for i in small:
                i.set_data_from_numpy(np.ones((1, 16), dtype=np.float32))
            np.testing.assert_array_equal(client.infer("add_sub", small).as_numpy("OUTPUT0"), np.full((1, 16), 2.0))
            client.close()

    def test_tensor_element_limit_is_the_rest_limit(self):
        repo = make_repository(["identity_int32"])
        with Server(repo, "--max-tensor-elements", "8") as s:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel("127.0.0.1:%d" % grpc_port(s)))
            req = service_pb2.ModelInferRequest(model_name="identity_int32")
            req.inputs.add(name="INPUT0", datatype="INT32", shape=[3, 4])
            req.raw_input_contents.append(b"\0" * 48)
            with self.assertRaises(grpc.RpcError) as cm:
                stub.ModelInfer(req)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertTrue(cm.exception.details().startswith("inputs[0].shape: "), cm.exception.details())

    def test_port_flag(self):
        repo = make_repository(["add_sub"])
        with Server(repo, "--grpc-port", "-1") as s:  # the later flag wins: no gRPC listener
            s.proc.send_signal(signal.SIGTERM)
            rest = s.proc.stdout.read()
            self.assertEqual(s.stop(), 0)
            self.assertNotIn("grpc listening", rest)


class GrpcTlsTest(unittest.TestCase):
    """The endpoint over TLS with client certificates required (--tls-client-ca alone means
    require), spoken to by Triton's own client with its ssl arguments, unchanged."""

    @classmethod
    def setUpClass(cls):
        cls.pki = os.environ["CONTINUUM_TEST_PKI"]
        cls.repo = make_repository(["add_sub"])
        # The HTTP listener serves TLS with the same flags: readiness is asked over gRPC.
        cls.server = Server(cls.repo, "--tls-cert", cls.file("server.pem"), "--tls-key", cls.file("server.key"),
                            "--tls-client-ca", cls.file("ca.pem"), wait_ready=False)
        cls.url = "127.0.0.1:%d" % grpc_port(cls.server)
        cls.client = cls.tls_client("ca", "client")
        cls.server.wait(cls.client.is_server_ready, what="readiness over gRPC with TLS")

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop()

    @classmethod
    def file(cls, name):
        return os.path.join(cls.pki, name)

    @classmethod
    def tls_client(cls, ca, client=None):
        return tc.InferenceServerClient(
            url=cls.url, ssl=True, root_certificates=cls.file(ca + ".pem"),
            private_key=cls.file(client + ".key") if client else None,
            certificate_chain=cls.file(client + ".pem") if client else None)

    def refused(self, client):
        with self.assertRaises(InferenceServerException) as cm:
            client.is_server_live()
        client.close()
        self.assertEqual(cm.exception.status(), "StatusCode.UNAVAILABLE")

    def test_infer_over_mutual_tls(self):
        self.assertTrue(self.client.is_server_live())
        a = np.arange(16, dtype=np.float32).reshape(1, 16)
        inputs = [tc.InferInput("INPUT0", [1, 16], "FP32"), tc.InferInput("INPUT1", [1, 16], "FP32")]
        inputs[0].set_data_from_numpy(a)
        inputs[1].set_data_from_numpy(a)
        np.testing.assert_array_equal(self.client.infer("add_sub", inputs).as_numpy("OUTPUT0"), a + a)
        other = self.tls_client("ca", "client-b")
        self.assertEqual(other.get_model_metadata("add_sub").name, "add_sub")
        other.close()

    def test_a_client_without_a_certificate_is_refused(self):
        self.refused(self.tls_client("ca"))

    def test_a_certificate_from_another_ca_is_refused(self):
        self.refused(self.tls_client("ca", "other-ca-client"))

    def test_a_client_that_trusts_another_ca_refuses_the_server(self):
        self.refused(self.tls_client("other-ca", "client"))

    def test_plaintext_is_refused(self):
        self.refused(tc.InferenceServerClient(url=self.url))


class GrpcShutdownTest(unittest.TestCase):
    def test_sigterm_answers_what_was_queued(self):
        repo = make_repository(["slow"], configs={"slow": {"max_batch_size": 0, "warmup": False}})
        s = Server(repo)
        client = tc.InferenceServerClient(url="127.0.0.1:%d" % grpc_port(s))
        results = []
        done = threading.Condition()

        def answered(result, error):
            with done:
                results.append((result, error))
                done.notify_all()
        for k in range(6):
            i = tc.InferInput("x", [1, 1], "FP32")
            i.set_data_from_numpy(np.full((1, 1), k, dtype=np.float32))
            client.async_infer("slow", [i], answered)

        def received_and_some_waiting():
            # Pending (received, not answered) first, then answered: a request answered in
            # between is counted twice, never missed.
            m = re.search(r'continuum_inference_pending_requests\{[^}]*model="slow"[^}]*\} (\S+)',
                          s.request("GET", "/metrics")[1].decode())
            waiting = float(m.group(1)) if m else 0
            answered_count = s.get("/v2/models/slow/stats")[1]["model_stats"][0]["inference_stats"]["success"]["count"]
            return waiting > 0 and waiting + answered_count == 6
        s.wait(received_and_some_waiting, what="six gRPC requests received, some still waiting")
        self.assertEqual(s.stop(), 0)  # SIGTERM: the node drains before the gRPC server stops
        with done:  # the client's callbacks run on its own thread
            self.assertTrue(done.wait_for(lambda: len(results) == 6, timeout=30), results)
        for r, e in results:
            self.assertIsNone(e)
        self.assertEqual(sorted(float(r.as_numpy("y")[0][0]) for r, _ in results), list(range(6)))
        client.close()


class GrpcCancelTest(unittest.TestCase):
    def test_calls_past_their_deadline_are_dropped_before_they_run(self):
        # One instance held busy by a slow run; calls that give up (a short client deadline)
        # while they wait are cancelled and leave the queue unrun.
        repo = make_repository(["slow"], configs={"slow": {"max_batch_size": 0, "warmup": False}})
        with Server(repo, "--inject-straggler-fraction", "1", "--inject-straggler-ms", "2000") as s:
            client = tc.InferenceServerClient(url="127.0.0.1:%d" % grpc_port(s))
            x = tc.InferInput("x", [1, 1], "FP32")
            x.set_data_from_numpy(np.full((1, 1), 3, dtype=np.float32))
            blocker = []
            done = threading.Event()
            client.async_infer("slow", [x], lambda result, error: (blocker.append(error), done.set()))
            s.wait(lambda: metric(s, "continuum_inference_pending_requests", model="slow") == 1,
                   what="the blocking call to reach the server")
            giving_up = 3
            for _ in range(giving_up):
                with self.assertRaises(InferenceServerException) as cm:
                    client.infer("slow", [x], client_timeout=0.2)
                self.assertIn("Deadline", str(cm.exception))

            def accounted():
                cancelled = metric(s, "continuum_inference_request_failure_total", model="slow", reason="CANCELED")
                success = metric(s, "continuum_inference_request_success_total", model="slow")
                return cancelled + success == giving_up + 1
            s.wait(accounted, timeout=120, what="every call answered or dropped")
            self.assertTrue(done.wait(30))
            self.assertIsNone(blocker[0])
            runs = metric(s, "continuum_inference_exec_count_total", model="slow")
            self.assertGreaterEqual(
                metric(s, "continuum_inference_request_failure_total", model="slow", reason="CANCELED"), 1)
            self.assertLess(runs, giving_up + 1)
            client.close()


class GrpcRepositoryTest(unittest.TestCase):
    def test_index_load_unload(self):
        repo = make_repository(["add_sub", "int_add"])
        with Server(repo, "--model-control-mode", "explicit", "--load-model", "int_add") as s:
            client = tc.InferenceServerClient(url="127.0.0.1:%d" % grpc_port(s))
            index = {m.name: m.state for m in client.get_model_repository_index().models}
            self.assertEqual(index, {"add_sub": "UNAVAILABLE", "int_add": "READY"})
            self.assertFalse(client.is_model_ready("add_sub"))
            client.load_model("add_sub")
            self.assertTrue(client.is_model_ready("add_sub"))
            client.unload_model("add_sub")
            self.assertFalse(client.is_model_ready("add_sub"))
            with self.assertRaises(InferenceServerException) as cm:
                client.load_model("missing")
            self.assertEqual(cm.exception.status(), "StatusCode.NOT_FOUND")
            with self.assertRaises(InferenceServerException) as cm:
                client.load_model("add_sub", config='{"max_batch_size": 1}')
            self.assertEqual(cm.exception.status(), "StatusCode.INVALID_ARGUMENT")
            client.close()


if __name__ == "__main__":
    unittest.main()
