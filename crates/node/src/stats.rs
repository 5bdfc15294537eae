//! Counters the four-letter words and mntr report. Plain numbers owned by the node; the
//! server reads them between inputs.
//!
//! [`Summary`] and [`PercentileSummary`] are ZooKeeper's AvgMinMaxCounter and
//! AvgMinMaxPercentileCounter: `mntr` prints them as `zk_{avg,min,max,cnt,sum}_{name}` (and
//! `zk_{p50,p95,p99,p999}_{name}`). Every value recorded here is measured where the event
//! happens; nothing is estimated.

use std::collections::{BTreeMap, VecDeque};

/// Server-wide counters (`srvr`, `stat`, `mntr`); `srst` resets them.
#[derive(Debug, Clone, Default)]
pub struct ServerCounters {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub latency_min_ms: Option<i64>,
    pub latency_max_ms: i64,
    pub latency_sum_ms: i64,
    pub latency_count: u64,
    pub auth_failed: u64,
    /// Leader: sizes in bytes of the proposals it made (`srvr`'s "Proposal sizes
    /// last/min/max", `mntr`'s zk_*_proposal_size), `None` before the first.
    pub proposal_sizes: Option<ProposalSizes>,
    /// Connect requests received (zk_connection_request_count).
    pub connection_requests: u64,
    /// Leader: sessions its tracker found expired (zk_stale_sessions_expired).
    pub sessions_expired: u64,
    /// Change records prep queued for proposed txns, and those retired once their txn was
    /// applied (zk_outstanding_changes_queued / _removed; leader and standalone only).
    pub outstanding_changes_queued: u64,
    pub outstanding_changes_removed: u64,
    /// Reconnects naming an existing session (zk_connection_revalidate_count).
    pub connection_revalidates: u64,
    /// Leader: REVALIDATE packets from learners (zk_revalidate_count).
    pub learner_revalidates: u64,
    /// Handshakes refused (connection closed) because this member was not serving
    /// (zk_cnxn_closed_without_zk_server_running).
    pub closed_not_serving: u64,
    /// Latency (ms, receipt to reply) of requests answered here that were txns
    /// (zk_updatelatency; session creation and close included, as ZooKeeper counts them).
    pub update_latency: PercentileSummary,
    /// Latency (ms, receipt to reply) of reads answered here (zk_readlatency).
    pub read_latency: PercentileSummary,
    /// Every member: ms from the txn's creation on the leader (its header time) to its
    /// apply here (zk_propagation_latency).
    pub propagation_latency: PercentileSummary,
    /// Leader: ms from proposing a txn to its commit by a quorum (zk_quorum_ack_latency).
    pub quorum_ack_latency: PercentileSummary,
    /// Learners: ms from the txn's creation on the leader to its commit arriving here
    /// (zk_commit_propagation_latency).
    pub commit_propagation_latency: PercentileSummary,
    /// Followers: ms from the txn's creation on the leader to its PROPOSAL arriving here
    /// (zk_proposal_latency).
    pub proposal_latency: PercentileSummary,
    /// Watchers notified per event that notified any, by event type
    /// (zk_node_{created,deleted,changed,children}_watch_count).
    pub node_created_watch_count: Summary,
    pub node_deleted_watch_count: Summary,
    pub node_changed_watch_count: Summary,
    pub node_children_watch_count: Summary,
    /// Bytes read per top-level znode name (zk_{avg,…}_{ns}_read_per_namespace): path, data
    /// or child names, plus a Stat's 68 bytes, per getData/exists/getChildren answered here.
    pub read_per_namespace: SummarySet,
    /// Bytes written per top-level znode name: path plus data, per create, delete and
    /// setData applied (on every member, as ZooKeeper's DataTree counts them).
    pub write_per_namespace: SummarySet,
}

/// ZooKeeper's `DataTree.STAT_OVERHEAD_BYTES`: a Stat is 6 longs and 5 ints.
pub const STAT_OVERHEAD_BYTES: i64 = 6 * 8 + 5 * 4;

/// At most this many namespaces get a summary (new top-level names past it are not
/// counted), so memory stays bounded however many top-level znodes come and go.
pub const MAX_NAMESPACES: usize = 1024;

/// A [`Summary`] per key (ZooKeeper's AvgMinMaxCounterSet), at most [`MAX_NAMESPACES`] keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummarySet(BTreeMap<String, Summary>);

impl SummarySet {
    pub fn add(&mut self, key: &str, v: i64) {
        if let Some(s) = self.0.get_mut(key) {
            s.add(v);
        } else if self.0.len() < MAX_NAMESPACES {
            self.0.entry(key.to_string()).or_default().add(v);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Summary)> + '_ {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// ZooKeeper's `PathUtils.getTopNamespace`: the first path component, none for `/`.
pub fn top_namespace(path: &str) -> Option<&str> {
    let first = path.strip_prefix('/')?.split('/').next()?;
    (!first.is_empty()).then_some(first)
}

/// A path's length as Java's `String.length()` counts it (UTF-16 units).
pub fn java_len(s: &str) -> i64 {
    s.encode_utf16().count() as i64
}

/// Count, sum, min and max of recorded values (ZooKeeper's AvgMinMaxCounter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub count: u64,
    pub sum: i64,
    min: Option<i64>,
    pub max: i64,
}

impl Summary {
    pub fn add(&mut self, v: i64) {
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.max = if self.count == 1 { v } else { self.max.max(v) };
    }
    /// 0 before the first value, as ZooKeeper prints it.
    pub fn min(&self) -> i64 {
        self.min.unwrap_or(0)
    }
    /// The mean; 0.0 before the first value.
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }
}

/// How many recent values a [`PercentileSummary`] keeps for its percentiles.
pub const PERCENTILE_WINDOW: usize = 4096;

/// A [`Summary`] plus p50/p95/p99/p99.9 (ZooKeeper's AvgMinMaxPercentileCounter). ZooKeeper
/// samples a uniform reservoir of 4096 values; this keeps the latest 4096 instead (no random
/// source in the node), so the percentiles describe recent traffic. Bounded either way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PercentileSummary {
    pub summary: Summary,
    recent: VecDeque<i64>,
}

impl PercentileSummary {
    pub fn add(&mut self, v: i64) {
        self.summary.add(v);
        if self.recent.len() == PERCENTILE_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(v);
    }

    /// The `q` quantile of the recent values, interpolated and rounded as Dropwizard's
    /// snapshot and ZooKeeper's `Math.round` do; 0 when empty.
    pub fn quantile(&self, q: f64) -> i64 {
        let mut v: Vec<i64> = self.recent.iter().copied().collect();
        if v.is_empty() {
            return 0;
        }
        v.sort_unstable();
        let pos = q * (v.len() + 1) as f64;
        let index = pos as usize;
        let x = if index < 1 {
            v[0] as f64
        } else if index >= v.len() {
            v[v.len() - 1] as f64
        } else {
            let (lo, hi) = (v[index - 1] as f64, v[index] as f64);
            lo + (pos - pos.floor()) * (hi - lo)
        };
        x.round() as i64
    }
}

/// Last, smallest and largest proposal size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalSizes {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

impl ServerCounters {
    pub fn record_latency(&mut self, ms: i64) {
        let ms = ms.max(0);
        self.latency_min_ms = Some(self.latency_min_ms.map_or(ms, |m| m.min(ms)));
        self.latency_max_ms = self.latency_max_ms.max(ms);
        self.latency_sum_ms += ms;
        self.latency_count += 1;
    }

    pub fn latency_avg_ms(&self) -> f64 {
        if self.latency_count == 0 {
            0.0
        } else {
            self.latency_sum_ms as f64 / self.latency_count as f64
        }
    }

    pub fn reset(&mut self) {
        *self = ServerCounters::default();
    }

    pub fn record_proposal(&mut self, bytes: usize) {
        let n = bytes as i64;
        self.proposal_sizes = Some(match self.proposal_sizes {
            None => ProposalSizes {
                last: n,
                min: n,
                max: n,
            },
            Some(p) => ProposalSizes {
                last: n,
                min: p.min.min(n),
                max: p.max.max(n),
            },
        });
    }
}

/// Per-connection counters (`cons`); `crst` resets them.
#[derive(Debug, Clone)]
pub struct ConnStats {
    pub established_ms: i64,
    pub received: u64,
    pub sent: u64,
    pub last_op: i32,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_response_ms: i64,
    pub last_latency_ms: i64,
    pub min_latency_ms: Option<i64>,
    pub max_latency_ms: i64,
    pub sum_latency_ms: i64,
    pub count: u64,
}

impl ConnStats {
    pub fn new(now_ms: i64) -> ConnStats {
        ConnStats {
            established_ms: now_ms,
            received: 0,
            sent: 0,
            last_op: i32::MIN,
            last_cxid: -1,
            last_zxid: -1,
            last_response_ms: 0,
            last_latency_ms: 0,
            min_latency_ms: None,
            max_latency_ms: 0,
            sum_latency_ms: 0,
            count: 0,
        }
    }

    pub fn on_received(&mut self, op: i32, xid: i32, _now_ms: i64) {
        self.received += 1;
        self.last_op = op;
        if xid >= 0 {
            self.last_cxid = xid;
        }
    }

    pub fn on_reply(&mut self, zxid: i64, latency_ms: i64, now_ms: i64) {
        let latency_ms = latency_ms.max(0);
        self.sent += 1;
        self.last_zxid = zxid;
        self.last_response_ms = now_ms;
        self.last_latency_ms = latency_ms;
        self.min_latency_ms = Some(
            self.min_latency_ms
                .map_or(latency_ms, |m| m.min(latency_ms)),
        );
        self.max_latency_ms = self.max_latency_ms.max(latency_ms);
        self.sum_latency_ms += latency_ms;
        self.count += 1;
    }

    pub fn avg_latency_ms(&self) -> i64 {
        if self.count == 0 {
            0
        } else {
            self.sum_latency_ms / self.count as i64
        }
    }

    pub fn reset(&mut self) {
        let established = self.established_ms;
        *self = ConnStats::new(established);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_tracks_count_sum_min_max() {
        let mut s = Summary::default();
        assert_eq!((s.min(), s.max, s.avg()), (0, 0, 0.0));
        for v in [5, 2, 9] {
            s.add(v);
        }
        assert_eq!((s.count, s.sum, s.min(), s.max), (3, 16, 2, 9));
        assert!((s.avg() - 16.0 / 3.0).abs() < 1e-9);
        let mut neg = Summary::default();
        neg.add(-3);
        assert_eq!(neg.max, -3, "max starts at the first value");
    }

    #[test]
    fn namespaces_are_the_first_path_component() {
        assert_eq!(top_namespace("/app/x/y"), Some("app"));
        assert_eq!(top_namespace("/app"), Some("app"));
        assert_eq!(top_namespace("/"), None);
        assert_eq!(java_len("/é𝄞"), 4, "UTF-16 units, as Java counts");
        let mut set = SummarySet::default();
        for i in 0..MAX_NAMESPACES + 5 {
            set.add(&format!("ns{i}"), 1);
        }
        set.add("ns0", 9);
        assert_eq!(set.iter().count(), MAX_NAMESPACES);
        let (_, s) = set.iter().find(|(k, _)| *k == "ns0").unwrap();
        assert_eq!((s.count, s.max), (2, 9));
    }

    #[test]
    fn percentiles_follow_dropwizard_interpolation() {
        let mut p = PercentileSummary::default();
        assert_eq!(p.quantile(0.5), 0);
        for v in 1..=100 {
            p.add(v);
        }
        // pos = q * 101: the median interpolates between the 50th and 51st values.
        assert_eq!(p.quantile(0.5), 51);
        assert_eq!(p.quantile(0.95), 96);
        assert_eq!(p.quantile(0.999), 100);
        assert_eq!(p.summary.count, 100);
        // Only the latest window feeds the percentiles; the summary sees everything.
        for _ in 0..PERCENTILE_WINDOW {
            p.add(1000);
        }
        assert_eq!(p.quantile(0.5), 1000);
        assert_eq!(p.summary.min(), 1);
    }
}
