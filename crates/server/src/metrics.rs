//! Measurements only the server sees, for `mntr`: the bytes of client responses (the node
//! produces frames, the driver hands them to connections) and how long this member spends
//! electing, syncing and unable to serve (read off zab's phase between driver steps).
//! Everything here is reset by `srst` except what it needs to keep measuring.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use node::stats::Summary;

/// Client response sizes and bytes (ZooKeeper's BufferStats and RESPONSE_BYTES/WATCH_BYTES).
#[derive(Debug, Clone, Default)]
pub struct WireStats {
    /// Size of the latest response or notification, without the 4-byte length prefix
    /// (`None` prints ZooKeeper's -1).
    pub last_response_size: Option<i64>,
    pub min_response_size: Option<i64>,
    pub max_response_size: Option<i64>,
    /// Bytes of replies to requests (zk_response_bytes).
    pub response_bytes: u64,
    /// Bytes of watch notifications (zk_watch_bytes).
    pub watch_bytes: u64,
    /// Connections whose first frame (the ConnectResponse, which ZooKeeper does not count
    /// as a response) has gone out. Entries leave with their connection.
    handshaken: HashSet<u64>,
}

impl WireStats {
    /// A frame (length prefix included) is leaving for connection `conn`.
    pub fn on_frame(&mut self, conn: u64, frame: &[u8]) {
        if self.handshaken.insert(conn) {
            return;
        }
        let size = frame.len().saturating_sub(4) as i64;
        self.last_response_size = Some(size);
        self.min_response_size = Some(self.min_response_size.map_or(size, |m| m.min(size)));
        self.max_response_size = Some(self.max_response_size.map_or(size, |m| m.max(size)));
        let notification = frame.get(4..8) == Some(&[0xff, 0xff, 0xff, 0xff][..]);
        if notification {
            self.watch_bytes += size as u64;
        } else {
            self.response_bytes += size as u64;
        }
    }

    pub fn on_closed(&mut self, conn: u64) {
        self.handshaken.remove(&conn);
    }

    /// `srst`: the counters go, the connections' handshake state stays.
    pub fn reset(&mut self) {
        let handshaken = std::mem::take(&mut self.handshaken);
        *self = WireStats {
            handshaken,
            ..WireStats::default()
        };
    }
}

/// Counted by the accept loop and the connection tasks (which the driver does not see):
/// ZooKeeper's BYTES_RECEIVED_COUNT, CONNECTION_REJECTED, SESSIONLESS_CONNECTIONS_EXPIRED and
/// CONNECTION_DROP_COUNT. Shared as an `Arc`; relaxed atomics, they are only read by `mntr`.
#[derive(Debug, Default)]
pub struct ClientCounters {
    /// Bytes of client packets, each counted with its 4-byte length (a four-letter word
    /// counts its 4 bytes), as ZooKeeper's `packetReceived` does.
    pub bytes_received: AtomicU64,
    /// Connections refused at accept (maxClientCnxns).
    pub rejected: AtomicU64,
    /// Connections closed for sending no ConnectRequest in time.
    pub sessionless_expired: AtomicU64,
    /// Connections the client closed (end of stream on read).
    pub dropped: AtomicU64,
}

impl ClientCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// `srst`.
    pub fn reset(&self) {
        for c in [
            &self.bytes_received,
            &self.rejected,
            &self.sessionless_expired,
            &self.dropped,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Time spent per protocol phase, as ZooKeeper's QuorumPeer/Follower/Observer record it:
/// zk_election_time (LOOKING until a leader is chosen), zk_follower_sync_time and
/// zk_observer_sync_time (discovery + sync with the leader until UPTODATE), zk_unavailable_time
/// and zk_leader_unavailable_time (from leaving broadcast, or from start, until serving again).
#[derive(Debug, Clone, Default)]
pub struct QuorumTimes {
    /// The phase last seen and since when (wall ms).
    phase: Option<(zab::Phase, i64)>,
    sync_since: Option<i64>,
    unavailable_since: Option<i64>,
    pub election_time: Summary,
    pub follower_sync_time: Summary,
    pub observer_sync_time: Summary,
    pub unavailable_time: Summary,
    pub leader_unavailable_time: Summary,
}

impl QuorumTimes {
    /// A member that starts is unavailable until it first serves.
    pub fn starting(now_ms: i64) -> QuorumTimes {
        QuorumTimes {
            phase: Some((zab::Phase::Election, now_ms)),
            unavailable_since: Some(now_ms),
            ..QuorumTimes::default()
        }
    }

    /// Whether `phase` differs from the one last observed (cheap; no clock).
    pub fn changed(&self, phase: zab::Phase) -> bool {
        self.phase.map(|p| p.0) != Some(phase)
    }

    /// Zab is now in `phase` as `role`; `now_ms` is the wall clock.
    pub fn observe(&mut self, role: zab::Role, phase: zab::Phase, now_ms: i64) {
        use zab::Phase::*;
        let Some((prev, since)) = self.phase else {
            self.phase = Some((phase, now_ms));
            return;
        };
        if prev == phase {
            return;
        }
        let ms = |t: i64| (now_ms - t).max(0);
        // ZooKeeper's Leader and Follower record the election; its Observer does not.
        if prev == Election && role != zab::Role::Observing {
            self.election_time.add(ms(since));
        }
        match phase {
            Election => {
                self.sync_since = None;
                self.unavailable_since.get_or_insert(now_ms);
            }
            Discovery => self.sync_since = Some(now_ms),
            Synchronization => {
                self.sync_since.get_or_insert(now_ms);
            }
            Broadcast => {
                if let Some(t) = self.sync_since.take() {
                    match role {
                        zab::Role::Following => self.follower_sync_time.add(ms(t)),
                        zab::Role::Observing => self.observer_sync_time.add(ms(t)),
                        _ => {}
                    }
                }
                if let Some(t) = self.unavailable_since.take() {
                    self.unavailable_time.add(ms(t));
                    if role == zab::Role::Leading {
                        self.leader_unavailable_time.add(ms(t));
                    }
                }
            }
        }
        self.phase = Some((phase, now_ms));
    }

    /// `srst`: the summaries go, the phase tracking stays.
    pub fn reset(&mut self) {
        *self = QuorumTimes {
            phase: self.phase,
            sync_since: self.sync_since,
            unavailable_since: self.unavailable_since,
            ..QuorumTimes::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab::{Phase, Role};

    fn frame(xid: i32, body: usize) -> Vec<u8> {
        let mut f = ((12 + body) as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&xid.to_be_bytes());
        f.extend(std::iter::repeat_n(0u8, 8 + body));
        f
    }

    #[test]
    fn response_sizes_skip_the_connect_response_and_split_notifications() {
        let mut w = WireStats::default();
        w.on_frame(7, &frame(0, 25)); // ConnectResponse
        assert_eq!(w.last_response_size, None);
        w.on_frame(7, &frame(1, 4));
        w.on_frame(7, &frame(-1, 20));
        w.on_frame(7, &frame(2, 0));
        assert_eq!(w.last_response_size, Some(12));
        assert_eq!(w.min_response_size, Some(12));
        assert_eq!(w.max_response_size, Some(32));
        assert_eq!(w.response_bytes, 16 + 12);
        assert_eq!(w.watch_bytes, 32);
        w.reset();
        assert_eq!((w.max_response_size, w.response_bytes), (None, 0));
        w.on_frame(7, &frame(3, 0));
        assert_eq!(w.last_response_size, Some(12), "still past its handshake");
        w.on_closed(7);
        w.on_frame(7, &frame(0, 25));
        assert_eq!(
            w.response_bytes, 12,
            "a new connection's first frame is skipped"
        );
    }

    #[test]
    fn phase_times() {
        let mut q = QuorumTimes::starting(1_000);
        q.observe(Role::Following, Phase::Discovery, 1_250);
        q.observe(Role::Following, Phase::Synchronization, 1_300);
        q.observe(Role::Following, Phase::Broadcast, 1_400);
        assert_eq!((q.election_time.count, q.election_time.sum), (1, 250));
        assert_eq!(q.follower_sync_time.sum, 150);
        assert_eq!(q.unavailable_time.sum, 400);
        assert_eq!(q.leader_unavailable_time.count, 0);
        // The leader goes away; this member is re-elected as leader.
        q.observe(Role::Looking, Phase::Election, 2_000);
        q.observe(Role::Leading, Phase::Discovery, 2_100);
        q.observe(Role::Leading, Phase::Broadcast, 2_300);
        assert_eq!(q.election_time.count, 2);
        assert_eq!(q.unavailable_time.sum, 400 + 300);
        assert_eq!(q.leader_unavailable_time.sum, 300);
        assert_eq!(q.follower_sync_time.count, 1, "the leader does not sync");
        q.reset();
        assert_eq!(q.election_time.count, 0);
    }
}
