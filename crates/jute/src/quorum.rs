//! Records of the two peer ports: ZAB's quorum port ([`QuorumPacket`] and the payloads it
//! carries) and the fast-leader-election port ([`InitialMessage`], [`Notification`]).
//!
//! Invariants:
//! - Quorum packets are consecutive jute records with **no** length prefix; [`QuorumCodec`]
//!   finds a packet's end by walking its length fields, and refuses any packet (or field) longer
//!   than its limit before buffering it.
//! - Election messages are framed (`int length` + payload, 1..=[`ELECTION_MESSAGE_MAX`]); the
//!   payload formats here are length-dependent, so [`LearnerInfo`] and [`Notification`] decode
//!   one whole payload and accept the older, shorter forms ZooKeeper still accepts.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::primitive::{read_bool, read_i32, read_i64, write_bool, DecodeError, Record};
use crate::record;
use crate::types::Id;

/// Packet types of `Leader.java`, the `type` of a [`QuorumPacket`].
pub mod packet_type {
    pub const REQUEST: i32 = 1;
    pub const PROPOSAL: i32 = 2;
    pub const ACK: i32 = 3;
    pub const COMMIT: i32 = 4;
    pub const PING: i32 = 5;
    pub const REVALIDATE: i32 = 6;
    pub const SYNC: i32 = 7;
    pub const INFORM: i32 = 8;
    pub const COMMITANDACTIVATE: i32 = 9;
    pub const NEWLEADER: i32 = 10;
    pub const FOLLOWERINFO: i32 = 11;
    pub const UPTODATE: i32 = 12;
    pub const DIFF: i32 = 13;
    pub const TRUNC: i32 = 14;
    pub const SNAP: i32 = 15;
    pub const OBSERVERINFO: i32 = 16;
    pub const LEADERINFO: i32 = 17;
    pub const ACKEPOCH: i32 = 18;
    pub const INFORMANDACTIVATE: i32 = 19;

    /// ZooKeeper's name of a packet type, for traces; `None` for unknown values.
    pub fn name(packet_type: i32) -> Option<&'static str> {
        const NAMES: [&str; 19] = [
            "REQUEST",
            "PROPOSAL",
            "ACK",
            "COMMIT",
            "PING",
            "REVALIDATE",
            "SYNC",
            "INFORM",
            "COMMITANDACTIVATE",
            "NEWLEADER",
            "FOLLOWERINFO",
            "UPTODATE",
            "DIFF",
            "TRUNC",
            "SNAP",
            "OBSERVERINFO",
            "LEADERINFO",
            "ACKEPOCH",
            "INFORMANDACTIVATE",
        ];
        let index = usize::try_from(packet_type.checked_sub(1)?).ok()?;
        NAMES.get(index).copied()
    }
}

record! {
    /// One message on the quorum port. `data` keeps null apart from empty (most packets send
    /// null); `authinfo` carries a forwarded REQUEST's session identities and is usually empty.
    pub struct QuorumPacket {
        pub packet_type: i32,
        pub zxid: i64,
        pub data: Option<Bytes>,
        pub authinfo: Vec<Id>,
    }
}

impl QuorumPacket {
    /// A packet with no data and no authinfo (ACK, COMMIT, UPTODATE, DIFF, TRUNC, SNAP, ...).
    pub fn new(packet_type: i32, zxid: i64) -> QuorumPacket {
        QuorumPacket {
            packet_type,
            zxid,
            data: None,
            authinfo: Vec::new(),
        }
    }

    /// A packet carrying `data` and no authinfo.
    pub fn with_data(packet_type: i32, zxid: i64, data: Bytes) -> QuorumPacket {
        QuorumPacket {
            packet_type,
            zxid,
            data: Some(data),
            authinfo: Vec::new(),
        }
    }

    /// The packet's data, with null read as empty.
    pub fn data_or_empty(&self) -> Bytes {
        self.data.clone().unwrap_or_default()
    }
}

/// Why [`QuorumCodec`] gave up on a stream. Either way the peer connection is dropped.
#[derive(Debug, thiserror::Error)]
pub enum QuorumCodecError {
    #[error("quorum peer io: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad quorum packet: {0}")]
    Decode(#[from] DecodeError),
}

/// Splits a quorum-port byte stream into [`QuorumPacket`]s and writes them back out.
///
/// `max_packet_len` bounds a whole packet and every buffer or string in it; ZooKeeper's own
/// bound on a field is `jute.maxbuffer` + `zookeeper.jute.maxbuffer.extrasize` (by default
/// twice `jute.maxbuffer`), and a PROPOSAL's data is a txn of up to about `jute.maxbuffer`.
#[derive(Debug, Clone, Copy)]
pub struct QuorumCodec {
    max_packet_len: usize,
}

impl QuorumCodec {
    pub fn new(max_packet_len: usize) -> QuorumCodec {
        QuorumCodec { max_packet_len }
    }
}

/// Walks the length fields of the packet at the front of `buf`. `Ok(None)`: incomplete;
/// `Ok(Some(n))`: the packet is the first `n` bytes. Does no allocation, and gives up as soon
/// as the packet would exceed `max`, so a hostile count or length costs nothing.
fn scan_packet_len(buf: &[u8], max: usize) -> Result<Option<usize>, DecodeError> {
    struct Scan<'a> {
        buf: &'a [u8],
        pos: usize,
        max: usize,
    }
    impl Scan<'_> {
        fn i32_at_pos(&self) -> Option<i32> {
            let end = self.pos.checked_add(4)?;
            let raw: [u8; 4] = self.buf.get(self.pos..end)?.try_into().ok()?;
            Some(i32::from_be_bytes(raw))
        }
        fn advance(&mut self, n: usize) -> Result<(), DecodeError> {
            self.pos = self.pos.saturating_add(n);
            if self.pos > self.max {
                return Err(DecodeError::TooLarge {
                    len: self.pos,
                    max: self.max,
                });
            }
            Ok(())
        }
        /// A length-prefixed buffer or string; `Ok(false)` when the prefix is not buffered yet.
        fn skip_sized(&mut self) -> Result<bool, DecodeError> {
            let Some(len) = self.i32_at_pos() else {
                return Ok(false);
            };
            self.advance(4)?;
            match len {
                -1 => {}
                n if n < 0 => return Err(DecodeError::NegativeLength(n)),
                n => self.advance(n as usize)?,
            }
            Ok(true)
        }
    }

    let mut scan = Scan { buf, pos: 0, max };
    // type (int) + zxid (long)
    scan.advance(12)?;
    if !scan.skip_sized()? {
        return Ok(None);
    }
    let Some(count) = scan.i32_at_pos() else {
        return Ok(None);
    };
    scan.advance(4)?;
    let count = match count {
        -1 => 0,
        n if n < 0 => return Err(DecodeError::NegativeLength(n)),
        n => n as usize,
    };
    // Each Id is two length-prefixed strings (8 bytes at least), so this loop ends within
    // min(buffered, max) / 8 rounds whatever the count claims.
    for _ in 0..count {
        if scan.pos >= buf.len() || !scan.skip_sized()? || !scan.skip_sized()? {
            return Ok(None);
        }
    }
    Ok((scan.pos <= buf.len()).then_some(scan.pos))
}

impl tokio_util::codec::Decoder for QuorumCodec {
    type Item = QuorumPacket;
    type Error = QuorumCodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<QuorumPacket>, QuorumCodecError> {
        let Some(len) = scan_packet_len(src, self.max_packet_len)? else {
            return Ok(None);
        };
        let mut packet = src.split_to(len).freeze();
        Ok(Some(QuorumPacket::decode(&mut packet)?))
    }
}

impl tokio_util::codec::Encoder<QuorumPacket> for QuorumCodec {
    type Error = QuorumCodecError;

    fn encode(&mut self, item: QuorumPacket, dst: &mut BytesMut) -> Result<(), QuorumCodecError> {
        item.encode(dst);
        Ok(())
    }
}

impl tokio_util::codec::Encoder<&QuorumPacket> for QuorumCodec {
    type Error = QuorumCodecError;

    fn encode(&mut self, item: &QuorumPacket, dst: &mut BytesMut) -> Result<(), QuorumCodecError> {
        item.encode(dst);
        Ok(())
    }
}

/// The learner protocol version ZooKeeper 3.4+ sends in [`LearnerInfo`] and LEADERINFO.
pub const LEARNER_PROTOCOL_VERSION: i32 = 0x10000;

/// The data of FOLLOWERINFO / OBSERVERINFO. On the wire it is 20 bytes (sid, protocol version,
/// config version); older learners send 12 (no config version) or 8 (sid only), and the leader
/// accepts all three. `config_version` is only written when `protocol_version` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnerInfo {
    pub server_id: i64,
    pub protocol_version: Option<i32>,
    pub config_version: Option<i64>,
}

impl LearnerInfo {
    /// The current 20-byte form.
    pub fn new(server_id: i64, config_version: i64) -> LearnerInfo {
        LearnerInfo {
            server_id,
            protocol_version: Some(LEARNER_PROTOCOL_VERSION),
            config_version: Some(config_version),
        }
    }
}

impl Record for LearnerInfo {
    fn encode<B: BufMut>(&self, dst: &mut B) {
        dst.put_i64(self.server_id);
        if let Some(version) = self.protocol_version {
            dst.put_i32(version);
            if let Some(config) = self.config_version {
                dst.put_i64(config);
            }
        }
    }

    /// Decodes a whole FOLLOWERINFO/OBSERVERINFO payload: the form is chosen by its length
    /// (>= 20, >= 12, >= 8 bytes) and bytes past the recognised form are skipped, as the leader
    /// does.
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError> {
        let server_id = read_i64(src)?;
        let protocol_version = if src.remaining() >= 4 {
            Some(read_i32(src)?)
        } else {
            None
        };
        let config_version = if protocol_version.is_some() && src.remaining() >= 8 {
            Some(read_i64(src)?)
        } else {
            None
        };
        src.advance(src.remaining());
        Ok(LearnerInfo {
            server_id,
            protocol_version,
            config_version,
        })
    }
}

record! {
    /// REQUEST data (learner → leader): a forwarded client request. `body` is the raw request
    /// record (no RequestHeader), everything after the fixed fields.
    pub struct QuorumRequestHeader {
        pub session_id: i64,
        pub cxid: i32,
        pub op_type: i32,
    }
}

/// REQUEST data split into its header and the raw request bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumRequest {
    pub session_id: i64,
    pub cxid: i32,
    pub op_type: i32,
    pub body: Bytes,
}

impl Record for QuorumRequest {
    fn encode<B: BufMut>(&self, dst: &mut B) {
        dst.put_i64(self.session_id);
        dst.put_i32(self.cxid);
        dst.put_i32(self.op_type);
        dst.put_slice(&self.body);
    }
    /// Takes all of `src`: the body runs to the end of the packet data.
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError> {
        let header = QuorumRequestHeader::decode(src)?;
        Ok(QuorumRequest {
            session_id: header.session_id,
            cxid: header.cxid,
            op_type: header.op_type,
            body: src.split_to(src.remaining()),
        })
    }
}

record! {
    /// One session a learner touched since its last PING reply (the reply's data is a run of
    /// these), and the REVALIDATE request a learner sends for a reconnecting client.
    pub struct SessionTouch {
        pub session_id: i64,
        pub timeout: i32,
    }
}

/// Reads a learner's PING data: back-to-back [`SessionTouch`]es to the end of the buffer.
pub fn read_session_touches(mut src: Bytes) -> Result<Vec<SessionTouch>, DecodeError> {
    // 12 bytes per touch: a length that is not a multiple is a truncated record.
    let partial = src.remaining() - src.remaining() / 12 * 12;
    if partial != 0 {
        return Err(DecodeError::UnexpectedEnd {
            needed: 12 - partial,
        });
    }
    let mut out = Vec::with_capacity(src.remaining() / 12);
    while src.has_remaining() {
        out.push(SessionTouch::decode(&mut src)?);
    }
    Ok(out)
}

/// Writes a learner's PING data.
pub fn write_session_touches<B: BufMut>(dst: &mut B, touches: &[SessionTouch]) {
    for touch in touches {
        touch.encode(dst);
    }
}

/// Packs a forwarded request for zab's opaque `Message::Request { data }`: the session's
/// auth ids as a jute `vector<Id>`, then the REQUEST data (`QuorumRequest` bytes). On the
/// wire a QuorumPacket carries the ids in its `authinfo` field; the server's wire mapping
/// moves them between the two.
pub fn pack_request(authinfo: &[crate::Id], request: &[u8]) -> Bytes {
    let mut out = bytes::BytesMut::with_capacity(4 + request.len());
    crate::primitive::write_vec(&mut out, authinfo, |d, id| id.encode(d));
    out.extend_from_slice(request);
    out.freeze()
}

/// Splits what [`pack_request`] packed: `(authinfo, request data)`.
pub fn unpack_request(mut data: Bytes) -> Result<(Vec<crate::Id>, Bytes), DecodeError> {
    let ids = crate::primitive::read_vec(&mut data, crate::Id::decode)?;
    Ok((ids, data))
}

/// The leader's answer to REVALIDATE: whether the session is still alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RevalidateReply {
    pub session_id: i64,
    pub valid: bool,
}

impl Record for RevalidateReply {
    fn encode<B: BufMut>(&self, dst: &mut B) {
        dst.put_i64(self.session_id);
        write_bool(dst, self.valid);
    }
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError> {
        Ok(RevalidateReply {
            session_id: read_i64(src)?,
            valid: read_bool(src)?,
        })
    }
}

/// The largest election-port frame payload ZooKeeper accepts (512 KiB); 0 is refused too.
pub const ELECTION_MESSAGE_MAX: usize = 512 * 1024;

/// The longest address an election handshake may carry.
pub const ELECTION_ADDR_MAX: usize = 2048;

/// Election handshake protocol version 1: one `host:port` address.
pub const ELECTION_PROTOCOL_V1: i64 = -65536;

/// Election handshake protocol version 2 (`multiAddress.enabled`): `h1:p1|h2:p2`.
pub const ELECTION_PROTOCOL_V2: i64 = -65535;

/// The first bytes the connecting side sends on the election port (unframed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialMessage {
    /// Pre-3.5 peers: a non-negative first long is the sid itself and nothing follows.
    Legacy { sid: i64 },
    /// `protocol_version` is [`ELECTION_PROTOCOL_V1`] or [`ELECTION_PROTOCOL_V2`].
    Versioned {
        protocol_version: i64,
        sid: i64,
        addr: String,
    },
}

impl InitialMessage {
    pub fn sid(&self) -> i64 {
        match self {
            InitialMessage::Legacy { sid } | InitialMessage::Versioned { sid, .. } => *sid,
        }
    }
}

impl Record for InitialMessage {
    fn encode<B: BufMut>(&self, dst: &mut B) {
        match self {
            InitialMessage::Legacy { sid } => dst.put_i64(*sid),
            InitialMessage::Versioned {
                protocol_version,
                sid,
                addr,
            } => {
                dst.put_i64(*protocol_version);
                dst.put_i64(*sid);
                dst.put_i32(addr.len() as i32);
                dst.put_slice(addr.as_bytes());
            }
        }
    }

    /// Reads the handshake from the front of `src`. `UnexpectedEnd` means "read more bytes";
    /// any other error means the peer must be disconnected.
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError> {
        let first = read_i64(src)?;
        if first >= 0 {
            return Ok(InitialMessage::Legacy { sid: first });
        }
        if first != ELECTION_PROTOCOL_V1 && first != ELECTION_PROTOCOL_V2 {
            return Err(DecodeError::InvalidValue {
                field: "election protocol version",
                value: first,
            });
        }
        let sid = read_i64(src)?;
        let len = read_i32(src)?;
        if len <= 0 {
            return Err(DecodeError::InvalidValue {
                field: "election address length",
                value: len as i64,
            });
        }
        let len = len as usize;
        if len > ELECTION_ADDR_MAX {
            return Err(DecodeError::TooLarge {
                len,
                max: ELECTION_ADDR_MAX,
            });
        }
        if src.remaining() < len {
            return Err(DecodeError::UnexpectedEnd {
                needed: len - src.remaining(),
            });
        }
        let raw = src.split_to(len);
        // Strict (unlike ustrings): an address that is not UTF-8 cannot be parsed as
        // host:port anyway, and replacing bytes could push it past ELECTION_ADDR_MAX.
        let addr = String::from_utf8(raw.to_vec()).map_err(|_| DecodeError::InvalidValue {
            field: "election address (not UTF-8)",
            value: len as i64,
        })?;
        Ok(InitialMessage::Versioned {
            protocol_version: first,
            sid,
            addr,
        })
    }
}

/// Server states carried in a [`Notification`] (`QuorumPeer.ServerState`).
pub mod peer_state {
    pub const LOOKING: i32 = 0;
    pub const FOLLOWING: i32 = 1;
    pub const LEADING: i32 = 2;
    pub const OBSERVING: i32 = 3;
}

/// The notification version ZooKeeper 3.5+ sends (with a config).
pub const NOTIFICATION_VERSION: i32 = 2;

/// The shortest notification a receiver accepts (no peer epoch, no version).
pub const NOTIFICATION_MIN_LEN: usize = 28;

/// A fast-leader-election vote, the payload of one election-port frame.
///
/// Decoding normalises the old forms: a 28-byte message has no peer epoch (it is taken from
/// the zxid's epoch) and a 40-byte one no version (version 0); both have no config. Encoding
/// always writes the full form (44 bytes + config); the config is only sent when
/// `version > 1`, as receivers only read it then.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notification {
    /// One of [`peer_state`].
    pub state: i32,
    /// The proposed leader's sid.
    pub leader: i64,
    /// The proposed leader's last logged zxid.
    pub zxid: i64,
    /// The sender's logical clock (election round).
    pub election_epoch: i64,
    /// The proposed leader's current epoch.
    pub peer_epoch: i64,
    pub version: i32,
    /// Dynamic config text (`server.N=...\nversion=hex`).
    pub config: Bytes,
}

impl Record for Notification {
    fn encode<B: BufMut>(&self, dst: &mut B) {
        dst.put_i32(self.state);
        dst.put_i64(self.leader);
        dst.put_i64(self.zxid);
        dst.put_i64(self.election_epoch);
        dst.put_i64(self.peer_epoch);
        dst.put_i32(self.version);
        if self.version > 1 {
            dst.put_i32(self.config.len() as i32);
            dst.put_slice(&self.config);
        } else {
            dst.put_i32(0);
        }
    }

    /// Decodes one whole message (the frame payload); bytes after the recognised form are
    /// skipped, as FastLeaderElection does.
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError> {
        let len = src.remaining();
        if len < NOTIFICATION_MIN_LEN {
            return Err(DecodeError::UnexpectedEnd {
                needed: NOTIFICATION_MIN_LEN - len,
            });
        }
        let state = read_i32(src)?;
        let leader = read_i64(src)?;
        let zxid = read_i64(src)?;
        let election_epoch = read_i64(src)?;
        let mut n = Notification {
            state,
            leader,
            zxid,
            election_epoch,
            // The 28-byte form predates peerEpoch; receivers use the zxid's epoch.
            peer_epoch: zxid >> 32,
            version: 0,
            config: Bytes::new(),
        };
        if len != NOTIFICATION_MIN_LEN {
            n.peer_epoch = read_i64(src)?;
            // A 40-byte message is treated as having no version (its last 4 bytes are ignored).
            if len != 40 {
                n.version = read_i32(src)?;
                if n.version > 1 {
                    let config_len = read_i32(src)?;
                    if config_len < 0 {
                        return Err(DecodeError::NegativeLength(config_len));
                    }
                    let config_len = config_len as usize;
                    if src.remaining() < config_len {
                        return Err(DecodeError::UnexpectedEnd {
                            needed: config_len - src.remaining(),
                        });
                    }
                    n.config = src.split_to(config_len);
                }
            }
        }
        src.advance(src.remaining());
        Ok(n)
    }
}

/// The election-port frame codec: big-endian i32 length, payload up to
/// [`ELECTION_MESSAGE_MAX`]. ZooKeeper also drops a peer that sends a zero length; the caller
/// checks that (the codec yields an empty frame).
pub fn election_frame_codec() -> tokio_util::codec::LengthDelimitedCodec {
    crate::codec::frame_codec(ELECTION_MESSAGE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use proptest::prelude::*;
    use tokio_util::codec::{Decoder, Encoder};

    fn check_round_trip<R: Record + PartialEq + std::fmt::Debug>(record: &R) {
        assert_eq!(R::from_bytes(record.to_bytes()).as_ref(), Ok(record));
    }

    proptest! {
        #[test]
        fn quorum_packet_round_trips(p in testing::quorum_packet()) {
            check_round_trip(&p);
        }

        /// Packets written back to back and fed to the codec in arbitrary pieces come out
        /// whole and in order.
        #[test]
        fn codec_splits_a_stream(
            packets in proptest::collection::vec(testing::quorum_packet(), 0..5),
            cuts in proptest::collection::vec(0usize..400, 0..6),
        ) {
            let mut codec = QuorumCodec::new(crate::DEFAULT_MAX_BUFFER);
            let mut wire = BytesMut::new();
            for p in &packets {
                codec.encode(p, &mut wire)?;
            }
            let wire = wire.freeze();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
            cuts.push(wire.len());
            cuts.sort_unstable();
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            let mut fed = 0;
            for cut in cuts {
                buf.extend_from_slice(&wire[fed..cut]);
                fed = cut;
                while let Some(p) = codec.decode(&mut buf)? {
                    out.push(p);
                }
            }
            prop_assert!(buf.is_empty());
            prop_assert_eq!(out, packets);
        }

        #[test]
        fn learner_info_round_trips(info in testing::learner_info()) {
            let bytes = info.to_bytes();
            let expected_len = match (info.protocol_version, info.config_version) {
                (None, _) => 8,
                (Some(_), None) => 12,
                (Some(_), Some(_)) => 20,
            };
            prop_assert_eq!(bytes.len(), expected_len);
            check_round_trip(&info);
        }

        #[test]
        fn notification_round_trips(n in testing::notification()) {
            check_round_trip(&n);
        }

        #[test]
        fn initial_message_round_trips(m in testing::initial_message()) {
            check_round_trip(&m);
        }

        #[test]
        fn quorum_request_round_trips(r in testing::quorum_request()) {
            check_round_trip(&r);
        }

        #[test]
        fn session_touches_round_trip(
            touches in proptest::collection::vec(testing::session_touch(), 0..6)
        ) {
            let mut b = BytesMut::new();
            write_session_touches(&mut b, &touches);
            prop_assert_eq!(read_session_touches(b.freeze())?, touches);
        }

        #[test]
        fn revalidate_reply_round_trips(r in testing::revalidate_reply()) {
            check_round_trip(&r);
        }
    }

    #[test]
    fn packet_type_names() {
        assert_eq!(packet_type::name(packet_type::REQUEST), Some("REQUEST"));
        assert_eq!(packet_type::name(packet_type::SNAP), Some("SNAP"));
        assert_eq!(
            packet_type::name(packet_type::INFORMANDACTIVATE),
            Some("INFORMANDACTIVATE")
        );
        for unknown in [0, 20, -1, i32::MIN, i32::MAX] {
            assert_eq!(packet_type::name(unknown), None);
        }
    }

    /// LEADERINFO as captured: zxid newEpoch<<32, data `00010000`, empty authinfo.
    #[test]
    fn golden_leader_info_packet() {
        let packet = QuorumPacket::with_data(
            packet_type::LEADERINFO,
            2 << 32,
            Bytes::copy_from_slice(&LEARNER_PROTOCOL_VERSION.to_be_bytes()),
        );
        let expected: &[u8] = &[
            0, 0, 0, 17, // type
            0, 0, 0, 2, 0, 0, 0, 0, // zxid
            0, 0, 0, 4, 0, 1, 0, 0, // data
            0, 0, 0, 0, // authinfo: empty vector
        ];
        assert_eq!(&packet.to_bytes()[..], expected);
        let ack = QuorumPacket::new(packet_type::ACK, 5);
        assert_eq!(
            &ack.to_bytes()[..],
            &[0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 5, 255, 255, 255, 255, 0, 0, 0, 0]
        );
    }

    #[test]
    fn codec_refuses_huge_or_negative_lengths_without_buffering() {
        let mut codec = QuorumCodec::new(1024);
        let mut head = BytesMut::new();
        head.put_i32(packet_type::PROPOSAL);
        head.put_i64(1);
        head.put_i32(1 << 30);
        assert!(matches!(
            codec.decode(&mut head.clone()),
            Err(QuorumCodecError::Decode(DecodeError::TooLarge { .. }))
        ));

        let mut negative = BytesMut::new();
        negative.put_i32(packet_type::ACK);
        negative.put_i64(1);
        negative.put_i32(-5);
        assert!(matches!(
            codec.decode(&mut negative),
            Err(QuorumCodecError::Decode(DecodeError::NegativeLength(-5)))
        ));

        // An authinfo count of 2^31-1 gives up once the ids would pass the limit.
        let mut ids = BytesMut::new();
        ids.put_i32(packet_type::REQUEST);
        ids.put_i64(-1);
        ids.put_i32(-1);
        ids.put_i32(i32::MAX);
        for _ in 0..200 {
            ids.put_i32(0);
            ids.put_i32(0);
        }
        assert!(matches!(
            codec.decode(&mut ids),
            Err(QuorumCodecError::Decode(DecodeError::TooLarge { .. }))
        ));
    }

    #[test]
    fn learner_info_short_forms() {
        let full = LearnerInfo::new(3, 0x1_0000_0000);
        let bytes = full.to_bytes();
        assert_eq!(bytes.len(), 20);
        for (len, pv, cv) in [
            (8, None, None),
            (11, None, None),
            (12, Some(LEARNER_PROTOCOL_VERSION), None),
            (19, Some(LEARNER_PROTOCOL_VERSION), None),
            (20, Some(LEARNER_PROTOCOL_VERSION), Some(0x1_0000_0000)),
        ] {
            let mut src = bytes.slice(..len);
            let info = LearnerInfo::decode(&mut src).expect("accepted form");
            assert_eq!(
                (info.server_id, info.protocol_version, info.config_version),
                (3, pv, cv)
            );
            assert!(src.is_empty());
        }
        assert!(LearnerInfo::decode(&mut bytes.slice(..7)).is_err());
    }

    /// The captured 3.8.0 notification: 182 bytes, state FOLLOWING, leader 3, zxid 0,
    /// electionEpoch 1, peerEpoch 1, version 2, 138 bytes of config.
    #[test]
    fn golden_notification_shape() {
        let config = Bytes::from(vec![b'x'; 138]);
        let n = Notification {
            state: peer_state::FOLLOWING,
            leader: 3,
            zxid: 0,
            election_epoch: 1,
            peer_epoch: 1,
            version: NOTIFICATION_VERSION,
            config,
        };
        let bytes = n.to_bytes();
        assert_eq!(bytes.len(), 182);
        assert_eq!(&bytes[36..44], &[0, 0, 0, 2, 0, 0, 0, 138]);
        check_round_trip(&n);
    }

    #[test]
    fn notification_old_forms() {
        let mut b = BytesMut::new();
        b.put_i32(peer_state::LOOKING);
        b.put_i64(2);
        b.put_i64(0x5_0000_0007);
        b.put_i64(9);
        let n28 = Notification::decode(&mut b.clone().freeze()).expect("28-byte form");
        assert_eq!(n28.peer_epoch, 5, "peer epoch comes from the zxid");
        assert_eq!((n28.version, n28.config.len()), (0, 0));

        b.put_i64(6);
        b.put_i32(1); // 3.4.6 wrote version 1 here; a 40-byte message is read as version 0
        let n40 = Notification::decode(&mut b.clone().freeze()).expect("40-byte form");
        assert_eq!((n40.peer_epoch, n40.version), (6, 0));

        b.put_i32(0); // 44 bytes: version 1 is read, and no config (only read when > 1)
        let n44 = Notification::decode(&mut b.clone().freeze()).expect("44-byte form");
        assert_eq!((n44.peer_epoch, n44.version, n44.config.len()), (6, 1, 0));

        for short in [0, 27, 29, 35] {
            assert!(Notification::decode(&mut b.clone().freeze().slice(..short)).is_err());
        }
        // version 2 claiming more config than was sent
        let mut v2 = BytesMut::from(&b[..36]);
        v2.put_i32(2);
        v2.put_i32(100);
        v2.put_slice(b"server.1=");
        assert!(Notification::decode(&mut v2.freeze()).is_err());
    }

    #[test]
    fn initial_message_forms() {
        let mut legacy = BytesMut::new();
        legacy.put_i64(7);
        assert_eq!(
            InitialMessage::from_bytes(legacy.freeze()),
            Ok(InitialMessage::Legacy { sid: 7 })
        );

        let hello = InitialMessage::Versioned {
            protocol_version: ELECTION_PROTOCOL_V1,
            sid: 2,
            addr: "127.0.0.1:3888".into(),
        };
        let bytes = hello.to_bytes();
        assert_eq!(&bytes[..8], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
        assert_eq!(InitialMessage::from_bytes(bytes.clone()), Ok(hello.clone()));
        assert_eq!(hello.sid(), 2);
        // Every strict prefix asks for more bytes.
        for len in 0..bytes.len() {
            assert!(matches!(
                InitialMessage::decode(&mut bytes.slice(..len)),
                Err(DecodeError::UnexpectedEnd { .. })
            ));
        }

        let mut bad_version = BytesMut::new();
        bad_version.put_i64(-3);
        assert!(matches!(
            InitialMessage::decode(&mut bad_version.freeze()),
            Err(DecodeError::InvalidValue { .. })
        ));
        for len in [0, -1, 2049, i32::MAX] {
            let mut b = BytesMut::new();
            b.put_i64(ELECTION_PROTOCOL_V2);
            b.put_i64(1);
            b.put_i32(len);
            assert!(
                InitialMessage::decode(&mut b.freeze()).is_err(),
                "addr len {len}"
            );
        }
    }

    #[test]
    fn forwarded_request_and_touches() {
        let r = QuorumRequest {
            session_id: 0x0200_0000_0000_0001,
            cxid: 4,
            op_type: crate::types::op::CREATE_SESSION,
            body: Bytes::from_static(&[0, 0, 0x75, 0x30]),
        };
        let bytes = r.to_bytes();
        assert_eq!(bytes.len(), 16 + 4);
        assert_eq!(QuorumRequest::from_bytes(bytes), Ok(r));
        assert!(read_session_touches(Bytes::from_static(&[0; 13])).is_err());
        assert_eq!(read_session_touches(Bytes::new()), Ok(vec![]));
    }

    #[test]
    fn election_frames_are_bounded() {
        let mut codec = election_frame_codec();
        let mut too_big = BytesMut::new();
        too_big.put_u32(ELECTION_MESSAGE_MAX as u32 + 1);
        assert!(codec.decode(&mut too_big).is_err());
    }
}
