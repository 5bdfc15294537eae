//! `mntr` of the real standalone binary under a small load, driven by a Rust client: the key
//! set is ZooKeeper 3.8's (crates/server/testdata/fourlw/mntr.txt) minus the commented
//! exclusion list, and the values move as the events they count happen. The ensemble roles
//! are checked the same way in tests/ensemble.rs.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::standalone::Standalone;
use zookeeper_client as zk;

/// A standalone zkserver with every four-letter word allowed and `extra` zoo.cfg lines.
fn start_with(extra: &str) -> Standalone {
    Standalone::start("mntr", 500, &format!("4lw.commands.whitelist=*\n{extra}"))
}

fn start() -> Standalone {
    start_with("")
}

fn int(m: &HashMap<String, String>, k: &str) -> i64 {
    m.get(k)
        .unwrap_or_else(|| panic!("mntr lacks {k}"))
        .parse()
        .unwrap_or_else(|e| panic!("{k}={:?}: {e}", m[k]))
}

fn opts() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

#[test]
fn exclusion_list_entries_all_match_a_captured_key() {
    // A stale line (a key ZooKeeper 3.8 never printed) would hide nothing and mislead.
    let (excluded, extra) = support::mntr_exclusions();
    let mut captured = Vec::new();
    for f in [
        "mntr.txt",
        "leader_mntr.txt",
        "follower_mntr.txt",
        "observer_mntr.txt",
    ] {
        captured.extend(support::captured_mntr_keys(f));
    }
    for p in &excluded {
        assert!(
            captured.iter().any(|k| support::glob_match(p, k)),
            "exclusion {p} matches no captured key"
        );
    }
    for k in &extra {
        assert!(!captured.contains(k), "{k} is captured, not an extra");
    }
    assert!(support::glob_match(
        "zk_*_jvm_pause_time_ms",
        "zk_p99_jvm_pause_time_ms"
    ));
    assert!(!support::glob_match("zk_*_readlatency", "zk_readlatency"));
    assert!(!support::glob_match(
        "zk_stale_requests",
        "zk_stale_requests_dropped"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_mntr_has_zookeepers_keys_and_values_that_move() {
    let server = start();
    let (text, before) = server.mntr();
    support::check_mntr_keys(&text, "mntr.txt").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(text.starts_with("zk_version\t"), "{text}");
    // Nothing answered yet: ZooKeeper's BufferStats print -1.
    for k in [
        "zk_last_client_response_size",
        "zk_min_client_response_size",
        "zk_max_client_response_size",
    ] {
        assert_eq!(int(&before, k), -1, "{k}");
    }
    // Standalone: no election, recovery measured once.
    assert_eq!(int(&before, "zk_looking_count"), 0);
    assert_eq!(int(&before, "zk_cnt_election_time"), 0);
    assert_eq!(int(&before, "zk_cnt_dbinittime"), 1);
    assert_eq!(int(&before, "zk_cnt_startup_snap_load_time"), 1);
    // The mntr connection itself is alive while it is answered (as in ZooKeeper).
    assert_eq!(int(&before, "zk_num_alive_connections"), 1);

    const CREATES: i64 = 25;
    const READS: i64 = 12;
    let client = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(6))
        .connect(&format!("127.0.0.1:{}", server.port()))
        .await
        .expect("connect");
    client.create("/m", b"", &opts()).await.expect("create /m");
    let (_, _, children) = client
        .get_and_watch_children("/m")
        .await
        .expect("child watch");
    for i in 0..CREATES {
        client
            .create(&format!("/m/n{i}"), &vec![b'x'; i as usize], &opts())
            .await
            .expect("create");
    }
    for i in 0..READS {
        client.get_data(&format!("/m/n{i}")).await.expect("read");
    }
    let (_, _, changed) = client
        .get_and_watch_data("/m/n0")
        .await
        .expect("data watch");
    client.set_data("/m/n0", b"new", None).await.expect("set");
    for w in [children.changed(), changed.changed()] {
        tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .expect("watch fired");
    }
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    client
        .create("/m-eph", b"e", &eph)
        .await
        .expect("ephemeral");

    let (text, after) = server.mntr();
    support::check_mntr_keys(&text, "mntr.txt").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let delta = |k: &str| int(&after, k) - int(&before, k);
    assert_eq!(
        delta("zk_znode_count"),
        CREATES + 2,
        "/m, its children, /m-eph"
    );
    assert_eq!(int(&after, "zk_ephemerals_count"), 1);
    assert_eq!(int(&after, "zk_global_sessions"), 1);
    assert_eq!(delta("zk_connection_request_count"), 1);
    assert_eq!(int(&after, "zk_num_alive_connections"), 2);
    // Writes: createSession, /m, the creates, the set, the ephemeral: all proposed,
    // committed, logged and answered as updates.
    let writes = CREATES + 4;
    assert_eq!(delta("zk_proposal_count"), writes, "{text}");
    assert_eq!(delta("zk_commit_count"), writes);
    assert_eq!(delta("zk_sync_processor_request_queued"), writes);
    assert_eq!(delta("zk_cnt_updatelatency"), writes);
    assert_eq!(delta("zk_cnt_quorum_ack_latency"), writes);
    assert_eq!(delta("zk_cnt_propagation_latency"), writes);
    assert_eq!(delta("zk_sum_sync_processor_batch_size"), writes);
    assert!(delta("zk_cnt_fsynctime") >= 1);
    // Each write queued change records (create: node and parent) and all were retired.
    assert!(delta("zk_outstanding_changes_queued") >= 2 * (CREATES + 1));
    assert_eq!(
        delta("zk_outstanding_changes_queued"),
        delta("zk_outstanding_changes_removed")
    );
    // Reads: the explicit ones plus the two watch registrations.
    assert!(delta("zk_cnt_readlatency") >= READS + 2, "{text}");
    // One child watcher fired once (the first create), one data watcher on the set.
    assert_eq!(delta("zk_cnt_node_children_watch_count"), 1);
    assert_eq!(delta("zk_sum_node_children_watch_count"), 1);
    assert_eq!(delta("zk_cnt_node_changed_watch_count"), 1);
    assert_eq!(delta("zk_cnt_node_created_watch_count"), 0);
    // Bytes: two notifications (each a 16-byte header plus the WatcherEvent).
    assert!(int(&after, "zk_watch_bytes") >= 2 * 16, "{text}");
    assert!(int(&after, "zk_response_bytes") >= (writes + READS) * 16);
    let (last, min, max) = (
        int(&after, "zk_last_client_response_size"),
        int(&after, "zk_min_client_response_size"),
        int(&after, "zk_max_client_response_size"),
    );
    assert!(
        16 <= min && min <= last && last <= max,
        "{min} {last} {max}"
    );
    // Percentiles lie within the summary's range.
    for name in ["updatelatency", "readlatency"] {
        let lo = int(&after, &format!("zk_min_{name}"));
        let hi = int(&after, &format!("zk_max_{name}"));
        for p in ["p50", "p95", "p99", "p999"] {
            let v = int(&after, &format!("zk_{p}_{name}"));
            assert!(lo <= v && v <= hi, "zk_{p}_{name}={v} outside {lo}..={hi}");
        }
        let avg: f64 = after[&format!("zk_avg_{name}")].parse().expect("avg");
        assert!(avg >= lo as f64 && avg <= hi as f64);
    }
    assert!(delta("zk_uptime") > 0);
    // Per namespace ("m" for everything under /m): each create writes its path and data
    // (/m/nI holds I bytes), each read its path, data and a Stat (68 bytes).
    let creates_bytes: i64 = (0..CREATES)
        .map(|i| format!("/m/n{i}").len() as i64 + i)
        .sum();
    assert_eq!(int(&after, "zk_min_m_write_per_namespace"), 2, "/m, empty");
    assert_eq!(
        int(&after, "zk_sum_m_write_per_namespace"),
        2 + creates_bytes + "/m/n0".len() as i64 + 3,
        "{text}"
    );
    assert_eq!(int(&after, "zk_cnt_m_write_per_namespace"), CREATES + 2);
    assert_eq!(int(&after, "zk_cnt_m-eph_write_per_namespace"), 1);
    let read_bytes: i64 = (0..READS)
        .map(|i| format!("/m/n{i}").len() as i64 + i + 68)
        .sum();
    assert!(int(&after, "zk_sum_m_read_per_namespace") >= read_bytes);
    assert!(int(&after, "zk_cnt_m_read_per_namespace") >= READS + 2);
    // Every request is at least a length and a request header (12 bytes).
    assert!(
        delta("zk_bytes_received_count") >= (writes + READS) * 12,
        "{text}"
    );

    // stat and cons list the four-letter word's own connection, as ZooKeeper does.
    let stat = server.four("stat");
    assert!(stat.contains("Connections: 2\n"), "{stat}");
    assert_eq!(
        stat.lines()
            .filter(|l| l.ends_with("[0](queued=0,recved=1,sent=0)"))
            .count(),
        1,
        "{stat}"
    );
    let cons = server.four("cons");
    assert_eq!(cons.lines().filter(|l| l.contains(",sid=0x")).count(), 1);
    assert!(cons.contains("[0](queued=0,recved=1,sent=0)\n"), "{cons}");

    // A bare handshake: ZooKeeper counts the ConnectRequest as a packet received on the
    // connection and the server, and its response as one sent.
    let received = int(&server.mntr().1, "zk_packets_received");
    let mut raw = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    let req = jute::proto::ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 10_000,
        session_id: 0,
        passwd: vec![0u8; 16].into(),
        read_only: Some(false),
    };
    let body = jute::Record::to_bytes(&req);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    raw.write_all(&frame).expect("handshake");
    raw.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut len = [0u8; 4];
    raw.read_exact(&mut len).expect("ConnectResponse");
    let port = raw.local_addr().expect("local").port();
    let cons = server.four("cons");
    let line = cons
        .lines()
        .find(|l| l.contains(&format!(":{port}[")))
        .unwrap_or_else(|| panic!("no line for :{port} in {cons}"));
    assert!(line.contains("(queued=0,recved=1,sent=1,sid=0x"), "{line}");
    // The handshake and the two four-letter words since.
    assert_eq!(int(&server.mntr().1, "zk_packets_received") - received, 3);
    drop(raw);

    // srst resets the metrics too (ZooKeeper's ServerStats.reset → ServerMetrics.resetAll).
    assert_eq!(server.four("srst"), "Server stats reset.\n");
    let (text, reset) = server.mntr();
    support::check_mntr_keys(&text, "mntr.txt").unwrap_or_else(|e| panic!("{e}\n{text}"));
    for k in [
        "zk_proposal_count",
        "zk_commit_count",
        "zk_cnt_updatelatency",
        "zk_cnt_readlatency",
        "zk_cnt_fsynctime",
        "zk_response_bytes",
        "zk_watch_bytes",
        "zk_connection_request_count",
    ] {
        assert_eq!(int(&reset, k), 0, "{k} after srst");
    }
    assert_eq!(int(&reset, "zk_max_client_response_size"), -1);
    assert_eq!(int(&reset, "zk_znode_count"), int(&after, "zk_znode_count"));
    // And count again afterwards.
    client
        .create("/m/after", b"", &opts())
        .await
        .expect("create");
    let (_, again) = server.mntr();
    assert_eq!(int(&again, "zk_proposal_count"), 1);
    assert_eq!(int(&again, "zk_cnt_updatelatency"), 1);
    assert!(int(&again, "zk_last_client_response_size") >= 16);
}

#[test]
fn refused_dropped_and_counted_connections() {
    // One connection per address: a silent connection holds the slot, the next is refused.
    let server = start_with("maxClientCnxns=1\n");
    // A four-letter word's slot is released just after its reply: back-to-back ones (the
    // start-up polls) can be refused, so this compares with a baseline taken once quiet.
    std::thread::sleep(Duration::from_millis(300));
    let before = loop {
        let (text, m) = server.mntr();
        if !text.is_empty() {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(300));
    let mut holder = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    holder
        .write_all(&[0, 0])
        .expect("two bytes, not a whole length");
    std::thread::sleep(Duration::from_millis(200));
    let mut refused = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    refused
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 8];
    assert_eq!(refused.read(&mut buf).expect("closed by the server"), 0);
    // The client gives up before its handshake: a dropped connection; its slot frees.
    drop(holder);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut refused_polls = 0;
    let after = loop {
        let (text, m) = server.mntr();
        if !text.is_empty() {
            break m;
        }
        // Until the holder's task ends, the poll itself is one connection too many.
        refused_polls += 1;
        assert!(Instant::now() < deadline, "the slot was never released");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        int(&after, "zk_connection_rejected") - int(&before, "zk_connection_rejected"),
        1 + refused_polls
    );
    assert_eq!(
        int(&after, "zk_connection_drop_count") - int(&before, "zk_connection_drop_count"),
        1
    );
    assert_eq!(int(&after, "zk_sessionless_connections_expired"), 0);
    // Four-letter words count 4 bytes each (the one being answered included); the holder's
    // 2 bytes were no packet, refused connections were never read.
    assert_eq!(
        int(&after, "zk_bytes_received_count") - int(&before, "zk_bytes_received_count"),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_metrics_describe_the_recovery() {
    let mut server = start();
    let (_, fresh) = server.mntr();
    // A new data dir: no snapshot to load a log after, one initial snapshot written.
    assert_eq!(int(&fresh, "zk_cnt_startup_txns_loaded"), 0);
    assert_eq!(int(&fresh, "zk_cnt_snapshottime"), 1);
    let client = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(6))
        .connect(&format!("127.0.0.1:{}", server.port()))
        .await
        .expect("connect");
    for i in 0..7 {
        client
            .create(&format!("/r{i}"), b"", &opts())
            .await
            .expect("create");
    }
    drop(client);
    server.restart();
    let (_, restarted) = server.mntr();
    // createSession, the creates and (perhaps) closeSession were replayed from the log.
    assert_eq!(int(&restarted, "zk_cnt_startup_txns_loaded"), 1);
    let loaded = int(&restarted, "zk_sum_startup_txns_loaded");
    assert!((8..=9).contains(&loaded), "{loaded}");
    assert_eq!(int(&restarted, "zk_cnt_dbinittime"), 1);
    assert_eq!(int(&restarted, "zk_cnt_snapshottime"), 0);
    assert_eq!(
        int(&restarted, "zk_znode_count"),
        int(&fresh, "zk_znode_count") + 7
    );
}
