//! Status checks: a GitHub build whose auto-release waits for its commit's other checks is
//! released once they have all succeeded, and marked when one failed.

use domain::github::RepoUrl;
use uuid::Uuid;

use super::GitHubApi;
use crate::{Core, Error, Result};

impl Core {
    /// Releases the GitHub builds that wait for their commit's other status checks once
    /// those have all succeeded; marks them when one failed; asks again later while some still
    /// run. Called by every worker every few seconds: a build is claimed for a while
    /// (`checks_next_at` moved on) before GitHub is asked, so no row stays locked during the
    /// call and two workers never ask about the same build at once.
    pub async fn release_waiting_builds(&self) -> Result<()> {
        let Some(gh) = self.github.as_deref() else {
            return Ok(());
        };
        loop {
            let claimed = sqlx::query!(
                r#"update builds set checks_next_at = now() + interval '60 seconds'
                    where id = (select id from builds
                                 where auto_release = 'waiting' and checks_next_at <= now()
                                 order by checks_next_at limit 1 for update skip locked)
                    returning id, app_id, coalesce(commit_sha, '') as "sha!""#
            )
            .fetch_optional(&self.pool)
            .await?
            .map(|r| (r.id, r.app_id, r.sha));
            let Some((build_id, app_id, sha)) = claimed else {
                return Ok(());
            };
            if let Err(e) = self.settle_waiting_build(gh, build_id, app_id, &sha).await {
                // Asked again in a minute (the claim above); other builds go on.
                tracing::warn!(build = %build_id, error = %format!("{e:#}"), "cannot settle a build waiting for status checks");
            }
        }
    }

    async fn settle_waiting_build(
        &self,
        gh: &dyn GitHubApi,
        build_id: Uuid,
        app_id: Uuid,
        sha: &str,
    ) -> Result<()> {
        let app = self.find_app(&app_id.to_string()).await?;
        let Some(att) = self.build_attachment(build_id).await? else {
            // Detached while it waited: nobody asked for this release any more.
            self.set_auto_release(build_id, None, None).await?;
            return Ok(());
        };
        let repo = RepoUrl::parse(&att.repo, &gh.settings().web_url).map_err(Error::Invalid)?;
        let token = self.attachment_token(&att).await?;
        let checks = match gh.checks(&token, &repo, sha).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(app = %app.full_name(), build = %build_id, error = %e, "cannot read the commit's status checks; asking again later");
                return self
                    .set_auto_release(build_id, Some("waiting"), Some(30))
                    .await;
            }
        };
        match checks {
            crate::github::Checks::Pending => {
                // Checks still running six hours after the build are not coming back.
                let stale: bool = sqlx::query_scalar!("select updated_at < now() - interval '6 hours' as \"stale!\" from builds where id = $1", build_id)
                .fetch_one(&self.pool)
                .await?;
                if stale {
                    tracing::info!(app = %app.full_name(), build = %build_id, "status checks still pending after six hours; build not released");
                    return self
                        .set_auto_release(build_id, Some("checks-failed"), None)
                        .await;
                }
                self.set_auto_release(build_id, Some("waiting"), Some(5))
                    .await
            }
            crate::github::Checks::Failed(names) => {
                tracing::info!(app = %app.full_name(), build = %build_id, failed = %names.join(", "), "status checks failed; build not released");
                self.set_auto_release(build_id, Some("checks-failed"), None)
                    .await
            }
            crate::github::Checks::Passed => {
                let mut tx = self.pool.begin().await?;
                // The app's row, as every release takes it: no release slips in meanwhile.
                sqlx::query!(
                    "select 1 as held from apps where id = $1 for update",
                    app.id
                )
                .fetch_all(&mut *tx)
                .await?;
                // Still waiting (not detached, superseded or settled by another worker), not
                // released by hand meanwhile, and no newer build released: then release.
                let still: bool = sqlx::query_scalar!("select b.auto_release = 'waiting'
                            and not exists (select 1 from releases r where r.build_id = b.id)
                            and not exists (select 1 from releases r join builds n on n.id = r.build_id
                                             where r.app_id = b.app_id and n.created_at > b.created_at) as \"still!\"
                       from builds b where b.id = $1", build_id)
                .fetch_one(&mut *tx)
                .await?;
                let auto = sqlx::query!(
                    "select auto_release, auto_release_paused from apps where id = $1",
                    app.id
                )
                .fetch_one(&mut *tx)
                .await
                .map(|r| (r.auto_release, r.auto_release_paused))?;
                let state = match (still, auto) {
                    (false, _) => None,
                    (true, (true, _)) => {
                        self.release_build_in(
                            &mut tx,
                            &app,
                            build_id,
                            domain::ReleaseKind::Deploy,
                            crate::builds::auto_deploy_description(build_id),
                            None,
                        )
                        .await?;
                        tracing::info!(app = %app.full_name(), build = %build_id, "status checks passed; build released");
                        None
                    }
                    // Auto-deploy was paused by a rollback while it waited.
                    (true, (false, true)) => Some("held"),
                    (true, (false, false)) => None,
                };
                sqlx::query!(
                    "update builds set auto_release = $2, checks_next_at = null where id = $1",
                    build_id,
                    state
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// Sets what became of a build's automatic release, and when to look again.
    async fn set_auto_release(
        &self,
        build_id: Uuid,
        state: Option<&str>,
        again_in_secs: Option<i32>,
    ) -> Result<()> {
        sqlx::query!(
            "update builds set auto_release = $2,
                    checks_next_at = now() + make_interval(secs => $3)
              where id = $1 and auto_release = 'waiting'",
            build_id,
            state,
            again_in_secs.map(f64::from)
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
