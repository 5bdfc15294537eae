//! The real zkserver binary against misbehaving connections, connection limits, session
//! expiry and reconnects, and the four-letter words on the client port.
//!
//! Every bad connection must be closed (with no reply, except where ZooKeeper replies), the
//! server must stay up (same PID, `ruok` answers), and a well-behaved client working at the
//! same time must not notice. Everything runs on 127.0.0.1 with bounded waits; the server is
//! killed and waited for when the test ends, pass or fail.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use jute::proto::{
    ConnectRequest, ConnectResponse, CreateRequest, OpRequest, PathWatchRequest, ReplyHeader,
    RequestHeader, SetDataRequest, SetWatches, WatcherEvent,
};
use jute::Record;
use support::standalone::Standalone;
use zookeeper_client as zk;

// ----- the server -----

/// A standalone zkserver with a short tick (quick session expiry) and `extra` zoo.cfg lines.
fn start_server(name: &str, extra: &str) -> Standalone {
    Standalone::start(&format!("robustness-{name}"), 200, extra)
}

// ----- a raw jute client -----

const READ_WAIT: Duration = Duration::from_secs(5);

struct Raw {
    s: TcpStream,
}

/// One frame from the server, decoded as a reply or a notification.
#[derive(Debug)]
enum Frame {
    Reply(ReplyHeader, Bytes),
    Notify(WatcherEvent),
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(READ_WAIT)).expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        Raw { s }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    fn write_frame(&mut self, body: &[u8]) {
        let mut b = BytesMut::with_capacity(4 + body.len());
        b.put_i32(body.len() as i32);
        b.put_slice(body);
        self.write(&b);
    }

    /// Reads one frame; None at EOF or reset.
    fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        if self.read_exact_or_eof(&mut len)? == 0 {
            return None;
        }
        let len = i32::from_be_bytes(len);
        assert!((0..=0x10_0000).contains(&len), "frame length {len}");
        let mut body = vec![0u8; len as usize];
        self.read_exact_or_eof(&mut body)?;
        Some(Bytes::from(body))
    }

    /// Some(n) once `buf` is full (n = its length), None at EOF/reset; panics on timeout.
    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> Option<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.s.read(&mut buf[got..]) {
                Ok(0) => return None,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("no answer from the server within {READ_WAIT:?}")
                }
                Err(_) => return None,
            }
        }
        Some(got)
    }

    /// The server closes the connection; returns whatever it sent before.
    fn expect_closed(&mut self, what: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let deadline = Instant::now() + READ_WAIT;
        let mut buf = [0u8; 4096];
        loop {
            assert!(Instant::now() < deadline, "{what}: connection not closed");
            match self.s.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("{what}: connection not closed within {READ_WAIT:?}")
                }
                // A reset also closes.
                Err(_) => return out,
            }
        }
    }

    /// The handshake answer; None if the server closed the connection instead (a write
    /// error counts: the server may have dropped the socket before we wrote).
    fn handshake(&mut self, req: &ConnectRequest) -> Option<ConnectResponse> {
        let body = req.to_bytes();
        let mut b = BytesMut::with_capacity(4 + body.len());
        b.put_i32(body.len() as i32);
        b.put_slice(&body);
        self.s.write_all(&b).ok()?;
        let mut f = self.read_frame()?;
        Some(ConnectResponse::decode(&mut f).expect("ConnectResponse"))
    }

    /// A new session with the given timeout.
    fn session(port: u16, timeout_ms: i32) -> (Raw, ConnectResponse) {
        let mut r = Raw::connect(port);
        let resp = r
            .handshake(&new_session(timeout_ms))
            .expect("handshake answered");
        assert_ne!(resp.session_id, 0);
        (r, resp)
    }

    fn send(&mut self, xid: i32, req: &OpRequest) {
        let mut b = BytesMut::new();
        RequestHeader {
            xid,
            op_type: req.op_type(),
        }
        .encode(&mut b);
        req.encode(&mut b);
        self.write_frame(&b);
    }

    fn next(&mut self) -> Option<Frame> {
        let mut f = self.read_frame()?;
        let h = ReplyHeader::decode(&mut f).expect("ReplyHeader");
        if h.xid == -1 {
            Some(Frame::Notify(WatcherEvent::decode(&mut f).expect("event")))
        } else {
            Some(Frame::Reply(h, f))
        }
    }

    /// Sends and returns the reply (notifications before it are returned too).
    fn call(&mut self, xid: i32, req: &OpRequest) -> (Vec<WatcherEvent>, ReplyHeader, Bytes) {
        self.send(xid, req);
        let mut events = Vec::new();
        for _ in 0..1000 {
            match self.next() {
                Some(Frame::Notify(e)) => events.push(e),
                Some(Frame::Reply(h, b)) => {
                    assert_eq!(h.xid, xid, "reply order");
                    return (events, h, b);
                }
                None => panic!("connection closed while waiting for xid {xid}"),
            }
        }
        panic!("no reply to xid {xid}");
    }
}

fn new_session(timeout_ms: i32) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: timeout_ms,
        session_id: 0,
        passwd: Bytes::from_static(&[0; 16]),
        read_only: Some(false),
    }
}

fn create_req(path: &str, data: &[u8], flags: i32) -> OpRequest {
    OpRequest::Create(CreateRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl: jute::Acl::open_unsafe(),
        flags,
    })
}

fn get_req(path: &str, watch: bool) -> OpRequest {
    OpRequest::GetData(PathWatchRequest {
        path: path.into(),
        watch,
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn zk_connect(addr: &str, timeout: Duration) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(timeout)
        .connect(addr)
        .await
        .expect("zookeeper-client connects")
}

fn open_persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

// ----- tests -----

/// A well-behaved client that writes and reads until told to stop; returns its op count.
async fn good_client(addr: String, stop: Arc<AtomicBool>, ops: Arc<AtomicU64>) {
    let client = zk_connect(&addr, Duration::from_secs(10)).await;
    client
        .create("/good", b"0", &open_persistent())
        .await
        .expect("create /good");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut i: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "good client ran too long");
        i += 1;
        let v = i.to_string();
        client
            .set_data("/good", v.as_bytes(), None)
            .await
            .expect("good client: setData");
        let (data, _) = client
            .get_data("/good")
            .await
            .expect("good client: getData");
        assert_eq!(data, v.as_bytes(), "good client reads its own write");
        ops.fetch_add(2, Ordering::SeqCst);
    }
}

#[test]
fn bad_connections_are_closed_while_the_server_and_a_good_client_carry_on() {
    let max_buffer: usize = 100_000;
    let mut server = start_server(
        "bad",
        &format!("jute.maxbuffer={max_buffer}\n4lw.commands.whitelist=*"),
    );
    let port = server.port();
    let rt = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let good = rt.spawn(good_client(server.addr(), stop.clone(), ops.clone()));
    // Let the good client get going.
    let deadline = Instant::now() + Duration::from_secs(20);
    while ops.load(Ordering::SeqCst) < 10 {
        assert!(Instant::now() < deadline, "good client made no progress");
        assert!(!good.is_finished(), "good client stopped early");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Length above jute.maxbuffer, before and after the handshake.
    let mut r = Raw::connect(port);
    r.write(&((max_buffer as i32) + 1).to_be_bytes());
    assert!(r.expect_closed("oversized length").is_empty());
    server.assert_healthy("an oversized length");
    let (mut r, _) = Raw::session(port, 10_000);
    r.write(&((max_buffer as i32) + 1).to_be_bytes());
    r.write(&[0; 64]);
    assert!(r
        .expect_closed("oversized length after handshake")
        .is_empty());

    // Negative lengths.
    for len in [-1i32, -5, i32::MIN] {
        let mut r = Raw::connect(port);
        r.write(&len.to_be_bytes());
        r.write(&[0; 32]);
        assert!(r.expect_closed("negative length").is_empty());
    }
    server.assert_healthy("negative lengths");

    // A truncated frame, then the client goes away (before and after the handshake).
    let mut r = Raw::connect(port);
    r.write(&100i32.to_be_bytes());
    r.write(&[1; 10]);
    let _ = r.s.shutdown(Shutdown::Write);
    assert!(r.expect_closed("truncated handshake").is_empty());
    let (mut r, _) = Raw::session(port, 10_000);
    r.write(&100i32.to_be_bytes());
    r.write(&[1; 10]);
    let _ = r.s.shutdown(Shutdown::Write);
    assert!(r.expect_closed("truncated request").is_empty());
    server.assert_healthy("truncated frames");

    // Garbage: a short frame that is no ConnectRequest, a random stream, and a frame whose
    // header does not decode after the handshake.
    let mut r = Raw::connect(port);
    r.write_frame(b"garbage-garbage!");
    assert!(r.expect_closed("garbage handshake").is_empty());
    let mut r = Raw::connect(port);
    let mut x: u32 = 0x1234_5678;
    let noise: Vec<u8> = (0..512)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8 | 0x80
        })
        .collect();
    let _ = r.s.write_all(&noise);
    assert!(r.expect_closed("noise").is_empty());
    let (mut r, _) = Raw::session(port, 10_000);
    r.write_frame(&[1, 2, 3]);
    assert!(r.expect_closed("undecodable header").is_empty());
    server.assert_healthy("garbage");

    // A request before the handshake (a ping): not a ConnectRequest, closed without reply.
    let mut r = Raw::connect(port);
    r.send(-2, &OpRequest::Ping);
    assert!(r.expect_closed("request before handshake").is_empty());
    // An undecodable ConnectRequest: the password claims more bytes than the frame has.
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i64(0);
    b.put_i32(10_000);
    b.put_i64(0);
    b.put_i32(1000);
    b.put_slice(&[0; 16]);
    let mut r = Raw::connect(port);
    r.write_frame(&b);
    assert!(r.expect_closed("undecodable ConnectRequest").is_empty());
    server.assert_healthy("bad handshakes");

    // An unknown opcode: Unimplemented (zxid -1), then close; the session lives on.
    let (mut r, resp) = Raw::session(port, 10_000);
    let mut b = BytesMut::new();
    RequestHeader {
        xid: 7,
        op_type: 999,
    }
    .encode(&mut b);
    r.write_frame(&b);
    let mut f = r.read_frame().expect("a reply to the unknown opcode");
    let h = ReplyHeader::decode(&mut f).expect("header");
    assert_eq!((h.xid, h.zxid, h.err), (7, -1, -6));
    assert!(r.expect_closed("unknown opcode").is_empty());
    let mut again = Raw::connect(port);
    let back = again
        .handshake(&ConnectRequest {
            session_id: resp.session_id,
            passwd: resp.passwd.clone(),
            ..new_session(10_000)
        })
        .expect("reconnect");
    assert_eq!(back.session_id, resp.session_id, "session survived");
    server.assert_healthy("an unknown opcode");

    // A frame of exactly jute.maxbuffer is accepted: a setData whose frame is that long.
    let mut probe = BytesMut::new();
    RequestHeader { xid: 1, op_type: 5 }.encode(&mut probe);
    SetDataRequest {
        path: "/big".into(),
        data: Some(Bytes::new()),
        version: -1,
    }
    .encode(&mut probe);
    let data_len = max_buffer - probe.len();
    let (events, h, _) = again.call(1, &create_req("/big", b"", 0));
    assert!(events.is_empty());
    assert_eq!(h.err, 0);
    let mut b = BytesMut::new();
    RequestHeader { xid: 2, op_type: 5 }.encode(&mut b);
    SetDataRequest {
        path: "/big".into(),
        data: Some(Bytes::from(vec![b'z'; data_len])),
        version: -1,
    }
    .encode(&mut b);
    assert_eq!(b.len(), max_buffer);
    again.write_frame(&b);
    match again.next() {
        Some(Frame::Reply(h, _)) => assert_eq!((h.xid, h.err), (2, 0), "max-size frame"),
        other => panic!("max-size frame: {other:?}"),
    }
    let (_, h, mut body) = again.call(3, &get_req("/big", false));
    assert_eq!(h.err, 0);
    let d = jute::proto::GetDataResponse::decode(&mut body).expect("getData");
    assert_eq!(d.data.map(|d| d.len()), Some(data_len));
    server.assert_healthy("a max-size frame");

    // The good client never noticed.
    let before = ops.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    while ops.load(Ordering::SeqCst) < before + 10 {
        assert!(Instant::now() < deadline, "good client stalled");
        assert!(!good.is_finished(), "good client stopped early");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), good)
            .await
            .expect("good client finishes")
            .expect("good client saw no error");
    });
    server.assert_healthy("the whole run");
}

#[test]
fn connections_past_max_client_cnxns_are_closed_at_once() {
    let mut server = start_server("maxcnxns", "maxClientCnxns=3\n4lw.commands.whitelist=*");
    let port = server.port();
    // The readiness probe's connections may take a moment to be released.
    let mut held: Vec<Raw> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while held.len() < 3 {
        assert!(Instant::now() < deadline, "could not open 3 connections");
        let mut r = Raw::connect(port);
        if r.handshake(&new_session(10_000)).is_some() {
            held.push(r);
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The fourth is closed at once, with nothing sent back.
    for _ in 0..3 {
        let mut extra = Raw::connect(port);
        let _ = extra.s.write_all(&new_session(10_000).to_bytes());
        let started = Instant::now();
        assert!(extra.expect_closed("connection over the limit").is_empty());
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    // The first three still work.
    for (i, r) in held.iter_mut().enumerate() {
        let (_, h, _) = r.call(1, &create_req(&format!("/n{i}"), b"", 0));
        assert_eq!(h.err, 0);
        r.send(-2, &OpRequest::Ping);
        match r.next() {
            Some(Frame::Reply(h, _)) => assert_eq!((h.xid, h.err), (-2, 0)),
            other => panic!("ping: {other:?}"),
        }
    }
    // Freeing one makes room again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "a freed slot was not reusable");
        let mut r = Raw::connect(port);
        if r.handshake(&new_session(10_000)).is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // A slot is released when the server sees the close, a moment after ours: let them all
    // go, then the four-letter connection fits again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.four("ruok") != "imok" {
        assert!(
            Instant::now() < deadline,
            "ruok refused after the clients left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.assert_healthy("the connection limit");
}

#[test]
fn session_expiry_deletes_ephemerals_and_a_real_client_sees_it() {
    // tickTime 200: sessions may be 400..4000 ms.
    let mut server = start_server(
        "expiry",
        "minSessionTimeout=400\nmaxSessionTimeout=4000\n4lw.commands.whitelist=*",
    );
    let port = server.port();
    let rt = runtime();
    let watcher = rt.block_on(zk_connect(&server.addr(), Duration::from_secs(4)));
    rt.block_on(watcher.create("/svc", b"", &open_persistent()))
        .expect("create /svc");

    // A raw session asks for 1 ms and gets the minimum.
    let (mut dying, resp) = Raw::session(port, 1);
    assert_eq!(resp.time_out, 400);
    let (_, h, _) = dying.call(1, &create_req("/svc/member", b"", 1));
    assert_eq!(h.err, 0);
    let (_, _, child_watch) = rt
        .block_on(watcher.get_and_watch_children("/svc"))
        .expect("children");
    let (_, exist_watch) = rt
        .block_on(watcher.check_and_watch_stat("/svc/member"))
        .expect("exists");

    // One last ping, then it goes silent: the server closes it (no message) once the
    // session expires.
    dying.send(-2, &OpRequest::Ping);
    assert!(matches!(dying.next(), Some(Frame::Reply(h, _)) if h.xid == -2));
    let started = Instant::now();
    assert!(dying.expect_closed("expired session").is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "expired too early: {took:?}"
    );
    let ev = rt
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(5), exist_watch.changed()).await
        })
        .expect("NodeDeleted in time");
    assert_eq!(ev.event_type, zk::EventType::NodeDeleted);
    let ev = rt
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(5), child_watch.changed()).await
        })
        .expect("NodeChildrenChanged in time");
    assert_eq!(ev.event_type, zk::EventType::NodeChildrenChanged);
    assert!(rt
        .block_on(watcher.list_children("/svc"))
        .expect("ls")
        .is_empty());

    // Coming back: the invalid-session answer, then close.
    let mut back = Raw::connect(port);
    let r = back
        .handshake(&ConnectRequest {
            session_id: resp.session_id,
            passwd: resp.passwd.clone(),
            ..new_session(1000)
        })
        .expect("an answer");
    assert_eq!((r.time_out, r.session_id), (0, 0));
    assert_eq!(&r.passwd[..], &[0; 16]);
    assert!(back.expect_closed("expired session reconnect").is_empty());

    // The real client, pinging, stayed alive throughout.
    rt.block_on(watcher.create("/svc/still-here", b"", &open_persistent()))
        .expect("the pinging client's session is alive");
    server.assert_healthy("session expiry");
}

#[test]
fn reconnect_from_a_new_socket_keeps_ephemerals_and_watches() {
    let mut server = start_server(
        "reconnect",
        "maxSessionTimeout=30000\n4lw.commands.whitelist=*",
    );
    let port = server.port();
    let rt = runtime();
    let other = rt.block_on(zk_connect(&server.addr(), Duration::from_secs(10)));
    for p in ["/r", "/r/same", "/r/changed"] {
        rt.block_on(other.create(p, b"", &open_persistent()))
            .expect("setup");
    }

    let (mut a, resp) = Raw::session(port, 10_000);
    let (_, h, _) = a.call(1, &create_req("/r/eph", b"", 1));
    assert_eq!(h.err, 0);
    let (_, h, _) = a.call(2, &get_req("/r/same", true));
    assert_eq!(h.err, 0);
    let (_, h, _) = a.call(3, &get_req("/r/changed", true));
    let seen = h.zxid;
    drop(a); // The socket just goes away.

    // While away, one watched node changes.
    rt.block_on(other.set_data("/r/changed", b"1", None))
        .expect("set while away");

    let mut b = Raw::connect(port);
    let r = b
        .handshake(&ConnectRequest {
            last_zxid_seen: seen,
            session_id: resp.session_id,
            passwd: resp.passwd.clone(),
            ..new_session(10_000)
        })
        .expect("reconnect answered");
    assert_eq!(r.session_id, resp.session_id);
    assert_eq!(r.time_out, 10_000);
    let (events, h, body) = b.call(
        -8,
        &OpRequest::SetWatches(SetWatches {
            relative_zxid: seen,
            data_watches: vec!["/r/same".into(), "/r/changed".into()],
            exist_watches: vec![],
            child_watches: vec![],
        }),
    );
    assert_eq!((h.err, body.len()), (0, 0));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].event_type, events[0].path.as_str()),
        (3, "/r/changed")
    );

    // The ephemeral survived the socket change.
    let stat = rt
        .block_on(other.check_stat("/r/eph"))
        .expect("stat")
        .expect("ephemeral still there");
    assert_eq!(stat.ephemeral_owner, resp.session_id);

    // The re-registered watch fires on the new socket.
    rt.block_on(other.set_data("/r/same", b"2", None))
        .expect("set");
    match b.next() {
        Some(Frame::Notify(e)) => assert_eq!((e.event_type, e.path.as_str()), (3, "/r/same")),
        other => panic!("expected a notification: {other:?}"),
    }
    // A clean close takes the ephemeral with it.
    let (_, h, _) = b.call(4, &OpRequest::CloseSession);
    assert_eq!(h.err, 0);
    assert!(b.expect_closed("closeSession").is_empty());
    assert!(rt
        .block_on(other.check_stat("/r/eph"))
        .expect("stat")
        .is_none());
    server.assert_healthy("reconnects");
}

#[test]
fn four_letter_words_answer_in_zookeeper_format() {
    let mut server = start_server(
        "fourlw",
        "maxSessionTimeout=30000\n4lw.commands.whitelist=ruok, srvr, stat, mntr, cons, wchs, dump, conf",
    );
    let port = server.port();
    let (mut a, resp) = Raw::session(port, 10_000);
    let (_, h, _) = a.call(1, &create_req("/eph", b"", 1));
    assert_eq!(h.err, 0);
    let (_, h, _) = a.call(2, &get_req("/eph", true));
    assert_eq!(h.err, 0);
    let sid = format!("0x{:x}", resp.session_id);

    assert_eq!(server.four("ruok"), "imok");

    let srvr = server.four("srvr");
    let keys: Vec<&str> = srvr
        .lines()
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        [
            "Zookeeper version",
            "Latency min/avg/max",
            "Received",
            "Sent",
            "Connections",
            "Outstanding",
            "Zxid",
            "Mode",
            "Node count"
        ],
        "{srvr}"
    );
    assert!(srvr.ends_with('\n'));
    assert!(srvr.contains("\nMode: standalone\n"), "{srvr}");
    assert!(srvr.contains("\nZxid: 0x"), "{srvr}");

    let stat = server.four("stat");
    let lines: Vec<&str> = stat.lines().collect();
    assert!(lines[0].starts_with("Zookeeper version: "), "{stat}");
    assert_eq!(lines[1], "Clients:", "{stat}");
    let clients: Vec<&str> = lines[2..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    assert!(!clients.is_empty(), "{stat}");
    for c in &clients {
        assert!(
            c.starts_with(" /127.0.0.1:") && c.contains("](queued=") && c.ends_with(')'),
            "client line {c:?}"
        );
    }
    assert!(stat.contains("\n\nLatency min/avg/max: "), "{stat}");
    assert!(stat.contains("\nMode: standalone\n"), "{stat}");

    let mntr = server.four("mntr");
    let kv: Vec<(&str, &str)> = mntr
        .lines()
        .map(|l| {
            l.split_once('\t')
                .unwrap_or_else(|| panic!("mntr line {l:?}"))
        })
        .collect();
    assert!(kv.iter().all(|(k, _)| k.starts_with("zk_")), "{mntr}");
    assert_eq!(kv[0].0, "zk_version");
    let get = |k: &str| {
        kv.iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("mntr lacks {k}"))
    };
    assert_eq!(get("zk_server_state"), "standalone");
    assert_eq!(get("zk_ephemerals_count"), "1");
    assert_eq!(get("zk_watch_count"), "1");
    assert!(get("zk_znode_count").parse::<u64>().is_ok_and(|n| n >= 5));
    assert!(get("zk_num_alive_connections")
        .parse::<u64>()
        .is_ok_and(|n| n >= 1));

    let cons = server.four("cons");
    assert!(cons.ends_with(")\n\n"), "{cons:?}");
    let mine = cons
        .lines()
        .find(|l| l.contains(&format!(",sid={sid},")))
        .unwrap_or_else(|| panic!("no connection of {sid} in {cons}"));
    assert!(mine.starts_with(" /127.0.0.1:"), "{mine}");
    for field in [
        "(queued=",
        ",recved=",
        ",sent=",
        ",lop=GETD",
        ",est=",
        ",to=10000",
        ",lcxid=0x2",
        ",lzxid=0x",
        ",lresp=",
        ",llat=",
        ",minlat=",
        ",avglat=",
        ",maxlat=",
    ] {
        assert!(mine.contains(field), "{field} missing in {mine}");
    }

    assert_eq!(
        server.four("wchs"),
        "1 connections watching 1 paths\nTotal watches:1\n"
    );

    let dump = server.four("dump");
    assert!(
        dump.starts_with("SessionTracker dump:\nSession Sets ("),
        "{dump}"
    );
    assert!(
        dump.contains(&format!(
            "ephemeral nodes dump:\nSessions with Ephemerals (1):\n{sid}:\n\t/eph\n"
        )),
        "{dump}"
    );
    assert!(dump.contains(&format!("\t{sid}\n")), "{dump}");

    let conf = server.four("conf");
    for line in [
        format!("clientPort={port}"),
        "tickTime=200".to_string(),
        "maxClientCnxns=60".to_string(),
        "minSessionTimeout=400".to_string(),
        "maxSessionTimeout=30000".to_string(),
    ] {
        assert!(conf.lines().any(|l| l == line), "{line} missing in {conf}");
    }
    assert!(
        conf.lines()
            .any(|l| l.starts_with("dataDir=") && l.ends_with("/version-2")),
        "{conf}"
    );

    assert_eq!(
        server.four("envi"),
        "envi is not executed because it is not in the whitelist.\n"
    );
    // Unknown four bytes read as a huge length: closed with no output.
    assert_eq!(server.four("abcd"), "");
    // After the handshake a four-letter word is just a bad length: closed, no output.
    a.write(b"ruok");
    assert!(a.expect_closed("4lw after handshake").is_empty());
    server.assert_healthy("four-letter words");
}
