//! A tiny driver around one `NodeCore`: it plays the store (answers every `Persist` with
//! `persisted(seq)`, at once or held back to simulate a slow fsync) and the sockets (collects
//! the frames of each connection, decoded with jute).
//!
//! Tests talk to it through `session`, `send`, `call`, `events`, `hold`/`release` and `tick`;
//! the request builders at the bottom keep the scenarios short.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::{Buf, Bytes};
use jute::proto::{
    AuthPacket, ConnectRequest, ConnectResponse, CreateRequest, CreateTtlRequest, DeleteRequest,
    MultiOp, MultiRequest, OpRequest, PathRequest, PathWatchRequest, ReplyHeader, SetAclRequest,
    SetDataRequest, WatcherEvent,
};
use jute::types::xid;
use jute::{Acl, ErrorCode, Record, SessionId};
use node::prep::PrepConfig;
use node::sessions::Sessions;
use node::{ConnId, NodeConfig, NodeCore, Output};
use tree::datatree::DataTree;
use zab::{PersistSeq, Zab};

/// The wall clock at the start of every scenario.
pub const T0: i64 = 1_700_000_000_000;
pub const TICK_MS: i64 = 2000;
pub const MIN_TIMEOUT_MS: i32 = 4000;
pub const MAX_TIMEOUT_MS: i32 = 40_000;
pub const REMOTE_IP: &str = "127.0.0.1";

/// Knobs a scenario may turn.
#[derive(Debug, Clone)]
pub struct Opts {
    pub extended_types: bool,
    pub container_check_interval_ms: i64,
    pub super_digest: Option<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            extended_types: false,
            container_check_interval_ms: 60_000,
            super_digest: None,
        }
    }
}

/// What one connection saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Handshake(ConnectResponse),
    Reply(Reply),
    Notify {
        zxid: i64,
        event_type: i32,
        path: String,
    },
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Bytes,
}

impl Reply {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_code(self.err).unwrap_or_else(|| panic!("unknown code {}", self.err))
    }

    /// Decodes the body as `R`, insisting on success and on no trailing bytes.
    pub fn body<R: Record>(&self) -> R {
        assert_eq!(self.code(), ErrorCode::Ok, "reply {self:?} is an error");
        let mut b = self.body.clone();
        let r = R::decode(&mut b).unwrap_or_else(|e| panic!("body of {self:?}: {e}"));
        assert!(!b.has_remaining(), "trailing bytes in {self:?}");
        r
    }
}

/// A session as a client remembers it.
#[derive(Debug, Clone)]
pub struct Sess {
    pub id: SessionId,
    pub passwd: Bytes,
    pub timeout_ms: i32,
}

pub struct H {
    pub core: NodeCore,
    pub now: i64,
    hold: bool,
    held: Vec<PersistSeq>,
    inbox: HashMap<ConnId, VecDeque<Ev>>,
    awaiting_handshake: HashSet<ConnId>,
    next_conn: ConnId,
    next_xid: HashMap<ConnId, i32>,
}

impl H {
    pub fn new() -> H {
        H::with(Opts::default())
    }

    pub fn with(opts: Opts) -> H {
        let config = NodeConfig {
            server_byte: 1,
            tick_ms: TICK_MS,
            min_session_timeout_ms: MIN_TIMEOUT_MS,
            max_session_timeout_ms: MAX_TIMEOUT_MS,
            prep: PrepConfig {
                extended_types_enabled: opts.extended_types,
                skip_acl: false,
                reconfig_enabled: false,
            },
            super_digest: opts.super_digest,
            container_check_interval_ms: opts.container_check_interval_ms,
            container_max_per_minute: 10_000,
            read_only_mode: false,
            local_sessions: false,
        };
        let my_id = zab::ServerId(1);
        let zab = Zab::new(
            zab::Config {
                my_id,
                voters: vec![my_id],
                inflight_max: 10_000,
            },
            zab::Restored::default(),
        );
        let sessions = Sessions::new(1, T0, TICK_MS);
        let core = NodeCore::new(config, DataTree::new(), sessions, zab, T0);
        let mut h = H {
            core,
            now: T0,
            hold: false,
            held: Vec::new(),
            inbox: HashMap::new(),
            awaiting_handshake: HashSet::new(),
            next_conn: 1,
            next_xid: HashMap::new(),
        };
        // The epoch files of the new leader become durable: the member starts serving.
        h.settle();
        assert!(
            h.core.is_serving(),
            "a one-voter member serves once its epoch is durable"
        );
        h
    }

    // ----- the store -----

    /// From now on persist requests wait (a slow fsync) until `release`.
    pub fn hold(&mut self) {
        self.hold = true;
    }

    /// The slow fsync completes: everything held becomes durable; persists are answered at
    /// once again.
    pub fn release(&mut self) {
        self.hold = false;
        if let Some(&seq) = self.held.iter().max() {
            self.held.clear();
            self.core.persisted(seq, self.now);
        }
        self.settle();
    }

    /// Persist requests waiting for the (held) store.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    pub fn settle(&mut self) {
        // Bounded: each round either acks persists (which only delivers) or ends.
        for _ in 0..10_000 {
            let mut last_seq = None;
            while let Some(o) = self.core.poll_output() {
                match o {
                    Output::Send { conn, frame } => self.receive(conn, frame),
                    Output::Close { conn } => {
                        self.inbox.entry(conn).or_default().push_back(Ev::Closed)
                    }
                    Output::Persist { seq, .. } => {
                        if self.hold {
                            self.held.push(seq);
                        } else {
                            last_seq = Some(seq);
                        }
                    }
                    // A one-voter member has no peers and never syncs.
                    _ => {}
                }
            }
            match last_seq {
                Some(seq) => self.core.persisted(seq, self.now),
                None => return,
            }
        }
        panic!("the node kept producing outputs");
    }

    fn receive(&mut self, conn: ConnId, frame: Bytes) {
        let mut b = frame;
        assert!(b.len() >= 4, "short frame");
        let len = b.get_i32();
        assert_eq!(len as usize, b.len(), "frame length prefix");
        let ev = if self.awaiting_handshake.remove(&conn) {
            let r = ConnectResponse::decode(&mut b).expect("ConnectResponse");
            assert!(!b.has_remaining(), "trailing bytes after ConnectResponse");
            Ev::Handshake(r)
        } else {
            let hdr = ReplyHeader::decode(&mut b).expect("ReplyHeader");
            if hdr.xid == xid::NOTIFICATION {
                assert_eq!(hdr.err, 0);
                let e = WatcherEvent::decode(&mut b).expect("WatcherEvent");
                assert!(!b.has_remaining(), "trailing bytes after WatcherEvent");
                assert_eq!(e.state, 3, "server events carry SyncConnected");
                Ev::Notify {
                    zxid: hdr.zxid,
                    event_type: e.event_type,
                    path: e.path,
                }
            } else {
                Ev::Reply(Reply {
                    xid: hdr.xid,
                    zxid: hdr.zxid,
                    err: hdr.err,
                    body: b,
                })
            }
        };
        self.inbox.entry(conn).or_default().push_back(ev);
    }

    // ----- time -----

    /// Advances the clock by `ms` and ticks the node.
    pub fn tick(&mut self, ms: i64) {
        self.now += ms;
        self.core.tick(self.now);
        self.settle();
    }

    // ----- connections -----

    pub fn open(&mut self) -> ConnId {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.core.conn_opened(
            conn,
            format!("{REMOTE_IP}:{}", 40_000 + conn),
            REMOTE_IP.to_string(),
        );
        conn
    }

    pub fn handshake(&mut self, conn: ConnId, req: ConnectRequest) {
        self.awaiting_handshake.insert(conn);
        self.core.connect(conn, req, self.now);
        self.settle();
    }

    /// A new connection with a new session (the createSession made durable).
    pub fn session(&mut self) -> (ConnId, Sess) {
        self.session_with_timeout(10_000)
    }

    pub fn session_with_timeout(&mut self, timeout_ms: i32) -> (ConnId, Sess) {
        let conn = self.open();
        self.handshake(conn, connect_req(0, &[0; 16], timeout_ms));
        match self.events(conn).as_slice() {
            [Ev::Handshake(r)] => {
                assert_ne!(r.session_id, 0, "a new session gets an id");
                (
                    conn,
                    Sess {
                        id: SessionId(r.session_id),
                        passwd: r.passwd.clone(),
                        timeout_ms: r.time_out,
                    },
                )
            }
            other => panic!("handshake of conn {conn}: {other:?}"),
        }
    }

    pub fn close(&mut self, conn: ConnId) {
        self.core.conn_closed(conn);
        self.settle();
    }

    // ----- requests -----

    /// Sends a request with the connection's next xid (1, 2, …); returns that xid.
    pub fn send(&mut self, conn: ConnId, req: OpRequest) -> i32 {
        let x = self.next_xid.entry(conn).or_insert(0);
        *x += 1;
        let x = *x;
        self.send_xid(conn, x, req);
        x
    }

    pub fn send_xid(&mut self, conn: ConnId, xid: i32, req: OpRequest) {
        self.core.request(conn, xid, req, self.now);
        self.settle();
    }

    /// Sends and insists on exactly one event in return: the reply to this request.
    pub fn call(&mut self, conn: ConnId, req: OpRequest) -> Reply {
        let xid = self.send(conn, req.clone());
        match self.events(conn).as_slice() {
            [Ev::Reply(r)] if r.xid == xid || (r.xid == xid::PING && req == OpRequest::Ping) => {
                r.clone()
            }
            other => panic!("{req:?} on conn {conn}: expected one reply, got {other:?}"),
        }
    }

    /// Sends a write that must succeed.
    pub fn ok(&mut self, conn: ConnId, req: OpRequest) -> Reply {
        let r = self.call(conn, req.clone());
        assert_eq!(r.code(), ErrorCode::Ok, "{req:?}");
        r
    }

    /// Everything the connection received since the last look.
    pub fn events(&mut self, conn: ConnId) -> Vec<Ev> {
        self.inbox
            .get_mut(&conn)
            .map(|q| q.drain(..).collect())
            .unwrap_or_default()
    }

    pub fn exists_in_tree(&self, path: &str) -> bool {
        self.core.tree().get(path).is_some()
    }

    pub fn last_zxid(&self) -> i64 {
        self.core.last_zxid().0
    }
}

// ----- event matchers -----

/// The (xid, err) of every reply and the (type, path) of every notification, in order, with
/// `Closed` as ("closed"): enough to compare orderings in one assert.
pub fn shape(evs: &[Ev]) -> Vec<String> {
    evs.iter()
        .map(|e| match e {
            Ev::Handshake(r) => format!("handshake sid={:#x} to={}", r.session_id, r.time_out),
            Ev::Reply(r) => format!("reply xid={} err={}", r.xid, r.err),
            Ev::Notify {
                event_type, path, ..
            } => format!("notify {} {path}", event_name(*event_type)),
            Ev::Closed => "closed".to_string(),
        })
        .collect()
}

pub fn event_name(t: i32) -> &'static str {
    match t {
        1 => "NodeCreated",
        2 => "NodeDeleted",
        3 => "NodeDataChanged",
        4 => "NodeChildrenChanged",
        _ => "Other",
    }
}

pub fn replies(evs: &[Ev]) -> Vec<Reply> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Reply(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

// ----- request builders -----

pub fn connect_req(session_id: i64, passwd: &[u8], timeout_ms: i32) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: timeout_ms,
        session_id,
        passwd: Bytes::copy_from_slice(passwd),
        read_only: Some(false),
    }
}

pub fn open_acl() -> Vec<Acl> {
    Acl::open_unsafe()
}

pub fn create_with(path: &str, data: &[u8], acl: Vec<Acl>, flags: i32) -> OpRequest {
    OpRequest::Create(CreateRequest {
        path: path.to_string(),
        data: Some(Bytes::copy_from_slice(data)),
        acl,
        flags,
    })
}

pub fn create(path: &str, data: &[u8]) -> OpRequest {
    create_with(path, data, open_acl(), 0)
}

pub fn create_eph(path: &str) -> OpRequest {
    create_with(path, b"", open_acl(), 1)
}

pub fn create_seq(path: &str) -> OpRequest {
    create_with(path, b"", open_acl(), 2)
}

pub fn create_container(path: &str) -> OpRequest {
    OpRequest::CreateContainer(CreateRequest {
        path: path.to_string(),
        data: Some(Bytes::new()),
        acl: open_acl(),
        flags: 4,
    })
}

pub fn create_ttl(path: &str, flags: i32, ttl: i64) -> OpRequest {
    OpRequest::CreateTtl(CreateTtlRequest {
        path: path.to_string(),
        data: Some(Bytes::new()),
        acl: open_acl(),
        flags,
        ttl,
    })
}

pub fn delete(path: &str, version: i32) -> OpRequest {
    OpRequest::Delete(DeleteRequest {
        path: path.to_string(),
        version,
    })
}

pub fn set(path: &str, data: &[u8], version: i32) -> OpRequest {
    OpRequest::SetData(SetDataRequest {
        path: path.to_string(),
        data: Some(Bytes::copy_from_slice(data)),
        version,
    })
}

pub fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> OpRequest {
    OpRequest::SetAcl(SetAclRequest {
        path: path.to_string(),
        acl,
        version,
    })
}

fn pw(path: &str, watch: bool) -> PathWatchRequest {
    PathWatchRequest {
        path: path.to_string(),
        watch,
    }
}

pub fn get(path: &str, watch: bool) -> OpRequest {
    OpRequest::GetData(pw(path, watch))
}

pub fn exists(path: &str, watch: bool) -> OpRequest {
    OpRequest::Exists(pw(path, watch))
}

pub fn children(path: &str, watch: bool) -> OpRequest {
    OpRequest::GetChildren(pw(path, watch))
}

pub fn path_req(path: &str) -> PathRequest {
    PathRequest {
        path: path.to_string(),
    }
}

pub fn multi(ops: Vec<MultiOp>) -> OpRequest {
    OpRequest::Multi(MultiRequest { ops })
}

pub fn m_create(path: &str) -> MultiOp {
    MultiOp::Create {
        op: jute::types::op::CREATE,
        req: CreateRequest {
            path: path.to_string(),
            data: Some(Bytes::new()),
            acl: open_acl(),
            flags: 0,
        },
    }
}

pub fn m_set(path: &str, version: i32) -> MultiOp {
    MultiOp::SetData(SetDataRequest {
        path: path.to_string(),
        data: Some(Bytes::from_static(b"m")),
        version,
    })
}

pub fn m_delete(path: &str, version: i32) -> MultiOp {
    MultiOp::Delete(DeleteRequest {
        path: path.to_string(),
        version,
    })
}

pub fn auth(scheme: &str, auth: &[u8]) -> OpRequest {
    OpRequest::Auth(AuthPacket {
        auth_type: 0,
        scheme: scheme.to_string(),
        auth: Bytes::copy_from_slice(auth),
    })
}

/// A digest ACL entry for `user:password`.
pub fn digest_acl(perms: i32, user_password: &str) -> Acl {
    Acl::new(perms, "digest", &tree::acl::digest_id(user_password))
}
