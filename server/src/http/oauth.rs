//! Sign-in with GitHub (DESIGN §7): the authorization-code flow with `state` kept in the
//! session and checked, who may sign in (orgs, users, admins), the session id renewed.
//! `?scope=repo` on the login asks again for the repository scopes, for attaching a
//! repository with one's own GitHub account.

use app::server::ssr::USER_ID;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::Role;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use serde::Deserialize;
use slipway_core::users::GitHubSignIn;
use tower_sessions::Session;

use super::AppState;

const STATE_KEY: &str = "oauth_state";
const NEXT_KEY: &str = "oauth_next";
/// The scopes of a plain sign-in.
const SIGN_IN_SCOPES: &str = "read:user read:org";

/// The OAuth app and who may sign in, from the options.
#[derive(Clone)]
pub struct GitHubSignInPolicy {
    pub client_id: String,
    pub client_secret: String,
    /// Lowercase logins and org names.
    pub orgs: Vec<String>,
    pub users: Vec<String>,
    pub admins: Vec<String>,
    pub default_role: Role,
    /// `SLIPWAY_GITHUB_URL`, without a trailing slash.
    pub web_url: String,
}

impl std::fmt::Debug for GitHubSignInPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubSignInPolicy")
            .field("client_id", &self.client_id)
            .field("orgs", &self.orgs)
            .field("users", &self.users)
            .field("admins", &self.admins)
            .finish()
    }
}

impl GitHubSignInPolicy {
    /// Whether `login`, a member of `orgs`, may sign in: listed in `SLIPWAY_GITHUB_USERS`,
    /// a member of one of `SLIPWAY_GITHUB_ORGS`, or an admin.
    pub fn allows(&self, login: &str, orgs: &[String]) -> bool {
        let login = login.to_ascii_lowercase();
        self.admins.contains(&login)
            || self.users.contains(&login)
            || orgs
                .iter()
                .any(|o| self.orgs.contains(&o.to_ascii_lowercase()))
    }

    pub fn is_admin(&self, login: &str) -> bool {
        self.admins.contains(&login.to_ascii_lowercase())
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
    /// `repo`: ask for the repository scopes too.
    #[serde(default)]
    scope: String,
}

fn sign_in_failed() -> Response {
    Redirect::to("/ui/signin?error=failed").into_response()
}

/// `GET /auth/github/login`: off to GitHub, with a fresh `state` kept in the session.
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<LoginQuery>,
) -> Response {
    let Some(policy) = state.github_sign_in.as_deref() else {
        return super::api::unknown_route();
    };
    let scopes = if q.scope == "repo" {
        domain::github::USER_REPO_SCOPES
    } else {
        SIGN_IN_SCOPES
    };
    let Ok(auth) = AuthUrl::new(format!("{}/login/oauth/authorize", policy.web_url)) else {
        return sign_in_failed();
    };
    let Ok(redirect) = RedirectUrl::new(state.public.url("/auth/github/callback")) else {
        return sign_in_failed();
    };
    let client = BasicClient::new(ClientId::new(policy.client_id.clone()))
        .set_auth_uri(auth)
        .set_redirect_uri(redirect);
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes.split(' ').map(|s| Scope::new(s.to_owned())))
        .url();
    let next = super::auth::safe_next(&q.next).to_owned();
    if session.insert(STATE_KEY, csrf.secret()).await.is_err()
        || session.insert(NEXT_KEY, next).await.is_err()
    {
        return sign_in_failed();
    }
    Redirect::to(url.as_str()).into_response()
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/github/callback`: checks `state`, trades the code for a token, asks GitHub who
/// it is and which orgs they belong to, and signs them in when allowed.
pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(policy) = state.github_sign_in.as_deref() else {
        return super::api::unknown_route();
    };
    let expected: Option<String> = session.remove(STATE_KEY).await.ok().flatten();
    let next: String = session
        .remove(NEXT_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| "/ui/apps".into());
    if let Some(e) = &q.error {
        tracing::info!(error = %e, "GitHub sign-in was not granted");
        return sign_in_failed();
    }
    let (Some(code), Some(given), Some(expected)) = (q.code, q.state, expected) else {
        tracing::warn!(
            "GitHub sign-in refused: no code, or no state in the request or the session"
        );
        return sign_in_failed();
    };
    // Both are random strings Slipway made; comparing them leaks nothing worth timing.
    if given != expected {
        tracing::warn!("GitHub sign-in refused: the state does not match the session's");
        return sign_in_failed();
    }
    let token = match exchange(policy, &state, code).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "GitHub sign-in failed: the code was not exchanged");
            return sign_in_failed();
        }
    };
    let Some(gh) = state.core.github_client() else {
        return sign_in_failed();
    };
    let (user, header_scopes) = match gh.user(&token.0).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "GitHub sign-in failed: /user");
            return sign_in_failed();
        }
    };
    let orgs = if policy.orgs.is_empty() {
        vec![]
    } else {
        match gh.orgs(&token.0).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(login = %user.login, error = %e, "GitHub sign-in failed: /user/orgs");
                return sign_in_failed();
            }
        }
    };
    if !policy.allows(&user.login, &orgs) {
        tracing::info!(login = %user.login, "GitHub sign-in refused: not in the allowed orgs or users");
        return Redirect::to("/ui/signin?error=not-allowed").into_response();
    }
    let who = GitHubSignIn {
        id: user.id,
        login: user.login.clone(),
        name: user.name,
        email: user.email,
        token: token.0,
        scopes: header_scopes.unwrap_or(token.1),
    };
    let signed_in = match state
        .core
        .github_sign_in(&who, policy.default_role, policy.is_admin(&who.login))
        .await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "GitHub sign-in failed: storing the user");
            return sign_in_failed();
        }
    };
    // A new session id at sign-in, so a planted id is worthless.
    if session.cycle_id().await.is_err() || session.insert(USER_ID, signed_in.id).await.is_err() {
        return sign_in_failed();
    }
    tracing::info!(actor = %signed_in.login, role = %signed_in.role, "signed in with GitHub");
    Redirect::to(super::auth::safe_next(&next)).into_response()
}

/// Trades the code for a token (the client credentials in the body, as GitHub documents);
/// answers the token and the scopes GitHub said it carries.
async fn exchange(
    policy: &GitHubSignInPolicy,
    state: &AppState,
    code: String,
) -> anyhow::Result<(String, Vec<String>)> {
    let client = BasicClient::new(ClientId::new(policy.client_id.clone()))
        .set_client_secret(ClientSecret::new(policy.client_secret.clone()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(format!(
            "{}/login/oauth/access_token",
            policy.web_url
        ))?)
        .set_redirect_uri(RedirectUrl::new(state.public.url("/auth/github/callback"))?);
    // GitHub answers an error with 200 and an `error` field: the token type then fails to
    // parse, which is reported as a failed exchange (never with the body, which is GitHub's).
    let answer = client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&state.oauth_http)
        .await
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    // GitHub separates the granted scopes with commas, not spaces.
    let scopes = answer
        .scopes()
        .map(|s| {
            s.iter()
                .flat_map(|x| domain::github::split_scopes(x))
                .collect()
        })
        .unwrap_or_default();
    Ok((answer.access_token().secret().clone(), scopes))
}

fn describe<RE: std::error::Error + 'static, T: oauth2::ErrorResponse>(
    e: &oauth2::RequestTokenError<RE, T>,
) -> String {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => format!("GitHub refused: {r}"),
        oauth2::RequestTokenError::Request(_) => "GitHub could not be reached".into(),
        oauth2::RequestTokenError::Parse(_, _) => {
            "GitHub's answer was not a token (an error answered with 200?)".into()
        }
        oauth2::RequestTokenError::Other(m) => m.clone(),
    }
}
