//! The session tracker: which sessions exist, their negotiated timeouts, when each expires,
//! and which connection (if any) each is bound to.
//!
//! Invariants:
//! - A session is in the table from the apply of its createSession txn to the apply of its
//!   closeSession txn; nothing else adds or removes entries (so replay rebuilds it exactly).
//! - `closing` is set when a closeSession has been proposed: requests on a closing session get
//!   SessionExpired and the session is never expired twice.
//! - Expiry times are rounded up to the next multiple of the tick, as ZooKeeper's ExpiryQueue
//!   buckets them, so one tick check expires a whole bucket.

use std::collections::BTreeMap;

use jute::SessionId;

/// What the tracker knows of one session.
#[derive(Debug, Clone)]
pub struct Session {
    pub timeout_ms: i32,
    pub expire_at_ms: i64,
    pub closing: bool,
    /// The connection currently bound to the session, if any.
    pub conn: Option<u64>,
}

#[derive(Debug)]
pub struct Sessions {
    sessions: BTreeMap<SessionId, Session>,
    next_id: i64,
    tick_ms: i64,
}

impl Sessions {
    /// `server_byte` is myid in quorum mode and 1 standalone; `clock_ms` seeds the middle
    /// 40 bits as ZooKeeper's SessionTrackerImpl does, so ids from restarts don't collide.
    pub fn new(server_byte: u8, clock_ms: i64, tick_ms: i64) -> Sessions {
        let mut next_id = ((server_byte as i64) << 56) | ((clock_ms & 0xff_ffff_ffff) << 16);
        // The container marker must never be a session id.
        if next_id == i64::MIN {
            next_id += 1;
        }
        Sessions {
            sessions: BTreeMap::new(),
            next_id,
            tick_ms: tick_ms.max(1),
        }
    }

    /// A fresh id for a new session (not yet in the table: its createSession must apply).
    pub fn allocate_id(&mut self) -> SessionId {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        SessionId(id)
    }

    fn expiry(&self, now_ms: i64, timeout_ms: i32) -> i64 {
        let t = now_ms + timeout_ms as i64;
        // Round up to the next tick boundary (ExpiryQueue's bucketing).
        (t / self.tick_ms + 1) * self.tick_ms
    }

    /// Applies a createSession (also during replay: the session then gets a fresh lease).
    pub fn add(&mut self, id: SessionId, timeout_ms: i32, now_ms: i64) {
        let expire_at_ms = self.expiry(now_ms, timeout_ms);
        self.sessions.insert(
            id,
            Session {
                timeout_ms,
                expire_at_ms,
                closing: false,
                conn: None,
            },
        );
    }

    /// Applies a closeSession: returns the session that was removed.
    pub fn remove(&mut self, id: SessionId) -> Option<Session> {
        self.sessions.remove(&id)
    }

    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    /// Re-arms the session's expiry; false if the session is gone or closing.
    pub fn touch(&mut self, id: SessionId, now_ms: i64) -> bool {
        let tick = self.tick_ms;
        match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => {
                let t = now_ms + s.timeout_ms as i64;
                s.expire_at_ms = (t / tick + 1) * tick;
                true
            }
            _ => false,
        }
    }

    /// Sets a new timeout (a reconnect negotiates again) and re-arms the expiry.
    pub fn retime(&mut self, id: SessionId, timeout_ms: i32, now_ms: i64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.timeout_ms = timeout_ms;
        }
        self.touch(id, now_ms);
    }

    /// Sessions whose lease ran out by `now_ms` and that are not already closing; they are
    /// marked closing so that each is expired once.
    pub fn take_expired(&mut self, now_ms: i64) -> Vec<SessionId> {
        let mut out = Vec::new();
        for (id, s) in self.sessions.iter_mut() {
            if !s.closing && s.expire_at_ms <= now_ms {
                s.closing = true;
                out.push(*id);
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SessionId, &Session)> {
        self.sessions.iter()
    }

    /// The (id, timeout) pairs a snapshot stores.
    pub fn snapshot(&self) -> Vec<(i64, i32)> {
        self.sessions
            .iter()
            .map(|(id, s)| (id.0, s.timeout_ms))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_server_byte() {
        let mut s = Sessions::new(2, 0x12_3456_789a, 2000);
        let id = s.allocate_id();
        assert_eq!(id.0 >> 56, 2);
        assert_eq!(s.allocate_id().0, id.0 + 1);
    }

    #[test]
    fn expiry_is_bucketed_by_tick_and_happens_once() {
        let mut s = Sessions::new(1, 0, 2000);
        let id = s.allocate_id();
        s.add(id, 4000, 1000);
        // 1000 + 4000 = 5000, rounded up to the next tick: 6000.
        assert_eq!(s.get(id).unwrap().expire_at_ms, 6000);
        assert!(s.take_expired(5999).is_empty());
        assert_eq!(s.take_expired(6000), vec![id]);
        assert!(s.take_expired(9000).is_empty());
        assert!(
            !s.touch(id, 7000),
            "a closing session cannot be touched back to life"
        );
    }
}
