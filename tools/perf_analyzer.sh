#!/usr/bin/env bash
# Installs Triton's perf_analyzer (the load generator the e2e test and bench/peers/ drive servers
# with) under the project's cache, idempotently; prints nothing when it is already installed.
#   $CONTINUUM_CACHE/perf_analyzer/perf_analyzer   a wrapper that runs the binary with its library
#   $CONTINUUM_CACHE/perf_analyzer/bin/perf_analyzer, lib/libcudart.so.12
# The binary ships only inside tritonclient's manylinux wheels (PyPI's perf-analyzer 0.1.0 is an
# empty placeholder); from 2.52 on it needs glibc 2.38, so 2.48.0 is pinned. It links the CUDA
# runtime (taken from PyPI's nvidia-cuda-runtime-cu12, no GPU needed to run over HTTP/gRPC) and
# Debian's libb64. Both wheels are fetched with pip and checked against tools/perf_analyzer.sha256,
# and so are the two files taken out of them.
# Linux x86_64 only: elsewhere it says so and exits 0 (the test and the benchmark skip).
# Usage: tools/perf_analyzer.sh [--print-path]   (--print-path: the wrapper's path, nothing installed)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
DEST=$CACHE/perf_analyzer
WRAPPER=$DEST/perf_analyzer
SUMS=$ROOT/tools/perf_analyzer.sha256
TRITON_VER=2.48.0
CUDART_VER=12.9.79
TRITON_WHL=tritonclient-$TRITON_VER-py3-none-manylinux1_x86_64.whl
CUDART_WHL=nvidia_cuda_runtime_cu12-$CUDART_VER-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl

if [[ ${1:-} == --print-path ]]; then echo "$WRAPPER"; exit 0; fi
if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  echo "perf_analyzer: skipped, its binary exists only for Linux x86_64 (this is $(uname -s) $(uname -m))"
  exit 0
fi

sum_of() { awk -v f="$1" '$2==f {print $1}' "$SUMS"; }
check() {  # check FILE NAME: FILE's sha256 is NAME's line in tools/perf_analyzer.sha256
  [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$(sum_of "$2")" ]]
}
installed() {
  [[ -x $WRAPPER ]] && check "$DEST/bin/perf_analyzer" perf_analyzer && check "$DEST/lib/libcudart.so.12" libcudart.so.12
}
if installed; then exit 0; fi

if ! dpkg-query -W -f='${Status}' libb64-0d 2>/dev/null | grep -q 'install ok installed'; then
  echo "perf_analyzer: installing Debian's libb64-0d"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libb64-0d >/dev/null
fi

echo "perf_analyzer: installing perf_analyzer $TRITON_VER (tritonclient wheel) into $DEST"
WHEELS=$CACHE/wheels
mkdir -p "$WHEELS"
for spec in "tritonclient==$TRITON_VER:$TRITON_WHL" "nvidia-cuda-runtime-cu12==$CUDART_VER:$CUDART_WHL"; do
  req=${spec%%:*} whl=${spec#*:}
  if ! check "$WHEELS/$whl" "$whl"; then
    rm -f "$WHEELS/$whl"
    /usr/bin/python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --python-version 3.11 -d "$WHEELS" "$req"
  fi
  if ! check "$WHEELS/$whl" "$whl"; then
    echo "perf_analyzer: $whl is missing or does not match tools/perf_analyzer.sha256" >&2
    exit 1
  fi
done

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$WHEELS/$TRITON_WHL" "$WHEELS/$CUDART_WHL" "$tmp" "$TRITON_VER" <<'PY'
import sys, zipfile
triton, cudart, out, ver = sys.argv[1:]
zipfile.ZipFile(triton).extract("tritonclient-%s.data/data/bin/perf_analyzer" % ver, out)
zipfile.ZipFile(cudart).extract("nvidia/cuda_runtime/lib/libcudart.so.12", out)
PY
rm -rf "$DEST"; mkdir -p "$DEST/bin" "$DEST/lib"
mv "$tmp/tritonclient-$TRITON_VER.data/data/bin/perf_analyzer" "$DEST/bin/"
mv "$tmp/nvidia/cuda_runtime/lib/libcudart.so.12" "$DEST/lib/"
chmod 755 "$DEST/bin/perf_analyzer"
if ! check "$DEST/bin/perf_analyzer" perf_analyzer || ! check "$DEST/lib/libcudart.so.12" libcudart.so.12; then
  echo "perf_analyzer: extracted files do not match tools/perf_analyzer.sha256" >&2
  rm -rf "$DEST"
  exit 1
fi
cat > "$WRAPPER" <<'SH'
#!/bin/sh
# Runs perf_analyzer with the CUDA runtime library installed beside it (tools/perf_analyzer.sh).
here=$(dirname "$0")
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/bin/perf_analyzer" "$@"
SH
chmod 755 "$WRAPPER"
"$WRAPPER" --version >/dev/null
echo "perf_analyzer: ready, $WRAPPER"
