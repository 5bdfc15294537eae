//! One standalone zkserver as a real process, for the tests that drive a single server
//! (tests/robustness.rs, tests/rust_client.rs, tests/mntr.rs).
//!
//! The server runs in its own directory `zkserver-<tag>-<pid>-<port>` under the temp dir:
//! a generated `zoo.cfg` (loopback client port, `dataDir` = `data/`, the caller's tick and
//! extra lines) and one log per start, both kept by the `Member` it wraps, which also asks
//! the four-letter words. `start` returns only once `srvr` says the server serves, within a
//! bound, or panics with the log's tail. Drop kills it (kill -9 by the PID of the child it
//! started) and reaps it, then removes the directory, or keeps it and says where after a
//! failure.

use std::collections::HashMap;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use super::cluster::{Kind, Member};

/// How long a start may take before the test fails.
pub const START_LIMIT: Duration = Duration::from_secs(20);

pub struct Standalone {
    pub member: Member,
}

impl Standalone {
    /// Writes `zoo.cfg` (`tickTime=<tick_ms>`, then `extra`'s lines) and starts the server
    /// on a free loopback port; returns once it serves.
    pub fn start(tag: &str, tick_ms: u32, extra: &str) -> Standalone {
        let port = super::free_port();
        let dir =
            std::env::temp_dir().join(format!("zkserver-{tag}-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("zoo.cfg"),
            format!(
                "tickTime={tick_ms}\ndataDir={}\nclientPort={port}\n\
                 clientPortAddress=127.0.0.1\n{extra}\n",
                dir.join("data").display()
            ),
        )
        .expect("write zoo.cfg");
        // From here on Drop kills, reaps and cleans up, whatever happens.
        let mut server = Standalone {
            member: Member::new(1, Kind::Zkserver, port, dir),
        };
        server.member.start();
        server.wait_serving();
        server
    }

    pub fn port(&self) -> u16 {
        self.member.client_port
    }

    /// `127.0.0.1:<port>`, a client's host string.
    pub fn addr(&self) -> String {
        self.member.host()
    }

    pub fn pid(&self) -> u32 {
        self.member.pid()
    }

    /// A four-letter word's reply, or "" when the server does not answer.
    pub fn four(&self, cmd: &str) -> String {
        self.member.four(cmd)
    }

    /// `mntr`'s text and its key → value map.
    pub fn mntr(&self) -> (String, HashMap<String, String>) {
        let text = self.four("mntr");
        let map = super::mntr_map(&text);
        (text, map)
    }

    /// The process this value started has not exited.
    pub fn alive(&mut self) -> bool {
        self.member
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Still the same process, and it answers `ruok`.
    pub fn assert_healthy(&mut self, after: &str) {
        assert!(self.alive(), "zkserver died after {after}");
        assert_eq!(self.four("ruok"), "imok", "ruok after {after}");
    }

    /// Waits, within `START_LIMIT`, until `srvr` reports standalone mode: `ruok` answers
    /// before the server serves, `srvr`'s Mode line only once it does. Panics with the
    /// log's tail if the process exits or the limit passes.
    pub fn wait_serving(&mut self) {
        let deadline = Instant::now() + START_LIMIT;
        while !self.four("srvr").contains("\nMode: standalone\n") {
            if !self.alive() {
                panic!(
                    "zkserver on port {} exited before serving:\n{}",
                    self.port(),
                    self.log_tail(40)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "zkserver on port {} did not serve within {START_LIMIT:?}:\n{}",
                    self.port(),
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9 and reap.
    pub fn kill9(&mut self) {
        self.member.stop();
    }

    /// SIGTERM by PID, then reap within `limit`; kill -9 if it has not exited by then.
    /// Returns the exit status of a clean exit, `None` if it had to be killed.
    pub fn sigterm(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.member.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// kill -9 and start again on the same zoo.cfg and data; returns once it serves.
    pub fn restart(&mut self) {
        self.kill9();
        self.member.start();
        self.wait_serving();
    }

    /// The last `n` lines of the current start's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.member.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        self.member.stop();
        if std::thread::panicking() {
            eprintln!(
                "zkserver log tail:\n{}\nits directory is kept in {}",
                self.log_tail(40),
                self.member.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.member.dir);
        }
    }
}
