#!/usr/bin/env bash
# Makes the low-precision variants of an ONNX model with ONNX Runtime's own tools, pinned in
# tools/quantize.txt and installed (idempotently, quietly when up to date) into a venv under the
# project's cache: $CONTINUUM_CACHE/quantize-venv (~/.cache/continuum/quantize-venv).
#
# Usage:
#   tools/quantize.sh --install            only install the venv
#   tools/quantize.sh int8 IN.onnx OUT.onnx  dynamic int8 quantization (quantize_dynamic: int8
#                                          weights, activations quantized per run; MatMul/Gemm)
#   tools/quantize.sh fp16 IN.onnx OUT.onnx  fp16 weights and compute, fp32 inputs and outputs kept
#   tools/quantize.sh python ARGS...       the venv's python (the bench uses it)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
VENV=$CACHE/quantize-venv
REQS=$ROOT/tools/quantize.txt
STAMP=$VENV/.quantize.sha256
want=$(sha256sum "$REQS" | cut -d' ' -f1)
if ! [[ -x $VENV/bin/python && -f $STAMP && $(cat "$STAMP") == "$want" ]]; then
  echo "quantize: installing $(grep -v '^#' "$REQS" | tr '\n' ' ')into $VENV" >&2
  mkdir -p "$CACHE"
  rm -rf "$VENV"
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$REQS"
  echo "$want" > "$STAMP"
fi
case "${1:-}" in
  --install) exit 0 ;;
  int8|fp16)
    [[ $# -eq 3 ]] || { echo "usage: tools/quantize.sh int8|fp16 IN.onnx OUT.onnx" >&2; exit 2; }
    exec "$VENV/bin/python" "$ROOT/tools/quantize.py" "$@" ;;
  python) shift; exec "$VENV/bin/python" "$@" ;;
  *) echo "usage: tools/quantize.sh --install | int8|fp16 IN.onnx OUT.onnx | python ARGS..." >&2; exit 2 ;;
esac
