//! Primary order (Zab.tla's LocalPrimaryOrder / GlobalPrimaryOrder / PrimaryIntegrity): txns
//! of one epoch are delivered in the order their leader proposed them, none skipped (their
//! counters are 1, 2, 3, … along the delivered sequence), and all txns of an earlier epoch
//! come before those of a later one.

use super::Observations;

pub fn check(obs: &mut Observations, now: u64) {
    let mut prev: Option<jute::Zxid> = None;
    let mut bad = None;
    for (z, _) in &obs.global {
        if let Some(p) = prev {
            let ok = if p.epoch() == z.epoch() {
                z.counter() == p.counter() + 1
            } else {
                p.epoch() < z.epoch() && z.counter() == 1
            };
            if !ok {
                bad = Some(format!(
                    "primary order: {} follows {} in the delivered sequence",
                    z, p
                ));
                break;
            }
        } else if z.counter() != 1 {
            bad = Some(format!(
                "primary order: the delivered sequence starts at {z}"
            ));
            break;
        }
        prev = Some(*z);
    }
    if let Some(b) = bad {
        obs.violate(now, b);
    }
}
