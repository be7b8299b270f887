//! Apps, spaces and orgs.

use chrono::{DateTime, Utc};
use domain::{AppName, SimpleName};
use uuid::Uuid;

use crate::access::authz::{authorize, Action, Actor};
use crate::error::violates;
use crate::{Core, Error, Result};

/// An app as the API and UI show it, with its current release's image and time.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct App {
    pub id: Uuid,
    /// The app's own name (`myapp`); the full name is [`App::full_name`].
    pub name: String,
    pub space_id: Uuid,
    pub space_name: String,
    pub org_id: Uuid,
    pub org_name: String,
    pub description: Option<String>,
    pub auto_release: bool,
    pub auto_release_paused: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
    pub current_version: Option<i32>,
    pub current_description: Option<String>,
    pub image: Option<String>,
    /// Where the app answers (DESIGN §6); none before its first deploy.
    pub web_url: Option<String>,
}

impl App {
    pub fn full_name(&self) -> String {
        domain::full_app_name(&self.name, &self.space_name)
    }
}

/// A space or an org: both are named groupings made on first use.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Grouping {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What `create_app` needs.
pub struct NewApp {
    pub name: AppName,
    pub org: SimpleName,
    pub description: Option<String>,
}

/// The org of an app created without one.
pub const DEFAULT_ORG: &str = "default";

impl NewApp {
    /// An app as a form or the API gives it (blank fields are missing): a name and a space
    /// are required, the org is [`DEFAULT_ORG`] when none is given.
    pub fn parse(
        name: Option<&str>,
        space: Option<&str>,
        org: Option<&str>,
        description: Option<&str>,
    ) -> Result<NewApp> {
        let name = given(name).ok_or_else(|| Error::Invalid("The app needs a name.".into()))?;
        let space = given(space).ok_or_else(|| Error::Invalid("The app needs a space.".into()))?;
        let name = AppName::new(
            SimpleName::parse("app", name)?,
            SimpleName::parse("space", space)?,
        )?;
        let org = SimpleName::parse("org", given(org).unwrap_or(DEFAULT_ORG))?;
        Ok(NewApp {
            name,
            org,
            description: given(description).map(str::to_owned),
        })
    }
}

/// A field's trimmed text, or `None` when it is missing or blank.
fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Dynamic SQL (not `query_as!`): the app's select list, shared by the app readers and favourites; `query_as!` takes only a literal, so
/// each reader would repeat the list. A view would let them be checked; not done yet.
pub(crate) const APP_SELECT: &str = "
    select a.id, a.name, a.space_id, s.name as space_name, a.org_id, o.name as org_name,
           a.description, a.auto_release, a.auto_release_paused, a.created_at, a.updated_at,
           cur.created_at as released_at, cur.version as current_version,
           cur.description as current_description, cur.image, a.web_url
      from apps a
      join spaces s on s.id = a.space_id
      join orgs o on o.id = a.org_id
      left join lateral (
           select r.created_at, r.version, r.description, b.image
             from current_release(a.id) r left join builds b on b.id = r.build_id) cur on true";

impl Core {
    /// Finds an app by `name-space` or uuid; anything else is simply not found.
    pub async fn app(&self, actor: &Actor, key: &str) -> Result<App> {
        authorize(actor, Action::ReadApp, None)?;
        self.find_app(key).await
    }

    pub(crate) async fn find_app(&self, key: &str) -> Result<App> {
        let not_found = || Error::NotFound(format!("The app \"{key}\" was not found."));
        let row = if let Ok(id) = Uuid::parse_str(key) {
            sqlx::query_as::<_, App>(&format!("{APP_SELECT} where a.id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
        } else {
            let name = AppName::parse(key).map_err(|_| not_found())?;
            sqlx::query_as::<_, App>(&format!("{APP_SELECT} where a.name = $1 and s.name = $2"))
                .bind(name.name().as_str())
                .bind(name.space().as_str())
                .fetch_optional(&self.pool)
                .await?
        };
        row.ok_or_else(not_found)
    }

    /// All apps, oldest first.
    pub async fn apps(&self, actor: &Actor) -> Result<Vec<App>> {
        authorize(actor, Action::ListApps, None)?;
        Ok(
            sqlx::query_as::<_, App>(&format!("{APP_SELECT} order by a.created_at, a.id"))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Creates an app (no release), making its space and org on first use. Taken: 409.
    pub async fn create_app(&self, actor: &Actor, new: NewApp) -> Result<App> {
        authorize(actor, Action::CreateApp, None)?;
        let mut tx = self.pool.begin().await?;
        let space_id = upsert_grouping(&mut tx, "spaces", new.name.space().as_str()).await?;
        let org_id = upsert_grouping(&mut tx, "orgs", new.org.as_str()).await?;
        let id = Uuid::new_v4();
        let description = new.description.filter(|d| !d.trim().is_empty());
        let inserted = sqlx::query!("insert into apps (id, name, space_id, org_id, description) values ($1, $2, $3, $4, $5)", id, new.name.name().as_str(), space_id, org_id, description)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if violates(&e, "apps_name_space_key") => {
                return Err(Error::Conflict(format!(
                    "The app {} already exists.",
                    new.name
                )))
            }
            other => other?,
        };
        tx.commit().await?;
        tracing::info!(app = %new.name, actor = %actor.login, "app created");
        self.find_app(&id.to_string()).await
    }

    /// Deletes an app's records: its releases, builds and config. Callers go through
    /// `Core::delete_app` (in `github::repos`), which first deletes its repository's webhook.
    pub(crate) async fn remove_app(&self, actor: &Actor, app: App) -> Result<App> {
        authorize(actor, Action::DeleteApp, Some(app.id))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query!("delete from apps where id = $1", app.id)
            .execute(&mut *tx)
            .await?;
        // Workers remove its containers and images (and its address) when they hear of it.
        sqlx::query!(
            "select pg_notify($1, $2)",
            crate::jobs::RECONCILE_CHANNEL,
            format!("{} {}", app.id, app.full_name())
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, "app deleted");
        Ok(app)
    }

    pub async fn spaces(&self, actor: &Actor) -> Result<Vec<Grouping>> {
        authorize(actor, Action::ListApps, None)?;
        Ok(sqlx::query_as!(
            Grouping,
            r#"select id, name, created_at as "created_at: chrono::DateTime<chrono::Utc>",
                      updated_at as "updated_at: chrono::DateTime<chrono::Utc>"
                 from spaces order by created_at, name"#
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn orgs(&self, actor: &Actor) -> Result<Vec<Grouping>> {
        authorize(actor, Action::ListApps, None)?;
        Ok(sqlx::query_as!(
            Grouping,
            r#"select id, name, created_at as "created_at: chrono::DateTime<chrono::Utc>",
                      updated_at as "updated_at: chrono::DateTime<chrono::Utc>"
                 from orgs order by created_at, name"#
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Inserts a space or org if missing and returns its id; safe under concurrent creation.
async fn upsert_grouping(
    tx: &mut sqlx::PgConnection,
    table: &'static str,
    name: &str,
) -> Result<Uuid> {
    // Dynamic SQL: the table (spaces or orgs) is spliced in; both have the same shape.
    let sql = format!(
        "insert into {table} (id, name) values ($1, $2)
         on conflict (name) do update set name = excluded.name returning id"
    );
    Ok(sqlx::query_scalar(&sql)
        .bind(Uuid::new_v4())
        .bind(name)
        .fetch_one(tx)
        .await?)
}
