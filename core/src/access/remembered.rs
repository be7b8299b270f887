//! Who a session or an API token is, remembered for a moment, so a page or an API call does not
//! cost a round trip to PostgreSQL to learn it. Entries live [`TTL`] at most and there are at
//! most [`CAPACITY`] of them; this process forgets at once what it changes itself (signing
//! out, revoking a token, changing a role, disabling a user), and another process's change
//! shows here within [`TTL`].

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
    /// By a hash of the credential, never the credential itself.
    entries: Mutex<HashMap<[u8; 32], (Actor, Instant)>>,
}

fn key(credential: &str) -> [u8; 32] {
    Sha256::digest(credential.as_bytes()).into()
}

impl Remembered {
    pub fn get(&self, credential: &str) -> Option<Actor> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (actor, at) = entries.get(&key(credential))?;
        (at.elapsed() < TTL).then(|| actor.clone())
    }

    pub fn put(&self, credential: &str, actor: Actor) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, (_, at)| at.elapsed() < TTL);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key(credential), (actor, Instant::now()));
    }

    pub fn forget(&self, credential: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&key(credential));
    }

    /// After a change that may touch any entry (a role, a revoked token, a disabled user).
    pub fn forget_all(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
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

    #[test]
    fn remembers_by_credential_and_forgets_on_request() {
        let r = Remembered::default();
        assert_eq!(r.get("session:a"), None);
        r.put("session:a", actor("ann"));
        assert_eq!(r.get("session:a").map(|a| a.login), Some("ann".into()));
        assert_eq!(r.get("session:b"), None);
        r.forget("session:a");
        assert_eq!(r.get("session:a"), None);
        r.put("token:x", actor("bob"));
        r.forget_all();
        assert_eq!(r.get("token:x"), None);
    }

    #[test]
    fn stays_bounded() {
        let r = Remembered::default();
        for i in 0..CAPACITY + 10 {
            r.put(&format!("session:{i}"), actor("a"));
        }
        assert!(r.entries.lock().unwrap().len() <= CAPACITY);
    }
}
