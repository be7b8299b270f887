use leptos::prelude::*;

use crate::server::whoami;

/// The bar at the top of every signed-in page.
#[component]
pub fn Header() -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    view! {
        <header class="topbar">
            <a class="brand" href="/ui/apps">"Slipway"</a>
            <nav aria-label="Main">
                <a href="/ui/apps">"Apps"</a>
            </nav>
            <div class="who">
                <Suspense fallback=|| ()>
                    {move || me.get().and_then(|r| r.ok()).map(|l| view! { <span class="login">{l}</span> })}
                </Suspense>
                <form method="post" action="/auth/logout">
                    <button type="submit" class="link">"Sign out"</button>
                </form>
            </div>
        </header>
    }
}
