"""Files outside a folder stay outside: `continuum import` and model loading refuse external data
(and source files) whose real path leaves the folder, wherever the model names them."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper

from harness import BIN, Server

I64, F32 = TensorProto.INT64, TensorProto.FLOAT
VOCAB = "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]) + "\n"


def external(name, location, dims):
    t = TensorProto(name=name, data_type=F32, dims=dims, data_location=TensorProto.EXTERNAL)
    entry = t.external_data.add()
    entry.key, entry.value = "location", location
    return t


def save(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def text_model(location, in_function):
    """input_ids -> last_hidden_state, with a float tensor stored as external data at `location`,
    either as an initializer or as a Constant inside a model-local function."""
    inputs = [helper.make_tensor_value_info("input_ids", I64, ["batch", "seq"])]
    outputs = [helper.make_tensor_value_info("last_hidden_state", F32, ["batch", "seq"])]
    cast = helper.make_node("Cast", ["input_ids"], ["ids"], to=F32)
    if in_function:
        body = [helper.make_node("Constant", [], ["c"], value=external("w", location, [1])),
                helper.make_node("Add", ["a", "c"], ["b"])]
        fn = helper.make_function("local", "f", ["a"], ["b"], body, [helper.make_opsetid("", 17)])
        graph = helper.make_graph([cast, helper.make_node("f", ["ids"], ["last_hidden_state"], domain="local")],
                                  "g", inputs, outputs)
        return helper.make_model(graph, functions=[fn], opset_imports=[helper.make_opsetid("", 17),
                                                                       helper.make_opsetid("local", 1)])
    graph = helper.make_graph([cast, helper.make_node("Add", ["ids", "w"], ["last_hidden_state"])],
                              "g", inputs, outputs, [external("w", location, [1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def function_model(location):
    """y = x + c, c a Constant in a model-local function's body, stored as external data."""
    body = [helper.make_node("Constant", [], ["c"], value=external("w", location, [4])),
            helper.make_node("Add", ["a", "c"], ["b"])]
    fn = helper.make_function("local", "f", ["a"], ["b"], body, [helper.make_opsetid("", 17)])
    graph = helper.make_graph([helper.make_node("f", ["x"], ["y"], domain="local")], "g",
                              [helper.make_tensor_value_info("x", F32, [4])],
                              [helper.make_tensor_value_info("y", F32, [4])])
    m = helper.make_model(graph, functions=[fn],
                          opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    m.ir_version = 8
    return m


class ImportCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="continuum-import-")
        self.src = os.path.join(self.tmp, "export")
        self.outside = os.path.join(self.tmp, "outside")
        os.makedirs(self.src)
        os.makedirs(self.outside)
        with open(os.path.join(self.src, "vocab.txt"), "w") as f:
            f.write(VOCAB)
        with open(os.path.join(self.outside, "passwd"), "wb") as f:
            f.write(np.array([7], dtype=np.float32).tobytes())

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_import(self, name):
        return subprocess.run([BIN, "import", self.src, "--model-repository", os.path.join(self.tmp, "models"),
                               "--catalog", os.path.join(self.tmp, "catalog"), "--name", "@x/" + name],
                              capture_output=True, text=True, timeout=60)

    def test_external_data_through_a_symlink_or_dotdot_is_refused(self):
        os.symlink(self.outside, os.path.join(self.src, "w"))
        for location in ("w/passwd", "../outside/passwd"):
            for in_function in (False, True):
                save(text_model(location, in_function), os.path.join(self.src, "model.onnx"))
                out = self.run_import("a")
                self.assertEqual(out.returncode, 1, (location, in_function, out.stdout, out.stderr))
                self.assertIn("continuum import: import: external data of tensor 'w' must be a regular file "
                              "inside the model's folder", out.stderr)
                self.assertIn(location, out.stderr)
                self.assertFalse(os.path.exists(os.path.join(self.tmp, "models", "a")))

    def test_source_files_through_a_symlink_are_refused(self):
        save(text_model("data.bin", False), os.path.join(self.src, "model.onnx"))
        with open(os.path.join(self.src, "data.bin"), "wb") as f:
            f.write(np.array([1], dtype=np.float32).tobytes())
        out = self.run_import("ok")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(os.path.isfile(os.path.join(self.tmp, "models", "ok", "1", "data.bin")))
        os.remove(os.path.join(self.src, "vocab.txt"))
        os.symlink(os.path.join(self.outside, "passwd"), os.path.join(self.src, "vocab.txt"))
        out = self.run_import("b")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("vocab.txt: must be a regular file inside", out.stderr)


class ExternalDataLoadTest(unittest.TestCase):
    """ORT loads a Constant in a function body from external data: an escaping one is refused."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="continuum-extdata-")
        repo = os.path.join(cls.tmp, "models")
        outside = os.path.join(cls.tmp, "outside")
        os.makedirs(outside)
        with open(os.path.join(outside, "secret.bin"), "wb") as f:
            f.write(np.array([9, 9, 9, 9], dtype=np.float32).tobytes())
        save(function_model("w.bin"), os.path.join(repo, "inside", "1", "model.onnx"))
        with open(os.path.join(repo, "inside", "1", "w.bin"), "wb") as f:
            f.write(np.array([1, 2, 3, 4], dtype=np.float32).tobytes())
        save(function_model("up/secret.bin"), os.path.join(repo, "escape", "1", "model.onnx"))
        os.symlink(outside, os.path.join(repo, "escape", "1", "up"))
        cls.server = Server(repo, wait_ready=False)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_function_body_external_data(self):
        def attempted():
            index = self.server.post("/v2/repository/index", {})[1]
            return all(e.get("reason") not in (None, "unloaded") or e.get("state") == "READY" for e in index) \
                and len(index) == 2
        self.server.wait(attempted, what="load attempts")
        by_name = {e["name"]: e for e in self.server.post("/v2/repository/index", {})[1]}
        self.assertEqual(by_name["inside"]["state"], "READY", by_name["inside"])
        body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [4], "data": [0, 0, 0, 0]}]}
        status, out, _ = self.server.post("/v2/models/inside/infer", body)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["outputs"][0]["data"], [1, 2, 3, 4])
        self.assertEqual(by_name["escape"]["state"], "UNAVAILABLE", by_name["escape"])
        self.assertIn("outside the model's folder", by_name["escape"]["reason"])
        self.assertIn("up/secret.bin", by_name["escape"]["reason"])


if __name__ == "__main__":
    unittest.main()
