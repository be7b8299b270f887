//! Add-ons (DESIGN §1, issue 14): an add-on is one provisioned instance of a service plan,
//! owned by one app; an attachment links it to an app under a name. Creating (with its owner's
//! attachment), attaching, detaching and destroying each make one release, `Attach <name>` or
//! `Detach <name>`, whose snapshot holds the attached add-ons' vars apart from the user's.
//!
//! Names: the first attachment of a service on an app is *primary* and its vars keep their
//! names (`DATABASE_URL`); later ones are prefixed with the attachment name
//! (`REPORTS_DATABASE_URL`). An add-on's vars are encrypted at rest like config vars.
//!
//! Locks: a change takes its app's row first (as every release does), then the add-on's row,
//! so attaching elsewhere and destroying never cross. Provisioning happens outside any
//! transaction, between reserving the add-on (`provisioning`) and the release that attaches it;
//! a failure there removes what was made and creates no release.

pub mod broker;
pub mod osb;
pub mod postgres;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::ReleaseKind;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::authz::{authorize, Action, Actor};
use crate::ledger::apps::App;
use crate::ledger::config::MASK;
use crate::ledger::releases::{lock_next_version, AddonConfig, AddonVar, Cause, Release, Snapshot};
use crate::{Core, Error, Result};

/// A service, as its provider's catalog describes it.
#[derive(Debug, Clone)]
pub struct Service {
    pub id: Uuid,
    pub name: String,
    pub human_name: String,
    pub description: String,
    /// `builtin`, or a broker's name.
    pub provider: String,
    pub plans: Vec<Plan>,
}

/// A plan of a service.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: Uuid,
    /// `service:plan`
    pub name: String,
    /// The part after the colon.
    pub key: String,
    pub human_name: String,
    pub description: String,
    pub attributes: BTreeMap<String, String>,
}

/// How a provision began.
#[derive(Debug)]
pub enum Provisioning {
    /// Made: its vars.
    Ready(BTreeMap<String, String>),
    /// Under way at the provider (a broker's asynchronous provision): a job asks about
    /// `operation` until it is done.
    Started { operation: Option<String> },
}

/// Where a provision that [`Provisioning::Started`] is.
#[derive(Debug)]
pub enum Progress {
    /// Still under way; what the provider says of it.
    Working(String),
    /// Made: its vars.
    Ready(BTreeMap<String, String>),
    /// It failed, for this reason (the provider's words).
    Failed(String),
}

/// What makes and removes instances of its services' plans.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    fn name(&self) -> &str;
    fn services(&self) -> Vec<Service>;
    /// Makes the instance `addon`, or starts to. Doing it again for the same id makes the
    /// same instance.
    async fn provision(&self, addon: Uuid, plan: &Plan) -> Result<Provisioning>;
    /// Where a started provision is.
    async fn progress(
        &self,
        _addon: Uuid,
        _plan: &Plan,
        _operation: Option<&str>,
    ) -> Result<Progress> {
        Ok(Progress::Failed(format!(
            "{} does not provision in the background.",
            self.name()
        )))
    }
    /// How long a started provision may take before it counts as failed.
    fn provision_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(30 * 60)
    }
    /// Removes the instance; one that is gone already is no error.
    async fn deprovision(&self, addon: Uuid, plan: &Plan) -> Result<()>;
}

/// The providers a core knows.
#[derive(Clone, Default)]
pub struct Providers(Vec<Arc<dyn Provider>>);

impl Providers {
    pub fn new(providers: Vec<Arc<dyn Provider>>) -> Self {
        Self(providers)
    }
}

/// An id derived from a name, the same on every installation (version 8, from SHA-256).
pub fn stable_id(name: &str) -> Uuid {
    let digest = Sha256::digest(format!("slipway-addon:{name}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Whether `name` is a valid attachment name: a letter, then letters, digits, `-` or `_`, at
/// most 22 characters (Akkeris' rule).
pub fn check_attachment_name(name: &str) -> Result<String> {
    let ok = (2..=22).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::Invalid(format!(
            "The attachment name \"{}\" is invalid: use 2 to 22 letters, digits, - or _, starting with a letter.",
            name.chars().take(40).collect::<String>().escape_debug()
        )))
    }
}

/// The prefix a non-primary attachment puts before its add-on's vars: `reports-db` →
/// `REPORTS_DB_`.
pub fn var_prefix(attachment: &str) -> String {
    format!("{}_", attachment.to_ascii_uppercase().replace('-', "_"))
}

/// A fresh attachment name for an add-on of `service`: `postgresql-amber-4821`.
fn default_name(service: &str) -> String {
    const WORDS: [&str; 24] = [
        "amber", "brisk", "cedar", "dusk", "ember", "fern", "grove", "haze", "ivory", "jade",
        "kelp", "lark", "maple", "nova", "opal", "pine", "quill", "reef", "sage", "tide", "umber",
        "vale", "wren", "zinc",
    ];
    let base: String = service
        .rsplit('-')
        .next()
        .unwrap_or(service)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    let base = if base.starts_with(|c: char| c.is_ascii_alphabetic()) {
        base
    } else {
        format!("a{base}").chars().take(10).collect()
    };
    use rand::Rng;
    let mut rng = rand::thread_rng();
    format!(
        "{base}-{}-{}",
        WORDS[rng.gen_range(0..WORDS.len())],
        rng.gen_range(1000..10000)
    )
}

/// An add-on as the API and UI show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Addon {
    pub id: Uuid,
    /// The owner attachment's name.
    pub name: String,
    pub service: String,
    /// `service:plan`
    pub plan: String,
    pub provider: String,
    /// `provisioning`, `provisioned` or `failed`.
    pub state: String,
    pub state_description: String,
    pub app_id: Uuid,
    pub app_name: String,
    pub app_space: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Addon {
    pub fn owner_full_name(&self) -> String {
        domain::full_app_name(&self.app_name, &self.app_space)
    }
}

/// An attachment of an add-on to an app.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attachment {
    pub id: Uuid,
    pub name: String,
    pub owner: bool,
    pub is_primary: bool,
    pub app_id: Uuid,
    pub app_name: String,
    pub app_space: String,
    pub addon_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Attachment {
    pub fn app_full_name(&self) -> String {
        domain::full_app_name(&self.app_name, &self.app_space)
    }
}

/// An attachment and the add-on it attaches.
#[derive(Debug, Clone)]
pub struct AttachmentOf {
    pub attachment: Attachment,
    pub addon: Addon,
}

/// An add-on as one app sees it ([`Core::addon_on_app`]).
#[derive(Debug, Clone)]
pub struct AddonOnApp {
    pub addon: Addon,
    /// Every attachment of the add-on, by app name.
    pub attachments: Vec<Attachment>,
    app_id: Uuid,
    /// The vars it sets on the app, masked for those who may not reveal them.
    pub vars: BTreeMap<String, String>,
}

impl AddonOnApp {
    /// Its attachment on the app, if attached there.
    pub fn here(&self) -> Option<&Attachment> {
        self.attachments.iter().find(|t| t.app_id == self.app_id)
    }

    /// The apps it is attached to besides its owner.
    pub fn shared_with(&self) -> Vec<String> {
        self.attachments
            .iter()
            .filter(|t| !t.owner)
            .map(Attachment::app_full_name)
            .collect()
    }
}

/// What a change made: the add-on or attachment, and its release.
#[derive(Debug, Clone)]
pub struct AddonChange<T> {
    pub value: T,
    pub release: Option<Release>,
}

const ADDON_SELECT: &str = "
    select d.id, d.name, d.service, d.plan, d.provider, d.state, d.state_description,
           d.app_id, a.name as app_name, s.name as app_space, d.created_at, d.updated_at
      from addons d join apps a on a.id = d.app_id join spaces s on s.id = a.space_id";

const ATTACHMENT_SELECT: &str = "
    select t.id, t.name, t.owner, t.is_primary, t.app_id, a.name as app_name,
           s.name as app_space, t.addon_id, t.created_at, t.updated_at
      from addon_attachments t join apps a on a.id = t.app_id join spaces s on s.id = a.space_id";

impl Core {
    /// Every provider's services, with their provider, in the providers' order. A service
    /// whose name an earlier provider's has already is offered as `<provider>-<name>` (its
    /// plans `<provider>-<name>:<plan>`), so every plan name says which provider makes it.
    fn catalog(&self) -> Vec<(Arc<dyn Provider>, Service)> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for p in &self.providers.0 {
            for mut s in p.services() {
                if !seen.insert(s.name.clone()) {
                    s = renamed(p.name(), s);
                    seen.insert(s.name.clone());
                }
                out.push((p.clone(), s));
            }
        }
        out
    }

    /// The services of every provider, sorted by name.
    pub fn addon_services(&self, actor: &Actor) -> Result<Vec<Service>> {
        authorize(actor, Action::ListApps, None)?;
        let mut all: Vec<Service> = self.catalog().into_iter().map(|(_, s)| s).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// A service by id or name.
    pub fn addon_service(&self, actor: &Actor, key: &str) -> Result<Service> {
        self.addon_services(actor)?
            .into_iter()
            .find(|s| s.name == key || s.id.to_string() == key)
            .ok_or_else(|| Error::NotFound(format!("The add-on service {key} was not found.")))
    }

    /// A plan of a service, by id, `service:plan` or the part after the colon.
    pub fn addon_plan(&self, actor: &Actor, service: &str, key: &str) -> Result<Plan> {
        self.addon_service(actor, service)?
            .plans
            .into_iter()
            .find(|p| p.id.to_string() == key || p.name == key || p.key == key)
            .ok_or_else(|| Error::NotFound(format!("The plan {key} was not found.")))
    }

    /// The provider, service and plan a plan name (`service:plan`) or id names.
    fn find_plan(&self, key: &str) -> Result<(Arc<dyn Provider>, Service, Plan)> {
        for (p, s) in self.catalog() {
            if let Some(plan) = s
                .plans
                .iter()
                .find(|pl| pl.name == key || pl.id.to_string() == key)
                .cloned()
            {
                return Ok((p, s, plan));
            }
        }
        Err(Error::Invalid(format!(
            "The plan {} was not found: `GET /addon-services` lists the services, and each one's plans.",
            key.chars().take(80).collect::<String>().escape_debug()
        )))
    }

    /// The plan `plan` (as an add-on recorded it) of the provider named `provider`, whatever
    /// other providers offer: an add-on is always removed by the provider that made it. An
    /// error that is worth trying again when the provider is not there (now).
    fn plan_of(&self, provider: &str, plan: &str) -> Result<(Arc<dyn Provider>, Plan)> {
        let p = self
            .providers
            .0
            .iter()
            .find(|p| p.name() == provider)
            .ok_or_else(|| {
                Error::Upstream(format!(
                    "The add-on provider {provider} is not configured here now; try again once it is."
                ))
            })?;
        p.services()
            .into_iter()
            .flat_map(|s| s.plans)
            .find(|pl| pl.name == plan || format!("{provider}-{}", pl.name) == plan)
            .map(|pl| (p.clone(), pl))
            .ok_or_else(|| {
                Error::Upstream(format!(
                    "The add-on provider {provider} does not offer {plan} now; try again once it does."
                ))
            })
    }

    /// The add-ons `app` owns, oldest first (also those still provisioning or failed).
    pub async fn addons(&self, actor: &Actor, app: &App) -> Result<Vec<Addon>> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        Ok(sqlx::query_as(&format!(
            "{ADDON_SELECT} where d.app_id = $1 order by d.created_at, d.id"
        ))
        .bind(app.id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The attachments on `app` of add-ons other apps own, oldest first.
    pub async fn addon_attachments(&self, actor: &Actor, app: &App) -> Result<Vec<AttachmentOf>> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        let atts: Vec<Attachment> = sqlx::query_as(&format!(
            "{ATTACHMENT_SELECT} where t.app_id = $1 and not t.owner order by t.created_at, t.id"
        ))
        .bind(app.id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(atts.len());
        for attachment in atts {
            let addon = self.addon_by_id(attachment.addon_id).await?;
            out.push(AttachmentOf { attachment, addon });
        }
        Ok(out)
    }

    /// Other apps' provisioned add-ons that `app` could attach (not attached to it yet),
    /// oldest first.
    pub async fn attachable_addons(&self, actor: &Actor, app: &App) -> Result<Vec<Addon>> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        Ok(sqlx::query_as(&format!(
            "{ADDON_SELECT}
              where d.app_id <> $1 and d.state = 'provisioned'
                and not exists (select 1 from addon_attachments t
                                 where t.addon_id = d.id and t.app_id = $1)
              order by d.created_at, d.id"
        ))
        .bind(app.id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every attachment of an add-on, by app name.
    pub async fn attachments_of(&self, actor: &Actor, addon: &Addon) -> Result<Vec<Attachment>> {
        authorize(actor, Action::ReadApp, Some(addon.app_id))?;
        let mut atts: Vec<Attachment> =
            sqlx::query_as(&format!("{ATTACHMENT_SELECT} where t.addon_id = $1"))
                .bind(addon.id)
                .fetch_all(&self.pool)
                .await?;
        atts.sort_by_key(|a| a.app_full_name());
        Ok(atts)
    }

    async fn addon_by_id(&self, id: Uuid) -> Result<Addon> {
        sqlx::query_as(&format!("{ADDON_SELECT} where d.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("The add-on {id} was not found.")))
    }

    /// An add-on on `app`, by its id or by the name of any of its attachments on the app
    /// (owned or not), or by its name while it is still provisioning.
    pub async fn addon(&self, actor: &Actor, app: &App, key: &str) -> Result<Addon> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        let id = Uuid::parse_str(key).ok();
        let found: Option<Addon> = sqlx::query_as(&format!(
            "{ADDON_SELECT}
              where (d.id = $2 or lower(d.name) = lower($3)) and d.app_id = $1
                 or d.id in (select addon_id from addon_attachments
                              where app_id = $1 and (addon_id = $2 or lower(name) = lower($3)))
              order by (d.app_id = $1) desc limit 1"
        ))
        .bind(app.id)
        .bind(id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        found.ok_or_else(|| {
            Error::NotFound(format!(
                "The add-on {} was not found on {}.",
                key.chars().take(80).collect::<String>().escape_debug(),
                app.full_name()
            ))
        })
    }

    /// An attachment on `app`, by its id or name.
    pub async fn addon_attachment(
        &self,
        actor: &Actor,
        app: &App,
        key: &str,
    ) -> Result<AttachmentOf> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        let id = Uuid::parse_str(key).ok();
        let attachment: Attachment = sqlx::query_as(&format!(
            "{ATTACHMENT_SELECT} where t.app_id = $1 and (t.id = $2 or lower(t.name) = lower($3))"
        ))
        .bind(app.id)
        .bind(id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "The add-on attachment {} was not found on {}.",
                key.chars().take(80).collect::<String>().escape_debug(),
                app.full_name()
            ))
        })?;
        let addon = self.addon_by_id(attachment.addon_id).await?;
        Ok(AttachmentOf { attachment, addon })
    }

    /// The app an attachment (by id) is on, for the routes that name only the attachment.
    pub async fn attachment_app(&self, actor: &Actor, id: &str) -> Result<App> {
        authorize(actor, Action::ReadApp, None)?;
        let not_found = || {
            Error::NotFound(format!(
                "The add-on attachment {} was not found.",
                id.chars().take(80).collect::<String>().escape_debug()
            ))
        };
        let id = Uuid::parse_str(id).map_err(|_| not_found())?;
        let app: Uuid =
            sqlx::query_scalar!("select app_id from addon_attachments where id = $1", id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(not_found)?;
        self.app(actor, &app.to_string()).await
    }

    /// An add-on as `app` sees it: its attachments (by app name), the one on `app`, and the
    /// vars it sets there under the names the app sees, masked unless the actor may reveal
    /// config values. What the API's add-on object and the add-ons page both show.
    pub async fn addon_on_app(&self, actor: &Actor, app: &App, addon: Addon) -> Result<AddonOnApp> {
        authorize(actor, Action::ReadConfigKeys, Some(app.id))?;
        let attachments = self.attachments_of(actor, &addon).await?;
        let here = attachments.iter().find(|t| t.app_id == app.id);
        let mut vars = match here {
            Some(t) => {
                let mut conn = self.pool.acquire().await?;
                self.named_vars(&mut conn, addon.id, &t.name, t.is_primary)
                    .await?
            }
            None => BTreeMap::new(),
        };
        if authorize(actor, Action::RevealConfig, Some(app.id)).is_err() {
            vars.values_mut().for_each(|v| *v = MASK.to_owned());
        }
        Ok(AddonOnApp {
            addon,
            attachments,
            app_id: app.id,
            vars,
        })
    }

    /// The vars an add-on sets on `app` (see [`Core::addon_on_app`]).
    pub async fn addon_vars(
        &self,
        actor: &Actor,
        app: &App,
        addon: &Addon,
    ) -> Result<BTreeMap<String, String>> {
        Ok(self.addon_on_app(actor, app, addon.clone()).await?.vars)
    }

    /// Provisions an add-on of `plan` for `app` and attaches it under `name` (a fresh name
    /// when none): the `Attach` release. A failure removes what was made and creates no
    /// release.
    pub async fn create_addon(
        &self,
        actor: &Actor,
        app: &App,
        plan: &str,
        name: Option<&str>,
    ) -> Result<AddonChange<Addon>> {
        authorize(actor, Action::ManageAddons, Some(app.id))?;
        let (provider, service, plan) = self.find_plan(plan)?;
        let name = match name {
            Some(n) => check_attachment_name(n)?,
            None => default_name(&service.name),
        };
        let id = Uuid::new_v4();
        let mut tx = self.pool.begin().await?;
        lock_app(&mut tx, app.id).await?;
        name_free(&mut tx, app, &name).await?;
        sqlx::query!(
            "insert into addons (id, app_id, name, service, plan, provider, state, user_id)
             values ($1, $2, $3, $4, $5, $6, 'provisioning', $7)",
            id,
            app.id,
            &name,
            &service.name,
            &plan.name,
            provider.name(),
            actor.user_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, addon = %name, plan = %plan.name, "add-on provisioning");

        let attached = match provider.provision(id, &plan).await {
            Ok(Provisioning::Ready(vars)) => self
                .attach_provisioned(Some(actor), app, id, &name, vars)
                .await
                .map(Some),
            Ok(Provisioning::Started { operation }) => {
                // A job polls the provider and makes the release when it is done.
                let mut tx = self.pool.begin().await?;
                sqlx::query!(
            "update addons set operation = $2, state_description = 'Provisioning…' where id = $1",
            id,
            operation
        )
                .execute(&mut *tx)
                .await?;
                crate::jobs::enqueue(&mut tx, app.id, crate::jobs::JobFor::Addon(id)).await?;
                tx.commit().await?;
                Ok(None)
            }
            Err(e) => Err(e),
        };
        match attached {
            Ok(release) => Ok(AddonChange {
                value: self.addon_by_id(id).await?,
                release,
            }),
            Err(e) => {
                // Nothing stays: the instance (whatever part of it was made; not after a
                // provider's refusal, which made nothing) and the row.
                if !matches!(e, Error::BadRequest(_)) {
                    if let Err(undo) = provider.deprovision(id, &plan).await {
                        tracing::error!(addon = %id, error = %undo, "a failed add-on's instance could not be removed");
                    }
                }
                sqlx::query!(
                    "delete from addons where id = $1 and state = 'provisioning'",
                    id
                )
                .execute(&self.pool)
                .await?;
                Err(e)
            }
        }
    }

    /// The release that attaches a freshly provisioned add-on to its owner.
    async fn attach_provisioned(
        &self,
        actor: Option<&Actor>,
        app: &App,
        id: Uuid,
        name: &str,
        vars: BTreeMap<String, String>,
    ) -> Result<Release> {
        let mut tx = self.pool.begin().await?;
        let version = lock_next_version(&mut tx, app.id).await?;
        let service: Option<String> = sqlx::query_scalar!(
            "select service from addons where id = $1 and state = 'provisioning' for update",
            id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let service = service.ok_or_else(|| {
            Error::Conflict(format!(
                "The add-on {name} was removed while it was provisioned."
            ))
        })?;
        let json = serde_json::to_vec(&vars).map_err(anyhow::Error::from)?;
        let sealed = self.key.seal(&format!("addon:{id}"), &json);
        sqlx::query!(
            "update addons set state = 'provisioned', vars_enc = $2 where id = $1",
            id,
            sealed
        )
        .execute(&mut *tx)
        .await?;
        let primary = !has_primary(&mut tx, app.id, &service).await?;
        sqlx::query!(
            "insert into addon_attachments (id, addon_id, app_id, name, owner, is_primary)
             values ($1, $2, $3, $4, true, $5)",
            Uuid::new_v4(),
            id,
            app.id,
            name,
            primary
        )
        .execute(&mut *tx)
        .await?;
        let release = self
            .addon_release(&mut tx, actor, app, version, format!("Attach {name}"))
            .await?;
        tx.commit().await?;
        Ok(release)
    }

    /// Attaches another app's add-on (its id) to `app` under `name` (the add-on's own name
    /// when none): the `Attach` release.
    pub async fn attach_addon(
        &self,
        actor: &Actor,
        app: &App,
        addon: &str,
        name: Option<&str>,
    ) -> Result<AddonChange<AttachmentOf>> {
        authorize(actor, Action::ManageAddons, Some(app.id))?;
        let name = name.map(check_attachment_name).transpose()?;
        let not_found = || {
            Error::NotFound(format!(
                "The add-on {} was not found.",
                addon.chars().take(80).collect::<String>().escape_debug()
            ))
        };
        let addon_id = Uuid::parse_str(addon).map_err(|_| not_found())?;
        let mut tx = self.pool.begin().await?;
        let version = lock_next_version(&mut tx, app.id).await?;
        let row = sqlx::query!(
            "select app_id, name, service, state from addons where id = $1 for share",
            addon_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| (r.app_id, r.name, r.service, r.state));
        let (owner, addon_name, service, state) = row.ok_or_else(not_found)?;
        // Sharing hands the owner's credentials to another app: the actor must be allowed
        // to change the owner's add-ons too.
        authorize(actor, Action::ManageAddons, Some(owner))?;
        if owner == app.id {
            return Err(Error::Conflict(format!(
                "The add-on {addon_name} belongs to {}: an add-on cannot be attached to the app that owns it.",
                app.full_name()
            )));
        }
        if state != "provisioned" {
            return Err(Error::Conflict(format!(
                "The add-on {addon_name} is {state}: only a provisioned add-on can be attached."
            )));
        }
        let attached: bool = sqlx::query_scalar!(
            r#"select exists (select 1 from addon_attachments where addon_id = $1 and app_id = $2) as "attached!""#,
            addon_id,
            app.id
        )
        .fetch_one(&mut *tx)
        .await?;
        if attached {
            return Err(Error::Conflict(format!(
                "The add-on {addon_name} is already attached to {}.",
                app.full_name()
            )));
        }
        let name = name.unwrap_or_else(|| addon_name.clone());
        name_free(&mut tx, app, &name).await?;
        let primary = !has_primary(&mut tx, app.id, &service).await?;
        let id = Uuid::new_v4();
        sqlx::query!(
            "insert into addon_attachments (id, addon_id, app_id, name, owner, is_primary)
             values ($1, $2, $3, $4, false, $5)",
            id,
            addon_id,
            app.id,
            &name,
            primary
        )
        .execute(&mut *tx)
        .await?;
        let release = self
            .addon_release(&mut tx, Some(actor), app, version, format!("Attach {name}"))
            .await?;
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, addon = %addon_name, attachment = %name, "add-on attached");
        Ok(AddonChange {
            value: self.addon_attachment(actor, app, &id.to_string()).await?,
            release: Some(release),
        })
    }

    /// Detaches an attachment (by id or name) of another app's add-on from `app`: the
    /// `Detach` release. The owner's own attachment goes only with the add-on (destroy).
    pub async fn detach_addon(
        &self,
        actor: &Actor,
        app: &App,
        key: &str,
    ) -> Result<AddonChange<AttachmentOf>> {
        authorize(actor, Action::ManageAddons, Some(app.id))?;
        let found = self.addon_attachment(actor, app, key).await?;
        let att = &found.attachment;
        if att.owner {
            return Err(Error::Conflict(format!(
                "{} owns the add-on {}: destroy it instead of detaching it.",
                app.full_name(),
                found.addon.name
            )));
        }
        let mut tx = self.pool.begin().await?;
        let version = lock_next_version(&mut tx, app.id).await?;
        let gone = sqlx::query!("delete from addon_attachments where id = $1", att.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Err(Error::NotFound(format!(
                "The add-on attachment {} was not found on {}.",
                att.name,
                app.full_name()
            )));
        }
        let release = self
            .addon_release(
                &mut tx,
                Some(actor),
                app,
                version,
                format!("Detach {}", att.name),
            )
            .await?;
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, attachment = %att.name, "add-on detached");
        Ok(AddonChange {
            value: found,
            release: Some(release),
        })
    }

    /// Destroys an add-on `app` owns (by id or name): refused while another app has it
    /// attached. Its instance is removed (connections ended, the database and role dropped),
    /// then the `Detach` release; an add-on that never became provisioned goes without one.
    pub async fn destroy_addon(
        &self,
        actor: &Actor,
        app: &App,
        key: &str,
    ) -> Result<AddonChange<Addon>> {
        authorize(actor, Action::ManageAddons, Some(app.id))?;
        let addon = self.addon(actor, app, key).await?;
        if addon.app_id != app.id {
            return Err(Error::Conflict(format!(
                "The add-on {} belongs to {}: detach it from {} instead.",
                addon.name,
                addon.owner_full_name(),
                app.full_name()
            )));
        }
        let (provider, plan) = self.plan_of(&addon.provider, &addon.plan)?;
        if addon.state != "provisioned" {
            // Under the app's row and the add-on's, as the job that finishes a provision
            // takes them, so the two never cross; the state is read again under them.
            let mut tx = self.pool.begin().await?;
            lock_app(&mut tx, app.id).await?;
            let state = sqlx::query_scalar!(
                "select state from addons where id = $1 for update",
                addon.id
            )
            .fetch_optional(&mut *tx)
            .await?;
            match state.as_deref() {
                None => {
                    return Err(Error::NotFound(format!(
                        "The add-on {} was destroyed.",
                        addon.name
                    )))
                }
                Some("provisioned") => drop(tx), // made meanwhile: destroyed as such below
                Some(state) => {
                    let limit = chrono::Duration::from_std(provider.provision_timeout())
                        .unwrap_or(chrono::Duration::MAX)
                        .checked_add(&chrono::Duration::minutes(1))
                        .unwrap_or(chrono::Duration::MAX);
                    let stale = Utc::now() - addon.created_at > limit;
                    if state == "provisioning" && !stale {
                        return Err(Error::Conflict(format!(
                            "The add-on {} is still being provisioned; destroy it once it is done.",
                            addon.name
                        )));
                    }
                    provider.deprovision(addon.id, &plan).await?;
                    sqlx::query!("delete from addons where id = $1", addon.id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Ok(AddonChange {
                        value: addon,
                        release: None,
                    });
                }
            }
        }
        let mut tx = self.pool.begin().await?;
        let version = lock_next_version(&mut tx, app.id).await?;
        sqlx::query!(
            "select 1 as held from addons where id = $1 for update",
            addon.id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("The add-on {} was destroyed.", addon.name)))?;
        let elsewhere: Vec<String> = sqlx::query_scalar!(
            r#"select a.name || '-' || s.name as "app!" from addon_attachments t
               join apps a on a.id = t.app_id join spaces s on s.id = a.space_id
              where t.addon_id = $1 and not t.owner order by 1"#,
            addon.id
        )
        .fetch_all(&mut *tx)
        .await?;
        if !elsewhere.is_empty() {
            return Err(Error::Conflict(format!(
                "The add-on {} cannot be destroyed: it is attached to {} too. Detach it there first.",
                addon.name,
                elsewhere.join(", ")
            )));
        }
        // The instance goes first, with the app's lock held: should the release then fail,
        // the add-on is still here, and destroying it again finishes the job.
        provider.deprovision(addon.id, &plan).await?;
        sqlx::query!("delete from addons where id = $1", addon.id)
            .execute(&mut *tx)
            .await?;
        let release = self
            .addon_release(
                &mut tx,
                Some(actor),
                app,
                version,
                format!("Detach {}", addon.name),
            )
            .await?;
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, addon = %addon.name, "add-on destroyed");
        Ok(AddonChange {
            value: addon,
            release: Some(release),
        })
    }

    /// The job that finishes a provision the provider started (a broker's asynchronous
    /// one): asks the provider until the add-on is made, then makes the `Attach` release.
    /// It fails the add-on, with the provider's reason, when the provider says it failed or
    /// takes longer than it may; then whatever the provider made is removed (orphan
    /// mitigation) and no release is made.
    pub(crate) async fn finish_provisioning(
        &self,
        claim: &crate::lease::Claim,
        id: Uuid,
    ) -> Result<()> {
        #[derive(sqlx::FromRow)]
        struct Pending {
            app_id: Uuid,
            name: String,
            plan: String,
            state: String,
            operation: Option<String>,
            user_id: Option<Uuid>,
            created_at: DateTime<Utc>,
            provider: String,
        }
        let row: Option<Pending> = sqlx::query_as(
            "select app_id, name, plan, state, operation, user_id, created_at, provider
               from addons where id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(Pending {
            app_id,
            name,
            plan,
            state,
            operation,
            user_id,
            created_at,
            provider,
        }) = row
        else {
            return Ok(()); // destroyed meanwhile
        };
        if state != "provisioning" {
            return Ok(());
        }
        // The provider may not be there yet (a broker whose catalog is still being read):
        // asked again, for as long as a provision may take.
        let (provider, plan) = loop {
            match self.plan_of(&provider, &plan) {
                Ok(found) => break found,
                Err(e) => {
                    if claim.is_lost() {
                        return Err(crate::lease::lost());
                    }
                    if Utc::now() - created_at > chrono::Duration::minutes(30) {
                        let (_, why) = e.public("finishing a provision");
                        sqlx::query!(
                            "update addons set state = 'failed', state_description = $2 where id = $1 and state = 'provisioning'",
                            id,
                            why
                        )
                        .execute(&self.pool)
                        .await?;
                        return Ok(());
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }
        };
        let timeout = provider.provision_timeout();
        let deadline =
            created_at + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
        let mut said = String::new();
        loop {
            if claim.is_lost() {
                return Err(crate::lease::lost());
            }
            // Asked at least once, whenever the job comes: one queued behind another's slow
            // provision is not failed for having waited.
            match provider.progress(id, &plan, operation.as_deref()).await {
                Ok(Progress::Working(now)) => {
                    if now != said && !now.is_empty() {
                        sqlx::query!(
            "update addons set state_description = $2 where id = $1 and state = 'provisioning'",
            id,
            &now
        )
                        .execute(&self.pool)
                        .await?;
                        said = now;
                    }
                }
                Ok(Progress::Ready(vars)) => {
                    let app = self.find_app(&app_id.to_string()).await?;
                    let actor = match user_id {
                        Some(u) => self.user(u).await?.and_then(|u| u.actor().ok()),
                        None => None,
                    };
                    match self
                        .attach_provisioned(actor.as_ref(), &app, id, &name, vars)
                        .await
                    {
                        Ok(r) => {
                            tracing::info!(app = %app.full_name(), addon = %name, version = r.version, "add-on provisioned and attached");
                        }
                        Err(e) if e.is_unavailable() => return Err(e),
                        Err(e) => {
                            let (_, why) = e.public("attaching an add-on");
                            self.fail_provisioning(id, provider.as_ref(), &plan, &why)
                                .await?;
                        }
                    }
                    return Ok(());
                }
                Ok(Progress::Failed(why)) => {
                    self.fail_provisioning(id, provider.as_ref(), &plan, &why)
                        .await?;
                    return Ok(());
                }
                Err(e) => {
                    // Asked again until the deadline: a broker that is away for a moment
                    // does not fail the add-on.
                    tracing::warn!(addon = %name, error = %format!("{e:#}"), "cannot ask the provider how provisioning goes");
                }
            }
            if Utc::now() > deadline {
                let why = format!(
                    "The provider did not finish provisioning within {} s.",
                    timeout.as_secs()
                );
                self.fail_provisioning(id, provider.as_ref(), &plan, &why)
                    .await?;
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// Marks a provisioning add-on failed with `why`; when this did it (and not a destroy or
    /// another worker), removes what the provider made.
    async fn fail_provisioning(
        &self,
        id: Uuid,
        provider: &dyn Provider,
        plan: &Plan,
        why: &str,
    ) -> Result<()> {
        let failed = sqlx::query!(
            "update addons set state = 'failed', state_description = $2, operation = null
              where id = $1 and state = 'provisioning'",
            id,
            why
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        if failed == 1 {
            tracing::warn!(addon = %id, reason = why, "add-on provisioning failed");
            if let Err(e) = provider.deprovision(id, plan).await {
                tracing::error!(addon = %id, error = %format!("{e:#}"), "what the provider made for a failed add-on could not be removed; destroying the add-on tries again");
            }
        }
        Ok(())
    }

    /// Before an app is deleted: refused while an add-on it owns is attached elsewhere;
    /// otherwise its add-ons' instances are removed (its attachments to others' add-ons go
    /// with the app).
    pub(crate) async fn remove_app_addons(&self, app: &App) -> Result<()> {
        let owned = sqlx::query!(
            "select id, name, plan, provider from addons where app_id = $1",
            app.id
        )
        .fetch_all(&self.pool)
        .await?;
        // Each under the app's row and the add-on's (as an attach elsewhere takes them), so
        // none is attached elsewhere between the check and its removal. A provider that is
        // not there refuses the delete: an add-on is never forgotten while it may exist.
        for a in owned {
            let (provider, plan) = self.plan_of(&a.provider, &a.plan)?;
            let mut tx = self.pool.begin().await?;
            lock_app(&mut tx, app.id).await?;
            let held = sqlx::query!(
                "select 1 as held from addons where id = $1 for update",
                a.id
            )
            .fetch_optional(&mut *tx)
            .await?;
            if held.is_none() {
                continue;
            }
            let shared = sqlx::query_scalar!(
                r#"select exists (select 1 from addon_attachments where addon_id = $1 and app_id <> $2) as "shared!""#,
                a.id,
                app.id
            )
            .fetch_one(&mut *tx)
            .await?;
            if shared {
                return Err(Error::Conflict(format!(
                    "{} cannot be deleted: its add-on {} is attached to other apps. Detach it there first.",
                    app.full_name(),
                    a.name
                )));
            }
            provider.deprovision(a.id, &plan).await?;
            sqlx::query!("delete from addons where id = $1", a.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// An add-on's vars under an attachment's names.
    async fn named_vars(
        &self,
        conn: &mut PgConnection,
        addon: Uuid,
        attachment: &str,
        primary: bool,
    ) -> Result<BTreeMap<String, String>> {
        let sealed: Option<Vec<u8>> =
            sqlx::query_scalar!("select vars_enc from addons where id = $1", addon)
                .fetch_optional(&mut *conn)
                .await?
                .flatten();
        let Some(sealed) = sealed else {
            return Ok(BTreeMap::new());
        };
        let plain = self.key.open(&format!("addon:{addon}"), &sealed)?;
        let vars: BTreeMap<String, String> =
            serde_json::from_slice(&plain).map_err(anyhow::Error::from)?;
        let prefix = if primary {
            String::new()
        } else {
            var_prefix(attachment)
        };
        Ok(vars
            .into_iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v))
            .collect())
    }

    /// The release that records the app's add-ons as they are now in `tx`: their vars and
    /// plans, with the user's config vars and the slug and port of the release before.
    async fn addon_release(
        &self,
        tx: &mut PgConnection,
        actor: Option<&Actor>,
        app: &App,
        version: i32,
        description: String,
    ) -> Result<Release> {
        let atts: Vec<(Uuid, String, bool, String, String)> = sqlx::query!(
            "select t.addon_id, t.name, t.is_primary, d.plan, d.state from addon_attachments t
               join addons d on d.id = t.addon_id
              where t.app_id = $1 order by t.created_at, t.id",
            app.id
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.addon_id, r.name, r.is_primary, r.plan, r.state))
        .collect();
        let before = self.latest_snapshot(&mut *tx, app.id).await?;
        let mut addon_config = AddonConfig::new();
        let mut plans = Vec::new();
        for (addon, name, primary, plan, state) in atts {
            if state != "provisioned" {
                continue;
            }
            plans.push(plan);
            for (key, value) in self.named_vars(&mut *tx, addon, &name, primary).await? {
                if before.config.contains_key(&key) {
                    return Err(Error::Conflict(format!(
                        "{} already has a config var {key}, which the add-on {name} would set: remove it, or attach under another name.",
                        app.full_name()
                    )));
                }
                if let Some(other) = addon_config.get(&key) {
                    return Err(Error::Conflict(format!(
                        "The add-ons {} and {name} would both set {key}: attach one under another name.",
                        other.attachment
                    )));
                }
                addon_config.insert(
                    key,
                    AddonVar {
                        value,
                        attachment: name.clone(),
                    },
                );
            }
        }
        plans.sort();
        let snap = Snapshot {
            addons: plans,
            addon_config,
            ..before
        };
        let cause = Cause {
            kind: ReleaseKind::Addon,
            description,
            rollback_of: None,
            actor,
        };
        self.insert_release(tx, app, version, &snap, cause).await
    }
}

/// `service` as a later provider offers it when an earlier one has its name.
fn renamed(provider: &str, mut s: Service) -> Service {
    let name = format!("{provider}-{}", s.name);
    for p in &mut s.plans {
        p.name = format!("{name}:{}", p.key);
    }
    s.name = name;
    s
}

/// Holds the app's row until commit without taking a version (no release yet).
async fn lock_app(tx: &mut PgConnection, app_id: Uuid) -> Result<()> {
    sqlx::query!(
        "select 1 as held from apps where id = $1 for update",
        app_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound("The app was deleted.".into()))?;
    Ok(())
}

/// Refuses a name an attachment on the app, or an add-on it is provisioning, already has
/// (case-insensitively). The caller holds the app's row.
async fn name_free(tx: &mut PgConnection, app: &App, name: &str) -> Result<()> {
    let taken: bool = sqlx::query_scalar!(
            r#"select exists (select 1 from addon_attachments where app_id = $1 and lower(name) = lower($2))
             or exists (select 1 from addons where app_id = $1 and lower(name) = lower($2)
                           and state = 'provisioning') as "taken!""#,
            app.id,
            name
        )
    .fetch_one(&mut *tx)
    .await?;
    if taken {
        Err(Error::Conflict(format!(
            "{} already has an add-on attached as {name}: choose another name.",
            app.full_name()
        )))
    } else {
        Ok(())
    }
}

/// Whether the app has a primary attachment of `service`. When the primary one leaves, the
/// others keep their prefixed names (nothing is renamed behind the app's back); the next
/// attachment of the service becomes primary.
async fn has_primary(tx: &mut PgConnection, app_id: Uuid, service: &str) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"select exists (select 1 from addon_attachments t join addons d on d.id = t.addon_id
                         where t.app_id = $1 and d.service = $2 and t.is_primary) as "primary!""#,
        app_id,
        service
    )
    .fetch_one(&mut *tx)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_follow_akkeris_rule() {
        for ok in ["db", "reports", "Reports-DB_2", "a1234567890123456789bc"] {
            assert!(check_attachment_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "d",
            "1db",
            "-db",
            "my db",
            "db;drop",
            "a12345678901234567890bc",
            "dé",
        ] {
            assert!(
                matches!(check_attachment_name(bad), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn prefixes_are_the_name_in_capitals() {
        assert_eq!(var_prefix("reports"), "REPORTS_");
        assert_eq!(var_prefix("reports-db_2"), "REPORTS_DB_2_");
    }

    #[test]
    fn default_names_are_valid_attachment_names() {
        for _ in 0..200 {
            let n = default_name("slipway-postgresql");
            assert!(n.starts_with("postgresql-"), "{n}");
            check_attachment_name(&n).unwrap();
        }
        check_attachment_name(&default_name("9-lives")).unwrap();
    }

    #[test]
    fn stable_ids_do_not_change() {
        assert_eq!(stable_id("x"), stable_id("x"));
        assert_ne!(stable_id("x"), stable_id("y"));
    }
}
