//! Server functions of builds: the log page, deploying a build, the auto-deploy switch, pins,
//! and the app's runtime log.

use crate::UiError;
use domain::BuildPage;
use leptos::prelude::*;

/// Lines the log page renders on the server, and their most bytes; the rest are in the raw
/// download.
pub const LOG_PAGE_LINES: i32 = 5_000;
pub const LOG_PAGE_BYTES: i64 = 2_000_000;

#[server(endpoint = "build_page")]
pub async fn load_build_page(app: String, build: String) -> Result<BuildPage, UiError> {
    use slipway_core::access::authz::{authorize, Action};
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let id = build_id(&build)?;
    let (b, lines, total) = core
        .build_log_tail(&actor, &app, id, LOG_PAGE_LINES, LOG_PAGE_BYTES)
        .await
        .map_err(super::ssr::user_error)?;
    let release_version = match b.release_id {
        Some(r) => core
            .release(
                &actor,
                &app,
                slipway_core::ledger::releases::ReleaseRef::Id(r),
            )
            .await
            .ok()
            .map(|r| r.version),
        None => None,
    };
    Ok(BuildPage {
        app: app.full_name(),
        id: b.id.to_string(),
        status: b.status,
        source: b.source_url.clone(),
        created_at: b.created_at,
        user: b.author.clone(),
        commit_sha: b.commit_sha.clone(),
        commit_message: b.message.clone(),
        release_version,
        lines,
        total_lines: total,
        can_deploy: authorize(&actor, Action::Release, Some(app.id)).is_ok(),
        now: chrono::Utc::now(),
    })
}

#[cfg(feature = "ssr")]
fn build_id(s: &str) -> Result<uuid::Uuid, UiError> {
    uuid::Uuid::parse_str(s).map_err(|_| {
        super::ssr::user_error(slipway_core::Error::NotFound(format!(
            "The build \"{s}\" was not found."
        )))
    })
}

/// Releases a succeeded build; answers the new release's version.
#[server(endpoint = "deploy_build")]
pub async fn deploy_build(app: String, build: String) -> Result<i32, UiError> {
    use slipway_core::ledger::releases::SlugRef;
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let r = core
        .deploy(&actor, &app, SlugRef::Build(build_id(&build)?), None)
        .await
        .map_err(super::ssr::user_error)?;
    super::ssr::finish(
        &super::ssr::page(&app, ""),
        crate::Done::Deploying(r.version),
    );
    Ok(r.version)
}

/// Switches `auto-release`: each succeeded build is released as `Auto-Deploy <build8>`.
#[server(endpoint = "set_auto_deploy")]
pub async fn set_auto_deploy(app: String, enabled: bool) -> Result<bool, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let f = core
        .set_feature(&actor, &app, "auto-release", enabled)
        .await
        .map_err(super::ssr::user_error)?;
    super::ssr::finish(
        &super::ssr::back(&super::ssr::page(&app, "")),
        crate::Done::AutoDeploy(f.enabled),
    );
    Ok(f.enabled)
}

/// Pins or unpins a release (its image is then kept whatever its age).
#[server(endpoint = "set_pinned")]
pub async fn set_pinned(app: String, version: i32, pinned: bool) -> Result<bool, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let r = core
        .set_pinned(
            &actor,
            &app,
            slipway_core::ledger::releases::ReleaseRef::Version(
                domain::Version::new(version).ok_or_else(|| {
                    super::ssr::invalid(format!("v{version} is not a release version."))
                })?,
            ),
            pinned,
        )
        .await
        .map_err(super::ssr::user_error)?;
    super::ssr::finish(
        &super::ssr::back(&super::ssr::page(&app, "")),
        crate::Done::Pinned(version, r.pinned),
    );
    Ok(r.pinned)
}

/// The running container's last lines (config values masked); empty when nothing runs.
#[server(endpoint = "runtime_log")]
pub async fn runtime_log(app: String) -> Result<Vec<String>, UiError> {
    let ctx = super::ssr::context()?;
    let actor = super::ssr::actor().await?;
    let app = ctx
        .core
        .app(&actor, &app)
        .await
        .map_err(super::ssr::user_error)?;
    match ctx.runtime.app_log(app.id, 100).await {
        Ok(lines) => Ok(lines),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot read an app's runtime log");
            Err(UiError::new(
                "The container engine did not answer; the runtime log is unavailable.",
            ))
        }
    }
}
