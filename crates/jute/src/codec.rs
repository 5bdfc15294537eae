//! Framing of the client port: a big-endian i32 length, then that many bytes.
//!
//! Splitting frames is tokio-util's `LengthDelimitedCodec`; this module only fixes its
//! parameters to ZooKeeper's (4-byte big-endian length, `jute.maxbuffer` limit) and offers a
//! writer that back-fills the length of a frame encoded in place.

use bytes::{BufMut, BytesMut};
use tokio_util::codec::LengthDelimitedCodec;

/// The client-port frame codec. A length above `max_buffer` (or a negative one, which reads
/// as a huge unsigned value) is a decode error: the connection is closed without a reply.
pub type FrameCodec = LengthDelimitedCodec;

/// Builds the frame codec with ZooKeeper's layout and the given `jute.maxbuffer`.
pub fn frame_codec(max_buffer: usize) -> FrameCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max_buffer)
        .new_codec()
}

/// Appends one frame to `dst`: reserves the length, lets `body` write the payload, then
/// back-fills the length. Avoids building the payload in a separate buffer.
pub fn write_frame(dst: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    let start = dst.len();
    dst.put_i32(0);
    body(dst);
    let len = (dst.len() - start - 4) as i32;
    dst[start..start + 4].copy_from_slice(&len.to_be_bytes());
}
