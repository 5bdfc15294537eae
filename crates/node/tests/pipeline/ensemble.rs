//! `NodeCore`s of one ensemble wired to each other in memory: every peer message is
//! delivered (unless a test filters it), every persist is acknowledged at once unless that
//! member's store is held. For what only a learner and its leader show: forwarded writes
//! under a busy leader, and sync ordering on a follower whose fsync lags.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::{Buf, Bytes};
use jute::proto::{ConnectResponse, OpRequest, ReplyHeader};
use jute::Record;
use node::prep::PrepConfig;
use node::sessions::Sessions;
use node::{ConnId, NodeConfig, NodeCore, Output};
use tree::datatree::DataTree;
use zab::{Message, ServerId, Zab};

use crate::harness::{connect_req, create, get, path_req, T0};

const TICK_MS: i64 = 2000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Handshake(i64),
    Reply { xid: i32, err: i32 },
    Closed,
}

struct Member {
    core: NodeCore,
    hold: bool,
    held: Vec<u64>,
    got: HashMap<ConnId, Vec<Got>>,
    awaiting: HashSet<ConnId>,
}

/// Decides, per (from, to, message), whether the simulated network drops it.
type DropRule = Box<dyn Fn(ServerId, ServerId, &Message) -> bool>;

struct Cluster {
    m: Vec<Member>,
    now: i64,
    net: VecDeque<(ServerId, ServerId, Message)>,
    /// Drops quorum messages for which this returns true.
    drop: DropRule,
}

fn id(i: usize) -> ServerId {
    ServerId(i as u64 + 1)
}

impl Cluster {
    /// `n` voters; `inflight_max` bounds each leader's proposals in flight.
    fn new(n: usize, inflight_max: usize) -> Cluster {
        let voters: Vec<ServerId> = (0..n).map(id).collect();
        let m = (0..n)
            .map(|i| {
                let config = NodeConfig {
                    server_byte: i as u8 + 1,
                    tick_ms: TICK_MS,
                    min_session_timeout_ms: 4000,
                    max_session_timeout_ms: 40_000,
                    prep: PrepConfig {
                        extended_types_enabled: false,
                        skip_acl: false,
                        reconfig_enabled: false,
                    },
                    super_digest: None,
                    container_check_interval_ms: 60_000,
                    container_max_per_minute: 10_000,
                };
                let zab = Zab::with_ensemble(
                    zab::Config {
                        my_id: id(i),
                        voters: voters.clone(),
                        inflight_max,
                    },
                    zab::Ensemble {
                        seed: i as u64,
                        ..zab::Ensemble::default()
                    },
                    zab::Restored::default(),
                    Vec::new(),
                );
                let sessions = Sessions::new(i as u8 + 1, T0, TICK_MS);
                Member {
                    core: NodeCore::new(config, DataTree::new(), sessions, zab, T0),
                    hold: false,
                    held: Vec::new(),
                    got: HashMap::new(),
                    awaiting: HashSet::new(),
                }
            })
            .collect();
        let mut c = Cluster {
            m,
            now: T0,
            net: VecDeque::new(),
            drop: Box::new(|_, _, _| false),
        };
        for _ in 0..50 {
            c.tick();
            if c.m.iter().all(|m| m.core.is_serving()) {
                return c;
            }
        }
        panic!("the ensemble never started serving");
    }

    fn leader(&self) -> usize {
        (0..self.m.len())
            .find(|&i| self.m[i].core.zab().role() == zab::Role::Leading)
            .expect("a leader")
    }

    fn follower(&self, nth: usize) -> usize {
        (0..self.m.len())
            .filter(|&i| self.m[i].core.zab().role() == zab::Role::Following)
            .nth(nth)
            .expect("a follower")
    }

    fn tick(&mut self) {
        self.now += TICK_MS;
        for m in &mut self.m {
            m.core.tick(self.now);
        }
        self.settle();
    }

    fn settle(&mut self) {
        for _ in 0..100_000 {
            let mut busy = false;
            for i in 0..self.m.len() {
                let mut ack = None;
                while let Some(o) = self.m[i].core.poll_output() {
                    busy = true;
                    match o {
                        Output::Send { conn, frame } => {
                            let g = decode(&mut self.m[i], conn, frame);
                            self.m[i].got.entry(conn).or_default().push(g);
                        }
                        Output::Close { conn } => {
                            self.m[i].got.entry(conn).or_default().push(Got::Closed)
                        }
                        Output::Persist { seq, .. } => {
                            if self.m[i].hold {
                                self.m[i].held.push(seq);
                            } else {
                                ack = Some(seq);
                            }
                        }
                        Output::Peer { to, msg } => self.net.push_back((id(i), to, msg)),
                        Output::RoleChanged { .. } | Output::Disconnect { .. } => {}
                        other => panic!("unexpected output in a fresh ensemble: {other:?}"),
                    }
                }
                if let Some(seq) = ack {
                    self.m[i].core.persisted(seq, self.now);
                }
            }
            while let Some((from, to, msg)) = self.net.pop_front() {
                busy = true;
                if !msg.is_election() && (self.drop)(from, to, &msg) {
                    continue;
                }
                let Some(i) = (0..self.m.len()).find(|&i| id(i) == to) else {
                    continue;
                };
                self.m[i].core.peer_message(from, msg, self.now);
            }
            if !busy {
                return;
            }
        }
        panic!("the ensemble kept producing outputs");
    }

    fn hold(&mut self, i: usize) {
        self.m[i].hold = true;
    }

    fn release(&mut self, i: usize) {
        self.m[i].hold = false;
        if let Some(&seq) = self.m[i].held.iter().max() {
            self.m[i].held.clear();
            self.m[i].core.persisted(seq, self.now);
        }
        self.settle();
    }

    /// A new session on member `i`; returns its connection.
    fn session(&mut self, i: usize, conn: ConnId) -> ConnId {
        self.m[i].core.conn_opened(
            conn,
            format!("127.0.0.1:{}", 40_000 + conn),
            "127.0.0.1".into(),
        );
        self.m[i].awaiting.insert(conn);
        self.m[i]
            .core
            .connect(conn, connect_req(0, &[0; 16], 10_000), self.now);
        self.settle();
        match self.take(i, conn).as_slice() {
            [Got::Handshake(sid)] if *sid != 0 => conn,
            other => panic!("handshake on member {i}: {other:?}"),
        }
    }

    fn send(&mut self, i: usize, conn: ConnId, xid: i32, req: OpRequest) {
        self.m[i].core.request(conn, xid, req, self.now);
        self.settle();
    }

    fn take(&mut self, i: usize, conn: ConnId) -> Vec<Got> {
        self.m[i].got.remove(&conn).unwrap_or_default()
    }
}

fn decode(m: &mut Member, conn: ConnId, frame: Bytes) -> Got {
    let mut b = frame;
    let _len = b.get_i32();
    if m.awaiting.remove(&conn) {
        let r = ConnectResponse::decode(&mut b).expect("ConnectResponse");
        return Got::Handshake(r.session_id);
    }
    let hdr = ReplyHeader::decode(&mut b).expect("ReplyHeader");
    Got::Reply {
        xid: hdr.xid,
        err: hdr.err,
    }
}

fn ok(xid: i32) -> Got {
    Got::Reply { xid, err: 0 }
}

#[test]
fn a_busy_leader_queues_forwarded_writes_instead_of_dropping_them() {
    let mut c = Cluster::new(2, 2);
    let (l, f) = (c.leader(), c.follower(0));
    let conn = c.session(f, 1);
    // The follower's fsync stalls: nothing commits, the leader's window (2) fills up.
    c.hold(f);
    for xid in 1..=6 {
        c.send(f, conn, xid, create(&format!("/n{xid}"), b""));
    }
    assert!(c.m[l].core.zab().inflight() <= 2);
    assert_eq!(c.take(f, conn), vec![], "nothing is committed yet");
    // The fsync completes: the queued writes are ordered as room frees, all answered in order.
    c.release(f);
    for _ in 0..3 {
        c.tick();
    }
    assert_eq!(c.take(f, conn), (1..=6).map(ok).collect::<Vec<_>>());
    for xid in 1..=6 {
        assert!(c.m[l].core.tree().get(&format!("/n{xid}")).is_some());
    }
}

#[test]
fn a_forwarded_write_the_leader_never_orders_closes_the_client_connection() {
    let mut c = Cluster::new(2, 100);
    let f = c.follower(0);
    let conn = c.session(f, 1);
    // The leader never sees this learner's REQUESTs (as if it dropped them).
    c.drop = Box::new(|_, _, m| matches!(m, Message::Request { .. }));
    c.send(f, conn, 1, create("/lost", b""));
    // The client pings (every tick) and so keeps its session; the write is never answered.
    // After the session timeout (10 s, 5 ticks) the connection is closed.
    let mut closed_after = None;
    for t in 1..=8 {
        c.send(f, conn, -2, OpRequest::Ping);
        c.tick();
        let got = c.take(f, conn);
        if got == vec![Got::Closed] {
            closed_after = Some(t);
            break;
        }
        assert_eq!(got, vec![], "the pings wait behind the write");
    }
    assert!(
        matches!(closed_after, Some(5..=7)),
        "the client must not hang: closed after {closed_after:?} ticks"
    );
    assert!(
        c.m[c.leader()].core.sessions().len() == 1,
        "the session lives on"
    );
}

#[test]
fn sync_on_a_lagging_follower_answers_after_applying_earlier_commits() {
    let mut c = Cluster::new(3, 100);
    let (l, lag) = (c.leader(), c.follower(1));
    let writer = c.session(l, 1);
    let reader = c.session(lag, 2);
    // The lagging follower's fsync stalls; the leader and the other follower commit.
    c.hold(lag);
    c.send(l, writer, 1, create("/x", b""));
    assert_eq!(c.take(l, writer), vec![ok(1)]);
    c.send(lag, reader, 1, OpRequest::Sync(path_req("/")));
    c.send(lag, reader, 2, get("/x", false));
    assert_eq!(
        c.take(lag, reader),
        vec![],
        "sync answered before /x, committed before it, is applied here"
    );
    c.release(lag);
    assert_eq!(c.take(lag, reader), vec![ok(1), ok(2)], "/x is readable");
}

#[test]
fn sync_on_a_leader_behind_its_own_commits_waits_for_them() {
    let mut c = Cluster::new(3, 100);
    let (l, f) = (c.leader(), c.follower(0));
    let writer = c.session(f, 1);
    let reader = c.session(l, 2);
    // The leader's fsync stalls; the two followers' ACKs commit the write without it.
    c.hold(l);
    c.send(f, writer, 1, create("/x", b""));
    assert_eq!(c.take(f, writer), vec![ok(1)], "committed by the followers");
    c.send(l, reader, 1, OpRequest::Sync(path_req("/")));
    c.send(l, reader, 2, get("/x", false));
    assert_eq!(
        c.take(l, reader),
        vec![],
        "sync answered before /x is applied here"
    );
    c.release(l);
    assert_eq!(c.take(l, reader), vec![ok(1), ok(2)], "/x is readable");
}

#[test]
fn sync_waits_for_every_txn_of_a_batch_the_follower_applies_at_once() {
    // Regression (found by sim::node_sim): the sync was released when zab had *queued*
    // the commits as delivered, between the applies of one batch, so the read behind it
    // missed the batch's later txns.
    let mut c = Cluster::new(3, 100);
    let (l, lag) = (c.leader(), c.follower(1));
    let writer = c.session(l, 1);
    let reader = c.session(lag, 2);
    c.hold(lag);
    c.send(l, writer, 1, create("/x", b""));
    c.send(l, writer, 2, create("/y", b""));
    assert_eq!(c.take(l, writer), vec![ok(1), ok(2)]);
    c.send(lag, reader, 1, OpRequest::Sync(path_req("/")));
    c.send(lag, reader, 2, get("/y", false));
    assert_eq!(c.take(lag, reader), vec![]);
    // One fsync makes both txns durable: zab delivers them together.
    c.release(lag);
    assert_eq!(
        c.take(lag, reader),
        vec![ok(1), ok(2)],
        "/y, committed before the sync, is readable after it"
    );
}
