//! The txn log: segments `log.<lower-hex first zxid>` in `dataLogDir/version-2`.
//!
//! Owns the write path of logged txns. Invariants:
//! - zxids in the log strictly increase, within a segment and across segments (`append`
//!   asserts it: a caller that breaks it has a protocol bug, not a disk problem);
//! - a segment is named after its first record, and is appended to only while it is the
//!   *active* one; once closed (roll, size/count limit, restart, truncation) it is sealed and
//!   fully synced, so only the last segment can ever end in a torn record;
//! - `durable <= last`: `durable` only moves in `sync`/`roll`/`truncate_after`, after the
//!   fsyncs they need have succeeded; after any failed write or fsync the log is poisoned.
//!
//! Nothing here is durable until [`TxnLog::sync`] says so.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use jute::Zxid;

use crate::error::{IoContext, Result, StoreError};
use crate::fs::{Fs, FsFile};
use crate::record::{self, Stop, SEGMENT_HEADER_LEN};
use crate::recovery;

/// One logged txn: its zxid and its encoded bytes (opaque to the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub zxid: Zxid,
    pub txn: Bytes,
}

impl LogEntry {
    /// Bytes this entry takes in a segment.
    pub fn encoded_len(&self) -> usize {
        record::record_len(self.txn.len())
    }
}

/// Txn log settings (ZooKeeper's names in parentheses).
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Grow segments in blocks of this many bytes, so that most appends do not change the
    /// file size (ZooKeeper: `preAllocSize`, KB in zoo.cfg). 0 disables preallocation.
    pub prealloc_bytes: u64,
    /// Close the active segment once it holds this many bytes (ZooKeeper: `txnLogSizeLimitInKb`).
    pub segment_bytes_max: Option<u64>,
    /// Close the active segment once it holds this many records.
    pub segment_entries_max: Option<u64>,
    /// The largest txn accepted by `append` and believed by the reader; it also bounds
    /// the work of telling a torn tail from damage (ZooKeeper: `jute.maxbuffer`, plus headroom).
    pub record_bytes_max: u32,
    /// fdatasync in `sync` (ZooKeeper: `forceSync`). Turning it off makes `sync` a lie after a power
    /// cut (it still reports the entries durable), exactly as ZooKeeper's forceSync=no.
    pub force_sync: bool,
    /// Written into each segment header (ZooKeeper writes 0).
    pub dbid: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            // ZooKeeper's default preAllocSize: 64 MiB.
            prealloc_bytes: 64 << 20,
            segment_bytes_max: None,
            segment_entries_max: None,
            // 16 MiB: far above jute.maxbuffer (1 MiB) so no legal txn is refused.
            record_bytes_max: 16 << 20,
            force_sync: true,
            dbid: 0,
        }
    }
}

/// What the store knows about one segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentMeta {
    /// The zxid in the file name: the first record's.
    pub first: Zxid,
    pub path: PathBuf,
    /// The last record's zxid, when this process has read or written the segment.
    pub last: Option<Zxid>,
}

/// The segment file name for a first zxid.
pub fn segment_name(first: Zxid) -> String {
    format!("log.{:x}", first.0)
}

/// The first zxid of a segment file name (`log.<lower-hex>`), or `None` for other files.
pub fn parse_segment_name(name: &str) -> Option<Zxid> {
    let hex = name.strip_prefix("log.")?;
    parse_hex_zxid(hex)
}

pub(crate) fn parse_hex_zxid(hex: &str) -> Option<Zxid> {
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|v| Zxid(v as i64))
}

/// The segments in `dir`, sorted by first zxid.
pub fn list_segments(fs: &dyn Fs, dir: &Path) -> Result<Vec<SegmentMeta>> {
    let mut segs: Vec<SegmentMeta> = fs
        .list_dir(dir)
        .ctx("list_dir", dir)?
        .iter()
        .filter_map(|name| {
            parse_segment_name(name).map(|first| SegmentMeta {
                first,
                path: dir.join(name),
                last: None,
            })
        })
        .collect();
    segs.sort_by_key(|s| s.first);
    Ok(segs)
}

#[derive(Debug)]
struct Active {
    file: Box<dyn FsFile>,
    path: PathBuf,
    /// Where the next record goes (end of data).
    write_pos: u64,
    /// Current file length (preallocated space included).
    alloc_len: u64,
    records: u64,
    /// Everything below this offset is durable.
    synced_pos: u64,
    /// Whether the directory entry of this (new) segment is durable.
    dir_synced: bool,
}

/// The txn log of one node. See the module doc for its invariants and `lib.rs` for the
/// fsync points.
#[derive(Debug)]
pub struct TxnLog {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    config: LogConfig,
    /// Sorted by `first`; the active segment, if any, is the last one.
    segments: Vec<SegmentMeta>,
    active: Option<Active>,
    /// The active segment crossed a size/count limit: close it at the next `sync`.
    roll_after_sync: bool,
    /// Highest zxid written (durable or not); `Zxid::ZERO` for an empty log.
    last: Zxid,
    /// Highest zxid known durable.
    durable: Zxid,
    poisoned: bool,
    /// Reused encode buffer.
    buf: Vec<u8>,
}

/// What opening a log found.
#[derive(Debug, Default)]
pub struct LogRecovery {
    /// Every logged txn with zxid > the `after` given to `open`, in zxid order.
    pub entries: Vec<LogEntry>,
    /// What recovery dropped or repaired (also traced at WARN).
    pub warnings: Vec<String>,
}

impl TxnLog {
    /// Opens (creating if needed) the log in `dir` (a `version-2` directory), recovers it and
    /// returns the txns after `after` (normally the zxid of the snapshot being loaded).
    ///
    /// Recovery cuts a torn or bad *last* record of the last segment (with a warning), fsyncs
    /// the last segment (it may hold data that reached only the page cache before a process
    /// crash) and the directory, and fails with `Corrupt` on anything else (see `recovery`).
    /// The next `append` starts a new segment.
    pub fn open(
        fs: Arc<dyn Fs>,
        dir: &Path,
        config: LogConfig,
        after: Zxid,
    ) -> Result<(TxnLog, LogRecovery)> {
        fs.create_dir_all(dir).ctx("create_dir_all", dir)?;
        let scan = recovery::scan_log(fs.as_ref(), dir, &config, after)?;
        let log = TxnLog {
            fs,
            dir: dir.to_path_buf(),
            config,
            segments: scan.segments,
            active: None,
            roll_after_sync: false,
            last: scan.last,
            durable: scan.last,
            poisoned: false,
            buf: Vec::new(),
        };
        Ok((
            log,
            LogRecovery {
                entries: scan.entries,
                warnings: scan.warnings,
            },
        ))
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Highest zxid written, durable or not (`Zxid::ZERO` if the log is empty).
    pub fn last_zxid(&self) -> Zxid {
        self.last
    }

    /// Highest zxid made durable by `sync` (or found on disk at open).
    pub fn durable_zxid(&self) -> Zxid {
        self.durable
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> &[SegmentMeta] {
        &self.segments
    }

    /// Writes `entries` to the active segment (creating one if needed). Writes only: nothing
    /// is durable until `sync`.
    ///
    /// Panics if the zxids do not strictly increase from `last_zxid()`: the caller's protocol
    /// is broken. `RecordTooLarge` refuses the whole batch before anything is written.
    pub fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let mut prev = self.last;
        for e in entries {
            assert!(
                e.zxid > prev,
                "txn log: zxid {} appended after {}",
                e.zxid,
                prev
            );
            prev = e.zxid;
            if e.txn.len() > self.config.record_bytes_max as usize {
                return Err(StoreError::RecordTooLarge {
                    len: e.txn.len(),
                    max: self.config.record_bytes_max,
                });
            }
        }
        let result = self.write_batch(first.zxid, entries);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn write_batch(&mut self, first: Zxid, entries: &[LogEntry]) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if self.active.is_none() {
            let path = self.dir.join(segment_name(first));
            let file = self.fs.create(&path).ctx("create", &path)?;
            buf.extend_from_slice(&record::encode_segment_header(self.config.dbid));
            self.segments.push(SegmentMeta {
                first,
                path: path.clone(),
                last: None,
            });
            self.active = Some(Active {
                file,
                path,
                write_pos: 0,
                alloc_len: 0,
                records: 0,
                synced_pos: 0,
                dir_synced: false,
            });
        }
        for e in entries {
            record::encode_record(&mut buf, e.zxid, &e.txn);
        }
        let Some(active) = self.active.as_mut() else {
            unreachable!("active segment was just ensured");
        };
        let end = active.write_pos + buf.len() as u64;
        if end > active.alloc_len && self.config.prealloc_bytes > 0 {
            // Grow to the next block boundary past `end`, so the size rarely changes.
            let block = self.config.prealloc_bytes;
            let new_len = end.div_ceil(block) * block;
            active
                .file
                .set_len(new_len)
                .ctx("set_len (preallocate)", &active.path)?;
            active.alloc_len = new_len;
        }
        active
            .file
            .write_at(active.write_pos, &buf)
            .ctx("write", &active.path)?;
        active.write_pos = end;
        active.alloc_len = active.alloc_len.max(end);
        active.records += entries.len() as u64;
        let last = entries[entries.len() - 1].zxid;
        self.last = last;
        if let Some(meta) = self.segments.last_mut() {
            meta.last = Some(last);
        }
        let over_bytes = self.config.segment_bytes_max.is_some_and(|m| end >= m);
        let over_count = self
            .config
            .segment_entries_max
            .is_some_and(|m| active.records >= m);
        if over_bytes || over_count {
            self.roll_after_sync = true;
        }
        self.buf = buf;
        Ok(())
    }

    /// Makes everything appended so far durable (fdatasync the active segment; for a new
    /// segment, also fsync the directory) and returns the durable high-water mark.
    ///
    /// On error the log is poisoned and the entries written since the last successful sync
    /// are never reported durable.
    pub fn sync(&mut self) -> Result<Zxid> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        let result = self.sync_active();
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn sync_active(&mut self) -> Result<Zxid> {
        if let Some(active) = self.active.as_mut() {
            if self.config.force_sync {
                if active.synced_pos < active.write_pos {
                    active.file.sync_data().ctx("sync_data", &active.path)?;
                }
                if !active.dir_synced {
                    self.fs.sync_dir(&self.dir).ctx("sync_dir", &self.dir)?;
                }
            }
            active.synced_pos = active.write_pos;
            active.dir_synced = true;
        }
        self.durable = self.last;
        if self.roll_after_sync {
            self.roll_after_sync = false;
            self.active = None;
        }
        Ok(self.durable)
    }

    /// Closes the active segment so that the next `append` starts `log.<its zxid>` (at each
    /// snapshot). Syncs first: a sealed segment is always fully durable, which is what lets
    /// recovery call a bad record in any segment but the last one corruption.
    pub fn roll(&mut self) -> Result<Zxid> {
        let durable = self.sync()?;
        self.active = None;
        Ok(durable)
    }

    /// Removes every entry with zxid > `zxid` (ZAB's TRUNC), durably: whole segments are
    /// removed newest first, the segment holding `zxid` is cut after it and fsynced, then the
    /// directory is fsynced. Returns the new last zxid (`Zxid::ZERO` if nothing is left).
    pub fn truncate_after(&mut self, zxid: Zxid) -> Result<Zxid> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        let result = self.truncate_inner(zxid);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn truncate_inner(&mut self, zxid: Zxid) -> Result<Zxid> {
        self.active = None;
        self.roll_after_sync = false;
        while let Some(seg) = self.segments.last() {
            if seg.first <= zxid {
                break;
            }
            self.fs.remove(&seg.path).ctx("remove", &seg.path)?;
            self.segments.pop();
        }
        let mut new_last = Zxid::ZERO;
        if let Some(seg) = self.segments.last_mut() {
            let (records, cut) = read_segment(self.fs.as_ref(), &seg.path, &self.config)?;
            let kept: Vec<_> = records.iter().filter(|r| r.zxid <= zxid).collect();
            let end = kept.last().map_or(SEGMENT_HEADER_LEN as u64, |r| r.end());
            if end < cut {
                tracing::info!(file = %seg.path.display(), offset = end, "truncating txn log");
            }
            // Cut even when nothing follows `end`: this also drops preallocated space, so
            // the sealed segment ends exactly at its data.
            let mut file = self.fs.open(&seg.path).ctx("open", &seg.path)?;
            file.set_len(end).ctx("set_len (truncate)", &seg.path)?;
            file.sync_data().ctx("sync_data", &seg.path)?;
            new_last = kept.last().map_or(Zxid::ZERO, |r| r.zxid);
            seg.last = Some(new_last);
        }
        self.fs.sync_dir(&self.dir).ctx("sync_dir", &self.dir)?;
        self.last = new_last;
        self.durable = new_last;
        Ok(new_last)
    }

    /// Reads up to `max_entries` logged txns with zxid >= `from`, in order, synced or not
    /// (a leader serving DIFF only asks for committed ones).
    pub fn read_from(&self, from: Zxid, max_entries: usize) -> Result<Vec<LogEntry>> {
        let mut out = Vec::new();
        for (i, seg) in self.segments.iter().enumerate() {
            if out.len() >= max_entries {
                break;
            }
            // Skip a segment when the next one starts at or before `from`.
            if self
                .segments
                .get(i + 1)
                .is_some_and(|next| next.first <= from)
            {
                continue;
            }
            let (records, _) = read_segment(self.fs.as_ref(), &seg.path, &self.config)?;
            for r in records {
                if out.len() >= max_entries {
                    break;
                }
                if r.zxid >= from {
                    // Copied out so the segment's buffer is freed on return (see scan_log).
                    out.push(LogEntry {
                        zxid: r.zxid,
                        txn: Bytes::copy_from_slice(&r.txn),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Forgets segments that `purge` removed from the disk (everything strictly before the
    /// segment whose first zxid is `keep_from`).
    pub(crate) fn forget_segments_before(&mut self, keep_from: Zxid) {
        self.segments.retain(|s| s.first >= keep_from);
    }

    pub(crate) fn fs(&self) -> &Arc<dyn Fs> {
        &self.fs
    }
}

/// Reads a segment this process trusts (written by it, or checked at open): returns its
/// records and the end of data. Any damage is `Corrupt`.
pub(crate) fn read_segment(
    fs: &dyn Fs,
    path: &Path,
    config: &LogConfig,
) -> Result<(Vec<record::RecordAt>, u64)> {
    let buf = Bytes::from(fs.read(path).ctx("read", path)?);
    record::decode_segment_header(&buf)
        .map_err(|e| StoreError::corrupt(path, 0, format!("segment header: {e:?}")))?;
    let (records, stop) = record::parse_records(&buf, SEGMENT_HEADER_LEN, config.record_bytes_max);
    match stop {
        Stop::End { offset } => Ok((records, offset)),
        Stop::Bad { offset, why } => Err(StoreError::corrupt(path, offset, why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FaultError, FaultOp};
    use crate::testutil::*;
    use proptest::prelude::*;

    fn open(fs: &Arc<dyn Fs>, config: LogConfig) -> (TxnLog, LogRecovery) {
        TxnLog::open(fs.clone(), &dirs().log_dir, config, Zxid::ZERO).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// What is written (across rolls, size limits and preallocation blocks) reads back
        /// the same, both from the live log and after reopening.
        #[test]
        fn write_then_read_across_rolls(
            batches in prop::collection::vec((1u32..6, any::<bool>()), 1..12),
            entries_max in prop::option::of(1u64..6),
            bytes_max in prop::option::of(40u64..300),
        ) {
            let (_sim, fs) = sim();
            let config = LogConfig {
                segment_entries_max: entries_max,
                segment_bytes_max: bytes_max,
                ..small_config()
            };
            let (mut log, rec) = open(&fs, config.clone());
            prop_assert!(rec.entries.is_empty());
            let mut written = Vec::new();
            let mut next = 1;
            for (n, roll) in batches {
                let batch = entries(1, next, n);
                next += n;
                log.append(&batch).unwrap();
                written.extend(batch);
                let durable = if roll { log.roll().unwrap() } else { log.sync().unwrap() };
                prop_assert_eq!(durable, written.last().unwrap().zxid);
            }
            prop_assert_eq!(&log.read_from(Zxid::ZERO, usize::MAX).unwrap(), &written);
            let mid = written[written.len() / 2].zxid;
            let tail: Vec<_> = written.iter().filter(|e| e.zxid >= mid).cloned().collect();
            prop_assert_eq!(&log.read_from(mid, usize::MAX).unwrap(), &tail);
            prop_assert_eq!(log.read_from(Zxid::ZERO, 2).unwrap().len(), written.len().min(2));
            drop(log);
            let (log2, rec2) = open(&fs, config);
            prop_assert_eq!(&rec2.entries, &written);
            prop_assert!(rec2.warnings.is_empty(), "{:?}", rec2.warnings);
            prop_assert_eq!(log2.last_zxid(), written.last().unwrap().zxid);
        }
    }

    #[test]
    fn segments_are_named_after_their_first_zxid() {
        let (sim, fs) = sim();
        let (mut log, _) = open(&fs, small_config());
        log.append(&entries(1, 1, 3)).unwrap();
        log.roll().unwrap();
        log.append(&entries(1, 4, 2)).unwrap();
        log.sync().unwrap();
        let names = sim.list_dir(&dirs().log_dir).unwrap();
        assert_eq!(names, vec!["log.100000001", "log.100000004"]);
        // Preallocated in 128-byte blocks.
        assert_eq!(
            sim.contents(&dirs().log_dir.join("log.100000004"))
                .unwrap()
                .len()
                % 128,
            0
        );
    }

    #[test]
    fn zxids_must_increase() {
        let (_sim, fs) = sim();
        let (mut log, _) = open(&fs, small_config());
        log.append(&entries(1, 5, 1)).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            log.append(&entries(1, 5, 1))
        }));
        assert!(r.is_err(), "appending a non-increasing zxid must panic");
    }

    #[test]
    fn oversized_txn_is_refused_without_poisoning() {
        let (_sim, fs) = sim();
        let (mut log, _) = open(&fs, small_config());
        let big = LogEntry {
            zxid: Zxid::new(1, 1),
            txn: Bytes::from(vec![0; 5000]),
        };
        assert!(matches!(
            log.append(&[big]),
            Err(StoreError::RecordTooLarge { len: 5000, .. })
        ));
        log.append(&entries(1, 1, 1)).unwrap();
        log.sync().unwrap();
    }

    #[test]
    fn failed_sync_is_never_reported_durable() {
        for nth in 1..=2 {
            let (sim, fs) = sim();
            let (mut log, _) = open(&fs, small_config());
            log.append(&entries(1, 1, 3)).unwrap();
            assert_eq!(log.sync().unwrap(), Zxid::new(1, 3));
            // A new segment's first sync is two fsyncs (file, directory): fail either.
            log.roll().unwrap();
            log.append(&entries(1, 4, 3)).unwrap();
            sim.inject_fault(FaultOp::Sync, nth, FaultError::Eio);
            assert!(matches!(log.sync(), Err(StoreError::Io { .. })));
            assert_eq!(log.durable_zxid(), Zxid::new(1, 3));
            assert!(matches!(log.sync(), Err(StoreError::Poisoned)));
            assert!(matches!(
                log.append(&entries(1, 7, 1)),
                Err(StoreError::Poisoned)
            ));
            assert_eq!(log.durable_zxid(), Zxid::new(1, 3));
            // Whatever the disk kept, recovery has everything reported durable.
            for seed in 0..20 {
                sim.crash(seed);
                let (_, rec) = open(&fs, small_config());
                let got = zxids(&rec.entries);
                assert!(got.len() >= 3 && got.len() <= 6, "{got:?}");
            }
        }
    }

    #[test]
    fn failed_write_poisons() {
        let (sim, fs) = sim();
        let (mut log, _) = open(&fs, small_config());
        log.append(&entries(1, 1, 2)).unwrap();
        log.sync().unwrap();
        sim.inject_fault(FaultOp::Write, 1, FaultError::Enospc);
        assert!(log.append(&entries(1, 3, 50)).is_err());
        assert!(matches!(log.sync(), Err(StoreError::Poisoned)));
        assert_eq!(log.durable_zxid(), Zxid::new(1, 2));
    }

    #[test]
    fn truncate_after_mid_segment_and_across_segments() {
        let (sim, fs) = sim();
        let (mut log, _) = open(&fs, small_config());
        log.append(&entries(1, 1, 4)).unwrap();
        log.roll().unwrap();
        log.append(&entries(1, 5, 4)).unwrap();
        log.roll().unwrap();
        log.append(&entries(1, 9, 2)).unwrap();
        // Not synced: truncation makes what it keeps durable anyway.
        assert_eq!(
            log.truncate_after(Zxid::new(1, 6)).unwrap(),
            Zxid::new(1, 6)
        );
        assert_eq!(log.last_zxid(), Zxid::new(1, 6));
        assert_eq!(log.durable_zxid(), Zxid::new(1, 6));
        assert_eq!(zxids(&log.read_from(Zxid::ZERO, 100).unwrap()).len(), 6);
        // Appending continues in a fresh segment.
        log.append(&entries(2, 1, 2)).unwrap();
        log.sync().unwrap();
        sim.crash(7);
        let (log2, rec) = open(&fs, small_config());
        let mut want: Vec<_> = (1..=6).map(|c| Zxid::new(1, c)).collect();
        want.extend([Zxid::new(2, 1), Zxid::new(2, 2)]);
        assert_eq!(zxids(&rec.entries), want);
        assert_eq!(log2.segments().len(), 3);
        // Truncating before everything empties the log.
        let (mut log3, _) = open(&fs, small_config());
        assert_eq!(log3.truncate_after(Zxid::ZERO).unwrap(), Zxid::ZERO);
        assert!(sim.list_dir(&dirs().log_dir).unwrap().is_empty());
    }

    #[test]
    fn truncate_survives_every_crash() {
        for seed in 0..40 {
            let (sim, fs) = sim();
            let (mut log, _) = open(&fs, small_config());
            log.append(&entries(1, 1, 6)).unwrap();
            log.sync().unwrap();
            log.truncate_after(Zxid::new(1, 3)).unwrap();
            sim.crash(seed);
            let (_, rec) = open(&fs, small_config());
            assert_eq!(zxids(&rec.entries), zxids(&entries(1, 1, 3)));
        }
    }
}
