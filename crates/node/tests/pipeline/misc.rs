//! The container reaper and TTL nodes (driven by `tick`), and the small ops: getEphemerals,
//! getAllChildrenNumber, whoAmI, auth, setWatches.

use jute::proto::{
    Create2Response, GetAllChildrenNumberResponse, GetDataResponse, GetEphemeralsResponse,
    OpRequest, SetWatches, WhoAmIResponse,
};
use jute::types::{perms, xid};
use jute::ErrorCode;

use crate::harness::*;

fn reaper_opts() -> Opts {
    Opts {
        extended_types: true,
        container_check_interval_ms: 1_000,
        ..Opts::default()
    }
}

#[test]
fn emptied_container_is_reaped_and_watchers_hear_it() {
    let mut h = H::with(reaper_opts());
    let (c, _) = h.session_with_timeout(40_000);
    let r = h.ok(c, create_container("/c"));
    let made = r.body::<Create2Response>();
    assert_eq!((made.path.as_str(), made.stat.ephemeral_owner), ("/c", 0));
    h.ok(c, create_container("/never-used"));
    h.ok(c, create("/c/x", b""));
    h.tick(1_000);
    assert!(h.exists_in_tree("/c"), "a container with a child stays");
    h.ok(c, delete("/c/x", -1));
    h.ok(c, exists("/c", true));
    h.tick(1_000);
    assert!(!h.exists_in_tree("/c"), "the emptied container goes");
    assert!(
        h.exists_in_tree("/never-used"),
        "a never-used container stays"
    );
    assert_eq!(shape(&h.events(c)), ["notify NodeDeleted /c"]);
}

#[test]
fn container_that_gains_a_child_meanwhile_survives() {
    let mut h = H::with(reaper_opts());
    let (c, _) = h.session_with_timeout(40_000);
    h.ok(c, create_container("/c"));
    h.ok(c, create("/c/x", b""));
    h.ok(c, delete("/c/x", -1));
    // A child is on its way (proposed, not durable) when the reaper looks.
    h.hold();
    h.send(c, create("/c/y", b""));
    let before = h.core.zab().last_proposed();
    h.tick(1_000);
    assert_eq!(
        h.core.zab().last_proposed(),
        before,
        "prep saw the pending child: no delete proposed"
    );
    h.release();
    assert_eq!(replies(&h.events(c))[0].code(), ErrorCode::Ok);
    h.tick(1_000);
    assert!(h.exists_in_tree("/c/y"));
}

#[test]
fn ttl_node_expires_when_empty_and_older_than_its_ttl() {
    let mut h = H::with(reaper_opts());
    let (c, _) = h.session_with_timeout(40_000);
    let r = h.ok(c, create_ttl("/t", 5, 5_000));
    assert_eq!(r.body::<Create2Response>().stat.ephemeral_owner, 0);
    h.ok(c, create_ttl("/t-parent", 5, 5_000));
    h.ok(c, create("/t-parent/kid", b""));
    h.ok(c, create_ttl("/t-long", 5, 1_000_000));
    h.tick(3_000);
    assert!(h.exists_in_tree("/t"));
    // A setData renews the mtime the TTL counts from.
    h.ok(c, set("/t", b"", -1));
    h.tick(3_000);
    assert!(h.exists_in_tree("/t"));
    h.tick(3_000);
    assert!(
        !h.exists_in_tree("/t"),
        "empty and untouched for more than its TTL"
    );
    assert!(
        h.exists_in_tree("/t-parent"),
        "a TTL node with a child stays"
    );
    assert!(h.exists_in_tree("/t-long"));
}

#[test]
fn get_ephemerals_lists_this_sessions_ephemerals_by_prefix() {
    let mut h = H::new();
    let (c1, s1) = h.session();
    let (c2, _) = h.session();
    h.ok(c1, create("/app", b""));
    h.ok(c1, create_eph("/app/a"));
    h.ok(c1, create_eph("/apple"));
    h.ok(c1, create_eph("/b"));
    h.ok(c2, create_eph("/app/other"));
    let get_e = |h: &mut H, c, p: &str| {
        let mut v = h
            .call(c, OpRequest::GetEphemerals(path_req(p)))
            .body::<GetEphemeralsResponse>()
            .ephemerals;
        v.sort();
        v
    };
    assert_eq!(get_e(&mut h, c1, "/"), ["/app/a", "/apple", "/b"]);
    assert_eq!(get_e(&mut h, c1, ""), ["/app/a", "/apple", "/b"]);
    assert_eq!(get_e(&mut h, c1, " / "), ["/app/a", "/apple", "/b"]);
    // A plain string prefix, not a path prefix.
    assert_eq!(get_e(&mut h, c1, "/app"), ["/app/a", "/apple"]);
    assert_eq!(get_e(&mut h, c1, "/app/"), ["/app/a"]);
    assert!(get_e(&mut h, c1, "/zzz").is_empty());
    // Only blank and "/" are trimmed; other prefixes match as sent.
    assert!(get_e(&mut h, c1, " /app").is_empty());
    assert_eq!(get_e(&mut h, c2, "/"), ["/app/other"]);
    assert_eq!(h.core.tree().ephemerals_of(s1.id.0).len(), 3);
}

#[test]
fn get_all_children_number_counts_descendants() {
    let mut h = H::new();
    let (c, _) = h.session();
    let count = |h: &mut H, p: &str| {
        let r = h.call(c, OpRequest::GetAllChildrenNumber(path_req(p)));
        if r.code() == ErrorCode::Ok {
            Ok(r.body::<GetAllChildrenNumberResponse>().total_number)
        } else {
            Err(r.code())
        }
    };
    // /zookeeper, /zookeeper/quota, /zookeeper/config.
    assert_eq!(count(&mut h, "/"), Ok(3));
    h.ok(c, create("/a", b""));
    h.ok(c, create("/a/b", b""));
    h.ok(c, create("/a/b/c", b""));
    h.ok(c, create("/ab", b""));
    assert_eq!(count(&mut h, "/"), Ok(7));
    assert_eq!(count(&mut h, "/a"), Ok(2));
    assert_eq!(count(&mut h, "/a/b/c"), Ok(0));
    assert_eq!(count(&mut h, "/missing"), Err(ErrorCode::NoNode));
    h.ok(
        c,
        create_with("/secret", b"", vec![digest_acl(perms::ALL, "a:b")], 0),
    );
    assert_eq!(count(&mut h, "/secret"), Err(ErrorCode::NoAuth));
}

#[test]
fn who_am_i_and_digest_auth() {
    let mut h = H::new();
    let (c, _) = h.session();
    let who = |h: &mut H| {
        let mut v: Vec<(String, String)> = h
            .call(c, OpRequest::WhoAmI)
            .body::<WhoAmIResponse>()
            .client_info
            .into_iter()
            .map(|i| (i.auth_scheme, i.user))
            .collect();
        v.sort();
        v
    };
    assert_eq!(who(&mut h), [("ip".into(), REMOTE_IP.into())]);
    // Auth is answered at once, even behind an undurable write, with zxid 0.
    h.hold();
    let x = h.send(c, create("/mine", b""));
    h.send_xid(c, xid::AUTH, auth("digest", b"alice:secret"));
    let evs = h.events(c);
    assert_eq!(shape(&evs), ["reply xid=-4 err=0"]);
    assert_eq!(replies(&evs)[0].zxid, 0);
    h.release();
    assert_eq!(replies(&h.events(c))[0].xid, x);
    assert_eq!(
        who(&mut h),
        [
            ("digest".into(), "alice".into()),
            ("ip".into(), REMOTE_IP.into())
        ]
    );
    // The identity opens alice's nodes and auth:… ACLs expand to it.
    h.ok(
        c,
        create_with("/a", b"x", vec![jute::Acl::new(perms::ALL, "auth", "")], 0),
    );
    let (other, _) = h.session();
    assert_eq!(h.call(other, get("/a", false)).code(), ErrorCode::NoAuth);
    let d = h.call(c, get("/a", false)).body::<GetDataResponse>();
    assert_eq!(d.data.as_deref(), Some(&b"x"[..]));
    // Without an authenticated identity, auth:… is InvalidACL.
    let r = h.call(
        other,
        create_with("/b", b"", vec![jute::Acl::new(perms::ALL, "auth", "")], 0),
    );
    assert_eq!(r.code(), ErrorCode::InvalidAcl);
}

#[test]
fn super_digest_bypasses_acls() {
    let mut h = H::with(Opts {
        super_digest: Some(tree::acl::digest_id("super:pw")),
        ..Opts::default()
    });
    let (c, _) = h.session();
    h.ok(
        c,
        create_with("/locked", b"", vec![digest_acl(perms::ALL, "x:y")], 0),
    );
    assert_eq!(h.call(c, get("/locked", false)).code(), ErrorCode::NoAuth);
    h.send_xid(c, xid::AUTH, auth("digest", b"super:pw"));
    assert_eq!(shape(&h.events(c)), ["reply xid=-4 err=0"]);
    assert_eq!(h.call(c, get("/locked", false)).code(), ErrorCode::Ok);
}

#[test]
fn bad_auth_scheme_fails_and_closes() {
    let mut h = H::new();
    let (c, s) = h.session();
    h.send_xid(c, xid::AUTH, auth("nope", b"whatever"));
    let evs = h.events(c);
    assert_eq!(shape(&evs), ["reply xid=-4 err=-115", "closed"]);
    assert_eq!(replies(&evs)[0].zxid, 0);
    assert!(
        h.core.sessions().get(s.id).is_some(),
        "the session lives on"
    );
    assert_eq!(h.core.counters.auth_failed, 1);
}

#[test]
fn set_watches_replays_what_was_missed_and_registers_the_rest() {
    let mut h = H::new();
    let (c1, s) = h.session();
    h.ok(c1, create("/same", b""));
    h.ok(c1, create("/changed", b""));
    h.ok(c1, create("/kids", b""));
    h.ok(c1, create("/gone", b""));
    let seen = h.last_zxid();
    // While the client is away: a change, a child, a delete, a create.
    h.close(c1);
    let (other, _) = h.session();
    h.ok(other, set("/changed", b"1", -1));
    h.ok(other, create("/kids/k", b""));
    h.ok(other, delete("/gone", -1));
    h.ok(other, create("/born", b""));

    let c2 = h.open();
    h.handshake(
        c2,
        jute::proto::ConnectRequest {
            last_zxid_seen: seen,
            ..connect_req(s.id.0, &s.passwd, 10_000)
        },
    );
    assert!(matches!(&h.events(c2)[..], [Ev::Handshake(r)] if r.session_id == s.id.0));
    h.send_xid(
        c2,
        xid::SET_WATCHES,
        OpRequest::SetWatches(SetWatches {
            relative_zxid: seen,
            data_watches: vec!["/same".into(), "/changed".into(), "/gone".into()],
            exist_watches: vec!["/born".into(), "/unborn".into()],
            child_watches: vec!["/kids".into(), "/same".into()],
        }),
    );
    let evs = h.events(c2);
    assert_eq!(
        shape(&evs),
        [
            "notify NodeDataChanged /changed",
            "notify NodeDeleted /gone",
            "notify NodeCreated /born",
            "notify NodeChildrenChanged /kids",
            "reply xid=-8 err=0",
        ]
    );
    assert!(evs
        .iter()
        .all(|e| !matches!(e, Ev::Notify { zxid, .. } if *zxid != -1)));
    // The rest are registered: a change fires them.
    h.ok(other, set("/same", b"2", -1));
    h.ok(other, create("/unborn", b""));
    h.ok(other, create("/same/k", b""));
    assert_eq!(
        shape(&h.events(c2)),
        [
            "notify NodeDataChanged /same",
            "notify NodeCreated /unborn",
            "notify NodeChildrenChanged /same",
        ]
    );
}
