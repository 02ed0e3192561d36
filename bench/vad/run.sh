#!/usr/bin/env bash
# Voice-activity-detection real-time factor on one core (audio seconds processed per wall second;
# target >= 100x), straight through an ORT session and through the model repository's scheduler.
# Usage: bench/vad/run.sh BUILD_DIR [SECONDS]
#   BUILD_DIR must hold bin/continuum_vad_bench (configure with -DCONTINUUM_BENCH=ON, then
#   `ninja continuum_vad_bench`). The audio: espeak-ng sentences with pauses, about SECONDS long
#   (default 120), as 16 kHz mono 16-bit and as 44.1 kHz stereo 16-bit (decode + resample cost).
#   Run it on an otherwise idle machine: the figures are best-of-3 wall times.
set -euo pipefail
BUILD=${1:?usage: bench/vad/run.sh BUILD_DIR [SECONDS]}
LENGTH=${2:-120}
cd "$(dirname "$0")/../.."
BIN=$BUILD/bin/continuum_vad_bench
if [[ ! -x $BIN ]]; then
  echo "run.sh: $BIN is missing: cmake -S . -B $BUILD -DCONTINUUM_BENCH=ON && ninja -C $BUILD continuum_vad_bench" >&2
  exit 1
fi
tools/fetch_models.sh >/dev/null
MODEL=third_party/models/vad/silero_vad_v5.onnx
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

i=0
parts=()
while IFS='|' read -r voice wpm text; do
  espeak-ng -w "$WORK/u$i.wav" -v "$voice" -s "$wpm" "$text"
  sox -n -r 22050 -c 1 -b 16 "$WORK/s$i.wav" trim 0 "0.$((3 + i % 6))"
  parts+=("$WORK/u$i.wav" "$WORK/s$i.wav")
  i=$((i + 1))
done <<'TEXT'
en-us|175|The quick brown fox jumps over the lazy dog
en-gb|150|Please call Stella and ask her to bring these things with her from the store
en-us+f3|190|Voice activity detection finds the parts of a recording where somebody speaks
de|165|Der Hund spielt im Garten mit einem roten Ball
en-us+m3|130|Seven fish swam slowly past the harbour wall while the sun went down
fr|170|Le chat dort tranquillement sur le canapé du salon
TEXT
sox "${parts[@]}" "$WORK/block.wav"
block=$(soxi -D "$WORK/block.wav")
repeats=$(awk -v l="$LENGTH" -v b="$block" 'BEGIN { r = int(l / b); print (r < 1 ? 0 : r - 1) }')
sox "$WORK/block.wav" "$WORK/long.wav" repeat "$repeats"
sox -D "$WORK/long.wav" -r 16000 -c 1 -b 16 "$WORK/a16k.wav"
sox -D "$WORK/long.wav" -r 44100 -b 16 "$WORK/a44k.wav" remix 1 1

# Pinned to one CPU (VAD_BENCH_CPU, default 0); VAD_BENCH_CPU=none runs unpinned, where the
# scheduler's thread hand-off per window may cross cores and costs more.
PIN=()
if [[ ${VAD_BENCH_CPU:-0} != none ]] && command -v taskset >/dev/null; then
  PIN=(taskset -c "${VAD_BENCH_CPU:-0}")
fi
echo "== 16 kHz mono 16-bit (one core: ${PIN[*]:-not pinned}) =="
"${PIN[@]}" "$BIN" --model "$MODEL" --wav "$WORK/a16k.wav" --repeat 3 2>/dev/null
echo "== 44.1 kHz stereo 16-bit =="
"${PIN[@]}" "$BIN" --model "$MODEL" --wav "$WORK/a44k.wav" --repeat 3 2>/dev/null
