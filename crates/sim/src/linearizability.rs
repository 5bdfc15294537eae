//! A linearizability checker for registers with read, write and compare-and-set-by-version
//! (Wing & Gong's search with Lowe's memoisation, as Knossos/Porcupine do).
//!
//! A history is a list of operations with invoke and complete times from the sim clock.
//! An operation that never completed (its client timed out, its server crashed) may have
//! taken effect at any point after its invocation, or never. Keys are independent
//! registers, so each key is checked on its own (P-compositionality).
//!
//! The search linearizes, one at a time, an operation that no other pending completed
//! operation precedes in real time (`a` precedes `b` iff `a.complete < b.invoke`), checks its
//! result against the register model, and backtracks; (linearized set, register) pairs
//! already explored are skipped. A search budget bounds the work: `Unknown` when exceeded.

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasherDefault;

use crate::kv::{apply_op, Op, Res};

/// One client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HOp {
    pub client: u32,
    pub key: u8,
    pub op: Op,
    pub invoke: u64,
    /// Completion time and result; `None` when the outcome is unknown.
    pub complete: Option<(u64, Res)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The search budget ran out.
    Unknown,
}

/// A sequential object a history is checked against: a state and a pure step function.
/// `check_model` works for any of them; the register model of `kv` is one, the znode and
/// sequential-create models of `zk_model` are others.
pub trait Model {
    type State: Clone + Eq + std::hash::Hash;
    type Op: Clone;
    type Res: Clone + PartialEq;
    /// The new state and the answer of `op` applied at `state`.
    fn step(state: &Self::State, op: &Self::Op) -> (Self::State, Self::Res);
}

/// One operation of a history over model `M`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<O, R> {
    pub op: O,
    pub invoke: u64,
    /// Completion time and result; `None` when the outcome is unknown.
    pub complete: Option<(u64, R)>,
}

/// The register model of `kv`: (value, version).
struct KvModel;

impl Model for KvModel {
    type State = (u64, u64);
    type Op = Op;
    type Res = Res;
    fn step(state: &(u64, u64), op: &Op) -> ((u64, u64), Res) {
        let mut r = *state;
        let res = apply_op(&mut r, *op);
        (r, res)
    }
}

/// Fixed-key hasher: exploration order never depends on process randomness.
type Memo<S> =
    HashSet<(Vec<u64>, S), BuildHasherDefault<std::collections::hash_map::DefaultHasher>>;

/// Checks every key's history; the worst verdict wins, with the failing key.
pub fn check(history: &[HOp], budget: usize) -> (Verdict, Option<u8>) {
    let mut by_key: BTreeMap<u8, Vec<HOp>> = BTreeMap::new();
    for op in history {
        by_key.entry(op.key).or_default().push(op.clone());
    }
    let mut unknown = None;
    for (key, ops) in by_key {
        match check_register(&ops, budget) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable => return (Verdict::NotLinearizable, Some(key)),
            Verdict::Unknown => unknown = Some(key),
        }
    }
    match unknown {
        Some(k) => (Verdict::Unknown, Some(k)),
        None => (Verdict::Linearizable, None),
    }
}

/// Checks one register's history, starting from (value 0, version 0).
pub fn check_register(ops: &[HOp], budget: usize) -> Verdict {
    let entries: Vec<Entry<Op, Res>> = ops
        .iter()
        .map(|o| Entry {
            op: o.op,
            invoke: o.invoke,
            complete: o.complete,
        })
        .collect();
    check_model::<KvModel>((0, 0), &entries, budget)
}

/// Checks one object's history against model `M`, starting from `init`.
pub fn check_model<M: Model>(
    init: M::State,
    ops: &[Entry<M::Op, M::Res>],
    budget: usize,
) -> Verdict {
    let mut ops: Vec<Entry<M::Op, M::Res>> = ops.to_vec();
    ops.sort_by_key(|o| (o.invoke, o.complete.as_ref().map(|c| c.0)));
    let completed = ops.iter().filter(|o| o.complete.is_some()).count();
    let mut lin = vec![0u64; ops.len().div_ceil(64)];
    let mut memo = Memo::default();
    let mut budget = budget;
    match search::<M>(&ops, &mut lin, init, completed, &mut memo, &mut budget) {
        Some(true) => Verdict::Linearizable,
        Some(false) => Verdict::NotLinearizable,
        None => Verdict::Unknown,
    }
}

fn search<M: Model>(
    ops: &[Entry<M::Op, M::Res>],
    lin: &mut Vec<u64>,
    state: M::State,
    remaining: usize,
    memo: &mut Memo<M::State>,
    budget: &mut usize,
) -> Option<bool> {
    if remaining == 0 {
        return Some(true);
    }
    if !memo.insert((lin.clone(), state.clone())) {
        return Some(false);
    }
    if *budget == 0 {
        return None;
    }
    *budget -= 1;
    let is_lin = |lin: &Vec<u64>, i: usize| lin[i / 64] & (1 << (i % 64)) != 0;
    let min_complete = ops
        .iter()
        .enumerate()
        .filter(|(i, _)| !is_lin(lin, *i))
        .filter_map(|(_, o)| o.complete.as_ref().map(|c| c.0))
        .min()
        .unwrap_or(u64::MAX);
    for i in 0..ops.len() {
        if is_lin(lin, i) {
            continue;
        }
        let o = &ops[i];
        if o.invoke > min_complete {
            // Sorted by invoke: nothing later can go next either.
            break;
        }
        let (next, res) = M::step(&state, &o.op);
        let rem = match &o.complete {
            Some((_, want)) if *want != res => continue,
            Some(_) => remaining - 1,
            None => remaining,
        };
        if o.complete.is_none() && next == state {
            // An unknown op that changes nothing here (a read, a failed CAS) need not be
            // placed at all.
            continue;
        }
        lin[i / 64] |= 1 << (i % 64);
        let found = search::<M>(ops, lin, next, rem, memo, budget);
        lin[i / 64] &= !(1 << (i % 64));
        match found {
            Some(true) => return Some(true),
            Some(false) => {}
            None => return None,
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(client: u32, value: u64, invoke: u64, done: Option<u64>) -> HOp {
        HOp {
            client,
            key: 0,
            op: Op::Write { value },
            invoke,
            complete: done.map(|t| (t, Res::Written)),
        }
    }
    fn r(client: u32, value: u64, version: u64, invoke: u64, done: u64) -> HOp {
        HOp {
            client,
            key: 0,
            op: Op::Read,
            invoke,
            complete: Some((done, Res::Read { value, version })),
        }
    }
    fn cas(client: u32, expected: u64, value: u64, ok: bool, invoke: u64, done: u64) -> HOp {
        HOp {
            client,
            key: 0,
            op: Op::Cas { expected, value },
            invoke,
            complete: Some((done, Res::Cas(ok))),
        }
    }
    const B: usize = 100_000;

    #[test]
    fn sequential_history_is_linearizable() {
        let h = [
            w(1, 5, 0, Some(1)),
            r(2, 5, 1, 2, 3),
            cas(1, 1, 6, true, 4, 5),
            r(2, 6, 2, 6, 7),
        ];
        assert_eq!(check_register(&h, B), Verdict::Linearizable);
    }

    #[test]
    fn concurrent_writes_may_order_either_way() {
        let h = [
            w(1, 1, 0, Some(10)),
            w(2, 2, 0, Some(10)),
            r(3, 1, 2, 11, 12),
        ];
        assert_eq!(check_register(&h, B), Verdict::Linearizable);
    }

    #[test]
    fn stale_read_after_a_completed_write_is_not_linearizable() {
        let h = [w(1, 1, 0, Some(1)), w(1, 2, 2, Some(3)), r(2, 1, 1, 4, 5)];
        assert_eq!(check_register(&h, B), Verdict::NotLinearizable);
    }

    #[test]
    fn reads_may_not_go_back_in_time() {
        // Two writes concurrent with two reads: the reads see 2 then 1, but the second read
        // starts after the first one returned, so the register would have to move back.
        let h = [
            w(1, 1, 0, Some(100)),
            w(2, 2, 0, Some(100)),
            r(3, 2, 2, 10, 20),
            r(3, 1, 2, 30, 40),
        ];
        assert_eq!(check_register(&h, B), Verdict::NotLinearizable);
    }

    #[test]
    fn an_unfinished_write_may_take_effect_late_or_never() {
        let took = [w(1, 7, 0, None), r(2, 0, 0, 5, 6), r(2, 7, 1, 50, 51)];
        assert_eq!(check_register(&took, B), Verdict::Linearizable);
        let never = [w(1, 7, 0, None), r(2, 0, 0, 50, 51)];
        assert_eq!(check_register(&never, B), Verdict::Linearizable);
        // ...but not before it was invoked.
        let early = [r(2, 7, 1, 0, 1), w(1, 7, 5, None)];
        assert_eq!(check_register(&early, B), Verdict::NotLinearizable);
    }

    #[test]
    fn cas_must_agree_with_versions() {
        let ok = [
            w(1, 1, 0, Some(1)),
            cas(2, 1, 9, true, 2, 3),
            cas(3, 1, 8, false, 4, 5),
        ];
        assert_eq!(check_register(&ok, B), Verdict::Linearizable);
        let bad = [
            w(1, 1, 0, Some(1)),
            cas(2, 1, 9, true, 2, 3),
            cas(3, 1, 8, true, 4, 5),
        ];
        assert_eq!(check_register(&bad, B), Verdict::NotLinearizable);
    }

    #[test]
    fn a_lost_acknowledged_write_is_not_linearizable() {
        let h = [w(1, 3, 0, Some(1)), r(2, 0, 0, 2, 3)];
        assert_eq!(check_register(&h, B), Verdict::NotLinearizable);
    }

    #[test]
    fn keys_are_checked_independently() {
        let mut a = w(1, 1, 0, Some(1));
        a.key = 1;
        let b = r(2, 0, 0, 2, 3);
        assert_eq!(check(&[a, b], B).0, Verdict::Linearizable);
    }
}
