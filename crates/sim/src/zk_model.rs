//! What ZooKeeper promises about client histories, as sequential models for the
//! linearizability checker, plus the per-session checks that hold for plain reads.
//!
//! Objects (each checked on its own, P-compositionality):
//! - A *register* znode: (value, version). `setData(-1)` writes and answers the new version;
//!   `setData(v)` is a compare-and-set on the version (BadVersion when it differs);
//!   `sync` + `getData` on one session reads (value, version). The data is a u64 (empty data
//!   reads as 0), so every write is distinguishable.
//! - A *sequential parent*: the number the next `create(PERSISTENT_SEQUENTIAL)` under it gets
//!   (ZooKeeper suffixes the parent's cversion; only creates change it here). Each create
//!   answers the counter at its linearization point and bumps it, so the numbers of the
//!   creates that succeeded are unique, and a create that finished before another started
//!   got the smaller one. `ReadCounter` (the parent's cversion read after healing) closes
//!   the history so that acknowledged creates cannot vanish.
//!
//! - A *multi* on a register `/rK`: `multi[check(/rK, expected), setData(/rK, value, -1),
//!   create(/rK/m-, PERSISTENT_SEQUENTIAL)]`. All three take effect at one linearization
//!   point or none does: on success the register's version and its child counter (cversion)
//!   both move; a failed check changes nothing and the reply carries the first error
//!   (BadVersion) then RuntimeInconsistency, as ZooKeeper answers. The sequential child is
//!   created under the register itself so that the multi touches one object only (the state
//!   of every znode is (value, version, child counter)) and P-compositionality still holds;
//!   `ReadCounter` on the register after healing closes its child counter.
//!
//! - A *plain* znode `/dK` outside the register set, created and deleted again and again
//!   (`create(PERSISTENT)` answers NodeExists when it is there, `delete(-1)` NoNode when it
//!   is not): its state is whether it exists (the value field, 0 or 1). `ReadExists` after
//!   healing closes it.
//!
//! What is *not* linearizable in ZooKeeper and therefore not in these histories: a plain
//! `getData` without `sync` may be served by a follower that lags. For those, ZooKeeper
//! promises per-session order only (see [`SessionOrder`]): every reply's zxid is at least the
//! last one the session saw (a reconnect to a server behind the client is refused), so a
//! session reads its own writes and never sees a znode's version go back.

use std::collections::BTreeMap;

use crate::linearizability::{check_model, Entry, Model, Verdict};

/// A client operation on one znode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZkOp {
    /// `setData(path, value, -1)`.
    Write { value: u64 },
    /// `setData(path, value, expected)`.
    Cas { expected: i32, value: u64 },
    /// `sync(path)` then `getData(path)` on the same session.
    SyncRead,
    /// `create(parent + "/s-", PERSISTENT_SEQUENTIAL)`.
    CreateSeq,
    /// The parent's sequence counter, read after healing (quiescent).
    ReadCounter,
    /// `multi[check(path, expected), setData(path, value, -1), create(path + "/m-", SEQ)]`.
    Multi { expected: i32, value: u64 },
    /// `create(path, PERSISTENT)` of a plain znode.
    CreateNode,
    /// `delete(path, -1)` of a plain znode.
    DeleteNode,
    /// Whether the plain znode exists, read after healing (quiescent).
    ReadExists,
}

/// What the server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZkRes {
    Written {
        version: i32,
    },
    CasOk {
        version: i32,
    },
    BadVersion,
    Read {
        value: u64,
        version: i32,
    },
    Created {
        seq: i64,
    },
    Counter(i64),
    /// Every op of a multi applied: the setData's new version and the create's number.
    MultiOk {
        version: i32,
        seq: i64,
    },
    /// A multi applied nothing; `err` is the first error code its results carry.
    MultiFailed {
        err: i32,
    },
    NodeCreated,
    NodeExists,
    NodeDeleted,
    NoNode,
    Exists(bool),
}

/// (value, version, next child number) of any znode: registers use the first two (and the
/// third for multis), a sequential parent only the third.
pub type ZkState = (u64, i64, i64);

/// The model both kinds of znode follow.
pub struct ZnodeModel;

impl Model for ZnodeModel {
    type State = ZkState;
    type Op = ZkOp;
    type Res = ZkRes;
    fn step(s: &ZkState, op: &ZkOp) -> (ZkState, ZkRes) {
        let (value, version, cversion) = *s;
        match *op {
            ZkOp::Write { value: v } => (
                (v, version + 1, cversion),
                ZkRes::Written {
                    version: (version + 1) as i32,
                },
            ),
            ZkOp::Cas { expected, value: v } if expected as i64 == version => (
                (v, version + 1, cversion),
                ZkRes::CasOk {
                    version: (version + 1) as i32,
                },
            ),
            ZkOp::Cas { .. } => (*s, ZkRes::BadVersion),
            ZkOp::SyncRead => (
                *s,
                ZkRes::Read {
                    value,
                    version: version as i32,
                },
            ),
            ZkOp::CreateSeq => (
                (value, version, cversion + 1),
                ZkRes::Created { seq: cversion },
            ),
            ZkOp::ReadCounter => (*s, ZkRes::Counter(cversion)),
            ZkOp::Multi { expected, value: v } if expected as i64 == version => (
                (v, version + 1, cversion + 1),
                ZkRes::MultiOk {
                    version: (version + 1) as i32,
                    seq: cversion,
                },
            ),
            ZkOp::CreateNode if value == 0 => ((1, version, cversion), ZkRes::NodeCreated),
            ZkOp::CreateNode => (*s, ZkRes::NodeExists),
            ZkOp::DeleteNode if value == 1 => ((0, version, cversion), ZkRes::NodeDeleted),
            ZkOp::DeleteNode => (*s, ZkRes::NoNode),
            ZkOp::ReadExists => (*s, ZkRes::Exists(value == 1)),
            ZkOp::Multi { .. } => (
                *s,
                ZkRes::MultiFailed {
                    err: jute::ErrorCode::BadVersion.code(),
                },
            ),
        }
    }
}

/// One operation of a client history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkHOp {
    pub client: u32,
    /// The znode: a register's path, or a sequential parent's path.
    pub path: String,
    pub op: ZkOp,
    pub invoke: u64,
    /// Completion time and answer; `None` when the outcome is unknown.
    pub complete: Option<(u64, ZkRes)>,
}

/// Checks every znode's history from (0, 0, 0); the first non-linearizable znode wins, else an
/// inconclusive one, else `Linearizable`.
pub fn check(history: &[ZkHOp], budget: usize) -> (Verdict, Option<String>) {
    let mut by_path: BTreeMap<&str, Vec<Entry<ZkOp, ZkRes>>> = BTreeMap::new();
    for o in history {
        by_path.entry(&o.path).or_default().push(Entry {
            op: o.op,
            invoke: o.invoke,
            complete: o.complete,
        });
    }
    let mut unknown = None;
    for (path, ops) in by_path {
        match check_model::<ZnodeModel>((0, 0, 0), &ops, budget) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable => return (Verdict::NotLinearizable, Some(path.into())),
            Verdict::Unknown => unknown = Some(path.to_string()),
        }
    }
    match unknown {
        Some(p) => (Verdict::Unknown, Some(p)),
        None => (Verdict::Linearizable, None),
    }
}

/// ZooKeeper's per-session guarantees, checked on every reply a session gets (on whichever
/// server): zxids never go back, and a znode's version never goes below one the session
/// already saw (its own writes included), also across reconnects.
#[derive(Debug, Default, Clone)]
pub struct SessionOrder {
    last_zxid: i64,
    versions: BTreeMap<String, i32>,
}

impl SessionOrder {
    /// A reply (not a ping) with header zxid `zxid`.
    pub fn on_reply(&mut self, zxid: i64) -> Result<(), String> {
        if zxid < self.last_zxid {
            return Err(format!(
                "reply zxid {zxid:#x} is below the session's last seen {:#x}",
                self.last_zxid
            ));
        }
        self.last_zxid = zxid;
        Ok(())
    }

    /// The version of `path` a reply showed (write, CAS, read with or without sync).
    pub fn on_version(&mut self, path: &str, version: i32) -> Result<(), String> {
        let seen = self.versions.entry(path.to_string()).or_insert(0);
        if version < *seen {
            return Err(format!(
                "{path}: version {version} after the session saw {seen}"
            ));
        }
        *seen = version;
        Ok(())
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// The highest version of `path` this session has seen.
    pub fn version(&self, path: &str) -> i32 {
        self.versions.get(path).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: usize = 100_000;

    fn op(client: u32, path: &str, op: ZkOp, invoke: u64, done: Option<(u64, ZkRes)>) -> ZkHOp {
        ZkHOp {
            client,
            path: path.into(),
            op,
            invoke,
            complete: done,
        }
    }
    fn create(client: u32, invoke: u64, done: u64, seq: i64) -> ZkHOp {
        op(
            client,
            "/q",
            ZkOp::CreateSeq,
            invoke,
            Some((done, ZkRes::Created { seq })),
        )
    }

    #[test]
    fn sequential_creates_in_order_are_linearizable() {
        let h = [
            create(1, 0, 10, 0),
            create(2, 5, 15, 1),
            create(1, 20, 30, 2),
            op(
                3,
                "/q",
                ZkOp::ReadCounter,
                40,
                Some((41, ZkRes::Counter(3))),
            ),
        ];
        assert_eq!(check(&h, B).0, Verdict::Linearizable);
    }

    #[test]
    fn planted_bug_two_creates_with_the_same_number() {
        let h = [create(1, 0, 10, 0), create(2, 5, 15, 0)];
        assert_eq!(check(&h, B), (Verdict::NotLinearizable, Some("/q".into())));
    }

    #[test]
    fn planted_bug_sequence_numbers_against_real_time() {
        // The first create finished before the second began, yet got the larger number.
        let h = [create(1, 0, 10, 1), create(2, 20, 30, 0)];
        assert_eq!(check(&h, B).0, Verdict::NotLinearizable);
    }

    #[test]
    fn an_unknown_create_may_explain_a_gap_but_not_a_lost_ack() {
        let gap = [
            create(1, 0, 10, 0),
            op(2, "/q", ZkOp::CreateSeq, 11, None),
            create(1, 20, 30, 2),
        ];
        assert_eq!(check(&gap, B).0, Verdict::Linearizable);
        let no_gap = [create(1, 0, 10, 0), create(1, 20, 30, 2)];
        assert_eq!(check(&no_gap, B).0, Verdict::NotLinearizable);
        // An acknowledged create lost after a crash: the counter read afterwards is too low.
        let lost = [
            create(1, 0, 10, 0),
            create(1, 20, 30, 1),
            op(
                3,
                "/q",
                ZkOp::ReadCounter,
                40,
                Some((41, ZkRes::Counter(1))),
            ),
        ];
        assert_eq!(check(&lost, B).0, Verdict::NotLinearizable);
    }

    #[test]
    fn planted_bug_cas_succeeding_on_a_stale_version() {
        let w = |c, v, t0, t1, ver| {
            op(
                c,
                "/r0",
                ZkOp::Write { value: v },
                t0,
                Some((t1, ZkRes::Written { version: ver })),
            )
        };
        let ok = [
            w(1, 7, 0, 10, 1),
            op(
                2,
                "/r0",
                ZkOp::Cas {
                    expected: 1,
                    value: 8,
                },
                20,
                Some((30, ZkRes::CasOk { version: 2 })),
            ),
        ];
        assert_eq!(check(&ok, B).0, Verdict::Linearizable);
        // Version 0 is stale once the write (version 1) completed: the CAS must fail.
        let bad = [
            w(1, 7, 0, 10, 1),
            op(
                2,
                "/r0",
                ZkOp::Cas {
                    expected: 0,
                    value: 8,
                },
                20,
                Some((30, ZkRes::CasOk { version: 1 })),
            ),
        ];
        assert_eq!(
            check(&bad, B),
            (Verdict::NotLinearizable, Some("/r0".into()))
        );
    }

    #[test]
    fn planted_bug_stale_sync_read() {
        let h = [
            op(
                1,
                "/r1",
                ZkOp::Write { value: 5 },
                0,
                Some((10, ZkRes::Written { version: 1 })),
            ),
            op(
                2,
                "/r1",
                ZkOp::SyncRead,
                20,
                Some((
                    30,
                    ZkRes::Read {
                        value: 0,
                        version: 0,
                    },
                )),
            ),
        ];
        assert_eq!(check(&h, B).0, Verdict::NotLinearizable);
        // With the write unfinished, the read may precede it.
        let mut h2 = h.clone();
        h2[0].complete = None;
        assert_eq!(check(&h2, B).0, Verdict::Linearizable);
    }

    fn multi(client: u32, expected: i32, invoke: u64, done: Option<(u64, ZkRes)>) -> ZkHOp {
        op(
            client,
            "/r0",
            ZkOp::Multi { expected, value: 9 },
            invoke,
            done,
        )
    }
    fn sync_read(value: u64, version: i32, t: u64) -> ZkHOp {
        op(
            3,
            "/r0",
            ZkOp::SyncRead,
            t,
            Some((t + 1, ZkRes::Read { value, version })),
        )
    }
    fn counter(n: i64, t: u64) -> ZkHOp {
        op(
            3,
            "/r0",
            ZkOp::ReadCounter,
            t,
            Some((t + 1, ZkRes::Counter(n))),
        )
    }
    const BAD_VERSION: i32 = -103;

    #[test]
    fn multis_apply_all_or_nothing() {
        let ok = ZkRes::MultiOk { version: 1, seq: 0 };
        let failed = ZkRes::MultiFailed { err: BAD_VERSION };
        // One succeeds, a concurrent one with the same expected version fails.
        let h = [
            multi(1, 0, 0, Some((10, ok))),
            multi(2, 0, 5, Some((15, failed))),
            sync_read(9, 1, 20),
            counter(1, 30),
        ];
        assert_eq!(check(&h, B).0, Verdict::Linearizable);
        // An unknown multi either applied wholly or not at all.
        let unknown_applied = [multi(1, 0, 0, None), sync_read(9, 1, 20), counter(1, 30)];
        assert_eq!(check(&unknown_applied, B).0, Verdict::Linearizable);
        let unknown_not = [multi(1, 0, 0, None), sync_read(0, 0, 20), counter(0, 30)];
        assert_eq!(check(&unknown_not, B).0, Verdict::Linearizable);
    }

    #[test]
    fn planted_bug_a_multi_that_applied_half() {
        // Acknowledged, but only its setData survived: the child counter never moved.
        let setdata_only = [
            multi(1, 0, 0, Some((10, ZkRes::MultiOk { version: 1, seq: 0 }))),
            sync_read(9, 1, 20),
            counter(0, 30),
        ];
        assert_eq!(
            check(&setdata_only, B),
            (Verdict::NotLinearizable, Some("/r0".into()))
        );
        // Unknown outcome, yet half of it is visible: data written, no child created.
        let half_unknown = [multi(1, 0, 0, None), sync_read(9, 1, 20), counter(0, 30)];
        assert_eq!(check(&half_unknown, B).0, Verdict::NotLinearizable);
        // Reported failed, yet its setData took effect.
        let failed_but_applied = [
            multi(1, 0, 0, Some((10, ZkRes::MultiFailed { err: BAD_VERSION }))),
            sync_read(9, 1, 20),
        ];
        assert_eq!(check(&failed_but_applied, B).0, Verdict::NotLinearizable);
        // Failed on a version that was current: its check should have passed.
        let wrong_failure = [
            multi(1, 0, 0, Some((10, ZkRes::MultiFailed { err: BAD_VERSION }))),
            sync_read(0, 0, 20),
        ];
        assert_eq!(check(&wrong_failure, B).0, Verdict::NotLinearizable);
    }

    #[test]
    fn plain_creates_and_deletes_alternate() {
        let d = |c, o, t0, r| op(c, "/d0", o, t0, Some((t0 + 10, r)));
        let ok = [
            d(1, ZkOp::CreateNode, 0, ZkRes::NodeCreated),
            d(2, ZkOp::CreateNode, 20, ZkRes::NodeExists),
            d(2, ZkOp::DeleteNode, 40, ZkRes::NodeDeleted),
            d(1, ZkOp::DeleteNode, 60, ZkRes::NoNode),
            d(3, ZkOp::ReadExists, 80, ZkRes::Exists(false)),
        ];
        assert_eq!(check(&ok, B).0, Verdict::Linearizable);
        // Two creates both acknowledged with no delete between them.
        let twice = [
            d(1, ZkOp::CreateNode, 0, ZkRes::NodeCreated),
            d(2, ZkOp::CreateNode, 20, ZkRes::NodeCreated),
        ];
        assert_eq!(check(&twice, B).0, Verdict::NotLinearizable);
        // An acknowledged delete undone (the znode is back after healing).
        let undone = [
            d(1, ZkOp::CreateNode, 0, ZkRes::NodeCreated),
            d(2, ZkOp::DeleteNode, 20, ZkRes::NodeDeleted),
            d(3, ZkOp::ReadExists, 80, ZkRes::Exists(true)),
        ];
        assert_eq!(check(&undone, B).0, Verdict::NotLinearizable);
    }

    #[test]
    fn session_order_catches_going_back() {
        let mut s = SessionOrder::default();
        assert!(s.on_reply(5).is_ok());
        assert!(s.on_reply(5).is_ok());
        assert!(s.on_reply(4).is_err());
        assert!(s.on_version("/r0", 3).is_ok());
        assert!(s.on_version("/r0", 2).is_err());
    }
}
