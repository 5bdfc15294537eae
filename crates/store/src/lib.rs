//! Durability for zkserver: the txn log, snapshots, epoch files, recovery and purge.
//!
//! This crate owns every byte zkserver puts on disk for ZAB and the tree, and the order in
//! which those bytes are made durable. It never sees ZAB or the tree: a txn is `(Zxid, Bytes)`
//! and a snapshot body is opaque bytes. It has no threads, no tokio, no clock and no random
//! source: time and randomness arrive as arguments, IO goes through the [`Fs`] seam
//! ([`StdFs`] for real files; `SimFs`, feature `sim`, a simulated disk that can crash).
//!
//! # Layout (ZooKeeper's)
//! - `dataDir/version-2/snapshot.<hex zxid>`: [`snapshot`]; `acceptedEpoch`, `currentEpoch`:
//!   [`epoch`].
//! - `dataLogDir/version-2/log.<hex first zxid>`: txn log segments, [`log`] (format in
//!   `record`). dataLogDir defaults to dataDir ([`DataDirs::new`]).
//!
//! The formats are ours (crc32 instead of Adler32, a trailer on snapshots), with their own
//! version numbers, so Apache ZooKeeper's tools refuse our files rather than misread them.
//!
//! # Media assumptions
//! What we assume of the OS and the disk, and therefore what a crash can leave:
//! 1. `fdatasync` on a file makes every earlier write and size change of that file durable,
//!    and returns an error if it cannot. After a failed fsync the page cache may have dropped
//!    the dirty pages, so a later fsync proves nothing: the log is then *poisoned* and the node
//!    must stop (it never "logs and carries on").
//! 2. A directory entry (create, rename, remove) is durable only after fsync of the
//!    directory. A rename is atomic: after a crash the name points at the old or the new file.
//! 3. Bytes written but not yet fsynced may be lost at a crash. Of the writes to one file
//!    since its last fsync, what survives is a *prefix in write order*, and the last surviving
//!    write may be torn at any byte (no sector atomicity is assumed). Preallocated space reads
//!    back as zeros. (This is what `SimFs::crash` models.)
//! 4. Bytes that were fsynced do not change. Should they (bit rot, a buggy disk, a truncated
//!    copy), the crc32 on every record and snapshot turns it into `Corrupt`, not wrong data.
//!
//! Consequences: only the last record of the last segment can legitimately be torn, and it
//! is cut at recovery (with a warning). A disk that broke assumption 3 by persisting later
//! writes before earlier ones can make an un-synced tail look like damage in the middle;
//! recovery then refuses to start (fail-safe: a refused node is resynced from the leader,
//! never started on a silently shortened history). The same holds, deliberately, if a
//! client's data happens to embed a well-formed log record inside a torn tail record.
//!
//! # Write path: the fsync points, in order
//! 1. **Each batch** ([`TxnLog::append`] then [`TxnLog::sync`]): the active segment is
//!    fdatasynced before `sync` returns the durable zxid; only then may the server send
//!    ACK / `Persisted`. Preallocation (`set_len` in blocks) is covered by the same fsync.
//! 2. **A new segment**: its first `sync` also fsyncs the log directory, so the file's name
//!    is durable before any of its records is reported durable.
//! 3. **Closing a segment** ([`TxnLog::roll`], or a size/count limit at `sync`): the segment
//!    is fully synced before it is closed; sealed segments never change again.
//! 4. **Epoch files** ([`epoch::write_epoch`]): write `<name>.tmp`, fdatasync, rename, fsync
//!    the directory. Only then ACKEPOCH (acceptedEpoch) or ACK(NEWLEADER) (currentEpoch).
//! 5. **A snapshot** ([`snapshot::SnapshotWriter`]): write `snapshot.<zxid>.tmp`, fdatasync,
//!    rename to `snapshot.<zxid>`, fsync the directory. Only after that may [`purge()`] delete
//!    older snapshots and segments (each deletion batch then fsyncs its directory).
//! 6. **TRUNC** ([`TxnLog::truncate_after`]): remove later segments (newest first), cut the
//!    segment holding the zxid, fdatasync it, fsync the directory; only then answer the leader.
//! 7. **Recovery** ([`recover`]): a torn tail is cut, the last segment is fdatasynced (it may
//!    hold bytes that only reached the page cache before a process crash) and the directory
//!    fsynced, before anything is appended.
//!
//! # Using it (the server's store thread)
//! 1. `let rec = recover(fs, &DataDirs::new(data_dir, data_log_dir), LogConfig { .. })?;`
//!    restore the tree from `rec.snapshot` (body + sessions), apply `rec.entries` in order,
//!    hand `rec.accepted_epoch`, `rec.current_epoch`, `rec.last_zxid` to ZAB. Keep `rec.log`.
//! 2. Loop: group requests with [`GroupCommit`]; per batch `log.append(&entries)` (and
//!    `truncate_after` / `write_epoch` in request order), then `log.sync()`, then report the
//!    batch persisted. Count txns with [`SnapPolicy::record`].
//! 3. When a snapshot is due: `log.roll()`; start a [`SnapshotWriter`] at the last applied
//!    zxid; write the tree in chunks (another thread may do this); `finish()`.
//! 4. After `finish`: [`purge::purge`]`(&mut log, &dirs.snap_dir, snap_retain_count)`.
//!
//! Any `Err` from `append`, `sync`, `roll`, `truncate_after`, `write_epoch` or
//! `SnapshotWriter::finish` is fatal to the node.

pub mod commit;
pub mod epoch;
mod error;
pub mod fs;
pub mod inspect;
pub mod log;
pub mod policy;
pub mod purge;
pub mod record;
pub mod recovery;
pub mod snapshot;
#[cfg(test)]
mod testutil;

use std::path::{Path, PathBuf};

pub use commit::{GroupCommit, GroupCommitConfig, GroupCommitStats, PersistWeight};
pub use epoch::{read_epoch, write_epoch, EpochFile};
pub use error::{Result, StoreError};
#[cfg(any(test, feature = "sim"))]
pub use fs::{FaultError, FaultOp, SimFs};
pub use fs::{Fs, FsFile, StdFs};
pub use log::{LogConfig, LogEntry, LogRecovery, SegmentMeta, TxnLog};
pub use policy::SnapPolicy;
pub use purge::{purge, purge_dirs, PurgePlan};
pub use recovery::{recover, Recovered};
pub use snapshot::{Snapshot, SnapshotMeta, SnapshotWriter};

/// Where a node's files live: `dataDir/version-2` (snapshots and epoch files) and
/// `dataLogDir/version-2` (txn log segments). Build it with [`DataDirs::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDirs {
    pub snap_dir: PathBuf,
    pub log_dir: PathBuf,
}

impl DataDirs {
    /// `data_log_dir` defaults to `data_dir`, as in ZooKeeper.
    pub fn new(data_dir: &Path, data_log_dir: Option<&Path>) -> DataDirs {
        DataDirs {
            snap_dir: data_dir.join("version-2"),
            log_dir: data_log_dir.unwrap_or(data_dir).join("version-2"),
        }
    }
}
