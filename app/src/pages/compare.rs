use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::diff::DiffDetails;
use super::Header;
use crate::server::compare_releases;

/// `/ui/apps/{app}/compare?from=A&to=B`: what differs between any two releases.
#[component]
pub fn ComparePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let app = move || params.with(|p| p.get("app").unwrap_or_default());
    let from = move || query.with(|q| q.get("from").unwrap_or_default());
    let to = move || query.with(|q| q.get("to").unwrap_or_default());
    let diff = Resource::new(
        move || (app(), from(), to()),
        |(a, f, t)| compare_releases(a, f, t),
    );
    view! {
        <Header/>
        <main class="page">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=move || format!("/ui/apps/{}", app())>{app}</a>" /"</p>
            <h1>{move || format!("Compare {} with {}", from(), to())}</h1>
            <form class="compare" method="get">
                <label for="compare-from">"From"</label>
                <input id="compare-from" name="from" value=from size="6"/>
                <label for="compare-to">"To"</label>
                <input id="compare-to" name="to" value=to size="6"/>
                <button type="submit">"Compare"</button>
            </form>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || diff.get().map(|r| match r {
                    Ok(d) => view! {
                        <h2 class="diff-title">{format!("From v{} to v{}", d.from.version, d.to.version)}</h2>
                        <DiffDetails diff=d app=Signal::derive(app)/>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </main>
    }
}
