#!/usr/bin/env bash
# Installs the servers bench/peers/ compares `continuum serve` with, idempotently (prints nothing
# when they are up to date), each apart because their dependencies clash:
#   KServe's Python model server   venv $CONTINUUM_CACHE/peers/kserve    (bench/peers/kserve.txt)
#   Seldon MLServer                 venv $CONTINUUM_CACHE/peers/mlserver  (bench/peers/mlserver.txt)
#   Node.js + onnxruntime-node      bench/node/node_modules (bench/node/package-lock.json)
# and perf_analyzer, which drives them (tools/perf_analyzer.sh). Every package is pinned to an
# exact version. Linux x86_64 only (perf_analyzer exists only there): elsewhere it says so and
# exits 0, and the benchmark skips.
# Usage: tools/peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  echo "peers: skipped, the comparison runs on Linux x86_64 only (this is $(uname -s) $(uname -m))"
  exit 0
fi
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
tools/perf_analyzer.sh

for peer in kserve mlserver; do
  venv=$CACHE/peers/$peer reqs=bench/peers/$peer.txt
  stamp=$venv/.peers.sha256 want=$(sha256sum "$reqs" | cut -d' ' -f1)
  if [[ -x $venv/bin/python ]] && [[ -f $stamp ]] && [[ $(cat "$stamp") == "$want" ]]; then continue; fi
  echo "peers: installing $(grep -m2 -e '^kserve==' -e '^mlserver==' -e '^onnxruntime==' "$reqs" | tr '\n' ' ')into $venv"
  rm -rf "$venv"
  mkdir -p "$CACHE/peers"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: -r "$reqs"
  echo "$want" > "$stamp"
done

if [[ ! -f bench/node/node_modules/onnxruntime-node/package.json ]]; then
  echo "peers: installing onnxruntime-node into bench/node (npm ci)"
  (cd bench/node && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi
