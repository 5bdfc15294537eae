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

    /// Decodes a top-level body of the given type; `src` may go on with a [`TxnDigest`],
    /// which is left unread. Multi sub-txns are decoded recursively (a nested multi is
    /// refused: ZooKeeper never writes one).
    ///
    /// Two records have optional parts that are told apart by what remains after them, so
    /// a top-level body must be followed by nothing or by exactly one 12-byte digest:
    /// - create: CreateTxnV0 (no parentCVersion) leaves 0 or 12 bytes; CreateTxn leaves 4 or 16.
    /// - closeSession: no record at all (closeSessionTxn.enabled=false) leaves 0 bytes, or
    ///   exactly a digest (12 bytes starting with digest version 2).
    pub fn decode(txn_type: i32, src: &mut Bytes) -> Result<TxnBody, DecodeError> {
        Self::decode_at(txn_type, src, false)
    }

    /// `nested`: a multi sub-txn, whose record has its own buffer and never a digest.
    fn decode_at(txn_type: i32, src: &mut Bytes, nested: bool) -> Result<TxnBody, DecodeError> {
        use crate::types::op;
        Ok(match txn_type {
            op::CREATE => TxnBody::Create(create_txn(src, !nested)?),
            op::CREATE2 => TxnBody::Create2(create_txn(src, !nested)?),
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
            // closeSession may carry no record at all (closeSessionTxn.enabled=false), in
            // which case only a digest (or nothing) can follow the header.
            op::CLOSE_SESSION if !src.has_remaining() || (!nested && is_lone_digest(src)) => {
                TxnBody::CloseSession(CloseSessionTxn::default())
            }
            op::CLOSE_SESSION => TxnBody::CloseSession(Field::get(src)?),
            op::ERROR => TxnBody::Error(Field::get(src)?),
            other => return Err(DecodeError::UnknownOp(other)),
        })
    }
}

/// The length of a [`TxnDigest`] on the wire (int version + long tree digest).
pub const TXN_DIGEST_LEN: usize = 12;

/// The digest version ZooKeeper writes (and the only one a closeSession heuristic trusts).
pub const TXN_DIGEST_VERSION: i32 = 2;

/// True when `src` is exactly one TxnDigest. A real CloseSessionTxn of 12 bytes starts with a
/// count of 1 ("/abc"-long path); one starting with 2 would be two empty paths, which no
/// server writes, so the digest reading wins.
fn is_lone_digest(src: &Bytes) -> bool {
    src.remaining() == TXN_DIGEST_LEN && src[..4] == TXN_DIGEST_VERSION.to_be_bytes()
}

/// CreateTxn, accepting the legacy CreateTxnV0 form (no parentCVersion: -1 = "compute").
/// At top level (`digest_may_follow`) a V0 record leaves 0 or 12 (digest) bytes behind, a
/// current one 4 or 16; inside a multi the record ends its buffer, so 4 or more is current.
fn create_txn(src: &mut Bytes, digest_may_follow: bool) -> Result<CreateTxn, DecodeError> {
    let path = Field::get(src)?;
    let data = Field::get(src)?;
    let acl = Field::get(src)?;
    let ephemeral = Field::get(src)?;
    let v0 = match src.remaining() {
        0 => true,
        TXN_DIGEST_LEN => digest_may_follow,
        _ => false,
    };
    let parent_cversion = if v0 { -1 } else { read_i32(src)? };
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

    /// Decodes a whole txn (a log record's payload or a PROPOSAL's data). What follows the
    /// body must be nothing (no digest: error txns, or digests disabled) or exactly one
    /// 12-byte [`TxnDigest`]; anything else is `TrailingBytes`.
    pub fn decode(mut src: Bytes) -> Result<Txn, DecodeError> {
        let header = TxnHeader::decode(&mut src)?;
        let body = TxnBody::decode(header.txn_type, &mut src)?;
        let digest = match src.remaining() {
            0 => None,
            TXN_DIGEST_LEN => Some(TxnDigest::decode(&mut src)?),
            n => return Err(DecodeError::TrailingBytes(n)),
        };
        Ok(Txn {
            header,
            body,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use crate::types::op;
    use proptest::prelude::*;

    fn header(txn_type: i32) -> TxnHeader {
        TxnHeader {
            client_id: 0x0100_0000_0000_0001,
            cxid: 7,
            zxid: 0x1_0000_0005,
            time: 1_700_000_000_000,
            txn_type,
        }
    }

    fn digest() -> TxnDigest {
        TxnDigest {
            version: TXN_DIGEST_VERSION,
            tree_digest: 0x1234_5678_9abc,
        }
    }

    fn bytes_of(parts: &[&dyn Fn(&mut bytes::BytesMut)]) -> Bytes {
        let mut b = bytes::BytesMut::new();
        for part in parts {
            part(&mut b);
        }
        b.freeze()
    }

    proptest! {
        #[test]
        fn txn_round_trips(txn in testing::txn()) {
            prop_assert_eq!(Txn::decode(txn.to_bytes()), Ok(txn));
        }

        #[test]
        fn txn_body_round_trips(body in testing::txn_body()) {
            let mut b = bytes::BytesMut::new();
            body.encode(&mut b);
            let mut src = b.freeze();
            prop_assert_eq!(TxnBody::decode(body.txn_type(), &mut src), Ok(body));
            prop_assert!(src.is_empty());
        }

        #[test]
        fn txn_header_round_trips(h in testing::txn_header()) {
            prop_assert_eq!(TxnHeader::from_bytes(h.to_bytes()), Ok(h));
        }

        #[test]
        fn txn_digest_round_trips(d in testing::txn_digest()) {
            let bytes = d.to_bytes();
            prop_assert_eq!(bytes.len(), TXN_DIGEST_LEN);
            prop_assert_eq!(TxnDigest::from_bytes(bytes), Ok(d));
        }

        #[test]
        fn multi_txn_record_round_trips(m in testing::multi_txn()) {
            prop_assert_eq!(MultiTxn::from_bytes(m.to_bytes()), Ok(m));
        }

        /// A body followed by anything but nothing or exactly one digest is refused. (A
        /// create followed by 8 stray bytes reads as CreateTxnV0 + digest: the forms are told
        /// apart only by length, so that one case is left out.)
        #[test]
        fn odd_trailers_are_refused(txn in testing::txn(), extra in 1usize..40) {
            prop_assume!(extra != TXN_DIGEST_LEN);
            let is_create = matches!(txn.body, TxnBody::Create(_) | TxnBody::Create2(_));
            prop_assume!(!(is_create && extra == TXN_DIGEST_LEN - 4));
            let mut b = bytes::BytesMut::from(&txn.to_bytes()[..]);
            if txn.digest.is_some() {
                b.truncate(b.len() - TXN_DIGEST_LEN);
            }
            b.extend_from_slice(&vec![0x5a; extra]);
            prop_assert!(Txn::decode(b.freeze()).is_err());
        }
    }

    #[test]
    fn every_body_kind_with_and_without_digest() {
        let create = CreateTxn {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"x")),
            acl: Acl::open_unsafe(),
            ephemeral: true,
            parent_cversion: 3,
        };
        let leaves = vec![
            TxnBody::Create(create.clone()),
            TxnBody::Create2(create),
            TxnBody::CreateContainer(CreateContainerTxn::default()),
            TxnBody::CreateTtl(CreateTtlTxn::default()),
            TxnBody::Delete(DeleteTxn { path: "/a".into() }),
            TxnBody::DeleteContainer(DeleteTxn { path: "/c".into() }),
            TxnBody::SetData(SetDataTxn::default()),
            TxnBody::SetAcl(SetAclTxn::default()),
            TxnBody::Check(CheckVersionTxn::default()),
            TxnBody::CreateSession(CreateSessionTxn { time_out: 30_000 }),
            TxnBody::CloseSession(CloseSessionTxn::default()),
            TxnBody::CloseSession(CloseSessionTxn {
                paths_to_delete: vec!["/abc".into()],
            }),
            TxnBody::Error(ErrorTxn { err: -101 }),
        ];
        let mut bodies = leaves.clone();
        bodies.push(TxnBody::Multi(leaves));
        bodies.push(TxnBody::Multi(vec![]));
        for body in bodies {
            for digest in [None, Some(digest())] {
                let txn = Txn {
                    header: header(body.txn_type()),
                    body: body.clone(),
                    digest,
                };
                assert_eq!(Txn::decode(txn.to_bytes()), Ok(txn));
            }
        }
    }

    /// An error txn is logged without a digest: header + 4 bytes, nothing after.
    #[test]
    fn error_txn_without_digest() {
        let raw = bytes_of(&[&|b| header(op::ERROR).encode(b), &|b| {
            ErrorTxn { err: -110 }.encode(b)
        }]);
        assert_eq!(raw.len(), 32 + 4);
        let txn = Txn::decode(raw).expect("error txn");
        assert_eq!(txn.body, TxnBody::Error(ErrorTxn { err: -110 }));
        assert_eq!(txn.digest, None);
    }

    /// CreateTxnV0 (no parentCVersion) with and without a digest after it; and a current
    /// CreateTxn with and without one.
    #[test]
    fn create_txn_forms_are_told_apart_by_what_follows() {
        let v0 = |b: &mut bytes::BytesMut| {
            "/a".to_string().put(b);
            Some(Bytes::from_static(b"d")).put(b);
            Acl::open_unsafe().put(b);
            true.put(b);
        };
        for with_digest in [false, true] {
            let raw = bytes_of(&[&|b| header(op::CREATE).encode(b), &v0, &|b| {
                if with_digest {
                    digest().encode(b)
                }
            }]);
            let txn = Txn::decode(raw).expect("v0 create");
            let TxnBody::Create(create) = &txn.body else {
                panic!("not a create: {:?}", txn.body);
            };
            assert_eq!(create.parent_cversion, -1);
            assert!(create.ephemeral);
            assert_eq!(txn.digest, with_digest.then(digest));

            let raw = bytes_of(&[&|b| header(op::CREATE).encode(b), &v0, &|b| {
                b.put_i32(9);
                if with_digest {
                    digest().encode(b)
                }
            }]);
            let txn = Txn::decode(raw).expect("current create");
            let TxnBody::Create(create) = &txn.body else {
                panic!("not a create: {:?}", txn.body);
            };
            assert_eq!(create.parent_cversion, 9);
            assert_eq!(txn.digest, with_digest.then(digest));
        }
    }

    /// Inside a multi the record ends its own buffer: a V0 create is one with 0 bytes left.
    #[test]
    fn v0_create_inside_multi() {
        let mut sub = bytes::BytesMut::new();
        "/m".to_string().put(&mut sub);
        None::<Bytes>.put(&mut sub);
        Vec::<Acl>::new().put(&mut sub);
        false.put(&mut sub);
        let multi = MultiTxn {
            txns: vec![MultiSubTxn {
                txn_type: op::CREATE,
                data: sub.freeze(),
            }],
        };
        let raw = bytes_of(&[&|b| header(op::MULTI).encode(b), &|b| multi.encode(b)]);
        let txn = Txn::decode(raw).expect("multi");
        assert_eq!(
            txn.body,
            TxnBody::Multi(vec![TxnBody::Create(CreateTxn {
                path: "/m".into(),
                data: None,
                acl: vec![],
                ephemeral: false,
                parent_cversion: -1,
            })])
        );
    }

    /// closeSession with closeSessionTxn.enabled=false: no record, maybe a digest.
    #[test]
    fn close_session_without_record() {
        let bare = header(op::CLOSE_SESSION).to_bytes();
        let txn = Txn::decode(bare).expect("bare close");
        assert_eq!(txn.body, TxnBody::CloseSession(CloseSessionTxn::default()));
        assert_eq!(txn.digest, None);

        let raw = bytes_of(&[&|b| header(op::CLOSE_SESSION).encode(b), &|b| {
            digest().encode(b)
        }]);
        let txn = Txn::decode(raw).expect("close + digest");
        assert_eq!(txn.body, TxnBody::CloseSession(CloseSessionTxn::default()));
        assert_eq!(txn.digest, Some(digest()));

        // A real 12-byte record (one 4-char path) with no digest is still a record.
        let record = CloseSessionTxn {
            paths_to_delete: vec!["/eph".into()],
        };
        let raw = bytes_of(&[&|b| header(op::CLOSE_SESSION).encode(b), &|b| {
            record.encode(b)
        }]);
        assert_eq!(raw.len(), 32 + TXN_DIGEST_LEN);
        let txn = Txn::decode(raw).expect("close record");
        assert_eq!(txn.body, TxnBody::CloseSession(record));
        assert_eq!(txn.digest, None);
    }

    #[test]
    fn nested_multi_is_refused() {
        let inner = MultiTxn { txns: vec![] }.to_bytes();
        let outer = MultiTxn {
            txns: vec![MultiSubTxn {
                txn_type: op::MULTI,
                data: inner,
            }],
        };
        let raw = bytes_of(&[&|b| header(op::MULTI).encode(b), &|b| outer.encode(b)]);
        assert_eq!(Txn::decode(raw), Err(DecodeError::UnknownOp(op::MULTI)));
    }

    #[test]
    fn hostile_multi_count_fails_fast() {
        let raw = bytes_of(&[&|b| header(op::MULTI).encode(b), &|b| b.put_i32(i32::MAX)]);
        assert!(matches!(
            Txn::decode(raw),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }
}
