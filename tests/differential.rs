//! Differential test: the same scripted raw-protocol session (tests/diff/zkdiff.py,
//! a few hundred requests over several sessions) against Apache ZooKeeper 3.8
//! (server A, started from the Debian package) and the real `zkserver` binary
//! (server B); the normalised transcripts must match except for the 3.8 vs
//! 3.9.3+ differences listed in zkdiff.py's KNOWN_DIFFERENCES table.
//!
//! By hand: `/usr/bin/python3 tests/diff/zkdiff.py --b-server zkserver --b-bin target/debug/zkserver`.

mod support;

use std::process::Command;
use std::time::Duration;

fn zkdiff() -> Command {
    let root = support::repo_root();
    let mut cmd = Command::new(support::PYTHON);
    cmd.current_dir(&root)
        .arg(root.join("tests/diff/zkdiff.py"));
    cmd
}

#[test]
fn zkdiff_comparator_self_test() {
    support::require_path(support::PYTHON, "python3 (/usr/bin/python3)");
    let mut cmd = zkdiff();
    cmd.arg("--self-test");
    let o = support::run_bounded(cmd, Duration::from_secs(60));
    assert!(o.success, "zkdiff --self-test failed:\n{}", o.output);
}

#[test]
fn differential_vs_apache_zookeeper() {
    let _guard = support::SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    support::require_path(support::PYTHON, "python3 (/usr/bin/python3)");
    support::require_path(
        "/usr/share/java/zookeeper.jar",
        "Apache ZooKeeper (package zookeeper)",
    );
    support::require_command("java", "Java runtime (dependency of package zookeeper)");
    let bin = support::zkserver_bin();
    let mut cmd = zkdiff();
    cmd.args([
        "--a-server",
        "zookeeper",
        "--b-server",
        "zkserver",
        "--b-bin",
    ])
    .arg(&bin);
    let o = support::run_bounded(cmd, Duration::from_secs(300));
    if !o.success {
        panic!(
            "differential test zookeeper(A) vs zkserver(B) failed (exit {:?}{}):\n{}",
            o.code,
            if o.timed_out { ", timed out" } else { "" },
            o.output
        );
    }
    println!("{}", o.output);
}
