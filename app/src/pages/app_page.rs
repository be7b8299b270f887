use std::time::Duration;

use domain::{relative_time, AppSummary, HistoryPage, ReleaseStatus, ReleaseView, RolledBackView};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::rollback::RollbackDialog;
use super::Header;
use crate::server::{
    app_history, resume_auto_deploy, runtime_log, set_auto_deploy, set_favorite, set_pinned,
    DeployImage,
};

/// `/ui/apps/{app}`: the app and its release history, newest first (`?before=N` pages back).
#[component]
pub fn AppPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let app = move || params.with(|p| p.get("app").unwrap_or_default());
    let before = move || query.with(|q| q.get("before").and_then(|b| b.parse::<i32>().ok()));
    let deploy = ServerAction::<DeployImage>::new();
    let history = Resource::new(
        move || (app(), before(), deploy.version().get()),
        |(app, before, _)| app_history(app, before),
    );
    // The release the rollback dialog is about, when it is open.
    let target = RwSignal::new(None::<i32>);

    // While a release is on its way, look again every second (in the browser only).
    Effect::new(move |_| {
        let busy = history.with(|h| {
            matches!(h, Some(Ok(p)) if p.releases.iter().any(|r| matches!(r.status, ReleaseStatus::Queued | ReleaseStatus::Pending)))
        });
        if busy {
            set_timeout(move || history.refetch(), Duration::from_secs(1));
        }
    });

    view! {
        <Header/>
        <main class="page">
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || history.get().map(|r| match r {
                    Ok(page) => view! { <History page target deploy on_change=Callback::new(move |_| history.refetch())/> }.into_any(),
                    Err(e) => view! { <h1>{app()}</h1><p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <RollbackDialog app=Signal::derive(app) target on_done=Callback::new(move |_| history.refetch())/>
        </main>
    }
}

#[component]
fn History(
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
        <super::AppNav app=name.clone() here="releases"/>
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
fn AppHeading(app: AppSummary, can_deploy: bool, on_change: Callback<()>) -> impl IntoView {
    let name = app.name.clone();
    let switch = Action::new(move |(app, on): &(String, bool)| {
        let (app, on) = (app.clone(), *on);
        async move { set_auto_deploy(app, on).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = switch.value().get() {
            on_change.run(());
        }
    });
    let auto = app.auto_release;
    view! {
        <div class="app-head">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "</p>
            <div class="title-row">
                <h1>{app.name.clone()}</h1>
                <FavoriteButton app=app.name.clone() initial=app.favorite/>
            </div>
            <dl class="facts">
                <div><dt>"Running"</dt><dd>{app.current_version.map(|v| format!("v{v}")).unwrap_or_else(|| "nothing yet".into())}</dd></div>
                <div><dt>"Address"</dt><dd>{match app.web_url.clone() {
                    Some(url) => { let text = url.clone(); view! { <a class="mono" href=url rel="noopener">{text}</a> }.into_any() }
                    None => view! { <span class="muted">"after the first deploy"</span> }.into_any(),
                }}</dd></div>
                <div><dt>"Image"</dt><dd class="mono">{app.image.clone().unwrap_or_else(|| "none".into())}</dd></div>
                <div><dt>"Org"</dt><dd>{app.org.clone()}</dd></div>
                <div><dt>"Auto-deploy"</dt><dd>
                    {if can_deploy {
                        view! {
                            <button type="button" class="switch" role="switch" aria-checked=if auto { "true" } else { "false" }
                                title="Release every build that succeeds"
                                on:click=move |_| { switch.dispatch((name.clone(), !auto)); }>
                                {if auto { "On" } else { "Off" }}
                            </button>
                        }.into_any()
                    } else {
                        view! { <span>{if auto { "on" } else { "off" }}</span> }.into_any()
                    }}
                    {move || switch.value().get().and_then(|r| r.err()).map(|e| view! { <span class="error" role="alert">{e.to_string()}</span> })}
                </dd></div>
            </dl>
            {app.description.map(|d| view! { <p class="muted">{d}</p> })}
        </div>
    }
}

/// Builds from a source archive: a URL, or a file uploaded from the browser. A plain form, so it
/// works without JavaScript; the server answers with the new build's log page.
#[component]
fn NewBuildForm(app: String) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="build-title">
            <h2 id="build-title">"New build"</h2>
            <form class="set-form" method="post" action=format!("/ui/apps/{app}/builds") enctype="multipart/form-data">
                <div class="field grow">
                    <label for="build-url">"Source URL (.tar.gz, .tgz or .zip)"</label>
                    <input id="build-url" name="url" type="url" autocomplete="off" spellcheck="false"
                        placeholder="https://example.com/app.tar.gz"/>
                </div>
                <div class="field grow">
                    <label for="build-archive">"or upload an archive"</label>
                    <input id="build-archive" name="archive" type="file" accept=".tar.gz,.tgz,.zip,application/gzip,application/zip"/>
                </div>
                <button type="submit" class="primary">"Build"</button>
            </form>
            <p class="muted small">"The archive needs a Dockerfile at its root. The app's config vars are passed as build args, which Docker keeps in the image's history."</p>
        </section>
    }
}

/// The running container's last lines, on request.
#[component]
fn RuntimeLog(app: String) -> impl IntoView {
    let load = Action::new(move |app: &String| {
        let app = app.clone();
        async move { runtime_log(app).await }
    });
    view! {
        <section class="card" aria-labelledby="runtime-title">
            <div class="section-head tight">
                <h2 id="runtime-title">"Runtime log"</h2>
                <button type="button" on:click=move |_| { load.dispatch(app.clone()); }>
                    {move || if load.value().with(Option::is_some) { "Refresh" } else { "Show the last 100 lines" }}
                </button>
            </div>
            {move || load.value().get().map(|r| match r {
                Ok(lines) if lines.is_empty() => view! { <p class="muted">"Nothing logged (or nothing running)."</p> }.into_any(),
                Ok(lines) => view! { <pre class="runtime-log">{lines.join("\n")}</pre> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}

/// Builds auto-deploy did not release: held back while paused after a rollback, waiting for
/// the commit's status checks, or refused by them.
#[component]
fn UnreleasedBuilds(
    app: String,
    builds: Vec<domain::UnreleasedBuildView>,
    now: chrono::DateTime<chrono::Utc>,
) -> impl IntoView {
    view! {
        <section class="card unreleased" aria-labelledby="unreleased-title">
            <h2 id="unreleased-title">"Builds not deployed automatically"</h2>
            <ul>
                {builds.into_iter().map(|b| {
                    let why = match b.state.as_str() {
                        "held" => "Held back: auto-deploy is paused after a rollback",
                        "waiting" => "Waiting for the commit's status checks",
                        _ => "Not deployed: a status check failed",
                    };
                    view! {
                        <li>
                            <a href=format!("/ui/apps/{app}/builds/{}", b.id)><code>{b.line.clone()}</code></a>
                            <span class=format!("status status-{}", if b.state == "waiting" { "pending" } else { "queued" })>{why}</span>
                            <span class="muted small">{relative_time(b.created_at, now)}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

/// "Running v7, rolled back from v9", with "Resume auto-deploy" when the rollback paused it.
#[component]
fn RolledBackBanner(
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

#[component]
fn ReleaseRow(
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
    // `Auto-Deploy 6d58b1ce - Jane Doe (jdoe) - Fix login - ef5c71a` (DESIGN §2).
    let line = format!(
        "{}{}",
        r.description,
        domain::source_suffix(
            r.commit_author.as_deref(),
            r.commit_message.as_deref(),
            r.commit_sha.as_deref()
        )
    );
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

/// Deploys an image the engine already has: records a `docker://` build and releases it.
#[component]
fn DeployForm(app: String, deploy: ServerAction<DeployImage>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="deploy-title">
            <h2 id="deploy-title">"Deploy an image"</h2>
            <ActionForm action=deploy attr:class="set-form">
                <input type="hidden" name="app" value=app/>
                <div class="field grow">
                    <label for="deploy-image">"Image"</label>
                    <input id="deploy-image" name="image" required autocomplete="off" spellcheck="false"
                        placeholder="registry.example.com/team/web:1.2.3"/>
                </div>
                <button type="submit" class="primary">"Deploy"</button>
            </ActionForm>
            <p role="status" class="outcome">
                {move || deploy.value().get().map(|r| match r {
                    Ok(v) => view! { <span class="ok">{format!("Deploying as release v{v}.")}</span> }.into_any(),
                    Err(e) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
                })}
            </p>
        </section>
    }
}

/// Stars the app for the signed-in user (starred in the apps list). The page's data says
/// whether it is starred, so the button costs no request of its own.
#[component]
fn FavoriteButton(app: String, initial: bool) -> impl IntoView {
    let on = RwSignal::new(initial);
    let toggle = Action::new(move |(app, want): &(String, bool)| {
        let (app, want) = (app.clone(), *want);
        async move {
            if set_favorite(app, want).await.is_ok() {
                on.set(want);
            }
        }
    });
    view! {
        <button type="button" class="favorite" aria-pressed=move || if on.get() { "true" } else { "false" }
            on:click=move |_| { toggle.dispatch((app.clone(), !on.get_untracked())); }>
            {move || if on.get() { "★ Favourite" } else { "☆ Favourite" }}
        </button>
    }
}
