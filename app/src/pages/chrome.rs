use leptos::prelude::*;

use crate::server::whoami;

/// The bar at the top of every signed-in page.
#[component]
pub fn Header() -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/ui/apps">"Slipway"</a>
            <nav aria-label="Main">
                <a href="/ui/apps">"Apps"</a>
                <a href="/ui/account">"Account"</a>
                <Suspense fallback=|| ()>
                    {Suspend::new(async move {
                        whoami().await.ok().filter(|(_, r)| r.includes(domain::Role::Admin)).map(|_| view! { <a href="/ui/users">"Users"</a> })
                    })}
                </Suspense>
            </nav>
            <div class="who">
                <Suspense fallback=|| ()>
                    {Suspend::new(async move { whoami().await.ok().map(|(l, _)| view! { <span class="login">{l}</span> }) })}
                </Suspense>
                <form method="post" action="/auth/logout">
                    <button type="submit" class="link">"Sign out"</button>
                </form>
            </div>
        </header>
    }
}

/// The tabs of an app's pages.
#[component]
pub fn AppNav(app: String, here: &'static str) -> impl IntoView {
    let tab = |key: &'static str, href: String, label: &'static str| {
        let current = (key == here).then_some("page");
        view! { <a href=href aria-current=current>{label}</a> }
    };
    view! {
        <nav class="tabs" aria-label="App">
            {tab("releases", format!("/ui/apps/{app}"), "Releases")}
            {tab("config", format!("/ui/apps/{app}/config"), "Config vars")}
            {tab("addons", format!("/ui/apps/{app}/addons"), "Add-ons")}
            {tab("settings", format!("/ui/apps/{app}/settings"), "Settings")}
        </nav>
    }
}
