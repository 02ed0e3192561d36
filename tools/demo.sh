#!/usr/bin/env bash
# `make demo`: serves a small demo model repository and prints requests to try. Ctrl-C stops it.
set -euo pipefail
BUILD=${1:-build}
PORT=${PORT:-8000}
cd "$(dirname "$0")/.."
BIN=$BUILD/bin/continuum
REPO=$BUILD/demo_models

# The demo repository: generated models (no weights are downloaded), each with a config.json.
if [[ ! -f $REPO/.stamp ]]; then
  rm -rf "$REPO"
  /usr/bin/python3 tools/gen_test_models.py "$BUILD/demo_models.all" >/dev/null
  mkdir -p "$REPO"
  for m in add_sub mlp identity_string fixed_shape; do cp -r "$BUILD/demo_models.all/$m" "$REPO/"; done
  cat > "$REPO/mlp/config.json" <<'JSON'
{
  "schema_version": 1,
  "max_batch_size": 32,
  "dynamic_batching": {"preferred_batch_size": [8, 16, 32], "max_queue_delay_microseconds": 500},
  "instance_count": 1,
  "labels": {"demo": "true", "task": "regression"},
  "limits": {"max_queue_size": 512}
}
JSON
  cat > "$REPO/add_sub/config.json" <<'JSON'
{"schema_version": 1, "max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 100}}
JSON
  touch "$REPO/.stamp"
fi

"$BIN" serve --model-repository "$REPO" --http-port "$PORT" --model-control-mode poll &
PID=$!
cleanup() { kill -TERM $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; }
trap cleanup EXIT INT TERM

URL=http://127.0.0.1:$PORT
for _ in $(seq 1 200); do
  curl -fs "$URL/v2/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; eval "$*"; echo; }
echo
echo "Continuum is serving $REPO on $URL (poll mode: drop a new version folder in and it is picked up)."
say "curl -s $URL/v2/health/ready"
say "curl -s $URL/v2/models/add_sub"
say "curl -s -X POST $URL/v2/models/add_sub/infer -H 'Content-Type: application/json' -d '{\"id\":\"demo-1\",\"inputs\":[{\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,16],\"data\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]},{\"name\":\"INPUT1\",\"datatype\":\"FP32\",\"shape\":[1,16],\"data\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}],\"outputs\":[{\"name\":\"OUTPUT0\"}]}'"
say "curl -s -X POST $URL/v2/models/identity_string/infer -d '{\"inputs\":[{\"name\":\"INPUT0\",\"datatype\":\"BYTES\",\"shape\":[1,4],\"data\":[\"edge\",\"cloud\",\"device\",\"continuum\"]}]}'"
say "curl -s $URL/v2/models/mlp/config"
say "curl -s -X POST $URL/v2/repository/index"
say "curl -s $URL/v2/models/add_sub/stats"
say "curl -s $URL/metrics | grep -E '^continuum_inference_(request_success|exec_count)'"
cat <<MSG
More to try:
  curl -s $URL/v2                                   # server metadata and extensions
  curl -s $URL/v2/models/mlp                        # derived signature of a 4x512 MLP
  curl -s $URL/metrics                              # Prometheus metrics
  bench/run_all.sh $BUILD                           # benchmarks (make bench)

Serving until Ctrl-C.
MSG
wait $PID
