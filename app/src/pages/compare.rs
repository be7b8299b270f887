use leptos::prelude::*;

use super::diff::{revealed, DiffDetails};
use super::Header;
use crate::server::compare_releases;

/// `/ui/apps/{app}/compare?from=A&to=B`: what differs between any two releases.
#[component]
pub fn ComparePage() -> impl IntoView {
    let app = crate::pages::param("app");
    let from = super::query("from").unwrap_or_default();
    let to = super::query("to").unwrap_or_default();
    let reveal = super::query("reveal");
    let keep = vec![
        ("from".to_owned(), from.clone()),
        ("to".to_owned(), to.clone()),
    ];
    view! {
        <Header/>
        <main class="page">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=format!("/ui/apps/{app}")>{app.clone()}</a>" /"</p>
            <h1>{format!("Compare {from} with {to}")}</h1>
            <form class="compare" method="get">
                <label for="compare-from">"From"</label>
                <input id="compare-from" name="from" value=from.clone() size="6"/>
                <label for="compare-to">"To"</label>
                <input id="compare-to" name="to" value=to.clone() size="6"/>
                <button type="submit">"Compare"</button>
            </form>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {Suspend::new(async move {
                    match compare_releases(app.clone(), from, to).await {
                        Ok(d) => {
                            let revealed = revealed(&app, &d, reveal).await;
                            view! {
                                <h2 class="diff-title">{format!("From v{} to v{}", d.from.version, d.to.version)}</h2>
                                <DiffDetails diff=d app keep revealed=revealed/>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}
