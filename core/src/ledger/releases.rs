//! Releases: numbering, snapshots, deploys of builds, and rollback.
//!
//! Every writer takes the app's row lock by bumping `apps.last_version` first, then reads the
//! newest release and inserts the next one in the same transaction. Versions are therefore
//! gapless and increasing across any number of processes, and each new snapshot is computed
//! from the one before it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::{BuildStatus, ReleaseKind, ReleaseStatus, Version};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::authz::{authorize, Action, Actor};
use crate::ledger::apps::App;
use crate::{Core, Error, Result};

/// The port a release runs on when none was ever set.
pub const DEFAULT_PORT: i32 = 9000;

/// A release as the API and UI show it. The config snapshot stays sealed in the database.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Release {
    pub id: Uuid,
    pub app_id: Uuid,
    pub version: i32,
    pub kind: ReleaseKind,
    pub build_id: Option<Uuid>,
    pub description: String,
    pub status: ReleaseStatus,
    pub port: i32,
    pub addon_plan_names: Vec<String>,
    pub rollback_of: Option<i32>,
    pub pinned: bool,
    pub user_id: Option<Uuid>,
    pub user_login: Option<String>,
    pub user_email: Option<String>,
    pub image: Option<String>,
    pub commit_sha: Option<String>,
    pub commit_message: Option<String>,
    pub commit_author: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether this is the app's current release (the newest that succeeded), read in the
    /// same statement as the status so the two always agree.
    pub current: bool,
    /// The release's image was removed from the engine (DESIGN §6): it cannot run again.
    pub image_gone: bool,
    /// Why the release failed, for people (a failed deploy's reason and the container's last
    /// lines, config values masked).
    pub failure: Option<String>,
}

impl Release {
    /// Why a rollback to this release is refused, or `None` when it is allowed: it must have
    /// succeeded, not be current, and its image must be kept (DESIGN §2). The history asks
    /// it to offer Rollback; `Core::rollback` asks it again under the app's lock.
    pub fn rollback_refusal(&self) -> Option<String> {
        let v = self.version;
        if self.status != ReleaseStatus::Succeeded {
            Some(format!(
                "Cannot roll back to v{v}: it has not succeeded (its status is {}).",
                self.status
            ))
        } else if self.image_gone {
            Some(format!(
                "Cannot roll back to v{v}: its image is no longer kept (only the last releases' and pinned releases' images are; pin a release to keep it)."
            ))
        } else if self.current {
            Some(format!(
                "Cannot roll back to v{v}: it is the current release."
            ))
        } else {
            None
        }
    }

    pub fn is_rollback_target(&self) -> bool {
        self.rollback_refusal().is_none()
    }
}

/// How a caller names a release: its uuid, or its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseRef {
    Id(Uuid),
    Version(Version),
}

impl ReleaseRef {
    /// Parses a uuid, `N` or `vN`.
    pub fn parse(s: &str) -> Option<Self> {
        Uuid::parse_str(s)
            .ok()
            .map(ReleaseRef::Id)
            .or_else(|| Version::parse(s).map(ReleaseRef::Version))
    }
}

/// Which builds a deploy may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlugRef {
    Build(Uuid),
    /// The app's newest succeeded build.
    Latest,
}

/// A versions window for listing, as Heroku's `Range` header describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Lowest version wanted (inclusive).
    pub from: i32,
    /// Highest version wanted (inclusive).
    pub to: i32,
    pub descending: bool,
    pub max: i64,
}

impl Window {
    pub fn all() -> Self {
        Self {
            from: 1,
            to: i32::MAX,
            descending: false,
            max: i64::MAX,
        }
    }
}

/// The state a release snapshots: what runs, with which config and port.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub build_id: Option<Uuid>,
    /// The user's own config vars.
    pub config: BTreeMap<String, String>,
    pub port: i32,
    /// The attached add-ons' plans (`addon_plan_names`).
    pub addons: Vec<String>,
    /// The vars the attached add-ons set, kept apart from the user's: a rollback copies the
    /// user's and keeps these (DESIGN §2).
    pub addon_config: AddonConfig,
}

/// An add-on var's value and the attachment that sets it, by var name.
pub(crate) type AddonConfig = BTreeMap<String, AddonVar>;

/// One var an add-on sets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct AddonVar {
    pub value: String,
    /// The attachment's name (`DATABASE_URL` is set by `postgresql-amber-4821`).
    pub attachment: String,
}

impl Snapshot {
    /// What the app's containers get: the user's vars and the add-ons' (whose names never
    /// clash: attaching and setting both refuse a clash).
    pub fn env(&self) -> BTreeMap<String, String> {
        merge(&self.config, &self.addon_config)
    }
}

fn merge(user: &BTreeMap<String, String>, addons: &AddonConfig) -> BTreeMap<String, String> {
    let mut env = user.clone();
    // Add-on values win; a clash cannot be written, so this only orders the merge.
    env.extend(addons.iter().map(|(k, v)| (k.clone(), v.value.clone())));
    env
}

/// What a new release records besides its snapshot.
pub(crate) struct Cause<'a> {
    pub kind: ReleaseKind,
    pub description: String,
    pub rollback_of: Option<i32>,
    pub actor: Option<&'a Actor>,
}

/// Every query on it binds the app's id as `$1`, so the current version is computed once per
/// statement (an init plan), not once per row. Dynamic SQL (not `query_as!`): shared by every
/// reader of releases; `query_as!` takes only a literal. A view would let them be checked.
const RELEASE_SELECT: &str = "
    select r.id, r.app_id, r.version, r.kind, r.build_id, r.description, r.status, r.port,
           r.addon_plan_names, r.rollback_of, r.pinned, r.user_id, u.login as user_login,
           u.email as user_email, b.image, b.commit_sha, b.message as commit_message, b.author as commit_author,
           r.created_at, r.updated_at,
           coalesce(r.version = (select version from current_release($1)), false) as current,
           coalesce(b.image_removed, false) as image_gone, r.failure
      from releases r
      left join users u on u.id = r.user_id
      left join builds b on b.id = r.build_id";

impl Core {
    /// Releases of an app within `window`, and whether more lie beyond it.
    pub async fn releases(
        &self,
        actor: &Actor,
        app: &App,
        window: Window,
    ) -> Result<(Vec<Release>, bool)> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        // Dynamic SQL: the order's direction is spliced in (and the select list is shared).
        let order = if window.descending { "desc" } else { "asc" };
        let sql = format!(
            "{RELEASE_SELECT} where r.app_id = $1 and r.version between $2 and $3
             order by r.version {order} limit $4"
        );
        let mut rows: Vec<Release> = sqlx::query_as(&sql)
            .bind(app.id)
            .bind(window.from)
            .bind(window.to)
            .bind(window.max.saturating_add(1))
            .fetch_all(&self.pool)
            .await?;
        let more = rows.len() as i64 > window.max;
        rows.truncate(window.max as usize);
        Ok((rows, more))
    }

    /// One release of an app, by uuid or version; another app's release is not found.
    pub async fn release(&self, actor: &Actor, app: &App, which: ReleaseRef) -> Result<Release> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        self.find_release(app, which).await
    }

    pub(crate) async fn find_release(&self, app: &App, which: ReleaseRef) -> Result<Release> {
        let sql = match which {
            ReleaseRef::Id(_) => format!("{RELEASE_SELECT} where r.app_id = $1 and r.id = $2"),
            ReleaseRef::Version(_) => {
                format!("{RELEASE_SELECT} where r.app_id = $1 and r.version = $2")
            }
        };
        let q = sqlx::query_as::<_, Release>(&sql).bind(app.id);
        let q = match which {
            ReleaseRef::Id(id) => q.bind(id),
            ReleaseRef::Version(v) => q.bind(v.get()),
        };
        q.fetch_optional(&self.pool).await?.ok_or_else(|| {
            Error::NotFound(match which {
                ReleaseRef::Id(id) => {
                    format!("The release {id} was not found in {}.", app.full_name())
                }
                ReleaseRef::Version(v) => {
                    format!("The release {v} was not found in {}.", app.full_name())
                }
            })
        })
    }

    /// Releases a succeeded build of the app: 409 unless it exists here and succeeded.
    pub async fn deploy(
        &self,
        actor: &Actor,
        app: &App,
        slug: SlugRef,
        description: Option<String>,
    ) -> Result<Release> {
        authorize(actor, Action::Release, Some(app.id))?;
        let build_id = self.releasable_build(app, slug).await?;
        let description = description
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| format!("Deploy of {build_id}"));
        self.release_build(app, build_id, ReleaseKind::Deploy, description, Some(actor))
            .await
    }

    /// Creates a deploy release of `build_id`, used by hand-made and automatic deploys alike.
    pub(crate) async fn release_build(
        &self,
        app: &App,
        build_id: Uuid,
        kind: ReleaseKind,
        description: String,
        actor: Option<&Actor>,
    ) -> Result<Release> {
        let mut tx = self.pool.begin().await?;
        let release = self
            .release_build_in(&mut tx, app, build_id, kind, description, actor)
            .await?;
        tx.commit().await?;
        Ok(release)
    }

    /// `release_build` inside the caller's transaction.
    pub(crate) async fn release_build_in(
        &self,
        tx: &mut PgConnection,
        app: &App,
        build_id: Uuid,
        kind: ReleaseKind,
        description: String,
        actor: Option<&Actor>,
    ) -> Result<Release> {
        let version = lock_next_version(&mut *tx, app.id).await?;
        let before = self.latest_snapshot(&mut *tx, app.id).await?;
        let snap = Snapshot {
            build_id: Some(build_id),
            ..before
        };
        let cause = Cause {
            kind,
            description,
            rollback_of: None,
            actor,
        };
        self.insert_release(&mut *tx, app, version, &snap, cause)
            .await
    }

    async fn releasable_build(&self, app: &App, slug: SlugRef) -> Result<Uuid> {
        let row: Option<(Uuid, Uuid, BuildStatus)> = match slug {
            SlugRef::Build(id) => sqlx::query!(
                r#"select id, app_id, status as "status: BuildStatus" from builds where id = $1"#,
                id
            )
            .fetch_optional(&self.pool)
            .await?
            .map(|r| (r.id, r.app_id, r.status)),
            SlugRef::Latest => sqlx::query!(
                r#"select id, app_id, status as "status: BuildStatus" from builds
                    where app_id = $1 and status = 'succeeded'
                    order by created_at desc, id desc limit 1"#,
                app.id
            )
            .fetch_optional(&self.pool)
            .await?
            .map(|r| (r.id, r.app_id, r.status)),
        };
        match (slug, row) {
            (SlugRef::Latest, None) => Err(Error::Conflict(format!(
                "{} has no succeeded build to release.",
                app.full_name()
            ))),
            (SlugRef::Build(id), None) => {
                Err(Error::Conflict(format!("The build {id} does not exist.")))
            }
            (_, Some((id, app_id, _))) if app_id != app.id => Err(Error::Conflict(format!(
                "The build {id} belongs to another app."
            ))),
            (_, Some((id, _, status))) if status != BuildStatus::Succeeded => Err(Error::Conflict(
                format!("The build {id} cannot be released: it is {status}, not succeeded."),
            )),
            (_, Some((id, _, _))) => Ok(id),
        }
    }

    /// Rolls back to `target`: a new release copying its slug, config vars and port (DESIGN §2).
    /// Pins or unpins a release: a pinned release's image is kept whatever its age (DESIGN §6).
    pub async fn set_pinned(
        &self,
        actor: &Actor,
        app: &App,
        which: ReleaseRef,
        pinned: bool,
    ) -> Result<Release> {
        authorize(actor, Action::Rollback, Some(app.id))?;
        let r = self.find_release(app, which).await?;
        sqlx::query!(
            "update releases set pinned = $2 where id = $1",
            r.id,
            pinned
        )
        .execute(&self.pool)
        .await?;
        tracing::info!(app = %app.full_name(), version = r.version, pinned, actor = %actor.login, "release pin changed");
        self.find_release(app, ReleaseRef::Id(r.id)).await
    }

    pub async fn rollback(&self, actor: &Actor, app: &App, target: ReleaseRef) -> Result<Release> {
        authorize(actor, Action::Rollback, Some(app.id))?;
        let target = self.find_release(app, target).await?;
        let mut tx = self.pool.begin().await?;
        let version = lock_next_version(&mut tx, app.id).await?;
        // Read again under the lock, so a deploy finishing meanwhile is seen.
        let target: Release = sqlx::query_as(&format!(
            "{RELEASE_SELECT} where r.app_id = $1 and r.id = $2"
        ))
        .bind(app.id)
        .bind(target.id)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(why) = target.rollback_refusal() {
            return Err(Error::Conflict(why));
        }
        let v = target.version;
        let before = self.latest_snapshot(&mut tx, app.id).await?;
        // The target's own vars; today's add-ons and their current credentials stay. Where
        // the target set a var an add-on sets now, the add-on's (live) value wins.
        let mut config = self.open_user_config(&mut tx, target.id).await?;
        config.retain(|k, _| !before.addon_config.contains_key(k));
        let snap = Snapshot {
            build_id: target.build_id,
            config,
            port: target.port,
            addons: before.addons,
            addon_config: before.addon_config,
        };
        let cause = Cause {
            kind: ReleaseKind::Rollback,
            description: format!("Rollback to v{v}"),
            rollback_of: Some(v),
            actor: Some(actor),
        };
        let release = self
            .insert_release(&mut tx, app, version, &snap, cause)
            .await?;
        // A rollback pauses auto-release until someone resumes it (DESIGN §2).
        sqlx::query!("update apps set auto_release_paused = auto_release_paused or auto_release, auto_release = false
             where id = $1", app.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, to = v, version, "rolled back");
        Ok(release)
    }

    /// The newest release's snapshot (whatever its status): the app's desired state.
    pub(crate) async fn latest_snapshot(
        &self,
        tx: &mut PgConnection,
        app_id: Uuid,
    ) -> Result<Snapshot> {
        let row = sqlx::query!(
            "select id from releases where app_id = $1 order by version desc limit 1",
            app_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            None => Ok(Snapshot {
                port: DEFAULT_PORT,
                ..Snapshot::default()
            }),
            Some(r) => self.open_snapshot(tx, r.id).await,
        }
    }

    /// A release's whole snapshot.
    pub(crate) async fn open_snapshot(
        &self,
        tx: &mut PgConnection,
        release_id: Uuid,
    ) -> Result<Snapshot> {
        let r = sqlx::query!(
            "select build_id, port, addon_plan_names, config_enc, addon_config_enc
               from releases where id = $1",
            release_id
        )
        .fetch_one(&mut *tx)
        .await?;
        let plain = self
            .key
            .open(&format!("release:{release_id}"), &r.config_enc)?;
        let config = serde_json::from_slice(&plain).map_err(anyhow::Error::from)?;
        let addon_config = match r.addon_config_enc {
            None => AddonConfig::new(),
            Some(sealed) => {
                let plain = self
                    .key
                    .open(&format!("release-addons:{release_id}"), &sealed)?;
                serde_json::from_slice(&plain).map_err(anyhow::Error::from)?
            }
        };
        Ok(Snapshot {
            build_id: r.build_id,
            config,
            port: r.port,
            addons: r.addon_plan_names,
            addon_config,
        })
    }

    /// A release's environment: the user's config vars and its add-ons' vars.
    pub(crate) async fn open_snapshot_config(
        &self,
        tx: &mut PgConnection,
        release_id: Uuid,
    ) -> Result<BTreeMap<String, String>> {
        Ok(self.open_snapshot(tx, release_id).await?.env())
    }

    /// A release's own config vars, without its add-ons'.
    pub(crate) async fn open_user_config(
        &self,
        tx: &mut PgConnection,
        release_id: Uuid,
    ) -> Result<BTreeMap<String, String>> {
        Ok(self.open_snapshot(tx, release_id).await?.config)
    }

    /// Inserts release `version` and queues its deploy; the caller holds the app's lock.
    pub(crate) async fn insert_release(
        &self,
        tx: &mut PgConnection,
        app: &App,
        version: i32,
        snap: &Snapshot,
        cause: Cause<'_>,
    ) -> Result<Release> {
        let id = Uuid::new_v4();
        let json = serde_json::to_vec(&snap.config).map_err(anyhow::Error::from)?;
        let sealed = self.key.seal(&format!("release:{id}"), &json);
        let addons_sealed = if snap.addon_config.is_empty() {
            None
        } else {
            let json = serde_json::to_vec(&snap.addon_config).map_err(anyhow::Error::from)?;
            Some(self.key.seal(&format!("release-addons:{id}"), &json))
        };
        sqlx::query!("insert into releases (id, app_id, version, kind, build_id, description, status, config_enc,
                                   port, addon_plan_names, rollback_of, user_id, addon_config_enc)
             values ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9, $10, $11, $12)", id, app.id, version, cause.kind.as_str(), snap.build_id, &cause.description, sealed, snap.port, &snap.addons, cause.rollback_of, cause.actor.map(|a| a.user_id), addons_sealed)
        .execute(&mut *tx)
        .await?;
        crate::jobs::enqueue(tx, app.id, crate::jobs::JobFor::Deploy(id)).await?;
        tracing::info!(
            app = %app.full_name(),
            actor = cause.actor.map(|a| a.login.as_str()).unwrap_or("slipway"),
            version,
            kind = %cause.kind,
            "release created"
        );
        // Read back inside the transaction: the answer shows the release as created (queued),
        // whatever a worker does once it commits.
        Ok(sqlx::query_as(&format!(
            "{RELEASE_SELECT} where r.app_id = $1 and r.id = $2"
        ))
        .bind(app.id)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?)
    }
}

/// Bumps and returns the app's version counter, taking the app's row lock until commit.
pub(crate) async fn lock_next_version(tx: &mut PgConnection, app_id: Uuid) -> Result<i32> {
    sqlx::query_scalar!(
        "update apps set last_version = last_version + 1 where id = $1 returning last_version",
        app_id
    )
    .fetch_optional(tx)
    .await?
    .ok_or_else(|| Error::NotFound("The app was deleted.".into()))
}
