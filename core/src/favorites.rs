//! Each user's favourite apps.

use crate::apps::App;
use crate::authz::{authorize, Action, Actor};
use crate::{Core, Result};

impl Core {
    pub async fn favorites(&self, actor: &Actor) -> Result<Vec<App>> {
        authorize(actor, Action::ManageFavorites, None)?;
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "select app_id from favorites where user_id = $1 order by created_at, app_id",
        )
        .bind(actor.user_id)
        .fetch_all(&self.pool)
        .await?;
        let mut apps = Vec::with_capacity(ids.len());
        for id in ids {
            apps.push(self.find_app(&id.to_string()).await?);
        }
        Ok(apps)
    }

    pub async fn add_favorite(&self, actor: &Actor, app: &App) -> Result<()> {
        authorize(actor, Action::ManageFavorites, Some(app.id))?;
        sqlx::query(
            "insert into favorites (user_id, app_id) values ($1, $2) on conflict do nothing",
        )
        .bind(actor.user_id)
        .bind(app.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn remove_favorite(&self, actor: &Actor, app: &App) -> Result<()> {
        authorize(actor, Action::ManageFavorites, Some(app.id))?;
        sqlx::query("delete from favorites where user_id = $1 and app_id = $2")
            .bind(actor.user_id)
            .bind(app.id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The ids of the actor's favourite apps.
    pub async fn favorite_ids(&self, actor: &Actor) -> Result<Vec<uuid::Uuid>> {
        Ok(
            sqlx::query_scalar("select app_id from favorites where user_id = $1")
                .bind(actor.user_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
