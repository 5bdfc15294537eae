//! Recovery: from whatever a crash left on disk to (snapshot, txns after it), or a refusal.
//!
//! Policy, applied to the segments that can hold txns after the snapshot zxid S (the last
//! segment starting at or before S, and every later one):
//! 1. A segment header that never fully reached the disk, in the last segment, with no valid
//!    record after it: the segment was being created at the crash; it is removed (warning).
//! 2. A bad record (torn, CRC mismatch, impossible length, or garbage after the end-of-data
//!    marker) with no valid record anywhere after it, in the last segment: a torn tail; the
//!    file is cut there and fsynced (warning).
//! 3. Any other bad record (a valid record follows it, or it sits in a sealed segment) is
//!    `Corrupt { file, offset, why }`.
//! 4. zxids must strictly increase across the scanned segments, and each segment's first
//!    record must carry the zxid in its name. Among the replayed txns (zxid > S, plus S
//!    itself as the starting point), two consecutive zxids of the same epoch must have
//!    consecutive counters: a leader numbers an epoch's txns 1, 2, 3... and every node logs
//!    all of them, so a hole is lost history. Violations are `Corrupt`.
//! 5. The surviving last segment is fsynced, and the directory too: after a process crash
//!    (not a power cut) it may hold bytes that only reached the page cache, and we are about
//!    to build on them.
//!
//! 6. Without a valid snapshot, the replay starts from an empty tree, so the log must begin
//!    at the start of the history: the first record's counter must be 1 (the first txn of
//!    an epoch). A log that starts in the middle of an epoch with no snapshot (snapshots
//!    lost after a purge removed the older segments) is `Corrupt`, not an empty tree with
//!    the tail of the history replayed over it. (A log whose first segment happens to start
//!    at an epoch boundary cannot be told apart this way; the complete rule is ZooKeeper's:
//!    an initial snapshot at first start, and "no snapshot but log entries" is refused.)
//!
//! Never a silent partial history: either every txn the disk still holds after S is
//! returned, or recovery fails and names the file and offset.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use jute::Zxid;

use crate::epoch::{read_epoch, EpochFile};
use crate::error::{IoContext, Result, StoreError};
use crate::fs::Fs;
use crate::log::{list_segments, LogConfig, LogEntry, SegmentMeta, TxnLog};
use crate::record::{self, HeaderError, Stop, SEGMENT_HEADER_LEN};
use crate::snapshot::{self, Snapshot};
use crate::DataDirs;

/// The outcome of scanning the log at open.
#[derive(Debug, Default)]
pub(crate) struct LogScan {
    pub segments: Vec<SegmentMeta>,
    pub entries: Vec<LogEntry>,
    pub warnings: Vec<String>,
    pub last: Zxid,
}

fn warn(warnings: &mut Vec<String>, msg: String) {
    tracing::warn!("{msg}");
    warnings.push(msg);
}

/// Scans the segments in `dir` that can hold txns after `after`, applying the policy in
/// the module doc. Repairs (cut tail, removed empty last segment) are durable on return.
pub(crate) fn scan_log(
    fs: &dyn Fs,
    dir: &Path,
    config: &LogConfig,
    after: Zxid,
) -> Result<LogScan> {
    let mut segments = list_segments(fs, dir)?;
    let start = segments.iter().rposition(|s| s.first <= after).unwrap_or(0);
    let mut scan = LogScan::default();
    let mut prev: Option<Zxid> = None;
    let mut replay_prev = after;
    let mut dir_changed = false;
    let mut i = start;
    while i < segments.len() {
        let is_last = i + 1 == segments.len();
        let path = segments[i].path.clone();
        let buf = Bytes::from(fs.read(&path).ctx("read", &path)?);
        let records = match scan_segment(&buf, &path, is_last, config, &mut scan.warnings)? {
            Some((records, cut)) => {
                if let Some(offset) = cut {
                    // Durable through the last segment's fsync below (rule 5).
                    let mut file = fs.open(&path).ctx("open", &path)?;
                    file.set_len(offset).ctx("set_len (cut torn tail)", &path)?;
                }
                records
            }
            None => {
                fs.remove(&path).ctx("remove", &path)?;
                dir_changed = true;
                segments.remove(i);
                continue;
            }
        };
        if let Some(first) = records.first() {
            if first.zxid != segments[i].first {
                return Err(StoreError::corrupt(
                    &path,
                    first.offset,
                    format!(
                        "first record has zxid {} but the file is named for {}",
                        first.zxid, segments[i].first
                    ),
                ));
            }
        } else if is_last {
            // Header only (created, then the crash took every record): drop it so the
            // next segment's name is the zxid of its first record again.
            warn(
                &mut scan.warnings,
                format!("removing empty last log segment {}", path.display()),
            );
            fs.remove(&path).ctx("remove", &path)?;
            dir_changed = true;
            segments.remove(i);
            continue;
        }
        for r in &records {
            if let Some(p) = prev {
                if r.zxid <= p {
                    return Err(StoreError::corrupt(
                        &path,
                        r.offset,
                        format!("zxid {} is not after the previous zxid {p}", r.zxid),
                    ));
                }
            }
            prev = Some(r.zxid);
            if r.zxid > after {
                check_no_gap(replay_prev, r.zxid, &path, r.offset)?;
                replay_prev = r.zxid;
                scan.entries.push(LogEntry {
                    zxid: r.zxid,
                    txn: r.txn.clone(),
                });
            }
        }
        segments[i].last = records.last().map(|r| r.zxid);
        if is_last {
            // Rule 5: make what we found durable before anything is built on it.
            let mut file = fs.open(&path).ctx("open", &path)?;
            file.sync_data().ctx("sync_data", &path)?;
            dir_changed = true;
        }
        i += 1;
    }
    if dir_changed {
        fs.sync_dir(dir).ctx("sync_dir", dir)?;
    }
    scan.last = segments.last().and_then(|s| s.last).unwrap_or(Zxid::ZERO);
    scan.segments = segments;
    Ok(scan)
}

/// Within one epoch, counters of consecutive replayed txns must be consecutive.
fn check_no_gap(prev: Zxid, next: Zxid, file: &Path, offset: u64) -> Result<()> {
    if prev.epoch() == next.epoch() && prev != Zxid::ZERO && next.counter() != prev.counter() + 1 {
        return Err(StoreError::corrupt(
            file,
            offset,
            format!("gap in history: zxid {next} follows {prev}"),
        ));
    }
    Ok(())
}

/// Checks one segment's bytes. `Ok(None)`: the last segment's header never reached the disk
/// (remove the file). `Ok(Some((records, cut)))`: the good records, and where to cut a torn
/// tail (last segment only).
fn scan_segment(
    buf: &Bytes,
    path: &Path,
    is_last: bool,
    config: &LogConfig,
    warnings: &mut Vec<String>,
) -> Result<Option<(Vec<record::RecordAt>, Option<u64>)>> {
    let max = config.record_bytes_max;
    match record::decode_segment_header(buf) {
        Ok(_) => {}
        Err(HeaderError::Incomplete)
            if is_last && record::valid_record_after(buf, 0, max).is_none() =>
        {
            warn(
                warnings,
                format!("removing log segment {} with a torn header", path.display()),
            );
            return Ok(None);
        }
        Err(HeaderError::Incomplete) => {
            return Err(StoreError::corrupt(path, 0, "incomplete segment header"))
        }
        Err(HeaderError::Bad(why)) => return Err(StoreError::corrupt(path, 0, why)),
    }
    let (records, stop) = record::parse_records(buf, SEGMENT_HEADER_LEN, max);
    if let Stop::Bad { offset, why } = stop {
        if let Some(next) = record::valid_record_after(buf, offset as usize, max) {
            return Err(StoreError::corrupt(
                path,
                offset,
                format!("{why}; a valid record follows at offset {next}"),
            ));
        }
        if !is_last {
            return Err(StoreError::corrupt(
                path,
                offset,
                format!("{why}, in a sealed segment (not the last one)"),
            ));
        }
        warn(
            warnings,
            format!(
                "cutting torn tail of {} at offset {offset}: {why}",
                path.display()
            ),
        );
        return Ok(Some((records, Some(offset))));
    }
    Ok(Some((records, None)))
}

/// Everything a node needs to start, from disk.
#[derive(Debug)]
pub struct Recovered {
    /// The newest valid snapshot, if any (restore the tree from its body).
    pub snapshot: Option<Snapshot>,
    /// Every logged txn after the snapshot's zxid, in order: apply them all. The txns are
    /// slices of their segment's read buffer (no copy for replay): copy the ones kept for
    /// long, or the whole buffer (a preallocated segment's length) stays alive.
    pub entries: Vec<LogEntry>,
    /// The log, ready for `append` (it starts a new segment).
    pub log: TxnLog,
    pub accepted_epoch: Option<u32>,
    pub current_epoch: Option<u32>,
    /// The highest zxid the node holds: the last replayed txn, else the snapshot's, else
    /// `Zxid::ZERO`.
    pub last_zxid: Zxid,
    /// What was dropped or repaired on the way (also traced at WARN).
    pub warnings: Vec<String>,
}

/// Recovers a node's state: creates the directories if needed, removes leftover
/// `snapshot.*.tmp` files, loads the newest valid snapshot (S), opens the log and collects
/// every txn after S (see the module doc for what is repaired and what is refused), and
/// reads the epoch files.
pub fn recover(fs: Arc<dyn Fs>, dirs: &DataDirs, config: LogConfig) -> Result<Recovered> {
    fs.create_dir_all(&dirs.snap_dir)
        .ctx("create_dir_all", &dirs.snap_dir)?;
    fs.create_dir_all(&dirs.log_dir)
        .ctx("create_dir_all", &dirs.log_dir)?;
    let mut warnings = Vec::new();
    for tmp in snapshot::remove_tmp_files(fs.as_ref(), &dirs.snap_dir)? {
        warn(
            &mut warnings,
            format!("removed unfinished snapshot {}", tmp.display()),
        );
    }
    let found = snapshot::newest_valid(fs.as_ref(), &dirs.snap_dir)?;
    let snapshot = match found {
        Some((snap, skipped)) => {
            for (path, err) in skipped {
                warn(
                    &mut warnings,
                    format!("skipping bad snapshot {}: {err}", path.display()),
                );
            }
            Some(snap)
        }
        None => None,
    };
    let after = snapshot.as_ref().map_or(Zxid::ZERO, |s| s.zxid);
    let (log, log_rec) = TxnLog::open(fs.clone(), &dirs.log_dir, config, after)?;
    warnings.extend(log_rec.warnings);
    if snapshot.is_none() {
        // Rule 6: no snapshot, so the log must start at the beginning of the history.
        if let (Some(first), Some(seg)) = (log_rec.entries.first(), log.segments().first()) {
            if first.zxid.counter() != 1 {
                return Err(StoreError::corrupt(
                    &seg.path,
                    SEGMENT_HEADER_LEN as u64,
                    format!(
                        "there is no snapshot, and the log starts at zxid {} in the middle of \
                         an epoch: the history before it is missing (were snapshots deleted \
                         after a purge?)",
                        first.zxid
                    ),
                ));
            }
        }
    }
    let accepted_epoch = read_epoch(fs.as_ref(), &dirs.snap_dir, EpochFile::Accepted)?;
    let current_epoch = read_epoch(fs.as_ref(), &dirs.snap_dir, EpochFile::Current)?;
    if let (Some(a), Some(c)) = (accepted_epoch, current_epoch) {
        if a < c {
            return Err(StoreError::corrupt(
                dirs.snap_dir.join(EpochFile::Accepted.name()),
                0,
                format!("acceptedEpoch {a} is below currentEpoch {c}"),
            ));
        }
    }
    let last_zxid = log_rec.entries.last().map_or(after, |e| e.zxid);
    Ok(Recovered {
        snapshot,
        entries: log_rec.entries,
        log,
        accepted_epoch,
        current_epoch,
        last_zxid,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::SimFs;
    use crate::snapshot::write_snapshot;
    use crate::testutil::*;
    use jute::SessionId;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn recover_on(fs: &Arc<dyn Fs>) -> Result<Recovered> {
        recover(fs.clone(), &dirs(), small_config())
    }

    /// Writes `batches` (sizes) of contiguous entries, rolling after the batches flagged,
    /// all synced. Returns the disk, the entries and each record's (file, offset, end).
    fn written_log(batches: &[(u32, bool)]) -> (SimFs, Vec<LogEntry>, Vec<(PathBuf, u64, u64)>) {
        let (sim, fs) = sim();
        let rec = recover_on(&fs).unwrap();
        let mut log = rec.log;
        let mut all = Vec::new();
        let mut next = 1;
        for &(n, roll) in batches {
            let batch = entries(1, next, n);
            next += n;
            log.append(&batch).unwrap();
            all.extend(batch);
            if roll {
                log.roll().unwrap();
            } else {
                log.sync().unwrap();
            }
        }
        let mut positions = Vec::new();
        for seg in log.segments() {
            let (records, _) =
                crate::log::read_segment(fs.as_ref(), &seg.path, &small_config()).unwrap();
            positions.extend(
                records
                    .iter()
                    .map(|r| (seg.path.clone(), r.offset, r.end())),
            );
        }
        assert_eq!(positions.len(), all.len());
        (sim, all, positions)
    }

    fn batches() -> impl Strategy<Value = Vec<(u32, bool)>> {
        prop::collection::vec((1u32..4, prop::bool::weighted(0.3)), 1..5)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Cutting the last segment at every byte offset recovers exactly the records that
        /// lie wholly before the cut: a prefix, never garbage, never an error.
        #[test]
        fn cut_last_segment_at_every_offset_gives_a_prefix(batches in batches()) {
            let (sim, all, pos) = written_log(&batches);
            let d = dirs();
            let files = files(&sim, &d);
            let last_path = pos.last().unwrap().0.clone();
            let len = sim.contents(&last_path).unwrap().len();
            for cut in 0..=len {
                let (cut_sim, fs) = disk_with(&d, &files);
                cut_sim.cut(&last_path, cut as u64).unwrap();
                let rec = recover_on(&fs).unwrap();
                let whole = pos
                    .iter()
                    .filter(|(p, _, end)| *p != last_path || *end <= cut as u64)
                    .count();
                prop_assert_eq!(&rec.entries[..], &all[..whole], "cut at {}", cut);
                // The repair is durable and idempotent: a second recovery is clean.
                let again = recover_on(&fs).unwrap();
                prop_assert_eq!(&again.entries[..], &all[..whole]);
                prop_assert!(again.warnings.is_empty(), "{:?}", again.warnings);
            }
        }

        /// A flipped byte in any record but the last is `Corrupt`, naming that record's file
        /// and offset; in the last record, that record is dropped with a warning.
        #[test]
        fn flipped_byte(batches in batches(), pick in any::<prop::sample::Index>(),
                        at in any::<prop::sample::Index>(), xor in 1u8..=255) {
            let (sim, all, pos) = written_log(&batches);
            let d = dirs();
            let files = files(&sim, &d);
            let k = pick.index(all.len());
            let (path, start, end) = pos[k].clone();
            let offset = start + at.index((end - start) as usize) as u64;
            let (flip_sim, fs) = disk_with(&d, &files);
            let byte = flip_sim.contents(&path).unwrap()[offset as usize];
            flip_sim.corrupt(&path, offset, &[byte ^ xor]).unwrap();
            let result = recover_on(&fs);
            if k + 1 < all.len() {
                match result {
                    Err(StoreError::Corrupt { file, offset: o, why }) => {
                        prop_assert_eq!(&file, &path, "{}", why);
                        prop_assert_eq!(o, start, "{}", why);
                    }
                    other => prop_assert!(false, "record {} of {}: {:?}", k, all.len(), other.map(|r| r.entries.len())),
                }
            } else {
                let rec = result.unwrap();
                prop_assert_eq!(&rec.entries[..], &all[..k]);
                prop_assert!(!rec.warnings.is_empty());
            }
        }
    }

    /// Synced batches survive any crash; what was only appended survives as a prefix.
    #[test]
    fn crash_keeps_synced_and_a_prefix_of_the_rest() {
        // (lost some unsynced, kept some unsynced, cut a torn record) must all happen.
        let mut outcomes = [false; 3];
        for seed in 0..300u64 {
            let (sim, fs) = sim();
            let config = LogConfig {
                segment_entries_max: Some(4),
                ..small_config()
            };
            let mut log = recover(fs.clone(), &dirs(), config.clone()).unwrap().log;
            let mut next = 1;
            let mut appended = Vec::new();
            let synced_batches = 1 + seed % 4;
            for _ in 0..synced_batches {
                let batch = entries(1, next, 1 + (seed as u32 % 3));
                next += batch.len() as u32;
                log.append(&batch).unwrap();
                appended.extend(batch);
                log.sync().unwrap();
            }
            let synced = appended.len();
            if seed % 5 == 0 {
                log.roll().unwrap();
            }
            for _ in 0..(seed % 3) {
                let batch = entries(1, next, 2);
                next += 2;
                log.append(&batch).unwrap();
                appended.extend(batch);
            }
            sim.crash(seed);
            let rec = recover(fs.clone(), &dirs(), config).unwrap();
            let n = rec.entries.len();
            assert!(n >= synced, "seed {seed}: {n} < {synced} synced");
            assert_eq!(&rec.entries[..], &appended[..n], "seed {seed}");
            outcomes[0] |= n < appended.len();
            outcomes[1] |= n > synced;
            outcomes[2] |= rec.warnings.iter().any(|w| w.contains("torn tail"));
            // The log continues after the recovered tail.
            let mut log = rec.log;
            log.append(&entries(1, next, 1)).unwrap();
            log.sync().unwrap();
        }
        assert_eq!(outcomes, [true; 3]);
    }

    /// A process crash leaves unsynced bytes in the page cache; recovery builds on them, so
    /// it must make them durable first (rule 5), or a later power cut opens a hole.
    #[test]
    fn process_crash_then_power_cut_keeps_what_recovery_returned() {
        for seed in 0..100 {
            let (sim, fs) = sim();
            let mut log = recover_on(&fs).unwrap().log;
            log.append(&entries(1, 1, 2)).unwrap();
            log.sync().unwrap();
            log.append(&entries(1, 3, 3)).unwrap();
            drop(log); // the process dies; the OS keeps its page cache
            let rec = recover_on(&fs).unwrap();
            assert_eq!(rec.entries.len(), 5);
            let mut log = rec.log;
            log.append(&entries(1, 6, 1)).unwrap();
            log.sync().unwrap();
            sim.crash(seed); // then the power goes
            let rec = recover_on(&fs).unwrap();
            assert_eq!(zxids(&rec.entries), zxids(&entries(1, 1, 6)), "seed {seed}");
        }
    }

    #[test]
    fn snapshot_plus_log_after_it() {
        let (_sim, fs) = sim();
        let d = dirs();
        let mut log = recover_on(&fs).unwrap().log;
        log.append(&entries(1, 1, 10)).unwrap();
        log.sync().unwrap();
        let sessions = [(SessionId(5), 30000)];
        write_snapshot(fs.clone(), &d.snap_dir, Zxid::new(1, 6), &sessions, b"tree").unwrap();
        let rec = recover_on(&fs).unwrap();
        let snap = rec.snapshot.unwrap();
        assert_eq!(snap.zxid, Zxid::new(1, 6));
        assert_eq!(&snap.body[..], b"tree");
        assert_eq!(snap.sessions, sessions);
        assert_eq!(zxids(&rec.entries), zxids(&entries(1, 7, 4)));
        assert_eq!(rec.last_zxid, Zxid::new(1, 10));
        // No log after the snapshot: last_zxid is the snapshot's.
        write_snapshot(fs.clone(), &d.snap_dir, Zxid::new(1, 12), &[], b"t2").unwrap();
        let rec = recover_on(&fs).unwrap();
        assert!(rec.entries.is_empty());
        assert_eq!(rec.last_zxid, Zxid::new(1, 12));
    }

    #[test]
    fn entries_read_back_from_the_log_do_not_pin_the_segment_buffer() {
        let (_sim, fs) = sim();
        let mut log = recover_on(&fs).unwrap().log;
        log.append(&entries(1, 1, 20)).unwrap();
        log.sync().unwrap();
        drop(log);
        let rec = recover_on(&fs).unwrap();
        assert_eq!(rec.entries.len(), 20);
        // A leader may hold DIFF entries for a while: each owns its bytes, so the
        // segment's read buffer (64 MiB when preallocated) is freed on return.
        let read = rec.log.read_from(Zxid::new(1, 5), 100).unwrap();
        assert_eq!(read.len(), 16);
        assert!(read.iter().all(|e| e.txn.is_unique()));
    }

    #[test]
    fn a_gap_after_the_snapshot_is_corrupt() {
        let (_sim, fs) = sim();
        let d = dirs();
        let mut log = recover_on(&fs).unwrap().log;
        log.append(&entries(1, 1, 3)).unwrap();
        log.append(&entries(1, 5, 3)).unwrap();
        log.sync().unwrap();
        let err = recover_on(&fs).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { why, .. } if why.contains("gap")),
            "{err}"
        );
        // From a snapshot past the gap, the history is whole again.
        write_snapshot(fs.clone(), &d.snap_dir, Zxid::new(1, 5), &[], b"").unwrap();
        assert_eq!(zxids(&recover_on(&fs).unwrap().entries).len(), 2);
        // A snapshot in the same epoch whose successor is missing is a gap too.
        write_snapshot(fs.clone(), &d.snap_dir, Zxid::new(1, 3), &[], b"").unwrap();
        let _ = fs.remove(&d.snap_dir.join("snapshot.100000005"));
        assert!(recover_on(&fs).is_err());
    }

    /// Rule 6: snapshots lost after a purge removed the first segments must not start an
    /// empty tree with the tail of the history replayed over it.
    #[test]
    fn no_snapshot_and_a_log_starting_mid_epoch_is_corrupt() {
        let (_sim, fs) = sim();
        let d = dirs();
        let mut log = recover_on(&fs).unwrap().log;
        log.append(&entries(1, 1, 4)).unwrap();
        log.roll().unwrap();
        log.append(&entries(1, 5, 3)).unwrap();
        log.sync().unwrap();
        write_snapshot(fs.clone(), &d.snap_dir, Zxid::new(1, 5), &[], b"").unwrap();
        drop(log);
        // Purged up to the snapshot, then the snapshot is lost.
        fs.remove(&d.log_dir.join("log.100000001")).unwrap();
        assert_eq!(recover_on(&fs).unwrap().entries.len(), 2);
        fs.remove(&d.snap_dir.join("snapshot.100000005")).unwrap();
        let err = recover_on(&fs).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { file, why, .. }
                if *file == d.log_dir.join("log.100000005") && why.contains("no snapshot")),
            "{err}"
        );
        // A log that starts at an epoch's first txn is a whole history.
        let (_sim, fs) = sim();
        let mut log = recover_on(&fs).unwrap().log;
        log.append(&entries(2, 1, 3)).unwrap();
        log.sync().unwrap();
        assert_eq!(recover_on(&fs).unwrap().entries.len(), 3);
    }

    #[test]
    fn new_epoch_is_not_a_gap_and_out_of_order_is_corrupt() {
        let (sim, fs) = sim();
        let d = dirs();
        let mut log = recover_on(&fs).unwrap().log;
        log.append(&entries(1, 1, 3)).unwrap();
        log.roll().unwrap();
        log.append(&entries(2, 1, 2)).unwrap();
        log.sync().unwrap();
        assert_eq!(recover_on(&fs).unwrap().entries.len(), 5);
        // A segment whose records go back in time.
        let seg = d.log_dir.join("log.200000001");
        let mut bad = record::encode_segment_header(0).to_vec();
        record::encode_record(&mut bad, Zxid::new(3, 1), b"x");
        record::encode_record(&mut bad, Zxid::new(2, 9), b"y");
        sim.corrupt(&seg, 0, &bad).unwrap();
        sim.cut(&seg, bad.len() as u64).unwrap();
        let err = recover_on(&fs).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { file, .. } if *file == seg),
            "{err}"
        );
    }

    #[test]
    fn torn_header_of_last_segment_is_removed() {
        for cut in 0..SEGMENT_HEADER_LEN as u64 {
            let (sim, fs) = sim();
            let mut log = recover_on(&fs).unwrap().log;
            log.append(&entries(1, 1, 2)).unwrap();
            log.roll().unwrap();
            log.append(&entries(1, 3, 1)).unwrap();
            log.sync().unwrap();
            let seg = dirs().log_dir.join("log.100000003");
            sim.cut(&seg, cut).unwrap();
            let rec = recover_on(&fs).unwrap();
            assert_eq!(rec.entries.len(), 2, "cut {cut}");
            assert!(!sim.exists(&seg).unwrap());
            // The next segment may reuse the name.
            let mut log = rec.log;
            log.append(&entries(1, 3, 1)).unwrap();
            log.sync().unwrap();
            assert_eq!(recover_on(&fs).unwrap().entries.len(), 3);
        }
    }

    #[test]
    fn torn_tail_in_a_sealed_segment_is_corrupt() {
        let (sim, fs) = sim();
        let mut log = recover_on(&fs).unwrap().log;
        log.append(&entries(1, 1, 3)).unwrap();
        log.roll().unwrap();
        log.append(&entries(1, 4, 1)).unwrap();
        log.sync().unwrap();
        let seg = dirs().log_dir.join("log.100000001");
        let len = sim.contents(&seg).unwrap().len() as u64;
        let (records, end) = crate::log::read_segment(fs.as_ref(), &seg, &small_config()).unwrap();
        assert!(end <= len);
        sim.cut(&seg, records[2].end() - 1).unwrap();
        let err = recover_on(&fs).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { file, offset, .. }
            if *file == seg && *offset == records[2].offset),
            "{err}"
        );
    }

    #[test]
    fn epochs_are_recovered_and_checked() {
        use crate::epoch::write_epoch;
        let (_sim, fs) = sim();
        let d = dirs();
        let rec = recover_on(&fs).unwrap();
        assert_eq!((rec.accepted_epoch, rec.current_epoch), (None, None));
        write_epoch(fs.as_ref(), &d.snap_dir, EpochFile::Accepted, 3).unwrap();
        write_epoch(fs.as_ref(), &d.snap_dir, EpochFile::Current, 2).unwrap();
        let rec = recover_on(&fs).unwrap();
        assert_eq!((rec.accepted_epoch, rec.current_epoch), (Some(3), Some(2)));
        write_epoch(fs.as_ref(), &d.snap_dir, EpochFile::Current, 4).unwrap();
        assert!(recover_on(&fs).is_err());
    }

    #[test]
    fn data_log_dir_defaults_to_data_dir() {
        let d = DataDirs::new(Path::new("/a"), None);
        assert_eq!(d.log_dir, Path::new("/a/version-2"));
        let d = DataDirs::new(Path::new("/a"), Some(Path::new("/b")));
        assert_eq!(d.log_dir, Path::new("/b/version-2"));
        assert_eq!(d.snap_dir, Path::new("/a/version-2"));
    }
}
