//! Integrity (Zab.tla): a member delivers only txns some leader proposed, with the zxid it
//! was proposed at; and no two proposals share a zxid (one leader per epoch numbers them).

use jute::Zxid;
use zab::ServerId;

use super::Observations;

pub fn on_propose(obs: &mut Observations, now: u64, zxid: Zxid, hash: u64) {
    if let Some(old) = obs.proposed.insert(zxid, hash) {
        if old != hash {
            obs.violate(now, format!("integrity: two different proposals at {zxid}"));
        }
    }
}

pub fn on_deliver(obs: &mut Observations, now: u64, member: ServerId, zxid: Zxid, hash: u64) {
    match obs.proposed.get(&zxid) {
        Some(h) if *h == hash => {}
        Some(_) => obs.violate(
            now,
            format!("integrity: {member:?} delivered {zxid} with a txn never proposed there"),
        ),
        None => obs.violate(
            now,
            format!("integrity: {member:?} delivered {zxid}, never proposed"),
        ),
    }
}
