//! Fast leader election (ZooKeeper's `FastLeaderElection`), in ticks.
//!
//! Owns: the logical clock (round), this member's vote, the votes received this round
//! (`recv`, our own included) and the reports of members already out of the election
//! (`out_of_election`: FOLLOWING/LEADING), the finalize timer and the re-send back-off.
//!
//! Rules (zk-protocol §10.3), with two robustness changes for a lossy election channel:
//! - Votes are ordered by (peerEpoch, zxid, sid): [`vote_is_better`]. Only voters can win.
//! - Each new election increments the round and votes for ourselves. A LOOKING notification
//!   of a higher round resets ours (clear votes, adopt the better of the sender's vote and our
//!   own); a lower round is answered with our vote; an equal round adopts a better vote.
//! - When the votes for our vote in this round form a quorum, wait `finalize_wait` ticks; any
//!   change of vote cancels the wait. Then lead (our own vote) or follow.
//! - FOLLOWING/LEADING reports from a quorum of voters that agree on a leader which itself
//!   reports LEADING let a late member join without a new round (observers only join so).
//! - Members not LOOKING answer a LOOKING notification with their vote; voters answer
//!   non-voters at once.
//! - Change 1: notifications are re-sent every interval (doubling from
//!   `notification_interval_min` to `_max`, with seeded jitter) whether or not others were
//!   heard, because here the election channel may lose messages (ZooKeeper's is TCP and
//!   re-sends on reconnect).
//! - Change 2: an equal-round LOOKING notification whose vote differs from ours is answered
//!   with ours, so a member that missed our better vote learns it without waiting.
//!
//! Invariant: while LOOKING, `recv[my_id]` (for a voter) is our current vote in our round.

use std::collections::BTreeMap;

use jute::Zxid;

use crate::message::{Message, Notification, PeerState, Vote};
use crate::quorum::is_quorum;
use crate::{Role, ServerId, Zab};

/// True when vote `a` beats vote `b`: higher peer epoch, then higher zxid, then higher sid.
/// A strict total order on distinct (peer_epoch, zxid, leader) triples.
pub fn vote_is_better(a: &Vote, b: &Vote) -> bool {
    (a.peer_epoch, a.zxid, a.leader) > (b.peer_epoch, b.zxid, b.leader)
}

#[derive(Debug)]
pub(crate) struct Election {
    /// The logical clock (electionEpoch).
    pub round: u64,
    pub vote: Vote,
    /// LOOKING votes of voters in this round (ours included).
    pub recv: BTreeMap<ServerId, Vote>,
    /// Reports of voters that are FOLLOWING or LEADING.
    pub out_of_election: BTreeMap<ServerId, (Vote, PeerState)>,
    pub finalize_at: Option<u64>,
    pub resend_at: u64,
    pub backoff: u64,
}

impl Election {
    pub fn new(me: ServerId, last_logged: Zxid, current_epoch: u32) -> Election {
        Election {
            round: 0,
            vote: Vote {
                leader: me,
                zxid: last_logged,
                peer_epoch: current_epoch,
            },
            recv: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            finalize_at: None,
            resend_at: 0,
            backoff: 1,
        }
    }
}

impl Zab {
    fn own_vote(&self) -> Vote {
        Vote {
            leader: self.config.my_id,
            zxid: self.log.last_logged,
            peer_epoch: self.current_epoch,
        }
    }

    fn peer_state(&self) -> PeerState {
        match self.role {
            Role::Looking => PeerState::Looking,
            Role::Following => PeerState::Following,
            Role::Leading => PeerState::Leading,
            Role::Observing => PeerState::Observing,
        }
    }

    fn notification(&self) -> Message {
        Message::Notification(Notification {
            state: self.peer_state(),
            vote: self.election.vote,
            round: self.election.round,
        })
    }

    fn send_notifications(&mut self) {
        let msg = self.notification();
        let me = self.config.my_id;
        let voters: Vec<ServerId> = self
            .config
            .voters
            .iter()
            .copied()
            .filter(|v| *v != me)
            .collect();
        for v in voters {
            self.send(v, msg.clone());
        }
    }

    fn schedule_resend(&mut self) {
        let jitter = self.random() % 2;
        self.election.resend_at = self.now + self.election.backoff + jitter;
    }

    /// A new round: vote for ourselves and tell every voter (lookForLeader's start).
    pub(crate) fn start_election(&mut self) {
        let me = self.config.my_id;
        let vote = self.own_vote();
        let e = &mut self.election;
        e.round += 1;
        e.vote = vote;
        e.recv.clear();
        e.out_of_election.clear();
        e.finalize_at = None;
        e.backoff = self.ensemble.notification_interval_min.max(1);
        if self.config.voters == [me] {
            // A one-voter ensemble: our own vote is a quorum.
            self.become_leading();
            return;
        }
        self.metrics.looking_count += 1;
        if self.is_voter(me) {
            self.election.recv.insert(me, vote);
        }
        self.send_notifications();
        self.schedule_resend();
    }

    pub(crate) fn tick_election(&mut self) {
        if let Some(at) = self.election.finalize_at {
            if self.now >= at {
                self.decide();
                return;
            }
        }
        if self.now >= self.election.resend_at {
            self.send_notifications();
            let max = self.ensemble.notification_interval_max.max(1);
            self.election.backoff = (self.election.backoff * 2).min(max);
            self.schedule_resend();
        }
    }

    fn decide(&mut self) {
        let leader = self.election.vote.leader;
        tracing::info!(
            id = self.config.my_id.0,
            leader = leader.0,
            round = self.election.round,
            "election decided"
        );
        if leader == self.config.my_id {
            self.become_leading();
        } else {
            self.become_following(leader);
        }
    }

    /// Starts or cancels the finalize wait after our vote or the votes changed.
    fn maybe_finalize(&mut self, vote_changed: bool) {
        if vote_changed {
            self.election.finalize_at = None;
        }
        let vote = self.election.vote;
        let ayes = self
            .election
            .recv
            .iter()
            .filter(|(_, v)| **v == vote)
            .map(|(id, _)| *id);
        if is_quorum(&self.config.voters, ayes) {
            if self.election.finalize_at.is_none() {
                self.election.finalize_at = Some(self.now + self.ensemble.finalize_wait);
            }
        } else {
            self.election.finalize_at = None;
        }
    }

    pub(crate) fn on_notification(&mut self, from: ServerId, n: Notification) {
        let from_voter = self.is_voter(from);
        if self.role != Role::Looking {
            // Tell a looking member who leads, so it can join us.
            if n.state == PeerState::Looking && self.role != Role::Observing {
                let msg = self.notification();
                self.send(from, msg);
            }
            return;
        }
        if !from_voter {
            if self.is_voter(self.config.my_id) {
                let msg = self.notification();
                self.send(from, msg);
            }
            return;
        }
        match n.state {
            PeerState::Looking => {
                if self.is_observer() {
                    return;
                }
                if !self.is_voter(n.vote.leader) {
                    tracing::debug!(?from, "vote for a non-voter ignored");
                    return;
                }
                self.on_looking_vote(from, n);
            }
            PeerState::Following | PeerState::Leading => {
                self.election
                    .out_of_election
                    .insert(from, (n.vote, n.state));
                self.maybe_join(n.vote.leader, n.round);
            }
            PeerState::Observing => {}
        }
    }

    fn on_looking_vote(&mut self, from: ServerId, n: Notification) {
        let me = self.config.my_id;
        let e_round = self.election.round;
        if n.round < e_round {
            let msg = self.notification();
            self.send(from, msg);
            return;
        }
        let mut changed = false;
        if n.round > e_round {
            let own = self.own_vote();
            let e = &mut self.election;
            e.round = n.round;
            e.recv.clear();
            e.vote = if vote_is_better(&n.vote, &own) {
                n.vote
            } else {
                own
            };
            changed = true;
        } else if vote_is_better(&n.vote, &self.election.vote) {
            self.election.vote = n.vote;
            changed = true;
        } else if n.vote != self.election.vote {
            // The sender has not seen our better vote (lost, or not yet sent).
            let msg = self.notification();
            self.send(from, msg);
        }
        if changed {
            self.send_notifications();
        }
        let vote = self.election.vote;
        self.election.recv.insert(from, n.vote);
        self.election.recv.insert(me, vote);
        self.maybe_finalize(changed);
    }

    /// Joins an established leader reported by a quorum of voters (and by itself).
    fn maybe_join(&mut self, leader: ServerId, round: u64) {
        if leader == self.config.my_id {
            // They still follow an earlier us; they will time out and elect again.
            return;
        }
        let oe = &self.election.out_of_election;
        let leader_says = oe.get(&leader).map(|(_, s)| *s) == Some(PeerState::Leading);
        let ayes = oe
            .iter()
            .filter(|(_, (v, _))| v.leader == leader)
            .map(|(id, _)| *id);
        if leader_says && is_quorum(&self.config.voters, ayes) {
            if let Some((v, _)) = oe.get(&leader) {
                self.election.vote = *v;
            }
            self.election.round = self.election.round.max(round);
            tracing::info!(
                id = self.config.my_id.0,
                leader = leader.0,
                "joining an established leader"
            );
            self.become_following(leader);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vote() -> impl Strategy<Value = Vote> {
        (0u64..4, 0i64..4, 0u32..3).prop_map(|(l, z, e)| Vote {
            leader: ServerId(l),
            zxid: Zxid(z),
            peer_epoch: e,
        })
    }

    proptest! {
        /// `vote_is_better` is a strict total order: irreflexive, asymmetric, transitive,
        /// and total on distinct votes.
        #[test]
        fn vote_is_better_is_a_strict_total_order(a in vote(), b in vote(), c in vote()) {
            prop_assert!(!vote_is_better(&a, &a));
            if vote_is_better(&a, &b) {
                prop_assert!(!vote_is_better(&b, &a));
            }
            if vote_is_better(&a, &b) && vote_is_better(&b, &c) {
                prop_assert!(vote_is_better(&a, &c));
            }
            if a != b {
                prop_assert!(vote_is_better(&a, &b) || vote_is_better(&b, &a));
            }
        }
    }

    #[test]
    fn peer_epoch_outranks_zxid_which_outranks_sid() {
        let v = |l, z, e| Vote {
            leader: ServerId(l),
            zxid: Zxid(z),
            peer_epoch: e,
        };
        assert!(vote_is_better(&v(1, 0, 2), &v(3, 100, 1)));
        assert!(vote_is_better(&v(1, 5, 1), &v(3, 4, 1)));
        assert!(vote_is_better(&v(3, 5, 1), &v(2, 5, 1)));
    }
}
