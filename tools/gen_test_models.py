#!/usr/bin/python3
"""Writes the ONNX models used by Continuum's tests and benchmarks.

Usage:
  /usr/bin/python3 tools/gen_test_models.py OUT_DIR        good models
  /usr/bin/python3 tools/gen_test_models.py --bad OUT_DIR  models the server must refuse

Each model lands in OUT_DIR/<name>/1/model.onnx (Triton repository layout), without a
config.json. Needs Debian's python3-onnx (1.12) and python3-numpy, hence /usr/bin/python3.
Deterministic (fixed seeds): a rerun rewrites nothing unless the bytes differ.

Models (batch dimensions are the symbolic dim "batch"):
  identity_<type>  INPUT0 [batch,4] -> OUTPUT0 (Identity), for every KServe datatype
  add_sub          INPUT0, INPUT1 FP32 [batch,16] -> OUTPUT0 = a+b, OUTPUT1 = a-b
  int_add          INPUT0, INPUT1 INT64 [batch,8] -> OUTPUT0 = a+b
  mlp              x FP32 [batch,512] -> 4 x (Gemm 512x512 + Relu) -> y
  mlp_big          x FP32 [batch,1024] -> 8 x (Gemm 1024x1024 + Relu) -> y (~1.2 ms at
                   batch 1 on one intra-op thread)
  cnn              x FP32 [batch,3,112,112] (147 KB) -> 3 x (Conv 3x3 + Relu; strides 2, 2, 1)
                   -> GlobalAveragePool -> Gemm -> y [batch,10]: a large input, a small output,
                   ~1 ms at batch 1 (the routing benchmark's "offload only over a fast link")
  fixed_shape      x FP32 [1,3,4,4] -> y = 2x (no batch dimension)
  slow             x FP32 [batch,1] -> y = x, after SLOW_MATMULS 512x512x512 MatMuls that
                   do not depend on the batch size (see SLOW_MATMULS for timings)
Bad models (--bad):
  not_onnx         text, not a protobuf
  external_escape  valid graph whose initializer's external data is "../../../etc/passwd"
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
# Each MatMul is 512^3 multiply-adds (0.27 GFLOP, ~2.7 ms on one core). Measured with the
# pinned ONNX Runtime on an AMD EPYC VM: ~48 ms per run with 1 intra-op thread at batch 1 or
# 64, ~24 ms with 2 threads (the MatMuls parallelise, so cap intra-op threads in tests).
SLOW_MATMULS = 18

IDENTITY_TYPES = {
    "bool": TensorProto.BOOL, "uint8": TensorProto.UINT8, "uint16": TensorProto.UINT16,
    "uint32": TensorProto.UINT32, "uint64": TensorProto.UINT64, "int8": TensorProto.INT8,
    "int16": TensorProto.INT16, "int32": TensorProto.INT32, "int64": TensorProto.INT64,
    "float16": TensorProto.FLOAT16, "bfloat16": TensorProto.BFLOAT16,
    "float": TensorProto.FLOAT, "double": TensorProto.DOUBLE, "string": TensorProto.STRING,
}
F32 = TensorProto.FLOAT


def vi(name, elem_type, shape):
    return helper.make_tensor_value_info(name, elem_type, shape)


def model(name, nodes, inputs, outputs, initializers=(), check=True):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    m = helper.make_model(graph, producer_name="continuum-gen-test-models",
                          opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    if check:
        onnx.checker.check_model(m)
    return m


def write(out_dir, name, data):
    """Writes OUT_DIR/name/1/model.onnx atomically, leaving an identical file untouched."""
    if isinstance(data, onnx.ModelProto):
        data = data.SerializeToString()
    path = os.path.join(out_dir, name, "1", "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return path
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
    return path


def weights(rng, n, name):
    w = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
    b = (rng.standard_normal(n) * 0.01).astype(np.float32)
    return numpy_helper.from_array(w, name + "_w"), numpy_helper.from_array(b, name + "_b")


def mlp(name, width, layers, seed):
    rng = np.random.RandomState(seed)
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        w, b = weights(rng, width, f"l{i}")
        inits += [w, b]
        out = "y" if i == layers - 1 else f"h{i}"
        nodes += [helper.make_node("Gemm", [prev, w.name, b.name], [f"g{i}"]),
                  helper.make_node("Relu", [f"g{i}"], [out])]
        prev = out
    return model(name, nodes, [vi("x", F32, ["batch", width])],
                 [vi("y", F32, ["batch", width])], inits)


def cnn():
    rng = np.random.RandomState(2)

    def conv(name, cin, cout):
        w = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(cin * 9)).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.01).astype(np.float32)
        return numpy_helper.from_array(w, name + "_w"), numpy_helper.from_array(b, name + "_b")

    c1w, c1b = conv("c1", 3, 32)
    c2w, c2b = conv("c2", 32, 64)
    c3w, c3b = conv("c3", 64, 128)
    fw = numpy_helper.from_array((rng.standard_normal((128, 10)) / 11).astype(np.float32), "fc_w")
    fb = numpy_helper.from_array(np.zeros(10, np.float32), "fc_b")
    nodes = [helper.make_node("Conv", ["x", "c1_w", "c1_b"], ["c1"], kernel_shape=[3, 3],
                              strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "c2_w", "c2_b"], ["c2"], kernel_shape=[3, 3],
                              strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Conv", ["r2", "c3_w", "c3_b"], ["c3"], kernel_shape=[3, 3],
                              strides=[1, 1], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c3"], ["r3"]),
             helper.make_node("GlobalAveragePool", ["r3"], ["pool"]),
             helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
             helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["y"])]
    return model("cnn", nodes, [vi("x", F32, ["batch", 3, 112, 112])], [vi("y", F32, ["batch", 10])],
                 [c1w, c1b, c2w, c2b, c3w, c3b, fw, fb])


def slow():
    # a0 = M * tanh(mean(x)) depends on the input, so ONNX Runtime cannot constant-fold the
    # chain a_{i+1} = a_i W; W is scaled to keep the values bounded. y = x + 0 * mean(a_n).
    rng = np.random.RandomState(1)
    m = numpy_helper.from_array(rng.standard_normal((512, 512)).astype(np.float32), "m")
    w = numpy_helper.from_array(
        (rng.standard_normal((512, 512)) / np.sqrt(512)).astype(np.float32), "w")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    nodes = [helper.make_node("ReduceMean", ["x"], ["mean_x"], keepdims=0),
             helper.make_node("Tanh", ["mean_x"], ["scale"]),
             helper.make_node("Mul", ["m", "scale"], ["a0"])]
    for i in range(SLOW_MATMULS):
        nodes.append(helper.make_node("MatMul", [f"a{i}", "w"], [f"a{i + 1}"]))
    nodes += [helper.make_node("ReduceMean", [f"a{SLOW_MATMULS}"], ["mean_a"], keepdims=0),
              helper.make_node("Mul", ["mean_a", "zero"], ["nothing"]),
              helper.make_node("Add", ["x", "nothing"], ["y"])]
    return model("slow", nodes, [vi("x", F32, ["batch", 1])], [vi("y", F32, ["batch", 1])],
                 [m, w, zero])


def good_models():
    for tname, t in IDENTITY_TYPES.items():
        yield model(f"identity_{tname}", [helper.make_node("Identity", ["INPUT0"], ["OUTPUT0"])],
                    [vi("INPUT0", t, ["batch", 4])], [vi("OUTPUT0", t, ["batch", 4])])
    yield model("add_sub",
                [helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
                 helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"])],
                [vi("INPUT0", F32, ["batch", 16]), vi("INPUT1", F32, ["batch", 16])],
                [vi("OUTPUT0", F32, ["batch", 16]), vi("OUTPUT1", F32, ["batch", 16])])
    yield model("int_add", [helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"])],
                [vi("INPUT0", TensorProto.INT64, ["batch", 8]),
                 vi("INPUT1", TensorProto.INT64, ["batch", 8])],
                [vi("OUTPUT0", TensorProto.INT64, ["batch", 8])])
    yield mlp("mlp", 512, 4, seed=0)
    yield mlp("mlp_big", 1024, 8, seed=0)
    yield cnn()
    two = numpy_helper.from_array(np.array(2, np.float32), "two")
    yield model("fixed_shape", [helper.make_node("Mul", ["x", "two"], ["y"])],
                [vi("x", F32, [1, 3, 4, 4])], [vi("y", F32, [1, 3, 4, 4])], [two])
    yield slow()


def bad_models(out_dir):
    write(out_dir, "not_onnx", b"this is not an ONNX model\n")
    w = TensorProto(name="w", data_type=F32, dims=[4], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", "../../../etc/passwd"), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    # Not checked: onnx 1.12 accepts it, newer checkers may reject the escaping location.
    m = model("external_escape", [helper.make_node("Add", ["x", "w"], ["y"])],
              [vi("x", F32, [4])], [vi("y", F32, [4])], [w], check=False)
    write(out_dir, "external_escape", m)


def main(argv):
    bad = "--bad" in argv
    args = [a for a in argv if a != "--bad"]
    if len(args) != 1:
        sys.exit(__doc__)
    if bad:
        bad_models(args[0])
        return
    for m in good_models():
        path = write(args[0], m.graph.name, m)
        print(f"{path} {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
