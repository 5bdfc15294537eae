//! Shared helpers for the integration tests that drive external clients
//! (kazoo, go-zookeeper, zkCli.sh) and the differential script against the
//! real `zkserver` binary.
//!
//! Everything here is bounded: each script runs under a wall-clock limit, and
//! on timeout the harness process (which owns the server it started) is sent
//! SIGTERM by PID, then SIGKILL. Missing tools make the test FAIL with a
//! message naming `scripts/install-test-deps.sh`; nothing is skipped.

#![allow(dead_code)]

pub mod cluster;
pub mod standalone;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// The interpreter that has kazoo installed (Debian `python3-kazoo`).
pub const PYTHON: &str = "/usr/bin/python3";

/// Serialises the heavy external runs inside one test binary (2-core CI boxes).
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn zkserver_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zkserver"))
}

/// A currently free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Panics (fails the test) unless `path` exists.
pub fn require_path(path: &str, what: &str) {
    if !Path::new(path).exists() {
        panic!(
            "{what} not found at {path}: run scripts/install-test-deps.sh \
             (this test never skips)"
        );
    }
}

/// Panics unless `cmd` is on PATH.
pub fn require_command(cmd: &str, what: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false);
    if !found {
        panic!("{what} (`{cmd}`) not on PATH: run scripts/install-test-deps.sh (this test never skips)");
    }
}

/// Checks every external dependency the client tests use.
pub fn require_client_deps() {
    require_path(PYTHON, "python3 (/usr/bin/python3)");
    let kazoo = Command::new(PYTHON)
        .args(["-c", "import kazoo"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(kazoo, Ok(s) if s.success()) {
        panic!("kazoo is not importable by /usr/bin/python3: run scripts/install-test-deps.sh");
    }
    require_path(
        "/usr/share/java/zookeeper.jar",
        "Apache ZooKeeper (package zookeeper)",
    );
    require_path(
        "/usr/share/zookeeper/bin/zkCli.sh",
        "zkCli.sh (package zookeeper)",
    );
    require_command("java", "Java runtime (dependency of package zookeeper)");
    require_command("go", "Go toolchain (package golang-go)");
    require_path(
        "/usr/share/gocode/src/github.com/samuel/go-zookeeper/zk",
        "go-zookeeper source (package golang-github-samuel-go-zookeeper-dev)",
    );
}

pub struct Outcome {
    pub success: bool,
    pub code: Option<i32>,
    pub timed_out: bool,
    pub output: String,
}

/// Runs `cmd` with stdout+stderr captured, killing it after `limit`.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Outcome {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) => {}
            Err(_) => break None,
        }
        if start.elapsed() > limit {
            timed_out = true;
            // Polite first: the harness stops the server it started on SIGTERM.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            break child.wait().ok();
        }
        thread::sleep(Duration::from_millis(100));
    };
    let mut output = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    if !stderr.is_empty() {
        output.push_str("\n--- stderr ---\n");
        output.push_str(&stderr);
    }
    let code = status.and_then(|s| s.code());
    Outcome {
        success: !timed_out && status.map(|s| s.success()).unwrap_or(false),
        code,
        timed_out,
        output,
    }
}

/// Starts zkserver through tests/harness/zkharness.py and runs `client`
/// (with `{hosts}` substituted) against it.
pub fn run_client_against_zkserver(name: &str, client: &[&str], limit: Duration) {
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    require_client_deps();
    let root = repo_root();
    let bin = zkserver_bin();
    let port = free_port();
    let mut cmd = Command::new(PYTHON);
    cmd.current_dir(&root)
        .arg(root.join("tests/harness/zkharness.py"))
        .args(["--server", "zkserver", "--bin"])
        .arg(&bin)
        .args(["--port", &port.to_string()])
        .args([
            "--timeout",
            &limit.as_secs().saturating_sub(15).max(30).to_string(),
        ])
        .arg("--")
        .args(client);
    let o = run_bounded(cmd, limit);
    if !o.success {
        panic!(
            "{name} against zkserver ({}) failed (exit {:?}{}):\n{}",
            bin.display(),
            o.code,
            if o.timed_out { ", timed out" } else { "" },
            o.output
        );
    }
    println!("{}", o.output);
}

/// `pattern` with `*` wildcards (any characters) matches all of `s`.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || !s.ends_with(last) || s.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// crates/server/testdata/fourlw/mntr_excluded.txt: (excluded patterns, allowed extras).
pub fn mntr_exclusions() -> (Vec<String>, Vec<String>) {
    let path = repo_root().join("crates/server/testdata/fourlw/mntr_excluded.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut excluded = Vec::new();
    let mut extra = Vec::new();
    for line in text.lines() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        match entry.strip_prefix('+') {
            Some(k) => extra.push(k.to_string()),
            None => excluded.push(entry.to_string()),
        }
    }
    (excluded, extra)
}

/// Keys of a captured ZooKeeper 3.8 `mntr` (crates/server/testdata/fourlw/`file`).
pub fn captured_mntr_keys(file: &str) -> Vec<String> {
    let path = repo_root().join("crates/server/testdata/fourlw").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .filter_map(|l| l.split_once('\t').map(|(k, _)| k.to_string()))
        .collect()
}

/// ZooKeeper's SummarySets print one summary per key (`zk_avg_{key}_{set}`, …): which keys
/// appear depends on the load (namespaces touched, learner ids), so the key-set check
/// compares them as `zk_avg_*_{set}` and does not require them.
pub const SUMMARY_SETS: [&str; 4] = [
    "read_per_namespace",
    "write_per_namespace",
    "learner_handler_qp_size",
    "learner_handler_qp_time_ms",
];

/// A SummarySet key with its per-key part replaced by `*`; other keys unchanged.
pub fn normalize_mntr_key(k: &str) -> String {
    for set in SUMMARY_SETS {
        for stat in [
            "avg", "min", "max", "cnt", "sum", "p50", "p95", "p99", "p999",
        ] {
            let head = format!("zk_{stat}_");
            let tail = format!("_{set}");
            if k.len() > head.len() + tail.len() && k.starts_with(&head) && k.ends_with(&tail) {
                return format!("{head}*{tail}");
            }
        }
    }
    k.to_string()
}

/// Checks a live `mntr` reply's keys against ZooKeeper 3.8's capture for the same role minus
/// the exclusion list: every remaining key present, no excluded key printed (an implemented
/// key must leave the list), no key that is neither captured (SummarySet keys: in any role)
/// nor an allowed extra, no duplicates. Returns every problem found, one per line.
pub fn check_mntr_keys(mntr: &str, capture_file: &str) -> Result<(), String> {
    let (excluded, extra) = mntr_exclusions();
    let captured: Vec<String> = captured_mntr_keys(capture_file)
        .iter()
        .map(|k| normalize_mntr_key(k))
        .collect();
    let any_role_sets: Vec<String> = [
        "mntr.txt",
        "leader_mntr.txt",
        "follower_mntr.txt",
        "observer_mntr.txt",
    ]
    .iter()
    .flat_map(|f| captured_mntr_keys(f))
    .map(|k| normalize_mntr_key(&k))
    .filter(|k| k.contains("_*_"))
    .collect();
    let raw: Vec<&str> = mntr
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(k, _)| k))
        .collect();
    let ours: Vec<String> = raw.iter().map(|k| normalize_mntr_key(k)).collect();
    let is_excluded = |k: &str| excluded.iter().any(|p| glob_match(p, k));
    let mut problems = Vec::new();
    for k in &captured {
        if !is_excluded(k) && !k.contains("_*_") && !ours.contains(k) {
            problems.push(format!(
                "missing {k} (ZooKeeper 3.8 prints it in {capture_file})"
            ));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (k, norm) in raw.iter().zip(&ours) {
        if !seen.insert(*k) {
            problems.push(format!("duplicate {k}"));
        }
        if is_excluded(norm) {
            problems.push(format!("{k} is printed but listed as excluded"));
        } else if !captured.contains(norm)
            && !any_role_sets.contains(norm)
            && !extra.iter().any(|e| e == k)
        {
            problems.push(format!(
                "{k} is neither in {capture_file} nor an allowed extra"
            ));
        }
    }
    if mntr.lines().count() != raw.len() {
        problems.push("a line without a tab".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// `mntr` as key → value.
pub fn mntr_map(mntr: &str) -> std::collections::HashMap<String, String> {
    mntr.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
