//! What members say to each other: one `Message` variant per quorum packet type of
//! ZooKeeper's `Leader.java` that this core uses, plus fast leader election's notification.
//!
//! Owns: the message vocabulary and its 1:1 mapping to `jute::quorum` packet types
//! ([`Message::packet_type`]). Field meanings follow zk-protocol.md §9.2 and §10.2, so a driver
//! can encode each variant as one `QuorumPacket` (or one election-port `Notification`) and
//! decode it back without protocol knowledge. Zab never encodes bytes itself.
//!
//! Channels (the driver's job, assumed by the protocol):
//! - Election messages (`Notification`) may be lost, duplicated or reordered: FLE re-sends.
//! - Every other message travels on the leader↔learner quorum connection, which must be FIFO
//!   and reliable while it lasts (TCP). A lost message means a broken connection: the driver
//!   closes it and calls `Zab::disconnected` on both ends.

use bytes::Bytes;
use jute::quorum::{packet_type as packet, peer_state};
use jute::Zxid;

use crate::{Proposal, ServerId};

/// The state a member reports in its election notifications (`QuorumPeer.ServerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl PeerState {
    /// The wire value (`jute::quorum::peer_state`).
    pub fn code(self) -> i32 {
        match self {
            PeerState::Looking => peer_state::LOOKING,
            PeerState::Following => peer_state::FOLLOWING,
            PeerState::Leading => peer_state::LEADING,
            PeerState::Observing => peer_state::OBSERVING,
        }
    }

    pub fn from_code(code: i32) -> Option<PeerState> {
        match code {
            peer_state::LOOKING => Some(PeerState::Looking),
            peer_state::FOLLOWING => Some(PeerState::Following),
            peer_state::LEADING => Some(PeerState::Leading),
            peer_state::OBSERVING => Some(PeerState::Observing),
            _ => None,
        }
    }
}

/// A fast-leader-election vote: the proposed leader and the history it would bring.
/// Votes are ordered by (peer_epoch, zxid, leader) — see [`crate::election::vote_is_better`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vote {
    /// The proposed leader's sid.
    pub leader: ServerId,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The proposed leader's current epoch (after an election: the epoch it leads/follows in).
    pub peer_epoch: u32,
}

/// One election-port message (`jute::quorum::Notification`): `round` is the wire's
/// `electionEpoch` (the sender's logical clock). The config text is the driver's to fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub state: PeerState,
    pub vote: Vote,
    pub round: u64,
}

/// A peer message. Comments give the `QuorumPacket` fields: type, zxid, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Election port: a `Notification` record.
    Notification(Notification),
    /// FOLLOWERINFO(11): zxid = acceptedEpoch << 32, data = LearnerInfo (the driver's).
    FollowerInfo { accepted_epoch: u32 },
    /// OBSERVERINFO(16): as FOLLOWERINFO.
    ObserverInfo { accepted_epoch: u32 },
    /// LEADERINFO(17): zxid = newEpoch << 32, data = int protocol version 0x10000.
    LeaderInfo { new_epoch: u32 },
    /// ACKEPOCH(18): zxid = the learner's last logged zxid, data = int currentEpoch, or -1
    /// (`None`) when the learner had already accepted exactly this epoch.
    AckEpoch {
        last_logged: Zxid,
        current_epoch: Option<u32>,
    },
    /// DIFF(13): zxid = the leader's last committed zxid (ZooKeeper: its last processed
    /// zxid), so the learner's own log is committed up to the smaller of it and its last
    /// logged zxid. The missing proposals follow.
    Diff { last_zxid: Zxid },
    /// TRUNC(14): zxid = truncate the log after this zxid. The missing proposals follow.
    Trunc { zxid: Zxid },
    /// SNAP(15): zxid = the snapshot's zxid, followed on the stream by the snapshot
    /// (zk-protocol §9.4). Built and sent by the driver on `Output::SendSnapshot`; `data` is
    /// opaque to zab and handed back in `Output::InstallSnapshot`.
    Snap { zxid: Zxid, data: Bytes },
    /// PROPOSAL(2): zxid = the txn's zxid, data = the txn bytes.
    Proposal(Proposal),
    /// ACK(3): zxid = the zxid being acknowledged (newEpoch << 32 acknowledges NEWLEADER).
    Ack { zxid: Zxid },
    /// COMMIT(4): zxid = the committed zxid, no data.
    Commit { zxid: Zxid },
    /// INFORM(8): a committed txn for an observer: zxid and txn bytes.
    Inform(Proposal),
    /// NEWLEADER(10): zxid = newEpoch << 32, data = dynamic config text (the driver's).
    NewLeader { epoch: u32 },
    /// UPTODATE(12): zxid = -1. The learner may serve.
    UpToDate,
    /// PING(5): leader → learner: zxid = last proposed, no data; learner → leader: the zxid
    /// echoed, data = session touches (`jute::quorum::write_session_touches`), opaque here.
    Ping { zxid: Zxid, data: Bytes },
    /// REQUEST(1), learner → leader, zxid = -1: a forwarded client request (opaque).
    Request { data: Bytes },
    /// REVALIDATE(6), both ways, zxid = -1 (opaque).
    Revalidate { data: Bytes },
    /// SYNC(7), leader → learner, zxid = 0: completes a forwarded sync (opaque).
    Sync { data: Bytes },
}

impl Message {
    /// The `QuorumPacket` type number (`jute::quorum::packet_type`), or `None` for the election
    /// port's notification.
    pub fn packet_type(&self) -> Option<i32> {
        Some(match self {
            Message::Notification(_) => return None,
            Message::FollowerInfo { .. } => packet::FOLLOWERINFO,
            Message::ObserverInfo { .. } => packet::OBSERVERINFO,
            Message::LeaderInfo { .. } => packet::LEADERINFO,
            Message::AckEpoch { .. } => packet::ACKEPOCH,
            Message::Diff { .. } => packet::DIFF,
            Message::Trunc { .. } => packet::TRUNC,
            Message::Snap { .. } => packet::SNAP,
            Message::Proposal(_) => packet::PROPOSAL,
            Message::Ack { .. } => packet::ACK,
            Message::Commit { .. } => packet::COMMIT,
            Message::Inform(_) => packet::INFORM,
            Message::NewLeader { .. } => packet::NEWLEADER,
            Message::UpToDate => packet::UPTODATE,
            Message::Ping { .. } => packet::PING,
            Message::Request { .. } => packet::REQUEST,
            Message::Revalidate { .. } => packet::REVALIDATE,
            Message::Sync { .. } => packet::SYNC,
        })
    }

    /// True for messages of the election port (unordered, lossy); false for the quorum
    /// connection (FIFO while it lasts).
    pub fn is_election(&self) -> bool {
        matches!(self, Message::Notification(_))
    }

    /// A short name for traces (the packet name).
    pub fn name(&self) -> &'static str {
        match self.packet_type() {
            None => "NOTIFICATION",
            Some(t) => packet::name(t).unwrap_or("?"),
        }
    }
}

/// Opaque payloads a learner's driver sends to the leader through zab
/// (`Zab::to_leader`); the leader hands them out as `Output::FromLearner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnerPacket {
    /// A forwarded client write (REQUEST).
    Request(Bytes),
    /// A session revalidation (REVALIDATE).
    Revalidate(Bytes),
    /// Session touches. Zab appends them to the data of its next PING reply (so each call's
    /// bytes must be whole `SessionTouch` records); the leader hands them out non-empty.
    SessionTouches(Bytes),
}

/// Opaque payloads a leader's driver sends to one learner through zab (`Zab::to_learner`);
/// the learner hands them out as `Output::FromLeader`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderPacket {
    /// A revalidation answer (REVALIDATE).
    Revalidate(Bytes),
    /// A sync answer (SYNC). Zab sends it only once everything proposed before the call is
    /// committed, so it follows those COMMITs on the FIFO channel (zk-protocol §9.7).
    Sync(Bytes),
}
