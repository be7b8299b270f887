//! Who a session or an API token is, remembered for a moment, so a page or an API call does not
//! cost a round trip to PostgreSQL to learn it. Entries live [`TTL`] at most and there are at
//! most [`CAPACITY`] of them; this process forgets at once what it changes itself (signing
//! out, revoking a token, changing a role, disabling a user), and another process's change
//! shows here within [`TTL`]. What was read before such a change is not remembered after it:
//! a lookup that misses hands out a [`Ticket`], and [`Remembered::put`] with a ticket older
//! than the last forgetting remembers nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::authz::Actor;

/// How long an entry is believed.
pub const TTL: Duration = Duration::from_secs(5);
/// The most entries kept; when full, the expired go, and if none has, everything does.
pub const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct Remembered {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By a hash of the credential, never the credential itself.
    entries: HashMap<[u8; 32], (Actor, Instant)>,
    /// How many times something was forgotten: a read that began before the latest
    /// forgetting may have seen what was forgotten.
    generation: u64,
}

/// Leave to remember what a lookup that missed goes on to read, unless something is
/// forgotten in between.
#[derive(Debug)]
#[must_use]
pub struct Ticket(u64);

fn key(credential: &str) -> [u8; 32] {
    Sha256::digest(credential.as_bytes()).into()
}

impl Remembered {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The actor remembered for `credential`, or a ticket to remember what is read instead.
    pub fn get(&self, credential: &str) -> Result<Actor, Ticket> {
        let inner = self.lock();
        match inner.entries.get(&key(credential)) {
            Some((actor, at)) if at.elapsed() < TTL => Ok(actor.clone()),
            _ => Err(Ticket(inner.generation)),
        }
    }

    /// Remembers `actor`, unless something was forgotten since `ticket` was handed out.
    pub fn put(&self, credential: &str, actor: Actor, ticket: Ticket) {
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            inner.entries.retain(|_, (_, at)| at.elapsed() < TTL);
            if inner.entries.len() >= CAPACITY {
                inner.entries.clear();
            }
        }
        inner
            .entries
            .insert(key(credential), (actor, Instant::now()));
    }

    pub fn forget(&self, credential: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.remove(&key(credential));
    }

    /// After a change that may touch any entry (a role, a revoked token, a disabled user).
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(login: &str) -> Actor {
        Actor {
            user_id: uuid::Uuid::new_v4(),
            login: login.into(),
            role: domain::Role::Viewer,
        }
    }

    fn put(r: &Remembered, credential: &str, a: Actor) {
        let ticket = r.get(credential).unwrap_err();
        r.put(credential, a, ticket);
    }

    #[test]
    fn remembers_by_credential_and_forgets_on_request() {
        let r = Remembered::default();
        assert!(r.get("session:a").is_err());
        put(&r, "session:a", actor("ann"));
        assert_eq!(r.get("session:a").map(|a| a.login).ok(), Some("ann".into()));
        assert!(r.get("session:b").is_err());
        r.forget("session:a");
        assert!(r.get("session:a").is_err());
        put(&r, "token:x", actor("bob"));
        r.forget_all();
        assert!(r.get("token:x").is_err());
    }

    #[test]
    fn what_was_read_before_a_forgetting_is_not_remembered_after_it() {
        let r = Remembered::default();
        // A request misses and reads the user; meanwhile the user is disabled.
        let ticket = r.get("token:x").unwrap_err();
        r.forget_all();
        r.put("token:x", actor("bob"), ticket);
        assert!(r.get("token:x").is_err());
        // The same for one credential forgotten (a sign-out).
        let ticket = r.get("session:s").unwrap_err();
        r.forget("session:s");
        r.put("session:s", actor("ann"), ticket);
        assert!(r.get("session:s").is_err());
    }

    #[test]
    fn stays_bounded() {
        let r = Remembered::default();
        for i in 0..CAPACITY + 10 {
            put(&r, &format!("session:{i}"), actor("a"));
        }
        assert!(r.lock().entries.len() <= CAPACITY);
    }
}
