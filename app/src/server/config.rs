//! Server functions of the config page and the deploy form.

use crate::UiError;
use domain::ConfigPage;
use leptos::prelude::*;

/// The app's config keys; values are never sent with them.
#[server(endpoint = "config_keys")]
pub async fn config_keys(app: String) -> Result<ConfigPage, UiError> {
    use slipway_core::access::authz::{authorize, Action};
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let keys = core
        .config_vars(&actor, &app)
        .await
        .map_err(super::ssr::user_error)?
        .into_keys()
        .collect();
    Ok(ConfigPage {
        app: app.full_name(),
        keys,
        can_edit: authorize(&actor, Action::SetConfig, Some(app.id)).is_ok(),
        can_reveal: authorize(&actor, Action::RevealConfig, Some(app.id)).is_ok(),
    })
}

/// One current value, for "Reveal".
#[server(endpoint = "reveal_config")]
pub async fn reveal_config(app: String, key: String) -> Result<String, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let key = domain::ConfigKey::parse(&key).map_err(|e| super::ssr::invalid(e.to_string()))?;
    core.reveal_config_var(&actor, &app, &key)
        .await
        .map_err(super::ssr::user_error)
}

/// Sets one config var; answers the version of the release it made, if it changed anything.
#[server(endpoint = "set_config")]
pub async fn set_config(app: String, key: String, value: String) -> Result<Option<i32>, UiError> {
    change_config(&app, key, Some(value), crate::Done::Saved).await
}

/// Removes one config var; answers the version of the release it made.
#[server(endpoint = "unset_config")]
pub async fn unset_config(app: String, key: String) -> Result<Option<i32>, UiError> {
    change_config(&app, key, None, crate::Done::Removed).await
}

#[cfg(feature = "ssr")]
async fn change_config(
    app: &str,
    key: String,
    value: Option<String>,
    done: fn(Option<i32>) -> crate::Done,
) -> Result<Option<i32>, UiError> {
    let (core, actor, app) = super::ssr::app_for(app).await?;
    let key =
        domain::ConfigKey::parse(key.trim()).map_err(|e| super::ssr::invalid(e.to_string()))?;
    let outcome = core
        .patch_config(&actor, &app, vec![(key, value)])
        .await
        .map_err(super::ssr::user_error)?;
    let version = outcome.release.map(|r| r.version);
    super::ssr::finish(&super::ssr::page(&app, "/config"), done(version));
    Ok(version)
}

/// Records a `docker://` build of `image` and deploys it (unless auto-release already did);
/// answers the new release's version.
#[server(endpoint = "deploy_image")]
pub async fn deploy_image(app: String, image: String) -> Result<i32, UiError> {
    use slipway_core::builds::BuildRequest;
    use slipway_core::ledger::releases::SlugRef;
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let image = image.trim();
    let url = if image.starts_with("docker://") {
        image.to_owned()
    } else {
        format!("docker://{image}")
    };
    let build = core
        .create_build(
            &actor,
            &app,
            BuildRequest {
                url,
                ..Default::default()
            },
        )
        .await
        .map_err(super::ssr::user_error)?;
    if let Some(release) = build.release_id {
        let r = core
            .release(
                &actor,
                &app,
                slipway_core::ledger::releases::ReleaseRef::Id(release),
            )
            .await
            .map_err(super::ssr::user_error)?;
        return Ok(deploying(&app, r.version));
    }
    let r = core
        .deploy(&actor, &app, SlugRef::Build(build.id), None)
        .await
        .map_err(super::ssr::user_error)?;
    Ok(deploying(&app, r.version))
}

#[cfg(feature = "ssr")]
fn deploying(app: &slipway_core::ledger::apps::App, version: i32) -> i32 {
    super::ssr::finish(&super::ssr::page(app, ""), crate::Done::Deploying(version));
    version
}
