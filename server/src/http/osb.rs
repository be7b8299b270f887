//! Slipway as an Open Service Broker (OSB API v2.17) for the built-in PostgreSQL add-on, under
//! `/osb/v2/…`, with HTTP basic auth (`SLIPWAY_OSB_CREDENTIALS`). Off (404) without it. The
//! rules are the core's (`addons::broker`); this parses, authenticates and maps.

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use slipway_core::addons::broker::{BindAnswer, ProvisionAnswer};

use super::AppState;

/// The broker's credential, from `SLIPWAY_OSB_CREDENTIALS` (`user:password`).
#[derive(Clone)]
pub struct BrokerCredential {
    user: String,
    password: String,
}

impl std::fmt::Debug for BrokerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerCredential(…)")
    }
}

impl BrokerCredential {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().split_once(':') {
            Some((u, p)) if !u.is_empty() && p.len() >= 12 => Ok(Self {
                user: u.to_owned(),
                password: p.to_owned(),
            }),
            _ => Err(
                "SLIPWAY_OSB_CREDENTIALS is user:password, the password at least 12 characters"
                    .into(),
            ),
        }
    }

    /// Whether `headers` carry this credential (compared in constant time).
    fn admits(&self, headers: &HeaderMap) -> bool {
        use base64::Engine as _;
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
        else {
            return false;
        };
        let want = format!("{}:{}", self.user, self.password);
        given.len() == want.len()
            && given
                .iter()
                .zip(want.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/osb/v2/catalog", get(catalog))
        .route(
            "/osb/v2/service_instances/{instance}",
            put(provision).delete(deprovision),
        )
        .route(
            "/osb/v2/service_instances/{instance}/last_operation",
            get(last_operation),
        )
        .route(
            "/osb/v2/service_instances/{instance}/service_bindings/{binding}",
            put(bind).delete(unbind),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64 << 10))
        .layer(axum::middleware::from_fn_with_state(state.clone(), admit))
}

/// An OSB error: a status and `{"description", "error"?}`.
struct Refusal {
    status: StatusCode,
    error: Option<&'static str>,
    description: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut body = json!({"description": self.description});
        if let Some(e) = self.error {
            body["error"] = json!(e);
        }
        (self.status, Json(body)).into_response()
    }
}

fn refuse(
    status: StatusCode,
    error: Option<&'static str>,
    description: impl Into<String>,
) -> Refusal {
    Refusal {
        status,
        error,
        description: description.into(),
    }
}

/// Off without a credential (404); 401 without it; 412 without a supported
/// `X-Broker-API-Version` (2.x from 2.13).
async fn admit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(cred) = &s.broker else {
        return (StatusCode::NOT_FOUND, "No such route.").into_response();
    };
    if !cred.admits(req.headers()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"slipway broker\"")],
        )
            .into_response();
    }
    let version = req
        .headers()
        .get("X-Broker-API-Version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once('.'))
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    if !matches!(version, Some((2, minor)) if minor >= 13) {
        return refuse(
            StatusCode::PRECONDITION_FAILED,
            None,
            "Send X-Broker-API-Version: 2.13 or later (2.x).",
        )
        .into_response();
    }
    next.run(req).await
}

/// Instance and binding ids: 1 to 255 visible characters.
fn check_id(what: &str, id: &str) -> Result<(), Refusal> {
    if !id.is_empty() && id.len() <= 255 && id.chars().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::BAD_REQUEST,
            None,
            format!("The {what} id must be 1 to 255 visible ASCII characters."),
        ))
    }
}

/// A core error as the OSB answers it; internal text never leaves.
fn from_core(e: slipway_core::Error) -> Response {
    from_core_refusal(e).into_response()
}

fn from_core_refusal(e: slipway_core::Error) -> Refusal {
    use slipway_core::Error as E;
    let status = match &e {
        E::Invalid(_) | E::BadRequest(_) => StatusCode::BAD_REQUEST,
        E::Conflict(_) => StatusCode::CONFLICT,
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let error = matches!(e, E::Refused(_)).then_some("ConcurrencyError");
    let (_, text) = e.public("broker request");
    refuse(status, error, text)
}

/// The body as JSON (400 when it is not).
fn json_body(bytes: &[u8]) -> Result<Value, Refusal> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes)
        .map_err(|_| refuse(StatusCode::BAD_REQUEST, None, "The body is not JSON."))
}

fn ids_in(body: &Value) -> Result<(String, String), Refusal> {
    match (body["service_id"].as_str(), body["plan_id"].as_str()) {
        (Some(s), Some(p)) => Ok((s.to_owned(), p.to_owned())),
        _ => Err(refuse(
            StatusCode::BAD_REQUEST,
            None,
            "service_id and plan_id are required.",
        )),
    }
}

async fn catalog(State(s): State<AppState>) -> Response {
    let services: Vec<Value> = s
        .core
        .broker_services()
        .into_iter()
        .map(|(_, svc)| {
            json!({
                "id": svc.id.to_string(),
                "name": svc.name,
                "description": svc.description,
                "bindable": true,
                "plan_updateable": false,
                "instances_retrievable": false,
                "bindings_retrievable": false,
                "tags": ["postgresql", "database"],
                "metadata": {"displayName": svc.human_name},
                "plans": svc.plans.iter().map(|p| json!({
                    "id": p.id.to_string(),
                    "name": p.key,
                    "description": p.description,
                    "free": true,
                    "bindable": true,
                    "metadata": {"displayName": p.human_name},
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "services": services })).into_response()
}

#[derive(Deserialize)]
struct Incomplete {
    accepts_incomplete: Option<bool>,
}

async fn provision(
    State(s): State<AppState>,
    Path(instance): Path<String>,
    Query(q): Query<Incomplete>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = check_id("instance", &instance) {
        return r.into_response();
    }
    if q.accepts_incomplete != Some(true) {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("AsyncRequired"),
            "This broker provisions asynchronously: send accepts_incomplete=true.",
        )
        .into_response();
    }
    let (service_id, plan_id) = match json_body(&body).and_then(|b| ids_in(&b)) {
        Ok(ids) => ids,
        Err(r) => return r.into_response(),
    };
    match s
        .core
        .broker_provision(&instance, &service_id, &plan_id)
        .await
    {
        Ok(ProvisionAnswer::Started { operation } | ProvisionAnswer::Underway { operation }) => (
            StatusCode::ACCEPTED,
            Json(json!({ "operation": operation })),
        )
            .into_response(),
        Ok(ProvisionAnswer::Exists) => (StatusCode::OK, Json(json!({}))).into_response(),
        Err(e) => from_core(e),
    }
}

async fn last_operation(State(s): State<AppState>, Path(instance): Path<String>) -> Response {
    match s.core.broker_last_operation(&instance).await {
        Ok(Some(op)) => {
            let mut body = json!({ "state": op.state });
            if !op.description.is_empty() {
                body["description"] = json!(op.description);
            }
            Json(body).into_response()
        }
        Ok(None) => {
            refuse(StatusCode::NOT_FOUND, None, "There is no such instance.").into_response()
        }
        Err(e) => from_core(e),
    }
}

async fn deprovision(State(s): State<AppState>, Path(instance): Path<String>) -> Response {
    match s.core.broker_deprovision(&instance).await {
        Ok(true) => Json(json!({})).into_response(),
        Ok(false) => (StatusCode::GONE, Json(json!({}))).into_response(),
        Err(e) => from_core(e),
    }
}

async fn bind(
    State(s): State<AppState>,
    Path((instance, binding)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = check_id("binding", &binding) {
        return r.into_response();
    }
    let (service_id, plan_id) = match json_body(&body).and_then(|b| ids_in(&b)) {
        Ok(ids) => ids,
        Err(r) => return r.into_response(),
    };
    match s
        .core
        .broker_bind(&instance, &binding, &service_id, &plan_id)
        .await
    {
        Ok(BindAnswer::Created(vars)) => {
            (StatusCode::CREATED, Json(json!({ "credentials": vars }))).into_response()
        }
        Ok(BindAnswer::Exists(vars)) => {
            (StatusCode::OK, Json(json!({ "credentials": vars }))).into_response()
        }
        Err(e) => from_core(e),
    }
}

async fn unbind(
    State(s): State<AppState>,
    Path((instance, binding)): Path<(String, String)>,
) -> Response {
    match s.core.broker_unbind(&instance, &binding).await {
        Ok(true) => Json(json!({})).into_response(),
        Ok(false) => (StatusCode::GONE, Json(json!({}))).into_response(),
        Err(e) => from_core(e),
    }
}
