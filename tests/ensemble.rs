//! A three-member ensemble of real `zkserver` processes on 127.0.0.1: election, writes
//! through a follower, kazoo against all hosts, `kill -9` of the leader under load,
//! catch-up by DIFF and by SNAP, and a member alone refusing writes.
//!
//! Every process is killed and waited for by the `Ensemble` guard's `Drop`, even when an
//! assertion fails; every wait is bounded. kazoo runs under /usr/bin/python3.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

const PY: &str = "/usr/bin/python3";

struct Member {
    id: u64,
    client_port: u16,
    dir: PathBuf,
    child: Option<Child>,
    starts: u32,
}

struct Ensemble {
    tmp: PathBuf,
    members: Vec<Member>,
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.stop();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

impl Member {
    fn log(&self) -> PathBuf {
        self.dir.join(format!("server.{}.log", self.starts))
    }
    fn start(&mut self) {
        assert!(self.child.is_none());
        self.starts += 1;
        let log = std::fs::File::create(self.log()).expect("log file");
        let child = Command::new(support::zkserver_bin())
            .arg("--config")
            .arg(self.dir.join("zoo.cfg"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn zkserver");
        self.child = Some(child);
    }
    /// kill -9 and reap.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }
    /// `srvr` as text, or "" when the member does not answer.
    fn srvr(&self) -> String {
        let Ok(mut s) = TcpStream::connect_timeout(
            &format!("127.0.0.1:{}", self.client_port).parse().unwrap(),
            Duration::from_millis(500),
        ) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"srvr").is_err() {
            return String::new();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }
    fn field(&self, name: &str) -> Option<String> {
        self.srvr()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
    }
    fn mode(&self) -> Option<String> {
        self.field("Mode")
    }
    fn zxid(&self) -> Option<String> {
        self.field("Zxid")
    }
}

impl Ensemble {
    fn new(extra: &str) -> Ensemble {
        let tmp = std::env::temp_dir().join(format!(
            "zkserver-ensemble-{}-{}",
            std::process::id(),
            support::free_port()
        ));
        // Hold all nine listeners at once so no two ports coincide.
        let held: Vec<std::net::TcpListener> = (0..9)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
            .collect();
        let ports: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().expect("local_addr").port())
            .collect();
        drop(held);
        let servers: String = (0..3)
            .map(|i| {
                format!(
                    "server.{}=127.0.0.1:{}:{}\n",
                    i + 1,
                    ports[3 + i],
                    ports[6 + i]
                )
            })
            .collect();
        let mut members = Vec::new();
        for i in 0..3u64 {
            let dir = tmp.join(format!("m{}", i + 1));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("myid"), format!("{}\n", i + 1)).unwrap();
            let cfg = format!(
                "tickTime=100\ninitLimit=20\nsyncLimit=10\ndataDir={}\nclientPort={}\n\
                 clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nmaxClientCnxns=0\n\
                 {extra}{servers}",
                dir.display(),
                ports[i as usize]
            );
            std::fs::write(dir.join("zoo.cfg"), cfg).unwrap();
            members.push(Member {
                id: i + 1,
                client_port: ports[i as usize],
                dir,
                child: None,
                starts: 0,
            });
        }
        Ensemble { tmp, members }
    }
    fn start_all(&mut self) {
        for m in &mut self.members {
            m.start();
        }
    }
    fn hosts(&self) -> String {
        self.members
            .iter()
            .map(Member::host)
            .collect::<Vec<_>>()
            .join(",")
    }
    /// Waits until the running members agree: one leader, the rest followers.
    fn wait_for_leader(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let modes: Vec<Option<String>> = self
                .members
                .iter()
                .map(|m| m.child.as_ref().and_then(|_| m.mode()))
                .collect();
            let running = self.members.iter().filter(|m| m.child.is_some()).count();
            let leaders: Vec<usize> = (0..3)
                .filter(|&i| modes[i].as_deref() == Some("leader"))
                .collect();
            let followers = modes
                .iter()
                .filter(|m| m.as_deref() == Some("follower"))
                .count();
            if leaders.len() == 1 && leaders.len() + followers == running {
                return leaders[0];
            }
            assert!(
                Instant::now() < deadline,
                "no leader within {limit:?}: {modes:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    /// Waits until every running member reports the same Zxid.
    fn wait_converged(&self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let zxids: Vec<Option<String>> = self
                .members
                .iter()
                .filter(|m| m.child.is_some())
                .map(Member::zxid)
                .collect();
            if zxids.iter().all(|z| z.is_some() && *z == zxids[0]) {
                return zxids[0].clone().unwrap_or_default();
            }
            assert!(Instant::now() < deadline, "not converged: {zxids:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs a kazoo script (bounded); returns stdout, fails the test with its output otherwise.
fn kazoo(script: &str, args: &[String], limit: Duration) -> String {
    let mut cmd = Command::new(PY);
    cmd.arg("-c").arg(script).args(args);
    let out = support::run_bounded(cmd, limit);
    assert!(out.success, "kazoo script failed:\n{}", out.output);
    // The result is the last line the script printed with the marker (kazoo's warnings
    // share the captured output).
    out.output
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_default()
        .to_string()
}

fn kazoo_available() -> bool {
    Path::new(PY).exists()
        && Command::new(PY)
            .args(["-c", "import kazoo"])
            .status()
            .is_ok_and(|s| s.success())
}

const FOLLOWER_WRITE: &str = r#"
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=5)
zk.start(timeout=15)
zk.create("/via-follower", b"mine")
assert zk.get("/via-follower")[0] == b"mine"
zk.sync("/")
zk.stop(); zk.close()
zk = KazooClient(hosts=sys.argv[2], timeout=5)
zk.start(timeout=15)
for i in range(20):
    zk.create("/all/n", b"x", sequence=True, makepath=True)
assert len(zk.get_children("/all")) == 20
print("RESULT ok")
zk.stop(); zk.close()
"#;

/// Writes under load while the leader is killed; prints every acknowledged path, and
/// checks session and ephemeral survive.
const LOAD_THROUGH_FAILOVER: &str = r#"
import os, sys, time, signal
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss, NodeExistsError, OperationTimeoutError, SessionExpiredError
from kazoo.retry import KazooRetry
hosts, victim, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
zk = KazooClient(hosts=hosts, timeout=10, connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5))
zk.start(timeout=15)
sid = zk.client_id[0]
zk.create("/eph", b"e", ephemeral=True)
zk.ensure_path("/load")
acked = []
deadline = time.time() + 60
for i in range(n):
    if i == n // 3:
        os.kill(victim, signal.SIGKILL)
    path = "/load/k%05d" % i
    while True:
        assert time.time() < deadline, "writes stalled"
        try:
            zk.create(path, b"v")
            break
        except NodeExistsError:
            break  # a retry of a create that did apply
        except (ConnectionLoss, OperationTimeoutError):
            time.sleep(0.1)
    acked.append(path)
assert zk.client_id[0] == sid, "session changed"
assert zk.exists("/eph") is not None, "ephemeral lost"
kids = set(zk.get_children("/load"))
missing = [p for p in acked if p.split("/")[-1] not in kids]
assert not missing, missing[:5]
print("RESULT", len(acked))
zk.stop(); zk.close()
"#;

const WRITE_N: &str = r#"
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=5)
zk.start(timeout=15)
zk.ensure_path(sys.argv[2])
for i in range(int(sys.argv[3])):
    zk.create(sys.argv[2] + "/k%05d" % i, b"y" * 100)
print("RESULT ok")
zk.stop(); zk.close()
"#;

const COUNT: &str = r#"
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=5)
zk.start(timeout=15)
print("RESULT", len(zk.get_children(sys.argv[2])))
zk.stop(); zk.close()
"#;

const WRITE_REFUSED: &str = r#"
import sys
from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError
zk = KazooClient(hosts=sys.argv[1], timeout=3)
try:
    zk.start(timeout=4)
    zk.create("/should-not-exist", b"")
    print("RESULT WRITTEN")
except Exception as e:
    print("RESULT refused", type(e).__name__)
zk.stop(); zk.close()
"#;

fn log_text(m: &Member) -> String {
    std::fs::read_to_string(m.log()).unwrap_or_default()
}

#[test]
fn three_members_elect_serve_through_followers_and_survive_a_leader_crash() {
    if !kazoo_available() {
        eprintln!("skipped: kazoo is not installed for {PY}");
        return;
    }
    let mut e = Ensemble::new("");
    e.start_all();
    let leader = e.wait_for_leader(Duration::from_secs(30));
    let modes: Vec<_> = e.members.iter().map(Member::mode).collect();
    assert_eq!(
        modes
            .iter()
            .filter(|m| m.as_deref() == Some("follower"))
            .count(),
        2,
        "{modes:?}"
    );

    // A client of a follower writes and reads its own write; kazoo with all hosts writes.
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let out = kazoo(
        FOLLOWER_WRITE,
        &[e.members[follower].host(), e.hosts()],
        Duration::from_secs(60),
    );
    assert!(out.contains("ok"), "{out}");
    e.wait_converged(Duration::from_secs(10));

    // kill -9 the leader under write load: a new leader, nothing acknowledged lost, the
    // session and its ephemeral survive.
    let victim = e.members[leader].pid().to_string();
    let out = kazoo(
        LOAD_THROUGH_FAILOVER,
        &[e.hosts(), victim, "300".into()],
        Duration::from_secs(90),
    );
    assert_eq!(out.trim(), "300", "{out}");
    e.members[leader].stop();
    let new_leader = e.wait_for_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);

    // The killed member restarts and catches up (DIFF: it is only a little behind).
    e.members[leader].start();
    e.wait_for_leader(Duration::from_secs(30));
    e.wait_converged(Duration::from_secs(30));
    let count = kazoo(
        COUNT,
        &[e.members[leader].host(), "/load".into()],
        Duration::from_secs(30),
    );
    assert_eq!(count.trim(), "300");
    assert!(
        !log_text(&e.members[leader]).contains("installed the leader's snapshot"),
        "expected DIFF, got SNAP"
    );
}

#[test]
fn far_behind_member_gets_snap_and_a_lone_member_refuses_writes() {
    if !kazoo_available() {
        eprintln!("skipped: kazoo is not installed for {PY}");
        return;
    }
    // A small DIFF window, so a member a few dozen txns behind gets SNAP.
    let mut e = Ensemble::new("commitLogCount=5\n");
    e.start_all();
    let leader = e.wait_for_leader(Duration::from_secs(30));
    let lagger = (0..3).find(|&i| i != leader).unwrap();
    e.members[lagger].stop();
    let other = (0..3).find(|&i| i != leader && i != lagger).unwrap();
    let out = kazoo(
        WRITE_N,
        &[e.members[other].host(), "/snap".into(), "60".into()],
        Duration::from_secs(60),
    );
    assert!(out.contains("ok"));
    e.members[lagger].start();
    e.wait_for_leader(Duration::from_secs(30));
    e.wait_converged(Duration::from_secs(30));
    assert!(
        log_text(&e.members[lagger]).contains("installed the leader's snapshot"),
        "expected SNAP"
    );
    let count = kazoo(
        COUNT,
        &[e.members[lagger].host(), "/snap".into()],
        Duration::from_secs(30),
    );
    assert_eq!(count.trim(), "60");

    // Two of three down: the last one refuses writes.
    let last = leader;
    for i in 0..3 {
        if i != last {
            e.members[i].stop();
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    let out = kazoo(
        WRITE_REFUSED,
        &[e.members[last].host()],
        Duration::from_secs(30),
    );
    assert!(out.contains("refused"), "{out}");
    // They return: nothing acknowledged is lost, and the refused write never appears.
    for i in 0..3 {
        if i != last {
            e.members[i].start();
        }
    }
    e.wait_for_leader(Duration::from_secs(30));
    e.wait_converged(Duration::from_secs(30));
    for m in &e.members {
        let count = kazoo(COUNT, &[m.host(), "/snap".into()], Duration::from_secs(30));
        assert_eq!(count.trim(), "60", "member {}", m.id);
    }
    let out = kazoo(
        r#"
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=5); zk.start(timeout=15)
print("RESULT", zk.exists("/should-not-exist") is None)
zk.stop(); zk.close()
"#,
        &[e.hosts()],
        Duration::from_secs(30),
    );
    assert_eq!(out.trim(), "True");
}
