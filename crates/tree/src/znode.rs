//! One znode: its data, ACL, persisted Stat and child names, and the client's view of its Stat.
//!
//! Owns: the meaning of the stored `StatPersisted` fields (§4.1 of zk-protocol.md) and of the
//! stored `ephemeralOwner` encodings (§4.4).
//!
//! Invariants (kept by `DataTree`, which is the only writer):
//! - `stat.cversion` is ZooKeeper's *stored* cversion: the number of child creations ever
//!   applied under this node (deletes never change it). Clients see
//!   `2 * stored - numChildren` (every create/delete pair moves that by 2).
//! - `stat.cversion >= children.len()` while the counter has not wrapped.
//! - `children` holds the last segment of each child path, in byte order; the child's full path
//!   is a key of the tree's map.
//! - `acl` is the tree's interned copy of the list: equal lists share one allocation.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use jute::{Acl, Stat, StatPersisted};

/// The stored `ephemeralOwner` of a container node (`0x8000000000000000`), recognised whether or
/// not extended types are enabled.
pub const CONTAINER_OWNER: i64 = i64::MIN;

/// The largest TTL a TTL node may have: the 40 bits below the extended-type header.
pub const TTL_MAX_MS: i64 = 0xff_ffff_ffff;

/// Top byte 0xff plus the 16-bit feature id (0x0000 = TTL) of an extended `ephemeralOwner`.
const EXTENDED_TTL_HEADER: i64 = 0xff00_0000_0000_0000_u64 as i64;
const EXTENDED_HEADER_MASK: i64 = 0xffff_ff00_0000_0000_u64 as i64;

/// The stored `ephemeralOwner` of a TTL node with the given TTL (`0xff00000000000000 | ttl`).
/// The caller (prep) has checked `1 <= ttl_ms <= TTL_MAX_MS`; bits above 40 are masked off so a
/// bad value can never alias a container or another feature.
pub fn ttl_owner(ttl_ms: i64) -> i64 {
    EXTENDED_TTL_HEADER | (ttl_ms & TTL_MAX_MS)
}

/// What a stored `ephemeralOwner` says a node is.
///
/// The TTL form is recognised by its header (top byte 0xff, feature id 0) as ZooKeeper does with
/// `zookeeper.extendedTypesEnabled=true`. That is unambiguous as long as no session id has 0xff
/// in its top byte, which is why ZooKeeper (and the node crate) require myid ≤ 254 with extended
/// types; the 3.5.3 "any negative owner is a TTL" emulation is not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    /// A normal ephemeral, owned by this session id.
    Ephemeral(i64),
    Container,
    /// A TTL node with this TTL in milliseconds.
    Ttl(i64),
}

impl NodeKind {
    /// Decodes a stored `ephemeralOwner`.
    pub fn from_owner(owner: i64) -> NodeKind {
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == CONTAINER_OWNER {
            NodeKind::Container
        } else if owner & EXTENDED_HEADER_MASK == EXTENDED_TTL_HEADER {
            NodeKind::Ttl(owner & TTL_MAX_MS)
        } else {
            NodeKind::Ephemeral(owner)
        }
    }

    /// The stored `ephemeralOwner` for this kind.
    pub fn owner(self) -> i64 {
        match self {
            NodeKind::Persistent => 0,
            NodeKind::Ephemeral(session) => session,
            NodeKind::Container => CONTAINER_OWNER,
            NodeKind::Ttl(ttl) => ttl_owner(ttl),
        }
    }
}

/// One znode. Small on purpose: a million is a normal tree, and at that size the per-node
/// overhead, not the data, decides the server's memory (each field below was measured).
///
/// - The full path and the data share one allocation (`blob` = path bytes, then data bytes):
///   one allocator rounding and one 16-byte pointer instead of two. The path is the node's
///   key in the tree's hash table, so it is stored here and nowhere else in the map.
/// - Data is plain bytes rather than a `Bytes`: replies copy it into a frame anyway, and a
///   `Bytes` costs 32 bytes per node plus a shared header allocated at its first clone.
/// - `children` is one pointer, allocated only for nodes that have children (most are leaves).
///
/// dataLength and numChildren are derived. Built and changed only by `DataTree`.
#[derive(Clone, PartialEq, Eq)]
pub struct Znode {
    /// `path` bytes then the data bytes.
    blob: Box<[u8]>,
    path_len: u32,
    /// The null buffer (getData answers length -1), distinct from empty data.
    null_data: bool,
    /// The interned ACL list (see `DataTree`'s ACL cache).
    pub acl: Arc<[Acl]>,
    /// As stored in snapshots; `cversion` is the stored count of child creations.
    pub stat: StatPersisted,
    /// Names (last segments) of the children, in byte order so every walk is deterministic.
    pub children: Children,
}

impl std::fmt::Debug for Znode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Znode")
            .field("path", &self.path())
            .field("data", &self.data())
            .field("acl", &self.acl)
            .field("stat", &self.stat)
            .field("children", &self.children)
            .finish()
    }
}

/// Builds the path-then-data allocation; `None` data stores no bytes.
fn blob(path: &str, data: Option<&[u8]>) -> Box<[u8]> {
    let data = data.unwrap_or_default();
    let mut v = Vec::with_capacity(path.len() + data.len());
    v.extend_from_slice(path.as_bytes());
    v.extend_from_slice(data);
    v.into_boxed_slice()
}

impl Znode {
    /// A node at `path` with no children. Paths are bounded by the request size limit, far
    /// below 4 GiB; a longer one is refused by `validate_path`'s callers before it gets here.
    pub fn new(path: &str, data: Option<&[u8]>, acl: Arc<[Acl]>, stat: StatPersisted) -> Znode {
        Znode {
            blob: blob(path, data),
            path_len: u32::try_from(path.len()).unwrap_or(u32::MAX),
            null_data: data.is_none(),
            acl,
            stat,
            children: Children::default(),
        }
    }

    /// The node's full path.
    pub fn path(&self) -> &str {
        // `blob` starts with the bytes of a `&str` (see `blob`), so this never fails; the
        // fallback only keeps the function total without `unsafe`.
        std::str::from_utf8(self.path_bytes()).unwrap_or_default()
    }

    pub(crate) fn path_bytes(&self) -> &[u8] {
        &self.blob[..self.path_len as usize]
    }

    /// The data; `None` is the null buffer.
    pub fn data(&self) -> Option<&[u8]> {
        (!self.null_data).then(|| &self.blob[self.path_len as usize..])
    }

    /// The data as an owned buffer for a reply (a copy: the node keeps its own).
    pub fn data_bytes(&self) -> Option<Bytes> {
        self.data().map(|d| {
            if d.is_empty() {
                Bytes::new()
            } else {
                Bytes::copy_from_slice(d)
            }
        })
    }

    /// Replaces the data (the path stays).
    pub(crate) fn set_data(&mut self, data: Option<&[u8]>) {
        self.blob = blob(self.path(), data);
        self.null_data = data.is_none();
    }

    /// The Stat a client sees: visible cversion derived from the stored one, ephemeralOwner 0
    /// for containers and TTL nodes, dataLength and numChildren computed.
    pub fn client_stat(&self) -> Stat {
        let num_children = self.num_children();
        let s = &self.stat;
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            // Java computes this in int arithmetic, so it wraps the same way.
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner: match self.kind() {
                NodeKind::Ephemeral(session) => session,
                _ => 0,
            },
            data_length: self.data_len() as i32,
            num_children,
            pzxid: s.pzxid,
        }
    }

    /// What kind of node this is, from its stored `ephemeralOwner`.
    pub fn kind(&self) -> NodeKind {
        NodeKind::from_owner(self.stat.ephemeral_owner)
    }

    /// The data length as a client sees it (null data counts 0).
    pub fn data_len(&self) -> usize {
        self.blob.len() - self.path_len as usize
    }

    /// The number of children, as the Stat's int field.
    pub fn num_children(&self) -> i32 {
        // A parent cannot have more than i32::MAX children in practice (the map would not fit);
        // saturate rather than wrap if it ever did.
        i32::try_from(self.children.len()).unwrap_or(i32::MAX)
    }

    /// The ephemeral owner session, if this is a normal ephemeral.
    pub fn ephemeral_owner(&self) -> Option<i64> {
        match self.kind() {
            NodeKind::Ephemeral(session) => Some(session),
            _ => None,
        }
    }
}

/// The child names of a znode: a `BTreeSet` behind one pointer, allocated at the first child.
/// Most znodes are leaves, so an empty set costs 8 bytes instead of the set's 24.
// The box is the point: `Option<Box<_>>` is 8 bytes in every znode, the set itself 24.
#[allow(clippy::box_collection)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Children(Option<Box<BTreeSet<Box<str>>>>);

impl Children {
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.as_ref().is_some_and(|s| s.contains(name))
    }

    /// The names in byte order.
    pub fn iter(&self) -> impl Iterator<Item = &Box<str>> + '_ {
        self.0.iter().flat_map(|s| s.iter())
    }

    /// The names within `range`, in byte order.
    pub fn range<'a>(
        &'a self,
        range: (Bound<&'a str>, Bound<&'a str>),
    ) -> impl Iterator<Item = &'a Box<str>> + 'a {
        self.0.iter().flat_map(move |s| s.range::<str, _>(range))
    }

    /// Adds a name; false if it was there. (One search: names are almost never there, so
    /// boxing before knowing is cheaper than searching twice.)
    pub(crate) fn insert(&mut self, name: &str) -> bool {
        self.0
            .get_or_insert_with(Box::default)
            .insert(Box::from(name))
    }

    /// A set of distinct names, in one bulk build (full B-tree nodes, no per-name search).
    pub(crate) fn from_names(names: Vec<Box<str>>) -> Children {
        if names.is_empty() {
            Children(None)
        } else {
            Children(Some(Box::new(names.into_iter().collect())))
        }
    }

    /// Removes a name; the set's allocation goes with the last one.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        let Some(set) = self.0.as_mut() else {
            return false;
        };
        let removed = set.remove(name);
        if set.is_empty() {
            self.0 = None;
        }
        removed
    }
}

impl<'a> FromIterator<&'a str> for Children {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Children {
        let mut c = Children::default();
        for name in iter {
            c.insert(name);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(cversion: i32, children: &[&str], owner: i64) -> Znode {
        let mut n = Znode::new(
            "/n",
            Some(b"abc"),
            Arc::from(Acl::open_unsafe()),
            StatPersisted {
                cversion,
                ephemeral_owner: owner,
                ..Default::default()
            },
        );
        n.children = children.iter().copied().collect();
        n
    }

    #[test]
    fn visible_cversion_is_twice_stored_minus_children() {
        // Fresh "/" and "/zookeeper" (§4.2): -1 and -2.
        assert_eq!(node(0, &["zookeeper"], 0).client_stat().cversion, -1);
        assert_eq!(node(0, &["config", "quota"], 0).client_stat().cversion, -2);
        // create a, s-1, s-2, delete a: stored 3, two children → 4.
        assert_eq!(node(3, &["s-1", "s-2"], 0).client_stat().cversion, 4);
        assert_eq!(node(0, &[], 0).client_stat().cversion, 0);
        let s = node(3, &["s-1", "s-2"], 0).client_stat();
        assert_eq!((s.num_children, s.data_length), (2, 3));
    }

    #[test]
    fn owner_encodings() {
        assert_eq!(CONTAINER_OWNER as u64, 0x8000_0000_0000_0000);
        assert_eq!(ttl_owner(1) as u64, 0xff00_0000_0000_0001);
        assert_eq!(ttl_owner(TTL_MAX_MS) as u64, 0xff00_00ff_ffff_ffff);
        assert_eq!(NodeKind::from_owner(0), NodeKind::Persistent);
        assert_eq!(NodeKind::from_owner(CONTAINER_OWNER), NodeKind::Container);
        assert_eq!(NodeKind::from_owner(ttl_owner(5000)), NodeKind::Ttl(5000));
        assert_eq!(
            NodeKind::from_owner(0x0100_0004_e677_0000),
            NodeKind::Ephemeral(0x0100_0004_e677_0000)
        );
        // A 0xff top byte with a non-zero feature id is not a TTL.
        let other = 0xff00_0100_0000_0001_u64 as i64;
        assert_eq!(NodeKind::from_owner(other), NodeKind::Ephemeral(other));
        for k in [
            NodeKind::Persistent,
            NodeKind::Container,
            NodeKind::Ttl(77),
            NodeKind::Ephemeral(42),
        ] {
            assert_eq!(NodeKind::from_owner(k.owner()), k);
        }
    }

    #[test]
    fn clients_see_owner_zero_for_container_and_ttl() {
        assert_eq!(
            node(0, &[], CONTAINER_OWNER).client_stat().ephemeral_owner,
            0
        );
        assert_eq!(node(0, &[], ttl_owner(10)).client_stat().ephemeral_owner, 0);
        assert_eq!(node(0, &[], 42).client_stat().ephemeral_owner, 42);
    }

    #[test]
    fn null_data_has_length_zero() {
        let mut n = node(0, &[], 0);
        n.set_data(None);
        assert_eq!(n.client_stat().data_length, 0);
        assert_eq!(n.data(), None);
        n.set_data(Some(b""));
        assert_eq!(n.data(), Some(&b""[..]));
        assert_eq!(n.path(), "/n");
    }
}

#[cfg(test)]
mod size {
    /// A million znodes is a normal tree: keep the per-node struct from growing unnoticed.
    /// (blob 16 + path_len 4 + null flag 1 + Arc<[Acl]> 16 + StatPersisted 64 + Children 8,
    /// padded: 112, an exact allocator size class; 113 would cost 128.)
    #[test]
    fn znode_stays_small() {
        assert!(std::mem::size_of::<super::Znode>() <= 112);
    }
}
