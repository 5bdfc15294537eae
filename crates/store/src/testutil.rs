//! Helpers shared by this crate's tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use jute::Zxid;

use crate::fs::{Fs, SimFs};
use crate::log::{LogConfig, LogEntry};
use crate::DataDirs;

/// A log config with tiny blocks, so tests cross preallocation boundaries and stay small.
pub fn small_config() -> LogConfig {
    LogConfig {
        prealloc_bytes: 128,
        record_bytes_max: 4096,
        ..LogConfig::default()
    }
}

pub fn dirs() -> DataDirs {
    DataDirs::new(Path::new("/data"), None)
}

/// Entries with zxids (epoch, counter) for counters `from..from + n`, with varied txn sizes.
pub fn entries(epoch: u32, from: u32, n: u32) -> Vec<LogEntry> {
    (from..from + n)
        .map(|c| LogEntry {
            zxid: Zxid::new(epoch, c),
            txn: Bytes::from(vec![c as u8; (c as usize * 7) % 23]),
        })
        .collect()
}

pub fn sim() -> (SimFs, Arc<dyn Fs>) {
    let fs = SimFs::new();
    let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
    (fs, dynfs)
}

/// Every file under the node's directories with its current content.
pub fn files(fs: &SimFs, dirs: &DataDirs) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in [&dirs.snap_dir, &dirs.log_dir] {
        for name in fs.list_dir(dir).unwrap_or_default() {
            let path = dir.join(name);
            if !out.iter().any(|(p, _)| *p == path) {
                let data = fs.read(&path).unwrap();
                out.push((path, data));
            }
        }
    }
    out
}

/// A fresh disk holding exactly `files`, all durable.
pub fn disk_with(dirs: &DataDirs, files: &[(PathBuf, Vec<u8>)]) -> (SimFs, Arc<dyn Fs>) {
    let (fs, dynfs) = sim();
    fs.create_dir_all(&dirs.snap_dir).unwrap();
    fs.create_dir_all(&dirs.log_dir).unwrap();
    for (path, data) in files {
        let mut f = fs.create(path).unwrap();
        f.write_at(0, data).unwrap();
        f.sync_data().unwrap();
    }
    fs.sync_dir(&dirs.snap_dir).unwrap();
    fs.sync_dir(&dirs.log_dir).unwrap();
    (fs, dynfs)
}

pub fn zxids(entries: &[LogEntry]) -> Vec<Zxid> {
    entries.iter().map(|e| e.zxid).collect()
}
