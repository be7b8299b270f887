//! The jobs table as the ledger writes it: a release's deploy, a build's run or an add-on's
//! provisioning, queued in the transaction that made it, and the channels workers listen on. The worker that claims and
//! runs them is `queue`.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// Announces a new job (payload empty).
pub(crate) const CHANNEL: &str = "slipway_jobs";
/// Announces that the engine should be reconciled (an app was deleted; payload: its id).
pub const RECONCILE_CHANNEL: &str = "slipway_reconcile";

/// Which of an app's lanes a job runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum JobKind {
    Deploy,
    Build,
    /// Waiting for a broker's asynchronous provisioning, then attaching the add-on.
    Addon,
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobKind::Deploy => "deploy",
            JobKind::Build => "build",
            JobKind::Addon => "addon",
        })
    }
}

/// What a job is for.
pub(crate) enum JobFor {
    /// Deploying a release.
    Deploy(Uuid),
    /// Running a build.
    Build(Uuid),
    /// Finishing an add-on's provisioning.
    Addon(Uuid),
}

/// Queues a job, inside the transaction that made its release or build; workers hear of it
/// at commit. The app's row is locked first (a release's transaction holds it already), so
/// one lane's jobs commit in the order of their ids.
pub(crate) async fn enqueue(tx: &mut PgConnection, app_id: Uuid, job: JobFor) -> Result<()> {
    let (kind, release_id, build_id, addon_id) = match job {
        JobFor::Deploy(r) => (JobKind::Deploy, Some(r), None, None),
        JobFor::Build(b) => (JobKind::Build, None, Some(b), None),
        JobFor::Addon(a) => (JobKind::Addon, None, None, Some(a)),
    };
    sqlx::query!(
        "select 1 as held from apps where id = $1 for no key update",
        app_id
    )
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into jobs (app_id, kind, release_id, build_id, addon_id) values ($1, $2, $3, $4, $5)",
        app_id,
        kind as _,
        release_id,
        build_id,
        addon_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("select pg_notify($1, '')", CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
