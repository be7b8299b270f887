//! The job queue and the deploy worker.
//!
//! Jobs are rows claimed with `for update skip locked` and a lease (`locked_until`). Each app
//! has two lanes, its deploys and its builds (`jobs.kind`); in a lane only the oldest job is
//! claimable, so an app's releases deploy one at a time in version order and its builds run one
//! at a time in order, whichever process runs them, while a rollback never waits behind a
//! build. The claim walks the heads of the lanes, so its cost does not grow with the backlog.
//!
//! Every claim gets a fresh id, the fence: each write a job makes checks it, so a worker whose
//! lease was taken over changes nothing more. A worker renews its lease while the job runs,
//! retrying through a database restart, and stops the job when it cannot renew in time. A
//! worker that dies leaves its lease to expire; another worker then takes the job again (a
//! deploy runs again, a build fails). A queued deploy that a newer release of its app has
//! already superseded is not run: it is marked `skipped`. New jobs are announced with
//! `NOTIFY slipway_jobs`; workers also poll, so a lost notification only delays.

pub mod build;

use std::sync::Arc;
use std::time::Duration;

use domain::ReleaseStatus;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use uuid::Uuid;

use crate::jobs::{JobKind, CHANNEL};
use crate::lease::{is_lost, lost, persist, Claim, Fence};
use crate::runtime::Runtime;
use crate::{Core, Error, Result};

/// A claimed job.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub app_id: Uuid,
    pub kind: JobKind,
    pub release_id: Option<Uuid>,
    pub build_id: Option<Uuid>,
    pub addon_id: Option<Uuid>,
    pub attempts: i32,
    /// This claim's fencing token.
    pub claim_id: Uuid,
}

impl Job {
    pub fn fence(&self) -> Fence {
        Fence {
            job_id: self.id,
            claim_id: self.claim_id,
        }
    }
}

/// What a worker drives: the runtime for deploys and the settings for builds.
#[derive(Clone)]
pub struct Engines {
    pub runtime: Arc<dyn Runtime>,
    pub builds: build::BuildSettings,
    /// Jobs a worker runs at once.
    pub max_jobs: usize,
}

impl Engines {
    /// `runtime` for deploys; builds on the engine at `DOCKER_HOST` with the default limits
    /// and no private sources.
    pub fn with_runtime(runtime: Arc<dyn Runtime>) -> Self {
        Self {
            runtime,
            builds: build::BuildSettings {
                builder: Arc::new(crate::builds::engine::Docker::from_env()),
                limits: crate::builds::unpack::Limits::default(),
                policy: crate::builds::fetch::AddressPolicy::default(),
                timeout: Duration::from_secs(20 * 60),
                work_dir: std::env::temp_dir().join("slipway-builds"),
                max_log_bytes: build::DEFAULT_MAX_LOG_BYTES,
            },
            max_jobs: 4,
        }
    }
}

/// The heads of the lanes (the oldest job of each app and kind), found with one index probe
/// per lane (a loose index scan on `jobs_lane`), and the oldest of them that is not leased.
/// Dynamic SQL (not `query_as!`): the queue benchmark `EXPLAIN`s this same text ([`Core::claim_sql`]).
const CLAIM: &str = "
    with recursive heads (app_id, kind, id) as (
        (select app_id, kind, id from jobs order by app_id, kind, id limit 1)
      union all
        select n.app_id, n.kind, n.id
          from heads h
         cross join lateral (select j.app_id, j.kind, j.id from jobs j
                              where (j.app_id, j.kind) > (h.app_id, h.kind)
                              order by j.app_id, j.kind, j.id
                              limit 1) n
    ),
    next as (
        -- An array, so each head is one primary-key probe: joined as a set, the planner
        -- would rather walk every job in id order.
        select j.id from jobs j
         where j.id = any (array(select id from heads))
           and (j.locked_until is null or j.locked_until < now())
         order by j.id
         limit 1
         for update skip locked
    )
    update jobs set claim_id = $1, locked_by = $2, locked_until = now() + $3,
                    attempts = attempts + 1
      from next where jobs.id = next.id
    returning jobs.id, jobs.app_id, jobs.kind, jobs.release_id, jobs.build_id, jobs.addon_id,
              jobs.attempts, jobs.claim_id";

/// How a deploy job begins.
enum Start {
    /// Run it.
    Deploy,
    /// Nothing to do: it finished already (a worker died after finishing it), or a newer
    /// release superseded it (marked skipped).
    Done,
}

impl Core {
    /// Claims the next runnable job for `worker` (a name, for people): the oldest job of its
    /// lane, not leased (or whose lease expired), with a fresh claim id.
    pub async fn claim_job(&self, worker: &str, lease: Duration) -> Result<Option<Job>> {
        Ok(sqlx::query_as(CLAIM)
            .bind(Uuid::new_v4())
            .bind(worker)
            .bind(lease)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The claim query's plan for `EXPLAIN` (the queue benchmark prints it).
    pub fn claim_sql() -> &'static str {
        CLAIM
    }

    /// Extends the lease of a job this claim holds; false when it was taken over.
    pub async fn renew_lease(&self, job: &Job, lease: Duration) -> Result<bool> {
        let n = sqlx::query!(
            "update jobs set locked_until = now() + $3 where id = $1 and claim_id = $2",
            job.id,
            job.claim_id,
            lease as _
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Runs a claimed job to its end and removes it. A job whose claim was taken over stops
    /// without writing anything more, and answers Ok.
    pub async fn run_job(&self, job: &Job, engines: &Engines) -> Result<()> {
        let (_held, lost) = watch::channel(false);
        let claim = Claim {
            fence: job.fence(),
            lost,
        };
        self.run_job_as(&claim, job, engines).await
    }

    async fn run_job_as(&self, claim: &Claim, job: &Job, engines: &Engines) -> Result<()> {
        let ran = match (job.kind, job.release_id, job.build_id, job.addon_id) {
            (JobKind::Deploy, Some(release_id), _, _) => {
                self.run_deploy(claim, release_id, engines.runtime.as_ref())
                    .await
            }
            (JobKind::Build, _, Some(build_id), _) => {
                self.run_build(claim, build_id, job.attempts, &engines.builds)
                    .await
            }
            (JobKind::Addon, _, _, Some(addon_id)) => {
                self.finish_provisioning(claim, addon_id).await
            }
            (kind, _, _, _) => {
                tracing::error!(job = job.id, %kind, "a job without its release, build or add-on; dropping it");
                Ok(())
            }
        };
        match ran {
            Err(e) if is_lost(&e) => {
                tracing::warn!(
                    job = job.id,
                    "another worker took this job over; it stopped here"
                );
                return Ok(());
            }
            r => r?,
        }
        persist(claim, || async {
            sqlx::query!(
                "delete from jobs where id = $1 and claim_id = $2",
                job.id,
                job.claim_id
            )
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// Marks the release pending, unless it finished already or a newer release of its app
    /// supersedes it: then it, and every other queued release older than the newest, is
    /// skipped (their jobs go), so a burst of changes restarts the app once.
    async fn start_deploy(&self, fence: Fence, release_id: Uuid) -> Result<Start> {
        let mut tx = self.pool.begin().await?;
        fence.hold(&mut tx).await?;
        let r = sqlx::query!(
            r#"select r.app_id, r.version, r.status as "status: ReleaseStatus", a.last_version
                 from releases r join apps a on a.id = r.app_id where r.id = $1"#,
            release_id
        )
        .fetch_one(&mut *tx)
        .await?;
        let (app_id, version, status, newest) = (r.app_id, r.version, r.status, r.last_version);
        if status.is_settled() {
            return Ok(Start::Done);
        }
        // A release already pending was started by a worker that died; it may be running
        // behind the address, so it is deployed again rather than skipped.
        if version < newest && status == ReleaseStatus::Queued {
            // Only the head of the app's deploy lane runs, and this is it: the releases
            // behind it are all queued and none is claimed.
            let skipped: Vec<Uuid> = sqlx::query_scalar!(
                "update releases set status = 'skipped'
                  where app_id = $1 and version < $2 and status in ('queued', 'pending')
                  returning id",
                app_id,
                newest
            )
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query!(
                "delete from jobs where app_id = $1 and kind = 'deploy' and id <> $2
                    and release_id = any($3)",
                app_id,
                fence.job_id,
                &skipped
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(app = %app_id, version, newest, skipped = skipped.len(), "superseded releases skipped");
            return Ok(Start::Done);
        }
        sqlx::query!(
            "update releases set status = 'pending' where id = $1",
            release_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Start::Deploy)
    }

    async fn run_deploy(
        &self,
        claim: &Claim,
        release_id: Uuid,
        runtime: &dyn Runtime,
    ) -> Result<()> {
        let fence = claim.fence;
        match persist(claim, || self.start_deploy(fence, release_id)).await? {
            Start::Done => return Ok(()),
            Start::Deploy => {}
        }
        let mut d = persist(claim, || self.deployment(release_id)).await?;
        d.fence = Some(fence);
        let version = d.version;
        let outcome = runtime.deploy(&d).await;
        let failure = match &outcome {
            Ok(()) => {
                tracing::info!(app = %d.app_name, version, "release deployed");
                None
            }
            Err(e) if e.downcast_ref::<Error>().is_some_and(is_lost) => return Err(lost()),
            Err(e) => {
                tracing::warn!(app = %d.app_name, version, error = %format!("{e:#}"), "release failed");
                // Only reasons written for people are shown; anything else stays in the log.
                Some(match Error::refusal(e) {
                    Some(text) => text.to_owned(),
                    None => "The container engine failed while deploying; the server log has the details.".to_owned(),
                })
            }
        };
        persist(claim, || async {
            let mut tx = self.pool.begin().await?;
            fence.hold(&mut tx).await?;
            let status = if failure.is_none() {
                ReleaseStatus::Succeeded
            } else {
                ReleaseStatus::Failed
            };
            sqlx::query!(
                "update releases set status = $2, failure = $3 where id = $1",
                release_id,
                status as _,
                failure.as_deref()
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        if failure.is_none() {
            if let Err(e) = self.forget_old_images(d.app_id, runtime).await {
                tracing::warn!(app = %d.app_name, error = %format!("{e:#}"), "cannot remove old images");
            }
        }
        Ok(())
    }

    /// Removes the images no kept release needs (DESIGN §6): kept are the images of the
    /// app's last `keep` releases (skipped ones, which never ran, do not count), of pinned
    /// releases, and of builds never released. Only
    /// images Slipway built are removed: a `docker://` image belongs to whoever made it.
    /// Uploaded sources older than the kept releases go too.
    async fn forget_old_images(&self, app_id: Uuid, runtime: &dyn Runtime) -> Result<()> {
        let Some(keep) = runtime.keep_releases() else {
            return Ok(());
        };
        let images: Vec<String> = sqlx::query_scalar!(
            r#"with kept as (select kept_builds($1, $2) as build_id)
               update builds b set image_removed = true
                where b.app_id = $1 and b.image is not null and not b.image_removed
                  and b.source_url not like 'docker://%'
                  and exists (select 1 from releases r where r.build_id = b.id)
                  and b.id not in (select build_id from kept)
               returning b.image as "image!""#,
            app_id,
            keep as i32
        )
        .fetch_all(&self.pool)
        .await?;
        if !images.is_empty() {
            runtime.remove_images(&images).await;
        }
        self.forget_old_sources(app_id, keep).await
    }

    /// Runs jobs until `shutdown` resolves, up to `engines.max_jobs` at once: a long build
    /// never holds up another app's deploy. Each job's lease is renewed while it runs. At
    /// shutdown a running build fails (it cannot resume elsewhere); a running deploy is left
    /// to be taken again when its lease expires.
    pub async fn run_worker(
        &self,
        worker: String,
        lease: Duration,
        engines: Engines,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        tokio::pin!(shutdown);
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for jobs; polling only");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for jobs; polling only");
                None
            }
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(engines.max_jobs.max(1)));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut running = tokio::task::JoinSet::new();
        // Builds waiting for their commit's status checks are looked at beside the jobs, so
        // a slow GitHub never holds up claiming, and busy slots never hold up releasing.
        let sweeper = {
            let core = self.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(2));
                let mut sweeps = 0u32;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                    if let Err(e) = core.release_waiting_builds().await {
                        tracing::error!(error = %format!("{e:#}"), "cannot release builds waiting for status checks");
                    }
                    sweeps = sweeps.wrapping_add(1);
                    if sweeps % 1800 == 1 {
                        core.forget_old_deliveries().await;
                        if let Err(e) = core.forget_abandoned_uploads().await {
                            tracing::warn!(error = %format!("{e:#}"), "cannot remove abandoned uploads");
                        }
                    }
                }
            })
        };
        let mut claim_failing = false;
        loop {
            while running.try_join_next().is_some() {}
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                _ = &mut shutdown => break,
            };
            // The lease counts from before the claim, never from later than it does.
            let claimed_at = tokio::time::Instant::now();
            match self.claim_job(&worker, lease).await {
                Ok(Some(job)) => {
                    claim_failing = false;
                    let (core, engines) = (self.clone(), engines.clone());
                    let mut stop = stop_rx.clone();
                    running.spawn(async move {
                        let _slot = permit;
                        core.run_claimed(&job, claimed_at + lease, lease, &engines, &mut stop)
                            .await;
                    });
                    continue;
                }
                Ok(None) => {
                    claim_failing = false;
                    drop(permit)
                }
                Err(e) => {
                    drop(permit);
                    // Once per outage, not once a second.
                    if !claim_failing {
                        tracing::error!(error = %format!("{e:#}"), "cannot claim a job");
                    }
                    claim_failing = true;
                }
            }
            let wake = async {
                match listener.as_mut() {
                    Some(l) => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), l.recv()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = wake => {}
                // A finished job frees a slot: look for the next one at once.
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        let _ = stop_tx.send(true);
        while running.join_next().await.is_some() {}
        let _ = sweeper.await;
    }

    /// Runs one claimed job, renewing its lease (held until `held_until`), until it ends, its
    /// lease is lost, or `stop` turns true.
    async fn run_claimed(
        &self,
        job: &Job,
        held_until: tokio::time::Instant,
        lease: Duration,
        engines: &Engines,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) {
        let (lost_tx, lost_rx) = watch::channel(false);
        let claim = Claim {
            fence: job.fence(),
            lost: lost_rx.clone(),
        };
        // Stops renewing whenever this ends, a panic included: a lease nobody works under
        // must run out.
        let renew = {
            let (core, job) = (self.clone(), job.clone());
            crate::lease::AbortOnDrop(tokio::spawn(async move {
                core.keep_lease(&job, held_until, lease).await;
                let _ = lost_tx.send(true);
            }))
        };
        let mut lost = lost_rx;
        let result = tokio::select! {
            r = self.run_job_as(&claim, job, engines) => r,
            _ = async { let _ = lost.wait_for(|l| *l).await; } => {
                // Dropping the job stops it where it is; its writes are fenced anyway.
                tracing::warn!(job = job.id, kind = %job.kind, "the job's lease could not be renewed in time; it stopped here");
                return;
            }
            _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                drop(renew);
                // A build cannot resume elsewhere: it fails now rather than when its lease
                // expires. A deploy is taken again by another worker.
                if let (Some(build_id), JobKind::Build) = (job.build_id, job.kind) {
                    let line = "Slipway stopped while this build ran; the build failed.".to_owned();
                    match self.finish_build(build_id, None, &[line], Some(claim.fence)).await {
                        Ok(true) => self.post_build_status(build_id, "failure").await,
                        Ok(false) => {}
                        Err(e) if is_lost(&e) => {}
                        Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot fail the interrupted build"),
                    }
                    let _ = sqlx::query!("delete from jobs where id = $1 and claim_id = $2", job.id, job.claim_id)
                        .execute(&self.pool)
                        .await;
                }
                return;
            }
        };
        drop(renew);
        if let Err(e) = result {
            tracing::error!(job = job.id, error = %format!("{e:#}"), "job failed; it is taken again when its lease expires");
        }
    }

    /// Renews the job's lease every third of it, retrying through database errors, until the
    /// lease is taken over or could not be renewed before it ran out (then it returns).
    async fn keep_lease(&self, job: &Job, mut held_until: tokio::time::Instant, lease: Duration) {
        use tokio::time::Instant;
        // Give up a little before the lease runs out, so the job stops before another
        // worker can take it.
        let margin = (lease / 10).min(Duration::from_secs(2));
        loop {
            tokio::time::sleep(lease / 3).await;
            let mut warned = false;
            loop {
                let sent = Instant::now();
                let Some(left) = held_until.checked_duration_since(sent + margin) else {
                    return;
                };
                // A renewal that hangs (the pool waiting for a connection) counts as failed
                // once the lease is about to run out.
                let renewed = tokio::time::timeout(left, self.renew_lease(job, lease))
                    .await
                    .unwrap_or_else(|_| Err(Error::Unavailable(anyhow::anyhow!("timed out"))));
                match renewed {
                    Ok(true) => {
                        held_until = sent + lease;
                        break;
                    }
                    Ok(false) => return,
                    Err(e) => {
                        if !warned {
                            tracing::warn!(job = job.id, error = %format!("{e:#}"), "cannot renew a job's lease; trying again");
                            warned = true;
                        }
                        let retry = Duration::from_millis(500).min(lease / 10);
                        if Instant::now() + retry + margin >= held_until {
                            return;
                        }
                        tokio::time::sleep(retry).await;
                    }
                }
            }
        }
    }
}
