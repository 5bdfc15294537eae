//! Prefix consistency, agreement and total order (Zab.tla): the delivered histories of all
//! members are prefixes of one sequence.
//!
//! Each member's applied history (restored, synced or delivered) becomes binding when it
//! delivers: a `Deliver` commits everything before it, so at each delivery the member's whole
//! history up to there must match the global sequence element for element (and extends it
//! when longer). Only the part not yet verified is compared, so the check is O(1) amortised.
//! A truncation must never remove a txn of the global sequence (committed txns are never
//! rolled back).

use jute::Zxid;
use zab::ServerId;

use super::Observations;

pub fn on_deliver(
    obs: &mut Observations,
    now: u64,
    member: ServerId,
    applied: &[(Zxid, u64)],
    verified: &mut usize,
) {
    for (i, entry) in applied.iter().enumerate().skip(*verified) {
        match obs.global.get(i) {
            Some(g) if g == entry => {}
            Some(g) => {
                obs.violate(
                    now,
                    format!("prefix consistency: {member:?} has {} at position {i}, the delivered sequence has {}", entry.0, g.0),
                );
                return;
            }
            None => {
                obs.global_index.insert(entry.0, i);
                obs.global.push(*entry);
            }
        }
    }
    // Total order: zxids strictly increase along the sequence.
    if let Some(w) = applied.get(verified.saturating_sub(1)..) {
        if w.windows(2).any(|p| p[0].0 >= p[1].0) {
            obs.violate(
                now,
                format!("total order: {member:?} applied zxids out of order"),
            );
        }
    }
    *verified = applied.len();
}

pub fn on_truncate(
    obs: &mut Observations,
    now: u64,
    member: ServerId,
    removed: &[(Zxid, u64)],
    from_index: usize,
) {
    for (k, e) in removed.iter().enumerate() {
        if obs.global.get(from_index + k) == Some(e) {
            obs.violate(
                now,
                format!("prefix consistency: {member:?} truncated committed {}", e.0),
            );
            return;
        }
    }
}
