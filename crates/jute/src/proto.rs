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
        pub joining_servers: String,
        pub leaving_servers: String,
        pub new_members: String,
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
    Create { op: i32, req: CreateRequest },
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
            op::GET_EPHEMERALS => OpRequest::GetEphemerals(Field::get(src)?),
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
            OpRequest::Create(r)
            | OpRequest::Create2(r)
            | OpRequest::CreateContainer(r) => r.encode(dst),
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
