//! A minimal async ZooKeeper client session: one TCP connection, the handshake, pipelined
//! requests matched to replies by xid, pings while idle, and watch notifications.
//!
//! A [`Session`] is driven by exactly one task and has no background task of its own: the owner
//! queues requests ([`Session::queue`]) and pulls [`Event`]s ([`Session::next_event`]), which
//! also writes what was queued and sends a ping whenever nothing was sent for a third of the
//! negotiated session timeout. This keeps the load generator's own cost per request small (no
//! channel hop, no per-request allocation beyond the record) so it takes as little CPU from the
//! server under test as possible.
//!
//! Invariants:
//! - `pending` holds exactly the xids written (or queued) and not yet answered; ping xids are
//!   never in it.
//! - Bytes queued in `wbuf` are only consumed as they are written, so dropping a
//!   `next_event` future (e.g. in `select!`) never loses or tears a frame.
//! - Nothing read from the network is unwrapped: a bad frame is a [`ClientError`], which ends
//!   the session and is reported by the caller.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use jute::codec::{frame_codec, write_frame};
use jute::proto::{ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader, WatcherEvent};
use jute::{op, xid, DecodeError, Record};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

/// Why a session ended. Server error codes are not here: they arrive in [`Reply::err`].
#[derive(Debug)]
pub enum ClientError {
    Connect(std::io::Error),
    ConnectTimeout,
    /// The server answered the handshake with timeOut 0: session expired or refused.
    SessionRefused,
    Io(std::io::Error),
    Decode(DecodeError),
    /// The server closed the connection.
    Closed,
    /// Nothing was received for a whole session timeout.
    ReadTimeout,
    /// A reply for an xid we did not send.
    UnknownXid(i32),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(e) => write!(f, "connect failed: {e}"),
            ClientError::ConnectTimeout => write!(f, "connect timed out"),
            ClientError::SessionRefused => write!(f, "session refused (timeOut 0 in handshake)"),
            ClientError::Io(e) => write!(f, "i/o error: {e}"),
            ClientError::Decode(e) => write!(f, "undecodable frame: {e}"),
            ClientError::Closed => write!(f, "connection closed by server"),
            ClientError::ReadTimeout => write!(f, "no data from server for a session timeout"),
            ClientError::UnknownXid(x) => write!(f, "reply for unknown xid {x}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<DecodeError> for ClientError {
    fn from(e: DecodeError) -> Self {
        ClientError::Decode(e)
    }
}

/// The answer to one request.
#[derive(Debug)]
pub struct Reply {
    pub xid: i32,
    pub op: i32,
    /// The caller's tag given to [`Session::queue`] (e.g. a key index).
    pub tag: u64,
    pub sent: Instant,
    pub received: Instant,
    pub zxid: i64,
    /// 0 or a KeeperException code.
    pub err: i32,
    /// The response record (empty when `err != 0`).
    pub body: Bytes,
}

impl Reply {
    pub fn latency(&self) -> Duration {
        self.received.saturating_duration_since(self.sent)
    }
}

/// What [`Session::next_event`] hands back.
#[derive(Debug)]
pub enum Event {
    Reply(Reply),
    /// A watch notification and the instant its frame was read.
    Watch(WatcherEvent, Instant),
    /// The deadline passed with nothing to report.
    Timeout,
}

struct Pending {
    op: i32,
    tag: u64,
    sent: Instant,
}

/// One client session over one connection.
pub struct Session {
    reader: FramedRead<OwnedReadHalf, jute::FrameCodec>,
    writer: OwnedWriteHalf,
    wbuf: BytesMut,
    next_xid: i32,
    pending: HashMap<i32, Pending>,
    /// The server's address as given on the command line.
    pub host: String,
    pub session_id: i64,
    /// The negotiated session timeout.
    pub timeout: Duration,
    ping_every: Duration,
    last_send: Instant,
    last_recv: Instant,
}

/// The client side's frame limit: larger than any reply the benchmarks provoke.
const MAX_FRAME: usize = 16 * 1024 * 1024;

impl Session {
    /// Connects to `host` and creates a new session asking for `timeout_ms`.
    pub async fn connect(
        host: &str,
        timeout_ms: i32,
        connect_timeout: Duration,
    ) -> Result<Session, ClientError> {
        let deadline = Instant::now() + connect_timeout;
        let stream = match tokio::time::timeout_at(deadline, TcpStream::connect(host)).await {
            Err(_) => return Err(ClientError::ConnectTimeout),
            Ok(Err(e)) => return Err(ClientError::Connect(e)),
            Ok(Ok(s)) => s,
        };
        // Requests are small and latency is what we measure: no Nagle delay.
        stream.set_nodelay(true).map_err(ClientError::Io)?;
        let (r, mut w) = stream.into_split();
        let mut reader = FramedRead::new(r, frame_codec(MAX_FRAME));

        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id: 0,
            passwd: Bytes::from_static(&[0u8; 16]),
            read_only: Some(false),
        };
        let mut buf = BytesMut::with_capacity(64);
        write_frame(&mut buf, |b| req.encode(b));
        match tokio::time::timeout_at(deadline, w.write_all_buf(&mut buf)).await {
            Err(_) => return Err(ClientError::ConnectTimeout),
            Ok(r) => r.map_err(ClientError::Io)?,
        }
        let frame = match tokio::time::timeout_at(deadline, reader.next()).await {
            Err(_) => return Err(ClientError::ConnectTimeout),
            Ok(None) => return Err(ClientError::Closed),
            Ok(Some(Err(e))) => return Err(ClientError::Io(e)),
            Ok(Some(Ok(f))) => f.freeze(),
        };
        let resp = ConnectResponse::from_bytes(frame)?;
        if resp.time_out <= 0 {
            return Err(ClientError::SessionRefused);
        }
        let timeout = Duration::from_millis(resp.time_out as u64);
        let now = Instant::now();
        Ok(Session {
            reader,
            writer: w,
            wbuf: BytesMut::with_capacity(16 * 1024),
            next_xid: 1,
            pending: HashMap::new(),
            host: host.to_owned(),
            session_id: resp.session_id,
            timeout,
            // Like the Java client: ping when idle for a third of the session timeout.
            ping_every: timeout / 3,
            last_send: now,
            last_recv: now,
        })
    }

    /// Requests written or queued and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn take_xid(&mut self) -> i32 {
        let x = self.next_xid;
        // Like the Java client: positive xids, wrapping back to 1.
        self.next_xid = if x == i32::MAX { 1 } else { x + 1 };
        x
    }

    /// Queues one request (header + `body`); it is written by the next [`Session::flush`] or
    /// [`Session::next_event`]. Returns its xid.
    pub fn queue(&mut self, op_type: i32, tag: u64, body: &impl Record) -> i32 {
        let xid = self.take_xid();
        write_frame(&mut self.wbuf, |b| {
            RequestHeader { xid, op_type }.encode(b);
            body.encode(b);
        });
        self.pending.insert(
            xid,
            Pending {
                op: op_type,
                tag,
                sent: Instant::now(),
            },
        );
        xid
    }

    /// Queues a request that has no body (closeSession).
    fn queue_empty(&mut self, op_type: i32) -> i32 {
        let xid = self.take_xid();
        write_frame(&mut self.wbuf, |b| RequestHeader { xid, op_type }.encode(b));
        self.pending.insert(
            xid,
            Pending {
                op: op_type,
                tag: 0,
                sent: Instant::now(),
            },
        );
        xid
    }

    /// Writes everything queued. Cancel-safe: unwritten bytes stay queued.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        if !self.wbuf.is_empty() {
            self.writer
                .write_all_buf(&mut self.wbuf)
                .await
                .map_err(ClientError::Io)?;
            self.last_send = Instant::now();
        }
        Ok(())
    }

    /// Writes what is queued, then waits for the next reply or notification until `deadline`,
    /// pinging while idle. Cancel-safe.
    pub async fn next_event(&mut self, deadline: Instant) -> Result<Event, ClientError> {
        loop {
            self.flush().await?;
            let ping_at = self.last_send + self.ping_every;
            let dead_at = self.last_recv + self.timeout;
            let wake = deadline.min(ping_at).min(dead_at);
            let frame = tokio::select! {
                f = self.reader.next() => f,
                _ = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= dead_at {
                        return Err(ClientError::ReadTimeout);
                    }
                    if now >= deadline {
                        return Ok(Event::Timeout);
                    }
                    if now >= ping_at {
                        write_frame(&mut self.wbuf, |b| {
                            RequestHeader { xid: xid::PING, op_type: op::PING }.encode(b)
                        });
                    }
                    continue;
                }
            };
            let mut frame = match frame {
                None => return Err(ClientError::Closed),
                Some(Err(e)) => return Err(ClientError::Io(e)),
                Some(Ok(f)) => f.freeze(),
            };
            let received = Instant::now();
            self.last_recv = received;
            let hdr = ReplyHeader::decode(&mut frame)?;
            match hdr.xid {
                xid::PING => continue,
                xid::NOTIFICATION => {
                    let ev = WatcherEvent::decode(&mut frame)?;
                    return Ok(Event::Watch(ev, received));
                }
                x => {
                    let p = self.pending.remove(&x).ok_or(ClientError::UnknownXid(x))?;
                    return Ok(Event::Reply(Reply {
                        xid: x,
                        op: p.op,
                        tag: p.tag,
                        sent: p.sent,
                        received,
                        zxid: hdr.zxid,
                        err: hdr.err,
                        body: frame,
                    }));
                }
            }
        }
    }

    /// Sends one request and waits for its reply (notifications that arrive meanwhile are
    /// dropped; only setup and cleanup use this, and they set no watches).
    pub async fn call(
        &mut self,
        op_type: i32,
        body: &impl Record,
        deadline: Instant,
    ) -> Result<Option<Reply>, ClientError> {
        let want = self.queue(op_type, 0, body);
        loop {
            match self.next_event(deadline).await? {
                Event::Reply(r) if r.xid == want => return Ok(Some(r)),
                Event::Reply(_) | Event::Watch(..) => {}
                Event::Timeout => return Ok(None),
            }
        }
    }

    /// Closes the session (closeSession, then wait for its reply or EOF until `wait` passes).
    /// Errors are ignored: the server expires the session anyway.
    pub async fn close(mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        let want = self.queue_empty(op::CLOSE_SESSION);
        loop {
            match self.next_event(deadline).await {
                Ok(Event::Reply(r)) if r.xid == want => break,
                Ok(Event::Reply(_)) | Ok(Event::Watch(..)) => {}
                Ok(Event::Timeout) | Err(_) => break,
            }
        }
        let _ = self.writer.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jute::proto::{GetDataResponse, PathWatchRequest};
    use jute::Stat;
    use tokio::net::TcpListener;

    async fn read_frame(r: &mut FramedRead<OwnedReadHalf, jute::FrameCodec>) -> Option<Bytes> {
        match r.next().await {
            Some(Ok(f)) => Some(f.freeze()),
            _ => None,
        }
    }

    fn frame(body: impl FnOnce(&mut BytesMut)) -> BytesMut {
        let mut b = BytesMut::new();
        write_frame(&mut b, body);
        b
    }

    /// A fake server: handshake (negotiates 300 ms), answers one getData and then sends a
    /// notification, echoes pings, and hangs up after `pings_before_close` pings.
    async fn fake_server(l: TcpListener, pings_before_close: usize) -> (ConnectRequest, usize) {
        let (sock, _) = l.accept().await.expect("accept");
        let (r, mut w) = sock.into_split();
        let mut r = FramedRead::new(r, frame_codec(1 << 20));
        let req = ConnectRequest::from_bytes(read_frame(&mut r).await.expect("connect frame"))
            .expect("connect request");
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: 300,
            session_id: 0x0100_0000_0000_0001,
            passwd: Bytes::from_static(&[7u8; 16]),
            read_only: req.read_only,
        };
        w.write_all_buf(&mut frame(|b| resp.encode(b)))
            .await
            .expect("write");
        let mut pings = 0;
        while let Some(mut f) = read_frame(&mut r).await {
            let h = RequestHeader::decode(&mut f).expect("header");
            match h.op_type {
                op::PING => {
                    pings += 1;
                    let rh = ReplyHeader {
                        xid: xid::PING,
                        zxid: 5,
                        err: 0,
                    };
                    w.write_all_buf(&mut frame(|b| rh.encode(b)))
                        .await
                        .expect("write");
                    if pings >= pings_before_close {
                        break;
                    }
                }
                op::GET_DATA => {
                    let body = PathWatchRequest::decode(&mut f).expect("getData");
                    let rh = ReplyHeader {
                        xid: h.xid,
                        zxid: 5,
                        err: 0,
                    };
                    let resp = GetDataResponse {
                        data: Some(Bytes::from_static(b"v")),
                        stat: Stat::default(),
                    };
                    let nh = ReplyHeader {
                        xid: xid::NOTIFICATION,
                        zxid: -1,
                        err: 0,
                    };
                    let ev = WatcherEvent {
                        event_type: 3,
                        state: 3,
                        path: body.path.clone(),
                    };
                    let mut out = frame(|b| {
                        rh.encode(b);
                        resp.encode(b);
                    });
                    out.extend_from_slice(&frame(|b| {
                        nh.encode(b);
                        ev.encode(b);
                    }));
                    w.write_all_buf(&mut out).await.expect("write");
                }
                other => panic!("unexpected op {other}"),
            }
        }
        (req, pings)
    }

    #[tokio::test]
    async fn handshake_reply_notification_ping_and_close() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let server = tokio::spawn(fake_server(l, 2));

        let mut s = Session::connect(&addr, 30_000, Duration::from_secs(5))
            .await
            .expect("connect");
        assert_eq!(s.session_id, 0x0100_0000_0000_0001);
        assert_eq!(s.timeout, Duration::from_millis(300));

        let x = s.queue(
            op::GET_DATA,
            42,
            &PathWatchRequest {
                path: "/a".into(),
                watch: true,
            },
        );
        assert_eq!(s.in_flight(), 1);
        let far = Instant::now() + Duration::from_secs(5);
        match s.next_event(far).await.expect("reply") {
            Event::Reply(r) => {
                assert_eq!((r.xid, r.op, r.tag, r.err), (x, op::GET_DATA, 42, 0));
                let d = GetDataResponse::from_bytes(r.body).expect("body");
                assert_eq!(d.data.as_deref(), Some(&b"v"[..]));
            }
            other => panic!("expected a reply, got {other:?}"),
        }
        assert_eq!(s.in_flight(), 0);
        match s.next_event(far).await.expect("notification") {
            Event::Watch(ev, _) => assert_eq!((ev.event_type, ev.path.as_str()), (3, "/a")),
            other => panic!("expected a notification, got {other:?}"),
        }
        // Idle: pings every 100 ms keep the session; a short deadline reports Timeout.
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(matches!(s.next_event(soon).await, Ok(Event::Timeout)));
        // The server hangs up after its second ping: a clean error, not a panic.
        match s.next_event(far).await {
            Err(ClientError::Closed) | Err(ClientError::Io(_)) => {}
            other => panic!("expected the connection to end, got {other:?}"),
        }
        let (req, pings) = server.await.expect("server");
        assert_eq!(req.time_out, 30_000);
        assert_eq!(req.read_only, Some(false));
        assert_eq!(pings, 2);
    }

    #[tokio::test]
    async fn refused_session_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            let (mut sock, _) = l.accept().await.expect("accept");
            let resp = ConnectResponse {
                passwd: Bytes::from_static(&[0u8; 16]),
                ..Default::default()
            };
            let _ = sock.write_all_buf(&mut frame(|b| resp.encode(b))).await;
        });
        let r = Session::connect(&addr, 30_000, Duration::from_secs(5)).await;
        assert!(
            matches!(r, Err(ClientError::SessionRefused)),
            "{:?}",
            r.err()
        );
    }
}
