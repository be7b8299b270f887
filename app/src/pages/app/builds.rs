//! Builds on the app page: a new build, held-back builds and the running release's log.

use domain::relative_time;
use leptos::prelude::*;

use crate::server::runtime_log;

/// Builds from a source archive: a URL, or a file uploaded from the browser. A plain form, so it
/// works without JavaScript; the server answers with the new build's log page.
#[component]
pub(super) fn NewBuildForm(app: String) -> impl IntoView {
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

/// The running container's last lines, on request. Without JavaScript the button asks for the
/// page again with `?log`, and the server puts the lines in it (`lines`).
#[island(lazy)]
pub fn RuntimeLog(app: String, lines: Option<Result<Vec<String>, String>>) -> impl IntoView {
    let shown = RwSignal::new(lines);
    let load = Action::new(move |app: &String| {
        let app = app.clone();
        async move {
            let r = runtime_log(app).await.map_err(|e| e.to_string());
            shown.set(Some(r));
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        load.dispatch(app.clone());
    };
    view! {
        <section class="card" aria-labelledby="runtime-title">
            <form class="section-head tight" method="get" on:submit=submit>
                <h2 id="runtime-title">"Runtime log"</h2>
                <input type="hidden" name="log" value="1"/>
                <button type="submit">
                    {move || if shown.with(Option::is_some) { "Refresh" } else { "Show the last 100 lines" }}
                </button>
            </form>
            {move || shown.get().map(|r| match r {
                Ok(lines) if lines.is_empty() => view! { <p class="muted">"Nothing logged (or nothing running)."</p> }.into_any(),
                Ok(lines) => view! { <pre class="runtime-log">{lines.join("\n")}</pre> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
            })}
        </section>
    }
}

/// Builds auto-deploy did not release: held back while paused after a rollback, waiting for
/// the commit's status checks, or refused by them.
#[component]
pub(super) fn UnreleasedBuilds(
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
