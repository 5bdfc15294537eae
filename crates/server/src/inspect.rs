//! `zkserver log|snapshot list|verify|dump`: text views of a data directory, like
//! ZooKeeper's LogFormatter and SnapshotFormatter.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use store::fs::{Fs, StdFs};
use store::DataDirs;

pub enum Action {
    List(PathBuf),
    Verify(PathBuf),
    Dump(PathBuf),
}

/// A directory given as dataDir, dataDir/version-2, or a log dir.
fn dirs_of(dir: &Path) -> DataDirs {
    if dir.file_name().is_some_and(|n| n == "version-2") {
        DataDirs {
            snap_dir: dir.to_path_buf(),
            log_dir: dir.to_path_buf(),
        }
    } else {
        DataDirs::new(dir, None)
    }
}

pub fn log(action: Action) -> Result<String, String> {
    let fs: Arc<dyn Fs> = Arc::new(StdFs);
    match action {
        Action::List(dir) => {
            store::inspect::list(fs.as_ref(), &dirs_of(&dir)).map_err(|e| e.to_string())
        }
        Action::Verify(dir) => {
            let dirs = dirs_of(&dir);
            let segs =
                store::log::list_segments(fs.as_ref(), &dirs.log_dir).map_err(|e| e.to_string())?;
            let mut out = String::new();
            for s in segs {
                let sum = store::inspect::verify_segment(fs.as_ref(), &s.path)
                    .map_err(|e| e.to_string())?;
                out.push_str(&format!("{}: {sum:?}\n", s.path.display()));
            }
            Ok(out)
        }
        Action::Dump(path) => {
            store::inspect::dump_segment(fs.as_ref(), &path).map_err(|e| e.to_string())
        }
    }
}

pub fn snapshot(action: Action) -> Result<String, String> {
    let fs: Arc<dyn Fs> = Arc::new(StdFs);
    match action {
        Action::List(dir) => {
            store::inspect::list(fs.as_ref(), &dirs_of(&dir)).map_err(|e| e.to_string())
        }
        Action::Verify(dir) => {
            let dirs = dirs_of(&dir);
            let snaps = store::snapshot::list_snapshots(fs.as_ref(), &dirs.snap_dir)
                .map_err(|e| e.to_string())?;
            let mut out = String::new();
            for s in snaps {
                let sum = store::inspect::verify_snapshot(fs.as_ref(), &s.1)
                    .map_err(|e| e.to_string())?;
                out.push_str(&format!("{}: {sum:?}\n", s.1.display()));
            }
            Ok(out)
        }
        Action::Dump(path) => {
            let mut out =
                store::inspect::dump_snapshot(fs.as_ref(), &path).map_err(|e| e.to_string())?;
            out.push_str(&dump_znodes(fs.as_ref(), &path)?);
            Ok(out)
        }
    }
}

/// Every znode of a snapshot, in pre-order, with its Stat (like SnapshotFormatter).
fn dump_znodes(fs: &dyn Fs, path: &Path) -> Result<String, String> {
    use std::fmt::Write as _;
    let snap = store::snapshot::read_snapshot(fs, path).map_err(|e| e.to_string())?;
    let mut body = snap.body.clone();
    let tree = tree::snapshot::deserialize_tree(&mut body).map_err(|e| e.to_string())?;
    let mut out = String::new();
    let _ = writeln!(out, "znodes ({}):", tree.node_count());
    tree.walk("/", |p, n| {
        let s = &n.stat;
        let acl: Vec<String> = n
            .acl
            .iter()
            .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, a.perms))
            .collect();
        let _ = writeln!(
            out,
            "{p}\n  cZxid = 0x{:x}\n  ctime = {}\n  mZxid = 0x{:x}\n  mtime = {}\n  \
             pZxid = 0x{:x}\n  cversion = {}\n  dataVersion = {}\n  aclVersion = {}\n  \
             ephemeralOwner = 0x{:x}\n  dataLength = {}\n  acl = {acl:?}",
            s.czxid,
            s.ctime,
            s.mzxid,
            s.mtime,
            s.pzxid,
            s.cversion,
            s.version,
            s.aversion,
            s.ephemeral_owner,
            n.data_len(),
        );
    });
    Ok(out)
}
