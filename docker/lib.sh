# Helpers shared by docker/test-*.sh (sourced, not run).

# `docker compose` (the plugin) if present, else the standalone docker-compose.
if docker compose version >/dev/null 2>&1; then
    COMPOSE_CMD=(docker compose)
else
    COMPOSE_CMD=(docker-compose)
fi

# dc SECONDS ARGS...: compose with this test's project and file ($COMPOSE_ARGS), bounded.
dc() {
    local limit=$1
    shift
    timeout "$limit" "${COMPOSE_CMD[@]}" "${COMPOSE_ARGS[@]}" "$@"
}

now() { date +%s; }

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# free_ports [N]: N distinct TCP ports free on this host now (for publishing client ports).
free_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "${1:-1}"
}

# container_of SERVICE: the id of the service's container in this test's project.
container_of() {
    dc 30 ps -a -q "$1" 2>/dev/null | head -n 1
}

health_of() {
    docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1" 2>/dev/null || echo gone
}

# wait_healthy SECONDS SERVICE...: wait until every service's container is healthy.
wait_healthy() {
    local limit=$1 deadline svc id status all
    shift
    deadline=$(($(now) + limit))
    while :; do
        all=true
        for svc in "$@"; do
            id=$(container_of "$svc")
            status=$( [[ -n $id ]] && health_of "$id" || echo missing)
            [[ $status == healthy ]] || all=false
        done
        $all && return 0
        if (($(now) >= deadline)); then
            for svc in "$@"; do
                id=$(container_of "$svc")
                echo "  $svc: $( [[ -n $id ]] && health_of "$id" || echo missing)" >&2
                [[ -n $id ]] && docker logs --tail 15 "$id" 2>&1 | sed "s/^/    $svc| /" >&2
            done
            return 1
        fi
        sleep 1
    done
}

# srvr SERVICE: the srvr reply of the service's member, from inside its container.
srvr() {
    local id
    id=$(container_of "$1")
    [[ -n $id ]] || return 1
    timeout 10 docker exec "$id" zk-healthcheck.sh srvr 2>/dev/null
}

mode_of() {
    srvr "$1" | sed -n 's/^Mode: //p'
}

# The host-side client: Debian's python3 with kazoo (python3-kazoo), installed if missing.
ensure_kazoo() {
    if ! /usr/bin/python3 -c 'import kazoo' 2>/dev/null; then
        log "installing python3-kazoo from Debian's packages"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-kazoo >/dev/null
    fi
}
