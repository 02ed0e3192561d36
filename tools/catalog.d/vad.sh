#!/usr/bin/env bash
# Catalog entry "@cf/snakers4/silero-vad" (task voice-activity-detection) and its repository model
# `silero_vad` (Silero VAD v5 from @ricky0123/vad-web, fetched by tools/fetch_models.sh).
# Called by tools/make_catalog.sh as: vad.sh MODELS_DIR CATALOG_DIR
#
# The model is stateful (each 32 ms window carries the recurrent state of the one before), so it
# must not batch: max_batch_size 0, and no dynamic batching. One instance: windows are tiny and the
# task sends them one at a time per request; concurrent requests share the queue. No warm-up: the
# repository's zero-filled warm-up request ([1, 1] audio, sr 0) is not a valid Silero input.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODELS=${1:?usage: vad.sh MODELS_DIR CATALOG_DIR}
CATALOG=${2:?usage: vad.sh MODELS_DIR CATALOG_DIR}
ONNX=$PWD/third_party/models/vad/silero_vad_v5.onnx
if [[ ! -f $ONNX ]]; then
  echo "catalog.d/vad.sh: $ONNX is missing (run tools/fetch_models.sh)" >&2
  exit 1
fi

mkdir -p "$MODELS/silero_vad/1" "$CATALOG/silero-vad"
ln -sfn "$ONNX" "$MODELS/silero_vad/1/model.onnx"
cat > "$MODELS/silero_vad/config.json" <<'JSON'
{
  "schema_version": 1,
  "max_batch_size": 0,
  "instance_count": 1,
  "warmup": false,
  "labels": {"task": "voice-activity-detection", "weights": "Silero VAD v5 (MIT)"}
}
JSON

cat > "$CATALOG/silero-vad/catalog.json" <<'JSON'
{
  "schema_version": 1,
  "name": "@cf/snakers4/silero-vad",
  "task": "voice-activity-detection",
  "description": "Silero VAD v5: finds the speech segments in a WAV file (any sample rate, format or channel count; analysed at 16 kHz in 32 ms windows). Returns start and end times in seconds.",
  "license": "MIT",
  "source": "npm @ricky0123/vad-web@0.0.31 (Silero VAD v5)",
  "models": {"vad": "silero_vad"},
  "settings": {
    "sample_rate": 16000,
    "window_samples": 512,
    "context_samples": 64,
    "threshold": 0.5,
    "min_speech_ms": 250,
    "min_silence_ms": 100,
    "speech_pad_ms": 30
  }
}
JSON
