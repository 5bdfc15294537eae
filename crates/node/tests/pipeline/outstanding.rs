//! Pipelined writes validated against the outstanding changes (ZooKeeper's
//! `outstandingChanges`): each write sees the writes proposed before it, durable or not.

use jute::proto::{CreateResponse, MultiResponse, MultiResult, StatResponse};
use jute::ErrorCode;

use crate::harness::*;

#[test]
fn child_create_right_behind_parent_create_succeeds() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.hold();
    let x1 = h.send(c, create("/a", b"1"));
    let x2 = h.send(c, create("/a/b", b"2"));
    assert!(
        h.events(c).is_empty(),
        "nothing is answered before it is durable"
    );
    assert_eq!(h.held(), 2);
    h.release();
    let r = replies(&h.events(c));
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].xid, r[1].xid), (x1, x2));
    assert_eq!(r[0].body::<CreateResponse>().path, "/a");
    assert_eq!(r[1].body::<CreateResponse>().path, "/a/b");
    assert!(r[0].zxid < r[1].zxid);
    assert!(h.exists_in_tree("/a/b"));
}

#[test]
fn delete_right_behind_create_finds_the_node() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.hold();
    h.send(c, create("/x", b""));
    h.send(c, delete("/x", 0));
    // And the delete is visible to the next write: a second delete misses.
    h.send(c, delete("/x", -1));
    h.release();
    let codes: Vec<_> = replies(&h.events(c)).iter().map(Reply::code).collect();
    assert_eq!(codes, [ErrorCode::Ok, ErrorCode::Ok, ErrorCode::NoNode]);
    assert!(!h.exists_in_tree("/x"));
}

#[test]
fn sequential_creates_in_flight_get_distinct_increasing_names() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.ok(c, create("/q", b""));
    h.ok(c, create("/q/other", b""));
    h.hold();
    for _ in 0..3 {
        h.send(c, create_seq("/q/n-"));
    }
    h.release();
    let names: Vec<String> = replies(&h.events(c))
        .iter()
        .map(|r| r.body::<CreateResponse>().path)
        .collect();
    // The parent's stored cversion was 1 (one create so far).
    assert_eq!(
        names,
        ["/q/n-0000000001", "/q/n-0000000002", "/q/n-0000000003"]
    );
}

#[test]
fn conditional_set_data_behind_a_pending_one_sees_its_version() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.ok(c, create("/v", b""));
    h.hold();
    h.send(c, set("/v", b"1", 0));
    h.send(c, set("/v", b"2", 1));
    h.send(c, set("/v", b"3", 0));
    h.release();
    let r = replies(&h.events(c));
    assert_eq!(r[0].body::<StatResponse>().stat.version, 1);
    assert_eq!(r[1].body::<StatResponse>().stat.version, 2);
    assert_eq!(r[2].code(), ErrorCode::BadVersion);
}

#[test]
fn multi_depending_on_a_pending_create() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.hold();
    h.send(c, create("/m", b""));
    h.send(
        c,
        multi(vec![m_create("/m/c"), m_set("/m", 0), m_set("/m", 1)]),
    );
    h.release();
    let r = replies(&h.events(c));
    assert_eq!(r[0].code(), ErrorCode::Ok);
    let m = r[1].body::<MultiResponse>();
    assert_eq!(m.results.len(), 3);
    assert_eq!(m.results[0], MultiResult::Create("/m/c".into()));
    match (&m.results[1], &m.results[2]) {
        (MultiResult::SetData(s1), MultiResult::SetData(s2)) => {
            assert_eq!((s1.version, s2.version), (1, 2));
            assert_eq!(s2.num_children, 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn delete_of_a_parent_with_a_pending_child_is_not_empty() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.hold();
    h.send(c, create("/p", b""));
    h.send(c, create("/p/c", b""));
    h.send(c, delete("/p", -1));
    h.release();
    let codes: Vec<_> = replies(&h.events(c)).iter().map(Reply::code).collect();
    assert_eq!(codes, [ErrorCode::Ok, ErrorCode::Ok, ErrorCode::NotEmpty]);
}

#[test]
fn a_failed_multi_leaves_nothing_behind_for_later_writes() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.hold();
    h.send(c, multi(vec![m_create("/z"), m_create("/nope/x")]));
    h.send(c, create("/z/child", b""));
    h.send(c, create("/z", b""));
    h.release();
    let r = replies(&h.events(c));
    assert_eq!(
        r[0].code(),
        ErrorCode::Ok,
        "a failed multi has header err 0"
    );
    assert_eq!(r[1].code(), ErrorCode::NoNode);
    assert_eq!(r[2].code(), ErrorCode::Ok);
}

#[test]
fn writes_of_two_connections_interleave_through_the_overlay() {
    let mut h = H::new();
    let (c1, _) = h.session();
    let (c2, _) = h.session();
    h.hold();
    h.send(c1, create("/shared", b""));
    h.send(c2, create("/shared", b""));
    h.send(c2, create("/shared/c2", b""));
    h.release();
    assert_eq!(replies(&h.events(c1))[0].code(), ErrorCode::Ok);
    let r2: Vec<_> = replies(&h.events(c2)).iter().map(Reply::code).collect();
    assert_eq!(r2, [ErrorCode::NodeExists, ErrorCode::Ok]);
}

#[test]
fn child_of_a_pending_ephemeral_is_refused() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.hold();
    h.send(c, create_eph("/e"));
    h.send(c, create("/e/c", b""));
    h.release();
    let codes: Vec<_> = replies(&h.events(c)).iter().map(Reply::code).collect();
    assert_eq!(codes, [ErrorCode::Ok, ErrorCode::NoChildrenForEphemerals]);
}

#[test]
fn close_session_in_flight_takes_a_pending_ephemeral_with_it() {
    let mut h = H::new();
    let (c, _) = h.session();
    let (w, _) = h.session();
    h.ok(
        w,
        jute::proto::OpRequest::AddWatch(jute::proto::AddWatchRequest {
            path: "/e".into(),
            mode: 0,
        }),
    );
    h.hold();
    h.send(c, create_eph("/e"));
    let x = h.send(c, jute::proto::OpRequest::CloseSession);
    h.release();
    let evs = h.events(c);
    assert_eq!(
        shape(&evs),
        [
            "reply xid=1 err=0",
            &format!("reply xid={x} err=0"),
            "closed"
        ]
    );
    assert!(!h.exists_in_tree("/e"));
    assert_eq!(h.core.tree().ephemerals_count(), 0);
    // The watcher saw it come and go.
    let wevs = h.events(w);
    assert_eq!(
        shape(&wevs),
        ["notify NodeCreated /e", "notify NodeDeleted /e"]
    );
}
