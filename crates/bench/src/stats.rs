//! What a run measures: an HDR latency histogram (microseconds), op and error counts, and the
//! JSON report line built from them.
//!
//! Each session task keeps its own [`Stats`] (no sharing on the hot path); they are merged once
//! at the end of the run.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram tracks exactly (larger values are clamped): one minute.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Per-task measurements.
#[derive(Debug, Clone)]
pub struct Stats {
    pub hist: Histogram<u64>,
    /// Replies (or notifications) counted inside the measurement window.
    pub ops: u64,
    /// Server errors over the whole run (warmup and drain included).
    pub errors: u64,
    /// Error counts by KeeperException code.
    pub error_codes: BTreeMap<i32, u64>,
    /// Measured ops by request kind.
    pub by_op: BTreeMap<&'static str, u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    pub fn new() -> Stats {
        // 3 significant digits: 0.1% resolution, the usual choice for latency percentiles.
        // 3 significant digits: 0.1% resolution, the usual choice for latency percentiles.
        // The bounds are constants hdrhistogram accepts (low >= 1, high >= 2 * low).
        let hist = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
            .expect("constant histogram bounds are valid");
        Stats {
            hist,
            ops: 0,
            errors: 0,
            error_codes: BTreeMap::new(),
            by_op: BTreeMap::new(),
        }
    }

    /// Records one measured op of `kind` with latency `d`.
    pub fn record(&mut self, kind: &'static str, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        self.hist.saturating_record(us);
        self.ops += 1;
        *self.by_op.entry(kind).or_insert(0) += 1;
    }

    pub fn error(&mut self, code: i32) {
        self.errors += 1;
        *self.error_codes.entry(code).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Stats) {
        // Both histograms have the same bounds, so `add` cannot fail; if it somehow does,
        // saturating per-value recording keeps the counts.
        if self.hist.add(&other.hist).is_err() {
            for v in other.hist.iter_recorded() {
                let _ = self
                    .hist
                    .record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.ops += other.ops;
        self.errors += other.errors;
        for (k, v) in &other.error_codes {
            *self.error_codes.entry(*k).or_insert(0) += v;
        }
        for (k, v) in &other.by_op {
            *self.by_op.entry(k).or_insert(0) += v;
        }
    }

    pub fn latency(&self) -> Latency {
        let h = &self.hist;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

/// The run's parameters, echoed in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub hosts: Vec<String>,
    pub sessions: usize,
    pub inflight: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub keys: u64,
    pub value_size: usize,
    pub read_pct: u32,
    pub watchers: usize,
    pub count: u64,
    pub prefix: String,
    pub seed: u64,
}

/// One JSON line per run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub workload: String,
    /// "ok", "connection_lost", "timeout" or "error".
    pub status: String,
    pub params: Params,
    pub ops: u64,
    pub ops_per_sec: f64,
    pub errors: u64,
    pub error_codes: BTreeMap<String, u64>,
    pub by_op: BTreeMap<String, u64>,
    pub latency_us: Latency,
    /// The measured window (timed workloads) or the whole load (bulk-load, ready).
    pub elapsed_s: f64,
    pub connect_s: f64,
    pub setup_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Extra per-workload figures (watch rounds, unanswered requests, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Report {
    pub fn new(workload: &str, params: Params) -> Report {
        Report {
            workload: workload.to_owned(),
            status: "ok".to_owned(),
            params,
            ops: 0,
            ops_per_sec: 0.0,
            errors: 0,
            error_codes: BTreeMap::new(),
            by_op: BTreeMap::new(),
            latency_us: Latency::default(),
            elapsed_s: 0.0,
            connect_s: 0.0,
            setup_s: 0.0,
            message: None,
            extra: BTreeMap::new(),
        }
    }

    /// Fills the counts from `stats` over a window of `elapsed`.
    pub fn fill(&mut self, stats: &Stats, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        self.ops = stats.ops;
        self.elapsed_s = round3(secs);
        self.ops_per_sec = if secs > 0.0 {
            (stats.ops as f64 / secs * 10.0).round() / 10.0
        } else {
            0.0
        };
        self.errors = stats.errors;
        self.error_codes = stats
            .error_codes
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        self.by_op = stats
            .by_op
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        self.latency_us = stats.latency();
    }

    /// Notes a failure; the first message wins, later ones only upgrade nothing.
    pub fn fail(&mut self, status: &str, message: String) {
        if self.status == "ok" {
            self.status = status.to_owned();
            self.message = Some(message);
        }
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_percentiles() {
        let mut a = Stats::new();
        let mut b = Stats::new();
        for i in 1..=100u64 {
            a.record("read", Duration::from_micros(i));
            b.record("write", Duration::from_micros(i * 10));
        }
        b.error(-101);
        a.merge(&b);
        assert_eq!(a.ops, 200);
        assert_eq!(a.errors, 1);
        assert_eq!(a.by_op.get("read"), Some(&100));
        let l = a.latency();
        assert!(l.p50 >= 90 && l.p50 <= 110, "{l:?}");
        assert!(l.max >= 999 && l.max <= 1001, "{l:?}");
        let mut r = Report::new("read", test_params());
        r.fill(&a, Duration::from_secs(2));
        assert_eq!(r.ops_per_sec, 100.0);
        assert_eq!(r.error_codes.get("-101"), Some(&1));
        let line = serde_json::to_string(&r).unwrap_or_default();
        assert!(line.contains("\"p999\""));
    }

    #[test]
    fn huge_latency_is_clamped() {
        let mut a = Stats::new();
        a.record("x", Duration::from_secs(3600));
        assert!(a.latency().max <= MAX_LATENCY_US + MAX_LATENCY_US / 100);
    }

    fn test_params() -> Params {
        Params {
            hosts: vec!["127.0.0.1:2181".into()],
            sessions: 1,
            inflight: 1,
            duration_s: 1.0,
            warmup_s: 0.0,
            keys: 1,
            value_size: 1,
            read_pct: 90,
            watchers: 0,
            count: 0,
            prefix: "/zkbench".into(),
            seed: 1,
        }
    }
}
