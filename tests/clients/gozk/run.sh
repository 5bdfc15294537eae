#!/bin/sh
# Build (offline, GOPATH mode against the Debian go-zookeeper source) and run the
# go-zookeeper client test:  tests/clients/gozk/run.sh --hosts 127.0.0.1:PORT [--skip-expiry]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=/usr/share/gocode/src/github.com/samuel/go-zookeeper/zk
if ! command -v go >/dev/null 2>&1 || [ ! -d "$src" ]; then
    echo "FAIL: go or go-zookeeper source missing; run scripts/install-test-deps.sh" >&2
    exit 1
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/gozk.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
# GOCACHE must be writable; keep it between runs when HOME is usable.
export GOCACHE="${GOCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/go-build}"
mkdir -p "$GOCACHE" 2>/dev/null || export GOCACHE="$out/cache"
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOPROXY=off
(cd "$here" && go build -o "$out/gozk" .)
"$out/gozk" "$@"
