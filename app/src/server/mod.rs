//! Server functions. Each is a public endpoint: it authenticates, authorises (through `core`),
//! calls `core`, and maps errors without letting internal text reach the browser.

mod addons;
mod builds;
mod config;
mod history;
mod manage;
mod repo;

pub use addons::*;
pub use builds::*;
pub use config::*;
pub use history::*;
pub use manage::*;
pub use repo::*;

use crate::UiError;
use domain::AppListItem;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the sign-in page offers.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SignInChoices {
    pub github: bool,
    pub local: bool,
}

#[server(endpoint = "sign_in_options")]
pub async fn sign_in_options() -> Result<SignInChoices, UiError> {
    let ctx = ssr::context()?;
    Ok(SignInChoices {
        github: ctx.github_sign_in,
        local: ctx.local_sign_in,
    })
}

/// The signed-in user's login and role.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<(String, domain::Role), UiError> {
    let actor = ssr::actor().await?;
    Ok((actor.login, actor.role))
}

#[server(endpoint = "list_apps")]
pub async fn list_apps() -> Result<Vec<AppListItem>, UiError> {
    let actor = ssr::actor().await?;
    let core = ssr::context()?.core;
    let favorites = core.favorite_ids(&actor).await.map_err(ssr::user_error)?;
    let apps = core.apps(&actor).await.map_err(ssr::user_error)?;
    Ok(apps
        .into_iter()
        .map(|a| AppListItem {
            favorite: favorites.contains(&a.id),
            name: a.name,
            space: a.space_name,
            org: a.org_name,
            description: a.description,
            current_version: a.current_version,
            current_description: a.current_description,
            released_at: a.released_at,
        })
        .collect())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! What server functions need from the server: the core, the session's actor.

    use crate::UiError;
    use leptos::prelude::*;
    use slipway_core::access::authz::Actor;
    use slipway_core::Core;

    /// Provided by the server to every render and server function.
    #[derive(Clone)]
    pub struct UiContext {
        pub core: Core,
        pub local_sign_in: bool,
        pub github_sign_in: bool,
        /// Whether users of the `local` provider may act (not once OAuth is configured).
        pub local_users: slipway_core::access::users::LocalUsers,
        /// `SLIPWAY_PUBLIC_URL`, without a trailing slash.
        pub public_url: String,
        /// The container engine, for apps' runtime logs.
        pub runtime: std::sync::Arc<dyn slipway_core::runtime::Runtime>,
    }

    pub fn context() -> Result<UiContext, UiError> {
        use_context::<UiContext>().ok_or_else(|| UiError::new("The server is not set up."))
    }

    /// What most server functions start with: the core, and who is asking.
    pub async fn core_and_actor() -> Result<(Core, Actor), UiError> {
        Ok((context()?.core, actor().await?))
    }

    /// The core, who is asking, and the app named `name` as they may see it: what server
    /// functions about one app start with.
    pub async fn app_for(
        name: &str,
    ) -> Result<(Core, Actor, slipway_core::ledger::apps::App), UiError> {
        let (core, actor) = core_and_actor().await?;
        let app = core.app(&actor, name).await.map_err(user_error)?;
        Ok((core, actor, app))
    }

    /// The signed-in user, or an error that tells the browser to sign in. The server's
    /// session middleware has usually found it already (a request extension).
    pub async fn actor() -> Result<Actor, UiError> {
        if let Some(actor) =
            use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<Actor>().cloned())
        {
            return Ok(actor);
        }
        let ctx = context()?;
        let session: tower_sessions::Session =
            leptos_axum::extract().await.map_err(|_| signed_out())?;
        let id: Option<uuid::Uuid> = session
            .get(slipway_core::access::users::SESSION_USER_ID)
            .await
            .map_err(|_| signed_out())?;
        let user = match id {
            Some(id) => ctx.core.user(id).await.map_err(user_error)?,
            None => None,
        };
        match user {
            Some(u) => u
                .actor_if(ctx.local_users)
                .map_err(user_error)?
                .ok_or_else(signed_out),
            None => Err(signed_out()),
        }
    }

    fn signed_out() -> UiError {
        set_status(http::StatusCode::UNAUTHORIZED);
        UiError::new("You are signed out. Sign in again.")
    }

    /// Input that does not make sense: 422 with the reason.
    pub fn invalid(message: impl Into<String>) -> UiError {
        set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
        UiError::new(message.into())
    }

    /// Sets the HTTP status of the server function's answer (or of the page being rendered).
    /// Not for a plain form's post: that is answered with a redirect back, the error in its
    /// address (Leptos' own), which a status would replace.
    fn set_status(status: http::StatusCode) {
        if plain_form() {
            return;
        }
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(status);
        }
    }

    /// Whether this request is a form posted by the browser itself (no JavaScript): it accepts
    /// HTML, where the islands' calls ask for JSON.
    pub fn plain_form() -> bool {
        use_context::<http::request::Parts>().is_some_and(|p| {
            p.method == http::Method::POST
                && p.headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("text/html"))
        })
    }

    /// Answers a plain form's post with "see `url`" (303), the page that shows what it did;
    /// an island's call gets its value instead and goes there itself.
    pub fn redirect_form(url: &str) {
        if !plain_form() {
            return;
        }
        if let (Some(resp), Ok(location)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            http::HeaderValue::from_str(url),
        ) {
            resp.insert_header(http::header::LOCATION, location);
            resp.set_status(http::StatusCode::SEE_OTHER);
        }
    }

    /// The page the form was posted from (its path and query, without a previous outcome), if
    /// the browser said and it is one of ours; otherwise `default`.
    pub fn back(default: &str) -> String {
        // Only the path and query: the Origin guard checked this post's origin, and anything
        // not under /ui/ goes to `default`.
        let referer = use_context::<http::request::Parts>().and_then(|p| {
            p.headers
                .get(http::header::REFERER)?
                .to_str()
                .ok()?
                .parse::<http::Uri>()
                .ok()
        });
        let Some(referer) = referer.filter(|u| u.path().starts_with("/ui/")) else {
            return default.to_owned();
        };
        let path = referer.path();
        let kept: Vec<&str> = referer
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| {
                let key = p.split('=').next().unwrap_or("");
                !p.is_empty() && !matches!(key, "did" | "v" | "__err" | "__path")
            })
            .collect();
        if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        }
    }

    const NEW_TOKEN: &str = "slipway.new_token";

    /// Keeps a token just made, sealed, in the session until the page shows it.
    pub async fn stash_new_token(core: &Core, token: &str) -> Result<(), UiError> {
        let session: tower_sessions::Session =
            leptos_axum::extract().await.map_err(|_| signed_out())?;
        let sealed = core.seal_value(NEW_TOKEN, token.as_bytes());
        session.insert(NEW_TOKEN, sealed).await.map_err(|_| {
            UiError::new("The token was made but cannot be shown. Revoke it and make another.")
        })
    }

    /// The token [`stash_new_token`] kept, once.
    pub async fn take_new_token(core: &Core) -> Result<Option<String>, UiError> {
        let session: tower_sessions::Session =
            leptos_axum::extract().await.map_err(|_| signed_out())?;
        let sealed: Option<Vec<u8>> = session.remove(NEW_TOKEN).await.unwrap_or(None);
        Ok(sealed
            .and_then(|s| core.open_value(NEW_TOKEN, &s))
            .and_then(|t| String::from_utf8(t).ok()))
    }

    /// The UI page of `app` (`rest` is "" for its history, "/config", "/settings", …).
    pub fn page(app: &slipway_core::ledger::apps::App, rest: &str) -> String {
        format!("/ui/apps/{}{rest}", app.full_name())
    }

    /// [`redirect_form`] to `page` with what the form did.
    pub fn finish(page: &str, done: crate::Done) {
        redirect_form(&done.url(page));
    }

    /// Maps a core error to what the browser may see: the message for user errors (with their
    /// 4xx status), a generic sentence (and a log line) for internal ones.
    pub fn user_error(e: slipway_core::Error) -> UiError {
        let (status, message) = e.public("server function");
        set_status(
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        );
        UiError::new(message)
    }
}
