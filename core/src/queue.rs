//! The job queue and the deploy worker.
//!
//! Jobs are rows claimed with `for update skip locked` and a lease (`locked_until`). Per app,
//! only the oldest job is claimable, so an app's releases deploy one at a time, in version
//! order, whichever process runs them. A worker that dies leaves its lease to expire; another
//! worker then takes the job again (deploys are idempotent). New jobs are announced with
//! `NOTIFY slipway_jobs`; workers also poll, so a lost notification only delays.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Core, Result};

const CHANNEL: &str = "slipway_jobs";

/// What the runtime is asked to run for a release.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub app_id: Uuid,
    pub app_name: String,
    pub release_id: Uuid,
    pub version: i32,
    /// The image to run; `None` for a release without a build (nothing to run).
    pub image: Option<String>,
    pub config: BTreeMap<String, String>,
    pub port: i32,
}

/// The port to the thing that runs apps.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    /// Starts the release and makes it the app's running one; an error fails the release.
    async fn deploy(&self, d: &Deployment) -> anyhow::Result<()>;
    /// How many recent releases keep their images; `None`: images are never removed.
    fn keep_releases(&self) -> Option<u32> {
        None
    }
    /// Removes images no kept release needs.
    async fn remove_images(&self, _images: &[String]) {}
}

/// The runtime until a container engine is wired in: runs nothing, every release succeeds.
pub struct NoopRuntime;

#[async_trait::async_trait]
impl Runtime for NoopRuntime {
    async fn deploy(&self, _d: &Deployment) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A claimed job.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub app_id: Uuid,
    pub kind: String,
    pub release_id: Option<Uuid>,
    pub build_id: Option<Uuid>,
    pub attempts: i32,
}

/// What a job is for.
pub(crate) enum JobFor {
    /// Deploying a release.
    Deploy(Uuid),
    /// Running a build.
    Build(Uuid),
}

/// Queues a job, inside the transaction that made its release or build; workers hear of it
/// at commit.
pub(crate) async fn enqueue(tx: &mut PgConnection, app_id: Uuid, job: JobFor) -> Result<()> {
    let (kind, release_id, build_id) = match job {
        JobFor::Deploy(r) => ("deploy", Some(r), None),
        JobFor::Build(b) => ("build", None, Some(b)),
    };
    sqlx::query("insert into jobs (app_id, kind, release_id, build_id) values ($1, $2, $3, $4)")
        .bind(app_id)
        .bind(kind)
        .bind(release_id)
        .bind(build_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("select pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// What a worker drives: the runtime for deploys and the settings for builds.
#[derive(Clone)]
pub struct Engines {
    pub runtime: Arc<dyn Runtime>,
    pub builds: crate::build_job::BuildSettings,
    /// Jobs a worker runs at once.
    pub max_jobs: usize,
}

impl Engines {
    /// `runtime` for deploys; builds on the engine at `DOCKER_HOST` with the default limits
    /// and no private sources.
    pub fn with_runtime(runtime: Arc<dyn Runtime>) -> Self {
        Self {
            runtime,
            builds: crate::build_job::BuildSettings {
                builder: Arc::new(crate::engine::Docker::from_env()),
                limits: crate::source::Limits::default(),
                policy: crate::source::AddressPolicy::default(),
                timeout: Duration::from_secs(20 * 60),
                work_dir: std::env::temp_dir().join("slipway-builds"),
            },
            max_jobs: 4,
        }
    }
}

impl Core {
    /// Claims the next runnable job for `worker`: the oldest of its app, not leased (or whose
    /// lease expired).
    pub async fn claim_job(&self, worker: &str, lease: Duration) -> Result<Option<Job>> {
        Ok(sqlx::query_as(
            "with next as (
                 select j.id from jobs j
                  where (j.locked_until is null or j.locked_until < now())
                    and not exists (select 1 from jobs e where e.app_id = j.app_id and e.id < j.id)
                  order by j.id
                  limit 1
                  for update skip locked)
             update jobs set locked_by = $1, locked_until = now() + $2, attempts = attempts + 1
               from next where jobs.id = next.id
             returning jobs.id, jobs.app_id, jobs.kind, jobs.release_id, jobs.build_id, jobs.attempts",
        )
        .bind(worker)
        .bind(lease)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Extends the lease of a job this worker holds; false when it was lost.
    pub async fn renew_lease(&self, job: &Job, worker: &str, lease: Duration) -> Result<bool> {
        let n = sqlx::query(
            "update jobs set locked_until = now() + $3 where id = $1 and locked_by = $2",
        )
        .bind(job.id)
        .bind(worker)
        .bind(lease)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Runs a claimed job to its end and removes it.
    pub async fn run_job(&self, job: &Job, worker: &str, engines: &Engines) -> Result<()> {
        match (job.kind.as_str(), job.release_id, job.build_id) {
            ("deploy", Some(release_id), _) => {
                self.run_deploy(release_id, engines.runtime.as_ref())
                    .await?
            }
            ("build", _, Some(build_id)) => {
                self.run_build(build_id, job.attempts, &engines.builds)
                    .await?
            }
            (kind, _, _) => tracing::error!(job = job.id, kind, "unknown job kind; dropping it"),
        }
        sqlx::query("delete from jobs where id = $1 and locked_by = $2")
            .bind(job.id)
            .bind(worker)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What the runtime needs to run a release.
    pub(crate) async fn deployment(&self, release_id: Uuid) -> Result<Deployment> {
        let (app_id, name, space, version, image, port): (
            Uuid,
            String,
            String,
            i32,
            Option<String>,
            i32,
        ) = sqlx::query_as(
            "select a.id, a.name, s.name, r.version,
                        (select image from builds b where b.id = r.build_id), r.port
                   from releases r join apps a on a.id = r.app_id join spaces s on s.id = a.space_id
                  where r.id = $1",
        )
        .bind(release_id)
        .fetch_one(&self.pool)
        .await?;
        let mut conn = self.pool.acquire().await?;
        let config = self.open_snapshot_config(&mut conn, release_id).await?;
        Ok(Deployment {
            app_id,
            app_name: format!("{name}-{space}"),
            release_id,
            version,
            image,
            config,
            port,
        })
    }

    async fn run_deploy(&self, release_id: Uuid, runtime: &dyn Runtime) -> Result<()> {
        // Idempotent: a release that already finished (a worker died after finishing it) is done.
        let n = sqlx::query(
            "update releases set status = 'pending', updated_at = now()
              where id = $1 and status in ('queued', 'pending')",
        )
        .bind(release_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(());
        }
        let d = self.deployment(release_id).await?;
        let version = d.version;
        let outcome = runtime.deploy(&d).await;
        let failure = match &outcome {
            Ok(()) => {
                tracing::info!(app = %d.app_name, version, "release deployed");
                None
            }
            Err(e) => {
                tracing::warn!(app = %d.app_name, version, error = %format!("{e:#}"), "release failed");
                // Only reasons written for people are shown; anything else stays in the log.
                Some(match e.downcast_ref::<crate::source::Refused>() {
                    Some(r) => r.0.clone(),
                    None => "The container engine failed while deploying; the server log has the details.".to_owned(),
                })
            }
        };
        sqlx::query(
            "update releases set status = $2, failure = $3, updated_at = now() where id = $1",
        )
        .bind(release_id)
        .bind(if failure.is_none() {
            "succeeded"
        } else {
            "failed"
        })
        .bind(&failure)
        .execute(&self.pool)
        .await?;
        if failure.is_none() {
            self.forget_old_images(d.app_id, runtime).await?;
        }
        Ok(())
    }

    /// Removes the images no kept release needs (DESIGN §6): kept are the images of the
    /// app's last `keep` releases, of pinned releases, and of builds never released. Only
    /// images Slipway built are removed: a `docker://` image belongs to whoever made it.
    async fn forget_old_images(&self, app_id: Uuid, runtime: &dyn Runtime) -> Result<()> {
        let Some(keep) = runtime.keep_releases() else {
            return Ok(());
        };
        let gone: Vec<(Uuid, String)> = sqlx::query_as(
            "with kept as (
                 select build_id from releases
                  where app_id = $1 and build_id is not null
                    and (pinned or version > (select last_version from apps where id = $1) - $2))
             update builds b set image_removed = true
              where b.app_id = $1 and b.image is not null and not b.image_removed
                and b.source_url not like 'docker://%'
                and exists (select 1 from releases r where r.build_id = b.id)
                and b.id not in (select build_id from kept)
             returning b.id, b.image",
        )
        .bind(app_id)
        .bind(keep as i32)
        .fetch_all(&self.pool)
        .await?;
        if !gone.is_empty() {
            let images: Vec<String> = gone.into_iter().map(|(_, i)| i).collect();
            runtime.remove_images(&images).await;
        }
        Ok(())
    }

    /// Runs jobs until `shutdown` resolves, up to `engines.max_jobs` at once: a long build
    /// never holds up another app's deploy (one app's jobs still run one at a time, in order,
    /// because only the oldest job of an app can be claimed). Each job's lease is renewed
    /// while it runs. At shutdown a running build fails (it cannot resume elsewhere); a
    /// running deploy is left to be taken again when its lease expires.
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
                    }
                }
            })
        };
        loop {
            while running.try_join_next().is_some() {}
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                _ = &mut shutdown => break,
            };
            match self.claim_job(&worker, lease).await {
                Ok(Some(job)) => {
                    let (core, worker, engines) = (self.clone(), worker.clone(), engines.clone());
                    let mut stop = stop_rx.clone();
                    running.spawn(async move {
                        let _slot = permit;
                        core.run_claimed(&job, &worker, lease, &engines, &mut stop)
                            .await;
                    });
                    continue;
                }
                Ok(None) => drop(permit),
                Err(e) => {
                    drop(permit);
                    tracing::error!(error = %format!("{e:#}"), "cannot claim a job");
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

    /// Runs one claimed job, renewing its lease, until it ends or `stop` turns true.
    async fn run_claimed(
        &self,
        job: &Job,
        worker: &str,
        lease: Duration,
        engines: &Engines,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) {
        let renew = {
            let core = self.clone();
            let (job, worker) = (job.clone(), worker.to_owned());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    if !matches!(core.renew_lease(&job, &worker, lease).await, Ok(true)) {
                        break;
                    }
                }
            })
        };
        let result = tokio::select! {
            r = self.run_job(job, worker, engines) => r,
            _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                renew.abort();
                // A build cannot resume elsewhere: it fails now rather than when its lease
                // expires. A deploy is taken again by another worker.
                if let (Some(build_id), "build") = (job.build_id, job.kind.as_str()) {
                    let line = "Slipway stopped while this build ran; the build failed.".to_owned();
                    match self.finish_build(build_id, None, &[line]).await {
                        Ok(true) => self.post_build_status(build_id, "failure").await,
                        Ok(false) => {}
                        Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot fail the interrupted build"),
                    }
                    let _ = sqlx::query("delete from jobs where id = $1 and locked_by = $2")
                        .bind(job.id)
                        .bind(worker)
                        .execute(&self.pool)
                        .await;
                }
                return;
            }
        };
        renew.abort();
        if let Err(e) = result {
            tracing::error!(job = job.id, error = %format!("{e:#}"), "job failed; it is retried when its lease expires");
        }
    }
}
