//! `/ui/apps/{app}/builds/{id}`: a build and its log. The server renders the log so far (so it
//! reads without JavaScript); after hydration the page follows the live log over the
//! websocket of DESIGN §5, resuming from the last line it has after any drop.

use std::sync::Arc;

use domain::{ansi, relative_time, BuildPage, BuildStatus, LogLine};
use leptos::prelude::*;

use super::Header;
use crate::server::{load_build_page, DeployBuild, LOG_PAGE_LINES};

/// The connection to the live log, as the page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) enum Link {
    /// Not connected yet (or no JavaScript).
    Idle,
    Live,
    /// Dropped; trying again.
    Retrying,
    /// The build ended; everything is here.
    Ended,
}

#[component]
pub fn BuildLogPage() -> impl IntoView {
    let app = super::param("app");
    let build = super::param("build");
    view! {
        <Header/>
        <main class="page">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {Suspend::new(async move {
                    match load_build_page(app.clone(), build).await {
                        Ok(p) => view! { <BuildLog page=p/> }.into_any(),
                        Err(e) => view! {
                            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=format!("/ui/apps/{app}")>{app.clone()}</a>" /"</p>
                            <h1>"Build"</h1>
                            <p class="error" role="alert">{e.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

/// The build and its log: an island, since it follows the live log, searches it and follows
/// its end. Without JavaScript it is the log so far, with a link that loads it again.
#[island(lazy)]
pub fn BuildLog(page: BuildPage) -> impl IntoView {
    let BuildPage {
        app,
        id,
        status,
        source,
        created_at,
        user,
        commit_sha,
        commit_message,
        release_version,
        lines,
        total_lines,
        can_deploy,
        now,
    } = page;
    let short: String = id.chars().take(8).collect();
    let finished = matches!(status, BuildStatus::Succeeded | BuildStatus::Failed);
    let status = RwSignal::new(status);
    let link = RwSignal::new(if finished { Link::Ended } else { Link::Idle });
    let next = lines.last().map_or(total_lines + 1, |l| l.seq + 1);
    let skipped = lines.first().map_or(0, |l| l.seq - 1);
    // The log in chunks as they came: appending renders only the new chunk.
    let chunks: RwSignal<Vec<Arc<Vec<LogLine>>>> = RwSignal::new(if lines.is_empty() {
        Vec::new()
    } else {
        vec![Arc::new(lines)]
    });
    let following = RwSignal::new(true);
    let query = RwSignal::new(String::new());
    let log_box = NodeRef::<leptos::html::Div>::new();

    #[cfg(feature = "hydrate")]
    {
        let (app, id) = (app.clone(), id.clone());
        Effect::new(move |started: Option<()>| {
            if started.is_none() && !finished {
                super::live_log::follow(app.clone(), id.clone(), next, chunks, status, link);
            }
        });
        // Keep the tail in view while following.
        Effect::new(move |_| {
            chunks.track();
            if following.get_untracked() {
                if let Some(el) = log_box.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = next;

    let on_scroll = move |_| {
        if let Some(el) = log_box.get_untracked() {
            let at_end = el.scroll_top() + el.client_height() >= el.scroll_height() - 8;
            following.set(at_end);
        }
    };
    let follow_again = move |_| {
        following.set(true);
        if let Some(el) = log_box.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    let matches = move || {
        let q = query.get().to_lowercase();
        if q.trim().is_empty() {
            return None;
        }
        let mut hits = Vec::new();
        let mut count = 0;
        chunks.with(|cs| {
            for l in cs.iter().flat_map(|c| c.iter()) {
                let text = ansi::plain(&l.text);
                if text.to_lowercase().contains(&q) {
                    count += 1;
                    if hits.len() < 200 {
                        hits.push((l.seq, text));
                    }
                }
            }
        });
        Some((count, hits))
    };
    let when = relative_time(created_at, now);
    let absolute = created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let raw = format!("/ui/apps/{app}/builds/{id}/log.txt");

    view! {
        <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=format!("/ui/apps/{app}")>{app.clone()}</a>" /"</p>
        <div class="title-row">
            <h1>"Build "<span class="mono">{short}</span></h1>
            <span class=move || format!("status status-{}", status.get().as_str()) role="status" aria-live="polite">
                {move || status.get().as_str()}
            </span>
        </div>
        <dl class="facts">
            <div><dt>"Source"</dt><dd class="mono">{source}</dd></div>
            <div><dt>"Started"</dt><dd><time datetime=created_at.to_rfc3339() title=absolute>{when}</time></dd></div>
            {user.map(|u| view! { <div><dt>"Author"</dt><dd>{u}</dd></div> })}
            {commit_sha.map(|sha| view! {
                <div><dt>"Commit"</dt><dd><code>{sha.chars().take(7).collect::<String>()}</code>" "{commit_message.unwrap_or_default()}</dd></div>
            })}
            <div><dt>"Release"</dt><dd>{match release_version {
                Some(v) => view! { <a href=format!("/ui/apps/{app}#v{v}")>{format!("v{v}")}</a> }.into_any(),
                None => view! { <span>"not released"</span> }.into_any(),
            }}</dd></div>
        </dl>
        // Present (disabled) while the build runs, so nothing moves when it succeeds.
        {(can_deploy && release_version.is_none() && status.get_untracked() != BuildStatus::Failed).then(|| {
            view! { <DeployBuildForm app=app.clone() id=id.clone() status/> }
        })}
        <div class="log-tools">
            <label class="sr-only" for="log-search">"Search the log"</label>
            <input id="log-search" type="search" placeholder="Search the log" autocomplete="off"
                prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev))/>
            <a class="button" href=raw download>"Download raw log"</a>
            {(!finished).then(|| view! {
                <a class="button refresh" href=format!("/ui/apps/{app}/builds/{id}") style:visibility=move || if link.get() == Link::Idle { "visible" } else { "hidden" }>"Refresh"</a>
            })}
            <span class="link-state" role="status">{move || match link.get() {
                Link::Idle => "",
                Link::Live => "Live",
                Link::Retrying => "Connection lost; reconnecting…",
                Link::Ended => "",
            }}</span>
        </div>
        {move || matches().map(|(count, hits)| view! {
            <div class="search-hits" role="region" aria-label="Search results">
                <p class="muted">{match count { 1 => "1 matching line".to_owned(), n => format!("{n} matching lines") }}{(count > hits.len()).then(|| format!(" (first {})", hits.len()))}</p>
                <ul>
                    {hits.into_iter().map(|(seq, text)| view! {
                        <li><a href=format!("#L{seq}")><span class="ln">{seq}</span>" "{text}</a></li>
                    }).collect_view()}
                </ul>
            </div>
        })}
        {(skipped > 0).then(|| view! {
            <p class="muted small">{format!("The first {skipped} lines are not shown here (the page shows the last {LOG_PAGE_LINES} at most, and 2 MB); the raw log has them all.")}</p>
        })}
        <div class="log-box" node_ref=log_box on:scroll=on_scroll tabindex="0" aria-label="Build log">
            <For each=move || chunks.get() key=|c| c.first().map_or(0, |l| l.seq) let:chunk>
                <ol class="log" start=chunk.first().map_or(1, |l| l.seq)>
                    {chunk.iter().map(|l| view! { <LogRow line=l.clone()/> }).collect_view()}
                </ol>
            </For>
            {move || chunks.with(|c| c.is_empty()).then(|| view! { <p class="muted log-empty">"No output yet."</p> })}
        </div>
        <Show when=move || !following.get()>
            <p class="follow-note" role="status">
                "Not following the log: you scrolled up. "
                <button type="button" on:click=follow_again>"Follow the end"</button>
            </p>
        </Show>
    }
}

/// "Deploy this build", for a build not released yet; enabled once it succeeds.
#[component]
fn DeployBuildForm(app: String, id: String, status: RwSignal<BuildStatus>) -> impl IntoView {
    let deploy = super::island_action::<DeployBuild>();
    let releases = format!("/ui/apps/{app}");
    {
        let releases = releases.clone();
        Effect::new(move |_| {
            if let Some(Ok(v)) = deploy.value().get() {
                crate::outcome::go(&crate::Done::Deploying(v).url(&releases));
            }
        });
    }
    view! {
        <ActionForm action=deploy attr:class="deploy-build">
            <input type="hidden" name="app" value=app/>
            <input type="hidden" name="build" value=id/>
            <button type="submit" class="primary" disabled=move || status.get() != BuildStatus::Succeeded
                title=move || (status.get() != BuildStatus::Succeeded).then_some("Once the build succeeds")>
                "Deploy this build"
            </button>
            <span role="status" class="outcome">
                {move || deploy.value().get().map(|r| match r {
                    Ok(v) => view! { <span class="ok">{format!("Deploying as release v{v}. ")}<a href=releases.clone()>"See the releases"</a></span> }.into_any(),
                    Err(e) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
                })}
            </span>
        </ActionForm>
    }
}

#[component]
fn LogRow(line: LogLine) -> impl IntoView {
    let seq = line.seq;
    let runs = ansi::runs(&line.text);
    view! {
        <li id=format!("L{seq}")>
            <a class="ln" href=format!("#L{seq}") aria-label=format!("Line {seq}")>{seq}</a>
            <span class="text">
                {runs.into_iter().map(|r| if r.class.is_empty() {
                    view! { <span>{r.text}</span> }.into_any()
                } else {
                    view! { <span class=r.class>{r.text}</span> }.into_any()
                }).collect_view()}
            </span>
        </li>
    }
}
