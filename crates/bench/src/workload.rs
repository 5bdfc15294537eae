//! The workloads: setup of the key space, the closed-loop drivers (read, exists, write, mixed,
//! create, bulk-load), the watch fan-out coordinator, the readiness probe, and cleanup.
//!
//! Znodes used, all under `--prefix` (default `/zkbench`):
//! - `<prefix>/keys/k0000000000 …` the key space of read/exists/write/mixed; the data of
//!   `<prefix>/keys` is a marker `keys=N value_size=B` so setup is skipped when it matches.
//! - `<prefix>/seq/sNNNN-0000000123` sequential nodes of the create workload (deleted again).
//! - `<prefix>/watch` the watched node.
//! - `<prefix>/bulk/n0000000000 …` bulk-loaded nodes.
//!
//! Every wait is bounded by the run's hard deadline; a session that loses its connection
//! cancels the run, which then drains and reports what it measured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use jute::proto::event_type;
use jute::proto::{
    CreateRequest, CreateResponse, DeleteRequest, GetChildrenResponse, GetDataResponse,
    PathWatchRequest, SetDataRequest,
};
use jute::{op, Acl, ErrorCode, Record};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{ClientError, Event, Reply, Session};
use crate::stats::{round3, Report, Stats};

/// Which load to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// getData on random keys of a pre-populated key space.
    Read,
    /// exists on random keys.
    Exists,
    /// setData on random keys.
    Write,
    /// create a sequential znode, then delete it.
    Create,
    /// `--read-pct`% getData, the rest setData.
    Mixed,
    /// `--watchers` sessions watch one znode; one writer sets it; latency write → notification.
    Watch,
    /// create `--count` znodes of `--value-size` bytes as fast as possible.
    BulkLoad,
    /// Probe: retry connect + getData("/") until one succeeds (for restart timing).
    Ready,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Read => "read",
            Workload::Exists => "exists",
            Workload::Write => "write",
            Workload::Create => "create",
            Workload::Mixed => "mixed",
            Workload::Watch => "watch",
            Workload::BulkLoad => "bulk-load",
            Workload::Ready => "ready",
        }
    }

    fn uses_keys(self) -> bool {
        matches!(
            self,
            Workload::Read | Workload::Exists | Workload::Write | Workload::Mixed
        )
    }
}

/// Everything a run needs, parsed from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    pub hosts: Vec<String>,
    pub sessions: usize,
    pub inflight: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub keys: u64,
    pub value_size: usize,
    pub workload: Workload,
    pub read_pct: u32,
    pub watchers: usize,
    pub count: u64,
    pub prefix: String,
    pub seed: u64,
    pub cleanup: bool,
    pub session_timeout_ms: i32,
    /// Nothing waits past this.
    pub deadline: Instant,
    /// When the process started (the ready probe measures from here).
    pub started: Instant,
}

impl Config {
    fn path(&self, rest: &str) -> String {
        format!("{}/{}", self.prefix, rest)
    }
    fn value(&self) -> Bytes {
        // Printable, deterministic filler.
        Bytes::from(
            (0..self.value_size)
                .map(|i| b'a' + (i % 26) as u8)
                .collect::<Vec<u8>>(),
        )
    }
    fn key_paths(&self) -> Arc<Vec<String>> {
        let base = self.path("keys/k");
        Arc::new((0..self.keys).map(|i| format!("{base}{i:010}")).collect())
    }
}

/// splitmix64: a tiny seeded generator so runs are reproducible without another dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0); the modulo bias is negligible for benchmark key choice.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

fn op_name(code: i32) -> &'static str {
    match code {
        op::CREATE => "create",
        op::DELETE => "delete",
        op::EXISTS => "exists",
        op::GET_DATA => "getData",
        op::SET_DATA => "setData",
        op::GET_CHILDREN => "getChildren",
        _ => "other",
    }
}

// ---------------------------------------------------------------------------------------------
// Connecting

/// How many handshakes run at once: a burst of hundreds overflows a Java server's accept
/// backlog (50) and turns into SYN retries of a second each.
const CONNECT_CONCURRENCY: usize = 32;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Opens `n` sessions, spread round-robin over the hosts from a seeded start (as a client
/// shuffles its host list). On any failure the opened ones are closed and the error returned.
pub async fn connect_all(cfg: &Config, n: usize, salt: u64) -> Result<Vec<Session>, String> {
    let hosts = &cfg.hosts;
    if hosts.is_empty() {
        return Err("no hosts given".into());
    }
    let start = Rng::new(cfg.seed ^ salt).below(hosts.len() as u64) as usize;
    let timeout_ms = cfg.session_timeout_ms;
    let results: Vec<Result<Session, String>> = futures::stream::iter((0..n).map(|i| {
        let host = hosts[(start + i) % hosts.len()].clone();
        async move {
            Session::connect(&host, timeout_ms, CONNECT_TIMEOUT)
                .await
                .map_err(|e| format!("{host}: {e}"))
        }
    }))
    .buffer_unordered(CONNECT_CONCURRENCY)
    .collect()
    .await;
    let mut ok = Vec::with_capacity(n);
    let mut first_err = None;
    for r in results {
        match r {
            Ok(s) => ok.push(s),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        None => Ok(ok),
        Some(e) => {
            close_all(ok).await;
            Err(e)
        }
    }
}

async fn close_all(sessions: Vec<Session>) {
    futures::future::join_all(sessions.into_iter().map(|s| s.close(CLOSE_WAIT))).await;
}

// ---------------------------------------------------------------------------------------------
// The closed-loop driver

/// Generates the requests of one session.
pub trait Source: Send + 'static {
    /// Queues the next request on `s`; false when there is no more work.
    fn issue(&mut self, s: &mut Session, rng: &mut Rng) -> bool;
    /// Sees every reply and may queue a follow-up on `s`. Returns whether a non-zero `err`
    /// counts as an error (setup tolerates NodeExists, cleanup NoNode).
    fn on_reply(&mut self, _s: &mut Session, r: &Reply) -> bool {
        r.err != 0
    }
}

/// Timing of one closed-loop phase, shared by its sessions.
#[derive(Clone)]
pub struct DriveParams {
    pub inflight: usize,
    /// Replies to requests sent before this are not recorded (warmup).
    pub measure_from: Instant,
    /// No new request is issued after this, and replies after it are not recorded.
    pub end: Instant,
    /// Replies still missing at this point are given up on.
    pub drain_until: Instant,
    pub cancel: CancellationToken,
    /// Close the session gracefully at the end.
    pub close: bool,
}

/// What one session's driver hands back.
pub struct Outcome {
    pub stats: Stats,
    pub lost: Option<String>,
    pub unanswered: usize,
    pub finished: Instant,
}

/// Keeps `inflight` requests of `src` outstanding on `s` until the source runs dry, `end`
/// passes or the run is cancelled; then waits for the remaining replies until `drain_until`.
pub async fn drive<S: Source>(mut s: Session, mut src: S, p: DriveParams, seed: u64) -> Outcome {
    let mut rng = Rng::new(seed);
    let mut stats = Stats::new();
    let mut exhausted = false;
    let mut lost = None;
    let mut last_reply = Instant::now();
    loop {
        let now = Instant::now();
        let stopping = exhausted || now >= p.end || p.cancel.is_cancelled();
        if !stopping {
            while s.in_flight() < p.inflight {
                if !src.issue(&mut s, &mut rng) {
                    exhausted = true;
                    break;
                }
            }
        }
        if s.in_flight() == 0 && (stopping || exhausted) {
            break;
        }
        match s.next_event(p.drain_until).await {
            Ok(Event::Reply(r)) => {
                last_reply = r.received;
                let is_error = src.on_reply(&mut s, &r);
                if r.err != 0 && is_error {
                    stats.error(r.err);
                }
                if r.sent >= p.measure_from && r.received <= p.end {
                    stats.record(op_name(r.op), r.latency());
                }
            }
            Ok(Event::Watch(..)) => {}
            Ok(Event::Timeout) => break,
            Err(e) => {
                lost = Some(format!("{}: {e}", s.host));
                p.cancel.cancel();
                break;
            }
        }
    }
    let unanswered = if lost.is_some() { 0 } else { s.in_flight() };
    if lost.is_none() && p.close {
        s.close(CLOSE_WAIT).await;
    }
    Outcome {
        stats,
        lost,
        unanswered,
        finished: last_reply,
    }
}

/// Runs one driver task per session and collects their outcomes.
async fn run_pool<S: Source>(
    sessions: Vec<Session>,
    mut make: impl FnMut(usize) -> S,
    p: &DriveParams,
    seed: u64,
) -> Vec<Outcome> {
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let src = make(i);
            let p = p.clone();
            let seed = seed.wrapping_add((i as u64 + 1).wrapping_mul(0x1000_0001));
            tokio::spawn(drive(s, src, p, seed))
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        match t.await {
            Ok(o) => out.push(o),
            Err(e) => out.push(Outcome {
                stats: Stats::new(),
                lost: Some(format!("driver task failed: {e}")),
                unanswered: 0,
                finished: Instant::now(),
            }),
        }
    }
    out
}

/// Merges outcomes into one Stats; returns it with the first loss and the unanswered count.
fn merge(outcomes: &[Outcome]) -> (Stats, Option<String>, usize) {
    let mut total = Stats::new();
    let mut lost = None;
    let mut unanswered = 0;
    for o in outcomes {
        total.merge(&o.stats);
        if lost.is_none() {
            lost = o.lost.clone();
        }
        unanswered += o.unanswered;
    }
    (total, lost, unanswered)
}

fn create_req(path: String, value: &Bytes, flags: i32) -> CreateRequest {
    CreateRequest {
        path,
        data: Some(value.clone()),
        acl: Acl::open_unsafe(),
        flags,
    }
}

// ---------------------------------------------------------------------------------------------
// Sources

/// read / exists / write / mixed on random keys.
struct KeyOps {
    keys: Arc<Vec<String>>,
    value: Bytes,
    read_pct: u32,
    exists: bool,
}

impl Source for KeyOps {
    fn issue(&mut self, s: &mut Session, rng: &mut Rng) -> bool {
        let i = rng.below(self.keys.len() as u64);
        let Some(path) = self.keys.get(i as usize).cloned() else {
            return false;
        };
        if self.exists {
            s.queue(op::EXISTS, i, &PathWatchRequest { path, watch: false });
        } else if rng.below(100) < self.read_pct as u64 {
            s.queue(op::GET_DATA, i, &PathWatchRequest { path, watch: false });
        } else {
            let req = SetDataRequest {
                path,
                data: Some(self.value.clone()),
                version: -1,
            };
            s.queue(op::SET_DATA, i, &req);
        }
        true
    }
}

/// create a sequential znode; when it is answered, delete it.
struct CreateDelete {
    base: String,
    value: Bytes,
}

/// CreateMode PERSISTENT_SEQUENTIAL.
const PERSISTENT_SEQUENTIAL: i32 = 2;

impl Source for CreateDelete {
    fn issue(&mut self, s: &mut Session, _rng: &mut Rng) -> bool {
        let req = create_req(self.base.clone(), &self.value, PERSISTENT_SEQUENTIAL);
        s.queue(op::CREATE, 0, &req);
        true
    }
    fn on_reply(&mut self, s: &mut Session, r: &Reply) -> bool {
        if r.op == op::CREATE && r.err == 0 {
            if let Ok(c) = CreateResponse::from_bytes(r.body.clone()) {
                s.queue(
                    op::DELETE,
                    0,
                    &DeleteRequest {
                        path: c.path,
                        version: -1,
                    },
                );
            }
        }
        r.err != 0
    }
}

/// Paths by index, shared by the sessions of a pool.
#[derive(Clone)]
enum Paths {
    List(Arc<Vec<String>>),
    /// `base` + the index as 10 digits.
    Numbered(Arc<str>, u64),
}

impl Paths {
    fn len(&self) -> u64 {
        match self {
            Paths::List(l) => l.len() as u64,
            Paths::Numbered(_, n) => *n,
        }
    }
    fn get(&self, i: u64) -> Option<String> {
        match self {
            Paths::List(l) => l.get(i as usize).cloned(),
            Paths::Numbered(base, n) => (i < *n).then(|| format!("{base}{i:010}")),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum IndexedKind {
    /// create; NodeExists is an error (bulk-load into a fresh prefix).
    Create,
    /// create, or setData when it exists (idempotent setup of the key space).
    Upsert,
    /// delete; NoNode is fine (idempotent cleanup).
    Delete,
}

/// Works through `paths` once, the sessions of a pool taking indices from a shared counter.
struct Indexed {
    next: Arc<AtomicU64>,
    paths: Paths,
    kind: IndexedKind,
    value: Bytes,
}

impl Source for Indexed {
    fn issue(&mut self, s: &mut Session, _rng: &mut Rng) -> bool {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(path) = self.paths.get(i) else {
            return false;
        };
        match self.kind {
            IndexedKind::Create | IndexedKind::Upsert => {
                s.queue(op::CREATE, i, &create_req(path, &self.value, 0));
            }
            IndexedKind::Delete => {
                s.queue(op::DELETE, i, &DeleteRequest { path, version: -1 });
            }
        }
        true
    }
    fn on_reply(&mut self, s: &mut Session, r: &Reply) -> bool {
        match (self.kind, ErrorCode::from_code(r.err)) {
            (IndexedKind::Upsert, Some(ErrorCode::NodeExists)) if r.op == op::CREATE => {
                if let Some(path) = self.paths.get(r.tag) {
                    let req = SetDataRequest {
                        path,
                        data: Some(self.value.clone()),
                        version: -1,
                    };
                    s.queue(op::SET_DATA, r.tag, &req);
                }
                false
            }
            (IndexedKind::Delete, Some(ErrorCode::NoNode)) => false,
            _ => r.err != 0,
        }
    }
}

/// Runs an [`Indexed`] pass over `sessions`; returns merged stats and the elapsed time to the
/// last reply.
async fn run_indexed(
    cfg: &Config,
    sessions: Vec<Session>,
    paths: Paths,
    kind: IndexedKind,
    inflight: usize,
) -> (Stats, Option<String>, Duration) {
    let start = Instant::now();
    let p = DriveParams {
        inflight,
        measure_from: start,
        end: cfg.deadline,
        drain_until: cfg.deadline,
        cancel: CancellationToken::new(),
        close: false,
    };
    let next = Arc::new(AtomicU64::new(0));
    let value = cfg.value();
    let outcomes = run_pool(
        sessions,
        |_| Indexed {
            next: next.clone(),
            paths: paths.clone(),
            kind,
            value: value.clone(),
        },
        &p,
        cfg.seed,
    )
    .await;
    let finished = outcomes.iter().map(|o| o.finished).max().unwrap_or(start);
    let (stats, lost, _) = merge(&outcomes);
    (stats, lost, finished.saturating_duration_since(start))
}

// ---------------------------------------------------------------------------------------------
// Setup and cleanup

/// Sessions used by setup and cleanup, and the requests each keeps in flight.
const ADMIN_SESSIONS: usize = 8;
const ADMIN_INFLIGHT: usize = 16;

async fn call(
    s: &mut Session,
    op_type: i32,
    body: &impl Record,
    deadline: Instant,
) -> Result<Reply, String> {
    match s.call(op_type, body, deadline).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(format!("{}: no reply before the deadline", s.host)),
        Err(e) => Err(format!("{}: {e}", s.host)),
    }
}

/// Creates `path` (and its ancestors) unless it exists.
async fn ensure(s: &mut Session, path: &str, data: Bytes, deadline: Instant) -> Result<(), String> {
    for (i, c) in path.char_indices().skip(1) {
        if c == '/' {
            ensure_one(s, &path[..i], Bytes::new(), deadline).await?;
        }
    }
    ensure_one(s, path, data, deadline).await
}

async fn ensure_one(
    s: &mut Session,
    path: &str,
    data: Bytes,
    deadline: Instant,
) -> Result<(), String> {
    let r = call(
        s,
        op::CREATE,
        &create_req(path.to_owned(), &data, 0),
        deadline,
    )
    .await?;
    match ErrorCode::from_code(r.err) {
        Some(ErrorCode::Ok) | Some(ErrorCode::NodeExists) => Ok(()),
        _ => Err(format!("create {path}: error {}", r.err)),
    }
}

/// Prepares the znodes the workload needs. Idempotent; skips the key space when its marker
/// matches. Returns how many keys were written (0 when skipped).
pub async fn setup(cfg: &Config) -> Result<u64, String> {
    let n = cfg.sessions.clamp(1, ADMIN_SESSIONS);
    let mut pool = connect_all(cfg, n, 0x5e7u64).await?;
    let result = setup_with(cfg, &mut pool).await;
    close_all(pool).await;
    result
}

async fn setup_with(cfg: &Config, pool: &mut Vec<Session>) -> Result<u64, String> {
    let dl = cfg.deadline;
    let Some(s0) = pool.first_mut() else {
        return Err("no setup session".into());
    };
    ensure(s0, &cfg.prefix, Bytes::new(), dl).await?;
    match cfg.workload {
        w if w.uses_keys() => {
            let parent = cfg.path("keys");
            ensure_one(s0, &parent, Bytes::new(), dl).await?;
            let marker = format!("keys={} value_size={}", cfg.keys, cfg.value_size);
            let r = call(
                s0,
                op::GET_DATA,
                &PathWatchRequest {
                    path: parent.clone(),
                    watch: false,
                },
                dl,
            )
            .await?;
            if r.err == 0 {
                if let Ok(d) = GetDataResponse::from_bytes(r.body) {
                    if d.data.as_deref() == Some(marker.as_bytes()) {
                        return Ok(0);
                    }
                }
            }
            let sessions = std::mem::take(pool);
            let (stats, lost, _) = run_indexed(
                cfg,
                sessions,
                Paths::List(cfg.key_paths()),
                IndexedKind::Upsert,
                ADMIN_INFLIGHT,
            )
            .await;
            if let Some(l) = lost {
                return Err(format!("setup lost its connection: {l}"));
            }
            if stats.errors > 0 {
                return Err(format!(
                    "setup got {} errors {:?}",
                    stats.errors, stats.error_codes
                ));
            }
            // Sessions were consumed by the pass; one more writes the marker.
            let mut s = connect_all(cfg, 1, 0x3a2).await?;
            let res = match s.first_mut() {
                Some(s) => {
                    let req = SetDataRequest {
                        path: parent,
                        data: Some(Bytes::from(marker)),
                        version: -1,
                    };
                    call(s, op::SET_DATA, &req, dl).await.map(|_| ())
                }
                None => Err("no session for the marker".into()),
            };
            close_all(s).await;
            res.map(|_| cfg.keys)
        }
        Workload::Create => ensure_one(s0, &cfg.path("seq"), Bytes::new(), dl)
            .await
            .map(|_| 0),
        Workload::Watch => ensure_one(s0, &cfg.path("watch"), cfg.value(), dl)
            .await
            .map(|_| 0),
        Workload::BulkLoad => ensure_one(s0, &cfg.path("bulk"), Bytes::new(), dl)
            .await
            .map(|_| 0),
        _ => Ok(0),
    }
}

/// Deletes what the workload created. Returns the number of unexpected errors.
pub async fn cleanup(cfg: &Config) -> Result<u64, String> {
    let n = cfg.sessions.clamp(1, ADMIN_SESSIONS);
    let mut pool = connect_all(cfg, n, 0xc1ea).await?;
    let dl = cfg.deadline;
    let mut errors = 0;
    let (paths, parent) = match cfg.workload {
        w if w.uses_keys() => (Some(Paths::List(cfg.key_paths())), cfg.path("keys")),
        Workload::BulkLoad => (
            Some(Paths::Numbered(cfg.path("bulk/n").into(), cfg.count)),
            cfg.path("bulk"),
        ),
        Workload::Create => {
            let parent = cfg.path("seq");
            let mut list = Vec::new();
            if let Some(s0) = pool.first_mut() {
                let req = PathWatchRequest {
                    path: parent.clone(),
                    watch: false,
                };
                let r = call(s0, op::GET_CHILDREN, &req, dl).await?;
                if r.err == 0 {
                    if let Ok(c) = GetChildrenResponse::from_bytes(r.body) {
                        list = c
                            .children
                            .into_iter()
                            .map(|c| format!("{parent}/{c}"))
                            .collect();
                    }
                }
            }
            (Some(Paths::List(Arc::new(list))), parent)
        }
        Workload::Watch => (None, cfg.path("watch")),
        _ => (None, String::new()),
    };
    if let Some(paths) = paths {
        if paths.len() > 0 {
            let sessions = std::mem::take(&mut pool);
            let (stats, lost, _) =
                run_indexed(cfg, sessions, paths, IndexedKind::Delete, ADMIN_INFLIGHT).await;
            if let Some(l) = lost {
                return Err(format!("cleanup lost its connection: {l}"));
            }
            errors += stats.errors;
            pool = connect_all(cfg, 1, 0xc1eb).await?;
        }
    }
    let mut result = Ok(());
    if let Some(s0) = pool.first_mut() {
        for path in [parent, cfg.prefix.clone()] {
            if path.is_empty() {
                continue;
            }
            match call(s0, op::DELETE, &DeleteRequest { path, version: -1 }, dl).await {
                Ok(r) => match ErrorCode::from_code(r.err) {
                    // NotEmpty: the prefix still holds another workload's nodes.
                    Some(ErrorCode::Ok | ErrorCode::NoNode | ErrorCode::NotEmpty) => {}
                    _ => errors += 1,
                },
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
    }
    close_all(pool).await;
    result.map(|_| errors)
}

// ---------------------------------------------------------------------------------------------
// Runs

/// Hard upper bound on waiting for the replies still outstanding at the end of a timed run.
const DRAIN: Duration = Duration::from_secs(10);

/// read, exists, write, mixed, create: `--sessions` closed loops for warmup + duration.
pub async fn run_timed(cfg: &Config, report: &mut Report) {
    let t = Instant::now();
    let sessions = match connect_all(cfg, cfg.sessions, 0x11).await {
        Ok(s) => s,
        Err(e) => return report.fail("connection_lost", format!("connect: {e}")),
    };
    report.connect_s = round3(t.elapsed().as_secs_f64());
    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    let end = measure_from + cfg.duration;
    let p = DriveParams {
        inflight: cfg.inflight,
        measure_from,
        end,
        drain_until: (end + DRAIN).min(cfg.deadline),
        cancel: CancellationToken::new(),
        close: true,
    };
    let keys = cfg.key_paths();
    let value = cfg.value();
    let outcomes = match cfg.workload {
        Workload::Create => {
            let base = cfg.path("seq/s");
            run_pool(
                sessions,
                |i| CreateDelete {
                    base: format!("{base}{i:04}-"),
                    value: value.clone(),
                },
                &p,
                cfg.seed,
            )
            .await
        }
        w => {
            let (read_pct, exists) = match w {
                Workload::Read => (100, false),
                Workload::Exists => (100, true),
                Workload::Write => (0, false),
                _ => (cfg.read_pct.min(100), false),
            };
            run_pool(
                sessions,
                |_| KeyOps {
                    keys: keys.clone(),
                    value: value.clone(),
                    read_pct,
                    exists,
                },
                &p,
                cfg.seed,
            )
            .await
        }
    };
    let (stats, lost, unanswered) = merge(&outcomes);
    let window_end = if p.cancel.is_cancelled() {
        Instant::now().min(end)
    } else {
        end
    };
    report.fill(&stats, window_end.saturating_duration_since(measure_from));
    if unanswered > 0 {
        report
            .extra
            .insert("unanswered".into(), serde_json::json!(unanswered));
        report.fail(
            "timeout",
            format!("{unanswered} requests unanswered after the drain"),
        );
    }
    if let Some(l) = lost {
        report.fail("connection_lost", l);
    }
}

/// bulk-load: `--count` creates over `--sessions` × `--inflight`, reporting the rate.
pub async fn run_bulk(cfg: &Config, report: &mut Report) {
    let t = Instant::now();
    let sessions = match connect_all(cfg, cfg.sessions, 0x22).await {
        Ok(s) => s,
        Err(e) => return report.fail("connection_lost", format!("connect: {e}")),
    };
    report.connect_s = round3(t.elapsed().as_secs_f64());
    let paths = Paths::Numbered(cfg.path("bulk/n").into(), cfg.count);
    let (stats, lost, elapsed) =
        run_indexed(cfg, sessions, paths, IndexedKind::Create, cfg.inflight).await;
    report.fill(&stats, elapsed);
    let complete = stats.ops >= cfg.count;
    if let Some(l) = lost {
        report.fail("connection_lost", l);
    } else if !complete && Instant::now() >= cfg.deadline {
        report.fail(
            "timeout",
            "bulk-load did not finish before the deadline".into(),
        );
    }
}

enum WatchMsg {
    Armed,
    Fired(Instant),
    ServerError(i32),
    Lost(String),
}

/// watch: `--watchers` sessions set a data watch on one znode; one writer sets it; the latency
/// of each notification is measured from the write's send. Repeats (re-arming) for the
/// duration.
pub async fn run_watch(cfg: &Config, report: &mut Report) {
    let t = Instant::now();
    let mut sessions = match connect_all(cfg, cfg.watchers + 1, 0x33).await {
        Ok(s) => s,
        Err(e) => return report.fail("connection_lost", format!("connect: {e}")),
    };
    report.connect_s = round3(t.elapsed().as_secs_f64());
    let Some(mut writer) = sessions.pop() else {
        return report.fail("error", "no writer session".into());
    };
    let n = sessions.len();
    let path = cfg.path("watch");
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|s| {
            tokio::spawn(watcher(
                s,
                path.clone(),
                tx.clone(),
                cancel.clone(),
                cfg.deadline,
            ))
        })
        .collect();
    drop(tx);

    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    let end = measure_from + cfg.duration;
    // A round that takes longer than this has lost a notification.
    let round_limit = Duration::from_secs(10);
    let mut stats = Stats::new();
    let mut writes = Stats::new();
    let mut armed = 0usize;
    let mut rounds = 0u64;
    let value = cfg.value();
    'rounds: while Instant::now() < end && n > 0 {
        // 1. Every watcher has (re-)armed.
        let limit = (Instant::now() + round_limit).min(cfg.deadline);
        while armed < n {
            match tokio::time::timeout_at(limit, rx.recv()).await {
                Ok(Some(WatchMsg::Armed)) => armed += 1,
                Ok(Some(WatchMsg::Fired(_))) => {}
                Ok(Some(WatchMsg::ServerError(c))) => stats.error(c),
                Ok(Some(WatchMsg::Lost(l))) => {
                    report.fail("connection_lost", l);
                    break 'rounds;
                }
                Ok(None) => break 'rounds,
                Err(_) => {
                    report.fail("timeout", format!("only {armed} of {n} watchers armed"));
                    break 'rounds;
                }
            }
        }
        armed -= n;
        // 2. The write, timed from its send.
        let t0 = Instant::now();
        let req = SetDataRequest {
            path: path.clone(),
            data: Some(value.clone()),
            version: -1,
        };
        match call(&mut writer, op::SET_DATA, &req, limit).await {
            Ok(r) => {
                if r.err != 0 {
                    stats.error(r.err);
                    report.fail("error", format!("setData on the watched node: {}", r.err));
                    break 'rounds;
                }
                if t0 >= measure_from {
                    writes.record("setData", r.latency());
                }
            }
            Err(e) => {
                report.fail("connection_lost", format!("writer: {e}"));
                break 'rounds;
            }
        }
        // 3. Every watcher is notified.
        let mut fired = 0;
        while fired < n {
            match tokio::time::timeout_at(limit, rx.recv()).await {
                Ok(Some(WatchMsg::Fired(at))) => {
                    fired += 1;
                    if t0 >= measure_from {
                        stats.record("notification", at.saturating_duration_since(t0));
                    }
                }
                Ok(Some(WatchMsg::Armed)) => armed += 1,
                Ok(Some(WatchMsg::ServerError(c))) => stats.error(c),
                Ok(Some(WatchMsg::Lost(l))) => {
                    report.fail("connection_lost", l);
                    break 'rounds;
                }
                Ok(None) => break 'rounds,
                Err(_) => {
                    report.fail(
                        "timeout",
                        format!("only {fired} of {n} notifications arrived"),
                    );
                    break 'rounds;
                }
            }
        }
        if t0 >= measure_from {
            rounds += 1;
        }
    }
    let window_end = Instant::now().min(end);
    cancel.cancel();
    for t in tasks {
        let _ = t.await;
    }
    writer.close(CLOSE_WAIT).await;
    report.fill(&stats, window_end.saturating_duration_since(measure_from));
    report
        .extra
        .insert("rounds".into(), serde_json::json!(rounds));
    report.extra.insert(
        "write_latency_us".into(),
        serde_json::to_value(writes.latency()).unwrap_or_default(),
    );
}

/// One watcher: arm (getData with watch), report, wait for NodeDataChanged, report, repeat.
async fn watcher(
    mut s: Session,
    path: String,
    tx: mpsc::UnboundedSender<WatchMsg>,
    cancel: CancellationToken,
    deadline: Instant,
) {
    let lost = |e: ClientError, host: &str| WatchMsg::Lost(format!("{host}: {e}"));
    'outer: loop {
        let xid = s.queue(
            op::GET_DATA,
            0,
            &PathWatchRequest {
                path: path.clone(),
                watch: true,
            },
        );
        // Wait for the arming reply.
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => break 'outer,
                ev = s.next_event(deadline) => ev,
            };
            match ev {
                Ok(Event::Reply(r)) if r.xid == xid => {
                    if r.err != 0 {
                        let _ = tx.send(WatchMsg::ServerError(r.err));
                        // Don't spin on a persistent error; the coordinator times out.
                        tokio::select! {
                            _ = cancel.cancelled() => break 'outer,
                            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        }
                        continue 'outer;
                    }
                    let _ = tx.send(WatchMsg::Armed);
                    break;
                }
                Ok(Event::Reply(_)) | Ok(Event::Watch(..)) => {}
                Ok(Event::Timeout) => break 'outer,
                Err(e) => {
                    let _ = tx.send(lost(e, &s.host));
                    return;
                }
            }
        }
        // Wait for the notification.
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => break 'outer,
                ev = s.next_event(deadline) => ev,
            };
            match ev {
                Ok(Event::Watch(w, at))
                    if w.path == path && w.event_type == event_type::NODE_DATA_CHANGED =>
                {
                    let _ = tx.send(WatchMsg::Fired(at));
                    break;
                }
                Ok(Event::Watch(..)) | Ok(Event::Reply(_)) => {}
                Ok(Event::Timeout) => break 'outer,
                Err(e) => {
                    let _ = tx.send(lost(e, &s.host));
                    return;
                }
            }
        }
    }
    s.close(CLOSE_WAIT).await;
}

/// ready: retry connect + getData("/") until one answers; elapsed from process start.
pub async fn run_ready(cfg: &Config, report: &mut Report) {
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        let host = &cfg.hosts[(attempts as usize) % cfg.hosts.len().max(1)];
        let left = cfg.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            report.fail("timeout", format!("not ready after {attempts} attempts"));
            break;
        }
        let connect_timeout = left.min(Duration::from_secs(2));
        if let Ok(mut s) = Session::connect(host, cfg.session_timeout_ms, connect_timeout).await {
            let req = PathWatchRequest {
                path: "/".into(),
                watch: false,
            };
            let dl = (Instant::now() + Duration::from_secs(2)).min(cfg.deadline);
            let ok = matches!(call(&mut s, op::GET_DATA, &req, dl).await, Ok(r) if r.err == 0);
            s.close(Duration::from_millis(500)).await;
            if ok {
                let elapsed = cfg.started.elapsed();
                let mut st = Stats::new();
                st.record("getData", elapsed);
                report.fill(&st, elapsed);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    report
        .extra
        .insert("attempts".into(), serde_json::json!(attempts));
}
