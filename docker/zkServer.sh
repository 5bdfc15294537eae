#!/bin/sh
# A stand-in for ZooKeeper's bin/zkServer.sh, for compose files and scripts written for the
# official image (whose CMD is `zkServer.sh start-foreground`). Only what makes sense for a
# container is here:
#   zkServer.sh start-foreground   run the server (through the entrypoint, so the config and
#                                  myid are set up and signals reach the server)
#   zkServer.sh status             print `Mode: ...` from srvr; exit 1 if not serving
#   zkServer.sh version            print the server's version
set -eu

case "${1:-}" in
    start-foreground)
        exec /docker-entrypoint.sh zkserver
        ;;
    status)
        mode=$(/usr/local/bin/zk-healthcheck.sh srvr 2>/dev/null | sed -n 's/^Mode: //p')
        if [ -n "$mode" ]; then
            echo "Mode: $mode"
            exit 0
        fi
        echo "Error contacting service. It is probably not running." >&2
        exit 1
        ;;
    version)
        exec zkserver --version
        ;;
    *)
        echo "Usage: zkServer.sh {start-foreground|status|version}" >&2
        echo "(zkserver image: start, stop and restart are the container's own commands)" >&2
        exit 1
        ;;
esac
