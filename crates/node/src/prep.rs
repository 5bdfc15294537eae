//! Prep: turning a write request into a transaction (or an error), as ZooKeeper's
//! PrepRequestProcessor does.
//!
//! A write is validated against the tree *plus* the changes of writes already proposed but
//! not yet applied (ZooKeeper's outstanding changes), so pipelined writes see each other: a
//! create right after a create of its parent succeeds, sequential numbers don't repeat, a
//! delete after a pending create finds the node.
//!
//! Invariants:
//! - `Outstanding` holds, per path, the newest proposed-but-unapplied view of that node
//!   (`None` = deleted). `retire(z)` drops every record of zxid ≤ z once z is applied, so after
//!   the tree has applied everything, the overlay is empty.
//! - Checks run in ZooKeeper's order (zk-protocol.md §5.2): the first failing check wins.
//! - A failing write still becomes a transaction (an ErrorTxn) and takes a zxid, as in
//!   ZooKeeper; prep itself never changes the overlay for a failed request.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use jute::proto::{CreateRequest, MultiOp, OpRequest};
use jute::txn::{
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateTtlTxn, CreateTxn, DeleteTxn,
    ErrorTxn, SetAclTxn, SetDataTxn, TxnBody,
};
use jute::types::{op, perms};
use jute::{Acl, ErrorCode, Id, SessionId, StatPersisted, Zxid};
use tree::datatree::DataTree;
use tree::znode::{Znode, CONTAINER_OWNER};

/// The view of one node that prep needs.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub stat: StatPersisted,
    pub child_count: i32,
    pub acl: Arc<[Acl]>,
}

impl NodeView {
    fn of(z: &Znode) -> NodeView {
        NodeView {
            stat: z.stat.clone(),
            child_count: z.children.len() as i32,
            acl: z.acl.clone(),
        }
    }
}

/// One proposed change: the node at `path` as it will be after txn `zxid` (None = deleted).
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub zxid: Zxid,
    pub path: String,
    pub node: Option<NodeView>,
}

/// ZooKeeper's outstanding changes.
#[derive(Debug, Default)]
pub struct Outstanding {
    latest: HashMap<String, ChangeRecord>,
    order: VecDeque<(Zxid, String)>,
}

impl Outstanding {
    pub fn push(&mut self, records: Vec<ChangeRecord>) {
        for r in records {
            self.order.push_back((r.zxid, r.path.clone()));
            self.latest.insert(r.path.clone(), r);
        }
    }

    /// Txn `zxid` has been applied to the tree: its records (and any older) are now the
    /// tree's own view. Returns how many records left the queue (zk_outstanding_changes_removed).
    pub fn retire(&mut self, zxid: Zxid) -> usize {
        let mut removed = 0;
        while let Some((z, _)) = self.order.front() {
            if *z > zxid {
                break;
            }
            if let Some((z, path)) = self.order.pop_front() {
                removed += 1;
                if self.latest.get(&path).is_some_and(|r| r.zxid == z) {
                    self.latest.remove(&path);
                }
            }
        }
        removed
    }

    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Paths of pending records, for closeSession's ephemeral sweep.
    fn records(&self) -> impl Iterator<Item = &ChangeRecord> {
        self.latest.values()
    }
}

/// Settings that change what prep accepts.
#[derive(Debug, Clone)]
pub struct PrepConfig {
    pub extended_types_enabled: bool,
    pub skip_acl: bool,
    pub reconfig_enabled: bool,
}

/// Everything prep reads for one request.
pub struct PrepCtx<'a> {
    pub tree: &'a DataTree,
    pub outstanding: &'a Outstanding,
    pub config: &'a PrepConfig,
    /// The identities of the requesting connection (ip:…, digest:…, super:…).
    pub ids: &'a [Id],
    pub session: SessionId,
    pub zxid: Zxid,
}

/// A prepared write: the txn body and the overlay records it implies.
pub struct Prepared {
    pub body: TxnBody,
    pub changes: Vec<ChangeRecord>,
}

/// A layered view: changes made earlier in this same request (multi) over the outstanding
/// changes over the tree.
struct View<'a> {
    ctx: &'a PrepCtx<'a>,
    local: Vec<ChangeRecord>,
}

impl<'a> View<'a> {
    fn record(&self, path: &str) -> Option<NodeView> {
        if let Some(r) = self.local.iter().rev().find(|r| r.path == path) {
            return r.node.clone();
        }
        if let Some(r) = self.ctx.outstanding.latest.get(path) {
            return r.node.clone();
        }
        self.ctx.tree.get(path).map(NodeView::of)
    }

    fn require(&self, path: &str) -> Result<NodeView, ErrorCode> {
        self.record(path).ok_or(ErrorCode::NoNode)
    }

    fn set(&mut self, path: &str, node: Option<NodeView>) {
        self.local.push(ChangeRecord {
            zxid: self.ctx.zxid,
            path: path.to_owned(),
            node,
        });
    }

    fn check_acl(&self, acl: &[Acl], perm: i32) -> Result<(), ErrorCode> {
        if self.ctx.config.skip_acl || tree::acl::check_perm(acl, perm, self.ctx.ids) {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    fn fix_acl(&self, acl: &[Acl]) -> Result<Vec<Acl>, ErrorCode> {
        tree::acl::fix_acl(acl, self.ctx.ids)
    }
}

/// The paths that can never be deleted.
fn is_special_path(path: &str) -> bool {
    matches!(
        path,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

/// `checkAndIncVersion`: -1 matches any version; the result is the next version.
fn check_and_inc_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// Which kind of create an opcode + flags + ttl asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CreateKind {
    Persistent,
    Ephemeral,
    Container,
    Ttl(i64),
}

/// Validates flags and TTL as ZooKeeper's validateCreateRequest does; returns the kind and
/// whether the name gets a sequence suffix.
fn create_mode(
    op_type: i32,
    flags: i32,
    ttl: i64,
    extended: bool,
) -> Result<(CreateKind, bool), ErrorCode> {
    // CreateMode.fromFlag: 0..=6, anything else is BadArguments.
    let (ephemeral, sequential, container, is_ttl) = match flags {
        0 => (false, false, false, false),
        1 => (true, false, false, false),
        2 => (false, true, false, false),
        3 => (true, true, false, false),
        4 => (false, false, true, false),
        5 => (false, false, false, true),
        6 => (false, true, false, true),
        _ => return Err(ErrorCode::BadArguments),
    };
    if is_ttl && !extended {
        return Err(ErrorCode::Unimplemented);
    }
    // A TTL create must come as createTTL with a TTL in range; createTTL must ask for a TTL mode.
    let ttl = if op_type == op::CREATE_TTL { ttl } else { -1 };
    if is_ttl {
        if ttl <= 0 || ttl > tree::znode::TTL_MAX_MS {
            return Err(ErrorCode::BadArguments);
        }
    } else if ttl >= 0 {
        return Err(ErrorCode::BadArguments);
    }
    // The opcode, not the flags, decides between container and plain (ZooKeeper's rule).
    let kind = if op_type == op::CREATE_CONTAINER {
        CreateKind::Container
    } else if is_ttl {
        CreateKind::Ttl(ttl)
    } else if ephemeral {
        CreateKind::Ephemeral
    } else {
        let _ = container;
        CreateKind::Persistent
    };
    Ok((kind, sequential))
}

fn prep_create(
    v: &mut View<'_>,
    op_type: i32,
    req: &CreateRequest,
    ttl: i64,
) -> Result<TxnBody, ErrorCode> {
    let (kind, sequential) =
        create_mode(op_type, req.flags, ttl, v.ctx.config.extended_types_enabled)?;
    let path = req.path.as_str();
    let last_slash = path.rfind('/').ok_or(ErrorCode::BadArguments)?;
    if path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    let parent_path = if last_slash == 0 {
        "/"
    } else {
        &path[..last_slash]
    };
    let acl = v.fix_acl(&req.acl)?;
    let parent = v.require(parent_path)?;
    v.check_acl(&parent.acl, perms::CREATE)?;
    let parent_cversion = parent.stat.cversion;
    let path = if sequential {
        tree::path::sequential_name(path, parent_cversion)
    } else {
        path.to_owned()
    };
    tree::path::validate_path(&path)?;
    if v.record(&path).is_some() {
        return Err(ErrorCode::NodeExists);
    }
    if is_session_ephemeral(parent.stat.ephemeral_owner) {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    let zxid = v.ctx.zxid.0;
    let new_cversion = parent_cversion.wrapping_add(1);
    let mut parent_after = parent.clone();
    parent_after.stat.cversion = new_cversion;
    parent_after.stat.pzxid = zxid;
    parent_after.child_count += 1;
    v.set(parent_path, Some(parent_after));
    let owner = match kind {
        CreateKind::Persistent => 0,
        CreateKind::Ephemeral => v.ctx.session.0,
        CreateKind::Container => CONTAINER_OWNER,
        CreateKind::Ttl(ttl) => tree::znode::ttl_owner(ttl),
    };
    let acl: Arc<[Acl]> = acl.into();
    v.set(
        &path,
        Some(NodeView {
            stat: StatPersisted {
                czxid: zxid,
                mzxid: zxid,
                ctime: 0,
                mtime: 0,
                version: 0,
                cversion: 0,
                aversion: 0,
                ephemeral_owner: owner,
                pzxid: zxid,
            },
            child_count: 0,
            acl: acl.clone(),
        }),
    );
    let data = req.data.clone();
    let acl = acl.to_vec();
    Ok(match kind {
        CreateKind::Container => TxnBody::CreateContainer(CreateContainerTxn {
            path,
            data,
            acl,
            parent_cversion: new_cversion,
        }),
        CreateKind::Ttl(ttl) => TxnBody::CreateTtl(CreateTtlTxn {
            path,
            data,
            acl,
            parent_cversion: new_cversion,
            ttl,
        }),
        _ => {
            let t = CreateTxn {
                path,
                data,
                acl,
                ephemeral: kind == CreateKind::Ephemeral,
                parent_cversion: new_cversion,
            };
            if op_type == op::CREATE2 {
                TxnBody::Create2(t)
            } else {
                TxnBody::Create(t)
            }
        }
    })
}

/// A stored ephemeralOwner that names a session (not 0, not a container, not a TTL).
fn is_session_ephemeral(owner: i64) -> bool {
    matches!(
        tree::znode::NodeKind::from_owner(owner),
        tree::znode::NodeKind::Ephemeral(_)
    )
}

fn prep_delete(
    v: &mut View<'_>,
    path: &str,
    version: i32,
    container: bool,
) -> Result<TxnBody, ErrorCode> {
    let last_slash = path.rfind('/').ok_or(ErrorCode::BadArguments)?;
    if path.contains('\0') || is_special_path(path) {
        return Err(ErrorCode::BadArguments);
    }
    let parent_path = if last_slash == 0 {
        "/"
    } else {
        &path[..last_slash]
    };
    let parent = v.require(parent_path)?;
    if !container {
        v.check_acl(&parent.acl, perms::DELETE)?;
    }
    let node = v.require(path)?;
    check_and_inc_version(node.stat.version, version)?;
    if node.child_count > 0 {
        return Err(ErrorCode::NotEmpty);
    }
    let mut parent_after = parent;
    parent_after.child_count -= 1;
    parent_after.stat.pzxid = v.ctx.zxid.0;
    v.set(parent_path, Some(parent_after));
    v.set(path, None);
    let t = DeleteTxn {
        path: path.to_owned(),
    };
    Ok(if container {
        TxnBody::DeleteContainer(t)
    } else {
        TxnBody::Delete(t)
    })
}

fn prep_set_data(
    v: &mut View<'_>,
    path: &str,
    data: &Option<Bytes>,
    version: i32,
) -> Result<TxnBody, ErrorCode> {
    tree::path::validate_path(path)?;
    let node = v.require(path)?;
    v.check_acl(&node.acl, perms::WRITE)?;
    let new_version = check_and_inc_version(node.stat.version, version)?;
    let mut after = node;
    after.stat.version = new_version;
    after.stat.mzxid = v.ctx.zxid.0;
    v.set(path, Some(after));
    Ok(TxnBody::SetData(SetDataTxn {
        path: path.to_owned(),
        data: data.clone(),
        version: new_version,
    }))
}

fn prep_set_acl(
    v: &mut View<'_>,
    path: &str,
    acl: &[Acl],
    version: i32,
) -> Result<TxnBody, ErrorCode> {
    tree::path::validate_path(path)?;
    let acl = v.fix_acl(acl)?;
    let node = v.require(path)?;
    v.check_acl(&node.acl, perms::ADMIN)?;
    let new_version = check_and_inc_version(node.stat.aversion, version)?;
    let mut after = node;
    after.stat.aversion = new_version;
    after.acl = acl.clone().into();
    v.set(path, Some(after));
    Ok(TxnBody::SetAcl(SetAclTxn {
        path: path.to_owned(),
        acl,
        version: new_version,
    }))
}

fn prep_check(v: &mut View<'_>, path: &str, version: i32) -> Result<TxnBody, ErrorCode> {
    tree::path::validate_path(path)?;
    let node = v.require(path)?;
    v.check_acl(&node.acl, perms::READ)?;
    check_and_inc_version(node.stat.version, version)?;
    Ok(TxnBody::Check(CheckVersionTxn {
        path: path.to_owned(),
        version,
    }))
}

fn prep_multi_op(v: &mut View<'_>, o: &MultiOp) -> Result<TxnBody, ErrorCode> {
    match o {
        MultiOp::Create { op, req } => prep_create(v, *op, req, -1),
        MultiOp::CreateTtl(r) => {
            let req = CreateRequest {
                path: r.path.clone(),
                data: r.data.clone(),
                acl: r.acl.clone(),
                flags: r.flags,
            };
            prep_create(v, op::CREATE_TTL, &req, r.ttl)
        }
        MultiOp::Delete(r) => prep_delete(v, &r.path, r.version, false),
        MultiOp::SetData(r) => prep_set_data(v, &r.path, &r.data, r.version),
        MultiOp::Check(r) => prep_check(v, &r.path, r.version),
        MultiOp::GetData(_) | MultiOp::GetChildren(_) => Err(ErrorCode::MarshallingError),
    }
}

/// Preps a multi: sub-ops see the effects of earlier ones. On the first failure at index k,
/// ops before k keep their txns, op k becomes ErrorTxn(code) and later ops
/// ErrorTxn(RuntimeInconsistency); none of the multi's changes reach the overlay.
fn prep_multi(v: &mut View<'_>, ops: &[MultiOp]) -> Result<(TxnBody, bool), ErrorCode> {
    // Read ops inside a write multi make the whole request unmarshallable.
    if ops.iter().any(MultiOp::is_read) {
        return Err(ErrorCode::MarshallingError);
    }
    let mut subs = Vec::with_capacity(ops.len());
    let mut failed = false;
    for o in ops {
        if failed {
            subs.push(TxnBody::Error(ErrorTxn {
                err: ErrorCode::RuntimeInconsistency.code(),
            }));
            continue;
        }
        match prep_multi_op(v, o) {
            Ok(body) => subs.push(body),
            Err(e) => {
                failed = true;
                subs.push(TxnBody::Error(ErrorTxn { err: e.code() }));
            }
        }
    }
    Ok((TxnBody::Multi(subs), failed))
}

/// Preps a client write. `Err` means the request fails as a whole with that code; the
/// caller logs it as an ErrorTxn.
pub fn prep(ctx: &PrepCtx<'_>, req: &OpRequest) -> Result<Prepared, ErrorCode> {
    let mut v = View {
        ctx,
        local: Vec::new(),
    };
    let body = match req {
        OpRequest::Create(r) => prep_create(&mut v, op::CREATE, r, -1)?,
        OpRequest::Create2(r) => prep_create(&mut v, op::CREATE2, r, -1)?,
        OpRequest::CreateContainer(r) => prep_create(&mut v, op::CREATE_CONTAINER, r, -1)?,
        OpRequest::CreateTtl(r) => {
            let c = CreateRequest {
                path: r.path.clone(),
                data: r.data.clone(),
                acl: r.acl.clone(),
                flags: r.flags,
            };
            prep_create(&mut v, op::CREATE_TTL, &c, r.ttl)?
        }
        OpRequest::Delete(r) => prep_delete(&mut v, &r.path, r.version, false)?,
        OpRequest::SetData(r) => prep_set_data(&mut v, &r.path, &r.data, r.version)?,
        OpRequest::SetAcl(r) => prep_set_acl(&mut v, &r.path, &r.acl, r.version)?,
        OpRequest::Multi(m) => {
            let (body, failed) = prep_multi(&mut v, &m.ops)?;
            if failed {
                v.local.clear();
            }
            body
        }
        OpRequest::Reconfig(_) => {
            if !ctx.config.reconfig_enabled {
                return Err(ErrorCode::ReconfigDisabled);
            }
            // Dynamic reconfiguration is not supported: a one-voter member cannot change
            // its membership, which is what ZooKeeper answers in standalone mode.
            return Err(ErrorCode::Unimplemented);
        }
        OpRequest::CloseSession => prep_close_session(&mut v, ctx.session),
        _ => return Err(ErrorCode::Unimplemented),
    };
    Ok(Prepared {
        body,
        changes: v.local,
    })
}

/// closeSession: lists the session's ephemerals — the tree's, plus pending creates of this
/// session, minus pending deletes — and records their deletion.
pub fn prep_close_session_txn(ctx: &PrepCtx<'_>, session: SessionId) -> Prepared {
    let mut v = View {
        ctx,
        local: Vec::new(),
    };
    let body = prep_close_session(&mut v, session);
    Prepared {
        body,
        changes: v.local,
    }
}

fn prep_close_session(v: &mut View<'_>, session: SessionId) -> TxnBody {
    let mut paths: Vec<String> = v.ctx.tree.ephemerals_of(session.0);
    for r in v.ctx.outstanding.records() {
        match &r.node {
            Some(n) if n.stat.ephemeral_owner == session.0 && !paths.contains(&r.path) => {
                paths.push(r.path.clone());
            }
            None => paths.retain(|p| p != &r.path),
            _ => {}
        }
    }
    paths.sort();
    // Deepest first is not needed (ephemerals have no children), but the overlay must see
    // each parent lose its child.
    for p in &paths {
        let parent_path = tree::path::parent(p);
        if let Some(mut parent) = v.record(parent_path) {
            parent.child_count -= 1;
            parent.stat.pzxid = v.ctx.zxid.0;
            v.set(parent_path, Some(parent));
        }
        v.set(p, None);
    }
    TxnBody::CloseSession(CloseSessionTxn {
        paths_to_delete: paths,
    })
}

/// The container reaper's internal delete (opcode deleteContainer): no ACL check, and it
/// re-checks that the node is still empty.
pub fn prep_delete_container(ctx: &PrepCtx<'_>, path: &str) -> Result<Prepared, ErrorCode> {
    let mut v = View {
        ctx,
        local: Vec::new(),
    };
    let body = prep_delete(&mut v, path, -1, true)?;
    Ok(Prepared {
        body,
        changes: v.local,
    })
}
