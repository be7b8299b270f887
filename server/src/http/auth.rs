//! Who is asking: the session cookie (browsers) or a bearer token (scripts, the Akkeris CLI).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use slipway_core::access::authz::Actor;
use slipway_core::access::users::SESSION_USER_ID as USER_ID;
use tower_sessions::Session;

use super::AppState;

/// The login of the user "Sign in as local admin" signs in as.
pub const LOCAL_ADMIN: &str = "admin";

/// The signed-in user of a session, if any (and allowed to act): remembered for a few seconds
/// (no round trip for the session record or the user), else looked up.
async fn session_actor(state: &AppState, session: &Session) -> Option<Actor> {
    let sid = session.id().map(|id| id.to_string());
    let ticket = match sid.as_deref().map(|s| state.core.remembered_session(s)) {
        Some(Ok(actor)) => return Some(actor),
        Some(Err(ticket)) => Some(ticket),
        None => None,
    };
    let id: uuid::Uuid = session.get(USER_ID).await.ok()??;
    let user = state.core.user(id).await.ok()??;
    let actor = user.actor_if(state.local_users()).ok()??;
    if let (Some(s), Some(ticket)) = (sid, ticket) {
        state.core.remember_session(&s, actor.clone(), ticket);
    }
    Some(actor)
}

/// Sends a `/ui/…` request without a session to the sign-in page, and hands the session's
/// actor to the page and its server functions (request extensions), so they need not look
/// it up again.
pub async fn require_ui_session(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let actor = session_actor(&state, &session).await;
    let path = req.uri().path();
    if path.starts_with("/ui/") && path != "/ui/signin" && actor.is_none() {
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/ui/apps");
        return Redirect::to(&format!("/ui/signin?next={}", domain::encode_query(target)))
            .into_response();
    }
    if let Some(actor) = actor {
        req.extensions_mut().insert(actor);
    }
    next.run(req).await
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    next: String,
}

/// Where to go after signing in: a local path only.
pub(super) fn safe_next(next: &str) -> &str {
    // Browsers drop tabs and newlines from URLs, so `/\t/evil.example` would become
    // `//evil.example`: no control characters or spaces, no second slash, no backslash.
    let plain = next
        .chars()
        .all(|c| !c.is_control() && !c.is_whitespace() && c != '\\');
    if plain && next.starts_with('/') && !next.starts_with("//") {
        next
    } else {
        "/ui/apps"
    }
}

/// `POST /auth/local`: "Sign in as local admin", offered on loopback without OAuth.
pub async fn local_sign_in(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<SignInForm>,
) -> Response {
    if !state.local_sign_in {
        return (
            StatusCode::FORBIDDEN,
            "Local sign-in is not offered by this server.",
        )
            .into_response();
    }
    let user = match state.core.local_admin(LOCAL_ADMIN).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "local sign-in failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Signing in failed.").into_response();
        }
    };
    // A new session id at sign-in, so a planted id is worthless.
    if session.cycle_id().await.is_err() || session.insert(USER_ID, user.id).await.is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Signing in failed.").into_response();
    }
    tracing::info!(actor = %user.login, "signed in as local admin");
    Redirect::to(safe_next(&form.next)).into_response()
}

/// `POST /auth/logout`.
pub async fn logout(State(state): State<AppState>, session: Session) -> Response {
    if let Some(id) = session.id() {
        state.core.forget_session(&id.to_string());
    }
    let _ = session.flush().await;
    Redirect::to("/ui/signin").into_response()
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let text = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The actor of an API request: a bearer token, else the session. Neither: 401, empty body.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let unauthorized = || StatusCode::UNAUTHORIZED.into_response();
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let token = bearer_token(&parts.headers).ok_or_else(unauthorized)?;
            return match state
                .core
                .authenticate_token(token, state.local_users())
                .await
            {
                Ok(Some(actor)) => Ok(ApiActor(actor)),
                Ok(None) => Err(unauthorized()),
                Err(e) => Err(super::api::ApiError::from(e).into_response()),
            };
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| unauthorized())?;
        session_actor(state, &session)
            .await
            .map(ApiActor)
            .ok_or_else(unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_a_local_path() {
        assert_eq!(safe_next("/ui/apps/x"), "/ui/apps/x");
        assert_eq!(safe_next("//evil.example"), "/ui/apps");
        assert_eq!(safe_next("https://evil.example"), "/ui/apps");
        assert_eq!(safe_next("/\\evil"), "/ui/apps");
        assert_eq!(safe_next("/\t/evil.example"), "/ui/apps");
        assert_eq!(safe_next("/\n/evil.example"), "/ui/apps");
        assert_eq!(safe_next("/ui/apps/x?y=1"), "/ui/apps/x?y=1");
    }

    #[test]
    fn next_is_encoded_as_a_query_value() {
        assert_eq!(
            domain::encode_query("/ui/apps?x=1&y"),
            "/ui/apps%3Fx%3D1%26y"
        );
    }
}
