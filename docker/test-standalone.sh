#!/usr/bin/env bash
# The zkserver image, standalone, on a real Docker engine:
#   - builds the image (build-image.sh; SKIP_BUILD=1 reuses zkserver:local);
#   - docker-compose.standalone.yml up, waits for the healthcheck (ruok + srvr);
#   - srvr says Mode: standalone; the server runs as uid 1000;
#   - the ZOO_* variables became /conf/zoo.cfg; myid was written;
#   - a real client from the host (kazoo; zkCli.sh too when installed) writes and reads;
#   - the container restarts (docker stop must be quick: signals reach the server) and is
#     recreated on the same named volumes: the data is still there, myid is kept;
#   - the entrypoint's config generation for the other forms (old ZOO_SERVERS form, other
#     directories, a mounted zoo.cfg or zoo.toml, an existing myid).
# Everything it starts is removed at the end (compose down -v, its own containers), whatever
# happened. Every wait is bounded. Prints "N passed, N failed" last.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

IMAGE=${IMAGE:-zkserver:local}
export ZK_IMAGE=$IMAGE
PROJECT=zkstandalone$$
COMPOSE_ARGS=(-p "$PROJECT" -f "$here/docker-compose.standalone.yml")
PY=/usr/bin/python3 # Debian's python3 has kazoo (python3-kazoo); the pyenv one may not
ZKCLI=/usr/share/zookeeper/bin/zkCli.sh
prefix=zkstandalone$$- # the containers this script starts with docker run
tmp=$(mktemp -d)
passed=0
failed=0
t_start=$(now)

cleanup() {
    local rc=$?
    log "cleaning up"
    dc 120 down -v --remove-orphans -t 5 \
        >/dev/null 2>&1 || echo "warning: compose down failed" >&2
    local ids
    ids=$(docker ps -aq --filter "name=^$prefix" 2>/dev/null || true)
    # -v: the image declares /data and /datalog volumes; remove the anonymous ones too
    # shellcheck disable=SC2086 # one id per word
    [[ -z $ids ]] || docker rm -f -v $ids >/dev/null 2>&1 || true
    docker volume rm -f "${prefix}myid" >/dev/null 2>&1 || true
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        log "ok   - $name"
    else
        failed=$((failed + 1))
        log "FAIL - $name"
    fi
}

contains() { # contains TEXT LINE...: every LINE is a whole line of TEXT
    local text=$1 line
    shift
    for line in "$@"; do
        grep -qxF -- "$line" <<<"$text" || { echo "    missing line: $line" >&2; return 1; }
    done
}

quiet() { "$@" >/dev/null; }

lacks() { # lacks TEXT PATTERN: no line of TEXT matches the regex
    ! grep -qE -- "$2" <<<"$1" || { echo "    unexpected line matching: $2" >&2; return 1; }
}

# --- build ---------------------------------------------------------------------------------
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    t=$(now)
    "$here/build-image.sh"
    log "image built in $(($(now) - t)) s"
fi
docker image inspect "$IMAGE" >/dev/null || fail "no image $IMAGE"
ensure_kazoo

# --- compose up ------------------------------------------------------------------------------
export ZK_PORT
ZK_PORT=$(free_ports 1)
export ZOO_TICK_TIME=2500 ZOO_MAX_CLIENT_CNXNS=70 ZOO_AUTOPURGE_PURGEINTERVAL=1
export ZOO_CFG_EXTRA="snapCount=50000 forceSync=yes"
hosts=127.0.0.1:$ZK_PORT

t=$(now)
dc 120 up -d ||
    fail "compose up"
wait_healthy 60 zoo1 || fail "zoo1 not healthy within 60 s"
log "up and healthy in $(($(now) - t)) s (client port $ZK_PORT on the host)"
cid=$(container_of zoo1)

check "srvr says Mode: standalone" [ "$(mode_of zoo1)" = standalone ]
# docker top runs the host's ps: the image need not have one (debian:bookworm-slim has not)
check "the server runs as uid 1000" \
    grep -qE '^ *[0-9]+ +1000 +zkserver --config /conf/zoo.cfg' <(docker top "$cid" -o pid,uid,args)

cfg=$(docker exec "$cid" cat /conf/zoo.cfg)
check "ZOO_* variables -> /conf/zoo.cfg" contains "$cfg" \
    dataDir=/data dataLogDir=/datalog tickTime=2500 initLimit=5 syncLimit=2 \
    maxClientCnxns=70 autopurge.purgeInterval=1 autopurge.snapRetainCount=3 \
    standaloneEnabled=true admin.enableServer=true 'server.1=localhost:2888:3888;2181' \
    4lw.commands.whitelist=srvr,ruok,mntr,conf,stat snapCount=50000 forceSync=yes
check "no clientPort line when server.1 carries ;2181" lacks "$cfg" '^clientPort='
check "myid written from ZOO_MY_ID" [ "$(docker exec "$cid" cat /data/myid)" = 1 ]
check "conf 4lw answers (tickTime 2500 reached the server)" \
    grep -q '^tickTime=2500$' <(docker exec "$cid" zk-healthcheck.sh conf)

# --- a real client -----------------------------------------------------------------------------
check "kazoo writes" quiet timeout 60 "$PY" "$here/zk_client.py" "$hosts" put /docker-test/a hello
check "kazoo reads it back" timeout 60 "$PY" "$here/zk_client.py" "$hosts" check /docker-test/a hello
if [[ -x $ZKCLI ]]; then
    check "zkCli.sh reads it" grep -q '^hello$' \
        <(timeout 60 "$ZKCLI" -server "$hosts" get /docker-test/a 2>/dev/null)
else
    log "skip - zkCli.sh not installed"
fi

# --- restart: same container -------------------------------------------------------------------
t=$(now)
dc 60 restart -t 20 zoo1 >/dev/null 2>&1 ||
    fail "compose restart"
stop_s=$(($(now) - t))
check "restart is quick (the server got SIGTERM, no kill after the timeout): ${stop_s}s" [ "$stop_s" -lt 10 ]
wait_healthy 60 zoo1 || fail "zoo1 not healthy after restart"
log "restarted and healthy in $(($(now) - t)) s"
check "data survived the restart" timeout 60 "$PY" "$here/zk_client.py" "$hosts" check /docker-test/a hello

# --- recreate: new container, same volumes -------------------------------------------------------
timeout 60 "$PY" "$here/zk_client.py" "$hosts" put /docker-test/b world >/dev/null || fail "write before recreate"
t=$(now)
dc 60 rm -s -f zoo1 >/dev/null 2>&1 ||
    fail "compose rm"
dc 60 up -d >/dev/null 2>&1 ||
    fail "compose up (recreate)"
wait_healthy 60 zoo1 || fail "zoo1 not healthy after recreate"
log "recreated and healthy in $(($(now) - t)) s"
check "a new container" [ "$(container_of zoo1)" != "$cid" ]
check "data survived on the named volumes" timeout 60 "$PY" "$here/zk_client.py" "$hosts" check /docker-test/b world
check "the older write too" timeout 60 "$PY" "$here/zk_client.py" "$hosts" check /docker-test/a hello
check "srvr still says Mode: standalone" [ "$(mode_of zoo1)" = standalone ]

# --- the entrypoint's config generation, other forms ---------------------------------------------
# `zkserver --version` goes through the whole entrypoint (root -> uid 1000, zoo.cfg, myid) and
# exits at once, so each case is a one-shot container.
# shellcheck disable=SC2016 # expanded in the container
gen() { # gen [docker run options...] -- prints zoo.cfg then "myid=N"
    timeout 60 docker run --rm --name "${prefix}gen$RANDOM" "$@" --entrypoint /bin/sh "$IMAGE" -c \
        '/docker-entrypoint.sh zkserver --version >/dev/null &&
         cat "${ZOO_CONF_DIR:-/conf}/zoo.cfg" && echo "myid=$(cat "${ZOO_DATA_DIR:-/data}/myid")"'
}

out=$(gen -e ZOO_MY_ID=2 -e 'ZOO_SERVERS=zoo1:2888:3888 zoo2:2888:3888 zoo3:2888:3888')
check "old ZOO_SERVERS form: host:2888:3888 entries are numbered, clientPort added" contains "$out" \
    server.1=zoo1:2888:3888 server.2=zoo2:2888:3888 server.3=zoo3:2888:3888 clientPort=2181 myid=2

out=$(gen -e 'ZOO_SERVERS=server.1=zoo1:2888:3888 server.2=zoo2:2888:3888' -e ZOO_PORT=2191)
check "3.4 form: server.N=host:2888:3888 kept verbatim, clientPort from ZOO_PORT" contains "$out" \
    server.1=zoo1:2888:3888 server.2=zoo2:2888:3888 clientPort=2191

out=$(gen -e 'ZOO_SERVERS=server.1=zoo1:2888:3888;2181,server.2=zoo2:2888:3888;2181' \
    -e ZOO_INIT_LIMIT=11 -e ZOO_SYNC_LIMIT=4 -e ZOO_STANDALONE_ENABLED=false \
    -e ZOO_AUTOPURGE_SNAPRETAINCOUNT=5 -e ZOO_MY_ID=2)
check "3.5 form (comma-separated too), limits, standaloneEnabled, snapRetainCount" contains "$out" \
    'server.1=zoo1:2888:3888;2181' 'server.2=zoo2:2888:3888;2181' initLimit=11 syncLimit=4 \
    standaloneEnabled=false autopurge.snapRetainCount=5 myid=2
check "3.5 form: no clientPort line" lacks "$out" '^clientPort='

out=$(gen -e ZOO_CONF_DIR=/tmp/conf -e ZOO_DATA_DIR=/tmp/d -e ZOO_DATA_LOG_DIR=/tmp/dl -e ZOO_MY_ID=9)
check "ZOO_CONF_DIR, ZOO_DATA_DIR, ZOO_DATA_LOG_DIR" contains "$out" dataDir=/tmp/d dataLogDir=/tmp/dl myid=9
check "no 4lw.commands.whitelist line unless ZOO_4LW_COMMANDS_WHITELIST is set" lacks "$out" '^4lw'

printf 'tickTime=3000\ndataDir=/data\nclientPort=2181\n' >"$tmp/zoo.cfg"
chmod 644 "$tmp/zoo.cfg"
out=$(gen -v "$tmp/zoo.cfg:/conf/zoo.cfg:ro" -e ZOO_TICK_TIME=1234)
check "a mounted zoo.cfg is used as it is" [ "$out" = "$(cat "$tmp/zoo.cfg"; echo myid=1)" ]

docker volume create "${prefix}myid" >/dev/null
timeout 60 docker run --rm --name "${prefix}myid" -v "${prefix}myid:/data" --entrypoint /bin/sh "$IMAGE" -c 'echo 7 >/data/myid' || true
out=$(gen -v "${prefix}myid:/data" -e ZOO_MY_ID=3)
docker volume rm -f "${prefix}myid" >/dev/null 2>&1 || true
check "an existing myid is kept (ZOO_MY_ID ignored)" contains "$out" myid=7

# A mounted zoo.toml: nothing is generated and the server runs with it.
sed -e 's|^data_dir = .*|data_dir = "/data"|' \
    -e 's|^four_letter_whitelist = .*|four_letter_whitelist = ["srvr", "ruok"]|' \
    "$root/conf/zoo.toml" >"$tmp/zoo.toml"
chmod 644 "$tmp/zoo.toml"
tid=$(docker run -d --name "${prefix}toml" --health-interval 1s -v "$tmp/zoo.toml:/conf/zoo.toml:ro" "$IMAGE")
deadline=$(($(now) + 30))
until [[ $(health_of "$tid") == healthy ]] || (($(now) >= deadline)); do sleep 1; done
check "a mounted zoo.toml: healthy" [ "$(health_of "$tid")" = healthy ]
check "a mounted zoo.toml: the server runs with --config /conf/zoo.toml" \
    grep -q -- 'zkserver --config /conf/zoo.toml' <(docker top "$tid" -o pid,args)
check "a mounted zoo.toml: no zoo.cfg generated" docker exec "$tid" sh -c '! test -e /conf/zoo.cfg'
docker rm -f -v "$tid" >/dev/null

log "total $(($(now) - t_start)) s"
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
