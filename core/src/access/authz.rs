//! The authorisation seam: every API route, server function and websocket asks `authorize`.

use domain::Role;
use uuid::Uuid;

use crate::{Error, Result};

/// Who is acting: a signed-in user, or a token acting with its owner's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    pub login: String,
    pub role: Role,
}

/// What an actor wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ListApps,
    ReadApp,
    /// Config keys, with values shown as `***`.
    ReadConfigKeys,
    ManageFavorites,
    ManageOwnTokens,
    CreateApp,
    Build,
    Release,
    Rollback,
    SetConfig,
    RevealConfig,
    SetFeature,
    RepoAttach,
    /// Create, attach, detach and destroy add-ons (each a release).
    ManageAddons,
    DeleteApp,
    ManageUsers,
}

impl Action {
    /// The least role that may take this action (DESIGN §3).
    pub fn least_role(self) -> Role {
        use Action::*;
        match self {
            ListApps | ReadApp | ReadConfigKeys | ManageFavorites | ManageOwnTokens => Role::Viewer,
            CreateApp | Build | Release | Rollback | SetConfig | RevealConfig | SetFeature
            | RepoAttach | ManageAddons => Role::Deployer,
            DeleteApp | ManageUsers => Role::Admin,
        }
    }

    fn describe(self) -> &'static str {
        use Action::*;
        match self {
            ListApps | ReadApp | ReadConfigKeys => "read apps",
            ManageFavorites => "change favourites",
            ManageOwnTokens => "manage API tokens",
            CreateApp => "create apps",
            Build => "start builds",
            Release => "create releases",
            Rollback => "roll back",
            SetConfig => "change config vars",
            RevealConfig => "reveal config values",
            SetFeature => "change features",
            RepoAttach => "attach repositories",
            ManageAddons => "change add-ons",
            DeleteApp => "delete apps",
            ManageUsers => "manage users",
        }
    }
}

/// Allows `action` on `app` (any app when `None`) for `actor`, or says why not. Roles are
/// global today; the app is passed so per-app rules can be added here and nowhere else.
pub fn authorize(actor: &Actor, action: Action, _app: Option<Uuid>) -> Result<()> {
    let least = action.least_role();
    if actor.role.includes(least) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "Your role ({}) cannot {}; it needs the {} role.",
            actor.role,
            action.describe(),
            least
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Action; 16] = [
        Action::ListApps,
        Action::ReadApp,
        Action::ReadConfigKeys,
        Action::ManageFavorites,
        Action::ManageOwnTokens,
        Action::CreateApp,
        Action::Build,
        Action::Release,
        Action::Rollback,
        Action::SetConfig,
        Action::RevealConfig,
        Action::SetFeature,
        Action::RepoAttach,
        Action::ManageAddons,
        Action::DeleteApp,
        Action::ManageUsers,
    ];

    fn actor(role: Role) -> Actor {
        Actor {
            user_id: Uuid::nil(),
            login: "u".into(),
            role,
        }
    }

    fn allowed(role: Role) -> Vec<Action> {
        ALL.into_iter()
            .filter(|a| authorize(&actor(role), *a, None).is_ok())
            .collect()
    }

    #[test]
    fn viewers_read_and_keep_their_own_favourites_and_tokens() {
        use Action::*;
        assert_eq!(
            allowed(Role::Viewer),
            vec![
                ListApps,
                ReadApp,
                ReadConfigKeys,
                ManageFavorites,
                ManageOwnTokens
            ]
        );
    }

    #[test]
    fn deployers_also_change_apps_but_cannot_delete_or_manage_users() {
        use Action::*;
        let a = allowed(Role::Deployer);
        for act in [
            CreateApp,
            Build,
            Release,
            Rollback,
            SetConfig,
            RevealConfig,
            SetFeature,
            RepoAttach,
            ManageAddons,
        ] {
            assert!(a.contains(&act), "{act:?}");
        }
        assert!(!a.contains(&DeleteApp));
        assert!(!a.contains(&ManageUsers));
    }

    #[test]
    fn admins_may_do_everything() {
        assert_eq!(allowed(Role::Admin), ALL.to_vec());
    }

    #[test]
    fn a_refusal_names_the_role_needed() {
        let e = authorize(&actor(Role::Viewer), Action::Rollback, None).unwrap_err();
        assert!(
            matches!(&e, Error::Forbidden(m) if m.contains("deployer")),
            "{e}"
        );
    }
}
