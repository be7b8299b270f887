//! Each user's favourite apps.

use crate::access::authz::{authorize, Action, Actor};
use crate::ledger::apps::{App, APP_SELECT};
use crate::{Core, Result};

impl Core {
    pub async fn favorites(&self, actor: &Actor) -> Result<Vec<App>> {
        authorize(actor, Action::ManageFavorites, None)?;
        Ok(sqlx::query_as(&format!(
            "{APP_SELECT} join favorites f on f.app_id = a.id and f.user_id = $1 order by f.created_at, a.id"
        ))
        .bind(actor.user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn add_favorite(&self, actor: &Actor, app: &App) -> Result<()> {
        authorize(actor, Action::ManageFavorites, Some(app.id))?;
        sqlx::query!(
            "insert into favorites (user_id, app_id) values ($1, $2) on conflict do nothing",
            actor.user_id,
            app.id
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn remove_favorite(&self, actor: &Actor, app: &App) -> Result<()> {
        authorize(actor, Action::ManageFavorites, Some(app.id))?;
        sqlx::query!(
            "delete from favorites where user_id = $1 and app_id = $2",
            actor.user_id,
            app.id
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The ids of the actor's favourite apps.
    pub async fn favorite_ids(&self, actor: &Actor) -> Result<Vec<uuid::Uuid>> {
        Ok(sqlx::query_scalar!(
            "select app_id from favorites where user_id = $1",
            actor.user_id
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
