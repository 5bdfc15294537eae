//! Durability: a write acknowledged to a client is in the delivered sequence, and after the
//! ensemble heals it is applied on every member — whatever crashed meanwhile (a crash only
//! loses what was never reported durable).

use jute::Zxid;
use zab::ServerId;

use super::Observations;

pub fn on_ack(obs: &mut Observations, now: u64, zxid: Zxid, hash: u64) {
    match obs.global_index.get(&zxid).and_then(|i| obs.global.get(*i)) {
        Some((_, h)) if *h == hash => obs.acked.push((zxid, hash)),
        _ => obs.violate(
            now,
            format!("durability: write acknowledged at {zxid} is not delivered"),
        ),
    }
}

pub fn check_final(obs: &mut Observations, now: u64, members: &[(ServerId, &[(Zxid, u64)])]) {
    let acked = obs.acked.clone();
    for (id, applied) in members {
        for (z, h) in &acked {
            let found = applied
                .binary_search_by(|e| e.0.cmp(z))
                .ok()
                .map(|i| applied[i].1);
            if found != Some(*h) {
                obs.violate(
                    now,
                    format!("durability: acknowledged {z} missing on {id:?} after healing"),
                );
                return;
            }
        }
    }
}
