//! A fault-injecting TCP proxy for the ensemble tests, on 127.0.0.1 only.
//!
//! One `Proxy` forwards every connection it accepts to one upstream address. `cut()` turns
//! it into a blackhole: bytes in both directions are read and discarded (the connections
//! stay open, as in a real partition where nothing arrives), and new connections are
//! accepted but never reach the upstream. `heal()` lets traffic through again; connections
//! that lived through a cut are closed at once (their streams lost bytes), so the peers
//! reconnect on fresh ones.
//!
//! Threads, not tasks: the tests are synchronous. Every thread polls a stop flag at least
//! every 50 ms; `Drop` sets it and joins them all.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const POLL: Duration = Duration::from_millis(50);

struct State {
    upstream: SocketAddr,
    /// Blackholing now.
    cut: AtomicBool,
    /// Bumped by every cut and heal: a connection from an older generation that sees
    /// traffic allowed again is closed.
    generation: AtomicU64,
    stop: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl State {
    fn spawn(self: &Arc<State>, f: impl FnOnce() + Send + 'static) {
        let h = thread::spawn(f);
        if let Ok(mut t) = self.threads.lock() {
            t.push(h);
        }
    }
    /// True when a connection born in `gen` must be closed now.
    fn stale(&self, gen: u64) -> bool {
        !self.cut.load(Ordering::SeqCst) && self.generation.load(Ordering::SeqCst) != gen
    }
}

pub struct Proxy {
    port: u16,
    state: Arc<State>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let state = Arc::new(State {
            upstream,
            cut: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        });
        let s = state.clone();
        state.spawn(move || accept_loop(listener, s));
        Proxy { port, state }
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        self.state.generation.fetch_add(1, Ordering::SeqCst);
    }
    pub fn heal(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
        self.state.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Threads may add threads while we join: drain until none are left.
        loop {
            let batch: Vec<JoinHandle<()>> = match self.state.threads.lock() {
                Ok(mut t) => t.drain(..).collect(),
                Err(_) => return,
            };
            if batch.is_empty() {
                return;
            }
            for h in batch {
                let _ = h.join();
            }
        }
    }
}

fn accept_loop(listener: TcpListener, s: Arc<State>) {
    while !s.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((down, _)) => {
                let s2 = s.clone();
                s.spawn(move || connection(down, s2));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL / 5),
            Err(_) => thread::sleep(POLL),
        }
    }
}

fn connection(down: TcpStream, s: Arc<State>) {
    let _ = down.set_nonblocking(false);
    let gen = s.generation.load(Ordering::SeqCst);
    if s.cut.load(Ordering::SeqCst) {
        // Accepted into the blackhole: swallow until healed (then close) or stopped.
        let _ = down.set_read_timeout(Some(POLL));
        let mut d = down;
        let mut buf = [0u8; 16 * 1024];
        while !s.stop.load(Ordering::SeqCst) && !s.stale(gen) {
            match d.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
        let _ = d.shutdown(Shutdown::Both);
        return;
    }
    let Ok(up) = TcpStream::connect_timeout(&s.upstream, Duration::from_secs(1)) else {
        return;
    };
    let (Ok(down2), Ok(up2)) = (down.try_clone(), up.try_clone()) else {
        return;
    };
    let s2 = s.clone();
    s.spawn(move || pump(down, up, s2, gen));
    pump(up2, down2, s, gen);
}

/// Copies `from` → `to` until EOF, an error, a stop, or the connection goes stale; shuts
/// both down on the way out so the opposite pump ends too.
fn pump(mut from: TcpStream, mut to: TcpStream, s: Arc<State>, gen: u64) {
    let _ = from.set_read_timeout(Some(POLL));
    // A receiver that stops reading must not wedge this thread (Drop joins it).
    let _ = to.set_write_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 64 * 1024];
    loop {
        if s.stop.load(Ordering::SeqCst) || s.stale(gen) {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if s.cut.load(Ordering::SeqCst) {
                    continue;
                }
                if s.stale(gen) || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
