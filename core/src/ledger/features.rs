//! App features. There is one: `auto-release`.

use uuid::Uuid;

use crate::access::authz::{authorize, Action, Actor};
use crate::ledger::apps::App;
use crate::{Core, Error, Result};

pub const AUTO_RELEASE: &str = "auto-release";

#[derive(Debug, Clone)]
pub struct Feature {
    pub id: Uuid,
    pub name: &'static str,
    pub description: &'static str,
    pub enabled: bool,
}

fn auto_release(enabled: bool) -> Feature {
    Feature {
        // A fixed id, the same in every installation, as Akkeris gives features.
        id: Uuid::from_u128(0x8b4d_41c7_3a0e_4f7b_9e55_2f2a_8c1d_0a01),
        name: AUTO_RELEASE,
        description: "Release every build of this app that succeeds.",
        enabled,
    }
}

impl Core {
    pub async fn features(&self, actor: &Actor, app: &App) -> Result<Vec<Feature>> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        let app = self.find_app(&app.id.to_string()).await?;
        Ok(vec![auto_release(app.auto_release)])
    }

    /// Switches a feature. Switching `auto-release` on also ends a pause left by a rollback.
    pub async fn set_feature(
        &self,
        actor: &Actor,
        app: &App,
        name: &str,
        enabled: bool,
    ) -> Result<Feature> {
        authorize(actor, Action::SetFeature, Some(app.id))?;
        if name != AUTO_RELEASE {
            return Err(Error::NotFound(format!(
                "The feature \"{name}\" was not found."
            )));
        }
        sqlx::query!("update apps set auto_release = $2, auto_release_paused = auto_release_paused and not $2
             where id = $1", app.id, enabled)
        .execute(&self.pool)
        .await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, enabled, "auto-release switched");
        Ok(auto_release(enabled))
    }
}
