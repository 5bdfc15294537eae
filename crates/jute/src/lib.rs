//! Jute: ZooKeeper's wire and disk records.
//!
//! This crate owns the byte layout of every record ZooKeeper puts on the client port, in the
//! transaction log and snapshots, and on the quorum and election ports. It knows nothing about
//! sockets, sessions or the tree: every function here is a pure function of bytes.
//!
//! Invariants:
//! - All integers are big-endian, as Java's `DataOutput` writes them.
//! - Decoding never panics and never allocates more than the input could justify: every
//!   length or count is checked against the bytes that remain before anything is reserved.
//! - `decode(encode(x)) == x` for every record (checked by proptest in each module, with the
//!   strategies of `testing`, which other crates get through the `proptest` feature).
//!
//! Map: [`primitive`] (the `Record` trait and jute primitives), [`types`] (Zxid, SessionId,
//! opcodes, Id/ACL/Stat), [`proto`] (client port), [`txn`] (transactions), [`quorum`]
//! (quorum and election ports), [`codec`] (client-port framing), [`password`] (session
//! passwords), [`fuzz`] (fuzzer entry points, also run by proptest and by `fuzz/`).

pub mod codec;
pub mod error;
pub mod fuzz;
pub mod password;
pub mod primitive;
pub mod proto;
pub mod quorum;
#[cfg(any(test, feature = "proptest"))]
pub mod testing;
pub mod txn;
pub mod types;

pub use codec::FrameCodec;
pub use error::ErrorCode;
pub use fuzz::{fuzz_decode_quorum, fuzz_decode_request, fuzz_decode_txn};
pub use password::session_password;
pub use primitive::{DecodeError, Record};
pub use types::*;

/// The default limit on a frame's length and on any buffer inside a record, as ZooKeeper's
/// `jute.maxbuffer` (0xfffff bytes). A frame of exactly this length is accepted.
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;
