//! Server functions that create, favour and delete apps, and manage the user's API tokens.

use domain::TokenView;
use leptos::prelude::*;

/// Creates an app; answers its `name-space`.
#[server(endpoint = "create_app")]
pub async fn create_app(
    name: String,
    space: String,
    org: String,
    description: String,
) -> Result<String, ServerFnError> {
    use domain::{AppName, SimpleName};
    let (core, actor) = (super::ssr::context()?.core, super::ssr::actor().await?);
    let invalid = |e: domain::NameError| super::ssr::invalid(e.to_string());
    let name = SimpleName::parse("app", name.trim()).map_err(invalid)?;
    let space = SimpleName::parse("space", space.trim()).map_err(invalid)?;
    let org = if org.trim().is_empty() {
        "default".to_owned()
    } else {
        org.trim().to_owned()
    };
    let org = SimpleName::parse("org", &org).map_err(invalid)?;
    let name = AppName::new(name, space).map_err(invalid)?;
    let description = Some(description).filter(|d| !d.trim().is_empty());
    let new = slipway_core::apps::NewApp {
        name,
        org,
        description,
    };
    let app = core
        .create_app(&actor, new)
        .await
        .map_err(super::ssr::user_error)?;
    Ok(app.full_name())
}

/// Deletes an app; `confirm` must repeat its name.
#[server(endpoint = "delete_app")]
pub async fn delete_app(app: String, confirm: String) -> Result<(), ServerFnError> {
    let (core, actor) = (super::ssr::context()?.core, super::ssr::actor().await?);
    if confirm.trim() != app {
        return Err(super::ssr::invalid(format!(
            "Type the app's name, {app}, to delete it."
        )));
    }
    core.delete_app(&actor, &app)
        .await
        .map_err(super::ssr::user_error)?;
    Ok(())
}

/// Adds or removes the app from the user's favourites; answers whether it is one now.
#[server(endpoint = "set_favorite")]
pub async fn set_favorite(app: String, favorite: bool) -> Result<bool, ServerFnError> {
    let (core, actor) = (super::ssr::context()?.core, super::ssr::actor().await?);
    let app = core
        .app(&actor, &app)
        .await
        .map_err(super::ssr::user_error)?;
    let r = if favorite {
        core.add_favorite(&actor, &app).await
    } else {
        core.remove_favorite(&actor, &app).await
    };
    r.map_err(super::ssr::user_error)?;
    Ok(favorite)
}

/// The user's API tokens (never their text).
#[server(endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<TokenView>, ServerFnError> {
    let (core, actor) = (super::ssr::context()?.core, super::ssr::actor().await?);
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
pub async fn create_token(description: String) -> Result<String, ServerFnError> {
    let (core, actor) = (super::ssr::context()?.core, super::ssr::actor().await?);
    let user = core
        .user(actor.user_id)
        .await
        .map_err(super::ssr::user_error)?
        .ok_or_else(|| ServerFnError::new("You are signed out. Sign in again."))?;
    let (_, text) = core
        .create_token(&user, &description)
        .await
        .map_err(super::ssr::user_error)?;
    Ok(text)
}

#[server(endpoint = "revoke_token")]
pub async fn revoke_token(id: String) -> Result<(), ServerFnError> {
    let (core, actor) = (super::ssr::context()?.core, super::ssr::actor().await?);
    let id =
        uuid::Uuid::parse_str(&id).map_err(|_| super::ssr::invalid("That token was not found."))?;
    core.revoke_token(&actor, id)
        .await
        .map_err(super::ssr::user_error)
}

/// The externally reachable base URL, for the Akkeris CLI set-up lines.
#[server(endpoint = "public_url")]
pub async fn public_url() -> Result<String, ServerFnError> {
    super::ssr::actor().await?;
    Ok(super::ssr::context()?.public_url)
}

/// The signed-in user's role, so pages can hide what it cannot do (the server checks anyway).
#[server(endpoint = "my_role")]
pub async fn my_role() -> Result<domain::Role, ServerFnError> {
    Ok(super::ssr::actor().await?.role)
}
