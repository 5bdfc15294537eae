//! Counters the four-letter words and mntr report. Plain numbers owned by the node; the
//! server reads them between inputs.

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
