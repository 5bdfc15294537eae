#!/bin/sh
# zkServer.sh of the reference image: runs Apache ZooKeeper (Debian's zookeeper package,
# from the host's /usr mounted read-only) in the foreground on the config the entrypoint
# generated. exec: the JVM is PID 1 and handles SIGTERM itself.
set -eu
case "${1:-}" in
    start-foreground)
        cfg=${ZOO_CONF_DIR:-/conf}/zoo.cfg
        exec /usr/bin/java -Xmx256m \
            -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
            -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
            org.apache.zookeeper.server.quorum.QuorumPeerMain "$cfg"
        ;;
    status)
        mode=$(zk-healthcheck.sh srvr 2>/dev/null | sed -n 's/^Mode: //p')
        [ -n "$mode" ] && { echo "Mode: $mode"; exit 0; }
        exit 1
        ;;
    *)
        echo "Usage: zkServer.sh {start-foreground|status}" >&2
        exit 1
        ;;
esac
