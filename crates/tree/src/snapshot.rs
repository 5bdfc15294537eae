//! The tree's part of a snapshot: ZooKeeper's `DataTree.serialize` format (§11.5 of
//! zk-protocol.md), the same bytes that sit between the sessions list and the seals of a
//! snapshot file, and between the sessions and `"BenWasHere"` in a SNAP stream.
//!
//! ```text
//! int count, count × (long aclKey, vector<ACL>)        ACL cache section, keys ascending
//! repeated (ustring path, buffer data, long aclKey, StatPersisted)
//!                                                     nodes in pre-order; the root's path is ""
//! ustring "/"                                         terminator
//! ```
//!
//! Owns: writing that section (whole, or in chunks while the tree keeps changing) and reading it
//! back into a `DataTree` with every index rebuilt. Reading never panics on bad input.
//!
//! Decisions:
//! - Key -1 is ZooKeeper's open list (`world:anyone` ALL) and is never written to the ACL
//!   section. This tree gives every open list key -1, including user-supplied ones (ZooKeeper
//!   allocates those a numbered key); readers treat both the same.
//! - Children are written in name order, so the bytes are a function of the tree's state.
//! - `deserialize_tree` leaves `last_processed_zxid` at 0: the caller knows the snapshot's zxid
//!   (file name / trailer / SNAP packet) and sets it with `DataTree::set_last_processed_zxid`.
//! - Restored data is copied out of the input buffer so a znode never pins the whole snapshot.
//! - The node records are read in place (paths and data borrowed from the input, not sliced
//!   into `Bytes` or copied into a `String` first): restore is most of a restart, and the
//!   per-node refcount traffic and allocations showed in its profile.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use jute::primitive::{read_i32, read_i64, read_vec, write_buffer};
use jute::primitive::{write_ustring, DecodeError, Record};
use jute::{Acl, StatPersisted, Zxid};

use crate::datatree::{DataTree, RestoreError, Restorer, OPEN_ACL_KEY};
use crate::path;
use crate::znode::Znode;

/// Why a snapshot's tree section could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// A record could not be decoded (truncated input, bad length…).
    Decode(DecodeError),
    /// The ACL section's count is negative.
    NegativeCount(i32),
    /// The first node is not the root (path `""`).
    MissingRoot,
    /// A path appears twice.
    DuplicatePath(String),
    /// A node's parent was not read before it (the stream is not in pre-order).
    OrphanNode(String),
    /// A path that is not a valid znode path.
    InvalidPath(String),
    /// The root's stored ephemeralOwner is not 0.
    RootNotPersistent,
    /// A node refers to an ACL key the ACL section does not define.
    UnknownAclKey { path: String, key: i64 },
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Decode(e) => write!(f, "snapshot tree: {e}"),
            SnapshotError::NegativeCount(n) => write!(f, "snapshot tree: ACL count {n}"),
            SnapshotError::MissingRoot => write!(f, "snapshot tree: first node is not the root"),
            SnapshotError::DuplicatePath(p) => write!(f, "snapshot tree: duplicate path {p}"),
            SnapshotError::OrphanNode(p) => write!(f, "snapshot tree: parent of {p} missing"),
            SnapshotError::InvalidPath(p) => write!(f, "snapshot tree: invalid path {p:?}"),
            SnapshotError::RootNotPersistent => write!(f, "snapshot tree: root has an owner"),
            SnapshotError::UnknownAclKey { path, key } => {
                write!(f, "snapshot tree: {path} uses undefined ACL key {key}")
            }
        }
    }
}

impl std::error::Error for SnapshotError {}

impl From<DecodeError> for SnapshotError {
    fn from(e: DecodeError) -> Self {
        SnapshotError::Decode(e)
    }
}

/// Writes the whole tree section for `tree` (consistent: nothing changes meanwhile).
pub fn serialize_tree(tree: &DataTree, out: &mut BytesMut) {
    let mut w = SnapshotWriter::start(tree, out);
    while !w.write_chunk(tree, usize::MAX, out) {}
}

/// Reads a tree section from the front of `src` (advancing it past the `"/"` terminator) and
/// rebuilds children, the ephemeral/container/TTL indexes, the data size and the ACL cache
/// (lists no node uses are dropped, as ZooKeeper's `purgeUnused`). ACL keys are kept.
/// `last_processed_zxid` is left at 0 for the caller to set.
pub fn deserialize_tree(src: &mut Bytes) -> Result<DataTree, SnapshotError> {
    let count = read_i32(src)?;
    if count < 0 {
        return Err(SnapshotError::NegativeCount(count));
    }
    // Later duplicates of a key win, as in ZooKeeper's reader.
    let mut section: HashMap<i64, Arc<[Acl]>> = HashMap::new();
    for _ in 0..count {
        let key = read_i64(src)?;
        let acl = read_vec(src, Acl::decode)?;
        section.insert(key, Arc::from(acl));
    }
    let buf: &[u8] = &src[..];
    let mut tree = Restorer::new(count_nodes(buf));
    let mut parser = Parser {
        r: Reader { buf, pos: 0 },
        first: true,
        // The tree's own copy: nodes with key -1 are then already interned.
        open: tree.open_acl(),
    };
    let mut restore = |batch: Vec<Parsed>| -> Result<(), SnapshotError> {
        for p in batch {
            restore_one(&mut tree, &section, p)?;
        }
        Ok(())
    };
    let consumed = if buf.len() < PARALLEL_MIN_BYTES {
        loop {
            let (batch, end) = parser.batch();
            restore(batch)?;
            if let Some(end) = end {
                break end?;
            }
        }
    } else {
        // Two stages on two threads: parsing and building the nodes (decoding, path checks,
        // the allocations) overlaps inserting them into the tree. Each stage is about half of
        // a restart. Errors keep stream order: the parser sends its error after every node
        // before it, and a restore error ends the receiving loop, which stops the parser.
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<Parsed>, Option<ParseEnd>)>(8);
            scope.spawn(move || loop {
                let (batch, end) = parser.batch();
                let done = end.is_some();
                if tx.send((batch, end)).is_err() || done {
                    return;
                }
            });
            for (batch, end) in rx {
                restore(batch)?;
                if let Some(end) = end {
                    return end;
                }
            }
            // The parser always ends with `Some(end)`; this is only reached if it panicked.
            Err(SnapshotError::Decode(DecodeError::UnexpectedEnd {
                needed: 1,
            }))
        })?
    };
    src.advance(consumed);
    Ok(tree.finish())
}

/// Below this many bytes a tree section is restored on the calling thread: a thread costs
/// more than it saves on a small tree (the simulator restores many).
const PARALLEL_MIN_BYTES: usize = 4 << 20;
/// Nodes handed from the parser to the restorer at a time.
const BATCH_NODES: usize = 1024;

/// One parsed node record: the node built with a placeholder (open) ACL, its ACL key, and
/// its name for the parent's child set (`None` for the root).
struct Parsed {
    node: Box<Znode>,
    key: i64,
    name: Option<Box<str>>,
}

/// How parsing ended: bytes consumed through the terminator, or why it stopped.
type ParseEnd = Result<usize, SnapshotError>;

/// The first stage of restore: decodes node records and builds the nodes.
struct Parser<'a> {
    r: Reader<'a>,
    first: bool,
    open: Arc<[Acl]>,
}

impl Parser<'_> {
    /// Up to `BATCH_NODES` nodes, and `Some` once the section ended (or failed) after them.
    fn batch(&mut self) -> (Vec<Parsed>, Option<ParseEnd>) {
        let mut out = Vec::with_capacity(BATCH_NODES);
        while out.len() < BATCH_NODES {
            match self.next() {
                Ok(Some(p)) => out.push(p),
                Ok(None) => return (out, Some(Ok(self.r.pos))),
                Err(e) => return (out, Some(Err(e))),
            }
        }
        (out, None)
    }

    fn next(&mut self) -> Result<Option<Parsed>, SnapshotError> {
        let stream_path = self.r.ustring()?;
        if stream_path == "/" {
            if self.first {
                return Err(SnapshotError::MissingRoot);
            }
            return Ok(None);
        }
        let data = self.r.buffer()?;
        let key = self.r.i64()?;
        let stat = self.r.stat()?;
        let (path, name): (&str, _) = match (self.first, &*stream_path) {
            (true, "") => ("/", None),
            (true, _) => return Err(SnapshotError::MissingRoot),
            (false, "") => return Err(SnapshotError::DuplicatePath(String::new())),
            (false, p) => {
                if path::validate_path(p).is_err() {
                    return Err(SnapshotError::InvalidPath(p.to_owned()));
                }
                (p, Some(Box::from(path::name(p))))
            }
        };
        self.first = false;
        let node = Box::new(Znode::new(path, data, self.open.clone(), stat));
        Ok(Some(Parsed { node, key, name }))
    }
}

/// The second stage of restore: resolves the ACL key and links the node into the tree.
fn restore_one(
    tree: &mut Restorer,
    section: &HashMap<i64, Arc<[Acl]>>,
    p: Parsed,
) -> Result<(), SnapshotError> {
    let acl = if p.key == OPEN_ACL_KEY {
        None
    } else {
        let acl = section
            .get(&p.key)
            .ok_or_else(|| SnapshotError::UnknownAclKey {
                path: p.node.path().to_owned(),
                key: p.key,
            })?;
        Some((&**acl, p.key))
    };
    tree.node(p.node, p.name, acl).map_err(|(e, node)| {
        let path = node.path().to_owned();
        match e {
            RestoreError::Duplicate => SnapshotError::DuplicatePath(path),
            RestoreError::Orphan => SnapshotError::OrphanNode(path),
            RestoreError::RootNotPersistent => SnapshotError::RootNotPersistent,
        }
    })
}

/// The number of node records at the front of `buf` (up to the terminator or anything that
/// does not parse), by skipping over them: sizing the node map once is much cheaper than
/// growing it, and a skip reads only the length fields.
fn count_nodes(buf: &[u8]) -> usize {
    let mut r = Reader { buf, pos: 0 };
    let mut n = 0;
    loop {
        let Ok(Some(path)) = r.buffer() else {
            return n;
        };
        // 8 (ACL key) + 60 (StatPersisted) after the data.
        if path == b"/" || r.buffer().is_err() || r.take(68).is_err() {
            return n;
        }
        n += 1;
    }
}

/// A cursor over the node records that borrows from the input: the same jute encodings as
/// `jute::primitive` (big-endian ints; length-prefixed, -1 = null; strings decoded as Java
/// does, invalid UTF-8 becoming U+FFFD), without a `Bytes` or `String` per field.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let rest = &self.buf[self.pos..];
        let Some(bytes) = rest.get(..n) else {
            return Err(DecodeError::UnexpectedEnd {
                needed: n - rest.len(),
            });
        };
        self.pos += n;
        Ok(bytes)
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// A jute `buffer`: `None` is null (length -1).
    fn buffer(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.i32()? {
            -1 => Ok(None),
            len if len < 0 => Err(DecodeError::NegativeLength(len)),
            len => self.take(len as usize).map(Some),
        }
    }

    /// A jute `ustring`; null reads as "" (as `jute::primitive::read_ustring`).
    fn ustring(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let raw = self.buffer()?.unwrap_or_default();
        Ok(match std::str::from_utf8(raw) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(raw),
        })
    }

    /// `StatPersisted`, fields in its jute order.
    fn stat(&mut self) -> Result<StatPersisted, DecodeError> {
        Ok(StatPersisted {
            czxid: self.i64()?,
            mzxid: self.i64()?,
            ctime: self.i64()?,
            mtime: self.i64()?,
            version: self.i32()?,
            cversion: self.i32()?,
            aversion: self.i32()?,
            ephemeral_owner: self.i64()?,
            pzxid: self.i64()?,
        })
    }
}

/// A tree section written in chunks, so the single owner of the tree can keep applying txns
/// between chunks: ZooKeeper's *fuzzy* snapshot. The result is only meaningful together with a
/// replay of every txn after [`SnapshotWriter::start_zxid`] (§11.4), exactly as in ZooKeeper.
///
/// How it walks: a cursor per level (parent path + last child name written), resumed with a
/// range query on the parent's ordered `children`, so nothing is copied up front and memory is
/// O(depth). Nodes deleted before the walk reaches them are not written; children added behind
/// the cursor are not written; both are repaired by replay.
///
/// ACLs first referenced mid-snapshot: the ACL section is written by `start`, so a node whose
/// list was interned later (key ≥ [`SnapshotWriter::acl_key_limit`], keys are never reused) has
/// no key in the stream. Such a node
/// - created after the start (czxid > start zxid) is skipped together with its subtree (its
///   descendants are younger still); replaying its create brings it back with its ACL;
/// - created before the start must have had its ACL replaced by a setACL after the start: it is
///   written with key -1 (open) as a placeholder, and replaying that setACL restores the list
///   before the server serves anything. (ZooKeeper writes the unknown key and fails on it later.)
#[derive(Debug, Clone)]
pub struct SnapshotWriter {
    start_zxid: Zxid,
    acl_key_limit: i64,
    /// (parent path, last child written under it); the root frame has no parent entry.
    cursors: Vec<(String, Option<Box<str>>)>,
    root_written: bool,
    finished: bool,
}

impl SnapshotWriter {
    /// Writes the ACL section for `tree` and returns a writer positioned before the root.
    pub fn start(tree: &DataTree, out: &mut BytesMut) -> SnapshotWriter {
        let entries = tree.acls.entries();
        out.put_i32(entries.len() as i32);
        for (key, acl) in &entries {
            out.put_i64(*key);
            out.put_i32(acl.len() as i32);
            for a in acl.iter() {
                a.encode(out);
            }
        }
        SnapshotWriter {
            start_zxid: tree.last_processed_zxid(),
            acl_key_limit: tree.acls.next_key(),
            cursors: Vec::new(),
            root_written: false,
            finished: false,
        }
    }

    /// The tree's last processed zxid when the snapshot started: the snapshot's name, and where
    /// replay must start after.
    pub fn start_zxid(&self) -> Zxid {
        self.start_zxid
    }

    /// ACL keys below this were in the written ACL section.
    pub fn acl_key_limit(&self) -> i64 {
        self.acl_key_limit
    }

    /// Writes up to `max_nodes` more nodes (at least one unless finished). Returns true once
    /// the terminator has been written; further calls write nothing and return true.
    pub fn write_chunk(&mut self, tree: &DataTree, max_nodes: usize, out: &mut BytesMut) -> bool {
        if self.finished {
            return true;
        }
        let mut budget = max_nodes.max(1);
        if !self.root_written {
            self.root_written = true;
            if let Some(root) = tree.get("/") {
                // The root was created with the tree, so its key is always in the section.
                let key = tree.acl_key(&root.acl).unwrap_or(OPEN_ACL_KEY);
                write_node(out, "", root, key);
                self.cursors.push(("/".to_owned(), None));
                budget -= 1;
            }
        }
        while budget > 0 {
            let Some((parent_path, last)) = self.cursors.last() else {
                break;
            };
            let next = tree.get(parent_path).and_then(|parent| {
                let from = match last {
                    Some(name) => Bound::Excluded(&**name),
                    None => Bound::Unbounded,
                };
                parent.children.range((from, Bound::Unbounded)).next()
            });
            let Some(name) = next else {
                // Done with this parent (or it was deleted meanwhile: so were its children).
                self.cursors.pop();
                continue;
            };
            let child_path = path::join(parent_path, name);
            let name: Box<str> = name.clone();
            if let Some(top) = self.cursors.last_mut() {
                top.1 = Some(name);
            }
            let Some(node) = tree.get(&child_path) else {
                continue;
            };
            let key = match tree.acl_key(&node.acl) {
                Some(k) if k < self.acl_key_limit => k,
                _ if node.stat.czxid > self.start_zxid.0 => continue,
                _ => OPEN_ACL_KEY,
            };
            write_node(out, &child_path, node, key);
            budget -= 1;
            if !node.children.is_empty() {
                self.cursors.push((child_path, None));
            }
        }
        if self.cursors.is_empty() {
            write_ustring(out, "/");
            self.finished = true;
        }
        self.finished
    }
}

fn write_node(out: &mut BytesMut, path: &str, node: &crate::znode::Znode, key: i64) {
    write_ustring(out, path);
    write_buffer(out, node.data());
    out.put_i64(key);
    node.stat.encode(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::model::{op, Model};
    use proptest::prelude::*;

    /// The tree section of the snapshot a fresh Apache ZooKeeper 3.8.0 standalone server wrote
    /// (snapshot.0, bytes 0x14..0x19b: after the header and the empty sessions list).
    const FRESH_ZK_TREE: &str = "000000010000000000000001000000010000000100000005776f726c6400000006616e796f6e650000000000000000ffffffffffffffff0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000a2f7a6f6f6b656570657200000000ffffffffffffffff000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000112f7a6f6f6b65657065722f636f6e66696700000000000000000000000100000000000000000000000000000000000000000000000000000000000000000000000000000000ffffffff00000000000000000000000000000000000000102f7a6f6f6b65657065722f71756f746100000000ffffffffffffffff000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000012f";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn bytes_of(t: &DataTree) -> Bytes {
        let mut out = BytesMut::new();
        serialize_tree(t, &mut out);
        out.freeze()
    }

    fn round_trip(t: &DataTree) -> DataTree {
        let mut b = bytes_of(t);
        let mut back = deserialize_tree(&mut b).unwrap();
        assert!(b.is_empty());
        back.set_last_processed_zxid(t.last_processed_zxid());
        back
    }

    #[test]
    fn fresh_tree_is_byte_identical_to_zookeeper() {
        let ours = bytes_of(&DataTree::new());
        assert_eq!(hex(&ours), FRESH_ZK_TREE);
        let mut theirs = Bytes::from(unhex(FRESH_ZK_TREE));
        let t = deserialize_tree(&mut theirs).unwrap();
        assert!(theirs.is_empty());
        assert_eq!(t, DataTree::new());
        t.check_invariants().unwrap();
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn reader_leaves_following_bytes_and_keeps_null_data() {
        let mut t = DataTree::new();
        let acl = vec![Acl::new(1, "ip", "10.0.0.0/8")];
        t.create_node("/n", None, &acl, 0, -1, 1, 1).unwrap();
        t.create_node("/e", Some(&Bytes::new()), &acl, 0x55, -1, 2, 1)
            .unwrap();
        let mut b = BytesMut::new();
        serialize_tree(&t, &mut b);
        b.extend_from_slice(b"trailer");
        let mut b = b.freeze();
        let back = deserialize_tree(&mut b).unwrap();
        assert_eq!(&b[..], b"trailer");
        assert_eq!(back.get("/n").unwrap().data(), None);
        assert_eq!(back.get("/e").unwrap().data(), Some(&b""[..]));
        assert_eq!(back.ephemerals_of(0x55), ["/e"]);
        assert_eq!(back.last_processed_zxid(), Zxid(0));
        assert_eq!(
            back.acl_key(&back.get("/n").unwrap().acl),
            t.acl_key(&t.get("/n").unwrap().acl)
        );
        back.check_invariants().unwrap();
    }

    /// Builds a stream by hand: ACL section then (path, key) nodes with empty data and zero Stat.
    fn stream(acls: &[(i64, Vec<Acl>)], nodes: &[(&str, i64)], terminate: bool) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i32(acls.len() as i32);
        for (k, list) in acls {
            out.put_i64(*k);
            out.put_i32(list.len() as i32);
            for a in list {
                a.encode(&mut out);
            }
        }
        for (p, k) in nodes {
            write_ustring(&mut out, p);
            write_buffer(&mut out, Some(b""));
            out.put_i64(*k);
            StatPersisted::default().encode(&mut out);
        }
        if terminate {
            write_ustring(&mut out, "/");
        }
        out.freeze()
    }

    #[test]
    fn bad_streams_are_errors() {
        let read = |b: Bytes| deserialize_tree(&mut b.clone()).map(|_| ());
        assert_eq!(read(stream(&[], &[("", -1), ("/a", -1)], true)), Ok(()));
        assert_eq!(
            read(stream(&[], &[], true)),
            Err(SnapshotError::MissingRoot)
        );
        assert_eq!(
            read(stream(&[], &[("/a", -1)], true)),
            Err(SnapshotError::MissingRoot)
        );
        assert_eq!(
            read(stream(&[], &[("", -1), ("/a/b", -1)], true)),
            Err(SnapshotError::OrphanNode("/a/b".into()))
        );
        assert_eq!(
            read(stream(&[], &[("", -1), ("/a", -1), ("/a", -1)], true)),
            Err(SnapshotError::DuplicatePath("/a".into()))
        );
        assert_eq!(
            read(stream(&[], &[("", -1), ("", -1)], true)),
            Err(SnapshotError::DuplicatePath(String::new()))
        );
        assert_eq!(
            read(stream(&[], &[("", -1), ("/a/", -1)], true)),
            Err(SnapshotError::InvalidPath("/a/".into()))
        );
        assert_eq!(
            read(stream(&[], &[("", -1), ("/a", 7)], true)),
            Err(SnapshotError::UnknownAclKey {
                path: "/a".into(),
                key: 7
            })
        );
        assert!(matches!(
            read(stream(&[], &[("", -1)], false)),
            Err(SnapshotError::Decode(_))
        ));
        let mut neg = BytesMut::new();
        neg.put_i32(-3);
        assert_eq!(read(neg.freeze()), Err(SnapshotError::NegativeCount(-3)));
        // Unused lists are dropped; duplicate contents under two keys share one entry.
        let l = vec![Acl::new(3, "digest", "a:b")];
        let b = stream(
            &[(4, l.clone()), (9, l.clone()), (5, Acl::read_unsafe())],
            &[("", -1), ("/x", 9), ("/y", 4)],
            true,
        );
        let t = deserialize_tree(&mut b.clone()).unwrap();
        t.check_invariants().unwrap();
        assert!(Arc::ptr_eq(
            &t.get("/x").unwrap().acl,
            &t.get("/y").unwrap().acl
        ));
        assert_eq!(t.acls.entries().len(), 1);
        // Every truncation of a valid stream is an error, never a panic.
        let full = bytes_of(&t);
        for cut in 0..full.len() {
            assert!(
                deserialize_tree(&mut full.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn nodes_out_of_order_are_restored() {
        // ZooKeeper writes children in hash-set order, and a parent's subtree may be left and
        // met again: both must restore the same tree as sorted pre-order.
        let b = stream(
            &[],
            &[
                ("", -1),
                ("/b", -1),
                ("/a", -1),
                ("/b/y", -1),
                ("/a/z", -1),
                ("/b/x", -1),
            ],
            true,
        );
        let t = deserialize_tree(&mut b.clone()).unwrap();
        t.check_invariants().unwrap();
        let names = |p: &str| -> Vec<String> {
            t.get(p)
                .unwrap()
                .children
                .iter()
                .map(|c| c.to_string())
                .collect()
        };
        assert_eq!(names("/"), ["a", "b"]);
        assert_eq!(names("/b"), ["x", "y"]);
        assert_eq!(names("/a"), ["z"]);
        assert_eq!(t.node_count(), 7);
        let dup = stream(&[], &[("", -1), ("/b", -1), ("/a", -1), ("/b", -1)], true);
        assert_eq!(
            deserialize_tree(&mut dup.clone()).map(|_| ()),
            Err(SnapshotError::DuplicatePath("/b".into()))
        );
    }

    #[test]
    fn large_sections_restore_on_two_threads_with_the_same_result() {
        // Above PARALLEL_MIN_BYTES: the parser runs on its own thread.
        let mut t = DataTree::new();
        let data = Bytes::from(vec![7u8; 400]);
        let acl = vec![Acl::new(1, "ip", "10.0.0.0/8")];
        for i in 0..120 {
            let dir = format!("/d{i:03}");
            t.create_node(&dir, None, &acl, 0, -1, 1, 1).unwrap();
            for j in 0..100 {
                let p = format!("{dir}/n{j:03}");
                t.create_node(&p, Some(&data), &Acl::open_unsafe(), j, -1, 2, 1)
                    .unwrap();
            }
        }
        let full = bytes_of(&t);
        assert!(full.len() > PARALLEL_MIN_BYTES);
        let back = round_trip(&t);
        back.check_invariants().unwrap();
        assert_eq!(back, t);
        // Errors are still found, in stream order: a cut anywhere, and a bad node late in it.
        for cut in [full.len() - 1, full.len() / 2, PARALLEL_MIN_BYTES + 3] {
            assert!(deserialize_tree(&mut full.slice(..cut)).is_err());
        }
        let mut raw = full.to_vec();
        let at = raw.len() - 2000;
        let slash = at + raw[at..].iter().position(|b| *b == b'/').unwrap();
        raw[slash] = b'x';
        assert!(deserialize_tree(&mut Bytes::from(raw)).is_err());
    }

    /// Applies a random op stream, snapshotting it in chunks of `chunk` nodes *while* applying
    /// (one txn between chunks, starting after `start_at` txns). Restoring that fuzzy snapshot
    /// and replaying every txn after its start zxid must give the final tree.
    fn fuzzy_snapshot_then_replay(
        ops: &[crate::apply::model::Op],
        start_at: usize,
        chunk: usize,
    ) -> Result<(), TestCaseError> {
        let mut model = Model::new();
        let mut tree = DataTree::new();
        let mut log = Vec::new();
        let mut out = BytesMut::new();
        let mut writer: Option<SnapshotWriter> = None;
        let mut done = false;
        for (i, op) in ops.iter().enumerate() {
            if i == start_at {
                writer = Some(SnapshotWriter::start(&tree, &mut out));
            }
            if let Some(w) = writer.as_mut() {
                if !done {
                    done = w.write_chunk(&tree, chunk, &mut out);
                }
            }
            let txn = model.step(op);
            tree.apply(&txn);
            log.push(txn);
        }
        let Some(mut w) = writer else { return Ok(()) };
        while !w.write_chunk(&tree, chunk, &mut out) {}
        let mut b = out.freeze();
        let mut restored =
            deserialize_tree(&mut b).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(b.is_empty());
        restored.check_invariants().map_err(TestCaseError::fail)?;
        restored.set_last_processed_zxid(w.start_zxid());
        for txn in log.iter().filter(|t| t.header.zxid > w.start_zxid().0) {
            restored.apply(txn);
            restored.check_invariants().map_err(TestCaseError::fail)?;
        }
        prop_assert_eq!(&restored, &tree);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn serialize_then_deserialize_is_identity(ops in prop::collection::vec(op(), 0..40)) {
            let mut model = Model::new();
            let mut tree = DataTree::new();
            for op in &ops {
                tree.apply(&model.step(op));
            }
            let back = round_trip(&tree);
            back.check_invariants().map_err(TestCaseError::fail)?;
            prop_assert_eq!(&back, &tree);
            // Serialising is a function of the state: same bytes again.
            prop_assert_eq!(bytes_of(&back), bytes_of(&tree));
        }

        #[test]
        fn fuzzy_snapshot_plus_replay_converges(
            ops in prop::collection::vec(op(), 1..60),
            start in 0usize..30,
            chunk in 1usize..4,
        ) {
            fuzzy_snapshot_then_replay(&ops, start.min(ops.len() - 1), chunk)?;
        }

        #[test]
        fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = deserialize_tree(&mut Bytes::from(data));
        }

        #[test]
        fn corrupted_snapshots_never_panic(
            ops in prop::collection::vec(op(), 0..12),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut model = Model::new();
            let mut tree = DataTree::new();
            for op in &ops {
                tree.apply(&model.step(op));
            }
            let mut raw = bytes_of(&tree).to_vec();
            for (i, v) in flips {
                let i = i.index(raw.len());
                raw[i] = v;
            }
            if let Ok(t) = deserialize_tree(&mut Bytes::from(raw)) {
                t.check_invariants().map_err(TestCaseError::fail)?;
            }
        }
    }
}
