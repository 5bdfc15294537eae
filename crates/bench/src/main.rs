//! `zkbench`: the command line around the bench crate. Prints one JSON line per run on
//! stdout; diagnostics go to stderr.
//!
//! Exit status: 0 ok, 1 connection lost or other failure (the JSON line says which), 2 bad
//! arguments, 3 timed out.

use std::process::ExitCode;
use std::time::Duration;

use bench::stats::{round3, Params, Report};
use bench::workload::{self, Config, Workload};
use clap::Parser;
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(
    name = "zkbench",
    about = "Load generator for ZooKeeper-compatible servers (one JSON line per run)"
)]
struct Cli {
    /// Servers, comma-separated; sessions are spread over them round-robin.
    #[arg(long, default_value = "127.0.0.1:2181", value_delimiter = ',')]
    hosts: Vec<String>,
    /// Client sessions (connections) generating load.
    #[arg(long, default_value_t = 16)]
    sessions: usize,
    /// Requests in flight per session (pipelined).
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Measured seconds (after the warmup).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Size of the key space (read, exists, write, mixed).
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Bytes per znode value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    #[arg(long, value_enum, default_value = "read")]
    workload: Workload,
    /// Percentage of getData in the mixed workload (the rest is setData).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(0..=100))]
    read_pct: u32,
    /// Watching sessions (watch workload); one more session writes.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Znodes to create (bulk-load).
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Parent of everything zkbench creates.
    #[arg(long, default_value = "/zkbench")]
    prefix: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Delete what the workload created after the run.
    #[arg(long)]
    cleanup: bool,
    /// Requested session timeout in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    session_timeout: i32,
    /// Hard limit on the whole run in seconds (default: derived from the workload).
    #[arg(long)]
    timeout: Option<f64>,
    /// Tokio worker threads (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x.clamp(0.0, 1.0e7))
}

impl Cli {
    fn validate(&self) -> Result<(), String> {
        if self.hosts.iter().all(|h| h.trim().is_empty()) {
            return Err("--hosts is empty".into());
        }
        if self.sessions == 0 || self.inflight == 0 {
            return Err("--sessions and --inflight must be at least 1".into());
        }
        if !(self.duration.is_finite() && self.warmup.is_finite())
            || self.duration < 0.0
            || self.warmup < 0.0
        {
            return Err("--duration and --warmup must be non-negative seconds".into());
        }
        if !self.prefix.starts_with('/') || self.prefix.ends_with('/') || self.prefix.len() < 2 {
            return Err("--prefix must be an absolute znode path like /zkbench".into());
        }
        if self.keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        if self.value_size > 1_000_000 {
            return Err("--value-size must stay under jute.maxbuffer (1 MiB)".into());
        }
        if self.workload == Workload::Watch && self.watchers == 0 {
            return Err("--watchers must be at least 1".into());
        }
        Ok(())
    }

    /// The hard limit when none is given: the run's own length plus generous room for
    /// connecting, setup and drain.
    fn default_timeout(&self) -> f64 {
        let base = 60.0 + self.sessions as f64 / 20.0;
        match self.workload {
            Workload::BulkLoad => base + 60.0 + self.count as f64 / 500.0,
            Workload::Ready => 120.0,
            Workload::Watch => {
                base + self.warmup + self.duration + self.watchers as f64 / 10.0 + 30.0
            }
            _ => base + self.warmup + self.duration + self.keys as f64 / 1000.0 + 30.0,
        }
    }
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    if let Err(e) = cli.validate() {
        eprintln!("zkbench: {e}");
        return ExitCode::from(2);
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = cli.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkbench: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let report = rt.block_on(run(cli, started));
    // Don't wait for stragglers (a session stuck on a dead server) once the line is out.
    rt.shutdown_timeout(Duration::from_millis(200));
    match serde_json::to_string(&report) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("zkbench: cannot encode the report: {e}");
            return ExitCode::from(1);
        }
    }
    if let Some(m) = &report.message {
        eprintln!("zkbench: {}: {m}", report.status);
    }
    match report.status.as_str() {
        "ok" => ExitCode::SUCCESS,
        "timeout" => ExitCode::from(3),
        _ => ExitCode::from(1),
    }
}

async fn run(cli: Cli, started: Instant) -> Report {
    let hard = secs(cli.timeout.unwrap_or_else(|| cli.default_timeout()));
    let hosts: Vec<String> = cli
        .hosts
        .iter()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .collect();
    let cfg = Config {
        hosts: hosts.clone(),
        sessions: cli.sessions,
        inflight: cli.inflight,
        duration: secs(cli.duration),
        warmup: secs(cli.warmup),
        keys: cli.keys,
        value_size: cli.value_size,
        workload: cli.workload,
        read_pct: cli.read_pct,
        watchers: cli.watchers,
        count: cli.count,
        prefix: cli.prefix.clone(),
        seed: cli.seed,
        cleanup: cli.cleanup,
        session_timeout_ms: cli.session_timeout,
        // Internal waits end a little before the hard limit so a report is still produced.
        deadline: started + hard.saturating_sub((hard / 4).min(Duration::from_secs(2))),
        started,
    };
    let params = Params {
        hosts,
        sessions: cli.sessions,
        inflight: cli.inflight,
        duration_s: cli.duration,
        warmup_s: cli.warmup,
        keys: cli.keys,
        value_size: cli.value_size,
        read_pct: cli.read_pct,
        watchers: cli.watchers,
        count: cli.count,
        prefix: cli.prefix.clone(),
        seed: cli.seed,
    };
    let mut fallback = Report::new(cfg.workload.name(), params.clone());
    let mut report = Report::new(cfg.workload.name(), params);
    match tokio::time::timeout_at(started + hard, run_workload(&cfg, &mut report)).await {
        Ok(()) => report,
        Err(_) => {
            fallback.fail(
                "timeout",
                format!("hard timeout of {:.0} s reached", hard.as_secs_f64()),
            );
            fallback
        }
    }
}

async fn run_workload(cfg: &Config, report: &mut Report) {
    if cfg.workload != Workload::Ready {
        let t = Instant::now();
        match workload::setup(cfg).await {
            Ok(written) => {
                report.setup_s = round3(t.elapsed().as_secs_f64());
                if written > 0 {
                    report
                        .extra
                        .insert("setup_keys_written".into(), serde_json::json!(written));
                }
            }
            Err(e) => return report.fail("error", format!("setup: {e}")),
        }
    }
    match cfg.workload {
        Workload::Read
        | Workload::Exists
        | Workload::Write
        | Workload::Mixed
        | Workload::Create => workload::run_timed(cfg, report).await,
        Workload::Watch => workload::run_watch(cfg, report).await,
        Workload::BulkLoad => workload::run_bulk(cfg, report).await,
        Workload::Ready => workload::run_ready(cfg, report).await,
    }
    if cfg.cleanup && cfg.workload != Workload::Ready && report.status != "connection_lost" {
        let t = Instant::now();
        match workload::cleanup(cfg).await {
            Ok(errors) => {
                report.extra.insert(
                    "cleanup_s".into(),
                    serde_json::json!(round3(t.elapsed().as_secs_f64())),
                );
                if errors > 0 {
                    report
                        .extra
                        .insert("cleanup_errors".into(), serde_json::json!(errors));
                }
            }
            Err(e) => {
                report
                    .extra
                    .insert("cleanup_failed".into(), serde_json::json!(e));
            }
        }
    }
}
