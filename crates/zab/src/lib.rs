//! ZooKeeper Atomic Broadcast as a sans-IO state machine.
//!
//! `Zab` never sleeps, spawns, reads a clock or touches a socket or a file: inputs are method
//! calls (`propose`, `persisted`, `tick`, and — with the ensemble — `step`), outputs are drained
//! with `poll_output`. To Zab a transaction is opaque bytes with a zxid.
//!
//! The IO contract, in order (as etcd raft's README states its own):
//! 1. After any input, drain `poll_output` until it returns `None`.
//! 2. `Output::Persist { seq, .. }`: write it to the log; once it and every earlier `Persist`
//!    is durable (fsynced), call `persisted(seq)`. Persist ops must be applied in seq order.
//! 3. `Output::Deliver(proposal)`: apply it to the tree. Deliveries come in strictly
//!    increasing zxid order and only after a quorum (here: this voter) has it durable.
//!
//! Scope today: the broadcast phase of a leader whose quorum is itself (a one-voter
//! ensemble: standalone mode is this, not a special case). A new leader starts a new epoch
//! above the accepted one, persists it before proposing, and numbers proposals from
//! `epoch << 32 | 1`. Election, discovery and synchronisation with followers extend this
//! state machine (the `Role`/`Phase` names are those of Zab.tla) without changing the
//! contract above.
//!
//! Invariants (checked after every input in debug builds):
//! - proposed zxids strictly increase; committed ≤ durable ≤ proposed;
//! - current epoch ≤ accepted epoch;
//! - a zxid is delivered at most once, in order.

use std::collections::VecDeque;

use bytes::Bytes;
use jute::Zxid;

/// A member's id: ZooKeeper's myid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId(pub u64);

/// A transaction with the zxid the leader gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub zxid: Zxid,
    pub txn: Bytes,
}

/// A sequence number for persist requests; `persisted(seq)` acknowledges all up to `seq`.
pub type PersistSeq = u64;

/// What must be made durable before Zab goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistOp {
    Append(Vec<Proposal>),
    AcceptedEpoch(u32),
    CurrentEpoch(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Looking,
    Following,
    Leading,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Persist {
        seq: PersistSeq,
        op: PersistOp,
    },
    /// Committed: apply in this order.
    Deliver(Proposal),
    RoleChanged {
        role: Role,
        epoch: u32,
        leader: Option<ServerId>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposeError {
    /// This member cannot order writes now (not leading, or the new epoch is not durable yet).
    NotLeader,
    /// Too many proposals in flight: the caller should apply backpressure and retry later.
    Busy,
    /// The epoch's 32-bit counter is exhausted; a new epoch (election) is needed.
    ZxidExhausted,
}

/// Configuration fixed when the member starts.
#[derive(Debug, Clone)]
pub struct Config {
    pub my_id: ServerId,
    /// The voting members, this one included.
    pub voters: Vec<ServerId>,
    /// Bound on proposals proposed but not yet committed (backpressure).
    pub inflight_max: usize,
}

/// What the store recovered: the durable epochs and the last logged zxid.
#[derive(Debug, Clone, Copy, Default)]
pub struct Restored {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    pub last_logged: Zxid,
}

pub struct Zab {
    config: Config,
    role: Role,
    accepted_epoch: u32,
    current_epoch: u32,
    /// The epoch we lead in, once elected; proposals wait until `current_epoch` reaches it.
    leading_epoch: Option<u32>,
    epoch_persist_seq: Option<PersistSeq>,
    last_proposed: Zxid,
    last_durable: Zxid,
    last_committed: Zxid,
    next_seq: PersistSeq,
    /// Appends not yet known durable: (seq, last zxid in that append).
    unsynced: VecDeque<(PersistSeq, Zxid)>,
    /// Proposed but not yet committed, in zxid order.
    inflight: VecDeque<Proposal>,
    outputs: VecDeque<Output>,
}

impl Zab {
    pub fn new(config: Config, restored: Restored) -> Zab {
        assert!(
            restored.current_epoch <= restored.accepted_epoch,
            "currentEpoch {} is above acceptedEpoch {}",
            restored.current_epoch,
            restored.accepted_epoch
        );
        let mut zab = Zab {
            config,
            role: Role::Looking,
            accepted_epoch: restored.accepted_epoch,
            current_epoch: restored.current_epoch,
            leading_epoch: None,
            epoch_persist_seq: None,
            last_proposed: restored.last_logged,
            last_durable: restored.last_logged,
            last_committed: restored.last_logged,
            next_seq: 1,
            unsynced: VecDeque::new(),
            inflight: VecDeque::new(),
            outputs: VecDeque::new(),
        };
        zab.maybe_lead_alone();
        zab
    }

    /// A one-voter ensemble elects itself at once: its own vote is a quorum.
    fn maybe_lead_alone(&mut self) {
        if self.config.voters == [self.config.my_id] {
            self.become_leading();
        }
    }

    fn become_leading(&mut self) {
        // The new epoch is above every epoch this member accepted and above the epoch of
        // its last logged zxid, so zxids of the new epoch sort after all earlier history.
        let epoch = self
            .accepted_epoch
            .max(self.last_proposed.epoch())
            .saturating_add(1);
        self.accepted_epoch = epoch;
        self.leading_epoch = Some(epoch);
        self.role = Role::Leading;
        let seq = self.persist(PersistOp::AcceptedEpoch(epoch));
        let _ = seq;
        self.epoch_persist_seq = Some(self.persist(PersistOp::CurrentEpoch(epoch)));
        tracing::info!(epoch, "leading");
    }

    fn persist(&mut self, op: PersistOp) -> PersistSeq {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outputs.push_back(Output::Persist { seq, op });
        seq
    }

    pub fn role(&self) -> Role {
        self.role
    }
    pub fn current_epoch(&self) -> u32 {
        self.current_epoch
    }
    pub fn last_committed(&self) -> Zxid {
        self.last_committed
    }
    pub fn last_proposed(&self) -> Zxid {
        self.last_proposed
    }
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// True when `propose` would accept a proposal now.
    pub fn can_propose(&self) -> bool {
        self.role == Role::Leading
            && self.leading_epoch == Some(self.current_epoch)
            && self.inflight.len() < self.config.inflight_max
    }

    /// The zxid the next proposal will get (the caller writes it into the txn header).
    pub fn next_zxid(&self) -> Result<Zxid, ProposeError> {
        let epoch = match self.leading_epoch {
            Some(e) if self.role == Role::Leading && e == self.current_epoch => e,
            _ => return Err(ProposeError::NotLeader),
        };
        if self.inflight.len() >= self.config.inflight_max {
            return Err(ProposeError::Busy);
        }
        if self.last_proposed.epoch() < epoch {
            return Ok(Zxid::new(epoch, 1));
        }
        match self.last_proposed.counter().checked_add(1) {
            Some(c) if c != u32::MAX => Ok(Zxid::new(epoch, c)),
            _ => Err(ProposeError::ZxidExhausted),
        }
    }

    /// Orders a transaction. The txn bytes must already carry the zxid `next_zxid` gave.
    pub fn propose(&mut self, txn: Bytes) -> Result<Zxid, ProposeError> {
        let zxid = self.next_zxid()?;
        let proposal = Proposal { zxid, txn };
        self.last_proposed = zxid;
        self.inflight.push_back(proposal.clone());
        let seq = self.persist(PersistOp::Append(vec![proposal]));
        self.unsynced.push_back((seq, zxid));
        self.debug_check();
        Ok(zxid)
    }

    /// The store reports everything up to and including `seq` durable.
    pub fn persisted(&mut self, seq: PersistSeq) {
        if let Some(epoch_seq) = self.epoch_persist_seq {
            if seq >= epoch_seq {
                if let Some(e) = self.leading_epoch {
                    self.current_epoch = e;
                }
                self.epoch_persist_seq = None;
                self.outputs.push_back(Output::RoleChanged {
                    role: self.role,
                    epoch: self.current_epoch,
                    leader: Some(self.config.my_id),
                });
            }
        }
        while let Some(&(s, zxid)) = self.unsynced.front() {
            if s > seq {
                break;
            }
            self.unsynced.pop_front();
            self.last_durable = zxid;
        }
        self.maybe_commit();
        self.debug_check();
    }

    /// With a quorum of one, durable on the leader is acknowledged by a quorum.
    fn maybe_commit(&mut self) {
        if self.role != Role::Leading {
            return;
        }
        while let Some(p) = self.inflight.front() {
            if p.zxid > self.last_durable {
                break;
            }
            if let Some(p) = self.inflight.pop_front() {
                self.last_committed = p.zxid;
                self.outputs.push_back(Output::Deliver(p));
            }
        }
    }

    /// Time passes by one tick. Nothing is timed in a one-voter ensemble yet; heartbeats
    /// and the syncLimit checks of the ensemble hang here.
    pub fn tick(&mut self) {}

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn debug_check(&self) {
        debug_assert!(self.last_committed <= self.last_durable || self.inflight.is_empty());
        debug_assert!(self.last_durable <= self.last_proposed);
        debug_assert!(self.current_epoch <= self.accepted_epoch);
        debug_assert!(self
            .inflight
            .iter()
            .zip(self.inflight.iter().skip(1))
            .all(|(a, b)| a.zxid < b.zxid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solo() -> Zab {
        Zab::new(
            Config {
                my_id: ServerId(1),
                voters: vec![ServerId(1)],
                inflight_max: 4,
            },
            Restored::default(),
        )
    }

    fn drain(z: &mut Zab) -> Vec<Output> {
        std::iter::from_fn(|| z.poll_output()).collect()
    }

    #[test]
    fn solo_voter_leads_only_after_its_epoch_is_durable() {
        let mut z = solo();
        let out = drain(&mut z);
        assert_eq!(out.len(), 2);
        assert_eq!(z.next_zxid(), Err(ProposeError::NotLeader));
        let Output::Persist { seq, .. } = out[1] else {
            panic!("{out:?}")
        };
        z.persisted(seq);
        assert_eq!(z.next_zxid(), Ok(Zxid::new(1, 1)));
    }

    #[test]
    fn proposals_deliver_in_order_only_once_durable() {
        let mut z = solo();
        let seq = drain(&mut z).len() as u64;
        z.persisted(seq);
        drain(&mut z);
        let a = z.propose(Bytes::from_static(b"a")).unwrap();
        let b = z.propose(Bytes::from_static(b"b")).unwrap();
        assert!(a < b);
        let out = drain(&mut z);
        assert!(out.iter().all(|o| matches!(o, Output::Persist { .. })));
        let Output::Persist { seq: first, .. } = out[0] else {
            panic!()
        };
        z.persisted(first);
        assert_eq!(
            drain(&mut z),
            vec![Output::Deliver(Proposal {
                zxid: a,
                txn: Bytes::from_static(b"a")
            })]
        );
        z.persisted(first + 1);
        assert_eq!(
            drain(&mut z),
            vec![Output::Deliver(Proposal {
                zxid: b,
                txn: Bytes::from_static(b"b")
            })]
        );
    }

    #[test]
    fn restart_starts_a_higher_epoch() {
        let z = Zab::new(
            Config {
                my_id: ServerId(1),
                voters: vec![ServerId(1)],
                inflight_max: 4,
            },
            Restored {
                accepted_epoch: 3,
                current_epoch: 3,
                last_logged: Zxid::new(3, 7),
            },
        );
        assert_eq!(z.accepted_epoch, 4);
    }

    #[test]
    fn backpressure_at_the_inflight_bound() {
        let mut z = solo();
        let seq = drain(&mut z).len() as u64;
        z.persisted(seq);
        for _ in 0..4 {
            z.propose(Bytes::new()).unwrap();
        }
        assert_eq!(z.propose(Bytes::new()), Err(ProposeError::Busy));
    }
}
