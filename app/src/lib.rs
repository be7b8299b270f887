//! Slipway's web UI: Leptos components, pages and server functions, rendered on the server and
//! hydrated in the browser. No SQL here: server functions authorise, call `core`, map errors.
//!
//! Layout: `shell` (the HTML document), `App` (routes), `pages/` (a file per page; a folder
//! for a page of several parts, `app/` and `settings/`; and the shared pieces: `chrome` header
//! and tabs, `diff`, the `rollback` dialog), `server/` (server functions by page, and their
//! server-only helpers in `ssr` modules), `error` (the error server functions return).

mod error;
pub mod pages;
pub mod server;

pub use error::UiError;

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
                <HydrationScripts options/>
                <leptos_meta::MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
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
                <Route path=path!("/ui/apps/:app/builds/:build") view=pages::BuildLogPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/apps/:app/config") view=pages::ConfigPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/apps/:app/settings") view=pages::SettingsPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/account") view=pages::AccountPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/users") view=pages::UsersPage ssr=SsrMode::Async/>
                <Route path=path!("/ui/signin") view=pages::SignInPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
