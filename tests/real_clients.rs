//! Real ZooKeeper clients against the real `zkserver` binary on loopback:
//! kazoo recipes (Python), go-zookeeper (Go), zkCli.sh (Java), the C client (libzookeeper_mt).
//!
//! Each test starts a fresh zkserver via tests/harness/zkharness.py on a free
//! 127.0.0.1 port, runs one client script, and fails with the script's output.
//! The same scripts can be run by hand against Apache ZooKeeper, e.g.
//! `tests/harness/zkharness.py --server zookeeper -- /usr/bin/python3 tests/clients/kazoo_recipes.py --hosts {hosts}`.
//! Missing tools fail the test with a pointer to scripts/install-test-deps.sh.

mod support;

use std::time::Duration;

#[test]
fn kazoo_recipes() {
    support::run_client_against_zkserver(
        "kazoo recipes",
        &[
            support::PYTHON,
            "tests/clients/kazoo_recipes.py",
            "--hosts",
            "{hosts}",
        ],
        Duration::from_secs(240),
    );
}

#[test]
fn go_zookeeper() {
    support::run_client_against_zkserver(
        "go-zookeeper",
        &["sh", "tests/clients/gozk/run.sh", "--hosts", "{hosts}"],
        Duration::from_secs(300),
    );
}

#[test]
fn zkcli() {
    support::run_client_against_zkserver(
        "zkCli.sh",
        &[
            support::PYTHON,
            "tests/clients/zkcli_test.py",
            "--hosts",
            "{hosts}",
        ],
        Duration::from_secs(300),
    );
}

#[test]
fn c_client() {
    support::run_client_against_zkserver(
        "C client (libzookeeper_mt)",
        &["sh", "tests/clients/c/run.sh", "--hosts", "{hosts}"],
        Duration::from_secs(120),
    );
}
