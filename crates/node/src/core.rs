//! `NodeCore`: one zkserver member with no IO — sessions, the request pipeline, zab and the
//! tree glued together. The tokio driver in `server` feeds it inputs and writes its outputs;
//! the simulator can run several of them in one thread.
//!
//! Inputs: `conn_opened`, `connect`, `request`, `conn_closed`, `tick`, `persisted`, and for
//! an ensemble member `peer_message`, `peer_disconnected` plus the completions of the held
//! outputs (`resume`, `rebuilt`, `installed`).
//! Outputs (drain `poll_output` after every input): frames to send to a connection (already
//! length-prefixed), connection closes (after the frames queued before them), persist
//! requests for the store, and zab's peer outputs.
//!
//! Zab's outputs are drained lazily, one at a time, as `poll_output` runs dry. Three of them
//! need the driver to act on the tree before anything after them is applied
//! (`SendSnapshot`: the tree is exactly at `up_to` only now; `TruncateAfter` and
//! `InstallSnapshot`: the tree is replaced), so the node holds — drains nothing more from
//! zab — until the driver reports it done.
//!
//! Roles: the leader (and standalone) preps and proposes writes; a follower or observer
//! forwards them to the leader as REQUEST with the connection's auth ids, and answers its
//! client when the committed txn applies, matched by (session id, cxid) from the TxnHeader
//! (a learner cannot know the zxid in advance). Sessions are global: created and closed by
//! txns through the leader, touched on learners and relayed in PING replies, expired only by
//! the leader, revalidated with the leader when a client reconnects to a learner.
//!
//! Read-only mode (`readonly`, `readonlymode.enabled`): a member Looking for the grace period
//! serves read-only clients with local sessions (never in `sessions`, never a txn) and
//! answers their writes NotReadOnly; the tree is not touched. Zab leaving Looking ends it and
//! closes every client connection, before anything the new leader sends is applied.
//!
//! Ordering guarantees (ZooKeeper's):
//! - Per connection, replies leave in request order: a read waits behind the connection's
//!   earlier writes (ZooKeeper's CommitProcessor), so a client reads its own writes.
//! - Watch notifications caused by txn Z are sent before the reply to Z and before any reply
//!   carrying a zxid ≥ Z, because txns apply in zxid order and each connection's output is
//!   FIFO.
//! - A write is answered only after its txn is durable (zab delivers only then).

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use jute::codec::write_frame;
use jute::proto::{
    event_type, keeper_state, ConnectRequest, ConnectResponse, Create2Response, CreateResponse,
    MultiOp, MultiResponse, MultiResult, OpRequest, ReplyHeader, StatResponse, WatcherEvent,
};
use jute::quorum::{QuorumRequest, RevalidateReply, SessionTouch};
use jute::txn::{CreateSessionTxn, ErrorTxn, Txn, TxnBody, TxnHeader};
use jute::types::{op, perms, xid};
use jute::{ErrorCode, Id, Record, SessionId, Zxid};
use tree::apply::TxnResult;
use tree::datatree::DataTree;
use tree::watch::WatchRegistry;
use zab::{
    LeaderPacket, LearnerPacket, Message, PersistOp, PersistSeq, ProposeError, Role, ServerId, Zab,
};

use crate::prep::{self, Outstanding, PrepConfig, PrepCtx, Prepared};
use crate::read::{self, Reader};
use crate::readonly::{self, ReadOnly};
use crate::sessions::Sessions;
use crate::stats::{self, ConnStats, ServerCounters};

pub type ConnId = u64;

/// Settings of a member that the pipeline uses.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The top byte of session ids: myid in quorum mode, 1 standalone.
    pub server_byte: u8,
    pub tick_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub prep: PrepConfig,
    /// `zookeeper.DigestAuthenticationProvider.superDigest` ("super:base64sha1").
    pub super_digest: Option<String>,
    pub container_check_interval_ms: i64,
    pub container_max_per_minute: usize,
    /// `readonlymode.enabled`: serve read-only clients while out of quorum (`readonly`).
    pub read_only_mode: bool,
    /// `localSessionsEnabled`: read-only sessions are local, so ZooKeeper serves new ones
    /// only with this on (`readonly`).
    pub local_sessions: bool,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write this frame (length prefix included) to the connection.
    Send { conn: ConnId, frame: Bytes },
    /// Close the connection once the frames before this have been written.
    Close { conn: ConnId },
    /// Make this durable, then call `persisted(seq)`.
    Persist { seq: PersistSeq, op: PersistOp },
    /// Send to a peer (election port if `msg.is_election()`, else the quorum connection).
    Peer { to: ServerId, msg: Message },
    /// Serialise tree + sessions now (the tree is at `up_to`), send `Message::Snap` to `to`,
    /// then call `resume()`.
    SendSnapshot { to: ServerId, up_to: Zxid },
    /// Close the quorum connection with `peer`.
    Disconnect { peer: ServerId },
    /// Cut the log after `zxid` durably and rebuild the tree to it; call `rebuilt(..)` with
    /// the rebuilt state, then `persisted(seq)` once the cut is durable.
    TruncateAfter { seq: PersistSeq, zxid: Zxid },
    /// Decode the SNAP stream, call `installed(..)` with it, write it as a snapshot file and
    /// discard the log (durably), then `persisted(seq)`.
    InstallSnapshot {
        seq: PersistSeq,
        zxid: Zxid,
        data: Bytes,
    },
    /// This member started serving in `role`, or stopped (`Looking`; clients were closed).
    RoleChanged {
        role: Role,
        epoch: u32,
        leader: Option<ServerId>,
    },
}

/// The key a write waits under: (session id, cxid) of its TxnHeader.
type WriteKey = (i64, i32);

/// A request waiting its turn on a connection.
#[derive(Debug)]
enum Queued {
    /// A txn of this connection, answered when it applies.
    Write(WriteKey),
    /// A sync forwarded to the leader; answered (like a read) once `done`.
    Sync {
        xid: i32,
        req: OpRequest,
        received_ms: i64,
        done: bool,
    },
    /// A reconnect waiting for the leader's REVALIDATE answer.
    Revalidate { sid: SessionId, timeout_ms: i32 },
    /// A read (or ping, sync, watch op) answered when it reaches the front.
    Read {
        xid: i32,
        req: OpRequest,
        received_ms: i64,
    },
    /// A reply already decided (an error that needs no txn, an immediate handshake answer).
    Ready { frame: Bytes, close: bool },
    /// An error reply carrying the zxid current when it is sent.
    Fail { xid: i32, err: ErrorCode },
}

#[derive(Debug)]
struct Conn {
    remote: String,
    session: Option<SessionId>,
    /// Identities: `ip:<remote>` from the start, plus what auth packets add.
    ids: Vec<Id>,
    /// Whether the client sent the readOnly byte (the handshake answer mirrors it).
    read_only_byte: Option<bool>,
    queue: VecDeque<Queued>,
    stats: ConnStats,
}

/// Why a write is waiting for its txn to apply.
#[derive(Debug)]
enum PendingKind {
    /// A client write: reply shaped by its opcode (and its multi ops' opcodes).
    Client { op_type: i32, multi_ops: Vec<i32> },
    /// A new session's handshake.
    Connect { timeout_ms: i32 },
    /// A session expired by the tracker (no reply; close its connection).
    Expire,
    /// An internal delete of the container reaper (no reply).
    Reaper,
    /// Leader: a learner's request (the learner answers its client).
    Forwarded,
}

#[derive(Debug)]
struct PendingWrite {
    conn: Option<ConnId>,
    xid: i32,
    received_ms: i64,
    kind: PendingKind,
}

pub struct NodeCore {
    config: NodeConfig,
    tree: DataTree,
    watches: WatchRegistry,
    sessions: Sessions,
    outstanding: Outstanding,
    zab: Zab,
    conns: HashMap<ConnId, Conn>,
    pending: HashMap<WriteKey, PendingWrite>,
    /// Drain nothing more from zab until the driver finished a held output (module doc).
    hold: bool,
    /// Learner: syncs forwarded to the leader, answered in order (SYNC is FIFO).
    pending_syncs: VecDeque<ConnId>,
    /// Syncs waiting until this member applied what was committed when they were answered
    /// (learner: the leader's SYNC arrived; leader: the request arrived). A commit's txn may
    /// not be locally durable yet.
    synced_waiting: VecDeque<(Zxid, ConnId)>,
    /// Leader: forwarded REQUESTs that arrived while too many proposals were in flight,
    /// ordered (in arrival order) as commits free room. Bounded by
    /// `FORWARD_BACKLOG_MAX_BYTES`; beyond it a REQUEST is dropped and the learner times its
    /// client out (`LearnerTimeout`).
    forward_backlog: VecDeque<(ServerId, Bytes)>,
    forward_backlog_bytes: usize,
    /// Learner: reconnects waiting for REVALIDATE, by session.
    revalidating: HashMap<SessionId, Vec<ConnId>>,
    /// Learner: sessions touched since the last relay to the leader, with their timeouts.
    touched: HashMap<SessionId, i32>,
    /// Leader: sessions whose createSession is proposed but not applied yet (requests of
    /// such a session that a learner forwards right behind it are valid).
    creating: std::collections::HashSet<SessionId>,
    /// Typed txns we proposed, so apply need not decode the bytes again.
    proposed: HashMap<Zxid, Txn>,
    outputs: VecDeque<Output>,
    scratch: BytesMut,
    now_ms: i64,
    last_reap_ms: i64,
    /// Since when zab has been Looking and not serving (the read-only grace period).
    looking_since_ms: Option<i64>,
    /// Set while serving read-only clients (`readonly`): their local sessions.
    read_only: Option<ReadOnly>,
    pub counters: ServerCounters,
}

/// Leader: bound on the bytes of forwarded REQUESTs queued while zab is Busy.
const FORWARD_BACKLOG_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Learner: the shortest wait for a forwarded write's commit before giving up on it.
const FORWARDED_TIMEOUT_FLOOR_MS: i64 = 10_000;

/// The answer ZooKeeper gives a handshake for an unknown/expired session or wrong password.
fn invalid_session_response(read_only_byte: Option<bool>) -> ConnectResponse {
    ConnectResponse {
        protocol_version: 0,
        time_out: 0,
        session_id: 0,
        passwd: Bytes::from_static(&[0u8; 16]),
        read_only: read_only_byte.map(|_| false),
    }
}

/// The handshake answer for a live session: its id, negotiated timeout and password (a pure
/// function of the id), mirroring the client's readOnly byte.
fn session_response(sid: SessionId, timeout_ms: i32, read_only_byte: Option<bool>) -> Bytes {
    record_frame(&live_session_response(
        sid,
        timeout_ms,
        read_only_byte.map(|_| false),
    ))
}

fn live_session_response(
    sid: SessionId,
    timeout_ms: i32,
    read_only: Option<bool>,
) -> ConnectResponse {
    let pw = jute::password::session_password(sid.0);
    ConnectResponse {
        protocol_version: 0,
        time_out: timeout_ms,
        session_id: sid.0,
        passwd: Bytes::copy_from_slice(&pw),
        read_only,
    }
}

fn frame_of(hdr: &ReplyHeader, body: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(20 + body.len());
    write_frame(&mut buf, |b| {
        hdr.encode(b);
        b.extend_from_slice(body);
    });
    buf.freeze()
}

fn record_frame<R: Record>(r: &R) -> Bytes {
    let mut buf = BytesMut::new();
    write_frame(&mut buf, |b| r.encode(b));
    buf.freeze()
}

impl NodeCore {
    /// A member over a recovered tree and session table. `clock_ms` seeds session ids.
    pub fn new(
        config: NodeConfig,
        tree: DataTree,
        sessions: Sessions,
        zab: Zab,
        now_ms: i64,
    ) -> NodeCore {
        let mut core = NodeCore {
            config,
            tree,
            watches: WatchRegistry::default(),
            sessions,
            outstanding: Outstanding::default(),
            zab,
            conns: HashMap::new(),
            pending: HashMap::new(),
            hold: false,
            pending_syncs: VecDeque::new(),
            synced_waiting: VecDeque::new(),
            forward_backlog: VecDeque::new(),
            forward_backlog_bytes: 0,
            revalidating: HashMap::new(),
            touched: HashMap::new(),
            creating: std::collections::HashSet::new(),
            proposed: HashMap::new(),
            outputs: VecDeque::new(),
            scratch: BytesMut::new(),
            now_ms,
            last_reap_ms: now_ms,
            looking_since_ms: None,
            read_only: None,
            counters: ServerCounters::default(),
        };
        core.drain_zab();
        core
    }

    pub fn tree(&self) -> &DataTree {
        &self.tree
    }
    pub fn watches(&self) -> &WatchRegistry {
        &self.watches
    }
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }
    /// `srst`: clears zab's event counters (the node's own are `counters`).
    pub fn reset_zab_metrics(&mut self) {
        self.zab.reset_metrics();
    }
    pub fn zab(&self) -> &Zab {
        &self.zab
    }
    pub fn last_zxid(&self) -> Zxid {
        self.tree.last_processed_zxid()
    }
    /// Writes proposed but not yet applied.
    pub fn outstanding_requests(&self) -> usize {
        self.pending.len()
    }
    /// True once this member can answer clients (its epoch is durable, it leads or follows).
    pub fn is_serving(&self) -> bool {
        self.zab.is_serving()
    }
    /// True while this member serves read-only clients (out of quorum, `readonlymode.enabled`).
    pub fn is_read_only(&self) -> bool {
        self.read_only.is_some()
    }
    /// Local sessions of the read-only server (0 when not read-only).
    pub fn local_session_count(&self) -> usize {
        self.read_only.as_ref().map_or(0, |ro| ro.sessions.len())
    }

    fn is_learner(&self) -> bool {
        matches!(self.zab.role(), Role::Following | Role::Observing)
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        if self.outputs.is_empty() {
            self.drain_zab();
        }
        self.outputs.pop_front()
    }

    // ----- peers -----

    /// A message from a peer (election port or the current quorum connection).
    pub fn peer_message(&mut self, from: ServerId, msg: Message, now_ms: i64) {
        self.now_ms = now_ms;
        self.zab.step(from, msg);
        self.update_read_only();
        if !self.forward_backlog.is_empty() {
            // An ACK may have committed proposals and made room.
            self.drain_zab();
            self.drain_forward_backlog();
        }
    }

    /// The current quorum connection with `peer` ended.
    pub fn peer_disconnected(&mut self, peer: ServerId, now_ms: i64) {
        self.now_ms = now_ms;
        self.zab.disconnected(peer);
        self.update_read_only();
    }

    /// The driver sent the snapshot `SendSnapshot` asked for.
    pub fn resume(&mut self) {
        self.hold = false;
    }

    /// The driver rebuilt the state after `TruncateAfter` (snapshot + log replay up to the
    /// truncation point): it replaces ours.
    pub fn rebuilt(&mut self, tree: DataTree, sessions: Sessions) {
        self.replace_state(tree, sessions);
        self.hold = false;
    }

    /// The driver decoded the leader's SNAP stream (`InstallSnapshot`): it replaces ours.
    pub fn installed(&mut self, tree: DataTree, sessions: Sessions) {
        self.replace_state(tree, sessions);
        self.hold = false;
    }

    fn replace_state(&mut self, tree: DataTree, sessions: Sessions) {
        // Only while not serving (zab syncs before it serves), so no client watches or
        // pending replies refer to the old tree; clear them anyway.
        self.tree = tree;
        self.sessions = sessions;
        self.watches = WatchRegistry::default();
        self.outstanding = Outstanding::default();
        self.proposed.clear();
        self.creating.clear();
    }

    /// Connection facts for `cons`/`stat`.
    pub fn conn_infos(&self) -> Vec<(ConnId, &str, Option<SessionId>, usize, &ConnStats)> {
        let mut v: Vec<_> = self
            .conns
            .iter()
            .map(|(id, c)| (*id, c.remote.as_str(), c.session, c.queue.len(), &c.stats))
            .collect();
        v.sort_by_key(|t| t.0);
        v
    }

    /// The session bound to a connection, if its handshake completed.
    pub fn session_of(&self, conn: ConnId) -> Option<SessionId> {
        self.conns.get(&conn).and_then(|c| c.session)
    }

    pub fn reset_conn_stats(&mut self) {
        for c in self.conns.values_mut() {
            c.stats.reset();
        }
    }

    // ----- inputs -----

    /// A TCP connection was accepted from `remote_ip` (printed as ZooKeeper does, no port).
    pub fn conn_opened(&mut self, conn: ConnId, remote: String, remote_ip: String) {
        self.conns.insert(
            conn,
            Conn {
                remote,
                session: None,
                ids: vec![Id::new("ip", &remote_ip)],
                read_only_byte: None,
                queue: VecDeque::new(),
                stats: ConnStats::new(self.now_ms),
            },
        );
    }

    /// The connection is gone (EOF, error, or after we closed it). Its watches go; its
    /// session stays until it expires or the client comes back.
    pub fn conn_closed(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            self.watches.remove_watcher(conn);
            if let Some(sid) = c.session {
                if let Some(s) = self.sessions.get_mut(sid) {
                    if s.conn == Some(conn) {
                        s.conn = None;
                    }
                }
                if let Some(s) = self
                    .read_only
                    .as_mut()
                    .and_then(|ro| ro.sessions.get_mut(&sid))
                {
                    if s.conn == Some(conn) {
                        s.conn = None;
                    }
                }
            }
        }
    }

    fn close_conn(&mut self, conn: ConnId) {
        self.conn_closed(conn);
        self.outputs.push_back(Output::Close { conn });
    }

    /// The handshake (first frame) of a connection.
    pub fn connect(&mut self, conn: ConnId, req: ConnectRequest, now_ms: i64) {
        self.now_ms = now_ms;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        self.counters.connection_requests += 1;
        // ZooKeeper counts the ConnectRequest as a received packet, on the connection
        // (cons' recved) and server-wide (srvr's Received), like any request.
        self.counters.packets_received += 1;
        c.stats.received += 1;
        c.read_only_byte = req.read_only;
        let ro = req.read_only;
        if self.read_only.is_some() {
            self.connect_read_only(conn, req, now_ms);
            return;
        }
        if !self.is_serving() {
            self.counters.closed_not_serving += 1;
            self.close_conn(conn);
            return;
        }
        let Some(timeout_ms) = self.admit(conn, &req) else {
            return;
        };
        if req.session_id == 0 {
            let sid = self.sessions.allocate_id();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = Some(sid);
            }
            if self.is_learner() {
                // A global session: created by a txn through the leader (zk-protocol §9.6),
                // answered when it applies here.
                let body = CreateSessionTxn {
                    time_out: timeout_ms,
                }
                .to_bytes();
                let key = (sid.0, 0);
                if self
                    .forward(conn, sid, 0, op::CREATE_SESSION, body)
                    .is_err()
                {
                    return;
                }
                self.pending.insert(
                    key,
                    PendingWrite {
                        conn: Some(conn),
                        xid: 0,
                        received_ms: now_ms,
                        kind: PendingKind::Connect { timeout_ms },
                    },
                );
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.queue.push_back(Queued::Write(key));
                }
                return;
            }
            let body = TxnBody::CreateSession(CreateSessionTxn {
                time_out: timeout_ms,
            });
            self.propose_txn(
                conn,
                sid,
                0,
                Ok(Prepared {
                    body,
                    changes: Vec::new(),
                }),
                PendingKind::Connect { timeout_ms },
            );
            return;
        }
        let sid = SessionId(req.session_id);
        self.counters.connection_revalidates += 1;
        // Any other connection bound to the session goes, even if the password is wrong.
        if let Some(other) = self.sessions.get(sid).and_then(|s| s.conn) {
            if other != conn {
                self.close_conn(other);
            }
        }
        let expected = jute::password::session_password(sid.0);
        let valid = self.sessions.get(sid).is_some_and(|s| !s.closing)
            && req.passwd.as_ref() == expected.as_slice();
        let learner = self.is_learner();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let password_ok = req.passwd.as_ref() == expected.as_slice();
        if password_ok && learner {
            // Only the leader knows whether a global session is alive (it alone expires
            // them): ask it, and answer the handshake when it replies.
            c.session = Some(sid);
            c.queue.push_back(Queued::Revalidate { sid, timeout_ms });
            let touch = SessionTouch {
                session_id: sid.0,
                timeout: timeout_ms,
            }
            .to_bytes();
            if self
                .zab
                .to_leader(LearnerPacket::Revalidate(touch))
                .is_err()
            {
                self.close_conn(conn);
                return;
            }
            self.revalidating.entry(sid).or_default().push(conn);
            return;
        }
        if !valid {
            let frame = record_frame(&invalid_session_response(ro));
            c.queue.push_back(Queued::Ready { frame, close: true });
            self.pump(conn);
            return;
        }
        c.session = Some(sid);
        self.sessions.retime(sid, timeout_ms, now_ms);
        if let Some(s) = self.sessions.get_mut(sid) {
            s.conn = Some(conn);
        }
        let frame = session_response(sid, timeout_ms, ro);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.queue.push_back(Queued::Ready {
                frame,
                close: false,
            });
        }
        self.pump(conn);
    }

    /// A request whose opcode this server does not know: Unimplemented, then close.
    pub fn request_unknown(&mut self, conn: ConnId, xid: i32, now_ms: i64) {
        self.now_ms = now_ms;
        let frame = frame_of(
            &ReplyHeader {
                xid,
                zxid: -1,
                err: ErrorCode::Unimplemented.code(),
            },
            &[],
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.queue.push_back(Queued::Ready { frame, close: true });
        }
        self.pump(conn);
    }

    /// A request of a known opcode whose body did not decode: MarshallingError, as ZooKeeper
    /// answers. A write still becomes a (failed) txn and takes a zxid.
    pub fn request_undecodable(&mut self, conn: ConnId, xid: i32, op_type: i32, now_ms: i64) {
        self.now_ms = now_ms;
        self.counters.packets_received += 1;
        let Some(sid) = self.conns.get(&conn).and_then(|c| c.session) else {
            self.close_conn(conn);
            return;
        };
        if self.read_only.is_some() && readonly::refused(op_type) {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.queue.push_back(Queued::Fail {
                    xid,
                    err: ErrorCode::NotReadOnly,
                });
            }
            self.pump(conn);
            return;
        }
        self.sessions.touch(sid, now_ms);
        let is_write = matches!(
            op_type,
            op::CREATE
                | op::CREATE2
                | op::CREATE_CONTAINER
                | op::CREATE_TTL
                | op::DELETE
                | op::SET_DATA
                | op::SET_ACL
                | op::MULTI
                | op::RECONFIG
        );
        if is_write && self.is_learner() {
            // The body is gone: forward an empty one. The leader cannot decode it either and
            // orders a MarshallingError txn, as ZooKeeper's leader does with the original
            // bytes, so the zxid sequence matches ZooKeeper's and the answer comes in order.
            let key = (sid.0, xid);
            if self.forward(conn, sid, xid, op_type, Bytes::new()).is_err() {
                return;
            }
            self.pending.insert(
                key,
                PendingWrite {
                    conn: Some(conn),
                    xid,
                    received_ms: now_ms,
                    kind: PendingKind::Client {
                        op_type,
                        multi_ops: Vec::new(),
                    },
                },
            );
            if let Some(c) = self.conns.get_mut(&conn) {
                c.queue.push_back(Queued::Write(key));
            }
        } else if is_write {
            self.propose_txn(
                conn,
                sid,
                xid,
                Err(ErrorCode::MarshallingError),
                PendingKind::Client {
                    op_type,
                    multi_ops: Vec::new(),
                },
            );
        } else if let Some(c) = self.conns.get_mut(&conn) {
            c.queue.push_back(Queued::Fail {
                xid,
                err: ErrorCode::MarshallingError,
            });
            self.pump(conn);
        }
    }

    /// A decoded request on an established connection.
    pub fn request(&mut self, conn: ConnId, xid: i32, req: OpRequest, now_ms: i64) {
        self.now_ms = now_ms;
        self.counters.packets_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stats.on_received(req.op_type(), xid, now_ms);
        let Some(sid) = c.session else {
            // The edge only passes requests after a handshake; be safe anyway.
            self.close_conn(conn);
            return;
        };
        if let Some(ro) = self.read_only.as_mut() {
            ro.renew(sid, now_ms);
        }
        if self.read_only.is_some() {
            if readonly::refused(req.op_type()) {
                // ReadOnlyRequestProcessor: answered before the pipeline, in order.
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.queue.push_back(Queued::Fail {
                        xid,
                        err: ErrorCode::NotReadOnly,
                    });
                }
                self.pump(conn);
                return;
            }
            if req.op_type() == op::CLOSE_SESSION {
                // A local session closes here, without a txn.
                if let Some(ro) = self.read_only.as_mut() {
                    ro.sessions.remove(&sid);
                }
                let zxid = self.tree.last_processed_zxid().0;
                self.reply_now(conn, xid, zxid, ErrorCode::Ok, true);
                return;
            }
        }
        self.sessions.touch(sid, now_ms);
        if self.is_learner() {
            let timeout = self.sessions.get(sid).map_or(0, |s| s.timeout_ms);
            self.touched.insert(sid, timeout);
        }
        match req {
            OpRequest::Auth(a) => self.auth(conn, xid, &a.scheme, &a.auth),
            OpRequest::Sasl(_) => {
                // No SASL mechanism is configured: like ZooKeeper without a SASL server, answer
                // at once with an empty (null) token and zxid 0.
                let frame = frame_of(
                    &ReplyHeader {
                        xid,
                        zxid: 0,
                        err: 0,
                    },
                    &[0xff, 0xff, 0xff, 0xff],
                );
                self.outputs.push_back(Output::Send { conn, frame });
            }
            OpRequest::Check(_) => {
                // A bare check is only meaningful inside a multi (3.9.3+: Unimplemented, close).
                self.reply_now(conn, xid, -1, ErrorCode::Unimplemented, true);
            }
            ref r if r.is_write() => self.write(conn, sid, xid, req, now_ms),
            OpRequest::Sync(_) if self.is_learner() => {
                // Answered once the leader's SYNC arrives: everything committed before it
                // is applied here by then (zk-protocol §9.7).
                let mut body = BytesMut::new();
                req.encode(&mut body);
                if self
                    .forward(conn, sid, xid, op::SYNC, body.freeze())
                    .is_err()
                {
                    return;
                }
                self.pending_syncs.push_back(conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.queue.push_back(Queued::Sync {
                        xid,
                        req,
                        received_ms: now_ms,
                        done: false,
                    });
                }
            }
            OpRequest::Sync(_)
                if self.zab.role() == Role::Leading
                    && self.zab.voter_count() > 1
                    && self.last_zxid() < self.zab.last_committed()
                    && !self.sessions.get(sid).is_some_and(|s| s.closing) =>
            {
                // A leader can lag its own commits: a quorum of followers may have acked a
                // proposal before this leader's fsync finished, and a follower's client may
                // already have its answer. The sync waits until those commits are applied.
                self.synced_waiting
                    .push_back((self.zab.last_committed(), conn));
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.queue.push_back(Queued::Sync {
                        xid,
                        req,
                        received_ms: now_ms,
                        done: false,
                    });
                }
                self.release_syncs();
            }
            _ => {
                // ZooKeeper's prep checks the session of reads too (checkSession): once a
                // close is under way, a read, ping or watch op gets SessionExpired, in order.
                let closing = self.sessions.get(sid).is_some_and(|s| s.closing);
                if let Some(c) = self.conns.get_mut(&conn) {
                    if closing {
                        let xid = if req == OpRequest::Ping {
                            xid::PING
                        } else {
                            xid
                        };
                        c.queue.push_back(Queued::Fail {
                            xid,
                            err: ErrorCode::SessionExpired,
                        });
                    } else {
                        c.queue.push_back(Queued::Read {
                            xid,
                            req,
                            received_ms: now_ms,
                        });
                    }
                }
                self.pump(conn);
            }
        }
    }

    fn reply_now(&mut self, conn: ConnId, xid: i32, zxid: i64, err: ErrorCode, close: bool) {
        let frame = frame_of(
            &ReplyHeader {
                xid,
                zxid,
                err: err.code(),
            },
            &[],
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.queue.push_back(Queued::Ready { frame, close });
        }
        self.pump(conn);
    }

    /// Auth packets are answered at once (not behind other requests) with zxid 0.
    fn auth(&mut self, conn: ConnId, xid: i32, scheme: &str, auth: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let remote_ip = c
            .ids
            .iter()
            .find(|i| i.scheme == "ip")
            .map(|i| i.id.clone())
            .unwrap_or_default();
        match tree::acl::authenticate(
            scheme,
            auth,
            &remote_ip,
            self.config.super_digest.as_deref(),
        ) {
            Ok(new_ids) => {
                for id in new_ids {
                    if !c.ids.contains(&id) {
                        c.ids.push(id);
                    }
                }
                let frame = frame_of(
                    &ReplyHeader {
                        xid,
                        zxid: 0,
                        err: 0,
                    },
                    &[],
                );
                self.outputs.push_back(Output::Send { conn, frame });
            }
            Err(_) => {
                self.counters.auth_failed += 1;
                let frame = frame_of(
                    &ReplyHeader {
                        xid,
                        zxid: 0,
                        err: ErrorCode::AuthFailed.code(),
                    },
                    &[],
                );
                self.outputs.push_back(Output::Send { conn, frame });
                self.close_conn(conn);
            }
        }
    }

    fn write(&mut self, conn: ConnId, sid: SessionId, xid: i32, req: OpRequest, now_ms: i64) {
        let (op_type, multi_ops) = match &req {
            OpRequest::Multi(m) => (op::MULTI, m.ops.iter().map(MultiOp::op_type).collect()),
            r => (r.op_type(), Vec::new()),
        };
        if self.is_learner() {
            let mut body = BytesMut::new();
            req.encode(&mut body);
            let key = (sid.0, xid);
            if self
                .forward(conn, sid, xid, op_type, body.freeze())
                .is_err()
            {
                return;
            }
            self.pending.insert(
                key,
                PendingWrite {
                    conn: Some(conn),
                    xid,
                    received_ms: now_ms,
                    kind: PendingKind::Client { op_type, multi_ops },
                },
            );
            if let Some(c) = self.conns.get_mut(&conn) {
                c.queue.push_back(Queued::Write(key));
            }
            return;
        }
        let closing = self.sessions.get(sid).is_some_and(|s| s.closing);
        let zxid = match self.zab.next_zxid() {
            Ok(z) => z,
            Err(ProposeError::Busy) => {
                self.reply_now(conn, xid, self.last_zxid().0, ErrorCode::ThrottledOp, false);
                return;
            }
            Err(_) => {
                // Not able to order writes (no quorum / exhausted epoch): the client must go
                // elsewhere, as ZooKeeper closes connections of a server that stops serving.
                self.close_conn(conn);
                return;
            }
        };
        let ids = self
            .conns
            .get(&conn)
            .map(|c| c.ids.clone())
            .unwrap_or_default();
        let prepared = if closing {
            Err(ErrorCode::SessionExpired)
        } else {
            prep::prep(&self.prep_ctx(&ids, sid, zxid), &req)
        };
        // Like ZooKeeper's setSessionClosing in prep: from here on the session takes no more
        // requests and no reconnects, even before its closeSession txn is durable.
        if prepared.is_ok() && op_type == op::CLOSE_SESSION {
            if let Some(s) = self.sessions.get_mut(sid) {
                s.closing = true;
            }
        }
        let _ = now_ms;
        self.propose_txn(
            conn,
            sid,
            xid,
            prepared,
            PendingKind::Client { op_type, multi_ops },
        );
    }

    /// Learner: sends a client request to the leader as REQUEST (with the connection's auth
    /// ids, so the leader checks ACLs as this client). Without a serving leader connection
    /// the client connection is closed, as ZooKeeper does, and the caller stops.
    fn forward(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        cxid: i32,
        op_type: i32,
        body: Bytes,
    ) -> Result<(), ()> {
        let ids = self
            .conns
            .get(&conn)
            .map(|c| c.ids.clone())
            .unwrap_or_default();
        let request = QuorumRequest {
            session_id: sid.0,
            cxid,
            op_type,
            body,
        }
        .to_bytes();
        let data = jute::quorum::pack_request(&ids, &request);
        if self.zab.to_leader(LearnerPacket::Request(data)).is_err() {
            self.close_conn(conn);
            return Err(());
        }
        Ok(())
    }

    /// Leader: whether requests of `sid` may still be ordered.
    fn session_valid(&self, sid: SessionId) -> bool {
        self.sessions.get(sid).is_some_and(|s| !s.closing) || self.creating.contains(&sid)
    }

    /// Leader: a request a learner forwarded: prep it with the learner's auth ids and
    /// propose it (nobody here waits for the reply; the learner answers its client).
    fn forwarded(&mut self, from: ServerId, data: Bytes) {
        // ZooKeeper's leader queues learner requests in its pipeline rather than refusing
        // them (the protocol has no negative answer to a REQUEST). Here the queue is bounded
        // and waits while zab is Busy; everything behind a queued REQUEST queues too, so
        // each learner's requests keep their order.
        if !self.forward_backlog.is_empty() || self.zab.next_zxid() == Err(ProposeError::Busy) {
            if self.forward_backlog_bytes + data.len() > FORWARD_BACKLOG_MAX_BYTES {
                tracing::warn!(
                    from = from.0,
                    "leader overloaded: forwarded request dropped (the learner times it out)"
                );
                return;
            }
            self.forward_backlog_bytes += data.len();
            self.forward_backlog.push_back((from, data));
            return;
        }
        self.order_forwarded(from, data);
    }

    /// Learner: a forwarded write still unanswered after its session's timeout (at least
    /// `FORWARDED_TIMEOUT_FLOOR_MS`) was lost
    /// (the leader dropped it, overloaded, or lost it with a connection): close the client's
    /// connection. The client sees a connection loss (outcome unknown, as for any loss),
    /// reconnects with its session and retries or checks; it never hangs. A commit that
    /// still arrives is applied and answers nobody.
    fn time_out_forwarded(&mut self) {
        let now = self.now_ms;
        let max = self.config.max_session_timeout_ms;
        let stale: Vec<(WriteKey, Option<ConnId>)> = self
            .pending
            .iter()
            .filter(|(&(sid, _), w)| {
                let limit = self
                    .sessions
                    .get(SessionId(sid))
                    .map_or(max, |s| s.timeout_ms);
                now - w.received_ms > i64::from(limit).max(FORWARDED_TIMEOUT_FLOOR_MS)
            })
            .map(|(&k, w)| (k, w.conn))
            .collect();
        for (key, conn) in stale {
            self.pending.remove(&key);
            if let Some(conn) = conn.filter(|c| self.conns.contains_key(c)) {
                tracing::warn!(
                    conn,
                    session = %SessionId(key.0),
                    cxid = key.1,
                    "forwarded write unanswered past the session timeout; closing the connection"
                );
                self.close_conn(conn);
            }
        }
    }

    /// Leader: orders queued forwarded requests while zab has room.
    fn drain_forward_backlog(&mut self) {
        while !self.forward_backlog.is_empty() {
            match self.zab.next_zxid() {
                Ok(_) => {}
                Err(ProposeError::Busy) => return,
                Err(_) => {
                    // Not leading any more: the learners re-sync and their clients retry.
                    self.forward_backlog.clear();
                    self.forward_backlog_bytes = 0;
                    return;
                }
            }
            let Some((from, data)) = self.forward_backlog.pop_front() else {
                return;
            };
            self.forward_backlog_bytes -= data.len();
            self.order_forwarded(from, data);
        }
    }

    fn order_forwarded(&mut self, from: ServerId, data: Bytes) {
        let parsed = jute::quorum::unpack_request(data)
            .map_err(|e| e.to_string())
            .and_then(|(ids, mut rest)| {
                QuorumRequest::decode(&mut rest)
                    .map(|r| (ids, r))
                    .map_err(|e| e.to_string())
            });
        let (ids, r) = match parsed {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(from = from.0, "undecodable REQUEST: {e}");
                return;
            }
        };
        let sid = SessionId(r.session_id);
        if r.op_type == op::SYNC {
            if self
                .zab
                .to_learner(from, LeaderPacket::Sync(Bytes::new()))
                .is_err()
            {
                tracing::debug!(from = from.0, "sync answer: learner gone");
            }
            return;
        }
        let Ok(zxid) = self.zab.next_zxid() else {
            // No longer leading (Busy was queued by `forwarded`): the learner loses its
            // leader and closes its clients' connections.
            tracing::warn!(
                from = from.0,
                "cannot order a forwarded request now; dropped"
            );
            return;
        };
        if r.op_type == op::CREATE_SESSION {
            let mut body = r.body.clone();
            let timeout = match CreateSessionTxn::decode(&mut body) {
                Ok(t) => t.time_out,
                Err(e) => {
                    tracing::warn!(from = from.0, "bad createSession REQUEST: {e}");
                    return;
                }
            };
            self.creating.insert(sid);
            let body = TxnBody::CreateSession(CreateSessionTxn { time_out: timeout });
            self.propose_txn(
                0,
                sid,
                r.cxid,
                Ok(Prepared {
                    body,
                    changes: Vec::new(),
                }),
                PendingKind::Forwarded,
            );
            return;
        }
        let mut body = r.body.clone();
        let prepared = match OpRequest::decode(r.op_type, &mut body) {
            Ok(req) if !req.is_write() => {
                tracing::warn!(from = from.0, op = r.op_type, "forwarded a non-write");
                return;
            }
            Ok(_) if !self.session_valid(sid) => Err(ErrorCode::SessionExpired),
            Ok(req) => {
                let p = prep::prep(&self.prep_ctx(&ids, sid, zxid), &req);
                if p.is_ok() && r.op_type == op::CLOSE_SESSION {
                    if let Some(s) = self.sessions.get_mut(sid) {
                        s.closing = true;
                    }
                }
                p
            }
            Err(_) => Err(ErrorCode::MarshallingError),
        };
        self.propose_txn(0, sid, r.cxid, prepared, PendingKind::Forwarded);
    }

    /// Leader: a learner asks whether a reconnecting client's session is alive.
    fn revalidate(&mut self, from: ServerId, mut data: Bytes) {
        self.counters.learner_revalidates += 1;
        let Ok(t) = SessionTouch::decode(&mut data) else {
            tracing::warn!(from = from.0, "undecodable REVALIDATE");
            return;
        };
        let sid = SessionId(t.session_id);
        let valid = self.session_valid(sid);
        if valid {
            self.sessions.retime(sid, t.timeout, self.now_ms);
            // The session moved to that learner: a connection of it here goes.
            if let Some(other) = self.sessions.get(sid).and_then(|s| s.conn) {
                self.close_conn(other);
            }
        }
        let reply = RevalidateReply {
            session_id: t.session_id,
            valid,
        }
        .to_bytes();
        if self
            .zab
            .to_learner(from, LeaderPacket::Revalidate(reply))
            .is_err()
        {
            tracing::debug!(from = from.0, "revalidate answer: learner gone");
        }
    }

    /// Learner: the leader's answer for reconnecting clients of one session.
    fn revalidated(&mut self, mut data: Bytes) {
        let Ok(r) = RevalidateReply::decode(&mut data) else {
            tracing::warn!("undecodable REVALIDATE answer");
            return;
        };
        let sid = SessionId(r.session_id);
        for conn in self.revalidating.remove(&sid).unwrap_or_default() {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            let timeout_ms = match c.queue.front() {
                Some(Queued::Revalidate {
                    sid: waiting,
                    timeout_ms,
                }) if *waiting == sid => timeout_ms,
                _ => continue,
            };
            let timeout_ms = *timeout_ms;
            let ro = c.read_only_byte;
            let (frame, close) = if r.valid {
                (session_response(sid, timeout_ms, ro), false)
            } else {
                (record_frame(&invalid_session_response(ro)), true)
            };
            c.queue.pop_front();
            c.queue.push_front(Queued::Ready { frame, close });
            if r.valid {
                self.sessions.retime(sid, timeout_ms, self.now_ms);
                if let Some(s) = self.sessions.get_mut(sid) {
                    s.conn = Some(conn);
                }
            }
            self.pump(conn);
        }
    }

    /// Learner: the leader's SYNC answer completes the oldest forwarded sync once this
    /// member applied everything committed before the answer (ZooKeeper's CommitProcessor
    /// orders the sync behind those commits), so the client then reads them.
    fn synced(&mut self) {
        if let Some(conn) = self.pending_syncs.pop_front() {
            self.synced_waiting
                .push_back((self.zab.last_committed(), conn));
            self.release_syncs();
        }
    }

    /// Completes the answered syncs (learner) or the syncs waiting on the leader's own
    /// commits whose commits are applied.
    fn release_syncs(&mut self) {
        while let Some(&(upto, conn)) = self.synced_waiting.front() {
            // What the tree applied, not what zab delivered: zab counts a txn delivered when
            // it queues it, and this runs between the applies of one batch, so the read
            // behind the sync would miss the batch's later txns (found by `sim::node_sim`).
            if self.last_zxid() < upto {
                return;
            }
            self.synced_waiting.pop_front();
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if let Some(Queued::Sync { done, .. }) = c
                .queue
                .iter_mut()
                .find(|q| matches!(q, Queued::Sync { done: false, .. }))
            {
                *done = true;
            }
            self.pump(conn);
        }
    }

    /// Leader: session touches a learner relayed in its PING reply.
    fn touches(&mut self, data: Bytes) {
        match jute::quorum::read_session_touches(data) {
            Ok(ts) => {
                for t in ts {
                    self.sessions.touch(SessionId(t.session_id), self.now_ms);
                }
            }
            Err(e) => tracing::warn!("undecodable session touches: {e}"),
        }
    }

    /// The role changed: stopping to serve drops every client (they reconnect elsewhere,
    /// as ZooKeeper does) and what was waiting; a new leader re-arms every session's lease
    /// (it takes over expiry; learners' touches reach it from now on).
    fn role_changed(&mut self, role: Role) {
        if !self.zab.is_serving() || role == Role::Looking {
            let conns: Vec<ConnId> = self.conns.keys().copied().collect();
            for conn in conns {
                self.close_conn(conn);
            }
        }
        self.pending.clear();
        self.pending_syncs.clear();
        self.synced_waiting.clear();
        self.forward_backlog.clear();
        self.forward_backlog_bytes = 0;
        self.revalidating.clear();
        self.touched.clear();
        self.creating.clear();
        self.proposed.clear();
        self.outstanding = Outstanding::default();
        if role == Role::Leading {
            let ids: Vec<(SessionId, i32)> = self
                .sessions
                .iter()
                .map(|(id, s)| (*id, s.timeout_ms))
                .collect();
            for (id, timeout) in ids {
                if let Some(s) = self.sessions.get_mut(id) {
                    s.closing = false;
                }
                self.sessions.retime(id, timeout, self.now_ms);
            }
        }
    }

    /// Starts read-only mode once zab has been Looking for the grace period, and ends it as
    /// soon as zab is not Looking (election done): ZooKeeper shuts the read-only server
    /// down when lookForLeader returns, closing every client connection.
    fn update_read_only(&mut self) {
        let looking = self.zab.role() == Role::Looking && !self.zab.is_serving();
        if !looking {
            self.looking_since_ms = None;
            if self.read_only.take().is_some() {
                tracing::info!("leaving read-only mode: closing all client connections");
                let conns: Vec<ConnId> = self.conns.keys().copied().collect();
                for conn in conns {
                    self.close_conn(conn);
                }
            }
            return;
        }
        if !self.config.read_only_mode || self.read_only.is_some() {
            return;
        }
        let since = *self.looking_since_ms.get_or_insert(self.now_ms);
        if self.now_ms - since >= readonly::grace_ms(self.config.tick_ms) {
            tracing::info!("no quorum: serving read-only clients");
            self.read_only = Some(ReadOnly::default());
        }
    }

    /// Read-only mode: local sessions whose lease ran out go (no txn); so do their connections.
    fn expire_local_sessions(&mut self) {
        let Some(ro) = self.read_only.as_mut() else {
            return;
        };
        for (sid, s) in ro.take_expired(self.now_ms) {
            tracing::info!(session = %sid, "local session expired");
            if let Some(conn) = s.conn {
                self.close_conn(conn);
            }
        }
    }

    /// The checks every handshake passes: a client that has seen a newer zxid than ours
    /// must find another server (closed, `None`); else the negotiated session timeout.
    fn admit(&mut self, conn: ConnId, req: &ConnectRequest) -> Option<i32> {
        if req.last_zxid_seen > self.tree.last_processed_zxid().0 {
            tracing::info!(
                conn,
                "client has seen zxid 0x{:x}, ahead of us; closing",
                req.last_zxid_seen
            );
            self.close_conn(conn);
            return None;
        }
        Some(req.time_out.clamp(
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        ))
    }

    /// The handshake while read-only (see `readonly` for ZooKeeper's rules).
    fn connect_read_only(&mut self, conn: ConnId, req: ConnectRequest, now_ms: i64) {
        if req.read_only != Some(true) {
            tracing::info!(conn, "refusing session request for not-read-only client");
            self.close_conn(conn);
            return;
        }
        let Some(timeout_ms) = self.admit(conn, &req) else {
            return;
        };
        let sid = if req.session_id == 0 {
            if !self.config.local_sessions {
                // ZooKeeper submits a global createSession, which its read-only processor
                // answers NotReadOnly instead of a handshake: the client never connects.
                tracing::info!(
                    conn,
                    "read-only mode serves local sessions only (localSessionsEnabled=false)"
                );
                self.close_conn(conn);
                return;
            }
            self.sessions.allocate_id()
        } else {
            let sid = SessionId(req.session_id);
            if self.sessions.get(sid).is_some() {
                tracing::info!(conn, session = %sid, "refusing global session reconnection in read-only mode");
                self.close_conn(conn);
                return;
            }
            let expected = jute::password::session_password(sid.0);
            let live = self
                .read_only
                .as_ref()
                .is_some_and(|ro| ro.sessions.contains_key(&sid));
            if !live || req.passwd.as_ref() != expected.as_slice() {
                let mut answer = invalid_session_response(None);
                answer.read_only = Some(true);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.queue.push_back(Queued::Ready {
                        frame: record_frame(&answer),
                        close: true,
                    });
                }
                self.pump(conn);
                return;
            }
            // The session moves to this connection; an older one bound to it goes.
            let other = self
                .read_only
                .as_ref()
                .and_then(|ro| ro.sessions.get(&sid))
                .and_then(|s| s.conn);
            if let Some(other) = other.filter(|&o| o != conn) {
                self.close_conn(other);
            }
            sid
        };
        if let Some(ro) = self.read_only.as_mut() {
            ro.touch(sid, timeout_ms, now_ms, Some(conn));
        }
        let frame = record_frame(&live_session_response(sid, timeout_ms, Some(true)));
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(sid);
            c.queue.push_back(Queued::Ready {
                frame,
                close: false,
            });
        }
        self.pump(conn);
    }

    /// What prep reads for one request of `session` at `zxid` from a connection with `ids`.
    fn prep_ctx<'a>(&'a self, ids: &'a [Id], session: SessionId, zxid: Zxid) -> PrepCtx<'a> {
        PrepCtx {
            tree: &self.tree,
            outstanding: &self.outstanding,
            config: &self.config.prep,
            ids,
            session,
            zxid,
        }
    }

    /// Builds the txn (an ErrorTxn when prep failed), proposes it and remembers who waits.
    fn propose_txn(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        xid: i32,
        prepared: Result<Prepared, ErrorCode>,
        kind: PendingKind,
    ) {
        let Ok(zxid) = self.zab.next_zxid() else {
            self.close_conn(conn);
            return;
        };
        let conn_opt = if matches!(
            kind,
            PendingKind::Expire | PendingKind::Reaper | PendingKind::Forwarded
        ) {
            None
        } else {
            Some(conn)
        };
        let txn_type_and_body = match prepared {
            Ok(p) => {
                self.counters.outstanding_changes_queued += p.changes.len() as u64;
                self.outstanding.push(p.changes);
                p.body
            }
            Err(e) => TxnBody::Error(ErrorTxn { err: e.code() }),
        };
        let txn = Txn {
            header: TxnHeader {
                client_id: sid.0,
                cxid: xid,
                zxid: zxid.0,
                time: self.now_ms,
                txn_type: txn_type_and_body.txn_type(),
            },
            body: txn_type_and_body,
            digest: None,
        };
        let bytes = txn.to_bytes();
        let size = bytes.len();
        match self.zab.propose(bytes) {
            Ok(z) => {
                debug_assert_eq!(z, zxid);
                self.counters.record_proposal(size);
            }
            Err(e) => {
                tracing::warn!(?e, "proposal refused after next_zxid succeeded");
                self.close_conn(conn);
                return;
            }
        }
        self.proposed.insert(zxid, txn);
        // Only a local client waits for the reply; expiry, reaper and forwarded txns are
        // answered by nobody here.
        if let Some(conn) = conn_opt {
            let key = (sid.0, xid);
            self.pending.insert(
                key,
                PendingWrite {
                    conn: conn_opt,
                    xid,
                    received_ms: self.now_ms,
                    kind,
                },
            );
            if let Some(c) = self.conns.get_mut(&conn) {
                c.queue.push_back(Queued::Write(key));
            }
        }
        self.drain_zab();
    }

    /// The store made everything up to `seq` durable.
    pub fn persisted(&mut self, seq: PersistSeq, now_ms: i64) {
        self.now_ms = now_ms;
        self.zab.persisted(seq);
        self.update_read_only();
        self.drain_zab();
        self.drain_forward_backlog();
    }

    /// Time passes: expire sessions whose lease ran out; reap empty containers/TTL nodes.
    pub fn tick(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        self.zab.tick();
        self.update_read_only();
        self.expire_local_sessions();
        self.drain_zab();
        self.drain_forward_backlog();
        if self.is_learner() {
            self.time_out_forwarded();
        }
        if self.is_learner() && !self.touched.is_empty() {
            let touches: Vec<SessionTouch> = self
                .touched
                .drain()
                .map(|(id, timeout)| SessionTouch {
                    session_id: id.0,
                    timeout,
                })
                .collect();
            let mut buf = BytesMut::new();
            jute::quorum::write_session_touches(&mut buf, &touches);
            if self
                .zab
                .to_leader(LearnerPacket::SessionTouches(buf.freeze()))
                .is_err()
            {
                tracing::debug!("session touches not relayed: no leader connection");
            }
        }
        // Only the leader expires sessions and reaps containers (by proposing txns).
        if !self.is_serving() || self.zab.role() != Role::Leading {
            return;
        }
        let expired = self.sessions.take_expired(now_ms);
        self.counters.sessions_expired += expired.len() as u64;
        for (i, &sid) in expired.iter().enumerate() {
            tracing::info!(session = %sid, "session expired");
            let Ok(zxid) = self.zab.next_zxid() else {
                // Cannot order the closes now (backpressure): unmark the rest so the next
                // tick expires them, instead of leaving them closing forever.
                for &later in &expired[i..] {
                    if let Some(s) = self.sessions.get_mut(later) {
                        s.closing = false;
                    }
                }
                break;
            };
            let prepared = prep::prep_close_session_txn(&self.prep_ctx(&[], sid, zxid), sid);
            let conn = self.sessions.get(sid).and_then(|s| s.conn).unwrap_or(0);
            self.propose_txn(conn, sid, 0, Ok(prepared), PendingKind::Expire);
        }
        if now_ms - self.last_reap_ms >= self.config.container_check_interval_ms {
            self.last_reap_ms = now_ms;
            self.reap_containers(now_ms);
        }
    }

    /// ZooKeeper's ContainerManager: delete empty containers that once had a child, and TTL
    /// nodes with no children whose mtime is older than their TTL.
    fn reap_containers(&mut self, now_ms: i64) {
        let mut candidates = Vec::new();
        for path in self.tree.containers() {
            if let Some(n) = self.tree.get(&path) {
                if n.children.is_empty() && n.stat.cversion > 0 {
                    candidates.push(path);
                }
            }
        }
        for path in self.tree.ttl_nodes() {
            if let Some(n) = self.tree.get(&path) {
                if let tree::znode::NodeKind::Ttl(ttl) = n.kind() {
                    if n.children.is_empty() && now_ms - n.stat.mtime > ttl {
                        candidates.push(path);
                    }
                }
            }
        }
        candidates.truncate(self.config.container_max_per_minute.max(1));
        for path in candidates {
            let Ok(zxid) = self.zab.next_zxid() else {
                return;
            };
            let prepared =
                prep::prep_delete_container(&self.prep_ctx(&[], SessionId(0), zxid), &path);
            // Re-checked in prep: a container that gained a child meanwhile stays.
            if prepared.is_ok() {
                self.propose_txn(0, SessionId(0), 0, prepared, PendingKind::Reaper);
            }
        }
    }

    fn drain_zab(&mut self) {
        while !self.hold {
            let Some(o) = self.zab.poll_output() else {
                return;
            };
            match o {
                zab::Output::Persist { seq, op } => {
                    if let zab::PersistOp::Append(ps) = &op {
                        self.record_proposal_latency(ps);
                    }
                    self.outputs.push_back(Output::Persist { seq, op })
                }
                zab::Output::Deliver(p) => {
                    self.apply(p);
                    self.release_syncs();
                }
                zab::Output::RoleChanged {
                    role,
                    epoch,
                    leader,
                } => {
                    tracing::info!(?role, epoch, ?leader, "role changed");
                    self.role_changed(role);
                    self.outputs.push_back(Output::RoleChanged {
                        role,
                        epoch,
                        leader,
                    });
                }
                zab::Output::Send { to, msg } => self.outputs.push_back(Output::Peer { to, msg }),
                zab::Output::Disconnect { peer } => {
                    self.outputs.push_back(Output::Disconnect { peer })
                }
                zab::Output::SendSnapshot { to, up_to } => {
                    self.hold = true;
                    self.outputs.push_back(Output::SendSnapshot { to, up_to });
                }
                zab::Output::TruncateAfter { seq, zxid } => {
                    self.hold = true;
                    self.outputs.push_back(Output::TruncateAfter { seq, zxid });
                }
                zab::Output::InstallSnapshot { seq, zxid, data } => {
                    self.hold = true;
                    self.outputs
                        .push_back(Output::InstallSnapshot { seq, zxid, data });
                }
                zab::Output::FromLearner { from, packet } => match packet {
                    LearnerPacket::Request(data) => self.forwarded(from, data),
                    LearnerPacket::Revalidate(data) => self.revalidate(from, data),
                    LearnerPacket::SessionTouches(data) => self.touches(data),
                },
                zab::Output::FromLeader(packet) => match packet {
                    LeaderPacket::Revalidate(data) => self.revalidated(data),
                    LeaderPacket::Sync(_) => self.synced(),
                },
            }
        }
    }

    /// Applies a committed txn: tree, sessions, watches, then the waiting reply.
    fn apply(&mut self, p: zab::Proposal) {
        let proposed_here = self.proposed.contains_key(&p.zxid);
        let txn = match self.proposed.remove(&p.zxid) {
            Some(t) => t,
            None => match Txn::decode(p.txn.clone()) {
                Ok(t) => t,
                Err(e) => {
                    // A committed txn we cannot read means our history is unusable.
                    panic!("committed txn {} does not decode: {e}", p.zxid);
                }
            },
        };
        let applied = self.tree.apply(&txn);
        self.record_writes(&txn.body, &applied.result);
        self.counters.outstanding_changes_removed += self.outstanding.retire(p.zxid) as u64;
        self.record_commit_latencies(txn.header.time, proposed_here);
        let sid = SessionId(txn.header.client_id);
        self.creating.remove(&sid);
        let mut close_after: Option<ConnId> = None;
        match &txn.body {
            TxnBody::CreateSession(t) => {
                self.sessions.add(sid, t.time_out, self.now_ms);
            }
            TxnBody::CloseSession(_) => {
                if let Some(s) = self.sessions.remove(sid) {
                    close_after = s.conn;
                }
            }
            _ => {}
        }
        self.notify(&applied.triggers, p.zxid);
        let key = (txn.header.client_id, txn.header.cxid);
        if let Some(pw) = self.pending.remove(&key) {
            self.reply_write(key, pw, &applied.result);
        }
        if let Some(conn) = close_after {
            if self.conns.contains_key(&conn) {
                self.close_conn(conn);
            }
        }
    }

    /// Follower in broadcast: PROPOSALs it is about to log, ms since the leader created them
    /// (zk_proposal_latency, ZooKeeper's Follower.processPacket; not during sync).
    fn record_proposal_latency(&mut self, ps: &[zab::Proposal]) {
        if self.zab.role() != Role::Following || self.zab.phase() != zab::Phase::Broadcast {
            return;
        }
        for p in ps {
            if let Ok(h) = TxnHeader::decode(&mut p.txn.clone()) {
                let ms = self.now_ms - h.time;
                if ms >= 0 {
                    self.counters.proposal_latency.add(ms);
                }
            }
        }
    }

    /// zk_*_write_per_namespace for the creates, deletes and setDatas that took effect.
    fn record_writes(&mut self, body: &TxnBody, result: &TxnResult) {
        let (path, bytes) = match (body, result) {
            (TxnBody::Multi(bodies), TxnResult::Multi(results)) => {
                for (b, r) in bodies.iter().zip(results) {
                    self.record_writes(b, r);
                }
                return;
            }
            (TxnBody::Create(t) | TxnBody::Create2(t), TxnResult::Created { .. }) => {
                (&t.path, t.data.as_ref().map_or(0, |d| d.len()))
            }
            (TxnBody::CreateContainer(t), TxnResult::Created { .. }) => {
                (&t.path, t.data.as_ref().map_or(0, |d| d.len()))
            }
            (TxnBody::CreateTtl(t), TxnResult::Created { .. }) => {
                (&t.path, t.data.as_ref().map_or(0, |d| d.len()))
            }
            (TxnBody::Delete(t) | TxnBody::DeleteContainer(t), TxnResult::Deleted) => (&t.path, 0),
            (TxnBody::SetData(t), TxnResult::DataSet(_)) => {
                (&t.path, t.data.as_ref().map_or(0, |d| d.len()))
            }
            _ => return,
        };
        if let Some(ns) = stats::top_namespace(path) {
            self.counters
                .write_per_namespace
                .add(ns, stats::java_len(path) + bytes as i64);
        }
    }

    /// zk_*_read_per_namespace for a getData, exists or getChildren answered with a node.
    fn record_read(&mut self, req: &OpRequest) {
        let (path, children) = match req {
            OpRequest::GetData(r) => (&r.path, false),
            OpRequest::Exists(r) => (&r.path, false),
            OpRequest::GetChildren(r) | OpRequest::GetChildren2(r) => (&r.path, true),
            _ => return,
        };
        let Some(ns) = stats::top_namespace(path) else {
            return;
        };
        let Some(node) = self.tree.get(path) else {
            return;
        };
        let bytes = match (req, children) {
            (_, true) => node.children.iter().map(|c| stats::java_len(c)).sum(),
            (OpRequest::GetData(_), _) => node.data_len() as i64,
            _ => 0,
        };
        self.counters.read_per_namespace.add(
            ns,
            stats::java_len(path) + bytes + stats::STAT_OVERHEAD_BYTES,
        );
    }

    /// The txn header's time is the leader's clock at proposal (ZooKeeper's `logLatency`):
    /// a negative difference is clock skew between members and is not recorded.
    fn record_commit_latencies(&mut self, created_ms: i64, proposed_here: bool) {
        let ms = self.now_ms - created_ms;
        if ms < 0 {
            return;
        }
        self.counters.propagation_latency.add(ms);
        if proposed_here {
            self.counters.quorum_ack_latency.add(ms);
        } else if matches!(self.zab.role(), zab::Role::Following | zab::Role::Observing) {
            self.counters.commit_propagation_latency.add(ms);
        }
    }

    /// Turns the tree's triggers into notifications for the connections watching, each
    /// delivered only if that connection may READ the node (3.9 semantics).
    fn notify(&mut self, triggers: &[tree::apply::Trigger], zxid: Zxid) {
        for t in triggers {
            let watchers = self.watches.trigger(&t.path, t.event_type);
            if watchers.is_empty() {
                continue;
            }
            let per_event = match t.event_type {
                event_type::NODE_CREATED => Some(&mut self.counters.node_created_watch_count),
                event_type::NODE_DELETED => Some(&mut self.counters.node_deleted_watch_count),
                event_type::NODE_DATA_CHANGED => Some(&mut self.counters.node_changed_watch_count),
                event_type::NODE_CHILDREN_CHANGED => {
                    Some(&mut self.counters.node_children_watch_count)
                }
                _ => None,
            };
            if let Some(s) = per_event {
                s.add(watchers.len() as i64);
            }
            let frame = frame_of(
                &ReplyHeader {
                    xid: xid::NOTIFICATION,
                    zxid: zxid.0,
                    err: 0,
                },
                &WatcherEvent {
                    event_type: t.event_type,
                    state: keeper_state::SYNC_CONNECTED,
                    path: t.path.clone(),
                }
                .to_bytes(),
            );
            for w in watchers {
                if let Some(c) = self.conns.get(&w) {
                    if self.config.prep.skip_acl
                        || tree::acl::check_perm(&t.acl, perms::READ, &c.ids)
                    {
                        self.counters.packets_sent += 1;
                        self.outputs.push_back(Output::Send {
                            conn: w,
                            frame: frame.clone(),
                        });
                    }
                }
            }
        }
    }

    fn reply_write(&mut self, key: WriteKey, pw: PendingWrite, result: &TxnResult) {
        let Some(conn) = pw.conn else { return };
        if !self.conns.contains_key(&conn) {
            return;
        }
        // The write is at the front of its connection's queue: everything before it has
        // been answered (earlier writes applied first; reads answered on reaching the front).
        if let Some(c) = self.conns.get_mut(&conn) {
            match c.queue.front() {
                Some(Queued::Write(k)) if *k == key => {
                    c.queue.pop_front();
                }
                other => {
                    tracing::error!(conn, ?other, ?key, "write reply out of order");
                }
            }
        }
        let last = self.tree.last_processed_zxid().0;
        let (frame, close) = match pw.kind {
            PendingKind::Connect { timeout_ms } => {
                let sid = self.conns.get(&conn).and_then(|c| c.session);
                match (sid, result) {
                    (Some(sid), TxnResult::SessionCreated) => {
                        if let Some(s) = self.sessions.get_mut(sid) {
                            s.conn = Some(conn);
                        }
                        let ro = self.conns.get(&conn).and_then(|c| c.read_only_byte);
                        (session_response(sid, timeout_ms, ro), false)
                    }
                    _ => {
                        let ro = self.conns.get(&conn).and_then(|c| c.read_only_byte);
                        (record_frame(&invalid_session_response(ro)), true)
                    }
                }
            }
            PendingKind::Client { op_type, multi_ops } => {
                self.scratch.clear();
                let err = write_reply_body(op_type, &multi_ops, result, &mut self.scratch);
                let hdr = ReplyHeader {
                    xid: pw.xid,
                    zxid: last,
                    err: err.code(),
                };
                let close = op_type == op::CLOSE_SESSION;
                (frame_of(&hdr, &self.scratch), close)
            }
            PendingKind::Expire | PendingKind::Reaper | PendingKind::Forwarded => return,
        };
        self.counters.record_latency(self.now_ms - pw.received_ms);
        self.counters
            .update_latency
            .add((self.now_ms - pw.received_ms).max(0));
        self.counters.packets_sent += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats
                .on_reply(last, self.now_ms - pw.received_ms, self.now_ms);
        }
        self.outputs.push_back(Output::Send { conn, frame });
        if close {
            self.close_conn(conn);
            return;
        }
        self.pump(conn);
    }

    /// Answers everything at the front of the connection's queue that can be answered now.
    fn pump(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            // Writes, reconnects and forwarded syncs wait for their answer; anything else
            // at the front can be answered now.
            let waiting = matches!(
                c.queue.front(),
                None | Some(Queued::Write(_))
                    | Some(Queued::Revalidate { .. })
                    | Some(Queued::Sync { done: false, .. })
            );
            if waiting {
                return;
            }
            match c.queue.pop_front() {
                Some(Queued::Sync {
                    xid,
                    req,
                    received_ms,
                    ..
                })
                | Some(Queued::Read {
                    xid,
                    req,
                    received_ms,
                }) => self.serve_read(conn, xid, req, received_ms),
                Some(Queued::Ready { frame, close }) => {
                    self.counters.packets_sent += 1;
                    self.outputs.push_back(Output::Send { conn, frame });
                    if close {
                        self.close_conn(conn);
                        return;
                    }
                }
                Some(Queued::Fail { xid, err }) => {
                    let zxid = self.tree.last_processed_zxid().0;
                    let hdr = ReplyHeader {
                        xid,
                        zxid,
                        err: err.code(),
                    };
                    self.counters.packets_sent += 1;
                    self.outputs.push_back(Output::Send {
                        conn,
                        frame: frame_of(&hdr, &[]),
                    });
                }
                _ => return,
            }
        }
    }

    fn serve_read(&mut self, conn: ConnId, xid: i32, req: OpRequest, received_ms: i64) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let session = c.session.map(|s| s.0).unwrap_or(0);
        let last = self.tree.last_processed_zxid().0;
        self.scratch.clear();
        let mut events: Vec<WatcherEvent> = Vec::new();
        let (reply_xid, err) = match &req {
            OpRequest::Ping => (xid::PING, ErrorCode::Ok),
            OpRequest::SetWatches(sw) => {
                events = tree::watch::set_watches(
                    &mut self.watches,
                    conn,
                    sw.relative_zxid,
                    &sw.data_watches,
                    &sw.exist_watches,
                    &sw.child_watches,
                    &[],
                    &[],
                    |p| self.tree.get(p).map(|n| (n.stat.mzxid, n.stat.pzxid)),
                );
                (xid, ErrorCode::Ok)
            }
            OpRequest::SetWatches2(sw) => {
                events = tree::watch::set_watches(
                    &mut self.watches,
                    conn,
                    sw.relative_zxid,
                    &sw.data_watches,
                    &sw.exist_watches,
                    &sw.child_watches,
                    &sw.persistent_watches,
                    &sw.persistent_recursive_watches,
                    |p| self.tree.get(p).map(|n| (n.stat.mzxid, n.stat.pzxid)),
                );
                (xid, ErrorCode::Ok)
            }
            _ => {
                let who = Reader {
                    conn,
                    ids: &c.ids,
                    session,
                    skip_acl: self.config.prep.skip_acl,
                };
                let r = read::serve(&self.tree, &mut self.watches, &who, &req, &mut self.scratch);
                if r.is_ok() {
                    self.record_read(&req);
                }
                (xid, r.err().unwrap_or(ErrorCode::Ok))
            }
        };
        // `read::serve` writes a body only on success (and for multiRead's MarshallingError,
        // which ZooKeeper answers with an empty result list).
        // Events from setWatches carry zxid -1 and go before its reply.
        for ev in events {
            let frame = frame_of(
                &ReplyHeader {
                    xid: xid::NOTIFICATION,
                    zxid: -1,
                    err: 0,
                },
                &ev.to_bytes(),
            );
            self.outputs.push_back(Output::Send { conn, frame });
        }
        let frame = frame_of(
            &ReplyHeader {
                xid: reply_xid,
                zxid: last,
                err: err.code(),
            },
            &self.scratch,
        );
        self.counters.packets_sent += 1;
        self.counters.record_latency(self.now_ms - received_ms);
        self.counters
            .read_latency
            .add((self.now_ms - received_ms).max(0));
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats
                .on_reply(last, self.now_ms - received_ms, self.now_ms);
        }
        self.outputs.push_back(Output::Send { conn, frame });
    }
}

/// Writes the success body of a write's reply and returns the header's error code.
fn write_reply_body(
    op_type: i32,
    multi_ops: &[i32],
    result: &TxnResult,
    body: &mut BytesMut,
) -> ErrorCode {
    match result {
        TxnResult::Error(e) => *e,
        TxnResult::Created { path, stat } => {
            if op_type == op::CREATE {
                CreateResponse { path: path.clone() }.encode(body);
            } else {
                Create2Response {
                    path: path.clone(),
                    stat: stat.clone(),
                }
                .encode(body);
            }
            ErrorCode::Ok
        }
        TxnResult::DataSet(stat) | TxnResult::AclSet(stat) => {
            StatResponse { stat: stat.clone() }.encode(body);
            ErrorCode::Ok
        }
        TxnResult::Multi(results) => {
            let results = results
                .iter()
                .enumerate()
                .map(|(i, r)| multi_result(multi_ops.get(i).copied().unwrap_or(op::ERROR), r))
                .collect();
            MultiResponse { results }.encode(body);
            ErrorCode::Ok
        }
        TxnResult::Deleted
        | TxnResult::Checked
        | TxnResult::SessionCreated
        | TxnResult::SessionClosed => ErrorCode::Ok,
    }
}

/// One multi result as the client expects it for the op it sent (3.9: create2, container
/// and TTL creates answer with path and Stat).
fn multi_result(op_type: i32, r: &TxnResult) -> MultiResult {
    match r {
        TxnResult::Created { path, stat } => {
            if op_type == op::CREATE {
                MultiResult::Create(path.clone())
            } else {
                MultiResult::Create2(path.clone(), stat.clone())
            }
        }
        TxnResult::Deleted => MultiResult::Delete,
        TxnResult::DataSet(stat) => MultiResult::SetData(stat.clone()),
        TxnResult::Checked => MultiResult::Check,
        TxnResult::Error(e) => MultiResult::Error(*e),
        _ => MultiResult::Error(ErrorCode::RuntimeInconsistency),
    }
}
