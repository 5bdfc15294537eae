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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_MAX_BUFFER;
    use tokio_util::codec::Decoder;

    /// A buffer holding a frame header that claims `len` and `body_len` bytes of payload.
    fn frame_with(len: u32, body_len: usize) -> BytesMut {
        let mut buf = BytesMut::with_capacity(4 + body_len);
        buf.put_u32(len);
        buf.resize(4 + body_len, 0xab);
        buf
    }

    #[test]
    fn frame_of_exactly_max_buffer_is_accepted() {
        let mut codec = frame_codec(DEFAULT_MAX_BUFFER);
        assert_eq!(DEFAULT_MAX_BUFFER, 1_048_575);
        let mut buf = frame_with(1_048_575, 1_048_575);
        let frame = codec.decode(&mut buf).expect("accepted").expect("complete");
        assert_eq!(frame.len(), 1_048_575);
        assert!(buf.is_empty());
    }

    #[test]
    fn frame_one_byte_over_is_rejected_before_its_body_arrives() {
        let mut codec = frame_codec(DEFAULT_MAX_BUFFER);
        let mut buf = frame_with(1_048_576, 0);
        assert!(codec.decode(&mut buf).is_err());
    }

    #[test]
    fn negative_length_is_rejected() {
        for len in [0xffff_fffbu32, 0xffff_ffff, 0x8000_0000] {
            let mut codec = frame_codec(DEFAULT_MAX_BUFFER);
            let mut buf = frame_with(len, 8);
            assert!(codec.decode(&mut buf).is_err(), "length {len:#x} accepted");
        }
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let mut codec = frame_codec(DEFAULT_MAX_BUFFER);
        let mut buf = BytesMut::from(&[0u8, 0][..]);
        assert_eq!(codec.decode(&mut buf).expect("no error"), None);

        let mut codec = frame_codec(DEFAULT_MAX_BUFFER);
        let mut buf = frame_with(8, 5);
        assert_eq!(codec.decode(&mut buf).expect("no error"), None);
        buf.extend_from_slice(&[1, 2, 3]);
        let frame = codec.decode(&mut buf).expect("no error").expect("complete");
        assert_eq!(&frame[5..], &[1, 2, 3]);
    }

    #[test]
    fn empty_frame_is_a_frame() {
        let mut codec = frame_codec(DEFAULT_MAX_BUFFER);
        let mut buf = frame_with(0, 0);
        let frame = codec.decode(&mut buf).expect("no error").expect("complete");
        assert!(frame.is_empty());
    }

    #[test]
    fn write_frame_back_fills_lengths() {
        let mut buf = BytesMut::from(&b"xy"[..]);
        write_frame(&mut buf, |b| b.put_slice(b"hello"));
        write_frame(&mut buf, |_| {});
        write_frame(&mut buf, |b| b.put_u64(7));
        assert_eq!(
            &buf[..],
            b"xy\x00\x00\x00\x05hello\x00\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x07"
        );
        // And the codec reads them back.
        let mut codec = frame_codec(DEFAULT_MAX_BUFFER);
        let mut rest = buf.split_off(2);
        let frames: Vec<_> =
            std::iter::from_fn(|| codec.decode(&mut rest).ok().flatten()).collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(&frames[0][..], b"hello");
        assert!(frames[1].is_empty());
        assert_eq!(&frames[2][..], &7u64.to_be_bytes());
    }
}
