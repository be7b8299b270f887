//! Sign-in with GitHub (DESIGN §7): the authorization-code flow with `state` checked, who may
//! sign in (orgs, users, admins), the session id renewed. The `state` and where to go after
//! travel in a short-lived cookie sealed with the secret key, so an anonymous request to the
//! login writes nothing to the database. `?scope=repo` on the login asks again for the
//! repository scopes, for attaching a repository with one's own GitHub account. Who may sign
//! in is checked again every few minutes ([`recheck_members`]): access ends when it should.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use domain::Role;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use serde::Deserialize;
use slipway_core::access::users::GitHubSignIn;
use slipway_core::access::users::SESSION_USER_ID as USER_ID;
use tower_sessions::Session;

use super::AppState;

/// The cookie that carries the sign-in's state through GitHub, and how long it lives.
const STATE_COOKIE: &str = "slipway_oauth";
const STATE_TTL_SECS: i64 = 600;
/// What the cookie is sealed for.
const STATE_PURPOSE: &str = "oauth-state";
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

/// What the state cookie holds.
#[derive(serde::Serialize, Deserialize)]
struct SignInState {
    state: String,
    next: String,
    /// Unix seconds after which it is void.
    expires: i64,
}

/// The `Set-Cookie` value of the state cookie: `value`, or removing it when `None`.
fn state_cookie(state: &AppState, value: Option<&str>) -> String {
    let secure = if state.public.is_https() {
        "; Secure"
    } else {
        ""
    };
    match value {
        Some(v) => format!(
            "{STATE_COOKIE}={v}; Path=/auth/github; Max-Age={STATE_TTL_SECS}; HttpOnly; SameSite=Lax{secure}"
        ),
        None => format!("{STATE_COOKIE}=; Path=/auth/github; Max-Age=0; HttpOnly; SameSite=Lax{secure}"),
    }
}

/// The sign-in state of the request's cookie, when it is ours, intact and not expired.
fn read_state_cookie(state: &AppState, headers: &HeaderMap) -> Option<SignInState> {
    use base64::Engine as _;
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .find_map(|c| c.trim().strip_prefix(STATE_COOKIE)?.strip_prefix('='))?;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .ok()?;
    let plain = state.core.open_value(STATE_PURPOSE, &sealed)?;
    let st: SignInState = serde_json::from_slice(&plain).ok()?;
    (st.expires > chrono::Utc::now().timestamp()).then_some(st)
}

/// `GET /auth/github/login`: off to GitHub, with a fresh `state` in a sealed cookie.
pub async fn login(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    use base64::Engine as _;
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
    let carried = SignInState {
        state: csrf.secret().clone(),
        next: super::auth::safe_next(&q.next).to_owned(),
        expires: chrono::Utc::now().timestamp() + STATE_TTL_SECS,
    };
    let Ok(plain) = serde_json::to_vec(&carried) else {
        return sign_in_failed();
    };
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(state.core.seal_value(STATE_PURPOSE, &plain));
    (
        [(header::SET_COOKIE, state_cookie(&state, Some(&sealed)))],
        Redirect::to(url.as_str()),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/github/callback`: checks `state`, trades the code for a token, asks GitHub who
/// it is and which orgs they belong to, and signs them in when allowed. The state cookie is
/// removed whatever happens.
pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let clear = [(header::SET_COOKIE, state_cookie(&state, None))];
    (
        clear,
        sign_in_from_github(&state, &session, &headers, q).await,
    )
        .into_response()
}

async fn sign_in_from_github(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    q: CallbackQuery,
) -> Response {
    let Some(policy) = state.github_sign_in.as_deref() else {
        return super::api::unknown_route();
    };
    let carried = read_state_cookie(state, headers);
    if let Some(e) = &q.error {
        tracing::info!(error = %e, "GitHub sign-in was not granted");
        return sign_in_failed();
    }
    let (Some(code), Some(given), Some(carried)) = (q.code, q.state, carried) else {
        tracing::warn!("GitHub sign-in refused: no code, or no state in the request or the cookie");
        return sign_in_failed();
    };
    // Both are random strings Slipway made; comparing them leaks nothing worth timing.
    if given != carried.state {
        tracing::warn!("GitHub sign-in refused: the state does not match the cookie's");
        return sign_in_failed();
    }
    let next = carried.next;
    let token = match exchange(policy, state, code).await {
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

/// Checks, every `every`, whether the GitHub users checked longest ago are still among who may
/// sign in (with their own token, as at sign-in): one who is not, or whose token GitHub no
/// longer accepts, is disabled, so their sessions and API tokens stop working. A GitHub that
/// does not answer changes nothing. Runs until the process ends.
pub async fn recheck_members(state: AppState, every: std::time::Duration) {
    let Some(policy) = state.github_sign_in.clone() else {
        return;
    };
    let Some(gh) = state.core.github_client() else {
        return;
    };
    let tick = (every / 4).clamp(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(60),
    );
    // Each round checks everyone due, fifty at a time (a claim moves a user's `checked_at`
    // on, so the round ends), so access ends within about `every` however many users there are.
    const BATCH: i64 = 50;
    loop {
        tokio::time::sleep(tick).await;
        loop {
            let due = match state.core.users_to_recheck(every, BATCH).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot look up users to check again");
                    break;
                }
            };
            let last = (due.len() as i64) < BATCH;
            for (user, token) in due {
                recheck_one(&state, &policy, &gh, user, token).await;
            }
            if last {
                break;
            }
        }
    }
}

/// One user's membership check (see [`recheck_members`]).
async fn recheck_one(
    state: &AppState,
    policy: &GitHubSignInPolicy,
    gh: &std::sync::Arc<dyn slipway_core::github::GitHubApi>,
    user: slipway_core::access::users::User,
    token: Option<String>,
) {
    let allowed = match token {
        None => Some(false),
        Some(t) => match gh.user(&t).await {
            Err(slipway_core::github::GitHubError::BadCredentials) => Some(false),
            Err(e) => {
                tracing::warn!(login = %user.login, error = %e, "cannot check a user's membership now");
                None
            }
            Ok((u, _)) if policy.orgs.is_empty() => Some(policy.allows(&u.login, &[])),
            Ok((u, _)) => match gh.orgs(&t).await {
                Ok(orgs) => Some(policy.allows(&u.login, &orgs)),
                Err(slipway_core::github::GitHubError::BadCredentials) => Some(false),
                Err(e) => {
                    tracing::warn!(login = %user.login, error = %e, "cannot check a user's membership now");
                    None
                }
            },
        },
    };
    if let Some(allowed) = allowed {
        if let Err(e) = state.core.set_user_allowed(user.id, allowed).await {
            tracing::warn!(error = %format!("{e:#}"), "cannot record a membership check");
        } else if !allowed {
            tracing::info!(login = %user.login, "no longer allowed to sign in: access ended");
        }
    }
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
