#!/usr/bin/env bash
# Installs what Continuum needs to build and test, idempotently:
#   - Debian packages (compiler toolchain, Boost.Beast, simdjson, GoogleTest, ...)
#   - ONNX Runtime from the pinned npm package, checksum-verified, into third_party/onnxruntime (ignored)
# Usage: tools/setup.sh [--bench] [--gpu]
#   --bench  also installs the benchmark-only extras (wrk; nginx, the reverse proxy bench/gateway compares
#            the gateway with, is installed for every run: e2e_tls uses it as a TLS peer; the tests and
#            benchmarks run their own nginx process, the package's service is not used;
#            the model servers bench/peers compares serve with and perf_analyzer: tools/peers.sh)
#   --gpu    also fetches the CUDA 13 execution provider (loads beside the CPU library; needs an
#            NVIDIA driver and the CUDA 13 runtime libraries on the machine)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DEBS=(build-essential cmake ninja-build pkg-config clang clang-tidy-14 libclang-rt-14-dev
      libboost1.74-dev libsimdjson-dev libgtest-dev libgmock-dev libbenchmark-dev
      python3-onnx python3-numpy libonnx-testdata prometheus curl
      libpng-dev libjpeg62-turbo-dev zlib1g-dev espeak-ng sox imagemagick fonts-dejavu-core libssl-dev openssl nginx
      libsqlite3-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc python3-cryptography)
WANT_GPU=0
WANT_PEERS=0
for a in "$@"; do
  case $a in
    --bench) DEBS+=(wrk); WANT_PEERS=1 ;;
    --gpu) WANT_GPU=1 ;;
    *) echo "setup: unknown option $a" >&2; exit 2 ;;
  esac
done
# libsodium: nacl/secretbox of cosign's encrypted private keys (src/signing).
DEBS+=(libsodium-dev)
# skopeo: reads and copies the OCI image layouts `continuum pack` writes (e2e_pack, packages_test).
DEBS+=(skopeo)
# docker-registry (distribution 2.8) and htpasswd: the real OCI registry the package tests push to and
# pull from (tests/e2e/registry.py starts its own process on loopback).
DEBS+=(docker-registry apache2-utils)
# chromium: the hub's dashboard page in a real, headless browser (tests/e2e/test_dashboard.py, driven
# by the pinned playwright-core that tools/playwright.sh installs; no browser is downloaded).
DEBS+=(chromium)
# PostgreSQL: the hub's shared store for several replicas (libpq) and the throwaway server its tests
# start (tools/postgres.sh).
DEBS+=(postgresql libpq-dev)

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

# The ORAS CLI, the distribution v3 registry and cosign, built from their pinned Go modules into the
# cache (tools/oras.sh, tools/registry3.sh, tools/cosign.sh; nothing to do once built) for
# e2e_interop, e2e_signing and bench/packages.
if command -v go >/dev/null 2>&1 || [[ -x /usr/local/go/bin/go ]]; then
  tools/oras.sh >/dev/null
  tools/registry3.sh >/dev/null
  tools/cosign.sh >/dev/null
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

verify_tree() {  # checks every extracted CPU-package file against the committed list
  (cd "$DEST" && grep -v -e '^#' -e '\.tgz$' -e ' gpu/' "$SUMS" | sha256sum --quiet -c -) >/dev/null 2>&1
}

fetch() {  # fetch PACKAGE VERSION: npm pack into the cache, verified against the committed sum
  local tgz=$1-$2.tgz want got
  want=$(awk -v f="$tgz" '$2==f {print $1}' "$SUMS")
  mkdir -p "$CACHE"
  if [[ ! -f $CACHE/$tgz ]] || [[ $(sha256sum "$CACHE/$tgz" | cut -d' ' -f1) != "$want" ]]; then
    echo "setup: fetching $1@$2 with npm pack"
    rm -f "$CACHE/$tgz"
    (cd "$CACHE" && npm pack --silent "$1@$2" >/dev/null)
  fi
  got=$(sha256sum "$CACHE/$tgz" | cut -d' ' -f1)
  if [[ $got != "$want" ]]; then
    echo "setup: checksum mismatch for $tgz: got $got, want $want" >&2
    exit 1
  fi
}

install_gpu() {
  local gtgz=$ORT_PKG.linux-x64-gpu-$ORT_VER.tgz want
  want=$(awk '$2=="gpu/libonnxruntime_providers_cuda.so" {print $1}' "$SUMS")
  if [[ -f $DEST/lib/libonnxruntime_providers_cuda.so ]] &&
     [[ $(sha256sum "$DEST/lib/libonnxruntime_providers_cuda.so" | cut -d' ' -f1) == "$want" ]]; then
    return
  fi
  fetch "$ORT_PKG.linux-x64-gpu" "$ORT_VER"
  tar xzf "$CACHE/$gtgz" -C "$DEST/lib" --strip-components=4 "$LIB_DIR/libonnxruntime_providers_cuda.so"
  if [[ $(sha256sum "$DEST/lib/libonnxruntime_providers_cuda.so" | cut -d' ' -f1) != "$want" ]]; then
    echo "setup: extracted CUDA provider does not match tools/ort.sha256" >&2
    rm -f "$DEST/lib/libonnxruntime_providers_cuda.so"
    exit 1
  fi
  echo "setup: CUDA execution provider ready in third_party/onnxruntime/lib"
}

if [[ -f $DEST/.complete ]] && verify_tree; then
  if ((WANT_GPU)); then install_gpu; fi
  if ((WANT_PEERS)); then "$ROOT/tools/peers.sh"; fi
  "$ROOT/tools/fetch_models.sh"
  if [[ ! -f tests/e2e/openai/node_modules/openai/package.json ]]; then
    (cd tests/e2e/openai && npm ci --ignore-scripts --no-audit --no-fund --silent)
  fi
  if [[ ! -f tests/e2e/cloudflare/node_modules/cloudflare/package.json ]]; then
    (cd tests/e2e/cloudflare && npm ci --ignore-scripts --no-audit --no-fund --silent)
  fi
  tools/playwright.sh >/dev/null
  exit 0
fi

fetch "$ORT_PKG" "$ORT_VER"

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
if ((WANT_GPU)); then install_gpu; fi
if ((WANT_PEERS)); then "$ROOT/tools/peers.sh"; fi
"$ROOT/tools/fetch_models.sh"
# The official openai client for the e2e test of /v1/embeddings (pinned in its package-lock.json).
if [[ ! -f tests/e2e/openai/node_modules/openai/package.json ]]; then
  (cd tests/e2e/openai && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi
# The official cloudflare client for the e2e test of the Workers AI routes (pinned likewise).
if [[ ! -f tests/e2e/cloudflare/node_modules/cloudflare/package.json ]]; then
  (cd tests/e2e/cloudflare && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi
# playwright-core for the dashboard's browser test (pinned in tests/e2e/dashboard/package-lock.json).
tools/playwright.sh >/dev/null
