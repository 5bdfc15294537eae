//! Random seeds of NodeCore ensembles (`sim::node_sim`) on a time budget: `SIM_SECONDS`
//! (default 25 per test; the tests run in parallel), `SIM_SEEDS` caps the count, `SIM_SEED`
//! replays one seed, `SIM_FIRST` shifts the range.

#[test]
fn node_random_three_voters() {
    sim::node_sim::run_many("node_random_three_voters", 0, 3, 0, 25);
}

#[test]
fn node_random_five_voters_and_an_observer() {
    sim::node_sim::run_many(
        "node_random_five_voters_and_an_observer",
        1_000_000,
        5,
        1,
        25,
    );
}
