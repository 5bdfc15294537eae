//! The quorum port: leader ↔ learner TCP connections carrying `zab::Message`s as consecutive
//! `QuorumPacket`s (no length prefix, zk-protocol §9.1), a SNAP packet followed by its raw
//! stream (§9.4).
//!
//! Owns: [`PeerCodec`] (packets + SNAP streams), one task per connection, the learner's dial
//! (with retries until the connect deadline) and the leader's accept (the first packet must be
//! FOLLOWERINFO / OBSERVERINFO, within the init timeout: it names the learner).
//!
//! Invariants:
//! - Every connection has a [`ConnId`] unique in the process (its generation). Each
//!   connection that got as far as having an id reports exactly one [`QuorumEvent::Closed`]
//!   with that id, after its last [`QuorumEvent::Received`] — so the driver can tell a stale
//!   close from the current connection's.
//! - A connection ends on: EOF, an IO error, a packet that does not decode or map
//!   ([`super::wire`]), no packet for the read timeout, a write that takes longer than the
//!   read timeout, the owner's [`QuorumConn::close`] or dropping every [`QuorumConn`] clone,
//!   or the transport's shutdown. Garbage ends only that connection.
//! - Sends never block the caller: each connection has a bounded queue; a full queue is an
//!   error the caller treats as a broken connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use futures::{SinkExt, StreamExt};
use jute::quorum::{packet_type as pt, LearnerInfo, QuorumCodec, QuorumCodecError, QuorumPacket};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tokio_util::sync::CancellationToken;
use zab::{Message, ServerId};

use super::snap::{SnapScanner, SnapStreamError};
use super::wire::{self, WireContext, WireError, WirePacket};

/// A quorum connection's generation: unique among all connections of the process.
pub type ConnId = u64;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

fn next_conn_id() -> ConnId {
    NEXT_CONN.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug, thiserror::Error)]
pub enum PeerCodecError {
    #[error("{0}")]
    Quorum(#[from] QuorumCodecError),
    #[error("{0}")]
    Snap(#[from] SnapStreamError),
    #[error("quorum peer io: {0}")]
    Io(#[from] std::io::Error),
}

/// [`QuorumCodec`] plus SNAP: after a SNAP packet the decoder reads the snapshot stream that
/// follows (found with [`SnapScanner`]) and yields both as one [`WirePacket`].
#[derive(Debug)]
pub struct PeerCodec {
    inner: QuorumCodec,
    max_packet_len: usize,
    max_snapshot_len: usize,
    /// A SNAP packet whose stream is still arriving.
    snap: Option<(QuorumPacket, SnapScanner)>,
}

impl PeerCodec {
    /// `max_packet_len` bounds a packet and every field (also inside a snapshot);
    /// `max_snapshot_len` a whole SNAP stream.
    pub fn new(max_packet_len: usize, max_snapshot_len: usize) -> PeerCodec {
        PeerCodec {
            inner: QuorumCodec::new(max_packet_len),
            max_packet_len,
            max_snapshot_len,
            snap: None,
        }
    }
}

impl Decoder for PeerCodec {
    type Item = WirePacket;
    type Error = PeerCodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<WirePacket>, PeerCodecError> {
        if self.snap.is_none() {
            let Some(packet) = self.inner.decode(src)? else {
                return Ok(None);
            };
            if packet.packet_type != pt::SNAP {
                return Ok(Some(WirePacket {
                    packet,
                    snapshot: None,
                }));
            }
            let scanner = SnapScanner::new(self.max_snapshot_len, self.max_packet_len);
            self.snap = Some((packet, scanner));
        }
        let Some((_, scanner)) = self.snap.as_mut() else {
            return Ok(None);
        };
        match scanner.scan(src)? {
            None => Ok(None),
            Some(len) => {
                let snapshot = src.split_to(len).freeze();
                let Some((packet, _)) = self.snap.take() else {
                    return Ok(None);
                };
                Ok(Some(WirePacket {
                    packet,
                    snapshot: Some(snapshot),
                }))
            }
        }
    }
}

impl Encoder<WirePacket> for PeerCodec {
    type Error = PeerCodecError;

    fn encode(&mut self, item: WirePacket, dst: &mut BytesMut) -> Result<(), PeerCodecError> {
        self.inner.encode(&item.packet, dst)?;
        if let Some(snapshot) = item.snapshot {
            dst.put_slice(&snapshot);
        }
        Ok(())
    }
}

/// Limits and timeouts of quorum connections.
#[derive(Debug, Clone)]
pub struct QuorumParams {
    /// initLimit × tickTime: how long a learner keeps trying to reach its leader, how long
    /// the leader waits for a learner's first packet, and the read timeout until changed.
    pub init_timeout: Duration,
    /// Pause between a learner's connection attempts.
    pub retry_interval: Duration,
    /// Bound on one packet (and each field): ZooKeeper's `jute.maxbuffer` plus extra.
    pub max_packet_len: usize,
    /// Bound on one SNAP stream.
    pub max_snapshot_len: usize,
    /// Messages queued per connection before `send` fails.
    pub queue_len: usize,
}

impl QuorumParams {
    /// ZooKeeper's timeouts from tickTime, initLimit and jute.maxbuffer.
    pub fn from_limits(tick: Duration, init_limit: u32, jute_max_buffer: usize) -> QuorumParams {
        QuorumParams {
            init_timeout: tick.saturating_mul(init_limit.max(1)),
            retry_interval: Duration::from_millis(1000).min(tick.max(Duration::from_millis(10))),
            max_packet_len: jute_max_buffer.saturating_mul(2).saturating_add(1024),
            max_snapshot_len: usize::MAX >> 1,
            queue_len: 65_536,
        }
    }
}

/// What the quorum connections report to the driver (one channel for all of them).
#[derive(Debug)]
pub enum QuorumEvent {
    /// Leader side: a learner connected and sent its FOLLOWERINFO / OBSERVERINFO (`hello`,
    /// which the driver steps into zab like any received message).
    Accepted {
        peer: ServerId,
        conn: QuorumConn,
        info: LearnerInfo,
        hello: Message,
    },
    /// A message on connection `conn` with `peer`.
    Received {
        peer: ServerId,
        conn: ConnId,
        msg: Message,
    },
    /// Connection `conn` with `peer` ended (exactly once per connection).
    Closed {
        peer: ServerId,
        conn: ConnId,
        reason: String,
    },
}

#[derive(Debug)]
enum Outgoing {
    Msg(Message),
    ReadTimeout(Duration),
    Close,
}

/// Why [`QuorumConn::send`] failed: the connection is gone or its queue is full. Either way
/// the driver treats the connection as broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("quorum connection {conn} with {peer:?} cannot take more messages")]
pub struct SendError {
    pub peer: ServerId,
    pub conn: ConnId,
}

/// The owner's handle on one connection: its id and its outgoing queue. Dropping every clone
/// closes the connection.
#[derive(Debug, Clone)]
pub struct QuorumConn {
    peer: ServerId,
    id: ConnId,
    tx: mpsc::Sender<Outgoing>,
}

impl QuorumConn {
    pub fn peer(&self) -> ServerId {
        self.peer
    }
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Queues `msg` (a quorum-port message) in order.
    pub fn send(&self, msg: Message) -> Result<(), SendError> {
        self.tx.try_send(Outgoing::Msg(msg)).map_err(|_| SendError {
            peer: self.peer,
            conn: self.id,
        })
    }

    /// From now on, silence longer than `timeout` ends the connection (ZooKeeper: initLimit
    /// ticks while syncing, syncLimit ticks once serving). Applied in queue order, from the
    /// next wait for a packet on.
    pub fn set_read_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        self.tx
            .try_send(Outgoing::ReadTimeout(timeout))
            .map_err(|_| SendError {
                peer: self.peer,
                conn: self.id,
            })
    }

    /// Closes the connection after what is queued so far is written.
    pub fn close(&self) {
        if self.tx.try_send(Outgoing::Close).is_err() {
            // Full or gone: the queue is dropped with the task either way.
            tracing::debug!(
                peer = self.peer.0,
                conn = self.id,
                "close on a full or closed queue"
            );
        }
    }
}

/// Task bookkeeping shared by the transport's tasks, so shutdown can wait for all of them.
#[derive(Default)]
struct Tasks(Mutex<Vec<JoinHandle<()>>>);

impl Tasks {
    fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(fut);
        let mut tasks = self.0.lock();
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }
    async fn join_all(&self) {
        loop {
            let batch: Vec<JoinHandle<()>> = std::mem::take(&mut *self.0.lock());
            if batch.is_empty() {
                return;
            }
            for t in batch {
                if let Err(e) = t.await {
                    tracing::debug!("quorum task ended: {e}");
                }
            }
        }
    }
}

struct Shared {
    ctx: Arc<WireContext>,
    params: QuorumParams,
    events: mpsc::Sender<QuorumEvent>,
    /// Members that may connect as learners (everyone but this member).
    members: Vec<ServerId>,
    token: CancellationToken,
    tasks: Tasks,
}

/// The quorum transport of one member: the accept loop (always on: a learner that decided
/// before its leader is stashed by zab) and the connections it accepts or dials.
#[derive(Clone)]
pub struct QuorumTransport {
    shared: Arc<Shared>,
}

impl QuorumTransport {
    /// Starts accepting learners on `listener`. Events of every connection go to `events`.
    pub fn start(
        listener: TcpListener,
        ctx: Arc<WireContext>,
        members: Vec<ServerId>,
        params: QuorumParams,
        events: mpsc::Sender<QuorumEvent>,
    ) -> QuorumTransport {
        let shared = Arc::new(Shared {
            ctx,
            params,
            events,
            members,
            token: CancellationToken::new(),
            tasks: Tasks::default(),
        });
        let accept = accept_loop(listener, shared.clone());
        shared.tasks.spawn(accept);
        QuorumTransport { shared }
    }

    /// Learner side: dials the leader `peer` at `addr` (`host:port`), retrying until the
    /// init timeout. Returns at once; queue zab's FOLLOWERINFO / OBSERVERINFO with
    /// [`QuorumConn::send`] first. A failed dial is reported as `Closed`.
    pub fn connect(&self, peer: ServerId, addr: String) -> QuorumConn {
        let (tx, rx) = mpsc::channel(self.shared.params.queue_len.max(1));
        let id = next_conn_id();
        let shared = self.shared.clone();
        self.shared.tasks.spawn(async move {
            let reason = match dial(&addr, &shared).await {
                Ok(stream) => {
                    let framed = framed(stream, &shared.params);
                    run_conn(framed, peer, id, rx, &shared).await
                }
                Err(e) => format!("cannot connect to {addr}: {e}"),
            };
            closed(&shared, peer, id, reason).await;
        });
        QuorumConn { peer, id, tx }
    }

    /// Stops accepting, ends every connection (each reports `Closed` if the event channel
    /// still has room) and waits for all tasks.
    pub async fn shutdown(&self) {
        self.shared.token.cancel();
        self.shared.tasks.join_all().await;
    }
}

fn framed(stream: TcpStream, params: &QuorumParams) -> Framed<TcpStream, PeerCodec> {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("set_nodelay: {e}");
    }
    Framed::new(
        stream,
        PeerCodec::new(params.max_packet_len, params.max_snapshot_len),
    )
}

async fn dial(addr: &str, shared: &Shared) -> std::io::Result<TcpStream> {
    let deadline = tokio::time::Instant::now() + shared.params.init_timeout;
    loop {
        let attempt = tokio::select! {
            _ = shared.token.cancelled() => {
                return Err(std::io::Error::other("shutting down"));
            }
            r = tokio::time::timeout_at(deadline, TcpStream::connect(addr)) => r,
        };
        let err = match attempt {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => e,
            Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
        };
        let retry_at = tokio::time::Instant::now() + shared.params.retry_interval;
        if retry_at >= deadline {
            return Err(err);
        }
        tracing::debug!("connecting to leader {addr}: {err}; retrying");
        tokio::select! {
            _ = shared.token.cancelled() => return Err(std::io::Error::other("shutting down")),
            _ = tokio::time::sleep_until(retry_at) => {}
        }
    }
}

async fn closed(shared: &Shared, peer: ServerId, conn: ConnId, reason: String) {
    tracing::info!(peer = peer.0, conn, "quorum connection closed: {reason}");
    let event = QuorumEvent::Closed { peer, conn, reason };
    if shared.token.is_cancelled() {
        // Shutting down: the driver may be gone; never wait for it.
        let _ = shared.events.try_send(event);
    } else {
        let _ = shared.events.send(event).await;
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.token.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, remote)) => {
                let conn_shared = shared.clone();
                shared.tasks.spawn(async move {
                    serve_learner(stream, remote, conn_shared).await;
                });
            }
            Err(e) => {
                tracing::warn!("quorum accept failed: {e}");
                tokio::select! {
                    _ = shared.token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}

/// Leader side of one accepted connection: the learner's hello, then the connection loop.
async fn serve_learner(stream: TcpStream, remote: SocketAddr, shared: Arc<Shared>) {
    let mut framed = framed(stream, &shared.params);
    let first = tokio::select! {
        _ = shared.token.cancelled() => return,
        r = tokio::time::timeout(shared.params.init_timeout, framed.next()) => r,
    };
    let hello = match first {
        Ok(Some(Ok(wire))) => wire,
        Ok(Some(Err(e))) => {
            tracing::warn!(%remote, "quorum connection: bad first packet: {e}");
            return;
        }
        Ok(None) => return,
        Err(_) => {
            tracing::warn!(%remote, "quorum connection: no FOLLOWERINFO in time");
            return;
        }
    };
    let (info, msg) = match learner_hello(hello) {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(%remote, "quorum connection: bad first packet: {e}");
            return;
        }
    };
    let peer = ServerId(info.server_id as u64);
    if peer == shared.ctx.my_id || !shared.members.contains(&peer) {
        tracing::warn!(%remote, sid = info.server_id, "quorum connection from a non-member");
        return;
    }
    let (tx, rx) = mpsc::channel(shared.params.queue_len.max(1));
    let id = next_conn_id();
    let conn = QuorumConn { peer, id, tx };
    let accepted = QuorumEvent::Accepted {
        peer,
        conn,
        info,
        hello: msg,
    };
    let sent = tokio::select! {
        _ = shared.token.cancelled() => false,
        r = shared.events.send(accepted) => r.is_ok(),
    };
    if !sent {
        return;
    }
    let reason = run_conn(framed, peer, id, rx, &shared).await;
    closed(&shared, peer, id, reason).await;
}

fn learner_hello(wire: WirePacket) -> Result<(LearnerInfo, Message), WireError> {
    let t = wire.packet.packet_type;
    if t != pt::FOLLOWERINFO && t != pt::OBSERVERINFO {
        return Err(WireError::BadData {
            packet: pt::name(t).unwrap_or("?"),
            reason: "a learner must start with FOLLOWERINFO or OBSERVERINFO".into(),
        });
    }
    let info = wire::learner_info(&wire.packet)?;
    Ok((info, wire::from_quorum(wire)?))
}

/// Reads and writes one established connection until it ends; returns why.
async fn run_conn(
    framed: Framed<TcpStream, PeerCodec>,
    peer: ServerId,
    id: ConnId,
    mut rx: mpsc::Receiver<Outgoing>,
    shared: &Shared,
) -> String {
    let (mut sink, mut stream) = framed.split();
    let read_timeout_ms = AtomicU64::new(duration_ms(shared.params.init_timeout));
    let reader = async {
        loop {
            let timeout = Duration::from_millis(read_timeout_ms.load(Ordering::Relaxed));
            let wire = match tokio::time::timeout(timeout, stream.next()).await {
                Err(_) => return format!("nothing read for {timeout:?}"),
                Ok(None) => return "closed by the peer".to_string(),
                Ok(Some(Err(e))) => return e.to_string(),
                Ok(Some(Ok(wire))) => wire,
            };
            let msg = match wire::from_quorum(wire) {
                Ok(msg) => msg,
                Err(e) => return e.to_string(),
            };
            let event = QuorumEvent::Received {
                peer,
                conn: id,
                msg,
            };
            if shared.events.send(event).await.is_err() {
                return "the driver is gone".to_string();
            }
        }
    };
    let writer = async {
        loop {
            let Some(out) = rx.recv().await else {
                return "dropped by its owner".to_string();
            };
            let msg = match out {
                Outgoing::Msg(msg) => msg,
                Outgoing::ReadTimeout(t) => {
                    read_timeout_ms.store(duration_ms(t), Ordering::Relaxed);
                    continue;
                }
                Outgoing::Close => {
                    if let Err(e) = sink.flush().await {
                        return e.to_string();
                    }
                    return "closed locally".to_string();
                }
            };
            let wire = match wire::to_quorum(&msg, &shared.ctx) {
                Ok(w) => w,
                Err(e) => return format!("cannot send {}: {e}", msg.name()),
            };
            // Write what is queued together, flushing once the queue is empty.
            if let Err(e) = sink.feed(wire).await {
                return e.to_string();
            }
            if rx.is_empty() {
                let timeout = Duration::from_millis(read_timeout_ms.load(Ordering::Relaxed));
                match tokio::time::timeout(timeout, sink.flush()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return e.to_string(),
                    Err(_) => return format!("write blocked for {timeout:?}"),
                }
            }
        }
    };
    tokio::select! {
        _ = shared.token.cancelled() => "shutting down".to_string(),
        r = reader => r,
        r = writer => r,
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::snap::{self, tests::sample_stream};
    use crate::peer::wire::tests::{ctx, quorum_message};
    use bytes::Bytes;
    use jute::primitive::Record;
    use jute::Zxid;
    use tokio::io::AsyncWriteExt;
    use zab::Proposal;

    const WAIT: Duration = Duration::from_secs(10);

    fn params() -> QuorumParams {
        QuorumParams {
            init_timeout: Duration::from_secs(5),
            retry_interval: Duration::from_millis(50),
            max_packet_len: 1 << 20,
            max_snapshot_len: 1 << 24,
            queue_len: 1024,
        }
    }

    async fn listener() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").await.expect("bind")
    }

    fn context(id: u64) -> Arc<WireContext> {
        let mut c = ctx();
        c.my_id = ServerId(id);
        Arc::new(c)
    }

    async fn next(rx: &mut mpsc::Receiver<QuorumEvent>) -> QuorumEvent {
        match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some(e)) => e,
            other => panic!("no quorum event: {other:?}"),
        }
    }

    /// A leader (2) and a learner (1): every message kind both ways through the real codec,
    /// a SNAP stream carrying a real tree, and closes reported with the right generation.
    #[tokio::test]
    async fn leader_and_learner_exchange_every_packet_kind() {
        let l = listener().await;
        let addr = l.local_addr().expect("addr").to_string();
        let (leader_tx, mut leader_rx) = mpsc::channel(64);
        let (learner_tx, mut learner_rx) = mpsc::channel(64);
        let leader = QuorumTransport::start(l, context(2), vec![ServerId(1)], params(), leader_tx);
        let learner = QuorumTransport::start(
            listener().await,
            context(1),
            vec![ServerId(2)],
            params(),
            learner_tx,
        );

        let to_leader = learner.connect(ServerId(2), addr.clone());
        to_leader
            .send(Message::FollowerInfo { accepted_epoch: 3 })
            .expect("queued");
        let QuorumEvent::Accepted {
            peer,
            conn: to_learner,
            info,
            hello,
        } = next(&mut leader_rx).await
        else {
            panic!("expected Accepted");
        };
        assert_eq!(peer, ServerId(1));
        assert_eq!(info.server_id, 1);
        assert_eq!(hello, Message::FollowerInfo { accepted_epoch: 3 });

        // Every kind, generated, in both directions (the codec doesn't care who sends what).
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut messages = Vec::new();
        for _ in 0..200 {
            let tree = proptest::strategy::Strategy::new_tree(&quorum_message(), &mut runner)
                .expect("strategy");
            let msg = proptest::strategy::ValueTree::current(&tree);
            // A SNAP carries a real stream (the reader checks its structure).
            let msg = match msg {
                Message::Snap { zxid, .. } => Message::Snap {
                    zxid,
                    data: sample_stream().2,
                },
                m => m,
            };
            messages.push(msg);
        }
        let (sessions, tree, stream) = sample_stream();
        messages.push(Message::Snap {
            zxid: Zxid::new(4, 4),
            data: stream,
        });
        let kinds: std::collections::BTreeSet<i32> =
            messages.iter().filter_map(|m| m.packet_type()).collect();
        assert_eq!(kinds.len(), 17, "every quorum message kind: {kinds:?}");
        for m in &messages {
            to_learner.send(m.clone()).expect("queued");
            to_leader.send(m.clone()).expect("queued");
        }
        for m in &messages {
            match next(&mut learner_rx).await {
                QuorumEvent::Received { peer, conn, msg } => {
                    assert_eq!((peer, conn), (ServerId(2), to_leader.id()));
                    assert_eq!(&msg, m);
                }
                e => panic!("unexpected {e:?}"),
            }
            match next(&mut leader_rx).await {
                QuorumEvent::Received { peer, conn, msg } => {
                    assert_eq!((peer, conn), (ServerId(1), to_learner.id()));
                    assert_eq!(&msg, m);
                }
                e => panic!("unexpected {e:?}"),
            }
        }
        // The last SNAP installs as the tree that was sent.
        let Some(Message::Snap { data, .. }) = messages.last() else {
            panic!("snap last")
        };
        let got = snap::decode_snap_stream(data.clone()).expect("decodes");
        assert_eq!(got.sessions, sessions);
        assert_eq!(got.tree.node_count(), tree.node_count());
        assert_eq!(
            got.tree
                .get("/a/b/c")
                .and_then(|n| n.data())
                .map(|d| d.len()),
            Some(300)
        );

        // A second connection from the same learner: the first one's close carries its own id.
        let again = learner.connect(ServerId(2), addr.clone());
        again
            .send(Message::FollowerInfo { accepted_epoch: 3 })
            .expect("queued");
        let QuorumEvent::Accepted {
            conn: to_learner2, ..
        } = next(&mut leader_rx).await
        else {
            panic!("expected Accepted");
        };
        assert_ne!(to_learner2.id(), to_learner.id());
        let first_id = to_learner.id();
        drop(to_learner); // the driver replaced it
        match next(&mut leader_rx).await {
            QuorumEvent::Closed { peer, conn, .. } => {
                assert_eq!((peer, conn), (ServerId(1), first_id))
            }
            e => panic!("unexpected {e:?}"),
        }
        match next(&mut learner_rx).await {
            QuorumEvent::Closed { conn, .. } => assert_eq!(conn, to_leader.id()),
            e => panic!("unexpected {e:?}"),
        }
        // Kill the live one from the learner side: the leader sees its generation close.
        again.close();
        match next(&mut leader_rx).await {
            QuorumEvent::Closed { conn, .. } => assert_eq!(conn, to_learner2.id()),
            e => panic!("unexpected {e:?}"),
        }
        match next(&mut learner_rx).await {
            QuorumEvent::Closed { conn, .. } => assert_eq!(conn, again.id()),
            e => panic!("unexpected {e:?}"),
        }
        leader.shutdown().await;
        learner.shutdown().await;
    }

    /// Garbage (before or after the hello) closes only that connection.
    #[tokio::test]
    async fn garbage_closes_only_that_connection() {
        let l = listener().await;
        let addr = l.local_addr().expect("addr");
        let (leader_tx, mut leader_rx) = mpsc::channel(64);
        let (learner_tx, mut learner_rx) = mpsc::channel(64);
        let members = vec![ServerId(1), ServerId(3)];
        let leader = QuorumTransport::start(l, context(2), members, params(), leader_tx);
        let learner = QuorumTransport::start(
            listener().await,
            context(1),
            vec![ServerId(2)],
            params(),
            learner_tx,
        );
        let good = learner.connect(ServerId(2), addr.to_string());
        good.send(Message::FollowerInfo { accepted_epoch: 1 })
            .expect("queued");
        let QuorumEvent::Accepted {
            conn: good_at_leader,
            ..
        } = next(&mut leader_rx).await
        else {
            panic!("expected Accepted");
        };

        // 1. Not a FOLLOWERINFO first: dropped silently (no peer known yet).
        let mut raw = TcpStream::connect(addr).await.expect("connect");
        raw.write_all(&QuorumPacket::new(pt::ACK, 1).to_bytes())
            .await
            .expect("write");
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut raw, &mut buf))
            .await
            .expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)), "leader closed it");
        // 2. A hostile length: refused before buffering.
        let mut raw = TcpStream::connect(addr).await.expect("connect");
        raw.write_all(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff])
            .await
            .expect("write");
        let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut raw, &mut buf))
            .await
            .expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)));
        // 3. Learner 3 says hello properly, then sends an unknown packet type.
        let mut raw = TcpStream::connect(addr).await.expect("connect");
        let hello =
            QuorumPacket::with_data(pt::FOLLOWERINFO, 1 << 32, LearnerInfo::new(3, 0).to_bytes());
        raw.write_all(&hello.to_bytes()).await.expect("write");
        let QuorumEvent::Accepted {
            peer, conn: bad, ..
        } = next(&mut leader_rx).await
        else {
            panic!("expected Accepted");
        };
        assert_eq!(peer, ServerId(3));
        raw.write_all(&QuorumPacket::new(99, 0).to_bytes())
            .await
            .expect("write");
        match next(&mut leader_rx).await {
            QuorumEvent::Closed { peer, conn, reason } => {
                assert_eq!((peer, conn), (ServerId(3), bad.id()));
                assert!(reason.contains("99"), "{reason}");
            }
            e => panic!("unexpected {e:?}"),
        }
        // 4. A non-member's hello is refused.
        let mut raw = TcpStream::connect(addr).await.expect("connect");
        let stranger =
            QuorumPacket::with_data(pt::FOLLOWERINFO, 0, LearnerInfo::new(9, 0).to_bytes());
        raw.write_all(&stranger.to_bytes()).await.expect("write");
        let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut raw, &mut buf))
            .await
            .expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)));

        // The good connection is unaffected.
        let p = Message::Proposal(Proposal {
            zxid: Zxid::new(1, 1),
            txn: Bytes::from_static(b"t"),
        });
        good_at_leader.send(p.clone()).expect("queued");
        match next(&mut learner_rx).await {
            QuorumEvent::Received { msg, conn, .. } => {
                assert_eq!(msg, p);
                assert_eq!(conn, good.id());
            }
            e => panic!("unexpected {e:?}"),
        }
        // A garbage SNAP stream from the leader closes the learner's connection.
        let mut bad_stream = BytesMut::from(&sample_stream().2[..]);
        let n = bad_stream.len();
        bad_stream[n - 1] = b'!';
        good_at_leader
            .send(Message::Snap {
                zxid: Zxid::new(1, 1),
                data: bad_stream.freeze(),
            })
            .expect("queued");
        match next(&mut learner_rx).await {
            QuorumEvent::Closed { conn, reason, .. } => {
                assert_eq!(conn, good.id());
                assert!(reason.contains("BenWasHere"), "{reason}");
            }
            e => panic!("unexpected {e:?}"),
        }
        match next(&mut leader_rx).await {
            QuorumEvent::Closed { conn, .. } => assert_eq!(conn, good_at_leader.id()),
            e => panic!("unexpected {e:?}"),
        }
        leader.shutdown().await;
        learner.shutdown().await;
    }

    /// A learner that cannot reach its leader reports the close; so does a silent peer.
    #[tokio::test]
    async fn dial_failure_and_read_timeout_are_reported() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut p = params();
        p.init_timeout = Duration::from_millis(300);
        let free = listener().await;
        let dead = free.local_addr().expect("addr").to_string();
        drop(free);
        let t = QuorumTransport::start(
            listener().await,
            context(1),
            vec![ServerId(2)],
            p.clone(),
            tx,
        );
        let c = t.connect(ServerId(2), dead);
        match next(&mut rx).await {
            QuorumEvent::Closed { conn, reason, .. } => {
                assert_eq!(conn, c.id());
                assert!(reason.contains("cannot connect"), "{reason}");
            }
            e => panic!("unexpected {e:?}"),
        }
        // A peer that accepts but never speaks: read timeout.
        let silent = listener().await;
        let silent_addr = silent.local_addr().expect("addr").to_string();
        let c = t.connect(ServerId(2), silent_addr);
        let (_held, _) = tokio::time::timeout(WAIT, silent.accept())
            .await
            .expect("accepted")
            .expect("ok");
        c.set_read_timeout(Duration::from_millis(100))
            .expect("queued");
        match next(&mut rx).await {
            QuorumEvent::Closed { conn, reason, .. } => {
                assert_eq!(conn, c.id());
                assert!(reason.contains("nothing read"), "{reason}");
            }
            e => panic!("unexpected {e:?}"),
        }
        t.shutdown().await;
    }
}
