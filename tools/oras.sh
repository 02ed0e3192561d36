#!/usr/bin/env bash
# Builds the ORAS CLI (oras.land/oras, pinned below) from its Go module into the cache's GOBIN,
# idempotently: nothing happens when `oras version` already reports the pinned version. The
# module's go.sum pins every dependency; the Go checksum database checks the module itself.
# The interop tests and bench/packages use it as a second client of the same registries.
# Usage: tools/oras.sh          (prints the binary's path on stdout)
set -euo pipefail
VERSION=v1.3.6
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
GOBIN=$CACHE/go/bin
bin=$GOBIN/oras
# The version is read into a variable first: `grep -q` closing the pipe early would fail it.
reports() { local out; out=$("$bin" version 2>/dev/null) && grep -q "^Version: *${VERSION#v}$" <<<"$out"; }
if [[ -x $bin ]] && reports; then
  echo "$bin"
  exit 0
fi
GO=$(command -v go || true)
[[ -z $GO && -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go
if [[ -z $GO ]]; then
  echo "oras.sh: Go (1.26 or newer) is not installed; the ORAS CLI is built from its Go module" >&2
  exit 1
fi
echo "oras.sh: building oras.land/oras/cmd/oras@$VERSION into $GOBIN" >&2
mkdir -p "$GOBIN"
GOBIN=$GOBIN GOFLAGS=-trimpath CGO_ENABLED=0 \
  nice "$GO" install -ldflags "-s -w" \
  "oras.land/oras/cmd/oras@$VERSION"
reports || { echo "oras.sh: $bin does not report $VERSION" >&2; exit 1; }
echo "$bin"
