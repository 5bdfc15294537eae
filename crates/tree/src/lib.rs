//! The znode tree: the deterministic state machine ZAB replicates.
//!
//! Owns: path validation, the znodes and their Stat bookkeeping, ACL checks, the watch
//! registry, `apply(txn)`, and the snapshot body. Never does IO, never reads a clock
//! (times come in the txn header), never names tokio.
//!
//! Modules (one owner each while the crate is being built):
//! - `path`     — ZooKeeper's PathUtils validation and parent/name helpers.
//! - `znode`    — `Znode` and the client view of its Stat.
//! - `datatree` — `DataTree`: the map of znodes, ephemerals by owner, containers, TTL nodes.
//! - `apply`    — `DataTree::apply(&Txn) -> Applied` (results + watch triggers).
//! - `snapshot` — the tree section of a snapshot / SNAP stream (ZooKeeper's byte format),
//!   whole or in chunks while the tree keeps changing (fuzzy snapshot).
//! - `acl`      — permission checks, digest ids, ACL validation/fix-up for create/setACL.
//! - `watch`    — the watch registry (one-shot, persistent, persistent-recursive).
//!
//! Crate invariants: `apply` is a pure function of (tree, txn) — no clock, no randomness, no
//! iteration over hash order reaches an output — so every member that applies the same txns
//! holds an equal tree (`DataTree: Eq`), and replaying txns over a fuzzy snapshot converges.

pub mod acl;
pub mod apply;
pub mod datatree;
pub mod path;
pub mod snapshot;
pub mod watch;
pub mod znode;

pub use apply::{Applied, Trigger, TxnResult};
pub use datatree::DataTree;
pub use snapshot::{deserialize_tree, serialize_tree, SnapshotError, SnapshotWriter};
pub use znode::{NodeKind, Znode, CONTAINER_OWNER, TTL_MAX_MS};
