#!/bin/sh
# Healthcheck of the zkserver image, and a tiny four-letter-word client.
#
#   zk-healthcheck.sh          exit 0 if healthy: `ruok` answers `imok` (or ruok is not in
#                              4lw.commands.whitelist) and `srvr` shows a `Mode:` line, i.e.
#                              the member is serving (an ensemble member without a quorum
#                              answers srvr with "not currently serving requests").
#   zk-healthcheck.sh WORD     send WORD (srvr, ruok, mntr, ...) and print the reply.
#
# The words travel with what the base image has: busybox's `nc` in the local image, or
# bash's /dev/tcp in debian:bookworm-slim (which has no nc). The client port and address
# are read from the config the entrypoint uses ($ZOO_CONF_DIR/zoo.toml, else zoo.cfg):
# clientPort, else the `;[host:]port` part of this member's server.N line (myid), else 2181.
# ZOO_HEALTHCHECK_HOST / ZOO_HEALTHCHECK_PORT override both.
set -u

conf_dir=${ZOO_CONF_DIR:-/conf}
data_dir=${ZOO_DATA_DIR:-/data}

# Prints "host port" for the client listener.
client_endpoint() {
    myid=$(head -n 1 "$data_dir/myid" 2>/dev/null | tr -dc 0-9)
    if [ -f "$conf_dir/zoo.toml" ]; then
        awk -v myid="$myid" '
            function val(s) { sub(/^[^=]*=[ \t]*/, "", s); sub(/[ \t]*#.*$/, "", s); gsub(/"/, "", s); return s }
            /^[ \t]*\[\[servers\]\]/ { in_srv = 1; id = ""; next }
            /^[ \t]*\[/ { in_srv = 0; next }
            !in_srv && /^[ \t]*client_port[ \t]*=/ { port = val($0) }
            !in_srv && /^[ \t]*client_port_address[ \t]*=/ { addr = val($0) }
            in_srv && /^[ \t]*id[ \t]*=/ { id = val($0) }
            in_srv && /^[ \t]*client_port[ \t]*=/ && id == myid && sport == "" { sport = val($0) }
            END { if (port == "") port = sport; print (addr == "" ? "-" : addr), (port == "" ? 2181 : port) }
        ' "$conf_dir/zoo.toml"
    elif [ -f "$conf_dir/zoo.cfg" ]; then
        awk -v myid="$myid" '
            function val(s) { sub(/^[^=]*=[ \t]*/, "", s); sub(/[ \t\r]*$/, "", s); return s }
            /^[ \t]*clientPort[ \t]*=/ { port = val($0) }
            /^[ \t]*clientPortAddress[ \t]*=/ { addr = val($0) }
            $0 ~ "^[ \t]*server\\." myid "[ \t]*=" {
                s = val($0)
                if (index(s, ";") > 0) {
                    c = substr(s, index(s, ";") + 1)
                    n = split(c, parts, ":")
                    sport = parts[n]
                    if (n > 1) saddr = parts[1]
                }
            }
            END {
                if (port == "") { port = sport; if (addr == "") addr = saddr }
                print (addr == "" ? "-" : addr), (port == "" ? 2181 : port)
            }
        ' "$conf_dir/zoo.cfg"
    else
        echo "- 2181"
    fi
}

endpoint=$(client_endpoint)
host=${endpoint% *}
port=${endpoint#* }
case "$host" in -|0.0.0.0|"") host=127.0.0.1 ;; esac
host=${ZOO_HEALTHCHECK_HOST:-$host}
port=${ZOO_HEALTHCHECK_PORT:-$port}

send_4lw() {
    if command -v nc >/dev/null 2>&1; then
        printf '%s' "$1" | timeout 5 nc -w 3 "$host" "$port"
    elif command -v bash >/dev/null 2>&1; then
        # shellcheck disable=SC2016 # bash expands them
        timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "%s" "$3" >&3 && cat <&3' \
            _ "$host" "$port" "$1"
    else
        echo "zk-healthcheck: neither nc nor bash is available to send four-letter words" >&2
        return 2
    fi
}

if [ $# -gt 0 ]; then
    send_4lw "$1"
    exit $?
fi

ruok=$(send_4lw ruok 2>/dev/null)
case "$ruok" in
    imok) ;;
    *"not in the whitelist"*) ;; # srvr decides alone
    *)
        echo "unhealthy: ruok on $host:$port answered '${ruok:-nothing}'"
        exit 1
        ;;
esac
srvr=$(send_4lw srvr 2>/dev/null)
mode=$(printf '%s\n' "$srvr" | sed -n 's/^Mode: //p')
if [ -z "$mode" ]; then
    echo "unhealthy: srvr on $host:$port answered '$(printf '%s' "${srvr:-nothing}" | head -n 1)'"
    exit 1
fi
echo "healthy: $mode"
exit 0
