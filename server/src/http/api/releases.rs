//! Releases: the history (with `Range`), one release, pinning, and new releases (a build's
//! deploy or a rollback).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use slipway_core::ledger::releases::{ReleaseRef, SlugRef, Window};
use uuid::Uuid;

use super::error::{ApiError, ApiResult, Body};
use super::range;
use super::shapes::{one_release, release_json, Ref};
use super::{created, given, ok, AppOf};
use crate::http::AppState;

pub(super) async fn list_releases(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    headers: HeaderMap,
) -> ApiResult {
    let range = match headers.get(axum::http::header::RANGE) {
        None => None,
        Some(h) => Some(
            h.to_str()
                .ok()
                .and_then(range::Range::parse)
                .ok_or_else(|| ApiError::range_not_satisfiable(range::HELP))?,
        ),
    };
    let window = range.map(|r| r.window()).unwrap_or_else(Window::all);
    let (rows, more) = s.core.releases(&actor, &app, window).await?;
    let name = app.full_name();
    let app_ref = || Ref {
        id: app.id,
        name: &name,
    };
    let body: Vec<_> = rows.iter().map(|r| release_json(app_ref(), r)).collect();
    let Some(range) = range else { return ok(body) };
    let mut resp = (
        if more {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        },
        Json(body),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert("accept-ranges", HeaderValue::from_static("version"));
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let cr = format!("version {}..{}", first.version, last.version);
        h.insert("content-range", HeaderValue::from_str(&cr).expect("ascii"));
        if more {
            h.insert(
                "next-range",
                HeaderValue::from_str(&range.next(last.version)).expect("ascii"),
            );
        }
    }
    Ok(resp)
}

pub(super) fn release_ref(s: &str) -> ApiResult<ReleaseRef> {
    ReleaseRef::parse(s)
        .ok_or_else(|| ApiError::not_found(format!("The release \"{s}\" was not found.")))
}

#[derive(Deserialize)]
pub(super) struct ReleasePatch {
    pinned: Option<bool>,
}

/// `PATCH …/releases/{id}` `{"pinned": bool}` (Slipway's own): keep the release's image.
pub(super) async fn patch_release(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, release)): Path<(String, String)>,
    Body(body): Body<ReleasePatch>,
) -> ApiResult {
    let Some(pinned) = body.pinned else {
        return Err(ApiError::invalid("Give pinned: true or false."));
    };
    let r = s
        .core
        .set_pinned(&actor, &app, release_ref(&release)?, pinned)
        .await?;
    ok(one_release(&app, &r))
}

pub(super) async fn get_release(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, release)): Path<(String, String)>,
) -> ApiResult {
    let r = s.core.release(&actor, &app, release_ref(&release)?).await?;
    ok(one_release(&app, &r))
}

pub(super) async fn release_statuses(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, release)): Path<(String, String)>,
) -> ApiResult {
    let r = s.core.release(&actor, &app, release_ref(&release)?).await?;
    ok(json!({"state": "success", "release": {"id": r.id}, "statuses": []}))
}

#[derive(Deserialize)]
pub(super) struct CreateRelease {
    slug: Option<Value>,
    release: Option<Value>,
    description: Option<String>,
}

pub(super) async fn create_release(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Body(body): Body<CreateRelease>,
) -> ApiResult {
    let present = |v: &Option<Value>| v.as_ref().is_some_and(|v| !v.is_null() && v != &json!(""));
    let r = match (present(&body.slug), present(&body.release)) {
        (true, false) => {
            let slug = match body.slug.as_ref().and_then(Value::as_str) {
                Some("latest") => SlugRef::Latest,
                Some(id) => SlugRef::Build(Uuid::parse_str(id).map_err(|_| {
                    ApiError::invalid(format!("\"slug\" must be a build id or \"latest\", not \"{id}\"."))
                })?),
                None => return Err(ApiError::invalid("\"slug\" must be a string: a build id or \"latest\".")),
            };
            s.core.deploy(&actor, &app, slug, given(body.description)).await?
        }
        (false, true) => {
            let text = match body.release.as_ref() {
                Some(Value::String(t)) => t.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(ApiError::invalid("\"release\" must be a release id, N or vN.")),
            };
            let target = ReleaseRef::parse(&text)
                .ok_or_else(|| ApiError::invalid(format!("\"release\" must be a release id, N or vN, not \"{text}\".")))?;
            // A client's description is ignored: a rollback is always "Rollback to vN".
            s.core.rollback(&actor, &app, target).await?
        }
        _ => {
            return Err(ApiError::invalid(
                "Give either \"slug\" (a build to release) or \"release\" (a release to roll back to), not both.",
            ))
        }
    };
    created(one_release(&app, &r))
}
