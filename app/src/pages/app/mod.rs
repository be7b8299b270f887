//! The app page: its heading, its builds and its release history.

mod builds;
mod heading;
mod history;

use std::time::Duration;

use domain::ReleaseStatus;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::rollback::RollbackDialog;
use super::Header;
use crate::server::{app_history, DeployImage};
use history::History;

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
