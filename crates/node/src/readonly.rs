//! Read-only mode (`readonlymode.enabled`): a quorum member that has lost its quorum keeps
//! answering reads from its last committed tree to clients that asked for it.
//!
//! What Apache ZooKeeper 3.8/3.9 does, which this module and `NodeCore` follow (QuorumPeer's
//! LOOKING case, ReadOnlyZooKeeperServer, ReadOnlyRequestProcessor,
//! ZooKeeperServer.processConnectRequest, ClientCnxn):
//!
//! - Start: each time the peer enters LOOKING with `readonlymode.enabled`, a manager thread
//!   sleeps `max(2000 ms, tickTime)` and then, if the peer is still LOOKING, starts a
//!   ReadOnlyZooKeeperServer over the peer's own ZKDatabase (the last committed tree; nothing
//!   is written to it while read-only). Here: [`grace_ms`], measured from the first input that
//!   found zab Looking and not serving.
//! - End: when leader election returns (the peer is FOLLOWING/LEADING/OBSERVING, before it
//!   syncs), the read-only server is shut down and *every* client connection is closed;
//!   its sessions are gone. Clients reconnect and find the (new) read-write server.
//! - Handshake: a client whose ConnectRequest lacks readOnly=true (or an old client without
//!   the byte) is closed ("Refusing session request for not-read-only client"). A client that
//!   has seen a zxid newer than ours is closed, as always. The ConnectResponse carries
//!   readOnly=true.
//! - Sessions are local (ZOOKEEPER-3863, 3.7+): the read-only server's tracker is a
//!   LearnerSessionTracker. A new session is served only when `localSessionsEnabled=true`;
//!   otherwise its createSession reaches ReadOnlyRequestProcessor as a global session and is
//!   answered NotReadOnly in place of a handshake answer, which no client can use, so the
//!   client never connects (ReadOnlyModeTest.testGlobalSessionInRO). Here such a client is
//!   simply closed. Reconnecting with the id of a global session (one in the committed session
//!   table) is refused by closing the connection ("Refusing global session reconnection in RO
//!   mode"). Reconnecting to a live local session of this member with the right password
//!   renews it; any other id gets the expired-session answer (timeout 0, session 0). Local
//!   sessions never enter the committed session table, so they are never in a snapshot, and
//!   they expire here without a txn (the connection is closed).
//! - Session ids come from the member's usual id generator (myid in the top byte).
//! - Requests: create/create2/createContainer/createTTL/delete/deleteContainer/setData/
//!   setACL/reconfig/multi/check and sync are answered `NotReadOnly` (-119) with the zxid of
//!   the last committed txn, without entering the pipeline. closeSession of a local session is
//!   answered and the connection closed. Reads (getData, exists, getChildren(2), getACL,
//!   getAllChildrenNumber, getEphemerals, multiRead), watches, setWatches, ping and auth are
//!   served as usual from the last committed tree. Watches never fire while read-only (nothing
//!   commits); they go with the connections when the mode ends.
//! - Four-letter words: the member is "running" while read-only: `isro` answers `ro` (`rw`
//!   when serving a quorum, `null` when not serving at all); `srvr`/`stat` print the line
//!   `READ-ONLY mode; serving only read-only clients` after the version and `Mode: read-only`;
//!   `mntr` says `zk_server_state read-only` with no `zk_peer_state` (the read-only server is
//!   not a QuorumZooKeeperServer) and counts the local sessions in `zk_local_sessions`.
//! - Clients: the Java client sends session id 0 on its next handshake if it never saw a
//!   read-write server (`seenRwServerBefore`), so the local session is never presented to a
//!   read-write server; kazoo presents it, gets the expired answer (state LOST) and then
//!   creates a new session. Both poll `isro` on the other hosts while connected read-only and
//!   move to a server that answers `rw`.
//!
//! Invariants here: the tree and the committed session table are never written while
//! read-only (only applying committed txns writes them, and nothing commits while Looking);
//! read-only state exists only while zab is Looking and not serving.

use std::collections::HashMap;

use jute::types::op;
use jute::SessionId;

/// How long a member must be Looking before it serves read-only clients (QuorumPeer's
/// "grace period before we decide we're partitioned").
pub fn grace_ms(tick_ms: i64) -> i64 {
    tick_ms.max(2000)
}

/// Whether ReadOnlyRequestProcessor answers this opcode `NotReadOnly` (writes and sync).
pub fn refused(op_type: i32) -> bool {
    matches!(
        op_type,
        op::SYNC
            | op::CREATE
            | op::CREATE2
            | op::CREATE_TTL
            | op::CREATE_CONTAINER
            | op::DELETE
            | op::DELETE_CONTAINER
            | op::SET_DATA
            | op::RECONFIG
            | op::SET_ACL
            | op::MULTI
            | op::CHECK
    )
}

/// One local session of the read-only server.
#[derive(Debug, Clone)]
pub struct LocalSession {
    pub timeout_ms: i32,
    pub expire_at_ms: i64,
    /// The connection bound to the session, if any.
    pub conn: Option<u64>,
}

/// The read-only server's state: its local sessions. Dropped whole when the mode ends.
#[derive(Debug, Default)]
pub struct ReadOnly {
    pub sessions: HashMap<SessionId, LocalSession>,
}

impl ReadOnly {
    /// Adds or renews a session's lease.
    pub fn touch(&mut self, id: SessionId, timeout_ms: i32, now_ms: i64, conn: Option<u64>) {
        let s = self.sessions.entry(id).or_insert(LocalSession {
            timeout_ms,
            expire_at_ms: 0,
            conn: None,
        });
        s.timeout_ms = timeout_ms;
        s.expire_at_ms = now_ms + i64::from(timeout_ms);
        if conn.is_some() {
            s.conn = conn;
        }
    }

    /// Renews the lease of a session that sent a request.
    pub fn renew(&mut self, id: SessionId, now_ms: i64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.expire_at_ms = now_ms + i64::from(s.timeout_ms);
        }
    }

    /// Removes and returns the sessions whose lease ran out.
    pub fn take_expired(&mut self, now_ms: i64) -> Vec<(SessionId, LocalSession)> {
        let ids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.expire_at_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.sessions.remove(&id).map(|s| (id, s)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_is_at_least_two_seconds() {
        assert_eq!(grace_ms(100), 2000);
        assert_eq!(grace_ms(3000), 3000);
    }

    #[test]
    fn reads_pass_and_writes_are_refused() {
        for w in [
            op::CREATE,
            op::SET_DATA,
            op::DELETE,
            op::MULTI,
            op::SYNC,
            op::CHECK,
        ] {
            assert!(refused(w), "{w}");
        }
        for r in [
            op::GET_DATA,
            op::EXISTS,
            op::GET_CHILDREN,
            op::GET_CHILDREN2,
            op::PING,
            op::CLOSE_SESSION,
            op::MULTI_READ,
        ] {
            assert!(!refused(r), "{r}");
        }
    }

    #[test]
    fn leases_expire_and_renew() {
        let mut ro = ReadOnly::default();
        ro.touch(SessionId(7), 4000, 0, Some(1));
        ro.renew(SessionId(7), 3000);
        assert!(ro.take_expired(6999).is_empty());
        let gone = ro.take_expired(7000);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1.conn, Some(1));
        assert!(ro.sessions.is_empty());
    }
}
