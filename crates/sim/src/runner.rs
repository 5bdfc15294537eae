//! Runs seeds: a random fault mix per seed, a chaos phase with clients, then healing with a
//! liveness deadline, a probe write, and the final checks. `SIM_SEED` replays one seed,
//! `SIM_SEEDS` caps the count, `SIM_SECONDS` sets the time budget (per test), `SIM_FIRST`
//! shifts the seed range.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::linearizability::Verdict;
use crate::rng::Rng;
use crate::sim::{FaultMix, Sim, SimConfig, Stats};

/// Ticks of chaos (faults and clients) per seed.
pub const CHAOS_TICKS: u64 = 400;
/// Ticks allowed after healing for one leader and full convergence.
pub const LIVENESS_TICKS: u64 = 300;
/// Search budget of the linearizability checker per key.
pub const LIN_BUDGET: usize = 300_000;

#[derive(Debug)]
pub struct Outcome {
    pub seed: u64,
    pub faults: FaultMix,
    pub stats: Stats,
    pub violations: Vec<String>,
    pub linearizability: Verdict,
    pub history_len: usize,
}

/// One seed, start to finish.
pub fn run_seed(seed: u64, voters: usize, observers: usize) -> Outcome {
    let mut rng = Rng::new(seed ^ 0x5EED);
    let faults = FaultMix::random(&mut rng);
    let mut config = SimConfig::new(seed, voters, observers);
    config.faults = faults;
    let mut sim = Sim::new(config);
    sim.run_ticks(20);
    sim.start_clients();
    sim.start_chaos();
    sim.run_ticks(CHAOS_TICKS);
    let violations = sim.heal_and_check(LIVENESS_TICKS, LIN_BUDGET);
    Outcome {
        seed,
        faults,
        stats: sim.stats.clone(),
        violations,
        linearizability: sim.lin_verdict.unwrap_or(Verdict::Unknown),
        history_len: sim.history.len(),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs seeds for `test` until the budget is spent; panics with the replay command on the
/// first failing seed.
pub fn run_many(test: &str, first_seed: u64, voters: usize, observers: usize) {
    if let Some(seed) = env_u64("SIM_SEED") {
        let o = run_seed(seed, voters, observers);
        println!(
            "{test}: seed {seed} faults {:?} stats {:?} lin {:?} ops {}",
            o.faults.names(),
            o.stats,
            o.linearizability,
            o.history_len
        );
        assert!(
            o.violations.is_empty(),
            "seed {seed} violations:\n{}",
            o.violations.join("\n")
        );
        return;
    }
    let budget = Duration::from_secs(env_u64("SIM_SECONDS").unwrap_or(30));
    let max = env_u64("SIM_SEEDS").unwrap_or(u64::MAX);
    // `SIM_FIRST` shifts the seed range, to explore seeds CI does not run.
    let first_seed = first_seed + env_u64("SIM_FIRST").unwrap_or(0);
    let start = Instant::now();
    let mut ran = 0u64;
    let mut mix: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut totals = Stats::default();
    let mut unknown_lin = 0;
    let mut ops = 0usize;
    while ran < max && start.elapsed() < budget {
        let seed = first_seed + ran;
        let o = run_seed(seed, voters, observers);
        ran += 1;
        for n in o.faults.names() {
            *mix.entry(n).or_default() += 1;
        }
        totals.crashes += o.stats.crashes;
        totals.partitions += o.stats.partitions;
        totals.diffs += o.stats.diffs;
        totals.truncs += o.stats.truncs;
        totals.snaps += o.stats.snaps;
        totals.leaders += o.stats.leaders;
        totals.acked += o.stats.acked;
        totals.unknown += o.stats.unknown;
        totals.messages += o.stats.messages;
        ops += o.history_len;
        if o.linearizability == Verdict::Unknown {
            unknown_lin += 1;
        }
        if !o.violations.is_empty() {
            panic!(
                "{test}: seed {seed} failed (faults {:?}):\n{}\nreplay: SIM_SEED={seed} cargo test -p sim -- {test} --nocapture",
                o.faults.names(),
                o.violations.join("\n")
            );
        }
    }
    println!(
        "{test}: {ran} seeds in {:.1}s; fault mix (seeds with each): {mix:?}; crashes {} partitions {} leaders {} DIFF {} TRUNC {} SNAP {} client ops {ops} acked {} unknown {} messages {}; linearizability inconclusive on {unknown_lin} seeds",
        start.elapsed().as_secs_f64(),
        totals.crashes,
        totals.partitions,
        totals.leaders,
        totals.diffs,
        totals.truncs,
        totals.snaps,
        totals.acked,
        totals.unknown,
        totals.messages,
    );
    assert!(ran > 0, "no seed ran");
}
