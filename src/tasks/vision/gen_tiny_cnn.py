#!/usr/bin/python3
"""Writes a tiny image classifier whose answers are predictable, for the image-classification
task's tests and the demo catalog entry "@cf/continuum/tiny-color-cnn".

Usage: /usr/bin/python3 gen_tiny_cnn.py OUT_DIR
  -> OUT_DIR/tiny_color_cnn/1/model.onnx, OUT_DIR/tiny_color_cnn/labels.txt

Graph: pixel_values FP32 [batch, 3, 224, 224] (ImageNet-normalized RGB)
       -> Conv 1x1 (3 -> 3, weights 4 * identity) -> Relu -> GlobalAveragePool -> Flatten
       -> Gemm (identity, bias 0) -> logits [batch, 3]
so logit c is 4 x the mean of the positive part of normalized channel c: a red image answers
"red", a green one "green", a blue one "blue". Labels: red, green, blue.
Needs Debian's python3-onnx (hence /usr/bin/python3). Deterministic; rewrites nothing unchanged.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LABELS = ["red", "green", "blue"]


def build():
    x = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 224, 224])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
    conv_w = numpy_helper.from_array((4 * np.eye(3, dtype=np.float32)).reshape(3, 3, 1, 1), "conv_w")
    conv_b = numpy_helper.from_array(np.zeros(3, dtype=np.float32), "conv_b")
    fc_w = numpy_helper.from_array(np.eye(3, dtype=np.float32), "fc_w")
    fc_b = numpy_helper.from_array(np.zeros(3, dtype=np.float32), "fc_b")
    nodes = [
        helper.make_node("Conv", ["pixel_values", "conv_w", "conv_b"], ["conv"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(nodes, "tiny_color_cnn", [x], [y], initializer=[conv_w, conv_b, fc_w, fc_b])
    model = helper.make_model(graph, producer_name="continuum-gen-tiny-cnn",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = os.path.join(sys.argv[1], "tiny_color_cnn")
    write(os.path.join(out, "1", "model.onnx"), build())
    write(os.path.join(out, "labels.txt"), ("\n".join(LABELS) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
