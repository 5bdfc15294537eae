//! The watch registry: which connection watches which path, and how (ZooKeeper 3.9 semantics).
//!
//! Owns ZooKeeper's two watch tables (`DataTree.dataWatches` and `childWatches`) and the
//! rules that fire them. It never sends anything: [`WatchRegistry::trigger`] returns the
//! watchers to notify, and the caller builds the events (zxid, ACL filtering on delivery —
//! done after the one-shot registrations were consumed, as ZooKeeper does — and per-connection
//! queueing).
//!
//! Tables and modes (zk-protocol §6.2, §6.3):
//! - getData/exists(watch) → data table, STANDARD; getChildren(watch) → child table, STANDARD.
//! - addWatch PERSISTENT → both tables, PERSISTENT; PERSISTENT_RECURSIVE → data table only.
//! - A (watcher, path) entry of a table holds a set of modes; STANDARD, PERSISTENT and
//!   PERSISTENT_RECURSIVE coexist (3.9, ZOOKEEPER-4466). 3.8 kept one mode per entry, and
//!   3.8.0 also put recursive watches in the child table (zk_watch_count counts them twice).
//! - NodeCreated / NodeDataChanged on P fire the data table; NodeChildrenChanged on P fires
//!   the child table; NodeDeleted on P fires both, each watcher once.
//! - Every entry exactly at P fires, and loses its STANDARD mode. Entries on a strict ancestor
//!   of P fire only if they have PERSISTENT_RECURSIVE (never removed). The child table holds
//!   no recursive entries, so NodeChildrenChanged never reaches a recursive watch.
//!
//! Invariants:
//! - `by_path` and `by_watcher` of a table describe the same set of (path, watcher) entries,
//!   and no entry has an empty mode set (checked by `Table::check` in tests).
//! - `recursive` counts the entries holding PERSISTENT_RECURSIVE; while it is 0 a trigger
//!   looks at P only, so the common case never walks ancestors.
//! - Iteration is in (path, watcher id) order, so anything that reaches the wire is
//!   deterministic; ZooKeeper's own order is a hash set's and clients cannot depend on it.
//! - A connection keeps its (possibly empty) `by_watcher` row after its last watch fired,
//!   until it closes or a removeWatches empties it: ZooKeeper does the same, and wchs/wchc
//!   show such a connection (seen on 3.8.0: `2 connections watching 1 paths`, and a
//!   `0x…` line with no paths in wchc).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jute::proto::{event_type, keeper_state, watcher_type, WatcherEvent};
use jute::ErrorCode;

/// A connection id: watches belong to connections, not sessions (a reconnecting client
/// re-registers them with SetWatches).
pub type WatcherId = u64;

/// A set of watch modes on one (watcher, path) entry of a table.
type Modes = u8;
const STANDARD: Modes = 1;
const PERSISTENT: Modes = 2;
const RECURSIVE: Modes = 4;

/// One of ZooKeeper's `WatchManager`s.
#[derive(Debug, Default, Clone)]
struct Table {
    /// path → watcher → modes (never empty). The `Arc<str>` is shared with `by_watcher`, so
    /// a path is stored once however many connections watch it.
    by_path: BTreeMap<Arc<str>, BTreeMap<WatcherId, Modes>>,
    /// watcher → the paths it has an entry on. A row may be empty (see the module doc).
    by_watcher: BTreeMap<WatcherId, BTreeSet<Arc<str>>>,
    /// Entries holding RECURSIVE.
    recursive: usize,
    /// Entries, i.e. (path, watcher) pairs: `WatchManager.size()`.
    entries: usize,
}

impl Table {
    fn add(&mut self, path: &str, w: WatcherId, mode: Modes) {
        let key = match self.by_path.get_key_value(path) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(path),
        };
        let watchers = self.by_path.entry(Arc::clone(&key)).or_default();
        let modes = watchers.entry(w).or_insert(0);
        if *modes == 0 {
            self.entries += 1;
        }
        if *modes & RECURSIVE == 0 && mode & RECURSIVE != 0 {
            self.recursive += 1;
        }
        *modes |= mode;
        self.by_watcher.entry(w).or_default().insert(key);
    }

    fn has(&self, path: &str, w: WatcherId, mode: Option<Modes>) -> bool {
        let modes = self
            .by_path
            .get(path)
            .and_then(|watchers| watchers.get(&w))
            .copied()
            .unwrap_or(0);
        match mode {
            Some(mode) => modes & mode != 0,
            None => modes != 0,
        }
    }

    /// `WatchManager.removeWatcher(path, watcher, mode)`: drops `mode` (every mode when
    /// `None`) from the entry. True if anything was removed.
    fn remove(&mut self, path: &str, w: WatcherId, mode: Option<Modes>) -> bool {
        let Some(watchers) = self.by_path.get_mut(path) else {
            return false;
        };
        let Some(modes) = watchers.get_mut(&w) else {
            return false;
        };
        let old = *modes;
        let new = mode.map_or(0, |mode| old & !mode);
        if new == old {
            return false;
        }
        if old & RECURSIVE != 0 && new & RECURSIVE == 0 {
            self.recursive -= 1;
        }
        if new != 0 {
            *modes = new;
            return true;
        }
        watchers.remove(&w);
        if watchers.is_empty() {
            self.by_path.remove(path);
        }
        self.entries -= 1;
        // Unlike a trigger, an explicit removal drops the connection's row once it is empty.
        if let Some(paths) = self.by_watcher.get_mut(&w) {
            paths.remove(path);
            if paths.is_empty() {
                self.by_watcher.remove(&w);
            }
        }
        true
    }

    /// A connection closed: forget all its entries.
    fn remove_watcher(&mut self, w: WatcherId) {
        let Some(paths) = self.by_watcher.remove(&w) else {
            return;
        };
        for path in paths {
            let Some(watchers) = self.by_path.get_mut(&*path) else {
                continue;
            };
            if let Some(modes) = watchers.remove(&w) {
                self.entries -= 1;
                if modes & RECURSIVE != 0 {
                    self.recursive -= 1;
                }
            }
            if watchers.is_empty() {
                self.by_path.remove(&*path);
            }
        }
    }

    /// Fires the table for an event on `path`, appending the watchers (ascending, each once
    /// per source) to `out`; returns how many sorted runs were appended.
    fn fire(&mut self, path: &str, out: &mut Vec<WatcherId>) -> usize {
        let mut runs = 0;
        if self.fire_exact(path, out) {
            runs += 1;
        }
        if self.recursive > 0 {
            for ancestor in Ancestors::of(path) {
                let before = out.len();
                if let Some(watchers) = self.by_path.get(ancestor) {
                    out.extend(
                        watchers
                            .iter()
                            .filter(|(_, modes)| **modes & RECURSIVE != 0)
                            .map(|(w, _)| *w),
                    );
                }
                if out.len() > before {
                    runs += 1;
                }
            }
        }
        runs
    }

    /// Every entry on `path` fires and loses STANDARD. True if any fired.
    fn fire_exact(&mut self, path: &str, out: &mut Vec<WatcherId>) -> bool {
        let Some(watchers) = self.by_path.get_mut(path) else {
            return false;
        };
        out.extend(watchers.keys().copied());
        let mut emptied = Vec::new();
        watchers.retain(|w, modes| {
            *modes &= !STANDARD;
            if *modes == 0 {
                emptied.push(*w);
            }
            *modes != 0
        });
        if watchers.is_empty() {
            self.by_path.remove(path);
        }
        self.entries -= emptied.len();
        for w in emptied {
            // The row itself stays, even if now empty (module doc).
            if let Some(paths) = self.by_watcher.get_mut(&w) {
                paths.remove(path);
            }
        }
        true
    }

    #[cfg(test)]
    fn check(&self) {
        let mut entries = 0;
        let mut recursive = 0;
        for (path, watchers) in &self.by_path {
            assert!(!watchers.is_empty(), "empty watcher set on {path}");
            for (w, modes) in watchers {
                assert!(*modes != 0 && *modes & !(STANDARD | PERSISTENT | RECURSIVE) == 0);
                assert!(self.by_watcher.get(w).is_some_and(|p| p.contains(path)));
                entries += 1;
                recursive += usize::from(*modes & RECURSIVE != 0);
            }
        }
        let back: usize = self.by_watcher.values().map(BTreeSet::len).sum();
        assert_eq!(entries, back);
        assert_eq!(entries, self.entries);
        assert_eq!(recursive, self.recursive);
    }
}

/// The strict ancestors of a path, nearest first, ending with "/" (`PathParentIterator`).
struct Ancestors<'a> {
    rest: Option<&'a str>,
}

impl<'a> Ancestors<'a> {
    fn of(path: &'a str) -> Self {
        Ancestors {
            rest: if path == "/" { None } else { Some(path) },
        }
    }
}

impl<'a> Iterator for Ancestors<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let path = self.rest?;
        let parent = match path.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &path[..i],
        };
        self.rest = if parent == "/" { None } else { Some(parent) };
        Some(parent)
    }
}

/// wchs: `{connections} connections watching {paths} paths\nTotal watches:{total}\n`,
/// over the data table only (child watches are not counted, as in ZooKeeper).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchSummary {
    pub connections: usize,
    pub paths: usize,
    pub total: usize,
}

/// Every watch of every connection (see the module doc for the rules).
#[derive(Debug, Default, Clone)]
pub struct WatchRegistry {
    data: Table,
    child: Table,
}

impl WatchRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// getData(watch) on an existing node, or exists(watch) whether or not the node exists.
    pub fn add_data_watch(&mut self, path: &str, w: WatcherId) {
        self.data.add(path, w, STANDARD);
    }

    /// getChildren/getChildren2(watch) on an existing node.
    pub fn add_child_watch(&mut self, path: &str, w: WatcherId) {
        self.child.add(path, w, STANDARD);
    }

    /// addWatch: mode 0 (`recursive == false`) registers PERSISTENT in both tables, mode 1
    /// PERSISTENT_RECURSIVE in the data table only.
    pub fn add_persistent_watch(&mut self, path: &str, w: WatcherId, recursive: bool) {
        if recursive {
            self.data.add(path, w, RECURSIVE);
        } else {
            self.data.add(path, w, PERSISTENT);
            self.child.add(path, w, PERSISTENT);
        }
    }

    /// One trigger of a txn: the watchers to notify of `event_type` on `path`, ascending and
    /// each once, after removing the one-shot registrations that fired.
    ///
    /// The caller makes one call per event the txn produces, e.g. create P → `(P, NodeCreated)`
    /// then `(parent, NodeChildrenChanged)`; delete P → `(P, NodeDeleted)` then
    /// `(parent, NodeChildrenChanged)`; setData P → `(P, NodeDataChanged)`. NodeDeleted fires
    /// the data table and the child table of P, and a watcher found in both is returned once
    /// (both its standard watches are consumed). Other event types fire nothing.
    pub fn trigger(&mut self, path: &str, event_type: i32) -> Vec<WatcherId> {
        let mut out = Vec::new();
        let runs = match event_type {
            event_type::NODE_CREATED | event_type::NODE_DATA_CHANGED => {
                self.data.fire(path, &mut out)
            }
            event_type::NODE_CHILDREN_CHANGED => self.child.fire(path, &mut out),
            event_type::NODE_DELETED => {
                self.data.fire(path, &mut out) + self.child.fire(path, &mut out)
            }
            _ => 0,
        };
        // Each run is ascending and duplicate-free, so the common single-run case (one path,
        // any number of watchers) needs no sort.
        if runs > 1 {
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    /// checkWatches (§6.6): Ok if `w` has a watch of `watcher_type` on exactly `path`.
    /// Children/Data: a STANDARD entry in that table; Persistent/PersistentRecursive: that mode
    /// in the data table; Any: any entry in either table. Nothing → NoWatcher; a type outside
    /// 1..=5 → MarshallingError (Java's `WatcherType.fromInt` throws).
    pub fn check_watches(
        &self,
        path: &str,
        watcher_type: i32,
        w: WatcherId,
    ) -> Result<(), ErrorCode> {
        let found = match watcher_type {
            watcher_type::CHILDREN => self.child.has(path, w, Some(STANDARD)),
            watcher_type::DATA => self.data.has(path, w, Some(STANDARD)),
            watcher_type::PERSISTENT => self.data.has(path, w, Some(PERSISTENT)),
            watcher_type::PERSISTENT_RECURSIVE => self.data.has(path, w, Some(RECURSIVE)),
            watcher_type::ANY => self.child.has(path, w, None) || self.data.has(path, w, None),
            _ => return Err(ErrorCode::MarshallingError),
        };
        if found {
            Ok(())
        } else {
            Err(ErrorCode::NoWatcher)
        }
    }

    /// removeWatches (§6.6): Children/Data remove the STANDARD entry of that table;
    /// Persistent removes PERSISTENT from both tables; PersistentRecursive removes RECURSIVE;
    /// Any removes every mode of `w` on `path` in both tables. Nothing removed → NoWatcher;
    /// a type outside 1..=5 → MarshallingError.
    pub fn remove_watches(
        &mut self,
        path: &str,
        watcher_type: i32,
        w: WatcherId,
    ) -> Result<(), ErrorCode> {
        let removed = match watcher_type {
            watcher_type::CHILDREN => self.child.remove(path, w, Some(STANDARD)),
            watcher_type::DATA => self.data.remove(path, w, Some(STANDARD)),
            watcher_type::PERSISTENT => {
                // Both tables, without short-circuiting.
                let child = self.child.remove(path, w, Some(PERSISTENT));
                self.data.remove(path, w, Some(PERSISTENT)) | child
            }
            watcher_type::PERSISTENT_RECURSIVE => self.data.remove(path, w, Some(RECURSIVE)),
            watcher_type::ANY => {
                let child = self.child.remove(path, w, None);
                self.data.remove(path, w, None) | child
            }
            _ => return Err(ErrorCode::MarshallingError),
        };
        if removed {
            Ok(())
        } else {
            Err(ErrorCode::NoWatcher)
        }
    }

    /// The connection closed: drop every watch it had.
    pub fn remove_watcher(&mut self, w: WatcherId) {
        self.data.remove_watcher(w);
        self.child.remove_watcher(w);
    }

    /// mntr `zk_watch_count`: (path, watcher) entries of the data table plus the child table.
    pub fn watch_count(&self) -> usize {
        self.data.entries + self.child.entries
    }

    /// wchs, over the data table.
    pub fn summary(&self) -> WatchSummary {
        WatchSummary {
            connections: self.data.by_watcher.len(),
            paths: self.data.by_path.len(),
            total: self.data.entries,
        }
    }

    /// wchc: per connection (ascending), its data-table paths (ascending). A connection whose
    /// watches all fired may appear with no paths, as in ZooKeeper.
    pub fn by_connection(&self) -> Vec<(WatcherId, Vec<&str>)> {
        self.data
            .by_watcher
            .iter()
            .map(|(w, paths)| (*w, paths.iter().map(|p| &**p).collect()))
            .collect()
    }

    /// wchp: per data-table path (ascending), its watchers (ascending).
    pub fn by_path(&self) -> Vec<(&str, Vec<WatcherId>)> {
        self.data
            .by_path
            .iter()
            .map(|(path, watchers)| (&**path, watchers.keys().copied().collect()))
            .collect()
    }
}

/// SetWatches / SetWatches2 on reconnect (§6.5), for connection `w`. A SetWatches (op 101)
/// passes empty `persistent` and `recursive` lists.
///
/// `lookup(path)` gives a node's `(mzxid, pzxid)` now, or None if it does not exist.
/// Registers what is still pending and returns the events to send at once (before the reply,
/// each with zxid -1 in its header), in order: all data, then exist, then child.
/// - data: missing → NodeDeleted; mzxid > `relative_zxid` → NodeDataChanged; else a standard
///   data watch.
/// - exist: exists → NodeCreated; missing → a standard data watch.
/// - child: missing → NodeDeleted; pzxid > `relative_zxid` → NodeChildrenChanged; else a
///   standard child watch.
/// - persistent / recursive: always registered, never an event.
// The arguments are the fields of the SetWatches2 record, which callers hold in two shapes.
#[allow(clippy::too_many_arguments)]
pub fn set_watches(
    reg: &mut WatchRegistry,
    w: WatcherId,
    relative_zxid: i64,
    data: &[String],
    exist: &[String],
    child: &[String],
    persistent: &[String],
    recursive: &[String],
    lookup: impl Fn(&str) -> Option<(i64, i64)>,
) -> Vec<WatcherEvent> {
    let event = |event_type: i32, path: &str| WatcherEvent {
        event_type,
        state: keeper_state::SYNC_CONNECTED,
        path: path.to_owned(),
    };
    let mut events = Vec::new();
    for path in data {
        match lookup(path) {
            None => events.push(event(event_type::NODE_DELETED, path)),
            Some((mzxid, _)) if mzxid > relative_zxid => {
                events.push(event(event_type::NODE_DATA_CHANGED, path))
            }
            Some(_) => reg.add_data_watch(path, w),
        }
    }
    for path in exist {
        match lookup(path) {
            Some(_) => events.push(event(event_type::NODE_CREATED, path)),
            None => reg.add_data_watch(path, w),
        }
    }
    for path in child {
        match lookup(path) {
            None => events.push(event(event_type::NODE_DELETED, path)),
            Some((_, pzxid)) if pzxid > relative_zxid => {
                events.push(event(event_type::NODE_CHILDREN_CHANGED, path))
            }
            Some(_) => reg.add_child_watch(path, w),
        }
    }
    for path in persistent {
        reg.add_persistent_watch(path, w, false);
    }
    for path in recursive {
        reg.add_persistent_watch(path, w, true);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_type::{NODE_CHILDREN_CHANGED, NODE_CREATED, NODE_DATA_CHANGED, NODE_DELETED};
    use watcher_type::{ANY, CHILDREN, DATA, PERSISTENT_RECURSIVE};

    const ALL_EVENTS: [i32; 4] = [
        NODE_CREATED,
        NODE_DELETED,
        NODE_DATA_CHANGED,
        NODE_CHILDREN_CHANGED,
    ];

    fn check(reg: &WatchRegistry) {
        reg.data.check();
        reg.child.check();
        // Recursive entries never live in the child table.
        assert_eq!(reg.child.recursive, 0);
    }

    /// Which of the four event types on `path` would notify `w` (probing a clone, so the
    /// registry itself is untouched).
    fn fires_for(reg: &WatchRegistry, path: &str, w: WatcherId) -> Vec<i32> {
        ALL_EVENTS
            .into_iter()
            .filter(|ev| reg.clone().trigger(path, *ev).contains(&w))
            .collect()
    }

    #[test]
    fn standard_data_watch_fires_once_for_data_events() {
        let mut reg = WatchRegistry::new();
        reg.add_data_watch("/p", 1);
        assert_eq!(
            fires_for(&reg, "/p", 1),
            [NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED]
        );
        for ev in [NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED] {
            let mut r = reg.clone();
            assert_eq!(r.trigger("/p", ev), [1]);
            assert_eq!(r.trigger("/p", ev), Vec::<WatcherId>::new(), "one-shot");
            assert_eq!(r.check_watches("/p", DATA, 1), Err(ErrorCode::NoWatcher));
            assert_eq!(r.watch_count(), 0);
            check(&r);
        }
        // NodeChildrenChanged on the same path does not touch the data table.
        assert_eq!(
            reg.trigger("/p", NODE_CHILDREN_CHANGED),
            Vec::<WatcherId>::new()
        );
        assert_eq!(reg.check_watches("/p", DATA, 1), Ok(()));
        // Other paths, and event types outside 1..=4, fire nothing.
        assert!(reg.trigger("/q", NODE_DATA_CHANGED).is_empty());
        assert!(reg.trigger("/p/c", NODE_CREATED).is_empty());
        assert!(reg.trigger("/p", event_type::NONE).is_empty());
        assert!(reg.trigger("/p", 5).is_empty());
        check(&reg);
    }

    #[test]
    fn standard_child_watch_fires_for_children_changed_and_deleted() {
        let mut reg = WatchRegistry::new();
        reg.add_child_watch("/p", 1);
        assert_eq!(
            fires_for(&reg, "/p", 1),
            [NODE_DELETED, NODE_CHILDREN_CHANGED]
        );
        assert_eq!(reg.trigger("/p", NODE_CHILDREN_CHANGED), [1]);
        assert!(reg.trigger("/p", NODE_CHILDREN_CHANGED).is_empty());
        assert_eq!(
            reg.check_watches("/p", CHILDREN, 1),
            Err(ErrorCode::NoWatcher)
        );
        check(&reg);
    }

    // Seen on 3.8.0: connection a with getData(watch) and getChildren(watch) on /w/p, b with
    // exists(watch); delete /w/p → a gets one NodeDeleted, b one; afterwards checkWatches
    // Children and Data of a both answer NoWatcher (-121).
    #[test]
    fn delete_notifies_each_watcher_once_and_consumes_both_tables() {
        let mut reg = WatchRegistry::new();
        reg.add_data_watch("/w/p", 1);
        reg.add_child_watch("/w/p", 1);
        reg.add_data_watch("/w/p", 2);
        reg.add_child_watch("/w/p", 3);
        reg.add_child_watch("/w", 4);
        assert_eq!(reg.watch_count(), 5);
        assert_eq!(reg.trigger("/w/p", NODE_DELETED), [1, 2, 3]);
        for w in [1, 2, 3] {
            assert_eq!(reg.check_watches("/w/p", ANY, w), Err(ErrorCode::NoWatcher));
        }
        // The parent's NodeChildrenChanged is the caller's second trigger.
        assert_eq!(reg.trigger("/w", NODE_CHILDREN_CHANGED), [4]);
        assert_eq!(reg.watch_count(), 0);
        check(&reg);
    }

    // Seen on 3.8.0: addWatch(/w, PERSISTENT); create /w/c1, setData /w → NodeChildrenChanged,
    // NodeDataChanged; delete /w/c1, /w/q, /w → NodeChildrenChanged ×2, NodeDeleted (once);
    // checkWatches Any still OK; create /w again → NodeCreated.
    #[test]
    fn persistent_watch_fires_everything_on_its_path_and_survives() {
        let mut reg = WatchRegistry::new();
        reg.add_persistent_watch("/w", 1, false);
        assert_eq!(reg.watch_count(), 2, "data and child tables");
        assert_eq!(fires_for(&reg, "/w", 1), ALL_EVENTS);
        for ev in [
            NODE_CHILDREN_CHANGED,
            NODE_DATA_CHANGED,
            NODE_DELETED,
            NODE_CREATED,
        ] {
            assert_eq!(reg.trigger("/w", ev), [1]);
        }
        assert_eq!(reg.check_watches("/w", watcher_type::PERSISTENT, 1), Ok(()));
        assert_eq!(reg.watch_count(), 2);
        // Not recursive: descendants do not fire it.
        assert!(fires_for(&reg, "/w/c", 1).is_empty());
        check(&reg);
    }

    // Seen on 3.8.0: addWatch(/w, PERSISTENT_RECURSIVE); create /w/x, create /w/x/y,
    // setData /w/x/y, delete /w/x/y → NodeCreated /w/x, NodeCreated /w/x/y,
    // NodeDataChanged /w/x/y, NodeDeleted /w/x/y, and no NodeChildrenChanged at all.
    #[test]
    fn recursive_watch_fires_for_path_and_descendants_but_never_children_changed() {
        let mut reg = WatchRegistry::new();
        reg.add_persistent_watch("/w", 1, true);
        assert_eq!(reg.watch_count(), 1, "data table only (3.9)");
        let data_events = [NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED];
        for path in ["/w", "/w/x", "/w/x/y"] {
            assert_eq!(fires_for(&reg, path, 1), data_events, "{path}");
        }
        for path in ["/", "/ww", "/x", "/x/w", "/wx/y"] {
            assert!(fires_for(&reg, path, 1).is_empty(), "{path}");
        }
        for _ in 0..3 {
            assert_eq!(reg.trigger("/w/x/y", NODE_DELETED), [1]);
        }
        assert_eq!(reg.check_watches("/w", PERSISTENT_RECURSIVE, 1), Ok(()));
        // A recursive watch on the root sees every data event of the tree.
        let mut root = WatchRegistry::new();
        root.add_persistent_watch("/", 2, true);
        assert_eq!(fires_for(&root, "/", 2), data_events);
        assert_eq!(fires_for(&root, "/a/b/c", 2), data_events);
        check(&reg);
        check(&root);
    }

    #[test]
    fn recursive_watchers_on_several_ancestors_are_merged_once_each() {
        let mut reg = WatchRegistry::new();
        reg.add_persistent_watch("/", 5, true);
        reg.add_persistent_watch("/a", 3, true);
        reg.add_persistent_watch("/a/b", 5, true);
        reg.add_persistent_watch("/a/b", 1, true);
        reg.add_data_watch("/a/b/c", 4);
        reg.add_data_watch("/a/b/c", 2);
        reg.add_child_watch("/a/b/c", 6);
        reg.add_data_watch("/a", 7); // standard on an ancestor: not fired by a descendant
        assert_eq!(reg.trigger("/a/b/c", NODE_DELETED), [1, 2, 3, 4, 5, 6]);
        assert_eq!(reg.trigger("/a/b/c", NODE_DELETED), [1, 3, 5]);
        assert_eq!(reg.check_watches("/a", DATA, 7), Ok(()));
        check(&reg);
    }

    // 3.9 (ZOOKEEPER-4466): modes coexist per (connection, path), firing removes only the
    // standard part. 3.8 replaced the mode instead.
    #[test]
    fn mode_mixing_standard_persistent_recursive() {
        let mut reg = WatchRegistry::new();
        reg.add_data_watch("/p", 1);
        reg.add_child_watch("/p", 1);
        reg.add_persistent_watch("/p", 1, false);
        reg.add_persistent_watch("/p", 1, true);
        assert_eq!(reg.watch_count(), 2, "one entry per table, several modes");
        for t in 1..=5 {
            assert_eq!(reg.check_watches("/p", t, 1), Ok(()), "type {t}");
        }
        assert_eq!(
            reg.trigger("/p", NODE_DATA_CHANGED),
            [1],
            "once, not per mode"
        );
        assert_eq!(reg.check_watches("/p", DATA, 1), Err(ErrorCode::NoWatcher));
        assert_eq!(reg.check_watches("/p", CHILDREN, 1), Ok(()));
        assert_eq!(reg.trigger("/p", NODE_CHILDREN_CHANGED), [1]);
        assert_eq!(
            reg.check_watches("/p", CHILDREN, 1),
            Err(ErrorCode::NoWatcher)
        );
        // Persistent + recursive remain; persistent still brings NodeChildrenChanged.
        assert_eq!(reg.trigger("/p", NODE_CHILDREN_CHANGED), [1]);
        assert_eq!(
            fires_for(&reg, "/p/c", 1),
            [NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED]
        );
        // Removing the persistent part keeps the recursive one (and vice versa).
        assert_eq!(
            reg.remove_watches("/p", watcher_type::PERSISTENT, 1),
            Ok(())
        );
        assert_eq!(reg.watch_count(), 1);
        assert_eq!(
            reg.trigger("/p", NODE_CHILDREN_CHANGED),
            Vec::<WatcherId>::new()
        );
        assert_eq!(reg.trigger("/p", NODE_DATA_CHANGED), [1]);
        // A standard watch added on top of a recursive one is consumed alone.
        reg.add_data_watch("/p", 1);
        assert_eq!(reg.trigger("/p", NODE_DATA_CHANGED), [1]);
        assert_eq!(reg.check_watches("/p", DATA, 1), Err(ErrorCode::NoWatcher));
        assert_eq!(reg.check_watches("/p", PERSISTENT_RECURSIVE, 1), Ok(()));
        check(&reg);
    }

    #[test]
    fn check_watches_table() {
        let mut reg = WatchRegistry::new();
        reg.add_data_watch("/d", 1);
        reg.add_child_watch("/c", 1);
        reg.add_persistent_watch("/p", 1, false);
        reg.add_persistent_watch("/r", 1, true);
        let want: &[(&str, [bool; 5])] = &[
            // Children, Data, Any, Persistent, PersistentRecursive
            ("/d", [false, true, true, false, false]),
            ("/c", [true, false, true, false, false]),
            ("/p", [false, false, true, true, false]),
            ("/r", [false, false, true, false, true]),
            ("/x", [false, false, false, false, false]),
        ];
        for (path, row) in want {
            for (t, found) in (1..=5).zip(row) {
                let expect = if *found {
                    Ok(())
                } else {
                    Err(ErrorCode::NoWatcher)
                };
                assert_eq!(reg.check_watches(path, t, 1), expect, "{path} type {t}");
                // Another connection never sees them.
                assert_eq!(reg.check_watches(path, t, 2), Err(ErrorCode::NoWatcher));
            }
        }
        // A recursive watch on an ancestor is not a watch on the descendant.
        assert_eq!(reg.check_watches("/r/x", ANY, 1), Err(ErrorCode::NoWatcher));
        // 3.8.0 answers MarshallingError (-5) for types 4 and 99 (it knows only 1..=3);
        // 3.9 knows 1..=5.
        for t in [0, 6, 99, -1] {
            assert_eq!(
                reg.check_watches("/d", t, 1),
                Err(ErrorCode::MarshallingError)
            );
        }
    }

    #[test]
    fn remove_watches_table() {
        let setup = || {
            let mut reg = WatchRegistry::new();
            reg.add_data_watch("/p", 1);
            reg.add_child_watch("/p", 1);
            reg.add_persistent_watch("/p", 1, false);
            reg.add_persistent_watch("/p", 1, true);
            reg.add_data_watch("/p", 2);
            reg
        };
        // type → which of (Children, Data, Persistent, PersistentRecursive) survive.
        let want: &[(i32, [bool; 4])] = &[
            (CHILDREN, [false, true, true, true]),
            (DATA, [true, false, true, true]),
            (watcher_type::PERSISTENT, [true, true, false, true]),
            (PERSISTENT_RECURSIVE, [true, true, true, false]),
            (ANY, [false, false, false, false]),
        ];
        for (t, survive) in want {
            let mut reg = setup();
            assert_eq!(reg.remove_watches("/p", *t, 1), Ok(()), "type {t}");
            let left = [
                CHILDREN,
                DATA,
                watcher_type::PERSISTENT,
                PERSISTENT_RECURSIVE,
            ]
            .map(|k| reg.check_watches("/p", k, 1).is_ok());
            assert_eq!(&left, survive, "type {t}");
            assert_eq!(reg.remove_watches("/p", *t, 1), Err(ErrorCode::NoWatcher));
            // Connection 2's watch is untouched.
            assert_eq!(reg.check_watches("/p", DATA, 2), Ok(()));
            check(&reg);
        }
        // Persistent registered only in the child table still counts as removed.
        let mut reg = setup();
        assert_eq!(reg.remove_watches("/p", CHILDREN, 1), Ok(()));
        assert_eq!(reg.remove_watches("/q", ANY, 1), Err(ErrorCode::NoWatcher));
        assert_eq!(reg.remove_watches("/p", ANY, 3), Err(ErrorCode::NoWatcher));
        assert_eq!(
            reg.remove_watches("/p", 7, 1),
            Err(ErrorCode::MarshallingError)
        );
    }

    #[test]
    fn remove_watcher_forgets_a_connection() {
        let mut reg = WatchRegistry::new();
        for w in 1..=3 {
            reg.add_data_watch("/a", w);
            reg.add_child_watch("/a", w);
            reg.add_persistent_watch("/", w, true);
        }
        reg.remove_watcher(2);
        reg.remove_watcher(9); // unknown: nothing happens
        assert_eq!(reg.watch_count(), 6);
        assert_eq!(reg.trigger("/a", NODE_DELETED), [1, 3]);
        reg.remove_watcher(1);
        reg.remove_watcher(3);
        assert_eq!(reg.watch_count(), 0);
        assert_eq!(reg.summary(), WatchSummary::default());
        check(&reg);
    }

    // Seen on 3.8.0 with sessions b (getData+getChildren on /w/p) and c (exists on /w/p):
    //   wchs "2 connections watching 1 paths\nTotal watches:2\n" (child watch not counted)
    // and, after every watch of c fired while only b kept a persistent watch on /w:
    //   wchs "2 connections watching 1 paths\nTotal watches:1\n", wchc "0xb\n\t/w\n0xc\n\n".
    #[test]
    fn stats_cover_the_data_table_and_keep_fired_connections() {
        let mut reg = WatchRegistry::new();
        reg.add_data_watch("/w/p", 0xb);
        reg.add_child_watch("/w/p", 0xb);
        reg.add_data_watch("/w/p", 0xc);
        let s = reg.summary();
        assert_eq!((s.connections, s.paths, s.total), (2, 1, 2));
        assert_eq!(reg.watch_count(), 3);
        assert_eq!(reg.by_path(), vec![("/w/p", vec![0xb, 0xc])]);
        assert_eq!(
            reg.by_connection(),
            vec![(0xb, vec!["/w/p"]), (0xc, vec!["/w/p"])]
        );

        reg.trigger("/w/p", NODE_DELETED);
        reg.add_persistent_watch("/w", 0xb, false);
        let s = reg.summary();
        assert_eq!((s.connections, s.paths, s.total), (2, 1, 1));
        assert_eq!(reg.by_connection(), vec![(0xb, vec!["/w"]), (0xc, vec![])]);
        assert_eq!(reg.by_path(), vec![("/w", vec![0xb])]);
        assert_eq!(reg.watch_count(), 2);

        // An explicit removal that empties a connection drops its row; a close does too.
        reg.remove_watches("/w", ANY, 0xb).unwrap();
        assert_eq!(reg.by_connection(), vec![(0xc, vec![])]);
        reg.remove_watcher(0xc);
        assert_eq!(reg.summary(), WatchSummary::default());
        check(&reg);
    }

    #[test]
    fn large_fan_out_on_one_path() {
        let mut reg = WatchRegistry::new();
        for w in (0..1000).rev() {
            reg.add_data_watch("/hot", w);
            reg.add_persistent_watch("/hot", w + 1000, false);
        }
        let fired = reg.trigger("/hot", NODE_DATA_CHANGED);
        assert_eq!(fired, (0..2000).collect::<Vec<_>>());
        assert_eq!(
            reg.trigger("/hot", NODE_DATA_CHANGED),
            (1000..2000).collect::<Vec<_>>()
        );
        assert_eq!(
            reg.data.recursive, 0,
            "no recursive watch, so no ancestor walk"
        );
        check(&reg);
    }

    #[test]
    fn ancestors_iterate_to_root() {
        let all = |p| Ancestors::of(p).collect::<Vec<_>>();
        assert_eq!(all("/a/b/c"), ["/a/b", "/a", "/"]);
        assert_eq!(all("/a"), ["/"]);
        assert!(all("/").is_empty());
    }

    #[test]
    fn set_watches_table() {
        // Nodes: /same (mzxid 5, pzxid 5), /data-new (mzxid 9), /kids-new (pzxid 9).
        let lookup = |p: &str| match p {
            "/same" => Some((5, 5)),
            "/data-new" => Some((9, 5)),
            "/kids-new" => Some((5, 9)),
            _ => None,
        };
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let mut reg = WatchRegistry::new();
        let events = set_watches(
            &mut reg,
            7,
            5,
            &s(&["/same", "/gone", "/data-new", "/kids-new"]),
            &s(&["/same", "/gone"]),
            &s(&["/same", "/gone", "/data-new", "/kids-new"]),
            &s(&["/gone", "/p"]),
            &s(&["/r"]),
            lookup,
        );
        let got: Vec<(i32, &str)> = events
            .iter()
            .map(|e| {
                assert_eq!(e.state, keeper_state::SYNC_CONNECTED);
                (e.event_type, e.path.as_str())
            })
            .collect();
        assert_eq!(
            got,
            [
                (NODE_DELETED, "/gone"),
                (NODE_DATA_CHANGED, "/data-new"),
                (NODE_CREATED, "/same"),
                (NODE_DELETED, "/gone"),
                (NODE_CHILDREN_CHANGED, "/kids-new"),
            ]
        );
        // Registered: data on /same and /kids-new, exist on /gone, child on /same and
        // /data-new, persistent on /gone and /p, recursive on /r.
        let ok = |reg: &WatchRegistry, p: &str, t: i32| reg.check_watches(p, t, 7).is_ok();
        assert!(ok(&reg, "/same", DATA) && ok(&reg, "/kids-new", DATA));
        assert!(!ok(&reg, "/data-new", DATA));
        assert!(ok(&reg, "/gone", DATA), "exist watch on a missing node");
        assert!(ok(&reg, "/same", CHILDREN) && ok(&reg, "/data-new", CHILDREN));
        assert!(!ok(&reg, "/kids-new", CHILDREN));
        assert!(
            ok(&reg, "/gone", watcher_type::PERSISTENT) && ok(&reg, "/p", watcher_type::PERSISTENT)
        );
        assert!(ok(&reg, "/r", PERSISTENT_RECURSIVE));
        // Data table: /same, /kids-new, /gone (exist + persistent in one entry), /p, /r;
        // child table: /same, /data-new, /gone, /p.
        assert_eq!(reg.watch_count(), 9);
        check(&reg);
    }

    /// A deliberately dumb model: a set of (table, path, watcher, mode) registrations, plus
    /// the connections that have a data-table row (wchs counts them; see the module doc).
    mod model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum T {
            Data,
            Child,
        }

        #[derive(Debug, Default)]
        struct Model {
            regs: BTreeSet<(T, String, WatcherId, Modes)>,
            data_rows: BTreeSet<WatcherId>,
        }

        fn is_strict_ancestor(q: &str, p: &str) -> bool {
            (q == "/" && p != "/") || p.starts_with(&format!("{q}/"))
        }

        impl Model {
            fn add(&mut self, t: T, p: &str, w: WatcherId, m: Modes) {
                self.regs.insert((t, p.to_owned(), w, m));
                if t == T::Data {
                    self.data_rows.insert(w);
                }
            }
            fn has(&self, t: T, p: &str, w: WatcherId, m: Option<Modes>) -> bool {
                self.regs.iter().any(|(t2, p2, w2, m2)| {
                    *t2 == t && p2 == p && *w2 == w && (m.is_none() || m == Some(*m2))
                })
            }
            fn remove(&mut self, t: T, p: &str, w: WatcherId, m: Option<Modes>) -> bool {
                let before = self.regs.len();
                self.regs.retain(|(t2, p2, w2, m2)| {
                    !(*t2 == t && p2 == p && *w2 == w && (m.is_none() || m == Some(*m2)))
                });
                let removed = self.regs.len() < before;
                let has_data = self
                    .regs
                    .iter()
                    .any(|(t2, _, w2, _)| *t2 == T::Data && *w2 == w);
                if removed && t == T::Data && !has_data {
                    self.data_rows.remove(&w);
                }
                removed
            }
            fn trigger(&mut self, p: &str, ev: i32) -> Vec<WatcherId> {
                let tables: &[T] = match ev {
                    NODE_CREATED | NODE_DATA_CHANGED => &[T::Data],
                    NODE_DELETED => &[T::Data, T::Child],
                    NODE_CHILDREN_CHANGED => &[T::Child],
                    _ => &[],
                };
                let mut fired = BTreeSet::new();
                for t in tables {
                    for (t2, q, w, m) in &self.regs {
                        if t2 == t && (q == p || (*m == RECURSIVE && is_strict_ancestor(q, p))) {
                            fired.insert(*w);
                        }
                    }
                    self.regs
                        .retain(|(t2, q, _, m)| !(t2 == t && q == p && *m == STANDARD));
                }
                fired.into_iter().collect()
            }
            fn check(&self, p: &str, ty: i32, w: WatcherId) -> Result<(), ErrorCode> {
                let found = match ty {
                    CHILDREN => self.has(T::Child, p, w, Some(STANDARD)),
                    DATA => self.has(T::Data, p, w, Some(STANDARD)),
                    watcher_type::PERSISTENT => self.has(T::Data, p, w, Some(PERSISTENT)),
                    PERSISTENT_RECURSIVE => self.has(T::Data, p, w, Some(RECURSIVE)),
                    ANY => self.has(T::Child, p, w, None) || self.has(T::Data, p, w, None),
                    _ => return Err(ErrorCode::MarshallingError),
                };
                if found {
                    Ok(())
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            }
            fn remove_watches(&mut self, p: &str, ty: i32, w: WatcherId) -> Result<(), ErrorCode> {
                let removed = match ty {
                    CHILDREN => self.remove(T::Child, p, w, Some(STANDARD)),
                    DATA => self.remove(T::Data, p, w, Some(STANDARD)),
                    watcher_type::PERSISTENT => {
                        let c = self.remove(T::Child, p, w, Some(PERSISTENT));
                        self.remove(T::Data, p, w, Some(PERSISTENT)) | c
                    }
                    PERSISTENT_RECURSIVE => self.remove(T::Data, p, w, Some(RECURSIVE)),
                    ANY => {
                        let c = self.remove(T::Child, p, w, None);
                        self.remove(T::Data, p, w, None) | c
                    }
                    _ => return Err(ErrorCode::MarshallingError),
                };
                if removed {
                    Ok(())
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            }
            fn close(&mut self, w: WatcherId) {
                self.regs.retain(|(_, _, w2, _)| *w2 != w);
                self.data_rows.remove(&w);
            }
            fn entries(&self, t: T) -> BTreeSet<(String, WatcherId)> {
                self.regs
                    .iter()
                    .filter(|(t2, ..)| *t2 == t)
                    .map(|(_, p, w, _)| (p.clone(), *w))
                    .collect()
            }
            fn watch_count(&self) -> usize {
                self.entries(T::Data).len() + self.entries(T::Child).len()
            }
            fn by_path(&self) -> Vec<(String, Vec<WatcherId>)> {
                let mut out: BTreeMap<String, Vec<WatcherId>> = BTreeMap::new();
                for (p, w) in self.entries(T::Data) {
                    out.entry(p).or_default().push(w);
                }
                out.into_iter().collect()
            }
            fn by_connection(&self) -> Vec<(WatcherId, Vec<String>)> {
                let data = self.entries(T::Data);
                self.data_rows
                    .iter()
                    .map(|w| {
                        (
                            *w,
                            data.iter()
                                .filter(|(_, w2)| w2 == w)
                                .map(|(p, _)| p.clone())
                                .collect(),
                        )
                    })
                    .collect()
            }
        }

        #[derive(Debug, Clone)]
        enum Op {
            AddData(&'static str, WatcherId),
            AddChild(&'static str, WatcherId),
            AddPersistent(&'static str, WatcherId, bool),
            Trigger(&'static str, i32),
            Check(&'static str, i32, WatcherId),
            Remove(&'static str, i32, WatcherId),
            Close(WatcherId),
        }

        // "/ab" shares a string prefix with "/a" without being its descendant.
        const PATHS: [&str; 6] = ["/", "/a", "/a/b", "/a/b/c", "/ab", "/b"];

        fn op() -> impl Strategy<Value = Op> {
            let path = proptest::sample::select(&PATHS[..]);
            let w = 1..=4u64;
            prop_oneof![
                3 => (path.clone(), w.clone()).prop_map(|(p, w)| Op::AddData(p, w)),
                3 => (path.clone(), w.clone()).prop_map(|(p, w)| Op::AddChild(p, w)),
                2 => (path.clone(), w.clone(), any::<bool>()).prop_map(|(p, w, r)| Op::AddPersistent(p, w, r)),
                4 => (path.clone(), 0..=5i32).prop_map(|(p, e)| Op::Trigger(p, e)),
                2 => (path.clone(), 0..=6i32, w.clone()).prop_map(|(p, t, w)| Op::Check(p, t, w)),
                2 => (path, 0..=6i32, w.clone()).prop_map(|(p, t, w)| Op::Remove(p, t, w)),
                1 => w.prop_map(Op::Close),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn registry_agrees_with_model(ops in proptest::collection::vec(op(), 1..60)) {
                let mut reg = WatchRegistry::new();
                let mut model = Model::default();
                for op in ops {
                    match op {
                        Op::AddData(p, w) => {
                            reg.add_data_watch(p, w);
                            model.add(T::Data, p, w, STANDARD);
                        }
                        Op::AddChild(p, w) => {
                            reg.add_child_watch(p, w);
                            model.add(T::Child, p, w, STANDARD);
                        }
                        Op::AddPersistent(p, w, recursive) => {
                            reg.add_persistent_watch(p, w, recursive);
                            if recursive {
                                model.add(T::Data, p, w, RECURSIVE);
                            } else {
                                model.add(T::Data, p, w, PERSISTENT);
                                model.add(T::Child, p, w, PERSISTENT);
                            }
                        }
                        Op::Trigger(p, e) => prop_assert_eq!(reg.trigger(p, e), model.trigger(p, e)),
                        Op::Check(p, t, w) => prop_assert_eq!(reg.check_watches(p, t, w), model.check(p, t, w)),
                        Op::Remove(p, t, w) => {
                            prop_assert_eq!(reg.remove_watches(p, t, w), model.remove_watches(p, t, w))
                        }
                        Op::Close(w) => {
                            reg.remove_watcher(w);
                            model.close(w);
                        }
                    }
                    check(&reg);
                    prop_assert_eq!(reg.watch_count(), model.watch_count());
                    let by_path: Vec<(String, Vec<WatcherId>)> =
                        reg.by_path().into_iter().map(|(p, ws)| (p.to_owned(), ws)).collect();
                    prop_assert_eq!(by_path, model.by_path());
                    let by_conn: Vec<(WatcherId, Vec<String>)> = reg
                        .by_connection()
                        .into_iter()
                        .map(|(w, ps)| (w, ps.into_iter().map(str::to_owned).collect()))
                        .collect();
                    prop_assert_eq!(by_conn, model.by_connection());
                    let s = reg.summary();
                    prop_assert_eq!(s.connections, model.data_rows.len());
                    prop_assert_eq!(s.paths, model.by_path().len());
                    prop_assert_eq!(s.total, model.entries(T::Data).len());
                }
            }
        }
    }
}
