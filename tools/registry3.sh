#!/usr/bin/env bash
# Builds the CNCF Distribution registry v3 (github.com/distribution/distribution/v3, cmd/registry,
# pinned below) from its Go module into the cache's GOBIN as `registry3`, idempotently: nothing
# happens when `registry3 --version` already reports the pinned version. The module's go.sum pins
# every dependency; the Go checksum database checks the module itself. The interop tests run it
# beside Debian's docker-registry (distribution 2.8) as a second registry implementation.
# Usage: tools/registry3.sh     (prints the binary's path on stdout)
set -euo pipefail
VERSION=v3.1.2
MODULE=github.com/distribution/distribution/v3
CACHE=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
GOBIN=$CACHE/go/bin
bin=$GOBIN/registry3
# The version is read into a variable first: `grep -q` closing the pipe early would fail it.
reports() { local out; out=$("$bin" --version 2>/dev/null) && grep -q " $VERSION\b" <<<"$out"; }
if [[ -x $bin ]] && reports; then
  echo "$bin"
  exit 0
fi
GO=$(command -v go || true)
[[ -z $GO && -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go
if [[ -z $GO ]]; then
  echo "registry3.sh: Go (1.26 or newer) is not installed; the registry is built from its Go module" >&2
  exit 1
fi
echo "registry3.sh: building $MODULE/cmd/registry@$VERSION into $bin" >&2
mkdir -p "$GOBIN"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# go install names the binary after its package (`registry`); built into a folder of its own and
# renamed so it cannot be mistaken for another registry on PATH.
GOBIN=$work GOFLAGS=-trimpath CGO_ENABLED=0 \
  nice "$GO" install -ldflags "-s -w -X $MODULE/version.version=$VERSION" "$MODULE/cmd/registry@$VERSION"
mv "$work/registry" "$bin"
reports || { echo "registry3.sh: $bin does not report $VERSION" >&2; exit 1; }
echo "$bin"
