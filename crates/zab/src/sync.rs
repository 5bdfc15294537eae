//! Synchronisation (Zab phase 2): the leader brings each learner's log to its own history
//! with DIFF (the proposals it misses), TRUNC (cut a tail the leader's history lacks, then
//! the rest) or SNAP (too far behind or diverged across epochs), then NEWLEADER; the
//! learner makes currentEpoch and the synced history durable before it ACKs NEWLEADER; once
//! a quorum ACKed, the leader's epoch is established, it serves, and UPTODATE lets each
//! learner serve.
//!
//! Owns: the decision DIFF/TRUNC/SNAP (`sync_learner`), establishment (`maybe_establish`),
//! and the learner's session with its leader (`Learner`, `LStage`) through discovery and sync.
//!
//! Invariants:
//! - TRUNC to `z` only when the learner must have `z`: it is in the same epoch as the
//!   learner's last zxid (zxids of one epoch are contiguous in every history), or zero.
//!   Otherwise SNAP. (Two logs holding the same zxid agree up to it.)
//! - Nothing synced is delivered before UPTODATE: the history before the new epoch is
//!   committed only once a quorum acknowledged NEWLEADER, which is when UPTODATE is sent.
//! - A learner acknowledges proposals of the new epoch only after NEWLEADER's currentEpoch
//!   is durable; otherwise a crash could leave it with a txn of epoch e and currentEpoch
//!   e−1, and an election could then prefer a member without that txn.
//! - What a Java learner (ZooKeeper 3.8's `Learner.syncWithLeader`) can take, since
//!   ensembles may mix both: before NEWLEADER every PROPOSAL is followed by its COMMIT and no
//!   COMMIT comes alone (the learner's own committed history is told by DIFF's zxid); this
//!   epoch's uncommitted proposals come after NEWLEADER; a learner answers no PING before it
//!   has ACKed NEWLEADER (a Java leader takes the next packet for that ACK).

use bytes::{Bytes, BytesMut};
use jute::Zxid;

use crate::discovery::Stage;
use crate::message::{Message, Vote};
use crate::quorum::is_quorum;
use crate::{Output, PersistOp, Phase, Proposal, Role, ServerId, Waiting, Zab};

/// Where a learner is with its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LStage {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Discovery,
    /// New accepted epoch being made durable; ACKEPOCH follows.
    AwaitEpochDurable,
    /// ACKEPOCH sent, waiting for DIFF/TRUNC/SNAP.
    AckEpochSent,
    /// Receiving the history.
    Syncing,
    /// NEWLEADER received; currentEpoch being made durable.
    NewLeader,
    /// NEWLEADER acknowledged, waiting for UPTODATE.
    NewLeaderAcked,
    /// Serving.
    Broadcast,
}

#[derive(Debug)]
pub(crate) struct Learner {
    pub leader: ServerId,
    /// The leader's new epoch (LEADERINFO).
    pub epoch: Option<u32>,
    pub stage: LStage,
    pub last_heard: u64,
    /// Session touches for the next PING reply (bounded by TOUCHES_MAX_BYTES).
    pub touches: BytesMut,
}

impl Learner {
    pub fn new(leader: ServerId, now: u64) -> Learner {
        Learner {
            leader,
            epoch: None,
            stage: LStage::Discovery,
            last_heard: now,
            touches: BytesMut::new(),
        }
    }
    /// NEWLEADER was received: proposals from now on are of the new epoch and get ACKs.
    pub fn past_new_leader(&self) -> bool {
        matches!(
            self.stage,
            LStage::NewLeader | LStage::NewLeaderAcked | LStage::Broadcast
        )
    }
    pub fn syncing_or_later(&self) -> bool {
        self.stage == LStage::Syncing || self.past_new_leader()
    }
}

enum Plan {
    /// DIFF, then the proposals after this zxid.
    Diff(Zxid),
    /// TRUNC to this zxid, then the proposals after it.
    Trunc(Zxid),
    Snap,
}

impl Zab {
    /// Quorum messages for a learner must come from its leader; anything else is a stale
    /// connection (closed).
    pub(crate) fn heard_from_leader(&mut self, from: ServerId) -> bool {
        let now = self.now;
        match self.learner.as_mut() {
            Some(l) if l.leader == from => {
                l.last_heard = now;
                true
            }
            _ => {
                tracing::debug!(
                    id = self.config.my_id.0,
                    ?from,
                    "quorum message from a non-leader dropped"
                );
                if self.role != Role::Leading {
                    self.outputs.push_back(Output::Disconnect { peer: from });
                }
                false
            }
        }
    }

    fn learner_stage(&self) -> Option<LStage> {
        self.learner.as_ref().map(|l| l.stage)
    }

    /// Leader: sends `to` what it misses, then NEWLEADER; `to` joins the forwarding set.
    pub(crate) fn sync_learner(&mut self, to: ServerId) {
        let Some(leader) = self.leader.as_ref() else {
            return;
        };
        let Some(epoch) = leader.epoch else {
            return;
        };
        let Some(h) = leader.handlers.get(&to) else {
            return;
        };
        let Stage::EpochAcked { peer_last } = h.stage else {
            return;
        };
        let observer = h.observer;
        let log = &self.log;
        let plan =
            if peer_last == log.last_logged || (peer_last >= log.base && log.contains(peer_last)) {
                Plan::Diff(peer_last)
            } else if peer_last > log.base {
                let z = log.last_before(peer_last);
                if z.epoch() == peer_last.epoch() || z == Zxid::ZERO {
                    Plan::Trunc(z)
                } else {
                    Plan::Snap
                }
            } else {
                Plan::Snap
            };
        if matches!(plan, Plan::Snap) {
            self.metrics.snap_count += 1;
        } else {
            self.metrics.diff_count += 1;
        }
        let start = match plan {
            Plan::Diff(z) => {
                self.send(
                    to,
                    Message::Diff {
                        last_zxid: self.log.committed,
                    },
                );
                z
            }
            Plan::Trunc(z) => {
                self.send(to, Message::Trunc { zxid: z });
                z
            }
            Plan::Snap => {
                let up_to = self.log.delivered;
                self.outputs.push_back(Output::SendSnapshot { to, up_to });
                up_to
            }
        };
        // No COMMIT for the learner's own history here: a Java learner pairs every COMMIT
        // during sync with a PROPOSAL it queued (a lone one kills its sync with an NPE).
        // DIFF's zxid (our committed zxid) tells a learner how much of its history is
        // committed; after TRUNC that history is older than our epoch and UPTODATE commits it.
        let committed = self.log.committed;
        let items: Vec<Proposal> = self
            .log
            .after(start)
            .take_while(|p| !(observer && p.zxid.epoch() == epoch && p.zxid > committed))
            .cloned()
            .collect();
        // Before NEWLEADER: the history this epoch starts from, each proposal with its
        // COMMIT. Proposals of earlier epochs are committed by establishing this one (as
        // ZooKeeper's leader, whose whole history is applied, sends them); a Java learner
        // never applies a proposal it got without COMMIT during sync, and its next COMMIT
        // would then mismatch its pending txns (it exits).
        // After NEWLEADER: this epoch's proposals not yet committed. A Java learner (3.8)
        // drops the proposals it queued when NEWLEADER comes and dereferences the head of
        // that queue on every COMMIT until UPTODATE, so a COMMIT then must follow a
        // PROPOSAL sent after NEWLEADER — as the later broadcast proposals are.
        let (history, pending): (Vec<Proposal>, Vec<Proposal>) = items
            .into_iter()
            .partition(|p| p.zxid <= committed || p.zxid.epoch() < epoch);
        let mut synced_upto = start;
        for p in history {
            let z = p.zxid;
            self.send(to, Message::Proposal(p));
            self.send(to, Message::Commit { zxid: z });
            synced_upto = z;
        }
        self.send(to, Message::NewLeader { epoch });
        for p in pending {
            self.send(to, Message::Proposal(p));
        }
        if let Some(h) = self.leader.as_mut().and_then(|l| l.handlers.get_mut(&to)) {
            h.stage = Stage::Syncing { synced_upto };
        }
    }

    /// Leader: our own currentEpoch (and everything logged before it) is durable.
    pub(crate) fn on_leader_epoch_durable(&mut self, epoch: u32) {
        if let Some(leader) = self.leader.as_mut() {
            if leader.epoch == Some(epoch) {
                leader.self_newleader = true;
                self.maybe_establish();
            }
        }
    }

    /// Leader: a learner ACKed NEWLEADER.
    pub(crate) fn on_new_leader_ack(&mut self, from: ServerId) {
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let established = leader.established;
        let Some(h) = leader.handlers.get_mut(&from) else {
            return;
        };
        let Stage::Syncing { synced_upto } = h.stage else {
            // A repeated ACK (or the ACK of UPTODATE): nothing to do.
            return;
        };
        if !h.observer {
            h.acked = h.acked.max(synced_upto);
            leader.newleader_acks.insert(from);
        }
        if established {
            h.stage = Stage::Broadcast;
            self.send(from, Message::UpToDate);
            self.maybe_commit();
        } else {
            h.stage = Stage::NewLeaderAcked;
            self.maybe_establish();
        }
    }

    /// Leader: a quorum (us included, once durable) ACKed NEWLEADER — the epoch is
    /// established: our whole history is committed, we serve, learners get UPTODATE.
    fn maybe_establish(&mut self) {
        let me = self.config.my_id;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let Some(epoch) = leader.epoch else {
            return;
        };
        if leader.established || !leader.self_newleader {
            return;
        }
        let ayes = leader.newleader_acks.iter().copied().chain([me]);
        if !is_quorum(&self.config.voters, ayes) {
            return;
        }
        leader.established = true;
        let ready: Vec<ServerId> = leader
            .handlers
            .iter_mut()
            .filter(|(_, h)| h.stage == Stage::NewLeaderAcked)
            .map(|(id, h)| {
                h.stage = Stage::Broadcast;
                *id
            })
            .collect();
        tracing::info!(id = me.0, epoch, "epoch established");
        self.phase = Phase::Broadcast;
        self.log.committed = self.log.last_logged;
        self.election.vote = Vote {
            leader: me,
            zxid: self.log.last_logged,
            peer_epoch: epoch,
        };
        for id in ready {
            self.send(id, Message::UpToDate);
        }
        self.announce(true);
        self.deliver_ready();
    }

    /// The learner's sync may start (DIFF/TRUNC/SNAP) only after ACKEPOCH.
    fn begin_sync(&mut self, from: ServerId, what: &str) -> bool {
        if !self.heard_from_leader(from) {
            return false;
        }
        if self.learner_stage() != Some(LStage::AckEpochSent) {
            tracing::warn!(id = self.config.my_id.0, what, "sync message out of order");
            self.become_looking("sync out of order");
            return false;
        }
        if let Some(l) = self.learner.as_mut() {
            l.stage = LStage::Syncing;
        }
        self.phase = Phase::Synchronization;
        true
    }

    /// DIFF: our history is a prefix of the leader's, and the leader has committed up to
    /// `last_zxid` (ZooKeeper sends its last processed zxid), so ours is committed up to the
    /// smaller of the two. Delivered once UPTODATE ends the sync, as ZooKeeper applies it.
    pub(crate) fn on_diff(&mut self, from: ServerId, last_zxid: Zxid) {
        if !self.begin_sync(from, "DIFF") {
            return;
        }
        tracing::info!(id = self.config.my_id.0, %last_zxid, "getting a DIFF from the leader");
        let ours = last_zxid.min(self.log.last_logged);
        if ours > self.log.committed {
            self.log.committed = ours;
        }
    }

    pub(crate) fn on_trunc(&mut self, from: ServerId, zxid: Zxid) {
        if !self.begin_sync(from, "TRUNC") {
            return;
        }
        tracing::info!(id = self.config.my_id.0, %zxid, "getting a TRUNC from the leader");
        if zxid > self.log.last_logged {
            self.become_looking("TRUNC past our log");
            return;
        }
        if zxid < self.floor {
            // Our state cannot go back before our snapshot (it came from a leader whose
            // epoch failed): rejoin and ask for a snapshot instead.
            self.force_snap = true;
            self.become_looking("TRUNC below our snapshot");
            return;
        }
        if zxid < self.log.last_logged {
            self.truncate_after(zxid);
        }
    }

    pub(crate) fn on_snap(&mut self, from: ServerId, zxid: Zxid, data: Bytes) {
        if !self.begin_sync(from, "SNAP") {
            return;
        }
        self.install_snapshot(zxid, data);
    }

    /// NEWLEADER (learner): make the new epoch current durably, then ACK.
    pub(crate) fn on_new_leader(&mut self, from: ServerId, epoch: u32) {
        if !self.heard_from_leader(from) {
            return;
        }
        let inc = self.incarnation;
        let Some(l) = self.learner.as_mut() else {
            return;
        };
        if l.stage != LStage::Syncing || l.epoch != Some(epoch) {
            self.become_looking("NEWLEADER out of order");
            return;
        }
        l.stage = LStage::NewLeader;
        self.persist(
            PersistOp::CurrentEpoch(epoch),
            Waiting::CurrentEpoch { epoch, inc },
        );
    }

    /// Learner: currentEpoch and the synced history are durable: ACK NEWLEADER.
    pub(crate) fn on_new_leader_durable(&mut self, epoch: u32) {
        let Some(l) = self.learner.as_mut() else {
            return;
        };
        if l.stage != LStage::NewLeader || l.epoch != Some(epoch) {
            return;
        }
        l.stage = LStage::NewLeaderAcked;
        let leader = l.leader;
        self.send(
            leader,
            Message::Ack {
                zxid: Zxid::new(epoch, 0),
            },
        );
    }

    /// UPTODATE (learner): the epoch is established; the history before it is committed.
    pub(crate) fn on_up_to_date(&mut self, from: ServerId) {
        if !self.heard_from_leader(from) {
            return;
        }
        let Some(l) = self.learner.as_mut() else {
            return;
        };
        let Some(epoch) = l.epoch else {
            return;
        };
        if l.stage != LStage::NewLeaderAcked {
            self.become_looking("UPTODATE out of order");
            return;
        }
        l.stage = LStage::Broadcast;
        let leader = l.leader;
        self.phase = Phase::Broadcast;
        let history = self.log.last_before(Zxid::new(epoch, 0));
        self.log.committed = self.log.committed.max(history);
        self.election.vote = Vote {
            leader,
            zxid: self.log.last_logged,
            peer_epoch: epoch,
        };
        self.announce(true);
        self.deliver_ready();
    }
}
