//! Whole ensembles of the real request pipeline: every member is a `node::NodeCore`
//! (sessions, prep with outstanding changes, follower forwarding, the znode tree) persisting
//! through the real `store` code (txn log, epoch files, snapshots, recovery) over its own
//! `store::SimFs`, driven from one seed with faults; ZooKeeper clients run sessions against
//! it and their histories are checked (`zk_model`).
//!
//! The driver's part of the node's IO contract is played as `server`'s driver and store
//! thread play it (`crates/server/src/driver.rs`, `persist.rs`):
//! - `Persist`, `TruncateAfter`, `InstallSnapshot` queue store commands in order. A store
//!   *write* event executes the queued commands against the log (appends are written, not
//!   synced; epoch files and TRUNC/SNAP are synced by the store code itself); a later *sync*
//!   event fsyncs the log and only then calls `persisted(highest seq)` (group commit). So a
//!   crash between the two loses exactly the un-fsynced tail — `SimFs::crash` keeps a random
//!   prefix of it, maybe torn; a process crash (no power cut) keeps it all.
//! - `TruncateAfter`: the log is cut and the tree rebuilt from the newest snapshot at or below
//!   the zxid plus the log (`rebuilt`); `InstallSnapshot`: the SNAP stream is decoded,
//!   `installed`, and written as a snapshot file after the log is discarded.
//! - `SendSnapshot`: sessions + tree are serialised at once, sent, then `resume`.
//! - A restart recovers with `store::recover` (snapshot + log replay with `node::replay`,
//!   epochs, the last `committed_log_max` entries handed to zab), exactly as the server.
//! - Snapshots are taken every `SNAP_EVERY` applied txns (roll, then the whole tree).
//!
//! Network: peers talk over `net`, the model `sim` uses (election messages independent,
//! lossy, duplicable, reorderable; quorum messages on FIFO connections that a partition or
//! loss breaks, each end told after a detection delay). Client connections are FIFO both
//! ways with small delays; a crashed member's connections reset.
//!
//! Clients: ZooKeeper sessions (connect, reconnect elsewhere with id + password and
//! lastZxidSeen, pings, read timeout at 2/3 of the session timeout), one operation at a time:
//! setData with and without version, sync + getData, create PERSISTENT_SEQUENTIAL under
//! `/q`, and a multi `[check(version) /rK, setData /rK, create /rK/m- sequential]` (these five
//! form the history; a multi is one operation of the register's object), creates and
//! deletes of plain znodes `/dK` (history too: the object is whether it exists), plain getData, and ephemeral creates/deletes under
//! `/e`. Now and then a client pauses past its session timeout, so sessions expire and their
//! ephemerals go. The history records invoke/complete times from the sim clock; an
//! operation whose connection went away has an unknown outcome (open-ended).
//!
//! Checks: `zk_model` linearizability per znode (histories closed by the healed state, so a
//! lost acknowledged write fails it), per-session order of every reply (`SessionOrder`),
//! watch order (a data watch's event arrives before any reply showing newer data, also
//! across reconnects: a client re-registers its data watches with SetWatches, relative zxid =
//! its last seen zxid, and the new member fires those whose znode changed since),
//! leadership per epoch, and after healing: one leader, every member at the same zxid,
//! identical trees (every znode's data, ACL and Stat) and session tables, tree invariants,
//! no ephemeral without its session, every acknowledged sequential create present.
//!
//! Determinism: one splitmix64 stream, BTreeMaps, events ordered by (time, sequence). Client
//! outputs of one drain are ordered by connection id before they are scheduled (the node
//! closes connections in hash-map order).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use jute::proto::{
    CheckVersionRequest, ConnectRequest, ConnectResponse, CreateRequest, CreateResponse,
    GetDataResponse, MultiOp, MultiRequest, MultiResponse, MultiResult, OpRequest, PathRequest,
    PathWatchRequest, ReplyHeader, SetDataRequest, StatResponse,
};
use jute::txn::Txn;
use jute::types::xid;
use jute::{Acl, ErrorCode, Record, SessionId, Zxid};
use node::prep::PrepConfig;
use node::sessions::Sessions;
use node::{ConnId, NodeConfig, NodeCore, Output};
use store::fs::{Fs, SimFs};
use store::log::{LogConfig, LogEntry, TxnLog};
use store::DataDirs;
use tree::datatree::DataTree;
use zab::{Message, PersistOp, PersistSeq, Role, ServerId, Zab};

use crate::checkers::{leadership, Observations};
use crate::linearizability::Verdict;
use crate::net::{pair, Net, Notice};
use crate::rng::Rng;
use crate::sim::FaultMix;
use crate::zk_model::{self, SessionOrder, ZkHOp, ZkOp, ZkRes};

/// Milliseconds per zab tick (ZooKeeper's tickTime/10, as the server ticks).
pub const ZAB_TICK_MS: u64 = 100;
/// The session tickTime of the nodes.
const TICK_TIME_MS: i64 = 1000;
/// The wall clock at sim time 0.
const T0: i64 = 1_700_000_000_000;
/// A snapshot after this many applied txns.
const SNAP_EVERY: u64 = 25;
/// The session timeout clients ask for.
const SESSION_TIMEOUT_MS: i32 = 6000;
/// The sequential parent.
pub const SEQ_PARENT: &str = "/q";
/// Plain znodes `/d0`, `/d1`, ... that clients create and delete (history operations).
const PLAIN_NODES: u64 = 2;
/// The parent of the clients' ephemeral nodes.
pub const EPH_PARENT: &str = "/e";

fn register(i: u8) -> String {
    format!("/r{i}")
}

#[derive(Debug, Clone)]
pub struct NodeSimConfig {
    pub seed: u64,
    pub voters: usize,
    pub observers: usize,
    pub clients: u32,
    pub registers: u8,
    pub faults: FaultMix,
    pub ensemble: zab::Ensemble,
    pub inflight_max: usize,
    /// The store's `forceSync`. Off, `sync` reports writes durable without fsyncing them (as
    /// ZooKeeper's forceSync=no): a power cut then loses acknowledged writes, which the
    /// checks must notice (a planted bug for testing the harness end to end).
    pub force_sync: bool,
    /// A planted client bug: re-register watches with a relative zxid far in the future, so
    /// the server never fires a watch whose znode changed while the client moved. The watch
    /// check must catch it.
    pub rewatch_future_zxid: bool,
}

impl NodeSimConfig {
    pub fn new(seed: u64, voters: usize, observers: usize) -> NodeSimConfig {
        NodeSimConfig {
            seed,
            voters,
            observers,
            clients: 4,
            registers: 2,
            faults: FaultMix::default(),
            ensemble: zab::Ensemble {
                init_limit: 10,
                sync_limit: 5,
                // Small, so that catching up by SNAP happens often.
                committed_log_max: 20,
                finalize_wait: 1,
                notification_interval_min: 1,
                notification_interval_max: 8,
                ..zab::Ensemble::default()
            },
            inflight_max: 50,
            force_sync: true,
            rewatch_future_zxid: false,
        }
    }
}

/// Counts for the report.
#[derive(Debug, Clone, Default)]
pub struct NodeStats {
    pub messages: u64,
    pub crashes: u64,
    pub power_cuts: u64,
    pub partitions: u64,
    pub leaders: u64,
    pub truncs: u64,
    pub snaps_sent: u64,
    pub snapshots: u64,
    /// Sessions created by clients.
    pub sessions: u64,
    /// Connection attempts that resume an existing session (id + password), on any member,
    /// failed ones included (a client retries every 10–200 ms while no member serves).
    pub reconnects: u64,
    /// Operations started (history operations and plain reads).
    pub ops: u64,
    /// History operations answered.
    pub acked: u64,
    /// History operations whose outcome stayed unknown (connection lost, other errors).
    pub unknown: u64,
    /// Plain getData without sync (only the per-session checks apply).
    pub plain_reads: u64,
    /// Clients paused past their session timeout.
    pub pauses: u64,
    /// Watch notifications clients received.
    pub watch_events: u64,
    /// Multis started, and those answered as applied / as failed (nothing applied).
    pub multis: u64,
    pub multis_ok: u64,
    pub multis_failed: u64,
    /// SetWatches sent on reconnects, the watches they carried, and those the server fired
    /// at once (the znode had changed since the client's last seen zxid).
    pub set_watches: u64,
    pub rewatched: u64,
    pub rewatch_fired: u64,
    /// Creates and deletes of the plain znodes `/dK` started.
    pub plain_writes: u64,
}

impl NodeStats {
    pub fn add(&mut self, o: &NodeStats) {
        self.messages += o.messages;
        self.crashes += o.crashes;
        self.power_cuts += o.power_cuts;
        self.partitions += o.partitions;
        self.leaders += o.leaders;
        self.truncs += o.truncs;
        self.snaps_sent += o.snaps_sent;
        self.snapshots += o.snapshots;
        self.sessions += o.sessions;
        self.reconnects += o.reconnects;
        self.ops += o.ops;
        self.acked += o.acked;
        self.unknown += o.unknown;
        self.plain_reads += o.plain_reads;
        self.pauses += o.pauses;
        self.watch_events += o.watch_events;
        self.multis += o.multis;
        self.multis_ok += o.multis_ok;
        self.multis_failed += o.multis_failed;
        self.set_watches += o.set_watches;
        self.rewatched += o.rewatched;
        self.rewatch_fired += o.rewatch_fired;
        self.plain_writes += o.plain_writes;
    }
}

/// A store command, in the order the node asked.
#[derive(Debug)]
enum Cmd {
    Persist(PersistSeq, PersistOp),
    Truncate(PersistSeq, Zxid),
    Install {
        seq: PersistSeq,
        zxid: Zxid,
        sessions: Vec<(SessionId, i32)>,
        body: Bytes,
    },
    Snapshot {
        zxid: Zxid,
        sessions: Vec<(SessionId, i32)>,
        body: Bytes,
    },
}

pub struct NMember {
    pub id: ServerId,
    pub core: Option<NodeCore>,
    /// The member's disk; survives crashes (a power cut drops its unsynced bytes).
    pub fs: SimFs,
    log: Option<TxnLog>,
    queue: VecDeque<Cmd>,
    /// A store write or sync is scheduled.
    store_busy: bool,
    /// Bumped by each crash.
    pub inc: u64,
    last_snap: Zxid,
    applied_since_snap: u64,
    last_seen_zxid: Zxid,
}

#[derive(Debug)]
enum ToServer {
    Connect(ConnectRequest),
    Request(i32, OpRequest),
    Close,
}

#[derive(Debug)]
enum Ev {
    Tick(ServerId),
    Peer {
        from: ServerId,
        to: ServerId,
        msg: Message,
        conn: Option<u64>,
    },
    Disconnected {
        member: ServerId,
        peer: ServerId,
        inc: u64,
        conn: u64,
    },
    StoreWrite {
        member: ServerId,
        inc: u64,
    },
    StoreSync {
        member: ServerId,
        inc: u64,
        seq: Option<PersistSeq>,
    },
    ToServer {
        member: ServerId,
        inc: u64,
        conn: ConnId,
        msg: ToServer,
    },
    /// A frame for the client on `conn`, or `None`: the connection closed.
    ToClient {
        client: u32,
        conn: ConnId,
        frame: Option<Bytes>,
    },
    Client(u32),
    Fault,
    Restart(ServerId),
    Unblock(Vec<(ServerId, ServerId)>),
}

/// What the client waits for.
#[derive(Debug, Clone)]
enum Wait {
    /// A history operation; `sync_xid` is the sync ahead of a SyncRead's getData.
    Hist { hop: usize, xid: i32, path: String },
    /// Plain getData without sync (only the per-session checks apply), maybe leaving a
    /// data watch.
    Plain { xid: i32, path: String, watch: bool },
    /// Setup: create `path` (retried until it exists).
    Setup { xid: i32, path: String },
    /// Create an ephemeral sequential node under `EPH_PARENT` (not a history operation).
    Ephemeral { xid: i32 },
    /// Delete one of the session's ephemerals (not a history operation).
    Delete { xid: i32, path: String },
}

#[derive(Debug)]
struct CConn {
    id: ConnId,
    member: ServerId,
    handshake: bool,
    opened: u64,
    last_recv: u64,
    last_send: u64,
}

#[derive(Debug)]
struct Client {
    session: Option<(i64, i32)>,
    conn: Option<CConn>,
    next_xid: i32,
    wait: Option<Wait>,
    order: SessionOrder,
    setup: VecDeque<String>,
    /// A timer event is scheduled for this time.
    timer: Option<u64>,
    /// The session's ephemeral nodes the client knows of.
    ephemerals: Vec<String>,
    /// A paused client (a long GC pause, a suspended laptop) neither sends nor pings until
    /// then: its session expires, and it comes back to a new one.
    paused_until: u64,
    /// The session's data watches: path → the version the read that set it returned.
    /// ZooKeeper sends the NodeDataChanged event before any reply that shows newer data.
    /// They outlive a connection: on a reconnect (to any member) the client re-registers
    /// them with SetWatches(relative zxid = its last seen zxid), as ZooKeeper's client does,
    /// and the server fires at once those whose znode changed after that zxid. So the rule
    /// holds across moves. A new session (expiry) drops them.
    watches: BTreeMap<String, i32>,
    /// The paths of a SetWatches whose reply has not come yet.
    rewatching: BTreeSet<String>,
}

pub struct NodeSim {
    pub config: NodeSimConfig,
    pub rng: Rng,
    pub now: u64,
    pub members: BTreeMap<ServerId, NMember>,
    voters: Vec<ServerId>,
    observers: Vec<ServerId>,
    events: BTreeMap<(u64, u64), Ev>,
    next_ev: u64,
    /// Peers' links: the model `sim` uses too.
    net: Net,
    disk_delay_max: u64,
    /// Client connections: conn → (client, member, member's inc).
    cconns: BTreeMap<ConnId, (u32, ServerId, u64)>,
    next_cconn: ConnId,
    /// FIFO per client connection and direction: the last scheduled arrival.
    c_arrival: BTreeMap<(ConnId, bool), u64>,
    clients: Vec<Client>,
    clients_active: bool,
    chaos: bool,
    pub history: Vec<ZkHOp>,
    pub obs: Observations,
    pub stats: NodeStats,
    pub lin: Option<(Verdict, Option<String>)>,
}

/// `SIM_MTRACE` prints members' lifecycle: starts, crashes, role changes, TRUNC/SNAP, epochs.
fn mtrace() -> bool {
    std::env::var("SIM_MTRACE").is_ok()
}

/// `SIM_CTRACE` prints every client request and reply (debugging a seed).
fn ctrace() -> bool {
    std::env::var("SIM_CTRACE").is_ok()
}

fn dirs() -> DataDirs {
    DataDirs::new(Path::new("/data"), None)
}

fn log_config(force_sync: bool) -> LogConfig {
    LogConfig {
        force_sync,
        prealloc_bytes: 4096,
        record_bytes_max: 1 << 20,
        ..LogConfig::default()
    }
}

fn node_config(id: ServerId) -> NodeConfig {
    NodeConfig {
        server_byte: id.0 as u8,
        tick_ms: TICK_TIME_MS,
        min_session_timeout_ms: 2 * TICK_TIME_MS as i32,
        max_session_timeout_ms: 20 * TICK_TIME_MS as i32,
        prep: PrepConfig {
            extended_types_enabled: false,
            skip_acl: false,
            reconfig_enabled: false,
        },
        super_digest: None,
        container_check_interval_ms: 60_000,
        container_max_per_minute: 10_000,
        // Read-only mode is not simulated: a member without quorum refuses clients.
        read_only_mode: false,
        local_sessions: false,
    }
}

/// The SNAP payload: sessions, then the tree (the layout of the server's SNAP stream
/// without its trailer; both ends are ours here).
fn encode_snap(core: &NodeCore) -> Bytes {
    let mut b = BytesMut::new();
    let sessions = core.sessions().snapshot();
    b.put_i32(sessions.len() as i32);
    for (id, t) in sessions {
        b.put_i64(id);
        b.put_i32(t);
    }
    tree::snapshot::serialize_tree(core.tree(), &mut b);
    b.freeze()
}

fn decode_snap(mut data: Bytes) -> Option<(Vec<(SessionId, i32)>, DataTree)> {
    if data.remaining() < 4 {
        return None;
    }
    let n = data.get_i32();
    let mut sessions = Vec::new();
    for _ in 0..n.max(0) {
        if data.remaining() < 12 {
            return None;
        }
        sessions.push((SessionId(data.get_i64()), data.get_i32()));
    }
    let tree = tree::snapshot::deserialize_tree(&mut data).ok()?;
    Some((sessions, tree))
}

fn sessions_of(core: &NodeCore) -> Vec<(SessionId, i32)> {
    core.sessions()
        .snapshot()
        .into_iter()
        .map(|(id, t)| (SessionId(id), t))
        .collect()
}

fn value_of(data: Option<&[u8]>) -> u64 {
    match data {
        Some(d) if d.len() == 8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(d);
            u64::from_be_bytes(a)
        }
        _ => 0,
    }
}

/// The sequence number at the end of a sequential node's name.
fn seq_of(path: &str) -> Option<i64> {
    let tail = path.get(path.len().checked_sub(10)?..)?;
    tail.parse().ok()
}

/// A reply showed `path` at `version`: wrong if a watch set at an older version has not
/// fired yet (ZooKeeper delivers the event before any reply with the newer data).
/// What a multi's results say: every op applied (the setData's version, the create's
/// number), or none did with the first error first and RuntimeInconsistency after it.
/// Anything else (a half-applied answer) is a protocol violation.
fn multi_outcome(results: &[MultiResult]) -> Result<ZkRes, String> {
    match results {
        [MultiResult::Check, MultiResult::SetData(stat), MultiResult::Create(p)] => seq_of(p)
            .map(|seq| ZkRes::MultiOk {
                version: stat.version,
                seq,
            })
            .ok_or_else(|| format!("bad sequential path {p}")),
        [MultiResult::Error(first), rest @ ..]
            if rest.len() == 2
                && rest
                    .iter()
                    .all(|r| *r == MultiResult::Error(ErrorCode::RuntimeInconsistency)) =>
        {
            Ok(ZkRes::MultiFailed { err: first.code() })
        }
        other => Err(format!("unexpected results {other:?}")),
    }
}

fn watch_check(watches: &BTreeMap<String, i32>, path: &str, version: i32) -> Option<String> {
    let set_at = *watches.get(path)?;
    (version > set_at).then(|| {
        format!("{path} at version {version} before the event of the watch set at {set_at}")
    })
}

/// Every znode with its data, ACL and full Stat, in walk order: the state members must agree
/// on once healed (ACL cache keys are local and left out).
pub fn tree_digest(t: &DataTree) -> Vec<String> {
    let mut out = Vec::new();
    t.walk("/", |path, n| {
        let s = &n.stat;
        out.push(format!(
            "{path} data={:?} acl={:?} czxid={:#x} mzxid={:#x} pzxid={:#x} ctime={} mtime={} v={} cv={} av={} owner={:#x} children={}",
            n.data(),
            n.acl,
            s.czxid,
            s.mzxid,
            s.pzxid,
            s.ctime,
            s.mtime,
            s.version,
            s.cversion,
            s.aversion,
            s.ephemeral_owner,
            n.children.len()
        ));
    });
    out
}

/// Recovers a member's state from its disk, as `server::persist::start` does.
fn recover(
    id: ServerId,
    fs: &SimFs,
    config: &NodeSimConfig,
    voters: &[ServerId],
    observers: &[ServerId],
    seed: u64,
    now_ms: i64,
) -> Result<(NodeCore, TxnLog, Zxid), String> {
    let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
    let dirs = dirs();
    let rec = store::recovery::recover(dynfs.clone(), &dirs, log_config(config.force_sync))
        .map_err(|e| format!("recovery: {e}"))?;
    match (&rec.snapshot, rec.entries.first()) {
        (None, Some(first)) => {
            return Err(format!("no snapshot but log entries from {}", first.zxid));
        }
        (None, None) => {
            let mut body = BytesMut::new();
            tree::snapshot::serialize_tree(&DataTree::new(), &mut body);
            store::snapshot::write_snapshot(dynfs, &dirs.snap_dir, rec.last_zxid, &[], &body)
                .map_err(|e| format!("initial snapshot: {e}"))?;
        }
        _ => {}
    }
    let mut sessions = Sessions::new(id.0 as u8, now_ms, TICK_TIME_MS);
    let mut last_snap = Zxid::ZERO;
    let mut tree = match &rec.snapshot {
        Some(snap) => {
            let mut body = snap.body.clone();
            let mut t = tree::snapshot::deserialize_tree(&mut body)
                .map_err(|e| format!("snapshot body: {e}"))?;
            t.set_last_processed_zxid(snap.zxid);
            for (sid, timeout) in &snap.sessions {
                sessions.add(*sid, *timeout, now_ms);
            }
            last_snap = snap.zxid;
            t
        }
        None => DataTree::new(),
    };
    for e in &rec.entries {
        let txn = Txn::decode(e.txn.clone()).map_err(|err| format!("txn {}: {err}", e.zxid))?;
        node::replay(&mut tree, &mut sessions, &txn, now_ms);
    }
    let restored = zab::Restored {
        accepted_epoch: rec.accepted_epoch.unwrap_or(0),
        current_epoch: rec.current_epoch.unwrap_or(0),
        last_logged: rec.last_zxid,
    };
    let ensemble = zab::Ensemble {
        observers: observers.to_vec(),
        seed,
        ..config.ensemble.clone()
    };
    let skip = rec.entries.len().saturating_sub(ensemble.committed_log_max);
    let tail = rec.entries[skip..]
        .iter()
        .map(|e| zab::Proposal {
            zxid: e.zxid,
            txn: e.txn.clone(),
        })
        .collect();
    let zab = Zab::with_ensemble(
        zab::Config {
            my_id: id,
            voters: voters.to_vec(),
            inflight_max: config.inflight_max,
        },
        ensemble,
        restored,
        tail,
    );
    let core = NodeCore::new(node_config(id), tree, sessions, zab, now_ms);
    Ok((core, rec.log, last_snap))
}

/// The state at `zxid` after a TRUNC: the newest snapshot at or below it plus the log.
fn rebuild(
    fs: &SimFs,
    log: &TxnLog,
    id: ServerId,
    zxid: Zxid,
    now_ms: i64,
) -> Result<(DataTree, Sessions), String> {
    let dirs = dirs();
    let snaps = store::snapshot::list_snapshots(fs, &dirs.snap_dir).map_err(|e| e.to_string())?;
    let Some((_, path)) = snaps.into_iter().find(|(z, _)| *z <= zxid) else {
        return Err(format!("TRUNC to {zxid}: no snapshot at or below it"));
    };
    let snap = store::snapshot::read_snapshot(fs, &path).map_err(|e| e.to_string())?;
    let mut sessions = Sessions::new(id.0 as u8, now_ms, TICK_TIME_MS);
    let mut body = snap.body.clone();
    let mut tree = tree::snapshot::deserialize_tree(&mut body).map_err(|e| e.to_string())?;
    tree.set_last_processed_zxid(snap.zxid);
    for (sid, t) in &snap.sessions {
        sessions.add(*sid, *t, now_ms);
    }
    for e in log
        .read_from(Zxid(snap.zxid.0 + 1), usize::MAX)
        .map_err(|e| e.to_string())?
    {
        if e.zxid > zxid {
            break;
        }
        let txn = Txn::decode(e.txn.clone()).map_err(|err| err.to_string())?;
        node::replay(&mut tree, &mut sessions, &txn, now_ms);
    }
    Ok((tree, sessions))
}

impl NodeSim {
    pub fn new(config: NodeSimConfig) -> NodeSim {
        let mut rng = Rng::new(config.seed);
        let voters: Vec<ServerId> = (1..=config.voters as u64).map(ServerId).collect();
        let observers: Vec<ServerId> = (0..config.observers as u64)
            .map(|i| ServerId(config.voters as u64 + 1 + i))
            .collect();
        let mut sim = NodeSim {
            rng: Rng::new(rng.next_u64()),
            config,
            now: 0,
            members: BTreeMap::new(),
            voters: voters.clone(),
            observers: observers.clone(),
            events: BTreeMap::new(),
            next_ev: 0,
            net: Net::new(30, 2 * ZAB_TICK_MS),
            disk_delay_max: 50,
            cconns: BTreeMap::new(),
            next_cconn: 1,
            c_arrival: BTreeMap::new(),
            clients: Vec::new(),
            clients_active: false,
            chaos: false,
            history: Vec::new(),
            obs: Observations::default(),
            stats: NodeStats::default(),
            lin: None,
        };
        for id in voters.iter().chain(observers.iter()) {
            sim.members.insert(
                *id,
                NMember {
                    id: *id,
                    core: None,
                    fs: SimFs::new(),
                    log: None,
                    queue: VecDeque::new(),
                    store_busy: false,
                    inc: 0,
                    last_snap: Zxid::ZERO,
                    applied_since_snap: 0,
                    last_seen_zxid: Zxid::ZERO,
                },
            );
            sim.start_member(*id);
            let offset = sim.rng.range(0, ZAB_TICK_MS - 1);
            sim.schedule(offset + 1, Ev::Tick(*id));
        }
        for c in 0..sim.config.clients {
            let mut setup = VecDeque::new();
            if c == 0 {
                for i in 0..sim.config.registers {
                    setup.push_back(register(i));
                }
                setup.push_back(SEQ_PARENT.to_string());
                setup.push_back(EPH_PARENT.to_string());
            }
            sim.clients.push(Client {
                session: None,
                conn: None,
                next_xid: 0,
                wait: None,
                order: SessionOrder::default(),
                setup,
                timer: None,
                ephemerals: Vec::new(),
                paused_until: 0,
                watches: BTreeMap::new(),
                rewatching: BTreeSet::new(),
            });
        }
        sim
    }

    fn now_ms(&self) -> i64 {
        T0 + self.now as i64
    }

    fn schedule(&mut self, delay: u64, ev: Ev) {
        self.next_ev += 1;
        self.events.insert((self.now + delay, self.next_ev), ev);
    }

    pub fn ids(&self) -> Vec<ServerId> {
        self.members.keys().copied().collect()
    }

    pub fn core(&self, id: ServerId) -> Option<&NodeCore> {
        self.members.get(&id).and_then(|m| m.core.as_ref())
    }

    fn start_member(&mut self, id: ServerId) {
        if mtrace() {
            eprintln!("t={} {id:?} starts", self.now);
        }
        let seed = self.rng.next_u64();
        let now_ms = self.now_ms();
        let Some(m) = self.members.get(&id) else {
            return;
        };
        match recover(
            id,
            &m.fs,
            &self.config,
            &self.voters,
            &self.observers,
            seed,
            now_ms,
        ) {
            Ok((core, log, last_snap)) => {
                if let Some(m) = self.members.get_mut(&id) {
                    m.last_seen_zxid = core.last_zxid();
                    m.core = Some(core);
                    m.log = Some(log);
                    m.last_snap = last_snap;
                    m.applied_since_snap = 0;
                }
                self.drain(id);
            }
            Err(why) => {
                let now = self.now;
                self.obs
                    .violate(now, format!("{id:?} cannot restart from its disk: {why}"));
            }
        }
    }

    // ----- faults -----

    /// A process crash (`power_cut` false: the OS keeps what was written) or a machine
    /// crash (the disk keeps only what was synced, plus a random prefix of the rest).
    pub fn crash(&mut self, id: ServerId, power_cut: bool) {
        if mtrace() {
            eprintln!("t={} {id:?} crashes (power cut: {power_cut})", self.now);
        }
        let fs_seed = self.rng.next_u64();
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.core.is_none() {
            return;
        }
        m.core = None;
        m.log = None;
        m.queue.clear();
        m.store_busy = false;
        m.inc += 1;
        if power_cut {
            m.fs.crash(fs_seed);
        }
        self.stats.crashes += 1;
        let notices = self.net.crash(&mut self.rng, id);
        self.notify(notices);
        // Its client connections reset.
        let conns: Vec<(ConnId, u32)> = self
            .cconns
            .iter()
            .filter(|(_, (_, m, _))| *m == id)
            .map(|(c, (cl, _, _))| (*c, *cl))
            .collect();
        for (conn, client) in conns {
            self.cconns.remove(&conn);
            let d = self.rng.range(1, 50);
            self.schedule(
                d,
                Ev::ToClient {
                    client,
                    conn,
                    frame: None,
                },
            );
        }
    }

    pub fn restart(&mut self, id: ServerId) {
        if self.members.get(&id).is_some_and(|m| m.core.is_none()) {
            self.start_member(id);
        }
    }

    pub fn restart_all(&mut self) {
        for id in self.ids() {
            self.restart(id);
        }
    }

    pub fn partition(&mut self, a: &[ServerId], b: &[ServerId]) {
        self.net.partition(a, b);
        self.stats.partitions += 1;
    }

    pub fn heal(&mut self) {
        self.net.heal();
        self.net.delay_max = 30;
    }

    /// Schedules the connection-broke notices the network decided on.
    fn notify(&mut self, notices: Vec<Notice>) {
        for n in notices {
            let inc = self.members.get(&n.member).map(|m| m.inc).unwrap_or(0);
            self.schedule(
                n.delay,
                Ev::Disconnected {
                    member: n.member,
                    peer: n.peer,
                    inc,
                    conn: n.conn,
                },
            );
        }
    }

    // ----- peer network -----

    fn send_peer(&mut self, from: ServerId, to: ServerId, msg: Message) {
        self.stats.messages += 1;
        match &msg {
            Message::Trunc { .. } => self.stats.truncs += 1,
            Message::Snap { .. } => self.stats.snaps_sent += 1,
            _ => {}
        }
        let sent = self
            .net
            .send(&mut self.rng, self.now, from, to, msg.is_election());
        self.notify(sent.notices);
        let n = sent.deliveries.len();
        let mut msg = Some(msg);
        for (i, (at, conn)) in sent.deliveries.into_iter().enumerate() {
            let m = if i + 1 == n { msg.take() } else { msg.clone() };
            let Some(msg) = m else { break };
            self.next_ev += 1;
            self.events.insert(
                (at, self.next_ev),
                Ev::Peer {
                    from,
                    to,
                    msg,
                    conn,
                },
            );
        }
    }

    // ----- the driver -----

    fn drain(&mut self, id: ServerId) {
        // Bounded: a node's outputs are finite per input; the loop ends when it is dry.
        loop {
            let mut outs = Vec::new();
            let Some(m) = self.members.get_mut(&id) else {
                return;
            };
            let Some(core) = m.core.as_mut() else {
                return;
            };
            while let Some(o) = core.poll_output() {
                let hold = matches!(
                    o,
                    Output::SendSnapshot { .. }
                        | Output::TruncateAfter { .. }
                        | Output::InstallSnapshot { .. }
                );
                outs.push(o);
                if hold {
                    break;
                }
            }
            if outs.is_empty() {
                break;
            }
            // Client frames: per connection in order, connections in id order.
            let mut client: Vec<Output> = Vec::new();
            let mut other: Vec<Output> = Vec::new();
            for o in outs {
                match o {
                    Output::Send { .. } | Output::Close { .. } => client.push(o),
                    o => other.push(o),
                }
            }
            client.sort_by_key(|o| match o {
                Output::Send { conn, .. } | Output::Close { conn } => *conn,
                _ => 0,
            });
            for o in client {
                self.on_client_output(id, o);
            }
            for o in other {
                self.on_output(id, o);
            }
        }
        self.maybe_snapshot(id);
    }

    fn on_client_output(&mut self, id: ServerId, o: Output) {
        let (conn, frame) = match o {
            Output::Send { conn, frame } => (conn, Some(frame)),
            Output::Close { conn } => (conn, None),
            _ => return,
        };
        let Some(&(client, member, _)) = self.cconns.get(&conn) else {
            return;
        };
        if member != id {
            return;
        }
        if frame.is_none() {
            self.cconns.remove(&conn);
        }
        let d = self.rng.range(1, 5);
        let at = (self.now + d).max(self.c_arrival.get(&(conn, false)).copied().unwrap_or(0));
        self.c_arrival.insert((conn, false), at);
        self.next_ev += 1;
        self.events.insert(
            (at, self.next_ev),
            Ev::ToClient {
                client,
                conn,
                frame,
            },
        );
    }

    fn on_output(&mut self, id: ServerId, o: Output) {
        let now = self.now;
        if mtrace() {
            if let Some(c) = self.core(id) {
                let what = match &o {
                    Output::Persist {
                        op: PersistOp::Append(_),
                        ..
                    }
                    | Output::Peer { .. }
                    | Output::Send { .. }
                    | Output::Close { .. } => None,
                    Output::InstallSnapshot { seq, zxid, .. } => {
                        Some(format!("InstallSnapshot {seq} {zxid}"))
                    }
                    other => Some(format!("{other:?}")),
                };
                if let Some(w) = what {
                    eprintln!(
                        "t={now} {id:?} tree {}: {} | {w}",
                        c.last_zxid(),
                        c.zab().summary()
                    );
                }
            }
        }
        let now_ms = self.now_ms();
        match o {
            Output::Send { .. } | Output::Close { .. } => self.on_client_output(id, o),
            Output::Persist { seq, op } => self.queue_store(id, Cmd::Persist(seq, op)),
            Output::Peer { to, msg } => self.send_peer(id, to, msg),
            Output::SendSnapshot { to, up_to } => {
                let Some(core) = self.members.get_mut(&id).and_then(|m| m.core.as_mut()) else {
                    return;
                };
                if core.last_zxid() != up_to {
                    self.obs.violate(
                        now,
                        format!(
                            "{id:?}: SendSnapshot at {up_to} but the tree is at {}",
                            core.last_zxid()
                        ),
                    );
                }
                let data = encode_snap(core);
                core.resume();
                self.send_peer(id, to, Message::Snap { zxid: up_to, data });
            }
            Output::Disconnect { peer } => {
                let notices = self.net.break_conn(&mut self.rng, pair(id, peer), &[peer]);
                self.notify(notices);
            }
            Output::TruncateAfter { seq, zxid } => self.queue_store(id, Cmd::Truncate(seq, zxid)),
            Output::InstallSnapshot { seq, zxid, data } => {
                let Some((sessions, mut tree)) = decode_snap(data) else {
                    self.obs
                        .violate(now, format!("{id:?}: SNAP stream does not decode"));
                    return;
                };
                tree.set_last_processed_zxid(zxid);
                let mut s = Sessions::new(id.0 as u8, now_ms, TICK_TIME_MS);
                for (sid, t) in &sessions {
                    s.add(*sid, *t, now_ms);
                }
                let Some(m) = self.members.get_mut(&id) else {
                    return;
                };
                let Some(core) = m.core.as_mut() else {
                    return;
                };
                core.installed(tree, s);
                let mut body = BytesMut::new();
                tree::snapshot::serialize_tree(core.tree(), &mut body);
                let sessions = sessions_of(core);
                m.last_seen_zxid = zxid;
                m.applied_since_snap = 0;
                self.queue_store(
                    id,
                    Cmd::Install {
                        seq,
                        zxid,
                        sessions,
                        body: body.freeze(),
                    },
                );
            }
            Output::RoleChanged { role, epoch, .. } => {
                if role == Role::Leading {
                    self.stats.leaders += 1;
                    leadership::on_leading(&mut self.obs, now, epoch, id);
                }
            }
        }
    }

    /// Takes a snapshot (after the commands queued so far) every `SNAP_EVERY` applied txns.
    fn maybe_snapshot(&mut self, id: ServerId) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let Some(core) = m.core.as_ref() else {
            return;
        };
        let z = core.last_zxid();
        if z > m.last_seen_zxid {
            m.applied_since_snap += 1;
            m.last_seen_zxid = z;
        }
        if m.applied_since_snap < SNAP_EVERY || z <= m.last_snap {
            return;
        }
        // Not while a TRUNC or SNAP waits in the store: the tree is about to be replaced, and
        // a snapshot of it written after the cut would bring truncated txns back at the next
        // recovery.
        if m.queue
            .iter()
            .any(|c| matches!(c, Cmd::Truncate(..) | Cmd::Install { .. }))
        {
            return;
        }
        m.applied_since_snap = 0;
        m.last_snap = z;
        let mut body = BytesMut::new();
        tree::snapshot::serialize_tree(core.tree(), &mut body);
        let sessions = sessions_of(core);
        self.queue_store(
            id,
            Cmd::Snapshot {
                zxid: z,
                sessions,
                body: body.freeze(),
            },
        );
    }

    fn queue_store(&mut self, id: ServerId, cmd: Cmd) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.queue.push_back(cmd);
        if !m.store_busy {
            m.store_busy = true;
            let inc = m.inc;
            let d = self.rng.range(1, 5);
            self.schedule(d, Ev::StoreWrite { member: id, inc });
        }
    }

    /// Executes the queued commands: writes reach the (volatile) disk; then an fsync after
    /// the disk's delay.
    fn on_store_write(&mut self, id: ServerId, inc: u64) {
        let now = self.now;
        let now_ms = self.now_ms();
        let slow = self.config.faults.slow_disk;
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.inc != inc || m.core.is_none() {
            return;
        }
        let mut max_seq = None;
        let mut entries: Vec<LogEntry> = Vec::new();
        let mut rebuilt = None;
        let mut result: Result<(), String> = Ok(());
        let mut snapshots = 0;
        let cmds: Vec<Cmd> = m.queue.drain(..).collect();
        let fs = m.fs.clone();
        let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
        let dirs = dirs();
        let Some(log) = m.log.as_mut() else {
            return;
        };
        let flush = |log: &mut TxnLog, entries: &mut Vec<LogEntry>| -> Result<(), String> {
            if !entries.is_empty() {
                log.append(entries).map_err(|e| e.to_string())?;
                entries.clear();
            }
            Ok(())
        };
        for cmd in cmds {
            let r: Result<(), String> = (|| {
                match cmd {
                    Cmd::Persist(seq, op) => {
                        max_seq = Some(seq);
                        match op {
                            PersistOp::Append(ps) => {
                                entries.extend(ps.into_iter().map(|p| LogEntry {
                                    zxid: p.zxid,
                                    txn: p.txn,
                                }))
                            }
                            PersistOp::AcceptedEpoch(e) | PersistOp::CurrentEpoch(e) => {
                                // An epoch file is durable the moment it is written: the
                                // log requests before it must be durable first, or a crash
                                // keeps currentEpoch of a history it lost (which then wins
                                // elections over members holding committed txns).
                                flush(log, &mut entries)?;
                                log.sync().map_err(|e| e.to_string())?;
                                let which = if matches!(op, PersistOp::AcceptedEpoch(_)) {
                                    store::epoch::EpochFile::Accepted
                                } else {
                                    store::epoch::EpochFile::Current
                                };
                                store::epoch::write_epoch(&fs, &dirs.snap_dir, which, e)
                                    .map_err(|e| e.to_string())?
                            }
                        }
                    }
                    Cmd::Truncate(seq, zxid) => {
                        flush(log, &mut entries)?;
                        max_seq = Some(seq);
                        log.truncate_after(zxid).map_err(|e| e.to_string())?;
                        store::snapshot::remove_newer_than(&fs, &dirs.snap_dir, zxid)
                            .map_err(|e| e.to_string())?;
                        rebuilt = Some(rebuild(&fs, log, id, zxid, now_ms)?);
                    }
                    Cmd::Install {
                        seq,
                        zxid,
                        sessions,
                        body,
                    } => {
                        flush(log, &mut entries)?;
                        max_seq = Some(seq);
                        log.truncate_after(Zxid::ZERO).map_err(|e| e.to_string())?;
                        store::snapshot::remove_newer_than(&fs, &dirs.snap_dir, zxid)
                            .map_err(|e| e.to_string())?;
                        store::snapshot::write_snapshot(
                            dynfs.clone(),
                            &dirs.snap_dir,
                            zxid,
                            &sessions,
                            &body,
                        )
                        .map_err(|e| e.to_string())?;
                    }
                    Cmd::Snapshot {
                        zxid,
                        sessions,
                        body,
                    } => {
                        flush(log, &mut entries)?;
                        log.roll().map_err(|e| e.to_string())?;
                        // A snapshot is fuzzy in the server; here it is exact. It may be
                        // ahead of the durable log: it holds those txns itself.
                        store::snapshot::write_snapshot(
                            dynfs.clone(),
                            &dirs.snap_dir,
                            zxid,
                            &sessions,
                            &body,
                        )
                        .map_err(|e| e.to_string())?;
                        snapshots += 1;
                    }
                }
                Ok(())
            })();
            if let Err(e) = r {
                result = Err(e);
                break;
            }
        }
        if result.is_ok() {
            result = flush(log, &mut entries);
        }
        self.stats.snapshots += snapshots;
        if let Err(why) = result {
            self.obs
                .violate(now, format!("{id:?}: store command failed: {why}"));
            return;
        }
        if let Some((tree, sessions)) = rebuilt {
            if let Some(core) = m.core.as_mut() {
                core.rebuilt(tree, sessions);
            }
            m.last_seen_zxid = m.core.as_ref().map(|c| c.last_zxid()).unwrap_or_default();
        }
        let max = if slow {
            self.disk_delay_max * 8
        } else {
            self.disk_delay_max
        };
        let d = self.rng.range(1, max);
        self.schedule(
            d,
            Ev::StoreSync {
                member: id,
                inc,
                seq: max_seq,
            },
        );
        self.drain(id);
    }

    fn on_store_sync(&mut self, id: ServerId, inc: u64, seq: Option<PersistSeq>) {
        let now = self.now;
        let now_ms = self.now_ms();
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.inc != inc || m.core.is_none() {
            return;
        }
        if let Some(log) = m.log.as_mut() {
            if let Err(e) = log.sync() {
                self.obs.violate(now, format!("{id:?}: fsync failed: {e}"));
                return;
            }
        }
        if let (Some(seq), Some(core)) = (seq, m.core.as_mut()) {
            core.persisted(seq, now_ms);
        }
        if m.queue.is_empty() {
            m.store_busy = false;
        } else {
            let d = self.rng.range(1, 5);
            self.schedule(d, Ev::StoreWrite { member: id, inc });
        }
        self.drain(id);
    }

    // ----- clients -----

    fn client_send(&mut self, c: u32, msg: ToServer) {
        let now = self.now;
        let Some(cn) = self
            .clients
            .get_mut(c as usize)
            .and_then(|cl| cl.conn.as_mut())
        else {
            return;
        };
        cn.last_send = now;
        let conn = cn.id;
        let member = cn.member;
        if ctrace() {
            eprintln!("t={now} client {c} -> {member:?} conn {conn}: {msg:?}");
        }
        let Some(&(_, _, inc)) = self.cconns.get(&conn) else {
            return;
        };
        let d = self.rng.range(1, 5);
        let at = (self.now + d).max(self.c_arrival.get(&(conn, true)).copied().unwrap_or(0));
        self.c_arrival.insert((conn, true), at);
        self.next_ev += 1;
        self.events.insert(
            (at, self.next_ev),
            Ev::ToServer {
                member,
                inc,
                conn,
                msg,
            },
        );
    }

    fn client_request(&mut self, c: u32, req: OpRequest) -> i32 {
        let Some(cl) = self.clients.get_mut(c as usize) else {
            return 0;
        };
        cl.next_xid += 1;
        let x = cl.next_xid;
        self.client_send(c, ToServer::Request(x, req));
        x
    }

    fn set_timer(&mut self, c: u32, delay: u64) {
        let at = self.now + delay;
        let Some(cl) = self.clients.get_mut(c as usize) else {
            return;
        };
        if cl.timer.is_some_and(|t| t <= at && t > self.now) {
            return;
        }
        cl.timer = Some(at);
        self.schedule(delay, Ev::Client(c));
    }

    /// The client's connection is gone: what it waited for has an unknown outcome.
    fn lose_conn(&mut self, c: u32, tell_server: bool) {
        let Some(cl) = self.clients.get_mut(c as usize) else {
            return;
        };
        let Some(cn) = cl.conn.take() else {
            return;
        };
        cl.rewatching.clear();
        if let Some(Wait::Hist { .. }) = cl.wait {
            self.stats.unknown += 1;
        }
        cl.wait = None;
        if tell_server {
            let (conn, member) = (cn.id, cn.member);
            if let Some(&(_, _, inc)) = self.cconns.get(&conn) {
                let d = self.rng.range(1, 5);
                self.schedule(
                    d,
                    Ev::ToServer {
                        member,
                        inc,
                        conn,
                        msg: ToServer::Close,
                    },
                );
            }
        }
        self.cconns.remove(&cn.id);
        let d = self.rng.range(10, 200);
        self.set_timer(c, d);
    }

    fn on_client_timer(&mut self, c: u32) {
        let now = self.now;
        let Some(cl) = self.clients.get_mut(c as usize) else {
            return;
        };
        if cl.timer == Some(now) {
            cl.timer = None;
        }
        if now < cl.paused_until {
            let d = cl.paused_until - now;
            self.set_timer(c, d);
            return;
        }
        let timeout = cl.session.map(|s| s.1).unwrap_or(SESSION_TIMEOUT_MS) as u64;
        let setup_pending = self.clients.first().is_some_and(|c0| !c0.setup.is_empty());
        let Some(cl) = self.clients.get(c as usize) else {
            return;
        };
        let wants = self.clients_active && !(setup_pending && c != 0)
            || !cl.setup.is_empty()
            || cl.wait.is_some();
        match &cl.conn {
            None => {
                if !wants {
                    return;
                }
                self.client_connect(c);
            }
            Some(cn) if !cn.handshake => {
                if now >= cn.opened + timeout / 2 {
                    self.lose_conn(c, true);
                } else {
                    let d = cn.opened + timeout / 2 - now;
                    self.set_timer(c, d);
                }
            }
            Some(cn) => {
                // ZooKeeper's client: no frame for 2/3 of the timeout means the server is
                // gone; ping after 1/3 of it idle.
                if now >= cn.last_recv + timeout * 2 / 3 {
                    self.lose_conn(c, true);
                    return;
                }
                let ping = now >= cn.last_send + timeout / 3;
                let idle = cl.wait.is_none();
                if ping {
                    self.client_send(c, ToServer::Request(xid::PING, OpRequest::Ping));
                }
                if idle && wants {
                    self.start_op(c);
                }
                self.set_timer(c, timeout / 6);
            }
        }
    }

    fn client_connect(&mut self, c: u32) {
        let ids = self.ids();
        let Some(&member) = self.rng.pick(&ids) else {
            return;
        };
        let conn = self.next_cconn;
        self.next_cconn += 1;
        let now = self.now;
        let Some(cl) = self.clients.get_mut(c as usize) else {
            return;
        };
        cl.conn = Some(CConn {
            id: conn,
            member,
            handshake: false,
            opened: now,
            last_recv: now,
            last_send: now,
        });
        let (sid, timeout) = cl.session.unwrap_or((0, SESSION_TIMEOUT_MS));
        let passwd = if sid == 0 {
            Bytes::from_static(&[0u8; 16])
        } else {
            Bytes::copy_from_slice(&jute::session_password(sid))
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: cl.order.last_zxid(),
            time_out: timeout,
            session_id: sid,
            passwd,
            read_only: Some(false),
        };
        if sid != 0 {
            self.stats.reconnects += 1;
        }
        let inc = self.members.get(&member).map(|m| m.inc).unwrap_or(0);
        let up = self.members.get(&member).is_some_and(|m| m.core.is_some());
        if !up {
            // Connection refused.
            let Some(cl) = self.clients.get_mut(c as usize) else {
                return;
            };
            cl.conn = None;
            let d = self.rng.range(20, 200);
            self.set_timer(c, d);
            return;
        }
        self.cconns.insert(conn, (c, member, inc));
        if let Some(core) = self.members.get_mut(&member).and_then(|m| m.core.as_mut()) {
            core.conn_opened(conn, format!("10.0.0.{c}:{conn}"), format!("10.0.0.{c}"));
        }
        self.client_send(c, ToServer::Connect(req));
        self.set_timer(c, timeout as u64 / 2);
    }

    fn start_op(&mut self, c: u32) {
        let now = self.now;
        if let Some(path) = self.clients[c as usize].setup.front().cloned() {
            let x = self.client_request(
                c,
                OpRequest::Create(CreateRequest {
                    path: path.clone(),
                    data: Some(Bytes::new()),
                    acl: Acl::open_unsafe(),
                    flags: 0,
                }),
            );
            self.clients[c as usize].wait = Some(Wait::Setup { xid: x, path });
            return;
        }
        let regs = self.config.registers.max(1) as u64;
        let reg = register(self.rng.range(0, regs - 1) as u8);
        self.stats.ops += 1;
        let value = self.rng.next_u64() >> 1;
        let data = Some(Bytes::copy_from_slice(&value.to_be_bytes()));
        let pick = self.rng.range(0, 15);
        let (op, path, req) = match pick {
            0..=2 => (
                ZkOp::Write { value },
                reg.clone(),
                OpRequest::SetData(SetDataRequest {
                    path: reg.clone(),
                    data,
                    version: -1,
                }),
            ),
            3..=4 => {
                let seen = self.clients[c as usize].order.version(&reg);
                let expected = if self.rng.chance(0.25) {
                    seen + 1
                } else {
                    seen
                };
                (
                    ZkOp::Cas { expected, value },
                    reg.clone(),
                    OpRequest::SetData(SetDataRequest {
                        path: reg.clone(),
                        data,
                        version: expected,
                    }),
                )
            }
            5..=6 => (
                ZkOp::CreateSeq,
                SEQ_PARENT.to_string(),
                OpRequest::Create(CreateRequest {
                    path: format!("{SEQ_PARENT}/s-"),
                    data: Some(Bytes::new()),
                    acl: Acl::open_unsafe(),
                    flags: 2,
                }),
            ),
            7..=9 => {
                self.client_request(c, OpRequest::Sync(PathRequest { path: reg.clone() }));
                (
                    ZkOp::SyncRead,
                    reg.clone(),
                    OpRequest::GetData(PathWatchRequest {
                        path: reg.clone(),
                        watch: false,
                    }),
                )
            }
            14 => {
                // All or nothing: check the version, write, and create a sequential child
                // under the register itself (one object for the checker).
                let seen = self.clients[c as usize].order.version(&reg);
                let expected = if self.rng.chance(0.3) { seen + 1 } else { seen };
                self.stats.multis += 1;
                (
                    ZkOp::Multi { expected, value },
                    reg.clone(),
                    OpRequest::Multi(MultiRequest {
                        ops: vec![
                            MultiOp::Check(CheckVersionRequest {
                                path: reg.clone(),
                                version: expected,
                            }),
                            MultiOp::SetData(SetDataRequest {
                                path: reg.clone(),
                                data,
                                version: -1,
                            }),
                            MultiOp::Create {
                                op: jute::types::op::CREATE,
                                req: CreateRequest {
                                    path: format!("{reg}/m-"),
                                    data: Some(Bytes::new()),
                                    acl: Acl::open_unsafe(),
                                    flags: 2,
                                },
                            },
                        ],
                    }),
                )
            }
            15 => {
                // A plain znode outside the register set, created and deleted by everyone.
                let k = self.rng.range(0, PLAIN_NODES - 1);
                let path = format!("/d{k}");
                self.stats.plain_writes += 1;
                if self.rng.chance(0.5) {
                    (
                        ZkOp::CreateNode,
                        path.clone(),
                        OpRequest::Create(CreateRequest {
                            path,
                            data: Some(Bytes::new()),
                            acl: Acl::open_unsafe(),
                            flags: 0,
                        }),
                    )
                } else {
                    (
                        ZkOp::DeleteNode,
                        path.clone(),
                        OpRequest::Delete(jute::proto::DeleteRequest { path, version: -1 }),
                    )
                }
            }
            12 => {
                let x = self.client_request(
                    c,
                    OpRequest::Create(CreateRequest {
                        path: format!("{EPH_PARENT}/c{c}-"),
                        data: Some(Bytes::new()),
                        acl: Acl::open_unsafe(),
                        flags: 3,
                    }),
                );
                self.clients[c as usize].wait = Some(Wait::Ephemeral { xid: x });
                return;
            }
            13 if !self.clients[c as usize].ephemerals.is_empty() => {
                let path = self.clients[c as usize].ephemerals[0].clone();
                let x = self.client_request(
                    c,
                    OpRequest::Delete(jute::proto::DeleteRequest {
                        path: path.clone(),
                        version: -1,
                    }),
                );
                self.clients[c as usize].wait = Some(Wait::Delete { xid: x, path });
                return;
            }
            _ => {
                let watch = self.rng.chance(0.5);
                let x = self.client_request(
                    c,
                    OpRequest::GetData(PathWatchRequest {
                        path: reg.clone(),
                        watch,
                    }),
                );
                self.stats.plain_reads += 1;
                self.clients[c as usize].wait = Some(Wait::Plain {
                    xid: x,
                    path: reg,
                    watch,
                });
                return;
            }
        };
        self.history.push(ZkHOp {
            client: c,
            path: path.clone(),
            op,
            invoke: now,
            complete: None,
        });
        let hop = self.history.len() - 1;
        let x = self.client_request(c, req);
        self.clients[c as usize].wait = Some(Wait::Hist { hop, xid: x, path });
    }

    fn on_client_frame(&mut self, c: u32, conn: ConnId, frame: Option<Bytes>) {
        let now = self.now;
        let Some(cl) = self.clients.get_mut(c as usize) else {
            return;
        };
        let Some(cn) = cl.conn.as_mut() else {
            return;
        };
        if cn.id != conn {
            return;
        }
        let Some(mut frame) = frame else {
            self.lose_conn(c, false);
            return;
        };
        cn.last_recv = now;
        if frame.remaining() < 4 {
            self.obs.violate(now, format!("client {c}: short frame"));
            return;
        }
        let _len = frame.get_i32();
        if !cn.handshake {
            let Ok(r) = ConnectResponse::decode(&mut frame) else {
                self.obs
                    .violate(now, format!("client {c}: bad ConnectResponse"));
                return;
            };
            if r.session_id == 0 {
                // Expired (or unknown): a new session on the next connect. The client's
                // watchers get Expired and are gone.
                cl.session = None;
                cl.order = SessionOrder::default();
                cl.watches.clear();
                self.lose_conn(c, true);
                return;
            }
            if cl.session.map(|s| s.0) != Some(r.session_id) {
                if cl.session.is_some() {
                    self.obs.violate(
                        now,
                        format!("client {c}: reconnect answered with another session"),
                    );
                }
                self.stats.sessions += 1;
                cl.order = SessionOrder::default();
                cl.ephemerals.clear();
                cl.watches.clear();
            }
            cl.session = Some((r.session_id, r.time_out));
            cn.handshake = true;
            if !cl.watches.is_empty() {
                // Before any other request, as ZooKeeper's client primes its outgoing queue.
                let relative_zxid = if self.config.rewatch_future_zxid {
                    cl.order.last_zxid() + (1 << 40)
                } else {
                    cl.order.last_zxid()
                };
                let paths: Vec<String> = cl.watches.keys().cloned().collect();
                cl.rewatching = paths.iter().cloned().collect();
                self.stats.set_watches += 1;
                self.stats.rewatched += paths.len() as u64;
                self.client_send(
                    c,
                    ToServer::Request(
                        xid::SET_WATCHES,
                        OpRequest::SetWatches(jute::proto::SetWatches {
                            relative_zxid,
                            data_watches: paths,
                            exist_watches: Vec::new(),
                            child_watches: Vec::new(),
                        }),
                    ),
                );
            }
            self.set_timer(c, 1);
            return;
        }
        let Ok(hdr) = ReplyHeader::decode(&mut frame) else {
            self.obs
                .violate(now, format!("client {c}: bad ReplyHeader"));
            return;
        };
        if ctrace() {
            eprintln!("t={now} client {c} <- conn {conn}: {hdr:?}");
        }
        if hdr.xid == xid::NOTIFICATION {
            if let Ok(e) = jute::proto::WatcherEvent::decode(&mut frame) {
                cl.watches.remove(&e.path);
                self.stats.watch_events += 1;
                if cl.rewatching.remove(&e.path) {
                    // Fired by the re-registration: the znode changed after the client's
                    // last seen zxid.
                    self.stats.rewatch_fired += 1;
                }
            }
            return;
        }
        if hdr.xid == xid::PING {
            return;
        }
        if hdr.xid == xid::SET_WATCHES {
            cl.rewatching.clear();
        }
        if let Err(why) = cl.order.on_reply(hdr.zxid) {
            let sid = cl.session.map(|s| s.0).unwrap_or(0);
            self.obs.violate(
                now,
                format!(
                    "session order: client {c} session {sid:#x} xid {}: {why}",
                    hdr.xid
                ),
            );
        }
        let Some(wait) = cl.wait.clone() else {
            return;
        };
        let err = ErrorCode::from_code(hdr.err);
        let (wxid, path) = match &wait {
            Wait::Hist { xid, path, .. }
            | Wait::Plain { xid, path, .. }
            | Wait::Setup { xid, path }
            | Wait::Delete { xid, path } => (*xid, path.clone()),
            Wait::Ephemeral { xid } => (*xid, String::new()),
        };
        if hdr.xid != wxid {
            // The sync ahead of a SyncRead (or an answer to a request before a reconnect).
            return;
        }
        cl.wait = None;
        if self.clients_active && self.rng.chance(0.0015) {
            // Away for longer than the session timeout.
            let timeout = cl.session.map(|s| s.1).unwrap_or(SESSION_TIMEOUT_MS) as u64;
            cl.paused_until = now + timeout * 2 + self.rng.range(0, timeout);
            self.stats.pauses += 1;
        }
        let think = self.rng.range(1, 60);
        self.set_timer(c, think);
        let cl = &mut self.clients[c as usize];
        match wait {
            Wait::Ephemeral { .. } => {
                if err == Some(ErrorCode::Ok) {
                    if let Ok(r) = CreateResponse::decode(&mut frame) {
                        cl.ephemerals.push(r.path);
                    }
                }
            }
            Wait::Delete { path, .. } => {
                if matches!(err, Some(ErrorCode::Ok) | Some(ErrorCode::NoNode)) {
                    cl.ephemerals.retain(|p| *p != path);
                }
            }
            Wait::Setup { .. } => {
                if matches!(err, Some(ErrorCode::Ok) | Some(ErrorCode::NodeExists)) {
                    cl.setup.pop_front();
                }
            }
            Wait::Plain { path, watch, .. } => {
                if err == Some(ErrorCode::Ok) {
                    if let Ok(r) = GetDataResponse::decode(&mut frame) {
                        let v = r.stat.version;
                        if let Err(why) = cl.order.on_version(&path, v) {
                            self.obs.violate(
                                now,
                                format!("session order (plain read): client {c}: {why}"),
                            );
                        }
                        if let Some(why) = watch_check(&cl.watches, &path, v) {
                            self.obs
                                .violate(now, format!("watch order: client {c}: {why}"));
                        }
                        if watch {
                            cl.watches.entry(path).or_insert(v);
                        }
                    }
                }
            }
            Wait::Hist { hop, .. } => {
                let Some(h) = self.history.get(hop) else {
                    return;
                };
                let op = h.op;
                let res = match (op, err) {
                    (ZkOp::Write { .. }, Some(ErrorCode::Ok)) => StatResponse::decode(&mut frame)
                        .ok()
                        .map(|r| ZkRes::Written {
                            version: r.stat.version,
                        }),
                    (ZkOp::Cas { .. }, Some(ErrorCode::Ok)) => {
                        StatResponse::decode(&mut frame).ok().map(|r| ZkRes::CasOk {
                            version: r.stat.version,
                        })
                    }
                    (ZkOp::Cas { .. }, Some(ErrorCode::BadVersion)) => Some(ZkRes::BadVersion),
                    (ZkOp::SyncRead, Some(ErrorCode::Ok)) => GetDataResponse::decode(&mut frame)
                        .ok()
                        .map(|r| ZkRes::Read {
                            value: value_of(r.data.as_deref()),
                            version: r.stat.version,
                        }),
                    (ZkOp::CreateSeq, Some(ErrorCode::Ok)) => CreateResponse::decode(&mut frame)
                        .ok()
                        .and_then(|r| seq_of(&r.path))
                        .map(|seq| ZkRes::Created { seq }),
                    (ZkOp::CreateNode, Some(ErrorCode::Ok)) => Some(ZkRes::NodeCreated),
                    (ZkOp::CreateNode, Some(ErrorCode::NodeExists)) => Some(ZkRes::NodeExists),
                    (ZkOp::DeleteNode, Some(ErrorCode::Ok)) => Some(ZkRes::NodeDeleted),
                    (ZkOp::DeleteNode, Some(ErrorCode::NoNode)) => Some(ZkRes::NoNode),
                    (ZkOp::Multi { .. }, Some(ErrorCode::Ok)) => {
                        match MultiResponse::decode(&mut frame) {
                            Ok(r) => match multi_outcome(&r.results) {
                                Ok(res) => Some(res),
                                Err(why) => {
                                    self.obs
                                        .violate(now, format!("multi: client {c} {path}: {why}"));
                                    None
                                }
                            },
                            Err(_) => None,
                        }
                    }
                    // Any other answer (SessionExpired, ...) leaves the outcome unknown:
                    // conservative, it cannot make a correct run fail.
                    _ => None,
                };
                let Some(res) = res else {
                    self.stats.unknown += 1;
                    return;
                };
                self.stats.acked += 1;
                match res {
                    ZkRes::MultiOk { .. } => self.stats.multis_ok += 1,
                    ZkRes::MultiFailed { .. } => self.stats.multis_failed += 1,
                    _ => {}
                }
                let version = match res {
                    ZkRes::Written { version }
                    | ZkRes::MultiOk { version, .. }
                    | ZkRes::CasOk { version }
                    | ZkRes::Read { version, .. } => Some(version),
                    _ => None,
                };
                if let Some(v) = version {
                    if let Err(why) = cl.order.on_version(&path, v) {
                        self.obs
                            .violate(now, format!("session order: client {c}: {why}"));
                    }
                    if let Some(why) = watch_check(&cl.watches, &path, v) {
                        self.obs
                            .violate(now, format!("watch order: client {c}: {why}"));
                    }
                }
                if let Some(h) = self.history.get_mut(hop) {
                    h.complete = Some((now, res));
                }
            }
        }
    }

    fn on_to_server(&mut self, member: ServerId, inc: u64, conn: ConnId, msg: ToServer) {
        let now_ms = self.now_ms();
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        if m.inc != inc {
            return;
        }
        let Some(core) = m.core.as_mut() else {
            return;
        };
        match msg {
            ToServer::Connect(req) => core.connect(conn, req, now_ms),
            ToServer::Request(x, req) => core.request(conn, x, req, now_ms),
            ToServer::Close => core.conn_closed(conn),
        }
        self.drain(member);
    }

    pub fn start_clients(&mut self) {
        self.clients_active = true;
        for c in 0..self.config.clients {
            let d = self.rng.range(1, 100);
            self.set_timer(c, d);
        }
    }

    /// Runs until the setup creates are done (or `max_ms` passes).
    pub fn setup(&mut self, max_ms: u64) -> bool {
        self.set_timer(0, 1);
        let end = self.now + max_ms;
        while self.now < end {
            self.run_for(50);
            if self.clients[0].setup.is_empty() {
                return true;
            }
        }
        false
    }

    // ----- chaos -----

    pub fn start_chaos(&mut self) {
        self.chaos = true;
        let f = self.config.faults;
        if f.loss {
            self.net.loss = 0.05 + (self.rng.range(0, 20) as f64) / 100.0;
        }
        if f.duplicate {
            self.net.dup = 0.1;
        }
        if f.reorder {
            self.net.delay_max = 3 * ZAB_TICK_MS;
        }
        let d = self.rng.range(5 * ZAB_TICK_MS, 30 * ZAB_TICK_MS);
        self.schedule(d, Ev::Fault);
    }

    fn leader_now(&self) -> Option<ServerId> {
        self.members
            .values()
            .find(|m| {
                m.core
                    .as_ref()
                    .is_some_and(|c| c.zab().role() == Role::Leading)
            })
            .map(|m| m.id)
    }

    fn on_fault(&mut self) {
        if !self.chaos {
            return;
        }
        let f = self.config.faults;
        let mut kinds = Vec::new();
        if f.crash {
            kinds.extend([0, 3]);
        }
        if f.partition {
            kinds.push(1);
        }
        if f.asymmetric {
            kinds.push(2);
        }
        let ids = self.ids();
        let leader = self.leader_now();
        let target = if self.rng.chance(0.5) { leader } else { None }
            .or_else(|| self.rng.pick(&ids).copied());
        match self.rng.pick(&kinds).copied() {
            Some(0) => {
                if let Some(t) = target {
                    let cut = self.rng.chance(0.5);
                    self.crash(t, cut);
                    let d = self.rng.range(5 * ZAB_TICK_MS, 80 * ZAB_TICK_MS);
                    self.schedule(d, Ev::Restart(t));
                }
            }
            Some(1) => {
                let mut a: Vec<ServerId> = target.into_iter().collect();
                if self.rng.chance(0.3) {
                    if let Some(x) = self.rng.pick(&ids).copied() {
                        if !a.contains(&x) {
                            a.push(x);
                        }
                    }
                }
                let b: Vec<ServerId> = ids.iter().copied().filter(|x| !a.contains(x)).collect();
                self.partition(&a, &b);
                let pairs: Vec<(ServerId, ServerId)> = a
                    .iter()
                    .flat_map(|x| b.iter().flat_map(move |y| [(*x, *y), (*y, *x)]))
                    .collect();
                let d = self.rng.range(10 * ZAB_TICK_MS, 100 * ZAB_TICK_MS);
                self.schedule(d, Ev::Unblock(pairs));
            }
            Some(2) => {
                let mut pairs = Vec::new();
                if let Some(t) = target {
                    for y in &ids {
                        if *y != t && self.rng.chance(0.6) {
                            let p = if self.rng.chance(0.5) {
                                (t, *y)
                            } else {
                                (*y, t)
                            };
                            self.net.blocked.insert(p);
                            pairs.push(p);
                        }
                    }
                }
                self.stats.partitions += 1;
                let d = self.rng.range(10 * ZAB_TICK_MS, 100 * ZAB_TICK_MS);
                self.schedule(d, Ev::Unblock(pairs));
            }
            Some(3) => {
                // A power cut of the whole ensemble: every disk keeps only what was synced
                // (plus a random prefix of the rest).
                self.stats.power_cuts += 1;
                for v in ids {
                    self.crash(v, true);
                    let d = self.rng.range(2 * ZAB_TICK_MS, 40 * ZAB_TICK_MS);
                    self.schedule(d, Ev::Restart(v));
                }
            }
            _ => {}
        }
        let d = self.rng.range(10 * ZAB_TICK_MS, 60 * ZAB_TICK_MS);
        self.schedule(d, Ev::Fault);
    }

    // ----- the loop -----

    pub fn run_until(&mut self, until: u64) {
        while let Some((&(t, s), _)) = self.events.first_key_value() {
            if t > until {
                break;
            }
            let Some(ev) = self.events.remove(&(t, s)) else {
                break;
            };
            self.now = t;
            self.handle(ev);
        }
        self.now = until;
    }

    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        self.run_until(until);
    }

    fn handle(&mut self, ev: Ev) {
        let now_ms = self.now_ms();
        match ev {
            Ev::Tick(id) => {
                if let Some(core) = self.members.get_mut(&id).and_then(|m| m.core.as_mut()) {
                    core.tick(now_ms);
                }
                self.drain(id);
                self.schedule(ZAB_TICK_MS, Ev::Tick(id));
            }
            Ev::Peer {
                from,
                to,
                msg,
                conn,
            } => {
                if let Some(c) = conn {
                    if !self.net.is_current(from, to, c) {
                        return;
                    }
                }
                if let Some(t) = std::env::var("SIM_PTRACE")
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    if (t == to.0 || t == from.0) && !msg.is_election() {
                        let what = match &msg {
                            Message::Proposal(p) => format!("PROPOSAL {}", p.zxid),
                            Message::Inform(p) => format!("INFORM {}", p.zxid),
                            Message::Snap { zxid, .. } => format!("SNAP {zxid}"),
                            m => format!("{m:?}"),
                        };
                        eprintln!(
                            "t={} {from:?}->{to:?} {}",
                            self.now,
                            what.chars().take(160).collect::<String>()
                        );
                    }
                }
                if let Some(core) = self.members.get_mut(&to).and_then(|m| m.core.as_mut()) {
                    core.peer_message(from, msg, now_ms);
                    self.drain(to);
                }
            }
            Ev::Disconnected {
                member,
                peer,
                inc,
                conn,
            } => {
                self.net.noticed(&Notice {
                    member,
                    peer,
                    conn,
                    delay: 0,
                });
                let live = self.members.get(&member).is_some_and(|m| m.inc == inc);
                if live {
                    if let Some(core) = self.members.get_mut(&member).and_then(|m| m.core.as_mut())
                    {
                        core.peer_disconnected(peer, now_ms);
                    }
                    self.drain(member);
                }
            }
            Ev::StoreWrite { member, inc } => self.on_store_write(member, inc),
            Ev::StoreSync { member, inc, seq } => self.on_store_sync(member, inc, seq),
            Ev::ToServer {
                member,
                inc,
                conn,
                msg,
            } => self.on_to_server(member, inc, conn, msg),
            Ev::ToClient {
                client,
                conn,
                frame,
            } => self.on_client_frame(client, conn, frame),
            Ev::Client(c) => self.on_client_timer(c),
            Ev::Fault => self.on_fault(),
            Ev::Restart(id) => self.restart(id),
            Ev::Unblock(pairs) => {
                for p in pairs {
                    self.net.blocked.remove(&p);
                }
            }
        }
    }

    // ----- healing and the final checks -----

    /// One leader serving, everyone else following it, every member at the same zxid with
    /// nothing left in its store queue.
    pub fn converged(&self) -> Result<ServerId, String> {
        let mut leader = None;
        let mut zxid = None;
        for m in self.members.values() {
            let Some(core) = m.core.as_ref() else {
                return Err(format!("{:?} is down", m.id));
            };
            if !core.is_serving() {
                return Err(format!("{:?} is not serving", m.id));
            }
            if core.zab().role() == Role::Leading {
                if leader.is_some() {
                    return Err("two leaders".into());
                }
                leader = Some(m.id);
            }
            if m.store_busy {
                return Err(format!("{:?} is still writing", m.id));
            }
            let z = core.last_zxid();
            if zxid.is_some_and(|x| x != z) {
                return Err(format!("zxids differ ({:?} at {z})", m.id));
            }
            zxid = Some(z);
        }
        let leader = leader.ok_or_else(|| "no leader".to_string())?;
        for m in self.members.values() {
            if let Some(core) = m.core.as_ref() {
                if m.id != leader && core.zab().leader() != Some(leader) {
                    return Err(format!("{:?} follows {:?}", m.id, core.zab().leader()));
                }
            }
        }
        Ok(leader)
    }

    pub fn run_until_converged(&mut self, max_ms: u64) -> Result<ServerId, String> {
        let mut last = Err("not run".to_string());
        let end = self.now + max_ms;
        while self.now < end {
            self.run_for(ZAB_TICK_MS);
            last = self.converged();
            if last.is_ok() {
                return last;
            }
        }
        last
    }

    /// Stops faults and new operations, heals, lets in-flight operations finish or time
    /// out, requires convergence, then checks: identical trees and session tables on every
    /// member, every acknowledged create present, and linearizability of every znode's
    /// history closed by the healed state. Returns every violation seen in the run.
    pub fn heal_and_check(&mut self, liveness_ms: u64, lin_budget: usize) -> Vec<String> {
        self.chaos = false;
        self.clients_active = false;
        self.heal();
        self.restart_all();
        // Outstanding operations finish or time out (2/3 of the session timeout).
        self.run_for(SESSION_TIMEOUT_MS as u64);
        let now = self.now;
        match self.run_until_converged(liveness_ms) {
            Ok(leader) => self.check_healed(leader),
            Err(why) => {
                let states: Vec<String> = self
                    .members
                    .values()
                    .map(|m| match &m.core {
                        Some(c) => format!(
                            "  {} tree at {} store busy {}",
                            c.zab().summary(),
                            c.last_zxid(),
                            m.store_busy
                        ),
                        None => format!("  {:?} down", m.id),
                    })
                    .collect();
                self.obs.violate(
                    now,
                    format!(
                        "liveness: not converged {liveness_ms} ms after healing: {why}\n{}",
                        states.join("\n")
                    ),
                );
            }
        }
        let (v, path) = zk_model::check(&self.history, lin_budget);
        if v == Verdict::NotLinearizable {
            if let (Ok(file), Some(p)) = (std::env::var("SIM_DUMP"), path.as_ref()) {
                let lines: Vec<String> = self
                    .history
                    .iter()
                    .filter(|h| &h.path == p)
                    .map(|h| format!("{h:?}"))
                    .collect();
                let _ = std::fs::write(file, lines.join("\n"));
            }
            self.obs.violate(
                self.now,
                format!("linearizability: history of {path:?} is not linearizable"),
            );
        }
        self.lin = Some((v, path));
        self.obs.violations.clone()
    }

    fn check_healed(&mut self, leader: ServerId) {
        let now = self.now;
        let Some(lc) = self.core(leader) else {
            return;
        };
        let want = tree_digest(lc.tree());
        let want_sessions = lc.sessions().snapshot();
        let mut bad = Vec::new();
        for m in self.members.values() {
            let Some(core) = m.core.as_ref() else {
                continue;
            };
            let got = tree_digest(core.tree());
            if got != want {
                let diff = want
                    .iter()
                    .zip(got.iter())
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| format!("leader has {a}\n    {:?} has {b}", m.id))
                    .unwrap_or_else(|| format!("{} vs {} znodes", want.len(), got.len()));
                bad.push(format!(
                    "convergence: {:?}'s tree differs from leader {leader:?}'s:\n    {diff}",
                    m.id
                ));
            }
            let sessions = core.sessions().snapshot();
            if sessions != want_sessions {
                bad.push(format!(
                    "convergence: {:?}'s sessions {sessions:x?} differ from leader's {want_sessions:x?}",
                    m.id
                ));
            }
            if let Err(e) = core.tree().check_invariants() {
                bad.push(format!("{:?}: tree invariant: {e}", m.id));
            }
            // An ephemeral lives exactly as long as its session.
            for (owner, paths) in core.tree().sessions_with_ephemerals() {
                if core.sessions().get(SessionId(owner)).is_none() {
                    bad.push(format!(
                        "sessions: {:?} keeps ephemerals {paths:?} of session {owner:#x}, which is gone",
                        m.id
                    ));
                }
            }
        }
        // Durability of creates: every acknowledged sequential node exists.
        let children: BTreeSet<i64> = {
            let mut s = BTreeSet::new();
            lc.tree().walk(SEQ_PARENT, |p, _| {
                if p != SEQ_PARENT {
                    if let Some(n) = seq_of(p) {
                        s.insert(n);
                    }
                }
            });
            s
        };
        for h in &self.history {
            if let Some((_, ZkRes::Created { seq })) = h.complete {
                if !children.contains(&seq) {
                    bad.push(format!(
                        "durability: acknowledged create {SEQ_PARENT}/s-{seq:010} is gone"
                    ));
                }
            }
            if let Some((_, ZkRes::MultiOk { seq, .. })) = h.complete {
                let child = format!("{}/m-{seq:010}", h.path);
                if lc.tree().get(&child).is_none() {
                    bad.push(format!(
                        "durability: acknowledged multi's create {child} is gone"
                    ));
                }
            }
        }
        // Close every znode's history with its healed state, read after everything else.
        let mut finals = Vec::new();
        for i in 0..self.config.registers {
            let path = register(i);
            if let Some(n) = lc.tree().get(&path) {
                finals.push(ZkHOp {
                    client: u32::MAX,
                    path: path.clone(),
                    op: ZkOp::SyncRead,
                    invoke: now,
                    complete: Some((
                        now,
                        ZkRes::Read {
                            value: value_of(n.data()),
                            version: n.stat.version,
                        },
                    )),
                });
            }
        }
        for i in 0..self.config.registers {
            // The register's child counter: what its multis' creates moved.
            let path = register(i);
            if let Some(n) = lc.tree().get(&path) {
                finals.push(ZkHOp {
                    client: u32::MAX,
                    path,
                    op: ZkOp::ReadCounter,
                    invoke: now,
                    complete: Some((now, ZkRes::Counter(n.stat.cversion as i64))),
                });
            }
        }
        for k in 0..PLAIN_NODES {
            let path = format!("/d{k}");
            let exists = lc.tree().get(&path).is_some();
            finals.push(ZkHOp {
                client: u32::MAX,
                path,
                op: ZkOp::ReadExists,
                invoke: now,
                complete: Some((now, ZkRes::Exists(exists))),
            });
        }
        if let Some(n) = lc.tree().get(SEQ_PARENT) {
            finals.push(ZkHOp {
                client: u32::MAX,
                path: SEQ_PARENT.into(),
                op: ZkOp::ReadCounter,
                invoke: now,
                complete: Some((now, ZkRes::Counter(n.stat.cversion as i64))),
            });
        }
        self.history.extend(finals);
        for b in bad {
            self.obs.violate(now, b);
        }
    }
}

/// One seed's outcome.
#[derive(Debug)]
pub struct NodeOutcome {
    pub seed: u64,
    pub faults: FaultMix,
    pub stats: NodeStats,
    pub violations: Vec<String>,
    pub lin: Verdict,
    pub history_len: usize,
}

/// Chaos time per seed (ms of sim time).
pub const CHAOS_MS: u64 = 40_000;
/// Time allowed after healing for convergence.
pub const LIVENESS_MS: u64 = 30_000;
pub const LIN_BUDGET: usize = 300_000;

/// The config of a random seed: a random fault mix.
pub fn seed_config(seed: u64, voters: usize, observers: usize) -> NodeSimConfig {
    let mut rng = Rng::new(seed ^ 0x0DE5_5EED);
    let mut config = NodeSimConfig::new(seed, voters, observers);
    config.faults = FaultMix::random(&mut rng);
    config
}

pub fn run_seed(seed: u64, voters: usize, observers: usize) -> NodeOutcome {
    run_config(seed_config(seed, voters, observers))
}

/// One run: converge, create the znodes, chaos with clients, heal, check.
pub fn run_config(config: NodeSimConfig) -> NodeOutcome {
    let seed = config.seed;
    let faults = config.faults;
    let mut sim = NodeSim::new(config);
    let mut violations = Vec::new();
    if let Err(why) = sim.run_until_converged(20_000) {
        violations.push(format!(
            "liveness: the fresh ensemble never converged: {why}"
        ));
    } else if !sim.setup(20_000) {
        violations.push("liveness: the setup creates never finished".into());
    }
    if violations.is_empty() {
        sim.start_clients();
        sim.start_chaos();
        if std::env::var("SIM_TRACE").is_ok() {
            for _ in 0..CHAOS_MS / 1000 {
                sim.run_for(1000);
                let roles: Vec<String> = sim
                    .members
                    .values()
                    .map(|m| match &m.core {
                        Some(c) => format!("{:?}@{}", c.zab().role(), c.last_zxid()),
                        None => "down".into(),
                    })
                    .collect();
                eprintln!("t={} {roles:?} {:?}", sim.now, sim.stats);
            }
        } else {
            sim.run_for(CHAOS_MS);
        }
        violations = sim.heal_and_check(LIVENESS_MS, LIN_BUDGET);
    }
    NodeOutcome {
        seed,
        faults,
        stats: sim.stats.clone(),
        violations,
        lin: sim.lin.as_ref().map(|l| l.0).unwrap_or(Verdict::Unknown),
        history_len: sim.history.len(),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs seeds for `test` on a time budget (`SIM_SECONDS`, default `default_secs`), capped
/// by `SIM_SEEDS`; `SIM_SEED` replays one; `SIM_FIRST` shifts the range. Panics with the
/// replay command on the first failing seed.
pub fn run_many(test: &str, first_seed: u64, voters: usize, observers: usize, default_secs: u64) {
    if let Some(seed) = env_u64("SIM_SEED") {
        let o = run_seed(seed, voters, observers);
        println!(
            "{test}: seed {seed} faults {:?} stats {:?} lin {:?} history {}",
            o.faults.names(),
            o.stats,
            o.lin,
            o.history_len
        );
        assert!(
            o.violations.is_empty(),
            "seed {seed} violations:\n{}",
            o.violations.join("\n")
        );
        return;
    }
    let budget = std::time::Duration::from_secs(env_u64("SIM_SECONDS").unwrap_or(default_secs));
    let max = env_u64("SIM_SEEDS").unwrap_or(u64::MAX);
    let first_seed = first_seed + env_u64("SIM_FIRST").unwrap_or(0);
    let start = std::time::Instant::now();
    let mut ran = 0u64;
    let mut totals = NodeStats::default();
    let mut history = 0usize;
    let mut unknown_lin = 0u64;
    while ran < max && start.elapsed() < budget {
        let seed = first_seed + ran;
        let o = run_seed(seed, voters, observers);
        ran += 1;
        totals.add(&o.stats);
        history += o.history_len;
        if o.lin == Verdict::Unknown {
            unknown_lin += 1;
        }
        if !o.violations.is_empty() {
            panic!(
                "{test}: seed {seed} failed (faults {:?}):\n{}\nreplay: SIM_SEED={seed} cargo test -p sim --test node_random -- {test} --nocapture",
                o.faults.names(),
                o.violations.join("\n")
            );
        }
    }
    println!(
        "{test}: {ran} seeds in {:.1}s; history ops {history}; {totals:?}; linearizability inconclusive on {unknown_lin} seeds",
        start.elapsed().as_secs_f64()
    );
    assert!(ran > 0, "no seed ran");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_and_values_parse() {
        assert_eq!(seq_of("/q/s-0000000042"), Some(42));
        assert_eq!(seq_of("/q"), None);
        assert_eq!(value_of(Some(&7u64.to_be_bytes())), 7);
        assert_eq!(value_of(Some(b"")), 0);
        assert_eq!(value_of(None), 0);
    }

    #[test]
    fn newer_data_before_the_watch_event_is_caught() {
        let mut w = BTreeMap::new();
        assert_eq!(watch_check(&w, "/r0", 5), None);
        w.insert("/r0".to_string(), 3);
        assert_eq!(watch_check(&w, "/r0", 3), None);
        assert!(watch_check(&w, "/r0", 4).is_some());
    }

    #[test]
    fn snap_payload_round_trips() {
        let mut sim = NodeSim::new(NodeSimConfig::new(1, 1, 0));
        sim.run_until_converged(5_000)
            .expect("a single voter leads");
        let core = sim.core(ServerId(1)).expect("up");
        let (sessions, tree) = decode_snap(encode_snap(core)).expect("decodes");
        assert_eq!(sessions.len(), core.sessions().len());
        assert_eq!(tree_digest(&tree), tree_digest(core.tree()));
    }
}
