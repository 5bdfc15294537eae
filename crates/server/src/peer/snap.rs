//! The SNAP stream (zk-protocol §9.4): what follows a SNAP packet on the quorum port, raw and
//! unframed.
//!
//! ```text
//! int sessionCount, sessionCount × (long sessionId, int timeout)
//! DataTree                      ACL cache + nodes + "/" terminator (tree::serialize_tree)
//! ustring "BenWasHere"
//! ```
//!
//! No file header, no Adler32 seals, no digest. `Message::Snap { data }` carries exactly these
//! bytes: the leader's driver builds them with [`encode_snap_stream`] on
//! `Output::SendSnapshot`, the learner's reader finds their end on the stream with
//! [`SnapScanner`] (it walks length fields only), and its driver installs them with
//! [`decode_snap_stream`] on `Output::InstallSnapshot`.
//!
//! Invariant: the scanner accepts exactly the byte strings that have this layout (it checks the
//! structure, counts, length limits and the trailer); [`decode_snap_stream`] additionally
//! rebuilds the tree, which checks paths, parents and ACL keys.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use jute::primitive::{read_i32, read_i64, read_ustring, write_ustring, DecodeError};
use jute::SessionId;
use tree::{deserialize_tree, serialize_tree, DataTree, SnapshotError};

/// The ustring that ends a SNAP stream.
pub const SNAP_TRAILER: &str = "BenWasHere";

/// Bytes of a node record after its data: long aclKey + StatPersisted (60).
const NODE_FIXED: usize = 8 + 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapStreamError {
    #[error("SNAP stream: {0}")]
    Decode(#[from] DecodeError),
    #[error("SNAP stream: negative {what} count {count}")]
    NegativeCount { what: &'static str, count: i32 },
    #[error("SNAP stream: more than {max} bytes")]
    TooLarge { max: usize },
    #[error("SNAP stream: a field of {len} bytes exceeds {max}")]
    FieldTooLarge { len: usize, max: usize },
    #[error("SNAP stream: trailer {0:?} is not \"BenWasHere\"")]
    BadTrailer(String),
    #[error("SNAP stream: {0} bytes after the trailer")]
    TrailingBytes(usize),
    #[error("SNAP stream: {0}")]
    Tree(#[from] SnapshotError),
}

/// Appends the SNAP stream for `sessions` and `tree` to `out`.
pub fn encode_snap_stream(sessions: &[(SessionId, i32)], tree: &DataTree, out: &mut BytesMut) {
    out.put_i32(sessions.len() as i32);
    for (id, timeout) in sessions {
        out.put_i64(id.0);
        out.put_i32(*timeout);
    }
    serialize_tree(tree, out);
    write_ustring(out, SNAP_TRAILER);
}

/// What a SNAP stream carries. The tree's `last_processed_zxid` is the caller's to set (the
/// SNAP packet's zxid).
#[derive(Debug)]
pub struct SnapStream {
    pub sessions: Vec<(SessionId, i32)>,
    pub tree: DataTree,
}

/// Reads a whole SNAP stream (exactly: nothing may follow the trailer).
pub fn decode_snap_stream(mut src: Bytes) -> Result<SnapStream, SnapStreamError> {
    let count = read_i32(&mut src)?;
    if count < 0 {
        return Err(SnapStreamError::NegativeCount {
            what: "session",
            count,
        });
    }
    let count = count as usize;
    if src.remaining() / 12 < count {
        return Err(DecodeError::UnexpectedEnd {
            needed: count * 12 - src.remaining(),
        }
        .into());
    }
    let mut sessions = Vec::with_capacity(count);
    for _ in 0..count {
        let id = read_i64(&mut src)?;
        let timeout = read_i32(&mut src)?;
        sessions.push((SessionId(id), timeout));
    }
    let tree = deserialize_tree(&mut src)?;
    let trailer = read_ustring(&mut src)?;
    if trailer != SNAP_TRAILER {
        return Err(SnapStreamError::BadTrailer(trailer));
    }
    if src.has_remaining() {
        return Err(SnapStreamError::TrailingBytes(src.remaining()));
    }
    Ok(SnapStream { sessions, tree })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    SessionCount,
    Sessions(usize),
    AclCount,
    /// ACL cache entries left.
    AclEntry(usize),
    /// ACLs left in the current entry, then entries left.
    Acl(usize, usize),
    Nodes,
    Trailer,
    Done,
}

/// Finds the end of a SNAP stream at the front of a growing buffer, walking only length
/// fields (no allocation, no copy). Resumable: call [`SnapScanner::scan`] again with the same
/// buffer, grown, after `Ok(None)`. Each step consumes one whole item (a session, an ACL
/// entry header, an ACL, a node record, the trailer), so a retry costs one item's fields.
#[derive(Debug, Clone)]
pub struct SnapScanner {
    pos: usize,
    stage: Stage,
    /// Bound on the whole stream.
    max_len: usize,
    /// Bound on one path, data buffer or string.
    max_field: usize,
}

impl SnapScanner {
    pub fn new(max_len: usize, max_field: usize) -> SnapScanner {
        SnapScanner {
            pos: 0,
            stage: Stage::SessionCount,
            max_len,
            max_field,
        }
    }

    /// `Ok(Some(n))`: the stream is the first `n` bytes of `buf`. `Ok(None)`: more bytes
    /// needed. An error: the stream is malformed or over a limit (drop the connection).
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, SnapStreamError> {
        loop {
            if self.stage == Stage::Done {
                return Ok(Some(self.pos));
            }
            let mut c = Cursor {
                buf,
                pos: self.pos,
                max_field: self.max_field,
            };
            let Some(next) = self.step(&mut c)? else {
                if buf.len() > self.max_len {
                    return Err(SnapStreamError::TooLarge { max: self.max_len });
                }
                return Ok(None);
            };
            if c.pos > self.max_len {
                return Err(SnapStreamError::TooLarge { max: self.max_len });
            }
            self.pos = c.pos;
            self.stage = next;
        }
    }

    /// One item from `c`: the next stage, or `None` if the item is not all buffered.
    fn step(&self, c: &mut Cursor<'_>) -> Result<Option<Stage>, SnapStreamError> {
        Ok(Some(match self.stage {
            Stage::SessionCount => {
                let Some(n) = c.count("session")? else {
                    return Ok(None);
                };
                if n == 0 {
                    Stage::AclCount
                } else {
                    Stage::Sessions(n)
                }
            }
            Stage::Sessions(left) => {
                // Sessions are fixed-size: take every whole one that is buffered.
                let whole = (c.buf.len().saturating_sub(c.pos) / 12).min(left);
                if whole == 0 {
                    return Ok(None);
                }
                c.pos += whole * 12;
                if whole == left {
                    Stage::AclCount
                } else {
                    Stage::Sessions(left - whole)
                }
            }
            Stage::AclCount => match c.count("ACL cache")? {
                None => return Ok(None),
                Some(0) => Stage::Nodes,
                Some(n) => Stage::AclEntry(n),
            },
            Stage::AclEntry(left) => {
                // long key, vector<ACL> count (-1 = null = none)
                if c.skip(8).is_none() {
                    return Ok(None);
                }
                let Some(n) = c.count_or_null("ACL list")? else {
                    return Ok(None);
                };
                match (n, left - 1) {
                    (0, 0) => Stage::Nodes,
                    (0, rest) => Stage::AclEntry(rest),
                    (n, rest) => Stage::Acl(n, rest),
                }
            }
            Stage::Acl(acls, entries) => {
                // int perms, ustring scheme, ustring id
                if c.skip(4).is_none() || c.sized()?.is_none() || c.sized()?.is_none() {
                    return Ok(None);
                }
                match (acls - 1, entries) {
                    (0, 0) => Stage::Nodes,
                    (0, rest) => Stage::AclEntry(rest),
                    (more, rest) => Stage::Acl(more, rest),
                }
            }
            Stage::Nodes => {
                // ustring path; "/" ends the nodes, else buffer data, long aclKey, stat.
                let start = c.pos;
                let Some(len) = c.sized()? else {
                    return Ok(None);
                };
                if len == 1 && c.buf.get(start + 4) == Some(&b'/') {
                    Stage::Trailer
                } else {
                    if c.sized()?.is_none() || c.skip(NODE_FIXED).is_none() {
                        return Ok(None);
                    }
                    Stage::Nodes
                }
            }
            Stage::Trailer => {
                let start = c.pos;
                let Some(len) = c.sized()? else {
                    return Ok(None);
                };
                let text = &c.buf[start + 4..start + 4 + len];
                if text != SNAP_TRAILER.as_bytes() {
                    return Err(SnapStreamError::BadTrailer(
                        String::from_utf8_lossy(text).into_owned(),
                    ));
                }
                Stage::Done
            }
            Stage::Done => Stage::Done,
        }))
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    max_field: usize,
}

impl Cursor<'_> {
    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        if end > self.buf.len() {
            return None;
        }
        self.pos = end;
        Some(())
    }

    fn i32(&mut self) -> Option<i32> {
        let raw: [u8; 4] = self
            .buf
            .get(self.pos..self.pos.checked_add(4)?)?
            .try_into()
            .ok()?;
        self.pos += 4;
        Some(i32::from_be_bytes(raw))
    }

    fn count(&mut self, what: &'static str) -> Result<Option<usize>, SnapStreamError> {
        match self.i32() {
            None => Ok(None),
            Some(n) if n < 0 => Err(SnapStreamError::NegativeCount { what, count: n }),
            Some(n) => Ok(Some(n as usize)),
        }
    }

    fn count_or_null(&mut self, what: &'static str) -> Result<Option<usize>, SnapStreamError> {
        match self.i32() {
            Some(-1) => Ok(Some(0)),
            None => Ok(None),
            Some(n) if n < 0 => Err(SnapStreamError::NegativeCount { what, count: n }),
            Some(n) => Ok(Some(n as usize)),
        }
    }

    /// A length-prefixed buffer or string (-1 = null = empty): its length, once it is all
    /// buffered.
    fn sized(&mut self) -> Result<Option<usize>, SnapStreamError> {
        let Some(len) = self.i32() else {
            return Ok(None);
        };
        let len = match len {
            -1 => 0,
            n if n < 0 => return Err(DecodeError::NegativeLength(n).into()),
            n => n as usize,
        };
        if len > self.max_field {
            return Err(SnapStreamError::FieldTooLarge {
                len,
                max: self.max_field,
            });
        }
        Ok(self.skip(len).map(|()| len))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::Bytes;
    use jute::txn::{CreateTxn, TxnBody, TxnHeader};
    use jute::{Acl, Id};

    /// A tree with a few nodes: nested paths, data, a non-open ACL, an ephemeral.
    pub(crate) fn sample_tree() -> DataTree {
        let mut tree = DataTree::new();
        let digest = vec![Acl {
            perms: 31,
            id: Id {
                scheme: "digest".into(),
                id: "bob:hash".into(),
            },
        }];
        let creates = [
            ("/a", &b"alpha"[..], Acl::open_unsafe(), false),
            ("/a/b", &b""[..], digest.clone(), false),
            ("/a/b/c", &[0u8; 300][..], Acl::open_unsafe(), false),
            ("/e", &b"eph"[..], digest, true),
        ];
        for (i, (path, data, acl, ephemeral)) in creates.into_iter().enumerate() {
            let zxid = i as i64 + 1;
            let txn = jute::txn::Txn {
                header: TxnHeader {
                    client_id: if ephemeral { 0x77 } else { 0 },
                    cxid: i as i32,
                    zxid,
                    time: 1000 + zxid,
                    txn_type: jute::types::op::CREATE,
                },
                body: TxnBody::Create(CreateTxn {
                    path: path.into(),
                    data: Some(Bytes::copy_from_slice(data)),
                    acl,
                    ephemeral,
                    parent_cversion: 1,
                }),
                digest: None,
            };
            tree.apply(&txn);
        }
        tree
    }

    fn dump(tree: &DataTree) -> Vec<String> {
        let mut out = Vec::new();
        tree.walk("/", |path, node| out.push(format!("{path} {node:?}")));
        out
    }

    pub(crate) fn sample_stream() -> (Vec<(SessionId, i32)>, DataTree, Bytes) {
        let sessions = vec![(SessionId(0x77), 30_000), (SessionId(-5), 4000)];
        let tree = sample_tree();
        let mut out = BytesMut::new();
        encode_snap_stream(&sessions, &tree, &mut out);
        (sessions, tree, out.freeze())
    }

    #[test]
    fn tree_round_trips_through_the_stream() {
        let (sessions, tree, bytes) = sample_stream();
        assert!(bytes.ends_with(b"\x00\x00\x00\x0aBenWasHere"));
        let back = decode_snap_stream(bytes.clone()).expect("decodes");
        assert_eq!(back.sessions, sessions);
        assert_eq!(dump(&back.tree), dump(&tree));
        assert_eq!(back.tree.ephemerals_of(0x77), vec!["/e".to_string()]);
        back.tree.check_invariants().expect("tree invariants");

        // The scanner finds the same end whatever the pieces, and not before the end.
        let mut whole = BytesMut::from(&bytes[..]);
        whole.extend_from_slice(b"next packet");
        for step in [1, 3, 7, 64, whole.len()] {
            let mut s = SnapScanner::new(1 << 20, 1 << 20);
            let mut found = None;
            let mut fed = 0;
            while found.is_none() && fed < whole.len() {
                fed = (fed + step).min(whole.len());
                found = s.scan(&whole[..fed]).expect("well formed");
            }
            assert_eq!(found, Some(bytes.len()), "step {step}");
        }
    }

    #[test]
    fn scanner_refuses_bad_streams() {
        let (_, _, bytes) = sample_stream();
        let scan = |b: &[u8], max: usize| SnapScanner::new(max, 1 << 20).scan(b);
        // Every strict prefix asks for more.
        for len in 0..bytes.len() {
            assert_eq!(scan(&bytes[..len], 1 << 20), Ok(None), "prefix {len}");
        }
        assert!(matches!(
            scan(&bytes, 100),
            Err(SnapStreamError::TooLarge { .. })
        ));
        let mut wrong = bytes.to_vec();
        let n = wrong.len();
        wrong[n - 1] = b'X';
        assert!(matches!(
            scan(&wrong, 1 << 20),
            Err(SnapStreamError::BadTrailer(_))
        ));
        assert!(decode_snap_stream(Bytes::from(wrong)).is_err());
        assert!(matches!(
            scan(&[255, 255, 255, 254], 1 << 20),
            Err(SnapStreamError::NegativeCount { .. })
        ));
        // A huge field is refused before it is buffered.
        let mut huge = vec![0, 0, 0, 0, 0, 0, 0, 0];
        huge.extend_from_slice(&(1u32 << 30).to_be_bytes());
        assert!(matches!(
            SnapScanner::new(usize::MAX, 1024).scan(&huge),
            Err(SnapStreamError::FieldTooLarge { .. })
        ));
        let mut extra = bytes.to_vec();
        extra.push(0);
        assert_eq!(
            decode_snap_stream(Bytes::from(extra)).err(),
            Some(SnapStreamError::TrailingBytes(1))
        );
    }

    proptest::proptest! {
        #[test]
        fn scanning_random_bytes_never_panics(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)
        ) {
            let _ = SnapScanner::new(1 << 16, 1 << 10).scan(&data);
            let _ = decode_snap_stream(Bytes::from(data));
        }
    }
}
