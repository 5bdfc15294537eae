//! Fills the four-letter-word texts (`fourlw`) with facts from the node, the config and the
//! process. Runs on the driver task, between node inputs, so it sees a consistent state.

use std::net::SocketAddr;
use std::path::Path;

use crate::driver::Driver;
use crate::fourlw::{self, FourLetter};

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

fn server_stats(d: &Driver) -> fourlw::ServerStats {
    fourlw::ServerStats {
        version: fourlw::version_string(),
        latency: latency(d),
        packets_received: d.node.counters.packets_received,
        packets_sent: d.node.counters.packets_sent,
        num_alive_connections: d.conns.len() as u64,
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

fn conn_infos(d: &Driver) -> Vec<fourlw::ConnInfo> {
    d.node
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
        .collect()
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

fn mntr(d: &Driver) -> String {
    use fourlw::MetricValue::{Double, Int};
    let (open_fds, max_fds) = fd_counts();
    let tree = d.node.tree();
    let ephemerals: usize = tree
        .sessions_with_ephemerals()
        .iter()
        .map(|(_, v)| v.len())
        .sum();
    let pm = d.persister.metrics();
    let now = crate::driver::now_ms();
    let others = vec![
        ("uptime".to_string(), Int(now - d.info.started_ms)),
        (
            "global_sessions".to_string(),
            Int(d.node.sessions().len() as i64),
        ),
        (
            "local_sessions".to_string(),
            Int(d.node.local_session_count() as i64),
        ),
        ("max_client_response_size".to_string(), Int(-1)),
        (
            "auth_failed_count".to_string(),
            Int(d.node.counters.auth_failed as i64),
        ),
        ("fsync_count".to_string(), Int(pm.fsyncs as i64)),
        ("avg_fsynctime".to_string(), Double(pm.avg_fsync_ms())),
        ("max_fsynctime".to_string(), Int(pm.max_fsync_ms as i64)),
        (
            "group_commit_avg_batch_size".to_string(),
            Double(pm.avg_batch()),
        ),
        (
            "group_commit_max_batch_size".to_string(),
            Int(pm.max_batch as i64),
        ),
        ("txns_logged".to_string(), Int(pm.txns as i64)),
        ("snap_count".to_string(), Int(pm.snapshots as i64)),
        (
            "last_snapshot_ms".to_string(),
            Int(pm.last_snapshot_ms as i64),
        ),
        ("resident_memory_bytes".to_string(), Int(rss_bytes() as i64)),
        (
            "current_epoch".to_string(),
            Int(d.node.zab().current_epoch() as i64),
        ),
    ];
    let mut others = others;
    let mut leader = None;
    if d.info.config.is_quorum() {
        let z = d.node.zab();
        others.push(("quorum_size".to_string(), Int(z.voter_count() as i64)));
        if let Some(l) = z.learner_counts() {
            leader = Some(fourlw::LeaderMntr {
                learners: l.learners as u64,
                synced_followers: l.synced_followers as u64,
                pending_syncs: l.pending_syncs as u64,
                proposal_sizes: proposal_sizes(d),
            });
            let since = d.peers.as_ref().map_or(now, |p| p.role_since_ms);
            others.extend([
                ("learners".to_string(), Int(l.learners as i64)),
                ("synced_non_voting_followers".to_string(), Int(0)),
                (
                    "synced_observers".to_string(),
                    Int(l.synced_observers as i64),
                ),
                ("leader_uptime".to_string(), Int(now - since)),
            ]);
        }
    }
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
        num_alive_connections: d.conns.len() as u64,
        outstanding_requests: d.node.outstanding_requests() as u64,
        znode_count: tree.node_count() as u64,
        watch_count: d.node.watches().watch_count() as u64,
        ephemerals_count: ephemerals as u64,
        approximate_data_size: tree.approximate_data_size(),
        open_file_descriptor_count: open_fds,
        max_file_descriptor_count: max_fds,
        fsync_threshold_exceed_count: pm.fsync_threshold_exceeded,
        leader,
        others,
    };
    fourlw::mntr(&m)
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
        os_arch: std::env::consts::ARCH.into(),
        os_version: uname("osrelease"),
        user_name: var("USER"),
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
pub fn four_letter(d: &mut Driver, cmd: FourLetter, _remote: SocketAddr) -> String {
    // A read-only member is "running" for the four-letter words (ZooKeeper's
    // isZKServerRunning() is true for its ReadOnlyZooKeeperServer).
    let serving = d.node.is_serving() || d.node.is_read_only();
    if let Some(text) = fourlw::precheck(cmd, &d.info.config.four_letter_whitelist, serving) {
        return text;
    }
    let cfg = &d.info.config;
    match cmd {
        FourLetter::Ruok => fourlw::ruok().to_string(),
        FourLetter::Isro => fourlw::isro(d.node.is_read_only()).to_string(),
        FourLetter::Srvr => fourlw::srvr(&server_stats(d)),
        FourLetter::Stat => fourlw::stat(&server_stats(d), &conn_infos(d)),
        FourLetter::Cons => fourlw::cons(&conn_infos(d)),
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
            d.node.counters.reset();
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
