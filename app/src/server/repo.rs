//! Server functions of the settings page's repository section, and of the users page.

use crate::UiError;
use domain::github::{RepoChecklist, RepoSettings};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The repository section: what is attached, and what the form may offer.
#[server(endpoint = "load_repo_settings")]
pub async fn load_repo_settings(app: String) -> Result<RepoSettings, UiError> {
    use slipway_core::access::authz::{authorize, Action};
    let (ctx, actor) = (super::ssr::context()?, super::ssr::actor().await?);
    let core = ctx.core;
    let app = core
        .app(&actor, &app)
        .await
        .map_err(super::ssr::user_error)?;
    let attached = core
        .attachment(&actor, &app)
        .await
        .map_err(super::ssr::user_error)?;
    let gh = core.github_client().map(|g| g.settings().clone());
    let me = core
        .user_github_token(actor.user_id)
        .await
        .map_err(super::ssr::user_error)?;
    let my_login = me.as_ref().map(|_| actor.login.clone());
    let my_scopes_ok = me.is_some_and(|(_, scopes)| {
        domain::github::scope_granted(&scopes, "repo")
            && domain::github::scope_granted(&scopes, "admin:repo_hook")
    });
    let service_user = gh
        .as_ref()
        .and_then(|g| g.service.as_ref().map(|s| s.0.clone()));
    Ok(RepoSettings {
        app: app.full_name(),
        attached: attached.map(|a| domain::github::RepoView {
            credential: match a.credential.as_str() {
                "service" => format!("the service account {}", a.username),
                "user" => format!("{}'s GitHub account", a.username),
                _ => format!("a personal access token of {}", a.username),
            },
            repo: a.repo,
            branch: a.branch,
            username: a.username,
            auto_deploy: a.auto_deploy,
            status_check: a.status_check,
        }),
        github_url: gh.map(|g| g.web_url).unwrap_or_default(),
        service_user,
        my_login,
        my_scopes_ok,
        can_attach: authorize(&actor, Action::RepoAttach, Some(app.id)).is_ok(),
        can_delete_app: authorize(&actor, Action::DeleteApp, Some(app.id)).is_ok(),
        auto_release_paused: app.auto_release_paused,
    })
}

#[cfg(feature = "ssr")]
fn credential(
    kind: &str,
    token: String,
) -> Result<slipway_core::github::repos::Credential, UiError> {
    use slipway_core::github::repos::Credential;
    match kind {
        "service" => Ok(Credential::Service),
        "mine" => Ok(Credential::Mine),
        "token" => Ok(Credential::Token(token)),
        _ => Err(super::ssr::invalid(
            "Choose how Slipway reaches the repository.",
        )),
    }
}

/// The live checklist: what the credential can do on the repository, before saving.
#[server(endpoint = "check_repo")]
pub async fn check_repo(
    app: String,
    repo: String,
    branch: String,
    credential: String,
    token: String,
) -> Result<RepoChecklist, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let cred = self::credential(&credential, token)?;
    core.check_repo_access(&actor, &app, &repo, Some(&branch), &cred)
        .await
        .map_err(super::ssr::user_error)
}

/// Attaches the repository (checkboxes arrive only when checked).
#[server(endpoint = "attach_repo")]
pub async fn attach_repo(
    app: String,
    repo: String,
    branch: String,
    credential: String,
    #[server(default)] token: String,
    #[server(default)] auto_deploy: Option<String>,
    #[server(default)] status_check: Option<String>,
) -> Result<(), UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let req = slipway_core::github::repos::AttachRequest {
        repo,
        branch: Some(branch),
        credential: self::credential(&credential, token)?,
        auto_deploy: auto_deploy.is_some(),
        status_check: status_check.is_some(),
    };
    core.attach_repo(&actor, &app, req)
        .await
        .map_err(super::ssr::user_error)?;
    super::ssr::finish(&super::ssr::page(&app, "/settings"), crate::Done::Attached);
    Ok(())
}

/// Detaches the repository; answers a message when its webhook must be removed by hand.
#[server(endpoint = "detach_repo")]
pub async fn detach_repo(app: String) -> Result<Option<String>, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let left = match core
        .detach_repo(&actor, &app)
        .await
        .map_err(super::ssr::user_error)?
    {
        slipway_core::github::repos::Detached::Clean => None,
        slipway_core::github::repos::Detached::HookLeft(m) => Some(m),
    };
    super::ssr::finish(
        &super::ssr::page(&app, "/settings"),
        crate::Done::Detached(left.is_some()),
    );
    Ok(left)
}

/// Builds the head of the attached branch; answers the build's id.
#[server(endpoint = "build_repo_now")]
pub async fn build_repo_now(app: String) -> Result<String, UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    let b = core
        .trigger_repo_build(&actor, &app)
        .await
        .map_err(super::ssr::user_error)?;
    super::ssr::redirect_form(&super::ssr::page(&app, &format!("/builds/{}", b.id)));
    Ok(b.id.to_string())
}

/// Turns the status-check switch of the attachment on or off.
#[server(endpoint = "set_status_check")]
pub async fn set_status_check(app: String, on: bool) -> Result<(), UiError> {
    let (core, actor, app) = super::ssr::app_for(&app).await?;
    core.set_status_check(&actor, &app, on)
        .await
        .map_err(super::ssr::user_error)?;
    super::ssr::finish(
        &super::ssr::page(&app, "/settings"),
        crate::Done::StatusChecks(on),
    );
    Ok(())
}

/// A user as the users page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub login: String,
    pub provider: String,
    pub role: domain::Role,
    pub me: bool,
}

/// Every user (admins).
#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, UiError> {
    let (core, actor) = super::ssr::core_and_actor().await?;
    let users = core.users(&actor).await.map_err(super::ssr::user_error)?;
    Ok(users
        .into_iter()
        .map(|u| UserRow {
            id: u.id.to_string(),
            me: u.id == actor.user_id,
            role: u.role,
            login: u.login,
            provider: u.provider,
        })
        .collect())
}

/// Changes a user's role (admins).
#[server(endpoint = "set_user_role")]
pub async fn set_user_role(user: String, role: String) -> Result<String, UiError> {
    let (core, actor) = super::ssr::core_and_actor().await?;
    let id = uuid::Uuid::parse_str(&user).map_err(|_| super::ssr::invalid("No such user."))?;
    let role: domain::Role = role
        .parse()
        .map_err(|_| super::ssr::invalid("The role must be viewer, deployer or admin."))?;
    let user = core
        .set_role(&actor, id, role)
        .await
        .map_err(super::ssr::user_error)?;
    let article = if role == domain::Role::Admin {
        "an"
    } else {
        "a"
    };
    super::ssr::finish("/ui/users", crate::Done::RoleSet);
    Ok(format!("{} is now {article} {role}.", user.login))
}
