//! Server functions that create, favour and delete apps, and manage the user's API tokens.

use crate::UiError;
use domain::TokenView;
use leptos::prelude::*;

/// Creates an app; answers its `name-space`.
#[server(endpoint = "create_app")]
pub async fn create_app(
    name: String,
    space: String,
    org: String,
    description: String,
) -> Result<String, UiError> {
    let (core, actor) = super::ssr::core_and_actor().await?;
    let new = slipway_core::ledger::apps::NewApp::parse(
        Some(&name),
        Some(&space),
        Some(&org),
        Some(&description),
    )
    .map_err(super::ssr::user_error)?;
    let app = core
        .create_app(&actor, new)
        .await
        .map_err(super::ssr::user_error)?;
    super::ssr::finish(&super::ssr::page(&app, ""), crate::Done::AppCreated);
    Ok(app.full_name())
}

/// Deletes an app; `confirm` must repeat its name.
#[server(endpoint = "delete_app")]
pub async fn delete_app(app: String, confirm: String) -> Result<(), UiError> {
    let (core, actor) = super::ssr::core_and_actor().await?;
    if confirm.trim() != app {
        return Err(super::ssr::invalid(format!(
            "Type the app's name, {app}, to delete it."
        )));
    }
    let (_, detached) = core
        .delete_app(&actor, &app)
        .await
        .map_err(super::ssr::user_error)?;
    let hook_left = matches!(detached, slipway_core::github::repos::Detached::HookLeft(_));
    super::ssr::finish("/ui/apps", crate::Done::AppDeleted(hook_left));
    Ok(())
}

/// Adds or removes the app from the user's favourites; answers whether it is one now.
#[server(endpoint = "set_favorite")]
pub async fn set_favorite(app: String, favorite: bool) -> Result<bool, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let r = if favorite {
        core.add_favorite(&actor, &app).await
    } else {
        core.remove_favorite(&actor, &app).await
    };
    r.map_err(super::ssr::user_error)?;
    super::ssr::finish(
        &super::ssr::back(&super::ssr::page(&app, "")),
        crate::Done::Favourite(favorite),
    );
    Ok(favorite)
}

/// The user's API tokens (never their text).
#[server(endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<TokenView>, UiError> {
    let (core, actor) = super::ssr::core_and_actor().await?;
    let tokens = core.tokens(&actor).await.map_err(super::ssr::user_error)?;
    Ok(tokens
        .into_iter()
        .map(|t| TokenView {
            id: t.id.to_string(),
            description: t.description,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        })
        .collect())
}

/// Makes a token; its text is in this answer and nowhere else, ever.
#[server(endpoint = "create_token")]
pub async fn create_token(description: String) -> Result<String, UiError> {
    let (core, actor) = super::ssr::core_and_actor().await?;
    let user = core
        .user(actor.user_id)
        .await
        .map_err(super::ssr::user_error)?
        .ok_or_else(|| UiError::new("You are signed out. Sign in again."))?;
    let (_, text) = core
        .create_token(&user, &description)
        .await
        .map_err(super::ssr::user_error)?;
    if super::ssr::plain_form() {
        // The page it goes back to shows it once (then forgets it): sealed in the session
        // meanwhile, never in an address.
        super::ssr::stash_new_token(&core, &text).await?;
        super::ssr::finish("/ui/account", crate::Done::TokenMade);
    }
    Ok(text)
}

#[server(endpoint = "revoke_token")]
pub async fn revoke_token(id: String) -> Result<(), UiError> {
    let (core, actor) = super::ssr::core_and_actor().await?;
    let id =
        uuid::Uuid::parse_str(&id).map_err(|_| super::ssr::invalid("That token was not found."))?;
    core.revoke_token(&actor, id)
        .await
        .map_err(super::ssr::user_error)?;
    super::ssr::finish("/ui/account", crate::Done::TokenRevoked);
    Ok(())
}

/// The token a plain form just made, once: the account page shows it and it is gone.
#[server(endpoint = "take_new_token")]
pub async fn take_new_token() -> Result<Option<String>, UiError> {
    let core = super::ssr::context()?.core;
    super::ssr::take_new_token(&core).await
}

/// The externally reachable base URL, for the Akkeris CLI set-up lines.
#[server(endpoint = "public_url")]
pub async fn public_url() -> Result<String, UiError> {
    super::ssr::actor().await?;
    Ok(super::ssr::context()?.public_url)
}
