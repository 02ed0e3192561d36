#!/usr/bin/env bash
# Runs every fuzz target for a short while on its seed corpus; fails on any crash.
# Usage: tools/run_fuzzers.sh BUILD_FUZZ_DIR SECONDS [SEED]
# SEED (default 1) fixes libFuzzer's random choices, so that a run here finds what the same run
# finds anywhere else: CI repeats the developer's run instead of drawing new inputs each time.
# SEED=0 draws a new seed per run, for exploring (`make fuzz FUZZ_SECONDS=600 FUZZ_SEED=0`).
# A crash found while exploring is fixed, and its input (minimized) added to fuzz/corpus/NAME.
set -euo pipefail
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-20}
SEED=${3:-1}
cd "$(dirname "$0")/.."
status=0 passed=0 failed=0
for target in "$BUILD"/bin/*_fuzz; do
  name=$(basename "$target" _fuzz)
  corpus=fuzz/corpus/$name
  work=$(mktemp -d)
  [[ -d $corpus ]] && cp -r "$corpus"/. "$work"/
  echo "fuzz: $name for ${SECONDS_EACH}s (seed $SEED)"
  if "$target" -max_total_time="$SECONDS_EACH" -seed="$SEED" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$BUILD/" "$work" > "$BUILD/$name.fuzz.log" 2>&1; then
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$BUILD/$name.fuzz.log" | sed 's/^/  /'
    passed=$((passed + 1))
  else
    echo "fuzz: $name FAILED; the crashing input is in $BUILD/ (see $BUILD/$name.fuzz.log)"
    tail -40 "$BUILD/$name.fuzz.log"
    failed=$((failed + 1))
    status=1
  fi
  rm -rf "$work"
done
echo "fuzz: $passed passed, $failed failed"
exit $status
