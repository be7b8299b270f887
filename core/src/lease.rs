//! Leases and fencing: how a job's worker proves it still holds the job, and stops writing
//! once it does not (DESIGN §6). Builds and the runtime check the fence; the queue grants it.

use std::future::Future;

use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{Error, Result};

/// Proof that a worker still holds a job: the job and the id of its claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub(crate) job_id: i64,
    pub(crate) claim_id: Uuid,
}

/// The job was taken over by another worker (its lease expired): nothing more may be written.
#[derive(Debug)]
pub(crate) struct LostClaim;

impl std::fmt::Display for LostClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("another worker took the job over")
    }
}

impl std::error::Error for LostClaim {}

pub(crate) fn lost() -> Error {
    Error::Internal(LostClaim.into())
}

/// Whether `e` says the claim was lost.
pub(crate) fn is_lost(e: &Error) -> bool {
    matches!(e, Error::Internal(e) if e.is::<LostClaim>())
}

impl Fence {
    /// Locks the job's row until `tx` ends, so no other worker can take the job over (the
    /// claim's `for update` skips it) nor delete it meanwhile; `LostClaim` when another
    /// already took it. A key-share lock: the holder's own lease renewal (an update of other
    /// columns) does not wait for it.
    pub(crate) async fn hold(&self, tx: &mut PgConnection) -> Result<()> {
        let held: Option<i32> = sqlx::query_scalar!(
            "select 1 as \"held!\" from jobs where id = $1 and claim_id = $2 for key share",
            self.job_id,
            self.claim_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        held.map(|_| ()).ok_or_else(lost)
    }

    /// A transaction that holds the claim (see [`Fence::hold`]) until it is committed or
    /// dropped: the runtime holds one while it moves the address and removes containers.
    pub async fn guard(&self, pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        let mut tx = pool.begin().await?;
        self.hold(&mut tx).await?;
        Ok(tx)
    }
}

/// A claim as the job running under it sees it: the fence, and whether the lease was lost.
#[derive(Clone)]
pub(crate) struct Claim {
    pub fence: Fence,
    pub(crate) lost: watch::Receiver<bool>,
}

impl Claim {
    pub(crate) fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }
}

/// A task that is aborted when this is dropped.
pub(crate) struct AbortOnDrop<T>(pub(crate) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `op`, and again while the database is unavailable (restarting), for as long as
/// the claim holds: a job's writes survive a passing outage.
pub(crate) async fn persist<T, F, Fut>(claim: &Claim, op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut warned = false;
    crate::db::while_unavailable(op, |e| {
        if claim.is_lost() {
            return Err(lost());
        }
        if !warned {
            tracing::warn!(error = %format!("{e:#}"), "the database is not answering; trying again");
            warned = true;
        }
        Ok(())
    })
    .await
}
