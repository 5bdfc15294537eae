#!/bin/sh
# Entrypoint of the zkserver image. It does what the official ZooKeeper image's entrypoint
# does, with the same variables:
#   - creates $ZOO_DATA_DIR, $ZOO_DATA_LOG_DIR, $ZOO_LOG_DIR;
#   - started as root to run the server: chowns those to uid 1000 and re-runs itself as
#     uid/gid 1000 (the official image uses gosu; we use setpriv);
#   - writes $ZOO_CONF_DIR/zoo.cfg from ZOO_* variables only if neither zoo.cfg nor zoo.toml
#     is there (a mounted config always wins);
#   - writes $ZOO_DATA_DIR/myid from ZOO_MY_ID (default 1) only if the file is absent;
#   - runs the command. For `zkserver` without --config it adds
#     `--config $ZOO_CONF_DIR/zoo.toml` if that exists, else `--config $ZOO_CONF_DIR/zoo.cfg`.
#
# Differences from the official entrypoint, all additive:
#   - ZOO_SERVERS entries may be separated by commas as well as whitespace, and an entry
#     without `=` (the old `host:2888:3888` form) becomes `server.<its position>=host:...`;
#   - if no server entry carries a client port (`;2181`) and ZOO_CFG_EXTRA sets no
#     clientPort, `clientPort=${ZOO_PORT:-2181}` is written, as the 3.4 images did —
#     otherwise the old `server.N=host:2888:3888` form would leave no client port at all;
#   - $ZOO_CONF_DIR is created if missing;
#   - the generated file is written to a temporary name and renamed, so a failed start
#     never leaves half a config that would stop the next start from regenerating it;
#   - zkserver does not handle SIGTERM itself and PID 1 ignores signals it has no handler
#     for, so `docker stop` would wait out its timeout and then SIGKILL. The server is
#     therefore run as a child of this script, which passes SIGTERM/SIGINT on to it.
set -eu

: "${ZOO_CONF_DIR:=/conf}"
: "${ZOO_DATA_DIR:=/data}"
: "${ZOO_DATA_LOG_DIR:=/datalog}"
: "${ZOO_LOG_DIR:=/logs}"
: "${ZOO_TICK_TIME:=2000}"
: "${ZOO_INIT_LIMIT:=5}"
: "${ZOO_SYNC_LIMIT:=2}"
: "${ZOO_AUTOPURGE_PURGEINTERVAL:=0}"
: "${ZOO_AUTOPURGE_SNAPRETAINCOUNT:=3}"
: "${ZOO_MAX_CLIENT_CNXNS:=60}"
: "${ZOO_STANDALONE_ENABLED:=true}"
: "${ZOO_ADMINSERVER_ENABLED:=true}"
: "${ZOO_SERVERS:=}"
: "${ZOO_4LW_COMMANDS_WHITELIST:=}"
: "${ZOO_CFG_EXTRA:=}"
ZK_UID=1000
ZK_GID=1000

log() { echo "docker-entrypoint: $*" >&2; }

is_server_cmd() {
    case "${1:-}" in
        zkserver | /usr/local/bin/zkserver | zkServer.sh | /usr/local/bin/zkServer.sh) return 0 ;;
        *) return 1 ;;
    esac
}

mkdir -p "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" "$ZOO_LOG_DIR"

# Allow the container to be started with `--user`: only root changes owners and drops.
if is_server_cmd "${1:-}" && [ "$(id -u)" = 0 ]; then
    chown -R "$ZK_UID:$ZK_GID" "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" "$ZOO_LOG_DIR"
    # By path: busybox's shell prefers its own setpriv applet, which cannot change uid.
    exec /usr/bin/setpriv --reuid="$ZK_UID" --regid="$ZK_GID" --clear-groups "$0" "$@"
fi

generate_cfg() {
    cfg="$ZOO_CONF_DIR/zoo.cfg"
    tmp="$ZOO_CONF_DIR/.zoo.cfg.$$"
    servers=${ZOO_SERVERS:-"server.1=localhost:2888:3888;2181"}
    mkdir -p "$ZOO_CONF_DIR"
    set -f # no globbing while word-splitting the lists
    {
        echo "dataDir=$ZOO_DATA_DIR"
        echo "dataLogDir=$ZOO_DATA_LOG_DIR"
        echo "tickTime=$ZOO_TICK_TIME"
        echo "initLimit=$ZOO_INIT_LIMIT"
        echo "syncLimit=$ZOO_SYNC_LIMIT"
        echo "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT"
        echo "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL"
        echo "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS"
        echo "standaloneEnabled=$ZOO_STANDALONE_ENABLED"
        echo "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
        n=0
        has_client_port=false
        for server in $(echo "$servers" | tr ',' ' '); do
            n=$((n + 1))
            case "$server" in
                *=*) echo "$server" ;;
                *) echo "server.$n=$server" ;;
            esac
            case "$server" in *\;*) has_client_port=true ;; esac
        done
        if [ -n "$ZOO_4LW_COMMANDS_WHITELIST" ]; then
            echo "4lw.commands.whitelist=$ZOO_4LW_COMMANDS_WHITELIST"
        fi
        for extra in $ZOO_CFG_EXTRA; do
            echo "$extra"
            case "$extra" in clientPort=* | clientPortAddress=*) has_client_port=true ;; esac
        done
        if [ "$has_client_port" = false ]; then
            echo "clientPort=${ZOO_PORT:-2181}"
        fi
    } >"$tmp"
    set +f
    mv "$tmp" "$cfg"
    log "generated $cfg"
}

if is_server_cmd "${1:-}"; then
    if [ ! -f "$ZOO_CONF_DIR/zoo.cfg" ] && [ ! -f "$ZOO_CONF_DIR/zoo.toml" ]; then
        generate_cfg
    fi
    if [ ! -f "$ZOO_DATA_DIR/myid" ]; then
        echo "${ZOO_MY_ID:-1}" >"$ZOO_DATA_DIR/myid"
    fi
fi

if [ "${1:-}" = zkserver ] || [ "${1:-}" = /usr/local/bin/zkserver ]; then
    has_config=false
    for arg in "$@"; do
        case "$arg" in -c | --config | --config=*) has_config=true ;; esac
    done
    if [ "$has_config" = false ]; then
        if [ -f "$ZOO_CONF_DIR/zoo.toml" ]; then
            set -- "$@" --config "$ZOO_CONF_DIR/zoo.toml"
        else
            set -- "$@" --config "$ZOO_CONF_DIR/zoo.cfg"
        fi
    fi
    # Run the server as our child and pass termination signals on (see the header).
    "$@" &
    child=$!
    trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT HUP
    set +e
    while :; do
        wait "$child"
        status=$?
        # wait returns early (status > 128) when a trapped signal arrives; the child is
        # still running until kill -0 says otherwise.
        if ! kill -0 "$child" 2>/dev/null; then
            break
        fi
    done
    exit "$status"
fi

exec "$@"
