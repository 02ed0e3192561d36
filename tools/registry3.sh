#!/usr/bin/env bash
# Builds the CNCF Distribution registry v3 (github.com/distribution/distribution/v3, cmd/registry,
# pinned below) from its Go module into the cache's GOBIN as `registry3`, idempotently
# (tools/go_tool.sh): nothing happens when `registry3 --version` already reports the pinned
# version. The interop tests run it beside Debian's docker-registry (distribution 2.8) as a second
# registry implementation.
# Usage: tools/registry3.sh     (prints the binary's path on stdout)
set -euo pipefail
source "$(dirname "$0")/go_tool.sh"
VERSION=v3.1.2
MODULE=github.com/distribution/distribution/v3
reports() { local out; out=$("$1" --version 2>/dev/null) && grep -q " $VERSION\b" <<<"$out"; }
CGO_ENABLED=0 go_tool registry3 "$MODULE/cmd/registry" "$VERSION" "-s -w -X $MODULE/version.version=$VERSION" reports
