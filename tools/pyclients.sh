#!/usr/bin/env bash
# Installs the Python clients the e2e tests use (tools/pyclients.txt: Triton's tritonclient[grpc,http])
# into a virtual environment under the project's cache, idempotently; prints nothing when it is
# already up to date. The e2e tests find it at $CONTINUUM_CACHE/venv (~/.cache/continuum/venv).
# Usage: tools/pyclients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
VENV=$CACHE/venv
REQS=tools/pyclients.txt
STAMP=$VENV/.pyclients.sha256
want=$(sha256sum "$REQS" | cut -d' ' -f1)
if [[ -x $VENV/bin/python ]] && [[ -f $STAMP ]] && [[ $(cat "$STAMP") == "$want" ]]; then
  exit 0
fi
echo "pyclients: installing $(grep -v '^#' "$REQS" | tr '\n' ' ')into $VENV"
mkdir -p "$CACHE"
/usr/bin/python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
echo "$want" > "$STAMP"
