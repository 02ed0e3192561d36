#!/usr/bin/env bash
# The hub at fleet scale: a real `continuum hub` (SQLite store) and N simulated agents in one
# process (continuum_fleet_scale) over real sockets. Prints the hub's CPU and memory while the fleet
# idles, an idle node's control bytes per day, and the time for a deployment to reach 99 % of
# its matching nodes (one batch, and four batches).
#   bench/fleet/run.sh [BUILD_DIR] [AGENTS] [IDLE_SECONDS]
set -euo pipefail
BUILD=${1:-build}
AGENTS=${2:-10000}
IDLE=${3:-60}
BIN=$BUILD/bin/continuum
SCALE=$BUILD/bench/fleet/continuum_fleet_scale
[[ -x $SCALE ]] || SCALE=$BUILD/bin/continuum_fleet_scale
ninja -C "$BUILD" continuum continuum_fleet_scale >/dev/null
TMP=$(mktemp -d)
trap 'kill $HUB 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
ulimit -n "$(ulimit -Hn)"
export COSIGN_PASSWORD=""
"$BIN" generate-key-pair --output-key-prefix "$TMP/hub" 2>/dev/null
"$BIN" hub --key "$TMP/hub.key" --store "sqlite:$TMP/hub.db" --http-address 127.0.0.1 --http-port 0 \
  --max-connections 1000000 --max-nodes 1000000 --max-waiters 1000000 --tick-ms 1000 \
  >"$TMP/hub.out" 2>"$TMP/hub.log" &
HUB=$!
for _ in $(seq 600); do grep -q 'listening on port' "$TMP/hub.out" && break; sleep 0.05; done
PORT=$(grep -o 'listening on port [0-9]*' "$TMP/hub.out" | awk '{print $4}')
echo "hub pid $HUB on port $PORT; $AGENTS agents; idle window ${IDLE}s"
"$SCALE" --hub-url "http://127.0.0.1:$PORT" --hub-pid "$HUB" --hub-key "$TMP/hub.pub" --agents "$AGENTS" \
  --idle-seconds "$IDLE"
