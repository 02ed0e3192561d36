#!/usr/bin/env bash
# `make demo`: the continuum on one machine — a cloud node, an edge node, an emulated device, link
# emulators between them and the gateway in front; a scripted scenario shows where requests go
# and why as the links change. Ctrl-C stops everything. See tools/demo.py.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
exec /usr/bin/python3 tools/demo.py "$BUILD" "${@:2}"
