#!/usr/bin/env bash
# smoke.sh HOST:PORT — a few seconds of tiny zkbench runs against a running server, for CI.
#
# Runs read, write, mixed, create, watch and bulk-load briefly (4 sessions, under a prefix of
# its own, cleaned up afterwards) and checks each JSON line: status ok, ops > 0, errors == 0.
# Exit status 0 when all pass, 1 otherwise. The server needs no special configuration (the
# runs stay under ZooKeeper's default 60 connections per IP).
#
# Environment: ZKBENCH (path to the binary; default target/release or target/debug, built
# with `cargo build -p bench` when neither exists), SMOKE_DURATION (seconds, default 1).

set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 HOST:PORT" >&2
    exit 2
fi
HOST=$1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
D=${SMOKE_DURATION:-1}

if [ -z "${ZKBENCH:-}" ]; then
    if [ -x "$ROOT/target/release/zkbench" ]; then
        ZKBENCH="$ROOT/target/release/zkbench"
    else
        if [ ! -x "$ROOT/target/debug/zkbench" ]; then
            (cd "$ROOT" && cargo build -q -p bench) || { echo "smoke: build failed" >&2; exit 1; }
        fi
        ZKBENCH="$ROOT/target/debug/zkbench"
    fi
fi

PREFIX="/zkbench-smoke-$$"
COMMON=(--hosts "$HOST" --sessions 4 --warmup 0 --prefix "$PREFIX" --keys 200 --value-size 100
    --cleanup --timeout 60)
pass=0
fail=0

# check NAME ARGS...: one run, one verdict.
check() {
    local name=$1 line rc=0 ops
    shift
    line=$("$ZKBENCH" "${COMMON[@]}" "$@") || rc=$?
    ops=$(sed -nE 's/.*"ops":([0-9]+),.*/\1/p' <<<"$line")
    if [ "$rc" = 0 ] &&
        [[ "$line" == *'"status":"ok"'* ]] &&
        [[ "$line" == *'"errors":0,'* ]] &&
        [ -n "$ops" ] && [ "$ops" -gt 0 ]; then
        pass=$((pass + 1))
        echo "ok   $name: ops=$ops $(sed -nE 's/.*"ops_per_sec":([0-9.]+).*"p99":([0-9]+).*/\1 ops\/s, p99 \2 us/p' <<<"$line")"
    else
        fail=$((fail + 1))
        echo "FAIL $name (exit $rc): ${line:-no output}"
    fi
}

check read --workload read --duration "$D"
check write --workload write --duration "$D"
check mixed --workload mixed --duration 2 --read-pct 90
check create --workload create --duration "$D"
check watch --workload watch --watchers 8 --duration "$D"
check bulk-load --workload bulk-load --count 500 --inflight 8

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
