//! What a finished form did, carried in the address of the page it comes back to
//! (`?did=saved&v=3`): the one way an action's outcome reaches the page, with or without
//! JavaScript. Without it, the server function answers the form's post with a redirect to that
//! address; with it, the island that sent the form goes there itself. An error comes back the
//! way Leptos brings it (`?__err=…`, to the page that posted), or in the island that sent it.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::UiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Done {
    /// A config var set; the release it made, if anything changed.
    Saved(Option<i32>),
    Removed(Option<i32>),
    Deploying(i32),
    RollingBack(i32),
    Pinned(i32, bool),
    AutoDeploy(bool),
    StatusChecks(bool),
    Resumed,
    Attached,
    /// `true` when the webhook could not be deleted and must be removed by hand.
    Detached(bool),
    TokenMade,
    TokenRevoked,
    RoleSet,
    AppCreated,
    /// `true` when its webhook could not be deleted and must be removed by hand.
    AppDeleted(bool),
    Favourite(bool),
    /// An add-on made or attached; its `Attach` release.
    AddonAttached(Option<i32>),
    /// An attachment detached; its `Detach` release.
    AddonDetached(Option<i32>),
    /// An add-on destroyed; its `Detach` release (none if it was never attached).
    AddonDestroyed(Option<i32>),
    /// An add-on a broker provisions in the background: its `Attach` release comes later.
    AddonProvisioning,
}

impl Done {
    fn code(&self) -> (&'static str, Option<i32>) {
        match *self {
            Done::Saved(v) => ("saved", v),
            Done::Removed(v) => ("removed", v),
            Done::Deploying(v) => ("deploying", Some(v)),
            Done::RollingBack(v) => ("rolling-back", Some(v)),
            Done::Pinned(v, true) => ("pinned", Some(v)),
            Done::Pinned(v, false) => ("unpinned", Some(v)),
            Done::AutoDeploy(on) => (if on { "auto-on" } else { "auto-off" }, None),
            Done::StatusChecks(on) => (if on { "checks-on" } else { "checks-off" }, None),
            Done::Resumed => ("resumed", None),
            Done::Attached => ("attached", None),
            Done::Detached(false) => ("detached", None),
            Done::Detached(true) => ("detached-hook-left", None),
            Done::TokenMade => ("token", None),
            Done::TokenRevoked => ("revoked", None),
            Done::RoleSet => ("role", None),
            Done::AppCreated => ("created", None),
            Done::AppDeleted(false) => ("deleted", None),
            Done::AppDeleted(true) => ("deleted-hook-left", None),
            Done::Favourite(on) => (if on { "starred" } else { "unstarred" }, None),
            Done::AddonAttached(v) => ("addon-attached", v),
            Done::AddonDetached(v) => ("addon-detached", v),
            Done::AddonDestroyed(v) => ("addon-destroyed", v),
            Done::AddonProvisioning => ("addon-provisioning", None),
        }
    }

    /// `page` with this outcome in its query.
    pub fn url(&self, page: &str) -> String {
        let (code, v) = self.code();
        let join = if page.contains('?') { '&' } else { '?' };
        match v {
            Some(v) => format!("{page}{join}did={code}&v={v}"),
            None => format!("{page}{join}did={code}"),
        }
    }

    /// The outcome a page's query names, if any.
    pub fn parse(did: &str, v: Option<i32>) -> Option<Done> {
        Some(match (did, v) {
            ("saved", v) => Done::Saved(v),
            ("removed", v) => Done::Removed(v),
            ("deploying", Some(v)) => Done::Deploying(v),
            ("rolling-back", Some(v)) => Done::RollingBack(v),
            ("pinned", Some(v)) => Done::Pinned(v, true),
            ("unpinned", Some(v)) => Done::Pinned(v, false),
            ("auto-on", _) => Done::AutoDeploy(true),
            ("auto-off", _) => Done::AutoDeploy(false),
            ("checks-on", _) => Done::StatusChecks(true),
            ("checks-off", _) => Done::StatusChecks(false),
            ("resumed", _) => Done::Resumed,
            ("attached", _) => Done::Attached,
            ("detached", _) => Done::Detached(false),
            ("detached-hook-left", _) => Done::Detached(true),
            ("token", _) => Done::TokenMade,
            ("revoked", _) => Done::TokenRevoked,
            ("role", _) => Done::RoleSet,
            ("created", _) => Done::AppCreated,
            ("deleted", _) => Done::AppDeleted(false),
            ("deleted-hook-left", _) => Done::AppDeleted(true),
            ("starred", _) => Done::Favourite(true),
            ("unstarred", _) => Done::Favourite(false),
            ("addon-attached", v) => Done::AddonAttached(v),
            ("addon-detached", v) => Done::AddonDetached(v),
            ("addon-destroyed", v) => Done::AddonDestroyed(v),
            ("addon-provisioning", _) => Done::AddonProvisioning,
            _ => return None,
        })
    }

    /// The sentence the page shows; `None` for outcomes the page shows otherwise.
    pub fn message(&self) -> Option<String> {
        let nothing = "Nothing changed, so no release was made.".to_owned();
        Some(match *self {
            Done::Saved(Some(v)) => format!("Saved: created release v{v}."),
            Done::Removed(Some(v)) => format!("Removed: created release v{v}."),
            Done::Saved(None) | Done::Removed(None) => nothing,
            Done::Deploying(v) => format!("Deploying as release v{v}."),
            Done::RollingBack(v) => format!("Rolling back: release v{v} is on its way."),
            Done::Pinned(v, true) => format!("v{v} is pinned: its image is kept."),
            Done::Pinned(v, false) => format!("v{v} is no longer pinned."),
            Done::AutoDeploy(on) => format!("Auto-deploy is {}.", if on { "on" } else { "off" }),
            Done::StatusChecks(true) => "Deploys now wait for the commit's status checks.".into(),
            Done::StatusChecks(false) => "Deploys no longer wait for status checks.".into(),
            Done::Resumed => "Auto-deploy resumed.".into(),
            Done::Attached => "Attached: pushes to the branch now build.".into(),
            Done::Detached(false) => "Detached; its webhook was deleted.".into(),
            Done::Detached(true) => {
                "Detached, but its webhook could not be deleted on GitHub: delete it there by hand."
                    .into()
            }
            Done::TokenMade => return None,
            Done::TokenRevoked => "Token revoked.".into(),
            Done::RoleSet => "Role changed.".into(),
            Done::AppCreated => "App created.".into(),
            Done::AppDeleted(false) => "App deleted.".into(),
            Done::AppDeleted(true) => {
                "App deleted, but its repository's webhook could not be deleted on GitHub: delete it there by hand."
                    .into()
            }
            Done::Favourite(true) => "Starred.".into(),
            Done::Favourite(false) => "Unstarred.".into(),
            Done::AddonAttached(Some(v)) => {
                format!("Add-on attached: created release v{v}; the app restarts with its vars.")
            }
            Done::AddonDetached(Some(v)) => {
                format!("Add-on detached: created release v{v}; the app restarts without its vars.")
            }
            Done::AddonDestroyed(Some(v)) => {
                format!("Add-on destroyed: created release v{v}; the app restarts without its vars.")
            }
            Done::AddonAttached(None) => "Add-on attached.".into(),
            Done::AddonDetached(None) => "Add-on detached.".into(),
            Done::AddonDestroyed(None) => "Add-on removed; it was never attached, so no release was made.".into(),
            Done::AddonProvisioning => "The broker is provisioning the add-on; its Attach release is made when it is ready.".into(),
        })
    }
}

/// The outcome of the last form, as the page's address tells it: what it did, or why it did
/// not. Rendered on the server, in the same place on every page.
#[component]
pub fn FormOutcome() -> impl IntoView {
    use crate::pages::query;
    let done = query("did").and_then(|d| {
        let v = query("v").and_then(|v| v.parse().ok());
        Done::parse(&d, v)
    });
    let error = query("__err").map(|e| {
        use leptos::server_fn::error::ServerFnUrlError;
        ServerFnUrlError::<UiError>::decode_err(&e).message
    });
    match (error, done.and_then(|d| d.message())) {
        (Some(e), _) => view! { <p class="outcome error" role="alert">{e}</p> }.into_any(),
        (None, Some(m)) => view! { <p class="outcome ok" role="status">{m}</p> }.into_any(),
        (None, None) => ().into_any(),
    }
}

/// Goes to `url` (a full page load: the server renders what changed).
pub fn go(url: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().assign(url);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}
