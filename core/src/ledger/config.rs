//! Config vars and the port: each change that changes something is one release.

use std::collections::BTreeMap;

use domain::{ConfigKey, ReleaseKind};

use crate::access::authz::{authorize, Action, Actor};
use crate::ledger::apps::App;
use crate::ledger::releases::{lock_next_version, Cause, Release, Snapshot};
use crate::{Core, Error, Result};

/// The value shown for config vars to those who may not read values.
pub const MASK: &str = "***";

/// One requested change: set `key` to a value, or remove it (`None`).
pub type ConfigChange = (ConfigKey, Option<String>);

/// The outcome of a config change: the full map afterwards, and the release if one was made.
#[derive(Debug)]
pub struct ConfigOutcome {
    pub config: BTreeMap<String, String>,
    pub release: Option<Release>,
}

impl Core {
    /// The app's config vars (from its newest release). Values are masked unless the actor may
    /// reveal them.
    pub async fn config_vars(&self, actor: &Actor, app: &App) -> Result<BTreeMap<String, String>> {
        authorize(actor, Action::ReadConfigKeys, Some(app.id))?;
        let mut conn = self.pool.acquire().await?;
        let mut config = self.latest_snapshot(&mut conn, app.id).await?.env();
        if crate::access::authz::authorize(actor, Action::RevealConfig, Some(app.id)).is_err() {
            config.values_mut().for_each(|v| *v = MASK.to_owned());
        }
        Ok(config)
    }

    /// One config var's value, for "Reveal".
    pub async fn reveal_config_var(
        &self,
        actor: &Actor,
        app: &App,
        key: &ConfigKey,
    ) -> Result<String> {
        authorize(actor, Action::RevealConfig, Some(app.id))?;
        let mut conn = self.pool.acquire().await?;
        let config = self.latest_snapshot(&mut conn, app.id).await?.env();
        tracing::info!(app = %app.full_name(), actor = %actor.login, key = %key, "config value revealed");
        config
            .get(key.as_str())
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("{key} is not set.")))
    }

    /// Applies a PATCH: one release when anything changed, none otherwise. Removing a key that
    /// is not set, or touching a reserved key, is a conflict; nothing is written then.
    pub async fn patch_config(
        &self,
        actor: &Actor,
        app: &App,
        changes: Vec<ConfigChange>,
    ) -> Result<ConfigOutcome> {
        authorize(actor, Action::SetConfig, Some(app.id))?;
        if changes.is_empty() {
            return Err(Error::Invalid("No config vars were given.".into()));
        }
        if let Some((k, _)) = changes.iter().find(|(k, _)| k.is_reserved()) {
            return Err(Error::Conflict(if k.as_str() == "PORT" {
                "PORT is reserved: set the port through the formation (PATCH /apps/{app}/formation/web).".into()
            } else {
                format!(
                    "{k} is reserved: names PORT, AKKERIS_* and SLIPWAY_* belong to the platform."
                )
            }));
        }
        let mut tx = self.pool.begin().await?;
        let version = lock_next_version(&mut tx, app.id).await?;
        let before = self.latest_snapshot(&mut tx, app.id).await?;
        let mut config = before.config.clone();
        let (mut set, mut removed) = (Vec::new(), Vec::new());
        for (key, value) in changes {
            let k = key.as_str().to_owned();
            if let Some(var) = before.addon_config.get(&k) {
                return Err(Error::Conflict(format!(
                    "{k} is set by the add-on {}: it changes with the add-on (detach it to set your own).",
                    var.attachment
                )));
            }
            match value {
                Some(v) => {
                    if config.get(&k) != Some(&v) {
                        config.insert(k.clone(), v);
                        set.push(k);
                    }
                }
                None => {
                    if config.remove(&k).is_none() {
                        return Err(Error::Conflict(format!(
                            "{k} cannot be removed: it is not set."
                        )));
                    }
                    removed.push(k);
                }
            }
        }
        if set.is_empty() && removed.is_empty() {
            // Nothing changed: no release, and the version bump is rolled back with the transaction.
            return Ok(ConfigOutcome {
                config: before.env(),
                release: None,
            });
        }
        let description = describe_config_change(&set, &removed);
        let snap = Snapshot { config, ..before };
        let cause = Cause {
            kind: ReleaseKind::Config,
            description,
            rollback_of: None,
            actor: Some(actor),
        };
        let release = self
            .insert_release(&mut tx, app, version, &snap, cause)
            .await?;
        tx.commit().await?;
        Ok(ConfigOutcome {
            config: snap.env(),
            release: Some(release),
        })
    }

    /// The app's port (from its newest release).
    pub async fn port(&self, actor: &Actor, app: &App) -> Result<i32> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        let mut conn = self.pool.acquire().await?;
        Ok(self.latest_snapshot(&mut conn, app.id).await?.port)
    }

    /// Sets the port; a release when it changes.
    pub async fn set_port(
        &self,
        actor: &Actor,
        app: &App,
        port: i64,
    ) -> Result<(i32, Option<Release>)> {
        authorize(actor, Action::SetConfig, Some(app.id))?;
        let port = i32::try_from(port)
            .ok()
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| {
                Error::Invalid(format!("The port {port} is invalid: use 1 to 65535."))
            })?;
        let mut tx = self.pool.begin().await?;
        let version = lock_next_version(&mut tx, app.id).await?;
        let before = self.latest_snapshot(&mut tx, app.id).await?;
        if before.port == port {
            return Ok((port, None));
        }
        let snap = Snapshot { port, ..before };
        let cause = Cause {
            kind: ReleaseKind::Port,
            description: format!("Set PORT to {port}"),
            rollback_of: None,
            actor: Some(actor),
        };
        let release = self
            .insert_release(&mut tx, app, version, &snap, cause)
            .await?;
        tx.commit().await?;
        Ok((port, Some(release)))
    }
}

/// `Set A, B config vars` · `Remove A config vars` · `Set A; remove B config vars`, keys sorted.
pub fn describe_config_change(set: &[String], removed: &[String]) -> String {
    let sorted = |keys: &[String]| {
        let mut k = keys.to_vec();
        k.sort();
        k.join(", ")
    };
    match (set.is_empty(), removed.is_empty()) {
        (false, true) => format!("Set {} config vars", sorted(set)),
        (true, false) => format!("Remove {} config vars", sorted(removed)),
        _ => format!(
            "Set {}; remove {} config vars",
            sorted(set),
            sorted(removed)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_config_change;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn descriptions_name_sorted_keys() {
        assert_eq!(
            describe_config_change(&s(&["FOO", "BAR"]), &[]),
            "Set BAR, FOO config vars"
        );
        assert_eq!(
            describe_config_change(&[], &s(&["FOO"])),
            "Remove FOO config vars"
        );
        assert_eq!(
            describe_config_change(&s(&["FOO"]), &s(&["BAR"])),
            "Set FOO; remove BAR config vars"
        );
    }
}
