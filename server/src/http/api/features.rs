//! Features and favourites.

use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, Body};
use super::shapes::app_json;
use super::{created, given, ok, AppOf};
use crate::http::auth::ApiActor;
use crate::http::AppState;

pub(super) fn feature_json(f: &slipway_core::ledger::features::Feature) -> Value {
    json!({"id": f.id, "name": f.name, "description": f.description, "enabled": f.enabled})
}

pub(super) async fn list_features(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
) -> ApiResult {
    ok(Value::Array(
        s.core
            .features(&actor, &app)
            .await?
            .iter()
            .map(feature_json)
            .collect(),
    ))
}

pub(super) async fn get_feature(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, feature)): Path<(String, String)>,
) -> ApiResult {
    let all = s.core.features(&actor, &app).await?;
    let f = all
        .iter()
        .find(|f| f.name == feature || f.id.to_string() == feature)
        .ok_or_else(|| ApiError::not_found(format!("The feature \"{feature}\" was not found.")))?;
    ok(feature_json(f))
}

#[derive(Deserialize)]
pub(super) struct PatchFeature {
    enabled: Option<bool>,
}

pub(super) async fn patch_feature(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, feature)): Path<(String, String)>,
    Body(body): Body<PatchFeature>,
) -> ApiResult {
    let enabled = body
        .enabled
        .ok_or_else(|| ApiError::invalid("Give \"enabled\": true or false."))?;
    let f = s.core.set_feature(&actor, &app, &feature, enabled).await?;
    ok(feature_json(&f))
}

pub(super) async fn list_favorites(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult {
    let apps = s.core.favorites(&actor).await?;
    ok(apps.iter().map(app_json).collect::<Vec<_>>())
}

#[derive(Deserialize)]
pub(super) struct AddFavorite {
    app: Option<String>,
}

pub(super) async fn add_favorite(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Body(body): Body<AddFavorite>,
) -> ApiResult {
    let key = given(body.app).ok_or_else(|| ApiError::invalid("Give the \"app\" to add."))?;
    let app = s.core.app(&actor, &key).await?;
    s.core.add_favorite(&actor, &app).await?;
    created(app_json(&app))
}

pub(super) async fn remove_favorite(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
) -> ApiResult {
    s.core.remove_favorite(&actor, &app).await?;
    ok(app_json(&app))
}
