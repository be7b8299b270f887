//! Config vars and formation (the port).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use domain::ConfigKey;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, Body};
use super::{ok, AppOf};
use crate::http::AppState;

pub(super) async fn get_config(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
) -> ApiResult {
    ok(json!(s.core.config_vars(&actor, &app).await?))
}

pub(super) async fn patch_config(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Body(body): Body<BTreeMap<String, Value>>,
) -> ApiResult {
    if body.is_empty() {
        return Err(ApiError::invalid("No config vars were given."));
    }
    let mut changes = Vec::with_capacity(body.len());
    for (k, v) in body {
        let key = ConfigKey::parse(&k).map_err(|e| ApiError::invalid(e.to_string()))?;
        let value = match v {
            Value::Null => None,
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                return Err(ApiError::invalid(format!(
                    "The value of {k} must be a string or null."
                )))
            }
        };
        changes.push((key, value));
    }
    let outcome = s.core.patch_config(&actor, &app, changes).await?;
    ok(json!(outcome.config))
}

pub(super) async fn get_formation(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
) -> ApiResult {
    let port = s.core.port(&actor, &app).await?;
    ok(json!([{"type": "web", "quantity": 1, "port": port}]))
}

#[derive(Deserialize)]
pub(super) struct PatchFormation {
    port: Option<Value>,
}

pub(super) async fn patch_formation(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, kind)): Path<(String, String)>,
    Body(body): Body<PatchFormation>,
) -> ApiResult {
    if kind != "web" {
        return Err(ApiError::not_found(format!(
            "There is no \"{kind}\" process type; only \"web\"."
        )));
    }
    let port = match body.port {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(t)) => t.trim().parse().ok(),
        None => return Err(ApiError::invalid("Give the \"port\" to set.")),
        _ => None,
    }
    .ok_or_else(|| ApiError::invalid("\"port\" must be a whole number from 1 to 65535."))?;
    let (port, _) = s.core.set_port(&actor, &app, port).await?;
    ok(json!({"type": "web", "quantity": 1, "port": port}))
}
