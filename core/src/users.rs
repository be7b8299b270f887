//! Users: keyed by provider and the provider's id, with a role.

use chrono::{DateTime, Utc};
use domain::Role;
use uuid::Uuid;

use crate::authz::Actor;
use crate::{Core, Error, Result};

/// The provider of users made without OAuth (the local admin, `token create`).
pub const LOCAL: &str = "local";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub provider: String,
    pub provider_id: String,
    pub login: String,
    pub email: Option<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl User {
    pub fn actor(&self) -> Result<Actor> {
        let role: Role = self
            .role
            .parse()
            .map_err(|e: String| Error::Internal(anyhow::anyhow!(e)))?;
        Ok(Actor {
            user_id: self.id,
            login: self.login.clone(),
            role,
        })
    }
}

impl Core {
    /// The local admin-role user of `login`, made on first use.
    pub async fn local_admin(&self, login: &str) -> Result<User> {
        Ok(sqlx::query_as(
            "insert into users (id, provider, provider_id, login, role) values ($1, 'local', $2, $2, 'admin')
             on conflict (provider, provider_id) do update set updated_at = now()
             returning id, provider, provider_id, login, email, role, created_at",
        )
        .bind(Uuid::new_v4())
        .bind(login)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<User>> {
        Ok(sqlx::query_as("select id, provider, provider_id, login, email, role, created_at from users where id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// A user by login within a provider.
    pub async fn user_by_login(&self, provider: &str, login: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as(
            "select id, provider, provider_id, login, email, role, created_at from users
             where provider = $1 and lower(login) = lower($2) order by created_at limit 1",
        )
        .bind(provider)
        .bind(login)
        .fetch_optional(&self.pool)
        .await?)
    }
}
