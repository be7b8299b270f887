use leptos::prelude::*;

/// The bar at the top of every signed-in page.
#[component]
pub fn Header(#[prop(into)] login: Signal<Option<String>>) -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/ui/apps">"Slipway"</a>
            <nav aria-label="Main">
                <a href="/ui/apps">"Apps"</a>
            </nav>
            <div class="who">
                {move || login.get().map(|l| view! { <span class="login">{l}</span> })}
                <form method="post" action="/auth/logout">
                    <button type="submit" class="link">"Sign out"</button>
                </form>
            </div>
        </header>
    }
}
