//! The Platform API, compatible with Akkeris' (DESIGN §5): field names, status codes and list
//! order follow Akkeris so its clients work unchanged. Errors are plain text.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Serialize;
use slipway_core::ledger::apps::App;

use super::auth::ApiActor;
use super::AppState;

mod addons;
mod apps;
mod builds;
mod config;
mod error;
mod features;
mod range;
mod releases;
mod repo;
mod shapes;
mod stream;

pub use error::{ApiError, ApiResult, Body};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/apps", get(apps::list_apps).post(apps::create_app))
        .route("/apps/{app}", get(apps::get_app).delete(apps::delete_app))
        .route("/apps/{app}/pipeline-couplings", get(apps::no_pipelines))
        .route(
            "/apps/{app}/releases",
            get(releases::list_releases).post(releases::create_release),
        )
        .route(
            "/apps/{app}/releases/{release}",
            get(releases::get_release).patch(releases::patch_release),
        )
        .route(
            "/apps/{app}/releases/{release}/statuses",
            get(releases::release_statuses),
        )
        .route(
            "/apps/{app}/builds",
            get(builds::list_builds).post(builds::create_build),
        )
        .route(
            "/apps/{app}/builds/{build}",
            get(builds::get_build)
                .delete(builds::cancel_build)
                .put(builds::rebuild),
        )
        .route(
            "/apps/{app}/builds/{build}/result",
            get(builds::build_result),
        )
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
        .route("/slugs/{slug}", get(builds::get_slug))
        .route(
            "/apps/{app}/config-vars",
            get(config::get_config).patch(config::patch_config),
        )
        .route("/apps/{app}/formation", get(config::get_formation))
        .route(
            "/apps/{app}/formation/{kind}",
            patch(config::patch_formation),
        )
        .route("/apps/{app}/features", get(features::list_features))
        .route(
            "/apps/{app}/features/{feature}",
            get(features::get_feature).patch(features::patch_feature),
        )
        .route(
            "/apps/{app}/addons",
            get(addons::list_addons).post(addons::create_addon),
        )
        .route(
            "/apps/{app}/addons/{addon}",
            get(addons::get_addon)
                .patch(addons::patch_addon)
                .delete(addons::destroy_addon),
        )
        .route(
            "/apps/{app}/addon-attachments",
            get(addons::list_attachments).post(addons::attach),
        )
        .route(
            "/apps/{app}/addon-attachments/{attachment}",
            get(addons::get_attachment).delete(addons::detach),
        )
        .route(
            "/addon-attachments",
            axum::routing::post(addons::attach_global),
        )
        .route(
            "/addon-attachments/{attachment}",
            get(addons::get_attachment_global).delete(addons::detach_global),
        )
        .route("/addon-services", get(addons::list_services))
        .route("/addon-services/{service}", get(addons::get_service))
        .route("/addon-services/{service}/plans", get(addons::list_plans))
        .route(
            "/addon-services/{service}/plans/{plan}",
            get(addons::get_plan),
        )
        .route("/spaces", get(apps::list_spaces))
        .route("/organizations", get(apps::list_orgs))
        .route(
            "/favorites",
            get(features::list_favorites).post(features::add_favorite),
        )
        .route(
            "/favorites/{app}",
            axum::routing::delete(features::remove_favorite),
        )
}

/// Whether `path` is in the API's part of the URL space (so an unknown one gets a plain 404).
pub fn is_api_path(path: &str) -> bool {
    [
        "/apps",
        "/slugs",
        "/spaces",
        "/organizations",
        "/favorites",
        "/addon-services",
        "/addon-attachments",
    ]
    .iter()
    .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

pub fn unknown_route() -> Response {
    ApiError::not_found("No such route.").into_response()
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

/// The app named by the path's `{app}`, as the request's actor may see it, and that actor.
/// Unknown apps are 404, and no actor 401, before the handler runs.
pub struct AppOf {
    pub actor: slipway_core::access::authz::Actor,
    pub app: App,
}

impl axum::extract::FromRequestParts<AppState> for AppOf {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        let ApiActor(actor) = ApiActor::from_request_parts(parts, state).await?;
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some((_, key)) = params.iter().find(|(name, _)| *name == "app") else {
            return Err(ApiError::not_found("No such route.").into_response());
        };
        let app = state
            .core
            .app(&actor, key)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        Ok(AppOf { actor, app })
    }
}
