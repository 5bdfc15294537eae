//! Watch delivery: notifications before the reply of the write that caused them, the txn's
//! zxid in their header, and READ-filtered delivery.

use jute::proto::{AddWatchRequest, OpRequest};
use jute::types::{perms, xid};
use jute::ErrorCode;

use crate::harness::*;

#[test]
fn own_notification_precedes_the_reply_and_carries_the_txn_zxid() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.ok(c, create("/w", b""));
    h.ok(c, get("/w", true));
    let x = h.send(c, set("/w", b"1", -1));
    let evs = h.events(c);
    assert_eq!(
        shape(&evs),
        ["notify NodeDataChanged /w", &format!("reply xid={x} err=0")]
    );
    match (&evs[0], &evs[1]) {
        (Ev::Notify { zxid, .. }, Ev::Reply(r)) => assert_eq!(*zxid, r.zxid),
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_fires_node_created_then_children_changed_then_the_reply() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.ok(c, create("/w", b""));
    assert_eq!(h.call(c, exists("/w/new", true)).code(), ErrorCode::NoNode);
    h.ok(c, children("/w", true));
    h.hold();
    let x = h.send(c, create("/w/new", b""));
    let y = h.send(c, exists("/w/new", false));
    h.release();
    assert_eq!(
        shape(&h.events(c)),
        [
            "notify NodeCreated /w/new",
            "notify NodeChildrenChanged /w",
            &format!("reply xid={x} err=0"),
            &format!("reply xid={y} err=0"),
        ]
    );
    // One-shot: a second change fires nothing.
    h.ok(c, create("/w/other", b""));
}

#[test]
fn watcher_on_another_connection_gets_the_event_with_the_txn_zxid() {
    let mut h = H::new();
    let (c1, _) = h.session();
    let (c2, _) = h.session();
    h.ok(c1, create("/w", b""));
    h.ok(c2, get("/w", true));
    let r = h.ok(c1, delete("/w", -1));
    let evs = h.events(c2);
    assert_eq!(
        evs,
        [Ev::Notify {
            zxid: r.zxid,
            event_type: 2,
            path: "/w".into()
        }]
    );
}

#[test]
fn delete_notifies_a_connection_once_even_with_data_and_child_watches() {
    let mut h = H::new();
    let (c1, _) = h.session();
    let (c2, _) = h.session();
    h.ok(c1, create("/p", b""));
    h.ok(c1, create("/p/n", b""));
    h.ok(c2, get("/p/n", true));
    h.ok(c2, children("/p/n", true));
    h.ok(c2, children("/p", true));
    h.ok(c1, delete("/p/n", -1));
    assert_eq!(
        shape(&h.events(c2)),
        ["notify NodeDeleted /p/n", "notify NodeChildrenChanged /p"]
    );
}

#[test]
fn events_are_delivered_only_to_watchers_that_may_read_the_node() {
    let mut h = H::new();
    let (alice, _) = h.session();
    let (bob, _) = h.session();
    h.send_xid(alice, xid::AUTH, auth("digest", b"alice:secret"));
    assert_eq!(shape(&h.events(alice)), ["reply xid=-4 err=0"]);
    h.ok(alice, create("/pub", b""));

    // Bob watches a node that does not exist yet, the parent's children, and has a
    // persistent watch on the secret path.
    assert_eq!(
        h.call(bob, exists("/pub/s", true)).code(),
        ErrorCode::NoNode
    );
    h.ok(bob, children("/pub", true));
    h.ok(
        bob,
        OpRequest::AddWatch(AddWatchRequest {
            path: "/pub/s2".into(),
            mode: 0,
        }),
    );
    // Alice watches the same paths.
    assert_eq!(
        h.call(alice, exists("/pub/s", true)).code(),
        ErrorCode::NoNode
    );

    let only_alice = vec![digest_acl(perms::ALL, "alice:secret")];
    h.send(alice, create_with("/pub/s", b"", only_alice.clone(), 0));
    assert_eq!(
        shape(&h.events(alice)),
        ["notify NodeCreated /pub/s", "reply xid=3 err=0"]
    );
    // Bob may read /pub (the parent's ACL decides NodeChildrenChanged), not /pub/s.
    assert_eq!(shape(&h.events(bob)), ["notify NodeChildrenChanged /pub"]);
    h.ok(alice, create_with("/pub/s2", b"", only_alice, 0));
    h.ok(alice, set("/pub/s2", b"x", -1));
    assert!(h.events(bob).is_empty(), "no READ on /pub/s2: nothing");
    // Bob cannot read it either.
    assert_eq!(h.call(bob, get("/pub/s", false)).code(), ErrorCode::NoAuth);
}

#[test]
fn persistent_watch_survives_firing() {
    let mut h = H::new();
    let (c, _) = h.session();
    let add = h.ok(
        c,
        OpRequest::AddWatch(AddWatchRequest {
            path: "/pw".into(),
            mode: 0,
        }),
    );
    assert_eq!(
        &add.body[..],
        &[0, 0, 0, 0],
        "addWatch answers ErrorResponse(0)"
    );
    h.send(c, create("/pw", b""));
    h.send(c, set("/pw", b"1", -1));
    h.send(c, create("/pw/c", b""));
    let s = shape(&h.events(c));
    assert_eq!(
        s,
        [
            "notify NodeCreated /pw",
            "reply xid=2 err=0",
            "notify NodeDataChanged /pw",
            "reply xid=3 err=0",
            "notify NodeChildrenChanged /pw",
            "reply xid=4 err=0",
        ]
    );
}
