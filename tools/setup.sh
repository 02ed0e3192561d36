#!/usr/bin/env bash
# Installs what Continuum needs to build and test, idempotently:
#   - Debian packages (compiler toolchain, Boost.Beast, simdjson, GoogleTest, ...)
#   - ONNX Runtime from the pinned npm package, checksum-verified, into third_party/onnxruntime (ignored)
# Usage: tools/setup.sh [--bench]   (--bench also installs the benchmark-only extras)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DEBS=(build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
      libboost1.74-dev libsimdjson-dev libgtest-dev libgmock-dev libbenchmark-dev
      python3-onnx python3-numpy libonnx-testdata prometheus curl)
if [[ "${1:-}" == "--bench" ]]; then DEBS+=(wrk); fi

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

# --- ONNX Runtime -------------------------------------------------------------
ORT_PKG=com.github.asus4.onnxruntime
ORT_VER=0.4.9
TGZ=$ORT_PKG-$ORT_VER.tgz
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
DEST=$ROOT/third_party/onnxruntime
SUMS=$ROOT/tools/ort.sha256
HDR_DIR='package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers'
LIB_DIR='package/Plugins/Linux/x64'

verify_tree() {  # checks every extracted file against the committed list
  (cd "$DEST" && grep -v -e '^#' -e '\.tgz$' "$SUMS" | sha256sum --quiet -c -) >/dev/null 2>&1
}

if [[ -f $DEST/.complete ]] && verify_tree; then
  exit 0
fi

mkdir -p "$CACHE"
want=$(awk -v f="$TGZ" '$2==f {print $1}' "$SUMS")
if [[ ! -f $CACHE/$TGZ ]] || [[ $(sha256sum "$CACHE/$TGZ" | cut -d' ' -f1) != "$want" ]]; then
  echo "setup: fetching $ORT_PKG@$ORT_VER with npm pack"
  rm -f "$CACHE/$TGZ"
  (cd "$CACHE" && npm pack --silent "$ORT_PKG@$ORT_VER" >/dev/null)
fi
got=$(sha256sum "$CACHE/$TGZ" | cut -d' ' -f1)
if [[ $got != "$want" ]]; then
  echo "setup: checksum mismatch for $TGZ: got $got, want $want" >&2
  exit 1
fi

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar xzf "$CACHE/$TGZ" -C "$tmp" "$HDR_DIR" "$LIB_DIR/libonnxruntime.so" "$LIB_DIR/libonnxruntime_providers_shared.so"
rm -rf "$DEST"; mkdir -p "$DEST/include" "$DEST/lib"
cp "$tmp/$HDR_DIR"/*.h "$DEST/include/"
rm -f "$DEST/include/coreml_provider_factory.h"
cp "$tmp/$LIB_DIR"/*.so "$DEST/lib/"
ln -sf libonnxruntime.so "$DEST/lib/libonnxruntime.so.1"
if ! verify_tree; then
  echo "setup: extracted ONNX Runtime files do not match tools/ort.sha256" >&2
  exit 1
fi
touch "$DEST/.complete"
echo "setup: ONNX Runtime $ORT_VER ready in third_party/onnxruntime"
