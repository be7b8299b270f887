//! The repository section: the attached repository (switches, build now, detach) or the
//! form to attach one. Plain forms, but for the attach form's live checklist (an island).

use domain::github::{RepoSettings, RepoView};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::attach::{AttachRepoForm, Prefill};
use crate::pages::PostForm;
use crate::server::{BuildRepoNow, DetachRepo, SetAutoDeploy, SetStatusCheck};

/// The GitHub repository the app deploys from: attached, or the form to attach one.
#[component]
pub(super) fn RepoSection(settings: RepoSettings, prefill: Prefill) -> impl IntoView {
    let body = match (settings.attached.clone(), settings.can_attach) {
        (Some(repo), can) => view! {
            <AttachedRepo app=settings.app.clone() repo can_change=can paused=settings.auto_release_paused/>
        }
        .into_any(),
        (None, true) => view! { <AttachRepoForm settings=settings.clone() prefill/> }.into_any(),
        (None, false) => view! {
            <p class="muted">"No repository is attached. Deployers can attach one to build and deploy every push."</p>
        }
        .into_any(),
    };
    view! {
        <section class="card" aria-labelledby="repo-title">
            <h2 id="repo-title">"GitHub repository"</h2>
            {body}
        </section>
    }
}

/// What is attached, the switches, "Build now" and "Detach".
#[component]
fn AttachedRepo(app: String, repo: RepoView, can_change: bool, paused: bool) -> impl IntoView {
    let switch = |action: &'static str, field: &'static str, on: bool, what: AnyView| {
        let app = app.clone();
        view! {
            <PostForm action class="switch-form">
                <input type="hidden" name="app" value=app/>
                <input type="hidden" name=field value=(!on).to_string()/>
                <span class="switch-label">{what}</span>
                <button type="submit" class="switch" role="switch" aria-checked=on.to_string() disabled=!can_change>
                    {if on { "On" } else { "Off" }}
                </button>
            </PostForm>
        }
    };
    let branch = repo.branch.clone();
    view! {
        <dl class="facts">
            <div><dt>"Repository"</dt><dd><a href=repo.repo.clone() rel="noreferrer">{repo.repo.clone()}</a></dd></div>
            <div><dt>"Branch"</dt><dd><code>{repo.branch.clone()}</code></dd></div>
            <div><dt>"Reached with"</dt><dd>{repo.credential.clone()}</dd></div>
        </dl>
        {paused.then(|| view! {
            <p class="warning">"Auto-deploy is paused because the app was rolled back: pushes build but are not released until someone presses “Resume auto-deploy” on the Releases page."</p>
        })}
        <div class="switches">
            {switch(SetAutoDeploy::PATH, "enabled", repo.auto_deploy,
                view! { "Deploy every push to "<code>{branch}</code>" that builds (auto-deploy)" }.into_any())}
            {switch(SetStatusCheck::PATH, "on", repo.status_check,
                view! { "Wait for the commit's other status checks to pass before deploying" }.into_any())}
        </div>
        {can_change.then(|| { let (a1, a2) = (app.clone(), app.clone()); view! {
            <div class="row-buttons">
                <PostForm action=BuildRepoNow::PATH class="inline">
                    <input type="hidden" name="app" value=a1/>
                    <button type="submit" class="primary">"Build now"</button>
                </PostForm>
                <details class="detach">
                    <summary class="button">"Detach"</summary>
                    <div class="warning" role="group" aria-label="Detach the repository">
                        <p>{format!("Slipway stops building pushes to {} and deletes its webhook on GitHub. Builds and releases stay.", repo.repo)}</p>
                        <PostForm action=DetachRepo::PATH class="row-buttons">
                            <input type="hidden" name="app" value=a2/>
                            <button type="submit" class="danger">"Confirm detach"</button>
                        </PostForm>
                    </div>
                </details>
            </div>
        }})}
    }
}
