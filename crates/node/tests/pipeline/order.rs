//! Per-connection order: replies leave in request order, reads wait behind the
//! connection's own pending writes (read-your-writes), other connections never see a write
//! before it is durable.

use jute::proto::{GetDataResponse, OpRequest};
use jute::types::xid;
use jute::ErrorCode;

use crate::harness::*;

#[test]
fn read_behind_own_write_waits_and_sees_it() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.hold();
    h.send(c, create("/a", b"hello"));
    h.send(c, get("/a", false));
    assert!(
        h.events(c).is_empty(),
        "the read waits behind the undurable write"
    );
    h.release();
    let r = replies(&h.events(c));
    assert_eq!(r.len(), 2);
    let d = r[1].body::<GetDataResponse>();
    assert_eq!(d.data.as_deref(), Some(&b"hello"[..]));
    // A read reply carries the last applied zxid: that of the write before it.
    assert_eq!(r[1].zxid, r[0].zxid);
}

#[test]
fn replies_and_pings_leave_in_request_order() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.ok(c, create("/a", b""));
    h.hold();
    let x1 = h.send(c, set("/a", b"1", -1));
    h.send_xid(c, xid::PING, OpRequest::Ping);
    let x3 = h.send(c, get("/a", false));
    let x4 = h.send(c, create("/b", b""));
    let x5 = h.send(c, exists("/b", false));
    let x6 = h.send(c, OpRequest::Sync(path_req("/")));
    assert!(
        h.events(c).is_empty(),
        "everything waits behind the first write"
    );
    h.release();
    let r = replies(&h.events(c));
    let xids: Vec<i32> = r.iter().map(|r| r.xid).collect();
    assert_eq!(xids, [x1, xid::PING, x3, x4, x5, x6]);
    assert!(r.iter().all(|r| r.code() == ErrorCode::Ok), "{r:?}");
    // Each reply carries the zxid applied when it left: non-decreasing along the connection.
    assert!(r.windows(2).all(|w| w[0].zxid <= w[1].zxid));
    assert_eq!(r[4].zxid, r[3].zxid, "exists /b sees create /b");
}

#[test]
fn ping_with_nothing_pending_is_answered_at_once_with_xid_minus_two() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.ok(c, create("/a", b""));
    // Even if the client used another xid, the reply says -2.
    h.send_xid(c, 77, OpRequest::Ping);
    let r = replies(&h.events(c));
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].xid, r[0].err), (xid::PING, 0));
    assert_eq!(r[0].zxid, h.last_zxid());
    assert!(r[0].body.is_empty());
}

#[test]
fn another_connection_does_not_see_an_undurable_write() {
    let mut h = H::new();
    let (c1, _) = h.session();
    let (c2, _) = h.session();
    h.hold();
    h.send(c1, create("/a", b""));
    assert_eq!(h.call(c2, exists("/a", false)).code(), ErrorCode::NoNode);
    assert_eq!(h.call(c2, get("/a", false)).code(), ErrorCode::NoNode);
    h.release();
    assert_eq!(replies(&h.events(c1))[0].code(), ErrorCode::Ok);
    assert_eq!(h.call(c2, exists("/a", false)).code(), ErrorCode::Ok);
}

#[test]
fn a_read_of_another_connection_is_not_held_behind_foreign_writes() {
    let mut h = H::new();
    let (c1, _) = h.session();
    let (c2, _) = h.session();
    h.ok(c1, create("/a", b"v"));
    h.hold();
    h.send(c1, set("/a", b"w", -1));
    // c2 reads the old value at once: its own queue is empty.
    let d = h.call(c2, get("/a", false)).body::<GetDataResponse>();
    assert_eq!(d.data.as_deref(), Some(&b"v"[..]));
    h.release();
}

#[test]
fn requests_pipelined_behind_the_handshake_are_answered_after_it() {
    let mut h = H::new();
    let c = h.open();
    h.hold();
    h.handshake(c, connect_req(0, &[0; 16], 10_000));
    let x1 = h.send(c, create("/early", b""));
    let x2 = h.send(c, get("/early", false));
    assert!(h.events(c).is_empty());
    h.release();
    let evs = h.events(c);
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert!(matches!(&evs[0], Ev::Handshake(r) if r.session_id != 0));
    let r = replies(&evs[1..]);
    assert_eq!((r[0].xid, r[0].err), (x1, 0));
    assert_eq!((r[1].xid, r[1].err), (x2, 0));
}
