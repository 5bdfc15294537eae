#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (Debian packages for the
# real clients and Apache ZooKeeper), then runs every Rust test (unit, proptest, integration
# with real clients, the differential test against Apache ZooKeeper), then a short benchmark
# smoke run so the load generator can't rot.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

export CARGO_TERM_COLOR=never
# Simulation budget per randomized ensemble test (3 voters + observer, 5 voters + observer; they
# run in parallel): about 2,000 seeds in all on 2 cores. SIM_SECONDS=600 for a longer soak;
# SIM_SEED=n replays one seed.
export SIM_SECONDS=${SIM_SECONDS:-75}
# Build the binaries the integration tests start once, before the tests run in parallel.
cargo build --workspace --bins
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    echo "cargo test failed ($status)"
    exit "$status"
fi

if [ -f benches/run-smoke.sh ]; then
    bash benches/run-smoke.sh
fi

# The Docker image (built from the debug binary to avoid a second, release compile) and a
# standalone container driven by real clients, on the real engine.
ZKSERVER_BIN=target/debug/zkserver bash docker/test-standalone.sh
# The three-node compose ensemble: election, leader stopped and restarted, a member cut off
# the network and reconnected, a real client keeping its session throughout.
ZKSERVER_BIN=target/debug/zkserver bash docker/test-ensemble.sh
