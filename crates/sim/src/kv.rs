//! The replicated state machine the simulator runs on top of zab: a few registers, each a
//! (value, version) pair, and the txn bytes that drive it (the sim's own format).
//!
//! A txn is applied by every member in zxid order; its result is a pure function of the
//! state, so every member computes the same one. Reads are txns too (a barrier through the
//! log): a read's answer is the register at the read's place in the total order, which is
//! what makes the client histories linearizable when zab is right.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

/// What a client asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Write {
        value: u64,
    },
    /// Write `value` only if the register's version is `expected`.
    Cas {
        expected: u64,
        value: u64,
    },
    Read,
}

/// What the state machine answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Res {
    Written,
    Cas(bool),
    Read { value: u64, version: u64 },
}

/// A decoded txn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Txn {
    pub client: u32,
    pub seq: u32,
    pub key: u8,
    pub op: Op,
}

impl Txn {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(26);
        let (kind, a, c) = match self.op {
            Op::Write { value } => (0u8, value, 0),
            Op::Cas { expected, value } => (1, value, expected),
            Op::Read => (2, 0, 0),
        };
        b.put_u8(kind);
        b.put_u32(self.client);
        b.put_u32(self.seq);
        b.put_u8(self.key);
        b.put_u64(a);
        b.put_u64(c);
        b.freeze()
    }

    pub fn decode(b: &[u8]) -> Option<Txn> {
        if b.len() != 26 {
            return None;
        }
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_be_bytes(a)
        };
        let (a, c) = (u64_at(10), u64_at(18));
        let op = match b[0] {
            0 => Op::Write { value: a },
            1 => Op::Cas {
                expected: c,
                value: a,
            },
            2 => Op::Read,
            _ => return None,
        };
        Some(Txn {
            client: u32_at(1),
            seq: u32_at(5),
            key: b[9],
            op,
        })
    }
}

/// The registers. Missing keys are (0, version 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kv {
    regs: BTreeMap<u8, (u64, u64)>,
}

impl Kv {
    /// Applies one txn's bytes. Unknown bytes (the liveness probe) change nothing.
    pub fn apply(&mut self, txn: &[u8]) -> Option<Res> {
        let t = Txn::decode(txn)?;
        Some(apply_op(self.regs.entry(t.key).or_insert((0, 0)), t.op))
    }

    pub fn get(&self, key: u8) -> (u64, u64) {
        self.regs.get(&key).copied().unwrap_or((0, 0))
    }
}

/// The register semantics, shared with the linearizability model.
pub fn apply_op(reg: &mut (u64, u64), op: Op) -> Res {
    match op {
        Op::Write { value } => {
            *reg = (value, reg.1 + 1);
            Res::Written
        }
        Op::Cas { expected, value } => {
            if reg.1 == expected {
                *reg = (value, reg.1 + 1);
                Res::Cas(true)
            } else {
                Res::Cas(false)
            }
        }
        Op::Read => Res::Read {
            value: reg.0,
            version: reg.1,
        },
    }
}

/// A stable hash of txn bytes (FNV-1a), for compact comparisons.
pub fn hash(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for x in b {
        h ^= *x as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_round_trip_and_cas() {
        let t = Txn {
            client: 3,
            seq: 9,
            key: 1,
            op: Op::Cas {
                expected: 0,
                value: 7,
            },
        };
        assert_eq!(Txn::decode(&t.encode()), Some(t));
        let mut kv = Kv::default();
        assert_eq!(kv.apply(&t.encode()), Some(Res::Cas(true)));
        assert_eq!(kv.apply(&t.encode()), Some(Res::Cas(false)));
        assert_eq!(kv.get(1), (7, 1));
    }
}
