//! Builds: starting, listing, cancelling and rebuilding them, their result (the log, streamed
//! from the database a page at a time) and slugs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use slipway_core::builds::BuildRequest;
use uuid::Uuid;

use super::error::{ApiError, ApiResult, Body};
use super::shapes::{build_json, result_url};
use super::{created, given, ok, AppOf};
use crate::http::auth::ApiActor;
use crate::http::AppState;

#[derive(Deserialize)]
pub(super) struct CreateBuild {
    url: Option<String>,
    checksum: Option<String>,
    repo: Option<String>,
    sha: Option<String>,
    branch: Option<String>,
    version: Option<String>,
    author: Option<String>,
    message: Option<String>,
}

pub(super) async fn create_build(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Body(body): Body<CreateBuild>,
) -> ApiResult {
    let req = BuildRequest {
        url: given(body.url).ok_or_else(|| ApiError::invalid("A build needs a source \"url\"."))?,
        checksum: given(body.checksum),
        version: given(body.version),
        sha: given(body.sha),
        author: given(body.author),
        repo: given(body.repo),
        branch: given(body.branch),
        message: given(body.message),
        upload_name: None,
    };
    let b = s.core.create_build(&actor, &app, req).await?;
    created(build_json(&s, &app, &b))
}

pub(super) async fn list_builds(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
) -> ApiResult {
    let builds = s.core.builds(&actor, &app).await?;
    ok(Value::Array(
        builds.iter().map(|b| build_json(&s, &app, b)).collect(),
    ))
}

pub(super) fn build_id(s: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::not_found(format!("The build \"{s}\" was not found.")))
}

pub(super) async fn get_build(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, build)): Path<(String, String)>,
) -> ApiResult {
    let b = s.core.build(&actor, &app, build_id(&build)?).await?;
    ok(build_json(&s, &app, &b))
}

pub(super) async fn cancel_build(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, build)): Path<(String, String)>,
) -> ApiResult {
    let id = build_id(&build)?;
    s.core.cancel_build(&actor, &app, id).await?;
    let b = s.core.build(&actor, &app, id).await?;
    Ok((StatusCode::RESET_CONTENT, Json(build_json(&s, &app, &b))).into_response())
}

pub(super) async fn rebuild(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, build)): Path<(String, String)>,
) -> ApiResult {
    let b = s.core.rebuild(&actor, &app, build_id(&build)?).await?;
    created(build_json(&s, &app, &b))
}

pub(super) async fn build_result(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, build)): Path<(String, String)>,
) -> ApiResult {
    let (b, pages) = s.core.build_log(&actor, &app, build_id(&build)?).await?;
    let url = result_url(&s, &app, b.id);
    // `{"build": …, "lines": [` then the log a page at a time, then `]}`: a log of any length
    // streams without being held in memory.
    let head = json!({"id": b.id, "status": b.status, "output_stream_url": url});
    let head = format!("{{\"build\":{head},\"lines\":[");
    let mut first = true;
    let body = pages.map(move |page| {
        let page = page.map_err(|e| {
            tracing::error!(error = %format!("{e:#}"), "reading a build log failed mid-stream");
            std::io::Error::other("the log could not be read")
        })?;
        let mut out = String::new();
        for line in page {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&serde_json::to_string(&line).unwrap_or_default());
        }
        Ok::<_, std::io::Error>(axum::body::Bytes::from(out))
    });
    let stream = futures::stream::once(async move { Ok(axum::body::Bytes::from(head)) })
        .chain(body)
        .chain(futures::stream::once(async {
            Ok(axum::body::Bytes::from_static(b"]}"))
        }));
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

pub(super) async fn get_slug(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(slug): Path<String>,
) -> ApiResult {
    let id = Uuid::parse_str(&slug)
        .map_err(|_| ApiError::not_found(format!("The slug \"{slug}\" was not found.")))?;
    let (b, app) = s.core.slug(&actor, id).await?;
    ok(build_json(&s, &app, &b))
}
