//! The store thread: recovery at start, then group commit of everything zab asks to persist,
//! snapshots, and purge. A std thread (fsync blocks), talking to the driver over channels.
//!
//! Contract with the driver (zab's IO contract, step 2): `Event::Persisted { seq }` is sent
//! only after every persist op up to `seq` is durable — log records fsynced, epoch files
//! written through tmp + fsync + rename + dir fsync. A failed write or fsync is never
//! acknowledged: the thread reports `StoreFailed` and stops, and the driver refuses writes.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use jute::txn::Txn;
use jute::{SessionId, Zxid};
use node::sessions::Sessions;
use node::{NodeConfig, NodeCore};
use parking_lot::Mutex;
use store::fs::{Fs, StdFs};
use store::log::{LogConfig, LogEntry, TxnLog};
use store::{DataDirs, StoreError};
use tokio::sync::mpsc;
use zab::{PersistOp, Zab};

use crate::config::Config;
use crate::driver::{now_ms, Event};

/// Bound on persist ops taken into one group commit.
const BATCH_OPS_MAX: usize = 1000;
/// fsyncs slower than this are counted (ZooKeeper's fsync.warningthresholdms).
const FSYNC_WARN_MS: u128 = 1000;

/// Numbers `mntr` reports about the store.
#[derive(Debug, Clone, Default)]
pub struct PersistMetrics {
    pub fsyncs: u64,
    pub fsync_ms_total: u64,
    pub max_fsync_ms: u64,
    pub txns: u64,
    pub batches: u64,
    pub max_batch: u64,
    pub snapshots: u64,
    pub last_snapshot_ms: u64,
    pub fsync_threshold_exceeded: u64,
}

impl PersistMetrics {
    pub fn avg_fsync_ms(&self) -> f64 {
        if self.fsyncs == 0 {
            0.0
        } else {
            self.fsync_ms_total as f64 / self.fsyncs as f64
        }
    }
    pub fn avg_batch(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.txns as f64 / self.batches as f64
        }
    }
}

enum StoreCmd {
    Persist(u64, PersistOp),
    /// Write a snapshot of the tree as of `zxid` (everything up to it is already durable).
    Snapshot {
        zxid: Zxid,
        sessions: Vec<(SessionId, i32)>,
        body: Bytes,
    },
}

/// The driver's handle on the store thread.
pub struct Persister {
    tx: std_mpsc::Sender<StoreCmd>,
    metrics: Arc<Mutex<PersistMetrics>>,
    txns_since_snapshot: u64,
    snapshot_threshold: u64,
    snap_count: u64,
    rand_state: u64,
    snapshot_in_progress: bool,
}

impl Persister {
    pub fn submit(&mut self, seq: u64, op: PersistOp) {
        if let PersistOp::Append(p) = &op {
            self.txns_since_snapshot += p.len() as u64;
        }
        // A send error means the thread stopped after a failure it already reported.
        let _ = self.tx.send(StoreCmd::Persist(seq, op));
    }

    pub fn metrics(&self) -> PersistMetrics {
        self.metrics.lock().clone()
    }

    pub fn snapshot_done(&mut self, ok: bool) {
        self.snapshot_in_progress = false;
        if !ok {
            tracing::warn!("snapshot failed; will try again after more transactions");
        }
    }

    /// ZooKeeper's rule: snapshot after snapCount/2 + random(snapCount/2) txns, so members
    /// of an ensemble don't all snapshot at once.
    fn next_threshold(&mut self) -> u64 {
        // splitmix64: jitter only, no need for a crypto or OS source.
        self.rand_state = self.rand_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rand_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let half = (self.snap_count / 2).max(1);
        half + z % half
    }

    /// Starts a snapshot when enough txns went by. The tree is serialised here, between
    /// inputs, so the snapshot is exactly the tree at `last_zxid` (a consistent, not fuzzy,
    /// snapshot); writing it to disk happens on another thread.
    pub fn maybe_snapshot(&mut self, node: &NodeCore) {
        if self.snapshot_in_progress || self.txns_since_snapshot < self.snapshot_threshold {
            return;
        }
        self.snapshot_in_progress = true;
        self.txns_since_snapshot = 0;
        self.snapshot_threshold = self.next_threshold();
        let started = Instant::now();
        let mut body = BytesMut::new();
        tree::snapshot::serialize_tree(node.tree(), &mut body);
        let sessions = node
            .sessions()
            .snapshot()
            .into_iter()
            .map(|(id, t)| (SessionId(id), t))
            .collect();
        tracing::info!(
            zxid = %node.last_zxid(),
            bytes = body.len(),
            ms = started.elapsed().as_millis() as u64,
            "snapshot serialised"
        );
        let _ = self.tx.send(StoreCmd::Snapshot {
            zxid: node.last_zxid(),
            sessions,
            body: body.freeze(),
        });
    }
}

fn node_config(c: &Config, server_byte: u8) -> NodeConfig {
    NodeConfig {
        server_byte,
        tick_ms: c.tick_time_ms as i64,
        min_session_timeout_ms: c.min_session_timeout_ms as i32,
        max_session_timeout_ms: c.max_session_timeout_ms as i32,
        prep: node::prep::PrepConfig {
            extended_types_enabled: c.extended_types_enabled,
            skip_acl: c.skip_acl,
            reconfig_enabled: c.reconfig_enabled,
        },
        super_digest: c.super_digest.clone(),
        container_check_interval_ms: c.container_check_interval_ms as i64,
        container_max_per_minute: c.container_max_per_minute as usize,
    }
}

/// Recovers the store and builds the node; starts the store thread.
pub fn start(
    config: &Config,
    events: mpsc::Sender<Event>,
) -> Result<(NodeCore, Persister), StoreError> {
    let fs: Arc<dyn Fs> = Arc::new(StdFs);
    let dirs = DataDirs::new(&config.data_dir, Some(&config.data_log_dir));
    if !config.force_sync {
        tracing::warn!(
            "forceSync=no: transactions are NOT fsynced; a crash can lose acknowledged writes. \
             Use only for tests."
        );
    }
    let log_config = LogConfig {
        prealloc_bytes: config.pre_alloc_size_kb.saturating_mul(1024),
        force_sync: config.force_sync,
        ..LogConfig::default()
    };
    let started = Instant::now();
    let rec = store::recovery::recover(fs.clone(), &dirs, log_config)?;
    for w in &rec.warnings {
        tracing::warn!("recovery: {w}");
    }
    let now = now_ms();
    let server_byte = if config.is_quorum() {
        config.my_id.unwrap_or(1) as u8
    } else {
        1
    };
    let mut sessions = Sessions::new(server_byte, now, config.tick_time_ms as i64);
    let mut tree = match &rec.snapshot {
        Some(snap) => {
            let mut body = snap.body.clone();
            let mut t =
                tree::snapshot::deserialize_tree(&mut body).map_err(|e| StoreError::Corrupt {
                    file: snap.path.clone(),
                    offset: 0,
                    why: format!("snapshot body: {e}"),
                })?;
            t.set_last_processed_zxid(snap.zxid);
            for (sid, timeout) in &snap.sessions {
                sessions.add(*sid, *timeout, now);
            }
            t
        }
        None => tree::datatree::DataTree::new(),
    };
    for entry in &rec.entries {
        let txn = Txn::decode(entry.txn.clone()).map_err(|e| StoreError::Corrupt {
            file: dirs.log_dir.clone(),
            offset: 0,
            why: format!("txn {} does not decode: {e}", entry.zxid),
        })?;
        node::replay(&mut tree, &mut sessions, &txn, now);
    }
    tracing::info!(
        zxid = %tree.last_processed_zxid(),
        znodes = tree.node_count(),
        sessions = sessions.len(),
        replayed = rec.entries.len(),
        ms = started.elapsed().as_millis() as u64,
        "recovered"
    );
    let my_id = zab::ServerId(config.my_id.unwrap_or(1));
    let zab = Zab::new(
        zab::Config {
            my_id,
            voters: vec![my_id],
            inflight_max: 100_000,
        },
        zab::Restored {
            accepted_epoch: rec.accepted_epoch.unwrap_or(0),
            current_epoch: rec.current_epoch.unwrap_or(0),
            last_logged: rec.last_zxid,
        },
    );
    let node = NodeCore::new(node_config(config, server_byte), tree, sessions, zab, now);

    let (tx, rx) = std_mpsc::channel();
    let metrics = Arc::new(Mutex::new(PersistMetrics::default()));
    let thread = StoreThread {
        fs,
        dirs,
        log: rec.log,
        rx,
        events,
        metrics: metrics.clone(),
        retain: config.autopurge_snap_retain_count.max(3) as usize,
        purge_enabled: config.autopurge_purge_interval_hours > 0,
    };
    std::thread::Builder::new()
        .name("zkserver-store".into())
        .spawn(move || thread.run())
        .map_err(|e| StoreError::Io {
            op: "spawn store thread",
            path: config.data_dir.clone(),
            source: e,
        })?;
    let mut persister = Persister {
        tx,
        metrics,
        txns_since_snapshot: 0,
        snapshot_threshold: 0,
        snap_count: config.snap_count.max(2),
        rand_state: now as u64,
        snapshot_in_progress: false,
    };
    persister.snapshot_threshold = persister.next_threshold();
    Ok((node, persister))
}

struct StoreThread {
    fs: Arc<dyn Fs>,
    dirs: DataDirs,
    log: TxnLog,
    rx: std_mpsc::Receiver<StoreCmd>,
    events: mpsc::Sender<Event>,
    metrics: Arc<Mutex<PersistMetrics>>,
    retain: usize,
    purge_enabled: bool,
}

impl StoreThread {
    fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut batch = vec![first];
            while batch.len() < BATCH_OPS_MAX {
                match self.rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            if let Err(e) = self.commit(batch) {
                tracing::error!("store failure: {e}");
                let _ = self
                    .events
                    .blocking_send(Event::StoreFailed { why: e.to_string() });
                return;
            }
        }
    }

    /// One group commit: write everything, fsync once, then acknowledge the highest seq.
    fn commit(&mut self, batch: Vec<StoreCmd>) -> Result<(), StoreError> {
        let mut max_seq = None;
        let mut entries: Vec<LogEntry> = Vec::new();
        let mut snapshots = Vec::new();
        for cmd in batch {
            match cmd {
                StoreCmd::Persist(seq, op) => {
                    max_seq = Some(seq);
                    match op {
                        PersistOp::Append(props) => {
                            entries.extend(props.into_iter().map(|p| LogEntry {
                                zxid: p.zxid,
                                txn: p.txn,
                            }))
                        }
                        PersistOp::AcceptedEpoch(e) => store::epoch::write_epoch(
                            self.fs.as_ref(),
                            &self.dirs.snap_dir,
                            store::epoch::EpochFile::Accepted,
                            e,
                        )?,
                        PersistOp::CurrentEpoch(e) => store::epoch::write_epoch(
                            self.fs.as_ref(),
                            &self.dirs.snap_dir,
                            store::epoch::EpochFile::Current,
                            e,
                        )?,
                    }
                }
                StoreCmd::Snapshot {
                    zxid,
                    sessions,
                    body,
                } => snapshots.push((zxid, sessions, body)),
            }
        }
        if !entries.is_empty() {
            self.log.append(&entries)?;
            let t = Instant::now();
            self.log.sync()?;
            let ms = t.elapsed().as_millis();
            let mut m = self.metrics.lock();
            m.fsyncs += 1;
            m.fsync_ms_total += ms as u64;
            m.max_fsync_ms = m.max_fsync_ms.max(ms as u64);
            m.txns += entries.len() as u64;
            m.batches += 1;
            m.max_batch = m.max_batch.max(entries.len() as u64);
            if ms > FSYNC_WARN_MS {
                m.fsync_threshold_exceeded += 1;
                tracing::warn!("fsync took {ms} ms");
            }
        }
        if let Some(seq) = max_seq {
            if self.events.blocking_send(Event::Persisted { seq }).is_err() {
                return Ok(());
            }
        }
        for (zxid, sessions, body) in snapshots {
            let ok = match self.snapshot(zxid, &sessions, &body) {
                Ok(()) => true,
                Err(e) => {
                    // A failed snapshot loses nothing (the log still has every txn).
                    tracing::error!("snapshot at {zxid} failed: {e}");
                    false
                }
            };
            let _ = self.events.blocking_send(Event::SnapshotDone { ok });
        }
        Ok(())
    }

    fn snapshot(
        &mut self,
        zxid: Zxid,
        sessions: &[(SessionId, i32)],
        body: &Bytes,
    ) -> Result<(), StoreError> {
        let t = Instant::now();
        // New appends go to a fresh segment, so whole older segments can be purged.
        self.log.roll()?;
        store::snapshot::write_snapshot(
            self.fs.clone(),
            &self.dirs.snap_dir,
            zxid,
            sessions,
            body,
        )?;
        let ms = t.elapsed().as_millis() as u64;
        {
            let mut m = self.metrics.lock();
            m.snapshots += 1;
            m.last_snapshot_ms = ms;
        }
        tracing::info!(%zxid, bytes = body.len(), ms, "snapshot written");
        if self.purge_enabled {
            let plan = store::purge::purge(&mut self.log, &self.dirs.snap_dir, self.retain)?;
            tracing::info!(?plan, "purged");
        }
        Ok(())
    }
}
