//! When to snapshot (and roll the log): ZooKeeper's `snapCount` / `snapSizeLimitInKb` rule.
//!
//! A snapshot is due once the txns logged since the last one exceed
//! `snap_count / 2 + r % (snap_count / 2)`, or their bytes exceed
//! `limit / 2 + r % (limit / 2)`, for a random `r` drawn per period. The randomness keeps
//! the servers of an ensemble from all snapshotting at the same moment; it is an argument
//! here (the store has no random source), so a simulation can replay it.

/// ZooKeeper's floor for `snapCount`.
pub const SNAP_COUNT_MIN: u64 = 2;

/// Tracks txns since the last snapshot and says when the next one is due.
#[derive(Debug, Clone)]
pub struct SnapPolicy {
    snap_count: u64,
    snap_bytes_limit: Option<u64>,
    count_threshold: u64,
    bytes_threshold: Option<u64>,
    txns: u64,
    bytes: u64,
}

impl SnapPolicy {
    /// `snap_count` (default 100 000, raised to [`SNAP_COUNT_MIN`]); `snap_bytes_limit`
    /// (default 4 GiB; `None` disables); `rand` any random u64 for this period.
    pub fn new(snap_count: u64, snap_bytes_limit: Option<u64>, rand: u64) -> SnapPolicy {
        let mut p = SnapPolicy {
            snap_count: snap_count.max(SNAP_COUNT_MIN),
            snap_bytes_limit: snap_bytes_limit.filter(|l| *l > 0),
            count_threshold: 0,
            bytes_threshold: None,
            txns: 0,
            bytes: 0,
        };
        p.reset(rand);
        p
    }

    /// Starts a new period (call when a snapshot starts).
    pub fn reset(&mut self, rand: u64) {
        let half = self.snap_count / 2;
        self.count_threshold = half + rand % half.max(1);
        self.bytes_threshold = self.snap_bytes_limit.map(|l| {
            let half = l / 2;
            half + rand.rotate_left(32) % half.max(1)
        });
        self.txns = 0;
        self.bytes = 0;
    }

    /// Counts logged txns; `true` when a snapshot (and a log roll) is due.
    pub fn record(&mut self, txns: u64, bytes: u64) -> bool {
        self.txns += txns;
        self.bytes += bytes;
        self.txns > self.count_threshold || self.bytes_threshold.is_some_and(|t| self.bytes > t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_between_half_and_full_snap_count() {
        for rand in [0u64, 1, 49_999, 50_000, u64::MAX] {
            let mut p = SnapPolicy::new(100_000, None, rand);
            assert!(!p.record(50_000, 0), "rand {rand}");
            let mut n = 50_000;
            while !p.record(1, 0) {
                n += 1;
            }
            assert!((50_001..=100_000).contains(&(n + 1)), "rand {rand}: {n}");
        }
    }

    #[test]
    fn bytes_limit_triggers() {
        let mut p = SnapPolicy::new(100_000, Some(1000), 0);
        assert!(!p.record(1, 500));
        assert!(p.record(1, 1));
        p.reset(7);
        assert!(!p.record(1, 0));
    }
}
