//! Leadership (Zab.tla): at most one member establishes itself as leader in any epoch.
//! Fed by every `RoleChanged { role: Leading, epoch }`.

use zab::ServerId;

use super::Observations;

pub fn on_leading(obs: &mut Observations, now: u64, epoch: u32, id: ServerId) {
    let set = obs.leaders.entry(epoch).or_default();
    set.insert(id);
    if set.len() > 1 {
        let ids: Vec<u64> = set.iter().map(|s| s.0).collect();
        obs.violate(
            now,
            format!("leadership: epoch {epoch} has leaders {ids:?}"),
        );
    }
}
