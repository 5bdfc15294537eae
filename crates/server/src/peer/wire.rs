//! `zab::Message` ⇄ the peer ports' records: [`QuorumPacket`] (quorum port) and
//! [`jute::quorum::Notification`] (election port), as zk-protocol.md §9.2 and §10.2 and the
//! variant docs in `zab::message` say.
//!
//! Owns: the field mapping, the driver's parts of it (the [`LearnerInfo`] of FOLLOWERINFO /
//! OBSERVERINFO, the dynamic config text of NEWLEADER and of notifications), and the
//! convention for a forwarded REQUEST's authinfo (see [`pack_request`]).
//!
//! Invariants:
//! - `from_quorum(to_quorum(m)) == m` and `from_notification(to_notification(n)) == n` for
//!   every message this module can encode (property-tested below).
//! - Decoding never panics. A record that does not map (unknown or unsupported type, a zxid
//!   that cannot carry an epoch, short or malformed data, a value out of range) is a
//!   [`WireError`]: the caller logs it and drops that connection (quorum port) or skips that
//!   frame (election port: ZooKeeper ignores votes it cannot use).
//!
//! Null versus empty data: ZooKeeper reads the data of REQUEST, REVALIDATE, PING (learner
//! side), PROPOSAL, INFORM, FOLLOWERINFO, LEADERINFO, ACKEPOCH and NEWLEADER, so those are
//! always written non-null (a Java leader fails on a null learner PING). Packets whose data
//! nobody reads (ACK, COMMIT, DIFF, TRUNC, SNAP, UPTODATE, an empty SYNC) carry null, as
//! ZooKeeper sends them. Either form decodes the same way.

use bytes::{Buf, Bytes};
use jute::primitive::{DecodeError, Record};
use jute::quorum::{
    packet_type as pt, LearnerInfo, Notification as WireNotification, QuorumPacket,
    LEARNER_PROTOCOL_VERSION, NOTIFICATION_VERSION,
};
use jute::{Id, Zxid};
use zab::{Message, Notification, PeerState, Proposal, ServerId, Vote};

use crate::config::ServerSpec;

/// Why a message could not be mapped to or from the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("unknown quorum packet type {0}")]
    UnknownType(i32),
    #[error("quorum packet {0} is not supported (dynamic reconfiguration)")]
    Unsupported(&'static str),
    #[error("{packet}: zxid {zxid:#x} does not carry an epoch")]
    BadZxid { packet: &'static str, zxid: i64 },
    #[error("{packet}: bad data: {reason}")]
    BadData {
        packet: &'static str,
        reason: String,
    },
    #[error("{field} {value} is out of range")]
    OutOfRange { field: &'static str, value: i128 },
    #[error("a notification belongs on the election port, not in a quorum packet")]
    NotAQuorumMessage,
    #[error("only notifications travel on the election port")]
    NotANotification,
    #[error("SNAP without its snapshot stream")]
    MissingSnapshot,
    #[error("a snapshot stream after a {0} packet")]
    UnexpectedSnapshot(&'static str),
}

/// What the driver adds to the messages zab leaves opaque: this member's id (LearnerInfo),
/// the config version (LearnerInfo) and the dynamic config text (NEWLEADER, notifications).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireContext {
    pub my_id: ServerId,
    pub config_version: i64,
    /// `server.N=...` lines and `version=<hex>`, as [`config_text`] builds them.
    pub config_text: Bytes,
}

impl WireContext {
    /// The context of member `my_id` of the ensemble `servers`, config version `version`.
    pub fn new(my_id: ServerId, servers: &[ServerSpec], config_version: i64) -> WireContext {
        WireContext {
            my_id,
            config_version,
            config_text: Bytes::from(config_text(servers, config_version)),
        }
    }
}

/// The dynamic config text ZooKeeper sends in NEWLEADER and notifications (QuorumVerifier's
/// `toString`): one `server.N=host:quorumPort:electionPort:participant|observer[;host:port]`
/// line per member in id order, each ending in `\n`, then `version=<hex>` with no newline.
/// ZooKeeper writes the role word for participants too; its parser accepts the line with or
/// without it. The lines are [`ServerSpec::to_config_line`]'s, as the `conf` command shows.
pub fn config_text(servers: &[ServerSpec], version: i64) -> String {
    let mut sorted: Vec<&ServerSpec> = servers.iter().collect();
    sorted.sort_by_key(|s| s.id);
    let mut text = String::new();
    for s in sorted {
        text.push_str(&s.to_config_line());
        text.push('\n');
    }
    text.push_str(&format!("version={version:x}"));
    text
}

/// A quorum-port unit: one packet and, after SNAP only, the raw snapshot stream that follows
/// it unframed (zk-protocol §9.4; [`super::snap`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WirePacket {
    pub packet: QuorumPacket,
    pub snapshot: Option<Bytes>,
}

impl WirePacket {
    fn plain(packet: QuorumPacket) -> WirePacket {
        WirePacket {
            packet,
            snapshot: None,
        }
    }
}

/// Packs a forwarded request for `Message::Request { data }`: the session's auth ids as a
/// jute `vector<Id>`, then the REQUEST data (`QuorumRequest` bytes). A QuorumPacket carries
/// the ids in its `authinfo` field; zab's `Request` has only opaque data, so the driver keeps
/// them at the front of it and [`to_quorum`] / [`from_quorum`] move them between the two.
pub fn pack_request(authinfo: &[Id], request: &[u8]) -> Bytes {
    jute::quorum::pack_request(authinfo, request)
}

/// Splits what [`pack_request`] packed: `(authinfo, request data)`.
pub fn unpack_request(data: Bytes) -> Result<(Vec<Id>, Bytes), WireError> {
    jute::quorum::unpack_request(data).map_err(|e| bad("REQUEST", e))
}

fn bad(packet: &'static str, reason: impl std::fmt::Display) -> WireError {
    WireError::BadData {
        packet,
        reason: reason.to_string(),
    }
}

/// `epoch << 32`. Epochs are non-negative Java ints on the wire (ACKEPOCH carries one as an
/// int, and a zxid with the top bit set would be negative), so 2^31 and above do not map.
fn epoch_zxid(epoch: u32) -> Result<i64, WireError> {
    if epoch > i32::MAX as u32 {
        return Err(WireError::OutOfRange {
            field: "epoch",
            value: epoch as i128,
        });
    }
    Ok(Zxid::new(epoch, 0).0)
}

/// The epoch a zxid carries (`zxid >> 32`, as ZooKeeper's `getEpochFromZxid`); the counter
/// is ignored, as ZooKeeper does. A negative zxid carries none.
fn epoch_of(packet: &'static str, zxid: i64) -> Result<u32, WireError> {
    if zxid < 0 {
        return Err(WireError::BadZxid { packet, zxid });
    }
    Ok(Zxid(zxid).epoch())
}

/// The first four bytes of `data` as an int (ZooKeeper's `ByteBuffer.getInt`).
fn data_int(packet: &'static str, data: &Option<Bytes>) -> Result<i32, WireError> {
    let mut d = data.clone().unwrap_or_default();
    if d.remaining() < 4 {
        return Err(bad(packet, format!("{} bytes, an int needs 4", d.len())));
    }
    Ok(d.get_i32())
}

/// `msg` as it goes on the quorum port.
pub fn to_quorum(msg: &Message, ctx: &WireContext) -> Result<WirePacket, WireError> {
    let with =
        |t: i32, zxid: i64, data: Bytes| WirePacket::plain(QuorumPacket::with_data(t, zxid, data));
    let bare = |t: i32, zxid: i64| WirePacket::plain(QuorumPacket::new(t, zxid));
    let learner_info = || {
        let sid = i64::try_from(ctx.my_id.0).map_err(|_| WireError::OutOfRange {
            field: "server id",
            value: ctx.my_id.0 as i128,
        })?;
        Ok::<Bytes, WireError>(LearnerInfo::new(sid, ctx.config_version).to_bytes())
    };
    Ok(match msg {
        Message::Notification(_) => return Err(WireError::NotAQuorumMessage),
        Message::FollowerInfo { accepted_epoch } => with(
            pt::FOLLOWERINFO,
            epoch_zxid(*accepted_epoch)?,
            learner_info()?,
        ),
        Message::ObserverInfo { accepted_epoch } => with(
            pt::OBSERVERINFO,
            epoch_zxid(*accepted_epoch)?,
            learner_info()?,
        ),
        Message::LeaderInfo { new_epoch } => with(
            pt::LEADERINFO,
            epoch_zxid(*new_epoch)?,
            Bytes::copy_from_slice(&LEARNER_PROTOCOL_VERSION.to_be_bytes()),
        ),
        Message::AckEpoch {
            last_logged,
            current_epoch,
        } => {
            let epoch: i32 = match current_epoch {
                None => -1,
                Some(e) => i32::try_from(*e).map_err(|_| WireError::OutOfRange {
                    field: "ACKEPOCH current epoch",
                    value: *e as i128,
                })?,
            };
            with(
                pt::ACKEPOCH,
                last_logged.0,
                Bytes::copy_from_slice(&epoch.to_be_bytes()),
            )
        }
        Message::Diff { last_zxid } => bare(pt::DIFF, last_zxid.0),
        Message::Trunc { zxid } => bare(pt::TRUNC, zxid.0),
        Message::Snap { zxid, data } => WirePacket {
            packet: QuorumPacket::new(pt::SNAP, zxid.0),
            snapshot: Some(data.clone()),
        },
        Message::Proposal(p) => with(pt::PROPOSAL, p.zxid.0, p.txn.clone()),
        Message::Ack { zxid } => bare(pt::ACK, zxid.0),
        Message::Commit { zxid } => bare(pt::COMMIT, zxid.0),
        Message::Inform(p) => with(pt::INFORM, p.zxid.0, p.txn.clone()),
        Message::NewLeader { epoch } => {
            with(pt::NEWLEADER, epoch_zxid(*epoch)?, ctx.config_text.clone())
        }
        Message::UpToDate => bare(pt::UPTODATE, -1),
        Message::Ping { zxid, data } => with(pt::PING, zxid.0, data.clone()),
        Message::Request { data } => {
            let (authinfo, request) = unpack_request(data.clone())?;
            WirePacket::plain(QuorumPacket {
                packet_type: pt::REQUEST,
                zxid: -1,
                data: Some(request),
                authinfo,
            })
        }
        Message::Revalidate { data } => with(pt::REVALIDATE, -1, data.clone()),
        Message::Sync { data } if data.is_empty() => bare(pt::SYNC, 0),
        Message::Sync { data } => with(pt::SYNC, 0, data.clone()),
    })
}

/// A quorum-port unit as a `Message`. For FOLLOWERINFO / OBSERVERINFO the learner's id is in
/// the data: read it with [`learner_info`].
pub fn from_quorum(wire: WirePacket) -> Result<Message, WireError> {
    let WirePacket {
        packet: p,
        snapshot,
    } = wire;
    let name = pt::name(p.packet_type).unwrap_or("?");
    if snapshot.is_some() && p.packet_type != pt::SNAP {
        return Err(WireError::UnexpectedSnapshot(name));
    }
    let zxid = Zxid(p.zxid);
    let data = || p.data.clone().unwrap_or_default();
    Ok(match p.packet_type {
        pt::FOLLOWERINFO | pt::OBSERVERINFO => {
            // The id is the driver's; still refuse a payload that is no LearnerInfo.
            learner_info(&p)?;
            let accepted_epoch = epoch_of(name, p.zxid)?;
            if p.packet_type == pt::FOLLOWERINFO {
                Message::FollowerInfo { accepted_epoch }
            } else {
                Message::ObserverInfo { accepted_epoch }
            }
        }
        pt::LEADERINFO => {
            data_int(name, &p.data)?;
            Message::LeaderInfo {
                new_epoch: epoch_of(name, p.zxid)?,
            }
        }
        pt::ACKEPOCH => {
            let epoch = data_int(name, &p.data)?;
            let current_epoch = match epoch {
                -1 => None,
                e if e < 0 => return Err(bad(name, format!("current epoch {e}"))),
                e => Some(e as u32),
            };
            Message::AckEpoch {
                last_logged: zxid,
                current_epoch,
            }
        }
        pt::DIFF => Message::Diff { last_zxid: zxid },
        pt::TRUNC => Message::Trunc { zxid },
        pt::SNAP => Message::Snap {
            zxid,
            data: snapshot.ok_or(WireError::MissingSnapshot)?,
        },
        pt::PROPOSAL => Message::Proposal(Proposal { zxid, txn: data() }),
        pt::ACK => Message::Ack { zxid },
        pt::COMMIT => Message::Commit { zxid },
        pt::INFORM => Message::Inform(Proposal { zxid, txn: data() }),
        pt::NEWLEADER => Message::NewLeader {
            epoch: epoch_of(name, p.zxid)?,
        },
        pt::UPTODATE => Message::UpToDate,
        pt::PING => Message::Ping { zxid, data: data() },
        pt::REQUEST => Message::Request {
            data: pack_request(&p.authinfo, &data()),
        },
        pt::REVALIDATE => Message::Revalidate { data: data() },
        pt::SYNC => Message::Sync { data: data() },
        pt::COMMITANDACTIVATE | pt::INFORMANDACTIVATE => return Err(WireError::Unsupported(name)),
        other => return Err(WireError::UnknownType(other)),
    })
}

/// The LearnerInfo of a FOLLOWERINFO / OBSERVERINFO packet (any of its 8/12/20-byte forms).
/// The leader learns the connecting learner's id from it; ids must be non-negative.
pub fn learner_info(packet: &QuorumPacket) -> Result<LearnerInfo, WireError> {
    let name = pt::name(packet.packet_type).unwrap_or("?");
    if packet.packet_type != pt::FOLLOWERINFO && packet.packet_type != pt::OBSERVERINFO {
        return Err(bad(name, "not a FOLLOWERINFO or OBSERVERINFO"));
    }
    let mut data = packet.data.clone().unwrap_or_default();
    let info = LearnerInfo::decode(&mut data).map_err(|e: DecodeError| bad(name, e))?;
    if info.server_id < 0 {
        return Err(WireError::OutOfRange {
            field: "learner server id",
            value: info.server_id as i128,
        });
    }
    Ok(info)
}

/// A zab notification as the election port's record (version 2, with the config text).
pub fn to_notification(msg: &Message, ctx: &WireContext) -> Result<WireNotification, WireError> {
    let Message::Notification(n) = msg else {
        return Err(WireError::NotANotification);
    };
    let range = |field: &'static str, value: u64| WireError::OutOfRange {
        field,
        value: value as i128,
    };
    Ok(WireNotification {
        state: n.state.code(),
        leader: i64::try_from(n.vote.leader.0).map_err(|_| range("leader", n.vote.leader.0))?,
        zxid: n.vote.zxid.0,
        election_epoch: i64::try_from(n.round).map_err(|_| range("election epoch", n.round))?,
        peer_epoch: n.vote.peer_epoch as i64,
        version: NOTIFICATION_VERSION,
        config: ctx.config_text.clone(),
    })
}

/// An election-port record as a zab notification. The version and config are not used (this
/// server does not reconfigure); old forms decode with ZooKeeper's defaults.
pub fn from_notification(n: &WireNotification) -> Result<Message, WireError> {
    let range = |field: &'static str, value: i64| WireError::OutOfRange {
        field,
        value: value as i128,
    };
    let state = PeerState::from_code(n.state).ok_or(range("peer state", n.state as i64))?;
    let leader = u64::try_from(n.leader).map_err(|_| range("leader", n.leader))?;
    let round =
        u64::try_from(n.election_epoch).map_err(|_| range("election epoch", n.election_epoch))?;
    let peer_epoch = u32::try_from(n.peer_epoch).map_err(|_| range("peer epoch", n.peer_epoch))?;
    Ok(Message::Notification(Notification {
        state,
        vote: Vote {
            leader: ServerId(leader),
            zxid: Zxid(n.zxid),
            peer_epoch,
        },
        round,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::PeerRole;
    use proptest::prelude::*;

    pub(crate) fn ctx() -> WireContext {
        let servers: Vec<ServerSpec> = (1..=3)
            .map(|id| ServerSpec {
                id,
                host: "127.0.0.1".into(),
                quorum_port: 2887 + id as u16,
                election_port: 3887 + id as u16,
                role: PeerRole::Participant,
                client_host: None,
                client_port: Some(2181),
            })
            .collect();
        WireContext::new(ServerId(2), &servers, 0x1_0000_0000)
    }

    fn bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
    }

    fn zxid() -> impl Strategy<Value = Zxid> {
        prop_oneof![
            Just(Zxid::NONE),
            Just(Zxid::ZERO),
            any::<i64>().prop_map(Zxid)
        ]
    }

    fn id() -> impl Strategy<Value = Id> {
        ("[a-z]{0,6}", "[a-z0-9:]{0,12}").prop_map(|(scheme, id)| Id { scheme, id })
    }

    fn request_data() -> impl Strategy<Value = Bytes> {
        (proptest::collection::vec(id(), 0..3), bytes()).prop_map(|(ids, d)| pack_request(&ids, &d))
    }

    /// Every quorum-port message zab has (SNAP with an arbitrary opaque stream).
    pub(crate) fn quorum_message() -> impl Strategy<Value = Message> {
        let epoch = || 0..=i32::MAX as u32;
        prop_oneof![
            epoch().prop_map(|e| Message::FollowerInfo { accepted_epoch: e }),
            epoch().prop_map(|e| Message::ObserverInfo { accepted_epoch: e }),
            epoch().prop_map(|e| Message::LeaderInfo { new_epoch: e }),
            (zxid(), proptest::option::of(0..=i32::MAX as u32)).prop_map(|(z, e)| {
                Message::AckEpoch {
                    last_logged: z,
                    current_epoch: e,
                }
            }),
            zxid().prop_map(|z| Message::Diff { last_zxid: z }),
            zxid().prop_map(|z| Message::Trunc { zxid: z }),
            (zxid(), bytes()).prop_map(|(z, d)| Message::Snap { zxid: z, data: d }),
            (zxid(), bytes()).prop_map(|(z, t)| Message::Proposal(Proposal { zxid: z, txn: t })),
            zxid().prop_map(|z| Message::Ack { zxid: z }),
            zxid().prop_map(|z| Message::Commit { zxid: z }),
            (zxid(), bytes()).prop_map(|(z, t)| Message::Inform(Proposal { zxid: z, txn: t })),
            epoch().prop_map(|e| Message::NewLeader { epoch: e }),
            Just(Message::UpToDate),
            (zxid(), bytes()).prop_map(|(z, d)| Message::Ping { zxid: z, data: d }),
            request_data().prop_map(|d| Message::Request { data: d }),
            bytes().prop_map(|d| Message::Revalidate { data: d }),
            bytes().prop_map(|d| Message::Sync { data: d }),
        ]
    }

    pub(crate) fn notification() -> impl Strategy<Value = Message> {
        (
            0..4i32,
            0..=i64::MAX as u64,
            any::<i64>(),
            any::<u32>(),
            0..=i64::MAX as u64,
        )
            .prop_map(|(state, leader, zxid, peer_epoch, round)| {
                Message::Notification(Notification {
                    state: PeerState::from_code(state).unwrap_or(PeerState::Looking),
                    vote: Vote {
                        leader: ServerId(leader),
                        zxid: Zxid(zxid),
                        peer_epoch,
                    },
                    round,
                })
            })
    }

    proptest! {
        #[test]
        fn quorum_messages_round_trip(msg in quorum_message()) {
            let ctx = ctx();
            let wire = to_quorum(&msg, &ctx).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Some(wire.packet.packet_type), msg.packet_type());
            // Through the bytes too: the packet record and the trailing stream.
            let packet = QuorumPacket::from_bytes(wire.packet.to_bytes())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = from_quorum(WirePacket { packet, snapshot: wire.snapshot })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, msg);
        }

        #[test]
        fn notifications_round_trip(msg in notification()) {
            let ctx = ctx();
            let n = to_notification(&msg, &ctx).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let n = WireNotification::from_bytes(n.to_bytes())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&n.config, &ctx.config_text);
            prop_assert_eq!(from_notification(&n).map_err(|e| TestCaseError::fail(e.to_string()))?, msg);
        }

        /// Arbitrary packets never panic the mapping.
        #[test]
        fn any_packet_maps_or_errs(
            t in -2i32..22,
            z in any::<i64>(),
            data in proptest::option::of(bytes()),
            snap in proptest::option::of(bytes()),
        ) {
            let packet = QuorumPacket { packet_type: t, zxid: z, data, authinfo: vec![] };
            let _ = learner_info(&packet);
            let _ = from_quorum(WirePacket { packet, snapshot: snap });
        }

        #[test]
        fn any_notification_maps_or_errs(
            state in -1i32..5, leader in any::<i64>(), zxid in any::<i64>(),
            ee in any::<i64>(), pe in any::<i64>(),
        ) {
            let n = WireNotification {
                state, leader, zxid, election_epoch: ee, peer_epoch: pe,
                version: 2, config: Bytes::new(),
            };
            let _ = from_notification(&n);
        }
    }

    /// LEADERINFO as captured from 3.8.0 (zk-protocol §9.2): data `00010000`.
    #[test]
    fn golden_leader_info() {
        let wire = to_quorum(&Message::LeaderInfo { new_epoch: 2 }, &ctx()).expect("encodes");
        assert_eq!(wire.snapshot, None);
        let expected: &[u8] = &[
            0, 0, 0, 17, // LEADERINFO
            0, 0, 0, 2, 0, 0, 0, 0, // newEpoch << 32
            0, 0, 0, 4, 0, 1, 0, 0, // int 0x10000
            0, 0, 0, 0, // empty authinfo
        ];
        assert_eq!(&wire.packet.to_bytes()[..], expected);
    }

    /// FOLLOWERINFO carries acceptedEpoch<<32 and the 20-byte LearnerInfo; ACKEPOCH -1.
    #[test]
    fn golden_follower_info_and_ack_epoch() {
        let ctx = ctx();
        let wire = to_quorum(&Message::FollowerInfo { accepted_epoch: 1 }, &ctx).expect("encodes");
        let bytes = wire.packet.to_bytes();
        assert_eq!(&bytes[..12], &[0, 0, 0, 11, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(&bytes[12..16], &[0, 0, 0, 20]);
        let info = learner_info(&wire.packet).expect("learner info");
        assert_eq!(info, LearnerInfo::new(2, 0x1_0000_0000));

        let ack = Message::AckEpoch {
            last_logged: Zxid::new(1, 3),
            current_epoch: None,
        };
        let bytes = to_quorum(&ack, &ctx).expect("encodes").packet.to_bytes();
        assert_eq!(&bytes[12..20], &[0, 0, 0, 4, 255, 255, 255, 255]);
        // ZooKeeper's older, shorter LearnerInfo (sid only) is accepted.
        let old = QuorumPacket::with_data(
            pt::OBSERVERINFO,
            0,
            Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 9]),
        );
        assert_eq!(learner_info(&old).expect("8-byte form").server_id, 9);
        assert_eq!(
            from_quorum(WirePacket::plain(old)),
            Ok(Message::ObserverInfo { accepted_epoch: 0 })
        );
    }

    /// The config text: ZooKeeper's QuorumVerifier form.
    #[test]
    fn newleader_carries_config_text() {
        let ctx = ctx();
        let expected = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                        server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2181\n\
                        server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2181\n\
                        version=100000000";
        assert_eq!(&ctx.config_text[..], expected.as_bytes());
        let wire = to_quorum(&Message::NewLeader { epoch: 1 }, &ctx).expect("encodes");
        assert_eq!(wire.packet.zxid, 1 << 32);
        assert_eq!(wire.packet.data.as_deref(), Some(expected.as_bytes()));
        let observer = ServerSpec {
            id: 4,
            host: "::1".into(),
            quorum_port: 1,
            election_port: 2,
            role: PeerRole::Observer,
            client_host: None,
            client_port: None,
        };
        assert_eq!(
            config_text(&[observer], 0),
            "server.4=[::1]:1:2:observer\nversion=0"
        );
    }

    /// The captured notification shape (zk-protocol §10.2): 44 bytes + config, version 2.
    #[test]
    fn golden_notification_layout() {
        let msg = Message::Notification(Notification {
            state: PeerState::Following,
            vote: Vote {
                leader: ServerId(3),
                zxid: Zxid::ZERO,
                peer_epoch: 1,
            },
            round: 1,
        });
        let ctx = ctx();
        let bytes = to_notification(&msg, &ctx).expect("encodes").to_bytes();
        assert_eq!(bytes.len(), 44 + ctx.config_text.len());
        let head: &[u8] = &[
            0, 0, 0, 1, // FOLLOWING
            0, 0, 0, 0, 0, 0, 0, 3, // leader
            0, 0, 0, 0, 0, 0, 0, 0, // zxid
            0, 0, 0, 0, 0, 0, 0, 1, // electionEpoch
            0, 0, 0, 0, 0, 0, 0, 1, // peerEpoch
            0, 0, 0, 2, // version
        ];
        assert_eq!(&bytes[..40], head);
        assert_eq!(
            &bytes[40..44],
            &(ctx.config_text.len() as u32).to_be_bytes()
        );
        assert_eq!(&bytes[44..], &ctx.config_text[..]);
    }

    #[test]
    fn forwarded_request_keeps_authinfo() {
        let ids = vec![Id {
            scheme: "digest".into(),
            id: "u:h".into(),
        }];
        let msg = Message::Request {
            data: pack_request(&ids, b"\x01\x02"),
        };
        let wire = to_quorum(&msg, &ctx()).expect("encodes");
        assert_eq!(wire.packet.authinfo, ids);
        assert_eq!(wire.packet.data.as_deref(), Some(&b"\x01\x02"[..]));
        assert_eq!(wire.packet.zxid, -1);
        assert_eq!(from_quorum(wire), Ok(msg));
        // Opaque data that is no packed request cannot be sent.
        assert!(to_quorum(
            &Message::Request {
                data: Bytes::from_static(b"\x00")
            },
            &ctx()
        )
        .is_err());
    }

    #[test]
    fn unmappable_records() {
        let p = |t, z| WirePacket::plain(QuorumPacket::new(t, z));
        assert_eq!(from_quorum(p(0, 0)), Err(WireError::UnknownType(0)));
        assert_eq!(from_quorum(p(20, 0)), Err(WireError::UnknownType(20)));
        assert_eq!(
            from_quorum(p(pt::COMMITANDACTIVATE, 0)),
            Err(WireError::Unsupported("COMMITANDACTIVATE"))
        );
        assert_eq!(from_quorum(p(pt::SNAP, 0)), Err(WireError::MissingSnapshot));
        assert!(
            from_quorum(p(pt::LEADERINFO, 1 << 32)).is_err(),
            "no protocol version"
        );
        assert!(from_quorum(p(pt::NEWLEADER, -1)).is_err(), "negative zxid");
        assert!(
            from_quorum(p(pt::FOLLOWERINFO, 0)).is_err(),
            "no LearnerInfo"
        );
        let mut ack =
            QuorumPacket::with_data(pt::ACKEPOCH, 0, Bytes::from_static(&[255, 255, 255, 254]));
        assert!(
            from_quorum(WirePacket::plain(ack.clone())).is_err(),
            "epoch -2"
        );
        ack.data = Some(Bytes::from_static(&[0, 0, 0, 7]));
        assert!(from_quorum(WirePacket {
            packet: QuorumPacket::new(pt::ACK, 0),
            snapshot: Some(Bytes::new())
        })
        .is_err());
        assert_eq!(
            from_quorum(WirePacket::plain(ack)),
            Ok(Message::AckEpoch {
                last_logged: Zxid::ZERO,
                current_epoch: Some(7)
            })
        );
        let n = WireNotification {
            state: 0,
            leader: i64::MIN,
            ..Default::default()
        };
        assert!(from_notification(&n).is_err(), "a non-voter's vote");
        assert!(to_quorum(&Message::NewLeader { epoch: 1 << 31 }, &ctx()).is_err());
        assert!(to_quorum(
            &Message::AckEpoch {
                last_logged: Zxid::ZERO,
                current_epoch: Some(u32::MAX)
            },
            &ctx()
        )
        .is_err());
    }
}
