//! Group commit (ZooKeeper's `toFlush`): one fsync for everything that queued up while the
//! previous one ran. No threads here; the server's store thread drives it:
//!
//! ```text
//! loop {
//!     gc.push(rx.recv()?);                       // block for the first request
//!     while !gc.is_full() {                      // then drain without blocking
//!         match rx.try_recv() { Ok(r) => gc.push(r), Err(_) => break }
//!     }
//!     while !gc.is_empty() {
//!         let batch = gc.next_batch();           // bounded by entries and bytes
//!         /* perform each request in order: log.append / truncate_after / write_epoch */
//!         log.sync()?;                           // timed by the caller's clock:
//!         gc.record_fsync_micros(elapsed_us);    // for mntr's fsync latency
//!         /* then report every request of the batch persisted */
//!     }
//! }
//! ```
//! Invariant: requests leave in the order they came, and a batch never exceeds
//! `batch_entries_max` / `batch_bytes_max` unless its single request alone does.

use std::collections::VecDeque;

/// How a queued persist request weighs on a batch.
pub trait PersistWeight {
    /// Log entries this request appends (0 for an epoch write or a truncation).
    fn entries(&self) -> usize;
    /// Bytes this request appends.
    fn bytes(&self) -> usize;
    /// A barrier (e.g. a TRUNC, if the caller wants it alone) is always a batch of its own.
    fn is_barrier(&self) -> bool {
        false
    }
}

/// Batch bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitConfig {
    /// At most this many log entries per fsync: bounds the latency of the first request.
    pub batch_entries_max: usize,
    /// At most this many bytes per fsync.
    pub batch_bytes_max: usize,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        // ZooKeeper flushes after 1000 requests (SyncRequestProcessor's flush threshold).
        GroupCommitConfig {
            batch_entries_max: 1000,
            batch_bytes_max: 4 << 20,
        }
    }
}

/// Counters for `mntr`. fsync latency is measured by the caller (the store has no clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    pub batches: u64,
    pub requests: u64,
    pub entries: u64,
    pub bytes: u64,
    /// The most entries in one batch so far.
    pub batch_entries_peak: u64,
    pub fsyncs: u64,
    pub fsync_micros_total: u64,
    pub fsync_micros_max: u64,
}

impl GroupCommitStats {
    /// Average log entries per batch (0 before the first batch).
    pub fn avg_batch_entries(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.entries as f64 / self.batches as f64
        }
    }
    /// Average fsync latency in microseconds (0 before the first fsync).
    pub fn avg_fsync_micros(&self) -> f64 {
        if self.fsyncs == 0 {
            0.0
        } else {
            self.fsync_micros_total as f64 / self.fsyncs as f64
        }
    }
}

/// The batcher. See the module doc for the loop around it.
#[derive(Debug)]
pub struct GroupCommit<T> {
    config: GroupCommitConfig,
    queue: VecDeque<T>,
    queued_entries: usize,
    queued_bytes: usize,
    stats: GroupCommitStats,
}

impl<T: PersistWeight> GroupCommit<T> {
    pub fn new(config: GroupCommitConfig) -> Self {
        GroupCommit {
            config,
            queue: VecDeque::new(),
            queued_entries: 0,
            queued_bytes: 0,
            stats: GroupCommitStats::default(),
        }
    }

    /// Queues a request (in arrival order).
    pub fn push(&mut self, req: T) {
        self.queued_entries += req.entries();
        self.queued_bytes += req.bytes();
        self.queue.push_back(req);
    }

    /// Enough is queued for a full batch: stop draining the channel (memory stays bounded
    /// by the channel's capacity plus one batch).
    pub fn is_full(&self) -> bool {
        self.queued_entries >= self.config.batch_entries_max
            || self.queued_bytes >= self.config.batch_bytes_max
            || self.queue.back().is_some_and(|r| r.is_barrier())
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Takes the next batch: the first queued request always, then following ones while
    /// they fit the bounds and are not barriers. Empty only if nothing is queued.
    pub fn next_batch(&mut self) -> Vec<T> {
        let mut batch = Vec::new();
        let (mut entries, mut bytes) = (0usize, 0usize);
        while let Some(next) = self.queue.front() {
            let fits = entries + next.entries() <= self.config.batch_entries_max
                && bytes + next.bytes() <= self.config.batch_bytes_max;
            let alone = next.is_barrier() || batch.first().is_some_and(|r: &T| r.is_barrier());
            if !batch.is_empty() && (!fits || alone) {
                break;
            }
            let Some(req) = self.queue.pop_front() else {
                break;
            };
            entries += req.entries();
            bytes += req.bytes();
            batch.push(req);
        }
        self.queued_entries -= entries;
        self.queued_bytes -= bytes;
        if !batch.is_empty() {
            self.stats.batches += 1;
            self.stats.requests += batch.len() as u64;
            self.stats.entries += entries as u64;
            self.stats.bytes += bytes as u64;
            self.stats.batch_entries_peak = self.stats.batch_entries_peak.max(entries as u64);
        }
        batch
    }

    /// Records one fsync's latency, measured by the caller.
    pub fn record_fsync_micros(&mut self, micros: u64) {
        self.stats.fsyncs += 1;
        self.stats.fsync_micros_total += micros;
        self.stats.fsync_micros_max = self.stats.fsync_micros_max.max(micros);
    }

    pub fn stats(&self) -> &GroupCommitStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Req {
        id: usize,
        entries: usize,
        bytes: usize,
        barrier: bool,
    }

    impl PersistWeight for Req {
        fn entries(&self) -> usize {
            self.entries
        }
        fn bytes(&self) -> usize {
            self.bytes
        }
        fn is_barrier(&self) -> bool {
            self.barrier
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn batches_keep_order_and_bounds(
            reqs in prop::collection::vec((0usize..5, 0usize..300, prop::bool::weighted(0.1)), 1..60)
        ) {
            let config = GroupCommitConfig { batch_entries_max: 8, batch_bytes_max: 1000 };
            let mut gc = GroupCommit::new(config);
            for (id, (entries, bytes, barrier)) in reqs.iter().enumerate() {
                gc.push(Req { id, entries: *entries, bytes: *bytes, barrier: *barrier });
            }
            let mut seen = Vec::new();
            let mut batches = 0u64;
            while !gc.is_empty() {
                let batch = gc.next_batch();
                prop_assert!(!batch.is_empty());
                batches += 1;
                let e: usize = batch.iter().map(|r| r.entries).sum();
                let b: usize = batch.iter().map(|r| r.bytes).sum();
                prop_assert!(batch.len() == 1 || (e <= 8 && b <= 1000));
                prop_assert!(batch.len() == 1 || batch.iter().all(|r| !r.barrier));
                seen.extend(batch.iter().map(|r| r.id));
            }
            prop_assert_eq!(seen, (0..reqs.len()).collect::<Vec<_>>());
            prop_assert_eq!(gc.stats().batches, batches);
            prop_assert_eq!(gc.stats().requests, reqs.len() as u64);
        }
    }

    #[test]
    fn stats_average() {
        let mut gc = GroupCommit::new(GroupCommitConfig::default());
        for id in 0..3 {
            gc.push(Req {
                id,
                entries: 2,
                bytes: 10,
                barrier: false,
            });
        }
        assert_eq!(gc.next_batch().len(), 3);
        gc.record_fsync_micros(100);
        gc.record_fsync_micros(300);
        assert_eq!(gc.stats().avg_batch_entries(), 6.0);
        assert_eq!(gc.stats().avg_fsync_micros(), 200.0);
        assert_eq!(gc.stats().fsync_micros_max, 300);
    }
}
