#!/usr/bin/env bash
# Runs the benchmarks (the three serve benchmarks, the batching policy benchmark, bench/batching/,
# the peers comparison, bench/peers/, the gateway benchmark, bench/gateway/, the TLS benchmark,
# bench/tls/, then the routing
# benchmark, bench/routing/)
# against BUILD_DIR (default: build) and prints a summary.
# The full output goes to stdout and to bench/results/latest.txt (ignored by git).
# Usage: bench/run_all.sh [BUILD_DIR]
# Environment: CONTINUUM_BENCH_WAIT_S=N waits up to N seconds for the 1-minute load average to
# drop below 0.7 before each benchmark (figures taken while something else runs are noisy).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-$HERE/../build}" && pwd)
PY=/usr/bin/python3
OUT=$HERE/results
mkdir -p "$OUT"
LOG=$(mktemp "$OUT/run.XXXXXX")
trap 'rm -f "$LOG"' EXIT

for bin in continuum continuum_loadgen continuum_inproc_bench; do
  if [[ ! -x $BUILD/bin/$bin ]]; then
    echo "run_all: $BUILD/bin/$bin is missing; build with: ninja -C $BUILD continuum continuum_loadgen continuum_inproc_bench test_models test_pki" >&2
    exit 1
  fi
done

status=0
{
  echo "continuum benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  for b in serve_overhead vs_node batching batching/run peers/run gateway/run tls/run routing/run; do
    $PY - <<PYEOF
import sys; sys.path.insert(0, "$HERE"); import benchlib
benchlib.wait_for_quiet()
PYEOF
    start=$SECONDS
    if ! $PY "$HERE/$b.py" "$BUILD"; then
      echo "RESULT $b ERROR the benchmark script failed"
      status=1
    fi
    echo "($b took $((SECONDS - start)) s)"
    echo
  done
  echo "== summary"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit $status
} 2>&1 | tee "$LOG" || status=1

grep '^RESULT' "$LOG" | sed 's/^RESULT /  /' | tee -a "$LOG"
mv "$LOG" "$OUT/latest.txt"
trap - EXIT
exit $status
