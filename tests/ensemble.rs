//! A three-member ensemble of real `zkserver` processes on 127.0.0.1: election, writes
//! through a follower, kazoo against all hosts, `kill -9` of the leader under load,
//! catch-up by DIFF and by SNAP, a member alone refusing writes, partitions made with
//! per-pair fault-injecting proxies (`faultproxy`), kazoo and go-zookeeper failing over
//! with their sessions, ephemerals and watches, the standalone client suites and zkdiff
//! against the ensemble, and an observer (plus the ensemble's four-letter words).
//!
//! Every process is killed and waited for by the `Ensemble` guard's `Drop`, even when an
//! assertion fails; every wait is bounded. kazoo runs under /usr/bin/python3.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod faultproxy;
mod support;

use faultproxy::Proxy;
use support::cluster::{self, Cluster, Kind, Member};

const PY: &str = "/usr/bin/python3";

struct Ensemble {
    /// First field: its Drop stops the members before `links` goes.
    c: Cluster,
    /// With proxies: `links[&(i, j)]` carries the connections member `i` opens to member
    /// `j` (quorum, election). Dropped after the members are stopped.
    links: std::collections::HashMap<(usize, usize), [Proxy; 2]>,
}

impl std::ops::Deref for Ensemble {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.c
    }
}

impl std::ops::DerefMut for Ensemble {
    fn deref_mut(&mut self) -> &mut Cluster {
        &mut self.c
    }
}

impl Ensemble {
    fn new(extra: &str) -> Ensemble {
        Ensemble::build(extra, false, 0)
    }
    /// Three voters and `observers` observers (members 4, 5, …).
    fn with_observers(extra: &str, observers: usize) -> Ensemble {
        Ensemble::build(extra, false, observers)
    }
    /// Every member reaches every other member's quorum and election ports through its
    /// own proxy, so pairs can be cut.
    fn with_proxies(extra: &str) -> Ensemble {
        Ensemble::build(extra, true, 0)
    }
    fn build(extra: &str, proxied: bool, observers: usize) -> Ensemble {
        Ensemble::build_with(extra, 3, proxied, observers)
    }
    /// `voters` voters (members 1..=voters), then `observers` observers.
    fn build_with(extra: &str, voters: usize, proxied: bool, observers: usize) -> Ensemble {
        let n = voters + observers;
        let role = |j: usize| if j >= voters { ":observer" } else { "" };
        let mut c = Cluster::new("ensemble");
        let tmp = c.tmp.clone();
        // Client ports, then quorum ports, then election ports.
        let ports = cluster::reserve_ports(3 * n);
        let addr =
            |p: u16| -> std::net::SocketAddr { std::net::SocketAddr::from(([127, 0, 0, 1], p)) };
        let mut links = std::collections::HashMap::new();
        if proxied {
            for i in 0..n {
                for j in 0..n {
                    if i != j {
                        let q = Proxy::start(addr(ports[n + j]));
                        let el = Proxy::start(addr(ports[2 * n + j]));
                        links.insert((i, j), [q, el]);
                    }
                }
            }
        }
        // Member `me`'s view of the ensemble: its own ports, and the proxies to the others.
        let servers = |me: usize| -> String {
            (0..n)
                .map(|j| {
                    let (q, el) = match links.get(&(me, j)) {
                        Some([q, el]) => (q.port(), el.port()),
                        None => (ports[n + j], ports[2 * n + j]),
                    };
                    format!("server.{}=127.0.0.1:{q}:{el}{}\n", j + 1, role(j))
                })
                .collect()
        };
        let mut members = Vec::new();
        for i in 0..n as u64 {
            let servers = servers(i as usize);
            let peer_type = if i as usize >= voters {
                "peerType=observer\n"
            } else {
                ""
            };
            let dir = tmp.join(format!("m{}", i + 1));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("myid"), format!("{}\n", i + 1)).unwrap();
            let cfg = format!(
                "tickTime=100\ninitLimit=20\nsyncLimit=10\ndataDir={}\nclientPort={}\n\
                 clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nmaxClientCnxns=0\n\
                 {peer_type}{extra}{servers}",
                dir.display(),
                ports[i as usize]
            );
            std::fs::write(dir.join("zoo.cfg"), cfg).unwrap();
            members.push(Member::new(i + 1, Kind::Zkserver, ports[i as usize], dir));
        }
        c.members = members;
        Ensemble { c, links }
    }
    /// Cuts (or heals) both directions between members `a` and `b`.
    fn set_link(&self, a: usize, b: usize, cut: bool) {
        for key in [(a, b), (b, a)] {
            for p in self.links.get(&key).expect("a proxied ensemble") {
                if cut {
                    p.cut()
                } else {
                    p.heal()
                }
            }
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

/// A client process running beside the test (on its own thread, bounded by `run_bounded`).
/// Drop asks it to stop by creating `abort` (the scripts poll for it while they wait on
/// the test) and waits for it, so no client outlives a failed test.
struct Script {
    abort: PathBuf,
    handle: Option<std::thread::JoinHandle<support::Outcome>>,
}

impl Script {
    fn spawn(abort: PathBuf, cmd: Command, limit: Duration) -> Script {
        let handle = std::thread::spawn(move || support::run_bounded(cmd, limit));
        Script {
            abort,
            handle: Some(handle),
        }
    }
    fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }
    fn join(mut self) -> support::Outcome {
        let h = self.handle.take().expect("joined once");
        h.join().expect("client thread")
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = std::fs::write(&self.abort, b"");
            let _ = h.join();
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
        !e.members[leader]
            .log_text()
            .contains("installed the leader's snapshot"),
        "expected DIFF, got SNAP"
    );
}

/// `standaloneEnabled=false` with one server line: a one-voter ensemble (how ZooKeeper
/// members start before a dynamic reconfig grows them). It leads itself, serves, and
/// after a restart still has every write. (Its driver once spun on the closed channel of
/// its peer-less transports and answered nothing.)
#[test]
fn one_voter_ensemble_leads_itself_serves_and_recovers() {
    if !kazoo_available() {
        eprintln!("skipped: kazoo is not installed for {PY}");
        return;
    }
    let mut e = Ensemble::build_with("standaloneEnabled=false\n", 1, false, 0);
    e.start_all();
    e.wait_for_leader(Duration::from_secs(30));
    let host = e.members[0].host();
    let out = kazoo(
        FOLLOWER_WRITE,
        &[host.clone(), host.clone()],
        Duration::from_secs(60),
    );
    assert!(out.contains("ok"), "{out}");
    e.members[0].stop();
    e.members[0].start();
    e.wait_for_leader(Duration::from_secs(30));
    let count = kazoo(COUNT, &[host, "/all".into()], Duration::from_secs(30));
    assert_eq!(count.trim(), "20");
    assert_eq!(
        e.members[0]
            .mntr()
            .get("zk_server_state")
            .map(String::as_str),
        Some("leader")
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
        e.members[lagger]
            .log_text()
            .contains("installed the leader's snapshot"),
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

/// Connected to one member only: signals `ready`, waits for `go`, then tries one write and
/// reports whether it was acknowledged.
const ORPHAN_WRITE: &str = r#"
import os, sys, time
from kazoo.client import KazooClient
host, ready, go = sys.argv[1], sys.argv[2], sys.argv[3]
zk = KazooClient(hosts=host, timeout=4)
zk.start(timeout=15)
open(ready, "w").close()
deadline = time.time() + 30
while not os.path.exists(go):
    assert time.time() < deadline, "no go"
    if os.path.exists(os.path.join(os.path.dirname(go), "abort")):
        os._exit(1)
    time.sleep(0.02)
try:
    zk.create_async("/orphan", b"o").get(timeout=10)
    print("RESULT WRITTEN")
except Exception as e:
    print("RESULT lost", type(e).__name__)
os._exit(0)
"#;

const EXISTS: &str = r#"
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=5); zk.start(timeout=15)
print("RESULT", zk.exists(sys.argv[2]) is not None)
zk.stop(); zk.close()
"#;

/// Waits until member `i` stops claiming to lead (or to serve at all).
fn wait_mode_not(m: &Member, mode: &str, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    loop {
        let now = m.mode();
        if now.as_deref() != Some(mode) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "member {} still {mode} after {limit:?}",
            m.id
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the members in `among` agree on one leader among themselves.
fn wait_for_leader_among(e: &Ensemble, among: &[usize], limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let modes: Vec<Option<String>> = among.iter().map(|&i| e.members[i].mode()).collect();
        let leaders: Vec<usize> = among
            .iter()
            .zip(&modes)
            .filter(|(_, m)| m.as_deref() == Some("leader"))
            .map(|(&i, _)| i)
            .collect();
        let followers = modes
            .iter()
            .filter(|m| m.as_deref() == Some("follower"))
            .count();
        if leaders.len() == 1 && followers + 1 == among.len() {
            return leaders[0];
        }
        assert!(
            Instant::now() < deadline,
            "no leader among {among:?} within {limit:?}: {modes:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn partitioned_leader_steps_down_and_rejoins_with_the_majority_history() {
    if !kazoo_available() {
        eprintln!("skipped: kazoo is not installed for {PY}");
        return;
    }
    let started = Instant::now();
    let mut e = Ensemble::with_proxies("");
    e.start_all();
    let old = e.wait_for_leader(Duration::from_secs(30));
    let out = kazoo(
        WRITE_N,
        &[e.hosts(), "/before".into(), "20".into()],
        Duration::from_secs(60),
    );
    assert!(out.contains("ok"));
    e.wait_converged(Duration::from_secs(10));

    // A client of the old leader only, ready to write the moment the cut is made.
    let ready = e.tmp.join("orphan.ready");
    let go = e.tmp.join("orphan.go");
    let orphan = {
        let mut cmd = Command::new(PY);
        cmd.arg("-c").arg(ORPHAN_WRITE).args([
            e.members[old].host(),
            ready.display().to_string(),
            go.display().to_string(),
        ]);
        Script::spawn(e.tmp.join("abort"), cmd, Duration::from_secs(60))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "orphan client never connected");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Cut the leader off from both followers.
    let majority: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    for &f in &majority {
        e.set_link(old, f, true);
    }
    let cut_at = Instant::now();
    std::fs::write(&go, b"").expect("go file");

    // The majority elects a new leader and takes writes; the old leader steps down.
    let new = wait_for_leader_among(&e, &majority, Duration::from_secs(30));
    let elected_in = cut_at.elapsed();
    let old_mode = wait_mode_not(&e.members[old], "leader", Duration::from_secs(15));
    let stepped_down_in = cut_at.elapsed();
    assert_ne!(
        old_mode.as_deref(),
        Some("follower"),
        "isolated member follows"
    );
    let majority_hosts = majority
        .iter()
        .map(|&i| e.members[i].host())
        .collect::<Vec<_>>()
        .join(",");
    let out = kazoo(
        WRITE_N,
        &[majority_hosts, "/during".into(), "50".into()],
        Duration::from_secs(60),
    );
    assert!(out.contains("ok"));
    let orphan = orphan.join();
    assert!(
        orphan.output.contains("RESULT lost"),
        "a write on the isolated leader was acknowledged (or the client failed):\n{}",
        orphan.output
    );
    // Still isolated: it does not serve, and says so as ZooKeeper does.
    assert_eq!(
        e.members[old].srvr(),
        "This ZooKeeper instance is not currently serving requests\n"
    );

    // Heal: it rejoins as a follower of the majority's leader with the majority's history.
    for &f in &majority {
        e.set_link(old, f, false);
    }
    let healed_at = Instant::now();
    let leader = e.wait_for_leader(Duration::from_secs(30));
    assert_eq!(leader, new, "the majority's leader keeps leading");
    e.wait_converged(Duration::from_secs(30));
    let rejoined_in = healed_at.elapsed();
    let only_old = e.members[old].host();
    let count = kazoo(
        COUNT,
        &[only_old.clone(), "/during".into()],
        Duration::from_secs(30),
    );
    assert_eq!(count.trim(), "50");
    let orphan_seen = kazoo(
        EXISTS,
        &[only_old, "/orphan".into()],
        Duration::from_secs(30),
    );
    assert_eq!(
        orphan_seen.trim(),
        "False",
        "the uncommitted write survived"
    );
    let text = e.members[old].log_text();
    eprintln!(
        "old leader's catch-up: TRUNC {} SNAP {}; orphan client: {}",
        text.contains("TRUNC"),
        text.contains("installed the leader's snapshot"),
        orphan
            .output
            .lines()
            .find(|l| l.starts_with("RESULT"))
            .unwrap_or("")
    );
    // Its log ends with the orphan proposal, in an epoch the new leader superseded: TRUNC.
    assert!(
        text.contains("TRUNC"),
        "the old leader's uncommitted tail was not truncated"
    );

    // Asymmetric: cut the leader from one follower only. The leader keeps its quorum with
    // the other; the cut-off follower stops serving, then rejoins after healing.
    let x = (0..3).find(|&i| i != new).unwrap();
    e.set_link(new, x, true);
    let gone = wait_mode_not(&e.members[x], "follower", Duration::from_secs(15));
    assert_eq!(gone, None, "cut-off follower still serves as {gone:?}");
    assert_eq!(e.members[new].mode().as_deref(), Some("leader"));
    let out = kazoo(
        WRITE_N,
        &[e.members[new].host(), "/asym".into(), "10".into()],
        Duration::from_secs(60),
    );
    assert!(out.contains("ok"));
    e.set_link(new, x, false);
    assert_eq!(e.wait_for_leader(Duration::from_secs(30)), new);
    e.wait_converged(Duration::from_secs(30));
    let count = kazoo(
        COUNT,
        &[e.members[x].host(), "/asym".into()],
        Duration::from_secs(30),
    );
    assert_eq!(count.trim(), "10");
    eprintln!(
        "partition: new leader in {elected_in:?}, old leader stepped down in \
         {stepped_down_in:?}, rejoined in {rejoined_in:?}; whole test {:?}",
        started.elapsed()
    );
}

/// One session, hosts listed follower-first: kill -9 the follower it is connected to, then
/// (once the test restarted that follower) the leader. The session and its ephemeral
/// survive, and kazoo's DataWatch/ChildrenWatch see changes made after each failover.
/// (kazoo 2.8 sends no SetWatches: on a connection loss it fires its raw watches with a
/// NONE event and forgets them; its watch recipes re-read on reconnect. go-zookeeper's
/// test covers SetWatches.) Phases are handed over with files: the script writes
/// `<dir>/killed1`, the test answers `<dir>/go2`.
const FAILOVER: &str = r#"
import os, sys, time, signal, threading
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry
hosts, f_pid, l_pid, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
retry = KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5, deadline=30)
zk = KazooClient(hosts=hosts, timeout=10, randomize_hosts=False,
                 connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5),
                 command_retry=retry)
zk.start(timeout=15)
other = KazooClient(hosts=hosts, timeout=10, command_retry=retry)
other.start(timeout=15)
sid = zk.client_id[0]
print("connected to port", zk._connection._socket.getpeername()[1], flush=True)
zk.create("/eph", b"e", ephemeral=True)
zk.ensure_path("/kids")
zk.create("/w", b"0")
datas, kids = [], []
zk.DataWatch("/w")(lambda data, stat: datas.append(data))
zk.ChildrenWatch("/kids")(lambda c: kids.append(sorted(c)))
lost = threading.Event()
def listener(state):
    if state != KazooState.CONNECTED:
        lost.set()
zk.add_listener(listener)

def failover(pid, what):
    lost.clear()
    os.kill(pid, signal.SIGKILL)
    assert lost.wait(15), "client never noticed the %s crash" % what
    deadline = time.time() + 30
    while zk.state != KazooState.CONNECTED:
        assert time.time() < deadline, "no reconnect after the %s crash" % what
        time.sleep(0.05)
    assert zk.client_id[0] == sid, "session changed after the %s crash" % what
    assert retry(zk.exists, "/eph") is not None, "ephemeral lost after the %s crash" % what
    assert retry(other.exists, "/eph") is not None

def wait_for(cond, what):
    deadline = time.time() + 15
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.05)

# 1: the follower this session is connected to dies.
failover(f_pid, "follower")
retry(other.set, "/w", b"1")
wait_for(lambda: b"1" in datas, "DataWatch missed a change after the follower failover: %r" % datas)
print("follower failover ok, now on port", zk._connection._socket.getpeername()[1], flush=True)
open(os.path.join(d, "killed1"), "w").close()
deadline = time.time() + 60
while not os.path.exists(os.path.join(d, "go2")):
    assert time.time() < deadline, "no go2"
    if os.path.exists(os.path.join(d, "abort")):
        os._exit(1)
    time.sleep(0.05)

# 2: the leader dies (the session is on the leader or on a follower that loses it).
failover(l_pid, "leader")
retry(other.create, "/kids/a", b"")
wait_for(lambda: ["a"] in kids, "ChildrenWatch missed a change after the leader failover: %r" % kids)
print("RESULT ok")
other.stop(); other.close()
zk.stop(); zk.close()
"#;

/// Runs a failover client (kazoo or go-zookeeper) against a fresh ensemble: the client
/// gets the hosts follower-first, the PIDs of that follower and of the leader, and a
/// directory for the `killed1` / `go2` handoff; the test restarts the killed follower
/// before the client kills the leader. Returns the client's output.
fn run_failover_client(
    name: &str,
    make: impl FnOnce(String, String, String, String) -> Command,
) -> String {
    let started = Instant::now();
    let mut e = Ensemble::new("");
    e.start_all();
    let leader = e.wait_for_leader(Duration::from_secs(30));
    let f = (0..3).find(|&i| i != leader).unwrap();
    let f2 = (0..3).find(|&i| i != leader && i != f).unwrap();
    // Follower first, then the leader, then the other follower; the clients keep that order.
    let hosts = [f, leader, f2]
        .iter()
        .map(|&i| e.members[i].host())
        .collect::<Vec<_>>()
        .join(",");
    let dir = e.tmp.clone();
    let fpid = e.members[f].pid().to_string();
    let lpid = e.members[leader].pid().to_string();
    let d = dir.display().to_string();
    let script = Script::spawn(
        dir.join("abort"),
        make(hosts, fpid, lpid, d),
        Duration::from_secs(180),
    );
    // Restart the killed follower before the leader dies, so a quorum remains.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !dir.join("killed1").exists() && !script.is_finished() {
        assert!(Instant::now() < deadline, "{name} never reached phase 2");
        std::thread::sleep(Duration::from_millis(50));
    }
    if dir.join("killed1").exists() {
        e.members[f].stop();
        e.members[f].start();
        e.wait_for_leader(Duration::from_secs(30));
        e.wait_converged(Duration::from_secs(30));
        std::fs::write(dir.join("go2"), b"").expect("go2");
    }
    let out = script.join();
    assert!(out.success, "{name} failed:\n{}", out.output);
    e.members[leader].stop();
    let new = e.wait_for_leader(Duration::from_secs(30));
    assert_ne!(new, leader);
    eprintln!(
        "{name} failover (follower {}, leader {}) took {:?}:\n{}",
        e.members[f].client_port,
        e.members[leader].client_port,
        started.elapsed(),
        out.output
    );
    out.output
}

#[test]
fn kazoo_keeps_session_ephemerals_and_watches_across_follower_and_leader_crashes() {
    if !kazoo_available() {
        eprintln!("skipped: kazoo is not installed for {PY}");
        return;
    }
    let out = run_failover_client("kazoo", |hosts, fpid, lpid, dir| {
        let mut cmd = Command::new(PY);
        cmd.arg("-c").arg(FAILOVER).args([hosts, fpid, lpid, dir]);
        cmd
    });
    assert!(out.contains("RESULT ok"), "{out}");
}

#[test]
fn go_zookeeper_keeps_session_and_rearms_watches_across_follower_and_leader_crashes() {
    if Command::new("go").arg("version").output().is_err() {
        eprintln!("skipped: go is not installed");
        return;
    }
    let out = run_failover_client("go-zookeeper", |hosts, fpid, lpid, dir| {
        let mut cmd = Command::new("sh");
        cmd.arg(support::repo_root().join("tests/clients/gozk/run.sh"))
            .args(["--hosts", &hosts, "--failover-dir", &dir])
            .args(["--follower-pid", &fpid, "--leader-pid", &lpid]);
        cmd
    });
    assert!(out.contains("ok   failover"), "{out}");
}

#[test]
fn standalone_client_suites_pass_against_the_ensemble() {
    if !kazoo_available() {
        eprintln!("skipped: kazoo is not installed for {PY}");
        return;
    }
    let mut e = Ensemble::new("");
    e.start_all();
    e.wait_for_leader(Duration::from_secs(30));
    let hosts = e.hosts();
    let mut cmd = Command::new(PY);
    cmd.arg(support::repo_root().join("tests/clients/kazoo_recipes.py"))
        .args(["--hosts", &hosts]);
    let kz = support::run_bounded(cmd, Duration::from_secs(300));
    eprintln!("kazoo_recipes:\n{}", kz.output);
    let go = if Command::new("go").arg("version").output().is_ok() {
        let mut cmd = Command::new("sh");
        cmd.arg(support::repo_root().join("tests/clients/gozk/run.sh"))
            .args(["--hosts", &hosts]);
        let go = support::run_bounded(cmd, Duration::from_secs(300));
        eprintln!("go-zookeeper:\n{}", go.output);
        go.success
    } else {
        true
    };
    assert!(kz.success, "kazoo_recipes failed against the ensemble");
    assert!(go, "go-zookeeper failed against the ensemble");
    e.wait_converged(Duration::from_secs(30));
}

#[test]
fn differential_vs_apache_zookeeper_with_sessions_spread_over_the_ensemble() {
    if !kazoo_available()
        || !Path::new("/usr/share/java/zookeeper.jar").exists()
        || Command::new("java").arg("-version").output().is_err()
    {
        eprintln!("skipped: needs /usr/bin/python3, Apache ZooKeeper and java");
        return;
    }
    // zkdiff's B side needs extended types (TTL nodes), as its standalone zkserver gets,
    // and the session timeout bounds of a 2 s tick (ZooKeeper A's).
    let mut e = Ensemble::new(
        "extendedTypesEnabled=true\nminSessionTimeout=4000\nmaxSessionTimeout=40000\n",
    );
    e.start_all();
    e.wait_for_leader(Duration::from_secs(30));
    let root = support::repo_root();
    let mut cmd = Command::new(PY);
    cmd.current_dir(&root)
        .arg(root.join("tests/diff/zkdiff.py"))
        .args(["--a-server", "zookeeper", "--b-hosts", &e.hosts()]);
    let o = support::run_bounded(cmd, Duration::from_secs(300));
    assert!(
        o.success,
        "zookeeper(A) vs ensemble(B) (exit {:?}):\n{}",
        o.code, o.output
    );
    eprintln!("{}", o.output);
}

#[test]
fn observer_learns_every_write_serves_reads_forwards_writes_and_never_votes() {
    if !kazoo_available() {
        eprintln!("skipped: kazoo is not installed for {PY}");
        return;
    }
    let started = Instant::now();
    let mut e = Ensemble::with_observers("", 1);
    e.start_all();
    let leader = e.wait_for_leader(Duration::from_secs(30));
    assert!(leader < 3, "an observer leads");
    let obs = 3;
    assert_eq!(e.members[obs].mode().as_deref(), Some("observer"));

    // Writes through the observer are forwarded; writes elsewhere reach it; it serves reads.
    let out = kazoo(
        WRITE_N,
        &[e.members[obs].host(), "/via-observer".into(), "30".into()],
        Duration::from_secs(60),
    );
    assert!(out.contains("ok"));
    let out = kazoo(
        WRITE_N,
        &[e.members[leader].host(), "/via-leader".into(), "20".into()],
        Duration::from_secs(60),
    );
    assert!(out.contains("ok"));
    e.wait_converged(Duration::from_secs(30));
    for (path, n) in [("/via-observer", "30"), ("/via-leader", "20")] {
        let count = kazoo(
            COUNT,
            &[e.members[obs].host(), path.into()],
            Duration::from_secs(30),
        );
        assert_eq!(count.trim(), n, "{path} on the observer");
    }

    // The four-letter words see the roles (shapes as in testdata/fourlw's captures).
    let m = e.members[leader].mntr();
    let get = |k: &str| m.get(k).cloned().unwrap_or_default();
    assert_eq!(get("zk_server_state"), "leader", "{m:?}");
    assert_eq!(get("zk_peer_state"), "leading - broadcast");
    assert_eq!(get("zk_learners"), "3");
    assert_eq!(get("zk_followers"), "3");
    assert_eq!(get("zk_synced_followers"), "2");
    assert_eq!(get("zk_synced_observers"), "1");
    assert_eq!(get("zk_synced_non_voting_followers"), "0");
    assert_eq!(get("zk_pending_syncs"), "0");
    assert_eq!(get("zk_quorum_size"), "3");
    assert!(get("zk_leader_uptime").parse::<i64>().is_ok_and(|u| u > 0));
    assert!(get("zk_max_proposal_size")
        .parse::<i64>()
        .is_ok_and(|n| n > 0));
    // Every key ZooKeeper 3.8 prints for the role, minus the commented exclusion list.
    let f = (0..3).find(|&i| i != leader).unwrap();
    let mut role_mntr = Vec::new();
    for (i, capture) in [
        (leader, "leader_mntr.txt"),
        (f, "follower_mntr.txt"),
        (obs, "observer_mntr.txt"),
    ] {
        let text = e.members[i].four("mntr");
        support::check_mntr_keys(&text, capture)
            .unwrap_or_else(|err| panic!("member {} vs {capture}:\n{err}\n{text}", i + 1));
        role_mntr.push(support::mntr_map(&text));
    }
    let int = |m: &std::collections::HashMap<String, String>, k: &str| -> i64 {
        m.get(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} missing or not an integer in {m:?}"))
    };
    let (lm, fm2, om2) = (&role_mntr[0], &role_mntr[1], &role_mntr[2]);
    // Each write (50 creates, 2 parents, the kazoo sessions' create/close) was proposed and
    // committed by the leader; the follower got every PROPOSAL, the observer every INFORM,
    // and all three applied them.
    let proposals = int(lm, "zk_proposal_count");
    assert!(proposals >= 52, "{proposals}");
    assert_eq!(int(lm, "zk_commit_count"), proposals);
    assert_eq!(int(lm, "zk_cnt_quorum_ack_latency"), proposals);
    assert_eq!(int(fm2, "zk_learner_proposal_received_count"), proposals);
    assert!(int(fm2, "zk_learner_commit_received_count") >= proposals);
    assert_eq!(int(fm2, "zk_cnt_commit_propagation_latency"), proposals);
    assert_eq!(int(fm2, "zk_cnt_proposal_latency"), proposals);
    assert_eq!(int(lm, "zk_cnt_proposal_latency"), 0);
    assert_eq!(int(om2, "zk_cnt_proposal_latency"), 0);
    assert_eq!(int(om2, "zk_learner_proposal_received_count"), 0);
    assert_eq!(int(om2, "zk_learner_commit_received_count"), proposals);
    for m in [lm, fm2, om2] {
        assert_eq!(int(m, "zk_cnt_propagation_latency"), proposals);
        assert_eq!(int(m, "zk_quorum_size"), 3);
        assert!(int(m, "zk_looking_count") >= 1);
        assert_eq!(int(m, "zk_cnt_unavailable_time"), 1, "{m:?}");
        assert_eq!(int(m, "zk_cnt_dbinittime"), 1);
    }
    for m in [fm2, om2] {
        assert_eq!(int(m, "zk_proposal_count"), 0);
        assert_eq!(int(m, "zk_commit_count"), 0);
        assert_eq!(int(m, "zk_cnt_leader_unavailable_time"), 0);
    }
    // Leader and follower record their election; ZooKeeper's observer does not.
    assert_eq!(int(lm, "zk_cnt_election_time"), 1);
    assert_eq!(int(fm2, "zk_cnt_election_time"), 1);
    assert_eq!(int(om2, "zk_cnt_election_time"), 0);
    assert_eq!(int(lm, "zk_cnt_leader_unavailable_time"), 1);
    assert_eq!(int(fm2, "zk_cnt_follower_sync_time"), 1);
    assert_eq!(int(fm2, "zk_cnt_observer_sync_time"), 0);
    assert_eq!(int(om2, "zk_cnt_observer_sync_time"), 1);
    // Three learners synced, each by DIFF, TRUNC or SNAP.
    assert!(int(lm, "zk_diff_count") + int(lm, "zk_snap_count") >= 3);
    // A session moving from the leader to the follower: the follower counts a revalidating
    // reconnect and asks the leader, which counts the REVALIDATE.
    let before = (
        mntr_int(&e.members[f], "zk_connection_revalidate_count"),
        mntr_int(&e.members[leader], "zk_revalidate_count"),
    );
    // Raw handshakes: a session made on the leader, its connection dropped (the session
    // lives on), then resumed on the follower.
    let made = handshake(e.members[leader].client_port, 0, vec![0u8; 16].into());
    assert_ne!(made.session_id, 0);
    let resumed = handshake(
        e.members[f].client_port,
        made.session_id,
        made.passwd.clone(),
    );
    assert_eq!(
        resumed.session_id, made.session_id,
        "the follower resumed the session"
    );
    assert_eq!(
        mntr_int(&e.members[f], "zk_connection_revalidate_count"),
        before.0 + 1
    );
    assert_eq!(
        mntr_int(&e.members[leader], "zk_revalidate_count"),
        before.1 + 1
    );
    // Write replies went out from the members the clients used (leader, observer).
    assert!(int(lm, "zk_response_bytes") > 0 && int(om2, "zk_response_bytes") > 0);
    assert!(int(lm, "zk_max_client_response_size") >= 16);
    let srvr = e.members[leader].srvr();
    let sizes = srvr
        .lines()
        .find_map(|l| l.strip_prefix("Proposal sizes last/min/max: "))
        .unwrap_or_else(|| panic!("no proposal sizes on the leader: {srvr}"));
    assert!(!sizes.starts_with("-1"), "{srvr}");
    let fm = e.members[f].mntr();
    assert_eq!(
        fm.get("zk_peer_state").map(String::as_str),
        Some("following - broadcast")
    );
    assert!(!fm.contains_key("zk_learners"), "{fm:?}");
    assert!(!e.members[f].srvr().contains("Proposal sizes"));
    // No clients on the follower: the four-letter word's own connection is its only one.
    let fstat = e.members[f].four("stat");
    assert!(fstat.contains("\nConnections: 1\n"), "{fstat}");
    assert!(
        fstat.contains("[0](queued=0,recved=1,sent=0)\n\n"),
        "{fstat}"
    );
    assert!(fstat.contains("\nMode: follower\n"), "{fstat}");
    let om = e.members[obs].mntr();
    assert_eq!(
        om.get("zk_server_state").map(String::as_str),
        Some("observer")
    );
    assert_eq!(
        om.get("zk_peer_state").map(String::as_str),
        Some("observing - broadcast")
    );
    assert_eq!(
        om.get("zk_observer_master_id"),
        Some(&e.members[leader].id.to_string())
    );

    // Two voters down: one voter and the observer are no quorum.
    let survivor = (0..3).find(|&i| i != leader && i != f).unwrap();
    e.members[leader].stop();
    e.members[f].stop();
    std::thread::sleep(Duration::from_secs(3));
    for i in [survivor, obs] {
        assert_eq!(
            e.members[i].srvr(),
            "This ZooKeeper instance is not currently serving requests\n",
            "member {} serves without a quorum",
            e.members[i].id
        );
    }
    let out = kazoo(
        WRITE_REFUSED,
        &[format!(
            "{},{}",
            e.members[survivor].host(),
            e.members[obs].host()
        )],
        Duration::from_secs(30),
    );
    assert!(out.contains("refused"), "{out}");

    // Back: a leader among the voters again, the observer follows it and catches up.
    e.members[leader].start();
    e.members[f].start();
    let new = e.wait_for_leader(Duration::from_secs(30));
    assert!(new < 3);
    e.wait_converged(Duration::from_secs(30));
    let count = kazoo(
        COUNT,
        &[e.members[obs].host(), "/via-observer".into()],
        Duration::from_secs(30),
    );
    assert_eq!(count.trim(), "30");
    // The handshakes the lone voter and the observer refused while not serving.
    let refused: i64 = [survivor, obs]
        .iter()
        .map(|&i| mntr_int(&e.members[i], "zk_cnxn_closed_without_zk_server_running"))
        .sum();
    assert!(refused >= 1, "{refused}");
    eprintln!("observer test took {:?}", started.elapsed());
}

/// `mntr` value as an integer, or -1 when the member does not answer or lacks the key.
fn mntr_int(m: &Member, key: &str) -> i64 {
    m.mntr().get(key).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// Polls until `cond` holds (bounded); false on timeout.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_reports_a_pending_sync_while_a_forwarded_sync_waits_for_a_commit() {
    use zookeeper_client as zk;
    // syncLimit 50 ticks (5 s): the leader keeps leading while both followers are frozen.
    let mut e = Ensemble::with_observers("syncLimit=50\n", 1);
    e.start_all();
    let leader = e.wait_for_leader(Duration::from_secs(30));
    let obs = 3;
    let connect = |host: String| async move {
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .connect(&host)
            .await
            .expect("connect")
    };
    let on_leader = connect(e.members[leader].host()).await;
    let on_observer = connect(e.members[obs].host()).await;
    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    on_leader.create("/p", b"", &acl).await.expect("create");
    on_observer
        .sync("/p")
        .await
        .expect("a sync with nothing outstanding");
    assert_eq!(mntr_int(&e.members[leader], "zk_pending_syncs"), 0);

    // Both followers frozen: the leader's next proposal cannot commit, so a sync the
    // observer forwards must wait for it.
    let followers: Vec<u32> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| e.members[i].pid())
        .collect();
    for &pid in &followers {
        signal(pid, "-STOP");
    }
    let proposals = mntr_int(&e.members[leader], "zk_proposal_count");
    let write = {
        let c = on_leader.clone();
        let acl = acl.clone();
        tokio::spawn(async move { c.create("/p/stuck", b"", &acl).await.map(|_| ()) })
    };
    let proposed = eventually(Duration::from_secs(2), || {
        mntr_int(&e.members[leader], "zk_proposal_count") > proposals
    });
    let sync = {
        let c = on_observer.clone();
        tokio::spawn(async move { c.sync("/p").await })
    };
    let pending = eventually(Duration::from_secs(2), || {
        mntr_int(&e.members[leader], "zk_pending_syncs") == 1
    });
    let leading = e.members[leader].mode();
    for &pid in &followers {
        signal(pid, "-CONT");
    }
    assert!(proposed, "the write was never proposed");
    assert!(
        pending,
        "zk_pending_syncs never reached 1 (leader mode {leading:?})"
    );
    assert_eq!(leading.as_deref(), Some("leader"));
    // Once the followers ACK, the proposal commits and the sync is answered.
    let _ = tokio::time::timeout(Duration::from_secs(20), write).await;
    let _ = tokio::time::timeout(Duration::from_secs(20), sync).await;
    assert!(
        eventually(Duration::from_secs(10), || {
            let m = e.members[leader].mntr();
            m.get("zk_server_state").map(String::as_str) != Some("leader")
                || m.get("zk_pending_syncs").map(String::as_str) == Some("0")
        }),
        "the pending sync never cleared"
    );
}

/// A bare client handshake on `port` (new session when `session_id` is 0); the connection is
/// dropped afterwards, so a session it made stays alive until it expires.
fn handshake(port: u16, session_id: i64, passwd: bytes::Bytes) -> jute::proto::ConnectResponse {
    use jute::Record;
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = jute::proto::ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 30_000,
        session_id,
        passwd,
        read_only: Some(false),
    }
    .to_bytes();
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    s.write_all(&frame).expect("send ConnectRequest");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("ConnectResponse length");
    let mut buf = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
    s.read_exact(&mut buf).expect("ConnectResponse");
    jute::proto::ConnectResponse::decode(&mut bytes::Bytes::from(buf)).expect("decode")
}
