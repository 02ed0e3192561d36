"""Makes an int8 or fp16 variant of an ONNX model with ONNX Runtime's own tools.

Run through tools/quantize.sh, in the venv it installs (tools/quantize.txt pins the versions).
  int8: onnxruntime.quantization.quantize_dynamic, signed int8 weights (per tensor), activations
        quantized at run time (DynamicQuantizeLinear + MatMulInteger for MatMul and Gemm).
  fp16: onnxruntime.transformers.float16.convert_float_to_float16, inputs and outputs kept fp32
        so that every variant of a package has the same signature.
The output is written to a temporary name and renamed; the same input gives the same bytes.
"""
import os
import sys
import tempfile

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.float16 import convert_float_to_float16


def main(argv):
    if len(argv) != 3 or argv[0] not in ("int8", "fp16"):
        sys.exit("usage: quantize.py int8|fp16 IN.onnx OUT.onnx")
    kind, src, dst = argv
    out_dir = os.path.dirname(os.path.abspath(dst))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".quantize-", suffix=".onnx", dir=out_dir)
    os.close(fd)
    try:
        if kind == "int8":
            quantize_dynamic(src, tmp, weight_type=QuantType.QInt8, per_channel=False)
        else:
            model = convert_float_to_float16(onnx.load(src), keep_io_types=True)
            onnx.save(model, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"{dst} {os.path.getsize(dst)} bytes ({kind})")


if __name__ == "__main__":
    main(sys.argv[1:])
