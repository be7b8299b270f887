//! Users: keyed by provider and the provider's id, with a role.

use chrono::{DateTime, Utc};
use domain::Role;
use uuid::Uuid;

use crate::access::authz::{authorize, Action, Actor};
use crate::access::remembered::Ticket;
use crate::{Core, Error, Result};

/// The provider of users made without OAuth (the local admin, `token create`).
pub const LOCAL: &str = "local";
/// The provider of users who sign in with GitHub.
pub const GITHUB: &str = "github";

/// Who signed in with GitHub, as GitHub said.
#[derive(Clone)]
pub struct GitHubSignIn {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The OAuth token GitHub gave (kept sealed for "use my GitHub account").
    pub token: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub provider: String,
    pub provider_id: String,
    pub login: String,
    pub email: Option<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// GitHub no longer lists them among who may sign in: their sessions and tokens do not
    /// work until a sign-in finds them allowed again.
    pub disabled: bool,
}

/// The columns of a [`User`], for `select … from users`.
/// Whether users of the `local` provider may act: not once GitHub sign-in is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalUsers {
    Allowed,
    Refused,
}

impl LocalUsers {
    pub fn with_github_sign_in(github: bool) -> Self {
        if github {
            LocalUsers::Refused
        } else {
            LocalUsers::Allowed
        }
    }
}

/// The session key that holds the signed-in user's id: written at sign-in by the server,
/// read by it and by the UI's server functions.
pub const SESSION_USER_ID: &str = "user_id";

/// Dynamic SQL (not `query_as!`): the user's columns, shared by every statement that answers a user; `query_as!` takes only a literal, so
/// each reader would repeat the list. A view would let them be checked; not done yet.
pub(crate) const USER_COLUMNS: &str =
    "id, provider, provider_id, login, email, role, created_at, disabled_at is not null as disabled";

/// Never the token itself.
impl std::fmt::Debug for GitHubSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubSignIn")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl User {
    /// The actor this user acts as; a disabled user is `Forbidden`.
    /// The actor this user acts as, or `None` for a local user when `local` refuses them
    /// (local users may act only while GitHub sign-in is not configured). An error when
    /// their access ended.
    pub fn actor_if(&self, local: LocalUsers) -> Result<Option<Actor>> {
        if local == LocalUsers::Refused && self.provider == LOCAL {
            return Ok(None);
        }
        self.actor().map(Some)
    }

    pub fn actor(&self) -> Result<Actor> {
        if self.disabled {
            return Err(Error::Forbidden(
                "Your access ended: you are no longer among who may sign in.".into(),
            ));
        }
        Ok(Actor {
            user_id: self.id,
            login: self.login.clone(),
            role: self.role,
        })
    }
}

impl Core {
    /// The local admin-role user of `login`, made on first use.
    pub async fn local_admin(&self, login: &str) -> Result<User> {
        Ok(sqlx::query_as(&format!(
            "insert into users (id, provider, provider_id, login, role) values ($1, 'local', $2, $2, 'admin')
             on conflict (provider, provider_id) do update set login = excluded.login
             returning {USER_COLUMNS}"
        ))
        .bind(Uuid::new_v4())
        .bind(login)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<User>> {
        Ok(
            sqlx::query_as(&format!("select {USER_COLUMNS} from users where id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// A user by login within a provider.
    pub async fn user_by_login(&self, provider: &str, login: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as(&format!(
            "select {USER_COLUMNS} from users
             where provider = $1 and lower(login) = lower($2) order by created_at limit 1"
        ))
        .bind(provider)
        .bind(login)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a GitHub sign-in (GitHub said they may sign in): the user (keyed by GitHub's
    /// numeric id, so a renamed login stays the same user) with `new_role` when new, or
    /// `admin` when listed in `SLIPWAY_ADMINS`. An admin only because the list named them, and
    /// no longer on it, falls back to `new_role`. Their access works again (checked now), and
    /// their token and scopes replace the previous ones.
    pub async fn github_sign_in(
        &self,
        who: &GitHubSignIn,
        new_role: Role,
        admin: bool,
    ) -> Result<User> {
        let id = Uuid::new_v4();
        let role = if admin { Role::Admin } else { new_role };
        let user: User = sqlx::query_as(&format!(
            "insert into users (id, provider, provider_id, login, name, email, role, admin_from_list, checked_at)
             values ($1, 'github', $2, $3, $4, $5, $6, $7, now())
             on conflict (provider, provider_id) do update
                set login = excluded.login, name = excluded.name,
                    email = coalesce(excluded.email, users.email),
                    role = case when $7 then 'admin'
                                when users.admin_from_list then $8
                                else users.role end,
                    admin_from_list = $7,
                    checked_at = now(), disabled_at = null
             returning {USER_COLUMNS}"
        ))
        .bind(id)
        .bind(who.id.to_string())
        .bind(&who.login)
        .bind(&who.name)
        .bind(&who.email)
        .bind(role.as_str())
        .bind(admin)
        .bind(new_role.as_str())
        .fetch_one(&self.pool)
        .await?;
        sqlx::query!(
            "update users set github_token_enc = $2, github_scopes = $3 where id = $1",
            user.id,
            self.key
                .seal(&format!("user-token:{}", user.id), who.token.as_bytes()),
            who.scopes.join(" ")
        )
        .execute(&self.pool)
        .await?;
        // Their role may have changed (an admin no longer listed): no session or token of
        // theirs goes on acting as what this process remembered.
        self.remembered.forget_all();
        Ok(user)
    }

    /// The user's own GitHub token and its scopes, from their last sign-in.
    pub async fn user_github_token(&self, user_id: Uuid) -> Result<Option<(String, Vec<String>)>> {
        let row = sqlx::query!(
            "select github_token_enc, github_scopes from users where id = $1",
            user_id
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|r| (r.github_token_enc, r.github_scopes));
        let Some((Some(sealed), scopes)) = row else {
            return Ok(None);
        };
        let token = self.key.open(&format!("user-token:{user_id}"), &sealed)?;
        let token = String::from_utf8(token).map_err(anyhow::Error::from)?;
        Ok(Some((
            token,
            domain::github::split_scopes(scopes.as_deref().unwrap_or("")),
        )))
    }

    /// Every user, for admins.
    pub async fn users(&self, actor: &Actor) -> Result<Vec<User>> {
        authorize(actor, Action::ManageUsers, None)?;
        Ok(sqlx::query_as(&format!(
            "select {USER_COLUMNS} from users order by lower(login), created_at"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The actor a session was found to be within the last moments (see `remembered`), or
    /// the ticket to remember it by once it is looked up.
    pub fn remembered_session(&self, session_id: &str) -> std::result::Result<Actor, Ticket> {
        self.remembered.get(&session_key(session_id))
    }

    pub fn remember_session(&self, session_id: &str, actor: Actor, ticket: Ticket) {
        self.remembered.put(&session_key(session_id), actor, ticket);
    }

    /// On signing out: the session is nobody at once.
    pub fn forget_session(&self, session_id: &str) {
        self.remembered.forget(&session_key(session_id));
    }

    /// Changes a user's role. Admins cannot demote themselves, so one admin always remains.
    pub async fn set_role(&self, actor: &Actor, user_id: Uuid, role: Role) -> Result<User> {
        authorize(actor, Action::ManageUsers, None)?;
        if user_id == actor.user_id && role != Role::Admin {
            return Err(Error::Conflict(
                "You cannot take the admin role from yourself; another admin can.".into(),
            ));
        }
        // A role set by hand is no longer the admin list's doing.
        let user: User = sqlx::query_as(&format!(
            "update users set role = $2, admin_from_list = false where id = $1
             returning {USER_COLUMNS}"
        ))
        .bind(user_id)
        .bind(role.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NotFound("No such user.".into()))?;
        self.remembered.forget_all();
        tracing::info!(actor = %actor.login, user = %user.login, role = %role, "role changed");
        Ok(user)
    }

    /// Up to `max` GitHub users whose membership was last checked more than `every` ago,
    /// with their GitHub token (none when they have none stored), marked as checked now so
    /// other processes pass them over.
    pub async fn users_to_recheck(
        &self,
        every: std::time::Duration,
        max: i64,
    ) -> Result<Vec<(User, Option<String>)>> {
        let rows: Vec<(Uuid, Option<Vec<u8>>)> = sqlx::query!(
            "update users set checked_at = now()
              where id in (select id from users
                            where provider = 'github'
                              and (checked_at is null or checked_at < now() - $1::interval)
                            order by checked_at nulls first
                            limit $2
                            for update skip locked)
             returning id, github_token_enc",
            every as _,
            max
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.id, r.github_token_enc))
        .collect();
        let mut out = Vec::with_capacity(rows.len());
        for (id, sealed) in rows {
            let Some(user) = self.user(id).await? else {
                continue;
            };
            let token = match sealed.map(|s| self.key.open(&format!("user-token:{id}"), &s)) {
                Some(Ok(t)) => match String::from_utf8(t) {
                    Ok(t) => Some(t),
                    Err(_) => continue,
                },
                // One unreadable token costs that user's check, not the others'.
                Some(Err(e)) => {
                    tracing::warn!(user = %id, error = %format!("{e:#}"), "cannot open a user's GitHub token");
                    continue;
                }
                None => None,
            };
            out.push((user, token));
        }
        Ok(out)
    }

    /// Records what a membership check found: a user no longer allowed is disabled (their
    /// sessions and tokens stop working), one allowed again is enabled.
    pub async fn set_user_allowed(&self, user_id: Uuid, allowed: bool) -> Result<()> {
        let changed = sqlx::query!("update users set disabled_at = case when $2 then null else coalesce(disabled_at, now()) end
              where id = $1 and (disabled_at is null) <> $2", user_id, allowed)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed > 0 {
            self.remembered.forget_all();
            tracing::info!(user = %user_id, allowed, "access changed after a membership check");
        }
        Ok(())
    }
}

/// A session's key among the remembered actors (tokens have their own, `token:…`).
fn session_key(session_id: &str) -> String {
    format!("session:{session_id}")
}
