#!/bin/sh
# Install the system packages the integration tests (tests/real_clients.rs,
# tests/differential.rs and the scripts under tests/) need on Debian/Ubuntu:
#   zookeeper (server 3.8 + zkCli.sh, Java), python3-kazoo (for /usr/bin/python3),
#   golang-go + golang-github-samuel-go-zookeeper-dev (go-zookeeper client, built offline),
#   libzookeeper-mt-dev (C client), zktop.
# Idempotent and quiet: does nothing if every package is already installed.
set -eu
PKGS="zookeeper python3-kazoo golang-go golang-github-samuel-go-zookeeper-dev libzookeeper-mt-dev zktop"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    echo "install-test-deps: all packages present ($PKGS)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
echo "install-test-deps: installing:$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-test-deps: done"
