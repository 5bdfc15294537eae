//! The store's one error type. Every variant is fatal to the node except where the caller
//! can clearly recover (`RecordTooLarge` is a refused request, not a broken disk).

use std::io;
use std::path::PathBuf;

/// What went wrong in the store.
///
/// Blast radius: `Io`, `Corrupt` and `Poisoned` stop the node. After a failed write or fsync
/// the log refuses all further work (`Poisoned`): Linux may already have dropped the dirty
/// pages, so a later successful fsync would prove nothing (the "fsyncgate" lesson).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An IO call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// Which call (`"sync_data"`, `"rename"`, ...).
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file's bytes contradict the format or the history (a bad record with good ones
    /// after it, a zxid gap or reorder, a bad snapshot with no older good one...).
    /// The node must refuse to start rather than serve a partial history.
    #[error("corrupt {file} at offset {offset}: {why}")]
    Corrupt {
        file: PathBuf,
        offset: u64,
        why: String,
    },
    /// A previous write or fsync on this log failed; nothing more is accepted.
    #[error("txn log is poisoned by an earlier IO failure")]
    Poisoned,
    /// A txn too large for a record (`LogConfig::record_bytes_max`).
    #[error("txn of {len} bytes exceeds the record limit of {max} bytes")]
    RecordTooLarge { len: usize, max: u32 },
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub(crate) fn corrupt(file: impl Into<PathBuf>, offset: u64, why: impl Into<String>) -> Self {
        StoreError::Corrupt {
            file: file.into(),
            offset,
            why: why.into(),
        }
    }
}

/// Attaches the operation and the path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| StoreError::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
