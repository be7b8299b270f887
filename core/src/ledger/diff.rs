//! What differs between two releases of an app: the image, the port, the config keys (added,
//! removed, changed — never the values), and the commits of the builds between them. The
//! rollback confirmation and the compare page both show this.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::access::authz::{authorize, Action, Actor};
use crate::ledger::apps::App;
use crate::ledger::releases::{Release, ReleaseRef};
use crate::{Core, Error, Result};

/// How one config key differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChange {
    Added,
    Removed,
    Changed,
}

/// A commit of a build that lies between two releases.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Commit {
    pub sha: String,
    pub message: Option<String>,
    pub author: Option<String>,
}

/// The difference from release `from` to release `to`.
#[derive(Debug, Clone)]
pub struct ReleaseDiff {
    pub from: Release,
    pub to: Release,
    /// The user's own config vars, keys sorted; values are not part of a diff. Vars an add-on
    /// sets in `from` are left out: a rollback keeps them (DESIGN §2).
    pub config: Vec<(String, KeyChange)>,
    /// The vars add-ons set in `from`, sorted: going to `to` by a rollback keeps them as they are.
    pub addon_keys: Vec<String>,
    /// Commits of the builds after `from`'s build up to `to`'s, newest first (going forward),
    /// or of the builds being undone (going back).
    pub commits: Vec<Commit>,
}

impl ReleaseDiff {
    pub fn image_changes(&self) -> bool {
        self.from.image != self.to.image
    }
}

/// Compares two config maps by key.
pub fn config_changes(
    from: &BTreeMap<String, String>,
    to: &BTreeMap<String, String>,
) -> Vec<(String, KeyChange)> {
    let mut out = Vec::new();
    for (k, v) in to {
        match from.get(k) {
            None => out.push((k.clone(), KeyChange::Added)),
            Some(old) if old != v => out.push((k.clone(), KeyChange::Changed)),
            Some(_) => {}
        }
    }
    out.extend(
        from.keys()
            .filter(|k| !to.contains_key(*k))
            .map(|k| (k.clone(), KeyChange::Removed)),
    );
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

impl Core {
    /// What changes when going from release `from` to release `to` of `app`.
    pub async fn diff(
        &self,
        actor: &Actor,
        app: &App,
        from: ReleaseRef,
        to: ReleaseRef,
    ) -> Result<ReleaseDiff> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        let from = self.find_release(app, from).await?;
        let to = self.find_release(app, to).await?;
        let mut conn = self.pool.acquire().await?;
        let a = self.open_snapshot(&mut conn, from.id).await?;
        let mut b = self.open_snapshot(&mut conn, to.id).await?.config;
        drop(conn);
        b.retain(|k, _| !a.addon_config.contains_key(k));
        let commits = self
            .commits_between(app.id, from.build_id, to.build_id)
            .await?;
        Ok(ReleaseDiff {
            config: config_changes(&a.config, &b),
            addon_keys: a.addon_config.into_keys().collect(),
            commits,
            from,
            to,
        })
    }

    /// Commits of the app's builds created after the older build and up to the newer one.
    async fn commits_between(
        &self,
        app_id: Uuid,
        a: Option<Uuid>,
        b: Option<Uuid>,
    ) -> Result<Vec<Commit>> {
        let (Some(a), Some(b)) = (a, b) else {
            return Ok(Vec::new());
        };
        if a == b {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as!(
            Commit,
            r#"with ends as (select min(created_at) lo, max(created_at) hi from builds where id in ($2, $3))
               select commit_sha as "sha!", message, author from builds, ends
                where app_id = $1 and commit_sha is not null and status = 'succeeded'
                  and created_at > ends.lo and created_at <= ends.hi
                order by created_at desc limit 100"#,
            app_id,
            a,
            b
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// One value of a release's config snapshot, for "Reveal" in a diff.
    pub async fn reveal_release_value(
        &self,
        actor: &Actor,
        app: &App,
        release: ReleaseRef,
        key: &str,
    ) -> Result<Option<String>> {
        authorize(actor, Action::RevealConfig, Some(app.id))?;
        let r = self.find_release(app, release).await?;
        let mut conn = self.pool.acquire().await?;
        let config = self.open_snapshot_config(&mut conn, r.id).await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, version = r.version, key, "config value revealed");
        Ok(config.get(key).cloned())
    }

    /// When the app runs on a rolled-back release: the version it runs the contents of, the
    /// version that was current before the rollback, and the rollback release itself.
    pub async fn rolled_back(&self, actor: &Actor, app: &App) -> Result<Option<RolledBack>> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        let Some(current) = app.current_version else {
            return Ok(None);
        };
        // The newest release up to the current one that changed what runs.
        let row = sqlx::query!(
            "select version, kind, rollback_of from releases
              where app_id = $1 and version <= $2 and status = 'succeeded' and kind in ('deploy', 'rollback')
              order by version desc limit 1",
            app.id,
            current
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|r| (r.version, r.kind, r.rollback_of));
        let Some((release, kind, Some(target))) = row else {
            return Ok(None);
        };
        if kind != "rollback" {
            return Ok(None);
        }
        let from: Option<i32> = sqlx::query_scalar!("select max(version) from releases where app_id = $1 and version < $2 and status = 'succeeded'", app.id, release)
        .fetch_one(&self.pool)
        .await?;
        let from = from.ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("a rollback without a release before it"))
        })?;
        Ok(Some(RolledBack {
            running: target,
            from,
            release,
            auto_release_paused: app.auto_release_paused,
        }))
    }
}

/// The app runs the contents of `running` since release `release` rolled back from `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolledBack {
    pub running: i32,
    pub from: i32,
    pub release: i32,
    pub auto_release_paused: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn config_changes_name_keys_not_values() {
        let from = m(&[("A", "1"), ("B", "2"), ("C", "3")]);
        let to = m(&[("A", "1"), ("B", "changed"), ("D", "4")]);
        assert_eq!(
            config_changes(&from, &to),
            vec![
                ("B".into(), KeyChange::Changed),
                ("C".into(), KeyChange::Removed),
                ("D".into(), KeyChange::Added)
            ]
        );
    }
}
