//! The tokio edge of zkserver (the only crate that names tokio, a clock or an OS socket).

pub mod config;
pub mod fourlw;
