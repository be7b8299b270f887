//! Apps, spaces, orgs (DESIGN §5).

use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{json, Value};
use slipway_core::ledger::apps::NewApp;

use super::error::{ApiError, ApiResult, Body};
use super::shapes::{app_json, grouping_json};
use super::{created, ok, AppOf};
use crate::http::auth::ApiActor;
use crate::http::AppState;

pub(super) async fn list_apps(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    let apps = s.core.apps(&actor).await?;
    ok(apps.iter().map(app_json).collect::<Vec<_>>())
}

#[derive(Deserialize)]
pub(super) struct CreateApp {
    name: Option<String>,
    space: Option<String>,
    org: Option<String>,
    description: Option<String>,
}

pub(super) async fn create_app(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Body(body): Body<CreateApp>,
) -> ApiResult {
    let new = NewApp::parse(
        body.name.as_deref(),
        body.space.as_deref(),
        body.org.as_deref(),
        body.description.as_deref(),
    )?;
    let app = s.core.create_app(&actor, new).await?;
    created(app_json(&app))
}

pub(super) async fn get_app(AppOf { app, .. }: AppOf) -> ApiResult {
    ok(app_json(&app))
}

pub(super) async fn delete_app(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(app): Path<String>,
) -> ApiResult {
    let (app, detached) = s.core.delete_app(&actor, &app).await?;
    let mut body = json!({"id": app.id, "name": app.full_name(), "result": "successful"});
    if let slipway_core::github::repos::Detached::HookLeft(why) = detached {
        body["warning"] = why.into();
    }
    ok(body)
}

pub(super) async fn no_pipelines(AppOf { app, .. }: AppOf) -> ApiResult {
    Err(ApiError::not_found(format!(
        "{} is not in a pipeline.",
        app.full_name()
    )))
}

pub(super) async fn list_spaces(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    ok(Value::Array(
        s.core
            .spaces(&actor)
            .await?
            .iter()
            .map(grouping_json)
            .collect(),
    ))
}

pub(super) async fn list_orgs(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    ok(Value::Array(
        s.core
            .orgs(&actor)
            .await?
            .iter()
            .map(grouping_json)
            .collect(),
    ))
}
