# Sourced by tools/oras.sh, tools/registry3.sh and tools/cosign.sh: builds one command of a pinned
# Go module into the cache's GOBIN, idempotently. The module's go.sum pins every dependency; the Go
# checksum database checks the module itself.
#
#   go_tool NAME PACKAGE VERSION LDFLAGS REPORTS
#
# NAME is the binary's name in $CONTINUUM_CACHE/go/bin (the command is built into a folder of its
# own and renamed, so it cannot be mistaken for another of the same package name on PATH);
# REPORTS is a function that succeeds when the binary given as its argument reports VERSION:
# nothing is built when the cached binary does. Prints the binary's path on stdout. Build settings
# the caller exports (CGO_ENABLED, GOPATH, GOCACHE) apply.
go_tool() {
  local name=$1 package=$2 version=$3 ldflags=$4 reports=$5
  local cache=${CONTINUUM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/continuum}
  local bin=$cache/go/bin/$name
  if [[ -x $bin ]] && "$reports" "$bin"; then
    echo "$bin"
    return 0
  fi
  local go
  go=$(command -v go || true)
  [[ -z $go && -x /usr/local/go/bin/go ]] && go=/usr/local/go/bin/go
  if [[ -z $go ]]; then
    echo "$name: Go (1.26 or newer) is not installed; $name is built from its Go module $package" >&2
    return 1
  fi
  echo "$name: building $package@$version into $bin (go install, minutes the first time)" >&2
  mkdir -p "$cache/go/bin"
  local work
  work=$(mktemp -d)
  if ! GOBIN=$work GOFLAGS=-trimpath nice "$go" install -ldflags "$ldflags" "$package@$version" >&2; then
    rm -rf "$work"
    return 1
  fi
  mv "$work/${package##*/}" "$bin"
  rm -rf "$work"
  "$reports" "$bin" || { echo "$name: $bin does not report $version" >&2; return 1; }
  echo "$bin"
}
