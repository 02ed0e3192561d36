#!/usr/bin/env bash
# Builds the pinned cosign (github.com/sigstore/cosign/v2) from the Go module proxy into the
# cache, for the signing interop tests (tests/e2e/test_signing.py). Prints the binary's path.
# Skips the build when the cached binary already reports the pinned version.
# Usage: tools/cosign.sh        (needs Go 1.24 or newer on PATH or in /usr/local/go/bin)
set -euo pipefail
COSIGN_VERSION=v2.6.5
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
BIN=$CACHE/go/bin/cosign

installed_version() {
  "$BIN" version --json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p'
}

if [[ -x $BIN ]] && [[ $(installed_version) == "$COSIGN_VERSION" ]]; then
  echo "$BIN"
  exit 0
fi
GO=$(command -v go || true)
[[ -z $GO && -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go
if [[ -z $GO ]]; then
  echo "cosign.sh: Go is needed to build cosign $COSIGN_VERSION" >&2
  exit 1
fi
mkdir -p "$CACHE/go/bin"
echo "cosign.sh: building cosign $COSIGN_VERSION (go install, a few minutes)" >&2
# The module's own go.sum pins every dependency; GOFLAGS=-trimpath keeps local paths out of the binary.
# cosign's version is set at link time by its Makefile; go install leaves it to the module version.
GOBIN=$CACHE/go/bin GOFLAGS=-trimpath GOPATH=$CACHE/go/path GOCACHE=$CACHE/go/build \
  nice "$GO" install "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION" >&2
got=$(installed_version)
if [[ $got != "$COSIGN_VERSION" ]]; then
  echo "cosign.sh: built cosign reports version '$got', want $COSIGN_VERSION" >&2
  exit 1
fi
echo "$BIN"
