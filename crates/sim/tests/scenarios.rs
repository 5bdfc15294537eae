//! Scripted scenarios: readable stories over the same simulator and checkers as the random
//! runs. Each ends with `heal_and_check` (liveness, durability, linearizability, …).

use sim::{Sim, SimConfig};
use zab::{Role, ServerId};

const LIVENESS_TICKS: u64 = 300;
const LIN_BUDGET: usize = 300_000;

fn ensemble(seed: u64, voters: usize) -> Sim {
    let mut sim = Sim::new(SimConfig::new(seed, voters, 1));
    sim.run_ticks(30);
    assert!(sim.serving_leader().is_some(), "no leader after 30 ticks");
    sim
}

fn finish(mut sim: Sim) -> Sim {
    let v = sim.heal_and_check(LIVENESS_TICKS, LIN_BUDGET);
    assert!(v.is_empty(), "violations:\n{}", v.join("\n"));
    sim
}

fn write_n(sim: &mut Sim, leader: ServerId, n: u64, base: u64) {
    for i in 0..n {
        while sim.write_at(leader, base + i).is_none() {
            sim.run_ticks(1);
        }
        sim.run_ticks(1);
    }
}

#[test]
fn leader_crash_under_load() {
    let mut sim = ensemble(11, 3);
    sim.start_clients();
    sim.run_ticks(50);
    let old = sim.serving_leader().expect("leader");
    sim.crash(old);
    sim.run_ticks(60);
    let new = sim
        .serving_leader()
        .expect("a new leader among the survivors");
    assert_ne!(new, old);
    assert!(sim.zab(new).map(|z| z.current_epoch()) > Some(1));
    sim.run_ticks(50);
    let sim = finish(sim);
    assert!(
        sim.stats.acked > 50,
        "clients made progress: {:?}",
        sim.stats
    );
}

#[test]
fn follower_catches_up_by_diff() {
    let mut sim = ensemble(12, 3);
    let leader = sim.serving_leader().expect("leader");
    let follower = sim
        .ids()
        .into_iter()
        .find(|id| *id != leader && id.0 <= 3)
        .expect("follower");
    write_n(&mut sim, leader, 3, 100);
    sim.crash(follower);
    write_n(&mut sim, leader, 5, 200);
    sim.restart(follower);
    sim.run_ticks(30);
    assert_eq!(sim.last_sync_to(follower), Some("DIFF"));
    finish(sim);
}

#[test]
fn follower_catches_up_by_snap_when_too_far_behind() {
    let mut sim = ensemble(13, 3);
    let leader = sim.serving_leader().expect("leader");
    let follower = sim
        .ids()
        .into_iter()
        .find(|id| *id != leader && id.0 <= 3)
        .expect("follower");
    sim.crash(follower);
    // More than committed_log_max (20) behind.
    write_n(&mut sim, leader, 30, 300);
    sim.restart(follower);
    sim.run_ticks(30);
    assert_eq!(sim.last_sync_to(follower), Some("SNAP"));
    finish(sim);
}

#[test]
fn deposed_leader_with_an_uncommitted_tail_is_truncated() {
    let mut sim = ensemble(14, 3);
    let old = sim.serving_leader().expect("leader");
    write_n(&mut sim, old, 3, 400);
    let others: Vec<ServerId> = sim.ids().into_iter().filter(|id| *id != old).collect();
    sim.partition(&[old], &others);
    // The isolated leader still proposes until syncLimit: an uncommitted tail.
    let tail = sim.write_at(old, 500);
    assert!(tail.is_some());
    sim.run_ticks(40);
    assert_eq!(sim.zab(old).map(|z| z.role()), Some(Role::Looking));
    let new = sim
        .serving_leader()
        .expect("the majority elects a new leader");
    write_n(&mut sim, new, 2, 600);
    sim.heal();
    sim.run_ticks(40);
    assert_eq!(sim.last_sync_to(old), Some("TRUNC"));
    finish(sim);
}

#[test]
fn minority_partition_of_the_leader() {
    let mut sim = ensemble(15, 5);
    sim.start_clients();
    sim.run_ticks(30);
    let old = sim.serving_leader().expect("leader");
    let buddy = sim
        .ids()
        .into_iter()
        .find(|id| *id != old)
        .expect("another");
    let majority: Vec<ServerId> = sim
        .ids()
        .into_iter()
        .filter(|id| *id != old && *id != buddy)
        .collect();
    sim.partition(&[old, buddy], &majority);
    sim.run_ticks(60);
    assert_ne!(
        sim.zab(old).map(|z| z.role()),
        Some(Role::Leading),
        "the minority leader stepped down"
    );
    let new = sim.serving_leader().expect("the majority side leads");
    assert!(majority.contains(&new));
    sim.heal();
    sim.run_ticks(30);
    finish(sim);
}

#[test]
fn asymmetric_partition_leader_cannot_reach_followers() {
    let mut sim = ensemble(16, 3);
    sim.start_clients();
    sim.run_ticks(30);
    let old = sim.serving_leader().expect("leader");
    for id in sim.ids() {
        if id != old {
            sim.block(old, id);
        }
    }
    sim.run_ticks(80);
    let new = sim
        .serving_leader()
        .expect("followers elect another leader");
    assert_ne!(new, old);
    sim.heal();
    sim.run_ticks(30);
    finish(sim);
}

#[test]
fn whole_ensemble_power_cut_loses_no_acknowledged_write() {
    let mut sim = ensemble(17, 3);
    sim.start_clients();
    sim.run_ticks(60);
    for id in sim.ids() {
        sim.crash(id);
    }
    sim.restart_all();
    sim.run_ticks(60);
    assert!(sim.serving_leader().is_some());
    finish(sim);
}
