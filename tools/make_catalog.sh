#!/usr/bin/env bash
# Builds a model repository and a task catalog from the shipped pre-trained models
# (third_party/models, see tools/fetch_models.sh) and the project's generated models.
# Usage: tools/make_catalog.sh OUT_DIR     -> OUT_DIR/models (repository), OUT_DIR/catalog
# Each tools/catalog.d/*.sh adds its entries: it is called as `snippet MODELS_DIR CATALOG_DIR`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/make_catalog.sh OUT_DIR}
tools/fetch_models.sh
mkdir -p "$OUT/models" "$OUT/catalog"
for snippet in tools/catalog.d/*.sh; do
  [[ -e $snippet ]] || continue
  bash "$snippet" "$(realpath "$OUT/models")" "$(realpath "$OUT/catalog")"
done
