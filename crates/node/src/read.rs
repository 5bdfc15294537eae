//! Reads: answered from the local tree, in the connection's order (behind its own pending
//! writes), registering watches as they go — ZooKeeper's FinalRequestProcessor for reads.
//!
//! Permission checks follow 3.9: exists needs READ on an existing node, getACL READ or ADMIN.

use bytes::BytesMut;
use jute::proto::{
    add_watch_mode, GetAclResponse, GetAllChildrenNumberResponse, GetChildren2Response,
    GetChildrenResponse, GetDataResponse, GetEphemeralsResponse, MultiOp, MultiRequest,
    MultiResponse, MultiResult, OpRequest, PathResponse, StatResponse, WhoAmIResponse,
};
use jute::types::perms;
use jute::{ErrorCode, Id, Record};
use tree::datatree::DataTree;
use tree::watch::{WatchRegistry, WatcherId};

/// What a read needs to know about the connection asking.
pub struct Reader<'a> {
    pub conn: WatcherId,
    pub ids: &'a [Id],
    pub session: i64,
    pub skip_acl: bool,
}

impl Reader<'_> {
    fn allowed(&self, acl: &[jute::Acl], perm: i32) -> bool {
        self.skip_acl || tree::acl::check_perm(acl, perm, self.ids)
    }

    fn check(&self, acl: &[jute::Acl], perm: i32) -> Result<(), ErrorCode> {
        if self.allowed(acl, perm) {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth)
        }
    }
}

/// Serves one read into `body`. `Err` is the reply's error code (the body is then empty).
pub fn serve(
    tree: &DataTree,
    watches: &mut WatchRegistry,
    who: &Reader<'_>,
    req: &OpRequest,
    body: &mut BytesMut,
) -> Result<(), ErrorCode> {
    match req {
        OpRequest::Exists(r) => {
            if r.path.contains('\0') {
                return Err(ErrorCode::BadArguments);
            }
            match tree.get(&r.path) {
                Some(n) => {
                    who.check(&n.acl, perms::READ)?;
                    if r.watch {
                        watches.add_data_watch(&r.path, who.conn);
                    }
                    StatResponse {
                        stat: n.client_stat(),
                    }
                    .encode(body);
                    Ok(())
                }
                None => {
                    // A watch on a missing node is an exist watch: it waits for the create.
                    if r.watch {
                        watches.add_data_watch(&r.path, who.conn);
                    }
                    Err(ErrorCode::NoNode)
                }
            }
        }
        OpRequest::GetData(r) => {
            let n = tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
            who.check(&n.acl, perms::READ)?;
            if r.watch {
                watches.add_data_watch(&r.path, who.conn);
            }
            GetDataResponse {
                data: n.data_bytes(),
                stat: n.client_stat(),
            }
            .encode(body);
            Ok(())
        }
        OpRequest::GetChildren(r) | OpRequest::GetChildren2(r) => {
            let n = tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
            who.check(&n.acl, perms::READ)?;
            if r.watch {
                watches.add_child_watch(&r.path, who.conn);
            }
            let children: Vec<String> = n.children.iter().map(|c| c.to_string()).collect();
            if matches!(req, OpRequest::GetChildren(_)) {
                GetChildrenResponse { children }.encode(body);
            } else {
                GetChildren2Response {
                    children,
                    stat: n.client_stat(),
                }
                .encode(body);
            }
            Ok(())
        }
        OpRequest::GetAcl(r) => {
            let n = tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
            let can_admin = who.allowed(&n.acl, perms::ADMIN);
            if !can_admin && !who.allowed(&n.acl, perms::READ) {
                return Err(ErrorCode::NoAuth);
            }
            GetAclResponse {
                acl: tree::acl::acl_for_get_acl(&n.acl, can_admin),
                stat: n.client_stat(),
            }
            .encode(body);
            Ok(())
        }
        OpRequest::GetAllChildrenNumber(r) => {
            let n = tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
            who.check(&n.acl, perms::READ)?;
            let total_number = tree.count_descendants(&r.path).unwrap_or(0);
            GetAllChildrenNumberResponse { total_number }.encode(body);
            Ok(())
        }
        OpRequest::GetEphemerals(r) => {
            // Blank or "/" (once trimmed) lists all; any other prefix is matched as sent,
            // untrimmed, as ZooKeeper's FinalRequestProcessor does.
            let trimmed = r.path.trim();
            let all = trimmed.is_empty() || trimmed == "/";
            let ephemerals = tree
                .ephemerals_of(who.session)
                .into_iter()
                .filter(|p| all || p.starts_with(r.path.as_str()))
                .collect();
            GetEphemeralsResponse { ephemerals }.encode(body);
            Ok(())
        }
        OpRequest::Sync(r) => {
            PathResponse {
                path: r.path.clone(),
            }
            .encode(body);
            Ok(())
        }
        OpRequest::MultiRead(m) => multi_read(tree, who, m, body),
        OpRequest::CheckWatches(r) => watches.check_watches(&r.path, r.watcher_type, who.conn),
        OpRequest::RemoveWatches(r) => watches.remove_watches(&r.path, r.watcher_type, who.conn),
        OpRequest::AddWatch(r) => {
            let recursive = match r.mode {
                add_watch_mode::PERSISTENT => false,
                add_watch_mode::PERSISTENT_RECURSIVE => true,
                _ => return Err(ErrorCode::MarshallingError),
            };
            watches.add_persistent_watch(&r.path, who.conn, recursive);
            jute::proto::ErrorResponse { err: 0 }.encode(body);
            Ok(())
        }
        OpRequest::WhoAmI => {
            WhoAmIResponse {
                client_info: tree::acl::who_am_i(who.ids),
            }
            .encode(body);
            Ok(())
        }
        _ => Err(ErrorCode::Unimplemented),
    }
}

/// multiRead: each op independent; a failing op becomes an error result, the header err is 0.
fn multi_read(
    tree: &DataTree,
    who: &Reader<'_>,
    m: &MultiRequest,
    body: &mut BytesMut,
) -> Result<(), ErrorCode> {
    let mut results = Vec::with_capacity(m.ops.len());
    for o in &m.ops {
        let r = match o {
            MultiOp::GetData(r) => match tree.get(&r.path) {
                None => MultiResult::Error(ErrorCode::NoNode),
                Some(n) if !who.allowed(&n.acl, perms::READ) => {
                    MultiResult::Error(ErrorCode::NoAuth)
                }
                Some(n) => MultiResult::GetData(n.data_bytes(), n.client_stat()),
            },
            MultiOp::GetChildren(r) => match tree.get(&r.path) {
                None => MultiResult::Error(ErrorCode::NoNode),
                Some(n) if !who.allowed(&n.acl, perms::READ) => {
                    MultiResult::Error(ErrorCode::NoAuth)
                }
                Some(n) => {
                    MultiResult::GetChildren(n.children.iter().map(|c| c.to_string()).collect())
                }
            },
            // A write inside multiRead: MarshallingError, with an empty result list as
            // ZooKeeper sends it.
            _ => {
                MultiResponse::default().encode(body);
                return Err(ErrorCode::MarshallingError);
            }
        };
        results.push(r);
    }
    MultiResponse { results }.encode(body);
    Ok(())
}
