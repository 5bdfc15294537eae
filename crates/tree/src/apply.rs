//! `DataTree::apply`: one committed txn → the new tree, the txn's result and the raw watch
//! triggers, as ZooKeeper's `DataTree.processTxn` does.
//!
//! Owns: the meaning of each txn body when applied, multi's all-or-nothing result rules, the
//! session-close deletes, and the replay rules that make re-applying txns over a fuzzy snapshot
//! converge (§11.4 of zk-protocol.md).
//!
//! Contract:
//! 1. Every check that can reject a *request* happened in prep; a txn that fails here (NoNode,
//!    NodeExists, …) only happens when replaying over a fuzzy snapshot. Such failures are
//!    returned as `TxnResult::Error`, never panics, and leave the tree consistent.
//! 2. Every sub-txn of a multi uses the header's zxid and time. The last processed zxid moves
//!    once, after the whole txn (ZooKeeper does the same so a snapshot never holds half a multi).
//! 3. Triggers are raw (path, event type, ACL of the node the event concerns) in ZooKeeper's
//!    order: create → NodeCreated(P), NodeChildrenChanged(parent); delete → NodeDeleted(P),
//!    NodeChildrenChanged(parent); setData → NodeDataChanged(P); setACL → none. The watch
//!    registry fans NodeDeleted out to the data and child tables and does the READ filtering.
//! 4. Data size limits and permission checks are prep's; apply never rejects on them.

use std::sync::Arc;

use bytes::Bytes;
use jute::proto::event_type;
use jute::txn::{Txn, TxnBody, TxnHeader};
use jute::{Acl, ErrorCode, Stat};

use crate::datatree::{Changed, DataTree};
use crate::path;
use crate::znode::{ttl_owner, CONTAINER_OWNER};

/// What applying one txn produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub result: TxnResult,
    /// Watch triggers in the order ZooKeeper fires them.
    pub triggers: Vec<Trigger>,
}

/// The outcome of a txn (or of one sub-txn of a multi), from which the reply is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnResult {
    /// Any create kind: the actual path (sequence suffix included) and the new node's Stat
    /// (create's reply drops it; create2/container/TTL send it).
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    DataSet(Stat),
    AclSet(Stat),
    Checked,
    /// One result per sub-txn. For a failed multi: `Error(Ok)` before the failing op, its
    /// `Error(code)`, then `Error(RuntimeInconsistency)`.
    Multi(Vec<TxnResult>),
    Error(ErrorCode),
    SessionCreated,
    SessionClosed,
}

/// One raw watch trigger: the event and the ACL of the node it concerns (the parent's for
/// NodeChildrenChanged), so delivery can be filtered by READ permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub path: String,
    pub event_type: i32,
    pub acl: Arc<[Acl]>,
}

impl DataTree {
    /// Applies one committed txn. See the module doc for the contract.
    pub fn apply(&mut self, txn: &Txn) -> Applied {
        let mut triggers = Vec::new();
        let result = self.apply_body(&txn.header, &txn.body, false, &mut triggers);
        self.advance_last_processed_zxid(txn.header.zxid);
        Applied { result, triggers }
    }

    fn apply_body(
        &mut self,
        h: &TxnHeader,
        body: &TxnBody,
        in_multi: bool,
        triggers: &mut Vec<Trigger>,
    ) -> TxnResult {
        match body {
            TxnBody::Create(t) | TxnBody::Create2(t) => {
                let owner = if t.ephemeral { h.client_id } else { 0 };
                let c = Create {
                    path: &t.path,
                    data: t.data.as_ref(),
                    acl: &t.acl,
                    owner,
                    parent_cversion: t.parent_cversion,
                };
                self.apply_create(h, c, triggers)
            }
            TxnBody::CreateContainer(t) => {
                let c = Create {
                    path: &t.path,
                    data: t.data.as_ref(),
                    acl: &t.acl,
                    owner: CONTAINER_OWNER,
                    parent_cversion: t.parent_cversion,
                };
                self.apply_create(h, c, triggers)
            }
            TxnBody::CreateTtl(t) => {
                let c = Create {
                    path: &t.path,
                    data: t.data.as_ref(),
                    acl: &t.acl,
                    owner: ttl_owner(t.ttl),
                    parent_cversion: t.parent_cversion,
                };
                self.apply_create(h, c, triggers)
            }
            TxnBody::Delete(t) | TxnBody::DeleteContainer(t) => {
                match self.delete_with_triggers(&t.path, h.zxid, triggers) {
                    Ok(()) => TxnResult::Deleted,
                    Err(e) => TxnResult::Error(e),
                }
            }
            TxnBody::SetData(t) => {
                match self.set_data(&t.path, t.data.as_ref(), t.version, h.zxid, h.time) {
                    Ok(c) => {
                        triggers.push(Trigger {
                            path: t.path.clone(),
                            event_type: event_type::NODE_DATA_CHANGED,
                            acl: c.acl,
                        });
                        TxnResult::DataSet(c.stat)
                    }
                    Err(e) => TxnResult::Error(e),
                }
            }
            TxnBody::SetAcl(t) => match self.set_acl(&t.path, &t.acl, t.version) {
                Ok(c) => TxnResult::AclSet(c.stat),
                Err(e) => TxnResult::Error(e),
            },
            // The version was checked in prep; applying a check changes nothing.
            TxnBody::Check(_) => TxnResult::Checked,
            TxnBody::Error(e) => TxnResult::Error(error_code(e.err)),
            // ZooKeeper never nests these in a multi (its reader refuses them).
            TxnBody::Multi(_) | TxnBody::CreateSession(_) | TxnBody::CloseSession(_)
                if in_multi =>
            {
                TxnResult::Error(ErrorCode::MarshallingError)
            }
            TxnBody::Multi(subs) => self.apply_multi(h, subs, triggers),
            // Sessions live in the session tracker; the tree has nothing to record.
            TxnBody::CreateSession(_) => TxnResult::SessionCreated,
            TxnBody::CloseSession(t) => {
                self.close_session(h.client_id, h.zxid, &t.paths_to_delete, triggers);
                TxnResult::SessionClosed
            }
        }
    }

    /// Create of any kind. On NodeExists (only seen in replay) the parent still takes the txn's
    /// cversion and pzxid, as ZooKeeper repairs a fuzzy snapshot. ZooKeeper does that only for
    /// txn type `create`; doing it for every create kind is the same repair applied uniformly
    /// (normal operation never reaches it: prep rejects existing paths).
    fn apply_create(
        &mut self,
        h: &TxnHeader,
        c: Create<'_>,
        triggers: &mut Vec<Trigger>,
    ) -> TxnResult {
        let created = self.create_node(
            c.path,
            c.data,
            c.acl,
            c.owner,
            c.parent_cversion,
            h.zxid,
            h.time,
        );
        match created {
            Ok(Changed {
                stat,
                acl,
                parent_acl,
            }) => {
                triggers.push(Trigger {
                    path: c.path.to_owned(),
                    event_type: event_type::NODE_CREATED,
                    acl,
                });
                if let Some(parent_acl) = parent_acl {
                    triggers.push(Trigger {
                        path: path::parent(c.path).to_owned(),
                        event_type: event_type::NODE_CHILDREN_CHANGED,
                        acl: parent_acl,
                    });
                }
                TxnResult::Created {
                    path: c.path.to_owned(),
                    stat,
                }
            }
            Err(ErrorCode::NodeExists) => {
                // The parent exists (NodeExists is only reported under an existing parent).
                let _ = self.set_cversion_pzxid(path::parent(c.path), c.parent_cversion, h.zxid);
                TxnResult::Error(ErrorCode::NodeExists)
            }
            Err(e) => TxnResult::Error(e),
        }
    }

    fn delete_with_triggers(
        &mut self,
        path: &str,
        zxid: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<(), ErrorCode> {
        let c = self.delete_node(path, zxid)?;
        triggers.push(Trigger {
            path: path.to_owned(),
            event_type: event_type::NODE_DELETED,
            acl: c.acl,
        });
        if let Some(parent_acl) = c.parent_acl {
            triggers.push(Trigger {
                path: path::parent(path).to_owned(),
                event_type: event_type::NODE_CHILDREN_CHANGED,
                acl: parent_acl,
            });
        }
        Ok(())
    }

    /// A multi. If prep logged any sub-txn as an error, nothing is applied and the results are
    /// rewritten as ZooKeeper does: each non-error sub-txn becomes `Error(Ok)` before the first
    /// error and `Error(RuntimeInconsistency)` after it; error sub-txns keep their code.
    /// Otherwise every sub-txn is applied in order with the header's zxid; a sub-txn failing
    /// here (replay only) is reported and the others still apply, so replay stays idempotent.
    fn apply_multi(
        &mut self,
        h: &TxnHeader,
        subs: &[TxnBody],
        triggers: &mut Vec<Trigger>,
    ) -> TxnResult {
        let failed = subs.iter().any(|s| matches!(s, TxnBody::Error(_)));
        if failed {
            let mut post_failed = false;
            let results = subs
                .iter()
                .map(|s| match s {
                    TxnBody::Error(e) => {
                        post_failed = true;
                        TxnResult::Error(error_code(e.err))
                    }
                    _ if post_failed => TxnResult::Error(ErrorCode::RuntimeInconsistency),
                    _ => TxnResult::Error(ErrorCode::Ok),
                })
                .collect();
            return TxnResult::Multi(results);
        }
        let results = subs
            .iter()
            .map(|s| self.apply_body(h, s, true, triggers))
            .collect();
        TxnResult::Multi(results)
    }

    /// closeSession: deletes the paths the leader listed in the txn (in txn order), then any
    /// ephemerals the session still owns here (sorted), all with the close's zxid. Paths already
    /// gone are skipped, as ZooKeeper only logs them.
    fn close_session(
        &mut self,
        session: i64,
        zxid: i64,
        paths: &[String],
        triggers: &mut Vec<Trigger>,
    ) {
        for p in paths {
            let _ = self.delete_with_triggers(p, zxid, triggers);
        }
        for p in self.ephemerals_of(session) {
            let _ = self.delete_with_triggers(&p, zxid, triggers);
        }
    }
}

/// The fields every create kind shares.
struct Create<'a> {
    path: &'a str,
    data: Option<&'a Bytes>,
    acl: &'a [Acl],
    owner: i64,
    parent_cversion: i32,
}

/// An ErrorTxn's code; a code this server does not know is reported as SystemError.
fn error_code(code: i32) -> ErrorCode {
    ErrorCode::from_code(code).unwrap_or(ErrorCode::SystemError)
}

/// Test kit shared by the apply and snapshot tests: txn builders and a dumb `BTreeMap` model
/// with its own tiny "prep", used to generate realistic txn streams (including failed multis).
#[cfg(test)]
pub(crate) mod model {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use jute::perms;
    use jute::txn::*;
    use jute::{Acl, ErrorCode};
    use proptest::prelude::*;

    use crate::path::{parent, sequential_name};

    pub fn header(client_id: i64, zxid: i64, txn_type: i32) -> TxnHeader {
        TxnHeader {
            client_id,
            cxid: 0,
            zxid,
            time: 1000 + zxid,
            txn_type,
        }
    }

    pub fn txn(client_id: i64, zxid: i64, body: TxnBody) -> Txn {
        Txn {
            header: header(client_id, zxid, body.txn_type()),
            body,
            digest: None,
        }
    }

    pub fn create(path: &str, data: &[u8], acl: Vec<Acl>, ephemeral: bool, pcv: i32) -> TxnBody {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data)),
            acl,
            ephemeral,
            parent_cversion: pcv,
        })
    }

    pub fn acls(i: usize) -> Vec<Acl> {
        match i % 3 {
            0 => Acl::open_unsafe(),
            1 => vec![Acl::new(perms::READ, "world", "anyone")],
            _ => vec![
                Acl::new(perms::ALL, "digest", "u:abc="),
                Acl::new(perms::READ, "ip", "127.0.0.1"),
            ],
        }
    }

    /// One node of the model: the fields a client can observe plus the stored cversion.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct MNode {
        pub data: Vec<u8>,
        pub acl: Vec<Acl>,
        pub version: i32,
        pub aversion: i32,
        pub cversion: i32,
        pub owner: i64,
        pub czxid: i64,
        pub mzxid: i64,
        pub pzxid: i64,
    }

    /// The dumb model: a map from path to node; children found by scanning keys.
    #[derive(Debug, Clone)]
    pub struct Model {
        pub nodes: BTreeMap<String, MNode>,
        pub zxid: i64,
    }

    #[derive(Debug, Clone)]
    pub enum Op {
        Create {
            path: String,
            session: i64,
            seq: bool,
            data: Vec<u8>,
            acl: usize,
        },
        Delete {
            path: String,
        },
        SetData {
            path: String,
            data: Vec<u8>,
            good_version: bool,
        },
        SetAcl {
            path: String,
            acl: usize,
        },
        Multi(Vec<Op>),
        CloseSession(i64),
    }

    fn path_strategy() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..4)
            .prop_map(|segs| format!("/{}", segs.join("/")))
    }

    fn simple_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (path_strategy(), 0i64..3, any::<bool>(), prop::collection::vec(any::<u8>(), 0..4), 0usize..3)
                .prop_map(|(path, session, seq, data, acl)| Op::Create { path, session, seq, data, acl }),
            2 => path_strategy().prop_map(|path| Op::Delete { path }),
            2 => (path_strategy(), prop::collection::vec(any::<u8>(), 0..4), prop::bool::weighted(0.8))
                .prop_map(|(path, data, good_version)| Op::SetData { path, data, good_version }),
            1 => (path_strategy(), 0usize..3).prop_map(|(path, acl)| Op::SetAcl { path, acl }),
        ]
    }

    pub fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => simple_op(),
            2 => prop::collection::vec(simple_op(), 0..4).prop_map(Op::Multi),
            1 => (1i64..3).prop_map(Op::CloseSession),
        ]
    }

    impl Model {
        pub fn new() -> Model {
            let mut nodes = BTreeMap::new();
            let plain = |acl: Vec<Acl>, aversion| MNode {
                data: Vec::new(),
                acl,
                version: 0,
                aversion,
                cversion: 0,
                owner: 0,
                czxid: 0,
                mzxid: 0,
                pzxid: 0,
            };
            nodes.insert("/".into(), plain(Acl::open_unsafe(), 0));
            nodes.insert("/zookeeper".into(), plain(Acl::open_unsafe(), 0));
            nodes.insert("/zookeeper/quota".into(), plain(Acl::open_unsafe(), 0));
            nodes.insert("/zookeeper/config".into(), plain(Acl::read_unsafe(), -1));
            Model { nodes, zxid: 0 }
        }

        pub fn children(&self, path: &str) -> Vec<String> {
            self.nodes
                .keys()
                .filter(|k| k.as_str() != "/" && parent(k) == path)
                .cloned()
                .collect()
        }

        /// Prep one simple op against the model, applying it to the model on success.
        fn prep_simple(&mut self, op: &Op, zxid: i64) -> Result<(i64, TxnBody), ErrorCode> {
            match op {
                Op::Create {
                    path,
                    session,
                    seq,
                    data,
                    acl,
                } => {
                    let pp = parent(path).to_owned();
                    let p = self.nodes.get(&pp).ok_or(ErrorCode::NoNode)?.clone();
                    let path = if *seq {
                        sequential_name(path, p.cversion)
                    } else {
                        path.clone()
                    };
                    if self.nodes.contains_key(&path) {
                        return Err(ErrorCode::NodeExists);
                    }
                    if p.owner != 0 {
                        return Err(ErrorCode::NoChildrenForEphemerals);
                    }
                    let pcv = p.cversion + 1;
                    let parent_node = self.nodes.get_mut(&pp).ok_or(ErrorCode::NoNode)?;
                    parent_node.cversion = pcv;
                    parent_node.pzxid = zxid;
                    self.nodes.insert(
                        path.clone(),
                        MNode {
                            data: data.clone(),
                            acl: acls(*acl),
                            version: 0,
                            aversion: 0,
                            cversion: 0,
                            owner: *session,
                            czxid: zxid,
                            mzxid: zxid,
                            pzxid: zxid,
                        },
                    );
                    Ok((
                        *session,
                        create(&path, data, acls(*acl), *session != 0, pcv),
                    ))
                }
                Op::Delete { path } => {
                    if ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]
                        .contains(&path.as_str())
                    {
                        return Err(ErrorCode::BadArguments);
                    }
                    if !self.nodes.contains_key(path) {
                        return Err(ErrorCode::NoNode);
                    }
                    if !self.children(path).is_empty() {
                        return Err(ErrorCode::NotEmpty);
                    }
                    self.nodes.remove(path);
                    let p = self.nodes.get_mut(parent(path)).ok_or(ErrorCode::NoNode)?;
                    p.pzxid = p.pzxid.max(zxid);
                    Ok((1, TxnBody::Delete(DeleteTxn { path: path.clone() })))
                }
                Op::SetData {
                    path,
                    data,
                    good_version,
                } => {
                    let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
                    if !good_version {
                        return Err(ErrorCode::BadVersion);
                    }
                    n.version += 1;
                    n.data = data.clone();
                    n.mzxid = zxid;
                    Ok((
                        1,
                        TxnBody::SetData(SetDataTxn {
                            path: path.clone(),
                            data: Some(Bytes::copy_from_slice(data)),
                            version: n.version,
                        }),
                    ))
                }
                Op::SetAcl { path, acl } => {
                    let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
                    n.aversion += 1;
                    n.acl = acls(*acl);
                    Ok((
                        1,
                        TxnBody::SetAcl(SetAclTxn {
                            path: path.clone(),
                            acl: acls(*acl),
                            version: n.aversion,
                        }),
                    ))
                }
                Op::Multi(_) | Op::CloseSession(_) => Err(ErrorCode::MarshallingError),
            }
        }

        /// The model's "prep + apply": the txn the leader would log for `op` at the next zxid.
        /// Returns the txn and the result the tree must produce.
        pub fn step(&mut self, op: &Op) -> Txn {
            self.zxid += 1;
            let zxid = self.zxid;
            match op {
                Op::Multi(ops) => {
                    let before = self.clone();
                    let mut subs = Vec::new();
                    for (i, o) in ops.iter().enumerate() {
                        // Ephemerals created by a multi belong to its session (1 here).
                        let o = match o {
                            Op::Create {
                                path,
                                session,
                                seq,
                                data,
                                acl,
                            } if *session != 0 => Op::Create {
                                path: path.clone(),
                                session: 1,
                                seq: *seq,
                                data: data.clone(),
                                acl: *acl,
                            },
                            o => o.clone(),
                        };
                        match self.prep_simple(&o, zxid) {
                            Ok((_, body)) => subs.push(body),
                            Err(e) => {
                                *self = before;
                                self.zxid = zxid;
                                subs.push(TxnBody::Error(ErrorTxn { err: e.code() }));
                                for _ in i + 1..ops.len() {
                                    subs.push(TxnBody::Error(ErrorTxn {
                                        err: ErrorCode::RuntimeInconsistency.code(),
                                    }));
                                }
                                break;
                            }
                        }
                    }
                    txn(1, zxid, TxnBody::Multi(subs))
                }
                Op::CloseSession(s) => {
                    let paths: Vec<String> = self
                        .nodes
                        .iter()
                        .filter(|(_, n)| n.owner == *s)
                        .map(|(p, _)| p.clone())
                        .collect();
                    for p in &paths {
                        self.nodes.remove(p);
                        if let Some(pn) = self.nodes.get_mut(parent(p)) {
                            pn.pzxid = pn.pzxid.max(zxid);
                        }
                    }
                    txn(
                        *s,
                        zxid,
                        TxnBody::CloseSession(CloseSessionTxn {
                            paths_to_delete: paths,
                        }),
                    )
                }
                _ => match self.prep_simple(op, zxid) {
                    Ok((client, body)) => txn(client.max(1), zxid, body),
                    Err(e) => txn(1, zxid, TxnBody::Error(ErrorTxn { err: e.code() })),
                },
            }
        }

        /// Does `tree` hold exactly the model's state?
        pub fn agrees_with(&self, tree: &crate::datatree::DataTree) -> Result<(), String> {
            let mut count = 0;
            tree.walk("/", |_, _| count += 1);
            if count != self.nodes.len() {
                return Err(format!(
                    "tree has {count} nodes, model {}",
                    self.nodes.len()
                ));
            }
            for (p, m) in &self.nodes {
                let n = tree
                    .get(p)
                    .ok_or_else(|| format!("{p} missing from tree"))?;
                let s = &n.stat;
                let got = (
                    n.data().unwrap_or_default(),
                    &*n.acl,
                    s.version,
                    s.aversion,
                    s.cversion,
                    s.ephemeral_owner,
                    (s.czxid, s.mzxid, s.pzxid),
                    n.children.len(),
                );
                let want = (
                    &m.data[..],
                    &m.acl[..],
                    m.version,
                    m.aversion,
                    m.cversion,
                    m.owner,
                    (m.czxid, m.mzxid, m.pzxid),
                    self.children(p).len(),
                );
                if got != want {
                    return Err(format!("{p}: tree {got:?} != model {want:?}"));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::model::*;
    use super::*;
    use jute::txn::*;
    use jute::{perms, Zxid};
    use proptest::prelude::*;

    fn apply(t: &mut DataTree, client: i64, zxid: i64, body: TxnBody) -> Applied {
        let a = t.apply(&txn(client, zxid, body));
        t.check_invariants().unwrap();
        t.check_stat_invariants().unwrap();
        a
    }

    fn stat(t: &DataTree, p: &str) -> Stat {
        t.get(p).unwrap().client_stat()
    }

    fn kinds(a: &Applied) -> Vec<(&str, i32)> {
        a.triggers
            .iter()
            .map(|t| (t.path.as_str(), t.event_type))
            .collect()
    }

    const OPEN: fn() -> Vec<Acl> = Acl::open_unsafe;

    #[test]
    fn create_sets_stat_and_parent_and_fires_created_then_children_changed() {
        let mut t = DataTree::new();
        let secret = vec![Acl::new(perms::ALL, "digest", "u:x")];
        let a = apply(
            &mut t,
            5,
            0x100,
            create("/a", b"hi", secret.clone(), false, 1),
        );
        let s = stat(&t, "/a");
        assert_eq!(
            a.result,
            TxnResult::Created {
                path: "/a".into(),
                stat: s.clone()
            }
        );
        assert_eq!((s.czxid, s.mzxid, s.pzxid), (0x100, 0x100, 0x100));
        assert_eq!((s.ctime, s.mtime), (1000 + 0x100, 1000 + 0x100));
        assert_eq!(
            (s.version, s.cversion, s.aversion, s.ephemeral_owner),
            (0, 0, 0, 0)
        );
        assert_eq!((s.data_length, s.num_children), (2, 0));
        let root = stat(&t, "/");
        assert_eq!(
            (root.cversion, root.pzxid, root.num_children),
            (0, 0x100, 2)
        );
        assert_eq!(
            kinds(&a),
            [
                ("/a", event_type::NODE_CREATED),
                ("/", event_type::NODE_CHILDREN_CHANGED)
            ]
        );
        assert_eq!(&*a.triggers[0].acl, &secret[..]);
        assert_eq!(&*a.triggers[1].acl, &OPEN()[..]);
        assert_eq!(t.last_processed_zxid(), Zxid(0x100));
        assert_eq!(t.approximate_data_size(), 44 + 2 + 2);
        assert_eq!(t.node_count(), 6);
    }

    #[test]
    fn cversion_example_of_4_1_and_sequential_base() {
        // create /t/a, /t/s-1, /t/s-2, delete /t/a → visible cversion 4; next seq is …3.
        let mut t = DataTree::new();
        apply(&mut t, 1, 1, create("/t", b"", OPEN(), false, 1));
        for (i, p) in ["/t/a", "/t/s-1", "/t/s-2"].iter().enumerate() {
            let pcv = t.get("/t").unwrap().stat.cversion + 1;
            apply(&mut t, 1, 2 + i as i64, create(p, b"", OPEN(), false, pcv));
        }
        let a = apply(
            &mut t,
            1,
            5,
            TxnBody::Delete(DeleteTxn {
                path: "/t/a".into(),
            }),
        );
        assert_eq!(a.result, TxnResult::Deleted);
        let s = stat(&t, "/t");
        assert_eq!((s.cversion, s.num_children, s.pzxid), (4, 2, 5));
        assert_eq!(t.get("/t").unwrap().stat.cversion, 3);
        let next = crate::path::sequential_name("/t/s-", t.get("/t").unwrap().stat.cversion);
        assert_eq!(next, "/t/s-0000000003");
    }

    #[test]
    fn delete_fires_deleted_then_children_changed_and_keeps_stored_cversion() {
        let mut t = DataTree::new();
        apply(&mut t, 1, 1, create("/a", b"", OPEN(), false, 1));
        apply(&mut t, 1, 2, create("/a/b", b"xyz", acls(1), false, 1));
        let a = apply(
            &mut t,
            1,
            3,
            TxnBody::Delete(DeleteTxn {
                path: "/a/b".into(),
            }),
        );
        assert_eq!(
            kinds(&a),
            [
                ("/a/b", event_type::NODE_DELETED),
                ("/a", event_type::NODE_CHILDREN_CHANGED)
            ]
        );
        assert_eq!(&*a.triggers[0].acl, &acls(1)[..]);
        let n = t.get("/a").unwrap();
        assert_eq!((n.stat.cversion, n.stat.pzxid), (1, 3));
        assert_eq!(n.client_stat().cversion, 2);
        assert!(t.get("/a/b").is_none());
        assert_eq!(t.approximate_data_size(), 44 + 2);
    }

    #[test]
    fn set_data_and_set_acl() {
        let mut t = DataTree::new();
        apply(&mut t, 1, 1, create("/a", b"1", OPEN(), false, 1));
        let a = apply(
            &mut t,
            1,
            7,
            TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"long data")),
                version: 1,
            }),
        );
        let s = stat(&t, "/a");
        assert_eq!(a.result, TxnResult::DataSet(s.clone()));
        assert_eq!(
            (s.version, s.mzxid, s.mtime, s.czxid, s.ctime),
            (1, 7, 1007, 1, 1001)
        );
        assert_eq!(kinds(&a), [("/a", event_type::NODE_DATA_CHANGED)]);
        assert_eq!(t.approximate_data_size(), 44 + 2 + 9);
        // Null data is kept distinct from empty.
        apply(
            &mut t,
            1,
            8,
            TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data: None,
                version: 2,
            }),
        );
        assert_eq!(t.get("/a").unwrap().data(), None);
        let a = apply(
            &mut t,
            1,
            9,
            TxnBody::SetAcl(SetAclTxn {
                path: "/a".into(),
                acl: acls(2),
                version: 1,
            }),
        );
        let s = stat(&t, "/a");
        assert_eq!(a.result, TxnResult::AclSet(s.clone()));
        assert!(a.triggers.is_empty());
        assert_eq!((s.aversion, s.mzxid, s.version), (1, 8, 2));
        assert_eq!(&*t.get("/a").unwrap().acl, &acls(2)[..]);
        let missing = apply(
            &mut t,
            1,
            10,
            TxnBody::SetData(SetDataTxn {
                path: "/zz".into(),
                data: None,
                version: 1,
            }),
        );
        assert_eq!(missing.result, TxnResult::Error(ErrorCode::NoNode));
    }

    #[test]
    fn ephemerals_containers_ttls_are_indexed() {
        let mut t = DataTree::new();
        apply(&mut t, 0x77, 1, create("/e1", b"", OPEN(), true, 1));
        apply(&mut t, 0x77, 2, create("/e0", b"", OPEN(), true, 2));
        apply(&mut t, 0x78, 3, create("/f", b"", OPEN(), true, 3));
        let c = TxnBody::CreateContainer(CreateContainerTxn {
            path: "/c".into(),
            data: None,
            acl: OPEN(),
            parent_cversion: 4,
        });
        let a = apply(&mut t, 0x77, 4, c);
        assert!(
            matches!(a.result, TxnResult::Created { ref stat, .. } if stat.ephemeral_owner == 0)
        );
        let ttl = TxnBody::CreateTtl(CreateTtlTxn {
            path: "/t".into(),
            data: None,
            acl: OPEN(),
            parent_cversion: 5,
            ttl: 1234,
        });
        apply(&mut t, 0x77, 5, ttl);
        assert_eq!(t.ephemerals_of(0x77), ["/e0", "/e1"]);
        assert_eq!(
            t.sessions_with_ephemerals(),
            [
                (0x77, vec!["/e0".to_string(), "/e1".to_string()]),
                (0x78, vec!["/f".to_string()])
            ]
        );
        assert_eq!(t.ephemerals_count(), 3);
        assert_eq!(t.containers(), ["/c"]);
        assert_eq!(t.ttl_nodes(), ["/t"]);
        assert_eq!(
            t.get("/t").unwrap().kind(),
            crate::znode::NodeKind::Ttl(1234)
        );
        assert_eq!(stat(&t, "/t").ephemeral_owner, 0);
        assert_eq!(stat(&t, "/e1").ephemeral_owner, 0x77);
        apply(
            &mut t,
            1,
            6,
            TxnBody::DeleteContainer(DeleteTxn { path: "/c".into() }),
        );
        assert!(t.containers().is_empty());
    }

    #[test]
    fn close_session_deletes_listed_then_remaining_ephemerals() {
        let mut t = DataTree::new();
        apply(&mut t, 9, 1, create("/p", b"", OPEN(), false, 1));
        apply(&mut t, 9, 2, create("/p/e1", b"", OPEN(), true, 1));
        apply(&mut t, 9, 3, create("/p/e2", b"", OPEN(), true, 2));
        apply(&mut t, 8, 4, create("/other", b"", OPEN(), true, 3));
        let close = TxnBody::CloseSession(CloseSessionTxn {
            paths_to_delete: vec!["/p/e2".into(), "/gone".into()],
        });
        let a = apply(&mut t, 9, 10, close);
        assert_eq!(a.result, TxnResult::SessionClosed);
        assert_eq!(
            kinds(&a),
            [
                ("/p/e2", event_type::NODE_DELETED),
                ("/p", event_type::NODE_CHILDREN_CHANGED),
                ("/p/e1", event_type::NODE_DELETED),
                ("/p", event_type::NODE_CHILDREN_CHANGED),
            ]
        );
        assert!(t.ephemerals_of(9).is_empty());
        assert_eq!(t.ephemerals_of(8), ["/other"]);
        assert_eq!(stat(&t, "/p").pzxid, 10);
        // An empty list means "whatever the session owns here".
        let close = TxnBody::CloseSession(CloseSessionTxn::default());
        let a = apply(&mut t, 8, 11, close);
        assert_eq!(kinds(&a)[0], ("/other", event_type::NODE_DELETED));
        assert!(t.sessions_with_ephemerals().is_empty());
        assert_eq!(t.last_processed_zxid(), Zxid(11));
        let a = apply(
            &mut t,
            8,
            12,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 1 }),
        );
        assert_eq!(a.result, TxnResult::SessionCreated);
    }

    #[test]
    fn multi_applies_all_with_one_zxid() {
        let mut t = DataTree::new();
        let m = TxnBody::Multi(vec![
            create("/m", b"", OPEN(), false, 1),
            create("/m/x", b"", OPEN(), false, 1),
            TxnBody::SetData(SetDataTxn {
                path: "/m".into(),
                data: Some(Bytes::from_static(b"d")),
                version: 1,
            }),
            TxnBody::Check(CheckVersionTxn {
                path: "/m".into(),
                version: 1,
            }),
        ]);
        let a = apply(&mut t, 1, 42, m);
        let TxnResult::Multi(rs) = &a.result else {
            panic!("not a multi result: {:?}", a.result)
        };
        assert_eq!(rs.len(), 4);
        assert!(
            matches!(&rs[0], TxnResult::Created { path, stat } if path == "/m" && stat.czxid == 42)
        );
        assert!(matches!(&rs[2], TxnResult::DataSet(s) if s.mzxid == 42 && s.version == 1));
        assert_eq!(rs[3], TxnResult::Checked);
        assert_eq!(
            kinds(&a),
            [
                ("/m", event_type::NODE_CREATED),
                ("/", event_type::NODE_CHILDREN_CHANGED),
                ("/m/x", event_type::NODE_CREATED),
                ("/m", event_type::NODE_CHILDREN_CHANGED),
                ("/m", event_type::NODE_DATA_CHANGED),
            ]
        );
        assert_eq!(stat(&t, "/m").pzxid, 42);
        assert_eq!(t.last_processed_zxid(), Zxid(42));
    }

    #[test]
    fn failed_multi_applies_nothing_and_rewrites_results() {
        let mut t = DataTree::new();
        let before = t.clone();
        let m = TxnBody::Multi(vec![
            create("/m", b"", OPEN(), false, 1),
            TxnBody::Error(ErrorTxn { err: -103 }),
            TxnBody::Error(ErrorTxn { err: -2 }),
            // Not what prep writes, but ZooKeeper rewrites such a sub-txn too.
            create("/n", b"", OPEN(), false, 2),
        ]);
        let a = apply(&mut t, 1, 5, m);
        assert_eq!(
            a.result,
            TxnResult::Multi(vec![
                TxnResult::Error(ErrorCode::Ok),
                TxnResult::Error(ErrorCode::BadVersion),
                TxnResult::Error(ErrorCode::RuntimeInconsistency),
                TxnResult::Error(ErrorCode::RuntimeInconsistency),
            ])
        );
        assert!(a.triggers.is_empty());
        assert!(t.get("/m").is_none());
        let mut expected = before;
        expected.set_last_processed_zxid(Zxid(5));
        assert_eq!(t, expected);
        // Empty multi: allowed, nothing changes.
        let a = apply(&mut t, 1, 6, TxnBody::Multi(vec![]));
        assert_eq!(a.result, TxnResult::Multi(vec![]));
    }

    #[test]
    fn error_txn_and_nested_session_txns() {
        let mut t = DataTree::new();
        let a = apply(&mut t, 1, 3, TxnBody::Error(ErrorTxn { err: -110 }));
        assert_eq!(a.result, TxnResult::Error(ErrorCode::NodeExists));
        assert_eq!(t.last_processed_zxid(), Zxid(3));
        let a = apply(&mut t, 1, 4, TxnBody::Error(ErrorTxn { err: -4242 }));
        assert_eq!(a.result, TxnResult::Error(ErrorCode::SystemError));
        let m = TxnBody::Multi(vec![TxnBody::CloseSession(CloseSessionTxn::default())]);
        let a = apply(&mut t, 1, 5, m);
        assert_eq!(
            a.result,
            TxnResult::Multi(vec![TxnResult::Error(ErrorCode::MarshallingError)])
        );
    }

    #[test]
    fn bad_paths_are_errors_not_panics() {
        let mut t = DataTree::new();
        for p in ["", "a", "/", "/a/", "/a//b", "/a/.."] {
            let a = apply(&mut t, 1, 1, create(p, b"", OPEN(), false, -1));
            assert!(matches!(a.result, TxnResult::Error(_)), "{p:?}");
            let a = apply(&mut t, 1, 1, TxnBody::Delete(DeleteTxn { path: p.into() }));
            assert!(matches!(a.result, TxnResult::Error(_)), "{p:?}");
        }
        let a = apply(&mut t, 1, 1, create("/x/y", b"", OPEN(), false, -1));
        assert_eq!(a.result, TxnResult::Error(ErrorCode::NoNode));
        assert_eq!(t.node_count(), 5);
    }

    #[test]
    fn replay_rules_of_11_4() {
        let mut t = DataTree::new();
        apply(&mut t, 1, 1, create("/p", b"", OPEN(), false, 1));
        apply(&mut t, 1, 2, create("/p/a", b"", OPEN(), false, 1));
        // parentCVersion -1 means "current + 1".
        apply(&mut t, 1, 3, create("/p/b", b"", OPEN(), false, -1));
        assert_eq!(t.get("/p").unwrap().stat.cversion, 2);
        // Replaying a create whose node exists still advances the parent's cversion and pzxid.
        let a = apply(&mut t, 1, 9, create("/p/a", b"", OPEN(), false, 5));
        assert_eq!(a.result, TxnResult::Error(ErrorCode::NodeExists));
        assert!(a.triggers.is_empty());
        let s = &t.get("/p").unwrap().stat;
        assert_eq!((s.cversion, s.pzxid), (5, 9));
        // …but never moves them backwards.
        apply(&mut t, 1, 10, create("/p/a", b"", OPEN(), false, 4));
        let s = &t.get("/p").unwrap().stat;
        assert_eq!((s.cversion, s.pzxid), (5, 9));
        // A create with an older parentCVersion adds the child without lowering the parent.
        apply(&mut t, 1, 11, create("/p/c", b"", OPEN(), false, 3));
        let s = &t.get("/p").unwrap().stat;
        assert_eq!((s.cversion, s.pzxid), (5, 9));
        // Delete of a missing child: NoNode, but pzxid still advances (only forward).
        let a = apply(
            &mut t,
            1,
            12,
            TxnBody::Delete(DeleteTxn {
                path: "/p/zz".into(),
            }),
        );
        assert_eq!(a.result, TxnResult::Error(ErrorCode::NoNode));
        assert_eq!(t.get("/p").unwrap().stat.pzxid, 12);
        apply(
            &mut t,
            1,
            8,
            TxnBody::Delete(DeleteTxn {
                path: "/p/zz".into(),
            }),
        );
        assert_eq!(t.get("/p").unwrap().stat.pzxid, 12);
        // A replayed delete of a node that has (younger) children removes the subtree.
        apply(&mut t, 1, 13, create("/p/a/x", b"", OPEN(), false, 1));
        let a = apply(
            &mut t,
            1,
            14,
            TxnBody::Delete(DeleteTxn {
                path: "/p/a".into(),
            }),
        );
        assert_eq!(a.result, TxnResult::Deleted);
        assert!(t.get("/p/a/x").is_none());
        // The last processed zxid never goes back.
        assert_eq!(t.last_processed_zxid(), Zxid(14));
    }

    #[test]
    fn cversion_wrap_keeps_advancing() {
        let mut t = DataTree::new();
        apply(&mut t, 1, 1, create("/p", b"", OPEN(), false, 1));
        apply(&mut t, 1, 2, create("/p/a", b"", OPEN(), false, i32::MAX));
        apply(&mut t, 1, 3, create("/p/b", b"", OPEN(), false, i32::MIN));
        assert_eq!(t.get("/p").unwrap().stat.cversion, i32::MIN);
        assert_eq!(
            crate::path::sequential_name("/p/s", t.get("/p").unwrap().stat.cversion),
            "/p/s-2147483648"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// Random op streams: the tree agrees with the dumb model and keeps its invariants after
        /// every txn; a second tree fed the same txns ends equal; and re-applying the whole log
        /// over the final tree (replay of already-applied txns) changes nothing.
        #[test]
        fn tree_agrees_with_model(ops in prop::collection::vec(op(), 1..40)) {
            let mut model = Model::new();
            let mut tree = DataTree::new();
            let mut log = Vec::new();
            for op in &ops {
                let txn = model.step(op);
                tree.apply(&txn);
                tree.check_invariants().map_err(TestCaseError::fail)?;
                tree.check_stat_invariants().map_err(TestCaseError::fail)?;
                model.agrees_with(&tree).map_err(TestCaseError::fail)?;
                prop_assert_eq!(tree.last_processed_zxid(), Zxid(model.zxid));
                log.push(txn);
            }
            let mut twin = DataTree::new();
            for txn in &log {
                twin.apply(txn);
            }
            prop_assert_eq!(&twin, &tree);
            for txn in &log {
                twin.apply(txn);
                twin.check_invariants().map_err(TestCaseError::fail)?;
            }
            prop_assert_eq!(&twin, &tree);
        }
    }
}
