//! Random seeds on a time budget (`SIM_SECONDS`, default 30 per test; the two tests run in
//! parallel), `SIM_SEEDS` to cap the count, `SIM_SEED` to replay one.

#[test]
fn random_three_voters_and_an_observer() {
    sim::runner::run_many("random_three_voters_and_an_observer", 0, 3, 1);
}

#[test]
fn random_five_voters_and_an_observer() {
    sim::runner::run_many("random_five_voters_and_an_observer", 1_000_000, 5, 1);
}
