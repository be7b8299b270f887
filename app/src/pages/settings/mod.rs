//! The app's settings page: its GitHub repository and the danger zone.

mod attach;
mod repo;

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::{AppNav, Header, PostForm};
use crate::server::{load_repo_settings, DeleteApp};
use crate::FormOutcome;
use attach::Prefill;
use repo::RepoSection;

/// `/ui/apps/{app}/settings`: the GitHub repository (attach with token guidance, switches,
/// build now, detach), and the danger zone (delete, by typing the app's name; admins).
#[component]
pub fn SettingsPage() -> impl IntoView {
    let app = crate::pages::param("app");
    let field = |k: &str| super::query(k).unwrap_or_default();
    let prefill = Prefill {
        repo: field("repo"),
        branch: field("branch"),
        credential: field("credential"),
        auto_deploy: field("auto_deploy"),
        status_check: field("status_check"),
    };
    view! {
        <Header/>
        <main class="page">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=format!("/ui/apps/{app}")>{app.clone()}</a>" /"</p>
            <h1>{app.clone()}</h1>
            <AppNav app=app.clone() here="settings"/>
            <FormOutcome/>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {Suspend::new(async move {
                    match load_repo_settings(app).await {
                        Ok(s) => view! {
                            <RepoSection settings=s.clone() prefill/>
                            <DangerZone app=s.app.clone() allowed=s.can_delete_app/>
                        }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

/// Delete the app (admins). A plain form: the server answers with the apps list, or this page
/// with the reason.
#[component]
fn DangerZone(app: String, allowed: bool) -> impl IntoView {
    let body = if allowed {
        view! {
            <p>"Deleting the app removes its releases, builds and config vars. It cannot be undone."</p>
            <PostForm action=DeleteApp::PATH class="set-form">
                <input type="hidden" name="app" value=app.clone()/>
                <div class="field grow">
                    <label for="confirm-name">{format!("Type {app} to confirm")}</label>
                    <input id="confirm-name" name="confirm" required autocomplete="off" spellcheck="false"/>
                </div>
                <button type="submit" class="danger">"Delete app"</button>
            </PostForm>
        }
        .into_any()
    } else {
        view! { <p class="muted">"Only admins can delete apps."</p> }.into_any()
    };
    view! {
        <section class="card danger-zone" aria-labelledby="danger-title">
            <h2 id="danger-title">"Danger zone"</h2>
            {body}
        </section>
    }
}
