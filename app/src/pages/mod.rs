//! One page per file. Pages render on the server only; what moves is an `#[island]`.

mod account;
mod addons;
mod app;
mod apps;
mod build_log;
mod chrome;
mod compare;
pub(crate) mod config;
mod diff;
#[cfg(feature = "hydrate")]
mod live_log;
mod not_found;
mod rollback;
mod settings;
mod signin;
mod users;

pub use account::AccountPage;
pub use addons::AddonsPage;
pub use app::AppPage;
pub use apps::AppsPage;
pub use build_log::BuildLogPage;
pub use chrome::{AppNav, Header};
pub use compare::ComparePage;
pub use config::ConfigPage;
pub use not_found::NotFound;
pub use rollback::RollbackPage;
pub use settings::SettingsPage;
pub use signin::SignInPage;
pub use users::UsersPage;

use leptos::prelude::*;
use leptos::server_fn::error::FromServerFnError;
use leptos::server_fn::ServerFn;

/// A form that posts to a server function (`action` is its path): without JavaScript, or with
/// it outside an island, the function answers with the page that shows what it did.
#[component]
pub fn PostForm(
    action: &'static str,
    #[prop(optional, into)] class: String,
    children: Children,
) -> impl IntoView {
    view! { <form method="post" action=action class=class>{children()}</form> }
}

/// The route's parameter `name` (empty when absent). Pages render once, on the server, so
/// they read it once.
pub fn param(name: &str) -> String {
    leptos_router::hooks::use_params_map()
        .get_untracked()
        .get(name)
        .unwrap_or_default()
}

/// The page address's query parameter `name`, read once (as [`param`]).
pub fn query(name: &str) -> Option<String> {
    leptos_router::hooks::use_query_map()
        .get_untracked()
        .get(name)
}

/// A server action for an island's form. An error that a plain post brought back is the page's
/// to show ([`FormOutcome`](crate::FormOutcome)), so the action starts empty on the server as in
/// the browser, and the island hydrates as it was rendered.
pub fn island_action<S>() -> ServerAction<S>
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: FromServerFnError + Send + Sync + 'static,
{
    let action = ServerAction::<S>::new();
    action.value().set(None);
    action
}
