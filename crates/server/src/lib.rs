//! The tokio edge of zkserver: the only crate that names tokio, a clock or a socket.
//!
//! `run(config)` recovers the store, builds a `NodeCore`, starts the store thread, the
//! driver task and the client listener, and serves until the process ends.
//!
//! Code map:
//! - `config`  — zoo.toml / zoo.cfg parsing and defaults.
//! - `conn`    — one task per client connection (framing, decoding, backpressure).
//! - `driver`  — the task that owns the `NodeCore` and routes its outputs.
//! - `persist` — the store thread: group commit, snapshots, purge.
//! - `fourlw`  — four-letter-word texts; `stats` fills them from the node.

pub mod config;
pub mod conn;
pub mod driver;
pub mod fourlw;
pub mod inspect;
pub mod metrics;
pub mod peer;
pub mod persist;
pub mod stats;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use config::Config;

/// Facts about this server that the four-letter words print.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub config: Config,
    pub started_ms: i64,
    pub client_port: u16,
    /// Shared with the accept loop and the connection tasks (`mntr`).
    pub client_counters: Arc<metrics::ClientCounters>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("store: {0}")]
    Store(String),
    #[error("cannot listen on {addr}: {err}")]
    Listen { addr: String, err: std::io::Error },
    #[error("{0}")]
    Unsupported(String),
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs a member until the process is killed.
pub fn run(config: Config) -> Result<(), ServerError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("zkserver")
        .build()
        .map_err(ServerError::Runtime)?;
    rt.block_on(serve(config))
}

/// Per-IP connection counting for `maxClientCnxns`.
#[derive(Default)]
struct IpCounts(Mutex<HashMap<IpAddr, usize>>);

impl IpCounts {
    fn try_acquire(&self, ip: IpAddr, max: usize) -> bool {
        let mut m = self.0.lock();
        let n = m.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return false;
        }
        *n += 1;
        true
    }
    fn release(&self, ip: IpAddr) {
        let mut m = self.0.lock();
        if let Some(n) = m.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

/// Binds this member's election and quorum ports and starts both transports (the wiring
/// plan in `peer/mod.rs`, steps 1–2).
async fn start_peers(config: &Config, tick: Duration) -> Result<driver::Peers, ServerError> {
    use peer::election::{ElectionParams, ElectionPeer, ElectionTransport};
    use peer::quorum::{QuorumParams, QuorumTransport};
    use std::collections::BTreeMap;

    let Some(me) = config.my_server() else {
        return Err(ServerError::Unsupported("no server.N line for myid".into()));
    };
    let my_id = zab::ServerId(me.id);
    let host = if config.quorum_listen_on_all_ips {
        "0.0.0.0".to_string()
    } else {
        me.host.clone()
    };
    let bind = |port: u16| {
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        async move {
            TcpListener::bind(&addr)
                .await
                .map_err(|err| ServerError::Listen { addr, err })
        }
    };
    let election_listener = bind(me.election_port).await?;
    let quorum_listener = bind(me.quorum_port).await?;
    let ctx = Arc::new(peer::wire::WireContext::new(my_id, &config.servers, 0));
    let addr = |h: &str, p: u16| {
        if h.contains(':') {
            format!("[{h}]:{p}")
        } else {
            format!("{h}:{p}")
        }
    };
    let others: Vec<&config::ServerSpec> =
        config.servers.iter().filter(|s| s.id != me.id).collect();
    let mut peers = BTreeMap::new();
    let mut quorum_addrs = HashMap::new();
    for s in &others {
        peers.insert(
            zab::ServerId(s.id),
            ElectionPeer {
                addr: addr(&s.host, s.election_port),
                voter: s.role == config::PeerRole::Participant,
            },
        );
        quorum_addrs.insert(zab::ServerId(s.id), addr(&s.host, s.quorum_port));
    }
    let (election_tx, election_rx) = mpsc::channel(1024);
    let election = ElectionTransport::start(
        election_listener,
        ctx.clone(),
        ElectionParams {
            my_addr: addr(&me.host, me.election_port),
            peers,
            connect_timeout: Duration::from_millis(config.cnx_timeout_ms.max(1)),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(2000),
        },
        election_tx,
    )
    .map_err(ServerError::Runtime)?;
    let (quorum_tx, quorum_rx) = mpsc::channel(8192);
    let init_limit = config.init_limit.unwrap_or(10);
    let quorum = QuorumTransport::start(
        quorum_listener,
        ctx,
        others.iter().map(|s| zab::ServerId(s.id)).collect(),
        QuorumParams::from_limits(tick, init_limit, config.jute_max_buffer),
        quorum_tx,
    );
    tracing::info!(
        myid = me.id,
        election = me.election_port,
        quorum = me.quorum_port,
        "peer ports bound"
    );
    Ok(driver::Peers {
        election,
        quorum,
        election_rx,
        quorum_rx,
        quorum_addrs,
        sync_timeout: tick.saturating_mul(config.sync_limit.unwrap_or(5).max(1)),
        conns: HashMap::new(),
        lost: Vec::new(),
        role: zab::Role::Looking,
        role_since_ms: driver::now_ms(),
    })
}

pub async fn serve(config: Config) -> Result<(), ServerError> {
    if config.is_quorum() && config.my_server().is_none() {
        return Err(ServerError::Unsupported(format!(
            "quorum mode: myid {:?} has no server.N line",
            config.my_id
        )));
    }
    // Recover before listening: a server that refuses to start never accepts a client.
    let (events_tx, events_rx) = mpsc::channel(8192);
    let (node, persister) = persist::start(&config, events_tx.clone())
        .map_err(|e| ServerError::Store(e.to_string()))?;
    let addr = config.client_addr();
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|err| ServerError::Listen {
            addr: addr.to_string(),
            err,
        })?;
    let local = listener.local_addr().map_err(ServerError::Runtime)?;
    tracing::info!("serving clients on {local}");
    let client_counters = Arc::new(metrics::ClientCounters::default());
    let info = ServerInfo {
        config: config.clone(),
        started_ms: driver::now_ms(),
        client_port: local.port(),
        client_counters: client_counters.clone(),
    };
    let tick = Duration::from_millis(config.tick_time_ms.max(1) as u64);
    let peers = if config.is_quorum() {
        Some(start_peers(&config, tick).await?)
    } else {
        None
    };
    let driver = driver::Driver {
        node,
        conns: HashMap::new(),
        persister,
        info,
        store_failed: None,
        quorum_times: metrics::QuorumTimes::starting(driver::now_ms()),
        peers,
        wire: metrics::WireStats::default(),
        unrecoverable_errors: 0,
    };
    // The node and zab are ticked ZAB_TICKS_PER_TICK times per tickTime, so election
    // timers (finalize wait, re-sends) work in tickTime/10 steps as ZooKeeper's 200 ms
    // election timers do; persist.rs scales initLimit/syncLimit to match.
    tokio::spawn(driver.run(events_rx, tick / persist::ZAB_TICKS_PER_TICK as u32));

    let next_conn = Arc::new(AtomicU64::new(1));
    let ip_counts = Arc::new(IpCounts::default());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServerError::Runtime)?;
    loop {
        // Every acknowledged write is already durable, so stopping needs no flush: SIGTERM
        // (docker stop) and SIGINT just end the process cleanly.
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = terminate.recv() => {
                tracing::info!("SIGTERM: shutting down");
                return Ok(());
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("SIGINT: shutting down");
                return Ok(());
            }
        };
        let (stream, remote): (_, SocketAddr) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !ip_counts.try_acquire(remote.ip(), config.max_client_cnxns) {
            tracing::warn!(%remote, "too many connections from this address (maxClientCnxns={})", config.max_client_cnxns);
            metrics::ClientCounters::add(&client_counters.rejected, 1);
            drop(stream);
            continue;
        }
        let conn = next_conn.fetch_add(1, Ordering::Relaxed);
        let events = events_tx.clone();
        let counts = ip_counts.clone();
        let params = conn::ConnParams {
            max_buffer: config.jute_max_buffer,
            inflight_max: 1000,
            counters: client_counters.clone(),
        };
        tokio::spawn(async move {
            conn::serve(conn, stream, remote, events, params).await;
            counts.release(remote.ip());
        });
    }
}
