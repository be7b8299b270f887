//! Repository attachments (Akkeris' `builds/auto` routes) and GitHub's webhook receiver.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use slipway_core::github::repos::{AttachRequest, Attachment, Credential, Detached};
use slipway_core::github::webhooks::{Delivery, Received};

use super::shapes::{build_json, ts};
use super::Body;
use super::{created, given, ok, ApiError, ApiResult, AppOf};
use crate::http::AppState;

/// `POST /apps/{app}/builds/auto`, as the Akkeris CLI's `repo:set` sends it.
#[derive(Deserialize)]
pub(super) struct Attach {
    repo: Option<String>,
    branch: Option<String>,
    /// Akkeris sends it; GitHub says whose token it is, so it is not needed.
    #[allow(dead_code)]
    username: Option<String>,
    token: Option<String>,
    #[serde(default)]
    auto_deploy: bool,
    #[serde(default)]
    status_check: bool,
}

pub(super) async fn attach(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Body(body): Body<Attach>,
) -> ApiResult {
    let repo = given(body.repo).ok_or_else(|| ApiError::invalid("A \"repo\" URL is required."))?;
    let credential = match given(body.token) {
        Some(t) => Credential::Token(t),
        None => Credential::Service,
    };
    s.core
        .attach_repo(
            &actor,
            &app,
            AttachRequest {
                repo,
                branch: given(body.branch),
                credential,
                auto_deploy: body.auto_deploy,
                status_check: body.status_check,
            },
        )
        .await?;
    created(json!({"status": "successful"}))
}

fn attachment_json(app: &slipway_core::ledger::apps::App, a: &Attachment) -> serde_json::Value {
    json!({
        "id": a.id,
        "app": {"id": app.id, "name": app.full_name()},
        "repo": a.repo,
        "branch": a.branch,
        "username": a.username,
        "auto_deploy": a.auto_deploy,
        "status_check": a.status_check,
        "site": a.repo.split('/').take(3).collect::<Vec<_>>().join("/"),
        "organization": {"id": app.org_id, "name": app.org_name},
        "space": {"id": app.space_id, "name": app.space_name},
        "created_at": ts(a.created_at),
        "updated_at": ts(a.updated_at),
    })
}

/// `GET /apps/{app}/builds/auto/github`.
pub(super) async fn info(State(s): State<AppState>, AppOf { actor, app }: AppOf) -> ApiResult {
    match s.core.attachment(&actor, &app).await? {
        Some(a) => ok(attachment_json(&app, &a)),
        None => Err(ApiError::not_found(format!(
            "{} has no repository attached.",
            app.full_name()
        ))),
    }
}

/// `DELETE /apps/{app}/builds/auto/github`: 422 with a message when the webhook had to be
/// left on GitHub (the attachment is removed anyway).
pub(super) async fn detach(State(s): State<AppState>, AppOf { actor, app }: AppOf) -> ApiResult {
    match s.core.detach_repo(&actor, &app).await? {
        Detached::Clean => ok(json!({"status": "successful"})),
        Detached::HookLeft(m) => Err(ApiError::invalid(m)),
    }
}

/// `POST /apps/{app}/builds/auto/github/trigger`: builds the branch head.
pub(super) async fn trigger(State(s): State<AppState>, AppOf { actor, app }: AppOf) -> ApiResult {
    let b = s.core.trigger_repo_build(&actor, &app).await?;
    created(build_json(&s, &app, &b))
}

/// `POST /apps/{app}/builds/auto/github`: GitHub's webhook, authenticated by its signature
/// over the raw body, not by a token.
pub(super) async fn webhook(
    State(s): State<AppState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    // A header that is there but unreadable counts as present (and wrong), so a bad
    // `X-Hub-Signature-256` cannot fall back to the legacy SHA-1 one.
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("unreadable"))
    };
    let delivery = Delivery {
        event: header("x-github-event"),
        id: header("x-github-delivery"),
        signature_256: header("x-hub-signature-256"),
        signature_1: header("x-hub-signature"),
        body: &body,
    };
    let text = |status: StatusCode, t: String| {
        Ok((
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            t,
        )
            .into_response())
    };
    match s.core.receive_webhook(&app, delivery).await? {
        Received::Built(id) => created(json!({"status": "successful", "build": {"id": id}})),
        Received::Ignored(why) => {
            // 205 carries no content (RFC 9110); the reason goes to the log.
            tracing::info!(app = %app, reason = %why, "webhook ignored");
            Ok(StatusCode::RESET_CONTENT.into_response())
        }
        Received::Pong => text(StatusCode::OK, "pong.".into()),
        Received::AlreadyProcessed => text(StatusCode::OK, "already processed".into()),
    }
}
