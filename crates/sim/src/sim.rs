//! The simulator: an ensemble of `Zab` members in one thread, driven from one seed.
//!
//! Owns simulated time (units; a zab tick every `TICK` units per member, offsets staggered),
//! the network, each member's disk and state machine, the clients and the fault injector.
//! It plays the driver's part of zab's IO contract exactly (drain after every input, persist
//! in seq order and report durability, TRUNC/SNAP rebuilds, snapshot hand-off, disconnects).
//!
//! Network model: `net` (shared with `node_sim`).
//!
//! Disk model: persist requests queue as unsynced; a store sync (after a random delay)
//! makes all queued requests durable and reports `persisted`. A crash keeps a random prefix
//! of the unsynced requests (they may have reached the disk) and loses the rest; a restart
//! rebuilds the member from what is durable, as the server does.
//!
//! Determinism: one splitmix64, BTreeMaps everywhere, events ordered by (time, sequence).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use jute::Zxid;
use zab::{Config, Ensemble, Message, Output, PersistOp, Proposal, Restored, Role, ServerId, Zab};

use crate::checkers::{
    self, durability, integrity, leadership, liveness, prefix_consistency, Observations,
};
use crate::kv::{self, Kv, Op, Res, Txn};
use crate::linearizability::HOp;
use crate::net::{pair, Net, Notice};
use crate::rng::Rng;

/// Time units per zab tick.
pub const TICK: u64 = 10;

/// Which faults a run injects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultMix {
    pub crash: bool,
    pub partition: bool,
    pub asymmetric: bool,
    pub loss: bool,
    pub duplicate: bool,
    pub reorder: bool,
    pub slow_disk: bool,
}

impl FaultMix {
    pub fn random(rng: &mut Rng) -> FaultMix {
        FaultMix {
            crash: rng.chance(0.6),
            partition: rng.chance(0.5),
            asymmetric: rng.chance(0.3),
            loss: rng.chance(0.4),
            duplicate: rng.chance(0.3),
            reorder: rng.chance(0.5),
            slow_disk: rng.chance(0.3),
        }
    }
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (on, n) in [
            (self.crash, "crash"),
            (self.partition, "partition"),
            (self.asymmetric, "asymmetric"),
            (self.loss, "loss"),
            (self.duplicate, "duplicate"),
            (self.reorder, "reorder"),
            (self.slow_disk, "slow-disk"),
        ] {
            if on {
                v.push(n);
            }
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub voters: usize,
    pub observers: usize,
    pub clients: u32,
    pub keys: u8,
    pub faults: FaultMix,
    pub ensemble: Ensemble,
    pub inflight_max: usize,
}

impl SimConfig {
    pub fn new(seed: u64, voters: usize, observers: usize) -> SimConfig {
        SimConfig {
            seed,
            voters,
            observers,
            clients: 3,
            keys: 2,
            faults: FaultMix::default(),
            ensemble: Ensemble {
                init_limit: 10,
                sync_limit: 5,
                // Small, so that catching up by SNAP happens often.
                committed_log_max: 20,
                finalize_wait: 1,
                notification_interval_min: 1,
                notification_interval_max: 8,
                ..Ensemble::default()
            },
            inflight_max: 8,
        }
    }
}

/// Counts for the runner's report.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub messages: u64,
    pub diffs: u64,
    pub truncs: u64,
    pub snaps: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub leaders: u64,
    pub acked: u64,
    pub unknown: u64,
}

#[derive(Debug)]
enum Pending {
    Op(PersistOp),
    Truncate(Zxid),
    Install(Zxid, usize),
}

/// A member's disk: what is durable, and the requests not yet synced.
#[derive(Debug, Default)]
pub struct Disk {
    pub accepted: u32,
    pub current: u32,
    /// A snapshot: its zxid and its index in `Sim::snapshots`.
    pub snapshot: Option<(Zxid, usize)>,
    /// Durable log entries after the snapshot.
    pub log: Vec<Proposal>,
    pending: VecDeque<(u64, Pending)>,
}

impl Disk {
    fn apply(&mut self, p: Pending) {
        match p {
            Pending::Op(PersistOp::Append(ps)) => self.log.extend(ps),
            Pending::Op(PersistOp::AcceptedEpoch(e)) => self.accepted = e,
            Pending::Op(PersistOp::CurrentEpoch(e)) => self.current = e,
            Pending::Truncate(z) => self.log.retain(|p| p.zxid <= z),
            Pending::Install(z, id) => {
                self.snapshot = Some((z, id));
                self.log.clear();
            }
        }
    }
}

pub struct Member {
    pub id: ServerId,
    pub zab: Option<Zab>,
    pub disk: Disk,
    pub kv: Kv,
    /// Everything the state machine applied, from the beginning: (zxid, txn hash).
    pub applied: Vec<(Zxid, u64)>,
    applied_txns: Vec<Bytes>,
    verified: usize,
    /// Bumped by each crash.
    pub inc: u64,
    sync_scheduled: bool,
}

impl Member {
    pub fn up(&self) -> bool {
        self.zab.is_some()
    }
    fn rebuild_kv(&mut self) {
        self.kv = Kv::default();
        for t in &self.applied_txns {
            self.kv.apply(t);
        }
    }
}

#[derive(Debug)]
enum Ev {
    Tick(ServerId),
    Msg {
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
    StoreSync {
        member: ServerId,
        inc: u64,
    },
    Client(u32),
    Fault,
    Restart(ServerId),
    Unblock(Vec<(ServerId, ServerId)>),
}

#[derive(Debug)]
struct Busy {
    hop: usize,
    member: ServerId,
    zxid: Zxid,
    inc: u64,
    deadline: u64,
}

#[derive(Debug)]
struct Client {
    seq: u32,
    busy: Option<Busy>,
}

pub struct Sim {
    pub config: SimConfig,
    pub rng: Rng,
    pub now: u64,
    pub members: BTreeMap<ServerId, Member>,
    voters: Vec<ServerId>,
    observers: Vec<ServerId>,
    events: BTreeMap<(u64, u64), Ev>,
    next_ev: u64,
    /// Peers' links (partitions, loss, duplication, delays, quorum connections).
    net: Net,
    disk_delay_max: u64,
    snapshots: Vec<Vec<(Zxid, u64, Bytes)>>,
    clients: Vec<Client>,
    clients_active: bool,
    waiting_ops: BTreeMap<(ServerId, Zxid), u32>,
    pub history: Vec<HOp>,
    pub obs: Observations,
    pub stats: Stats,
    /// Every DIFF/TRUNC/SNAP sent: (time, leader, learner, kind).
    pub syncs: Vec<(u64, ServerId, ServerId, &'static str)>,
    /// The linearizability verdict of `heal_and_check`.
    pub lin_verdict: Option<crate::linearizability::Verdict>,
    chaos: bool,
}

/// `SIM_TRACE=<id>` prints the messages a member receives and sends (debugging a seed).
fn trace_member() -> Option<u64> {
    std::env::var("SIM_TRACE").ok().and_then(|v| v.parse().ok())
}

fn short(m: &Message) -> String {
    match m {
        Message::Proposal(p) => format!("PROPOSAL {}", p.zxid),
        Message::Inform(p) => format!("INFORM {}", p.zxid),
        Message::Snap { zxid, .. } => format!("SNAP {zxid}"),
        other => format!("{other:?}"),
    }
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        let mut rng = Rng::new(config.seed);
        let voters: Vec<ServerId> = (1..=config.voters as u64).map(ServerId).collect();
        let observers: Vec<ServerId> = (0..config.observers as u64)
            .map(|i| ServerId(config.voters as u64 + 1 + i))
            .collect();
        let mut sim = Sim {
            rng: Rng::new(rng.next_u64()),
            config,
            now: 0,
            members: BTreeMap::new(),
            voters: voters.clone(),
            observers: observers.clone(),
            events: BTreeMap::new(),
            next_ev: 0,
            net: Net::new(3, 2 * TICK),
            disk_delay_max: 5,
            snapshots: Vec::new(),
            clients: Vec::new(),
            clients_active: false,
            waiting_ops: BTreeMap::new(),
            history: Vec::new(),
            obs: Observations::default(),
            stats: Stats::default(),
            syncs: Vec::new(),
            lin_verdict: None,
            chaos: false,
        };
        for id in voters.iter().chain(observers.iter()) {
            sim.members.insert(
                *id,
                Member {
                    id: *id,
                    zab: None,
                    disk: Disk::default(),
                    kv: Kv::default(),
                    applied: Vec::new(),
                    applied_txns: Vec::new(),
                    verified: 0,
                    inc: 0,
                    sync_scheduled: false,
                },
            );
            sim.start_member(*id);
            let offset = sim.rng.range(0, TICK - 1);
            sim.schedule(offset + 1, Ev::Tick(*id));
        }
        for _ in 0..sim.config.clients {
            sim.clients.push(Client { seq: 0, busy: None });
        }
        sim
    }

    fn schedule(&mut self, delay: u64, ev: Ev) {
        self.next_ev += 1;
        self.events.insert((self.now + delay, self.next_ev), ev);
    }

    pub fn ids(&self) -> Vec<ServerId> {
        self.members.keys().copied().collect()
    }

    /// (Re)starts a member from its durable disk.
    fn start_member(&mut self, id: ServerId) {
        let ens = Ensemble {
            observers: self.observers.clone(),
            seed: self.rng.next_u64(),
            ..self.config.ensemble.clone()
        };
        let config = Config {
            my_id: id,
            voters: self.voters.clone(),
            inflight_max: self.config.inflight_max,
        };
        let snaps = &self.snapshots;
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let mut applied = Vec::new();
        let mut txns = Vec::new();
        if let Some((_, sid)) = m.disk.snapshot {
            for (z, h, t) in &snaps[sid] {
                applied.push((*z, *h));
                txns.push(t.clone());
            }
        }
        for p in &m.disk.log {
            applied.push((p.zxid, kv::hash(&p.txn)));
            txns.push(p.txn.clone());
        }
        let last = applied.last().map(|e| e.0).unwrap_or(Zxid::ZERO);
        // The log after the snapshot, as the server recovers it.
        let n = m.disk.log.len();
        let keep = self.config.ensemble.committed_log_max.min(n);
        let tail: Vec<Proposal> = m.disk.log[n - keep..].to_vec();
        m.applied = applied;
        m.applied_txns = txns;
        m.verified = 0;
        m.rebuild_kv();
        let restored = Restored {
            accepted_epoch: m.disk.accepted.max(m.disk.current),
            current_epoch: m.disk.current,
            last_logged: last,
        };
        m.zab = Some(Zab::with_ensemble(config, ens, restored, tail));
        self.drain(id);
    }

    // ----- faults -----

    pub fn crash(&mut self, id: ServerId) {
        let keep_prefix = self.rng.next_u64();
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.zab.is_none() {
            return;
        }
        m.zab = None;
        m.inc += 1;
        m.sync_scheduled = false;
        // Some unsynced writes may have reached the disk; the rest are lost.
        let n = m.disk.pending.len() as u64;
        let keep = if n == 0 { 0 } else { keep_prefix % (n + 1) };
        let pending: Vec<_> = m.disk.pending.drain(..).collect();
        for (_, p) in pending.into_iter().take(keep as usize) {
            m.disk.apply(p);
        }
        self.stats.crashes += 1;
        let notices = self.net.crash(&mut self.rng, id);
        self.notify(notices);
        tracing::info!(t = self.now, ?id, "crash");
    }

    pub fn restart(&mut self, id: ServerId) {
        if self.members.get(&id).is_some_and(|m| !m.up()) {
            tracing::info!(t = self.now, ?id, "restart");
            self.start_member(id);
        }
    }

    /// Blocks both directions between the two groups.
    pub fn partition(&mut self, a: &[ServerId], b: &[ServerId]) {
        self.net.partition(a, b);
        self.stats.partitions += 1;
    }

    /// Blocks one direction only.
    pub fn block(&mut self, from: ServerId, to: ServerId) {
        self.net.blocked.insert((from, to));
    }

    pub fn heal(&mut self) {
        self.net.heal();
    }

    pub fn restart_all(&mut self) {
        for id in self.ids() {
            self.restart(id);
        }
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

    // ----- network -----

    fn send(&mut self, from: ServerId, to: ServerId, msg: Message) {
        self.stats.messages += 1;
        let kind = match &msg {
            Message::Diff { .. } => Some("DIFF"),
            Message::Trunc { .. } => Some("TRUNC"),
            Message::Snap { .. } => Some("SNAP"),
            _ => None,
        };
        if let Some(k) = kind {
            match k {
                "DIFF" => self.stats.diffs += 1,
                "TRUNC" => self.stats.truncs += 1,
                _ => self.stats.snaps += 1,
            }
            self.syncs.push((self.now, from, to, k));
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
                Ev::Msg {
                    from,
                    to,
                    msg,
                    conn,
                },
            );
        }
    }

    // ----- the driver's part of zab's IO contract -----

    fn drain(&mut self, id: ServerId) {
        loop {
            let Some(out) = self
                .members
                .get_mut(&id)
                .and_then(|m| m.zab.as_mut())
                .and_then(|z| z.poll_output())
            else {
                return;
            };
            self.on_output(id, out);
        }
    }

    fn on_output(&mut self, id: ServerId, out: Output) {
        let now = self.now;
        match out {
            Output::Persist { seq, op } => self.queue_persist(id, seq, Pending::Op(op)),
            Output::TruncateAfter { seq, zxid } => {
                let Some(m) = self.members.get_mut(&id) else {
                    return;
                };
                let pending_installs = m.disk.pending.iter().filter_map(|(_, p)| match p {
                    Pending::Install(z, _) => Some(*z),
                    _ => None,
                });
                let snap = m
                    .disk
                    .snapshot
                    .map(|s| s.0)
                    .into_iter()
                    .chain(pending_installs)
                    .max();
                if snap.is_some_and(|s| s > zxid) {
                    self.obs.violate(
                        now,
                        format!("{id:?} asked to truncate to {zxid}, below its snapshot"),
                    );
                }
                let cut = m.applied.partition_point(|e| e.0 <= zxid);
                let removed: Vec<_> = m.applied[cut..].to_vec();
                prefix_consistency::on_truncate(&mut self.obs, now, id, &removed, cut);
                if !removed.is_empty() {
                    m.applied.truncate(cut);
                    m.applied_txns.truncate(cut);
                    m.verified = m.verified.min(cut);
                }
                // The contract: the state machine is rebuilt from the log up to `zxid`, so
                // proposals logged but not delivered yet (no COMMIT seen) up to it are
                // applied now; they become binding at the next delivery, like a replayed log.
                let from = m.applied.last().map(|e| e.0).unwrap_or(Zxid::ZERO);
                let pending_appends = m.disk.pending.iter().flat_map(|(_, p)| match p {
                    Pending::Op(PersistOp::Append(ps)) => ps.as_slice(),
                    _ => &[],
                });
                let logged: Vec<Proposal> = m
                    .disk
                    .log
                    .iter()
                    .chain(pending_appends)
                    .filter(|p| p.zxid > from && p.zxid <= zxid)
                    .cloned()
                    .collect();
                let added = !logged.is_empty();
                for p in logged {
                    m.applied.push((p.zxid, kv::hash(&p.txn)));
                    m.applied_txns.push(p.txn);
                }
                if !removed.is_empty() || added {
                    m.rebuild_kv();
                }
                self.queue_persist(id, seq, Pending::Truncate(zxid));
            }
            Output::InstallSnapshot { seq, zxid, data } => {
                let Some(sid) = data
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                else {
                    self.obs.violate(now, "snapshot bytes unreadable".into());
                    return;
                };
                let sid = sid as usize;
                let Some(snap) = self.snapshots.get(sid) else {
                    return;
                };
                let Some(m) = self.members.get_mut(&id) else {
                    return;
                };
                m.applied = snap.iter().map(|(z, h, _)| (*z, *h)).collect();
                m.applied_txns = snap.iter().map(|(_, _, t)| t.clone()).collect();
                m.verified = 0;
                m.rebuild_kv();
                if m.applied.last().map(|e| e.0).unwrap_or(Zxid::ZERO) != zxid {
                    self.obs
                        .violate(now, format!("snapshot zxid mismatch on {id:?}"));
                }
                self.queue_persist(id, seq, Pending::Install(zxid, sid));
            }
            Output::Deliver(p) => self.on_deliver(id, p),
            Output::RoleChanged { role, epoch, .. } => {
                if role == Role::Leading {
                    self.stats.leaders += 1;
                    leadership::on_leading(&mut self.obs, now, epoch, id);
                }
            }
            Output::Send { to, msg } => self.send(id, to, msg),
            Output::SendSnapshot { to, up_to } => {
                let Some(m) = self.members.get(&id) else {
                    return;
                };
                if m.applied.last().map(|e| e.0).unwrap_or(Zxid::ZERO) != up_to {
                    self.obs.violate(
                        now,
                        format!("SendSnapshot at {up_to} but {id:?}'s state is elsewhere"),
                    );
                }
                let snap: Vec<(Zxid, u64, Bytes)> = m
                    .applied
                    .iter()
                    .zip(m.applied_txns.iter())
                    .map(|((z, h), t)| (*z, *h, t.clone()))
                    .collect();
                self.snapshots.push(snap);
                let sid = (self.snapshots.len() - 1) as u64;
                self.send(
                    id,
                    to,
                    Message::Snap {
                        zxid: up_to,
                        data: Bytes::copy_from_slice(&sid.to_be_bytes()),
                    },
                );
            }
            Output::Disconnect { peer } => {
                let notices = self.net.break_conn(&mut self.rng, pair(id, peer), &[peer]);
                self.notify(notices);
            }
            Output::FromLearner { .. } | Output::FromLeader(_) => {}
        }
    }

    fn queue_persist(&mut self, id: ServerId, seq: u64, p: Pending) {
        let slow = self.config.faults.slow_disk;
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.disk.pending.push_back((seq, p));
        if !m.sync_scheduled {
            m.sync_scheduled = true;
            let inc = m.inc;
            let max = if slow {
                self.disk_delay_max * 8
            } else {
                self.disk_delay_max
            };
            let d = self.rng.range(1, max);
            self.schedule(d, Ev::StoreSync { member: id, inc });
        }
    }

    fn on_store_sync(&mut self, id: ServerId, inc: u64) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.inc != inc || !m.up() {
            return;
        }
        m.sync_scheduled = false;
        let mut last = None;
        while let Some((seq, p)) = m.disk.pending.pop_front() {
            m.disk.apply(p);
            last = Some(seq);
        }
        if let (Some(seq), Some(z)) = (last, m.zab.as_mut()) {
            z.persisted(seq);
        }
        self.drain(id);
    }

    fn on_deliver(&mut self, id: ServerId, p: Proposal) {
        let now = self.now;
        let h = kv::hash(&p.txn);
        integrity::on_deliver(&mut self.obs, now, id, p.zxid, h);
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let res = m.kv.apply(&p.txn);
        m.applied.push((p.zxid, h));
        m.applied_txns.push(p.txn.clone());
        let mut verified = m.verified;
        prefix_consistency::on_deliver(&mut self.obs, now, id, &m.applied, &mut verified);
        if let Some(m) = self.members.get_mut(&id) {
            m.verified = verified;
        }
        if let Some(c) = self.waiting_ops.remove(&(id, p.zxid)) {
            self.complete(c, p.zxid, h, res);
        }
    }

    fn complete(&mut self, client: u32, zxid: Zxid, hash: u64, res: Option<Res>) {
        let now = self.now;
        let Some(cl) = self.clients.get_mut(client as usize) else {
            return;
        };
        let Some(b) = cl.busy.take() else { return };
        if b.zxid != zxid {
            cl.busy = Some(b);
            return;
        }
        let Some(res) = res else { return };
        if let Some(h) = self.history.get_mut(b.hop) {
            h.complete = Some((now + 1, res));
        }
        self.stats.acked += 1;
        if matches!(res, Res::Written | Res::Cas(true)) {
            durability::on_ack(&mut self.obs, now, zxid, hash);
        }
        let think = self.rng.range(1, 3 * TICK);
        self.schedule(think, Ev::Client(client));
    }

    // ----- clients -----

    fn leaders(&self) -> Vec<ServerId> {
        self.members
            .values()
            .filter(|m| {
                m.zab
                    .as_ref()
                    .is_some_and(|z| z.role() == Role::Leading && z.can_propose())
            })
            .map(|m| m.id)
            .collect()
    }

    fn on_client(&mut self, c: u32) {
        let now = self.now;
        let Some(cl) = self.clients.get(c as usize) else {
            return;
        };
        if let Some(b) = &cl.busy {
            let crashed = self.members.get(&b.member).map(|m| m.inc) != Some(b.inc);
            if now < b.deadline && !crashed {
                return;
            }
            // Timed out or its server crashed: the outcome stays unknown.
            self.waiting_ops.remove(&(b.member, b.zxid));
            if let Some(cl) = self.clients.get_mut(c as usize) {
                cl.busy = None;
            }
            self.stats.unknown += 1;
        }
        if !self.clients_active {
            return;
        }
        let leaders = self.leaders();
        let Some(&leader) = self.rng.pick(&leaders) else {
            let d = self.rng.range(TICK, 3 * TICK);
            self.schedule(d, Ev::Client(c));
            return;
        };
        let key = self.rng.range(0, self.config.keys.saturating_sub(1) as u64) as u8;
        let Some(cl) = self.clients.get_mut(c as usize) else {
            return;
        };
        cl.seq += 1;
        let seq = cl.seq;
        let value = ((c as u64 + 1) << 32) | seq as u64;
        let op = match self.rng.range(0, 9) {
            0..=3 => Op::Write { value },
            4..=5 => {
                let expected = self
                    .members
                    .get(&leader)
                    .map(|m| m.kv.get(key).1)
                    .unwrap_or(0);
                let expected = if self.rng.chance(0.3) {
                    expected + 1
                } else {
                    expected
                };
                Op::Cas { expected, value }
            }
            _ => Op::Read,
        };
        let txn = Txn {
            client: c,
            seq,
            key,
            op,
        }
        .encode();
        let h = kv::hash(&txn);
        let Some(z) = self.members.get_mut(&leader).and_then(|m| m.zab.as_mut()) else {
            return;
        };
        match z.propose(txn) {
            Ok(zxid) => {
                integrity::on_propose(&mut self.obs, now, zxid, h);
                let inc = self.members.get(&leader).map(|m| m.inc).unwrap_or(0);
                self.history.push(HOp {
                    client: c,
                    key,
                    op,
                    invoke: now,
                    complete: None,
                });
                let deadline = now + 60 * TICK;
                if let Some(cl) = self.clients.get_mut(c as usize) {
                    cl.busy = Some(Busy {
                        hop: self.history.len() - 1,
                        member: leader,
                        zxid,
                        inc,
                        deadline,
                    });
                }
                self.waiting_ops.insert((leader, zxid), c);
                self.schedule(60 * TICK, Ev::Client(c));
                self.drain(leader);
            }
            Err(_) => {
                self.drain(leader);
                let d = self.rng.range(1, 2 * TICK);
                self.schedule(d, Ev::Client(c));
            }
        }
    }

    pub fn start_clients(&mut self) {
        self.clients_active = true;
        for c in 0..self.config.clients {
            let d = self.rng.range(1, 2 * TICK);
            self.schedule(d, Ev::Client(c));
        }
    }

    pub fn stop_clients(&mut self) {
        self.clients_active = false;
    }

    /// Proposes a write of `value` to register 0 at member `id` (outside the client
    /// histories), if it can propose.
    pub fn write_at(&mut self, id: ServerId, value: u64) -> Option<Zxid> {
        let txn = Txn {
            client: u32::MAX,
            seq: value as u32,
            key: 0,
            op: Op::Write { value },
        }
        .encode();
        let h = kv::hash(&txn);
        let z = self.members.get_mut(&id)?.zab.as_mut()?.propose(txn).ok()?;
        integrity::on_propose(&mut self.obs, self.now, z, h);
        self.drain(id);
        Some(z)
    }

    /// The member leading and serving, if exactly one is.
    pub fn serving_leader(&self) -> Option<ServerId> {
        let l: Vec<ServerId> = self
            .members
            .values()
            .filter(|m| {
                m.zab
                    .as_ref()
                    .is_some_and(|z| z.role() == Role::Leading && z.is_serving())
            })
            .map(|m| m.id)
            .collect();
        match l.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// The last DIFF/TRUNC/SNAP a learner got.
    pub fn last_sync_to(&self, id: ServerId) -> Option<&'static str> {
        self.syncs.iter().rev().find(|s| s.2 == id).map(|s| s.3)
    }

    /// Heals everything, requires liveness (one leader, convergence, a probe write applied
    /// everywhere within the limits), then runs the final checks and the linearizability
    /// checker. Returns every violation seen during the run.
    pub fn heal_and_check(&mut self, liveness_ticks: u64, lin_budget: usize) -> Vec<String> {
        self.stop_chaos();
        self.stop_clients();
        self.heal();
        self.restart_all();
        let now = self.now;
        match self.run_until_converged(liveness_ticks) {
            Ok(_) => match self.propose_probe(self.config.seed) {
                Some(z) => {
                    if !self.run_until_applied(z, 100) {
                        self.obs.violate(
                            now,
                            format!("liveness: probe {z} not applied everywhere within 100 ticks"),
                        );
                    } else if let Err(why) = self.run_until_converged(50) {
                        self.obs
                            .violate(now, format!("liveness: diverged after the probe: {why}"));
                    }
                }
                None => self
                    .obs
                    .violate(now, "liveness: converged leader cannot propose".into()),
            },
            Err(why) => {
                let states: Vec<String> = self
                    .members
                    .values()
                    .map(|m| {
                        let applied = m.applied.last().map(|e| e.0);
                        let z = m
                            .zab
                            .as_ref()
                            .map(|z| z.summary())
                            .unwrap_or_else(|| format!("{:?} down", m.id));
                        format!("  {z} applied up to {applied:?}")
                    })
                    .collect();
                self.obs.violate(
                    now,
                    format!(
                        "liveness: not converged {liveness_ticks} ticks after healing: {why}\n{}",
                        states.join("\n")
                    ),
                )
            }
        }
        self.check_final();
        let (lin, key) = crate::linearizability::check(&self.history, lin_budget);
        self.lin_verdict = Some(lin);
        if lin == crate::linearizability::Verdict::NotLinearizable {
            self.obs.violate(
                self.now,
                format!("linearizability: key {key:?} history is not linearizable"),
            );
        }
        self.obs.violations.clone()
    }

    /// Proposes a txn at the current leader (outside the client histories).
    pub fn propose_probe(&mut self, tag: u64) -> Option<Zxid> {
        let leader = *self.leaders().first()?;
        let txn = Bytes::from(format!("probe-{tag}").into_bytes());
        let h = kv::hash(&txn);
        let z = self
            .members
            .get_mut(&leader)?
            .zab
            .as_mut()?
            .propose(txn)
            .ok()?;
        integrity::on_propose(&mut self.obs, self.now, z, h);
        self.drain(leader);
        Some(z)
    }

    // ----- faults at random -----

    /// Turns on the random fault injector for the chaos phase.
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
            self.net.delay_max = 3 * TICK;
        }
        let d = self.rng.range(5 * TICK, 30 * TICK);
        self.schedule(d, Ev::Fault);
    }

    pub fn stop_chaos(&mut self) {
        self.chaos = false;
        self.net.delay_max = 3;
    }

    fn current_leader(&self) -> Option<ServerId> {
        self.members
            .values()
            .find(|m| m.zab.as_ref().is_some_and(|z| z.role() == Role::Leading))
            .map(|m| m.id)
    }

    fn on_fault(&mut self) {
        if !self.chaos {
            return;
        }
        let f = self.config.faults;
        let mut kinds = Vec::new();
        if f.crash {
            kinds.push(0);
            kinds.push(3);
        }
        if f.partition {
            kinds.push(1);
        }
        if f.asymmetric {
            kinds.push(2);
        }
        let ids = self.ids();
        let leader = self.current_leader();
        let target = if self.rng.chance(0.5) { leader } else { None }
            .or_else(|| self.rng.pick(&ids).copied());
        match self.rng.pick(&kinds).copied() {
            Some(0) => {
                if let Some(t) = target {
                    self.crash(t);
                    let d = self.rng.range(5 * TICK, 80 * TICK);
                    self.schedule(d, Ev::Restart(t));
                }
            }
            Some(1) => {
                let mut a = Vec::new();
                if let Some(t) = target {
                    a.push(t);
                }
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
                let d = self.rng.range(10 * TICK, 100 * TICK);
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
                            self.block(p.0, p.1);
                            pairs.push(p);
                        }
                    }
                }
                self.stats.partitions += 1;
                let d = self.rng.range(10 * TICK, 100 * TICK);
                self.schedule(d, Ev::Unblock(pairs));
            }
            Some(3) => {
                // A power cut: several members at the same instant, each losing its
                // unsynced writes (the leader among them half of the time).
                let n = self.rng.range(2, ids.len() as u64) as usize;
                let mut victims: Vec<ServerId> = target.into_iter().collect();
                while victims.len() < n {
                    if let Some(x) = self.rng.pick(&ids).copied() {
                        if !victims.contains(&x) {
                            victims.push(x);
                        }
                    }
                }
                for v in victims {
                    self.crash(v);
                    let d = self.rng.range(2 * TICK, 40 * TICK);
                    self.schedule(d, Ev::Restart(v));
                }
            }
            _ => {}
        }
        let d = self.rng.range(10 * TICK, 60 * TICK);
        self.schedule(d, Ev::Fault);
    }

    // ----- the loop -----

    /// Runs every event up to time `until`.
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

    pub fn run_ticks(&mut self, ticks: u64) {
        let until = self.now + ticks * TICK;
        self.run_until(until);
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Tick(id) => {
                if let Some(z) = self.members.get_mut(&id).and_then(|m| m.zab.as_mut()) {
                    z.tick();
                }
                self.drain(id);
                self.schedule(TICK, Ev::Tick(id));
            }
            Ev::Msg {
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
                if trace_member() == Some(to.0)
                    || (trace_member() == Some(from.0) && !msg.is_election())
                {
                    eprintln!("t={} {:?}->{:?} {:?}", self.now, from, to, short(&msg));
                }
                if let Some(z) = self.members.get_mut(&to).and_then(|m| m.zab.as_mut()) {
                    z.step(from, msg);
                    self.drain(to);
                }
            }
            Ev::Disconnected {
                member,
                peer,
                inc,
                conn,
            } => {
                if trace_member() == Some(member.0) {
                    eprintln!("t={} {:?} disconnected from {:?}", self.now, member, peer);
                }
                self.net.noticed(&Notice {
                    member,
                    peer,
                    conn,
                    delay: 0,
                });
                let live = self.members.get(&member).is_some_and(|m| m.inc == inc);
                if live {
                    if let Some(z) = self.members.get_mut(&member).and_then(|m| m.zab.as_mut()) {
                        z.disconnected(peer);
                    }
                    self.drain(member);
                }
            }
            Ev::StoreSync { member, inc } => self.on_store_sync(member, inc),
            Ev::Client(c) => self.on_client(c),
            Ev::Fault => self.on_fault(),
            Ev::Restart(id) => self.restart(id),
            Ev::Unblock(pairs) => {
                for p in pairs {
                    self.net.blocked.remove(&p);
                }
            }
        }
    }

    // ----- views for checks -----

    pub fn views(&self) -> Vec<liveness::View<'_>> {
        self.members
            .values()
            .map(|m| liveness::View {
                id: m.id,
                up: m.up(),
                role: m.zab.as_ref().map(|z| z.role()).unwrap_or(Role::Looking),
                serving: m.zab.as_ref().is_some_and(|z| z.is_serving()),
                leader: m.zab.as_ref().and_then(|z| z.leader()),
                epoch: m.zab.as_ref().map(|z| z.current_epoch()).unwrap_or(0),
                applied: &m.applied,
            })
            .collect()
    }

    pub fn converged(&self) -> Result<ServerId, String> {
        liveness::converged(&self.views())
    }

    pub fn leader(&self) -> Option<ServerId> {
        self.converged().ok()
    }

    /// Runs tick by tick until converged, at most `max_ticks`.
    pub fn run_until_converged(&mut self, max_ticks: u64) -> Result<ServerId, String> {
        let mut last = Err("not run".to_string());
        for _ in 0..max_ticks {
            self.run_ticks(1);
            last = self.converged();
            if last.is_ok() {
                return last;
            }
        }
        last
    }

    /// Runs until every member applied `zxid`, at most `max_ticks`.
    pub fn run_until_applied(&mut self, zxid: Zxid, max_ticks: u64) -> bool {
        for _ in 0..max_ticks {
            if self
                .members
                .values()
                .all(|m| m.applied.binary_search_by(|e| e.0.cmp(&zxid)).is_ok())
            {
                return true;
            }
            self.run_ticks(1);
        }
        false
    }

    /// The final checks over everything observed.
    pub fn check_final(&mut self) {
        let now = self.now;
        checkers::primary_order::check(&mut self.obs, now);
        let members: Vec<(ServerId, Vec<(Zxid, u64)>)> = self
            .members
            .values()
            .map(|m| (m.id, m.applied.clone()))
            .collect();
        let refs: Vec<(ServerId, &[(Zxid, u64)])> =
            members.iter().map(|(i, a)| (*i, a.as_slice())).collect();
        durability::check_final(&mut self.obs, now, &refs);
    }

    pub fn member(&self, id: ServerId) -> Option<&Member> {
        self.members.get(&id)
    }

    pub fn zab(&self, id: ServerId) -> Option<&Zab> {
        self.members.get(&id).and_then(|m| m.zab.as_ref())
    }
}
