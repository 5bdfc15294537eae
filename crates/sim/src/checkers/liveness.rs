//! Liveness (after healing): exactly one leader, every member serving under it in its
//! epoch, and every member's applied history equal to the leader's.

use jute::Zxid;
use zab::{Role, ServerId};

/// A member's state as the liveness check needs it.
pub struct View<'a> {
    pub id: ServerId,
    pub up: bool,
    pub role: Role,
    pub serving: bool,
    pub leader: Option<ServerId>,
    pub epoch: u32,
    pub applied: &'a [(Zxid, u64)],
}

/// `Ok(leader)` when converged; `Err(why not)` otherwise.
pub fn converged(views: &[View<'_>]) -> Result<ServerId, String> {
    let leaders: Vec<&View> = views
        .iter()
        .filter(|v| v.up && v.role == Role::Leading && v.serving)
        .collect();
    let [l] = leaders.as_slice() else {
        return Err(format!("{} serving leaders", leaders.len()));
    };
    for v in views {
        if !v.up || !v.serving || v.leader != Some(l.id) || v.epoch != l.epoch {
            return Err(format!(
                "{:?} not serving under {:?} (role {:?}, leader {:?})",
                v.id, l.id, v.role, v.leader
            ));
        }
        if v.applied != l.applied {
            return Err(format!(
                "{:?} applied {} txns, leader {}",
                v.id,
                v.applied.len(),
                l.applied.len()
            ));
        }
    }
    Ok(l.id)
}
