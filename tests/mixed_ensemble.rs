//! Mixed ensembles: `zkserver` members and Apache ZooKeeper 3.8 members (the Debian
//! package) in one three-member ensemble on 127.0.0.1, sharing one zoo.cfg.
//!
//! - (a) two Apache members and one zkserver (myid 1, so an Apache member leads a fresh
//!   ensemble): zkserver follows a Java leader.
//! - (b) one Apache member (myid 1) and two zkservers: a zkserver leads and the Java member
//!   follows it.
//!
//! Each scenario checks: one leader that every member agrees on (`srvr` Mode lines); a
//! client (the `zookeeper-client` crate) writing through every member and reading every
//! write back from every member; an ephemeral whose session moves between a Java and a
//! zkserver member and outlives its timeout on both; the follower of the other kind catching
//! up by SNAP after its data dir is wiped and by DIFF after a restart (read from its log);
//! `kill -9` of the leader, the other two electing a leader and taking writes, the old
//! leader rejoining; finally every member holding the same tree (data and Stat of every
//! znode outside `/zookeeper`, whose `config` node each Java member fills from its own
//! config).
//!
//! Skips (with a message) only when Apache ZooKeeper or Java is not installed; CI installs
//! both (scripts/install-test-deps.sh). Every process is killed by PID and reaped by the
//! guard's `Drop`; every wait is bounded; each scenario takes well under 90 s.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zookeeper_client as zk;

mod support;

use support::cluster::{self, Cluster, Kind, Member, SLF4J_SIMPLE, ZK_JAR};

/// Session timeout of the clients: the ephemeral must outlive it on either kind of member.
const SESSION: Duration = Duration::from_secs(4);
/// Enough writes to leave the committed-proposal window of either kind of leader (Java
/// keeps at least 500; zkserver keeps `commitLogCount`), so a wiped member gets SNAP.
const SNAP_WRITES: usize = 600;

/// The test's ensemble: the shared guard, with this file's constructor and helpers.
type Ensemble = Cluster;

impl Ensemble {
    /// Members 1, 2, 3 of the given kinds, one zoo.cfg (only dataDir and clientPort differ).
    fn mixed(kinds: [Kind; 3]) -> Ensemble {
        let mut c = Cluster::new("mixed");
        let tmp = c.tmp.clone();
        let ports = cluster::reserve_ports(9);
        let servers: String = (0..3)
            .map(|j| {
                format!(
                    "server.{}=127.0.0.1:{}:{}\n",
                    j + 1,
                    ports[3 + j],
                    ports[6 + j]
                )
            })
            .collect();
        let mut members = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            let dir = tmp.join(format!("m{}", i + 1));
            let data = dir.join("data");
            std::fs::create_dir_all(&data).expect("member dir");
            std::fs::write(data.join("myid"), format!("{}\n", i + 1)).expect("myid");
            // commitLogCount: zkserver's DIFF window (Java never goes below 500);
            // snapshotSizeFactor=-1: Java syncs from memory only, so a wiped member gets
            // SNAP, as from zkserver (which warns about the key and ignores it).
            let cfg = format!(
                "tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir={}\nclientPort={}\n\
                 clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nmaxClientCnxns=0\n\
                 admin.enableServer=false\ncommitLogCount=100\nsnapshotSizeFactor=-1\n\
                 {servers}",
                data.display(),
                ports[i]
            );
            std::fs::write(dir.join("zoo.cfg"), cfg).expect("zoo.cfg");
            members.push(Member::new(i as u64 + 1, kind, ports[i], dir));
        }
        c.members = members;
        c
    }
}

fn opts() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// A client session on `host`, retried while the member is not serving yet (bounded).
async fn connect(host: &str, session: Option<zk::SessionInfo>) -> zk::Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut c = zk::Client::connector()
            .with_session_timeout(SESSION)
            .with_connection_timeout(Duration::from_secs(3))
            .with_detached();
        if let Some(s) = session.clone() {
            c = c.with_session(s);
        }
        match tokio::time::timeout(Duration::from_secs(5), c.connect(host)).await {
            Ok(Ok(client)) => return client,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "cannot connect to {host}: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Retries a write that failed with a connection-level error (a member that just joined
/// or a leader change), within a bound.
async fn create_retrying(client: &zk::Client, path: &str, data: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.create(path, data, &opts()).await {
            Ok(_) | Err(zk::Error::NodeExists) => return,
            Err(e) => {
                assert!(Instant::now() < deadline, "create {path}: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Path → (data, Stat).
type Tree = BTreeMap<String, (Vec<u8>, zk::Stat)>;

/// Every znode outside `/zookeeper` with its data and Stat, as `host` serves it (after a
/// sync, so it has everything the leader committed before).
async fn tree(host: &str) -> Tree {
    let c = connect(host, None).await;
    c.sync("/").await.expect("sync");
    let mut out = BTreeMap::new();
    let mut todo = vec!["/".to_string()];
    while let Some(path) = todo.pop() {
        assert!(out.len() < 100_000, "runaway walk");
        if path == "/zookeeper" {
            // Each member writes its own config text here, not replicated: with one zoo.cfg
            // the text (ZooKeeper's QuorumMaj format) and the Stat fields it sets match.
            let (data, stat) = c.get_data("/zookeeper/config").await.expect("config");
            assert!(
                String::from_utf8_lossy(&data).ends_with(":participant\nversion=0"),
                "{host}: /zookeeper/config {:?}",
                String::from_utf8_lossy(&data)
            );
            assert_eq!((stat.version, stat.mzxid), (-1, 0), "{host}: config Stat");
            out.insert(
                "/zookeeper/config".into(),
                (data, zk::Stat { mtime: 0, ..stat }),
            );
            continue;
        }
        let (data, stat) = c.get_data(&path).await.expect("get_data");
        for child in c.list_children(&path).await.expect("children") {
            todo.push(if path == "/" {
                format!("/{child}")
            } else {
                format!("{path}/{child}")
            });
        }
        out.insert(path, (data, stat));
    }
    out
}

/// Every running member serves the same tree; returns its size.
async fn assert_same_trees(e: &Ensemble) -> usize {
    let mut first: Option<(u64, Tree)> = None;
    for m in e.members.iter().filter(|m| m.running()) {
        let t = tree(&m.host()).await;
        match &first {
            None => first = Some((m.id, t)),
            Some((id, f)) => {
                let differ: Vec<&String> = f
                    .keys()
                    .chain(t.keys())
                    .filter(|k| f.get(*k) != t.get(*k))
                    .take(5)
                    .collect();
                assert!(
                    differ.is_empty(),
                    "member {} and member {id} differ, e.g. at {differ:?}",
                    m.id
                );
            }
        }
    }
    first.map_or(0, |(_, t)| t.len())
}

/// Waits (bounded) until `m`'s current log contains `needle`.
fn wait_log(m: &Member, needle: &str, limit: Duration) {
    if m.kind == Kind::Apache && !Path::new(SLF4J_SIMPLE).exists() {
        eprintln!("{SLF4J_SIMPLE} missing: Apache ZooKeeper logs nothing; not checking {needle:?}");
        return;
    }
    let deadline = Instant::now() + limit;
    while !m.log_text().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "member {} ({:?}) never logged {needle:?}",
            m.id,
            m.kind
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a learner of each kind logs when it syncs by SNAP and by DIFF.
fn sync_log_line(kind: Kind, snap: bool) -> &'static str {
    match (kind, snap) {
        (Kind::Apache, true) => "Getting a snapshot from leader",
        (Kind::Apache, false) => "Getting a diff from the leader",
        (Kind::Zkserver, true) => "installed the leader's snapshot (SNAP)",
        (Kind::Zkserver, false) => "getting a DIFF from the leader",
    }
}

fn apache_available() -> bool {
    if !Path::new(ZK_JAR).exists() || Command::new("java").arg("-version").output().is_err() {
        eprintln!(
            "skipped: Apache ZooKeeper ({ZK_JAR}) or java is not installed; \
             run scripts/install-test-deps.sh"
        );
        return false;
    }
    true
}

/// The whole scenario on an ensemble of `kinds`; `leader_kind` is the kind that must lead
/// the fresh ensemble, `learner` the index of the follower of the other kind that is
/// wiped (SNAP) and restarted (DIFF).
fn scenario(kinds: [Kind; 3], leader_kind: Kind, learner: usize) {
    let mut e = Ensemble::mixed(kinds);
    // After the lock: the other scenario of this binary may have held it.
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    e.start_all();
    let leader = e.wait_for_leader(Duration::from_secs(40));
    assert_eq!(
        e.members[leader].kind, leader_kind,
        "the fresh leader's kind"
    );
    assert_ne!(e.members[learner].kind, leader_kind);
    let hosts: Vec<String> = e.members.iter().map(Member::host).collect();

    // 1. Writes through every member; every member reads every write.
    rt.block_on(async {
        let clients = futures_join(hosts.iter().map(|h| connect(h, None))).await;
        create_retrying(&clients[0], "/mixed", b"").await;
        for (i, c) in clients.iter().enumerate() {
            let path = format!("/mixed/w{i}");
            create_retrying(c, &path, format!("v{i}").as_bytes()).await;
            c.set_data(&path, format!("v{i}'").as_bytes(), Some(0))
                .await
                .expect("set_data");
        }
        for (j, c) in clients.iter().enumerate() {
            c.sync("/mixed").await.expect("sync");
            let mut kids = c.list_children("/mixed").await.expect("children");
            kids.sort();
            assert_eq!(kids, ["w0", "w1", "w2"], "member {}", j + 1);
            for i in 0..3 {
                let (data, stat) = c.get_data(&format!("/mixed/w{i}")).await.expect("get");
                assert_eq!(data, format!("v{i}'").as_bytes(), "member {}", j + 1);
                assert_eq!(stat.version, 1);
            }
        }
    });

    step(started, "writes and reads");

    // 2. An ephemeral whose session moves between the kinds and outlives its timeout.
    let zks = (0..3).find(|&i| e.members[i].kind == Kind::Zkserver);
    let java = (0..3).find(|&i| e.members[i].kind == Kind::Apache);
    let (Some(zks), Some(java)) = (zks, java) else {
        unreachable!("a mixed ensemble has both kinds");
    };
    rt.block_on(async {
        let owner = connect(&hosts[zks], None).await;
        let sid = owner.session_id();
        let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
        owner
            .create("/mixed/eph", b"e", &eph)
            .await
            .expect("ephemeral");
        // Idle past the timeout: the session lives through this member's touches.
        tokio::time::sleep(SESSION + Duration::from_secs(1)).await;
        let session = owner.into_session();
        let moved = connect(&hosts[java], Some(session)).await;
        assert_eq!(moved.session_id(), sid, "session kept on the Apache member");
        let stat = moved.check_stat("/mixed/eph").await.expect("stat");
        assert_eq!(stat.map(|s| s.ephemeral_owner), Some(sid.0));
        tokio::time::sleep(SESSION + Duration::from_secs(1)).await;
        let back = connect(&hosts[zks], Some(moved.into_session())).await;
        assert_eq!(back.session_id(), sid, "session kept back on zkserver");
        let other = connect(&hosts[3 - zks - java], None).await;
        other.sync("/mixed").await.expect("sync");
        let stat = other.check_stat("/mixed/eph").await.expect("stat");
        assert_eq!(stat.map(|s| s.ephemeral_owner), Some(sid.0));
        // Closing the session removes it everywhere.
        let closer = zk::Client::connector()
            .with_session(back.into_session())
            .with_session_timeout(SESSION);
        let closer = tokio::time::timeout(Duration::from_secs(10), closer.connect(&hosts[java]))
            .await
            .expect("reconnect in time")
            .expect("reconnect");
        drop(closer); // not detached: closes the session
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            other.sync("/mixed").await.expect("sync");
            if other
                .check_stat("/mixed/eph")
                .await
                .expect("stat")
                .is_none()
            {
                break;
            }
            assert!(Instant::now() < deadline, "ephemeral outlived its session");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    step(started, "ephemeral");

    // 3. The follower of the other kind, wiped, catches up by SNAP; restarted, by DIFF.
    e.members[learner].stop();
    let data = e.members[learner].dir.join("data");
    for entry in std::fs::read_dir(&data).expect("data dir").flatten() {
        if entry.file_name() != "myid" {
            let p = entry.path();
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
    }
    let writer_host = hosts[leader].clone();
    rt.block_on(async {
        let c = connect(&writer_host, None).await;
        create_retrying(&c, "/bulk", b"").await;
        // Pipelined: the futures are all issued before the first is awaited.
        let paths: Vec<String> = (0..SNAP_WRITES).map(|i| format!("/bulk/n{i:04}")).collect();
        let o = opts();
        let writes: Vec<_> = paths.iter().map(|p| c.create(p, b"payload", &o)).collect();
        for w in futures_join(writes).await {
            w.expect("bulk create");
        }
    });
    e.members[learner].start();
    wait_log(
        &e.members[learner],
        sync_log_line(e.members[learner].kind, true),
        Duration::from_secs(30),
    );
    e.wait_for_leader(Duration::from_secs(30));
    step(started, "SNAP");
    e.members[learner].stop();
    rt.block_on(async {
        let c = connect(&writer_host, None).await;
        for i in 0..20 {
            create_retrying(&c, &format!("/bulk/d{i:02}"), b"diff").await;
        }
    });
    e.members[learner].start();
    wait_log(
        &e.members[learner],
        sync_log_line(e.members[learner].kind, false),
        Duration::from_secs(30),
    );
    e.wait_for_leader(Duration::from_secs(30));
    step(started, "DIFF");
    // Once more with writes going on while it rejoins (DIFF or SNAP, whichever the leader
    // picks): proposals and COMMITs reach it mid-sync, where a Java learner crashes on a
    // COMMIT it cannot pair with a PROPOSAL it still holds.
    e.members[learner].stop();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = rt.spawn(load(writer_host.clone(), stop.clone()));
    std::thread::sleep(Duration::from_millis(200));
    e.members[learner].start();
    // Let it sync while the writes go on, then wait for it to follow.
    std::thread::sleep(Duration::from_secs(2));
    e.wait_for_leader(Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let written = rt.block_on(writer).expect("writer task");
    assert!(written > 0, "writes during the rejoin");
    let n = rt.block_on(assert_same_trees(&e));
    assert!(n > SNAP_WRITES, "{n} znodes");
    // No member fell out of sync on the way (it would rejoin, which hides the failure).
    for m in &e.members {
        let bad = match m.kind {
            Kind::Apache => "Exception when following the leader",
            Kind::Zkserver => "out of order",
        };
        assert!(
            !m.log_text().contains(bad),
            "member {} ({:?}) logged {bad:?}",
            m.id,
            m.kind
        );
    }
    step(started, "rejoin under load");

    // 4. kill -9 the leader: the other two elect one and take writes; it rejoins.
    e.members[leader].stop();
    let new_leader = e.wait_for_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);
    rt.block_on(async {
        for (i, m) in e.members.iter().enumerate().filter(|(_, m)| m.running()) {
            let c = connect(&m.host(), None).await;
            create_retrying(&c, &format!("/mixed/after-crash-{i}"), b"x").await;
        }
    });
    e.members[leader].start();
    e.wait_for_leader(Duration::from_secs(40));
    let n2 = rt.block_on(assert_same_trees(&e));
    step(started, "leader crash");
    assert_eq!(n2, n + 2, "two writes after the crash, everywhere");
    eprintln!(
        "mixed ensemble {:?}: leader member {} then {}, {n2} znodes everywhere, {:?}",
        kinds.map(|k| format!("{k:?}")),
        leader + 1,
        new_leader + 1,
        started.elapsed()
    );
}

/// Sequential creates under `/load` on `host`, ten in flight at a time, until `stop` (or
/// 60 s); returns how many were acknowledged.
async fn load(host: String, stop: Arc<AtomicBool>) -> usize {
    let c = connect(&host, None).await;
    create_retrying(&c, "/load", b"").await;
    let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut written = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let batch: Vec<_> = (0..10).map(|_| c.create("/load/n-", b"l", &seq)).collect();
        for r in futures_join(batch).await {
            r.expect("create under load");
            written += 1;
        }
    }
    written
}

fn step(started: Instant, what: &str) {
    eprintln!("  {what} done at {:?}", started.elapsed());
}

/// Awaits all of `futs` (issued together) in order.
async fn futures_join<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}

#[test]
fn zkserver_follows_apache_zookeeper_leader() {
    if !apache_available() {
        return;
    }
    scenario(
        [Kind::Zkserver, Kind::Apache, Kind::Apache],
        Kind::Apache,
        0,
    );
}

#[test]
fn apache_zookeeper_follows_zkserver_leader() {
    if !apache_available() {
        return;
    }
    scenario(
        [Kind::Apache, Kind::Zkserver, Kind::Zkserver],
        Kind::Zkserver,
        0,
    );
}
