#!/usr/bin/env bash
# Builds the ORAS CLI (oras.land/oras, pinned below) from its Go module into the cache's GOBIN,
# idempotently (tools/go_tool.sh): nothing happens when `oras version` already reports the pinned
# version. The interop tests and bench/packages use it as a second client of the same registries.
# Usage: tools/oras.sh          (prints the binary's path on stdout)
set -euo pipefail
source "$(dirname "$0")/go_tool.sh"
VERSION=v1.3.6
# The version is read into a variable first: `grep -q` closing the pipe early would fail it.
reports() { local out; out=$("$1" version 2>/dev/null) && grep -q "^Version: *${VERSION#v}$" <<<"$out"; }
CGO_ENABLED=0 go_tool oras oras.land/oras/cmd/oras "$VERSION" "-s -w" reports
