//! Invariant checkers, one per file, named after Zab.tla's properties (plus durability and
//! liveness). They share `Observations`, which the simulator feeds as things happen; a
//! violation is recorded with the sim time and fails the seed.

use std::collections::{BTreeMap, BTreeSet};

use jute::Zxid;
use zab::ServerId;

pub mod durability;
pub mod integrity;
pub mod leadership;
pub mod liveness;
pub mod prefix_consistency;
pub mod primary_order;

/// What the checkers have seen so far.
#[derive(Debug, Default)]
pub struct Observations {
    /// Members that started serving as leader, per epoch (leadership).
    pub leaders: BTreeMap<u32, BTreeSet<ServerId>>,
    /// Every proposal made, by zxid: the txn hash (integrity).
    pub proposed: BTreeMap<Zxid, u64>,
    /// The one delivered sequence all members' delivered histories must be prefixes of
    /// (prefix consistency / agreement / total order).
    pub global: Vec<(Zxid, u64)>,
    pub global_index: BTreeMap<Zxid, usize>,
    /// Writes acknowledged to clients (durability).
    pub acked: Vec<(Zxid, u64)>,
    pub violations: Vec<String>,
}

impl Observations {
    pub fn violate(&mut self, now: u64, what: String) {
        if self.violations.len() < 20 {
            self.violations.push(format!("t={now}: {what}"));
        }
    }
}
