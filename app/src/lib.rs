//! Slipway's web UI: Leptos pages rendered on the server only, with `#[island]`s for the parts
//! that move (they alone ship code and hydrate), and server functions. No SQL here: server
//! functions authorise, call `core`, map errors. Every action is a form that works without
//! JavaScript: its server function answers a plain post with a redirect to the page that shows
//! the outcome ([`Done`]); an island sends the same form and goes to the same page itself.
//!
//! Layout: `shell` (the HTML document), `App` (routes), `pages/` (a file per page; a folder
//! for a page of several parts, `app/` and `settings/`; and the shared pieces: `chrome` header
//! and tabs, `diff`, the `rollback` dialog), `server/` (server functions by page, and their
//! server-only helpers in `ssr` modules), `error` (the error server functions return).

#![recursion_limit = "256"]

mod error;
mod outcome;
pub mod pages;
pub mod server;

pub use error::UiError;
pub use outcome::{Done, FormOutcome};

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The whole HTML document, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <IslandScripts options/>
                <leptos_meta::MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// What makes the page's islands live: the wasm module and its JS, preloaded, and the loader
/// that hydrates each island (waiting for lazy ones' code) and then marks `<body
/// data-hydrated="true">`. Leptos' `HydrationScripts islands=true`, but for that mark.
#[component]
fn IslandScripts(options: LeptosOptions) -> impl IntoView {
    // What the page renders outside islands is not sent to the browser again as data.
    if let Some(sc) = Owner::current_shared_context() {
        sc.set_is_hydrating(false);
    }
    let pkg = options.site_pkg_dir.to_string();
    let js = options.output_name.to_string();
    // cargo-leptos names the wasm after the package; without it, wasm-bindgen's `_bg`.
    let wasm = if option_env!("LEPTOS_OUTPUT_NAME").is_some() {
        js.clone()
    } else {
        format!("{js}_bg")
    };
    let script = format!(
        "{}({:?}, {pkg:?}, {js:?}, {wasm:?});",
        include_str!("islands.js"),
        ""
    );
    view! {
        <link rel="modulepreload" href=format!("/{pkg}/{js}.js")/>
        <link rel="preload" href=format!("/{pkg}/{wasm}.wasm") r#as="fetch" r#type="application/wasm" crossorigin=""/>
        <script type="module">{script}</script>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="slipway" href="/pkg/slipway.css"/>
        <Title text="Slipway"/>
        <Router>
            <Routes fallback=|| view! { <pages::NotFound/> }>
                <Route path=path!("/ui/apps") view=pages::AppsPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/apps/:app") view=pages::AppPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/apps/:app/compare") view=pages::ComparePage ssr=SsrMode::Async/>
                <Route path=path!("/ui/apps/:app/releases/:release/rollback") view=pages::RollbackPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/apps/:app/builds/:build") view=pages::BuildLogPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/apps/:app/config") view=pages::ConfigPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/apps/:app/addons") view=pages::AddonsPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/apps/:app/settings") view=pages::SettingsPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/account") view=pages::AccountPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/users") view=pages::UsersPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/signin") view=pages::SignInPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
