//! ZooKeeper Atomic Broadcast as a sans-IO state machine: fast leader election, discovery,
//! synchronisation and broadcast for an ensemble of voters and observers. A one-voter
//! ensemble (standalone mode) is the same machine: it elects itself at once.
//!
//! `Zab` never sleeps, spawns, reads a clock, draws OS randomness or touches a socket or a
//! file: inputs are method calls, outputs are drained with `poll_output`. Time is `tick()`;
//! randomness (election back-off jitter) comes from `Ensemble::seed`. To Zab a transaction is
//! opaque bytes with a zxid, and a snapshot is opaque bytes with a zxid.
//!
//! # Inputs
//! - `step(from, msg)`: a message from a peer (election port or quorum connection).
//! - `disconnected(peer)`: the quorum connection to `peer` broke (EOF, error, closed). Zab
//!   knows one quorum connection per peer: report only the current one's end, never that of
//!   a connection already replaced by a newer one with the same peer.
//! - `tick()`: one tick passed (`tickTime`); every timeout is a count of ticks.
//! - `persisted(seq)`: everything up to and including persist request `seq` is durable.
//! - `propose(txn)` (leader), `to_leader(packet)` (learner), `to_learner(to, packet)` (leader).
//!
//! # The IO contract, in order
//! 1. After any input, drain `poll_output` until it returns `None`, and act on the outputs in
//!    the order they come (sends on one connection stay in that order).
//! 2. `Persist { seq, op }`, `TruncateAfter { seq, zxid }`, `InstallSnapshot { seq, .. }` are
//!    one sequence of persist requests: apply them in `seq` order; once a request and every
//!    earlier one is durable (fsynced; epoch files via tmp + fsync + rename), call
//!    `persisted(seq)`. Never acknowledge a request that failed. Durability follows the same
//!    order: a crash may lose a suffix of the requests, never an earlier one while a later
//!    one survives — so an epoch file (durable once written) must wait until the appends
//!    before it are fsynced. Zab gates everything that
//!    promises durability on this: ACKEPOCH waits for AcceptedEpoch, the NEWLEADER ACK for
//!    CurrentEpoch and the synced history, each proposal's ACK (and the leader's own vote)
//!    for its Append.
//!    - `TruncateAfter { zxid }`: cut the log after `zxid`, then rebuild the state machine
//!      from the log up to `zxid` (ZooKeeper reloads its database after TRUNC).
//!    - `InstallSnapshot { zxid, data }`: replace the state machine by the snapshot, make it
//!      durable (a snapshot file), and discard every logged entry: the log restarts after
//!      `zxid`.
//! 3. `Deliver(proposal)`: apply it. Deliveries are committed (durable on a quorum of voters),
//!    locally durable, and in strictly increasing zxid order, continuing from the state the
//!    driver's state machine has (the replayed log at start, after a truncation or a
//!    snapshot install).
//! 4. `Send { to, msg }`: `msg.is_election()` goes on the election port (loss tolerated),
//!    anything else on the quorum connection with `to` (a learner dials its leader on its
//!    first quorum message; a leader accepts). One `Message` is one `QuorumPacket` or
//!    `Notification` (see `message.rs` for field mapping).
//! 5. `SendSnapshot { to, up_to }` (leader): serialise the state machine now — it is exactly at
//!    `up_to`, the last `Deliver` before this output — and send it to `to` as
//!    `Message::Snap { zxid: up_to, data }` in this position of that connection's stream.
//! 6. `Disconnect { peer }`: close the quorum connection with `peer` (its end then calls
//!    `disconnected`). Zab is done with it.
//! 7. `RoleChanged { role, .. }`: this member starts serving in `role` (`Leading` once a quorum
//!    acknowledged NEWLEADER; `Following`/`Observing` at UPTODATE) or stops (`Looking`).
//! 8. `FromLearner { from, packet }` (leader) / `FromLeader(packet)` (learner): pass-through
//!    payloads (forwarded requests, revalidation, session touches, sync answers) for the node.
//!
//! # Wiring an ensemble member (for the node/server owner)
//! - Construct with `Zab::with_ensemble(config, ensemble, restored, log_tail)`; `Zab::new` is
//!   the standalone shorthand (default `Ensemble`, no tail).
//! - Message ↔ `jute::quorum`: `Message::packet_type()` gives the `QuorumPacket` type; the
//!   variant docs in `message.rs` give zxid and data. `Notification` ↔ `jute::quorum::Notification`
//!   (`state` via `PeerState::code`, `round` = electionEpoch, config text is the driver's).
//!   FOLLOWERINFO/OBSERVERINFO carry `LearnerInfo` and NEWLEADER the config text: the driver
//!   fills/ignores them; zab needs only the epochs.
//! - Pass-through: a learner's node sends forwarded writes, revalidations and session touches
//!   with `to_leader(LearnerPacket)`; the leader's node gets them as `FromLearner`. The leader's
//!   node answers with `to_learner(to, LeaderPacket)` (REVALIDATE, SYNC), the learner's node gets
//!   `FromLeader`. Both fail with `NotConnected` when there is no serving connection.
//! - Observers are listed in `Ensemble::observers` (and not in `Config::voters`) on every member.
//!
//! At start, the driver restores the durable epochs and log (`Restored`, plus the log tail for
//! `with_ensemble`) and replays the whole log into its state machine; zab takes that state as
//! delivered. An uncommitted tail replayed this way is either committed by the next leader or
//! truncated (step 2) before this member serves again.
//!
//! Invariants (`invariants()`, checked after every input in debug builds): logged zxids
//! strictly increase; delivered ≤ committed ≤ last logged; current epoch ≤ accepted epoch;
//! exactly one role with its state (leader state iff Leading, learner state iff
//! Following/Observing).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use jute::Zxid;

mod broadcast;
mod discovery;
pub mod election;
pub mod message;
pub mod quorum;
mod sync;

#[cfg(test)]
mod tests;

pub use election::vote_is_better;
pub use message::{LeaderPacket, LearnerPacket, Message, Notification, PeerState, Vote};

use discovery::Leader;
use election::Election;
use sync::Learner;

/// A member's id: ZooKeeper's myid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId(pub u64);

/// A transaction with the zxid the leader gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub zxid: Zxid,
    pub txn: Bytes,
}

/// A leader's learners as `mntr` reports them (ZooKeeper's zk_learners, zk_synced_followers,
/// zk_synced_observers, zk_pending_syncs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LearnerCounts {
    /// Learners with a quorum connection (synced or not), followers and observers.
    pub learners: usize,
    /// Followers past NEWLEADER: they count toward commits.
    pub synced_followers: usize,
    /// Observers past NEWLEADER: they get INFORMs.
    pub synced_observers: usize,
    /// Synced followers that are not in the voting view (zk_synced_non_voting_followers):
    /// counted in `synced_followers` too, as ZooKeeper does.
    pub synced_non_voting_followers: usize,
    /// Zxids that learners' forwarded client `sync`s wait on to commit (ZooKeeper's
    /// `Leader.getNumPendingSyncs`).
    pub pending_syncs: usize,
}

/// Protocol event counters for `mntr` (ZooKeeper's ServerMetrics counters of the same
/// names). They only count; nothing in the protocol reads them. `srst` clears them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZabMetrics {
    /// Elections started (zk_looking_count); a one-voter ensemble never looks.
    pub looking_count: u64,
    /// Leader: proposals made (zk_proposal_count).
    pub proposal_count: u64,
    /// Leader: proposals committed by a quorum (zk_commit_count).
    pub commit_count: u64,
    /// Leader: learners synced by DIFF or TRUNC (zk_diff_count).
    pub diff_count: u64,
    /// Leader: learners synced by SNAP (zk_snap_count).
    pub snap_count: u64,
    /// Follower: PROPOSALs received from the leader (zk_learner_proposal_received_count).
    pub learner_proposal_received: u64,
    /// Learner: COMMITs (follower) and INFORMs (observer) received
    /// (zk_learner_commit_received_count).
    pub learner_commit_received: u64,
}

/// A sequence number for persist requests; `persisted(seq)` acknowledges all up to `seq`.
pub type PersistSeq = u64;

/// Durable writes of the one-voter core and of the ensemble. (Log truncation and snapshot
/// installs are their own outputs, `Output::TruncateAfter` and `Output::InstallSnapshot`,
/// sharing the same `seq` sequence, so drivers that predate the ensemble keep compiling.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistOp {
    Append(Vec<Proposal>),
    AcceptedEpoch(u32),
    CurrentEpoch(u32),
}

/// What this member is, as FLE's `ServerState` (Zab.tla: the role).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Looking,
    Following,
    Leading,
    Observing,
}

/// Where this member is in the protocol (Zab.tla's phases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Election,
    Discovery,
    Synchronization,
    Broadcast,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Make durable, then `persisted(seq)`.
    Persist { seq: PersistSeq, op: PersistOp },
    /// Cut the log after `zxid` durably, rebuild the state machine up to it, then
    /// `persisted(seq)`.
    TruncateAfter { seq: PersistSeq, zxid: Zxid },
    /// Replace state machine and log by this snapshot durably, then `persisted(seq)`.
    InstallSnapshot {
        seq: PersistSeq,
        zxid: Zxid,
        data: Bytes,
    },
    /// Committed: apply in this order.
    Deliver(Proposal),
    /// Started serving in `role` (leader known), or stopped (`Looking`).
    RoleChanged {
        role: Role,
        epoch: u32,
        leader: Option<ServerId>,
    },
    /// Send to a peer (election port or quorum connection: `msg.is_election()`).
    Send { to: ServerId, msg: Message },
    /// Leader: serialise the state machine (it is at `up_to`) and send `Message::Snap`.
    SendSnapshot { to: ServerId, up_to: Zxid },
    /// Close the quorum connection with `peer`.
    Disconnect { peer: ServerId },
    /// Leader: a pass-through payload from a learner.
    FromLearner {
        from: ServerId,
        packet: LearnerPacket,
    },
    /// Learner: a pass-through payload from the leader.
    FromLeader(LeaderPacket),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposeError {
    /// This member cannot order writes now (not leading, or its epoch is not established).
    NotLeader,
    /// Too many proposals in flight: the caller should apply backpressure and retry later.
    Busy,
    /// The epoch's 32-bit counter is exhausted; this leader steps down for a new epoch.
    ZxidExhausted,
}

/// `to_leader` / `to_learner` could not route the payload: no serving connection to that
/// peer now (or its buffer is full). The caller fails or retries the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotConnected;

/// Configuration fixed when the member starts (the part the one-voter core always had).
#[derive(Debug, Clone)]
pub struct Config {
    pub my_id: ServerId,
    /// The voting members, this one included unless it is an observer.
    pub voters: Vec<ServerId>,
    /// Bound on proposals proposed but not yet committed (backpressure).
    pub inflight_max: usize,
}

/// The ensemble's settings beyond `Config`: observers, time limits (in ticks), the DIFF
/// window and the seed. `Default` matches ZooKeeper's defaults for a 2 s tick.
#[derive(Debug, Clone)]
pub struct Ensemble {
    /// Observers: they learn committed txns (INFORM), never vote, never count in quorums.
    pub observers: Vec<ServerId>,
    /// initLimit: ticks a leader may take to establish its epoch (each of: a quorum of
    /// FOLLOWERINFO, of ACKEPOCH, of NEWLEADER ACKs), and a learner to get synced.
    pub init_limit: u64,
    /// syncLimit: ticks of silence after which a leader drops a learner (and steps down
    /// without a quorum) and a learner gives up its leader.
    pub sync_limit: u64,
    /// Committed proposals kept in memory to serve DIFF (ZooKeeper's commitLogCount, 500).
    /// A learner further behind gets SNAP.
    pub committed_log_max: usize,
    /// FLE finalizeWait in ticks: how long a quorum for our vote must stay unchallenged.
    pub finalize_wait: u64,
    /// FLE re-send interval bounds in ticks (doubling from min to max).
    pub notification_interval_min: u64,
    pub notification_interval_max: u64,
    /// Seeds the jitter of election re-sends (no OS randomness inside zab).
    pub seed: u64,
}

impl Default for Ensemble {
    fn default() -> Ensemble {
        Ensemble {
            observers: Vec::new(),
            init_limit: 10,
            sync_limit: 5,
            committed_log_max: 500,
            finalize_wait: 1,
            notification_interval_min: 1,
            // 60 s in 2 s ticks (ZooKeeper's maxNotificationInterval).
            notification_interval_max: 30,
            seed: 0,
        }
    }
}

/// What the store recovered: the durable epochs and the last logged zxid.
#[derive(Debug, Clone, Copy, Default)]
pub struct Restored {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    pub last_logged: Zxid,
}

/// Bound on session-touch bytes a learner buffers between pings.
const TOUCHES_MAX_BYTES: usize = 512 * 1024;

/// This member's view of its log and how far it got.
///
/// Invariants: `entries` strictly increase, all above `base`, the last is `last_logged`
/// (or `base == last_logged` when empty); `base ≤ delivered ≤ committed ≤ last_logged`;
/// every entry above `delivered` is in `entries` (so it can be delivered); at most
/// `committed_log_max` delivered entries are kept (the DIFF window).
#[derive(Debug)]
struct Log {
    base: Zxid,
    entries: VecDeque<Proposal>,
    last_logged: Zxid,
    /// Highest zxid known durable in the current log.
    durable: Zxid,
    /// Highest zxid known committed (at start: the replayed log, see the module doc).
    committed: Zxid,
    /// The driver's state machine is at this zxid.
    delivered: Zxid,
}

impl Log {
    fn index_after(&self, zxid: Zxid) -> usize {
        self.entries.partition_point(|p| p.zxid <= zxid)
    }
    fn contains(&self, zxid: Zxid) -> bool {
        zxid == self.base || self.entries.binary_search_by(|p| p.zxid.cmp(&zxid)).is_ok()
    }
    /// The greatest known zxid below `zxid` (`base` if none in memory).
    fn last_before(&self, zxid: Zxid) -> Zxid {
        let i = self.entries.partition_point(|p| p.zxid < zxid);
        if i == 0 {
            self.base
        } else {
            self.entries[i - 1].zxid
        }
    }
    fn after(&self, zxid: Zxid) -> impl Iterator<Item = &Proposal> {
        self.entries.range(self.index_after(zxid)..)
    }
    fn uncommitted(&self) -> usize {
        self.entries.len() - self.index_after(self.committed)
    }
}

/// A persist request zab waits on. `inc` is the incarnation (see `Zab::incarnation`) that
/// asked, so a completion never acts for a leader or learner session that has since ended.
#[derive(Debug)]
enum Waiting {
    Append { last: Zxid, ack: Option<u64> },
    Truncate,
    Snapshot { zxid: Zxid },
    AcceptedEpoch { epoch: u32, inc: u64 },
    CurrentEpoch { epoch: u32, inc: u64 },
}

pub struct Zab {
    config: Config,
    ensemble: Ensemble,
    rng: u64,
    /// Ticks since start.
    now: u64,
    role: Role,
    phase: Phase,
    /// Invariant: current_epoch ≤ accepted_epoch. `accepted_epoch` is raised when its
    /// persist is requested (so nothing older is accepted meanwhile); `current_epoch` once
    /// its persist is durable (it is what ACKEPOCH and votes report).
    accepted_epoch: u32,
    current_epoch: u32,
    log: Log,
    /// The lowest zxid the driver can rebuild its state machine to (its snapshot): the
    /// first restored tail entry's predecessor, or an installed snapshot. A TRUNC below it
    /// cannot be obeyed; the member asks for SNAP instead (`force_snap`).
    floor: Zxid,
    /// Report `Zxid::NONE` as our last zxid in ACKEPOCH, so the leader sends SNAP.
    force_snap: bool,
    next_seq: PersistSeq,
    waiting: VecDeque<(PersistSeq, Waiting)>,
    /// Bumped by every role change: the identity of a leader/learner session.
    incarnation: u64,
    /// Whether `RoleChanged` announced serving (so stopping is announced once).
    serving: bool,
    election: Election,
    leader: Option<Leader>,
    learner: Option<Learner>,
    /// FOLLOWERINFO/OBSERVERINFO that arrived while we were still electing (the learner
    /// decided first): replayed if we lead, refused if we do not.
    stashed_infos: BTreeMap<ServerId, (u32, bool)>,
    outputs: VecDeque<Output>,
    metrics: ZabMetrics,
}

impl Zab {
    /// A member with default ensemble settings and no log tail in memory (standalone: a
    /// one-voter `voters == [my_id]` leads at once in a new epoch).
    pub fn new(config: Config, restored: Restored) -> Zab {
        Zab::with_ensemble(config, Ensemble::default(), restored, Vec::new())
    }

    /// A member of an ensemble. `log_tail` is the durable log's last entries after the
    /// latest snapshot (up to `committed_log_max`, ending at `restored.last_logged`), so that
    /// as a leader it can serve DIFF; an empty or inconsistent tail only means learners
    /// behind get SNAP. A TRUNC below the tail's first entry (below what the driver can
    /// rebuild) is not obeyed: this member then asks its leader for SNAP.
    pub fn with_ensemble(
        config: Config,
        ensemble: Ensemble,
        restored: Restored,
        log_tail: Vec<Proposal>,
    ) -> Zab {
        assert!(
            restored.current_epoch <= restored.accepted_epoch,
            "currentEpoch {} is above acceptedEpoch {}",
            restored.current_epoch,
            restored.accepted_epoch
        );
        let last = restored.last_logged;
        let tail_ok = log_tail.last().map(|p| p.zxid) == Some(last)
            && log_tail.windows(2).all(|w| w[0].zxid < w[1].zxid);
        let (base, entries) = if tail_ok {
            // Within an epoch zxids are contiguous, so the entry before the first is its
            // counter minus one (counter 0 — "no txn" — when the tail starts an epoch; no
            // learner has that as its last zxid, so it only ever means "not in memory").
            let base = Zxid(log_tail[0].zxid.0 - 1).max(Zxid::ZERO);
            (base, log_tail.into_iter().collect())
        } else {
            (last, VecDeque::new())
        };
        let rng = ensemble.seed ^ (config.my_id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut zab = Zab {
            election: Election::new(config.my_id, last, restored.current_epoch),
            config,
            ensemble,
            rng,
            now: 0,
            role: Role::Looking,
            phase: Phase::Election,
            accepted_epoch: restored.accepted_epoch,
            current_epoch: restored.current_epoch,
            log: Log {
                base,
                entries,
                last_logged: last,
                durable: last,
                committed: last,
                delivered: last,
            },
            floor: base,
            force_snap: false,
            next_seq: 1,
            waiting: VecDeque::new(),
            incarnation: 0,
            serving: false,
            leader: None,
            learner: None,
            stashed_infos: BTreeMap::new(),
            outputs: VecDeque::new(),
            metrics: ZabMetrics::default(),
        };
        zab.start_election();
        zab.debug_check();
        zab
    }

    // ----- getters -----

    pub fn my_id(&self) -> ServerId {
        self.config.my_id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn current_epoch(&self) -> u32 {
        self.current_epoch
    }
    pub fn accepted_epoch(&self) -> u32 {
        self.accepted_epoch
    }
    /// Highest zxid known committed.
    pub fn last_committed(&self) -> Zxid {
        self.log.committed
    }
    /// The zxid the driver's state machine is at (last delivered or restored).
    pub fn last_delivered(&self) -> Zxid {
        self.log.delivered
    }
    /// Highest zxid in the log (durable or not).
    pub fn last_proposed(&self) -> Zxid {
        self.log.last_logged
    }
    pub fn last_logged(&self) -> Zxid {
        self.log.last_logged
    }
    /// Proposals logged but not yet committed.
    pub fn inflight(&self) -> usize {
        self.log.uncommitted()
    }
    /// The leader this member serves under (itself when leading), once serving.
    pub fn leader(&self) -> Option<ServerId> {
        if !self.serving {
            return None;
        }
        match self.role {
            Role::Leading => Some(self.config.my_id),
            Role::Following | Role::Observing => self.learner.as_ref().map(|l| l.leader),
            Role::Looking => None,
        }
    }
    /// Leading: the learners (for `mntr`); `None` otherwise.
    pub fn learner_counts(&self) -> Option<LearnerCounts> {
        let l = self.leader.as_ref()?;
        let synced = |h: &&discovery::Handler| {
            matches!(
                h.stage,
                discovery::Stage::NewLeaderAcked | discovery::Stage::Broadcast
            )
        };
        Some(LearnerCounts {
            learners: l.handlers.len(),
            synced_followers: l
                .handlers
                .values()
                .filter(|h| !h.observer)
                .filter(synced)
                .count(),
            synced_observers: l
                .handlers
                .values()
                .filter(|h| h.observer)
                .filter(synced)
                .count(),
            synced_non_voting_followers: l
                .handlers
                .iter()
                .filter(|(id, h)| !h.observer && !self.config.voters.contains(id))
                .filter(|(_, h)| synced(h))
                .count(),
            // ZooKeeper counts the zxids that forwarded syncs wait for (its pendingSyncs map's
            // keys), not the syncs; the queue is in zxid order, so count the runs.
            pending_syncs: {
                let mut waited_for: Vec<Zxid> = l.pending_syncs.iter().map(|s| s.1).collect();
                waited_for.dedup();
                waited_for.len()
            },
        })
    }
    /// Protocol event counters (`mntr`).
    pub fn metrics(&self) -> &ZabMetrics {
        &self.metrics
    }
    /// `srst`: clears the event counters.
    pub fn reset_metrics(&mut self) {
        self.metrics = ZabMetrics::default();
    }
    /// The number of voters (ZooKeeper's zk_quorum_size).
    pub fn voter_count(&self) -> usize {
        self.config.voters.len()
    }
    /// True when this member may answer clients (Broadcast phase).
    pub fn is_serving(&self) -> bool {
        self.serving
    }
    /// The current FLE vote and round.
    pub fn vote(&self) -> (Vote, u64) {
        (self.election.vote, self.election.round)
    }
    /// Ticks since start.
    pub fn now(&self) -> u64 {
        self.now
    }
    fn is_voter(&self, id: ServerId) -> bool {
        self.config.voters.contains(&id)
    }
    fn is_observer(&self) -> bool {
        !self.is_voter(self.config.my_id)
    }
    fn is_member(&self, id: ServerId) -> bool {
        self.is_voter(id) || self.ensemble.observers.contains(&id)
    }

    // ----- inputs -----

    /// A message from a peer. Stale, unexpected or malformed messages are dropped and
    /// traced (and the quorum connection closed when the peer's state cannot be trusted).
    pub fn step(&mut self, from: ServerId, msg: Message) {
        if from == self.config.my_id || !self.is_member(from) {
            tracing::debug!(?from, msg = msg.name(), "message from a non-member dropped");
            return;
        }
        match msg {
            Message::Notification(n) => self.on_notification(from, n),
            Message::FollowerInfo { accepted_epoch } => {
                self.on_learner_info(from, accepted_epoch, false)
            }
            Message::ObserverInfo { accepted_epoch } => {
                self.on_learner_info(from, accepted_epoch, true)
            }
            Message::LeaderInfo { new_epoch } => self.on_leader_info(from, new_epoch),
            Message::AckEpoch {
                last_logged,
                current_epoch,
            } => self.on_ack_epoch(from, last_logged, current_epoch),
            Message::Diff { last_zxid } => self.on_diff(from, last_zxid),
            Message::Trunc { zxid } => self.on_trunc(from, zxid),
            Message::Snap { zxid, data } => self.on_snap(from, zxid, data),
            Message::NewLeader { epoch } => self.on_new_leader(from, epoch),
            Message::UpToDate => self.on_up_to_date(from),
            Message::Proposal(p) => self.on_proposal(from, p),
            Message::Ack { zxid } => self.on_ack(from, zxid),
            Message::Commit { zxid } => self.on_commit(from, zxid),
            Message::Inform(p) => self.on_inform(from, p),
            Message::Ping { zxid, data } => self.on_ping(from, zxid, data),
            Message::Request { data } => self.on_learner_packet(from, LearnerPacket::Request(data)),
            Message::Revalidate { data } => {
                if self.role == Role::Leading {
                    self.on_learner_packet(from, LearnerPacket::Revalidate(data))
                } else {
                    self.on_leader_packet(from, LeaderPacket::Revalidate(data))
                }
            }
            Message::Sync { data } => self.on_leader_packet(from, LeaderPacket::Sync(data)),
        }
        self.debug_check();
    }

    /// The quorum connection with `peer` is gone.
    pub fn disconnected(&mut self, peer: ServerId) {
        self.stashed_infos.remove(&peer);
        match self.role {
            Role::Leading => self.drop_learner(peer, "disconnected"),
            Role::Following | Role::Observing => {
                if self.learner.as_ref().map(|l| l.leader) == Some(peer) {
                    self.become_looking("leader connection lost");
                }
            }
            Role::Looking => {}
        }
        self.debug_check();
    }

    /// One tick passed.
    pub fn tick(&mut self) {
        self.now += 1;
        match self.role {
            Role::Looking => self.tick_election(),
            Role::Leading => self.tick_leader(),
            Role::Following | Role::Observing => self.tick_learner(),
        }
        self.debug_check();
    }

    /// The store reports everything up to and including `seq` durable.
    pub fn persisted(&mut self, seq: PersistSeq) {
        while let Some(&(s, _)) = self.waiting.front() {
            if s > seq {
                break;
            }
            let Some((_, w)) = self.waiting.pop_front() else {
                break;
            };
            self.on_durable(w);
        }
        if self.role == Role::Leading {
            self.maybe_commit();
        }
        self.deliver_ready();
        self.debug_check();
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn on_durable(&mut self, w: Waiting) {
        match w {
            Waiting::Append { last, ack } => {
                self.log.durable = self.log.durable.max(last);
                if let Some(inc) = ack {
                    self.on_append_durable(last, inc);
                }
            }
            Waiting::Truncate => {}
            Waiting::Snapshot { zxid } => self.log.durable = self.log.durable.max(zxid),
            Waiting::AcceptedEpoch { epoch, inc } => self.on_accepted_epoch_durable(epoch, inc),
            Waiting::CurrentEpoch { epoch, inc } => {
                // Both roles record it; only the session that asked acts on it.
                self.current_epoch = self.current_epoch.max(epoch);
                if inc == self.incarnation {
                    match self.role {
                        Role::Leading => self.on_leader_epoch_durable(epoch),
                        Role::Following | Role::Observing => self.on_new_leader_durable(epoch),
                        Role::Looking => {}
                    }
                }
            }
        }
    }

    // ----- shared helpers -----

    fn persist(&mut self, op: PersistOp, w: Waiting) -> PersistSeq {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outputs.push_back(Output::Persist { seq, op });
        self.waiting.push_back((seq, w));
        seq
    }

    fn send(&mut self, to: ServerId, msg: Message) {
        self.outputs.push_back(Output::Send { to, msg });
    }

    /// Appends a proposal to the log (the caller checked it extends the log). `ack`: the
    /// learner session that must ACK it once durable.
    fn append(&mut self, p: Proposal, ack: Option<u64>) {
        debug_assert!(p.zxid > self.log.last_logged);
        self.log.last_logged = p.zxid;
        self.log.entries.push_back(p.clone());
        let last = p.zxid;
        self.persist(PersistOp::Append(vec![p]), Waiting::Append { last, ack });
    }

    /// Cuts the log after `zxid` (TRUNC).
    fn truncate_after(&mut self, zxid: Zxid) {
        while self.log.entries.back().is_some_and(|p| p.zxid > zxid) {
            self.log.entries.pop_back();
        }
        self.log.base = self.log.base.min(zxid);
        self.log.last_logged = zxid;
        self.log.durable = self.log.durable.min(zxid);
        // The driver rebuilds the state machine from the log up to `zxid` (contract step 2),
        // so it is exactly there afterwards, even if less was delivered before (proposals
        // logged without their COMMIT): as after a restart, the replayed log counts as
        // delivered, hence committed. Keeping the old, lower mark would deliver those txns
        // a second time, and a leader would label a SNAP of the rebuilt state with it.
        // (Found by sim::node_sim, seed 1040341 of the 5+1 test at its commit 8e19684.)
        self.log.committed = zxid;
        self.log.delivered = zxid;
        // Appends still in the store are cut by this request, which comes after them.
        self.waiting
            .retain(|(_, w)| !matches!(w, Waiting::Append { last, .. } if *last > zxid));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outputs.push_back(Output::TruncateAfter { seq, zxid });
        self.waiting.push_back((seq, Waiting::Truncate));
    }

    /// Replaces log and state by a snapshot at `zxid` (SNAP).
    fn install_snapshot(&mut self, zxid: Zxid, data: Bytes) {
        self.floor = zxid;
        self.force_snap = false;
        self.log.entries.clear();
        self.log.base = zxid;
        self.log.last_logged = zxid;
        self.log.durable = self.log.durable.min(zxid);
        self.log.committed = zxid;
        self.log.delivered = zxid;
        self.waiting
            .retain(|(_, w)| !matches!(w, Waiting::Append { .. } | Waiting::Snapshot { .. }));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outputs
            .push_back(Output::InstallSnapshot { seq, zxid, data });
        self.waiting.push_back((seq, Waiting::Snapshot { zxid }));
    }

    /// Delivers what is committed and locally durable, in zxid order, once serving.
    fn deliver_ready(&mut self) {
        if self.phase != Phase::Broadcast {
            return;
        }
        let upto = self.log.committed.min(self.log.durable);
        let start = self.log.index_after(self.log.delivered);
        let mut i = start;
        while let Some(p) = self.log.entries.get(i) {
            if p.zxid > upto {
                break;
            }
            self.outputs.push_back(Output::Deliver(p.clone()));
            self.log.delivered = p.zxid;
            i += 1;
        }
        self.trim_log();
    }

    /// Keeps at most `committed_log_max` delivered entries (the DIFF window).
    fn trim_log(&mut self) {
        let keep = self.ensemble.committed_log_max;
        let delivered_count = self.log.index_after(self.log.delivered);
        let excess = delivered_count.saturating_sub(keep);
        for _ in 0..excess {
            if let Some(p) = self.log.entries.pop_front() {
                self.log.base = p.zxid;
            }
        }
    }

    /// Announces serving (or stopping) once per change.
    fn announce(&mut self, serving: bool) {
        if serving == self.serving {
            return;
        }
        self.serving = serving;
        let leader = if serving { self.leader_id() } else { None };
        self.outputs.push_back(Output::RoleChanged {
            role: if serving { self.role } else { Role::Looking },
            epoch: self.current_epoch,
            leader,
        });
    }

    fn leader_id(&self) -> Option<ServerId> {
        match self.role {
            Role::Leading => Some(self.config.my_id),
            Role::Following | Role::Observing => self.learner.as_ref().map(|l| l.leader),
            Role::Looking => None,
        }
    }

    /// Stops leading or following and starts a new election round.
    fn become_looking(&mut self, why: &str) {
        tracing::info!(id = self.config.my_id.0, why, role = ?self.role, "looking");
        if let Some(leader) = self.leader.take() {
            for id in leader.handlers.keys() {
                self.outputs.push_back(Output::Disconnect { peer: *id });
            }
        }
        if let Some(learner) = self.learner.take() {
            self.outputs.push_back(Output::Disconnect {
                peer: learner.leader,
            });
        }
        self.announce(false);
        self.incarnation += 1;
        self.role = Role::Looking;
        self.phase = Phase::Election;
        self.start_election();
    }

    /// A splitmix64 step: the only randomness (election jitter), from `Ensemble::seed`.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A one-line state summary for traces and failing simulations.
    pub fn summary(&self) -> String {
        let l = &self.log;
        format!(
            "{:?} {:?}/{:?} epochs {}/{} log base {} delivered {} committed {} durable {} last {} ({} in memory) leader {:?}",
            self.config.my_id,
            self.role,
            self.phase,
            self.current_epoch,
            self.accepted_epoch,
            l.base,
            l.delivered,
            l.committed,
            l.durable,
            l.last_logged,
            l.entries.len(),
            self.leader_id()
        )
    }

    /// The protocol's invariants over this member's state.
    pub fn invariants(&self) -> bool {
        let l = &self.log;
        let sorted = l
            .entries
            .iter()
            .zip(l.entries.iter().skip(1))
            .all(|(a, b)| a.zxid < b.zxid);
        let ends = match l.entries.back() {
            Some(p) => p.zxid == l.last_logged && l.entries[0].zxid > l.base,
            None => l.base == l.last_logged,
        };
        let order =
            l.base <= l.delivered && l.delivered <= l.committed && l.committed <= l.last_logged;
        let epochs = self.current_epoch <= self.accepted_epoch;
        let role = match self.role {
            Role::Looking => self.leader.is_none() && self.learner.is_none(),
            Role::Leading => self.leader.is_some() && self.learner.is_none(),
            Role::Following | Role::Observing => self.leader.is_none() && self.learner.is_some(),
        };
        let phase = (self.role == Role::Looking) == (self.phase == Phase::Election);
        sorted && ends && order && epochs && role && phase
    }

    fn debug_check(&self) {
        debug_assert!(
            self.invariants(),
            "zab invariants broken on {:?}: role {:?} phase {:?} epochs {}/{} log base {} delivered {} committed {} durable {} last {} entries {}",
            self.config.my_id,
            self.role,
            self.phase,
            self.current_epoch,
            self.accepted_epoch,
            self.log.base,
            self.log.delivered,
            self.log.committed,
            self.log.durable,
            self.log.last_logged,
            self.log.entries.len()
        );
    }
}
