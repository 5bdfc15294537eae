//! Entry points for fuzzers: each takes arbitrary bytes and runs every decoder that could see
//! them in production. `fuzz/` wraps them for libFuzzer (nightly); the proptests in this
//! module run the same functions on stable.
//!
//! Contract: these functions return normally for every input. The only panics are the
//! self-checks below, which fire when a decoded value does not survive `encode` + `decode`
//! unchanged — that is a codec bug, which is exactly what a fuzzer should report.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use crate::primitive::Record;
use crate::proto::{
    ConnectRequest, ConnectResponse, MultiResponse, OpRequest, ReplyHeader, RequestHeader,
    WatcherEvent,
};
use crate::quorum::{InitialMessage, LearnerInfo, Notification, QuorumCodec};
use crate::txn::Txn;
use crate::DEFAULT_MAX_BUFFER;

/// Re-encodes a decoded record and checks it decodes to the same value.
fn check_record<R: Record + PartialEq + std::fmt::Debug>(decoded: &R) {
    let mut again = decoded.to_bytes();
    let redecoded = R::decode(&mut again);
    assert_eq!(redecoded.as_ref(), Ok(decoded), "re-decode differs");
}

/// Decodes `data` as `R` from the front, and self-checks on success.
fn try_record<R: Record + PartialEq + std::fmt::Debug>(data: &[u8]) {
    let mut src = Bytes::copy_from_slice(data);
    if let Ok(record) = R::decode(&mut src) {
        check_record(&record);
    }
}

/// Everything a client (or a server, for replies) could hand our decoders as one frame
/// payload: a ConnectRequest, or a RequestHeader followed by the body its opcode names; and,
/// for the client side, a ReplyHeader followed by a notification, multi or connect response.
pub fn fuzz_decode_request(data: &[u8]) {
    try_record::<ConnectRequest>(data);
    try_record::<ConnectResponse>(data);

    let mut src = Bytes::copy_from_slice(data);
    if let Ok(header) = RequestHeader::decode(&mut src) {
        check_record(&header);
        decode_op_request(header.op_type, src);
    }

    let mut src = Bytes::copy_from_slice(data);
    if let Ok(header) = ReplyHeader::decode(&mut src) {
        check_record(&header);
        try_record::<WatcherEvent>(&src);
        try_record::<MultiResponse>(&src);
    }
}

/// Decodes `body` as the request body of `op_type`, self-checking on success. Also used by the
/// proptests to try every opcode on the same random bytes.
pub fn decode_op_request(op_type: i32, mut body: Bytes) {
    if let Ok(request) = OpRequest::decode(op_type, &mut body) {
        assert_eq!(request.op_type(), op_type, "decoded op changed type");
        let mut again = BytesMut::new();
        request.encode(&mut again);
        let redecoded = OpRequest::decode(op_type, &mut again.freeze());
        assert_eq!(redecoded.as_ref(), Ok(&request), "re-decode differs");
    }
}

/// A txn as the log and PROPOSAL packets carry it (header, body, optional digest).
pub fn fuzz_decode_txn(data: &[u8]) {
    if let Ok(txn) = Txn::decode(Bytes::copy_from_slice(data)) {
        let redecoded = Txn::decode(txn.to_bytes());
        assert_eq!(redecoded.as_ref(), Ok(&txn), "re-decode differs");
    }
}

/// The quorum and election ports: a stream of QuorumPackets (split by [`QuorumCodec`]), and
/// one payload read as a LearnerInfo, a Notification and an election handshake.
pub fn fuzz_decode_quorum(data: &[u8]) {
    let mut codec = QuorumCodec::new(DEFAULT_MAX_BUFFER);
    let mut stream = BytesMut::from(data);
    // Each packet takes at least 20 bytes, so this loop is bounded by the input.
    while let Ok(Some(packet)) = codec.decode(&mut stream) {
        check_record(&packet);
        if !stream.has_remaining() {
            break;
        }
    }

    try_record::<LearnerInfo>(data);
    try_record::<Notification>(data);
    try_record::<InitialMessage>(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::op;
    use proptest::prelude::*;

    /// Every opcode the decoder knows, plus a few it must refuse.
    const OPCODES: &[i32] = &[
        op::NOTIFICATION,
        op::CREATE,
        op::DELETE,
        op::EXISTS,
        op::GET_DATA,
        op::SET_DATA,
        op::GET_ACL,
        op::SET_ACL,
        op::GET_CHILDREN,
        op::SYNC,
        10,
        op::PING,
        op::GET_CHILDREN2,
        op::CHECK,
        op::MULTI,
        op::CREATE2,
        op::RECONFIG,
        op::CHECK_WATCHES,
        op::REMOVE_WATCHES,
        op::CREATE_CONTAINER,
        op::DELETE_CONTAINER,
        op::CREATE_TTL,
        op::MULTI_READ,
        op::AUTH,
        op::SET_WATCHES,
        op::SASL,
        op::GET_EPHEMERALS,
        op::GET_ALL_CHILDREN_NUMBER,
        op::SET_WATCHES2,
        op::ADD_WATCH,
        op::WHO_AM_I,
        op::CREATE_SESSION,
        op::CLOSE_SESSION,
        op::ERROR,
        i32::MIN,
        i32::MAX,
    ];

    /// Random bytes biased towards the small lengths and counts (0..8, -1) that let decoders
    /// get past the first field.
    fn fuzz_bytes() -> impl Strategy<Value = Vec<u8>> {
        let chunk = prop_oneof![
            any::<u8>().prop_map(|b| vec![b]),
            (-1i32..8).prop_map(|n| n.to_be_bytes().to_vec()),
            Just(vec![0x2f, 0x61]),
            any::<[u8; 4]>().prop_map(|b| b.to_vec()),
        ];
        prop::collection::vec(chunk, 0..48).prop_map(|chunks| chunks.concat())
    }

    proptest! {
        #[test]
        fn request_decoders_never_panic(data in fuzz_bytes()) {
            fuzz_decode_request(&data);
            for &op_type in OPCODES {
                decode_op_request(op_type, Bytes::copy_from_slice(&data));
            }
        }

        #[test]
        fn request_decoders_never_panic_on_plain_random_bytes(
            data in prop::collection::vec(any::<u8>(), 0..256)
        ) {
            fuzz_decode_request(&data);
            for &op_type in OPCODES {
                decode_op_request(op_type, Bytes::copy_from_slice(&data));
            }
        }

        #[test]
        fn txn_decoder_never_panics(data in fuzz_bytes()) {
            fuzz_decode_txn(&data);
        }

        /// A valid TxnHeader of every type in front of random bytes, so the body decoders run.
        #[test]
        fn txn_bodies_never_panic(op_index in 0..OPCODES.len(), body in fuzz_bytes()) {
            let mut data = vec![0u8; 28];
            data.extend_from_slice(&OPCODES[op_index].to_be_bytes());
            data.extend_from_slice(&body);
            fuzz_decode_txn(&data);
        }

        #[test]
        fn quorum_decoders_never_panic(data in fuzz_bytes()) {
            fuzz_decode_quorum(&data);
        }
    }

    /// Replays `fuzz/corpus/<target>/*` (the seeds, plus whatever a fuzzing run saved there)
    /// through the same functions the libFuzzer targets call.
    #[test]
    fn replay_fuzz_corpus() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        type Target = fn(&[u8]);
        let targets: [(&str, Target); 3] = [
            ("decode_request", fuzz_decode_request),
            ("decode_txn", fuzz_decode_txn),
            ("decode_quorum", fuzz_decode_quorum),
        ];
        for (target, run) in targets {
            let Ok(entries) = std::fs::read_dir(root.join(target)) else {
                continue; // no corpus checked out (e.g. the crate packaged on its own)
            };
            // Bounded: a long fuzzing run can leave a very large corpus behind.
            for entry in entries.flatten().take(20_000) {
                let data = std::fs::read(entry.path()).expect("corpus file readable");
                run(&data);
            }
        }
    }

    #[test]
    fn empty_and_tiny_inputs() {
        for len in 0..64 {
            for fill in [0x00u8, 0xff, 0x01, 0x7f] {
                let data = vec![fill; len];
                fuzz_decode_request(&data);
                fuzz_decode_txn(&data);
                fuzz_decode_quorum(&data);
                for &op_type in OPCODES {
                    decode_op_request(op_type, Bytes::copy_from_slice(&data));
                }
            }
        }
    }
}
