#!/usr/bin/python3
"""Writes a model folder for the packages benchmark: an ONNX embedding table whose single
initializer lives in an external data file, the way large models ship.

Usage: /usr/bin/python3 bench/packages/gen_model.py OUT_DIR SIZE_MB [--version N] [--seed S]

  OUT_DIR/N/model.onnx       ids INT64 [batch, seq] -> Gather(table) -> embeddings FP32 [batch, seq, 256]
  OUT_DIR/N/model.onnx.data  the table, FP32 [rows, 256], SIZE_MB * 10^6 bytes rounded down to whole rows
  OUT_DIR/config.json        {"max_batch_size": 8}

Deterministic: the same arguments give the same bytes (numpy's PCG64 with a fixed seed; the
table is written in slices so a 1 GB model needs no more than a few MB of memory). Needs Debian's
python3-onnx and python3-numpy, hence /usr/bin/python3.
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

DIM = 256
ROWS_PER_SLICE = 4096
OPSET = 17
IR_VERSION = 8
DATA_NAME = "model.onnx.data"


def write_table(path, rows, seed):
    rng = np.random.Generator(np.random.PCG64(seed))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        done = 0
        while done < rows:
            n = min(ROWS_PER_SLICE, rows - done)
            f.write(rng.standard_normal((n, DIM), dtype=np.float32).tobytes())
            done += n
    os.replace(tmp, path)


def write_model(path, rows):
    table = TensorProto(name="table", data_type=TensorProto.FLOAT, dims=[rows, DIM],
                        data_location=TensorProto.EXTERNAL)
    for key, value in (("location", DATA_NAME), ("offset", "0"), ("length", str(rows * DIM * 4))):
        entry = table.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["embeddings"], axis=0)], "bench_embedding",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "seq", DIM])],
        initializer=[table])
    m = helper.make_model(graph, producer_name="continuum-bench-packages",
                          opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    onnx.checker.check_model(path)  # by path: the checker then finds the external data beside it


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("size_mb", type=int)
    ap.add_argument("--version", type=int, default=1)
    ap.add_argument("--seed", type=int, default=20261206)
    a = ap.parse_args()
    if a.size_mb < 1:
        ap.error("SIZE_MB must be at least 1")
    rows = a.size_mb * 10**6 // (DIM * 4)
    vdir = os.path.join(a.out_dir, str(a.version))
    os.makedirs(vdir, exist_ok=True)
    data = os.path.join(vdir, DATA_NAME)
    if not (os.path.exists(data) and os.path.getsize(data) == rows * DIM * 4):
        write_table(data, rows, a.seed + a.version)
    write_model(os.path.join(vdir, "model.onnx"), rows)
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        f.write('{"max_batch_size": 8}\n')
    print(vdir)


if __name__ == "__main__":
    main()
