//! Four-letter words: the command table, the whitelist rule, and the exact text of every
//! reply, as Apache ZooKeeper prints them (protocol fact sheet §8; captures from 3.8.0 in
//! `testdata/fourlw/`).
//!
//! This module owns formatting only: no IO, no clock, no server state. The server gathers
//! the facts into the input structs below ([`ServerStats`], [`ConnInfo`], [`MntrStats`],
//! [`ConfFacts`], [`EnvFacts`], [`DumpFacts`], …) and calls one function per command.
//!
//! Order of checks for a command (ZooKeeper's): [`lookup`] the first four bytes of a fresh
//! connection (plus 8 more for `stmk`, see [`FourLetter::extra_bytes`]); if it is not in the
//! whitelist reply [`not_whitelisted`]; if the server is not serving and the command needs
//! it, reply [`NOT_SERVING`] (or `null` for `isro`). [`precheck`] does both. The reply is
//! written as plain text and the connection closed.
//!
//! Scripts depend on these texts: `zkServer.sh status` greps `Mode:` in `srvr`, zktop parses
//! `stat` (see [`stat`]), monitoring agents parse `mntr` by key.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::config::{Config, PeerRole};

/// The ZooKeeper release whose client-visible behaviour we follow; it leads the version
/// string so version-sniffing tools take the right branch.
pub const ZK_COMPAT_VERSION: &str = "3.9.3";

/// ZooKeeper's default trace mask (what `gtmk` prints before any `stmk`).
pub const DEFAULT_TRACE_MASK: i64 = 306;

/// Reply of most commands while the server is not serving (e.g. during an election).
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// `crst` reply.
pub const CRST_REPLY: &str = "Connection stats reset.\n";
/// `srst` reply.
pub const SRST_REPLY: &str = "Server stats reset.\n";

/// A four-letter command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FourLetter {
    Conf,
    Cons,
    Crst,
    Dirs,
    Dump,
    Envi,
    Gtmk,
    Hash,
    Isro,
    Mntr,
    Ruok,
    Srst,
    Srvr,
    Stat,
    Stmk,
    Wchc,
    Wchp,
    Wchs,
    /// Telnet's "interrupt process" (IAC IP IAC DO `0xfff4fffd`): when whitelisted, close
    /// the connection with no output.
    TelnetClose,
}

impl FourLetter {
    /// Every command; what a `*` whitelist enables.
    pub const ALL: [FourLetter; 19] = [
        FourLetter::Conf,
        FourLetter::Cons,
        FourLetter::Crst,
        FourLetter::Dirs,
        FourLetter::Dump,
        FourLetter::Envi,
        FourLetter::Gtmk,
        FourLetter::Hash,
        FourLetter::Isro,
        FourLetter::Mntr,
        FourLetter::Ruok,
        FourLetter::Srst,
        FourLetter::Srvr,
        FourLetter::Stat,
        FourLetter::Stmk,
        FourLetter::Wchc,
        FourLetter::Wchp,
        FourLetter::Wchs,
        FourLetter::TelnetClose,
    ];

    /// The first four bytes on the wire.
    pub fn code(self) -> [u8; 4] {
        match self {
            FourLetter::TelnetClose => [0xff, 0xf4, 0xff, 0xfd],
            other => {
                let b = other.name().as_bytes();
                [b[0], b[1], b[2], b[3]]
            }
        }
    }

    /// The name used in the whitelist and in the not-whitelisted reply.
    pub fn name(self) -> &'static str {
        match self {
            FourLetter::Conf => "conf",
            FourLetter::Cons => "cons",
            FourLetter::Crst => "crst",
            FourLetter::Dirs => "dirs",
            FourLetter::Dump => "dump",
            FourLetter::Envi => "envi",
            FourLetter::Gtmk => "gtmk",
            FourLetter::Hash => "hash",
            FourLetter::Isro => "isro",
            FourLetter::Mntr => "mntr",
            FourLetter::Ruok => "ruok",
            FourLetter::Srst => "srst",
            FourLetter::Srvr => "srvr",
            FourLetter::Stat => "stat",
            FourLetter::Stmk => "stmk",
            FourLetter::Wchc => "wchc",
            FourLetter::Wchp => "wchp",
            FourLetter::Wchs => "wchs",
            FourLetter::TelnetClose => "telnet close",
        }
    }

    /// Inverse of [`FourLetter::name`].
    pub fn from_name(name: &str) -> Option<FourLetter> {
        FourLetter::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Bytes to read after the first four: `stmk` carries a big-endian i64 trace mask.
    pub fn extra_bytes(self) -> usize {
        match self {
            FourLetter::Stmk => 8,
            _ => 0,
        }
    }

    /// Whether the command runs while the server is not serving (ZooKeeper: ruok, envi,
    /// gtmk, stmk; `isro` answers `null`, see [`precheck`]).
    pub fn runs_when_not_serving(self) -> bool {
        matches!(
            self,
            FourLetter::Ruok
                | FourLetter::Envi
                | FourLetter::Gtmk
                | FourLetter::Stmk
                | FourLetter::TelnetClose
        )
    }
}

/// Looks up the first four bytes of a connection that has not sent its handshake. `None`
/// means "a frame length": the caller goes on with the ZooKeeper protocol.
pub fn lookup(first4: [u8; 4]) -> Option<FourLetter> {
    FourLetter::ALL.into_iter().find(|c| c.code() == first4)
}

/// Whether `cmd` may run under `whitelist`. Telnet close is whitelisted like the others
/// (only `*` enables it); refused, it prints `telnet close is not executed …` (captured).
pub fn allowed(cmd: FourLetter, whitelist: &BTreeSet<FourLetter>) -> bool {
    whitelist.contains(&cmd)
}

/// Reply to a command that is not whitelisted.
pub fn not_whitelisted(cmd: FourLetter) -> String {
    format!(
        "{} is not executed because it is not in the whitelist.\n",
        cmd.name()
    )
}

/// The reply that replaces the command's own output, if any: not whitelisted, or not
/// serving (`null` for `isro`). `None`: run the command.
pub fn precheck(
    cmd: FourLetter,
    whitelist: &BTreeSet<FourLetter>,
    serving: bool,
) -> Option<String> {
    if !allowed(cmd, whitelist) {
        return Some(not_whitelisted(cmd));
    }
    if serving || cmd.runs_when_not_serving() {
        return None;
    }
    if cmd == FourLetter::Isro {
        return Some("null".to_string());
    }
    Some(NOT_SERVING.to_string())
}

/// The version string in ZooKeeper's shape
/// `{major}.{minor}.{micro}[-{qualifier}]-{git sha}, built on {yyyy-MM-dd HH:mm} UTC`:
/// `3.9.3-zkserver-<crate version>, built on <date> UTC`. The build date comes from the
/// `ZKSERVER_BUILD_DATE` environment variable at compile time (a build script may set it).
pub fn version_string() -> String {
    format!(
        "{ZK_COMPAT_VERSION}-zkserver-{}, built on {} UTC",
        env!("CARGO_PKG_VERSION"),
        option_env!("ZKSERVER_BUILD_DATE").unwrap_or("1970-01-01 00:00")
    )
}

// ---------------------------------------------------------------------------------------------
// Java-compatible value formatting

/// A double as Java's `Double.toString` prints it: `0.0`, `1.1198`, `1.0E7`, `NaN`.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = x.abs();
    if (1e-3..1e7).contains(&a) {
        // Rust prints the shortest round-tripping digits, like Java 19+.
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{x:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
        let mant = if mant.contains('.') {
            mant.to_string()
        } else {
            format!("{mant}.0")
        };
        format!("{mant}E{exp}")
    }
}

/// ZooKeeper prints average latencies (and summaries' averages) rounded to 4 decimals.
pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `Long.toHexString`: lower case, no padding, two's complement for negatives.
fn hex(v: i64) -> String {
    format!("{:x}", v as u64)
}

/// A socket address as Java's `InetSocketAddress.toString()` prints a numeric address:
/// `/127.0.0.1:2181`, `/0:0:0:0:0:0:0:1:2181` (IPv6 unbracketed and uncompressed; IPv4-mapped
/// addresses print as IPv4, as Java converts them).
pub fn java_socket_addr(addr: &SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
    };
    format!("/{ip}:{}", addr.port())
}

/// Java's `Date.toString()` in UTC: `Sun Nov 22 01:08:58 UTC 2026`.
pub fn java_date_utc(epoch_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        year
    )
}

/// The `lop=` abbreviation of a ZooKeeper opcode, as ZooKeeper records the last operation
/// of a connection. Unknown opcodes print as `NA` (also the value before any request).
pub fn last_op_name(opcode: i32) -> &'static str {
    match opcode {
        1 | 15 | 19 | 21 => "CREA",
        2 | 20 => "DELE",
        3 => "EXIS",
        4 => "GETD",
        5 => "SETD",
        6 => "GETA",
        7 => "SETA",
        8 | 12 => "GETC",
        9 => "SYNC",
        11 => "PING",
        13 => "CHEC",
        14 => "MULT",
        16 => "RECO",
        17 => "CHKW",
        18 => "REMW",
        22 => "MLTR",
        101 => "SETW",
        103 => "GETE",
        104 => "GETACN",
        105 => "STW2",
        106 => "ADDW",
        107 => "HOMI",
        -10 => "SESS",
        -11 => "CLOS",
        _ => "NA",
    }
}

// ---------------------------------------------------------------------------------------------
// srvr / stat / cons

/// What the server is, as `Mode:` and `zk_server_state` print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMode {
    Standalone,
    Leader,
    Follower,
    Observer,
    ReadOnly,
}

impl ServerMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerMode::Standalone => "standalone",
            ServerMode::Leader => "leader",
            ServerMode::Follower => "follower",
            ServerMode::Observer => "observer",
            ServerMode::ReadOnly => "read-only",
        }
    }
}

/// Request latency in ms since the last `srst`: min/max integers, avg a double.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub min: i64,
    pub avg: f64,
    pub max: i64,
}

/// Leader's proposal sizes in bytes; -1 each when no proposal was made yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalSizes {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

impl ProposalSizes {
    pub const NONE: ProposalSizes = ProposalSizes {
        last: -1,
        min: -1,
        max: -1,
    };
}

impl Default for ProposalSizes {
    fn default() -> Self {
        ProposalSizes::NONE
    }
}

/// The facts `srvr` and `stat` print.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerStats {
    /// [`version_string`] in production.
    pub version: String,
    pub latency: Latency,
    pub packets_received: u64,
    pub packets_sent: u64,
    /// Open client connections, including the one asking (ZooKeeper counts it).
    pub num_alive_connections: u64,
    pub outstanding_requests: u64,
    /// Last processed zxid.
    pub zxid: i64,
    pub mode: ServerMode,
    pub node_count: u64,
    /// Printed only when `mode` is `Leader`.
    pub proposal_sizes: ProposalSizes,
}

/// One client connection as `stat`/`cons` print it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// Java's NIO interest set: 0 before/while not reading, 1 reading, 4/5 with writes
    /// pending. Printed in hex; zktop expects decimal digits, which 0..=9 satisfy.
    pub interest_ops: u32,
    /// Requests received and not yet answered.
    pub queued: u64,
    /// Packets received / sent on this connection since the last `crst`.
    pub recved: u64,
    pub sent: u64,
    /// Present once the connection has a session (session id ≠ 0).
    pub session: Option<ConnSession>,
}

/// Session part of a `cons` line.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnSession {
    pub session_id: i64,
    /// [`last_op_name`] of the last request, `NA` initially.
    pub last_op: String,
    /// When the connection was established, ms since the epoch.
    pub established_ms: i64,
    /// Negotiated session timeout, ms.
    pub timeout_ms: i64,
    /// Last cxid; negative (after `crst`) means "not printed".
    pub last_cxid: i64,
    pub last_zxid: i64,
    /// ms since the epoch of the last response (ZooKeeper prints its monotonic ms clock here).
    pub last_response_ms: i64,
    pub last_latency_ms: i64,
    pub min_latency_ms: i64,
    pub avg_latency_ms: i64,
    pub max_latency_ms: i64,
}

/// `/127.0.0.1:56464[1](queued=0,recved=4,sent=4` — the shared prefix, without `)`.
fn conn_prefix(out: &mut String, c: &ConnInfo) {
    let _ = write!(
        out,
        "{}[{:x}](queued={},recved={},sent={}",
        java_socket_addr(&c.remote),
        c.interest_ops,
        c.queued,
        c.recved,
        c.sent
    );
}

/// The body of `srvr`/`stat` after the version (and `stat`'s client list).
fn stats_body(out: &mut String, s: &ServerStats) {
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{}\nMode: {}\nNode count: {}\n",
        s.latency.min,
        java_double(round4(s.latency.avg)),
        s.latency.max,
        s.packets_received,
        s.packets_sent,
        s.num_alive_connections,
        s.outstanding_requests,
        hex(s.zxid),
        s.mode.as_str(),
        s.node_count
    );
    if s.mode == ServerMode::Leader {
        let p = s.proposal_sizes;
        let _ = writeln!(
            out,
            "Proposal sizes last/min/max: {}/{}/{}",
            p.last, p.min, p.max
        );
    }
}

fn version_lines(out: &mut String, s: &ServerStats) {
    let _ = writeln!(out, "Zookeeper version: {}", s.version);
    if s.mode == ServerMode::ReadOnly {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
}

/// `srvr`.
pub fn srvr(s: &ServerStats) -> String {
    let mut out = String::new();
    version_lines(&mut out, s);
    stats_body(&mut out, s);
    out
}

/// `stat`: like `srvr` with the client list after the version line.
///
/// zktop (Debian `zktop`) parses this: line 1 must match `.*: (\d+\.\d+\.\d+)-.*` (hence the
/// `3.9.3-…` version), line 2 is skipped, then one client per line until an empty line,
/// each matching `/([\da-fA-F:\.]+):(\d+)\[(\d+)\]\((.*)\)` with `k=v` pairs split on `,`
/// (so Java's unbracketed IPv6 and decimal-looking interest ops), then every remaining line
/// must contain exactly one `:` (`Latency min/avg/max: a/b/c`, `Zxid: 0x…`, `Node count: n`
/// — it reads mode, node_count, zxid, outstanding, received, sent and the latencies).
pub fn stat(s: &ServerStats, conns: &[ConnInfo]) -> String {
    let mut out = String::new();
    version_lines(&mut out, s);
    out.push_str("Clients:\n");
    for c in conns {
        out.push(' ');
        conn_prefix(&mut out, c);
        out.push_str(")\n");
    }
    out.push('\n');
    stats_body(&mut out, s);
    out
}

/// `cons`: one line per connection with its session details, then an empty line.
pub fn cons(conns: &[ConnInfo]) -> String {
    let mut out = String::new();
    for c in conns {
        out.push(' ');
        conn_prefix(&mut out, c);
        if let Some(s) = c.session.as_ref().filter(|s| s.session_id != 0) {
            let _ = write!(
                out,
                ",sid=0x{},lop={},est={},to={}",
                hex(s.session_id),
                s.last_op,
                s.established_ms,
                s.timeout_ms
            );
            if s.last_cxid >= 0 {
                let _ = write!(out, ",lcxid=0x{}", hex(s.last_cxid));
            }
            let _ = write!(
                out,
                ",lzxid=0x{},lresp={},llat={},minlat={},avglat={},maxlat={}",
                hex(s.last_zxid),
                s.last_response_ms,
                s.last_latency_ms,
                s.min_latency_ms,
                s.avg_latency_ms,
                s.max_latency_ms
            );
        }
        out.push_str(")\n");
    }
    out.push('\n');
    out
}

// ---------------------------------------------------------------------------------------------
// conf / envi / dirs

/// Quorum-only part of `conf`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuorumConf {
    pub init_limit: u32,
    pub sync_limit: u32,
    pub election_alg: u32,
    pub election_port: u16,
    pub quorum_port: u16,
    pub peer_type: PeerRole,
    /// The dynamic-config text: `server.N=…` lines each ending in `\n`, then
    /// `version={hex}` without a newline.
    pub membership: String,
}

/// The facts `conf` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfFacts {
    pub client_port: u16,
    /// -1: no TLS port.
    pub secure_client_port: i32,
    /// The snapshot directory (`dataDir/version-2`).
    pub data_dir: String,
    pub data_dir_size: u64,
    /// The txn log directory (`dataLogDir/version-2`).
    pub data_log_dir: String,
    pub data_log_size: u64,
    pub tick_time_ms: u32,
    pub max_client_cnxns: usize,
    pub min_session_timeout_ms: u32,
    pub max_session_timeout_ms: u32,
    pub client_port_listen_backlog: i32,
    /// 0 in standalone mode.
    pub server_id: u64,
    pub quorum: Option<QuorumConf>,
}

impl ConfFacts {
    /// Fills the facts from the config; `client_port` is the port actually bound, the sizes
    /// are the bytes in the two directories, `config_version` the dynamic config version
    /// (0 for a static config).
    pub fn from_config(
        c: &Config,
        client_port: u16,
        data_dir_size: u64,
        data_log_size: u64,
        config_version: i64,
    ) -> ConfFacts {
        let quorum = if c.is_quorum() {
            let me = c.my_server();
            let mut membership = String::new();
            for s in &c.servers {
                membership.push_str(&s.to_config_line());
                membership.push('\n');
            }
            let _ = write!(membership, "version={}", hex(config_version));
            Some(QuorumConf {
                init_limit: c.init_limit.unwrap_or(0),
                sync_limit: c.sync_limit.unwrap_or(0),
                election_alg: c.election_alg,
                election_port: me.map_or(0, |s| s.election_port),
                quorum_port: me.map_or(0, |s| s.quorum_port),
                peer_type: c.peer_type,
                membership,
            })
        } else {
            None
        };
        ConfFacts {
            client_port,
            secure_client_port: -1,
            data_dir: c.snap_dir().display().to_string(),
            data_dir_size,
            data_log_dir: c.txn_log_dir().display().to_string(),
            data_log_size,
            tick_time_ms: c.tick_time_ms,
            max_client_cnxns: c.max_client_cnxns,
            min_session_timeout_ms: c.min_session_timeout_ms,
            max_session_timeout_ms: c.max_session_timeout_ms,
            client_port_listen_backlog: c.client_port_listen_backlog,
            server_id: if quorum.is_some() {
                c.my_id.unwrap_or(0)
            } else {
                0
            },
            quorum,
        }
    }
}

/// `conf`.
pub fn conf(f: &ConfFacts) -> String {
    let mut out = format!(
        "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog={}\nserverId={}\n",
        f.client_port,
        f.secure_client_port,
        f.data_dir,
        f.data_dir_size,
        f.data_log_dir,
        f.data_log_size,
        f.tick_time_ms,
        f.max_client_cnxns,
        f.min_session_timeout_ms,
        f.max_session_timeout_ms,
        f.client_port_listen_backlog,
        f.server_id
    );
    if let Some(q) = &f.quorum {
        let _ = write!(
            out,
            "initLimit={}\nsyncLimit={}\nelectionAlg={}\nelectionPort={}\nquorumPort={}\npeerType={}\nmembership: \n{}",
            q.init_limit,
            q.sync_limit,
            q.election_alg,
            q.election_port,
            q.quorum_port,
            q.peer_type.conf_code(),
            q.membership
        );
    }
    out
}

/// Java's "no value" marker in `envi`.
pub const NA: &str = "<NA>";

/// The facts `envi` prints, in ZooKeeper's key order. We are not a JVM: the `java.*` values
/// are whatever the server chooses to report (e.g. [`NA`]); the keys stay for scripts.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvFacts {
    pub zookeeper_version: String,
    pub host_name: String,
    pub java_version: String,
    pub java_vendor: String,
    pub java_home: String,
    pub java_class_path: String,
    pub java_library_path: String,
    pub java_io_tmpdir: String,
    pub java_compiler: String,
    pub os_name: String,
    pub os_arch: String,
    pub os_version: String,
    pub user_name: String,
    pub user_home: String,
    pub user_dir: String,
    /// Memory in MiB (`os.memory.*` as 3.8 names them).
    pub memory_free_mb: u64,
    pub memory_max_mb: u64,
    pub memory_total_mb: u64,
}

/// `envi`.
pub fn envi(e: &EnvFacts) -> String {
    let mut out = String::from("Environment:\n");
    let pairs: [(&str, &str); 15] = [
        ("zookeeper.version", &e.zookeeper_version),
        ("host.name", &e.host_name),
        ("java.version", &e.java_version),
        ("java.vendor", &e.java_vendor),
        ("java.home", &e.java_home),
        ("java.class.path", &e.java_class_path),
        ("java.library.path", &e.java_library_path),
        ("java.io.tmpdir", &e.java_io_tmpdir),
        ("java.compiler", &e.java_compiler),
        ("os.name", &e.os_name),
        ("os.arch", &e.os_arch),
        ("os.version", &e.os_version),
        ("user.name", &e.user_name),
        ("user.home", &e.user_home),
        ("user.dir", &e.user_dir),
    ];
    for (k, v) in pairs {
        let _ = writeln!(out, "{k}={v}");
    }
    let _ = write!(
        out,
        "os.memory.free={}MB\nos.memory.max={}MB\nos.memory.total={}MB\n",
        e.memory_free_mb, e.memory_max_mb, e.memory_total_mb
    );
    out
}

/// `dirs`: bytes in the snapshot and txn log directories.
pub fn dirs(datadir_size: u64, logdir_size: u64) -> String {
    format!("datadir_size: {datadir_size}\nlogdir_size: {logdir_size}\n")
}

// ---------------------------------------------------------------------------------------------
// wchs / wchc / wchp / dump / hash / small ones

/// `ruok`.
pub fn ruok() -> &'static str {
    "imok"
}

/// `isro` on a serving server.
pub fn isro(read_only: bool) -> &'static str {
    if read_only {
        "ro"
    } else {
        "rw"
    }
}

/// `gtmk`: the trace mask, decimal, no newline.
pub fn gtmk(mask: i64) -> String {
    mask.to_string()
}

/// `stmk`: sets the mask (caller) and echoes it like `gtmk`.
pub fn stmk(new_mask: i64) -> String {
    new_mask.to_string()
}

/// `crst`.
pub fn crst() -> &'static str {
    CRST_REPLY
}

/// `srst`.
pub fn srst() -> &'static str {
    SRST_REPLY
}

/// Counts `wchs` prints. ZooKeeper counts the data/exist (and persistent) watch table only;
/// child watches are not included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchSummary {
    /// Sessions with at least one watch.
    pub connections: usize,
    pub paths: usize,
    pub total_watches: usize,
}

/// `wchs`.
pub fn wchs(w: &WatchSummary) -> String {
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        w.connections, w.paths, w.total_watches
    )
}

/// `wchc`: per session its watched paths (data table), in the order given.
pub fn wchc(by_session: &[(i64, Vec<String>)]) -> String {
    let mut out = String::new();
    for (sid, paths) in by_session {
        let _ = writeln!(out, "0x{}", hex(*sid));
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push('\n');
    out
}

/// `wchp`: per path its watching sessions (data table), in the order given.
pub fn wchp(by_path: &[(String, Vec<i64>)]) -> String {
    let mut out = String::new();
    for (path, sids) in by_path {
        let _ = writeln!(out, "{path}");
        for sid in sids {
            let _ = writeln!(out, "\t0x{}", hex(*sid));
        }
    }
    out.push('\n');
    out
}

/// One expiry bucket: everything in it expires at `expire_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryBucket<T> {
    pub expire_at_ms: i64,
    pub items: Vec<T>,
}

/// The facts `dump` prints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DumpFacts {
    /// Session expiry buckets (empty buckets are printed too), sessions by id.
    pub session_buckets: Vec<ExpiryBucket<i64>>,
    /// Sessions owning ephemerals, with their paths.
    pub ephemerals: Vec<(i64, Vec<String>)>,
    /// Connection expiry buckets (remote, session id; 0 before the handshake). `None` prints
    /// only the `Connections dump:` header, as ZooKeeper's Netty factory does.
    pub connection_buckets: Option<Vec<ExpiryBucket<(SocketAddr, i64)>>>,
}

/// `dump`. Dates print as Java's `Date.toString()` in UTC.
pub fn dump(d: &DumpFacts) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    let total: usize = d.session_buckets.iter().map(|b| b.items.len()).sum();
    let _ = writeln!(
        out,
        "Session Sets ({})/({}):",
        d.session_buckets.len(),
        total
    );
    for b in &d.session_buckets {
        let _ = writeln!(
            out,
            "{} expire at {}:",
            b.items.len(),
            java_date_utc(b.expire_at_ms)
        );
        for sid in &b.items {
            let _ = writeln!(out, "\t0x{}", hex(*sid));
        }
    }
    let _ = writeln!(
        out,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        d.ephemerals.len()
    );
    for (sid, paths) in &d.ephemerals {
        let _ = writeln!(out, "0x{}:", hex(*sid));
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push_str("Connections dump:\n");
    if let Some(buckets) = &d.connection_buckets {
        let total: usize = buckets.iter().map(|b| b.items.len()).sum();
        let _ = writeln!(out, "Connections Sets ({})/({}):", buckets.len(), total);
        for b in buckets {
            let _ = writeln!(
                out,
                "{} expire at {}:",
                b.items.len(),
                java_date_utc(b.expire_at_ms)
            );
            for (addr, sid) in &b.items {
                let _ = writeln!(
                    out,
                    "\tip: {} sessionId: 0x{}",
                    java_socket_addr(addr),
                    hex(*sid)
                );
            }
        }
    }
    out
}

/// `hash`: the digest log, `{hex zxid}: {digest}` per entry.
pub fn hash(entries: &[(i64, i64)]) -> String {
    let mut out = String::new();
    for (zxid, digest) in entries {
        let _ = writeln!(out, "{}: {digest}", hex(*zxid));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// mntr

/// A `mntr` value: integers print plainly, doubles Java-style.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Int(i64),
    Double(f64),
    Text(String),
}

impl MetricValue {
    fn render(&self) -> String {
        match self {
            MetricValue::Int(i) => i.to_string(),
            MetricValue::Double(d) => java_double(*d),
            MetricValue::Text(t) => t.clone(),
        }
    }
}

/// Leader-only `mntr` facts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeaderMntr {
    /// Connected learners (followers and observers); 3.4's `zk_followers`.
    pub learners: u64,
    pub synced_followers: u64,
    pub pending_syncs: u64,
    pub proposal_sizes: ProposalSizes,
}

/// The facts `mntr` prints. The typed fields are the keys old scrapers expect, emitted first
/// in ZooKeeper 3.4's fixed order; `others` follow in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct MntrStats {
    pub version: String,
    pub server_state: ServerMode,
    /// Quorum only: `leading - broadcast`, `following - broadcast`, `looking`, …
    pub peer_state: Option<String>,
    /// Observers only.
    pub observer_master_id: Option<i64>,
    pub latency: Latency,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub num_alive_connections: u64,
    pub outstanding_requests: u64,
    pub znode_count: u64,
    /// Data + child watches.
    pub watch_count: u64,
    pub ephemerals_count: u64,
    pub approximate_data_size: u64,
    /// Unix only; `None` leaves the key out.
    pub open_file_descriptor_count: Option<u64>,
    pub max_file_descriptor_count: Option<u64>,
    pub fsync_threshold_exceed_count: u64,
    pub leader: Option<LeaderMntr>,
    /// Every other metric, keys without the `zk_` prefix (e.g. `uptime`, `global_sessions`,
    /// `avg_fsynctime`). Keys that repeat a typed field are skipped.
    pub others: Vec<(String, MetricValue)>,
}

/// `mntr`: `zk_{key}\t{value}\n` lines.
pub fn mntr(m: &MntrStats) -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: String| lines.push((format!("zk_{k}"), v));
    push("version", m.version.clone());
    push("avg_latency", java_double(round4(m.latency.avg)));
    push("max_latency", m.latency.max.to_string());
    push("min_latency", m.latency.min.to_string());
    push("packets_received", m.packets_received.to_string());
    push("packets_sent", m.packets_sent.to_string());
    push("num_alive_connections", m.num_alive_connections.to_string());
    push("outstanding_requests", m.outstanding_requests.to_string());
    push("server_state", m.server_state.as_str().to_string());
    push("znode_count", m.znode_count.to_string());
    push("watch_count", m.watch_count.to_string());
    push("ephemerals_count", m.ephemerals_count.to_string());
    push("approximate_data_size", m.approximate_data_size.to_string());
    if let Some(n) = m.open_file_descriptor_count {
        push("open_file_descriptor_count", n.to_string());
    }
    if let Some(n) = m.max_file_descriptor_count {
        push("max_file_descriptor_count", n.to_string());
    }
    push(
        "fsync_threshold_exceed_count",
        m.fsync_threshold_exceed_count.to_string(),
    );
    if let Some(l) = &m.leader {
        push("followers", l.learners.to_string());
        push("synced_followers", l.synced_followers.to_string());
        push("pending_syncs", l.pending_syncs.to_string());
        push("last_proposal_size", l.proposal_sizes.last.to_string());
        push("max_proposal_size", l.proposal_sizes.max.to_string());
        push("min_proposal_size", l.proposal_sizes.min.to_string());
    }
    if let Some(p) = &m.peer_state {
        push("peer_state", p.clone());
    }
    if let Some(id) = m.observer_master_id {
        push("observer_master_id", id.to_string());
    }
    let mut seen: BTreeSet<String> = lines.iter().map(|(k, _)| k.clone()).collect();
    for (k, v) in &m.others {
        let key = format!("zk_{k}");
        if seen.insert(key.clone()) {
            lines.push((key, v.render()));
        }
    }
    let mut out = String::new();
    for (k, v) in lines {
        let _ = writeln!(out, "{k}\t{v}");
    }
    out
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const V38: &str = "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC";

    fn capture(name: &str) -> String {
        let path = format!("{}/testdata/fourlw/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Line-by-line comparison so a failure names the first differing line.
    fn same(ours: &str, captured: &str) {
        let a: Vec<&str> = ours.split('\n').collect();
        let b: Vec<&str> = captured.split('\n').collect();
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x, y, "line {} differs", i + 1);
        }
        assert_eq!(
            a.len(),
            b.len(),
            "line count differs:\n{ours}\n---\n{captured}"
        );
        assert_eq!(ours, captured);
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn stats(mode: ServerMode) -> ServerStats {
        ServerStats {
            version: V38.into(),
            latency: Latency::default(),
            packets_received: 0,
            packets_sent: 0,
            num_alive_connections: 0,
            outstanding_requests: 0,
            zxid: 0,
            mode,
            node_count: 0,
            proposal_sizes: ProposalSizes::NONE,
        }
    }

    fn conn(remote: &str, ops: u32, recved: u64, sent: u64) -> ConnInfo {
        ConnInfo {
            remote: addr(remote),
            interest_ops: ops,
            queued: 0,
            recved,
            sent,
            session: None,
        }
    }

    #[test]
    fn lookup_table() {
        assert_eq!(lookup(*b"ruok"), Some(FourLetter::Ruok));
        assert_eq!(0x72756f6b_u32.to_be_bytes(), *b"ruok");
        for c in FourLetter::ALL {
            assert_eq!(lookup(c.code()), Some(c));
            assert_eq!(FourLetter::from_name(c.name()), Some(c));
        }
        assert_eq!(
            lookup([0xff, 0xf4, 0xff, 0xfd]),
            Some(FourLetter::TelnetClose)
        );
        assert_eq!(lookup([0, 0, 0, 45]), None);
        assert_eq!(lookup(*b"RUOK"), None);
        assert_eq!(lookup(*b"abcd"), None);
        assert_eq!(FourLetter::Stmk.extra_bytes(), 8);
        assert_eq!(FourLetter::Stat.extra_bytes(), 0);
    }

    #[test]
    fn whitelist_and_not_serving_rules() {
        let wl = BTreeSet::from([FourLetter::Srvr, FourLetter::Conf, FourLetter::Isro]);
        assert!(allowed(FourLetter::Srvr, &wl));
        assert!(!allowed(FourLetter::Ruok, &wl));
        assert!(!allowed(FourLetter::TelnetClose, &wl));
        assert_eq!(
            precheck(FourLetter::TelnetClose, &wl, true).as_deref(),
            Some(capture("not_whitelisted_telnet_close.txt").as_str())
        );
        assert_eq!(
            precheck(FourLetter::Ruok, &wl, true).as_deref(),
            Some(capture("not_whitelisted_ruok.txt").as_str())
        );
        // Whitelist is checked before serving.
        assert_eq!(
            precheck(FourLetter::Ruok, &wl, false),
            Some(not_whitelisted(FourLetter::Ruok))
        );
        assert_eq!(precheck(FourLetter::Srvr, &wl, true), None);
        let all: BTreeSet<_> = FourLetter::ALL.into_iter().collect();
        // Captured from a 3.8.0 member stuck in election with whitelist `*`.
        for (c, file) in [
            (FourLetter::Srvr, "not_serving_srvr.txt"),
            (FourLetter::Stat, "not_serving_stat.txt"),
            (FourLetter::Mntr, "not_serving_mntr.txt"),
            (FourLetter::Conf, "not_serving_conf.txt"),
            (FourLetter::Cons, "not_serving_cons.txt"),
            (FourLetter::Crst, "not_serving_crst.txt"),
            (FourLetter::Isro, "not_serving_isro.txt"),
        ] {
            assert_eq!(
                precheck(c, &all, false).as_deref(),
                Some(capture(file).as_str()),
                "{c:?}"
            );
        }
        for c in [
            FourLetter::Dirs,
            FourLetter::Wchs,
            FourLetter::Wchc,
            FourLetter::Wchp,
            FourLetter::Dump,
            FourLetter::Srst,
            FourLetter::Hash,
        ] {
            assert_eq!(precheck(c, &all, false).as_deref(), Some(NOT_SERVING));
        }
        for c in [
            FourLetter::Ruok,
            FourLetter::Envi,
            FourLetter::Gtmk,
            FourLetter::Stmk,
        ] {
            assert_eq!(precheck(c, &all, false), None, "{c:?}");
        }
        assert_eq!(ruok(), capture("not_serving_ruok.txt"));
        assert_eq!(gtmk(306), capture("not_serving_gtmk.txt"));
        assert_eq!(stmk(16), capture("not_serving_stmk.txt"));
    }

    #[test]
    fn small_commands_match_captures() {
        assert_eq!(ruok(), capture("ruok.txt"));
        assert_eq!(isro(false), capture("isro.txt"));
        assert_eq!(isro(true), "ro");
        assert_eq!(gtmk(DEFAULT_TRACE_MASK), capture("gtmk.txt"));
        assert_eq!(stmk(306), capture("stmk.txt"));
        assert_eq!(crst(), capture("crst.txt"));
        assert_eq!(srst(), capture("srst.txt"));
        assert_eq!(hash(&[]), capture("hash.txt"));
        assert_eq!(
            hash(&[(0x100000002, -7), (0x1f, 42)]),
            "100000002: -7\n1f: 42\n"
        );
        same(&dirs(67109337, 67109337), &capture("dirs.txt"));
    }

    #[test]
    fn java_double_formatting() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(2.5294), "2.5294");
        assert_eq!(java_double(round4(1.11983)), "1.1198");
        assert_eq!(java_double(round4(9.0)), "9.0");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(1.5e-4), "1.5E-4");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(12345678.9), "1.23456789E7");
        assert_eq!(java_double(9999999.0), "9999999.0");
        assert_eq!(java_double(-3.25), "-3.25");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_double(f64::INFINITY), "Infinity");
    }

    #[test]
    fn java_addresses_and_dates() {
        assert_eq!(
            java_socket_addr(&addr("127.0.0.1:56464")),
            "/127.0.0.1:56464"
        );
        assert_eq!(
            java_socket_addr(&addr("[::1]:2181")),
            "/0:0:0:0:0:0:0:1:2181"
        );
        assert_eq!(
            java_socket_addr(&addr("[fe80::a:bc]:1")),
            "/fe80:0:0:0:0:0:a:bc:1"
        );
        assert_eq!(
            java_socket_addr(&addr("[::ffff:10.0.0.1]:5")),
            "/10.0.0.1:5"
        );
        assert_eq!(java_date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(
            java_date_utc(1_795_309_738_000),
            "Sun Nov 22 01:08:58 UTC 2026"
        );
        assert_eq!(
            java_date_utc(951_782_400_000),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
        assert_eq!(java_date_utc(-1000), "Wed Dec 31 23:59:59 UTC 1969");
    }

    #[test]
    fn last_op_codes() {
        assert_eq!(last_op_name(11), "PING");
        assert_eq!(last_op_name(-10), "SESS");
        assert_eq!(last_op_name(-11), "CLOS");
        assert_eq!(last_op_name(15), "CREA");
        assert_eq!(last_op_name(12), "GETC");
        assert_eq!(last_op_name(104), "GETACN");
        assert_eq!(last_op_name(999), "NA");
    }

    #[test]
    fn version_string_shape_for_zktop_and_scripts() {
        let v = version_string();
        assert!(v.starts_with("3.9.3-zkserver-"), "{v}");
        assert!(v.ends_with(" UTC"), "{v}");
        let (head, built) = v.split_once(", built on ").unwrap();
        assert_eq!(head.split('-').next(), Some("3.9.3"));
        let date = built.trim_end_matches(" UTC");
        let b = date.as_bytes();
        assert_eq!(b.len(), 16, "{date}");
        assert_eq!((b[4], b[7], b[10], b[13]), (b'-', b'-', b' ', b':'));
    }

    #[test]
    fn srvr_standalone_matches_capture() {
        let mut s = stats(ServerMode::Standalone);
        s.latency = Latency {
            min: 0,
            avg: 2.52941176,
            max: 15,
        };
        s.packets_received = 21;
        s.packets_sent = 22;
        s.num_alive_connections = 3;
        s.zxid = 7;
        s.node_count = 9;
        same(&srvr(&s), &capture("srvr.txt"));

        let mut s = stats(ServerMode::Standalone);
        s.packets_received = 4;
        s.packets_sent = 4;
        s.num_alive_connections = 3;
        s.zxid = 7;
        s.node_count = 9;
        same(&srvr(&s), &capture("srvr_after_srst.txt"));
    }

    #[test]
    fn srvr_quorum_matches_capture() {
        let mut s = stats(ServerMode::Leader);
        s.latency = Latency {
            min: 1,
            avg: 9.0,
            max: 18,
        };
        s.packets_received = 7;
        s.packets_sent = 6;
        s.num_alive_connections = 2;
        s.zxid = 0x100000004;
        s.node_count = 7;
        s.proposal_sizes = ProposalSizes {
            last: 69,
            min: 48,
            max: 91,
        };
        same(&srvr(&s), &capture("leader_srvr.txt"));

        let mut s = stats(ServerMode::Follower);
        s.packets_received = 2;
        s.packets_sent = 1;
        s.num_alive_connections = 1;
        s.zxid = 0x100000004;
        s.node_count = 7;
        s.proposal_sizes = ProposalSizes {
            last: 1,
            min: 1,
            max: 1,
        }; // not printed for followers
        same(&srvr(&s), &capture("follower_srvr.txt"));

        let s = stats(ServerMode::ReadOnly);
        let text = srvr(&s);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(format!("Zookeeper version: {V38}").as_str())
        );
        assert_eq!(
            lines.next(),
            Some("READ-ONLY mode; serving only read-only clients")
        );
        assert!(text.contains("\nMode: read-only\n"));
    }

    #[test]
    fn stat_matches_capture() {
        let mut s = stats(ServerMode::Standalone);
        s.latency = Latency {
            min: 0,
            avg: 2.263157,
            max: 15,
        };
        s.packets_received = 24;
        s.packets_sent = 25;
        s.num_alive_connections = 3;
        s.zxid = 7;
        s.node_count = 9;
        let conns = [
            conn("127.0.0.1:38796", 0, 1, 0),
            conn("127.0.0.1:58720", 1, 12, 13),
            conn("127.0.0.1:58736", 1, 7, 8),
        ];
        same(&stat(&s, &conns), &capture("stat.txt"));

        let mut s = stats(ServerMode::Leader);
        s.latency = Latency {
            min: 0,
            avg: 4.7,
            max: 18,
        };
        s.packets_received = 16;
        s.packets_sent = 17;
        s.num_alive_connections = 2;
        s.zxid = 0x100000004;
        s.node_count = 7;
        s.proposal_sizes = ProposalSizes {
            last: 69,
            min: 48,
            max: 91,
        };
        let conns = [
            conn("127.0.0.1:38930", 0, 1, 0),
            conn("127.0.0.1:54048", 1, 10, 10),
        ];
        same(&stat(&s, &conns), &capture("leader_stat.txt"));
    }

    /// Runs the same parsing steps as zktop's `ZKServer.__init__` over our `stat` output.
    #[test]
    fn stat_satisfies_zktop_parser() {
        let mut s = stats(ServerMode::Leader);
        s.version = version_string();
        let mut c6 = conn("[::1]:40000", 5, 3, 4);
        c6.queued = 2;
        let text = stat(&s, &[conn("10.1.2.3:5000", 1, 1, 1), c6]);
        let mut lines = text.lines();
        // Line 1: `.*: (\d+\.\d+\.\d+)-.*`
        let first = lines.next().unwrap();
        let (_, ver) = first.rsplit_once(": ").unwrap();
        let (num, _) = ver.split_once('-').unwrap();
        assert_eq!(num.split('.').count(), 3);
        assert!(num.split('.').all(|p| p.parse::<u32>().is_ok()));
        assert_eq!(lines.next(), Some("Clients:"));
        let mut sessions = 0;
        for line in lines.by_ref() {
            if line.trim().is_empty() {
                break;
            }
            // `/([\da-fA-F:\.]+):(\d+)\[(\d+)\]\((.*)\)`
            let l = line.trim();
            let rest = l.strip_prefix('/').unwrap();
            let (hostport, tail) = rest.split_once('[').unwrap();
            let (host, port) = hostport.rsplit_once(':').unwrap();
            assert!(host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.'));
            assert!(port.parse::<u16>().is_ok());
            let (ops, tail) = tail.split_once("](").unwrap();
            assert!(ops.chars().all(|c| c.is_ascii_digit()));
            let kv = tail.strip_suffix(')').unwrap();
            for pair in kv.split(',') {
                assert_eq!(pair.split('=').count(), 2, "{pair}");
            }
            sessions += 1;
        }
        assert_eq!(sessions, 2);
        let mut attrs = BTreeMap::new();
        for line in lines {
            let parts: Vec<&str> = line.split(':').collect();
            assert_eq!(parts.len(), 2, "zktop unpacks exactly two fields: {line}");
            let key = parts[0].trim().replace([' ', '/'], "_").to_lowercase();
            attrs.insert(key, parts[1].trim().to_string());
        }
        for k in [
            "latency_min_avg_max",
            "received",
            "sent",
            "outstanding",
            "zxid",
            "mode",
            "node_count",
        ] {
            assert!(attrs.contains_key(k), "{k} missing: {attrs:?}");
        }
        assert_eq!(attrs["latency_min_avg_max"].split('/').count(), 3);
        assert!(i64::from_str_radix(attrs["zxid"].trim_start_matches("0x"), 16).is_ok());
        assert!(attrs["node_count"].parse::<u64>().is_ok());
    }

    fn session(
        sid: i64,
        est: i64,
        to: i64,
        lcxid: i64,
        lresp: i64,
        lat: (i64, i64, i64),
    ) -> ConnSession {
        ConnSession {
            session_id: sid,
            last_op: "PING".into(),
            established_ms: est,
            timeout_ms: to,
            last_cxid: lcxid,
            last_zxid: 7,
            last_response_ms: lresp,
            last_latency_ms: 0,
            min_latency_ms: lat.0,
            avg_latency_ms: lat.1,
            max_latency_ms: lat.2,
        }
    }

    #[test]
    fn cons_matches_capture() {
        let mut a = conn("127.0.0.1:58720", 1, 13, 14);
        a.session = Some(session(
            0x10000051e220000,
            1795309697615,
            10000,
            7,
            361676,
            (0, 3, 15),
        ));
        let mut b = conn("127.0.0.1:58736", 1, 7, 8);
        b.session = Some(session(
            0x10000051e220001,
            1795309697642,
            20000,
            4,
            358751,
            (0, 0, 1),
        ));
        let me = conn("127.0.0.1:51336", 0, 1, 0);
        same(&cons(&[me, a, b]), &capture("cons.txt"));

        // After crst: counters reset, lcxid (-1) is left out.
        let mut a = conn("127.0.0.1:58720", 1, 2, 2);
        a.session = Some(session(
            0x10000051e220000,
            1795309697615,
            10000,
            -1,
            405302,
            (0, 0, 0),
        ));
        let mut b = conn("127.0.0.1:58736", 1, 1, 1);
        b.session = Some(session(
            0x10000051e220001,
            1795309697642,
            20000,
            -1,
            404246,
            (0, 0, 0),
        ));
        let me = conn("127.0.0.1:41614", 0, 1, 0);
        same(&cons(&[a, b, me]), &capture("cons_after_crst.txt"));
        // A session id of 0 prints like no session.
        let mut z = conn("127.0.0.1:1", 0, 0, 0);
        z.session = Some(session(0, 0, 0, 0, 0, (0, 0, 0)));
        assert_eq!(cons(&[z]), " /127.0.0.1:1[0](queued=0,recved=0,sent=0)\n\n");
    }

    #[test]
    fn conf_standalone_matches_capture() {
        let (c, _) = crate::config::parse_zoo_cfg(
            "tickTime=2000\ndataDir=/tmp/zkcap/data\nclientPort=23950\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n",
            std::path::Path::new("/"),
        )
        .unwrap();
        let f = ConfFacts::from_config(&c, 23950, 67109337, 67109337, 0);
        same(&conf(&f), &capture("conf.txt"));
    }

    fn quorum_config(my_id: u64, observer: bool) -> Config {
        let mut c = Config::with_defaults(2000, format!("/tmp/zkq/{my_id}/data").into());
        c.init_limit = Some(10);
        c.sync_limit = Some(5);
        c.servers = vec![
            crate::config::ServerSpec::parse(1, "127.0.0.1:23961:23971;23951").unwrap(),
            crate::config::ServerSpec::parse(2, "127.0.0.1:23962:23972;23952").unwrap(),
            crate::config::ServerSpec::parse(3, "127.0.0.1:23963:23973:observer;23953").unwrap(),
        ];
        c.my_id = Some(my_id);
        if observer {
            c.peer_type = PeerRole::Observer;
        }
        c
    }

    #[test]
    fn conf_quorum_matches_capture() {
        let f = ConfFacts::from_config(&quorum_config(2, false), 23952, 67109516, 67109516, 0);
        same(&conf(&f), &capture("leader_conf.txt"));
        let f = ConfFacts::from_config(&quorum_config(3, true), 23953, 67109516, 67109516, 0);
        same(&conf(&f), &capture("observer_conf.txt"));
    }

    #[test]
    fn envi_matches_capture() {
        let e = EnvFacts {
            zookeeper_version: V38.into(),
            host_name: "localhost".into(),
            java_version: "17.0.15".into(),
            java_vendor: "Debian".into(),
            java_home: "/usr/lib/jvm/java-17-openjdk-amd64".into(),
            java_class_path: "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar".into(),
            java_library_path: "/usr/java/packages/lib:/usr/lib/x86_64-linux-gnu/jni:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/usr/lib/jni:/lib:/usr/lib".into(),
            java_io_tmpdir: "/tmp".into(),
            java_compiler: NA.into(),
            os_name: "Linux".into(),
            os_arch: "amd64".into(),
            os_version: "6.18.44-fc-v657".into(),
            user_name: "root".into(),
            user_home: "/root".into(),
            user_dir: "/tmp/zkcap".into(),
            memory_free_mb: 378,
            memory_max_mb: 6028,
            memory_total_mb: 388,
        };
        same(&envi(&e), &capture("envi.txt"));
    }

    #[test]
    fn watches_match_capture() {
        let w = WatchSummary {
            connections: 2,
            paths: 2,
            total_watches: 3,
        };
        same(&wchs(&w), &capture("wchs.txt"));
        let a = 0x10000051e220000;
        let b = 0x10000051e220001;
        same(
            &wchc(&[
                (a, vec!["/app".into()]),
                (b, vec!["/missing".into(), "/app".into()]),
            ]),
            &capture("wchc.txt"),
        );
        same(
            &wchp(&[("/missing".into(), vec![b]), ("/app".into(), vec![b, a])]),
            &capture("wchp.txt"),
        );
        assert_eq!(wchc(&[]), "\n");
    }

    #[test]
    fn dump_matches_capture() {
        let a = 0x10000051e220000;
        let b = 0x10000051e220001;
        let at = |s: i64| ExpiryBucket {
            expire_at_ms: s * 1000,
            items: Vec::new(),
        };
        let mut buckets = vec![
            at(1795309738),
            at(1795309740),
            at(1795309744),
            at(1795309746),
            at(1795309752),
        ];
        buckets[3].items.push(a);
        buckets[4].items.push(b);
        let mut c1 = ExpiryBucket {
            expire_at_ms: 1795309742 * 1000,
            items: Vec::new(),
        };
        let c2 = ExpiryBucket {
            expire_at_ms: 1795309752 * 1000,
            items: vec![
                (addr("127.0.0.1:58720"), a),
                (addr("127.0.0.1:58736"), b),
                (addr("127.0.0.1:35182"), 0),
            ],
        };
        c1.items.clear();
        let d = DumpFacts {
            session_buckets: buckets,
            ephemerals: vec![
                (b, vec!["/beph".into()]),
                (a, vec!["/app/eph1".into(), "/app/eph2".into()]),
            ],
            connection_buckets: Some(vec![c1, c2]),
        };
        same(&dump(&d), &capture("dump.txt"));
        let empty = dump(&DumpFacts::default());
        assert_eq!(
            empty,
            "SessionTracker dump:\nSession Sets (0)/(0):\nephemeral nodes dump:\nSessions with Ephemerals (0):\nConnections dump:\n"
        );
    }

    /// Builds MntrStats from a captured `mntr`, formats it, and checks that every captured
    /// line comes back byte-identical (values re-rendered through our number formatting),
    /// that the legacy 3.4 keys lead in their fixed order, and that nothing else is added
    /// except the two legacy keys 3.8 dropped.
    fn mntr_roundtrip(file: &str) {
        let text = capture(file);
        let mut map = BTreeMap::new();
        let mut order = Vec::new();
        for line in text.lines() {
            let (k, v) = line.split_once('\t').unwrap();
            map.insert(k.to_string(), v.to_string());
            order.push(k.to_string());
        }
        let int = |k: &str| map[k].parse::<u64>().unwrap();
        let mode = match map["zk_server_state"].as_str() {
            "standalone" => ServerMode::Standalone,
            "leader" => ServerMode::Leader,
            "follower" => ServerMode::Follower,
            "observer" => ServerMode::Observer,
            other => panic!("{other}"),
        };
        let leader = (mode == ServerMode::Leader).then(|| LeaderMntr {
            learners: int("zk_learners"),
            synced_followers: int("zk_synced_followers"),
            pending_syncs: int("zk_pending_syncs"),
            proposal_sizes: ProposalSizes {
                last: int("zk_last_proposal_size") as i64,
                min: int("zk_min_proposal_size") as i64,
                max: int("zk_max_proposal_size") as i64,
            },
        });
        let others = order
            .iter()
            .map(|k| {
                let v = &map[k];
                let val = if let Ok(i) = v.parse::<i64>() {
                    MetricValue::Int(i)
                } else if let Ok(d) = v.parse::<f64>() {
                    MetricValue::Double(d)
                } else {
                    MetricValue::Text(v.clone())
                };
                (k.trim_start_matches("zk_").to_string(), val)
            })
            .collect();
        let m = MntrStats {
            version: map["zk_version"].clone(),
            server_state: mode,
            peer_state: map.get("zk_peer_state").cloned(),
            observer_master_id: map.get("zk_observer_master_id").map(|v| v.parse().unwrap()),
            latency: Latency {
                min: int("zk_min_latency") as i64,
                avg: map["zk_avg_latency"].parse().unwrap(),
                max: int("zk_max_latency") as i64,
            },
            packets_received: int("zk_packets_received"),
            packets_sent: int("zk_packets_sent"),
            num_alive_connections: int("zk_num_alive_connections"),
            outstanding_requests: int("zk_outstanding_requests"),
            znode_count: int("zk_znode_count"),
            watch_count: int("zk_watch_count"),
            ephemerals_count: int("zk_ephemerals_count"),
            approximate_data_size: int("zk_approximate_data_size"),
            open_file_descriptor_count: Some(int("zk_open_file_descriptor_count")),
            max_file_descriptor_count: Some(int("zk_max_file_descriptor_count")),
            fsync_threshold_exceed_count: 0,
            leader,
            others,
        };
        let ours = mntr(&m);
        let our_lines: Vec<&str> = ours.lines().collect();
        let mut theirs: BTreeSet<&str> = text.lines().collect();
        let mut extra = Vec::new();
        for l in &our_lines {
            if !theirs.remove(l) {
                extra.push(*l);
            }
        }
        assert!(theirs.is_empty(), "{file}: lines we lost: {theirs:?}");
        let mut allowed_extra = vec!["zk_fsync_threshold_exceed_count\t0".to_string()];
        if let Some(l) = &m.leader {
            allowed_extra.push(format!("zk_followers\t{}", l.learners));
        }
        assert_eq!(extra, allowed_extra, "{file}");
        let keys: Vec<&str> = our_lines
            .iter()
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        assert_eq!(
            &keys[..16],
            &[
                "zk_version",
                "zk_avg_latency",
                "zk_max_latency",
                "zk_min_latency",
                "zk_packets_received",
                "zk_packets_sent",
                "zk_num_alive_connections",
                "zk_outstanding_requests",
                "zk_server_state",
                "zk_znode_count",
                "zk_watch_count",
                "zk_ephemerals_count",
                "zk_approximate_data_size",
                "zk_open_file_descriptor_count",
                "zk_max_file_descriptor_count",
                "zk_fsync_threshold_exceed_count",
            ]
        );
        if m.leader.is_some() {
            assert_eq!(
                &keys[16..22],
                &[
                    "zk_followers",
                    "zk_synced_followers",
                    "zk_pending_syncs",
                    "zk_last_proposal_size",
                    "zk_max_proposal_size",
                    "zk_min_proposal_size",
                ]
            );
        }
        let unique: BTreeSet<&&str> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "duplicate keys");
    }

    #[test]
    fn mntr_matches_captures() {
        mntr_roundtrip("mntr.txt");
        mntr_roundtrip("leader_mntr.txt");
        mntr_roundtrip("follower_mntr.txt");
        mntr_roundtrip("observer_mntr.txt");
    }

    #[test]
    fn mntr_without_fd_counts_and_peer_state() {
        let m = MntrStats {
            version: "v".into(),
            server_state: ServerMode::Standalone,
            peer_state: None,
            observer_master_id: None,
            latency: Latency {
                min: 0,
                avg: 1.119_83,
                max: 3,
            },
            packets_received: 1,
            packets_sent: 2,
            num_alive_connections: 1,
            outstanding_requests: 0,
            znode_count: 5,
            watch_count: 0,
            ephemerals_count: 0,
            approximate_data_size: 27,
            open_file_descriptor_count: None,
            max_file_descriptor_count: None,
            fsync_threshold_exceed_count: 0,
            leader: None,
            others: vec![
                ("uptime".into(), MetricValue::Int(5)),
                ("znode_count".into(), MetricValue::Int(99)),
                ("avg_fsynctime".into(), MetricValue::Double(0.0)),
            ],
        };
        let out = mntr(&m);
        assert!(
            out.starts_with("zk_version\tv\nzk_avg_latency\t1.1198\n"),
            "{out}"
        );
        assert!(!out.contains("file_descriptor"));
        assert!(out.contains("zk_znode_count\t5\n") && !out.contains("\t99"));
        assert!(
            out.ends_with("zk_uptime\t5\nzk_avg_fsynctime\t0.0\n"),
            "{out}"
        );
    }
}
