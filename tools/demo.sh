#!/usr/bin/env bash
# `make demo`: the fleet, then the continuum on one machine — a cloud node, an edge node, an emulated device, link
# emulators between them and the gateway in front; a scripted scenario shows where requests go
# and why as the links change. Ctrl-C stops everything. See tools/demo.py.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
# First the fleet (tools/demo_fleet.py): a hub, three agents, a rollout in batches, the gateway
# following it; then the routing scenario, which keeps serving until Ctrl-C.
/usr/bin/python3 tools/demo_fleet.py "$BUILD"
exec /usr/bin/python3 tools/demo.py "$BUILD" "${@:2}"
