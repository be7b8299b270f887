//! The app's settings page: its GitHub repository and the danger zone.

mod attach;
mod repo;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::{AppNav, Header};
use crate::server::{load_repo_settings, AttachRepo, DeleteApp, DetachRepo};
use repo::RepoSection;

/// `/ui/apps/{app}/settings`: the GitHub repository (attach with token guidance, switches,
/// build now, detach), and the danger zone (delete, by typing the app's name; admins).
#[component]
pub fn SettingsPage() -> impl IntoView {
    let params = use_params_map();
    let app = move || params.with(|p| p.get("app").unwrap_or_default());
    let attach = ServerAction::<AttachRepo>::new();
    let detach = ServerAction::<DetachRepo>::new();
    let changed = RwSignal::new(0u32);
    let settings = Resource::new(
        move || {
            (
                app(),
                attach.version().get(),
                detach.version().get(),
                changed.get(),
            )
        },
        |(app, ..)| load_repo_settings(app),
    );
    view! {
        <Header/>
        <main class="page">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=move || format!("/ui/apps/{}", app())>{app}</a>" /"</p>
            <h1>{app}</h1>
            <AppNav app=app() here="settings"/>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || settings.get().map(|r| match r {
                    Ok(s) => view! {
                        <RepoSection settings=s.clone() attach detach changed/>
                        <DangerZone app=s.app.clone() allowed=s.can_delete_app/>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </main>
    }
}

/// Delete the app (admins).
#[component]
pub(super) fn DangerZone(app: String, allowed: bool) -> impl IntoView {
    let delete = ServerAction::<DeleteApp>::new();
    // Gone: back to the list.
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            let navigate = leptos_router::hooks::use_navigate();
            navigate("/ui/apps", Default::default());
        }
    });
    let body = if allowed {
        view! {
            <p>"Deleting the app removes its releases, builds and config vars. It cannot be undone."</p>
            <ActionForm action=delete attr:class="set-form">
                <input type="hidden" name="app" value=app.clone()/>
                <div class="field grow">
                    <label for="confirm-name">{format!("Type {app} to confirm")}</label>
                    <input id="confirm-name" name="confirm" required autocomplete="off" spellcheck="false"/>
                </div>
                <button type="submit" class="danger">"Delete app"</button>
            </ActionForm>
            <p role="alert" class="error">{move || delete.value().get().and_then(|r| r.err()).map(|e| e.to_string())}</p>
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
