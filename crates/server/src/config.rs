//! Server configuration: the [`Config`] a member runs with, its defaults, and the two file
//! formats it is read from.
//!
//! This module owns:
//! - the defaults (ZooKeeper's, so an unchanged deployment behaves the same);
//! - `zoo.toml`, our own format (snake_case keys, documented in `conf/zoo.toml`);
//! - an unchanged ZooKeeper `zoo.cfg` (Java properties syntax, `server.N=` lines, keys with or
//!   without the `zookeeper.` prefix);
//! - reading `dataDir/myid`;
//! - validation. A [`Config`] that leaves [`load`]/[`parse_zoo_cfg`]/[`parse_toml`] is
//!   consistent: min ≤ max session timeout, quorum members know their id and limits, the
//!   whitelist always holds `srvr`.
//!
//! Unknown keys are never fatal: they come back as warnings, like ZooKeeper, which logs
//! them and carries on. Everything else that is wrong is a [`ConfigError`] with a message
//! naming the key or line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::fourlw::FourLetter;

/// ZooKeeper's `clientPort` convention.
pub const DEFAULT_CLIENT_PORT: u16 = 2181;
/// `tickTime` when a zoo.cfg omits it (QuorumPeerConfig's default).
pub const ZOO_CFG_DEFAULT_TICK_MS: u32 = 3000;
/// `tick_time_ms` when a zoo.toml omits it (the value of ZooKeeper's sample config).
pub const TOML_DEFAULT_TICK_MS: u32 = 2000;
/// `jute.maxbuffer` default: the largest frame/znode payload accepted.
pub const DEFAULT_JUTE_MAX_BUFFER: usize = 0xfffff;
/// The name of the file holding this member's id, directly in `data_dir`.
pub const MYID_FILE: &str = "myid";

/// What a member does in the ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerRole {
    /// Votes in elections and in the commit quorum.
    Participant,
    /// Receives committed txns but never votes.
    Observer,
}

impl PeerRole {
    /// The word used in `server.N` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerRole::Participant => "participant",
            PeerRole::Observer => "observer",
        }
    }

    /// `peerType` as the `conf` four-letter word prints it (0 participant, 1 observer).
    pub fn conf_code(self) -> u8 {
        match self {
            PeerRole::Participant => 0,
            PeerRole::Observer => 1,
        }
    }
}

/// One ensemble member: a `server.N=host:quorumPort:electionPort[:role][;[clientHost:]clientPort]`
/// line, or a `[[servers]]` table in zoo.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: u64,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port followers use to connect to the leader.
    pub quorum_port: u16,
    /// Port used by leader election.
    pub election_port: u16,
    pub role: PeerRole,
    /// Client bind address from the `;host:port` part, if given.
    pub client_host: Option<String>,
    /// Client port from the `;[host:]port` part, if given.
    pub client_port: Option<u16>,
}

impl ServerSpec {
    /// Parses the value of a `server.N=` line (everything after `=`).
    pub fn parse(id: u64, value: &str) -> Result<ServerSpec, String> {
        let value = value.trim();
        let (server_part, client_part) = match value.split_once(';') {
            Some((s, c)) => (s.trim(), Some(c.trim())),
            None => (value, None),
        };
        if server_part.contains('|') {
            // multiAddress (several addresses per member) needs election protocol v2.
            return Err("multiple addresses joined with '|' are not supported".into());
        }
        let parts = split_host_ports(server_part)?;
        if parts.len() != 3 && parts.len() != 4 {
            return Err(format!(
                "'{value}' does not have the form host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]"
            ));
        }
        let host = parts[0].clone();
        if host.is_empty() {
            return Err(format!("'{value}': empty host"));
        }
        let quorum_port = parse_port(&parts[1]).map_err(|e| format!("quorum port: {e}"))?;
        let election_port = parse_port(&parts[2]).map_err(|e| format!("election port: {e}"))?;
        let role = match parts.get(3).map(|r| r.to_ascii_lowercase()) {
            None => PeerRole::Participant,
            Some(r) if r == "participant" => PeerRole::Participant,
            Some(r) if r == "observer" => PeerRole::Observer,
            Some(r) => {
                return Err(format!(
                    "unknown peer type '{r}' (expected participant or observer)"
                ))
            }
        };
        let (client_host, client_port) = match client_part {
            None => (None, None),
            Some(c) => {
                let cparts = split_host_ports(c)?;
                match cparts.as_slice() {
                    [port] => (
                        None,
                        Some(parse_port(port).map_err(|e| format!("client port: {e}"))?),
                    ),
                    [h, port] if !h.is_empty() => (
                        Some(h.clone()),
                        Some(parse_port(port).map_err(|e| format!("client port: {e}"))?),
                    ),
                    _ => return Err(format!("client address '{c}' must be port or host:port")),
                }
            }
        };
        Ok(ServerSpec {
            id,
            host,
            quorum_port,
            election_port,
            role,
            client_host,
            client_port,
        })
    }

    /// The line as ZooKeeper prints it in `conf`'s membership section
    /// (`server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181`).
    pub fn to_config_line(&self) -> String {
        let mut s = format!(
            "server.{}={}:{}:{}:{}",
            self.id,
            bracket_host(&self.host),
            self.quorum_port,
            self.election_port,
            self.role.as_str()
        );
        if let Some(port) = self.client_port {
            let host = self.client_host.as_deref().unwrap_or("0.0.0.0");
            s.push_str(&format!(";{}:{port}", bracket_host(host)));
        }
        s
    }
}

/// Everything a member needs to run. Field docs name the zoo.cfg key; the zoo.toml key is
/// the field name.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `tickTime`: the unit of the session and learner timeouts, in ms.
    pub tick_time_ms: u32,
    /// `initLimit`: ticks a follower may take to connect and sync to the leader.
    pub init_limit: Option<u32>,
    /// `syncLimit`: ticks a follower may lag (or be silent) before it is dropped.
    pub sync_limit: Option<u32>,
    /// `dataDir`: snapshots, epoch files (in `version-2/`) and `myid`. Absolute.
    pub data_dir: PathBuf,
    /// `dataLogDir`: txn logs (in `version-2/`); defaults to `data_dir`. Absolute.
    pub data_log_dir: PathBuf,
    /// `clientPort` (or the `;port` part of this member's server line).
    pub client_port: u16,
    /// `clientPortAddress`: host or IP to bind; all interfaces by default.
    pub client_port_address: String,
    /// `clientPortListenBacklog`: -1 = OS default.
    pub client_port_listen_backlog: i32,
    /// `maxClientCnxns`: per remote IP, 0 = unlimited.
    pub max_client_cnxns: usize,
    /// `minSessionTimeout` in ms (2 × tick by default).
    pub min_session_timeout_ms: u32,
    /// `maxSessionTimeout` in ms (20 × tick by default).
    pub max_session_timeout_ms: u32,
    /// `4lw.commands.whitelist`: the commands that run; `srvr` is always in it.
    pub four_letter_whitelist: BTreeSet<FourLetter>,
    /// `server.N` lines, sorted by id.
    pub servers: Vec<ServerSpec>,
    /// From `dataDir/myid` (or `my_id` in zoo.toml). Required in quorum mode.
    pub my_id: Option<u64>,
    /// `peerType` of this member (the server line's role wins when they differ).
    pub peer_type: PeerRole,
    /// `standaloneEnabled`: one voter and this set ⇒ standalone mode.
    pub standalone_enabled: bool,
    /// `electionAlg`: only 3 (fast leader election) exists.
    pub election_alg: u32,
    /// `connectToLearnerMasterLimit`: 0 ⇒ learners use `initLimit` to connect.
    pub connect_to_learner_master_limit: u32,
    /// `syncEnabled`: observers log txns to disk.
    pub sync_enabled: bool,
    /// `quorumListenOnAllIPs`: bind quorum/election ports on 0.0.0.0.
    pub quorum_listen_on_all_ips: bool,
    /// `localSessionsEnabled`.
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled`.
    pub local_sessions_upgrading_enabled: bool,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// `leaderServes`: the leader accepts client connections.
    pub leader_serves: bool,
    /// `autopurge.snapRetainCount` (minimum 3).
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval` in hours; 0 = never purge.
    pub autopurge_purge_interval_hours: u32,
    /// `snapCount`: txns between snapshots (randomised to half..full; minimum 2).
    pub snap_count: u64,
    /// `snapSizeLimitInKb`: also snapshot when the log grows past this; ≤ 0 disables.
    pub snap_size_limit_kb: i64,
    /// `preAllocSize`: txn log files grow in chunks of this many KiB.
    pub pre_alloc_size_kb: u64,
    /// `forceSync`: fsync the txn log before acknowledging. false is unsafe.
    pub force_sync: bool,
    /// `jute.maxbuffer`: largest accepted frame / znode data, in bytes.
    pub jute_max_buffer: usize,
    /// `extendedTypesEnabled`: containers are always on; this enables TTL nodes.
    pub extended_types_enabled: bool,
    /// `DigestAuthenticationProvider.superDigest` (`super:<base64 sha1>`).
    pub super_digest: Option<String>,
    /// `skipACL`: no ACL checks at all.
    pub skip_acl: bool,
    /// `znode.container.checkIntervalMs`.
    pub container_check_interval_ms: u64,
    /// `znode.container.maxPerMinute`: container deletions per minute.
    pub container_max_per_minute: u32,
    /// `readonlymode.enabled`: serve reads when out of quorum.
    pub readonlymode_enabled: bool,
    /// `globalOutstandingLimit`: requests in flight before the server stops reading sockets.
    pub global_outstanding_limit: usize,
    /// `maxCnxns`: total client connections, 0 = unlimited.
    pub max_cnxns: usize,
    /// `commitLogCount`: committed proposals kept in memory for DIFF syncs.
    pub commit_log_count: usize,
    /// `nio.sessionlessCnxnTimeout`: ms a connection may stay without a handshake.
    pub sessionless_cnxn_timeout_ms: u64,
    /// `cnxTimeout`: ms to open an election connection.
    pub cnx_timeout_ms: u64,
    /// `digest.enabled`: maintain the tree digest.
    pub digest_enabled: bool,
    /// `closeSessionTxn.enabled`: closeSession txns carry the ephemeral paths.
    pub close_session_txn_enabled: bool,
    /// `enforceQuota`: reject writes over quota instead of only logging.
    pub enforce_quota: bool,
    /// Log filter (tracing syntax), zoo.toml only; default "info".
    pub log_level: String,
}

/// A configuration that cannot be used. Messages name the key, line or file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("line {line}: {msg}")]
    Syntax { line: usize, msg: String },
    #[error("invalid zoo.toml: {0}")]
    Toml(String),
    #[error("{key}: {msg}")]
    BadValue { key: String, msg: String },
    #[error("{0}")]
    Invalid(String),
}

fn bad(key: &str, msg: impl fmt::Display) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_string(),
        msg: msg.to_string(),
    }
}

impl Config {
    /// ZooKeeper's defaults with the given tick and data directory (standalone, no servers).
    pub fn with_defaults(tick_time_ms: u32, data_dir: PathBuf) -> Config {
        Config {
            tick_time_ms,
            init_limit: None,
            sync_limit: None,
            data_log_dir: data_dir.clone(),
            data_dir,
            client_port: DEFAULT_CLIENT_PORT,
            client_port_address: "0.0.0.0".to_string(),
            client_port_listen_backlog: -1,
            max_client_cnxns: 60,
            min_session_timeout_ms: tick_time_ms.saturating_mul(2),
            max_session_timeout_ms: tick_time_ms.saturating_mul(20),
            four_letter_whitelist: BTreeSet::from([FourLetter::Srvr]),
            servers: Vec::new(),
            my_id: None,
            peer_type: PeerRole::Participant,
            standalone_enabled: true,
            election_alg: 3,
            connect_to_learner_master_limit: 0,
            sync_enabled: true,
            quorum_listen_on_all_ips: false,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            reconfig_enabled: false,
            leader_serves: true,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_hours: 0,
            snap_count: 100_000,
            snap_size_limit_kb: 4_194_304,
            pre_alloc_size_kb: 65_536,
            force_sync: true,
            jute_max_buffer: DEFAULT_JUTE_MAX_BUFFER,
            extended_types_enabled: false,
            super_digest: None,
            skip_acl: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            readonlymode_enabled: false,
            global_outstanding_limit: 1000,
            max_cnxns: 0,
            commit_log_count: 500,
            sessionless_cnxn_timeout_ms: 10_000,
            cnx_timeout_ms: 5000,
            digest_enabled: true,
            close_session_txn_enabled: true,
            enforce_quota: false,
            log_level: "info".to_string(),
        }
    }

    /// The configuration the binary uses without `--config`: standalone on port 2181, data in
    /// `./zkdata` under the current directory, tick 2000.
    pub fn default_standalone() -> Config {
        let data_dir = std::env::current_dir()
            .map(|d| d.join("zkdata"))
            .unwrap_or_else(|_| PathBuf::from("zkdata"));
        Config::with_defaults(TOML_DEFAULT_TICK_MS, data_dir)
    }

    /// `host:port` to bind the client listener to (IPv6 literals in brackets).
    pub fn client_addr(&self) -> String {
        format!(
            "{}:{}",
            bracket_host(&self.client_port_address),
            self.client_port
        )
    }

    /// What a quorum member stores in `/zookeeper/config`: ZooKeeper's QuorumMaj text, one
    /// `server.N=host:quorumPort:electionPort:participant|observer[;clientHost:clientPort]`
    /// line per member in id order (the client part only when the server line has one;
    /// `;port` alone binds the wildcard, `0.0.0.0`), then `version=0` (static config, no
    /// reconfig). `None` in standalone mode, where the node stays empty.
    pub fn dynamic_config_text(&self) -> Option<String> {
        if !self.is_quorum() {
            return None;
        }
        let host = |h: &str| {
            if h.contains(':') {
                format!("[{h}]")
            } else {
                h.to_string()
            }
        };
        let mut servers: Vec<&ServerSpec> = self.servers.iter().collect();
        servers.sort_by_key(|s| s.id);
        let mut out = String::new();
        for s in servers {
            let role = match s.role {
                PeerRole::Participant => "participant",
                PeerRole::Observer => "observer",
            };
            out.push_str(&format!(
                "server.{}={}:{}:{}:{role}",
                s.id,
                host(&s.host),
                s.quorum_port,
                s.election_port
            ));
            if let Some(port) = s.client_port {
                let client = s.client_host.as_deref().unwrap_or("0.0.0.0");
                out.push_str(&format!(";{}:{port}", host(client)));
            }
            out.push('\n');
        }
        out.push_str("version=0");
        Some(out)
    }

    /// The voting members.
    pub fn voters(&self) -> impl Iterator<Item = &ServerSpec> {
        self.servers
            .iter()
            .filter(|s| s.role == PeerRole::Participant)
    }

    /// True when this member runs the quorum protocol (more than one voter, or
    /// `standaloneEnabled=false` with server lines), as ZooKeeper decides.
    pub fn is_quorum(&self) -> bool {
        let voters = self.voters().count();
        voters > 1 || (!self.standalone_enabled && !self.servers.is_empty())
    }

    /// This member's server line, if it has one.
    pub fn my_server(&self) -> Option<&ServerSpec> {
        let id = self.my_id?;
        self.servers.iter().find(|s| s.id == id)
    }

    /// Where snapshots and epoch files live (`dataDir/version-2`).
    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join("version-2")
    }

    /// Where txn logs live (`dataLogDir/version-2`).
    pub fn txn_log_dir(&self) -> PathBuf {
        self.data_log_dir.join("version-2")
    }

    /// Session timeout the server grants for a requested one.
    pub fn negotiate_session_timeout(&self, requested_ms: i32) -> u32 {
        let req = u32::try_from(requested_ms).unwrap_or(0);
        req.clamp(self.min_session_timeout_ms, self.max_session_timeout_ms)
    }
}

// ---------------------------------------------------------------------------------------------
// Loading

/// The format of a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Our zoo.toml.
    Toml,
    /// ZooKeeper's zoo.cfg (Java properties).
    ZooCfg,
}

/// Decides the format from the extension (`.toml`, `.cfg`/`.properties`) or, failing that,
/// from the content: zoo.cfg files use ZooKeeper's camelCase keys or `server.N=` lines.
pub fn detect_format(path: &Path, text: &str) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => return Format::Toml,
        Some("cfg") | Some("properties") => return Format::ZooCfg,
        _ => {}
    }
    const CFG_KEYS: &[&str] = &[
        "tickTime",
        "dataDir",
        "dataLogDir",
        "clientPort",
        "initLimit",
        "syncLimit",
        "maxClientCnxns",
        "4lw.commands.whitelist",
    ];
    for line in text.lines() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') || l.starts_with('!') || l.starts_with('[') {
            continue;
        }
        let key = l
            .split(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .next()
            .unwrap_or("");
        if CFG_KEYS.contains(&key) || key.starts_with("server.") {
            return Format::ZooCfg;
        }
    }
    Format::Toml
}

/// Reads a configuration file in either format. Relative paths inside it are resolved
/// against the current directory, as ZooKeeper does. Returns the config and the warnings
/// (unknown keys, adjusted values) the caller should log.
pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    let base = std::env::current_dir().map_err(|err| ConfigError::Io {
        path: PathBuf::from("."),
        err,
    })?;
    match detect_format(path, &text) {
        Format::Toml => parse_toml(&text, &base),
        Format::ZooCfg => parse_zoo_cfg(&text, &base),
    }
}

/// Everything a file may set; `None` = not set. Both formats fill this, [`finish`] applies
/// defaults and validation, so the two formats cannot drift apart.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Raw {
    tick_time_ms: Option<u32>,
    init_limit: Option<u32>,
    sync_limit: Option<u32>,
    data_dir: Option<PathBuf>,
    data_log_dir: Option<PathBuf>,
    client_port: Option<u16>,
    client_port_address: Option<String>,
    client_port_listen_backlog: Option<i32>,
    max_client_cnxns: Option<usize>,
    min_session_timeout_ms: Option<i64>,
    max_session_timeout_ms: Option<i64>,
    four_letter_whitelist: Option<Whitelist>,
    servers: Option<Vec<TomlServer>>,
    my_id: Option<u64>,
    peer_type: Option<PeerRole>,
    standalone_enabled: Option<bool>,
    election_alg: Option<u32>,
    connect_to_learner_master_limit: Option<u32>,
    sync_enabled: Option<bool>,
    quorum_listen_on_all_ips: Option<bool>,
    local_sessions_enabled: Option<bool>,
    local_sessions_upgrading_enabled: Option<bool>,
    reconfig_enabled: Option<bool>,
    leader_serves: Option<bool>,
    autopurge_snap_retain_count: Option<u32>,
    autopurge_purge_interval_hours: Option<u32>,
    snap_count: Option<u64>,
    snap_size_limit_kb: Option<i64>,
    pre_alloc_size_kb: Option<u64>,
    force_sync: Option<bool>,
    jute_max_buffer: Option<usize>,
    extended_types_enabled: Option<bool>,
    super_digest: Option<String>,
    skip_acl: Option<bool>,
    container_check_interval_ms: Option<u64>,
    container_max_per_minute: Option<u32>,
    readonlymode_enabled: Option<bool>,
    global_outstanding_limit: Option<usize>,
    max_cnxns: Option<usize>,
    commit_log_count: Option<usize>,
    sessionless_cnxn_timeout_ms: Option<u64>,
    cnx_timeout_ms: Option<u64>,
    digest_enabled: Option<bool>,
    close_session_txn_enabled: Option<bool>,
    enforce_quota: Option<bool>,
    log_level: Option<String>,
    /// zoo.toml keys we do not know; reported as warnings.
    #[serde(flatten)]
    unknown: BTreeMap<String, toml::Value>,
}

/// `four_letter_whitelist = ["srvr", "ruok"]` or `"srvr, ruok"` or `"*"`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of command names such as [\"srvr\", \"ruok\"], or \"*\""
)]
enum Whitelist {
    List(Vec<String>),
    Text(String),
}

impl Whitelist {
    fn names(&self) -> Vec<String> {
        match self {
            Whitelist::List(v) => v.iter().map(|s| s.trim().to_string()).collect(),
            Whitelist::Text(s) => s.split(',').map(|s| s.trim().to_string()).collect(),
        }
    }
}

/// A `[[servers]]` entry of zoo.toml.
#[derive(Debug, Deserialize)]
struct TomlServer {
    id: u64,
    host: String,
    quorum_port: u16,
    election_port: u16,
    #[serde(default)]
    role: Option<PeerRole>,
    #[serde(default)]
    client_host: Option<String>,
    #[serde(default)]
    client_port: Option<u16>,
    #[serde(flatten)]
    unknown: BTreeMap<String, toml::Value>,
}

/// Parses our zoo.toml. Relative paths are resolved against `base_dir`; `myid` is read from
/// the data directory unless the file sets `my_id`.
pub fn parse_toml(text: &str, base_dir: &Path) -> Result<(Config, Vec<String>), ConfigError> {
    let mut raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
    let mut warnings = Vec::new();
    for key in std::mem::take(&mut raw.unknown).keys() {
        warnings.push(format!("unknown key '{key}' ignored"));
    }
    let mut servers = Vec::new();
    for s in raw.servers.take().unwrap_or_default() {
        for key in s.unknown.keys() {
            warnings.push(format!("servers id {}: unknown key '{key}' ignored", s.id));
        }
        servers.push(ServerSpec {
            id: s.id,
            host: s.host,
            quorum_port: s.quorum_port,
            election_port: s.election_port,
            role: s.role.unwrap_or(PeerRole::Participant),
            client_host: s.client_host,
            client_port: s.client_port,
        });
    }
    let defaults = Defaults {
        tick_time_ms: TOML_DEFAULT_TICK_MS,
        data_dir: Some(PathBuf::from("zkdata")),
        warn_default_port: false,
    };
    finish(raw, servers, defaults, base_dir, warnings)
}

/// Parses an unchanged ZooKeeper zoo.cfg. Relative paths are resolved against `base_dir`
/// (ZooKeeper uses its working directory); `myid` is read from `dataDir/myid`.
pub fn parse_zoo_cfg(text: &str, base_dir: &Path) -> Result<(Config, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    // Java's Properties keeps the last value of a repeated key.
    let mut props: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (line, key, value) in java_properties(text)? {
        if let Some((first, _)) = props.insert(key.clone(), (line, value)) {
            warnings.push(format!(
                "line {line}: '{key}' repeats line {first}; the last value wins"
            ));
        }
    }
    let mut raw = Raw::default();
    let mut servers = Vec::new();
    for (key, (line, value)) in &props {
        apply_cfg_key(
            &mut raw,
            &mut servers,
            key,
            value,
            *line,
            base_dir,
            &mut warnings,
        )
        .map_err(|e| match e {
            // Name the line for value errors, as the syntax errors do.
            ConfigError::BadValue { key, msg } if !msg.starts_with("line ") => {
                ConfigError::BadValue {
                    key,
                    msg: format!("line {line}: {msg}"),
                }
            }
            other => other,
        })?;
    }
    let defaults = Defaults {
        tick_time_ms: ZOO_CFG_DEFAULT_TICK_MS,
        data_dir: None,
        warn_default_port: true,
    };
    finish(raw, servers, defaults, base_dir, warnings)
}

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    v.parse::<T>()
        .map_err(|e| bad(key, format!("'{v}' is not a valid number ({e})")))
}

/// ZooKeeper reads booleans in several ways (`Boolean.parseBoolean`, "yes"/"no"); we accept
/// all spellings and reject anything else rather than silently reading it as false.
fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Ok(true),
        "false" | "no" | "off" => Ok(false),
        _ => Err(bad(
            key,
            format!("'{v}' is not a boolean (true/false/yes/no)"),
        )),
    }
}

/// `jute.maxbuffer` is often written in hex (`0xfffff`).
fn parse_size(key: &str, v: &str) -> Result<usize, ConfigError> {
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => usize::from_str_radix(hex, 16).ok(),
        None => v.parse::<usize>().ok(),
    };
    parsed.ok_or_else(|| bad(key, format!("'{v}' is not a valid size")))
}

/// Applies one zoo.cfg key. Keys that ZooKeeper turns into `zookeeper.*` system properties
/// are accepted with or without that prefix.
fn apply_cfg_key(
    raw: &mut Raw,
    servers: &mut Vec<ServerSpec>,
    key: &str,
    v: &str,
    line: usize,
    base_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if let Some(n) = key.strip_prefix("server.") {
        let id: u64 = n
            .parse()
            .map_err(|_| bad(key, format!("line {line}: '{n}' is not a server id")))?;
        let spec = ServerSpec::parse(id, v).map_err(|m| bad(key, format!("line {line}: {m}")))?;
        servers.push(spec);
        return Ok(());
    }
    let k = key.strip_prefix("zookeeper.").unwrap_or(key);
    match k {
        "tickTime" => raw.tick_time_ms = Some(parse_num(key, v)?),
        "initLimit" => raw.init_limit = Some(parse_num(key, v)?),
        "syncLimit" => raw.sync_limit = Some(parse_num(key, v)?),
        "dataDir" => raw.data_dir = Some(PathBuf::from(v)),
        "dataLogDir" => raw.data_log_dir = Some(PathBuf::from(v)),
        "clientPort" => raw.client_port = Some(parse_num(key, v)?),
        "clientPortAddress" => raw.client_port_address = Some(v.to_string()),
        "clientPortListenBacklog" => raw.client_port_listen_backlog = Some(parse_num(key, v)?),
        "maxClientCnxns" => raw.max_client_cnxns = Some(parse_num(key, v)?),
        "minSessionTimeout" => raw.min_session_timeout_ms = Some(parse_num(key, v)?),
        "maxSessionTimeout" => raw.max_session_timeout_ms = Some(parse_num(key, v)?),
        "4lw.commands.whitelist" => {
            raw.four_letter_whitelist = Some(Whitelist::Text(v.to_string()))
        }
        "peerType" => {
            raw.peer_type = Some(match v.to_ascii_lowercase().as_str() {
                "participant" => PeerRole::Participant,
                "observer" => PeerRole::Observer,
                _ => return Err(bad(key, format!("'{v}' is not participant or observer"))),
            })
        }
        "standaloneEnabled" => raw.standalone_enabled = Some(parse_bool(key, v)?),
        "electionAlg" => raw.election_alg = Some(parse_num(key, v)?),
        "connectToLearnerMasterLimit" => {
            raw.connect_to_learner_master_limit = Some(parse_num(key, v)?)
        }
        "syncEnabled" => raw.sync_enabled = Some(parse_bool(key, v)?),
        "quorumListenOnAllIPs" => raw.quorum_listen_on_all_ips = Some(parse_bool(key, v)?),
        "localSessionsEnabled" => raw.local_sessions_enabled = Some(parse_bool(key, v)?),
        "localSessionsUpgradingEnabled" => {
            raw.local_sessions_upgrading_enabled = Some(parse_bool(key, v)?)
        }
        "reconfigEnabled" => raw.reconfig_enabled = Some(parse_bool(key, v)?),
        "leaderServes" => raw.leader_serves = Some(parse_bool(key, v)?),
        "autopurge.snapRetainCount" => raw.autopurge_snap_retain_count = Some(parse_num(key, v)?),
        "autopurge.purgeInterval" => raw.autopurge_purge_interval_hours = Some(parse_num(key, v)?),
        "snapCount" => raw.snap_count = Some(parse_num(key, v)?),
        "snapSizeLimitInKb" => raw.snap_size_limit_kb = Some(parse_num(key, v)?),
        "preAllocSize" => raw.pre_alloc_size_kb = Some(parse_num(key, v)?),
        "forceSync" => raw.force_sync = Some(parse_bool(key, v)?),
        "jute.maxbuffer" => raw.jute_max_buffer = Some(parse_size(key, v)?),
        "extendedTypesEnabled" => raw.extended_types_enabled = Some(parse_bool(key, v)?),
        "DigestAuthenticationProvider.superDigest" => raw.super_digest = Some(v.to_string()),
        "skipACL" => raw.skip_acl = Some(parse_bool(key, v)?),
        "znode.container.checkIntervalMs" => {
            raw.container_check_interval_ms = Some(parse_num(key, v)?)
        }
        "znode.container.maxPerMinute" => raw.container_max_per_minute = Some(parse_num(key, v)?),
        "readonlymode.enabled" => raw.readonlymode_enabled = Some(parse_bool(key, v)?),
        "globalOutstandingLimit" => raw.global_outstanding_limit = Some(parse_num(key, v)?),
        "maxCnxns" => raw.max_cnxns = Some(parse_num(key, v)?),
        "commitLogCount" => raw.commit_log_count = Some(parse_num(key, v)?),
        "nio.sessionlessCnxnTimeout" => raw.sessionless_cnxn_timeout_ms = Some(parse_num(key, v)?),
        "cnxTimeout" => raw.cnx_timeout_ms = Some(parse_num(key, v)?),
        "digest.enabled" => raw.digest_enabled = Some(parse_bool(key, v)?),
        "closeSessionTxn.enabled" => raw.close_session_txn_enabled = Some(parse_bool(key, v)?),
        "enforceQuota" => raw.enforce_quota = Some(parse_bool(key, v)?),
        "dynamicConfigFile" => {
            // ZooKeeper 3.5+ may keep the server lines in a separate file; read them from
            // there (its `version=` line only matters to reconfig, which we do not do).
            let path = resolve(base_dir, Path::new(v));
            let text = std::fs::read_to_string(&path).map_err(|err| ConfigError::Io {
                path: path.clone(),
                err,
            })?;
            for (dline, dkey, dval) in java_properties(&text)? {
                if let Some(n) = dkey.strip_prefix("server.") {
                    let id: u64 = n.parse().map_err(|_| {
                        bad(&dkey, format!("{}:{dline}: bad server id", path.display()))
                    })?;
                    let spec = ServerSpec::parse(id, &dval)
                        .map_err(|m| bad(&dkey, format!("{}:{dline}: {m}", path.display())))?;
                    servers.push(spec);
                } else if dkey != "version" {
                    warnings.push(format!(
                        "{}:{dline}: '{dkey}' ignored in a dynamic config file",
                        path.display()
                    ));
                }
            }
        }
        // Java-only facilities: accepted so unchanged configs load, and deliberately ignored.
        _ if k.starts_with("admin.")
            || k.starts_with("metricsProvider.")
            || k.starts_with("jvm.pause.")
            || k == "serverCnxnFactory"
            || k == "audit.enable" => {}
        // Features we do not implement: the user expects them, so say so.
        _ if k.starts_with("secureClientPort")
            || k.starts_with("ssl")
            || k.starts_with("quorum.auth.")
            || k.starts_with("quorum.cnxn.")
            || k.starts_with("authProvider.")
            || k.starts_with("multiAddress.")
            || k == "portUnification"
            || k == "observerMasterPort"
            || k == "oraclePath"
            || k.starts_with("group.")
            || k.starts_with("weight.") =>
        {
            warnings.push(format!(
                "line {line}: '{key}' is not supported and is ignored"
            ))
        }
        _ => warnings.push(format!("line {line}: unknown key '{key}' ignored")),
    }
    Ok(())
}

/// Format-specific defaults.
struct Defaults {
    tick_time_ms: u32,
    /// `None`: the key is required (zoo.cfg's dataDir).
    data_dir: Option<PathBuf>,
    /// zoo.cfg: ZooKeeper would not listen for clients without a port, so say that we do.
    warn_default_port: bool,
}

fn resolve(base_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

/// Applies defaults, reads `myid`, and validates.
fn finish(
    raw: Raw,
    mut servers: Vec<ServerSpec>,
    defaults: Defaults,
    base_dir: &Path,
    mut warnings: Vec<String>,
) -> Result<(Config, Vec<String>), ConfigError> {
    let tick = raw.tick_time_ms.unwrap_or(defaults.tick_time_ms);
    if tick == 0 {
        return Err(bad("tickTime", "must be greater than 0"));
    }
    let data_dir = match raw.data_dir.or(defaults.data_dir) {
        Some(d) => resolve(base_dir, &d),
        None => return Err(ConfigError::Invalid("dataDir is not set".into())),
    };
    let mut c = Config::with_defaults(tick, data_dir);
    if let Some(d) = raw.data_log_dir {
        c.data_log_dir = resolve(base_dir, &d);
    }

    // Session timeouts: -1 (or absent) means "derive from tickTime", as in ZooKeeper.
    let timeout = |key: &str, v: Option<i64>, dflt: u32| -> Result<u32, ConfigError> {
        match v {
            None | Some(-1) => Ok(dflt),
            Some(ms) => u32::try_from(ms)
                .map_err(|_| bad(key, format!("{ms} is not a valid timeout in ms"))),
        }
    };
    c.min_session_timeout_ms = timeout(
        "minSessionTimeout",
        raw.min_session_timeout_ms,
        c.min_session_timeout_ms,
    )?;
    c.max_session_timeout_ms = timeout(
        "maxSessionTimeout",
        raw.max_session_timeout_ms,
        c.max_session_timeout_ms,
    )?;
    if c.min_session_timeout_ms > c.max_session_timeout_ms {
        return Err(ConfigError::Invalid(format!(
            "minSessionTimeout ({}) must not be larger than maxSessionTimeout ({})",
            c.min_session_timeout_ms, c.max_session_timeout_ms
        )));
    }

    macro_rules! set {
        ($($f:ident),* $(,)?) => { $( if let Some(v) = raw.$f { c.$f = v; } )* };
    }
    set!(
        client_port_listen_backlog,
        max_client_cnxns,
        standalone_enabled,
        election_alg,
        connect_to_learner_master_limit,
        sync_enabled,
        quorum_listen_on_all_ips,
        local_sessions_enabled,
        local_sessions_upgrading_enabled,
        reconfig_enabled,
        leader_serves,
        autopurge_purge_interval_hours,
        snap_size_limit_kb,
        pre_alloc_size_kb,
        force_sync,
        jute_max_buffer,
        extended_types_enabled,
        skip_acl,
        container_check_interval_ms,
        container_max_per_minute,
        readonlymode_enabled,
        global_outstanding_limit,
        max_cnxns,
        commit_log_count,
        sessionless_cnxn_timeout_ms,
        cnx_timeout_ms,
        digest_enabled,
        close_session_txn_enabled,
        enforce_quota,
        log_level,
    );
    c.init_limit = raw.init_limit;
    c.sync_limit = raw.sync_limit;
    c.super_digest = raw.super_digest.filter(|s| !s.is_empty());

    if let Some(n) = raw.autopurge_snap_retain_count {
        if n < 3 {
            warnings.push(format!(
                "autopurge.snapRetainCount {n} is below the minimum; using 3"
            ));
            c.autopurge_snap_retain_count = 3;
        } else {
            c.autopurge_snap_retain_count = n;
        }
    }
    if let Some(n) = raw.snap_count {
        if n < 2 {
            warnings.push(format!("snapCount {n} is below the minimum; using 2"));
            c.snap_count = 2;
        } else {
            c.snap_count = n;
        }
    }
    if c.jute_max_buffer == 0 {
        return Err(bad("jute.maxbuffer", "must be greater than 0"));
    }
    if !c.force_sync {
        warnings.push(
            "forceSync is off: acknowledged writes can be lost if the machine crashes".into(),
        );
    }
    if c.skip_acl {
        warnings.push("skipACL is on: no ACL is checked".into());
    }

    // Four-letter words: srvr always (zkServer.sh status needs it), isro with read-only mode.
    if let Some(w) = &raw.four_letter_whitelist {
        for name in w.names() {
            if name.is_empty() {
                continue;
            }
            if name == "*" {
                c.four_letter_whitelist.extend(FourLetter::ALL);
            } else if let Some(cmd) = FourLetter::from_name(&name.to_ascii_lowercase()) {
                c.four_letter_whitelist.insert(cmd);
            } else {
                warnings.push(format!(
                    "4lw.commands.whitelist: unknown command '{name}' ignored"
                ));
            }
        }
    }
    if c.readonlymode_enabled {
        c.four_letter_whitelist.insert(FourLetter::Isro);
    }

    // Ensemble.
    servers.sort_by_key(|s| s.id);
    for pair in servers.windows(2) {
        if pair[0].id == pair[1].id {
            return Err(ConfigError::Invalid(format!(
                "server.{} is defined twice",
                pair[0].id
            )));
        }
    }
    c.servers = servers;
    if let Some(p) = raw.peer_type {
        c.peer_type = p;
    }

    // myid: the file is authoritative in ZooKeeper; zoo.toml may also state it.
    let file_id = read_myid(&c.data_dir)?;
    c.my_id = match (raw.my_id, file_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(ConfigError::Invalid(format!(
                "my_id = {a} in the config but {} says {b}",
                c.data_dir.join(MYID_FILE).display()
            )))
        }
        (a, b) => a.or(b),
    };

    let quorum = c.is_quorum();
    if quorum {
        if c.init_limit.is_none() {
            return Err(ConfigError::Invalid(
                "initLimit is not set (required with more than one server)".into(),
            ));
        }
        if c.sync_limit.is_none() {
            return Err(ConfigError::Invalid(
                "syncLimit is not set (required with more than one server)".into(),
            ));
        }
        if c.election_alg != 3 {
            return Err(bad(
                "electionAlg",
                format!("{} is not supported (only 3)", c.election_alg),
            ));
        }
        let Some(id) = c.my_id else {
            return Err(ConfigError::Invalid(format!(
                "{} is missing (required with more than one server)",
                c.data_dir.join(MYID_FILE).display()
            )));
        };
        if c.my_server().is_none() {
            return Err(ConfigError::Invalid(format!(
                "myid {id} is not in the server list"
            )));
        }
    }
    if c.extended_types_enabled {
        if let Some(id) = c.my_id {
            // Session ids carry the id in the top byte; 0xff would look like a TTL owner.
            if id > 254 {
                return Err(ConfigError::Invalid(format!(
                    "myid {id} must be at most 254 when extendedTypesEnabled is on"
                )));
            }
        }
    }

    // Client address: this member's server line (`;[host:]port`) or clientPort/Address.
    let line = match c.my_server() {
        Some(s) => Some(s.clone()),
        None if c.servers.len() == 1 && !quorum => c.servers.first().cloned(),
        None => None,
    };
    if let Some(s) = &line {
        if s.role != c.peer_type {
            if raw.peer_type.is_some() {
                warnings.push(format!(
                    "peerType {} differs from server.{}'s role {}; using the server line",
                    c.peer_type.as_str(),
                    s.id,
                    s.role.as_str()
                ));
            }
            c.peer_type = s.role;
        }
    }
    let line_port = line.as_ref().and_then(|s| s.client_port);
    match (raw.client_port, line_port) {
        (Some(a), Some(b)) if a != b => {
            return Err(ConfigError::Invalid(format!(
                "clientPort {a} differs from the client port {b} in this server's server line"
            )))
        }
        (Some(p), _) | (None, Some(p)) => c.client_port = p,
        (None, None) => {
            if raw.client_port_address.is_some() {
                return Err(ConfigError::Invalid(
                    "clientPortAddress is set but clientPort is not set".into(),
                ));
            }
            if defaults.warn_default_port {
                warnings.push(format!(
                    "no clientPort set; listening on {DEFAULT_CLIENT_PORT}"
                ));
            }
        }
    }
    let line_host = line.as_ref().and_then(|s| s.client_host.clone());
    if let Some(h) = raw.client_port_address.or(line_host) {
        if h.is_empty() {
            return Err(bad("clientPortAddress", "empty address"));
        }
        c.client_port_address = h;
    }
    Ok((c, warnings))
}

/// Reads `data_dir/myid` like ZooKeeper: the first line is the id. Absent file → `None`.
fn read_myid(data_dir: &Path) -> Result<Option<u64>, ConfigError> {
    let path = data_dir.join(MYID_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(ConfigError::Io { path, err }),
    };
    // Trimming is kinder than ZooKeeper (which rejects "1 ") and changes no valid file.
    let first = text.lines().next().unwrap_or("").trim();
    first.parse::<u64>().map(Some).map_err(|_| {
        ConfigError::Invalid(format!("{}: '{first}' is not a server id", path.display()))
    })
}

// ---------------------------------------------------------------------------------------------
// Java properties syntax

/// Splits Java properties text into `(line number, key, value)` with keys and values
/// unescaped and trimmed (QuorumPeerConfig trims both). Supports `#`/`!` comments, `=`, `:`
/// or whitespace separators, backslash line continuations and `\uXXXX` escapes.
fn java_properties(text: &str) -> Result<Vec<(usize, String, String)>, ConfigError> {
    let physical: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < physical.len() {
        let start_line = i + 1;
        let first = physical[i].trim_start_matches([' ', '\t', '\x0c']);
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match physical.get(i) {
                Some(next) => {
                    logical.push_str(next.trim_start_matches([' ', '\t', '\x0c']));
                    i += 1;
                }
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|msg| ConfigError::Syntax {
            line: start_line,
            msg,
        })?;
        let value = unescape(value).map_err(|msg| ConfigError::Syntax {
            line: start_line,
            msg,
        })?;
        out.push((start_line, key.trim().to_string(), value.trim().to_string()));
    }
    Ok(out)
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Key ends at the first unescaped `=`, `:` or whitespace; one `=`/`:` may follow the
/// whitespace.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut k = 0;
    let mut escaped = false;
    while k < bytes.len() {
        let b = bytes[k];
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'=' || b == b':' || b == b' ' || b == b'\t' || b == b'\x0c' {
            break;
        }
        k += 1;
    }
    let key = &line[..k];
    let mut v = k;
    while v < bytes.len() && matches!(bytes[v], b' ' | b'\t' | b'\x0c') {
        v += 1;
    }
    if v < bytes.len() && (bytes[v] == b'=' || bytes[v] == b':') {
        v += 1;
    }
    while v < bytes.len() && matches!(bytes[v], b' ' | b'\t' | b'\x0c') {
        v += 1;
    }
    (key, &line[v..])
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let ch = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("malformed \\u{hex} escape"))?;
                out.push(ch);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// host:port helpers

/// Splits `host:port:port…` where host may be a bracketed IPv6 literal.
fn split_host_ports(s: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        let Some((host, tail)) = rest.split_once(']') else {
            return Err(format!("'{s}': missing ']' after IPv6 address"));
        };
        let mut parts = vec![host.to_string()];
        if !tail.is_empty() {
            let Some(tail) = tail.strip_prefix(':') else {
                return Err(format!("'{s}': expected ':' after ']'"));
            };
            parts.extend(tail.split(':').map(|p| p.trim().to_string()));
        }
        Ok(parts)
    } else {
        Ok(s.split(':').map(|p| p.trim().to_string()).collect())
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("'{s}' is not a valid port")),
    }
}

fn bracket_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "zkserver-config-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn dynamic_config_text_is_zookeepers_quorum_verifier_text() {
        let dir = tmp_dir("dynconfig");
        std::fs::write(dir.join("myid"), "1\n").unwrap();
        let text = format!(
            "dataDir={}\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n\
             server.3=zoo3:2888:3888:observer;2183\n\
             server.1=127.0.0.1:2888:3888\n\
             server.2=[::1]:2889:3889;127.0.0.2:2182\n",
            dir.display()
        );
        let (c, _) = parse_zoo_cfg(&text, Path::new("/")).unwrap();
        assert_eq!(
            c.dynamic_config_text().as_deref(),
            Some(
                "server.1=127.0.0.1:2888:3888:participant\n\
                 server.2=[::1]:2889:3889:participant;127.0.0.2:2182\n\
                 server.3=zoo3:2888:3888:observer;0.0.0.0:2183\n\
                 version=0"
            )
        );
        let (standalone, _) = cfg("dataDir=/a\nclientPort=2181\n");
        assert_eq!(standalone.dynamic_config_text(), None);
    }

    fn cfg(text: &str) -> (Config, Vec<String>) {
        parse_zoo_cfg(text, Path::new("/base")).unwrap()
    }

    fn cfg_err(text: &str) -> String {
        parse_zoo_cfg(text, Path::new("/base"))
            .unwrap_err()
            .to_string()
    }

    fn toml_cfg(text: &str) -> (Config, Vec<String>) {
        parse_toml(text, Path::new("/base")).unwrap()
    }

    #[test]
    fn zoo_cfg_defaults() {
        let (c, w) = cfg("dataDir=/data\nclientPort=2181\n");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.tick_time_ms, 3000);
        assert_eq!(c.min_session_timeout_ms, 6000);
        assert_eq!(c.max_session_timeout_ms, 60000);
        assert_eq!(c.data_dir, PathBuf::from("/data"));
        assert_eq!(c.data_log_dir, PathBuf::from("/data"));
        assert_eq!(c.client_port, 2181);
        assert_eq!(c.client_port_address, "0.0.0.0");
        assert_eq!(c.client_addr(), "0.0.0.0:2181");
        assert_eq!(c.max_client_cnxns, 60);
        assert_eq!(c.four_letter_whitelist, BTreeSet::from([FourLetter::Srvr]));
        assert!(c.servers.is_empty());
        assert_eq!(c.my_id, None);
        assert!(c.standalone_enabled);
        assert!(!c.is_quorum());
        assert_eq!(c.autopurge_snap_retain_count, 3);
        assert_eq!(c.autopurge_purge_interval_hours, 0);
        assert_eq!(c.snap_count, 100_000);
        assert_eq!(c.snap_size_limit_kb, 4_194_304);
        assert_eq!(c.pre_alloc_size_kb, 65_536);
        assert!(c.force_sync);
        assert_eq!(c.jute_max_buffer, 0xfffff);
        assert!(!c.extended_types_enabled);
        assert_eq!(c.super_digest, None);
        assert!(!c.skip_acl);
        assert_eq!(c.container_check_interval_ms, 60_000);
        assert_eq!(c.container_max_per_minute, 10_000);
        assert!(!c.readonlymode_enabled);
        assert_eq!(c.global_outstanding_limit, 1000);
        assert_eq!(c.max_cnxns, 0);
        assert_eq!(c.commit_log_count, 500);
        assert_eq!(c.log_level, "info");
        assert_eq!(c.election_alg, 3);
        assert_eq!(c.client_port_listen_backlog, -1);
        assert_eq!(c.peer_type, PeerRole::Participant);
        assert!(c.sync_enabled && c.leader_serves && c.digest_enabled);
        assert!(c.close_session_txn_enabled);
        assert!(!c.enforce_quota && !c.reconfig_enabled && !c.local_sessions_enabled);
        assert_eq!(c.sessionless_cnxn_timeout_ms, 10_000);
        assert_eq!(c.cnx_timeout_ms, 5000);
        assert_eq!(c.snap_dir(), PathBuf::from("/data/version-2"));
        assert_eq!(c.txn_log_dir(), PathBuf::from("/data/version-2"));
    }

    #[test]
    fn zoo_cfg_every_key() {
        let text = "\
tickTime=500
initLimit=7
syncLimit=3
dataDir=rel/data
dataLogDir=/logs
clientPort=2999
clientPortAddress=127.0.0.1
clientPortListenBacklog=50
maxClientCnxns=0
minSessionTimeout=1000
maxSessionTimeout=9000
4lw.commands.whitelist=ruok, stat ,mntr
standaloneEnabled=false
electionAlg=3
connectToLearnerMasterLimit=4
syncEnabled=false
quorumListenOnAllIPs=true
localSessionsEnabled=true
localSessionsUpgradingEnabled=true
reconfigEnabled=true
zookeeper.leaderServes=no
autopurge.snapRetainCount=5
autopurge.purgeInterval=24
snapCount=1000
snapSizeLimitInKb=-1
preAllocSize=1024
forceSync=no
jute.maxbuffer=0x200000
extendedTypesEnabled=true
DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
skipACL=yes
znode.container.checkIntervalMs=1000
znode.container.maxPerMinute=5
readonlymode.enabled=true
globalOutstandingLimit=50
maxCnxns=100
commitLogCount=20
nio.sessionlessCnxnTimeout=2000
cnxTimeout=1500
digest.enabled=false
closeSessionTxn.enabled=false
enforceQuota=true
admin.enableServer=false
admin.serverPort=8081
metricsProvider.className=x
";
        let (c, w) = cfg(text);
        assert_eq!(c.tick_time_ms, 500);
        assert_eq!(c.init_limit, Some(7));
        assert_eq!(c.sync_limit, Some(3));
        assert_eq!(c.data_dir, PathBuf::from("/base/rel/data"));
        assert_eq!(c.data_log_dir, PathBuf::from("/logs"));
        assert_eq!(c.client_port, 2999);
        assert_eq!(c.client_addr(), "127.0.0.1:2999");
        assert_eq!(c.client_port_listen_backlog, 50);
        assert_eq!(c.max_client_cnxns, 0);
        assert_eq!(c.min_session_timeout_ms, 1000);
        assert_eq!(c.max_session_timeout_ms, 9000);
        assert_eq!(
            c.four_letter_whitelist,
            BTreeSet::from([
                FourLetter::Srvr,
                FourLetter::Ruok,
                FourLetter::Stat,
                FourLetter::Mntr,
                FourLetter::Isro
            ])
        );
        assert!(!c.standalone_enabled);
        assert_eq!(c.connect_to_learner_master_limit, 4);
        assert!(!c.sync_enabled);
        assert!(c.quorum_listen_on_all_ips);
        assert!(c.local_sessions_enabled && c.local_sessions_upgrading_enabled);
        assert!(c.reconfig_enabled);
        assert!(!c.leader_serves);
        assert_eq!(c.autopurge_snap_retain_count, 5);
        assert_eq!(c.autopurge_purge_interval_hours, 24);
        assert_eq!(c.snap_count, 1000);
        assert_eq!(c.snap_size_limit_kb, -1);
        assert_eq!(c.pre_alloc_size_kb, 1024);
        assert!(!c.force_sync);
        assert_eq!(c.jute_max_buffer, 0x200000);
        assert!(c.extended_types_enabled);
        assert_eq!(
            c.super_digest.as_deref(),
            Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
        );
        assert!(c.skip_acl);
        assert_eq!(c.container_check_interval_ms, 1000);
        assert_eq!(c.container_max_per_minute, 5);
        assert!(c.readonlymode_enabled);
        assert_eq!(c.global_outstanding_limit, 50);
        assert_eq!(c.max_cnxns, 100);
        assert_eq!(c.commit_log_count, 20);
        assert_eq!(c.sessionless_cnxn_timeout_ms, 2000);
        assert_eq!(c.cnx_timeout_ms, 1500);
        assert!(!c.digest_enabled && !c.close_session_txn_enabled);
        assert!(c.enforce_quota);
        // Only the loud warnings; admin.* and metricsProvider.* are silently accepted.
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("forceSync"));
        assert!(w[1].contains("skipACL"));
    }

    #[test]
    fn zoo_cfg_zookeeper_prefix_is_optional() {
        let (c, _) = cfg("dataDir=/d\nzookeeper.4lw.commands.whitelist=*\nzookeeper.snapCount=10\nzookeeper.forceSync=yes\nzookeeper.skipACL=no\nzookeeper.extendedTypesEnabled=true\nzookeeper.DigestAuthenticationProvider.superDigest=super:x\nzookeeper.preAllocSize=10\nzookeeper.jute.maxbuffer=100\nzookeeper.commitLogCount=7\n");
        assert_eq!(c.four_letter_whitelist.len(), FourLetter::ALL.len());
        assert_eq!(c.snap_count, 10);
        assert!(c.force_sync && !c.skip_acl && c.extended_types_enabled);
        assert_eq!(c.super_digest.as_deref(), Some("super:x"));
        assert_eq!(c.pre_alloc_size_kb, 10);
        assert_eq!(c.jute_max_buffer, 100);
        assert_eq!(c.commit_log_count, 7);
    }

    #[test]
    fn zoo_cfg_properties_syntax() {
        let text = "# comment\n! also a comment\n   \n  tickTime = 1000  \nclientPort:2000\ndataDir /a\\\n   /b\n4lw.commands.whitelist=ru\\u006fk\\\n";
        let (c, w) = cfg(text);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.tick_time_ms, 1000);
        assert_eq!(c.client_port, 2000);
        assert_eq!(c.data_dir, PathBuf::from("/a/b"));
        assert!(c.four_letter_whitelist.contains(&FourLetter::Ruok));
        assert!(cfg_err("dataDir=/a\nx=\\u12\n").contains("line 2"));
    }

    #[test]
    fn zoo_cfg_repeated_key_last_wins() {
        let (c, w) = cfg("dataDir=/a\nclientPort=1\nclientPort=2\n");
        assert_eq!(c.client_port, 2);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("clientPort"), "{w:?}");
    }

    #[test]
    fn zoo_cfg_unknown_keys_warn() {
        let (c, w) = cfg("dataDir=/a\nclientPort=1\nfooBar=1\nsecureClientPort=2281\n");
        assert_eq!(c.client_port, 1);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w.iter().any(|m| m.contains("unknown key 'fooBar'")));
        assert!(w
            .iter()
            .any(|m| m.contains("secureClientPort") && m.contains("not supported")));
    }

    #[test]
    fn zoo_cfg_errors() {
        assert!(cfg_err("clientPort=1\n").contains("dataDir is not set"));
        assert_eq!(
            cfg_err("dataDir=/a\ntickTime=x\n"),
            "tickTime: line 2: 'x' is not a valid number (invalid digit found in string)"
        );
        assert!(cfg_err("dataDir=/a\ntickTime=0\n").contains("tickTime"));
        assert!(cfg_err("dataDir=/a\nclientPort=70000\n").contains("clientPort"));
        assert!(cfg_err("dataDir=/a\nforceSync=maybe\n").contains("forceSync"));
        let e = cfg_err("dataDir=/a\nminSessionTimeout=5000\nmaxSessionTimeout=4000\n");
        assert!(e.contains("minSessionTimeout (5000)"), "{e}");
        let e = cfg_err("dataDir=/a\ntickTime=2000\nminSessionTimeout=50000\n");
        assert!(e.contains("maxSessionTimeout (40000)"), "{e}");
        assert!(cfg_err("dataDir=/a\nclientPortAddress=127.0.0.1\n")
            .contains("clientPortAddress is set but clientPort is not set"));
        assert!(cfg_err("dataDir=/a\npeerType=bystander\n").contains("peerType"));
        assert!(cfg_err("dataDir=/a\njute.maxbuffer=0\n").contains("jute.maxbuffer"));
    }

    #[test]
    fn session_timeout_minus_one_means_default_and_negotiation_clamps() {
        let (c, _) = cfg("dataDir=/a\ntickTime=2000\nminSessionTimeout=-1\nmaxSessionTimeout=-1\n");
        assert_eq!(
            (c.min_session_timeout_ms, c.max_session_timeout_ms),
            (4000, 40000)
        );
        assert_eq!(c.negotiate_session_timeout(1), 4000);
        assert_eq!(c.negotiate_session_timeout(1_000_000_000), 40000);
        assert_eq!(c.negotiate_session_timeout(-5), 4000);
        assert_eq!(c.negotiate_session_timeout(10000), 10000);
        let (c, _) = cfg("dataDir=/a\ntickTime=500\n");
        assert_eq!(c.negotiate_session_timeout(30000), 10000);
    }

    #[test]
    fn minimums_are_enforced_with_warnings() {
        let (c, w) = cfg("dataDir=/a\nclientPort=1\nautopurge.snapRetainCount=1\nsnapCount=1\n");
        assert_eq!(c.autopurge_snap_retain_count, 3);
        assert_eq!(c.snap_count, 2);
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn whitelist_forms() {
        let (c, w) = cfg("dataDir=/a\nclientPort=1\n4lw.commands.whitelist=\n");
        assert_eq!(c.four_letter_whitelist, BTreeSet::from([FourLetter::Srvr]));
        assert!(w.is_empty());
        let (c, w) = cfg("dataDir=/a\nclientPort=1\n4lw.commands.whitelist=RUOK,bogus\n");
        assert_eq!(
            c.four_letter_whitelist,
            BTreeSet::from([FourLetter::Srvr, FourLetter::Ruok])
        );
        assert!(w[0].contains("bogus"), "{w:?}");
        let (c, _) = cfg("dataDir=/a\nclientPort=1\n4lw.commands.whitelist=*\n");
        assert!(FourLetter::ALL
            .iter()
            .all(|x| c.four_letter_whitelist.contains(x)));
        let (c, _) = cfg("dataDir=/a\nclientPort=1\nreadonlymode.enabled=true\n");
        assert_eq!(
            c.four_letter_whitelist,
            BTreeSet::from([FourLetter::Srvr, FourLetter::Isro])
        );
    }

    #[test]
    fn server_line_forms() {
        let s = ServerSpec::parse(1, "zoo1:2888:3888;2181").unwrap();
        assert_eq!(
            s,
            ServerSpec {
                id: 1,
                host: "zoo1".into(),
                quorum_port: 2888,
                election_port: 3888,
                role: PeerRole::Participant,
                client_host: None,
                client_port: Some(2181),
            }
        );
        assert_eq!(
            s.to_config_line(),
            "server.1=zoo1:2888:3888:participant;0.0.0.0:2181"
        );
        let s = ServerSpec::parse(3, "h:2888:3888:observer").unwrap();
        assert_eq!(s.role, PeerRole::Observer);
        assert_eq!(s.client_port, None);
        assert_eq!(s.to_config_line(), "server.3=h:2888:3888:observer");
        let s = ServerSpec::parse(2, " h:1:2:PARTICIPANT ; 127.0.0.1:2182 ").unwrap();
        assert_eq!(s.role, PeerRole::Participant);
        assert_eq!(s.client_host.as_deref(), Some("127.0.0.1"));
        assert_eq!(s.client_port, Some(2182));
        let s = ServerSpec::parse(4, "[::1]:2888:3888:observer;[::1]:2181").unwrap();
        assert_eq!(s.host, "::1");
        assert_eq!(s.client_host.as_deref(), Some("::1"));
        assert_eq!(
            s.to_config_line(),
            "server.4=[::1]:2888:3888:observer;[::1]:2181"
        );
        let s = ServerSpec::parse(5, "[fe80::1]:2888:3888").unwrap();
        assert_eq!(
            (s.host.as_str(), s.quorum_port, s.election_port),
            ("fe80::1", 2888, 3888)
        );

        for bad in [
            "h:2888",
            "h",
            "h:2888:3888:observer:x",
            "h:x:3888",
            "h:2888:0",
            ":2888:3888",
            "h:2888:3888:leader",
            "h:2888:3888;a:b:c",
            "h:2888:3888;x",
            "h:2888:3888|g:2888:3888",
            "[::1:2888:3888",
        ] {
            assert!(ServerSpec::parse(1, bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn quorum_config_with_myid() {
        let dir = tmp_dir("quorum");
        std::fs::write(dir.join("myid"), "2\n").unwrap();
        let text = format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nserver.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.1:2889:3889;127.0.0.1:2182\nserver.3=127.0.0.1:2890:3890:observer;2183\n",
            dir.display()
        );
        let (c, w) = parse_zoo_cfg(&text, Path::new("/")).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.my_id, Some(2));
        assert!(c.is_quorum());
        assert_eq!(c.voters().count(), 2);
        assert_eq!(c.client_port, 2182);
        assert_eq!(c.client_addr(), "127.0.0.1:2182");
        assert_eq!(c.my_server().map(|s| s.quorum_port), Some(2889));

        // The observer's own server line makes it an observer.
        std::fs::write(dir.join("myid"), "3").unwrap();
        let (c, _) = parse_zoo_cfg(&text, Path::new("/")).unwrap();
        assert_eq!(c.peer_type, PeerRole::Observer);
        assert_eq!(c.client_port, 2183);

        // clientPort agreeing with the server line is fine; disagreeing is not.
        let (c, _) = parse_zoo_cfg(&format!("{text}clientPort=2183\n"), Path::new("/")).unwrap();
        assert_eq!(c.client_port, 2183);
        let e = parse_zoo_cfg(&format!("{text}clientPort=2999\n"), Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("differs"), "{e}");

        std::fs::write(dir.join("myid"), "9\n").unwrap();
        let e = parse_zoo_cfg(&text, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("myid 9 is not in the server list"), "{e}");

        std::fs::write(dir.join("myid"), "x\n").unwrap();
        let e = parse_zoo_cfg(&text, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a server id"), "{e}");

        std::fs::remove_file(dir.join("myid")).unwrap();
        let e = parse_zoo_cfg(&text, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("myid is missing"), "{e}");

        std::fs::write(dir.join("myid"), "1").unwrap();
        let no_init = text.replace("initLimit=10\n", "");
        let e = parse_zoo_cfg(&no_init, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("initLimit is not set"), "{e}");
        let no_sync = text.replace("syncLimit=5\n", "");
        let e = parse_zoo_cfg(&no_sync, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("syncLimit is not set"), "{e}");
        let e = parse_zoo_cfg(&format!("{text}electionAlg=1\n"), Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("electionAlg"), "{e}");
        // A repeated server line: the last one wins, with a warning.
        let (c, w) =
            parse_zoo_cfg(&format!("{text}server.1=h:1:2;2181\n"), Path::new("/")).unwrap();
        assert_eq!(c.my_server().map(|s| s.host.as_str()), Some("h"));
        assert!(w.iter().any(|m| m.contains("repeats")), "{w:?}");
        let e = parse_zoo_cfg(&format!("{text}server.x=h:1:2\n"), Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.x"), "{e}");
        let e = parse_zoo_cfg(&format!("{text}server.7=h:1\n"), Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.7"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn docker_default_single_server_line_gives_client_port() {
        // The official image writes only `server.1=localhost:2888:3888;2181` plus myid.
        let dir = tmp_dir("docker");
        let text = format!(
            "dataDir={}\ntickTime=2000\ninitLimit=5\nsyncLimit=2\nstandaloneEnabled=true\nadmin.enableServer=true\nserver.1=localhost:2888:3888;2181\n",
            dir.display()
        );
        let (c, w) = parse_zoo_cfg(&text, Path::new("/")).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert!(!c.is_quorum());
        assert_eq!(c.client_port, 2181);
        std::fs::write(dir.join("myid"), "1\n").unwrap();
        let (c, _) = parse_zoo_cfg(&text, Path::new("/")).unwrap();
        assert_eq!(c.my_id, Some(1));
        assert!(!c.is_quorum());
        // standaloneEnabled=false turns the single server into a one-member quorum.
        let (c, _) = parse_zoo_cfg(
            &text.replace("standaloneEnabled=true", "standaloneEnabled=false"),
            Path::new("/"),
        )
        .unwrap();
        assert!(c.is_quorum());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn extended_types_limit_myid() {
        let dir = tmp_dir("ext");
        std::fs::write(dir.join("myid"), "255").unwrap();
        let text = format!(
            "dataDir={}\nclientPort=1\nextendedTypesEnabled=true\n",
            dir.display()
        );
        let e = parse_zoo_cfg(&text, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("254"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dynamic_config_file_supplies_servers() {
        let dir = tmp_dir("dyn");
        std::fs::write(dir.join("myid"), "1").unwrap();
        std::fs::write(
            dir.join("zoo.cfg.dynamic"),
            "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\nserver.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\nversion=100000000\n",
        )
        .unwrap();
        let text = format!(
            "dataDir={0}\ninitLimit=5\nsyncLimit=2\ndynamicConfigFile={0}/zoo.cfg.dynamic\n",
            dir.display()
        );
        let (c, w) = parse_zoo_cfg(&text, Path::new("/")).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.servers.len(), 2);
        assert_eq!(c.client_port, 2181);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn toml_defaults_and_unknown_keys() {
        let (c, w) = toml_cfg("");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.tick_time_ms, 2000);
        assert_eq!(c.min_session_timeout_ms, 4000);
        assert_eq!(c.max_session_timeout_ms, 40000);
        assert_eq!(c.data_dir, PathBuf::from("/base/zkdata"));
        let (_, w) = toml_cfg("tick_time_ms = 100\nbogus_key = 3\n[extra]\na = 1\n");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w.iter().any(|m| m.contains("bogus_key")));
        assert!(w.iter().any(|m| m.contains("extra")));
    }

    #[test]
    fn toml_every_key() {
        let text = r#"
tick_time_ms = 100
init_limit = 4
sync_limit = 2
data_dir = "/d"
data_log_dir = "l"
client_port = 3000
client_port_address = "::1"
client_port_listen_backlog = 10
max_client_cnxns = 5
min_session_timeout_ms = 300
max_session_timeout_ms = 400
four_letter_whitelist = ["ruok", "mntr"]
my_id = 2
peer_type = "participant"
standalone_enabled = true
election_alg = 3
connect_to_learner_master_limit = 1
sync_enabled = true
quorum_listen_on_all_ips = true
local_sessions_enabled = true
local_sessions_upgrading_enabled = true
reconfig_enabled = false
leader_serves = false
autopurge_snap_retain_count = 4
autopurge_purge_interval_hours = 1
snap_count = 50
snap_size_limit_kb = 10
pre_alloc_size_kb = 16
force_sync = true
jute_max_buffer = 2048
extended_types_enabled = true
super_digest = "super:abc"
skip_acl = false
container_check_interval_ms = 10
container_max_per_minute = 1
readonlymode_enabled = false
global_outstanding_limit = 10
max_cnxns = 3
commit_log_count = 9
sessionless_cnxn_timeout_ms = 11
cnx_timeout_ms = 12
digest_enabled = false
close_session_txn_enabled = false
enforce_quota = true
log_level = "debug,zab=trace"

[[servers]]
id = 2
host = "127.0.0.1"
quorum_port = 2889
election_port = 3889
client_port = 3000

[[servers]]
id = 1
host = "127.0.0.1"
quorum_port = 2888
election_port = 3888
client_host = "127.0.0.1"
client_port = 2181

[[servers]]
id = 3
host = "127.0.0.1"
quorum_port = 2890
election_port = 3890
role = "observer"
"#;
        let (c, w) = toml_cfg(text);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.tick_time_ms, 100);
        assert_eq!((c.init_limit, c.sync_limit), (Some(4), Some(2)));
        assert_eq!(c.data_dir, PathBuf::from("/d"));
        assert_eq!(c.data_log_dir, PathBuf::from("/base/l"));
        assert_eq!(c.client_addr(), "[::1]:3000");
        assert_eq!(c.client_port_listen_backlog, 10);
        assert_eq!(c.max_client_cnxns, 5);
        assert_eq!(
            (c.min_session_timeout_ms, c.max_session_timeout_ms),
            (300, 400)
        );
        assert_eq!(
            c.four_letter_whitelist,
            BTreeSet::from([FourLetter::Srvr, FourLetter::Ruok, FourLetter::Mntr])
        );
        assert_eq!(c.my_id, Some(2));
        assert!(c.is_quorum());
        assert_eq!(
            c.servers.iter().map(|s| s.id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(c.servers[2].role, PeerRole::Observer);
        assert_eq!(c.servers[0].client_host.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.connect_to_learner_master_limit, 1);
        assert!(c.quorum_listen_on_all_ips && c.local_sessions_enabled);
        assert!(!c.leader_serves);
        assert_eq!(c.autopurge_snap_retain_count, 4);
        assert_eq!(c.autopurge_purge_interval_hours, 1);
        assert_eq!(c.snap_count, 50);
        assert_eq!(c.snap_size_limit_kb, 10);
        assert_eq!(c.pre_alloc_size_kb, 16);
        assert_eq!(c.jute_max_buffer, 2048);
        assert!(c.extended_types_enabled);
        assert_eq!(c.super_digest.as_deref(), Some("super:abc"));
        assert_eq!(c.container_check_interval_ms, 10);
        assert_eq!(c.container_max_per_minute, 1);
        assert_eq!(c.global_outstanding_limit, 10);
        assert_eq!(c.max_cnxns, 3);
        assert_eq!(c.commit_log_count, 9);
        assert_eq!(c.sessionless_cnxn_timeout_ms, 11);
        assert_eq!(c.cnx_timeout_ms, 12);
        assert!(!c.digest_enabled && !c.close_session_txn_enabled && c.enforce_quota);
        assert_eq!(c.log_level, "debug,zab=trace");
    }

    #[test]
    fn toml_errors() {
        let e = parse_toml("tick_time_ms = \"x\"", Path::new("/")).unwrap_err();
        assert!(
            e.to_string().contains("tick_time_ms") || e.to_string().contains("invalid"),
            "{e}"
        );
        let e = parse_toml("client_port = 70000", Path::new("/")).unwrap_err();
        assert!(matches!(e, ConfigError::Toml(_)), "{e}");
        let e = parse_toml("four_letter_whitelist = 3", Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("a list of command names"), "{e}");
        let e = parse_toml(
            "min_session_timeout_ms = 10\nmax_session_timeout_ms = 5",
            Path::new("/"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("minSessionTimeout"), "{e}");
        let e = parse_toml(
            "init_limit = 5\nsync_limit = 2\n[[servers]]\nid=1\nhost=\"a\"\nquorum_port=1\nelection_port=2\n[[servers]]\nid=2\nhost=\"b\"\nquorum_port=1\nelection_port=2\n",
            Path::new("/nonexistent-zkserver-dir"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("myid is missing"), "{e}");
        let (_, w) =
            toml_cfg("[[servers]]\nid=1\nhost=\"a\"\nquorum_port=1\nelection_port=2\nweight=3\n");
        assert!(w.iter().any(|m| m.contains("weight")), "{w:?}");
        let (c, _) = toml_cfg("four_letter_whitelist = \"*\"");
        assert_eq!(c.four_letter_whitelist.len(), FourLetter::ALL.len());
    }

    #[test]
    fn toml_my_id_must_agree_with_file() {
        let dir = tmp_dir("tomlmyid");
        std::fs::write(dir.join("myid"), "1").unwrap();
        let text = format!("data_dir = \"{}\"\nmy_id = 2\n", dir.display());
        let e = parse_toml(&text, Path::new("/")).unwrap_err().to_string();
        assert!(e.contains("my_id = 2"), "{e}");
        let text = format!("data_dir = \"{}\"\nmy_id = 1\n", dir.display());
        assert_eq!(parse_toml(&text, Path::new("/")).unwrap().0.my_id, Some(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_standalone_shape() {
        let c = Config::default_standalone();
        assert_eq!(c.client_port, 2181);
        assert_eq!(c.tick_time_ms, 2000);
        assert!(c.data_dir.ends_with("zkdata"));
        assert!(!c.is_quorum());
        assert_eq!(c.client_addr(), "0.0.0.0:2181");
    }

    #[test]
    fn format_detection() {
        assert_eq!(
            detect_format(Path::new("a.toml"), "tickTime=1"),
            Format::Toml
        );
        assert_eq!(detect_format(Path::new("a.cfg"), ""), Format::ZooCfg);
        assert_eq!(
            detect_format(Path::new("conf"), "# x\ntickTime=2000\n"),
            Format::ZooCfg
        );
        assert_eq!(
            detect_format(Path::new("conf"), "server.1=a:1:2\n"),
            Format::ZooCfg
        );
        assert_eq!(
            detect_format(Path::new("conf"), "tick_time_ms = 2000\n"),
            Format::Toml
        );
    }

    #[test]
    fn load_reads_files_and_reports_missing() {
        let dir = tmp_dir("load");
        let p = dir.join("zoo.cfg");
        std::fs::write(&p, format!("dataDir={}\nclientPort=3181\n", dir.display())).unwrap();
        let (c, _) = load(&p).unwrap();
        assert_eq!(c.client_port, 3181);
        let e = load(&dir.join("absent.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Io { .. }));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every file under conf/ parses, with no warnings, to what its comments claim.
    #[test]
    fn shipped_conf_files_parse() {
        let base = Path::new("/srv/zk");
        let (t, w) = parse_toml(include_str!("../../../conf/zoo.toml"), base).unwrap();
        assert!(w.is_empty(), "{w:?}");
        let mut expected = Config::with_defaults(2000, base.join("zkdata"));
        expected.log_level = "info".into();
        assert_eq!(t, expected, "conf/zoo.toml must list the defaults");

        let (z, w) = parse_zoo_cfg(include_str!("../../../conf/zoo.cfg"), base).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert!(!z.is_quorum());
        assert_eq!(z.client_port, 2181);

        let tomls = [
            include_str!("../../../conf/ensemble/zoo1.toml"),
            include_str!("../../../conf/ensemble/zoo2.toml"),
            include_str!("../../../conf/ensemble/zoo3.toml"),
        ];
        let cfgs = [
            include_str!("../../../conf/ensemble/zoo1.cfg"),
            include_str!("../../../conf/ensemble/zoo2.cfg"),
            include_str!("../../../conf/ensemble/zoo3.cfg"),
        ];
        for (i, (t, z)) in tomls.iter().zip(cfgs).enumerate() {
            let id = i as u64 + 1;
            // The example data dirs hold no myid yet: the toml files state my_id, the .cfg
            // files need the myid file, so give them one in a scratch base dir.
            let dir = tmp_dir(&format!("ens{id}"));
            let (ct, w) = parse_toml(t, &dir).unwrap();
            assert!(w.is_empty(), "{w:?}");
            assert_eq!(ct.my_id, Some(id));
            assert!(ct.is_quorum());
            assert_eq!(ct.client_port, 2180 + id as u16);
            assert_eq!(
                ct.my_server().map(|s| s.quorum_port),
                Some(2887 + id as u16)
            );
            assert_eq!(
                ct.my_server().map(|s| s.election_port),
                Some(3887 + id as u16)
            );
            std::fs::create_dir_all(&ct.data_dir).unwrap();
            std::fs::write(ct.data_dir.join("myid"), format!("{id}\n")).unwrap();
            let (cz, w) = parse_zoo_cfg(z, &dir).unwrap();
            assert!(w.is_empty(), "{w:?}");
            assert_eq!(cz.my_id, Some(id));
            assert_eq!(cz.servers, ct.servers);
            assert_eq!(cz.client_addr(), ct.client_addr());
            assert_eq!(cz.data_dir, ct.data_dir);
            assert_eq!(cz.tick_time_ms, ct.tick_time_ms);
            assert_eq!(
                (cz.init_limit, cz.sync_limit),
                (ct.init_limit, ct.sync_limit)
            );
            assert_eq!(cz.four_letter_whitelist, ct.four_letter_whitelist);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
