//! Majority math over the voting members. Pure functions; observers never count.
//!
//! Invariant: any two quorums of the same voter set intersect (a quorum is a strict
//! majority of the voters), which is what every safety argument of Zab rests on.

use crate::ServerId;

/// True when the distinct voters among `ayes` form a strict majority of `voters`.
/// Ids that are not voters (observers, strangers) are ignored.
pub fn is_quorum<I: IntoIterator<Item = ServerId>>(voters: &[ServerId], ayes: I) -> bool {
    let mut seen: Vec<ServerId> = Vec::with_capacity(voters.len());
    for id in ayes {
        if voters.contains(&id) && !seen.contains(&id) {
            seen.push(id);
        }
    }
    seen.len() * 2 > voters.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u64]) -> Vec<ServerId> {
        v.iter().copied().map(ServerId).collect()
    }

    #[test]
    fn strict_majority_of_voters_only() {
        let voters = ids(&[1, 2, 3]);
        assert!(!is_quorum(&voters, ids(&[1])));
        assert!(is_quorum(&voters, ids(&[1, 3])));
        assert!(
            !is_quorum(&voters, ids(&[1, 1, 9])),
            "duplicates and non-voters"
        );
        let five = ids(&[1, 2, 3, 4, 5]);
        assert!(!is_quorum(&five, ids(&[1, 2])));
        assert!(is_quorum(&five, ids(&[1, 2, 5])));
        assert!(is_quorum(&ids(&[7]), ids(&[7])));
    }

    #[test]
    fn any_two_quorums_intersect() {
        // Every pair of subsets of 5 voters that are both quorums shares a member.
        let voters = ids(&[1, 2, 3, 4, 5]);
        for a in 0u32..32 {
            for b in 0u32..32 {
                let sa: Vec<_> = (0..5).filter(|i| a & (1 << i) != 0).collect();
                let sb: Vec<_> = (0..5).filter(|i| b & (1 << i) != 0).collect();
                let qa = is_quorum(&voters, sa.iter().map(|&i| voters[i]));
                let qb = is_quorum(&voters, sb.iter().map(|&i| voters[i]));
                if qa && qb {
                    assert!(a & b != 0);
                }
            }
        }
    }
}
