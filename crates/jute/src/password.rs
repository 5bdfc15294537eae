//! The session password ZooKeeper hands out in a ConnectResponse.
//!
//! ZooKeeper derives the 16 password bytes from the session id alone:
//! `java.util.Random(seed = session_id ^ 0xB3415C00).nextBytes(16)`. There is no per-server
//! secret, so any member of an ensemble (Java or ours) can check a password a client got from
//! another member. Invariant: [`session_password`] is a pure function and matches Java bit for
//! bit (checked against two vectors captured from a 3.8.0 server).

/// The constant ZooKeeper XORs into the session id before seeding `java.util.Random`.
const PASSWORD_SEED_XOR: i64 = 0xB341_5C00;

/// The length of a session password in bytes.
pub const SESSION_PASSWORD_LEN: usize = 16;

/// The 16-byte password of a session, as `ZooKeeperServer.generatePasswd` computes it.
pub fn session_password(session_id: i64) -> [u8; SESSION_PASSWORD_LEN] {
    let mut rng = JavaRandom::new(session_id ^ PASSWORD_SEED_XOR);
    let mut out = [0u8; SESSION_PASSWORD_LEN];
    rng.next_bytes(&mut out);
    out
}

/// The linear congruential generator of `java.util.Random`, from its published specification
/// (48-bit state, multiplier 0x5DEECE66D, increment 0xB).
struct JavaRandom {
    state: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const INCREMENT: u64 = 0xB;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> JavaRandom {
        JavaRandom {
            state: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    /// `next(32)`: the top 32 of the 48 state bits.
    fn next_i32(&mut self) -> i32 {
        self.state = (self
            .state
            .wrapping_mul(Self::MULTIPLIER)
            .wrapping_add(Self::INCREMENT))
            & Self::MASK;
        (self.state >> 16) as u32 as i32
    }

    /// `nextBytes`: each int gives up to 4 bytes, low-order byte first.
    fn next_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(4) {
            let word = self.next_i32().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn matches_vectors_captured_from_zookeeper() {
        assert_eq!(
            hex(&session_password(0x0100_0004_e677_0000)),
            "1b72bea30c09143af16db921359e88e2"
        );
        assert_eq!(
            hex(&session_password(0x0100_0000_0000_0000)),
            "f22acd4a97e69d6d20a49bb638eadb38"
        );
    }

    #[test]
    fn java_random_matches_known_sequence() {
        // new java.util.Random(0).nextInt() is -1155484576, a widely published value.
        let mut r = JavaRandom::new(0);
        assert_eq!(r.next_i32(), -1_155_484_576);
    }

    #[test]
    fn next_bytes_handles_partial_words() {
        let mut a = JavaRandom::new(42);
        let mut six = [0u8; 6];
        a.next_bytes(&mut six);
        let mut b = JavaRandom::new(42);
        let w0 = b.next_i32().to_le_bytes();
        let w1 = b.next_i32().to_le_bytes();
        assert_eq!(six[..4], w0);
        assert_eq!(six[4..], w1[..2]);
    }
}
