//! `DataTree`: every znode by full path, the interned ACL lists, and the indexes the server
//! needs (ephemerals by owner, containers, TTL nodes), plus the node-level mutations `apply`
//! and snapshot restore are built from.
//!
//! Owns: the tree's structure and its derived bookkeeping. One writer (the apply stage); readers
//! get `&Znode`.
//!
//! Invariants (checked by [`DataTree::check_invariants`], which the tests run after every op):
//! 1. `/` exists; every other node's parent exists and lists the node's name in `children`, and
//!    every listed child exists.
//! 2. `ephemerals[s]` is exactly the set of paths whose stored owner decodes to
//!    `NodeKind::Ephemeral(s)` (no empty sets are kept); `containers` and `ttls` likewise.
//! 3. Every node's `acl` is the interned `Arc` of the ACL cache, and each cache entry's reference
//!    count is the number of nodes using it. The open list (`world:anyone` ALL) is special: it
//!    is ZooKeeper's ACL key -1, never counted and never written to the snapshot's ACL section.
//! 4. `data_size` is ZooKeeper's `approximateDataSize`: Σ over map keys (the `""` root alias
//!    included, contributing 0) of the key's Java length plus the data length.
//!
//! Map choice: a `hashbrown::HashTable<Box<Znode>>` keyed by the full path, which each `Znode`
//! carries (in the same allocation as its data). Lookups by path are the hot operation (every
//! read, every prep check) and are one hash of the path. Measured with 1M znodes, the
//! previous `HashMap<Box<str>, Znode>` spent more memory on its table than on the nodes: a
//! hash table of 152-byte entries is at most 7/8 full and right after a doubling under half
//! full, so each node paid ~300 bytes of table. Boxed nodes make an entry 8 bytes (1M nodes:
//! ~19 MB of table), and keeping the path inside the node saves a separate key allocation.
//! The hasher is hashbrown's default (foldhash, randomly seeded per map): SipHash was a fifth
//! of the restart profile. Iteration order of this map never reaches an output: walks go
//! through each node's ordered `children`, and the indexes are B-trees, so the random hash seed
//! cannot break replay determinism. Child names are stored a second time (in the parent's
//! set), as ZooKeeper does; everything else about a node is stored once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashTable};
use jute::{Acl, ErrorCode, Stat, StatPersisted, Zxid};

use crate::path::{self, java_len, validate_path};
use crate::znode::{Children, NodeKind, Znode};

/// ZooKeeper's ACL key of the open list (`OPEN_ACL_UNSAFE`), used by the built-in nodes.
pub const OPEN_ACL_KEY: i64 = -1;

/// One interned ACL list with the key snapshots refer to it by.
#[derive(Debug, Clone)]
struct AclEntry {
    acl: Arc<[Acl]>,
    key: i64,
    /// Number of znodes whose `acl` is this list. The entry is dropped when it reaches 0.
    refs: u64,
}

/// Interns ACL lists as ZooKeeper's `ReferenceCountedACLCache` does: one shared copy and one
/// long key per distinct list, reference counted by the nodes using it. Keys are allocated from
/// 1 upwards and never reused while the tree lives, so a key seen in a snapshot section stays
/// unambiguous. `jute::Acl` has no `Hash`, so lists are bucketed by a fixed-key hash of their
/// contents (deterministic, unlike `RandomState`; the buckets are never iterated for output).
#[derive(Debug, Clone)]
pub(crate) struct AclCache {
    by_hash: HashMap<u64, Vec<AclEntry>>,
    open: Arc<[Acl]>,
    next_key: i64,
}

fn acl_hash(acl: &[Acl]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    acl.len().hash(&mut h);
    for a in acl {
        a.perms.hash(&mut h);
        a.id.scheme.hash(&mut h);
        a.id.id.hash(&mut h);
    }
    h.finish()
}

impl AclCache {
    fn new() -> AclCache {
        AclCache {
            by_hash: HashMap::new(),
            open: Arc::from(Acl::open_unsafe()),
            next_key: 1,
        }
    }

    /// Takes one reference to `acl`'s interned copy, interning it under a new key if needed.
    pub(crate) fn intern(&mut self, acl: &[Acl]) -> Arc<[Acl]> {
        self.intern_keyed(acl, None)
    }

    /// As `intern`, but a list not yet cached gets `key` (snapshot restore keeps the keys).
    fn intern_keyed(&mut self, acl: &[Acl], key: Option<i64>) -> Arc<[Acl]> {
        if *acl == *self.open {
            return self.open.clone();
        }
        let bucket = self.by_hash.entry(acl_hash(acl)).or_default();
        if let Some(e) = bucket.iter_mut().find(|e| *e.acl == *acl) {
            e.refs += 1;
            return e.acl.clone();
        }
        let key = match key {
            Some(k) => k,
            None => {
                let k = self.next_key;
                self.next_key += 1;
                k
            }
        };
        self.next_key = self.next_key.max(key.saturating_add(1));
        let shared: Arc<[Acl]> = Arc::from(acl);
        bucket.push(AclEntry {
            acl: shared.clone(),
            key,
            refs: 1,
        });
        shared
    }

    /// Drops one reference; the entry goes when no node uses it.
    pub(crate) fn release(&mut self, acl: &Arc<[Acl]>) {
        if Arc::ptr_eq(acl, &self.open) {
            return;
        }
        let h = acl_hash(acl);
        if let Some(bucket) = self.by_hash.get_mut(&h) {
            if let Some(i) = bucket.iter().position(|e| Arc::ptr_eq(&e.acl, acl)) {
                bucket[i].refs -= 1;
                if bucket[i].refs == 0 {
                    bucket.swap_remove(i);
                }
            }
            if bucket.is_empty() {
                self.by_hash.remove(&h);
            }
        }
    }

    /// The snapshot key of an interned list (`OPEN_ACL_KEY` for the open list).
    pub(crate) fn key_of(&self, acl: &Arc<[Acl]>) -> Option<i64> {
        if Arc::ptr_eq(acl, &self.open) {
            return Some(OPEN_ACL_KEY);
        }
        self.by_hash
            .get(&acl_hash(acl))?
            .iter()
            .find(|e| Arc::ptr_eq(&e.acl, acl))
            .map(|e| e.key)
    }

    /// Every cached list with its key, in key order (the snapshot's ACL section).
    pub(crate) fn entries(&self) -> Vec<(i64, Arc<[Acl]>)> {
        let mut v: Vec<(i64, Arc<[Acl]>)> = self
            .by_hash
            .values()
            .flatten()
            .map(|e| (e.key, e.acl.clone()))
            .collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// The next key a new list would get; keys below it may appear in a snapshot in progress.
    pub(crate) fn next_key(&self) -> i64 {
        self.next_key
    }

    pub(crate) fn open(&self) -> &Arc<[Acl]> {
        &self.open
    }

    fn len(&self) -> usize {
        self.by_hash.values().map(Vec::len).sum()
    }

    fn refs_of(&self, acl: &[Acl]) -> Option<u64> {
        self.by_hash
            .get(&acl_hash(acl))?
            .iter()
            .find(|e| *e.acl == *acl)
            .map(|e| e.refs)
    }

    fn is_interned(&self, acl: &Arc<[Acl]>) -> bool {
        self.key_of(acl).is_some()
    }
}

/// Every znode, found by its full path (which the node itself holds). See the module doc.
#[derive(Clone, Default)]
struct NodeMap {
    table: HashTable<Box<Znode>>,
    hasher: DefaultHashBuilder,
}

impl NodeMap {
    fn hash(&self, path: &[u8]) -> u64 {
        self.hasher.hash_one(path)
    }

    fn get(&self, path: &str) -> Option<&Znode> {
        let p = path.as_bytes();
        self.table
            .find(self.hash(p), |n| n.path_bytes() == p)
            .map(|n| &**n)
    }

    fn get_mut(&mut self, path: &str) -> Option<&mut Znode> {
        let p = path.as_bytes();
        let h = self.hash(p);
        self.table
            .find_mut(h, |n| n.path_bytes() == p)
            .map(|n| &mut **n)
    }

    fn contains_key(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// Adds a node; gives it back (the map unchanged) if its path is already there.
    fn insert(&mut self, node: Znode) -> Result<(), Box<Znode>> {
        self.insert_boxed(Box::new(node))
    }

    fn insert_boxed(&mut self, node: Box<Znode>) -> Result<(), Box<Znode>> {
        let h = self.hash(node.path_bytes());
        let hasher = &self.hasher;
        match self.table.entry(
            h,
            |n| n.path_bytes() == node.path_bytes(),
            |n| hasher.hash_one(n.path_bytes()),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => Err(node),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(node);
                Ok(())
            }
        }
    }

    fn reserve(&mut self, additional: usize) {
        let hasher = &self.hasher;
        self.table
            .reserve(additional, |n| hasher.hash_one(n.path_bytes()));
    }

    fn remove(&mut self, path: &str) -> Option<Znode> {
        let p = path.as_bytes();
        let h = self.hash(p);
        let entry = self.table.find_entry(h, |n| n.path_bytes() == p).ok()?;
        Some(*entry.remove().0)
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn iter(&self) -> impl Iterator<Item = &Znode> + '_ {
        self.table.iter().map(|n| &**n)
    }
}

impl std::fmt::Debug for NodeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeMap").field("len", &self.len()).finish()
    }
}

impl PartialEq for NodeMap {
    fn eq(&self, other: &NodeMap) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|n| other.get(n.path()).is_some_and(|o| o == n))
    }
}

/// What a successful node-level mutation reports back to `apply` for results and triggers.
pub(crate) struct Changed {
    pub stat: Stat,
    pub acl: Arc<[Acl]>,
    pub parent_acl: Option<Arc<[Acl]>>,
}

/// The znode tree. See the module doc for its invariants.
#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: NodeMap,
    pub(crate) acls: AclCache,
    ephemerals: BTreeMap<i64, BTreeSet<Box<str>>>,
    containers: BTreeSet<Box<str>>,
    ttls: BTreeSet<Box<str>>,
    data_size: u64,
    last_processed_zxid: Zxid,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

fn data_len(data: Option<&Bytes>) -> u64 {
    data.map_or(0, |d| d.len() as u64)
}

impl DataTree {
    /// A fresh tree as ZooKeeper's DataTree constructor builds it (§4.2): `/`, `/zookeeper`,
    /// `/zookeeper/quota` (open ACL, key -1, all-zero Stat, empty data) and `/zookeeper/config`
    /// (world:anyone READ, aversion -1, empty data). Built-in children are linked without
    /// counting creations, so `/` shows cversion -1 and `/zookeeper` -2.
    ///
    /// `/zookeeper/config` has version 0, as a standalone 3.8 server reports it; a quorum
    /// server then stores its dynamic config with [`DataTree::init_config_node`], which (like
    /// ZooKeeper's setData with version -1) leaves version -1.
    pub fn new() -> DataTree {
        let mut t = DataTree::empty();
        let open = t.acls.open().clone();
        let read = t.acls.intern(&Acl::read_unsafe());
        let builtin = |path: &str, acl: Arc<[Acl]>, aversion: i32| {
            let stat = StatPersisted {
                aversion,
                ..Default::default()
            };
            Znode::new(path, Some(b""), acl, stat)
        };
        t.insert_linked(builtin("/", open.clone(), 0));
        t.insert_linked(builtin("/zookeeper", open.clone(), 0));
        t.insert_linked(builtin("/zookeeper/quota", open, 0));
        t.insert_linked(builtin("/zookeeper/config", read, -1));
        t
    }

    /// A tree with no nodes at all (not even `/`): the starting point of snapshot restore.
    pub(crate) fn empty() -> DataTree {
        DataTree {
            nodes: NodeMap::default(),
            acls: AclCache::new(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
            last_processed_zxid: Zxid::ZERO,
        }
    }

    /// Stores the dynamic configuration in `/zookeeper/config` the way ZooKeeper's
    /// `initConfigInZKDatabase` does: setData with version -1, mzxid = the config's version,
    /// mtime = `time_ms`. No watch trigger (it happens before serving).
    pub fn init_config_node(&mut self, data: Bytes, config_zxid: i64, time_ms: i64) {
        // /zookeeper/config always exists in a tree built by `new()`; a restored tree without
        // it is left alone (ZooKeeper only logs in that case).
        let _ = self.set_data("/zookeeper/config", Some(&data), -1, config_zxid, time_ms);
    }

    /// The node at `path`. `""` is ZooKeeper's alias of the root and finds `/`.
    pub fn get(&self, path: &str) -> Option<&Znode> {
        let path = if path.is_empty() { "/" } else { path };
        self.nodes.get(path)
    }

    /// ZooKeeper's "Node count": the map size including the `""` root alias (5 when fresh).
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// The paths of the normal ephemerals owned by `session`, sorted.
    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default()
    }

    /// Every session that owns ephemerals, with its paths; sessions ascending, paths sorted.
    pub fn sessions_with_ephemerals(&self) -> Vec<(i64, Vec<String>)> {
        self.ephemerals
            .iter()
            .map(|(s, paths)| (*s, paths.iter().map(|p| p.to_string()).collect()))
            .collect()
    }

    /// Number of normal ephemerals (mntr `zk_ephemerals_count`).
    pub fn ephemerals_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    /// Container node paths, sorted (for the container reaper).
    pub fn containers(&self) -> Vec<String> {
        self.containers.iter().map(|p| p.to_string()).collect()
    }

    /// TTL node paths, sorted (for the reaper).
    pub fn ttl_nodes(&self) -> Vec<String> {
        self.ttls.iter().map(|p| p.to_string()).collect()
    }

    /// ZooKeeper's `getAllChildrenNumber`: the number of descendants of `path` (not counting
    /// itself). For `/` that is `Node count - 2`, i.e. every node but the root and its alias.
    /// `None` if `path` does not exist.
    pub fn count_descendants(&self, path: &str) -> Option<i32> {
        self.get(path)?;
        let mut n: i64 = -1;
        self.walk(path, |_, _| n += 1);
        Some(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// ZooKeeper's `approximateDataSize` (mntr `zk_approximate_data_size`): Σ over nodes of the
    /// path's Java length plus the data length (44 for a fresh tree).
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// The zxid of the last txn applied (a multi counts once, after all its sub-txns).
    pub fn last_processed_zxid(&self) -> Zxid {
        self.last_processed_zxid
    }

    /// Sets the last processed zxid: snapshot restore leaves it to the caller, who knows it
    /// from the snapshot's file name or trailer.
    pub fn set_last_processed_zxid(&mut self, zxid: Zxid) {
        self.last_processed_zxid = zxid;
    }

    /// Raises the last processed zxid (never lowers it, as ZooKeeper's `processTxn`).
    pub(crate) fn advance_last_processed_zxid(&mut self, zxid: i64) {
        if zxid > self.last_processed_zxid.0 {
            self.last_processed_zxid = Zxid(zxid);
        }
    }

    /// The snapshot key of a node's ACL list (`-1` for the open list); `None` only if the list
    /// is not interned in this tree (never, for a node of this tree).
    pub fn acl_key(&self, acl: &Arc<[Acl]>) -> Option<i64> {
        self.acls.key_of(acl)
    }

    /// Visits `start` and all its descendants in pre-order (parent before children, children in
    /// name order), with the full path of each. Allocation-free per node: one path buffer is
    /// reused, and the explicit stack means deep trees cannot overflow the call stack.
    pub fn walk(&self, start: &str, mut f: impl FnMut(&str, &Znode)) {
        let Some(first) = self.get(start) else {
            return;
        };
        let mut path = String::from(if start.is_empty() { "/" } else { start });
        f(&path, first);
        let mut stack = vec![(path.len(), first.children.iter())];
        while let Some(top) = stack.last_mut() {
            let base = top.0;
            let Some(name) = top.1.next() else {
                stack.pop();
                continue;
            };
            path.truncate(base);
            if base != 1 {
                path.push('/');
            }
            path.push_str(name);
            if let Some(node) = self.nodes.get(path.as_str()) {
                f(&path, node);
                if !node.children.is_empty() {
                    stack.push((path.len(), node.children.iter()));
                }
            }
        }
    }

    // ---- node-level mutations (used by `apply` and snapshot restore) ----

    /// Inserts `node` at its path and links it into its parent's `children` without touching
    /// the parent's Stat; maintains the indexes, the data size and the ACL refcount. The caller
    /// has checked that the parent exists and the path is free, and `node.acl` already holds a
    /// reference taken from `self.acls`.
    fn insert_linked(&mut self, node: Znode) {
        let path = node.path();
        if path != "/" {
            if let Some(parent) = self.nodes.get_mut(path::parent(path)) {
                parent.children.insert(path::name(path));
            }
        }
        self.data_size += java_len(path) as u64 + node.data_len() as u64;
        self.index_add(path, node.kind());
        // The callers have checked that the path is free.
        let _ = self.nodes.insert(node);
    }

    fn index_add(&mut self, path: &str, kind: NodeKind) {
        match kind {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral(s) => {
                self.ephemerals
                    .entry(s)
                    .or_default()
                    .insert(Box::from(path));
            }
            NodeKind::Container => {
                self.containers.insert(Box::from(path));
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(Box::from(path));
            }
        }
    }

    fn index_remove(&mut self, path: &str, kind: NodeKind) {
        match kind {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
        }
    }

    /// Removes `path` from the map and undoes its bookkeeping (not the parent's `children`).
    fn remove_entry(&mut self, path: &str) -> Option<Znode> {
        let node = self.nodes.remove(path)?;
        self.acls.release(&node.acl);
        self.data_size -= java_len(path) as u64 + node.data_len() as u64;
        self.index_remove(path, node.kind());
        Some(node)
    }

    /// ZooKeeper's `createNode`. `parent_cversion` is the parent's new stored cversion (-1 =
    /// current + 1); it and pzxid are only moved forward, so replaying a create over a fuzzy
    /// snapshot never lowers them. "Forward" is serial-number order (the difference as i32 is
    /// positive) rather than Java's plain `>`, so a counter that wraps past i32::MAX keeps
    /// advancing instead of sticking at the maximum.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_node(
        &mut self,
        path: &str,
        data: Option<&Bytes>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
    ) -> Result<Changed, ErrorCode> {
        if path == "/" || validate_path(path).is_err() {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = path::parent(path);
        let name = path::name(path);
        let parent = self.nodes.get_mut(parent_path).ok_or(ErrorCode::NoNode)?;
        if parent.children.contains(name) {
            return Err(ErrorCode::NodeExists);
        }
        let cversion = if parent_cversion == -1 {
            parent.stat.cversion.wrapping_add(1)
        } else {
            parent_cversion
        };
        if cversion.wrapping_sub(parent.stat.cversion) > 0 {
            parent.stat.cversion = cversion;
            parent.stat.pzxid = zxid;
        }
        let parent_acl = parent.acl.clone();
        let acl = self.acls.intern(acl);
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
        };
        let node = Znode::new(path, data.map(|d| &d[..]), acl.clone(), stat);
        let stat = node.client_stat();
        self.insert_linked(node);
        Ok(Changed {
            stat,
            acl,
            parent_acl: Some(parent_acl),
        })
    }

    /// ZooKeeper's `setCversionPzxid`, used when a replayed create finds its node already
    /// there: the parent still gets the create's cversion and pzxid (if they are newer).
    pub(crate) fn set_cversion_pzxid(
        &mut self,
        path: &str,
        cversion: i32,
        zxid: i64,
    ) -> Result<(), ErrorCode> {
        let node = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        let cversion = if cversion == -1 {
            node.stat.cversion.wrapping_add(1)
        } else {
            cversion
        };
        if cversion.wrapping_sub(node.stat.cversion) > 0 {
            node.stat.cversion = cversion;
            node.stat.pzxid = zxid;
        }
        Ok(())
    }

    /// ZooKeeper's `deleteNode`. The parent's pzxid moves to `zxid` (only forward) even when the
    /// child is already gone, as a replay over a fuzzy snapshot needs. The root cannot be
    /// deleted (BadArguments).
    ///
    /// A node that still has children can only be met when replaying over a fuzzy snapshot
    /// (prep answers NotEmpty otherwise): the log says the node was empty at this zxid, so its
    /// current children were created later and replay will create them again. The whole subtree
    /// is removed, which keeps the tree's invariants; ZooKeeper instead leaves those children
    /// unreachable in its map until they are re-created.
    pub(crate) fn delete_node(&mut self, path: &str, zxid: i64) -> Result<Changed, ErrorCode> {
        if path.is_empty() || path == "/" || !path.starts_with('/') {
            return Err(ErrorCode::BadArguments);
        }
        let parent = self
            .nodes
            .get_mut(path::parent(path))
            .ok_or(ErrorCode::NoNode)?;
        parent.children.remove(path::name(path));
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        let parent_acl = parent.acl.clone();
        let has_children = !self.get(path).ok_or(ErrorCode::NoNode)?.children.is_empty();
        if has_children {
            let mut below = Vec::new();
            self.walk(path, |p, _| below.push(p.to_string()));
            // Deepest first is not needed (parents' child sets go with them), but skip `path`
            // itself: it is removed below like any other delete.
            for p in below.iter().skip(1) {
                self.remove_entry(p);
            }
        }
        let node = self.remove_entry(path).ok_or(ErrorCode::NoNode)?;
        Ok(Changed {
            stat: node.client_stat(),
            acl: node.acl,
            parent_acl: Some(parent_acl),
        })
    }

    /// ZooKeeper's `setData`: new data, mtime, mzxid, and `version` (the txn carries the new
    /// version, so replay is idempotent).
    pub(crate) fn set_data(
        &mut self,
        path: &str,
        data: Option<&Bytes>,
        version: i32,
        zxid: i64,
        time: i64,
    ) -> Result<Changed, ErrorCode> {
        let node = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        let old_len = node.data_len() as u64;
        node.set_data(data.map(|d| &d[..]));
        node.stat.mtime = time;
        node.stat.mzxid = zxid;
        node.stat.version = version;
        let changed = Changed {
            stat: node.client_stat(),
            acl: node.acl.clone(),
            parent_acl: None,
        };
        self.data_size = self.data_size - old_len + data_len(data);
        Ok(changed)
    }

    /// ZooKeeper's `setACL`: the new (interned) list and `version` as the new aversion.
    pub(crate) fn set_acl(
        &mut self,
        path: &str,
        acl: &[Acl],
        version: i32,
    ) -> Result<Changed, ErrorCode> {
        if !self.nodes.contains_key(path) {
            return Err(ErrorCode::NoNode);
        }
        let new_acl = self.acls.intern(acl);
        let node = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        let old_acl = std::mem::replace(&mut node.acl, new_acl.clone());
        node.stat.aversion = version;
        let stat = node.client_stat();
        self.acls.release(&old_acl);
        Ok(Changed {
            stat,
            acl: new_acl,
            parent_acl: None,
        })
    }

    // ---- checks and comparison ----

    /// Checks the structural invariants of the module doc (1–4). They hold for every tree this
    /// crate builds, including one restored from any snapshot it accepts. O(n): for tests, the
    /// simulator and debug assertions.
    pub fn check_invariants(&self) -> Result<(), String> {
        let root = self.nodes.get("/").ok_or("no root")?;
        if root.stat.ephemeral_owner != 0 {
            return Err("root is not persistent".into());
        }
        let mut ephemerals: BTreeMap<i64, BTreeSet<Box<str>>> = BTreeMap::new();
        let mut containers = BTreeSet::new();
        let mut ttls = BTreeSet::new();
        let mut acl_refs: Vec<(Arc<[Acl]>, u64)> = Vec::new();
        let mut size = 0u64;
        for node in self.nodes.iter() {
            let path = node.path();
            size += java_len(path) as u64 + node.data_len() as u64;
            if path != "/" {
                let parent = self
                    .nodes
                    .get(path::parent(path))
                    .ok_or_else(|| format!("{path}: parent missing"))?;
                if !parent.children.contains(path::name(path)) {
                    return Err(format!("{path}: not listed by its parent"));
                }
            }
            for c in node.children.iter() {
                if !self.nodes.contains_key(path::join(path, c).as_str()) {
                    return Err(format!("{path}: lists missing child {c}"));
                }
            }
            match node.kind() {
                NodeKind::Persistent => {}
                NodeKind::Ephemeral(o) => {
                    ephemerals.entry(o).or_default().insert(Box::from(path));
                }
                NodeKind::Container => {
                    containers.insert(Box::<str>::from(path));
                }
                NodeKind::Ttl(_) => {
                    ttls.insert(Box::<str>::from(path));
                }
            }
            if !self.acls.is_interned(&node.acl) {
                return Err(format!("{path}: ACL not interned"));
            }
            if !Arc::ptr_eq(&node.acl, self.acls.open()) {
                match acl_refs.iter_mut().find(|(a, _)| Arc::ptr_eq(a, &node.acl)) {
                    Some((_, n)) => *n += 1,
                    None => acl_refs.push((node.acl.clone(), 1)),
                }
            }
        }
        if ephemerals != self.ephemerals {
            return Err(format!(
                "ephemerals index {:?} != {:?}",
                self.ephemerals, ephemerals
            ));
        }
        if containers != self.containers || ttls != self.ttls {
            return Err("container/TTL index out of date".into());
        }
        if size != self.data_size {
            return Err(format!("data size {} != {}", self.data_size, size));
        }
        if acl_refs.len() != self.acls.len() {
            return Err("ACL cache holds unused lists".into());
        }
        for (acl, n) in &acl_refs {
            if self.acls.refs_of(acl) != Some(*n) {
                return Err(format!("ACL refcount of {acl:?} is not {n}"));
            }
        }
        Ok(())
    }
}

impl DataTree {
    /// Checks the Stat invariants that hold for a tree built by applying txns from a fresh tree
    /// (not for a fuzzy snapshot before its replay, nor for arbitrary snapshot input): pzxid ≥
    /// czxid, mzxid ≥ czxid, and stored cversion ≥ numChildren while the counter has not
    /// wrapped (the uncounted built-in children of `/` and `/zookeeper` excepted).
    pub fn check_stat_invariants(&self) -> Result<(), String> {
        for node in self.nodes.iter() {
            let path = node.path();
            let s = &node.stat;
            if s.pzxid < s.czxid || s.mzxid < s.czxid {
                return Err(format!("{path}: pzxid/mzxid below czxid: {s:?}"));
            }
            let builtin = match path {
                "/" => usize::from(node.children.contains("zookeeper")),
                "/zookeeper" => {
                    usize::from(node.children.contains("quota"))
                        + usize::from(node.children.contains("config"))
                }
                _ => 0,
            };
            let counted = node.children.len().saturating_sub(builtin);
            if s.cversion >= 0 && (s.cversion as usize) < counted {
                return Err(format!("{path}: stored cversion {} < children", s.cversion));
            }
        }
        Ok(())
    }
}

/// Snapshot restore: builds a tree from nodes read in a snapshot's order.
///
/// Restore is most of a restart's work, so it avoids what a node-by-node insert would do:
/// - the map is sized once for the expected count (growing it re-hashes every path, each
///   behind a pointer: an eighth of the restart profile);
/// - each node's parent is found on the chain of ancestors of the previous node (pre-order
///   puts it there), not looked up in the map, and the child names are collected and turned
///   into each parent's set in one bulk build when the walk leaves the parent (no per-name
///   B-tree search, and the set's nodes come out full: about half the memory of a set grown
///   one sorted insert at a time).
///
/// Input that is not in pre-order (a parent met again after its subtree was left) still
/// works, through the map; a path seen twice is refused by the map insert.
pub(crate) struct Restorer {
    tree: DataTree,
    /// The previous node's path; `levels` are its ancestors and itself.
    cur: String,
    /// Root first: (length of that ancestor's path in `cur`, child names seen since it was
    /// entered, not yet in its `children`).
    levels: Vec<(usize, Vec<Box<str>>)>,
}

impl Restorer {
    /// An empty tree expecting about `expected_nodes` nodes.
    pub(crate) fn new(expected_nodes: usize) -> Restorer {
        let mut tree = DataTree::empty();
        tree.nodes.reserve(expected_nodes);
        Restorer {
            tree,
            cur: String::new(),
            levels: Vec::new(),
        }
    }

    /// The tree's interned open ACL list, which nodes with key -1 must share.
    pub(crate) fn open_acl(&self) -> Arc<[Acl]> {
        self.tree.acls.open().clone()
    }

    /// Adds a node read from a snapshot (built with the open ACL; `acl` is the list and key
    /// it really has, if not the open one). `name` is its last segment, `None` for the root.
    /// The caller has checked the path with `validate_path`. The parent must already be
    /// present and the path new; on error the node is given back.
    pub(crate) fn node(
        &mut self,
        mut node: Box<Znode>,
        name: Option<Box<str>>,
        acl: Option<(&[Acl], i64)>,
    ) -> Result<(), (RestoreError, Box<Znode>)> {
        match &name {
            None => {
                if node.stat.ephemeral_owner != 0 {
                    // ZooKeeper's root is always persistent; only a corrupt stream says so.
                    return Err((RestoreError::RootNotPersistent, node));
                }
            }
            Some(_) => {
                if let Err(e) = self.enter_parent(path::parent(node.path())) {
                    return Err((e, node));
                }
            }
        }
        if let Some((list, key)) = acl {
            node.acl = self.tree.acls.intern_keyed(list, Some(key));
        }
        let size = java_len(node.path()) as u64 + node.data_len() as u64;
        let kind = node.kind();
        self.cur.clear();
        self.cur.push_str(node.path());
        if let Err(dup) = self.tree.nodes.insert_boxed(node) {
            // Give back the reference just taken, so the cache stays consistent.
            self.tree.acls.release(&dup.acl);
            return Err((RestoreError::Duplicate, dup));
        }
        self.tree.data_size += size;
        self.tree.index_add(&self.cur, kind);
        if let (Some(top), Some(name)) = (self.levels.last_mut(), name) {
            top.1.push(name);
        }
        self.levels.push((self.cur.len(), Vec::new()));
        Ok(())
    }

    /// Makes the top level `parent`: closes the levels below it, or, when `parent` is not an
    /// ancestor of the previous node, closes them all and reopens `parent` from the map.
    fn enter_parent(&mut self, parent: &str) -> Result<(), RestoreError> {
        while let Some(&(len, _)) = self.levels.last() {
            if len == parent.len() && self.cur.as_bytes()[..len] == *parent.as_bytes() {
                return Ok(());
            }
            self.close_top();
        }
        if !self.tree.nodes.contains_key(parent) {
            return Err(RestoreError::Orphan);
        }
        self.cur.clear();
        self.cur.push_str(parent);
        self.levels.push((parent.len(), Vec::new()));
        Ok(())
    }

    /// Moves the collected names of the top level into its node's `children`.
    fn close_top(&mut self) {
        let Some((len, names)) = self.levels.pop() else {
            return;
        };
        if names.is_empty() {
            return;
        }
        if let Some(node) = self.tree.nodes.get_mut(&self.cur[..len]) {
            if node.children.is_empty() {
                node.children = Children::from_names(names);
            } else {
                for n in names {
                    node.children.insert(&n);
                }
            }
        }
    }

    /// The restored tree (`last_processed_zxid` still 0).
    pub(crate) fn finish(mut self) -> DataTree {
        while !self.levels.is_empty() {
            self.close_top();
        }
        self.tree
    }
}

/// Why `Restorer::node` refused a node; the snapshot reader turns it into a `SnapshotError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestoreError {
    Duplicate,
    Orphan,
    RootNotPersistent,
}

/// Logical equality: same nodes (data, ACL contents, Stat, children), same indexes, same data
/// size, same last processed zxid, and ACL caches holding the same lists with the same reference
/// counts. ACL *keys* are not compared: they are a property of the history, not of the state.
impl PartialEq for DataTree {
    fn eq(&self, other: &DataTree) -> bool {
        self.nodes == other.nodes
            && self.ephemerals == other.ephemerals
            && self.containers == other.containers
            && self.ttls == other.ttls
            && self.data_size == other.data_size
            && self.last_processed_zxid == other.last_processed_zxid
            && self.acls.len() == other.acls.len()
            && self
                .acls
                .entries()
                .iter()
                .all(|(_, a)| self.acls.refs_of(a) == other.acls.refs_of(a))
    }
}

impl Eq for DataTree {}

#[cfg(test)]
mod tests {
    use super::*;
    use jute::perms;

    fn stat_of(t: &DataTree, p: &str) -> Stat {
        t.get(p).map(Znode::client_stat).unwrap_or_default()
    }

    #[test]
    fn fresh_tree_matches_zookeeper() {
        let t = DataTree::new();
        t.check_invariants().unwrap();
        assert_eq!(t.node_count(), 5);
        assert_eq!(t.approximate_data_size(), 44);
        assert_eq!(t.count_descendants("/"), Some(3));
        assert_eq!(t.count_descendants("/zookeeper"), Some(2));
        assert_eq!(t.count_descendants("/zookeeper/quota"), Some(0));
        assert_eq!(t.count_descendants("/nope"), None);
        assert_eq!(t.last_processed_zxid(), Zxid(0));
        let root = stat_of(&t, "/");
        assert_eq!(
            (root.cversion, root.num_children, root.aversion),
            (-1, 1, 0)
        );
        assert_eq!(
            (root.czxid, root.mzxid, root.pzxid, root.ctime),
            (0, 0, 0, 0)
        );
        assert_eq!(stat_of(&t, "/zookeeper").cversion, -2);
        assert_eq!(stat_of(&t, "/zookeeper").num_children, 2);
        let quota = stat_of(&t, "/zookeeper/quota");
        assert_eq!((quota.cversion, quota.version, quota.aversion), (0, 0, 0));
        let config = t.get("/zookeeper/config").unwrap();
        assert_eq!(&*config.acl, &Acl::read_unsafe()[..]);
        let cs = config.client_stat();
        assert_eq!((cs.version, cs.aversion, cs.data_length), (0, -1, 0));
        assert_eq!(config.data(), Some(&b""[..]));
        assert_eq!(t.acl_key(&config.acl), Some(1));
        assert_eq!(t.acl_key(&t.get("/").unwrap().acl), Some(OPEN_ACL_KEY));
        // "" is ZooKeeper's alias of the root.
        assert!(std::ptr::eq(t.get("").unwrap(), t.get("/").unwrap()));
    }

    #[test]
    fn init_config_node_sets_version_minus_one() {
        let mut t = DataTree::new();
        t.init_config_node(
            Bytes::from_static(b"server.1=a:1:2\nversion=100000000"),
            7,
            99,
        );
        let s = stat_of(&t, "/zookeeper/config");
        assert_eq!((s.version, s.aversion, s.mzxid, s.mtime), (-1, -1, 7, 99));
        assert_eq!(t.approximate_data_size(), 44 + 32);
        t.check_invariants().unwrap();
    }

    #[test]
    fn acl_lists_are_interned_and_refcounted() {
        let mut t = DataTree::new();
        let acl = vec![Acl::new(perms::READ | perms::WRITE, "digest", "u:x")];
        let a = t.create_node("/a", None, &acl, 0, -1, 1, 1).unwrap().acl;
        let b = t.create_node("/b", None, &acl, 0, -1, 2, 1).unwrap().acl;
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(t.acl_key(&a), Some(2));
        t.check_invariants().unwrap();
        t.delete_node("/a", 3).unwrap();
        t.delete_node("/b", 4).unwrap();
        t.check_invariants().unwrap();
        assert_eq!(t.acl_key(&a), None);
        // A list interned again after it was dropped gets a fresh key: keys are never reused.
        let c = t.create_node("/c", None, &acl, 0, -1, 5, 1).unwrap().acl;
        assert_eq!(t.acl_key(&c), Some(3));
        // The open list always maps to the built-in key -1.
        let o = t
            .create_node("/o", None, &Acl::open_unsafe(), 0, -1, 6, 1)
            .unwrap()
            .acl;
        assert_eq!(t.acl_key(&o), Some(OPEN_ACL_KEY));
        t.check_invariants().unwrap();
    }

    #[test]
    fn walk_is_preorder_in_name_order() {
        let mut t = DataTree::new();
        for (i, p) in ["/b", "/a", "/a/z", "/a/c", "/a/c/d"].iter().enumerate() {
            t.create_node(p, None, &Acl::open_unsafe(), 0, -1, i as i64 + 1, 0)
                .unwrap();
        }
        let mut seen = Vec::new();
        t.walk("/", |p, _| seen.push(p.to_string()));
        assert_eq!(
            seen,
            [
                "/",
                "/a",
                "/a/c",
                "/a/c/d",
                "/a/z",
                "/b",
                "/zookeeper",
                "/zookeeper/config",
                "/zookeeper/quota"
            ]
        );
        assert_eq!(t.count_descendants("/a"), Some(3));
        assert_eq!(t.count_descendants("/"), Some(8));
        assert_eq!(t.node_count(), 10);
    }
}
