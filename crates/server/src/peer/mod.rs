//! The peer ports of an ensemble member: the groundwork for running `zab::Zab` over real
//! sockets. Nothing here holds protocol state; zab decides, these modules move bytes.
//!
//! - [`wire`]: `zab::Message` ⇄ `QuorumPacket` (quorum port) and ⇄ `Notification` (election
//!   port); the driver's parts (LearnerInfo, the dynamic config text, a forwarded REQUEST's
//!   authinfo via [`wire::pack_request`]).
//! - [`snap`]: the SNAP stream (sessions + DataTree + `"BenWasHere"`) that `Message::Snap`'s
//!   `data` holds, and the scanner that finds its end on the wire.
//! - [`election`]: the election port (handshake, higher-sid-keeps rule, frames, newest-wins
//!   send slot per peer, reconnect with back-off).
//! - [`quorum`]: the quorum port (leader accepts, learner dials; one task per connection with
//!   a generation [`quorum::ConnId`]; [`quorum::PeerCodec`] reads SNAP streams).
//!
//! # How the driver uses these with `zab::Zab` (the plan for the wiring)
//!
//! 1. **Members.** From `Config::servers`: voters = participants, observers = the rest;
//!    `zab::Config { my_id, voters, .. }` and `zab::Ensemble { observers, init_limit,
//!    sync_limit, committed_log_max: commit_log_count, seed, .. }` (every limit in ticks).
//!    Build one `Arc<WireContext>` with [`wire::WireContext::new`]`(my_id, &config.servers,
//!    version)`. The version is the dynamic config version (0 for a static config; ZooKeeper
//!    sets `newEpoch << 32` the first time a leader leads a version-0 config; it only matters
//!    to Java peers, which compare it).
//! 2. **Bind** after recovery, before serving: the election port and the quorum port of this
//!    member's `ServerSpec` (`0.0.0.0` when `quorumListenOnAllIPs`). Start
//!    [`election::ElectionTransport::start`] with every other member as an
//!    [`election::ElectionPeer`] (`host:electionPort`, `voter`), `connect_timeout =
//!    cnxTimeout`, and a bounded `(ServerId, Message)` channel into the driver. Start
//!    [`quorum::QuorumTransport::start`] with every other member's id,
//!    [`quorum::QuorumParams::from_limits`]`(tick, initLimit, jute.maxbuffer)` and a bounded
//!    [`quorum::QuorumEvent`] channel into the driver. Both run for the life of the process
//!    (a member that is not leading still accepts: zab stashes a learner that decided first).
//! 3. **The driver's state** for peers: `quorum_conns: HashMap<ServerId, QuorumConn>`, the
//!    current connection per peer. Nothing else.
//! 4. **Inputs** (the driver's `select!`, then step 5 after each):
//!    - election channel `(from, msg)` → `zab.step(from, msg)`.
//!    - `QuorumEvent::Accepted { peer, conn, hello, .. }` → insert `conn` as current (an older
//!      one for `peer` is dropped, which closes it; its `Closed` will be stale), then
//!      `zab.step(peer, hello)`. Do not call `disconnected`: zab's FOLLOWERINFO handling
//!      replaces what it knew of that learner.
//!    - `QuorumEvent::Received { peer, conn, msg }` → `zab.step(peer, msg)` only if `conn` is
//!      the current connection's id for `peer`; else drop it (stale).
//!    - `QuorumEvent::Closed { peer, conn, .. }` → only if `conn` is current for `peer`:
//!      remove it and call `zab.disconnected(peer)`. A stale close is ignored.
//!    - the ticker (`tickTime`) → `zab.tick()`; the store's completions → `zab.persisted(seq)`;
//!      client writes → `zab.propose` (leader) or `zab.to_leader` (learner, step 6).
//! 5. **Outputs** — drain `zab.poll_output()` until `None`, in order:
//!    - `Send { to, msg }` with `msg.is_election()` → `election.send(to, &msg)` (an error is
//!      logged; the channel is lossy anyway).
//!    - `Send { to, msg }` otherwise → `quorum_conns[to].send(msg)`. If there is no current
//!      connection and `msg` is `FollowerInfo`/`ObserverInfo` (a learner starting), first
//!      `quorum.connect(to, "host:quorumPort" of to)`, insert it, then send. Without a
//!      connection any other message is dropped (zab times the peer out). If `send` fails
//!      (queue full or task gone): remove the connection, `close()` it and call
//!      `zab.disconnected(to)` after draining (queue it as an input).
//!    - `SendSnapshot { to, up_to }` → the node's tree is exactly at `up_to` now: build the
//!      stream with [`snap::encode_snap_stream`]`(sessions, &tree, &mut buf)` and send
//!      `Message::Snap { zxid: up_to, data }` on `to`'s connection, right here in the order.
//!    - `Disconnect { peer }` → remove `peer`'s current connection and `close()` it (its later
//!      `Closed` is then stale and ignored: zab is done with it).
//!    - `Persist`, `TruncateAfter` → the store thread, as in standalone; `InstallSnapshot {
//!      seq, zxid, data }` → [`snap::decode_snap_stream`]`(data)` (an error here means the
//!      leader sent garbage that still scanned: log, call nothing, and let the connection
//!      close — `disconnected` — so zab looks again), set the tree's last processed zxid to
//!      `zxid`, replace tree and sessions, write a snapshot file, discard the log, then
//!      `persisted(seq)`.
//!    - `Deliver(p)` → apply to the tree, as in standalone.
//!    - `RoleChanged { role, .. }` → serving or not for clients; when serving, call
//!      `set_read_timeout(syncLimit × tick)` on the current quorum connections (ZooKeeper
//!      reads with initLimit while syncing, syncLimit afterwards). `Looking` → stop serving
//!      (close client sessions as ZooKeeper does on leaving the serving state).
//!    - `FromLearner { from, packet }` / `FromLeader(packet)` → the node (forwarded requests,
//!      revalidations, touches, sync answers).
//! 6. **Forwarding.** A learner forwards a write as `zab.to_leader(LearnerPacket::Request(
//!    wire::pack_request(&authinfo, &quorum_request_bytes)))`; the leader's node gets
//!    `FromLearner { packet: Request(data) }` and splits it with [`wire::unpack_request`].
//!    Session touches are whole `SessionTouch` records; REVALIDATE and SYNC data are the
//!    records of zk-protocol §9.2.
//! 7. **Shutdown**: `election.shutdown().await`, `quorum.shutdown().await` (both wait for
//!    their tasks).

pub mod election;
pub mod quorum;
pub mod snap;
pub mod wire;
