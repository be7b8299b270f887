//! Server functions of the add-ons page. Each change is a release; the page it returns to
//! says which.

use crate::UiError;
use domain::AddonsPage;
use leptos::prelude::*;

/// What is attached to the app, and what could be added or attached.
#[server(endpoint = "addon_list")]
pub async fn addon_list(app: String) -> Result<AddonsPage, UiError> {
    use domain::{AddonView, AttachableView, PlanView, ServiceView};
    use slipway_core::access::authz::{authorize, Action};
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let e = super::ssr::user_error;
    let mut attached = Vec::new();
    let owned = core.addons(&actor, &app).await.map_err(e)?;
    let from_others = core.addon_attachments(&actor, &app).await.map_err(e)?;
    let all = owned
        .into_iter()
        .map(|a| (a, true))
        .chain(from_others.into_iter().map(|t| (t.addon, false)));
    for (addon, owned) in all {
        let on = core.addon_on_app(&actor, &app, addon).await.map_err(e)?;
        let here = on.here();
        let a = &on.addon;
        attached.push(AddonView {
            id: a.id.to_string(),
            name: a.name.clone(),
            attachment_id: here.map(|t| t.id.to_string()),
            attachment_name: here.map(|t| t.name.clone()),
            plan: a.plan.clone(),
            state: a.state.clone(),
            state_description: a.state_description.clone(),
            owned,
            owner_app: a.owner_full_name(),
            primary: here.is_some_and(|t| t.is_primary),
            vars: on.vars.keys().cloned().collect(),
            shared_with: on.shared_with(),
        });
    }
    let services = core
        .addon_services(&actor)
        .map_err(e)?
        .into_iter()
        .map(|s| ServiceView {
            name: s.name,
            human_name: s.human_name,
            description: s.description,
            plans: s
                .plans
                .into_iter()
                .map(|p| PlanView {
                    name: p.name,
                    human_name: p.human_name,
                    description: p.description,
                })
                .collect(),
        })
        .collect();
    let attachable = core
        .attachable_addons(&actor, &app)
        .await
        .map_err(e)?
        .into_iter()
        .map(|a| AttachableView {
            id: a.id.to_string(),
            owner_app: a.owner_full_name(),
            name: a.name,
            plan: a.plan,
        })
        .collect();
    Ok(AddonsPage {
        app: app.full_name(),
        attached,
        services,
        attachable,
        can_edit: authorize(&actor, Action::ManageAddons, Some(app.id)).is_ok(),
        can_reveal: authorize(&actor, Action::RevealConfig, Some(app.id)).is_ok(),
    })
}

/// Provisions an add-on of `plan` and attaches it (`name` blank: a fresh name); answers the
/// version of its `Attach` release.
#[server(endpoint = "create_addon")]
pub async fn create_addon(app: String, plan: String, name: String) -> Result<i32, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let name = Some(name.trim()).filter(|n| !n.is_empty());
    let made = core
        .create_addon(&actor, &app, plan.trim(), name)
        .await
        .map_err(super::ssr::user_error)?;
    if made.release.is_none() {
        // A broker provisions it in the background; the release comes later.
        super::ssr::finish(
            &super::ssr::page(&app, "/addons"),
            crate::Done::AddonProvisioning,
        );
        return Ok(0);
    }
    finish(
        &app,
        made.release.map(|r| r.version),
        crate::Done::AddonAttached,
    )
}

/// Attaches another app's add-on (its id) under `name` (blank: the add-on's own).
#[server(endpoint = "attach_addon")]
pub async fn attach_addon(app: String, addon: String, name: String) -> Result<i32, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let name = Some(name.trim()).filter(|n| !n.is_empty());
    let made = core
        .attach_addon(&actor, &app, addon.trim(), name)
        .await
        .map_err(super::ssr::user_error)?;
    finish(
        &app,
        made.release.map(|r| r.version),
        crate::Done::AddonAttached,
    )
}

/// Detaches an attachment of another app's add-on; `confirm` must repeat its name.
#[server(endpoint = "detach_addon")]
pub async fn detach_addon(
    app: String,
    attachment: String,
    confirm: String,
) -> Result<i32, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let found = core
        .addon_attachment(&actor, &app, attachment.trim())
        .await
        .map_err(super::ssr::user_error)?;
    let name = &found.attachment.name;
    if confirm.trim() != name {
        return Err(super::ssr::invalid(format!(
            "Type the attachment's name, {name}, to detach it."
        )));
    }
    let gone = core
        .detach_addon(&actor, &app, &found.attachment.id.to_string())
        .await
        .map_err(super::ssr::user_error)?;
    finish(
        &app,
        gone.release.map(|r| r.version),
        crate::Done::AddonDetached,
    )
}

/// Destroys an add-on the app owns; `confirm` must repeat its name.
#[server(endpoint = "destroy_addon")]
pub async fn destroy_addon(app: String, addon: String, confirm: String) -> Result<i32, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let found = core
        .addon(&actor, &app, addon.trim())
        .await
        .map_err(super::ssr::user_error)?;
    if confirm.trim() != found.name {
        return Err(super::ssr::invalid(format!(
            "Type the add-on's name, {}, to destroy it.",
            found.name
        )));
    }
    let gone = core
        .destroy_addon(&actor, &app, &found.id.to_string())
        .await
        .map_err(super::ssr::user_error)?;
    finish(
        &app,
        gone.release.map(|r| r.version),
        crate::Done::AddonDestroyed,
    )
}

/// Sends a plain form back to the add-ons page with what it did; answers the release's
/// version (0 when none was made: an add-on that never became provisioned).
#[cfg(feature = "ssr")]
fn finish(
    app: &slipway_core::ledger::apps::App,
    version: Option<i32>,
    done: fn(Option<i32>) -> crate::Done,
) -> Result<i32, UiError> {
    super::ssr::finish(&super::ssr::page(app, "/addons"), done(version));
    Ok(version.unwrap_or(0))
}
