//! Fills the four-letter-word texts (`fourlw`) with facts from the node, the config and the
//! process. Runs on the driver task, between node inputs, so it sees a consistent state.

use std::net::SocketAddr;
use std::path::Path;

use crate::driver::Driver;
use crate::fourlw::{self, FourLetter};
use node::stats::{PercentileSummary, Summary};

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn mode(d: &Driver) -> fourlw::ServerMode {
    if d.node.is_read_only() {
        // ZooKeeper's ReadOnlyZooKeeperServer.getState().
        fourlw::ServerMode::ReadOnly
    } else if d.info.config.is_quorum() {
        match d.node.zab().role() {
            zab::Role::Leading => fourlw::ServerMode::Leader,
            zab::Role::Observing => fourlw::ServerMode::Observer,
            _ => fourlw::ServerMode::Follower,
        }
    } else {
        fourlw::ServerMode::Standalone
    }
}

/// ZooKeeper's `zk_peer_state`: the role, then the phase once serving.
fn peer_state(d: &Driver) -> String {
    let z = d.node.zab();
    let role = match z.role() {
        zab::Role::Looking => "looking",
        zab::Role::Following => "following",
        zab::Role::Leading => "leading",
        zab::Role::Observing => "observing",
    };
    let phase = match z.phase() {
        zab::Phase::Election => "election",
        zab::Phase::Discovery => "discovery",
        zab::Phase::Synchronization => "synchronization",
        zab::Phase::Broadcast => "broadcast",
    };
    format!("{role} - {phase}")
}

fn latency(d: &Driver) -> fourlw::Latency {
    let c = &d.node.counters;
    fourlw::Latency {
        min: c.latency_min_ms.unwrap_or(0),
        avg: c.latency_avg_ms(),
        max: c.latency_max_ms,
    }
}

/// ZooKeeper serves a four-letter word on an ordinary client connection: while it runs, that
/// connection is one of the server's (srvr's `Connections`, `stat`/`cons` list it, mntr's
/// zk_num_alive_connections counts it) and its four bytes were one received packet.
fn alive_connections(d: &Driver) -> u64 {
    d.conns.len() as u64 + 1
}

/// The four-letter word's own connection as `stat` and `cons` show it: no session, no
/// interest ops while the reply is written, one packet received.
fn own_conn(remote: SocketAddr) -> fourlw::ConnInfo {
    fourlw::ConnInfo {
        remote,
        interest_ops: 0,
        queued: 0,
        recved: 1,
        sent: 0,
        session: None,
    }
}

fn server_stats(d: &Driver) -> fourlw::ServerStats {
    fourlw::ServerStats {
        version: fourlw::version_string(),
        latency: latency(d),
        packets_received: d.node.counters.packets_received,
        packets_sent: d.node.counters.packets_sent,
        num_alive_connections: alive_connections(d),
        outstanding_requests: d.node.outstanding_requests() as u64,
        zxid: d.node.last_zxid().0,
        mode: mode(d),
        node_count: d.node.tree().node_count() as u64,
        proposal_sizes: proposal_sizes(d),
    }
}

fn proposal_sizes(d: &Driver) -> fourlw::ProposalSizes {
    match d.node.counters.proposal_sizes {
        Some(p) => fourlw::ProposalSizes {
            last: p.last,
            min: p.min,
            max: p.max,
        },
        None => fourlw::ProposalSizes::NONE,
    }
}

fn conn_infos(d: &Driver, own: SocketAddr) -> Vec<fourlw::ConnInfo> {
    let mut v: Vec<fourlw::ConnInfo> = d
        .node
        .conn_infos()
        .into_iter()
        .filter_map(|(_, remote, session, queued, st)| {
            let remote: SocketAddr = remote.parse().ok()?;
            let session = session.map(|sid| fourlw::ConnSession {
                session_id: sid.0,
                last_op: fourlw::last_op_name(st.last_op).to_string(),
                established_ms: st.established_ms,
                timeout_ms: d
                    .node
                    .sessions()
                    .get(sid)
                    .map(|s| s.timeout_ms as i64)
                    .unwrap_or(0),
                last_cxid: st.last_cxid as i64,
                last_zxid: st.last_zxid,
                last_response_ms: st.last_response_ms,
                last_latency_ms: st.last_latency_ms,
                min_latency_ms: st.min_latency_ms.unwrap_or(0),
                avg_latency_ms: st.avg_latency_ms(),
                max_latency_ms: st.max_latency_ms,
            });
            Some(fourlw::ConnInfo {
                remote,
                interest_ops: 1,
                queued: queued as u64,
                recved: st.received,
                sent: st.sent,
                session,
            })
        })
        .collect();
    v.push(own_conn(own));
    v
}

fn fd_counts() -> (Option<u64>, Option<u64>) {
    let open = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        });
    (open, max)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// `zk_{avg,min,max,cnt,sum}_{name}`: ZooKeeper's AvgMinMaxCounter.
fn push_summary(out: &mut Vec<(String, fourlw::MetricValue)>, name: &str, s: &Summary) {
    use fourlw::MetricValue::{Double, Int};
    out.extend([
        (format!("avg_{name}"), Double(fourlw::round4(s.avg()))),
        (format!("min_{name}"), Int(s.min())),
        (format!("max_{name}"), Int(s.max)),
        (format!("cnt_{name}"), Int(s.count as i64)),
        (format!("sum_{name}"), Int(s.sum)),
    ]);
}

/// The summary plus `zk_{p50,p95,p99,p999}_{name}`: AvgMinMaxPercentileCounter.
fn push_percentiles(
    out: &mut Vec<(String, fourlw::MetricValue)>,
    name: &str,
    s: &PercentileSummary,
) {
    push_summary(out, name, &s.summary);
    for (label, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)] {
        out.push((
            format!("{label}_{name}"),
            fourlw::MetricValue::Int(s.quantile(q)),
        ));
    }
}

/// Every metric after the legacy block, in ZooKeeper's grouping: gauges, then counters,
/// then summaries. Only what this server measures; the keys of ZooKeeper 3.8 left out, and
/// why, are listed in `testdata/fourlw/mntr_excluded.txt`.
fn mntr_metrics(d: &Driver, now: i64) -> Vec<(String, fourlw::MetricValue)> {
    use fourlw::MetricValue::Int;
    let c = &d.node.counters;
    let z = d.node.zab();
    let zm = z.metrics();
    let pm = d.persister.metrics();
    let w = &d.wire;
    let size = |v: Option<i64>| Int(v.unwrap_or(-1));
    let mut out: Vec<(String, fourlw::MetricValue)> = vec![
        ("uptime".into(), Int(now - d.info.started_ms)),
        (
            "global_sessions".into(),
            Int(d.node.sessions().len() as i64),
        ),
        // Local sessions exist only in read-only mode (see node's readonly module).
        (
            "local_sessions".into(),
            Int(d.node.local_session_count() as i64),
        ),
        ("auth_failed_count".into(), Int(c.auth_failed as i64)),
        (
            "last_client_response_size".into(),
            size(w.last_response_size),
        ),
        ("max_client_response_size".into(), size(w.max_response_size)),
        ("min_client_response_size".into(), size(w.min_response_size)),
    ];
    // A read-only member is a plain ZooKeeperServer in ZooKeeper: no quorum gauges.
    if d.info.config.is_quorum() && !d.node.is_read_only() {
        out.push(("quorum_size".into(), Int(z.voter_count() as i64)));
        if let Some(l) = z.learner_counts() {
            let since = d.peers.as_ref().map_or(now, |p| p.role_since_ms);
            out.extend([
                ("learners".into(), Int(l.learners as i64)),
                (
                    "synced_non_voting_followers".into(),
                    Int(l.synced_non_voting_followers as i64),
                ),
                ("synced_observers".into(), Int(l.synced_observers as i64)),
                ("leader_uptime".into(), Int(now - since)),
            ]);
        }
    }
    // Our own gauges (not in ZooKeeper): kept for existing dashboards and the README.
    out.extend([
        (
            "group_commit_avg_batch_size".into(),
            fourlw::MetricValue::Double(pm.batch_size.avg()),
        ),
        ("group_commit_max_batch_size".into(), Int(pm.batch_size.max)),
        ("last_snapshot_ms".into(), Int(pm.last_snapshot_ms as i64)),
        ("resident_memory_bytes".into(), Int(rss_bytes() as i64)),
        ("current_epoch".into(), Int(z.current_epoch() as i64)),
    ]);
    let cc = &d.info.client_counters;
    let get = crate::metrics::ClientCounters::get;
    let counters = [
        ("proposal_count", zm.proposal_count),
        ("commit_count", zm.commit_count),
        ("looking_count", zm.looking_count),
        ("diff_count", zm.diff_count),
        ("snap_count", zm.snap_count),
        (
            "learner_proposal_received_count",
            zm.learner_proposal_received,
        ),
        ("learner_commit_received_count", zm.learner_commit_received),
        ("connection_request_count", c.connection_requests),
        ("stale_sessions_expired", c.sessions_expired),
        ("outstanding_changes_queued", c.outstanding_changes_queued),
        ("outstanding_changes_removed", c.outstanding_changes_removed),
        ("connection_revalidate_count", c.connection_revalidates),
        ("revalidate_count", c.learner_revalidates),
        (
            "cnxn_closed_without_zk_server_running",
            c.closed_not_serving,
        ),
        ("unrecoverable_error_count", d.unrecoverable_errors),
        ("response_bytes", w.response_bytes),
        ("watch_bytes", w.watch_bytes),
        ("sync_processor_request_queued", pm.txns),
        ("bytes_received_count", get(&cc.bytes_received)),
        ("connection_rejected", get(&cc.rejected)),
        (
            "sessionless_connections_expired",
            get(&cc.sessionless_expired),
        ),
        ("connection_drop_count", get(&cc.dropped)),
    ];
    out.extend(
        counters
            .into_iter()
            .map(|(k, v)| (k.to_string(), Int(v as i64))),
    );
    let q = &d.quorum_times;
    for (name, s) in [
        ("fsynctime", &pm.fsync_time),
        ("snapshottime", &pm.snapshot_time),
        ("sync_processor_batch_size", &pm.batch_size),
        ("dbinittime", &pm.db_init_time),
        ("startup_snap_load_time", &pm.startup_snap_load_time),
        ("startup_txns_load_time", &pm.startup_txns_load_time),
        ("startup_txns_loaded", &pm.startup_txns_loaded),
        ("election_time", &q.election_time),
        ("follower_sync_time", &q.follower_sync_time),
        ("observer_sync_time", &q.observer_sync_time),
        ("unavailable_time", &q.unavailable_time),
        ("leader_unavailable_time", &q.leader_unavailable_time),
        ("node_created_watch_count", &c.node_created_watch_count),
        ("node_deleted_watch_count", &c.node_deleted_watch_count),
        ("node_changed_watch_count", &c.node_changed_watch_count),
        ("node_children_watch_count", &c.node_children_watch_count),
    ] {
        push_summary(&mut out, name, s);
    }
    // SummarySets: one summary per key, named `{key}_{set}`.
    for (set, summaries) in [
        ("read_per_namespace", &c.read_per_namespace),
        ("write_per_namespace", &c.write_per_namespace),
    ] {
        for (ns, s) in summaries.iter() {
            push_summary(&mut out, &format!("{ns}_{set}"), s);
        }
    }
    for (name, s) in [
        ("readlatency", &c.read_latency),
        ("updatelatency", &c.update_latency),
        ("quorum_ack_latency", &c.quorum_ack_latency),
        ("commit_propagation_latency", &c.commit_propagation_latency),
        ("propagation_latency", &c.propagation_latency),
        ("proposal_latency", &c.proposal_latency),
    ] {
        push_percentiles(&mut out, name, s);
    }
    out
}

fn mntr(d: &Driver) -> String {
    let (open_fds, max_fds) = fd_counts();
    let tree = d.node.tree();
    let ephemerals: usize = tree
        .sessions_with_ephemerals()
        .iter()
        .map(|(_, v)| v.len())
        .sum();
    let pm = d.persister.metrics();
    let now = crate::driver::now_ms();
    let leader = d.node.zab().learner_counts().map(|l| fourlw::LeaderMntr {
        learners: l.learners as u64,
        synced_followers: l.synced_followers as u64,
        pending_syncs: l.pending_syncs as u64,
        proposal_sizes: proposal_sizes(d),
    });
    let m = fourlw::MntrStats {
        version: fourlw::version_string(),
        server_state: mode(d),
        // The read-only server is a plain ZooKeeperServer: no zk_peer_state line.
        peer_state: (d.info.config.is_quorum() && !d.node.is_read_only()).then(|| peer_state(d)),
        observer_master_id: (d.node.zab().role() == zab::Role::Observing)
            .then(|| d.node.zab().leader().map(|l| l.0 as i64))
            .flatten(),
        latency: latency(d),
        packets_received: d.node.counters.packets_received,
        packets_sent: d.node.counters.packets_sent,
        num_alive_connections: alive_connections(d),
        outstanding_requests: d.node.outstanding_requests() as u64,
        znode_count: tree.node_count() as u64,
        watch_count: d.node.watches().watch_count() as u64,
        ephemerals_count: ephemerals as u64,
        approximate_data_size: tree.approximate_data_size(),
        open_file_descriptor_count: open_fds,
        max_file_descriptor_count: max_fds,
        fsync_threshold_exceed_count: pm.fsync_threshold_exceeded,
        leader: leader.filter(|_| d.info.config.is_quorum()),
        others: mntr_metrics(d, now),
    };
    fourlw::mntr(&m)
}

/// Java's `os.arch` names x86-64 `amd64` and 32-bit x86 `i386` on Linux; others agree.
fn java_os_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "i386",
        other => other,
    }
}

/// Java's `user.name` comes from the passwd entry of the process's uid, not `$USER`.
fn user_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    })
}

fn env_facts() -> fourlw::EnvFacts {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let not_java = "n/a (zkserver is a native binary)".to_string();
    let uname = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let rss_mb = rss_bytes() / (1024 * 1024);
    fourlw::EnvFacts {
        zookeeper_version: fourlw::version_string(),
        host_name: host,
        java_version: not_java.clone(),
        java_vendor: not_java.clone(),
        java_home: not_java.clone(),
        java_class_path: not_java.clone(),
        java_library_path: not_java.clone(),
        java_io_tmpdir: std::env::temp_dir().display().to_string(),
        java_compiler: "<NA>".into(),
        os_name: uname("ostype"),
        os_arch: java_os_arch(std::env::consts::ARCH).into(),
        os_version: uname("osrelease"),
        user_name: user_name().unwrap_or_else(|| var("USER")),
        user_home: var("HOME"),
        user_dir: std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        memory_free_mb: 0,
        memory_max_mb: rss_mb,
        memory_total_mb: rss_mb,
    }
}

fn dump(d: &Driver) -> String {
    let mut buckets: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (sid, s) in d.node.sessions().iter() {
        buckets.entry(s.expire_at_ms).or_default().push(sid.0);
    }
    let facts = fourlw::DumpFacts {
        session_buckets: buckets
            .into_iter()
            .map(|(expire_at_ms, items)| fourlw::ExpiryBucket {
                expire_at_ms,
                items,
            })
            .collect(),
        ephemerals: d.node.tree().sessions_with_ephemerals(),
        connection_buckets: None,
    };
    fourlw::dump(&facts)
}

/// The full reply to a four-letter word.
pub fn four_letter(d: &mut Driver, cmd: FourLetter, remote: SocketAddr) -> String {
    // A read-only member is "running" for the four-letter words (ZooKeeper's
    // isZKServerRunning() is true for its ReadOnlyZooKeeperServer).
    let serving = d.node.is_serving() || d.node.is_read_only();
    // Counted before the whitelist check, as ZooKeeper's checkFourLetterWord does (only
    // while running: ZooKeeper has no server stats to count in otherwise).
    if serving {
        d.node.counters.packets_received += 1;
    }
    if let Some(text) = fourlw::precheck(cmd, &d.info.config.four_letter_whitelist, serving) {
        return text;
    }
    let cfg = &d.info.config;
    match cmd {
        FourLetter::Ruok => fourlw::ruok().to_string(),
        FourLetter::Isro => fourlw::isro(d.node.is_read_only()).to_string(),
        FourLetter::Srvr => fourlw::srvr(&server_stats(d)),
        FourLetter::Stat => fourlw::stat(&server_stats(d), &conn_infos(d, remote)),
        FourLetter::Cons => fourlw::cons(&conn_infos(d, remote)),
        FourLetter::Conf => {
            let data = dir_size(&cfg.snap_dir());
            let log = dir_size(&cfg.txn_log_dir());
            fourlw::conf(&fourlw::ConfFacts::from_config(
                cfg,
                d.info.client_port,
                data,
                log,
                0,
            ))
        }
        FourLetter::Envi => fourlw::envi(&env_facts()),
        FourLetter::Dirs => fourlw::dirs(dir_size(&cfg.snap_dir()), dir_size(&cfg.txn_log_dir())),
        FourLetter::Crst => {
            d.node.reset_conn_stats();
            fourlw::crst().to_string()
        }
        FourLetter::Srst => {
            // ZooKeeper's ServerStats.reset also resets every ServerMetrics counter.
            d.node.counters.reset();
            d.node.reset_zab_metrics();
            d.persister.reset_metrics();
            d.wire.reset();
            d.quorum_times.reset();
            d.info.client_counters.reset();
            d.unrecoverable_errors = 0;
            fourlw::srst().to_string()
        }
        FourLetter::Wchs => {
            let s = d.node.watches().summary();
            fourlw::wchs(&fourlw::WatchSummary {
                connections: s.connections,
                paths: s.paths,
                total_watches: s.total,
            })
        }
        FourLetter::Wchc => {
            let by_session: Vec<(i64, Vec<String>)> = d
                .node
                .watches()
                .by_connection()
                .into_iter()
                .map(|(conn, paths)| {
                    let sid = d.node.session_of(conn).map(|s| s.0).unwrap_or(0);
                    (sid, paths.into_iter().map(str::to_string).collect())
                })
                .collect();
            fourlw::wchc(&by_session)
        }
        FourLetter::Wchp => {
            let by_path: Vec<(String, Vec<i64>)> = d
                .node
                .watches()
                .by_path()
                .into_iter()
                .map(|(p, conns)| {
                    let sids = conns
                        .into_iter()
                        .map(|c| d.node.session_of(c).map(|s| s.0).unwrap_or(0))
                        .collect();
                    (p.to_string(), sids)
                })
                .collect();
            fourlw::wchp(&by_path)
        }
        FourLetter::Dump => dump(d),
        FourLetter::Mntr => mntr(d),
        FourLetter::Gtmk => fourlw::gtmk(0),
        FourLetter::Stmk => fourlw::stmk(0),
        FourLetter::Hash => fourlw::hash(&[]),
        FourLetter::TelnetClose => String::new(),
    }
}
