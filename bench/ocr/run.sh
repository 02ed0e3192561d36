#!/usr/bin/env bash
# OCR throughput and the share of pre/post-processing against ONNX Runtime, in process.
# Usage: bench/ocr/run.sh BUILD_DIR [SECONDS] [CONCURRENCY]
#   BUILD_DIR must be configured with -DCONTINUUM_BENCH=ON (the default); this builds its
#   continuum_ocr_bench target, makes the PP-OCRv4 repository and catalog
#   (tools/catalog.d/ocr.sh), renders a page of 15 lines with ImageMagick and reads it for
#   SECONDS (default 10) sequentially and then with CONCURRENCY (default 4) pages in flight.
# Output: BUILD_DIR/ocr_bench/report.txt (what is printed) and report.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(realpath "${1:?usage: bench/ocr/run.sh BUILD_DIR [SECONDS] [CONCURRENCY]}")
SECONDS_EACH=${2:-10}
CONCURRENCY=${3:-4}
WORK=$BUILD/ocr_bench
CONVERT=/usr/bin/convert; [[ -x $CONVERT ]] || CONVERT=convert

if [[ ! -f $ROOT/third_party/models/ocr/.complete ]]; then
  echo "ocr bench: PP-OCR models missing: run tools/fetch_models.sh" >&2
  exit 1
fi
ninja -C "$BUILD" continuum_ocr_bench >/dev/null
rm -rf "$WORK"
mkdir -p "$WORK"
bash "$ROOT/tools/catalog.d/ocr.sh" "$WORK/models" "$WORK/catalog"

# A page: 15 lines of receipt- and document-like text, 22 px DejaVu Sans, generous margins.
grep -v '^#' "$ROOT/tests/tasks/ocr/lines.txt" | grep . | sed -n '1,15p' | sed 's/%/%%/g' > "$WORK/page.txt"
"$CONVERT" -background white -fill black -font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
  -pointsize 22 -interline-spacing 12 "label:$(cat "$WORK/page.txt")" \
  -bordercolor white -border 80x60 "$WORK/page.png"
echo "page: $("$CONVERT" "$WORK/page.png" -format '%wx%h' info:) px, $(wc -l < "$WORK/page.txt") lines; $(nproc) cores"

ARGS=(--models "$WORK/models" --catalog "$WORK/catalog" --page "$WORK/page.png" --seconds "$SECONDS_EACH"
      --concurrency "$CONCURRENCY")
"$BUILD/bin/continuum_ocr_bench" "${ARGS[@]}" 2> "$WORK/bench.log" | tee "$WORK/report.txt"
"$BUILD/bin/continuum_ocr_bench" "${ARGS[@]}" --seconds 3 --json 2>> "$WORK/bench.log" > "$WORK/report.json"
