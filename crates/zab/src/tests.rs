//! Handler tests: feed one input, compare the drained outputs (models.md §3.7), named after
//! the Zab paper / ZooKeeper's behaviour.

use std::collections::BTreeMap;

use super::*;

fn solo() -> Zab {
    Zab::new(
        Config {
            my_id: ServerId(1),
            voters: vec![ServerId(1)],
            inflight_max: 4,
        },
        Restored::default(),
    )
}

fn drain(z: &mut Zab) -> Vec<Output> {
    std::iter::from_fn(|| z.poll_output()).collect()
}

#[test]
fn solo_voter_leads_only_after_its_epoch_is_durable() {
    let mut z = solo();
    let out = drain(&mut z);
    assert_eq!(out.len(), 2);
    assert_eq!(z.next_zxid(), Err(ProposeError::NotLeader));
    let Output::Persist { seq, .. } = out[1] else {
        panic!("{out:?}")
    };
    z.persisted(seq);
    assert_eq!(z.next_zxid(), Ok(Zxid::new(1, 1)));
}

#[test]
fn proposals_deliver_in_order_only_once_durable() {
    let mut z = solo();
    let seq = drain(&mut z).len() as u64;
    z.persisted(seq);
    drain(&mut z);
    let a = z.propose(Bytes::from_static(b"a")).unwrap();
    let b = z.propose(Bytes::from_static(b"b")).unwrap();
    assert!(a < b);
    let out = drain(&mut z);
    assert!(out.iter().all(|o| matches!(o, Output::Persist { .. })));
    let Output::Persist { seq: first, .. } = out[0] else {
        panic!()
    };
    z.persisted(first);
    assert_eq!(
        drain(&mut z),
        vec![Output::Deliver(Proposal {
            zxid: a,
            txn: Bytes::from_static(b"a")
        })]
    );
    z.persisted(first + 1);
    assert_eq!(
        drain(&mut z),
        vec![Output::Deliver(Proposal {
            zxid: b,
            txn: Bytes::from_static(b"b")
        })]
    );
}

#[test]
fn restart_starts_a_higher_epoch() {
    let z = Zab::new(
        Config {
            my_id: ServerId(1),
            voters: vec![ServerId(1)],
            inflight_max: 4,
        },
        Restored {
            accepted_epoch: 3,
            current_epoch: 3,
            last_logged: Zxid::new(3, 7),
        },
    );
    assert_eq!(z.accepted_epoch, 4);
}

#[test]
fn backpressure_at_the_inflight_bound() {
    let mut z = solo();
    let seq = drain(&mut z).len() as u64;
    z.persisted(seq);
    for _ in 0..4 {
        z.propose(Bytes::new()).unwrap();
    }
    assert_eq!(z.propose(Bytes::new()), Err(ProposeError::Busy));
}

// ----- the ensemble: a tiny lossless harness, then one handler input at a time -----

fn ensemble() -> Ensemble {
    Ensemble {
        observers: vec![ServerId(4)],
        committed_log_max: 3,
        ..Ensemble::default()
    }
}

fn member(id: u64, restored: Restored, tail: Vec<Proposal>) -> Zab {
    Zab::with_ensemble(
        Config {
            my_id: ServerId(id),
            voters: vec![ServerId(1), ServerId(2), ServerId(3)],
            inflight_max: 8,
        },
        ensemble(),
        restored,
        tail,
    )
}

fn p(epoch: u32, counter: u32) -> Proposal {
    Proposal {
        zxid: Zxid::new(epoch, counter),
        txn: Bytes::from(format!("{epoch}:{counter}")),
    }
}

fn restored(epoch: u32, last: Zxid) -> Restored {
    Restored {
        accepted_epoch: epoch,
        current_epoch: epoch,
        last_logged: last,
    }
}

/// Members wired losslessly: every persist is durable at once, every message delivered.
struct Net {
    zabs: BTreeMap<ServerId, Zab>,
    /// Delivered txns per member.
    delivered: BTreeMap<ServerId, Vec<Zxid>>,
    sent: Vec<(ServerId, ServerId, Message)>,
}

impl Net {
    fn new(zabs: Vec<Zab>) -> Net {
        Net {
            zabs: zabs.into_iter().map(|z| (z.my_id(), z)).collect(),
            delivered: BTreeMap::new(),
            sent: Vec::new(),
        }
    }

    /// Delivers and persists until nothing moves.
    fn settle(&mut self) {
        for _ in 0..1000 {
            let mut queue = Vec::new();
            for (id, z) in self.zabs.iter_mut() {
                let mut last_seq = None;
                while let Some(o) = z.poll_output() {
                    match o {
                        Output::Persist { seq, .. }
                        | Output::TruncateAfter { seq, .. }
                        | Output::InstallSnapshot { seq, .. } => last_seq = Some(seq),
                        Output::Send { to, msg } => queue.push((*id, to, msg)),
                        Output::SendSnapshot { to, up_to } => queue.push((
                            *id,
                            to,
                            Message::Snap {
                                zxid: up_to,
                                data: Bytes::new(),
                            },
                        )),
                        Output::Deliver(p) => self.delivered.entry(*id).or_default().push(p.zxid),
                        _ => {}
                    }
                }
                if let Some(s) = last_seq {
                    z.persisted(s);
                }
            }
            let quiet = queue.is_empty() && self.zabs.values_mut().all(|z| z.outputs.is_empty());
            for (from, to, msg) in queue {
                self.sent.push((from, to, msg.clone()));
                if let Some(z) = self.zabs.get_mut(&to) {
                    z.step(from, msg);
                }
            }
            if quiet {
                return;
            }
        }
        panic!("no quiescence");
    }

    fn ticks(&mut self, n: usize) {
        for _ in 0..n {
            for z in self.zabs.values_mut() {
                z.tick();
            }
            self.settle();
        }
    }

    fn z(&mut self, id: u64) -> &mut Zab {
        self.zabs.get_mut(&ServerId(id)).unwrap()
    }
}

fn sends(out: &[Output]) -> Vec<(ServerId, Message)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, msg } if !msg.is_election() => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

/// Three fresh voters (and an observer) elected and established.
fn established() -> Net {
    let mut net = Net::new(vec![
        member(1, Restored::default(), vec![]),
        member(2, Restored::default(), vec![]),
        member(3, Restored::default(), vec![]),
        member(4, Restored::default(), vec![]),
    ]);
    net.settle();
    net.ticks(4);
    net
}

#[test]
fn fresh_ensemble_elects_the_highest_sid_and_establishes_epoch_one() {
    let mut net = established();
    assert_eq!(net.z(3).role(), Role::Leading);
    for id in [1, 2] {
        assert_eq!(net.z(id).role(), Role::Following);
        assert_eq!(net.z(id).leader(), Some(ServerId(3)));
    }
    assert_eq!(net.z(4).role(), Role::Observing);
    for id in 1..=4 {
        assert!(net.z(id).is_serving(), "{}", net.z(id).summary());
        assert_eq!(net.z(id).current_epoch(), 1);
    }
}

#[test]
fn leader_commits_only_after_quorum_durable() {
    let mut net = established();
    let z = net.z(3).propose(Bytes::from_static(b"x")).unwrap();
    let out = drain(net.z(3));
    let Some(Output::Persist { seq, .. }) = out.first().cloned() else {
        panic!("{out:?}")
    };
    assert_eq!(
        sends(&out)
            .iter()
            .filter(|(_, m)| matches!(m, Message::Proposal(_)))
            .count(),
        2,
        "PROPOSAL to both followers, not to the observer"
    );
    // One follower's ACK alone is not a quorum while the leader's copy is not durable.
    net.z(3).step(ServerId(1), Message::Ack { zxid: z });
    assert!(drain(net.z(3)).is_empty());
    // The leader's own durability completes the quorum: COMMIT, INFORM, then Deliver.
    net.z(3).persisted(seq);
    let out = drain(net.z(3));
    let s = sends(&out);
    assert!(s.contains(&(ServerId(1), Message::Commit { zxid: z })));
    assert!(s.contains(&(ServerId(2), Message::Commit { zxid: z })));
    assert!(s
        .iter()
        .any(|(to, m)| *to == ServerId(4) && matches!(m, Message::Inform(p) if p.zxid == z)));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Deliver(p) if p.zxid == z)));
}

#[test]
fn follower_acks_proposal_only_after_it_is_durable() {
    let mut net = established();
    let f = net.z(1);
    let prop = Proposal {
        zxid: Zxid::new(1, 1),
        txn: Bytes::from_static(b"x"),
    };
    f.step(ServerId(3), Message::Proposal(prop));
    let out = drain(f);
    assert!(sends(&out).is_empty(), "no ACK before durability: {out:?}");
    let Some(Output::Persist { seq, .. }) = out.first().cloned() else {
        panic!("{out:?}")
    };
    f.persisted(seq);
    assert_eq!(
        sends(&drain(f)),
        vec![(
            ServerId(3),
            Message::Ack {
                zxid: Zxid::new(1, 1)
            }
        )]
    );
}

#[test]
fn follower_ignores_proposal_from_old_epoch() {
    let mut net = established();
    let f = net.z(1);
    f.step(ServerId(3), Message::Proposal(p(0, 7)));
    assert!(drain(f).is_empty());
    assert_eq!(f.last_logged(), Zxid::ZERO);
    assert_eq!(f.role(), Role::Following);
}

#[test]
fn follower_ignores_quorum_messages_from_a_non_leader() {
    let mut net = established();
    let f = net.z(1);
    f.step(ServerId(2), Message::Proposal(p(1, 1)));
    assert_eq!(drain(f), vec![Output::Disconnect { peer: ServerId(2) }]);
    assert_eq!(f.last_logged(), Zxid::ZERO);
}

#[test]
fn learner_acks_epoch_only_after_accepted_epoch_durable() {
    let mut l = member(1, restored(2, Zxid::new(2, 5)), vec![]);
    drain(&mut l);
    // Decide to follow 3 by joining an established leader (quorum of reports).
    for from in [2, 3] {
        l.step(
            ServerId(from),
            Message::Notification(Notification {
                state: if from == 3 {
                    PeerState::Leading
                } else {
                    PeerState::Following
                },
                vote: Vote {
                    leader: ServerId(3),
                    zxid: Zxid::new(2, 5),
                    peer_epoch: 2,
                },
                round: 1,
            }),
        );
    }
    assert_eq!(l.role(), Role::Following);
    let out = drain(&mut l);
    assert_eq!(
        sends(&out),
        vec![(ServerId(3), Message::FollowerInfo { accepted_epoch: 2 })]
    );
    l.step(ServerId(3), Message::LeaderInfo { new_epoch: 3 });
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "only the persist: {out:?}");
    let Output::Persist {
        seq,
        op: PersistOp::AcceptedEpoch(3),
    } = out[0]
    else {
        panic!("{out:?}")
    };
    l.persisted(seq);
    assert_eq!(
        sends(&drain(&mut l)),
        vec![(
            ServerId(3),
            Message::AckEpoch {
                last_logged: Zxid::new(2, 5),
                current_epoch: Some(2)
            }
        )]
    );
}

#[test]
fn learner_acks_new_leader_only_after_current_epoch_durable() {
    let mut net = established();
    // Follower 1 rejoins: drive it by hand from LEADERINFO on.
    let f = net.z(1);
    f.disconnected(ServerId(3));
    drain(f);
    for from in [2, 3] {
        f.step(
            ServerId(from),
            Message::Notification(Notification {
                state: if from == 3 {
                    PeerState::Leading
                } else {
                    PeerState::Following
                },
                vote: Vote {
                    leader: ServerId(3),
                    zxid: Zxid::ZERO,
                    peer_epoch: 1,
                },
                round: 9,
            }),
        );
    }
    drain(f);
    f.step(ServerId(3), Message::LeaderInfo { new_epoch: 1 });
    assert_eq!(
        sends(&drain(f)),
        vec![(
            ServerId(3),
            Message::AckEpoch {
                last_logged: Zxid::ZERO,
                current_epoch: None
            }
        )],
        "already accepted this epoch: -1 at once"
    );
    f.step(
        ServerId(3),
        Message::Diff {
            last_zxid: Zxid::ZERO,
        },
    );
    f.step(ServerId(3), Message::NewLeader { epoch: 1 });
    let out = drain(f);
    assert!(sends(&out).is_empty());
    let Some(Output::Persist {
        seq,
        op: PersistOp::CurrentEpoch(1),
    }) = out.last().cloned()
    else {
        panic!("{out:?}")
    };
    f.persisted(seq);
    assert_eq!(
        sends(&drain(f)),
        vec![(
            ServerId(3),
            Message::Ack {
                zxid: Zxid::new(1, 0)
            }
        )]
    );
    f.step(ServerId(3), Message::UpToDate);
    assert!(f.is_serving());
}

/// Leader 3 with history 1:1..1:3 (and follower 1 with the same), established in epoch 2.
fn leader_with_history() -> Net {
    let h: Vec<Proposal> = (1..=3).map(|c| p(1, c)).collect();
    let mut net = Net::new(vec![
        member(1, restored(1, Zxid::new(1, 3)), h.clone()),
        member(3, restored(1, Zxid::new(1, 3)), h),
    ]);
    net.settle();
    net.ticks(4);
    assert_eq!(net.z(3).role(), Role::Leading, "{}", net.z(3).summary());
    assert!(net.z(3).is_serving());
    net
}

/// Joins learner 2 (restored as given) to the leader by hand up to ACKEPOCH; returns the
/// leader's outputs after the ACKEPOCH.
fn join_learner_2(net: &mut Net, last: Zxid, current_epoch: u32) -> Vec<Output> {
    let leader = net.z(3);
    leader.step(
        ServerId(2),
        Message::FollowerInfo {
            accepted_epoch: current_epoch,
        },
    );
    assert_eq!(
        sends(&drain(leader)),
        vec![(ServerId(2), Message::LeaderInfo { new_epoch: 2 })]
    );
    leader.step(
        ServerId(2),
        Message::AckEpoch {
            last_logged: last,
            current_epoch: Some(current_epoch),
        },
    );
    drain(leader)
}

#[test]
fn diff_when_learner_is_within_the_committed_log() {
    let mut net = leader_with_history();
    let out = join_learner_2(&mut net, Zxid::new(1, 2), 1);
    assert_eq!(
        sends(&out),
        vec![
            (
                ServerId(2),
                Message::Diff {
                    last_zxid: Zxid::new(1, 3)
                }
            ),
            (ServerId(2), Message::Proposal(p(1, 3))),
            (
                ServerId(2),
                Message::Commit {
                    zxid: Zxid::new(1, 3)
                }
            ),
            (ServerId(2), Message::NewLeader { epoch: 2 }),
        ]
    );
}

#[test]
fn trunc_when_learner_has_uncommitted_tail() {
    let mut net = leader_with_history();
    let out = join_learner_2(&mut net, Zxid::new(1, 5), 1);
    assert_eq!(
        sends(&out),
        vec![
            (
                ServerId(2),
                Message::Trunc {
                    zxid: Zxid::new(1, 3)
                }
            ),
            (ServerId(2), Message::NewLeader { epoch: 2 }),
        ]
    );
    // The learner persists the truncation before it goes on.
    let mut l = member(
        2,
        restored(1, Zxid::new(1, 5)),
        (1..=5).map(|c| p(1, c)).collect(),
    );
    drain(&mut l);
    l.learner = Some(sync::Learner::new(ServerId(3), 0));
    l.role = Role::Following;
    l.phase = Phase::Discovery;
    l.step(ServerId(3), Message::LeaderInfo { new_epoch: 2 });
    let out = drain(&mut l);
    let Output::Persist { seq, .. } = out[0] else {
        panic!()
    };
    l.persisted(seq);
    drain(&mut l);
    l.step(
        ServerId(3),
        Message::Trunc {
            zxid: Zxid::new(1, 3),
        },
    );
    let out = drain(&mut l);
    assert!(
        matches!(out[..], [Output::TruncateAfter { zxid, .. }] if zxid == Zxid::new(1, 3)),
        "{out:?}"
    );
    assert_eq!(l.last_logged(), Zxid::new(1, 3));
}

#[test]
fn trunc_leaves_the_state_machine_at_the_truncation_point_even_above_what_was_delivered() {
    // Learner 2 delivered up to 1:3 and logged 1:4 and 1:5 without their COMMIT; the new
    // leader's history ends at 1:4, so it sends TRUNC 1:4. The driver rebuilds the state
    // machine from the log up to 1:4: zab must count 1:4 as delivered, or it would deliver it
    // again (and, leading later, label a snapshot of the rebuilt state 1:3).
    let mut l = member(
        2,
        restored(1, Zxid::new(1, 3)),
        (1..=3).map(|c| p(1, c)).collect(),
    );
    drain(&mut l);
    for c in 4..=5 {
        l.log.entries.push_back(p(1, c));
    }
    l.log.last_logged = Zxid::new(1, 5);
    l.log.durable = Zxid::new(1, 5);
    assert!(l.invariants());
    l.learner = Some(sync::Learner::new(ServerId(3), 0));
    l.role = Role::Following;
    l.phase = Phase::Discovery;
    l.step(ServerId(3), Message::LeaderInfo { new_epoch: 2 });
    let out = drain(&mut l);
    let Output::Persist { seq, .. } = out[0] else {
        panic!()
    };
    l.persisted(seq);
    drain(&mut l);
    l.step(
        ServerId(3),
        Message::Trunc {
            zxid: Zxid::new(1, 4),
        },
    );
    let out = drain(&mut l);
    assert!(
        matches!(out[..], [Output::TruncateAfter { zxid, .. }] if zxid == Zxid::new(1, 4)),
        "{out:?}"
    );
    assert_eq!(l.last_logged(), Zxid::new(1, 4));
    assert_eq!(l.last_delivered(), Zxid::new(1, 4));
    assert!(l.invariants());
}

#[test]
fn trunc_below_the_learners_snapshot_asks_for_snap_instead() {
    // No log after its snapshot at 1:5: the learner cannot go back to 1:3.
    let mut l = member(2, restored(1, Zxid::new(1, 5)), vec![]);
    drain(&mut l);
    l.learner = Some(sync::Learner::new(ServerId(3), 0));
    l.role = Role::Following;
    l.phase = Phase::Discovery;
    l.step(ServerId(3), Message::LeaderInfo { new_epoch: 2 });
    let out = drain(&mut l);
    let Output::Persist { seq, .. } = out[0] else {
        panic!()
    };
    l.persisted(seq);
    drain(&mut l);
    l.step(
        ServerId(3),
        Message::Trunc {
            zxid: Zxid::new(1, 3),
        },
    );
    assert_eq!(l.role(), Role::Looking);
    assert!(!drain(&mut l)
        .iter()
        .any(|o| matches!(o, Output::TruncateAfter { .. })));
    // Next time it reports no usable history, so a leader sends SNAP.
    assert_eq!(l.reported_last_logged(), Zxid::NONE);
}

#[test]
fn snap_when_learner_too_far_behind() {
    let mut net = leader_with_history();
    // Push the history past the DIFF window (committed_log_max = 3).
    for i in 0..5u8 {
        net.z(3).propose(Bytes::from(vec![i])).unwrap();
        net.settle();
    }
    let last = net.z(3).last_committed();
    assert_eq!(last, Zxid::new(2, 5));
    let out = join_learner_2(&mut net, Zxid::ZERO, 0);
    assert_eq!(
        out.first(),
        Some(&Output::SendSnapshot {
            to: ServerId(2),
            up_to: last
        })
    );
    assert_eq!(
        sends(&out),
        vec![(ServerId(2), Message::NewLeader { epoch: 2 })]
    );
}

#[test]
fn learner_more_recent_than_leader_is_dropped() {
    let mut net = leader_with_history();
    let leader = net.z(3);
    leader.step(ServerId(2), Message::FollowerInfo { accepted_epoch: 1 });
    drain(leader);
    leader.step(
        ServerId(2),
        Message::AckEpoch {
            last_logged: Zxid::new(2, 9),
            current_epoch: Some(2),
        },
    );
    assert_eq!(
        drain(leader),
        vec![Output::Disconnect { peer: ServerId(2) }]
    );
}

#[test]
fn leader_steps_down_without_a_quorum_within_sync_limit() {
    let mut net = established();
    let mut leader = net.zabs.remove(&ServerId(3)).unwrap();
    for _ in 0..ensemble().sync_limit + 1 {
        leader.tick();
    }
    assert_eq!(leader.role(), Role::Looking);
    let out = drain(&mut leader);
    assert!(out.contains(&Output::RoleChanged {
        role: Role::Looking,
        epoch: 1,
        leader: None
    }));
}

#[test]
fn learner_goes_looking_when_its_leader_is_silent() {
    let mut net = established();
    let f = net.z(1);
    for _ in 0..ensemble().sync_limit + 1 {
        f.tick();
    }
    assert_eq!(f.role(), Role::Looking);
}

#[test]
fn a_restarted_follower_catches_up_and_the_ensemble_delivers_the_same_sequence() {
    let mut net = established();
    for i in 0..6u8 {
        net.z(3).propose(Bytes::from(vec![i])).unwrap();
        net.settle();
    }
    // Follower 2 restarts empty-handed (its disk lost everything but the epochs).
    net.zabs
        .insert(ServerId(2), member(2, restored(1, Zxid::ZERO), vec![]));
    net.z(3).disconnected(ServerId(2));
    net.settle();
    net.ticks(6);
    assert!(net.z(2).is_serving(), "{}", net.z(2).summary());
    net.z(3).propose(Bytes::from_static(b"after")).unwrap();
    net.settle();
    let want = net.delivered[&ServerId(3)].last().copied();
    for id in [1, 2, 4] {
        assert_eq!(
            net.delivered[&ServerId(id)].last().copied(),
            want,
            "member {id}"
        );
    }
}

#[test]
fn observers_never_count_toward_a_quorum() {
    let mut net = established();
    let z = net.z(3).propose(Bytes::from_static(b"x")).unwrap();
    let out = drain(net.z(3));
    let Some(Output::Persist { seq, .. }) = out.first().cloned() else {
        panic!()
    };
    net.z(3).persisted(seq);
    drain(net.z(3));
    net.z(3).step(ServerId(4), Message::Ack { zxid: z });
    assert!(drain(net.z(3)).is_empty());
    assert_eq!(net.z(3).last_committed(), Zxid::ZERO);
}

#[test]
fn sync_answer_waits_for_outstanding_proposals() {
    let mut net = established();
    let z = net.z(3).propose(Bytes::from_static(b"x")).unwrap();
    drain(net.z(3));
    net.z(3)
        .to_learner(ServerId(1), LeaderPacket::Sync(Bytes::from_static(b"s")))
        .unwrap();
    assert!(drain(net.z(3)).is_empty(), "SYNC waits for the COMMIT");
    net.z(3).persisted(100);
    net.z(3).step(ServerId(1), Message::Ack { zxid: z });
    let s = sends(&drain(net.z(3)));
    let commit = s.iter().position(|m| m.1 == Message::Commit { zxid: z });
    let sync = s.iter().position(|m| matches!(m.1, Message::Sync { .. }));
    assert!(commit.is_some() && sync > commit, "{s:?}");
}

/// Persists every `Persist` in `out` at once; returns the other outputs (and what those
/// persists caused), in order.
fn persist_all(z: &mut Zab, out: Vec<Output>) -> Vec<Output> {
    let mut rest = Vec::new();
    let mut queue = out;
    for _ in 0..16 {
        if queue.is_empty() {
            break;
        }
        for o in std::mem::take(&mut queue) {
            match o {
                Output::Persist { seq, .. } => {
                    z.persisted(seq);
                    queue.extend(drain(z));
                }
                o => rest.push(o),
            }
        }
    }
    rest
}

/// A learner rejoining its leader within the same epoch learns from DIFF's zxid which of
/// its logged proposals are committed (ZooKeeper's sync has no lone COMMIT for them): it
/// delivers those at UPTODATE and not the one beyond.
#[test]
fn diff_zxid_commits_the_learners_own_history_and_pings_wait_for_newleader_ack() {
    let tail = vec![p(1, 1), p(2, 1), p(2, 2)];
    let mut l = member(2, restored(2, Zxid::new(2, 2)), tail);
    drain(&mut l);
    // It had seen the COMMIT of 1:1 only before it lost its leader (no restart: a restart
    // applies the whole log, as ZooKeeper does).
    l.log.committed = Zxid::new(1, 1);
    l.log.delivered = Zxid::new(1, 1);
    l.learner = Some(sync::Learner::new(ServerId(3), 0));
    l.role = Role::Following;
    l.phase = Phase::Discovery;
    l.step(ServerId(3), Message::LeaderInfo { new_epoch: 2 });
    let out = drain(&mut l);
    persist_all(&mut l, out);
    l.step(
        ServerId(3),
        Message::Diff {
            last_zxid: Zxid::new(2, 1),
        },
    );
    let ping = Message::Ping {
        zxid: Zxid::new(2, 2),
        data: Bytes::new(),
    };
    // A PING before the NEWLEADER ACK is not answered: a Java leader would read the reply
    // as that ACK.
    l.step(ServerId(3), ping.clone());
    assert_eq!(sends(&drain(&mut l)), vec![]);
    l.step(ServerId(3), Message::NewLeader { epoch: 2 });
    l.step(ServerId(3), ping.clone());
    let out = drain(&mut l);
    let out = persist_all(&mut l, out);
    assert!(
        !sends(&out)
            .iter()
            .any(|(_, m)| matches!(m, Message::Ping { .. })),
        "{out:?}"
    );
    l.step(ServerId(3), ping.clone());
    assert_eq!(
        sends(&drain(&mut l)),
        vec![(ServerId(3), ping)],
        "answered once NEWLEADER is ACKed"
    );
    assert!(
        sends(&out).contains(&(
            ServerId(3),
            Message::Ack {
                zxid: Zxid::new(2, 0)
            }
        )),
        "{out:?}"
    );
    l.step(ServerId(3), Message::UpToDate);
    let delivered: Vec<Zxid> = drain(&mut l)
        .into_iter()
        .filter_map(|o| match o {
            Output::Deliver(p) => Some(p.zxid),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec![Zxid::new(2, 1)]);
    assert!(l.is_serving());
    // The COMMIT of the last one delivers it.
    l.step(
        ServerId(3),
        Message::Commit {
            zxid: Zxid::new(2, 2),
        },
    );
    assert!(drain(&mut l).contains(&Output::Deliver(p(2, 2))));
}

/// What a Java learner (3.8) can digest during sync: every proposal before NEWLEADER comes
/// with its COMMIT (those of earlier epochs too, even before this leader marked them
/// committed), and this epoch's uncommitted proposals come after NEWLEADER, so their later
/// COMMITs follow a PROPOSAL the learner still holds.
#[test]
fn sync_sends_history_committed_before_newleader_and_pending_after() {
    let mut net = leader_with_history();
    // An outstanding proposal of epoch 2 (follower 1's ACK not delivered).
    let pending = net.z(3).propose(Bytes::from_static(b"x")).expect("leader");
    drain(net.z(3));
    // Pretend 1:3 was not marked committed yet: it is of an earlier epoch, so it is.
    net.z(3).log.committed = Zxid::new(1, 2);
    net.z(3).log.delivered = Zxid::new(1, 2);
    let out = join_learner_2(&mut net, Zxid::new(1, 1), 1);
    let proposal_of = |z: Zxid| {
        sends(&out).into_iter().find_map(|(_, m)| match m {
            Message::Proposal(p) if p.zxid == z => Some(Message::Proposal(p)),
            _ => None,
        })
    };
    assert_eq!(
        sends(&out),
        vec![
            (
                ServerId(2),
                Message::Diff {
                    last_zxid: Zxid::new(1, 2)
                }
            ),
            (ServerId(2), Message::Proposal(p(1, 2))),
            (
                ServerId(2),
                Message::Commit {
                    zxid: Zxid::new(1, 2)
                }
            ),
            (ServerId(2), Message::Proposal(p(1, 3))),
            (
                ServerId(2),
                Message::Commit {
                    zxid: Zxid::new(1, 3)
                }
            ),
            (ServerId(2), Message::NewLeader { epoch: 2 }),
            (
                ServerId(2),
                proposal_of(pending).expect("the pending proposal")
            ),
        ]
    );
}

#[test]
fn pending_syncs_count_the_zxids_forwarded_syncs_wait_for() {
    let mut net = established();
    assert_eq!(net.z(3).learner_counts().unwrap().pending_syncs, 0);
    let z = net.z(3).propose(Bytes::from_static(b"x")).unwrap();
    drain(net.z(3));
    for learner in [1, 4] {
        net.z(3)
            .to_learner(
                ServerId(learner),
                LeaderPacket::Sync(Bytes::from_static(b"s")),
            )
            .unwrap();
    }
    // Two syncs, both waiting for `z`: one pending zxid, as ZooKeeper's map counts it.
    assert_eq!(net.z(3).learner_counts().unwrap().pending_syncs, 1);
    let z2 = net.z(3).propose(Bytes::from_static(b"y")).unwrap();
    drain(net.z(3));
    net.z(3)
        .to_learner(ServerId(2), LeaderPacket::Sync(Bytes::from_static(b"s")))
        .unwrap();
    assert_eq!(net.z(3).learner_counts().unwrap().pending_syncs, 2);
    net.z(3).persisted(100);
    net.z(3).step(ServerId(1), Message::Ack { zxid: z });
    drain(net.z(3));
    assert_eq!(net.z(3).learner_counts().unwrap().pending_syncs, 1);
    net.z(3).step(ServerId(1), Message::Ack { zxid: z2 });
    drain(net.z(3));
    assert_eq!(net.z(3).learner_counts().unwrap().pending_syncs, 0);
}

#[test]
fn metrics_count_protocol_events_per_role() {
    let mut net = established();
    for id in 1..=4 {
        assert_eq!(net.z(id).metrics().looking_count, 1, "member {id}");
    }
    // A fresh ensemble: every learner is in sync already, so each gets a DIFF.
    assert_eq!(net.z(3).metrics().diff_count, 3);
    assert_eq!(net.z(3).metrics().snap_count, 0);
    let lc = net.z(3).learner_counts().unwrap();
    assert_eq!(
        (lc.learners, lc.synced_followers, lc.synced_observers),
        (3, 2, 1)
    );
    assert_eq!(lc.synced_non_voting_followers, 0);
    for _ in 0..5 {
        net.z(3).propose(Bytes::from_static(b"x")).unwrap();
    }
    net.settle();
    let leader = *net.z(3).metrics();
    assert_eq!((leader.proposal_count, leader.commit_count), (5, 5));
    assert_eq!(leader.learner_proposal_received, 0);
    for id in [1, 2] {
        let m = *net.z(id).metrics();
        assert_eq!(m.learner_proposal_received, 5, "follower {id}");
        assert_eq!(m.learner_commit_received, 5, "follower {id}");
        assert_eq!((m.proposal_count, m.commit_count), (0, 0));
    }
    let observer = *net.z(4).metrics();
    assert_eq!(observer.learner_proposal_received, 0);
    assert_eq!(observer.learner_commit_received, 5, "INFORMs");
    net.z(3).reset_metrics();
    assert_eq!(*net.z(3).metrics(), ZabMetrics::default());
}
