//! A zkserver member without IO: sessions, the request pipeline (prep with outstanding
//! changes, per-connection ordering, reads), zab and the tree glued together.
//!
//! No tokio, no clock (time comes in as `now_ms` arguments), no sockets: the `server` crate
//! drives a `NodeCore` from its tokio tasks, and the simulator can drive several in a thread.
//!
//! Architecture invariant: the tree has one writer, `NodeCore::apply`, which runs only for
//! txns zab delivered (committed, in zxid order) or during recovery replay.

pub mod core;
pub mod prep;
pub mod read;
pub mod readonly;
pub mod sessions;
pub mod stats;

pub use crate::core::{ConnId, NodeConfig, NodeCore, Output};

use jute::txn::{Txn, TxnBody};
use jute::SessionId;

/// Replays a logged txn during recovery: the tree and the session table move exactly as
/// they did when it was first applied (sessions get a fresh lease from `now_ms`).
pub fn replay(
    tree: &mut tree::datatree::DataTree,
    sessions: &mut sessions::Sessions,
    txn: &Txn,
    now_ms: i64,
) {
    let _ = tree.apply(txn);
    let sid = SessionId(txn.header.client_id);
    match &txn.body {
        TxnBody::CreateSession(t) => sessions.add(sid, t.time_out, now_ms),
        TxnBody::CloseSession(_) => {
            sessions.remove(sid);
        }
        _ => {}
    }
}
