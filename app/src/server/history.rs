//! Server functions of the app page: history, rollback, compare, reveal, resume.

use crate::UiError;
use domain::{DiffView, HistoryPage, ReleaseView};
use leptos::prelude::*;

/// Releases shown per page of history.
pub const PAGE: i64 = 50;

#[server(endpoint = "app_history")]
pub async fn app_history(app: String, before: Option<i32>) -> Result<HistoryPage, UiError> {
    use slipway_core::access::authz::{authorize, Action};
    use slipway_core::ledger::releases::Window;
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let to = before.map(|b| b.saturating_sub(1)).unwrap_or(i32::MAX);
    let window = Window {
        from: 1,
        to,
        descending: true,
        max: PAGE,
    };
    let (rows, more) = core
        .releases(&actor, &app, window)
        .await
        .map_err(super::ssr::user_error)?;
    let can_deploy = authorize(&actor, Action::Rollback, Some(app.id)).is_ok();
    let can_reveal = authorize(&actor, Action::RevealConfig, Some(app.id)).is_ok();
    let older = if more {
        rows.last().map(|r| r.version)
    } else {
        None
    };
    let releases: Vec<ReleaseView> = rows
        .iter()
        .map(|r| ssr::release_view(r, can_deploy))
        .collect();
    let mut app = app;
    // The app was read before its releases: where the page shows the current release, the
    // rows (the newer read) say which it is, so "Running" never lags the history shown.
    if let Some(current) = releases.iter().find(|r| r.current) {
        app.current_version = Some(current.version);
    }
    let summary = ssr::summary(&core, &actor, &app).await?;
    Ok(HistoryPage {
        app: summary,
        releases,
        older,
        paged: before.is_some(),
        can_deploy,
        can_reveal,
        now: chrono::Utc::now(),
    })
}

/// What rolling back to `version` changes: a diff from the current release to it.
#[server(endpoint = "rollback_preview")]
pub async fn rollback_preview(app: String, version: i32) -> Result<DiffView, UiError> {
    use slipway_core::ledger::releases::ReleaseRef;
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let current = app
        .current_version
        .ok_or_else(|| super::ssr::invalid("The app has no current release to roll back from."))?;
    let (from, to) = (
        ReleaseRef::Version(ssr::version(current)?),
        ReleaseRef::Version(ssr::version(version)?),
    );
    let diff = core
        .diff(&actor, &app, from, to)
        .await
        .map_err(super::ssr::user_error)?;
    Ok(ssr::diff_view(&diff))
}

#[server(endpoint = "rollback_to")]
pub async fn rollback_to(app: String, version: i32) -> Result<ReleaseView, UiError> {
    use slipway_core::ledger::releases::ReleaseRef;
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let target = ReleaseRef::Version(ssr::version(version)?);
    let r = core
        .rollback(&actor, &app, target)
        .await
        .map_err(super::ssr::user_error)?;
    super::ssr::finish(
        &super::ssr::page(&app, ""),
        crate::Done::RollingBack(r.version),
    );
    Ok(ssr::release_view(&r, false))
}

/// Any two releases of the app, by uuid, `N` or `vN`.
#[server(endpoint = "compare_releases")]
pub async fn compare_releases(app: String, from: String, to: String) -> Result<DiffView, UiError> {
    use slipway_core::ledger::releases::ReleaseRef;
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let parse = |s: &str| {
        ReleaseRef::parse(s)
            .ok_or_else(|| super::ssr::invalid(format!("\"{s}\" is not a release (use N or vN).")))
    };
    let diff = core
        .diff(&actor, &app, parse(&from)?, parse(&to)?)
        .await
        .map_err(super::ssr::user_error)?;
    Ok(ssr::diff_view(&diff))
}

/// One config value of one release, for "Reveal"; `None` when the release does not set it.
#[server(endpoint = "reveal_value")]
pub async fn reveal_value(
    app: String,
    version: i32,
    key: String,
) -> Result<Option<String>, UiError> {
    use slipway_core::ledger::releases::ReleaseRef;
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let which = ReleaseRef::Version(ssr::version(version)?);
    core.reveal_release_value(&actor, &app, which, &key)
        .await
        .map_err(super::ssr::user_error)
}

/// "Resume auto-deploy": switches auto-release back on after a rollback paused it.
#[server(endpoint = "resume_auto_deploy")]
pub async fn resume_auto_deploy(app: String) -> Result<(), UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    core.set_feature(
        &actor,
        &app,
        slipway_core::ledger::features::AUTO_RELEASE,
        true,
    )
    .await
    .map_err(super::ssr::user_error)?;
    super::ssr::finish(
        &super::ssr::back(&super::ssr::page(&app, "")),
        crate::Done::Resumed,
    );
    Ok(())
}

/// The statuses of the given releases (of one history page), for the page's poller: one read
/// of the versions between the lowest and the highest asked for.
#[server(endpoint = "release_statuses")]
pub async fn release_statuses(
    app: String,
    versions: Vec<i32>,
) -> Result<Vec<domain::ReleaseStatus>, UiError> {
    use slipway_core::ledger::releases::Window;
    let (Some(&from), Some(&to)) = (versions.iter().min(), versions.iter().max()) else {
        return Ok(Vec::new());
    };
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let window = Window {
        from,
        to,
        descending: false,
        // The versions of one page lie within one page's span.
        max: PAGE,
    };
    let (rows, _) = core
        .releases(&actor, &app, window)
        .await
        .map_err(super::ssr::user_error)?;
    Ok(rows
        .iter()
        .filter(|r| versions.contains(&r.version))
        .map(|r| r.status)
        .collect())
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::UiError;
    use domain::{
        AppSummary, CommitView, DiffView, KeyDiffView, ReleaseView, RolledBackView, Version,
    };
    use slipway_core::access::authz::Actor;
    use slipway_core::ledger::apps::App;
    use slipway_core::ledger::diff::{KeyChange, ReleaseDiff};
    use slipway_core::ledger::releases::Release;
    use slipway_core::Core;

    pub fn version(n: i32) -> Result<Version, UiError> {
        Version::new(n)
            .ok_or_else(|| super::super::ssr::invalid(format!("v{n} is not a release version.")))
    }

    pub fn release_view(r: &Release, may_roll_back: bool) -> ReleaseView {
        ReleaseView {
            id: r.id.to_string(),
            version: r.version,
            kind: r.kind,
            description: r.description.clone(),
            status: r.status,
            created_at: r.created_at,
            user: r.user_login.clone(),
            image: r.image.clone(),
            commit_sha: r.commit_sha.clone(),
            line: format!(
                "{}{}",
                r.description,
                domain::source_suffix(
                    r.commit_author.as_deref(),
                    r.commit_message.as_deref(),
                    r.commit_sha.as_deref()
                )
            ),
            current: r.current,
            can_rollback: may_roll_back && r.is_rollback_target(),
            build_id: r.build_id.map(|b| b.to_string()),
            failure: r.failure.clone(),
            pinned: r.pinned,
            image_gone: r.image_gone,
        }
    }

    pub fn diff_view(d: &ReleaseDiff) -> DiffView {
        let change = |c: &KeyChange| match c {
            KeyChange::Added => "added",
            KeyChange::Removed => "removed",
            KeyChange::Changed => "changed",
        };
        DiffView {
            from: release_view(&d.from, false),
            to: release_view(&d.to, false),
            port_from: d.from.port,
            port_to: d.to.port,
            config: d
                .config
                .iter()
                .map(|(key, c)| KeyDiffView {
                    key: key.clone(),
                    change: change(c).into(),
                })
                .collect(),
            commits: d
                .commits
                .iter()
                .map(|c| CommitView {
                    sha: c.sha.clone(),
                    message: c.message.clone(),
                    author: c.author.clone(),
                })
                .collect(),
            addon_kept: d.addon_keys.clone(),
        }
    }

    /// The app's heading: its rolled-back state, held-back builds and favourite star, read at
    /// once (three queries, side by side).
    pub async fn summary(core: &Core, actor: &Actor, app: &App) -> Result<AppSummary, UiError> {
        let (rolled, unreleased, favorites) = futures::try_join!(
            core.rolled_back(actor, app),
            core.unreleased_builds(actor, app),
            core.favorite_ids(actor),
        )
        .map_err(super::super::ssr::user_error)?;
        let unreleased = unreleased
            .into_iter()
            .map(|(b, state)| domain::UnreleasedBuildView {
                id: b.id.to_string(),
                line: format!(
                    "{}{}",
                    &b.id.simple().to_string()[..8],
                    domain::source_suffix(
                        b.author.as_deref(),
                        b.message.as_deref(),
                        b.commit_sha.as_deref()
                    )
                ),
                state,
                created_at: b.created_at,
            })
            .collect();
        let favorite = favorites.contains(&app.id);
        Ok(AppSummary {
            name: app.full_name(),
            org: app.org_name.clone(),
            description: app.description.clone(),
            image: app.image.clone(),
            current_version: app.current_version,
            auto_release: app.auto_release,
            rolled_back: rolled.map(|r| RolledBackView {
                running: r.running,
                from: r.from,
                release: r.release,
                auto_release_paused: r.auto_release_paused,
            }),
            favorite,
            web_url: app.web_url.clone(),
            unreleased,
        })
    }
}
