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

/// One znode. Small on purpose (one is kept per node, a million is a normal tree): the path is
/// the key of the tree's map and is not repeated here; dataLength and numChildren are derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Znode {
    /// `None` is the null buffer (getData answers length -1), distinct from empty data.
    pub data: Option<Bytes>,
    /// The interned ACL list (see `DataTree`'s ACL cache).
    pub acl: Arc<[Acl]>,
    /// As stored in snapshots; `cversion` is the stored count of child creations.
    pub stat: StatPersisted,
    /// Names (last segments) of the children, in byte order so every walk is deterministic.
    pub children: BTreeSet<Box<str>>,
}

impl Znode {
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
        self.data.as_ref().map_or(0, Bytes::len)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn node(cversion: i32, children: &[&str], owner: i64) -> Znode {
        Znode {
            data: Some(Bytes::from_static(b"abc")),
            acl: Arc::from(Acl::open_unsafe()),
            stat: StatPersisted {
                cversion,
                ephemeral_owner: owner,
                ..Default::default()
            },
            children: children.iter().map(|c| Box::from(*c)).collect(),
        }
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
        n.data = None;
        assert_eq!(n.client_stat().data_length, 0);
    }
}

#[cfg(test)]
mod size {
    /// A million znodes is a normal tree: keep the per-node struct from growing unnoticed.
    /// (Option<Bytes> 32 + Arc<[Acl]> 16 + StatPersisted 64 + BTreeSet 24.)
    #[test]
    fn znode_stays_small() {
        assert!(std::mem::size_of::<super::Znode>() <= 136);
    }
}
