//! Ensemble members as real processes: a zkserver binary or an Apache ZooKeeper 3.8
//! QuorumPeerMain (Debian's jar), each in its own directory holding `zoo.cfg` and one log
//! per start (`server.N.log`), driven and inspected from the outside (four-letter words).
//!
//! The tests that build ensembles (tests/ensemble.rs, tests/readonly.rs,
//! tests/mixed_ensemble.rs) write each member's zoo.cfg and myid themselves; this module
//! only starts, stops and asks. A member is stopped with kill -9 by the PID of the child
//! it started, and reaped; the owner of the members stops them all in its `Drop`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Debian's Apache ZooKeeper jar.
pub const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Gives the Debian build (which has no SLF4J binding of its own) a log on stderr.
pub const SLF4J_SIMPLE: &str = "/usr/share/java/slf4j-simple.jar";

/// Which server a member runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zkserver,
    Apache,
}

/// True when an Apache ZooKeeper member can be started here.
pub fn apache_available() -> bool {
    Path::new(ZK_JAR).exists() && Command::new("java").arg("-version").output().is_ok()
}

/// `n` distinct free loopback ports: every listener is held until all are bound, so no two
/// ports coincide.
pub fn reserve_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

pub struct Member {
    pub id: u64,
    pub kind: Kind,
    pub client_port: u16,
    /// Holds `zoo.cfg` and the logs; the data directory is whatever zoo.cfg names.
    pub dir: PathBuf,
    /// Extra `-D` flags for an Apache member (ZooKeeper reads some settings, such as
    /// `readonlymode.enabled`, only as system properties).
    pub jvm_flags: Vec<String>,
    pub child: Option<Child>,
    pub starts: u32,
}

impl Member {
    pub fn new(id: u64, kind: Kind, client_port: u16, dir: PathBuf) -> Member {
        Member {
            id,
            kind,
            client_port,
            dir,
            jvm_flags: Vec::new(),
            child: None,
            starts: 0,
        }
    }

    /// The log of the current (or last) start.
    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("server.{}.log", self.starts))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// Starts the member on `dir/zoo.cfg`, stdout and stderr to a new log.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "member {} already running", self.id);
        self.starts += 1;
        let log = std::fs::File::create(self.log()).expect("log file");
        let err = log.try_clone().expect("log file");
        let cfg = self.dir.join("zoo.cfg");
        let mut cmd = match self.kind {
            Kind::Zkserver => {
                let mut c = Command::new(super::zkserver_bin());
                c.arg("--config").arg(&cfg).env("RUST_LOG", "info");
                c
            }
            Kind::Apache => {
                let mut classpath = ZK_JAR.to_string();
                if Path::new(SLF4J_SIMPLE).exists() {
                    classpath.push(':');
                    classpath.push_str(SLF4J_SIMPLE);
                }
                let mut c = Command::new("java");
                // A small heap and the quick JIT tier: three JVMs share two CI cores.
                c.args([
                    "-Xmx256m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                    "-Dzookeeper.admin.enableServer=false",
                    "-Dzookeeper.jmx.log4j.disable=true",
                ])
                .args(&self.jvm_flags)
                .args([
                    "-cp",
                    &classpath,
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                ])
                .arg(&cfg);
                c
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("spawn member");
        self.child = Some(child);
    }

    /// kill -9 and reap.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// A four-letter word's reply, or "" when the member does not answer.
    pub fn four(&self, cmd: &str) -> String {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.client_port));
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(cmd.as_bytes()).is_err() {
            return String::new();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// `srvr` as text, or "" when the member does not answer.
    pub fn srvr(&self) -> String {
        self.four("srvr")
    }

    /// `mntr` as key → value.
    pub fn mntr(&self) -> HashMap<String, String> {
        self.four("mntr")
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A `Name: value` line of `srvr`.
    pub fn field(&self, name: &str) -> Option<String> {
        self.srvr()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
    }

    pub fn mode(&self) -> Option<String> {
        self.field("Mode")
    }

    pub fn zxid(&self) -> Option<String> {
        self.field("Zxid")
    }
}

/// The members of one test's ensemble and their scratch directory. Holds the binary-wide
/// `SERIAL` lock (ensembles of one test binary run one at a time). Drop stops every member
/// (kill -9, reaped) and removes the directory, or keeps it and says where after a failure.
pub struct Cluster {
    pub tmp: PathBuf,
    pub members: Vec<Member>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    /// Takes the lock and names a fresh directory `zkserver-<tag>-<pid>-<n>` under the temp
    /// dir (created by the caller as it writes the members' files).
    pub fn new(tag: &str) -> Cluster {
        let serial = super::SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let tmp = std::env::temp_dir().join(format!(
            "zkserver-{tag}-{}-{}",
            std::process::id(),
            super::free_port()
        ));
        Cluster {
            tmp,
            members: Vec::new(),
            _serial: serial,
        }
    }

    pub fn start_all(&mut self) {
        for m in &mut self.members {
            m.start();
        }
    }

    /// Every member's client address, comma-separated (a client's host list).
    pub fn hosts(&self) -> String {
        self.members
            .iter()
            .map(Member::host)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until the running members agree: one leader, the rest followers or observers.
    /// Returns the leader's index; panics after `limit` with every member's mode.
    pub fn wait_for_leader(&self, limit: Duration) -> usize {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let modes: Vec<Option<String>> = self
                .members
                .iter()
                .map(|m| if m.running() { m.mode() } else { None })
                .collect();
            let running = self.members.iter().filter(|m| m.running()).count();
            let leaders: Vec<usize> = (0..modes.len())
                .filter(|&i| modes[i].as_deref() == Some("leader"))
                .collect();
            let learners = modes
                .iter()
                .filter(|m| matches!(m.as_deref(), Some("follower" | "observer")))
                .count();
            if leaders.len() == 1 && 1 + learners == running {
                return leaders[0];
            }
            if std::time::Instant::now() > deadline {
                self.dump_logs();
                panic!("no agreed leader within {limit:?}: {modes:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last 40 lines of every member's current log, on stderr.
    pub fn dump_logs(&self) {
        for m in &self.members {
            let text = m.log_text();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!(
                "---- member {} ({:?}) log tail ----\n{}",
                m.id,
                m.kind,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.stop();
        }
        if std::thread::panicking() {
            eprintln!("member logs kept in {}", self.tmp.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}
