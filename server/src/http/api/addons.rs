//! Add-ons, shaped like Akkeris' controller-api (`lib/addons.js`, `lib/addon-attachments.js`,
//! `lib/addon-services.js`) so `aka addons…` works unchanged. Each change is a release; the
//! rules are the core's.

use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{json, Value};
use slipway_core::access::authz::Actor;
use slipway_core::addons::{Addon, AttachmentOf, Plan, Service};
use slipway_core::ledger::apps::App;

use super::error::{ApiError, ApiResult, Body};
use super::shapes::ts;
use super::{created, given, ok, AppOf};
use crate::http::auth::ApiActor;
use crate::http::AppState;

/// The catalog has no dates of its own; Akkeris shows this one for its built-in services.
const CATALOG_DATE: &str = "2016-08-09T12:00:00.000Z";

fn price() -> Value {
    json!({"cents": 0, "unit": "month", "contract": false})
}

fn plan_json(s: &Service, p: &Plan) -> Value {
    json!({
        "addon_service": {"id": s.id, "name": s.name},
        "created_at": CATALOG_DATE,
        "default": false,
        "description": p.description,
        "human_name": p.human_name,
        "id": p.id,
        "installable_inside_private_network": true,
        "installable_outside_private_network": true,
        "name": p.name,
        "key": p.key,
        "price": price(),
        "available_regions": ["local"],
        "compliance": [],
        "space_default": false,
        "state": "public",
        "updated_at": CATALOG_DATE,
        "attributes": p.attributes,
    })
}

fn service_json(s: &Service) -> Value {
    json!({
        "actions": [],
        "available_regions": ["local"],
        "cli_plugin_name": "",
        "created_at": CATALOG_DATE,
        "description": s.description,
        "human_name": s.human_name,
        "id": s.id,
        "image_url": null,
        "name": s.name,
        "state": "ga",
        "supports_multiple_installations": true,
        "supports_upgrading": false,
        "supports_sharing": true,
        "updated_at": CATALOG_DATE,
        "plans": s.plans.iter().map(|p| plan_json(s, p)).collect::<Vec<_>>(),
    })
}

pub(super) async fn list_services(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult {
    let all = s.core.addon_services(&actor)?;
    ok(all.iter().map(service_json).collect::<Vec<_>>())
}

pub(super) async fn get_service(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(service): Path<String>,
) -> ApiResult {
    ok(service_json(&s.core.addon_service(&actor, &service)?))
}

pub(super) async fn list_plans(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(service): Path<String>,
) -> ApiResult {
    let svc = s.core.addon_service(&actor, &service)?;
    ok(svc
        .plans
        .iter()
        .map(|p| plan_json(&svc, p))
        .collect::<Vec<_>>())
}

pub(super) async fn get_plan(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((service, plan)): Path<(String, String)>,
) -> ApiResult {
    let svc = s.core.addon_service(&actor, &service)?;
    let p = s.core.addon_plan(&actor, &service, &plan)?;
    let mut v = plan_json(&svc, &p);
    v["provisioned_by"] = json!([]);
    ok(v)
}

/// The add-on object, as `app` sees it (its attachment's primary flag and var names).
async fn addon_json(
    s: &AppState,
    actor: &Actor,
    app: &App,
    addon: &Addon,
    attached_to: bool,
) -> Result<Value, ApiError> {
    let on = s.core.addon_on_app(actor, app, addon.clone()).await?;
    let primary = on
        .here()
        .or_else(|| on.attachments.iter().find(|t| t.owner))
        .is_some_and(|t| t.is_primary);
    let service_id = service_id(s, actor, addon);
    let plan_id = plan_id(s, actor, addon);
    let owner = addon.owner_full_name();
    let mut v = json!({
        "actions": [],
        "addon_service": {"id": service_id, "name": addon.service},
        "app": {"id": addon.app_id, "name": owner},
        "billed_price": price(),
        "config_vars": on.vars,
        "created_at": ts(addon.created_at),
        "id": addon.id,
        "name": addon.name,
        "plan": {"id": plan_id, "name": addon.plan},
        "primary": primary,
        "provider_id": addon.provider,
        "state": addon.state,
        "state_description": addon.state_description,
        "updated_at": ts(addon.updated_at),
        "web_url": s.public.url(&format!("/ui/apps/{owner}/addons")),
    });
    if attached_to {
        v["attached_to"] = on
            .attachments
            .iter()
            .map(|t| json!({"id": t.app_id, "name": t.app_full_name(), "owner": t.owner}))
            .collect();
    }
    Ok(v)
}

/// A plan's id for the JSON: the catalog's, or (a plan no longer offered) one derived from
/// its name. Never null: the Akkeris CLI's printer fails on null.
fn plan_id(s: &AppState, actor: &Actor, d: &Addon) -> uuid::Uuid {
    s.core
        .addon_plan(actor, &d.service, &d.plan)
        .map(|p| p.id)
        .unwrap_or_else(|_| slipway_core::addons::stable_id(&d.plan))
}

fn service_id(s: &AppState, actor: &Actor, d: &Addon) -> uuid::Uuid {
    s.core
        .addon_service(actor, &d.service)
        .map(|x| x.id)
        .unwrap_or_else(|_| slipway_core::addons::stable_id(&d.service))
}

fn attachment_json(s: &AppState, actor: &Actor, a: &AttachmentOf) -> Value {
    let (t, d) = (&a.attachment, &a.addon);
    json!({
        "addon": {
            "id": d.id,
            "name": d.name,
            "app": {"id": d.app_id, "name": d.owner_full_name()},
            "plan": {"id": plan_id(s, actor, d), "name": d.plan},
        },
        "app": {"id": t.app_id, "name": t.app_full_name()},
        "created_at": ts(t.created_at),
        "id": t.id,
        "name": t.name,
        "primary": t.is_primary,
        "updated_at": ts(t.updated_at),
        "web_url": "",
    })
}

pub(super) async fn list_addons(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
) -> ApiResult {
    let mut out = Vec::new();
    for addon in s.core.addons(&actor, &app).await? {
        out.push(addon_json(&s, &actor, &app, &addon, false).await?);
    }
    ok(out)
}

pub(super) async fn get_addon(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, addon)): Path<(String, String)>,
) -> ApiResult {
    let addon = s.core.addon(&actor, &app, &addon).await?;
    ok(addon_json(&s, &actor, &app, &addon, true).await?)
}

#[derive(Deserialize)]
pub(super) struct NewAttachment {
    name: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct NewAddon {
    plan: Option<String>,
    attachment: Option<NewAttachment>,
}

pub(super) async fn create_addon(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Body(body): Body<NewAddon>,
) -> ApiResult {
    let plan = given(body.plan).ok_or_else(|| ApiError::invalid("A plan was not provided."))?;
    let name = given(body.attachment.and_then(|a| a.name));
    let made = s
        .core
        .create_addon(&actor, &app, &plan, name.as_deref())
        .await?;
    created(addon_json(&s, &actor, &app, &made.value, false).await?)
}

/// Renaming and promoting (`aka addons:promote`) are not offered yet: refused with the reason.
pub(super) async fn patch_addon(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, addon)): Path<(String, String)>,
    Body(body): Body<Value>,
) -> ApiResult {
    let addon = s.core.addon(&actor, &app, &addon).await?;
    if body.as_object().is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::invalid(
            "Add-ons cannot be renamed, promoted or moved to another plan here: detach the add-on and attach it again under another name.",
        ));
    }
    ok(addon_json(&s, &actor, &app, &addon, true).await?)
}

pub(super) async fn destroy_addon(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, addon)): Path<(String, String)>,
) -> ApiResult {
    let gone = s.core.destroy_addon(&actor, &app, &addon).await?;
    let a = &gone.value;
    let owner = a.owner_full_name();
    ok(json!({
        "actions": [],
        "addon_service": {"id": service_id(&s, &actor, a), "name": a.service},
        "app": {"id": a.app_id, "name": owner},
        "billed_price": price(),
        "config_vars": {},
        "created_at": ts(a.created_at),
        "id": a.id,
        "name": a.name,
        "plan": {"id": plan_id(&s, &actor, a), "name": a.plan},
        "primary": false,
        "provider_id": a.provider,
        "state": "deprovisioned",
        "state_description": "",
        "updated_at": ts(a.updated_at),
        "web_url": s.public.url(&format!("/ui/apps/{owner}/addons")),
    }))
}

pub(super) async fn list_attachments(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
) -> ApiResult {
    let all = s.core.addon_attachments(&actor, &app).await?;
    ok(all
        .iter()
        .map(|a| attachment_json(&s, &actor, a))
        .collect::<Vec<_>>())
}

pub(super) async fn get_attachment(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult {
    ok(attachment_json(
        &s,
        &actor,
        &s.core.addon_attachment(&actor, &app, &id).await?,
    ))
}

#[derive(Deserialize)]
pub(super) struct Attach {
    app: Option<String>,
    addon: Option<String>,
    name: Option<String>,
}

async fn attach_to(s: &AppState, actor: &Actor, app: &App, body: Attach) -> ApiResult {
    let addon = given(body.addon)
        .ok_or_else(|| ApiError::invalid("Give the \"addon\" to attach (its id)."))?;
    let name = given(body.name);
    let made = s
        .core
        .attach_addon(actor, app, &addon, name.as_deref())
        .await?;
    created(attachment_json(s, actor, &made.value))
}

/// `POST /apps/{app}/addon-attachments`: the body's `app` (the Akkeris CLI sends the app's
/// id) must be the path's app when given.
pub(super) async fn attach(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Body(body): Body<Attach>,
) -> ApiResult {
    if let Some(other) = given(body.app.clone()) {
        if other != app.id.to_string() && other != app.full_name() {
            return Err(ApiError::invalid(format!(
                "The body names the app \"{}\", the path {}.",
                other.chars().take(80).collect::<String>().escape_debug(),
                app.full_name()
            )));
        }
    }
    attach_to(&s, &actor, &app, body).await
}

/// `POST /addon-attachments`: the app is the body's.
pub(super) async fn attach_global(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Body(body): Body<Attach>,
) -> ApiResult {
    let key = given(body.app.clone())
        .ok_or_else(|| ApiError::invalid("Give the \"app\" to attach the add-on to."))?;
    let app = s.core.app(&actor, &key).await?;
    attach_to(&s, &actor, &app, body).await
}

pub(super) async fn detach(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult {
    let gone = s.core.detach_addon(&actor, &app, &id).await?;
    ok(attachment_json(&s, &actor, &gone.value))
}

pub(super) async fn get_attachment_global(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult {
    let app = s.core.attachment_app(&actor, &id).await?;
    ok(attachment_json(
        &s,
        &actor,
        &s.core.addon_attachment(&actor, &app, &id).await?,
    ))
}

pub(super) async fn detach_global(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult {
    let app = s.core.attachment_app(&actor, &id).await?;
    let gone = s.core.detach_addon(&actor, &app, &id).await?;
    ok(attachment_json(&s, &actor, &gone.value))
}
