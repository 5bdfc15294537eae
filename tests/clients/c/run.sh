#!/bin/sh
# Builds the C client test against Debian's libzookeeper-mt and runs it: run.sh --hosts H:P
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ "${1:-}" = "--hosts" ] || { echo "usage: $0 --hosts HOST:PORT" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O1 -Wall -Werror -DTHREADED -o "$out/c_client" "$here/c_client.c" -lzookeeper_mt -lpthread
"$out/c_client" "$2"
