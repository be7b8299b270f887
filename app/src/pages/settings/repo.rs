//! The repository section: the attached repository (switches, build now, detach) or the
//! form to attach one.

use domain::github::{RepoSettings, RepoView};
use leptos::prelude::*;

use super::attach::AttachRepoForm;
use crate::server::{build_repo_now, set_auto_deploy, set_status_check, AttachRepo, DetachRepo};

/// The GitHub repository the app deploys from: attached, or the form to attach one.
#[component]
pub(super) fn RepoSection(
    settings: RepoSettings,
    attach: ServerAction<AttachRepo>,
    detach: ServerAction<DetachRepo>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let body = match (settings.attached.clone(), settings.can_attach) {
        (Some(repo), can) => view! {
            <AttachedRepo app=settings.app.clone() repo can_change=can paused=settings.auto_release_paused detach changed/>
        }
        .into_any(),
        (None, true) => view! { <AttachRepoForm settings=settings.clone() attach/> }.into_any(),
        (None, false) => view! {
            <p class="muted">"No repository is attached. Deployers can attach one to build and deploy every push."</p>
        }
        .into_any(),
    };
    view! {
        <section class="card" aria-labelledby="repo-title">
            <h2 id="repo-title">"GitHub repository"</h2>
            {body}
            {move || detach.value().get().map(|r| match r {
                Ok(Some(m)) => view! { <p class="warning" role="alert">{m}</p> }.into_any(),
                Ok(None) => view! { <p role="status" class="ok">"Detached; its webhook was deleted."</p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}

/// What is attached, the switches, "Build now" and "Detach".
#[component]
pub(super) fn AttachedRepo(
    app: String,
    repo: RepoView,
    can_change: bool,
    paused: bool,
    detach: ServerAction<DetachRepo>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let switch = Action::new(move |(app, which, on): &(String, &'static str, bool)| {
        let (app, which, on) = (app.clone(), *which, *on);
        async move {
            let r = if which == "auto" {
                set_auto_deploy(app, on).await.map(|_| ())
            } else {
                set_status_check(app, on).await
            };
            if r.is_ok() {
                changed.update(|n| *n += 1);
            }
            r
        }
    });
    let build = Action::new(move |app: &String| {
        let app = app.clone();
        async move { build_repo_now(app.clone()).await.map(|id| (app, id)) }
    });
    Effect::new(move |_| {
        if let Some(Ok((app, id))) = build.value().get() {
            let navigate = leptos_router::hooks::use_navigate();
            navigate(&format!("/ui/apps/{app}/builds/{id}"), Default::default());
        }
    });
    let (a1, a2, a3) = (app.clone(), app.clone(), app.clone());
    let confirming = RwSignal::new(false);
    let (app_sv, repo_sv) = (
        StoredValue::new(app.clone()),
        StoredValue::new(repo.repo.clone()),
    );
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
            <label class="switch">
                <input type="checkbox" checked=repo.auto_deploy disabled=!can_change
                    on:change=move |ev| { switch.dispatch((a1.clone(), "auto", event_target_checked(&ev))); }/>
                <span>"Deploy every push to "<code>{repo.branch.clone()}</code>" that builds (auto-deploy)"</span>
            </label>
            <label class="switch">
                <input type="checkbox" checked=repo.status_check disabled=!can_change
                    on:change=move |ev| { switch.dispatch((a2.clone(), "checks", event_target_checked(&ev))); }/>
                " Wait for the commit's other status checks to pass before deploying"
            </label>
        </div>
        {move || switch.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        {can_change.then(|| view! {
            <div class="row-buttons">
                <button type="button" class="primary" on:click=move |_| { build.dispatch(a3.clone()); }>"Build now"</button>
                <button type="button" aria-expanded=move || confirming.get().to_string()
                    on:click=move |_| confirming.update(|c| *c = !*c)>"Detach"</button>
            </div>
            <Show when=move || confirming.get()>
                <div class="warning" role="group" aria-label="Detach the repository">
                    <p>{format!("Slipway stops building pushes to {} and deletes its webhook on GitHub. Builds and releases stay.", repo_sv.get_value())}</p>
                    <ActionForm action=detach attr:class="row-buttons">
                        <input type="hidden" name="app" value=app_sv.get_value()/>
                        <button type="submit" class="danger">"Confirm detach"</button>
                        <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </ActionForm>
                </div>
            </Show>
        })}
        {move || build.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}
