#!/usr/bin/env bash
# Builds the zkserver image (default tag zkserver:local) from docker/Dockerfile.
#
# With no registry to pull a base from, it first makes one: a root filesystem holding
# busybox (Debian's busybox-static: one static binary for sh, nc, mkdir, chown, awk, ...),
# util-linux's setpriv (busybox's applet cannot change uid) and exactly the shared
# libraries that zkserver and setpriv load (found with ldd), plus passwd/group entries for
# the zookeeper user (uid/gid 1000). It is imported with `docker import` as
# zkserver-base:local. Then the ordinary Dockerfile is built on top of it with
# --build-arg BASE_IMAGE=zkserver-base:local, so the Dockerfile users build is the one
# tested here.
#
# Environment:
#   BASE_IMAGE    base for the Dockerfile. Unset or zkserver-base:local: build the local
#                 base as above. Anything else (e.g. debian:bookworm-slim) is used as is
#                 (docker pulls it if it can).
#   IMAGE         tag of the result (default zkserver:local)
#   ZKSERVER_BIN  a zkserver binary to use; default: `cargo build --release -p zkserver`
#                 (a no-op when target/release is up to date) and target/release/zkserver
#
# Idempotent: an unchanged binary and scripts give the same image (the base is imported
# again only when its content changes; docker's cache does the rest). Images this script
# replaces are removed when nothing uses them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
IMAGE=${IMAGE:-zkserver:local}
LOCAL_BASE=zkserver-base:local
BASE_IMAGE=${BASE_IMAGE:-$LOCAL_BASE}
stage=$here/.stage
t0=$(date +%s)

say() { echo "build-image: $*" >&2; }

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# Removes an image this script replaced, unless something still uses it.
drop_replaced() {
    local old=$1 new=$2
    if [[ -n $old && $old != "$new" ]]; then
        if docker rmi "$old" >/dev/null 2>&1; then say "removed the replaced image ${old:7:12}"; fi
    fi
}

# --- 1. the binary -----------------------------------------------------------------------
if [[ -n ${ZKSERVER_BIN:-} ]]; then
    bin=$ZKSERVER_BIN
else
    say "cargo build --release -p zkserver"
    (cd "$root" && cargo build --release -p zkserver --quiet)
    bin=$root/target/release/zkserver
fi
[[ -x $bin ]] || { say "no zkserver binary at $bin"; exit 1; }
mkdir -p "$stage"
# Debug info is most of the release binary's size; the image gets a stripped copy.
strip --strip-debug -o "$stage/zkserver.new" "$bin"
if cmp -s "$stage/zkserver.new" "$stage/zkserver"; then
    rm -f "$stage/zkserver.new"
else
    mv "$stage/zkserver.new" "$stage/zkserver"
fi

# --- 2. the local base -------------------------------------------------------------------
build_local_base() {
    if ! dpkg -s busybox-static >/dev/null 2>&1; then
        say "installing busybox-static from Debian's packages"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
    fi
    local busybox=/bin/busybox setpriv=/usr/bin/setpriv
    [[ -x $setpriv ]] || { say "setpriv (util-linux) missing on this host"; exit 1; }

    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT

    mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,tmp,root,proc,sys,dev}
    chmod 1777 "$rootfs/tmp"
    chmod 0700 "$rootfs/root"
    cp "$busybox" "$rootfs/bin/busybox"
    cp "$setpriv" "$rootfs/usr/bin/setpriv"
    local applet
    for applet in $("$busybox" --list); do
        [[ $applet == busybox || $applet == setpriv ]] && continue
        ln -s busybox "$rootfs/bin/$applet"
    done

    # Shared libraries (and the dynamic loader) of everything dynamically linked, at the
    # paths ldd reports, so the loader finds them without ld.so.cache.
    local lib
    for lib in $( { ldd "$stage/zkserver"; ldd "$setpriv"; } |
        awk '/=> \// { print $3 } /^[ \t]*\// { print $1 }' | sort -u); do
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done

    cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
zookeeper:x:1000:1000:zookeeper:/data:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
    cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
zookeeper:x:1000:
nogroup:x:65534:
EOF
    printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
    chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"

    # A reproducible tar: the same inputs give the same digest, which decides whether the
    # existing base image is still right.
    local tarball=$stage/base.tar digest state_digest state_id current
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
        -C "$rootfs" -cf "$tarball" .
    digest=$(sha256sum "$tarball" | cut -d' ' -f1)
    current=$(image_id "$LOCAL_BASE")
    if [[ -f $stage/base.state ]]; then
        read -r state_digest state_id <"$stage/base.state" || true
    fi
    if [[ -n $current && ${state_digest:-} == "$digest" && ${state_id:-} == "$current" ]]; then
        say "$LOCAL_BASE is up to date"
    else
        say "importing $LOCAL_BASE ($(du -h "$tarball" | cut -f1) root filesystem)"
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["/bin/sh"]' \
            "$tarball" "$LOCAL_BASE" >/dev/null
        local new
        new=$(image_id "$LOCAL_BASE")
        echo "$digest $new" >"$stage/base.state"
        drop_replaced "$current" "$new"
    fi
    rm -f "$tarball"
    rm -rf "$rootfs"
}

if [[ $BASE_IMAGE == "$LOCAL_BASE" ]]; then
    build_local_base
fi

# --- 3. the image --------------------------------------------------------------------------
old=$(image_id "$IMAGE")
say "docker build --build-arg BASE_IMAGE=$BASE_IMAGE -t $IMAGE"
docker build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" -f "$here/Dockerfile" "$here" >/dev/null
new=$(image_id "$IMAGE")
drop_replaced "$old" "$new"

size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
say "$IMAGE: $(awk -v s="$size" 'BEGIN { printf "%.1f MB (%d bytes)", s / 1e6, s }'), built in $(($(date +%s) - t0)) s"
