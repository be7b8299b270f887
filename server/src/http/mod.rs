//! The router: the Platform API at the root, sign-in under `/auth`, the UI under `/ui`, all
//! behind the Host check, the Origin check for cookie-authenticated writes, and compression.

pub mod api;
pub mod auth;
pub mod guard;
pub mod oauth;
pub mod osb;
mod ui_builds;

use std::sync::Arc;

use app::server::ssr::UiContext;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use slipway_core::Core;
use tower_http::{compression::CompressionLayer, CompressionLevel};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    /// Live build logs: this process's one listener and its feeds.
    pub logs: slipway_core::builds::log_feed::LogHub,
    pub leptos: LeptosOptions,
    pub public: Arc<guard::PublicUrl>,
    /// Local admin sign-in is offered (loopback, no OAuth).
    pub local_sign_in: bool,
    pub oauth: bool,
    /// The GitHub OAuth app and who may sign in, when OAuth is configured.
    pub github_sign_in: Option<Arc<oauth::GitHubSignInPolicy>>,
    /// The HTTP client of the OAuth code exchange (redirects not followed).
    pub oauth_http: reqwest::Client,
    /// The container engine, for apps' runtime logs (deploys run in the worker).
    pub runtime: Arc<dyn slipway_core::runtime::Runtime>,
    /// The largest archive the build form takes (`SLIPWAY_MAX_SOURCE_BYTES`).
    pub max_upload: usize,
    /// Serving as an Open Service Broker (`/osb/v2`), with this credential.
    pub broker: Option<Arc<osb::BrokerCredential>>,
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}

impl AppState {
    /// Local users may act only while GitHub sign-in is not configured.
    pub fn local_users(&self) -> slipway_core::access::users::LocalUsers {
        slipway_core::access::users::LocalUsers::with_github_sign_in(self.oauth)
    }

    fn ui_context(&self) -> UiContext {
        UiContext {
            core: self.core.clone(),
            local_sign_in: self.local_sign_in,
            github_sign_in: self.oauth,
            local_users: self.local_users(),
            public_url: self.public.base.clone(),
            runtime: self.runtime.clone(),
        }
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let ctx = state.ui_context();
    let ui = Router::<AppState>::new()
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let ctx = ctx.clone();
                move || provide_context(ctx.clone())
            },
            {
                let leptos = state.leptos.clone();
                move || app::shell(leptos.clone())
            },
        )
        .route("/api/{*fn_name}", post(server_fn).get(server_fn))
        .merge(ui_builds::routes(state.max_upload))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_ui_session,
        ));

    let sessions = SessionManagerLayer::new(PostgresStore::new(state.core.pool().clone()))
        .with_name("slipway_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.public.is_https())
        .with_expiry(Expiry::OnInactivity(time::Duration::days(7)));

    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/apps") }))
        .route("/healthz", get(healthz))
        .route("/auth/local", post(auth::local_sign_in))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/github/login", get(oauth::login))
        .route("/auth/github/callback", get(oauth::callback))
        .merge(api::routes())
        .merge(osb::routes(&state))
        .merge(ui)
        .fallback({
            let files = leptos_axum::file_and_error_handler_with_context::<AppState, _>(
                move || provide_context(ctx.clone()),
                app::shell,
            );
            move |uri: axum::http::Uri, state: State<AppState>, req: axum::extract::Request| async move {
                if api::is_api_path(uri.path()) {
                    api::unknown_route()
                } else {
                    files(uri, state, req).await
                }
            }
        })
        // The Origin check runs before the session layer: it drops the cookies of requests
        // that a bearer token authenticates.
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::check_origin))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::check_host))
        // Pages and API answers are compressed as they go out, at a level that costs well under
        // a millisecond a page: brotli's default (11) spent more on a history page than rendering
        // it. Release builds ship the wasm, JS and CSS precompressed at the best level
        // (`cargo leptos build --precompress`), which the file handler serves as they are.
        .layer(CompressionLayer::new().quality(CompressionLevel::Precise(4)))
        .with_state(state)
}

async fn server_fn(
    State(state): State<AppState>,
    req: axum::extract::Request,
) -> impl IntoResponse {
    let ctx = state.ui_context();
    leptos_axum::handle_server_fns_with_context(move || provide_context(ctx.clone()), req).await
}

/// 200 when the server and the database answer.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.core.ping().await {
        Ok(_) => (
            axum::http::StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database does not answer");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "database unavailable"})),
            )
        }
    }
}
