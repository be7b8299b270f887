//! The Platform API, compatible with Akkeris' (DESIGN §5): field names, status codes and list
//! order follow Akkeris so its clients work unchanged. Errors are plain text.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use domain::{AppName, ConfigKey, SimpleName};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use slipway_core::apps::{App, Grouping, NewApp};
use slipway_core::builds::{Build, BuildRequest};
use slipway_core::releases::{Release, ReleaseRef, SlugRef, Window};
use uuid::Uuid;

use super::auth::ApiActor;
use super::json::Body;
use super::AppState;

mod range;
mod repo;
mod stream;

/// The API's errors, each a status and a plain-text reason (internal text never leaves).
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    Invalid(String),
    RangeNotSatisfiable(String),
    TooLarge(String),
    /// The database does not answer for now.
    Unavailable,
    Internal,
}

impl From<slipway_core::Error> for ApiError {
    fn from(e: slipway_core::Error) -> Self {
        use slipway_core::Error::*;
        match e {
            NotFound(m) => ApiError::NotFound(m),
            Conflict(m) => ApiError::Conflict(m),
            Invalid(m) => ApiError::Invalid(m),
            Forbidden(m) => ApiError::Forbidden(m),
            BadRequest(m) => ApiError::BadRequest(m),
            TooLarge(m) => ApiError::TooLarge(m),
            Unavailable(e) => {
                tracing::warn!(error = %format!("{e:#}"), "request failed: the database is not answering");
                ApiError::Unavailable
            }
            e @ Internal(_) if e.is_unavailable() => {
                tracing::warn!(error = %format!("{e:#}"), "request failed: the database is not answering");
                ApiError::Unavailable
            }
            Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "request failed");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            ApiError::RangeNotSatisfiable(m) => (StatusCode::RANGE_NOT_SATISFIABLE, m),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is not answering; try again shortly.".to_owned(),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on the server.".to_owned(),
            ),
        };
        (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            text,
        )
            .into_response()
    }
}

type ApiResult<T = Response> = Result<T, ApiError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/apps", get(list_apps).post(create_app))
        .route("/apps/{app}", get(get_app).delete(delete_app))
        .route("/apps/{app}/pipeline-couplings", get(no_pipelines))
        .route(
            "/apps/{app}/releases",
            get(list_releases).post(create_release),
        )
        .route(
            "/apps/{app}/releases/{release}",
            get(get_release).patch(patch_release),
        )
        .route(
            "/apps/{app}/releases/{release}/statuses",
            get(release_statuses),
        )
        .route("/apps/{app}/builds", get(list_builds).post(create_build))
        .route(
            "/apps/{app}/builds/{build}",
            get(get_build).delete(cancel_build).put(rebuild),
        )
        .route("/apps/{app}/builds/{build}/result", get(build_result))
        .route(
            "/apps/{app}/builds/{build}/stream",
            get(stream::build_stream),
        )
        .route("/apps/{app}/builds/auto", axum::routing::post(repo::attach))
        .route(
            "/apps/{app}/builds/auto/github",
            get(repo::info)
                .delete(repo::detach)
                .post(repo::webhook)
                // GitHub sends payloads of up to 25 MB.
                .layer(axum::extract::DefaultBodyLimit::max(25 << 20)),
        )
        .route(
            "/apps/{app}/builds/auto/github/trigger",
            axum::routing::post(repo::trigger),
        )
        .route("/slugs/{slug}", get(get_slug))
        .route(
            "/apps/{app}/config-vars",
            get(get_config).patch(patch_config),
        )
        .route("/apps/{app}/formation", get(get_formation))
        .route("/apps/{app}/formation/{kind}", patch(patch_formation))
        .route("/apps/{app}/features", get(list_features))
        .route(
            "/apps/{app}/features/{feature}",
            get(get_feature).patch(patch_feature),
        )
        .route("/apps/{app}/addons", get(list_addons))
        .route("/spaces", get(list_spaces))
        .route("/organizations", get(list_orgs))
        .route("/favorites", get(list_favorites).post(add_favorite))
        .route("/favorites/{app}", axum::routing::delete(remove_favorite))
}

/// Whether `path` is in the API's part of the URL space (so an unknown one gets a plain 404).
pub fn is_api_path(path: &str) -> bool {
    ["/apps", "/slugs", "/spaces", "/organizations", "/favorites"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

pub fn unknown_route() -> Response {
    ApiError::NotFound("No such route.".into()).into_response()
}

// ---- shapes ---------------------------------------------------------------------------

/// RFC 3339 UTC with milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    Ts(t).to_string()
}

/// A timestamp as the API writes it (RFC 3339, UTC, milliseconds), formatted without
/// chrono's format-string parser: lists write two per row.
#[derive(Clone, Copy)]
struct Ts(DateTime<Utc>);

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.timestamp_subsec_millis().min(999)
        )
    }
}

impl Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Serialize)]
struct Ref<'a> {
    id: Uuid,
    name: &'a str,
}

/// The app object. `description`, `image` and `web_url` are `""` rather than null when not
/// known: the Akkeris CLI's `apps:info` hands them to cliui, which fails on null.
#[derive(Serialize)]
struct AppJson<'a> {
    id: Uuid,
    name: String,
    simple_name: &'a str,
    space: Ref<'a>,
    organization: Ref<'a>,
    region: Ref<'static>,
    description: &'a str,
    image: &'a str,
    released_at: Option<Ts>,
    web_url: &'a str,
    git_url: Option<&'a str>,
    git_branch: Option<&'a str>,
    preview: Option<&'a str>,
    created_at: Ts,
    updated_at: Ts,
}

fn app_json(a: &App) -> AppJson<'_> {
    AppJson {
        id: a.id,
        name: a.full_name(),
        simple_name: &a.name,
        space: Ref {
            id: a.space_id,
            name: &a.space_name,
        },
        organization: Ref {
            id: a.org_id,
            name: &a.org_name,
        },
        region: Ref {
            id: Uuid::nil(),
            name: "local",
        },
        description: a.description.as_deref().unwrap_or(""),
        image: a.image.as_deref().unwrap_or(""),
        released_at: a.released_at.map(Ts),
        web_url: a.web_url.as_deref().unwrap_or(""),
        git_url: None,
        git_branch: None,
        preview: None,
        created_at: Ts(a.created_at),
        updated_at: Ts(a.updated_at),
    }
}

#[derive(Serialize)]
struct IdRef {
    id: Option<Uuid>,
}

#[derive(Serialize)]
struct UserRef<'a> {
    id: Option<Uuid>,
    login: Option<&'a str>,
    email: Option<&'a str>,
}

/// The release object.
#[derive(Serialize)]
struct ReleaseJson<'a> {
    id: Uuid,
    app: Ref<'a>,
    version: i32,
    description: &'a str,
    status: &'static str,
    state: &'static str,
    current: bool,
    slug: IdRef,
    user: UserRef<'a>,
    addon_plan_names: &'a [String],
    pinned: bool,
    /// Why the deploy failed (Slipway's own field), or null.
    failure: Option<&'a str>,
    created_at: Ts,
    updated_at: Ts,
}

/// One release as its JSON value (the app's name made once for it).
fn one_release(app: &App, r: &Release) -> Value {
    let name = app.full_name();
    json!(release_json(
        Ref {
            id: app.id,
            name: &name,
        },
        r,
    ))
}

fn release_json<'a>(app: Ref<'a>, r: &'a Release) -> ReleaseJson<'a> {
    ReleaseJson {
        id: r.id,
        app,
        version: r.version,
        description: &r.description,
        status: r.status.0.as_str(),
        state: "success",
        current: r.current,
        slug: IdRef { id: r.build_id },
        user: UserRef {
            id: r.user_id,
            login: r.user_login.as_deref(),
            email: r.user_email.as_deref(),
        },
        addon_plan_names: &r.addon_plan_names,
        pinned: r.pinned,
        failure: r.failure.as_deref(),
        created_at: Ts(r.created_at),
        updated_at: Ts(r.updated_at),
    }
}

fn build_json(state: &AppState, a: &App, b: &Build) -> Value {
    let result = result_url(state, a, b.id);
    json!({
        "id": b.id,
        "app": {"id": a.id, "name": a.full_name()},
        "status": b.status,
        "source_blob": {
            "url": b.source_url,
            "checksum": b.checksum,
            "version": b.version,
            "commit": b.commit_sha,
            "author": b.author,
            "repo": b.repo,
            "branch": b.branch,
            "message": b.message,
        },
        "slug": {"id": (b.status == "succeeded").then_some(b.id)},
        "release": b.release_id.map(|id| json!({"id": id})),
        "output_stream_url": result,
        "created_at": ts(b.created_at),
        "updated_at": ts(b.updated_at),
    })
}

/// The absolute URL of a build's log snapshot (`output_stream_url`).
fn result_url(state: &AppState, a: &App, build: Uuid) -> String {
    state
        .public
        .url(&format!("/apps/{}/builds/{build}/result", a.full_name()))
}

fn grouping_json(g: &Grouping) -> Value {
    json!({"id": g.id, "name": g.name, "created_at": ts(g.created_at), "updated_at": ts(g.updated_at)})
}

fn ok(v: impl Serialize) -> ApiResult {
    Ok((StatusCode::OK, Json(v)).into_response())
}

fn created(v: impl Serialize) -> ApiResult {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// Empty strings, and strings of spaces, mean "not given".
fn given(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn load_app(
    state: &AppState,
    actor: &slipway_core::authz::Actor,
    key: &str,
) -> ApiResult<App> {
    Ok(state.core.app(actor, key).await?)
}

// ---- apps -----------------------------------------------------------------------------

async fn list_apps(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    let apps = s.core.apps(&actor).await?;
    ok(apps.iter().map(app_json).collect::<Vec<_>>())
}

#[derive(Deserialize)]
struct CreateApp {
    name: Option<String>,
    space: Option<String>,
    org: Option<String>,
    description: Option<String>,
}

async fn create_app(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Body(body): Body<CreateApp>,
) -> ApiResult {
    let name = given(body.name).ok_or_else(|| ApiError::Invalid("The app needs a name.".into()))?;
    let space =
        given(body.space).ok_or_else(|| ApiError::Invalid("The app needs a space.".into()))?;
    let name = SimpleName::parse("app", &name).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let space = SimpleName::parse("space", &space).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let org = given(body.org).unwrap_or_else(|| "default".into());
    let org = SimpleName::parse("org", &org).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let name = AppName::new(name, space).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let app = s
        .core
        .create_app(
            &actor,
            NewApp {
                name,
                org,
                description: given(body.description),
            },
        )
        .await?;
    created(app_json(&app))
}

async fn get_app(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    ok(app_json(&app))
}

async fn delete_app(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
) -> ApiResult {
    let app = s.core.delete_app(&actor, &app).await?;
    ok(json!({"id": app.id, "name": app.full_name(), "result": "successful"}))
}

async fn no_pipelines(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    Err(ApiError::NotFound(format!(
        "{} is not in a pipeline.",
        app.full_name()
    )))
}

async fn list_spaces(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    ok(Value::Array(
        s.core
            .spaces(&actor)
            .await?
            .iter()
            .map(grouping_json)
            .collect(),
    ))
}

async fn list_orgs(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    ok(Value::Array(
        s.core
            .orgs(&actor)
            .await?
            .iter()
            .map(grouping_json)
            .collect(),
    ))
}

// ---- releases -------------------------------------------------------------------------

async fn list_releases(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let range = match headers.get(axum::http::header::RANGE) {
        None => None,
        Some(h) => Some(
            h.to_str()
                .ok()
                .and_then(range::Range::parse)
                .ok_or_else(|| ApiError::RangeNotSatisfiable(range::HELP.into()))?,
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

fn release_ref(s: &str) -> ApiResult<ReleaseRef> {
    ReleaseRef::parse(s)
        .ok_or_else(|| ApiError::NotFound(format!("The release \"{s}\" was not found.")))
}

#[derive(Deserialize)]
struct ReleasePatch {
    pinned: Option<bool>,
}

/// `PATCH …/releases/{id}` `{"pinned": bool}` (Slipway's own): keep the release's image.
async fn patch_release(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((app, release)): Path<(String, String)>,
    Body(body): Body<ReleasePatch>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let Some(pinned) = body.pinned else {
        return Err(ApiError::Invalid("Give pinned: true or false.".into()));
    };
    let r = s
        .core
        .set_pinned(&actor, &app, release_ref(&release)?, pinned)
        .await?;
    ok(one_release(&app, &r))
}

async fn get_release(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((app, release)): Path<(String, String)>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let r = s.core.release(&actor, &app, release_ref(&release)?).await?;
    ok(one_release(&app, &r))
}

async fn release_statuses(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((app, release)): Path<(String, String)>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let r = s.core.release(&actor, &app, release_ref(&release)?).await?;
    ok(json!({"state": "success", "release": {"id": r.id}, "statuses": []}))
}

#[derive(Deserialize)]
struct CreateRelease {
    slug: Option<Value>,
    release: Option<Value>,
    description: Option<String>,
}

async fn create_release(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
    Body(body): Body<CreateRelease>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let present = |v: &Option<Value>| v.as_ref().is_some_and(|v| !v.is_null() && v != &json!(""));
    let r = match (present(&body.slug), present(&body.release)) {
        (true, false) => {
            let slug = match body.slug.as_ref().and_then(Value::as_str) {
                Some("latest") => SlugRef::Latest,
                Some(id) => SlugRef::Build(Uuid::parse_str(id).map_err(|_| {
                    ApiError::Invalid(format!("\"slug\" must be a build id or \"latest\", not \"{id}\"."))
                })?),
                None => return Err(ApiError::Invalid("\"slug\" must be a string: a build id or \"latest\".".into())),
            };
            s.core.deploy(&actor, &app, slug, given(body.description)).await?
        }
        (false, true) => {
            let text = match body.release.as_ref() {
                Some(Value::String(t)) => t.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(ApiError::Invalid("\"release\" must be a release id, N or vN.".into())),
            };
            let target = ReleaseRef::parse(&text)
                .ok_or_else(|| ApiError::Invalid(format!("\"release\" must be a release id, N or vN, not \"{text}\".")))?;
            // A client's description is ignored: a rollback is always "Rollback to vN".
            s.core.rollback(&actor, &app, target).await?
        }
        _ => {
            return Err(ApiError::Invalid(
                "Give either \"slug\" (a build to release) or \"release\" (a release to roll back to), not both.".into(),
            ))
        }
    };
    created(one_release(&app, &r))
}

// ---- builds ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct CreateBuild {
    url: Option<String>,
    checksum: Option<String>,
    repo: Option<String>,
    sha: Option<String>,
    branch: Option<String>,
    version: Option<String>,
    author: Option<String>,
    message: Option<String>,
}

async fn create_build(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
    Body(body): Body<CreateBuild>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let req = BuildRequest {
        url: given(body.url)
            .ok_or_else(|| ApiError::Invalid("A build needs a source \"url\".".into()))?,
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

async fn list_builds(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let builds = s.core.builds(&actor, &app).await?;
    ok(Value::Array(
        builds.iter().map(|b| build_json(&s, &app, b)).collect(),
    ))
}

fn build_id(s: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::NotFound(format!("The build \"{s}\" was not found.")))
}

async fn get_build(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((app, build)): Path<(String, String)>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let b = s.core.build(&actor, &app, build_id(&build)?).await?;
    ok(build_json(&s, &app, &b))
}

async fn cancel_build(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((app, build)): Path<(String, String)>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let id = build_id(&build)?;
    s.core.cancel_build(&actor, &app, id).await?;
    let b = s.core.build(&actor, &app, id).await?;
    Ok((StatusCode::RESET_CONTENT, Json(build_json(&s, &app, &b))).into_response())
}

async fn rebuild(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((app, build)): Path<(String, String)>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let b = s.core.rebuild(&actor, &app, build_id(&build)?).await?;
    created(build_json(&s, &app, &b))
}

async fn build_result(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((app, build)): Path<(String, String)>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
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

async fn get_slug(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(slug): Path<String>,
) -> ApiResult {
    let id = Uuid::parse_str(&slug)
        .map_err(|_| ApiError::NotFound(format!("The slug \"{slug}\" was not found.")))?;
    let (b, app) = s.core.slug(&actor, id).await?;
    ok(build_json(&s, &app, &b))
}

// ---- config vars and formation ------------------------------------------------------

async fn get_config(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    ok(json!(s.core.config_vars(&actor, &app).await?))
}

async fn patch_config(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
    Body(body): Body<BTreeMap<String, Value>>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    if body.is_empty() {
        return Err(ApiError::Invalid("No config vars were given.".into()));
    }
    let mut changes = Vec::with_capacity(body.len());
    for (k, v) in body {
        let key = ConfigKey::parse(&k).map_err(|e| ApiError::Invalid(e.to_string()))?;
        let value = match v {
            Value::Null => None,
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                return Err(ApiError::Invalid(format!(
                    "The value of {k} must be a string or null."
                )))
            }
        };
        changes.push((key, value));
    }
    let outcome = s.core.patch_config(&actor, &app, changes).await?;
    ok(json!(outcome.config))
}

async fn get_formation(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let port = s.core.port(&actor, &app).await?;
    ok(json!([{"type": "web", "quantity": 1, "port": port}]))
}

#[derive(Deserialize)]
struct PatchFormation {
    port: Option<Value>,
}

async fn patch_formation(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((app, kind)): Path<(String, String)>,
    Body(body): Body<PatchFormation>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    if kind != "web" {
        return Err(ApiError::NotFound(format!(
            "There is no \"{kind}\" process type; only \"web\"."
        )));
    }
    let port = match body.port {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(t)) => t.trim().parse().ok(),
        None => return Err(ApiError::Invalid("Give the \"port\" to set.".into())),
        _ => None,
    }
    .ok_or_else(|| ApiError::Invalid("\"port\" must be a whole number from 1 to 65535.".into()))?;
    let (port, _) = s.core.set_port(&actor, &app, port).await?;
    ok(json!({"type": "web", "quantity": 1, "port": port}))
}

// ---- features, add-ons, favourites --------------------------------------------------

fn feature_json(f: &slipway_core::features::Feature) -> Value {
    json!({"id": f.id, "name": f.name, "description": f.description, "enabled": f.enabled})
}

async fn list_features(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    ok(Value::Array(
        s.core
            .features(&actor, &app)
            .await?
            .iter()
            .map(feature_json)
            .collect(),
    ))
}

async fn get_feature(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((app, feature)): Path<(String, String)>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let all = s.core.features(&actor, &app).await?;
    let f = all
        .iter()
        .find(|f| f.name == feature || f.id.to_string() == feature)
        .ok_or_else(|| ApiError::NotFound(format!("The feature \"{feature}\" was not found.")))?;
    ok(feature_json(f))
}

#[derive(Deserialize)]
struct PatchFeature {
    enabled: Option<bool>,
}

async fn patch_feature(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((app, feature)): Path<(String, String)>,
    Body(body): Body<PatchFeature>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    let enabled = body
        .enabled
        .ok_or_else(|| ApiError::Invalid("Give \"enabled\": true or false.".into()))?;
    let f = s.core.set_feature(&actor, &app, &feature, enabled).await?;
    ok(feature_json(&f))
}

async fn list_addons(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
) -> ApiResult {
    load_app(&s, &actor, &app).await?;
    ok(json!([]))
}

async fn list_favorites(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    let apps = s.core.favorites(&actor).await?;
    ok(apps.iter().map(app_json).collect::<Vec<_>>())
}

#[derive(Deserialize)]
struct AddFavorite {
    app: Option<String>,
}

async fn add_favorite(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Body(body): Body<AddFavorite>,
) -> ApiResult {
    let key =
        given(body.app).ok_or_else(|| ApiError::Invalid("Give the \"app\" to add.".into()))?;
    let app = load_app(&s, &actor, &key).await?;
    s.core.add_favorite(&actor, &app).await?;
    created(app_json(&app))
}

async fn remove_favorite(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
) -> ApiResult {
    let app = load_app(&s, &actor, &app).await?;
    s.core.remove_favorite(&actor, &app).await?;
    ok(app_json(&app))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::microseconds(123_999);
        assert_eq!(super::ts(t), "2026-01-02T03:04:05.123Z");
        assert_eq!(
            super::ts(t),
            t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "the same text chrono's formatter writes"
        );
    }
}
