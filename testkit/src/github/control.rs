//! `/_stand-in/` on the main origin: the same configuration and inspection as [`StandIn`]'s
//! methods, as JSON over HTTP, for tests that run the stand-in as a separate process.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{api, StandIn, TokenKind, User};

/// Everything a stand-in can be set up with, at once (`--config` of the binary,
/// `POST /_stand-in/setup`).
#[derive(Debug, Default, Deserialize)]
pub struct Setup {
    #[serde(default)]
    pub oauth_apps: Vec<OAuthAppSpec>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
    #[serde(default)]
    pub repos: Vec<RepoSpec>,
}

#[derive(Debug, Deserialize)]
pub struct OAuthAppSpec {
    pub client_id: String,
    pub client_secret: String,
    /// Shown on the authorization page; "Slipway" when absent.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TokenSpec {
    pub token: String,
    pub login: String,
    pub kind: TokenKind,
}

#[derive(Debug, Deserialize)]
pub struct RepoSpec {
    pub full_name: String,
    pub git_dir: PathBuf,
    pub default_branch: String,
    #[serde(default)]
    pub collaborators: Vec<Collaborator>,
    #[serde(default = "private_by_default")]
    pub private: bool,
}

#[derive(Debug, Deserialize)]
pub struct Collaborator {
    pub login: String,
    #[serde(default)]
    pub admin: bool,
}

fn private_by_default() -> bool {
    true
}

impl StandIn {
    pub fn apply(&self, setup: Setup) {
        for app in setup.oauth_apps {
            let name = app.name.as_deref().unwrap_or("Slipway");
            self.oauth_app_named(name, &app.client_id, &app.client_secret);
        }
        for user in setup.users {
            self.add_user(user);
        }
        for t in setup.tokens {
            self.add_token(&t.token, &t.login, t.kind);
        }
        for repo in setup.repos {
            let collaborators: Vec<(&str, bool)> = repo
                .collaborators
                .iter()
                .map(|c| (c.login.as_str(), c.admin))
                .collect();
            self.add_repo(
                &repo.full_name,
                repo.git_dir,
                &repo.default_branch,
                &collaborators,
            );
            self.set_repo_private(&repo.full_name, repo.private);
        }
    }
}

#[derive(Deserialize)]
struct PushRequest {
    repo: String,
    branch: String,
}

#[derive(Deserialize)]
struct RevokeRequest {
    token: String,
}

#[derive(Deserialize)]
struct StatusRequest {
    repo: String,
    sha: String,
    state: String,
    context: String,
}

pub(super) fn router() -> Router<StandIn> {
    Router::new()
        .route("/setup", post(setup))
        .route("/oauth-app", post(oauth_app))
        .route("/users", post(users))
        .route("/tokens", post(tokens))
        .route("/tokens/revoke", post(revoke))
        .route("/repos", post(repos))
        .route("/push", post(push))
        .route("/statuses", post(set_status))
        .route(
            "/requests",
            get(|State(gh): State<StandIn>| async move { Json(gh.requests()) }),
        )
        .route(
            "/authorize-requests",
            get(|State(gh): State<StandIn>| async move { Json(gh.authorize_requests()) }),
        )
        .route(
            "/deliveries",
            get(|State(gh): State<StandIn>| async move { Json(gh.deliveries()) }),
        )
        .route("/hooks/{owner}/{repo}", get(hooks))
        .route("/statuses/{owner}/{repo}/{sha}", get(statuses))
}

async fn setup(State(gh): State<StandIn>, Json(setup): Json<Setup>) -> StatusCode {
    gh.apply(setup);
    StatusCode::NO_CONTENT
}

async fn oauth_app(State(gh): State<StandIn>, Json(app): Json<OAuthAppSpec>) -> StatusCode {
    setup(
        State(gh),
        Json(Setup {
            oauth_apps: vec![app],
            ..Setup::default()
        }),
    )
    .await
}

async fn users(State(gh): State<StandIn>, Json(user): Json<User>) -> StatusCode {
    gh.add_user(user);
    StatusCode::NO_CONTENT
}

async fn tokens(State(gh): State<StandIn>, Json(t): Json<TokenSpec>) -> StatusCode {
    gh.add_token(&t.token, &t.login, t.kind);
    StatusCode::NO_CONTENT
}

async fn revoke(State(gh): State<StandIn>, Json(r): Json<RevokeRequest>) -> StatusCode {
    gh.revoke_token(&r.token);
    StatusCode::NO_CONTENT
}

async fn repos(State(gh): State<StandIn>, Json(repo): Json<RepoSpec>) -> StatusCode {
    setup(
        State(gh),
        Json(Setup {
            repos: vec![repo],
            ..Setup::default()
        }),
    )
    .await
}

async fn push(State(gh): State<StandIn>, Json(p): Json<PushRequest>) -> Response {
    if super::hooks::push_payload(&gh, &p.repo, &p.branch).is_none() {
        return api::unknown_route().await;
    }
    Json(gh.push(&p.repo, &p.branch).await).into_response()
}

async fn set_status(State(gh): State<StandIn>, Json(s): Json<StatusRequest>) -> Response {
    if gh.lock().repo(&s.repo).is_none() {
        return api::unknown_route().await;
    }
    gh.set_status(&s.repo, &s.sha, &s.state, &s.context);
    StatusCode::NO_CONTENT.into_response()
}

async fn hooks(State(gh): State<StandIn>, Path((owner, repo)): Path<(String, String)>) -> Response {
    Json(gh.hooks(&format!("{owner}/{repo}"))).into_response()
}

async fn statuses(
    State(gh): State<StandIn>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Response {
    Json(gh.statuses(&format!("{owner}/{repo}"), &sha)).into_response()
}
