//! Commit statuses: a GitHub build's `slipway/build` status on its commit, and the token its
//! commits are fetched with (its attachment's, sent to GitHub's API only).

use domain::github::RepoUrl;
use uuid::Uuid;

use super::repos::{Attachment, ATTACHMENT_SELECT};
use crate::{Core, Error, Result};

impl Core {
    /// The attachment a GitHub build came from, if it is still attached: its commits are
    /// fetched, and reported on, with that attachment's token only.
    pub(crate) async fn build_attachment(&self, build_id: Uuid) -> Result<Option<Attachment>> {
        Ok(sqlx::query_as(&format!(
            "{ATTACHMENT_SELECT} where r.id = (select attachment_id from builds where id = $1)"
        ))
        .bind(build_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The token a GitHub build is fetched with.
    pub(crate) async fn github_build_token(&self, build_id: Uuid) -> Result<String> {
        let att = self.build_attachment(build_id).await?.ok_or_else(|| {
            Error::Conflict(
                "The repository this build comes from was detached; its commits cannot be fetched."
                    .into(),
            )
        })?;
        self.attachment_token(&att).await
    }

    /// Posts the `slipway/build` status of a GitHub build on its commit. A failure is logged,
    /// never fatal: the build goes on whatever GitHub says.
    pub(crate) async fn post_build_status(&self, build_id: Uuid, state: &str) {
        if let Err(e) = self.try_post_build_status(build_id, state).await {
            tracing::warn!(build = %build_id, state, error = %format!("{e:#}"), "cannot post the commit status");
        }
    }

    async fn try_post_build_status(&self, build_id: Uuid, state: &str) -> Result<()> {
        let r = sqlx::query!(
            "select commit_sha, app_id, source_kind from builds where id = $1",
            build_id
        )
        .fetch_one(&self.pool)
        .await?;
        let (sha, app_id, kind) = (r.commit_sha, r.app_id, r.source_kind);
        let (Some(sha), "github") = (sha, kind.as_str()) else {
            return Ok(());
        };
        let app_name = self.find_app(&app_id.to_string()).await?.full_name();
        let Some(att) = self.build_attachment(build_id).await? else {
            tracing::info!(build = %build_id, "the repository was detached; no commit status posted");
            return Ok(());
        };
        let gh = self.github()?;
        let repo = RepoUrl::parse(&att.repo, &gh.settings().web_url).map_err(Error::Invalid)?;
        let token = self.attachment_token(&att).await?;
        let target = format!(
            "{}/ui/apps/{app_name}/builds/{build_id}",
            gh.settings().public_url
        );
        let description = match state {
            "pending" => "Slipway is building this commit",
            "success" => "Slipway built this commit",
            _ => "Slipway's build of this commit failed",
        };
        gh.post_status(&token, &repo, &sha, state, &target, description)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}
