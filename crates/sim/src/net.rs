//! The simulated peer network both simulators share (`sim` over bare zab, `node_sim` over
//! `NodeCore`): it decides the fate of each message; the simulator turns the decisions into
//! its own events.
//!
//! Model (zab's channel assumptions, `zab::message`):
//! - Election messages: independent per message — delay (reordering), loss, duplication,
//!   blocked by partitions (also one-way ones).
//! - Quorum messages: a FIFO connection per pair of members. A message hitting a partition
//!   (or random loss) breaks the connection: what is in flight is dropped (its delivery
//!   carries a connection id that is no longer current), later sends are dropped, and each
//!   end is told after a detection delay; after that the next send opens a new connection.
//!
//! Determinism: every random choice comes from the caller's `Rng`, in a fixed order.

use std::collections::{BTreeMap, BTreeSet};

use zab::ServerId;

use crate::rng::Rng;

#[derive(Debug)]
struct Conn {
    id: u64,
    broken: bool,
    /// Ends still to be told the connection broke.
    to_notify: u8,
}

/// Tell `member` (after `delay`) that its connection `conn` with `peer` broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub member: ServerId,
    pub peer: ServerId,
    pub conn: u64,
    pub delay: u64,
}

/// What became of one message.
#[derive(Debug, Default)]
pub struct Sent {
    /// Deliveries: absolute arrival time and the connection (None: election message).
    pub deliveries: Vec<(u64, Option<u64>)>,
    /// Connection breaks to report.
    pub notices: Vec<Notice>,
}

/// The order-independent key of a pair of members.
pub fn pair(a: ServerId, b: ServerId) -> (ServerId, ServerId) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

#[derive(Debug)]
pub struct Net {
    /// Directed links that drop everything.
    pub blocked: BTreeSet<(ServerId, ServerId)>,
    conns: BTreeMap<(ServerId, ServerId), Conn>,
    next_conn: u64,
    last_arrival: BTreeMap<(ServerId, ServerId), u64>,
    /// Probability an election message is lost; quorum connections break at `loss / 20`.
    pub loss: f64,
    /// Probability an election message is duplicated.
    pub dup: f64,
    /// Delays are uniform in `1..=delay_max`.
    pub delay_max: u64,
    /// A broken connection is noticed within `1..=detect_max`.
    pub detect_max: u64,
}

impl Net {
    pub fn new(delay_max: u64, detect_max: u64) -> Net {
        Net {
            blocked: BTreeSet::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            last_arrival: BTreeMap::new(),
            loss: 0.0,
            dup: 0.0,
            delay_max,
            detect_max,
        }
    }

    /// Decides the fate of a message sent at `now`.
    pub fn send(
        &mut self,
        rng: &mut Rng,
        now: u64,
        from: ServerId,
        to: ServerId,
        election: bool,
    ) -> Sent {
        let mut out = Sent::default();
        let blocked = self.blocked.contains(&(from, to));
        let delay = rng.range(1, self.delay_max);
        if election {
            if blocked || rng.chance(self.loss) {
                return out;
            }
            if rng.chance(self.dup) {
                let d2 = rng.range(1, self.delay_max);
                out.deliveries.push((now + d2, None));
            }
            out.deliveries.push((now + delay, None));
            return out;
        }
        let k = pair(from, to);
        if !self.conns.contains_key(&k) {
            let id = self.next_conn;
            self.next_conn += 1;
            self.conns.insert(
                k,
                Conn {
                    id,
                    broken: false,
                    to_notify: 0,
                },
            );
        }
        let Some(c) = self.conns.get(&k) else {
            return out;
        };
        if c.broken {
            return out;
        }
        let conn = c.id;
        if blocked || rng.chance(self.loss / 20.0) {
            out.notices = self.break_conn(rng, k, &[from, to]);
            return out;
        }
        let at = (now + delay).max(self.last_arrival.get(&(from, to)).copied().unwrap_or(0));
        self.last_arrival.insert((from, to), at);
        out.deliveries.push((at, Some(conn)));
        out
    }

    /// Breaks the connection of pair `k`; the members in `notify` are told.
    pub fn break_conn(
        &mut self,
        rng: &mut Rng,
        k: (ServerId, ServerId),
        notify: &[ServerId],
    ) -> Vec<Notice> {
        let Some(c) = self.conns.get_mut(&k) else {
            return Vec::new();
        };
        if c.broken {
            return Vec::new();
        }
        c.broken = true;
        c.to_notify = notify.len() as u8;
        let conn = c.id;
        if notify.is_empty() {
            self.conns.remove(&k);
            return Vec::new();
        }
        notify
            .iter()
            .map(|&member| Notice {
                member,
                peer: if k.0 == member { k.1 } else { k.0 },
                conn,
                delay: rng.range(1, self.detect_max),
            })
            .collect()
    }

    /// Breaks every connection of `id` (it crashed); the other ends are told.
    pub fn crash(&mut self, rng: &mut Rng, id: ServerId) -> Vec<Notice> {
        let keys: Vec<(ServerId, ServerId)> = self
            .conns
            .keys()
            .filter(|(a, b)| *a == id || *b == id)
            .copied()
            .collect();
        let mut out = Vec::new();
        for k in keys {
            let other = if k.0 == id { k.1 } else { k.0 };
            out.extend(self.break_conn(rng, k, &[other]));
        }
        out
    }

    /// Whether a quorum message on `conn` may still be delivered.
    pub fn is_current(&self, from: ServerId, to: ServerId, conn: u64) -> bool {
        self.conns
            .get(&pair(from, to))
            .is_some_and(|c| c.id == conn && !c.broken)
    }

    /// A `Notice` reached its member: once both ends know, the pair may reconnect.
    pub fn noticed(&mut self, n: &Notice) {
        let k = pair(n.member, n.peer);
        if let Some(c) = self.conns.get_mut(&k) {
            if c.id == n.conn {
                c.to_notify = c.to_notify.saturating_sub(1);
                if c.to_notify == 0 {
                    self.conns.remove(&k);
                }
            }
        }
    }

    /// Blocks both directions between the two groups.
    pub fn partition(&mut self, a: &[ServerId], b: &[ServerId]) {
        for x in a {
            for y in b {
                self.blocked.insert((*x, *y));
                self.blocked.insert((*y, *x));
            }
        }
    }

    /// Ends partitions, loss and duplication.
    pub fn heal(&mut self) {
        self.blocked.clear();
        self.loss = 0.0;
        self.dup = 0.0;
    }
}
