//! The release history: a row per release, rollback and compare, and the banner of a
//! rolled-back app.

use domain::{relative_time, HistoryPage, ReleaseStatus, ReleaseView, RolledBackView};
use leptos::prelude::*;

use super::builds::{NewBuildForm, RuntimeLog, UnreleasedBuilds};
use super::heading::{AppHeading, DeployForm};
use crate::server::{resume_auto_deploy, set_pinned, DeployImage};

/// The history card: the app's heading, its builds, and its releases newest first.
#[component]
pub(super) fn History(
    page: HistoryPage,
    target: RwSignal<Option<i32>>,
    deploy: ServerAction<DeployImage>,
    on_change: Callback<()>,
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
    view! {
        <AppHeading app=app.clone() can_deploy on_change/>
        <crate::pages::AppNav app=name.clone() here="releases"/>
        {app.rolled_back.map(|rb| view! { <RolledBackBanner app=name.clone() rb can_deploy on_change/> })}
        {(!app.unreleased.is_empty()).then(|| view! { <UnreleasedBuilds app=name.clone() builds=app.unreleased.clone() now/> })}
        {can_deploy.then(|| view! {
            <div class="forms">
                <NewBuildForm app=name.clone()/>
                <DeployForm app=name.clone() deploy/>
            </div>
        })}
        {app.web_url.is_some().then(|| view! { <RuntimeLog app=name.clone()/> })}
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
                        {releases.into_iter().map(|r| view! { <ReleaseRow app=name.clone() release=r now target can_deploy on_change/> }).collect_view()}
                    </ol>
                }.into_any()
            }}
            <nav class="pager" aria-label="History pages">
                {paged.then(|| view! { <a href=format!("/ui/apps/{name}")>"Newest releases"</a> })}
                {older.map(|v| view! { <a href=format!("/ui/apps/{name}?before={v}")>"Older releases"</a> })}
            </nav>
        </section>
    }
}

#[component]
pub(super) fn ReleaseRow(
    app: String,
    release: ReleaseView,
    now: chrono::DateTime<chrono::Utc>,
    target: RwSignal<Option<i32>>,
    can_deploy: bool,
    on_change: Callback<()>,
) -> impl IntoView {
    let r = release;
    let v = r.version;
    let status = r.status.as_str();
    let when = relative_time(r.created_at, now);
    let absolute = r.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let line = r.line.clone();
    let log = r.build_id.clone().map(|b| {
        view! { " · "<a href=format!("/ui/apps/{app}/builds/{b}")>"Build log"</a> }
    });
    let pin = Action::new(move |(app, on): &(String, bool)| {
        let (app, on) = (app.clone(), *on);
        async move { set_pinned(app, v, on).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = pin.value().get() {
            on_change.run(());
        }
    });
    let pinned = r.pinned;
    let pin_button = (can_deploy
        && r.build_id.is_some()
        && !r.image_gone
        && r.status != ReleaseStatus::Skipped)
        .then(|| {
            let app = app.clone();
            view! {
                <button type="button" class="pin" aria-pressed=if pinned { "true" } else { "false" }
                    title="A pinned release keeps its image, so it can always be rolled back to"
                    on:click=move |_| { pin.dispatch((app.clone(), !pinned)); }>
                    {if pinned { "Pinned" } else { "Pin" }}
                </button>
            }
        });
    view! {
        <li class="release" class:current=r.current data-version=v id=format!("v{v}")>
            <span class="v">{format!("v{v}")}</span>
            <div class="what">
                <span class="desc" title=r.commit_sha.clone()>{line}</span>
                <span class="meta">
                    <time datetime=r.created_at.to_rfc3339() title=absolute>{when}</time>
                    {r.user.clone().map(|u| view! { " · "<span class="who">{u}</span> })}
                    {log}
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
                {r.can_rollback.then(|| view! {
                    <button type="button" aria-haspopup="dialog" on:click=move |_| target.set(Some(v))>"Rollback"</button>
                })}
            </span>
        </li>
    }
}

#[component]
pub(super) fn CompareForm(app: String, versions: Vec<i32>, current: Option<i32>) -> impl IntoView {
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
pub(super) fn RolledBackBanner(
    app: String,
    rb: RolledBackView,
    can_deploy: bool,
    on_change: Callback<()>,
) -> impl IntoView {
    let resume = Action::new(move |app: &String| {
        let app = app.clone();
        async move { resume_auto_deploy(app).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = resume.value().get() {
            on_change.run(());
        }
    });
    view! {
        <div class="banner" role="status">
            <p>
                <strong>{format!("Running v{}, rolled back from v{}.", rb.running, rb.from)}</strong>
                " Release "{format!("v{}", rb.release)}" is a rollback: fix the problem and deploy again."
            </p>
            {(rb.auto_release_paused).then(|| view! {
                <p>"Auto-deploy was paused by the rollback: new builds are not released until you resume it."</p>
                {can_deploy.then(|| view! {
                    <button class="primary" on:click=move |_| { resume.dispatch(app.clone()); }>"Resume auto-deploy"</button>
                })}
                {move || resume.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
            })}
        </div>
    }
}
