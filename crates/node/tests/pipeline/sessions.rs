//! Sessions: timeout negotiation, reconnects (right and wrong password), a client ahead of
//! the server, expiry, closeSession, and requests on a closing session.

use bytes::Bytes;
use jute::proto::{ConnectRequest, OpRequest};
use jute::ErrorCode;

use crate::harness::*;

fn handshake_of(evs: &[Ev]) -> jute::proto::ConnectResponse {
    match evs.first() {
        Some(Ev::Handshake(r)) => r.clone(),
        other => panic!("expected a handshake, got {other:?}"),
    }
}

#[test]
fn timeout_is_clamped_between_min_and_max() {
    let mut h = H::new();
    for (asked, got) in [
        (1, MIN_TIMEOUT_MS),
        (1_000_000_000, MAX_TIMEOUT_MS),
        (10_000, 10_000),
        (-5, MIN_TIMEOUT_MS),
    ] {
        let (_, s) = h.session_with_timeout(asked);
        assert_eq!(s.timeout_ms, got, "asked {asked}");
        assert_eq!(h.core.sessions().get(s.id).map(|s| s.timeout_ms), Some(got));
    }
}

#[test]
fn new_session_answer_carries_the_derived_password_and_mirrors_read_only() {
    let mut h = H::new();
    let c = h.open();
    let mut req = connect_req(0, &[0; 16], 10_000);
    req.read_only = None;
    h.handshake(c, req);
    let r = handshake_of(&h.events(c));
    assert_eq!(
        r.read_only, None,
        "an old client gets no readOnly byte back"
    );
    assert_eq!(
        r.session_id >> 56,
        1,
        "standalone session ids start with 0x01"
    );
    assert_eq!(
        &r.passwd[..],
        &jute::password::session_password(r.session_id)[..]
    );
    let (_, s) = h.session();
    assert_eq!(s.id.0, r.session_id + 1, "ids count up");
}

#[test]
fn reconnect_with_the_password_keeps_the_session_and_closes_the_old_connection() {
    let mut h = H::new();
    let (c1, s) = h.session();
    h.ok(c1, create_eph("/e"));
    h.ok(c1, get("/e", true));
    let c2 = h.open();
    h.handshake(c2, connect_req(s.id.0, &s.passwd, 6000));
    assert_eq!(h.events(c1), [Ev::Closed], "the old connection goes");
    let r = handshake_of(&h.events(c2));
    assert_eq!((r.session_id, r.time_out), (s.id.0, 6000));
    assert_eq!(r.passwd, s.passwd);
    assert_eq!(r.read_only, Some(false));
    assert_eq!(h.core.session_of(c2), Some(s.id));
    // Ephemerals stay; the old connection's watches went with it.
    assert!(h.exists_in_tree("/e"));
    assert!(h
        .core
        .watches()
        .by_connection()
        .iter()
        .all(|(w, _)| *w != c1));
    assert_eq!(h.call(c2, get("/e", false)).code(), ErrorCode::Ok);
    h.ok(c2, set("/e", b"x", -1));
    assert!(h.events(c1).is_empty());
}

#[test]
fn reconnect_with_a_wrong_password_gets_the_invalid_session_answer_and_close() {
    let mut h = H::new();
    let (c1, s) = h.session();
    let c2 = h.open();
    h.handshake(c2, connect_req(s.id.0, &[7; 16], 10_000));
    let evs = h.events(c2);
    assert_eq!(evs.len(), 2, "{evs:?}");
    let r = handshake_of(&evs);
    assert_eq!(
        r,
        jute::proto::ConnectResponse {
            protocol_version: 0,
            time_out: 0,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        }
    );
    assert_eq!(evs[1], Ev::Closed);
    // ZooKeeper closes the session's other connection even when the password is wrong.
    assert_eq!(h.events(c1), [Ev::Closed]);
    // The session itself lives on.
    assert!(h.core.sessions().get(s.id).is_some());
}

#[test]
fn reconnect_to_an_unknown_session_gets_the_invalid_session_answer() {
    let mut h = H::new();
    let c = h.open();
    let sid = 0x0100_0000_0000_1234_i64;
    let mut req = connect_req(sid, &jute::password::session_password(sid), 10_000);
    req.read_only = None;
    h.handshake(c, req);
    let evs = h.events(c);
    let r = handshake_of(&evs);
    assert_eq!((r.time_out, r.session_id, r.read_only), (0, 0, None));
    assert_eq!(evs[1..], [Ev::Closed]);
}

#[test]
fn client_that_has_seen_a_newer_zxid_is_closed_without_a_reply() {
    let mut h = H::new();
    let (c0, _) = h.session();
    h.ok(c0, create("/a", b""));
    let c = h.open();
    h.handshake(
        c,
        ConnectRequest {
            last_zxid_seen: h.last_zxid() + 1,
            ..connect_req(0, &[0; 16], 10_000)
        },
    );
    assert_eq!(h.events(c), [Ev::Closed]);
    // Equal is fine.
    let c = h.open();
    h.handshake(
        c,
        ConnectRequest {
            last_zxid_seen: h.last_zxid(),
            ..connect_req(0, &[0; 16], 10_000)
        },
    );
    assert!(matches!(&h.events(c)[..], [Ev::Handshake(r)] if r.session_id != 0));
}

#[test]
fn expiry_deletes_ephemerals_fires_watches_and_closes_the_connection() {
    let mut h = H::new();
    let (c, s) = h.session();
    let (w, _) = h.session_with_timeout(40_000);
    h.ok(c, create("/p", b""));
    h.ok(c, create_eph("/p/e"));
    h.ok(c, create_eph("/e2"));
    h.ok(w, exists("/p/e", true));
    h.ok(w, children("/p", true));
    assert_eq!(s.timeout_ms, 10_000);
    // Leases are rounded up to the next tick: 10 000 ms from T0 expires at T0 + 12 000.
    h.tick(11_000);
    assert!(h.exists_in_tree("/p/e"), "not yet");
    let before = h.last_zxid();
    h.tick(1_000);
    assert_eq!(h.last_zxid(), before + 1, "one closeSession txn");
    assert!(!h.exists_in_tree("/p/e") && !h.exists_in_tree("/e2"));
    assert!(h.core.sessions().get(s.id).is_none());
    assert_eq!(h.events(c), [Ev::Closed], "expiry just closes the socket");
    let evs = h.events(w);
    assert_eq!(
        shape(&evs),
        ["notify NodeDeleted /p/e", "notify NodeChildrenChanged /p"]
    );
    assert!(evs
        .iter()
        .all(|e| matches!(e, Ev::Notify { zxid, .. } if *zxid == before + 1)));
    // Coming back with the old id: expired.
    let c2 = h.open();
    h.handshake(c2, connect_req(s.id.0, &s.passwd, 10_000));
    let evs = h.events(c2);
    assert_eq!(handshake_of(&evs).time_out, 0);
    assert_eq!(evs[1..], [Ev::Closed]);
}

#[test]
fn requests_and_pings_keep_a_session_alive() {
    let mut h = H::new();
    let (c, s) = h.session();
    h.ok(c, create_eph("/e"));
    for _ in 0..10 {
        h.tick(4_000);
        h.send_xid(c, -2, OpRequest::Ping);
        assert_eq!(shape(&h.events(c)), ["reply xid=-2 err=0"]);
    }
    assert!(h.core.sessions().get(s.id).is_some());
    assert!(h.exists_in_tree("/e"));
    // A session without a connection still expires.
    h.close(c);
    h.tick(12_000);
    assert!(h.core.sessions().get(s.id).is_none());
    assert!(!h.exists_in_tree("/e"));
}

#[test]
fn close_session_replies_then_closes() {
    let mut h = H::new();
    let (c, s) = h.session();
    h.ok(c, create_eph("/e"));
    let x = h.send(c, OpRequest::CloseSession);
    let evs = h.events(c);
    assert_eq!(
        shape(&evs),
        [&format!("reply xid={x} err=0") as &str, "closed"]
    );
    let r = &replies(&evs)[0];
    assert!(r.body.is_empty());
    assert_eq!(r.zxid, h.last_zxid(), "the close txn's zxid");
    assert!(!h.exists_in_tree("/e"));
    assert!(h.core.sessions().get(s.id).is_none());
}

#[test]
fn requests_on_an_expiring_session_get_session_expired() {
    let mut h = H::new();
    let (c, s) = h.session();
    h.ok(c, create("/a", b""));
    h.hold();
    h.tick(12_000);
    assert_eq!(h.held(), 1, "the closeSession waits for the store");
    assert!(h.core.sessions().get(s.id).is_some_and(|s| s.closing));
    // A read is answered at once with SessionExpired.
    let r = h.call(c, get("/a", false));
    assert_eq!(r.code(), ErrorCode::SessionExpired);
    assert!(r.body.is_empty());
    // A write becomes a failed txn (it still takes a zxid).
    let before = h.core.zab().last_proposed();
    h.send(c, create("/b", b""));
    assert_eq!(h.core.zab().last_proposed().0, before.0 + 1);
    // Reconnecting to a closing session is refused.
    let c2 = h.open();
    h.handshake(c2, connect_req(s.id.0, &s.passwd, 10_000));
    let evs = h.events(c2);
    assert_eq!(handshake_of(&evs).time_out, 0);
    h.release();
    assert!(!h.exists_in_tree("/b"));
    assert!(h.events(c).contains(&Ev::Closed));
}

#[test]
fn a_session_closing_by_request_refuses_reconnects_and_later_requests() {
    let mut h = H::new();
    let (c, s) = h.session();
    h.hold();
    h.send(c, OpRequest::CloseSession);
    assert!(
        h.core.sessions().get(s.id).is_some_and(|s| s.closing),
        "closeSession marks the session closing when it is prepped"
    );
    let c2 = h.open();
    h.handshake(c2, connect_req(s.id.0, &s.passwd, 10_000));
    let evs = h.events(c2);
    assert_eq!(handshake_of(&evs).time_out, 0, "{evs:?}");
    h.release();
    assert!(h.core.sessions().get(s.id).is_none());
}
