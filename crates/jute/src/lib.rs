//! Jute: ZooKeeper's wire and disk records.
//!
//! This crate owns the byte layout of every record ZooKeeper puts on the client port, in the
//! transaction log and snapshots, and (later) on the quorum ports. It knows nothing about
//! sockets, sessions or the tree: every function here is a pure function of bytes.
//!
//! Invariants:
//! - All integers are big-endian, as Java's `DataOutput` writes them.
//! - Decoding never panics and never allocates more than the input could justify: every
//!   length or count is checked against the bytes that remain before anything is reserved.
//! - `decode(encode(x)) == x` for every record (checked by proptest in each module).

pub mod codec;
pub mod error;
pub mod primitive;
pub mod proto;
pub mod txn;
pub mod types;

pub use codec::FrameCodec;
pub use error::ErrorCode;
pub use primitive::{DecodeError, Record};
pub use types::*;

/// The default limit on a frame's length and on any buffer inside a record, as ZooKeeper's
/// `jute.maxbuffer` (0xfffff bytes). A frame of exactly this length is accepted.
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;
