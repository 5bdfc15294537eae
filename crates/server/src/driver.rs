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
use crate::persist::Persister;

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
}

impl Driver {
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>, tick: Duration) {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
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
                self.node.conn_closed(conn);
            }
            Event::FourLetter { cmd, remote, reply } => {
                let text = crate::stats::four_letter(self, cmd, remote);
                let _ = reply.send(text);
            }
            Event::Persisted { seq } => self.node.persisted(seq, now),
            Event::SnapshotDone { ok } => self.persister.snapshot_done(ok),
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

    fn route(&mut self) {
        while let Some(o) = self.node.poll_output() {
            tracing::trace!(?o, "node output");
            match o {
                Output::Send { conn, frame } => {
                    if let Some(tx) = self.conns.get(&conn) {
                        let _ = tx.send(ConnOut::Frame(frame));
                    }
                }
                Output::Close { conn } => {
                    if let Some(tx) = self.conns.remove(&conn) {
                        let _ = tx.send(ConnOut::Close);
                    }
                }
                Output::Persist { seq, op } => self.persister.submit(seq, op),
            }
        }
        self.persister.maybe_snapshot(&self.node);
    }
}
