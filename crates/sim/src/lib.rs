//! Dev-only: whole zab ensembles in one thread from a seed — a simulated network, disks and
//! clock, a fault injector, clients with a tiny replicated register store, the Zab.tla-named
//! invariant checkers and a linearizability checker. A failing seed replays exactly.
//!
//! Layout: `rng` (splitmix64), `kv` (the replicated state machine and its txn bytes), `sim`
//! (members, network, disks, clients, faults, the event loop), `checkers/` (one property per
//! file), `linearizability` (Wing–Gong/Lowe search), `runner` (seed loop, env, report).
//!
//! What a client operation means here: writes, compare-and-set-by-version and reads all go
//! through zab as txns to whichever member leads (a read is a barrier through the log, like
//! ZooKeeper's sync + read), and complete when that leader delivers them; an operation whose
//! leader crashed or that timed out has an unknown outcome.
//!
//! `node_sim` runs the real request pipeline instead: every member a `node::NodeCore` over
//! the `store` crate's `SimFs`, ZooKeeper clients with sessions, and the checks of
//! `zk_model` (linearizability of sync+read / setData / sequential creates, per-session
//! order of plain reads, identical trees after healing, durability of acknowledged writes).

pub mod checkers;
pub mod kv;
pub mod linearizability;
pub mod net;
pub mod node_sim;
pub mod rng;
pub mod runner;
pub mod sim;
pub mod zk_model;

pub use sim::{FaultMix, Sim, SimConfig, Stats, TICK};
