#!/usr/bin/env bash
# Text-embeddings throughput through the task layer (tokenizer, sub-batching, the repository's
# dynamic batcher, ONNX Runtime, pooling): 1,000 short texts sent as requests of 32 texts versus
# one text per request, 32 requests in flight (saturation). Target: batching >= 2x.
# Usage: bench/embeddings/run.sh BUILD_DIR [extra options for continuum_embeddings_bench]
# BUILD_DIR must be configured with -DCONTINUUM_BENCH=ON (the default); the script builds the
# driver and the generated models (src/tasks/text/gen_tiny_bert.py --bench) it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:?usage: bench/embeddings/run.sh BUILD_DIR [options]}
shift
ninja -C "$BUILD" continuum_embeddings_bench >/dev/null
MODELS=$BUILD/src/tasks/text
for model in bench_bert/bench-bert-embeddings tiny_bert/tiny-bert-embeddings; do
  "$BUILD/bin/continuum_embeddings_bench" --model "$MODELS/$model" --texts 1000 --batch 32 --concurrency 32 "$@"
  echo
done
