//! The release history: a row per release, rollback and compare, and the banner of a
//! rolled-back app. Rendered on the server; the rollback dialog and the poller are islands.

use std::time::Duration;

use domain::{relative_time, HistoryPage, ReleaseStatus, ReleaseView, RolledBackView};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::builds::{RuntimeLog, UnreleasedBuilds};
use super::heading::AppHeading;
use crate::pages::rollback::RollbackDialog;
use crate::pages::PostForm;
use crate::server::{release_statuses, ResumeAutoDeploy, SetPinned};
use crate::{FormOutcome, UiError};

/// The app's heading, its releases newest first, then its builds.
#[component]
pub(super) fn History(
    page: HistoryPage,
    /// The running release's last lines, when asked for (`?log`).
    log: Option<Result<Vec<String>, UiError>>,
) -> impl IntoView {
    let HistoryPage {
        app,
        releases,
        older,
        paged,
        can_deploy,
        now,
        ..
    } = page;
    let name = app.name.clone();
    let versions: Vec<i32> = releases.iter().map(|r| r.version).collect();
    let in_flight: Vec<i32> = releases
        .iter()
        .filter(|r| !r.status.is_settled())
        .map(|r| r.version)
        .collect();
    let log = log.map(|r| r.map_err(|e| e.to_string()));
    view! {
        <AppHeading app=app.clone() can_deploy/>
        <crate::pages::AppNav app=name.clone() here="releases"/>
        <FormOutcome/>
        {app.rolled_back.map(|rb| view! { <RolledBackBanner app=name.clone() rb can_deploy/> })}
        <section aria-labelledby="history-title">
            <div class="section-head">
                <h2 id="history-title">"Releases"</h2>
                <CompareForm app=name.clone() versions current=app.current_version/>
            </div>
            {if releases.is_empty() {
                view! { <p class="empty">"No releases yet. Deploy an image or set a config var to make v1."</p> }.into_any()
            } else {
                view! {
                    <ol class="history">
                        {releases.into_iter().map(|r| view! { <ReleaseRow app=name.clone() release=r now can_deploy/> }).collect_view()}
                    </ol>
                }.into_any()
            }}
            <nav class="pager" aria-label="History pages">
                {paged.then(|| view! { <a href=format!("/ui/apps/{name}")>"Newest releases"</a> })}
                {older.map(|v| view! { <a href=format!("/ui/apps/{name}?before={v}")>"Older releases"</a> })}
            </nav>
        </section>
        {(!in_flight.is_empty()).then(|| view! { <HistoryPoller app=name.clone() versions=in_flight/> })}
        {can_deploy.then(|| view! { <RollbackDialog app=name.clone()/> })}
        {(!app.unreleased.is_empty()).then(|| view! { <UnreleasedBuilds app=name.clone() builds=app.unreleased.clone() now/> })}
        {app.web_url.is_some().then(|| view! { <RuntimeLog app=name.clone() lines=log/> })}
    }
}

#[component]
fn ReleaseRow(
    app: String,
    release: ReleaseView,
    now: chrono::DateTime<chrono::Utc>,
    can_deploy: bool,
) -> impl IntoView {
    let r = release;
    let v = r.version;
    let status = r.status.as_str();
    let when = relative_time(r.created_at, now);
    let absolute = r.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let log = r.build_id.clone().map(|b| {
        view! { " · "<a href=format!("/ui/apps/{app}/builds/{b}")>"Build log"</a> }
    });
    // An add-on release links to the add-ons it changed.
    let addons = (r.kind == domain::ReleaseKind::Addon).then(|| {
        view! { " · "<a href=format!("/ui/apps/{app}/addons")>"Add-ons"</a> }
    });
    let pinned = r.pinned;
    let pin_button = (can_deploy
        && r.build_id.is_some()
        && !r.image_gone
        && r.status != ReleaseStatus::Skipped)
        .then(|| {
            let app = app.clone();
            view! {
                <PostForm action=SetPinned::PATH class="inline">
                    <input type="hidden" name="app" value=app/>
                    <input type="hidden" name="version" value=v.to_string()/>
                    <input type="hidden" name="pinned" value=(!pinned).to_string()/>
                    <button type="submit" class="pin" aria-pressed=pinned.to_string()
                        title="A pinned release keeps its image, so it can always be rolled back to">
                        {if pinned { "Pinned" } else { "Pin" }}
                    </button>
                </PostForm>
            }
        });
    view! {
        <li class="release" class:current=r.current data-version=v id=format!("v{v}")>
            <span class="v">{format!("v{v}")}</span>
            <div class="what">
                <span class="desc" title=r.commit_sha.clone()>{r.line.clone()}</span>
                <span class="meta">
                    <time datetime=r.created_at.to_rfc3339() title=absolute>{when}</time>
                    {r.user.clone().map(|u| view! { " · "<span class="who">{u}</span> })}
                    {log}
                    {addons}
                    {r.image_gone.then(|| view! { " · "<span title="Its image was removed; only the last releases' and pinned releases' images are kept">"image removed"</span> })}
                </span>
                {r.failure.clone().map(|why| view! {
                    <details class="failure">
                        <summary>"Why it failed"</summary>
                        <pre>{why}</pre>
                    </details>
                })}
            </div>
            <span class=format!("status status-{status}")
                title=(r.status == ReleaseStatus::Skipped)
                    .then_some("A newer release came before this one's turn, so it was never deployed")>
                {status}
            </span>
            <span class="actions">
                {r.current.then(|| view! { <span class="badge">"Current"</span> })}
                {pin_button}
                // A link to the confirmation page; the rollback dialog, once the page is live,
                // opens in its place.
                {r.can_rollback.then(|| view! {
                    <a class="button" href=format!("/ui/apps/{app}/releases/v{v}/rollback")
                        data-rollback=v aria-haspopup="dialog">"Rollback"</a>
                })}
            </span>
        </li>
    }
}

/// Any two of the page's releases: a plain GET form to the compare page.
#[component]
fn CompareForm(app: String, versions: Vec<i32>, current: Option<i32>) -> impl IntoView {
    if versions.len() < 2 {
        return ().into_any();
    }
    let to = current.unwrap_or(versions[0]);
    let from = versions
        .iter()
        .copied()
        .find(|v| *v != to)
        .unwrap_or(versions[1]);
    let options = move |selected: i32| {
        versions
            .iter()
            .map(|v| view! { <option value=v.to_string() selected=*v == selected>{format!("v{v}")}</option> })
            .collect_view()
    };
    view! {
        <form class="compare" method="get" action=format!("/ui/apps/{app}/compare")>
            <label for="compare-from">"From"</label>
            <select id="compare-from" name="from">{options(from)}</select>
            <label for="compare-to">"To"</label>
            <select id="compare-to" name="to">{options(to)}</select>
            <button type="submit">"Compare"</button>
        </form>
    }
    .into_any()
}

/// "Running v7, rolled back from v9", with "Resume auto-deploy" when the rollback paused it.
#[component]
fn RolledBackBanner(app: String, rb: RolledBackView, can_deploy: bool) -> impl IntoView {
    view! {
        <div class="banner" role="status">
            <p>
                <strong>{format!("Running v{}, rolled back from v{}.", rb.running, rb.from)}</strong>
                " Release "{format!("v{}", rb.release)}" is a rollback: fix the problem and deploy again."
            </p>
            {(rb.auto_release_paused).then(|| view! {
                <p>"Auto-deploy was paused by the rollback: new builds are not released until you resume it."</p>
                {can_deploy.then(|| view! {
                    <PostForm action=ResumeAutoDeploy::PATH>
                        <input type="hidden" name="app" value=app.clone()/>
                        <button type="submit" class="primary">"Resume auto-deploy"</button>
                    </PostForm>
                })}
            })}
        </div>
    }
}

/// While releases of the page are on their way, asks every second how they are; once one has
/// settled, the page is loaded again (unless a dialog is open or a field is being typed in,
/// which it waits for). Renders nothing.
#[island]
pub fn HistoryPoller(app: String, versions: Vec<i32>) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    {
        fn busy() -> bool {
            let doc = document();
            let dialog = doc.query_selector("dialog[open]").ok().flatten().is_some();
            let typing = doc
                .active_element()
                .is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
            dialog || typing
        }
        let settled = StoredValue::new(false);
        let tick = RwSignal::new(0u32);
        Effect::new(move |_| {
            tick.track();
            let (app, versions) = (app.clone(), versions.clone());
            leptos::task::spawn_local(async move {
                if !settled.get_value() {
                    if let Ok(now) = release_statuses(app, versions).await {
                        settled.set_value(now.iter().any(|s| s.is_settled()));
                    }
                }
                if settled.get_value() && !busy() {
                    let _ = window().location().reload();
                    return;
                }
                set_timeout(move || tick.update(|n| *n += 1), Duration::from_secs(1));
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (app, versions, release_statuses, Duration::ZERO);
}
