//! Client protocol records (`zookeeper.jute`'s `proto` module): the handshake, the headers, and
//! the request and response of every opcode, plus [`OpRequest`], a request typed by its opcode.

use bytes::{Buf, BufMut, Bytes};

use crate::error::ErrorCode;
use crate::primitive::{
    read_bool, read_buffer_or_empty, read_i32, read_i64, write_bool, write_buffer, DecodeError,
    Field, Record,
};
use crate::record;
use crate::types::{op, Acl, ClientInfo, Stat};

/// The first frame of a connection. `read_only` is `None` when the client omitted the byte
/// (pre-3.4 clients and go-zookeeper do); the response mirrors that.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    pub read_only: Option<bool>,
}

impl Record for ConnectRequest {
    fn encode<B: BufMut>(&self, dst: &mut B) {
        dst.put_i32(self.protocol_version);
        dst.put_i64(self.last_zxid_seen);
        dst.put_i32(self.time_out);
        dst.put_i64(self.session_id);
        write_buffer(dst, Some(&self.passwd));
        if let Some(ro) = self.read_only {
            write_bool(dst, ro);
        }
    }
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError> {
        Ok(ConnectRequest {
            protocol_version: read_i32(src)?,
            last_zxid_seen: read_i64(src)?,
            time_out: read_i32(src)?,
            session_id: read_i64(src)?,
            passwd: read_buffer_or_empty(src)?,
            read_only: if src.has_remaining() {
                Some(read_bool(src)?)
            } else {
                None
            },
        })
    }
}

/// The handshake answer. A timeOut of 0 with session id 0 tells the client its session is
/// expired (or its password wrong).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    pub read_only: Option<bool>,
}

impl Record for ConnectResponse {
    fn encode<B: BufMut>(&self, dst: &mut B) {
        dst.put_i32(self.protocol_version);
        dst.put_i32(self.time_out);
        dst.put_i64(self.session_id);
        write_buffer(dst, Some(&self.passwd));
        if let Some(ro) = self.read_only {
            write_bool(dst, ro);
        }
    }
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError> {
        Ok(ConnectResponse {
            protocol_version: read_i32(src)?,
            time_out: read_i32(src)?,
            session_id: read_i64(src)?,
            passwd: read_buffer_or_empty(src)?,
            read_only: if src.has_remaining() {
                Some(read_bool(src)?)
            } else {
                None
            },
        })
    }
}

record! {
    pub struct RequestHeader {
        pub xid: i32,
        pub op_type: i32,
    }
}

record! {
    /// `zxid` is the server's last applied zxid after the request; `err` an [`ErrorCode`].
    pub struct ReplyHeader {
        pub xid: i32,
        pub zxid: i64,
        pub err: i32,
    }
}

record! {
    /// create, create2 and createContainer. `data` keeps null (-1) apart from empty.
    pub struct CreateRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub flags: i32,
    }
}

record! {
    pub struct CreateTtlRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub flags: i32,
        pub ttl: i64,
    }
}

record! {
    pub struct DeleteRequest {
        pub path: String,
        pub version: i32,
    }
}

record! {
    /// exists, getData, getChildren and getChildren2 all carry (path, watch).
    pub struct PathWatchRequest {
        pub path: String,
        pub watch: bool,
    }
}

record! {
    pub struct SetDataRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub version: i32,
    }
}

record! {
    /// getACL, sync, getAllChildrenNumber and getEphemerals carry just a path.
    pub struct PathRequest {
        pub path: String,
    }
}

record! {
    pub struct SetAclRequest {
        pub path: String,
        pub acl: Vec<Acl>,
        pub version: i32,
    }
}

record! {
    pub struct CheckVersionRequest {
        pub path: String,
        pub version: i32,
    }
}

record! {
    pub struct ReconfigRequest {
        /// Each may be null (a client changing membership sends only some of them).
        pub joining_servers: Option<String>,
        pub leaving_servers: Option<String>,
        pub new_members: Option<String>,
        pub cur_config_id: i64,
    }
}

record! {
    /// checkWatches and removeWatches: a path and a WatcherType.
    pub struct WatchesRequest {
        pub path: String,
        pub watcher_type: i32,
    }
}

record! {
    pub struct AuthPacket {
        pub auth_type: i32,
        pub scheme: String,
        pub auth: Bytes,
    }
}

record! {
    pub struct SetWatches {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
    }
}

record! {
    pub struct SetWatches2 {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
        pub persistent_watches: Vec<String>,
        pub persistent_recursive_watches: Vec<String>,
    }
}

record! {
    pub struct SaslRequest {
        pub token: Bytes,
    }
}

record! {
    pub struct AddWatchRequest {
        pub path: String,
        pub mode: i32,
    }
}

record! {
    pub struct CreateResponse {
        pub path: String,
    }
}

record! {
    /// create2, createContainer and createTTL answer with the path and the new Stat.
    pub struct Create2Response {
        pub path: String,
        pub stat: Stat,
    }
}

record! {
    /// exists, setData and setACL answer with a Stat.
    pub struct StatResponse {
        pub stat: Stat,
    }
}

record! {
    pub struct GetDataResponse {
        pub data: Option<Bytes>,
        pub stat: Stat,
    }
}

record! {
    pub struct GetAclResponse {
        pub acl: Vec<Acl>,
        pub stat: Stat,
    }
}

record! {
    pub struct GetChildrenResponse {
        pub children: Vec<String>,
    }
}

record! {
    pub struct GetChildren2Response {
        pub children: Vec<String>,
        pub stat: Stat,
    }
}

record! {
    /// sync echoes its path.
    pub struct PathResponse {
        pub path: String,
    }
}

record! {
    pub struct ErrorResponse {
        pub err: i32,
    }
}

record! {
    pub struct GetEphemeralsResponse {
        pub ephemerals: Vec<String>,
    }
}

record! {
    pub struct GetAllChildrenNumberResponse {
        pub total_number: i32,
    }
}

record! {
    pub struct WhoAmIResponse {
        pub client_info: Vec<ClientInfo>,
    }
}

record! {
    pub struct SaslResponse {
        pub token: Bytes,
    }
}

record! {
    /// A watch notification (sent with xid -1).
    pub struct WatcherEvent {
        pub event_type: i32,
        pub state: i32,
        pub path: String,
    }
}

/// Watch event types (`Watcher.Event.EventType`).
pub mod event_type {
    pub const NONE: i32 = -1;
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
}

/// Keeper states (`Watcher.Event.KeeperState`); the server only ever sends SyncConnected.
pub mod keeper_state {
    pub const SYNC_CONNECTED: i32 = 3;
}

/// WatcherType of checkWatches/removeWatches.
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
    pub const PERSISTENT: i32 = 4;
    pub const PERSISTENT_RECURSIVE: i32 = 5;
}

/// AddWatch modes.
pub mod add_watch_mode {
    pub const PERSISTENT: i32 = 0;
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}

record! {
    /// Precedes each op and each result inside a multi; `(-1, true, -1)` ends the list.
    pub struct MultiHeader {
        pub op_type: i32,
        pub done: bool,
        pub err: i32,
    }
}

impl MultiHeader {
    pub fn terminator() -> MultiHeader {
        MultiHeader {
            op_type: -1,
            done: true,
            err: -1,
        }
    }
}

/// One op of a multi or multiRead request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// create (1), create2 (15) or createContainer (19); `op` keeps which.
    Create {
        op: i32,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetData(PathWatchRequest),
    GetChildren(PathWatchRequest),
}

impl MultiOp {
    pub fn op_type(&self) -> i32 {
        match self {
            MultiOp::Create { op, .. } => *op,
            MultiOp::CreateTtl(_) => op::CREATE_TTL,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
            MultiOp::GetData(_) => op::GET_DATA,
            MultiOp::GetChildren(_) => op::GET_CHILDREN,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetData(_) | MultiOp::GetChildren(_))
    }

    fn encode_body<B: BufMut>(&self, dst: &mut B) {
        match self {
            MultiOp::Create { req, .. } => req.encode(dst),
            MultiOp::CreateTtl(r) => r.encode(dst),
            MultiOp::Delete(r) => r.encode(dst),
            MultiOp::SetData(r) => r.encode(dst),
            MultiOp::Check(r) => r.encode(dst),
            MultiOp::GetData(r) | MultiOp::GetChildren(r) => r.encode(dst),
        }
    }
}

/// The body of a multi or multiRead request: ops until the terminator header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

impl Record for MultiRequest {
    fn encode<B: BufMut>(&self, dst: &mut B) {
        for o in &self.ops {
            MultiHeader {
                op_type: o.op_type(),
                done: false,
                err: -1,
            }
            .encode(dst);
            o.encode_body(dst);
        }
        MultiHeader::terminator().encode(dst);
    }
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError> {
        let mut ops = Vec::new();
        loop {
            let h = MultiHeader::decode(src)?;
            if h.done {
                return Ok(MultiRequest { ops });
            }
            let o = match h.op_type {
                op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => MultiOp::Create {
                    op: h.op_type,
                    req: Field::get(src)?,
                },
                op::CREATE_TTL => MultiOp::CreateTtl(Field::get(src)?),
                op::DELETE => MultiOp::Delete(Field::get(src)?),
                op::SET_DATA => MultiOp::SetData(Field::get(src)?),
                op::CHECK => MultiOp::Check(Field::get(src)?),
                op::GET_DATA => MultiOp::GetData(Field::get(src)?),
                op::GET_CHILDREN => MultiOp::GetChildren(Field::get(src)?),
                other => return Err(DecodeError::UnknownOp(other)),
            };
            ops.push(o);
        }
    }
}

/// One result of a multi or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    Create(String),
    Create2(String, Stat),
    Delete,
    SetData(Stat),
    Check,
    GetData(Option<Bytes>, Stat),
    GetChildren(Vec<String>),
    Error(ErrorCode),
}

impl MultiResult {
    fn header(&self) -> MultiHeader {
        let (op_type, err) = match self {
            MultiResult::Create(_) => (op::CREATE, 0),
            MultiResult::Create2(..) => (op::CREATE2, 0),
            MultiResult::Delete => (op::DELETE, 0),
            MultiResult::SetData(_) => (op::SET_DATA, 0),
            MultiResult::Check => (op::CHECK, 0),
            MultiResult::GetData(..) => (op::GET_DATA, 0),
            MultiResult::GetChildren(_) => (op::GET_CHILDREN, 0),
            MultiResult::Error(e) => (op::ERROR, e.code()),
        };
        MultiHeader {
            op_type,
            done: false,
            err,
        }
    }
}

/// The body of a multi or multiRead response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    pub results: Vec<MultiResult>,
}

impl Record for MultiResponse {
    fn encode<B: BufMut>(&self, dst: &mut B) {
        for r in &self.results {
            r.header().encode(dst);
            match r {
                MultiResult::Create(path) => path.put(dst),
                MultiResult::Create2(path, stat) => {
                    path.put(dst);
                    stat.encode(dst);
                }
                MultiResult::Delete | MultiResult::Check => {}
                MultiResult::SetData(stat) => stat.encode(dst),
                MultiResult::GetData(data, stat) => {
                    data.put(dst);
                    stat.encode(dst);
                }
                MultiResult::GetChildren(children) => children.put(dst),
                // The code appears twice: in the header and in the ErrorResponse body.
                MultiResult::Error(e) => dst.put_i32(e.code()),
            }
        }
        MultiHeader::terminator().encode(dst);
    }
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        loop {
            let h = MultiHeader::decode(src)?;
            if h.done {
                return Ok(MultiResponse { results });
            }
            let r = match h.op_type {
                op::CREATE => MultiResult::Create(Field::get(src)?),
                op::CREATE2 => MultiResult::Create2(Field::get(src)?, Field::get(src)?),
                op::DELETE => MultiResult::Delete,
                op::SET_DATA => MultiResult::SetData(Field::get(src)?),
                op::CHECK => MultiResult::Check,
                op::GET_DATA => MultiResult::GetData(Field::get(src)?, Field::get(src)?),
                op::GET_CHILDREN => MultiResult::GetChildren(Field::get(src)?),
                op::ERROR => {
                    let code = read_i32(src)?;
                    MultiResult::Error(ErrorCode::from_code(code).ok_or(
                        DecodeError::InvalidValue {
                            field: "multi error code",
                            value: code as i64,
                        },
                    )?)
                }
                other => return Err(DecodeError::UnknownOp(other)),
            };
            results.push(r);
        }
    }
}

/// A client request typed by its opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpRequest {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    Exists(PathWatchRequest),
    GetData(PathWatchRequest),
    SetData(SetDataRequest),
    GetAcl(PathRequest),
    SetAcl(SetAclRequest),
    GetChildren(PathWatchRequest),
    GetChildren2(PathWatchRequest),
    Sync(PathRequest),
    Ping,
    Check(CheckVersionRequest),
    Multi(MultiRequest),
    MultiRead(MultiRequest),
    Reconfig(ReconfigRequest),
    CheckWatches(WatchesRequest),
    RemoveWatches(WatchesRequest),
    Auth(AuthPacket),
    SetWatches(SetWatches),
    SetWatches2(SetWatches2),
    Sasl(SaslRequest),
    GetEphemerals(PathRequest),
    GetAllChildrenNumber(PathRequest),
    AddWatch(AddWatchRequest),
    WhoAmI,
    CloseSession,
}

impl OpRequest {
    /// Decodes the body of a request whose header named `op_type`. Like Java's archive, it
    /// reads what the record needs and ignores any trailing bytes.
    pub fn decode(op_type: i32, src: &mut Bytes) -> Result<OpRequest, DecodeError> {
        Ok(match op_type {
            op::CREATE => OpRequest::Create(Field::get(src)?),
            op::CREATE2 => OpRequest::Create2(Field::get(src)?),
            op::CREATE_CONTAINER => OpRequest::CreateContainer(Field::get(src)?),
            op::CREATE_TTL => OpRequest::CreateTtl(Field::get(src)?),
            op::DELETE => OpRequest::Delete(Field::get(src)?),
            op::EXISTS => OpRequest::Exists(Field::get(src)?),
            op::GET_DATA => OpRequest::GetData(Field::get(src)?),
            op::SET_DATA => OpRequest::SetData(Field::get(src)?),
            op::GET_ACL => OpRequest::GetAcl(Field::get(src)?),
            op::SET_ACL => OpRequest::SetAcl(Field::get(src)?),
            op::GET_CHILDREN => OpRequest::GetChildren(Field::get(src)?),
            op::GET_CHILDREN2 => OpRequest::GetChildren2(Field::get(src)?),
            op::SYNC => OpRequest::Sync(Field::get(src)?),
            op::PING => OpRequest::Ping,
            op::CHECK => OpRequest::Check(Field::get(src)?),
            op::MULTI => OpRequest::Multi(Field::get(src)?),
            op::MULTI_READ => OpRequest::MultiRead(Field::get(src)?),
            op::RECONFIG => OpRequest::Reconfig(Field::get(src)?),
            op::CHECK_WATCHES => OpRequest::CheckWatches(Field::get(src)?),
            op::REMOVE_WATCHES => OpRequest::RemoveWatches(Field::get(src)?),
            op::AUTH => OpRequest::Auth(Field::get(src)?),
            op::SET_WATCHES => OpRequest::SetWatches(Field::get(src)?),
            op::SET_WATCHES2 => OpRequest::SetWatches2(Field::get(src)?),
            op::SASL => OpRequest::Sasl(Field::get(src)?),
            // A null prefix means "all", like "" and "/".
            op::GET_EPHEMERALS => OpRequest::GetEphemerals(PathRequest {
                path: crate::primitive::read_ustring_opt(src)?.unwrap_or_default(),
            }),
            op::GET_ALL_CHILDREN_NUMBER => OpRequest::GetAllChildrenNumber(Field::get(src)?),
            op::ADD_WATCH => OpRequest::AddWatch(Field::get(src)?),
            op::WHO_AM_I => OpRequest::WhoAmI,
            op::CLOSE_SESSION => OpRequest::CloseSession,
            other => return Err(DecodeError::UnknownOp(other)),
        })
    }

    pub fn op_type(&self) -> i32 {
        match self {
            OpRequest::Create(_) => op::CREATE,
            OpRequest::Create2(_) => op::CREATE2,
            OpRequest::CreateContainer(_) => op::CREATE_CONTAINER,
            OpRequest::CreateTtl(_) => op::CREATE_TTL,
            OpRequest::Delete(_) => op::DELETE,
            OpRequest::Exists(_) => op::EXISTS,
            OpRequest::GetData(_) => op::GET_DATA,
            OpRequest::SetData(_) => op::SET_DATA,
            OpRequest::GetAcl(_) => op::GET_ACL,
            OpRequest::SetAcl(_) => op::SET_ACL,
            OpRequest::GetChildren(_) => op::GET_CHILDREN,
            OpRequest::GetChildren2(_) => op::GET_CHILDREN2,
            OpRequest::Sync(_) => op::SYNC,
            OpRequest::Ping => op::PING,
            OpRequest::Check(_) => op::CHECK,
            OpRequest::Multi(_) => op::MULTI,
            OpRequest::MultiRead(_) => op::MULTI_READ,
            OpRequest::Reconfig(_) => op::RECONFIG,
            OpRequest::CheckWatches(_) => op::CHECK_WATCHES,
            OpRequest::RemoveWatches(_) => op::REMOVE_WATCHES,
            OpRequest::Auth(_) => op::AUTH,
            OpRequest::SetWatches(_) => op::SET_WATCHES,
            OpRequest::SetWatches2(_) => op::SET_WATCHES2,
            OpRequest::Sasl(_) => op::SASL,
            OpRequest::GetEphemerals(_) => op::GET_EPHEMERALS,
            OpRequest::GetAllChildrenNumber(_) => op::GET_ALL_CHILDREN_NUMBER,
            OpRequest::AddWatch(_) => op::ADD_WATCH,
            OpRequest::WhoAmI => op::WHO_AM_I,
            OpRequest::CloseSession => op::CLOSE_SESSION,
        }
    }

    /// Encodes the body (what follows the RequestHeader).
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        match self {
            OpRequest::Create(r) | OpRequest::Create2(r) | OpRequest::CreateContainer(r) => {
                r.encode(dst)
            }
            OpRequest::CreateTtl(r) => r.encode(dst),
            OpRequest::Delete(r) => r.encode(dst),
            OpRequest::Exists(r)
            | OpRequest::GetData(r)
            | OpRequest::GetChildren(r)
            | OpRequest::GetChildren2(r) => r.encode(dst),
            OpRequest::SetData(r) => r.encode(dst),
            OpRequest::GetAcl(r)
            | OpRequest::Sync(r)
            | OpRequest::GetEphemerals(r)
            | OpRequest::GetAllChildrenNumber(r) => r.encode(dst),
            OpRequest::SetAcl(r) => r.encode(dst),
            OpRequest::Check(r) => r.encode(dst),
            OpRequest::Multi(r) | OpRequest::MultiRead(r) => r.encode(dst),
            OpRequest::Reconfig(r) => r.encode(dst),
            OpRequest::CheckWatches(r) | OpRequest::RemoveWatches(r) => r.encode(dst),
            OpRequest::Auth(r) => r.encode(dst),
            OpRequest::SetWatches(r) => r.encode(dst),
            OpRequest::SetWatches2(r) => r.encode(dst),
            OpRequest::Sasl(r) => r.encode(dst),
            OpRequest::AddWatch(r) => r.encode(dst),
            OpRequest::Ping | OpRequest::WhoAmI | OpRequest::CloseSession => {}
        }
    }

    /// True for the ops that change the tree and so become transactions.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            OpRequest::Create(_)
                | OpRequest::Create2(_)
                | OpRequest::CreateContainer(_)
                | OpRequest::CreateTtl(_)
                | OpRequest::Delete(_)
                | OpRequest::SetData(_)
                | OpRequest::SetAcl(_)
                | OpRequest::Check(_)
                | OpRequest::Multi(_)
                | OpRequest::Reconfig(_)
                | OpRequest::CloseSession
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{frame_codec, write_frame};
    use crate::password::session_password;
    use crate::testing;
    use crate::types::xid;
    use crate::DEFAULT_MAX_BUFFER;
    use bytes::BytesMut;
    use proptest::prelude::*;
    use tokio_util::codec::Decoder;

    /// Encodes, checks the bytes decode back to the same value with nothing left over.
    fn check_round_trip<R: Record + PartialEq + std::fmt::Debug>(record: &R) {
        let bytes = record.to_bytes();
        assert_eq!(R::from_bytes(bytes).as_ref(), Ok(record));
    }

    #[test]
    fn an_acl_id_may_be_null_and_reads_as_empty_but_a_null_scheme_is_refused() {
        use crate::primitive::{write_ustring, write_ustring_opt};
        use crate::types::{Acl, Id};
        let mut b = BytesMut::new();
        b.put_i32(31);
        write_ustring(&mut b, "auth");
        write_ustring_opt(&mut b, None);
        assert_eq!(Acl::from_bytes(b.freeze()), Ok(Acl::new(31, "auth", "")));
        let mut b = BytesMut::new();
        write_ustring_opt(&mut b, None);
        write_ustring(&mut b, "anyone");
        assert!(Id::from_bytes(b.freeze()).is_err());
    }

    fn check_op_round_trip(request: &OpRequest) {
        let mut buf = BytesMut::new();
        request.encode(&mut buf);
        let mut bytes = buf.freeze();
        let decoded = OpRequest::decode(request.op_type(), &mut bytes);
        assert_eq!(decoded.as_ref(), Ok(request));
        assert!(bytes.is_empty(), "{} bytes left over", bytes.len());
    }

    macro_rules! round_trips {
        ($($name:ident: $strategy:expr;)*) => {
            proptest! {
                $(
                    #[test]
                    fn $name(record in $strategy) {
                        check_round_trip(&record);
                    }
                )*
            }
        };
    }

    round_trips! {
        connect_request: testing::connect_request();
        connect_response: testing::connect_response();
        request_header: testing::request_header();
        reply_header: testing::reply_header();
        create_request: testing::create_request();
        create_ttl_request: testing::create_ttl_request();
        delete_request: testing::delete_request();
        path_watch_request: testing::path_watch_request();
        set_data_request: testing::set_data_request();
        path_request: testing::path_request();
        set_acl_request: testing::set_acl_request();
        check_version_request: testing::check_version_request();
        reconfig_request: testing::reconfig_request();
        watches_request: testing::watches_request();
        auth_packet: testing::auth_packet();
        set_watches: testing::set_watches();
        set_watches2: testing::set_watches2();
        sasl_request: testing::sasl_request();
        add_watch_request: testing::add_watch_request();
        create_response: testing::create_response();
        create2_response: testing::create2_response();
        stat_response: testing::stat_response();
        get_data_response: testing::get_data_response();
        get_acl_response: testing::get_acl_response();
        get_children_response: testing::get_children_response();
        get_children2_response: testing::get_children2_response();
        path_response: testing::path_response();
        error_response: testing::error_response();
        get_ephemerals_response: testing::get_ephemerals_response();
        get_all_children_number_response: testing::get_all_children_number_response();
        who_am_i_response: testing::who_am_i_response();
        sasl_response: testing::sasl_response();
        watcher_event: testing::watcher_event();
        multi_header: testing::multi_header();
        multi_request: testing::multi_request();
        multi_response: testing::multi_response();
        id: testing::id();
        acl: testing::acl();
        stat: testing::stat();
        stat_persisted: testing::stat_persisted();
        client_info: testing::client_info();
    }

    proptest! {
        #[test]
        fn op_request_round_trips(request in testing::op_request()) {
            check_op_round_trip(&request);
        }

        /// The readOnly byte is present exactly when it was encoded.
        #[test]
        fn connect_request_read_only_is_optional(request in testing::connect_request()) {
            let bytes = request.to_bytes();
            let base = 4 + 8 + 4 + 8 + 4 + request.passwd.len();
            prop_assert_eq!(bytes.len(), base + usize::from(request.read_only.is_some()));
        }
    }

    /// Every opcode at least once, whatever proptest happens to pick.
    #[test]
    fn every_opcode_round_trips() {
        let create = CreateRequest {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"x")),
            acl: Acl::open_unsafe(),
            flags: 2,
        };
        let pw = PathWatchRequest {
            path: "/a".into(),
            watch: true,
        };
        let path = PathRequest { path: "/a".into() };
        let all_multi_ops = MultiRequest {
            ops: vec![
                MultiOp::Create {
                    op: op::CREATE,
                    req: create.clone(),
                },
                MultiOp::Create {
                    op: op::CREATE2,
                    req: create.clone(),
                },
                MultiOp::Create {
                    op: op::CREATE_CONTAINER,
                    req: create.clone(),
                },
                MultiOp::CreateTtl(CreateTtlRequest {
                    path: "/t".into(),
                    data: None,
                    acl: vec![],
                    flags: 5,
                    ttl: 1000,
                }),
                MultiOp::Delete(DeleteRequest {
                    path: "/a".into(),
                    version: -1,
                }),
                MultiOp::SetData(SetDataRequest {
                    path: "/a".into(),
                    data: Some(Bytes::new()),
                    version: 3,
                }),
                MultiOp::Check(CheckVersionRequest {
                    path: "/a".into(),
                    version: 7,
                }),
                MultiOp::GetData(pw.clone()),
                MultiOp::GetChildren(pw.clone()),
            ],
        };
        let requests = vec![
            OpRequest::Create(create.clone()),
            OpRequest::Create2(create.clone()),
            OpRequest::CreateContainer(create.clone()),
            OpRequest::CreateTtl(CreateTtlRequest::default()),
            OpRequest::Delete(DeleteRequest::default()),
            OpRequest::Exists(pw.clone()),
            OpRequest::GetData(pw.clone()),
            OpRequest::SetData(SetDataRequest::default()),
            OpRequest::GetAcl(path.clone()),
            OpRequest::SetAcl(SetAclRequest::default()),
            OpRequest::GetChildren(pw.clone()),
            OpRequest::GetChildren2(pw.clone()),
            OpRequest::Sync(path.clone()),
            OpRequest::Ping,
            OpRequest::Check(CheckVersionRequest::default()),
            OpRequest::Multi(all_multi_ops.clone()),
            OpRequest::MultiRead(all_multi_ops),
            OpRequest::Reconfig(ReconfigRequest::default()),
            OpRequest::CheckWatches(WatchesRequest::default()),
            OpRequest::RemoveWatches(WatchesRequest::default()),
            OpRequest::Auth(AuthPacket::default()),
            OpRequest::SetWatches(SetWatches::default()),
            OpRequest::SetWatches2(SetWatches2::default()),
            OpRequest::Sasl(SaslRequest::default()),
            OpRequest::GetEphemerals(path.clone()),
            OpRequest::GetAllChildrenNumber(path),
            OpRequest::AddWatch(AddWatchRequest::default()),
            OpRequest::WhoAmI,
            OpRequest::CloseSession,
        ];
        let mut seen: Vec<i32> = requests.iter().map(OpRequest::op_type).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), requests.len(), "an opcode is listed twice");
        for request in &requests {
            check_op_round_trip(request);
        }
    }

    #[test]
    fn every_multi_result_kind_round_trips() {
        let response = MultiResponse {
            results: vec![
                MultiResult::Create("/a".into()),
                MultiResult::Create2("/b".into(), Stat::default()),
                MultiResult::Delete,
                MultiResult::SetData(Stat::default()),
                MultiResult::Check,
                MultiResult::GetData(None, Stat::default()),
                MultiResult::GetData(Some(Bytes::from_static(b"d")), Stat::default()),
                MultiResult::GetChildren(vec!["c".into()]),
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::BadVersion),
                MultiResult::Error(ErrorCode::RuntimeInconsistency),
            ],
        };
        check_round_trip(&response);
    }

    fn hex(s: &str) -> Bytes {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let pairs = digits.chunks_exact(2);
        assert!(pairs.remainder().is_empty(), "odd hex: {s}");
        pairs
            .map(|pair| {
                let text = std::str::from_utf8(pair).expect("ascii");
                u8::from_str_radix(text, 16).expect("hex digit")
            })
            .collect::<Vec<u8>>()
            .into()
    }

    /// Splits one whole frame with the real codec; nothing may be left over.
    fn one_frame(frame: &Bytes) -> Bytes {
        let mut buf = BytesMut::from(&frame[..]);
        let payload = frame_codec(DEFAULT_MAX_BUFFER)
            .decode(&mut buf)
            .expect("valid frame")
            .expect("complete frame");
        assert!(buf.is_empty());
        payload.freeze()
    }

    fn framed(body: impl FnOnce(&mut BytesMut)) -> Bytes {
        let mut buf = BytesMut::new();
        write_frame(&mut buf, body);
        buf.freeze()
    }

    /// A request frame: decode header + body, re-encode, compare bytes.
    fn check_request_frame(frame: &str, expect_header: RequestHeader, expect: OpRequest) {
        let frame = hex(frame);
        let mut payload = one_frame(&frame);
        let header = RequestHeader::decode(&mut payload).expect("header");
        assert_eq!(header, expect_header);
        let request = OpRequest::decode(header.op_type, &mut payload).expect("body");
        assert!(payload.is_empty());
        assert_eq!(request, expect);
        let again = framed(|b| {
            header.encode(b);
            request.encode(b);
        });
        assert_eq!(again, frame);
    }

    #[test]
    fn golden_ping_request() {
        check_request_frame(
            "00000008 fffffffe 0000000b",
            RequestHeader {
                xid: xid::PING,
                op_type: op::PING,
            },
            OpRequest::Ping,
        );
    }

    #[test]
    fn golden_get_data_request() {
        check_request_frame(
            "00000010 00000002 00000004 00000003 2f6278 01",
            RequestHeader {
                xid: 2,
                op_type: op::GET_DATA,
            },
            OpRequest::GetData(PathWatchRequest {
                path: "/bx".into(),
                watch: true,
            }),
        );
    }

    #[test]
    fn golden_ping_reply() {
        let frame = hex("00000010 fffffffe 000000000000008b 00000000");
        let header = ReplyHeader::from_bytes(one_frame(&frame)).expect("reply header");
        assert_eq!(
            header,
            ReplyHeader {
                xid: xid::PING,
                zxid: 0x8b,
                err: 0,
            }
        );
        assert_eq!(framed(|b| header.encode(b)), frame);
    }

    #[test]
    fn golden_get_data_reply_with_empty_data() {
        let stat = Stat {
            czxid: 0x8a,
            mzxid: 0x8a,
            ctime: 1_700_000_000_000,
            mtime: 1_700_000_000_000,
            ..Stat::default()
        };
        let frame = framed(|b| {
            ReplyHeader {
                xid: 2,
                zxid: 0x8b,
                err: 0,
            }
            .encode(b);
            GetDataResponse {
                data: Some(Bytes::new()),
                stat: stat.clone(),
            }
            .encode(b);
        });
        // 16-byte header + 4-byte empty data + 68-byte Stat.
        assert_eq!(frame.len(), 4 + 0x58);
        assert_eq!(
            frame[..24],
            hex("00000058 00000002 000000000000008b 00000000 00000000")[..]
        );
        let mut payload = one_frame(&frame);
        ReplyHeader::decode(&mut payload).expect("header");
        let body = GetDataResponse::from_bytes(payload).expect("body");
        assert_eq!(body.data, Some(Bytes::new()));
        assert_eq!(body.stat, stat);
    }

    #[test]
    fn golden_notification() {
        let frame =
            hex("0000001f ffffffff ffffffffffffffff 00000000 00000003 00000003 00000003 2f6278");
        let mut payload = one_frame(&frame);
        let header = ReplyHeader::decode(&mut payload).expect("header");
        assert_eq!(
            header,
            ReplyHeader {
                xid: xid::NOTIFICATION,
                zxid: -1,
                err: 0,
            }
        );
        let event = WatcherEvent::from_bytes(payload).expect("event");
        assert_eq!(
            event,
            WatcherEvent {
                event_type: event_type::NODE_DATA_CHANGED,
                state: keeper_state::SYNC_CONNECTED,
                path: "/bx".into(),
            }
        );
        let again = framed(|b| {
            header.encode(b);
            event.encode(b);
        });
        assert_eq!(again, frame);
    }

    #[test]
    fn golden_multi_terminator() {
        let terminator = hex("ffffffff 01 ffffffff");
        assert_eq!(MultiHeader::terminator().to_bytes(), terminator);
        assert_eq!(MultiRequest::default().to_bytes(), terminator);
        assert_eq!(MultiResponse::default().to_bytes(), terminator);
        assert_eq!(
            MultiRequest::from_bytes(terminator.clone()),
            Ok(MultiRequest::default())
        );
        assert_eq!(
            MultiResponse::from_bytes(terminator),
            Ok(MultiResponse::default())
        );
    }

    /// The failed-multi reply of zk-protocol §3.4: error 0, the real code, then -2s.
    #[test]
    fn golden_failed_multi_results() {
        let body = hex("ffffffff 00 00000000 00000000
             ffffffff 00 ffffff99 ffffff99
             ffffffff 00 fffffffe fffffffe
             ffffffff 01 ffffffff");
        let response = MultiResponse::from_bytes(body.clone()).expect("multi response");
        assert_eq!(
            response.results,
            vec![
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::BadVersion),
                MultiResult::Error(ErrorCode::RuntimeInconsistency),
            ]
        );
        assert_eq!(response.to_bytes(), body);
    }

    #[test]
    fn golden_add_watch_success_body() {
        let body = hex("00000000");
        let response = ErrorResponse::from_bytes(body.clone()).expect("body");
        assert_eq!(response, ErrorResponse { err: 0 });
        assert_eq!(response.to_bytes(), body);
    }

    #[test]
    fn golden_add_watch_request_body() {
        let body = hex("00000003 2f6278 00000001");
        let request = OpRequest::decode(op::ADD_WATCH, &mut body.clone()).expect("addWatch");
        assert_eq!(
            request,
            OpRequest::AddWatch(AddWatchRequest {
                path: "/bx".into(),
                mode: add_watch_mode::PERSISTENT_RECURSIVE,
            })
        );
        let mut again = BytesMut::new();
        request.encode(&mut again);
        assert_eq!(again.freeze(), body);
    }

    #[test]
    fn golden_connect_response_valid_session() {
        let body =
            hex("00000000 00000fa0 01000004e6770000 00000010 1b72bea30c09143af16db921359e88e2 00");
        assert_eq!(body.len(), 37);
        let response = ConnectResponse::from_bytes(body.clone()).expect("response");
        assert_eq!(
            response,
            ConnectResponse {
                protocol_version: 0,
                time_out: 4000,
                session_id: 0x0100_0004_e677_0000,
                passwd: Bytes::copy_from_slice(&session_password(0x0100_0004_e677_0000)),
                read_only: Some(false),
            }
        );
        assert_eq!(response.to_bytes(), body);
        // An old client (no readOnly byte in its request) gets the same body minus the byte.
        let old = ConnectResponse {
            read_only: None,
            ..response
        };
        assert_eq!(old.to_bytes(), body.slice(..36));
        assert_eq!(ConnectResponse::from_bytes(body.slice(..36)), Ok(old));
    }

    #[test]
    fn golden_connect_response_invalid_session() {
        let body =
            hex("00000000 00000000 0000000000000000 00000010 00000000000000000000000000000000 00");
        let response = ConnectResponse::from_bytes(body.clone()).expect("response");
        assert_eq!(
            response,
            ConnectResponse {
                passwd: Bytes::from_static(&[0; 16]),
                read_only: Some(false),
                ..ConnectResponse::default()
            }
        );
        assert_eq!(response.to_bytes(), body);
    }

    #[test]
    fn golden_connect_request_with_and_without_read_only() {
        // A Java client's first frame for a new session: 30 s timeout, 16 zero password bytes.
        let with = hex(
            "00000000 0000000000000000 00007530 0000000000000000 00000010
             00000000000000000000000000000000 00",
        );
        let request = ConnectRequest::from_bytes(with.clone()).expect("request");
        assert_eq!(request.time_out, 30_000);
        assert_eq!(request.read_only, Some(false));
        assert_eq!(request.to_bytes(), with);

        let without = with.slice(..with.len() - 1);
        let old = ConnectRequest::from_bytes(without.clone()).expect("old request");
        assert_eq!(old.read_only, None);
        assert_eq!(old.to_bytes(), without);
    }

    #[test]
    fn multi_refuses_unknown_op_and_truncation() {
        // A getData-typed header followed by nothing: the record is missing.
        let truncated = hex("00000004 00 ffffffff");
        assert!(matches!(
            MultiRequest::from_bytes(truncated),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
        let unknown = hex("0000000b 00 ffffffff ffffffff 01 ffffffff");
        assert_eq!(
            MultiRequest::from_bytes(unknown),
            Err(DecodeError::UnknownOp(11))
        );
        let bad_code = hex("ffffffff 00 00000001 00000001 ffffffff 01 ffffffff");
        assert!(matches!(
            MultiResponse::from_bytes(bad_code),
            Err(DecodeError::InvalidValue { .. })
        ));
    }

    #[test]
    fn unknown_opcode_is_an_error() {
        for op_type in [0, 10, op::DELETE_CONTAINER, op::CREATE_SESSION, 999] {
            assert_eq!(
                OpRequest::decode(op_type, &mut Bytes::new()),
                Err(DecodeError::UnknownOp(op_type))
            );
        }
    }
}
