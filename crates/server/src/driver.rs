//! The driver: one task owns the `NodeCore` and turns events (connections, requests, store
//! completions, ticks) into node inputs, then routes the node's outputs to connection tasks
//! and the store thread. It holds no protocol logic; its only clock is the tick interval and
//! the wall clock it stamps inputs with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use jute::proto::{ConnectRequest, OpRequest};
use node::{NodeCore, Output};
use tokio::sync::{mpsc, oneshot};

use crate::fourlw::FourLetter;
use crate::peer::election::ElectionTransport;
use crate::peer::quorum::{QuorumConn, QuorumEvent, QuorumTransport};
use crate::persist::Persister;
use zab::{Message, ServerId};

/// What a connection task receives from the driver.
#[derive(Debug)]
pub enum ConnOut {
    Frame(Bytes),
    Close,
}

/// Everything the driver reacts to.
pub enum Event {
    Opened {
        conn: u64,
        remote: SocketAddr,
        tx: mpsc::UnboundedSender<ConnOut>,
    },
    Connect {
        conn: u64,
        req: ConnectRequest,
    },
    Request {
        conn: u64,
        xid: i32,
        req: OpRequest,
    },
    Unknown {
        conn: u64,
        xid: i32,
    },
    Undecodable {
        conn: u64,
        xid: i32,
        op_type: i32,
    },
    Closed {
        conn: u64,
    },
    FourLetter {
        cmd: FourLetter,
        remote: SocketAddr,
        reply: oneshot::Sender<String>,
    },
    /// The store made everything up to `seq` durable.
    Persisted {
        seq: u64,
    },
    /// A snapshot finished (or failed); the driver may start the next.
    SnapshotDone {
        ok: bool,
    },
    /// The store failed: stop accepting writes.
    StoreFailed {
        why: String,
    },
    /// The store cut the log (TRUNC) and rebuilt the state at the cut.
    Rebuilt {
        tree: tree::datatree::DataTree,
        sessions: node::sessions::Sessions,
    },
}

impl Event {
    fn name(&self) -> &'static str {
        match self {
            Event::Opened { .. } => "opened",
            Event::Connect { .. } => "connect",
            Event::Request { .. } => "request",
            Event::Unknown { .. } => "unknown",
            Event::Undecodable { .. } => "undecodable",
            Event::Closed { .. } => "closed",
            Event::FourLetter { .. } => "four-letter",
            Event::Persisted { .. } => "persisted",
            Event::SnapshotDone { .. } => "snapshot-done",
            Event::StoreFailed { .. } => "store-failed",
            Event::Rebuilt { .. } => "rebuilt",
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub struct Driver {
    pub node: NodeCore,
    pub conns: HashMap<u64, mpsc::UnboundedSender<ConnOut>>,
    pub persister: Persister,
    pub info: crate::ServerInfo,
    pub store_failed: Option<String>,
    /// The peer ports of an ensemble member (`None` standalone).
    pub peers: Option<Peers>,
    /// Client response sizes (`mntr`).
    pub wire: crate::metrics::WireStats,
    /// Election, sync and unavailable times (`mntr`, ensemble members only).
    pub quorum_times: crate::metrics::QuorumTimes,
    /// Failures that stopped this member taking part (store failure, undecodable SNAP):
    /// ZooKeeper's zk_unrecoverable_error_count (a critical thread died).
    pub unrecoverable_errors: u64,
}

/// An ensemble member's peer transports and its current quorum connection per peer
/// (the wiring plan in `peer/mod.rs`). Nothing here decides anything: zab does.
pub struct Peers {
    pub election: ElectionTransport,
    pub quorum: QuorumTransport,
    pub election_rx: mpsc::Receiver<(ServerId, Message)>,
    pub quorum_rx: mpsc::Receiver<QuorumEvent>,
    /// `host:quorumPort` of every other member (a learner dials its leader there).
    pub quorum_addrs: HashMap<ServerId, String>,
    /// syncLimit × tick: the read timeout of quorum connections once serving.
    pub sync_timeout: Duration,
    pub conns: HashMap<ServerId, QuorumConn>,
    /// Connections that broke while sending: zab hears `disconnected` after the drain.
    pub lost: Vec<ServerId>,
    /// The role zab last announced (for the four-letter words).
    pub role: zab::Role,
    /// Wall clock (ms) of that announcement (`mntr`'s zk_leader_uptime).
    pub role_since_ms: i64,
}

async fn recv_opt<T>(rx: Option<&mut mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Driver {
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>, tick: Duration) {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // zab's first outputs (election notifications) were produced at construction.
        self.route();
        // A transport whose every sender is gone (a one-voter ensemble has no peer tasks)
        // yields `None` at once, forever: stop polling it, or this biased loop spins and
        // starves clients, ticks and four-letter words.
        let mut election_open = true;
        let mut quorum_open = true;
        loop {
            let (election_rx, quorum_rx) = match self.peers.as_mut() {
                Some(p) => (
                    Some(&mut p.election_rx).filter(|_| election_open),
                    Some(&mut p.quorum_rx).filter(|_| quorum_open),
                ),
                None => (None, None),
            };
            tokio::select! {
                biased;
                m = recv_opt(election_rx) => {
                    match m {
                        Some((from, msg)) => self.node.peer_message(from, msg, now_ms()),
                        None => election_open = false,
                    }
                }
                q = recv_opt(quorum_rx) => {
                    match q {
                        Some(q) => self.quorum_event(q),
                        None => quorum_open = false,
                    }
                }
                ev = events.recv() => {
                    let Some(ev) = ev else { return };
                    self.handle(ev);
                    // Take whatever else is queued before routing outputs: batching.
                    let mut n = 0;
                    while n < 256 {
                        match events.try_recv() {
                            Ok(ev) => self.handle(ev),
                            Err(_) => break,
                        }
                        n += 1;
                    }
                }
                _ = ticker.tick() => {
                    self.node.tick(now_ms());
                }
                // Only when nothing else is ready: the next slice of a snapshot in progress.
                _ = std::future::ready(()), if self.persister.snapshotting() => {
                    self.persister.snapshot_step(&self.node);
                }
            }
            self.route();
        }
    }

    fn handle(&mut self, ev: Event) {
        let now = now_ms();
        tracing::trace!(event = ev.name(), "driver event");
        match ev {
            Event::Opened { conn, remote, tx } => {
                self.conns.insert(conn, tx);
                self.node
                    .conn_opened(conn, remote.to_string(), remote.ip().to_string());
            }
            Event::Connect { conn, req } => {
                if self.store_failed.is_some() {
                    self.close(conn);
                } else {
                    self.node.connect(conn, req, now);
                }
            }
            Event::Request { conn, xid, req } => {
                if self.store_failed.is_some() {
                    // Never acknowledge anything once the store cannot make writes durable.
                    self.close(conn);
                } else {
                    self.node.request(conn, xid, req, now);
                }
            }
            Event::Unknown { conn, xid } => self.node.request_unknown(conn, xid, now),
            Event::Undecodable { conn, xid, op_type } => {
                self.node.request_undecodable(conn, xid, op_type, now)
            }
            Event::Closed { conn } => {
                self.conns.remove(&conn);
                self.wire.on_closed(conn);
                self.node.conn_closed(conn);
            }
            Event::FourLetter { cmd, remote, reply } => {
                let text = crate::stats::four_letter(self, cmd, remote);
                let _ = reply.send(text);
            }
            Event::Persisted { seq } => self.node.persisted(seq, now),
            Event::SnapshotDone { ok } => self.persister.snapshot_done(ok),
            Event::Rebuilt { tree, sessions } => {
                self.persister.rebuilt();
                self.node.rebuilt(tree, sessions);
            }
            Event::StoreFailed { why } => {
                // Writes already proposed can never be acknowledged (their durability is
                // unknown), and no session can be created or expired without the log: drop
                // every client so it fails over or retries, and refuse new sessions. Four-
                // letter words keep answering so operators can see the state.
                tracing::error!(
                    "store failed: closing all {} client connections and refusing new                      sessions until restarted: {why}",
                    self.conns.len()
                );
                self.store_failed = Some(why);
                self.unrecoverable_errors += 1;
                let conns: Vec<u64> = self.conns.keys().copied().collect();
                for conn in conns {
                    self.close(conn);
                }
            }
        }
    }

    fn close(&mut self, conn: u64) {
        if let Some(tx) = self.conns.remove(&conn) {
            let _ = tx.send(ConnOut::Close);
        }
        self.node.conn_closed(conn);
    }

    /// A quorum connection event; only the current connection of a peer counts.
    fn quorum_event(&mut self, ev: QuorumEvent) {
        let now = now_ms();
        let Some(peers) = self.peers.as_mut() else {
            return;
        };
        match ev {
            QuorumEvent::Accepted {
                peer, conn, hello, ..
            } => {
                // The older connection (if any) is dropped, which closes it; its Closed is
                // then stale. zab's FOLLOWERINFO handling replaces what it knew.
                if let Some(old) = peers.conns.insert(peer, conn) {
                    old.close();
                }
                self.node.peer_message(peer, hello, now);
            }
            QuorumEvent::Received { peer, conn, msg } => {
                if peers.conns.get(&peer).is_some_and(|c| c.id() == conn) {
                    self.node.peer_message(peer, msg, now);
                }
            }
            QuorumEvent::Closed { peer, conn, reason } => {
                if peers.conns.get(&peer).is_some_and(|c| c.id() == conn) {
                    tracing::info!(peer = peer.0, %reason, "quorum connection closed");
                    peers.conns.remove(&peer);
                    self.node.peer_disconnected(peer, now);
                }
            }
        }
    }

    /// Sends a quorum message on `to`'s current connection (dialing the leader for a
    /// learner's first message). A failed send breaks the connection.
    fn send_quorum(&mut self, to: ServerId, msg: Message) {
        let Some(peers) = self.peers.as_mut() else {
            return;
        };
        if !peers.conns.contains_key(&to)
            && matches!(
                msg,
                Message::FollowerInfo { .. } | Message::ObserverInfo { .. }
            )
        {
            let Some(addr) = peers.quorum_addrs.get(&to).cloned() else {
                tracing::warn!(peer = to.0, "no quorum address for this peer");
                return;
            };
            let conn = peers.quorum.connect(to, addr);
            peers.conns.insert(to, conn);
        }
        let Some(conn) = peers.conns.get(&to) else {
            // No connection: zab times the peer out.
            tracing::debug!(
                peer = to.0,
                msg = msg.name(),
                "no quorum connection; dropped"
            );
            return;
        };
        if let Err(e) = conn.send(msg) {
            tracing::warn!("{e}");
            if let Some(c) = peers.conns.remove(&to) {
                c.close();
            }
            peers.lost.push(to);
        }
    }

    fn route(&mut self) {
        loop {
            self.route_once();
            let lost = match self.peers.as_mut() {
                Some(p) if !p.lost.is_empty() => std::mem::take(&mut p.lost),
                _ => break,
            };
            for peer in lost {
                self.node.peer_disconnected(peer, now_ms());
            }
        }
        if self.peers.is_some() {
            let z = self.node.zab();
            if self.quorum_times.changed(z.phase()) {
                self.quorum_times.observe(z.role(), z.phase(), now_ms());
            }
        }
        self.persister.maybe_snapshot(&self.node);
    }

    fn route_once(&mut self) {
        while let Some(o) = self.node.poll_output() {
            tracing::trace!(?o, "node output");
            match o {
                Output::Send { conn, frame } => {
                    if let Some(tx) = self.conns.get(&conn) {
                        self.wire.on_frame(conn, &frame);
                        let _ = tx.send(ConnOut::Frame(frame));
                    }
                }
                Output::Close { conn } => {
                    self.wire.on_closed(conn);
                    if let Some(tx) = self.conns.remove(&conn) {
                        let _ = tx.send(ConnOut::Close);
                    }
                }
                Output::Persist { seq, op } => self.persister.submit(seq, op),
                Output::Peer { to, msg } => {
                    if msg.is_election() {
                        if let Some(p) = self.peers.as_ref() {
                            if let Err(e) = p.election.send(to, &msg) {
                                // Lossy by design: FLE re-sends.
                                tracing::debug!(peer = to.0, "election send: {e}");
                            }
                        }
                    } else {
                        self.send_quorum(to, msg);
                    }
                }
                Output::SendSnapshot { to, up_to } => {
                    // The tree is exactly at `up_to` now (the node holds until resume).
                    let sessions: Vec<(jute::SessionId, i32)> = self
                        .node
                        .sessions()
                        .snapshot()
                        .into_iter()
                        .map(|(id, t)| (jute::SessionId(id), t))
                        .collect();
                    let mut buf = bytes::BytesMut::new();
                    crate::peer::snap::encode_snap_stream(&sessions, self.node.tree(), &mut buf);
                    tracing::info!(peer = to.0, %up_to, bytes = buf.len(), "sending SNAP");
                    self.send_quorum(
                        to,
                        Message::Snap {
                            zxid: up_to,
                            data: buf.freeze(),
                        },
                    );
                    self.node.resume();
                }
                Output::Disconnect { peer } => {
                    if let Some(c) = self.peers.as_mut().and_then(|p| p.conns.remove(&peer)) {
                        c.close();
                    }
                }
                Output::TruncateAfter { seq, zxid } => {
                    tracing::info!(%zxid, "TRUNC: truncating the log and rebuilding the tree");
                    self.persister.truncate(seq, zxid);
                }
                Output::InstallSnapshot { seq, zxid, data } => {
                    match crate::peer::snap::decode_snap_stream(data) {
                        Ok(snap) => {
                            let mut tree = snap.tree;
                            tree.set_last_processed_zxid(zxid);
                            let cfg = &self.info.config;
                            // ZOOKEEPER-2819: our own config, not the leader's.
                            if let Some(text) = cfg.dynamic_config_text() {
                                tree.init_config_node(bytes::Bytes::from(text), 0, now_ms());
                            }
                            let server_byte = if cfg.is_quorum() {
                                cfg.my_id.unwrap_or(1) as u8
                            } else {
                                1
                            };
                            let now = now_ms();
                            let mut sessions = node::sessions::Sessions::new(
                                server_byte,
                                now,
                                cfg.tick_time_ms as i64,
                            );
                            for (sid, timeout) in snap.sessions {
                                sessions.add(sid, timeout, now);
                            }
                            self.node.installed(tree, sessions);
                            self.persister.install(seq, zxid, &self.node);
                        }
                        Err(e) => {
                            // zab cannot abandon a persist request (no way to say "failed"),
                            // and acknowledging a later one would acknowledge this one: the
                            // member stops taking part, as after a store failure.
                            tracing::error!(
                                "SNAP from the leader does not decode: {e}; restart this member"
                            );
                            self.store_failed = Some(format!("bad SNAP stream: {e}"));
                            self.unrecoverable_errors += 1;
                        }
                    }
                }
                Output::RoleChanged { role, .. } => {
                    if let Some(p) = self.peers.as_mut() {
                        p.role = role;
                        p.role_since_ms = now_ms();
                        if self.node.is_serving() {
                            for c in p.conns.values() {
                                let _ = c.set_read_timeout(p.sync_timeout);
                            }
                        }
                    }
                }
            }
        }
    }
}
