//! Error precedence of zk-protocol.md §5.2 (the first failing check wins), ZooKeeper's
//! failing-multi results, and zxids consumed by failed writes.

use bytes::Bytes;
use jute::proto::{CreateRequest, MultiResponse, MultiResult, OpRequest};
use jute::types::perms;
use jute::{Acl, ErrorCode};

use crate::harness::*;

use ErrorCode::*;

struct Case {
    name: &'static str,
    extended: bool,
    /// Writes that must succeed first (same connection, no identities but ip).
    setup: Vec<OpRequest>,
    req: OpRequest,
    want: ErrorCode,
}

fn case(name: &'static str, setup: Vec<OpRequest>, req: OpRequest, want: ErrorCode) -> Case {
    Case {
        name,
        extended: false,
        setup,
        req,
        want,
    }
}

fn ext(mut c: Case) -> Case {
    c.extended = true;
    c
}

fn create2(path: &str, flags: i32) -> OpRequest {
    OpRequest::Create2(CreateRequest {
        path: path.into(),
        data: Some(Bytes::new()),
        acl: open_acl(),
        flags,
    })
}

fn world(perm_bits: i32) -> Vec<Acl> {
    vec![Acl::new(perm_bits, "world", "anyone")]
}

fn cases() -> Vec<Case> {
    let all_but = |p: i32| world(perms::ALL & !p);
    let bad_acl = vec![Acl::new(perms::ALL, "world", "bob")];
    vec![
        // ---- create ----
        case(
            "create: flags are checked first",
            vec![],
            create_with("noslash", b"", vec![], 7),
            BadArguments,
        ),
        case(
            "create: TTL mode without extended types, before path and ACL",
            vec![],
            create_ttl("noslash", 5, 100),
            Unimplemented,
        ),
        ext(case(
            "create: TTL mode through create2 (no ttl)",
            vec![],
            create2("/t", 5),
            BadArguments,
        )),
        ext(case(
            "createTTL: ttl 0",
            vec![],
            create_ttl("/t", 5, 0),
            BadArguments,
        )),
        ext(case(
            "createTTL: ttl above the 40-bit max",
            vec![],
            create_ttl("/t", 6, tree::znode::TTL_MAX_MS + 1),
            BadArguments,
        )),
        ext(case(
            "createTTL: the max ttl is fine",
            vec![],
            create_ttl("/t", 5, tree::znode::TTL_MAX_MS),
            Ok,
        )),
        ext(case(
            "createTTL: non-TTL mode",
            vec![],
            create_ttl("/t", 0, 100),
            BadArguments,
        )),
        case(
            "create: no slash beats a bad ACL",
            vec![],
            create_with("noslash", b"", bad_acl.clone(), 0),
            BadArguments,
        ),
        case(
            "create: NUL in the path",
            vec![],
            create("/a\0b", b""),
            BadArguments,
        ),
        case(
            "create: invalid ACL beats a missing parent",
            vec![],
            create_with("/missing/x", b"", bad_acl.clone(), 0),
            InvalidAcl,
        ),
        case(
            "create: empty ACL",
            vec![],
            create_with("/x", b"", vec![], 0),
            InvalidAcl,
        ),
        case(
            "create: a missing parent beats a bad name",
            vec![],
            create("/missing/..", b""),
            NoNode,
        ),
        case(
            "create: no CREATE on the parent beats NodeExists",
            vec![
                create("/ro", b""),
                create("/ro/x", b""),
                set_acl("/ro", all_but(perms::CREATE), -1),
            ],
            create("/ro/x", b""),
            NoAuth,
        ),
        case(
            "create: trailing slash",
            vec![create("/a", b"")],
            create("/a/", b""),
            BadArguments,
        ),
        case(
            "create: sequential name on a trailing slash is valid",
            vec![create("/a", b"")],
            create_seq("/a/"),
            Ok,
        ),
        case(
            "create: a '.' segment",
            vec![create("/a", b"")],
            create("/a/.", b""),
            BadArguments,
        ),
        case(
            "create: exists",
            vec![create("/a", b"")],
            create("/a", b""),
            NodeExists,
        ),
        case(
            "create: under an ephemeral",
            vec![create_eph("/e")],
            create("/e/c", b""),
            NoChildrenForEphemerals,
        ),
        // ---- delete ----
        case("delete: /", vec![], delete("/", -1), BadArguments),
        case(
            "delete: /zookeeper",
            vec![],
            delete("/zookeeper", -1),
            BadArguments,
        ),
        case(
            "delete: /zookeeper/quota",
            vec![],
            delete("/zookeeper/quota", -1),
            BadArguments,
        ),
        case(
            "delete: /zookeeper/config",
            vec![],
            delete("/zookeeper/config", -1),
            BadArguments,
        ),
        case("delete: no slash", vec![], delete("x", -1), BadArguments),
        case("delete: NUL", vec![], delete("/a\0", -1), BadArguments),
        case(
            "delete: missing parent",
            vec![],
            delete("/missing/x", -1),
            NoNode,
        ),
        case(
            "delete: no DELETE on the parent beats a missing node",
            vec![
                create("/nd", b""),
                set_acl("/nd", all_but(perms::DELETE), -1),
            ],
            delete("/nd/x", -1),
            NoAuth,
        ),
        case(
            "delete: the node's own ACL does not matter",
            vec![create_with("/own", b"", world(perms::READ), 0)],
            delete("/own", -1),
            Ok,
        ),
        case("delete: missing node", vec![], delete("/x", -1), NoNode),
        case(
            "delete: no path validation, just NoNode",
            vec![create("/a", b"")],
            delete("/a/", -1),
            NoNode,
        ),
        case(
            "delete: BadVersion beats NotEmpty",
            vec![create("/a", b""), create("/a/b", b"")],
            delete("/a", 5),
            BadVersion,
        ),
        case(
            "delete: NotEmpty",
            vec![create("/a", b""), create("/a/b", b"")],
            delete("/a", -1),
            NotEmpty,
        ),
        // ---- setData ----
        case(
            "setData: path validation beats NoNode",
            vec![],
            set("/missing/", b"", -1),
            BadArguments,
        ),
        case("setData: NoNode", vec![], set("/missing", b"", -1), NoNode),
        case(
            "setData: no WRITE beats BadVersion",
            vec![create_with("/ro", b"", world(perms::READ), 0)],
            set("/ro", b"", 9),
            NoAuth,
        ),
        case(
            "setData: BadVersion",
            vec![create("/a", b"")],
            set("/a", b"", 9),
            BadVersion,
        ),
        // ---- setACL ----
        case(
            "setACL: path validation beats InvalidACL",
            vec![],
            set_acl("/x/", bad_acl.clone(), -1),
            BadArguments,
        ),
        case(
            "setACL: InvalidACL beats NoNode",
            vec![],
            set_acl("/missing", bad_acl.clone(), -1),
            InvalidAcl,
        ),
        case(
            "setACL: NoNode",
            vec![],
            set_acl("/missing", open_acl(), -1),
            NoNode,
        ),
        case(
            "setACL: no ADMIN beats BadVersion",
            vec![create_with("/na", b"", all_but(perms::ADMIN), 0)],
            set_acl("/na", open_acl(), 9),
            NoAuth,
        ),
        case(
            "setACL: BadVersion (aversion)",
            vec![create("/a", b"")],
            set_acl("/a", open_acl(), 1),
            BadVersion,
        ),
    ]
}

#[test]
fn error_precedence_of_writes() {
    let mut failures = Vec::new();
    for c in cases() {
        let mut h = H::with(Opts {
            extended_types: c.extended,
            ..Opts::default()
        });
        let (conn, _) = h.session();
        for s in &c.setup {
            h.ok(conn, s.clone());
        }
        let before = h.last_zxid();
        let r = h.call(conn, c.req.clone());
        if r.code() != c.want {
            failures.push(format!("{}: got {:?}, want {:?}", c.name, r.code(), c.want));
        }
        // Failed or not, a write takes the next zxid, and the reply carries it.
        if r.zxid != before + 1 || h.last_zxid() != before + 1 {
            failures.push(format!(
                "{}: zxid {:#x} after {before:#x}, reply {:#x}",
                c.name,
                h.last_zxid(),
                r.zxid
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn failing_multi_reports_zero_then_the_code_then_runtime_inconsistency() {
    let mut h = H::new();
    let (c, _) = h.session();
    h.ok(c, create("/c", b""));
    let before = h.last_zxid();
    let r = h.call(
        c,
        multi(vec![
            m_create("/a"),
            m_set("/a", 5),
            m_create("/b"),
            m_delete("/c", -1),
        ]),
    );
    assert_eq!(r.code(), Ok, "the header of a failed multi says 0");
    assert_eq!(r.zxid, before + 1);
    let m = r.body::<MultiResponse>();
    assert_eq!(
        m.results,
        [
            MultiResult::Error(Ok),
            MultiResult::Error(BadVersion),
            MultiResult::Error(RuntimeInconsistency),
            MultiResult::Error(RuntimeInconsistency),
        ]
    );
    assert!(!h.exists_in_tree("/a") && !h.exists_in_tree("/b"));
    assert!(
        h.exists_in_tree("/c"),
        "nothing of a failed multi is applied"
    );
}

#[test]
fn multi_sub_ops_see_each_other() {
    let mut h = H::new();
    let (c, _) = h.session();
    let r = h.call(
        c,
        multi(vec![
            m_create("/a"),
            m_create("/a/b"),
            m_set("/a", 0),
            m_delete("/a/b", 0),
        ]),
    );
    let m = r.body::<MultiResponse>();
    assert_eq!(m.results[0], MultiResult::Create("/a".into()));
    assert_eq!(m.results[1], MultiResult::Create("/a/b".into()));
    assert!(matches!(&m.results[2], MultiResult::SetData(s) if s.version == 1));
    assert_eq!(m.results[3], MultiResult::Delete);
}

#[test]
fn empty_multi_and_read_in_multi_still_take_a_zxid() {
    let mut h = H::new();
    let (c, _) = h.session();
    let before = h.last_zxid();
    let r = h.call(c, multi(vec![]));
    assert_eq!(r.body::<MultiResponse>().results, []);
    assert_eq!(r.zxid, before + 1);
    let r = h.call(
        c,
        multi(vec![
            m_create("/x"),
            jute::proto::MultiOp::GetData(jute::proto::PathWatchRequest {
                path: "/".into(),
                watch: false,
            }),
        ]),
    );
    assert_eq!(r.code(), MarshallingError);
    assert!(r.body.is_empty());
    assert_eq!(r.zxid, before + 2);
    assert!(!h.exists_in_tree("/x"));
}

#[test]
fn every_failed_write_consumes_a_zxid() {
    let mut h = H::new();
    let (c, _) = h.session();
    let start = h.last_zxid();
    let failing = [
        delete("/nope", -1),
        set("/nope", b"", -1),
        create("/nope/x", b""),
        set_acl("/nope", open_acl(), -1),
        OpRequest::Reconfig(jute::proto::ReconfigRequest {
            joining_servers: None,
            leaving_servers: None,
            new_members: None,
            cur_config_id: -1,
        }),
    ];
    h.hold();
    for req in &failing {
        h.send(c, req.clone());
    }
    h.release();
    let r = replies(&h.events(c));
    assert_eq!(r.len(), failing.len());
    for (i, r) in r.iter().enumerate() {
        assert_ne!(r.code(), Ok);
        assert_eq!(r.zxid, start + 1 + i as i64, "reply {i}: {r:?}");
    }
    assert_eq!(r[4].code(), ReconfigDisabled);
    assert_eq!(h.last_zxid(), start + failing.len() as i64);
}

#[test]
fn undecodable_write_is_marshalling_error_with_a_zxid_and_read_without() {
    let mut h = H::new();
    let (c, _) = h.session();
    let before = h.last_zxid();
    h.core
        .request_undecodable(c, 5, jute::types::op::CREATE, h.now);
    h.core
        .request_undecodable(c, 6, jute::types::op::GET_DATA, h.now);
    h.settle();
    let r = replies(&h.events(c));
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].xid, r[0].code(), r[0].zxid),
        (5, MarshallingError, before + 1)
    );
    assert_eq!(
        (r[1].xid, r[1].code(), r[1].zxid),
        (6, MarshallingError, before + 1)
    );
}

#[test]
fn unknown_opcode_is_unimplemented_with_zxid_minus_one_then_close() {
    let mut h = H::new();
    let (c, s) = h.session();
    h.core.request_unknown(c, 9, h.now);
    h.settle();
    let evs = h.events(c);
    assert_eq!(shape(&evs), ["reply xid=9 err=-6", "closed"]);
    assert_eq!(replies(&evs)[0].zxid, -1);
    // The session stays alive.
    assert!(h.core.sessions().get(s.id).is_some());
}

#[test]
fn standalone_check_is_unimplemented_then_close() {
    let mut h = H::new();
    let (c, _) = h.session();
    let x = h.send(
        c,
        OpRequest::Check(jute::proto::CheckVersionRequest {
            path: "/".into(),
            version: -1,
        }),
    );
    assert_eq!(
        shape(&h.events(c)),
        [&format!("reply xid={x} err=-6") as &str, "closed"]
    );
}
