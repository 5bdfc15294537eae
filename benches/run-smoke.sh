#!/usr/bin/env bash
# CI smoke of the load generator: start a standalone zkserver on a free loopback port, run
# benches/smoke.sh against it (a few seconds), stop the server. Keeps zkbench from rotting.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p zkserver -p bench --bins
dir=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=ruok,srvr
CFG
target/debug/zkserver --config "$dir/zoo.cfg" 2> "$dir/server.log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 100); do
    if [ "$( { exec 3<>/dev/tcp/127.0.0.1/$port && printf ruok >&3 && cat <&3; } 2>/dev/null)" = imok ]; then break; fi
    sleep 0.1
done
ZKBENCH="$PWD/target/debug/zkbench" bash benches/smoke.sh "127.0.0.1:$port"
echo "bench smoke: 1 passed, 0 failed"
