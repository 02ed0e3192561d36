#!/usr/bin/env bash
# Installs the pinned playwright-core (tests/e2e/dashboard/package.json + package-lock.json) into
# the project's cache, for the dashboard's browser test (tests/e2e/test_dashboard.py), and prints
# the node_modules folder it is in. `npm ci --ignore-scripts`: exactly the locked tree, no install
# scripts, and no browser is ever downloaded (the test drives Debian's /usr/bin/chromium).
# Idempotent: nothing is fetched when the cached tree matches the lock file.
# Usage: tools/playwright.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
SRC=tests/e2e/dashboard
want=$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -c1-16)
DEST=$CACHE/playwright/$want
if [[ -f $DEST/.complete ]] && [[ -f $DEST/node_modules/playwright-core/package.json ]]; then
  echo "$DEST/node_modules"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "playwright: npm is not installed" >&2; exit 1; }
echo "playwright: installing $(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/playwright-core \1/p' "$SRC/package.json" | head -1) into $DEST" >&2
rm -rf "$DEST"
mkdir -p "$DEST"
cp "$SRC/package.json" "$SRC/package-lock.json" "$DEST/"
(cd "$DEST" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --silent >&2)
touch "$DEST/.complete"
echo "$DEST/node_modules"
