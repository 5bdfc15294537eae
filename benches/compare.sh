#!/usr/bin/env bash
# compare.sh — zkserver side by side with Apache ZooKeeper 3.8, standalone, on 127.0.0.1.
#
# Runs the same matrix on each server, alternating A B A B over >= 3 rounds (a fresh data
# directory and a fresh server per round), then prints each figure for both servers with the
# median, the min–max spread and the ratio zkserver/ZooKeeper, and writes
#   benches/results/<date>/raw.jsonl     every zkbench JSON line and every measured figure
#   benches/results/<date>/summary.md    the table
#   benches/results/<date>/compare.png   throughput and p99 latency (gnuplot)
#   benches/results/<date>/env.txt       machine, versions, configuration
#
# Matrix: read, write, 90/10 mixed at 16 and 64 sessions (100-byte values); watch fan-out at
# 1000 watchers; RSS (VmRSS) after bulk-loading 100k and 1M znodes of 100 bytes, bytes on disk
# after that, and restart time with 1M znodes (start -> first successful read).
#
# Usage: benches/compare.sh [--quick] [--only zookeeper|zkserver] [--rounds N] [--keep]
#                           [--no-build] [--out DIR] [--ensemble]
#   --quick     a smoke run: 1 round, 3 s per run, 10k znodes
#   --only X    measure one server only
#   --rounds N  rounds (default 3; at least 3 for a real comparison)
#   --keep      keep the temporary data directories (default: removed on exit)
#   --no-build  use the binaries already in target/release
#   --ensemble  3-member ensembles on 127.0.0.1 instead: read/write/mixed with sessions over
#               all three members, then leader failover (kill -9 -> first write; see README)
# Environment:
#   ZK_HOME        Debian's ZooKeeper (default /usr/share/zookeeper)
#   ZK_JVMFLAGS    extra JVM flags for ZooKeeper, e.g. -Xmx2g (default none: the JVM's own default)
#   INFLIGHT       requests in flight per session (default 1, like a synchronous client)
#   DURATION, WARMUP  seconds per throughput run (default 30 and 5; quick 3 and 1)
#   KEYS           key space of the throughput runs (default 10000)
#   WATCHERS       watch fan-out (default 1000)
#   TMPDIR         where the temporary base goes (data dirs of both servers, same disk)
#
# Every process started here is stopped by PID on exit (trap); everything listens on 127.0.0.1.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZK_HOME=${ZK_HOME:-/usr/share/zookeeper}
ZKBENCH="$ROOT/target/release/zkbench"
ZKSERVER="$ROOT/target/release/zkserver"

QUICK=0
ONLY=""
ROUNDS=""
KEEP=0
BUILD=1
OUT=""
ENSEMBLE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --only) ONLY=${2:-}; shift ;;
        --rounds) ROUNDS=${2:-}; shift ;;
        --keep) KEEP=1 ;;
        --no-build) BUILD=0 ;;
        --out) OUT=${2:-}; shift ;;
        --ensemble) ENSEMBLE=1 ;;
        -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

case "$ONLY" in
    "") SERVERS=(zookeeper zkserver) ;;
    zookeeper|zkserver) SERVERS=("$ONLY") ;;
    *) echo "compare.sh: --only takes zookeeper or zkserver" >&2; exit 2 ;;
esac

if [ "$QUICK" = 1 ]; then
    ROUNDS=${ROUNDS:-1}
    DURATION=${DURATION:-3}
    WARMUP=${WARMUP:-1}
    LOADS=(10000)
else
    ROUNDS=${ROUNDS:-3}
    DURATION=${DURATION:-30}
    WARMUP=${WARMUP:-5}
    LOADS=(100000 1000000)
fi
INFLIGHT=${INFLIGHT:-1}
KEYS=${KEYS:-10000}
WATCHERS=${WATCHERS:-1000}
VALUE_SIZE=100
SESSION_COUNTS=(16 64)
RW_WORKLOADS=(read write mixed)

log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Processes: every PID we start is in PIDS and stopped on exit.

PIDS=()
BASE=""

stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 20 s; killing"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

forget_pid() {
    local pid=$1 p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

on_exit() {
    local rc=$? p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$p"; done
    if [ -n "$BASE" ] && [ -d "$BASE" ]; then
        if [ "$KEEP" = 1 ]; then log "kept $BASE"; else rm -rf "$BASE"; fi
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Prerequisites and build

prerequisites() {
    [ -x "$ZK_HOME/bin/zkServer.sh" ] || [[ " ${SERVERS[*]} " != *" zookeeper "* ]] ||
        die "ZooKeeper not found at $ZK_HOME (Debian: apt-get install zookeeper)"
    command -v java >/dev/null || [[ " ${SERVERS[*]} " != *" zookeeper "* ]] ||
        die "java not found"
    command -v python3 >/dev/null || die "python3 is needed for the summary"
    command -v cargo >/dev/null || [ "$BUILD" = 0 ] || die "cargo not found"
    if ! command -v gnuplot >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            log "installing gnuplot-nox for the plot"
            { apt-get install -y gnuplot-nox || { apt-get update && apt-get install -y gnuplot-nox; }; } \
                >/dev/null 2>&1 || log "could not install gnuplot-nox; no plot"
        else
            log "gnuplot not installed (apt-get install gnuplot-nox); no plot"
        fi
    fi
}

build() {
    [ "$BUILD" = 1 ] || return 0
    local pkgs=(-p bench)
    [[ " ${SERVERS[*]} " == *" zkserver "* ]] && pkgs=(-p zkserver -p bench)
    log "cargo build --release ${pkgs[*]}"
    (cd "$ROOT" && cargo build --release "${pkgs[@]}") >&2
}

# A free TCP port on 127.0.0.1 (the kernel picks it; the race until the server binds is short).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

now_ns() { date +%s%N; }

# ---------------------------------------------------------------------------------------------
# Servers

# write_cfg DIR PORT: the same zoo.cfg for both servers.
write_cfg() {
    local dir=$1 port=$2
    mkdir -p "$dir/data"
    cat >"$dir/zoo.cfg" <<EOF
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
forceSync=yes
admin.enableServer=false
# 1000 watchers come from one IP; the default limit is 60.
maxClientCnxns=0
4lw.commands.whitelist=srvr,ruok,mntr,conf
autopurge.purgeInterval=0
EOF
}

SERVER_PID=""
SERVER_PORT=""

# start_server KIND DIR: launches the server on the port in DIR/zoo.cfg; sets SERVER_PID.
start_server() {
    local kind=$1 dir=$2
    case "$kind" in
        zookeeper)
            # start-foreground execs java, so $! is the JVM's PID. The Debian build logs
            # nothing (no SLF4J binding); stdout/stderr still go to server.log.
            JVMFLAGS="-Dzookeeper.log.dir=$dir ${ZK_JVMFLAGS:-}" \
                "$ZK_HOME/bin/zkServer.sh" start-foreground "$dir/zoo.cfg" \
                >>"$dir/server.log" 2>&1 </dev/null &
            ;;
        zkserver)
            "$ZKSERVER" --config "$dir/zoo.cfg" >>"$dir/server.log" 2>&1 </dev/null &
            ;;
    esac
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# wait_ready PORT TIMEOUT: first successful read; prints the probe's JSON line.
wait_ready() {
    "$ZKBENCH" --workload ready --hosts "127.0.0.1:$1" --timeout "$2"
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    stop_pid "$SERVER_PID"
    forget_pid "$SERVER_PID"
    SERVER_PID=""
}

rss_bytes() {
    awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status" 2>/dev/null || echo 0
}
hwm_bytes() {
    awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# JVM heap in use (bytes) via jcmd, when it answers quickly; empty otherwise.
jvm_heap_used() {
    command -v jcmd >/dev/null || return 0
    timeout 15 jcmd "$1" GC.heap_info 2>/dev/null |
        grep -m1 -oE 'used [0-9]+K' | awk '{ sub("K", "", $2); print $2 * 1024 }' || true
}

# ---------------------------------------------------------------------------------------------
# Recording

RAW=""

# record SERVER ROUND CASE UNIT BETTER VALUE: one measured figure.
record() {
    printf '{"server":"%s","round":%s,"case":"%s","unit":"%s","better":"%s","value":%s}\n' \
        "$1" "$2" "$3" "$4" "$5" "$6" >>"$RAW"
}

# bench SERVER ROUND CASE ARGS...: runs zkbench, keeps its line in RAW; a failed run is
# recorded (its status says why) and the matrix goes on.
# CPU time (user + system, in clock ticks) the server process has used so far.
# In ensemble mode (CPU_PIDS set) the sum over the members.
BENCH_HOSTS=""
CPU_PIDS=()
server_cpu_ticks() {
    local p t=0 v
    for p in "${CPU_PIDS[@]:-$SERVER_PID}"; do
        v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

bench() {
    local server=$1 round=$2 case=$3 line rc=0 cpu0 cpu1 ops
    shift 3
    cpu0=$(server_cpu_ticks)
    line=$("$ZKBENCH" --hosts "${BENCH_HOSTS:-127.0.0.1:$SERVER_PORT}" --seed "$round" "$@") || rc=$?
    cpu1=$(server_cpu_ticks)
    # Server CPU per operation: what the server itself spends, whoever else (the load
    # generator, the kernel's loopback) competes for the same two cores.
    ops=$(printf '%s' "$line" | python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("ops", 0))
except Exception: print(0)')
    if [ "${ops:-0}" -gt 0 ] && [ "$rc" = 0 ]; then
        record "$server" "$round" "$case server_cpu_per_op" us lower \
            "$(awk -v a="$cpu0" -v b="$cpu1" -v n="$ops" -v hz="$(getconf CLK_TCK)" \
                'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }')"
    fi
    if [ -z "$line" ]; then
        log "$server/$case: zkbench printed nothing (exit $rc)"
        return 0
    fi
    printf '{"server":"%s","round":%s,"case":"%s","result":%s}\n' \
        "$server" "$round" "$case" "$line" >>"$RAW"
    if [ "$rc" != 0 ]; then
        log "$server/$case: exit $rc: $line"
    else
        log "$server/$case: $(python3 "$ROOT/benches/summarize.py" --brief "$line")"
    fi
}

count_label() {
    local n=$1
    if [ "$n" -ge 1000000 ] && [ $((n % 1000000)) = 0 ]; then echo "$((n / 1000000))M"
    elif [ "$n" -ge 1000 ] && [ $((n % 1000)) = 0 ]; then echo "$((n / 1000))k"
    else echo "$n"; fi
}

# ---------------------------------------------------------------------------------------------
# One server, one round

run_round() {
    local server=$1 round=$2 dir t0 t1 line
    dir="$BASE/$server-r$round"
    SERVER_PORT=$(free_port)
    write_cfg "$dir" "$SERVER_PORT"
    log "round $round: $server on 127.0.0.1:$SERVER_PORT (data in $dir/data)"

    t0=$(now_ns)
    start_server "$server" "$dir"
    if ! line=$(wait_ready "$SERVER_PORT" 120); then
        log "$server did not become ready: $line"
        tail -n 20 "$dir/server.log" >&2 || true
        stop_server
        return 0
    fi
    t1=$(now_ns)
    record "$server" "$round" "startup_empty_s" s lower "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
    if [ "$server" = zookeeper ] && [ "$round" = 1 ]; then
        {
            echo "zookeeper java command line: $(tr '\0' ' ' <"/proc/$SERVER_PID/cmdline")"
            echo "zookeeper max heap: ${ZK_JVMFLAGS:-JVM default (no -Xmx)}"
        } >>"$OUTDIR/env.txt"
    fi

    # Throughput and latency.
    local s w
    for s in "${SESSION_COUNTS[@]}"; do
        for w in "${RW_WORKLOADS[@]}"; do
            bench "$server" "$round" "${w}_s$s" --workload "$w" --sessions "$s" \
                --inflight "$INFLIGHT" --duration "$DURATION" --warmup "$WARMUP" \
                --keys "$KEYS" --value-size "$VALUE_SIZE" --read-pct 90
        done
    done

    # Watch fan-out.
    bench "$server" "$round" "watch_w$WATCHERS" --workload watch --watchers "$WATCHERS" \
        --duration "$DURATION" --warmup "$WARMUP" --value-size "$VALUE_SIZE"

    # Bulk loads: RSS, heap, disk after each step; the steps add up to LOADS[i] znodes.
    local loaded=0 n label heap
    for n in "${LOADS[@]}"; do
        label=$(count_label "$n")
        bench "$server" "$round" "bulk_$label" --workload bulk-load --prefix "/bulk$label" \
            --count $((n - loaded)) --sessions 16 --inflight 16 --value-size "$VALUE_SIZE"
        loaded=$n
        sleep 1
        record "$server" "$round" "rss_after_${label}_MiB" MiB lower \
            "$(awk -v b="$(rss_bytes "$SERVER_PID")" 'BEGIN { printf "%.1f", b / 1048576 }')"
        record "$server" "$round" "peak_rss_after_${label}_MiB" MiB lower \
            "$(awk -v b="$(hwm_bytes "$SERVER_PID")" 'BEGIN { printf "%.1f", b / 1048576 }')"
        if [ "$server" = zookeeper ]; then
            heap=$(jvm_heap_used "$SERVER_PID")
            [ -n "$heap" ] && record "$server" "$round" "jvm_heap_used_after_${label}_MiB" MiB lower \
                "$(awk -v b="$heap" 'BEGIN { printf "%.1f", b / 1048576 }')"
        fi
        record "$server" "$round" "disk_after_${label}_MiB" MiB lower \
            "$(du -sB1 "$dir/data" | awk '{ printf "%.1f", $1 / 1048576 }')"
        record "$server" "$round" "disk_apparent_after_${label}_MiB" MiB lower \
            "$(du -sb --apparent-size "$dir/data" | awk '{ printf "%.1f", $1 / 1048576 }')"
    done

    # Restart with everything loaded: start -> first successful read.
    stop_server
    t0=$(now_ns)
    start_server "$server" "$dir"
    if line=$(wait_ready "$SERVER_PORT" 600); then
        t1=$(now_ns)
        record "$server" "$round" "restart_with_$(count_label "$loaded")_s" s lower \
            "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
        record "$server" "$round" "rss_after_restart_$(count_label "$loaded")_MiB" MiB lower \
            "$(awk -v b="$(rss_bytes "$SERVER_PID")" 'BEGIN { printf "%.1f", b / 1048576 }')"
    else
        log "$server did not come back after restart: $line"
    fi
    stop_server
    if [ "$KEEP" != 1 ]; then rm -rf "$dir"; fi
}

# ---------------------------------------------------------------------------------------------
# Ensemble mode: 3 members of each server on 127.0.0.1, the throughput matrix against all three
# client ports (zkbench spreads the sessions round-robin over them), then leader failover:
# kill -9 the leader, time until the first successful write through the two survivors.

ENS_N=3
ENS_PIDS=()      # member i (0-based) -> PID ("" once killed)
ENS_PORTS=()     # member i -> client port
ENS_DIRS=()      # member i -> its directory (zoo.cfg, data/, server.log)

# write_ensemble_cfgs BASEDIR: one zoo.cfg per member (the same server.N lines, its own
# dataDir, clientPort and myid); fills ENS_PORTS and ENS_DIRS.
write_ensemble_cfgs() {
    local base=$1 i servers="" q e
    ENS_PORTS=(); ENS_DIRS=()
    for i in $(seq 1 "$ENS_N"); do
        q=$(free_port); e=$(free_port)
        servers+="server.$i=127.0.0.1:$q:$e"$'\n'
        ENS_PORTS+=("$(free_port)")
        ENS_DIRS+=("$base/m$i")
    done
    for i in $(seq 1 "$ENS_N"); do
        write_cfg "${ENS_DIRS[i-1]}" "${ENS_PORTS[i-1]}"
        {
            echo "initLimit=10"
            echo "syncLimit=5"
            printf '%s' "$servers"
        } >>"${ENS_DIRS[i-1]}/zoo.cfg"
        echo "$i" >"${ENS_DIRS[i-1]}/data/myid"
    done
}

# srvr_mode PORT: the member's Mode (leader, follower, ...) from the srvr 4lw; empty when it
# does not answer (2 s bound).
srvr_mode() {
    python3 -c '
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.settimeout(2)
    s.sendall(b"srvr")
    buf = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    for line in buf.decode("utf-8", "replace").splitlines():
        if line.startswith("Mode:"):
            print(line.split(":", 1)[1].strip())
except Exception:
    pass
' "$1" 2>/dev/null || true
}

ENS_LEADER=""    # 0-based index of the leader found by wait_quorum

# wait_quorum TIMEOUT [SKIP]: until one member (SKIP, a dead member's index, aside) says
# leader and all the others follower; sets ENS_LEADER. Returns 1 on timeout.
wait_quorum() {
    local timeout=$1 skip=${2:-} deadline i m leaders followers want=$ENS_N
    [ -n "$skip" ] && want=$((ENS_N - 1))
    deadline=$(( $(date +%s) + timeout ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        leaders=0; followers=0; ENS_LEADER=""
        for i in $(seq 0 $((ENS_N - 1))); do
            [ "$i" = "$skip" ] && continue
            m=$(srvr_mode "${ENS_PORTS[i]}")
            case "$m" in
                leader) leaders=$((leaders + 1)); ENS_LEADER=$i ;;
                follower) followers=$((followers + 1)) ;;
            esac
        done
        if [ "$leaders" = 1 ] && [ $((leaders + followers)) = "$want" ]; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

stop_ensemble() {
    local p
    for p in "${ENS_PIDS[@]+"${ENS_PIDS[@]}"}"; do
        [ -n "$p" ] || continue
        stop_pid "$p"
        forget_pid "$p"
    done
    ENS_PIDS=()
    SERVER_PID=""
}

# ens_hosts [SKIP]: the members' client addresses, comma-separated (SKIP left out).
ens_hosts() {
    local i skip=${1:-} out=""
    for i in $(seq 0 $((ENS_N - 1))); do
        [ "$i" = "$skip" ] && continue
        out+="${out:+,}127.0.0.1:${ENS_PORTS[i]}"
    done
    echo "$out"
}

ens_dump_logs() {
    local i skip=${1:-}
    for i in $(seq 0 $((ENS_N - 1))); do
        [ "$i" = "$skip" ] && continue
        log "member $((i + 1)) (mode '$(srvr_mode "${ENS_PORTS[i]}")'), end of its log:"
        tail -n 10 "${ENS_DIRS[i]}/server.log" >&2 || true
    done
}

run_ensemble_round() {
    local server=$1 round=$2 base t0 t1 i
    base="$BASE/$server-ens-r$round"
    write_ensemble_cfgs "$base"
    log "round $round: $server ensemble, client ports ${ENS_PORTS[*]} (data under $base)"

    t0=$(now_ns)
    ENS_PIDS=()
    for i in $(seq 0 $((ENS_N - 1))); do
        start_server "$server" "${ENS_DIRS[i]}"
        ENS_PIDS+=("$SERVER_PID")
    done
    SERVER_PID=""
    if ! wait_quorum 120; then
        log "$server ensemble: no leader + $((ENS_N - 1)) followers within 120 s"
        ens_dump_logs
        stop_ensemble
        return 0
    fi
    t1=$(now_ns)
    record "$server" "$round" "ens_startup_to_quorum_s" s lower \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
    log "$server ensemble: leader is member $((ENS_LEADER + 1)) (port ${ENS_PORTS[ENS_LEADER]})"
    if [ "$server" = zookeeper ] && [ "$round" = 1 ]; then
        echo "zookeeper java command line (member 1): $(tr '\0' ' ' <"/proc/${ENS_PIDS[0]}/cmdline")" \
            >>"$OUTDIR/env.txt"
    fi

    # Throughput and latency through all three members; server CPU is the members' sum.
    local s w
    BENCH_HOSTS=$(ens_hosts)
    CPU_PIDS=("${ENS_PIDS[@]}")
    for s in "${SESSION_COUNTS[@]}"; do
        for w in "${RW_WORKLOADS[@]}"; do
            bench "$server" "$round" "ens_${w}_s$s" --workload "$w" --sessions "$s" \
                --inflight "$INFLIGHT" --duration "$DURATION" --warmup "$WARMUP" \
                --keys "$KEYS" --value-size "$VALUE_SIZE" --read-pct 90
        done
    done
    BENCH_HOSTS=""
    CPU_PIDS=()

    # Leader failover: find the leader again (it may have changed), kill -9 it, then probe the
    # two survivors with short single-session write runs (0.1 s, alternating start member)
    # until one succeeds. The first write's completion is taken as
    #   probe start + connect_s + setup_s + the probe's max write latency
    # (an upper bound within a few ms: the first write after an election is normally the
    # probe's slowest).
    if ! wait_quorum 30; then
        log "$server ensemble: lost its quorum before the failover test"
        ens_dump_logs
        stop_ensemble
        return 0
    fi
    local leader=$ENS_LEADER survivors tk ta line deadline attempt=0 ok=0 fo
    survivors=$(ens_hosts "$leader")
    log "$server ensemble: kill -9 leader member $((leader + 1)) (pid ${ENS_PIDS[leader]})"
    tk=$(now_ns)
    kill -KILL "${ENS_PIDS[leader]}" 2>/dev/null || true
    wait "${ENS_PIDS[leader]}" 2>/dev/null || true
    forget_pid "${ENS_PIDS[leader]}"
    ENS_PIDS[leader]=""
    deadline=$(( $(date +%s) + 60 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        attempt=$((attempt + 1))
        ta=$(now_ns)
        line=$("$ZKBENCH" --workload write --hosts "$survivors" --seed "$attempt" --sessions 1 \
            --duration 0.1 --warmup 0 --keys "$KEYS" --value-size "$VALUE_SIZE" \
            --timeout 3 2>/dev/null) || true
        fo=$(printf '%s' "$line" | python3 -c 'import json,sys
try:
    r = json.load(sys.stdin)
except Exception:
    sys.exit(0)
if r.get("status") == "ok" and r.get("ops", 0) > 0 and r.get("errors", 0) == 0:
    print(r.get("connect_s", 0) + r.get("setup_s", 0) + r["latency_us"]["max"] / 1e6)')
        if [ -n "$fo" ]; then
            ok=1
            break
        fi
        sleep 0.05
    done
    if [ "$ok" = 1 ]; then
        fo=$(awk -v k="$tk" -v a="$ta" -v d="$fo" 'BEGIN { printf "%.3f", (a - k) / 1e9 + d }')
        record "$server" "$round" "ens_failover_first_write_s" s lower "$fo"
        record "$server" "$round" "ens_failover_probes" count lower "$attempt"
        log "$server ensemble: first write $fo s after the leader kill ($attempt probes)"
        if wait_quorum 30 "$leader"; then
            log "$server ensemble: new leader is member $((ENS_LEADER + 1))"
        else
            log "$server ensemble: survivors did not both report leader/follower within 30 s"
        fi
    else
        log "$server ensemble: no successful write within 60 s of the leader kill"
        ens_dump_logs "$leader"
    fi

    stop_ensemble
    if [ "$KEEP" != 1 ]; then rm -rf "$base"; fi
}

# ---------------------------------------------------------------------------------------------

main() {
    prerequisites
    build
    [ -x "$ZKBENCH" ] || die "$ZKBENCH missing (build with cargo build --release -p bench)"
    if [[ " ${SERVERS[*]} " == *" zkserver "* ]] && [ ! -x "$ZKSERVER" ]; then
        die "$ZKSERVER missing (cargo build --release -p zkserver)"
    fi

    OUTDIR=${OUT:-"$ROOT/benches/results/$(date +%Y-%m-%d-%H%M%S)"}
    mkdir -p "$OUTDIR"
    RAW="$OUTDIR/raw.jsonl"
    : >"$RAW"
    BASE=$(mktemp -d "${TMPDIR:-/tmp}/zkcompare.XXXXXX")

    {
        echo "date: $(date -Is)"
        echo "host: $(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
        echo "mode: $([ "$QUICK" = 1 ] && echo quick || echo full)$([ "$ENSEMBLE" = 1 ] && echo ", ensemble of $ENS_N members each (initLimit=10 syncLimit=5, server.N on 127.0.0.1)"), rounds $ROUNDS, servers ${SERVERS[*]}"
        echo "runs: duration ${DURATION}s warmup ${WARMUP}s inflight $INFLIGHT keys $KEYS value ${VALUE_SIZE}B watchers $WATCHERS loads ${LOADS[*]}"
        echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
        echo "temp base: $BASE ($(df -h --output=source,fstype "$BASE" | tail -n 1 | tr -s ' '))"
        if [[ " ${SERVERS[*]} " == *" zookeeper "* ]]; then
            echo "zookeeper: $(dpkg-query -W -f '${Version}' zookeeper 2>/dev/null || echo '?') from $ZK_HOME"
            echo "java: $(java -version 2>&1 | head -n 1)"
        fi
        echo "zoo.cfg (both servers; dataDir/clientPort per run):"
        write_cfg "$BASE/cfg-example" 2181
        sed 's/^/    /' "$BASE/cfg-example/zoo.cfg"
        rm -rf "$BASE/cfg-example"
    } >"$OUTDIR/env.txt"

    local round server
    for round in $(seq 1 "$ROUNDS"); do
        for server in "${SERVERS[@]}"; do
            if [ "$ENSEMBLE" = 1 ]; then
                run_ensemble_round "$server" "$round"
            else
                run_round "$server" "$round"
            fi
        done
    done

    python3 "$ROOT/benches/summarize.py" "$OUTDIR"
    log "results in $OUTDIR"
}

main
