#!/usr/bin/env bash
# Builds zookeeper-ref:local: Apache ZooKeeper behind the same entrypoint and healthcheck as
# the zkserver image, for checking the docker tests against the real thing (a development
# aid, not a product). No registry is needed: the image holds only our scripts, a few
# directories and passwd/group; java, the ZooKeeper jars and all libraries are the host's
# (Debian's zookeeper package, 3.8.0 on bookworm), mounted read-only by
# docker-compose.reference.yml.
#
#   docker/reference/build-reference-image.sh
#   ZK_REFERENCE=1 SKIP_BUILD=1 docker/test-ensemble.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
docker_dir=$(cd "$here/.." && pwd)
IMAGE=zookeeper-ref:local

if [[ ! -f /usr/share/java/zookeeper.jar || ! -x /usr/bin/java ]]; then
    echo "reference: installing Debian's zookeeper package" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >/dev/null
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{usr,etc/java-17-openjdk,etc/alternatives,opt/zk,tmp,root,proc,sys,dev,conf,data,datalog,logs}
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$rootfs/$d"; done
chmod 1777 "$rootfs/tmp"
chown 1000:1000 "$rootfs"/{conf,data,datalog,logs}
cp "$docker_dir/docker-entrypoint.sh" "$docker_dir/zk-healthcheck.sh" "$here/zkServer.sh" "$rootfs/opt/zk/"
chmod 0755 "$rootfs"/opt/zk/*
ln -s opt/zk/docker-entrypoint.sh "$rootfs/docker-entrypoint.sh"
printf 'root:x:0:0:root:/root:/bin/sh\nzookeeper:x:1000:1000:zookeeper:/data:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nzookeeper:x:1000:\n' >"$rootfs/etc/group"

old=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
tar --sort=name --mtime=@0 --numeric-owner -C "$rootfs" -cf - . |
    docker import \
        --change 'ENV PATH=/opt/zk:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV ZOO_CONF_DIR=/conf ZOO_DATA_DIR=/data ZOO_DATA_LOG_DIR=/datalog ZOO_LOG_DIR=/logs' \
        --change 'VOLUME ["/data", "/datalog"]' \
        --change 'EXPOSE 2181 2888 3888' \
        --change 'ENTRYPOINT ["/docker-entrypoint.sh"]' \
        --change 'CMD ["zkServer.sh", "start-foreground"]' \
        - "$IMAGE" >/dev/null
new=$(docker image inspect -f '{{.Id}}' "$IMAGE")
if [[ -n $old && $old != "$new" ]]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
echo "reference: built $IMAGE" >&2
