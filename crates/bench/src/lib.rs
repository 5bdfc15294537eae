//! zkbench: a load generator for ZooKeeper-compatible servers.
//!
//! It speaks the client protocol itself ([`client`]) with the workspace's `jute` records, so it
//! measures the server and not a client library, and runs the same way against Apache
//! ZooKeeper and zkserver. [`workload`] holds the workloads, [`stats`] the HDR histogram and
//! the one-line JSON report. The `zkbench` binary is the command line around them; see
//! `benches/compare.sh` for the side-by-side comparison.

pub mod client;
pub mod stats;
pub mod workload;
