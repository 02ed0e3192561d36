#!/usr/bin/env bash
# Builds the pinned cosign (github.com/sigstore/cosign/v2) from the Go module proxy into the
# cache (tools/go_tool.sh), for the signing interop tests (tests/e2e/test_signing.py). Prints the
# binary's path. Skips the build when the cached binary already reports the pinned version.
# Usage: tools/cosign.sh        (needs Go 1.24 or newer on PATH or in /usr/local/go/bin)
set -euo pipefail
source "$(dirname "$0")/go_tool.sh"
COSIGN_VERSION=v2.6.5
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
reports() {
  [[ $("$1" version --json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p') == "$COSIGN_VERSION" ]]
}
# cosign's version is set at link time by its Makefile; go install leaves it to the module version.
GOPATH=$CACHE/go/path GOCACHE=$CACHE/go/build \
  go_tool cosign github.com/sigstore/cosign/v2/cmd/cosign "$COSIGN_VERSION" "" reports
