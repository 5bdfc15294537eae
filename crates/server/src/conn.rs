//! One task per client connection: reads frames, decodes them at the edge, hands typed
//! requests to the driver, and writes what the driver sends back.
//!
//! A bad frame (oversized, negative length, undecodable record) closes this connection with
//! a logged reason; nothing here can take down another connection or the server.
//!
//! Invariants:
//! - The first frame is the handshake; nothing else is decoded before it. Before it, the
//!   first four bytes may instead be a four-letter word.
//! - At most `inflight_max` requests of this connection are unanswered at a time: past that
//!   we stop reading the socket (backpressure, not buffering).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use jute::proto::{ConnectRequest, OpRequest, RequestHeader};
use jute::{DecodeError, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, FramedParts};

use crate::driver::{ConnOut, Event};
use crate::metrics::ClientCounters;

/// Why a connection ended (besides a clean close): the first two are counted for `mntr`.
enum Closed {
    /// End of stream from the client (ZooKeeper's CONNECTION_DROP_COUNT).
    ByClient,
    /// No ConnectRequest in time (SESSIONLESS_CONNECTIONS_EXPIRED).
    NoHandshake,
    Other(String),
}

impl From<String> for Closed {
    fn from(s: String) -> Closed {
        Closed::Other(s)
    }
}

impl From<&str> for Closed {
    fn from(s: &str) -> Closed {
        Closed::Other(s.to_string())
    }
}

/// How long a connection may stay silent before its handshake
/// (`zookeeper.nio.sessionlessCnxnTimeout`).
const SESSIONLESS_TIMEOUT: Duration = Duration::from_millis(10_000);

pub struct ConnParams {
    pub max_buffer: usize,
    pub inflight_max: usize,
    /// Bytes received, sessionless expiries and client-side closes (`mntr`).
    pub counters: std::sync::Arc<ClientCounters>,
}

pub async fn serve(
    conn: u64,
    stream: TcpStream,
    remote: SocketAddr,
    events: mpsc::Sender<Event>,
    params: ConnParams,
) {
    match serve_inner(conn, stream, remote, &events, &params).await {
        Ok(()) => {}
        Err(Closed::ByClient) => {
            ClientCounters::add(&params.counters.dropped, 1);
            tracing::debug!(conn, %remote, "connection closed by the client");
        }
        Err(Closed::NoHandshake) => {
            ClientCounters::add(&params.counters.sessionless_expired, 1);
            tracing::debug!(conn, %remote, "connection closed: no handshake in time");
        }
        Err(Closed::Other(reason)) => {
            tracing::debug!(conn, %remote, "connection closed: {reason}");
        }
    }
    let _ = events.send(Event::Closed { conn }).await;
}

async fn serve_inner(
    conn: u64,
    stream: TcpStream,
    remote: SocketAddr,
    events: &mpsc::Sender<Event>,
    params: &ConnParams,
) -> Result<(), Closed> {
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    let mut wr = BufWriter::new(wr);

    // Read the first four bytes: a four-letter word, or the handshake's length.
    let mut buf = BytesMut::with_capacity(256);
    let first = tokio::time::timeout(SESSIONLESS_TIMEOUT, async {
        while buf.len() < 4 {
            if rd.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
                return Err(Closed::ByClient);
            }
        }
        Ok(())
    })
    .await;
    match first {
        Err(_) => return Err(Closed::NoHandshake),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {}
    }
    let head = [buf[0], buf[1], buf[2], buf[3]];
    if let Some(cmd) = crate::fourlw::lookup(head) {
        ClientCounters::add(&params.counters.bytes_received, 4);
        let (tx, rx) = tokio::sync::oneshot::channel();
        events
            .send(Event::FourLetter {
                cmd,
                remote,
                reply: tx,
            })
            .await
            .map_err(|_| "server stopping")?;
        if let Ok(text) = rx.await {
            let _ = wr.write_all(text.as_bytes()).await;
            let _ = wr.flush().await;
        }
        let _ = wr.shutdown().await;
        return Ok(());
    }

    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<ConnOut>();
    events
        .send(Event::Opened {
            conn,
            remote,
            tx: out_tx,
        })
        .await
        .map_err(|_| "server stopping")?;

    // Bytes already read (the handshake, maybe pipelined requests behind it) must be
    // decoded before the socket is read again: `Framed::from_parts` marks them readable.
    let mut parts = FramedParts::new::<Bytes>(rd, jute::codec::frame_codec(params.max_buffer));
    parts.read_buf = buf;
    let mut framed = Framed::from_parts(parts);

    // The handshake.
    let frame = match tokio::time::timeout(SESSIONLESS_TIMEOUT, framed.next()).await {
        Err(_) => return Err(Closed::NoHandshake),
        Ok(None) => return Err(Closed::ByClient),
        Ok(Some(Err(e))) => return Err(format!("bad handshake frame: {e}").into()),
        Ok(Some(Ok(f))) => f.freeze(),
    };
    ClientCounters::add(&params.counters.bytes_received, 4 + frame.len() as u64);
    let req = ConnectRequest::decode(&mut frame.clone())
        .map_err(|e| format!("undecodable ConnectRequest: {e}"))?;
    events
        .send(Event::Connect { conn, req })
        .await
        .map_err(|_| "server stopping")?;

    let mut inflight: usize = 0;
    loop {
        tokio::select! {
            out = out_rx.recv() => {
                let Some(out) = out else { return Err("driver dropped the connection".into()) };
                if write_out(&mut wr, out, &mut inflight).await? {
                    // Drain what else is queued, then flush once.
                    let mut closing = false;
                    while let Ok(more) = out_rx.try_recv() {
                        if !write_out(&mut wr, more, &mut inflight).await? {
                            closing = true;
                            break;
                        }
                    }
                    wr.flush().await.map_err(|e| e.to_string())?;
                    if closing {
                        let _ = wr.shutdown().await;
                        return Ok(());
                    }
                } else {
                    wr.flush().await.map_err(|e| e.to_string())?;
                    let _ = wr.shutdown().await;
                    return Ok(());
                }
            }
            frame = framed.next(), if inflight < params.inflight_max => {
                let frame = match frame {
                    None => return Err(Closed::ByClient),
                    Some(Err(e)) => return Err(format!("bad frame: {e}").into()),
                    Some(Ok(f)) => f.freeze(),
                };
                ClientCounters::add(&params.counters.bytes_received, 4 + frame.len() as u64);
                let ev = decode_request(conn, frame).map_err(|e| format!("undecodable request: {e}"))?;
                inflight += 1;
                events.send(ev).await.map_err(|_| "server stopping")?;
            }
        }
    }
}

/// Writes one output; false means "close now".
async fn write_out(
    wr: &mut BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    out: ConnOut,
    inflight: &mut usize,
) -> Result<bool, String> {
    match out {
        ConnOut::Frame(frame) => {
            // Replies (not notifications, xid -1) free an in-flight slot.
            if frame.len() >= 8 && frame[4..8] != [0xff, 0xff, 0xff, 0xff] {
                *inflight = inflight.saturating_sub(1);
            }
            wr.write_all(&frame).await.map_err(|e| e.to_string())?;
            Ok(true)
        }
        ConnOut::Close => Ok(false),
    }
}

fn decode_request(conn: u64, mut frame: Bytes) -> Result<Event, DecodeError> {
    let hdr = RequestHeader::decode(&mut frame)?;
    match OpRequest::decode(hdr.op_type, &mut frame) {
        Ok(req) => Ok(Event::Request {
            conn,
            xid: hdr.xid,
            req,
        }),
        Err(DecodeError::UnknownOp(op)) if op == hdr.op_type => {
            tracing::debug!(conn, op, "unknown opcode");
            Ok(Event::Unknown { conn, xid: hdr.xid })
        }
        // A known opcode whose body does not decode: ZooKeeper answers MarshallingError
        // (and keeps the connection), so do we.
        Err(e) => {
            tracing::debug!(conn, op = hdr.op_type, "undecodable request body: {e}");
            Ok(Event::Undecodable {
                conn,
                xid: hdr.xid,
                op_type: hdr.op_type,
            })
        }
    }
}
