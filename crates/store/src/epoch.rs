//! The epoch files `acceptedEpoch` and `currentEpoch` in `dataDir/version-2`.
//!
//! Format (as ZooKeeper): the epoch in decimal, no trailing newline (a trailing newline or
//! spaces are tolerated on read). Written atomically: `<name>.tmp`, fsync, rename, fsync the
//! directory, so after a crash the file holds either the old or the new value, never a torn
//! one. A leftover `.tmp` is ignored: its value was never reported durable.
//!
//! Invariant (checked by `recover`): acceptedEpoch >= currentEpoch.

use std::path::Path;

use crate::error::{IoContext, Result, StoreError};
use crate::fs::Fs;

/// Which epoch file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochFile {
    /// The epoch this node has acknowledged in discovery (ACKEPOCH).
    Accepted,
    /// The epoch of the leader this node last synced with (NEWLEADER).
    Current,
}

impl EpochFile {
    /// The file name.
    pub fn name(self) -> &'static str {
        match self {
            EpochFile::Accepted => "acceptedEpoch",
            EpochFile::Current => "currentEpoch",
        }
    }
}

/// Reads an epoch file; `None` if it does not exist.
pub fn read_epoch(fs: &dyn Fs, dir: &Path, which: EpochFile) -> Result<Option<u32>> {
    let path = dir.join(which.name());
    if !fs.exists(&path).ctx("stat", &path)? {
        return Ok(None);
    }
    let data = fs.read(&path).ctx("read", &path)?;
    let text = std::str::from_utf8(&data)
        .map_err(|_| StoreError::corrupt(&path, 0, "epoch file is not text"))?;
    text.trim_end()
        .parse::<u32>()
        .map(Some)
        .map_err(|e| StoreError::corrupt(&path, 0, format!("bad epoch {text:?}: {e}")))
}

/// Writes an epoch file durably (see the module doc). When this returns, the value survives
/// a crash; only then may ZAB send ACKEPOCH / ACK(NEWLEADER).
pub fn write_epoch(fs: &dyn Fs, dir: &Path, which: EpochFile, epoch: u32) -> Result<()> {
    let path = dir.join(which.name());
    let tmp = dir.join(format!("{}.tmp", which.name()));
    let mut file = fs.create(&tmp).ctx("create", &tmp)?;
    file.write_at(0, epoch.to_string().as_bytes())
        .ctx("write", &tmp)?;
    file.sync_data().ctx("sync_data", &tmp)?;
    fs.rename(&tmp, &path).ctx("rename", &path)?;
    fs.sync_dir(dir).ctx("sync_dir", dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::SimFs;

    #[test]
    fn round_trip_no_newline_and_missing_is_none() {
        let fs = SimFs::new();
        let dir = Path::new("/data/version-2");
        fs.create_dir_all(dir).unwrap();
        assert_eq!(read_epoch(&fs, dir, EpochFile::Accepted).unwrap(), None);
        write_epoch(&fs, dir, EpochFile::Accepted, 7).unwrap();
        write_epoch(&fs, dir, EpochFile::Current, 1).unwrap();
        assert_eq!(read_epoch(&fs, dir, EpochFile::Accepted).unwrap(), Some(7));
        assert_eq!(read_epoch(&fs, dir, EpochFile::Current).unwrap(), Some(1));
        assert_eq!(fs.contents(&dir.join("currentEpoch")).unwrap(), b"1");
    }

    #[test]
    fn crash_leaves_old_or_new_value() {
        let dir = Path::new("/data/version-2");
        let mut seen = [false; 2];
        for seed in 0..64 {
            let fs = SimFs::new();
            fs.create_dir_all(dir).unwrap();
            write_epoch(&fs, dir, EpochFile::Accepted, 4).unwrap();
            // Interrupted write: tmp written and synced, renamed, dir not synced.
            let tmp = dir.join("acceptedEpoch.tmp");
            let mut f = fs.create(&tmp).unwrap();
            f.write_at(0, b"5").unwrap();
            f.sync_data().unwrap();
            fs.rename(&tmp, &dir.join("acceptedEpoch")).unwrap();
            fs.crash(seed);
            let e = read_epoch(&fs, dir, EpochFile::Accepted).unwrap().unwrap();
            assert!(e == 4 || e == 5, "{e}");
            seen[(e - 4) as usize] = true;
        }
        assert_eq!(seen, [true, true]);
    }

    #[test]
    fn garbage_is_corrupt() {
        let fs = SimFs::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        fs.create(&dir.join("currentEpoch"))
            .unwrap()
            .write_at(0, b"x1")
            .unwrap();
        let err = read_epoch(&fs, dir, EpochFile::Current).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }
}
