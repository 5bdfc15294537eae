//! proptest strategies for every record, for round-trip tests here and in other crates
//! (enable the `proptest` feature to use them outside this crate).
//!
//! Every strategy yields values that encode canonically, i.e. `decode(encode(x)) == x` holds
//! for all of them. The few values that do not survive a round trip are left out on purpose,
//! each for a reason stated at its strategy (null strings, a nested multi, ...).

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use crate::error::ErrorCode;
use crate::proto::*;
use crate::quorum::*;
use crate::txn::*;
use crate::types::*;

/// Builds a strategy for a plain struct from one strategy per field, in field order.
macro_rules! record_strategy {
    ($(#[$m:meta])* $name:ident -> $ty:ident { $($field:ident : $strat:expr),* $(,)? }) => {
        $(#[$m])*
        pub fn $name() -> impl Strategy<Value = $ty> {
            ($($strat,)*).prop_map(|($($field,)*)| $ty { $($field),* })
        }
    };
}

/// Any short string, non-ASCII and non-BMP characters included. Never null: a null ustring
/// decodes as "", so it cannot round-trip as a `String`.
pub fn string() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

/// A znode-like path: never empty (see [`close_session_txn`]).
pub fn path() -> impl Strategy<Value = String> {
    "/[a-z0-9\u{e9}\u{4e2d}]{0,10}"
}

pub fn bytes() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

/// A buffer that may be null (-1), distinct from empty.
pub fn opt_bytes() -> impl Strategy<Value = Option<Bytes>> {
    option::of(bytes())
}

pub fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(string(), 0..4)
}

pub fn paths() -> impl Strategy<Value = Vec<String>> {
    vec(path(), 0..4)
}

pub fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop::sample::select(ErrorCode::ALL.to_vec())
}

record_strategy!(id -> Id { scheme: string(), id: string() });
record_strategy!(acl -> Acl { perms: any::<i32>(), id: id() });

pub fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(acl(), 0..4)
}

record_strategy!(stat -> Stat {
    czxid: any::<i64>(),
    mzxid: any::<i64>(),
    ctime: any::<i64>(),
    mtime: any::<i64>(),
    version: any::<i32>(),
    cversion: any::<i32>(),
    aversion: any::<i32>(),
    ephemeral_owner: any::<i64>(),
    data_length: any::<i32>(),
    num_children: any::<i32>(),
    pzxid: any::<i64>(),
});
record_strategy!(stat_persisted -> StatPersisted {
    czxid: any::<i64>(),
    mzxid: any::<i64>(),
    ctime: any::<i64>(),
    mtime: any::<i64>(),
    version: any::<i32>(),
    cversion: any::<i32>(),
    aversion: any::<i32>(),
    ephemeral_owner: any::<i64>(),
    pzxid: any::<i64>(),
});
record_strategy!(client_info -> ClientInfo { auth_scheme: string(), user: string() });

// ---- client protocol ----

record_strategy!(
    /// With and without the optional readOnly byte.
    connect_request -> ConnectRequest {
        protocol_version: any::<i32>(),
        last_zxid_seen: any::<i64>(),
        time_out: any::<i32>(),
        session_id: any::<i64>(),
        passwd: bytes(),
        read_only: option::of(any::<bool>()),
    }
);
record_strategy!(connect_response -> ConnectResponse {
    protocol_version: any::<i32>(),
    time_out: any::<i32>(),
    session_id: any::<i64>(),
    passwd: bytes(),
    read_only: option::of(any::<bool>()),
});
record_strategy!(request_header -> RequestHeader { xid: any::<i32>(), op_type: any::<i32>() });
record_strategy!(reply_header -> ReplyHeader {
    xid: any::<i32>(),
    zxid: any::<i64>(),
    err: any::<i32>(),
});
record_strategy!(create_request -> CreateRequest {
    path: path(),
    data: opt_bytes(),
    acl: acls(),
    flags: any::<i32>(),
});
record_strategy!(create_ttl_request -> CreateTtlRequest {
    path: path(),
    data: opt_bytes(),
    acl: acls(),
    flags: any::<i32>(),
    ttl: any::<i64>(),
});
record_strategy!(delete_request -> DeleteRequest { path: path(), version: any::<i32>() });
record_strategy!(path_watch_request -> PathWatchRequest { path: path(), watch: any::<bool>() });
record_strategy!(set_data_request -> SetDataRequest {
    path: path(),
    data: opt_bytes(),
    version: any::<i32>(),
});
record_strategy!(path_request -> PathRequest { path: string() });
record_strategy!(set_acl_request -> SetAclRequest {
    path: path(),
    acl: acls(),
    version: any::<i32>(),
});
record_strategy!(check_version_request -> CheckVersionRequest {
    path: path(),
    version: any::<i32>(),
});
record_strategy!(reconfig_request -> ReconfigRequest {
    joining_servers: proptest::option::of(string()),
    leaving_servers: proptest::option::of(string()),
    new_members: proptest::option::of(string()),
    cur_config_id: any::<i64>(),
});
record_strategy!(watches_request -> WatchesRequest { path: path(), watcher_type: any::<i32>() });
record_strategy!(auth_packet -> AuthPacket {
    auth_type: any::<i32>(),
    scheme: string(),
    auth: bytes(),
});
record_strategy!(set_watches -> SetWatches {
    relative_zxid: any::<i64>(),
    data_watches: paths(),
    exist_watches: paths(),
    child_watches: paths(),
});
record_strategy!(set_watches2 -> SetWatches2 {
    relative_zxid: any::<i64>(),
    data_watches: paths(),
    exist_watches: paths(),
    child_watches: paths(),
    persistent_watches: paths(),
    persistent_recursive_watches: paths(),
});
record_strategy!(sasl_request -> SaslRequest { token: bytes() });
record_strategy!(add_watch_request -> AddWatchRequest { path: path(), mode: any::<i32>() });

record_strategy!(create_response -> CreateResponse { path: path() });
record_strategy!(create2_response -> Create2Response { path: path(), stat: stat() });
record_strategy!(stat_response -> StatResponse { stat: stat() });
record_strategy!(get_data_response -> GetDataResponse { data: opt_bytes(), stat: stat() });
record_strategy!(get_acl_response -> GetAclResponse { acl: acls(), stat: stat() });
record_strategy!(get_children_response -> GetChildrenResponse { children: strings() });
record_strategy!(get_children2_response -> GetChildren2Response {
    children: strings(),
    stat: stat(),
});
record_strategy!(path_response -> PathResponse { path: path() });
record_strategy!(error_response -> ErrorResponse { err: any::<i32>() });
record_strategy!(get_ephemerals_response -> GetEphemeralsResponse { ephemerals: paths() });
record_strategy!(get_all_children_number_response -> GetAllChildrenNumberResponse {
    total_number: any::<i32>(),
});
record_strategy!(who_am_i_response -> WhoAmIResponse { client_info: vec(client_info(), 0..4) });
record_strategy!(sasl_response -> SaslResponse { token: bytes() });
record_strategy!(watcher_event -> WatcherEvent {
    event_type: any::<i32>(),
    state: any::<i32>(),
    path: path(),
});
record_strategy!(multi_header -> MultiHeader {
    op_type: any::<i32>(),
    done: any::<bool>(),
    err: any::<i32>(),
});

/// Every op kind a multi or multiRead may carry.
pub fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        (
            prop::sample::select(vec![op::CREATE, op::CREATE2, op::CREATE_CONTAINER]),
            create_request()
        )
            .prop_map(|(op, req)| MultiOp::Create { op, req }),
        create_ttl_request().prop_map(MultiOp::CreateTtl),
        delete_request().prop_map(MultiOp::Delete),
        set_data_request().prop_map(MultiOp::SetData),
        check_version_request().prop_map(MultiOp::Check),
        path_watch_request().prop_map(MultiOp::GetData),
        path_watch_request().prop_map(MultiOp::GetChildren),
    ]
}

pub fn multi_request() -> impl Strategy<Value = MultiRequest> {
    vec(multi_op(), 0..6).prop_map(|ops| MultiRequest { ops })
}

/// Every result kind of a multi or multiRead.
pub fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        path().prop_map(MultiResult::Create),
        (path(), stat()).prop_map(|(p, s)| MultiResult::Create2(p, s)),
        Just(MultiResult::Delete),
        stat().prop_map(MultiResult::SetData),
        Just(MultiResult::Check),
        (opt_bytes(), stat()).prop_map(|(d, s)| MultiResult::GetData(d, s)),
        strings().prop_map(MultiResult::GetChildren),
        error_code().prop_map(MultiResult::Error),
    ]
}

pub fn multi_response() -> impl Strategy<Value = MultiResponse> {
    vec(multi_result(), 0..6).prop_map(|results| MultiResponse { results })
}

/// A request of every opcode [`OpRequest::decode`] knows.
pub fn op_request() -> impl Strategy<Value = OpRequest> {
    prop_oneof![
        create_request().prop_map(OpRequest::Create),
        create_request().prop_map(OpRequest::Create2),
        create_request().prop_map(OpRequest::CreateContainer),
        create_ttl_request().prop_map(OpRequest::CreateTtl),
        delete_request().prop_map(OpRequest::Delete),
        path_watch_request().prop_map(OpRequest::Exists),
        path_watch_request().prop_map(OpRequest::GetData),
        set_data_request().prop_map(OpRequest::SetData),
        path_request().prop_map(OpRequest::GetAcl),
        set_acl_request().prop_map(OpRequest::SetAcl),
        path_watch_request().prop_map(OpRequest::GetChildren),
        path_watch_request().prop_map(OpRequest::GetChildren2),
        path_request().prop_map(OpRequest::Sync),
        Just(OpRequest::Ping),
        check_version_request().prop_map(OpRequest::Check),
        multi_request().prop_map(OpRequest::Multi),
        multi_request().prop_map(OpRequest::MultiRead),
        reconfig_request().prop_map(OpRequest::Reconfig),
        watches_request().prop_map(OpRequest::CheckWatches),
        watches_request().prop_map(OpRequest::RemoveWatches),
        auth_packet().prop_map(OpRequest::Auth),
        set_watches().prop_map(OpRequest::SetWatches),
        set_watches2().prop_map(OpRequest::SetWatches2),
        sasl_request().prop_map(OpRequest::Sasl),
        path_request().prop_map(OpRequest::GetEphemerals),
        path_request().prop_map(OpRequest::GetAllChildrenNumber),
        add_watch_request().prop_map(OpRequest::AddWatch),
        Just(OpRequest::WhoAmI),
        Just(OpRequest::CloseSession),
    ]
}

// ---- transactions ----

record_strategy!(txn_header -> TxnHeader {
    client_id: any::<i64>(),
    cxid: any::<i32>(),
    zxid: any::<i64>(),
    time: any::<i64>(),
    txn_type: any::<i32>(),
});
record_strategy!(create_txn -> CreateTxn {
    path: path(),
    data: opt_bytes(),
    acl: acls(),
    ephemeral: any::<bool>(),
    parent_cversion: any::<i32>(),
});
record_strategy!(create_container_txn -> CreateContainerTxn {
    path: path(),
    data: opt_bytes(),
    acl: acls(),
    parent_cversion: any::<i32>(),
});
record_strategy!(create_ttl_txn -> CreateTtlTxn {
    path: path(),
    data: opt_bytes(),
    acl: acls(),
    parent_cversion: any::<i32>(),
    ttl: any::<i64>(),
});
record_strategy!(delete_txn -> DeleteTxn { path: path() });
record_strategy!(set_data_txn -> SetDataTxn {
    path: path(),
    data: opt_bytes(),
    version: any::<i32>(),
});
record_strategy!(set_acl_txn -> SetAclTxn { path: path(), acl: acls(), version: any::<i32>() });
record_strategy!(check_version_txn -> CheckVersionTxn { path: path(), version: any::<i32>() });
record_strategy!(create_session_txn -> CreateSessionTxn { time_out: any::<i32>() });
record_strategy!(
    /// Paths are never empty: a 12-byte record of two empty paths is indistinguishable from a
    /// record-less closeSession followed by a digest, and decodes as the latter.
    close_session_txn -> CloseSessionTxn { paths_to_delete: paths() }
);
record_strategy!(error_txn -> ErrorTxn { err: any::<i32>() });
record_strategy!(txn_digest -> TxnDigest { version: any::<i32>(), tree_digest: any::<i64>() });
record_strategy!(multi_sub_txn -> MultiSubTxn { txn_type: any::<i32>(), data: bytes() });
record_strategy!(multi_txn -> MultiTxn { txns: vec(multi_sub_txn(), 0..4) });

/// Every txn body except multi.
pub fn leaf_txn_body() -> impl Strategy<Value = TxnBody> {
    prop_oneof![
        create_txn().prop_map(TxnBody::Create),
        create_txn().prop_map(TxnBody::Create2),
        create_container_txn().prop_map(TxnBody::CreateContainer),
        create_ttl_txn().prop_map(TxnBody::CreateTtl),
        delete_txn().prop_map(TxnBody::Delete),
        delete_txn().prop_map(TxnBody::DeleteContainer),
        set_data_txn().prop_map(TxnBody::SetData),
        set_acl_txn().prop_map(TxnBody::SetAcl),
        check_version_txn().prop_map(TxnBody::Check),
        create_session_txn().prop_map(TxnBody::CreateSession),
        close_session_txn().prop_map(TxnBody::CloseSession),
        error_txn().prop_map(TxnBody::Error),
    ]
}

/// Every txn body; a multi holds leaf bodies only (a nested multi is refused on decode, and
/// ZooKeeper never writes one).
pub fn txn_body() -> impl Strategy<Value = TxnBody> {
    prop_oneof![
        4 => leaf_txn_body(),
        1 => vec(leaf_txn_body(), 0..5).prop_map(TxnBody::Multi),
    ]
}

/// A whole txn whose header type matches its body, with or without a digest.
pub fn txn() -> impl Strategy<Value = Txn> {
    (txn_header(), txn_body(), option::of(txn_digest())).prop_map(|(mut header, body, digest)| {
        header.txn_type = body.txn_type();
        Txn {
            header,
            body,
            digest,
        }
    })
}

// ---- quorum and election ports ----

record_strategy!(quorum_packet -> QuorumPacket {
    packet_type: any::<i32>(),
    zxid: any::<i64>(),
    data: opt_bytes(),
    authinfo: vec(id(), 0..3),
});

/// The 8-, 12- and 20-byte forms.
pub fn learner_info() -> impl Strategy<Value = LearnerInfo> {
    (any::<i64>(), 0..3u8, any::<i32>(), any::<i64>()).prop_map(|(server_id, form, pv, cv)| {
        LearnerInfo {
            server_id,
            protocol_version: (form >= 1).then_some(pv),
            config_version: (form >= 2).then_some(cv),
        }
    })
}

record_strategy!(quorum_request -> QuorumRequest {
    session_id: any::<i64>(),
    cxid: any::<i32>(),
    op_type: any::<i32>(),
    body: bytes(),
});
record_strategy!(session_touch -> SessionTouch { session_id: any::<i64>(), timeout: any::<i32>() });
record_strategy!(revalidate_reply -> RevalidateReply {
    session_id: any::<i64>(),
    valid: any::<bool>(),
});

/// Full-form notifications: version >= 2 with any config, or an older version with none
/// (receivers only read a config when version > 1).
pub fn notification() -> impl Strategy<Value = Notification> {
    (
        0..4i32,
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        prop_oneof![Just(0), Just(1), 2..i32::MAX],
        bytes(),
    )
        .prop_map(
            |(state, leader, zxid, election_epoch, peer_epoch, version, config)| Notification {
                state,
                leader,
                zxid,
                election_epoch,
                peer_epoch,
                version,
                config: if version > 1 { config } else { Bytes::new() },
            },
        )
}

/// Legacy (sid >= 0 only) and versioned handshakes with 1..=2048-byte addresses.
pub fn initial_message() -> impl Strategy<Value = InitialMessage> {
    prop_oneof![
        (0..=i64::MAX).prop_map(|sid| InitialMessage::Legacy { sid }),
        (
            prop::sample::select(vec![ELECTION_PROTOCOL_V1, ELECTION_PROTOCOL_V2]),
            any::<i64>(),
            "[a-z0-9.:|\u{e9}]{1,40}",
        )
            .prop_map(|(protocol_version, sid, addr)| InitialMessage::Versioned {
                protocol_version,
                sid,
                addr,
            }),
    ]
}
