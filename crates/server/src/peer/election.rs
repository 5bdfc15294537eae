//! The election port (ZooKeeper's `QuorumCnxManager`): one TCP connection per pair of
//! members carrying fast-leader-election notifications (zk-protocol §10.1).
//!
//! Owns: the listener, one link task per other member, the handshake, framing and the
//! newest-wins send slot of each peer.
//!
//! Rules, as ZooKeeper's:
//! - The connecting side first sends `InitialMessage` (protocol -65536, its sid, its
//!   `host:port`); the accepting side sends nothing back.
//! - Only a connection initiated by the **higher** sid survives. A link to a lower sid dials
//!   and keeps its connection; a link to a higher sid only "pokes" (dial, handshake, close) so
//!   that the peer dials back, and the receiver of a connection from a lower sid closes it and
//!   dials back. So each pair has at most one connection, dialed by the higher sid; a newer
//!   connection from the higher sid replaces the older one.
//! - Frames are `int length` + payload, length 1..=512 KiB; a frame outside that, a bad
//!   handshake or an unknown sid closes the connection. A frame whose payload is not a usable
//!   notification is logged and skipped (FastLeaderElection ignores such votes).
//! - Each peer has a send queue of one: a newer notification replaces an unsent one. After a
//!   (re)connect the last notification sent to that peer is sent again if nothing is queued.
//! - Links to voters keep (re)connecting with exponential back-off; links to observers only
//!   while there is something to send to them.
//!
//! Received notifications go to the driver's channel as `(from, Message::Notification)`;
//! when that channel is full they are dropped (the election channel is lossy; FLE re-sends).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use jute::primitive::Record;
use jute::quorum::{
    election_frame_codec, InitialMessage, Notification as WireNotification, ELECTION_ADDR_MAX,
    ELECTION_PROTOCOL_V1, ELECTION_PROTOCOL_V2,
};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use zab::{Message, ServerId};

use super::wire::{self, WireContext, WireError};

/// One other member as the election transport sees it.
#[derive(Debug, Clone)]
pub struct ElectionPeer {
    /// `host:port` of its election port.
    pub addr: String,
    /// Voters are kept connected; observers only while we have something for them.
    pub voter: bool,
}

/// Settings of the election transport.
#[derive(Debug, Clone)]
pub struct ElectionParams {
    /// The `host:port` this member announces in its handshake.
    pub my_addr: String,
    /// Every other member.
    pub peers: BTreeMap<ServerId, ElectionPeer>,
    /// Connect and handshake timeout (`cnxTimeout`, 5 s by default).
    pub connect_timeout: Duration,
    /// Re-dial back-off, doubling from min to max.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

/// The current connection of one link (for status and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// The member that dialed it (always the higher sid of the pair).
    pub dialed_by: ServerId,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

type Conn = Framed<TcpStream, LengthDelimitedCodec>;
type Links = Arc<Mutex<BTreeMap<ServerId, LinkInfo>>>;

/// The running election transport of one member.
pub struct ElectionTransport {
    ctx: Arc<WireContext>,
    slots: BTreeMap<ServerId, watch::Sender<Option<Bytes>>>,
    links: Links,
    token: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    local_addr: SocketAddr,
}

/// Why [`ElectionTransport::send`] did not queue a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElectionSendError {
    #[error("{0:?} is not a member")]
    UnknownPeer(ServerId),
    #[error("{0}")]
    Wire(#[from] WireError),
}

impl ElectionTransport {
    /// Starts accepting on `listener` and one link per peer. Notifications received go to
    /// `deliver`.
    pub fn start(
        listener: TcpListener,
        ctx: Arc<WireContext>,
        params: ElectionParams,
        deliver: mpsc::Sender<(ServerId, Message)>,
    ) -> std::io::Result<ElectionTransport> {
        let local_addr = listener.local_addr()?;
        let token = CancellationToken::new();
        let links: Links = Arc::default();
        let params = Arc::new(params);
        let mut slots = BTreeMap::new();
        let mut incoming = BTreeMap::new();
        let mut tasks = Vec::new();
        for (&peer, spec) in &params.peers {
            let (slot_tx, slot_rx) = watch::channel(None);
            let (in_tx, in_rx) = mpsc::channel(4);
            slots.insert(peer, slot_tx);
            incoming.insert(peer, in_tx);
            let link = Link {
                me: ctx.my_id,
                peer,
                spec: spec.clone(),
                params: params.clone(),
                slot: slot_rx,
                incoming: in_rx,
                deliver: deliver.clone(),
                links: links.clone(),
                token: token.clone(),
            };
            tasks.push(tokio::spawn(link.run()));
        }
        tasks.push(tokio::spawn(accept_loop(
            listener,
            ctx.my_id,
            incoming,
            params.connect_timeout,
            token.clone(),
        )));
        Ok(ElectionTransport {
            ctx,
            slots,
            links,
            token,
            tasks,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Queues a notification for `to`, replacing one not yet sent. Never blocks.
    pub fn send(&self, to: ServerId, msg: &Message) -> Result<(), ElectionSendError> {
        let slot = self
            .slots
            .get(&to)
            .ok_or(ElectionSendError::UnknownPeer(to))?;
        let record = wire::to_notification(msg, &self.ctx)?;
        slot.send_replace(Some(record.to_bytes()));
        Ok(())
    }

    /// The current connection per peer.
    pub fn connections(&self) -> BTreeMap<ServerId, LinkInfo> {
        self.links.lock().clone()
    }

    /// Closes every connection and waits for every task.
    pub async fn shutdown(self) {
        self.token.cancel();
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::debug!("election task ended: {e}");
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    me: ServerId,
    incoming: BTreeMap<ServerId, mpsc::Sender<Conn>>,
    handshake_timeout: Duration,
    token: CancellationToken,
) {
    let incoming = Arc::new(incoming);
    let mut handshakes = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = token.cancelled() => break,
            a = listener.accept() => a,
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => continue,
        };
        let (stream, remote) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("election accept failed: {e}");
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                continue;
            }
        };
        let incoming = incoming.clone();
        handshakes.spawn(async move {
            let sid = match tokio::time::timeout(handshake_timeout, read_handshake(stream)).await {
                Ok(Ok(x)) => x,
                Ok(Err(e)) => {
                    tracing::warn!(%remote, "election handshake refused: {e}");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%remote, "election handshake timed out");
                    return;
                }
            };
            let (sid, stream) = sid;
            let peer = u64::try_from(sid).ok().map(ServerId);
            let Some(tx) = peer.filter(|p| *p != me).and_then(|p| incoming.get(&p)) else {
                tracing::warn!(%remote, sid, "election connection from a non-member");
                return;
            };
            let conn = Framed::new(stream, election_frame_codec());
            if tx.try_send(conn).is_err() {
                tracing::debug!(%remote, sid, "election link busy: connection dropped");
            }
        });
    }
    handshakes.shutdown().await;
}

/// Reads the connecting side's `InitialMessage` (exactly its bytes) and returns the sid.
async fn read_handshake(mut stream: TcpStream) -> std::io::Result<(i64, TcpStream)> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let first = stream.read_i64().await?;
    if first >= 0 {
        // Pre-3.5: the sid alone.
        return Ok((first, stream));
    }
    if first != ELECTION_PROTOCOL_V1 && first != ELECTION_PROTOCOL_V2 {
        return Err(invalid(format!("protocol version {first}")));
    }
    let sid = stream.read_i64().await?;
    let len = stream.read_i32().await?;
    if len <= 0 || len as usize > ELECTION_ADDR_MAX {
        return Err(invalid(format!("address length {len}")));
    }
    let mut raw = vec![0u8; len as usize];
    stream.read_exact(&mut raw).await?;
    // The jute record checks the rest (UTF-8); the address itself is not used: peers are
    // dialed at their configured addresses.
    let mut all = BytesMut::with_capacity(20 + raw.len());
    all.extend_from_slice(&first.to_be_bytes());
    all.extend_from_slice(&sid.to_be_bytes());
    all.extend_from_slice(&len.to_be_bytes());
    all.extend_from_slice(&raw);
    InitialMessage::from_bytes(all.freeze()).map_err(|e| invalid(e.to_string()))?;
    Ok((sid, stream))
}

/// Dials `addr` and sends our handshake.
async fn dial_peer(
    addr: &str,
    me: ServerId,
    my_addr: &str,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let hello = InitialMessage::Versioned {
        protocol_version: ELECTION_PROTOCOL_V1,
        sid: i64::try_from(me.0).map_err(|_| std::io::Error::other("sid out of range"))?,
        addr: my_addr.to_string(),
    };
    let work = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&hello.to_bytes()).await?;
        Ok::<_, std::io::Error>(stream)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

struct Link {
    me: ServerId,
    peer: ServerId,
    spec: ElectionPeer,
    params: Arc<ElectionParams>,
    slot: watch::Receiver<Option<Bytes>>,
    incoming: mpsc::Receiver<Conn>,
    deliver: mpsc::Sender<(ServerId, Message)>,
    links: Links,
    token: CancellationToken,
}

enum Event {
    Stop,
    Queued,
    Incoming(Conn),
    DialNow,
    Dialed(std::io::Result<TcpStream>),
    Frame(Option<Result<BytesMut, std::io::Error>>),
}

type DialFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<TcpStream>> + Send>>;

async fn next_frame(conn: &mut Option<Conn>) -> Option<Result<BytesMut, std::io::Error>> {
    match conn {
        Some(c) => c.next().await,
        None => std::future::pending().await,
    }
}

async fn dialing(dial: &mut Option<DialFuture>) -> std::io::Result<TcpStream> {
    match dial {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

impl Link {
    /// This side keeps the connections it dials (it has the higher sid).
    fn dials_to_keep(&self) -> bool {
        self.me > self.peer
    }

    fn adopt(&self, conn: &mut Option<Conn>, new: Conn) {
        let local = new.get_ref().local_addr();
        let remote = new.get_ref().peer_addr();
        *conn = Some(new);
        match (local, remote) {
            (Ok(local), Ok(remote)) => {
                let dialed_by = self.me.max(self.peer);
                self.links.lock().insert(
                    self.peer,
                    LinkInfo {
                        dialed_by,
                        local,
                        remote,
                    },
                );
                tracing::debug!(me = self.me.0, peer = self.peer.0, %local, %remote, "election connection up");
            }
            _ => self.forget(conn),
        }
    }

    fn forget(&self, conn: &mut Option<Conn>) {
        *conn = None;
        self.links.lock().remove(&self.peer);
    }

    async fn run(mut self) {
        let min = self.params.backoff_min;
        let mut conn: Option<Conn> = None;
        let mut dial: Option<DialFuture> = None;
        let mut pending: Option<Bytes> = None;
        let mut last_sent: Option<Bytes> = None;
        let mut backoff = min;
        let mut next_dial = Instant::now();
        loop {
            let want = conn.is_none() && dial.is_none() && (self.spec.voter || pending.is_some());
            let event = tokio::select! {
                _ = self.token.cancelled() => Event::Stop,
                r = self.slot.changed() => if r.is_ok() { Event::Queued } else { Event::Stop },
                c = self.incoming.recv() => match c { Some(c) => Event::Incoming(c), None => Event::Stop },
                _ = tokio::time::sleep_until(next_dial), if want => Event::DialNow,
                r = dialing(&mut dial) => Event::Dialed(r),
                f = next_frame(&mut conn) => Event::Frame(f),
            };
            match event {
                Event::Stop => break,
                Event::Queued => pending = self.slot.borrow_and_update().clone(),
                Event::Incoming(c) => {
                    if self.dials_to_keep() {
                        // A lower sid asks us to connect: dial back unless connected.
                        drop(c);
                        if conn.is_none() && dial.is_none() {
                            next_dial = Instant::now();
                            backoff = min;
                        }
                    } else {
                        // The higher sid's connection: the newest one wins.
                        dial = None;
                        self.adopt(&mut conn, c);
                        backoff = min;
                        if pending.is_none() {
                            pending = last_sent.clone();
                        }
                    }
                }
                Event::DialNow => {
                    let addr = self.spec.addr.clone();
                    let my_addr = self.params.my_addr.clone();
                    let (me, timeout) = (self.me, self.params.connect_timeout);
                    dial = Some(Box::pin(async move {
                        dial_peer(&addr, me, &my_addr, timeout).await
                    }));
                }
                Event::Dialed(r) => {
                    dial = None;
                    match r {
                        Ok(stream) if self.dials_to_keep() => {
                            self.adopt(&mut conn, Framed::new(stream, election_frame_codec()));
                            backoff = min;
                            if pending.is_none() {
                                pending = last_sent.clone();
                            }
                        }
                        Ok(stream) => {
                            // A poke: the higher sid dials back; poke again only later.
                            drop(stream);
                            next_dial = Instant::now() + backoff;
                            backoff = (backoff * 2).min(self.params.backoff_max);
                        }
                        Err(e) => {
                            tracing::debug!(
                                me = self.me.0,
                                peer = self.peer.0,
                                "election dial: {e}"
                            );
                            next_dial = Instant::now() + backoff;
                            backoff = (backoff * 2).min(self.params.backoff_max);
                        }
                    }
                }
                Event::Frame(f) => match f {
                    Some(Ok(frame)) if !frame.is_empty() => self.on_frame(frame.freeze()),
                    other => {
                        let why = match other {
                            Some(Ok(_)) => "empty frame".to_string(),
                            Some(Err(e)) => e.to_string(),
                            None => "closed by the peer".to_string(),
                        };
                        tracing::debug!(
                            me = self.me.0,
                            peer = self.peer.0,
                            "election connection down: {why}"
                        );
                        self.forget(&mut conn);
                        next_dial = Instant::now() + backoff;
                    }
                },
            }
            let Some(c) = conn.as_mut() else {
                continue;
            };
            if let Some(msg) = pending.take() {
                let sent =
                    tokio::time::timeout(self.params.connect_timeout, c.send(msg.clone())).await;
                match sent {
                    Ok(Ok(())) => last_sent = Some(msg),
                    _ => {
                        pending = Some(msg);
                        self.forget(&mut conn);
                        next_dial = Instant::now() + backoff;
                    }
                }
            }
        }
        self.forget(&mut conn);
    }

    fn on_frame(&self, mut frame: Bytes) {
        let msg = WireNotification::decode(&mut frame)
            .map_err(|e| e.to_string())
            .and_then(|n| wire::from_notification(&n).map_err(|e| e.to_string()));
        match msg {
            Ok(msg) => {
                if self.deliver.try_send((self.peer, msg)).is_err() {
                    tracing::debug!(
                        peer = self.peer.0,
                        "election delivery full: notification dropped"
                    );
                }
            }
            Err(e) => tracing::warn!(peer = self.peer.0, "unusable notification skipped: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::wire::tests::ctx;
    use jute::Zxid;
    use zab::{Notification, PeerState, Vote};

    const WAIT: Duration = Duration::from_secs(10);

    fn note(from: u64, round: u64) -> Message {
        Message::Notification(Notification {
            state: PeerState::Looking,
            vote: Vote {
                leader: ServerId(from),
                zxid: Zxid::new(1, from as u32),
                peer_epoch: 1,
            },
            round,
        })
    }

    struct Member {
        t: ElectionTransport,
        rx: mpsc::Receiver<(ServerId, Message)>,
        /// Received while waiting for something else.
        seen: Vec<(ServerId, Message)>,
    }

    async fn ensemble(ids: &[u64]) -> Vec<Member> {
        let mut listeners = Vec::new();
        for _ in ids {
            listeners.push(TcpListener::bind("127.0.0.1:0").await.expect("bind"));
        }
        let addrs: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().expect("addr").to_string())
            .collect();
        let mut out = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            let peers = ids
                .iter()
                .zip(&addrs)
                .filter(|(id, _)| **id != ids[i])
                .map(|(id, a)| {
                    (
                        ServerId(*id),
                        ElectionPeer {
                            addr: a.clone(),
                            voter: true,
                        },
                    )
                })
                .collect();
            let params = ElectionParams {
                my_addr: addrs[i].clone(),
                peers,
                connect_timeout: Duration::from_secs(2),
                backoff_min: Duration::from_millis(20),
                backoff_max: Duration::from_millis(200),
            };
            let mut c = ctx();
            c.my_id = ServerId(ids[i]);
            let (tx, rx) = mpsc::channel(256);
            let t = ElectionTransport::start(l, Arc::new(c), params, tx).expect("start");
            out.push(Member {
                t,
                rx,
                seen: Vec::new(),
            });
        }
        out
    }

    /// Receives until `(from, msg)` arrives (older notifications may come first).
    async fn expect(m: &mut Member, from: u64, msg: &Message) {
        let wanted = (ServerId(from), msg.clone());
        if let Some(i) = m.seen.iter().position(|x| *x == wanted) {
            m.seen.remove(i);
            return;
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, m.rx.recv()).await {
                Ok(Some(got)) if got == wanted => return,
                Ok(Some(other)) => m.seen.push(other),
                other => panic!("{msg:?} from {from} never arrived: {other:?}"),
            }
        }
    }

    /// Every pair ends with exactly one connection, dialed by the higher sid, seen by both
    /// ends as the same socket pair.
    async fn check_one_connection_per_pair(ms: &[Member], ids: &[u64]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let views: Vec<_> = ms.iter().map(|m| m.t.connections()).collect();
            let mut ok = true;
            for (i, a) in ids.iter().enumerate() {
                for (j, b) in ids.iter().enumerate() {
                    if i == j {
                        continue;
                    }
                    let (Some(x), Some(y)) =
                        (views[i].get(&ServerId(*b)), views[j].get(&ServerId(*a)))
                    else {
                        ok = false;
                        continue;
                    };
                    ok &= x.local == y.remote && x.remote == y.local;
                    ok &= x.dialed_by == ServerId(*a.max(b));
                }
            }
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "connections never settled: {views:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn three_members_find_each_other() {
        let ids = [1, 2, 3];
        let mut ms = ensemble(&ids).await;
        // Everyone tells everyone; newest wins, so send two rounds and expect the second.
        for (i, id) in ids.iter().enumerate() {
            for other in ids.iter().filter(|o| *o != id) {
                ms[i]
                    .t
                    .send(ServerId(*other), &note(*id, 1))
                    .expect("queued");
                ms[i]
                    .t
                    .send(ServerId(*other), &note(*id, 2))
                    .expect("queued");
            }
        }
        for (i, id) in ids.iter().enumerate() {
            for other in ids.iter().filter(|o| *o != id) {
                expect(&mut ms[i], *other, &note(*other, 2)).await;
            }
        }
        check_one_connection_per_pair(&ms, &ids).await;
        // The connection of each pair stays put: later traffic uses it.
        let before: Vec<_> = ms.iter().map(|m| m.t.connections()).collect();
        ms[0].t.send(ServerId(3), &note(1, 3)).expect("queued");
        expect(&mut ms[2], 1, &note(1, 3)).await;
        ms[2].t.send(ServerId(1), &note(3, 3)).expect("queued");
        expect(&mut ms[0], 3, &note(3, 3)).await;
        let after: Vec<_> = ms.iter().map(|m| m.t.connections()).collect();
        assert_eq!(before, after);
        assert!(ms[0].t.send(ServerId(9), &note(1, 1)).is_err());
        for m in ms {
            m.t.shutdown().await;
        }
    }

    /// A lower sid that connects is closed and dialed back; garbage closes only its own
    /// connection; a member that restarts is reached again with the last notification.
    #[tokio::test]
    async fn higher_sid_rule_garbage_and_reconnect() {
        let ids = [1, 2];
        let mut ms = ensemble(&ids).await;
        ms[0].t.send(ServerId(2), &note(1, 1)).expect("queued");
        expect(&mut ms[1], 1, &note(1, 1)).await;
        check_one_connection_per_pair(&ms, &ids).await;
        let addr2 = ms[1].t.local_addr();

        // A lower sid (1) dialing 2 by hand: 2 closes it without reading frames from it.
        let mut lower = TcpStream::connect(addr2).await.expect("connect");
        let hello = InitialMessage::Versioned {
            protocol_version: ELECTION_PROTOCOL_V1,
            sid: 1,
            addr: "127.0.0.1:1".into(),
        };
        lower.write_all(&hello.to_bytes()).await.expect("write");
        let mut buf = [0u8; 8];
        let n = tokio::time::timeout(WAIT, lower.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)));

        // Garbage handshakes are closed; the pair's connection is not touched.
        let settled: Vec<_> = ms.iter().map(|m| m.t.connections()).collect();
        for bytes in [
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // bad protocol version
            {
                let mut v = (-65536i64).to_be_bytes().to_vec();
                v.extend_from_slice(&1i64.to_be_bytes());
                v.extend_from_slice(&100_000i32.to_be_bytes()); // address too long
                v
            },
            vec![0, 0, 0, 0, 0, 0, 0, 77], // legacy handshake from a non-member
        ] {
            let mut raw = TcpStream::connect(addr2).await.expect("connect");
            raw.write_all(&bytes).await.expect("write");
            let n = tokio::time::timeout(WAIT, raw.read(&mut buf))
                .await
                .expect("closed in time");
            assert!(matches!(n, Ok(0) | Err(_)));
        }
        let still: Vec<_> = ms.iter().map(|m| m.t.connections()).collect();
        assert_eq!(settled, still, "garbage affected the real connection");
        ms[1].t.send(ServerId(1), &note(2, 5)).expect("queued");
        expect(&mut ms[0], 2, &note(2, 5)).await;

        // A member impostor with a higher sid replaces the link, sends a frame over the
        // limit, and is dropped; the real link is dialed again and works.
        // 2 is the higher sid, so a connection claiming to be 2 replaces 1's link.
        let addr1 = ms[0].t.local_addr();
        let mut impostor = TcpStream::connect(addr1).await.expect("connect");
        let hello = InitialMessage::Versioned {
            protocol_version: ELECTION_PROTOCOL_V1,
            sid: 2,
            addr: "127.0.0.1:1".into(),
        };
        impostor.write_all(&hello.to_bytes()).await.expect("write");
        impostor
            .write_all(&(600 * 1024u32).to_be_bytes())
            .await
            .expect("write");
        impostor.write_all(&[0u8; 64]).await.expect("write");
        let n = tokio::time::timeout(WAIT, async {
            loop {
                match impostor.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // 1 re-sends its last notification to "2"
                }
            }
        })
        .await;
        assert!(n.is_ok(), "the oversized frame closed the connection");
        // The real 2 is reached again (1 pokes, 2 dials back) and gets the newest message.
        ms[0].t.send(ServerId(2), &note(1, 7)).expect("queued");
        expect(&mut ms[1], 1, &note(1, 7)).await;
        ms[1].t.send(ServerId(1), &note(2, 7)).expect("queued");
        expect(&mut ms[0], 2, &note(2, 7)).await;
        check_one_connection_per_pair(&ms, &ids).await;

        // Restart member 1 on the same port: 2 reconnects and re-sends its last notification.
        let old = ms.remove(0);
        old.t.shutdown().await;
        let l = TcpListener::bind(addr1).await.expect("rebind");
        let peers = BTreeMap::from([(
            ServerId(2),
            ElectionPeer {
                addr: addr2.to_string(),
                voter: true,
            },
        )]);
        let params = ElectionParams {
            my_addr: addr1.to_string(),
            peers,
            connect_timeout: Duration::from_secs(2),
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
        };
        let mut c1 = ctx();
        c1.my_id = ServerId(1);
        let (tx, rx) = mpsc::channel(16);
        let t = ElectionTransport::start(l, Arc::new(c1), params, tx).expect("start");
        let mut m1 = Member {
            t,
            rx,
            seen: Vec::new(),
        };
        expect(&mut m1, 2, &note(2, 7)).await;
        ms.insert(0, m1);
        check_one_connection_per_pair(&ms, &ids).await;
        for m in ms {
            m.t.shutdown().await;
        }
    }
}
