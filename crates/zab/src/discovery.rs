//! Discovery (Zab phase 1): a prospective leader gathers FOLLOWERINFO/OBSERVERINFO, picks
//! `newEpoch = max(acceptedEpoch of a quorum, leader included) + 1`, makes it its accepted
//! epoch durably, sends LEADERINFO, and waits for a quorum of ACKEPOCH; a learner makes the
//! new epoch durable as its accepted epoch BEFORE answering ACKEPOCH.
//!
//! Owns: the leader's per-learner handlers (`Handler`, one per quorum connection, replaced
//! when the learner reconnects) and the establishment bookkeeping (`Leader`); the role
//! changes `become_leading` / `become_following`; the leader's tick (pings, syncLimit,
//! initLimit).
//!
//! Invariants: a learner counts toward the epoch quorum only with a real current epoch
//! (ACKEPOCH −1 does not count, as in ZooKeeper); a learner whose (currentEpoch, lastZxid)
//! is more recent than the leader's is dropped (its history could hold commits the leader
//! lacks); LEADERINFO is never sent before the new accepted epoch is durable.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use jute::Zxid;

use crate::message::Message;
use crate::quorum::is_quorum;
use crate::sync::{LStage, Learner};
use crate::{PersistOp, Phase, Role, ServerId, Waiting, Zab};

/// Where one learner's connection is, seen from the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// FOLLOWERINFO received; LEADERINFO waits for the new epoch to be chosen and durable.
    Info,
    LeaderInfoSent,
    /// ACKEPOCH received; sync waits for a quorum of ACKEPOCH.
    EpochAcked {
        peer_last: Zxid,
    },
    /// DIFF/TRUNC/SNAP … NEWLEADER sent: in the forwarding set, waiting for the NEWLEADER ACK.
    Syncing {
        synced_upto: Zxid,
    },
    /// NEWLEADER acknowledged; UPTODATE waits for the epoch to be established.
    NewLeaderAcked,
    /// UPTODATE sent: a serving learner.
    Broadcast,
}

#[derive(Debug)]
pub(crate) struct Handler {
    pub observer: bool,
    pub stage: Stage,
    /// Highest zxid this follower acknowledged durable (NEWLEADER's ACK covers the sync).
    pub acked: Zxid,
    pub last_heard: u64,
    pub since: u64,
}

impl Handler {
    /// In the forwarding set: gets every new PROPOSAL/COMMIT (or INFORM) from now on.
    pub fn forwarding(&self) -> bool {
        matches!(
            self.stage,
            Stage::Syncing { .. } | Stage::NewLeaderAcked | Stage::Broadcast
        )
    }
    /// Counts toward the leader's quorum (commits, liveness).
    pub fn synced_voter(&self) -> bool {
        !self.observer && matches!(self.stage, Stage::NewLeaderAcked | Stage::Broadcast)
    }
}

#[derive(Debug)]
pub(crate) struct Leader {
    /// The new epoch, once a quorum's accepted epochs are known.
    pub epoch: Option<u32>,
    pub epoch_durable: bool,
    /// Accepted epochs of connected voters (ours included) while choosing the epoch.
    pub infos: BTreeMap<ServerId, u32>,
    /// Voters whose ACKEPOCH counted (ours included).
    pub epoch_acks: BTreeSet<ServerId>,
    pub sync_started: bool,
    /// Our own NEWLEADER "ACK": our CurrentEpoch (and so our history) is durable.
    pub self_newleader: bool,
    pub newleader_acks: BTreeSet<ServerId>,
    /// A quorum acknowledged NEWLEADER: the epoch is established, we serve.
    pub established: bool,
    pub handlers: BTreeMap<ServerId, Handler>,
    /// Tick by which the current establishment step must complete (initLimit).
    pub deadline: u64,
    /// SYNC answers waiting for everything proposed before them to commit.
    pub pending_syncs: VecDeque<(ServerId, Zxid, Bytes)>,
}

impl Zab {
    pub(crate) fn become_leading(&mut self) {
        tracing::info!(id = self.config.my_id.0, "leading (discovery)");
        self.incarnation += 1;
        self.role = Role::Leading;
        self.phase = Phase::Discovery;
        let mut infos = BTreeMap::new();
        infos.insert(self.config.my_id, self.accepted_epoch);
        self.leader = Some(Leader {
            epoch: None,
            epoch_durable: false,
            infos,
            epoch_acks: BTreeSet::new(),
            sync_started: false,
            self_newleader: false,
            newleader_acks: BTreeSet::new(),
            established: false,
            handlers: BTreeMap::new(),
            deadline: self.now + self.ensemble.init_limit,
            pending_syncs: VecDeque::new(),
        });
        let stashed = std::mem::take(&mut self.stashed_infos);
        for (id, (epoch, observer)) in stashed {
            self.on_learner_info(id, epoch, observer);
        }
        self.maybe_choose_epoch();
    }

    pub(crate) fn become_following(&mut self, leader: ServerId) {
        self.incarnation += 1;
        let observer = self.is_observer();
        self.role = if observer {
            Role::Observing
        } else {
            Role::Following
        };
        self.phase = Phase::Discovery;
        self.learner = Some(Learner::new(leader, self.now));
        // Members that picked us as leader must look again.
        let stashed = std::mem::take(&mut self.stashed_infos);
        for id in stashed.keys() {
            self.outputs
                .push_back(crate::Output::Disconnect { peer: *id });
        }
        let accepted_epoch = self.accepted_epoch;
        let msg = if observer {
            Message::ObserverInfo { accepted_epoch }
        } else {
            Message::FollowerInfo { accepted_epoch }
        };
        self.send(leader, msg);
    }

    /// FOLLOWERINFO / OBSERVERINFO: a learner connected.
    pub(crate) fn on_learner_info(&mut self, from: ServerId, accepted_epoch: u32, observer: bool) {
        match self.role {
            Role::Looking => {
                self.stashed_infos.insert(from, (accepted_epoch, observer));
                return;
            }
            Role::Leading => {}
            Role::Following | Role::Observing => {
                tracing::debug!(?from, "learner info while not leading: refused");
                self.outputs
                    .push_back(crate::Output::Disconnect { peer: from });
                return;
            }
        }
        let is_observer_member = self.ensemble.observers.contains(&from);
        if observer != is_observer_member || (!observer && !self.is_voter(from)) {
            tracing::warn!(
                ?from,
                observer,
                "learner type does not match the configuration"
            );
            self.outputs
                .push_back(crate::Output::Disconnect { peer: from });
            return;
        }
        let chosen = self.leader.as_ref().and_then(|l| l.epoch);
        if let Some(e) = chosen.filter(|e| !observer && accepted_epoch > *e) {
            // The voter promised a later epoch (a failed leader's) and will refuse ours; it
            // could never join. ZooKeeper leaves it out; we abdicate so that the next
            // election picks an epoch above every promise and the ensemble heals whole.
            tracing::info!(
                id = self.config.my_id.0,
                ?from,
                accepted_epoch,
                epoch = e,
                "learner accepted a later epoch"
            );
            self.become_looking("a voter accepted a later epoch");
            return;
        }
        let now = self.now;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        // A new connection replaces whatever we knew of this learner.
        leader.handlers.insert(
            from,
            Handler {
                observer,
                stage: Stage::Info,
                acked: Zxid::ZERO,
                last_heard: now,
                since: now,
            },
        );
        leader.epoch_acks.remove(&from);
        leader.newleader_acks.remove(&from);
        match leader.epoch {
            None => {
                if !observer {
                    leader.infos.insert(from, accepted_epoch);
                }
                self.maybe_choose_epoch();
            }
            Some(e) if leader.epoch_durable => {
                if let Some(h) = leader.handlers.get_mut(&from) {
                    h.stage = Stage::LeaderInfoSent;
                }
                self.send(from, Message::LeaderInfo { new_epoch: e });
            }
            Some(_) => {}
        }
    }

    /// Once a quorum of voters connected: newEpoch = max(accepted epochs) + 1.
    fn maybe_choose_epoch(&mut self) {
        let me = self.config.my_id;
        let inc = self.incarnation;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        if leader.epoch.is_some() || !is_quorum(&self.config.voters, leader.infos.keys().copied()) {
            return;
        }
        let max = leader
            .infos
            .values()
            .copied()
            .chain([self.accepted_epoch, self.log.last_logged.epoch()])
            .max()
            .unwrap_or(0);
        let Some(epoch) = max.checked_add(1) else {
            tracing::error!("epoch space exhausted");
            return;
        };
        leader.epoch = Some(epoch);
        leader.epoch_acks.insert(me);
        leader.deadline = self.now + self.ensemble.init_limit;
        self.accepted_epoch = epoch;
        tracing::info!(id = me.0, epoch, "new epoch chosen");
        self.persist(
            PersistOp::AcceptedEpoch(epoch),
            Waiting::AcceptedEpoch { epoch, inc },
        );
        self.maybe_start_sync();
    }

    pub(crate) fn on_accepted_epoch_durable(&mut self, epoch: u32, inc: u64) {
        if inc != self.incarnation {
            return;
        }
        match self.role {
            Role::Leading => {
                let Some(leader) = self.leader.as_mut() else {
                    return;
                };
                if leader.epoch != Some(epoch) {
                    return;
                }
                leader.epoch_durable = true;
                let waiting: Vec<ServerId> = leader
                    .handlers
                    .iter_mut()
                    .filter(|(_, h)| h.stage == Stage::Info)
                    .map(|(id, h)| {
                        h.stage = Stage::LeaderInfoSent;
                        *id
                    })
                    .collect();
                for id in waiting {
                    self.send(id, Message::LeaderInfo { new_epoch: epoch });
                }
            }
            Role::Following | Role::Observing => {
                let last_logged = self.reported_last_logged();
                let current_epoch = self.current_epoch;
                let Some(l) = self.learner.as_mut() else {
                    return;
                };
                if l.stage != LStage::AwaitEpochDurable || l.epoch != Some(epoch) {
                    return;
                }
                l.stage = LStage::AckEpochSent;
                let leader = l.leader;
                self.send(
                    leader,
                    Message::AckEpoch {
                        last_logged,
                        current_epoch: Some(current_epoch),
                    },
                );
            }
            Role::Looking => {}
        }
    }

    /// The last zxid ACKEPOCH reports: `Zxid::NONE` (which makes the leader choose SNAP)
    /// when our log cannot be truncated where the leader wanted.
    pub(crate) fn reported_last_logged(&self) -> Zxid {
        if self.force_snap {
            Zxid::NONE
        } else {
            self.log.last_logged
        }
    }

    /// LEADERINFO (learner): accept the new epoch durably, then ACKEPOCH.
    pub(crate) fn on_leader_info(&mut self, from: ServerId, new_epoch: u32) {
        if !self.heard_from_leader(from) {
            return;
        }
        if self.learner.as_ref().map(|l| l.stage) != Some(LStage::Discovery) {
            self.become_looking("LEADERINFO out of order");
            return;
        }
        if new_epoch < self.accepted_epoch {
            self.become_looking("leader's epoch is below our accepted epoch");
            return;
        }
        let inc = self.incarnation;
        let pending = self.waiting.iter_mut().find(
            |(_, w)| matches!(w, Waiting::AcceptedEpoch { epoch, .. } if *epoch == new_epoch),
        );
        let must_wait = if let Some((_, Waiting::AcceptedEpoch { inc: i, .. })) = pending {
            // Accepted in an earlier session but not durable yet: answer once it is.
            *i = inc;
            true
        } else if new_epoch > self.accepted_epoch {
            self.accepted_epoch = new_epoch;
            self.persist(
                PersistOp::AcceptedEpoch(new_epoch),
                Waiting::AcceptedEpoch {
                    epoch: new_epoch,
                    inc,
                },
            );
            true
        } else {
            false
        };
        let last_logged = self.reported_last_logged();
        let Some(l) = self.learner.as_mut() else {
            return;
        };
        l.epoch = Some(new_epoch);
        if must_wait {
            l.stage = LStage::AwaitEpochDurable;
        } else {
            // Already accepted exactly this epoch: -1, which does not count toward the quorum.
            l.stage = LStage::AckEpochSent;
            self.send(
                from,
                Message::AckEpoch {
                    last_logged,
                    current_epoch: None,
                },
            );
        }
    }

    /// ACKEPOCH (leader).
    pub(crate) fn on_ack_epoch(
        &mut self,
        from: ServerId,
        last_logged: Zxid,
        current_epoch: Option<u32>,
    ) {
        if self.role != Role::Leading {
            self.outputs
                .push_back(crate::Output::Disconnect { peer: from });
            return;
        }
        let mine = (self.current_epoch, self.log.last_logged);
        let now = self.now;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let Some(h) = leader.handlers.get_mut(&from) else {
            self.outputs
                .push_back(crate::Output::Disconnect { peer: from });
            return;
        };
        if h.stage != Stage::LeaderInfoSent {
            self.drop_learner(from, "ACKEPOCH out of order");
            return;
        }
        if let Some(ce) = current_epoch {
            if (ce, last_logged) > mine {
                self.drop_learner(from, "learner is more recent than the leader");
                return;
            }
        }
        h.last_heard = now;
        h.stage = Stage::EpochAcked {
            peer_last: last_logged,
        };
        if current_epoch.is_some() && !h.observer {
            leader.epoch_acks.insert(from);
        }
        if leader.sync_started {
            self.sync_learner(from);
        } else {
            self.maybe_start_sync();
        }
    }

    /// Once a quorum acknowledged the epoch: make it our current epoch and sync everyone
    /// who acknowledged.
    fn maybe_start_sync(&mut self) {
        let inc = self.incarnation;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let Some(epoch) = leader.epoch else {
            return;
        };
        if leader.sync_started || !is_quorum(&self.config.voters, leader.epoch_acks.iter().copied())
        {
            return;
        }
        leader.sync_started = true;
        leader.deadline = self.now + self.ensemble.init_limit;
        let ready: Vec<ServerId> = leader
            .handlers
            .iter()
            .filter(|(_, h)| matches!(h.stage, Stage::EpochAcked { .. }))
            .map(|(id, _)| *id)
            .collect();
        self.phase = Phase::Synchronization;
        self.persist(
            PersistOp::CurrentEpoch(epoch),
            Waiting::CurrentEpoch { epoch, inc },
        );
        for id in ready {
            self.sync_learner(id);
        }
    }

    /// Forgets a learner and closes its connection.
    pub(crate) fn drop_learner(&mut self, id: ServerId, why: &str) {
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        if leader.handlers.remove(&id).is_some() {
            tracing::info!(
                leader = self.config.my_id.0,
                learner = id.0,
                why,
                "learner dropped"
            );
            self.outputs
                .push_back(crate::Output::Disconnect { peer: id });
        }
    }

    /// Leader's tick: drop silent learners, give up an epoch not established within
    /// initLimit, step down without a quorum within syncLimit, ping the forwarding set.
    pub(crate) fn tick_leader(&mut self) {
        let now = self.now;
        let (init, sync) = (self.ensemble.init_limit, self.ensemble.sync_limit);
        let Some(leader) = self.leader.as_ref() else {
            return;
        };
        let silent: Vec<ServerId> = leader
            .handlers
            .iter()
            .filter(|(_, h)| {
                let limit = if h.synced_voter() || h.stage == Stage::Broadcast {
                    sync
                } else {
                    init
                };
                now.saturating_sub(h.last_heard) > limit
                    || (!h.forwarding() && now.saturating_sub(h.since) > init)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in silent {
            self.drop_learner(id, "silent past its limit");
        }
        let Some(leader) = self.leader.as_ref() else {
            return;
        };
        if !leader.established {
            if now > leader.deadline {
                self.become_looking("epoch not established within initLimit");
                return;
            }
        } else {
            let ayes = leader
                .handlers
                .iter()
                .filter(|(_, h)| h.synced_voter() && now.saturating_sub(h.last_heard) <= sync)
                .map(|(id, _)| *id)
                .chain([self.config.my_id]);
            if !is_quorum(&self.config.voters, ayes) {
                self.become_looking("no quorum within syncLimit");
                return;
            }
        }
        let ping = Message::Ping {
            zxid: self.log.last_logged,
            data: Bytes::new(),
        };
        let targets: Vec<ServerId> = leader
            .handlers
            .iter()
            .filter(|(_, h)| h.forwarding())
            .map(|(id, _)| *id)
            .collect();
        for id in targets {
            self.send(id, ping.clone());
        }
    }

    /// Learner's tick: give up a leader silent past initLimit (before UPTODATE) or
    /// syncLimit (after).
    pub(crate) fn tick_learner(&mut self) {
        let Some(l) = self.learner.as_ref() else {
            return;
        };
        let limit = if l.stage == LStage::Broadcast {
            self.ensemble.sync_limit
        } else {
            self.ensemble.init_limit
        };
        if self.now.saturating_sub(l.last_heard) > limit {
            self.become_looking("leader silent");
        }
    }
}
