//! Scenario tests of `NodeCore`'s request pipeline, driven through a small harness that plays
//! the store and the sockets (see `harness.rs`): outstanding changes, per-connection order,
//! watch delivery, error precedence, sessions, the container reaper and the small reads.

mod harness;

mod ensemble;
mod errors;
mod misc;
mod order;
mod outstanding;
mod sessions;
mod watches;
