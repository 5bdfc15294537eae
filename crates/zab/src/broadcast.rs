//! Broadcast (Zab phase 3): the established leader numbers each txn, logs it and sends
//! PROPOSAL to the followers in its forwarding set; a follower logs it and ACKs once it is
//! durable; the leader COMMITs strictly in zxid order once a quorum of voters (the leader
//! counts once its own copy is durable) acknowledged, and INFORMs observers. Also the
//! heartbeats' payloads and the opaque pass-through packets.
//!
//! Owns: `propose`/`next_zxid` (backpressure at `inflight_max`), `maybe_commit`, the
//! learner's handling of PROPOSAL/COMMIT/INFORM/PING, and `to_leader`/`to_learner`.
//!
//! Invariants: COMMIT(z) is sent only after COMMIT of every earlier zxid; a follower logs
//! proposals contiguously (a gap or a proposal of another epoch after NEWLEADER breaks the
//! session: it is dropped, or the learner looks again); an ACK always follows durability.

use bytes::Bytes;
use jute::Zxid;

use crate::message::{LeaderPacket, LearnerPacket, Message};
use crate::quorum::is_quorum;
use crate::sync::LStage;
use crate::{NotConnected, Output, Proposal, ProposeError, Role, ServerId, Zab, TOUCHES_MAX_BYTES};

impl Zab {
    /// True when `propose` would accept a proposal now.
    pub fn can_propose(&self) -> bool {
        self.next_zxid().is_ok()
    }

    /// The zxid the next proposal will get (the caller writes it into the txn header).
    pub fn next_zxid(&self) -> Result<Zxid, ProposeError> {
        let epoch = match self.leader.as_ref() {
            Some(l) if self.role == Role::Leading && l.established => match l.epoch {
                Some(e) => e,
                None => return Err(ProposeError::NotLeader),
            },
            _ => return Err(ProposeError::NotLeader),
        };
        if self.log.uncommitted() >= self.config.inflight_max {
            return Err(ProposeError::Busy);
        }
        let last = self.log.last_logged;
        if last.epoch() < epoch {
            return Ok(Zxid::new(epoch, 1));
        }
        match last.counter().checked_add(1) {
            Some(c) if c != u32::MAX => Ok(Zxid::new(epoch, c)),
            _ => Err(ProposeError::ZxidExhausted),
        }
    }

    /// Orders a transaction. The txn bytes must already carry the zxid `next_zxid` gave.
    pub fn propose(&mut self, txn: Bytes) -> Result<Zxid, ProposeError> {
        let zxid = match self.next_zxid() {
            Ok(z) => z,
            Err(ProposeError::ZxidExhausted) => {
                // ZooKeeper forces a new election: the next epoch restarts the counter.
                self.become_looking("zxid counter exhausted");
                self.debug_check();
                return Err(ProposeError::ZxidExhausted);
            }
            Err(e) => return Err(e),
        };
        let p = Proposal { zxid, txn };
        self.metrics.proposal_count += 1;
        self.append(p.clone(), None);
        let followers: Vec<ServerId> = self
            .leader
            .iter()
            .flat_map(|l| l.handlers.iter())
            .filter(|(_, h)| h.forwarding() && !h.observer)
            .map(|(id, _)| *id)
            .collect();
        for id in followers {
            self.send(id, Message::Proposal(p.clone()));
        }
        self.debug_check();
        Ok(zxid)
    }

    /// Leader: commits, in zxid order, every proposal a quorum has durable.
    pub(crate) fn maybe_commit(&mut self) {
        let me = self.config.my_id;
        let Some(leader) = self.leader.as_ref() else {
            return;
        };
        if !leader.established {
            return;
        }
        let mut sends = Vec::new();
        loop {
            let i = self.log.index_after(self.log.committed);
            let Some(p) = self.log.entries.get(i) else {
                break;
            };
            let z = p.zxid;
            let mine = (self.log.durable >= z).then_some(me);
            let ayes = leader
                .handlers
                .iter()
                .filter(|(_, h)| h.synced_voter() && h.acked >= z)
                .map(|(id, _)| *id)
                .chain(mine);
            if !is_quorum(&self.config.voters, ayes) {
                break;
            }
            self.log.committed = z;
            self.metrics.commit_count += 1;
            for (id, h) in leader.handlers.iter().filter(|(_, h)| h.forwarding()) {
                let msg = if h.observer {
                    Message::Inform(p.clone())
                } else {
                    Message::Commit { zxid: z }
                };
                sends.push((*id, msg));
            }
        }
        let committed = self.log.committed;
        let mut syncs = Vec::new();
        if let Some(leader) = self.leader.as_mut() {
            while leader
                .pending_syncs
                .front()
                .is_some_and(|(_, z, _)| *z <= committed)
            {
                if let Some((to, _, data)) = leader.pending_syncs.pop_front() {
                    if leader.handlers.get(&to).is_some_and(|h| h.forwarding()) {
                        syncs.push((to, Message::Sync { data }));
                    }
                }
            }
        }
        for (to, msg) in sends.into_iter().chain(syncs) {
            self.send(to, msg);
        }
        self.deliver_ready();
    }

    /// ACK (leader): NEWLEADER's, or a proposal's.
    pub(crate) fn on_ack(&mut self, from: ServerId, zxid: Zxid) {
        if self.role != Role::Leading {
            self.outputs.push_back(Output::Disconnect { peer: from });
            return;
        }
        let now = self.now;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let Some(epoch) = leader.epoch else {
            return;
        };
        let Some(h) = leader.handlers.get_mut(&from) else {
            self.outputs.push_back(Output::Disconnect { peer: from });
            return;
        };
        h.last_heard = now;
        if zxid == Zxid::new(epoch, 0) {
            self.on_new_leader_ack(from);
            return;
        }
        if h.observer || !h.synced_voter() || zxid.epoch() != epoch {
            tracing::debug!(?from, %zxid, "ACK ignored");
            return;
        }
        h.acked = h.acked.max(zxid);
        self.maybe_commit();
    }

    /// Learner: checks a PROPOSAL/INFORM extends our log; `Ok(false)` for a duplicate.
    fn accept_into_log(&mut self, p: &Proposal) -> Result<bool, &'static str> {
        let Some(l) = self.learner.as_ref() else {
            return Err("no leader");
        };
        let Some(epoch) = l.epoch else {
            return Err("no epoch");
        };
        if !l.syncing_or_later() {
            return Err("proposal before sync");
        }
        let z = p.zxid;
        let epoch_ok = if l.past_new_leader() {
            z.epoch() == epoch
        } else {
            z.epoch() <= epoch
        };
        if !epoch_ok {
            tracing::warn!(id = self.config.my_id.0, %z, epoch, "proposal from another epoch ignored");
            return Ok(false);
        }
        let last = self.log.last_logged;
        if z <= last {
            return Ok(false);
        }
        let contiguous = if z.epoch() == last.epoch() {
            z.counter() == last.counter().wrapping_add(1)
        } else {
            z.counter() == 1
        };
        if !contiguous {
            return Err("gap in the proposals");
        }
        Ok(true)
    }

    /// PROPOSAL (learner): log it; ACK once durable if past NEWLEADER.
    pub(crate) fn on_proposal(&mut self, from: ServerId, p: Proposal) {
        if !self.heard_from_leader(from) {
            return;
        }
        self.metrics.learner_proposal_received += 1;
        match self.accept_into_log(&p) {
            Ok(true) => {
                let ack = self
                    .learner
                    .as_ref()
                    .filter(|l| l.past_new_leader() && self.role == Role::Following)
                    .map(|_| self.incarnation);
                self.append(p, ack);
            }
            Ok(false) => {}
            Err(why) => self.become_looking(why),
        }
    }

    /// INFORM (observer): a committed txn; log it and deliver once durable.
    pub(crate) fn on_inform(&mut self, from: ServerId, p: Proposal) {
        if !self.heard_from_leader(from) {
            return;
        }
        if self.role != Role::Observing
            || !self.learner.as_ref().is_some_and(|l| l.past_new_leader())
        {
            self.become_looking("INFORM out of order");
            return;
        }
        self.metrics.learner_commit_received += 1;
        let z = p.zxid;
        match self.accept_into_log(&p) {
            Ok(true) => self.append(p, None),
            Ok(false) => {}
            Err(why) => {
                self.become_looking(why);
                return;
            }
        }
        if z <= self.log.last_logged && z > self.log.committed && self.log.contains(z) {
            self.log.committed = z;
            self.deliver_ready();
        }
    }

    /// COMMIT (learner).
    pub(crate) fn on_commit(&mut self, from: ServerId, zxid: Zxid) {
        if !self.heard_from_leader(from) {
            return;
        }
        if !self.learner.as_ref().is_some_and(|l| l.syncing_or_later()) {
            self.become_looking("COMMIT before sync");
            return;
        }
        self.metrics.learner_commit_received += 1;
        if zxid <= self.log.committed {
            return;
        }
        if zxid > self.log.last_logged || !self.log.contains(zxid) {
            self.become_looking("COMMIT of a proposal we do not have");
            return;
        }
        self.log.committed = zxid;
        self.deliver_ready();
    }

    /// A learner's append became durable: ACK it (only for the session that logged it).
    pub(crate) fn on_append_durable(&mut self, last: Zxid, inc: u64) {
        if inc != self.incarnation {
            return;
        }
        let Some(l) = self.learner.as_ref() else {
            return;
        };
        if matches!(l.stage, LStage::NewLeaderAcked | LStage::Broadcast)
            && l.epoch == Some(last.epoch())
        {
            let leader = l.leader;
            self.send(leader, Message::Ack { zxid: last });
        }
    }

    /// PING: a learner answers with the session touches; the leader notes who is alive.
    pub(crate) fn on_ping(&mut self, from: ServerId, zxid: Zxid, data: Bytes) {
        match self.role {
            Role::Leading => {
                let now = self.now;
                let Some(h) = self.leader.as_mut().and_then(|l| l.handlers.get_mut(&from)) else {
                    self.outputs.push_back(Output::Disconnect { peer: from });
                    return;
                };
                h.last_heard = now;
                if !data.is_empty() {
                    self.outputs.push_back(Output::FromLearner {
                        from,
                        packet: LearnerPacket::SessionTouches(data),
                    });
                }
            }
            _ => {
                if !self.heard_from_leader(from) {
                    return;
                }
                // Until NEWLEADER is ACKed a PING is not answered, as ZooKeeper's learner
                // does: a Java leader reads the learner's next packet after NEWLEADER as
                // its ACK and drops a learner whose reply is a PING (a long SNAP install
                // lets a leader PING arrive first). Touches stay queued for later.
                let Some(l) = self.learner.as_mut() else {
                    return;
                };
                if !matches!(l.stage, LStage::NewLeaderAcked | LStage::Broadcast) {
                    return;
                }
                let data = l.touches.split().freeze();
                self.send(from, Message::Ping { zxid, data });
            }
        }
    }

    /// REQUEST / REVALIDATE from a learner (leader): hand to the node.
    pub(crate) fn on_learner_packet(&mut self, from: ServerId, packet: LearnerPacket) {
        let now = self.now;
        let serving = self.role == Role::Leading
            && self
                .leader
                .as_mut()
                .and_then(|l| l.handlers.get_mut(&from))
                .is_some_and(|h| {
                    h.last_heard = now;
                    h.forwarding()
                });
        if serving {
            self.outputs.push_back(Output::FromLearner { from, packet });
        } else {
            tracing::debug!(?from, "learner packet without a synced connection dropped");
        }
    }

    /// REVALIDATE / SYNC from the leader (learner): hand to the node.
    pub(crate) fn on_leader_packet(&mut self, from: ServerId, packet: LeaderPacket) {
        if self.heard_from_leader(from) {
            self.outputs.push_back(Output::FromLeader(packet));
        }
    }

    /// Learner: sends a pass-through payload to the leader (serving learners only).
    pub fn to_leader(&mut self, packet: LearnerPacket) -> Result<(), NotConnected> {
        let Some(l) = self.learner.as_mut() else {
            return Err(NotConnected);
        };
        if l.stage != LStage::Broadcast {
            return Err(NotConnected);
        }
        let leader = l.leader;
        let msg = match packet {
            LearnerPacket::Request(data) => Message::Request { data },
            LearnerPacket::Revalidate(data) => Message::Revalidate { data },
            LearnerPacket::SessionTouches(data) => {
                if l.touches.len() + data.len() > TOUCHES_MAX_BYTES {
                    return Err(NotConnected);
                }
                l.touches.extend_from_slice(&data);
                return Ok(());
            }
        };
        self.send(leader, msg);
        self.debug_check();
        Ok(())
    }

    /// Leader: sends a pass-through payload to a learner in the forwarding set. A SYNC
    /// answer waits until everything proposed so far is committed.
    pub fn to_learner(&mut self, to: ServerId, packet: LeaderPacket) -> Result<(), NotConnected> {
        let last = self.log.last_logged;
        let committed = self.log.committed;
        let Some(leader) = self.leader.as_mut() else {
            return Err(NotConnected);
        };
        if !leader.established || !leader.handlers.get(&to).is_some_and(|h| h.forwarding()) {
            return Err(NotConnected);
        }
        match packet {
            LeaderPacket::Revalidate(data) => self.send(to, Message::Revalidate { data }),
            LeaderPacket::Sync(data) => {
                if committed >= last && leader.pending_syncs.is_empty() {
                    self.send(to, Message::Sync { data });
                } else {
                    leader.pending_syncs.push_back((to, last, data));
                }
            }
        }
        self.debug_check();
        Ok(())
    }
}
