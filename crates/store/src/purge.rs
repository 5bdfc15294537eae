//! Purge: keep the newest N snapshots (N >= 3, ZooKeeper's `autopurge.snapRetainCount`) and
//! the log segments needed to replay from the oldest kept one; delete everything older.
//!
//! Invariant: after a purge, recovery from *any* kept snapshot still finds every txn after
//! it. The segment holding txns right after the oldest kept snapshot K is the last one whose
//! first zxid is <= K; it and all later segments are kept. Only snapshots that look complete
//! (their trailer is in place) count towards N, so a half-written or truncated file never
//! pushes a good snapshot out. Run it only after a snapshot has been finished (fsync point 4).

use std::path::{Path, PathBuf};

use jute::Zxid;

use crate::error::{IoContext, Result};
use crate::fs::Fs;
use crate::log::{list_segments, SegmentMeta, TxnLog};
use crate::snapshot::{list_snapshots, SNAP_END_MAGIC};
use crate::DataDirs;

/// ZooKeeper's floor for `autopurge.snapRetainCount`: fewer than 3 leaves no fallback if
/// the newest snapshot turns out to be bad.
pub const SNAP_RETAIN_COUNT_MIN: usize = 3;

/// What a purge removes (or removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgePlan {
    pub snapshots: Vec<PathBuf>,
    pub segments: Vec<PathBuf>,
    /// Segments from this first zxid on are kept (`None`: all segments are kept).
    pub keep_segments_from: Option<Zxid>,
}

/// Decides what to delete. `snapshots`: the complete snapshots, any order; `segments`: sorted
/// by first zxid; `retain` is raised to [`SNAP_RETAIN_COUNT_MIN`].
pub fn plan_purge(
    snapshots: &[(Zxid, PathBuf)],
    segments: &[SegmentMeta],
    retain: usize,
) -> PurgePlan {
    let retain = retain.max(SNAP_RETAIN_COUNT_MIN);
    let mut snaps = snapshots.to_vec();
    snaps.sort_by_key(|s| std::cmp::Reverse(s.0));
    let Some(oldest_kept) = snaps[..retain.min(snaps.len())].last().map(|s| s.0) else {
        // No snapshot: every txn since the beginning is needed.
        return PurgePlan::default();
    };
    let mut plan = PurgePlan {
        snapshots: snaps.iter().skip(retain).map(|s| s.1.clone()).collect(),
        ..PurgePlan::default()
    };
    if let Some(keep) = segments.iter().rposition(|s| s.first <= oldest_kept) {
        plan.keep_segments_from = Some(segments[keep].first);
        plan.segments = segments[..keep].iter().map(|s| s.path.clone()).collect();
    }
    plan
}

/// The finished snapshots whose trailer is in place (a cheap completeness probe that does
/// not read the body).
fn complete_snapshots(fs: &dyn Fs, dir: &Path) -> Result<Vec<(Zxid, PathBuf)>> {
    let mut out = Vec::new();
    for (zxid, path) in list_snapshots(fs, dir)? {
        let mut file = fs.open(&path).ctx("open", &path)?;
        let len = file.len().ctx("len", &path)?;
        if len < 16 {
            continue;
        }
        let tail = file.read_at(len - 16, 16).ctx("read", &path)?;
        let payload_len = crate::record::be_u64(&tail, 0);
        let end = crate::record::be_u32(&tail, 12);
        if end == SNAP_END_MAGIC && payload_len == len - 16 {
            out.push((zxid, path));
        }
    }
    Ok(out)
}

fn execute(fs: &dyn Fs, dirs: &DataDirs, plan: &PurgePlan) -> Result<()> {
    // Snapshots first: should we crash half way, the remaining old segments are harmless,
    // whereas a kept old snapshot whose segments are gone would be a trap.
    for path in &plan.snapshots {
        tracing::info!("purging {}", path.display());
        fs.remove(path).ctx("remove", path)?;
    }
    if !plan.snapshots.is_empty() {
        fs.sync_dir(&dirs.snap_dir)
            .ctx("sync_dir", &dirs.snap_dir)?;
    }
    for path in &plan.segments {
        tracing::info!("purging {}", path.display());
        fs.remove(path).ctx("remove", path)?;
    }
    if !plan.segments.is_empty() {
        fs.sync_dir(&dirs.log_dir).ctx("sync_dir", &dirs.log_dir)?;
    }
    Ok(())
}

/// Purges while the node runs, on the thread that owns the log (so the log forgets the
/// removed segments).
pub fn purge(log: &mut TxnLog, snap_dir: &Path, retain: usize) -> Result<PurgePlan> {
    let fs = log.fs().clone();
    let snaps = complete_snapshots(fs.as_ref(), snap_dir)?;
    let plan = plan_purge(&snaps, log.segments(), retain);
    let dirs = DataDirs {
        snap_dir: snap_dir.to_path_buf(),
        log_dir: log.dir().to_path_buf(),
    };
    execute(fs.as_ref(), &dirs, &plan)?;
    if let Some(keep) = plan.keep_segments_from {
        log.forget_segments_before(keep);
    }
    Ok(plan)
}

/// Purges directories that no running node owns (`zkserver purge`, ZooKeeper's
/// PurgeTxnLog).
pub fn purge_dirs(fs: &dyn Fs, dirs: &DataDirs, retain: usize) -> Result<PurgePlan> {
    let snaps = complete_snapshots(fs, &dirs.snap_dir)?;
    let segments = list_segments(fs, &dirs.log_dir)?;
    let plan = plan_purge(&snaps, &segments, retain);
    execute(fs, dirs, &plan)?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::recover;
    use crate::snapshot::{remove_newer_than, write_snapshot};
    use crate::testutil::*;

    fn seg(first: u32) -> SegmentMeta {
        SegmentMeta {
            first: Zxid::new(1, first),
            path: PathBuf::from(format!("log.{first}")),
            last: None,
        }
    }

    fn snap(z: u32) -> (Zxid, PathBuf) {
        (Zxid::new(1, z), PathBuf::from(format!("snapshot.{z}")))
    }

    #[test]
    fn plan_keeps_newest_snapshots_and_the_segments_they_need() {
        let segs = [seg(1), seg(10), seg(20), seg(30)];
        let snaps = [snap(5), snap(12), snap(25), snap(22), snap(31)];
        let plan = plan_purge(&snaps, &segs, 3);
        // Kept: 31, 25, 22. 22 needs txns 23.. which start in log.20.
        assert_eq!(
            plan.snapshots,
            vec![PathBuf::from("snapshot.12"), PathBuf::from("snapshot.5")]
        );
        assert_eq!(
            plan.segments,
            vec![PathBuf::from("log.1"), PathBuf::from("log.10")]
        );
        assert_eq!(plan.keep_segments_from, Some(Zxid::new(1, 20)));
        // Retain is at least 3.
        assert_eq!(plan_purge(&snaps, &segs, 1), plan);
        // Fewer snapshots than retained: none deleted, but logs older than the oldest go.
        let plan = plan_purge(&snaps[1..3], &segs, 3);
        assert!(plan.snapshots.is_empty());
        assert_eq!(plan.segments, vec![PathBuf::from("log.1")]);
        // No snapshot: nothing at all.
        assert_eq!(plan_purge(&[], &segs, 3), PurgePlan::default());
        // A snapshot exactly at a segment's first zxid keeps that segment.
        let plan = plan_purge(&[snap(10)], &segs, 3);
        assert_eq!(plan.segments, vec![PathBuf::from("log.1")]);
    }

    #[test]
    fn purge_then_recover_from_every_kept_snapshot() {
        let (sim, fs) = sim();
        let d = dirs();
        let mut log = recover(fs.clone(), &d, small_config()).unwrap().log;
        let mut next = 1;
        for round in 0..6u32 {
            log.append(&entries(1, next, 4)).unwrap();
            next += 4;
            log.roll().unwrap();
            write_snapshot(
                fs.clone(),
                &d.snap_dir,
                Zxid::new(1, next - 2),
                &[],
                &[round as u8],
            )
            .unwrap();
        }
        log.append(&entries(1, next, 2)).unwrap();
        log.sync().unwrap();
        // A half-written snapshot does not count towards the kept ones.
        let junk = d.snap_dir.join("snapshot.1000000ff");
        fs.create(&junk).unwrap().write_at(0, b"junk").unwrap();
        let plan = purge(&mut log, &d.snap_dir, 3).unwrap();
        assert_eq!(plan.snapshots.len(), 3);
        // Kept snapshots 23, 19, 15: txns 16.. start in log.13 (13..16).
        assert_eq!(log.segments().len(), 4, "{:?}", log.segments());
        assert_eq!(
            log.read_from(Zxid::ZERO, 100)
                .unwrap()
                .first()
                .unwrap()
                .zxid,
            Zxid::new(1, 13)
        );
        fs.remove(&junk).unwrap();
        drop(log);
        // Recovery works from each kept snapshot, newest to oldest.
        for _ in 0..3 {
            let rec = recover(fs.clone(), &d, small_config()).unwrap();
            let s = rec.snapshot.unwrap().zxid;
            assert_eq!(rec.entries.first().unwrap().zxid.counter(), s.counter() + 1);
            assert_eq!(rec.last_zxid, Zxid::new(1, next + 1));
            remove_newer_than(fs.as_ref(), &d.snap_dir, Zxid(s.0 - 1)).unwrap();
        }
        // Offline purge of what is left is a no-op on the log.
        let plan = purge_dirs(&sim, &d, 3).unwrap();
        assert!(plan.segments.is_empty());
    }
}
