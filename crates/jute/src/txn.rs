//! Transaction records (`zookeeper.jute`'s `txn` module): what the leader's prep stage turns a
//! write into, what the log stores and what every member applies.

use bytes::{Buf, BufMut, Bytes};

use crate::primitive::{read_buffer_or_empty, read_i32, write_buffer, DecodeError, Field, Record};
use crate::record;
use crate::types::Acl;

record! {
    /// Precedes every txn: who asked, for which client xid, at which zxid and (leader) time.
    pub struct TxnHeader {
        pub client_id: i64,
        pub cxid: i32,
        pub zxid: i64,
        pub time: i64,
        pub txn_type: i32,
    }
}

record! {
    /// create/create2. `parent_cversion` is the parent's stored cversion after the increment.
    pub struct CreateTxn {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub ephemeral: bool,
        pub parent_cversion: i32,
    }
}

record! {
    pub struct CreateContainerTxn {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub parent_cversion: i32,
    }
}

record! {
    pub struct CreateTtlTxn {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub parent_cversion: i32,
        pub ttl: i64,
    }
}

record! {
    /// delete and deleteContainer.
    pub struct DeleteTxn {
        pub path: String,
    }
}

record! {
    /// setData. `version` is the node's NEW version.
    pub struct SetDataTxn {
        pub path: String,
        pub data: Option<Bytes>,
        pub version: i32,
    }
}

record! {
    /// setACL. `version` is the node's NEW aversion.
    pub struct SetAclTxn {
        pub path: String,
        pub acl: Vec<Acl>,
        pub version: i32,
    }
}

record! {
    /// check, only ever as a sub-txn of a multi.
    pub struct CheckVersionTxn {
        pub path: String,
        pub version: i32,
    }
}

record! {
    pub struct CreateSessionTxn {
        pub time_out: i32,
    }
}

record! {
    /// closeSession: the ephemerals the close deletes, listed by the leader at prep time.
    pub struct CloseSessionTxn {
        pub paths_to_delete: Vec<String>,
    }
}

record! {
    /// A failed write: it still takes a zxid and is logged.
    pub struct ErrorTxn {
        pub err: i32,
    }
}

record! {
    /// Optional trailer of a logged txn (digest version 2 + tree digest).
    pub struct TxnDigest {
        pub version: i32,
        pub tree_digest: i64,
    }
}

/// One sub-txn of a multi: its type and its record's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiSubTxn {
    pub txn_type: i32,
    pub data: Bytes,
}

impl Record for MultiSubTxn {
    fn encode<B: BufMut>(&self, dst: &mut B) {
        dst.put_i32(self.txn_type);
        write_buffer(dst, Some(&self.data));
    }
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError> {
        Ok(MultiSubTxn {
            txn_type: read_i32(src)?,
            data: read_buffer_or_empty(src)?,
        })
    }
}

record! {
    pub struct MultiTxn {
        pub txns: Vec<MultiSubTxn>,
    }
}

/// A txn body, typed by its header's `txn_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    Create(CreateTxn),
    Create2(CreateTxn),
    CreateContainer(CreateContainerTxn),
    CreateTtl(CreateTtlTxn),
    Delete(DeleteTxn),
    DeleteContainer(DeleteTxn),
    SetData(SetDataTxn),
    SetAcl(SetAclTxn),
    Check(CheckVersionTxn),
    Multi(Vec<TxnBody>),
    CreateSession(CreateSessionTxn),
    CloseSession(CloseSessionTxn),
    Error(ErrorTxn),
}

impl TxnBody {
    /// The `TxnHeader.type` / multi sub-txn type of this body.
    pub fn txn_type(&self) -> i32 {
        use crate::types::op;
        match self {
            TxnBody::Create(_) => op::CREATE,
            TxnBody::Create2(_) => op::CREATE2,
            TxnBody::CreateContainer(_) => op::CREATE_CONTAINER,
            TxnBody::CreateTtl(_) => op::CREATE_TTL,
            TxnBody::Delete(_) => op::DELETE,
            TxnBody::DeleteContainer(_) => op::DELETE_CONTAINER,
            TxnBody::SetData(_) => op::SET_DATA,
            TxnBody::SetAcl(_) => op::SET_ACL,
            TxnBody::Check(_) => op::CHECK,
            TxnBody::Multi(_) => op::MULTI,
            TxnBody::CreateSession(_) => op::CREATE_SESSION,
            TxnBody::CloseSession(_) => op::CLOSE_SESSION,
            TxnBody::Error(_) => op::ERROR,
        }
    }

    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        match self {
            TxnBody::Create(t) | TxnBody::Create2(t) => t.encode(dst),
            TxnBody::CreateContainer(t) => t.encode(dst),
            TxnBody::CreateTtl(t) => t.encode(dst),
            TxnBody::Delete(t) | TxnBody::DeleteContainer(t) => t.encode(dst),
            TxnBody::SetData(t) => t.encode(dst),
            TxnBody::SetAcl(t) => t.encode(dst),
            TxnBody::Check(t) => t.encode(dst),
            TxnBody::Multi(subs) => {
                let txns: Vec<MultiSubTxn> = subs
                    .iter()
                    .map(|s| {
                        let mut b = bytes::BytesMut::new();
                        s.encode(&mut b);
                        MultiSubTxn {
                            txn_type: s.txn_type(),
                            data: b.freeze(),
                        }
                    })
                    .collect();
                MultiTxn { txns }.encode(dst)
            }
            TxnBody::CreateSession(t) => t.encode(dst),
            TxnBody::CloseSession(t) => t.encode(dst),
            TxnBody::Error(t) => t.encode(dst),
        }
    }

    /// Decodes a body of the given type. Multi sub-txns are decoded recursively (a nested
    /// multi is refused: ZooKeeper never writes one).
    pub fn decode(txn_type: i32, src: &mut Bytes) -> Result<TxnBody, DecodeError> {
        Self::decode_at(txn_type, src, false)
    }

    fn decode_at(txn_type: i32, src: &mut Bytes, nested: bool) -> Result<TxnBody, DecodeError> {
        use crate::types::op;
        Ok(match txn_type {
            op::CREATE => TxnBody::Create(create_txn(src)?),
            op::CREATE2 => TxnBody::Create2(create_txn(src)?),
            op::CREATE_CONTAINER => TxnBody::CreateContainer(Field::get(src)?),
            op::CREATE_TTL => TxnBody::CreateTtl(Field::get(src)?),
            op::DELETE => TxnBody::Delete(Field::get(src)?),
            op::DELETE_CONTAINER => TxnBody::DeleteContainer(Field::get(src)?),
            op::SET_DATA => TxnBody::SetData(Field::get(src)?),
            op::SET_ACL => TxnBody::SetAcl(Field::get(src)?),
            op::CHECK => TxnBody::Check(Field::get(src)?),
            op::MULTI if !nested => {
                let multi = MultiTxn::decode(src)?;
                let mut subs = Vec::with_capacity(multi.txns.len());
                for sub in multi.txns {
                    let mut data = sub.data;
                    subs.push(Self::decode_at(sub.txn_type, &mut data, true)?);
                }
                TxnBody::Multi(subs)
            }
            op::CREATE_SESSION => TxnBody::CreateSession(Field::get(src)?),
            // closeSession may carry no record at all (closeSessionTxn.enabled=false).
            op::CLOSE_SESSION if !src.has_remaining() => {
                TxnBody::CloseSession(CloseSessionTxn::default())
            }
            op::CLOSE_SESSION => TxnBody::CloseSession(Field::get(src)?),
            op::ERROR => TxnBody::Error(Field::get(src)?),
            other => return Err(DecodeError::UnknownOp(other)),
        })
    }
}

/// CreateTxn, accepting the legacy CreateTxnV0 form (no parentCVersion: -1 = "compute").
fn create_txn(src: &mut Bytes) -> Result<CreateTxn, DecodeError> {
    let path = Field::get(src)?;
    let data = Field::get(src)?;
    let acl = Field::get(src)?;
    let ephemeral = Field::get(src)?;
    let parent_cversion = if src.remaining() >= 4 { read_i32(src)? } else { -1 };
    Ok(CreateTxn {
        path,
        data,
        acl,
        ephemeral,
        parent_cversion,
    })
}

/// A whole transaction: header, body and optional digest, as logged and as proposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub header: TxnHeader,
    pub body: TxnBody,
    pub digest: Option<TxnDigest>,
}

impl Txn {
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        self.header.encode(dst);
        self.body.encode(dst);
        if let Some(d) = &self.digest {
            d.encode(dst);
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut b = bytes::BytesMut::new();
        self.encode(&mut b);
        b.freeze()
    }

    pub fn decode(mut src: Bytes) -> Result<Txn, DecodeError> {
        let header = TxnHeader::decode(&mut src)?;
        let body = TxnBody::decode(header.txn_type, &mut src)?;
        let digest = if src.remaining() >= 12 {
            Some(TxnDigest::decode(&mut src)?)
        } else {
            None
        };
        if src.has_remaining() {
            return Err(DecodeError::TrailingBytes(src.remaining()));
        }
        Ok(Txn {
            header,
            body,
            digest,
        })
    }
}
