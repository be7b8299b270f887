//! Running a build job: fetch the source, make the context, build the image while its output
//! streams into the log, and record the outcome, with the commit's status for GitHub builds.
//! Here in the queue's wing, above both `builds` and `github`, because it drives them both.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use domain::BuildStatus;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::builds::engine::{BuildSpec, ImageBuilder};
use crate::builds::fetch::{self, AddressPolicy};
use crate::builds::log::{append_lines_in, Cancelled, LogWriter};
use crate::builds::unpack::{self, Limits};
use crate::error::Error::Refused;
use crate::lease::{is_lost, lost, persist, AbortOnDrop, Claim, Fence};
use crate::{Core, Error, Result};

/// What the worker needs to run builds.
#[derive(Clone)]
pub struct BuildSettings {
    pub builder: Arc<dyn ImageBuilder>,
    pub limits: Limits,
    pub policy: AddressPolicy,
    pub timeout: Duration,
    /// Where build directories are made.
    pub work_dir: PathBuf,
    /// The most a build's log keeps (`SLIPWAY_MAX_LOG_BYTES`); the build goes on past it.
    pub max_log_bytes: u64,
}

/// `SLIPWAY_MAX_LOG_BYTES` by default.
pub const DEFAULT_MAX_LOG_BYTES: u64 = 32_000_000;

/// How often a running build's new lines are written (sooner when a batch fills).
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Idle ticks between looks for a cancel (every 200 ms).
const CANCEL_CHECK_TICKS: u32 = 4;
const MAX_BATCH: usize = 1000;

impl Core {
    /// Runs a claimed build to its end: marks it pending, fetches and unpacks its source, has
    /// the engine build the image while its output streams into the log, and records the
    /// outcome (with the commit's status for GitHub builds). A build already finished
    /// (cancelled, or finished by a worker that died afterwards) is left alone; a build whose
    /// worker died is failed, never retried. Every write checks the claim, so a worker whose
    /// lease was taken over writes nothing more.
    pub(crate) async fn run_build(
        &self,
        claim: &Claim,
        build_id: Uuid,
        attempts: i32,
        settings: &BuildSettings,
    ) -> Result<()> {
        if attempts > 1 {
            // Its worker stopped while it ran (the lease expired): builds are not retried.
            let why = "The worker running this build stopped; the build failed.";
            return self.fail_unstarted(claim, build_id, why.into()).await;
        }
        let Some(b) = self.mark_pending(claim, build_id).await? else {
            return Ok(());
        };
        // A GitHub commit is fetched with the attachment's token and reported on the commit.
        let github = if b.source_kind == "github" {
            match persist(claim, || self.github_build_token(build_id)).await {
                Ok(t) => Some(t),
                Err(Error::Internal(e)) => {
                    tracing::error!(build = %build_id, error = %format!("{e:#}"), "no token for a GitHub build");
                    let why = "The repository's credential could not be read.";
                    return self.fail_unstarted(claim, build_id, why.into()).await;
                }
                Err(e) => return self.fail_unstarted(claim, build_id, e.to_string()).await,
            }
        } else {
            None
        };
        if github.is_some() {
            self.post_build_status(build_id, "pending").await;
        }
        let url = match &b.source_enc {
            Some(s) => String::from_utf8(self.key.open(&format!("build:{build_id}"), s)?)
                .map_err(anyhow::Error::from)?,
            None => b.source_url.clone(),
        };
        let (config, app_name) = persist(claim, || async {
            let mut conn = self.pool.acquire().await?;
            let config = self.latest_snapshot(&mut conn, b.app_id).await?.env();
            drop(conn);
            let app_name = self.find_app(&b.app_id.to_string()).await?.full_name();
            Ok((config, app_name))
        })
        .await?;
        let args = build_args(&config, &b);
        let tag = format!("slipway/{app_name}:{}", build_id.simple());
        let mut log = LogWriter::new(
            self.clone(),
            build_id,
            Some(claim.clone()),
            &config,
            settings.max_log_bytes,
        );
        log.line(format!("Fetching {}", b.source_url));
        let dir = settings
            .work_dir
            .join(format!("build-{}", build_id.simple()));
        let work = async {
            // Set when this future ends or is dropped (time limit, cancel, lost claim,
            // shutdown): the unpacking thread stops at its next read.
            let stop = unpack::Stop::default();
            let _stop_unpacking = stop.on_drop();
            tokio::fs::create_dir_all(&dir).await?;
            let archive = dir.join("source");
            let context = dir.join("context.tar");
            log.flush(false).await?;
            fetch::fetch(
                self,
                &url,
                b.checksum.as_deref(),
                &settings.limits,
                &settings.policy,
                &archive,
                github.as_deref().zip(
                    self.github
                        .as_deref()
                        .map(|g| g.settings().api_url.as_str()),
                ),
            )
            .await?;
            log.line("Unpacking the source");
            log.flush(false).await?;
            let names: Vec<String> = args.iter().map(|(k, _)| k.clone()).collect();
            let limits = settings.limits.clone();
            let ctx = context.clone();
            tokio::task::spawn_blocking(move || {
                unpack::make_context(&archive, &ctx, &limits, &names, &stop)
            })
            .await
            .map_err(anyhow::Error::from)??;
            log.line(format!(
                "Building {tag} with the engine at {}",
                settings.builder.address()
            ));
            log.flush(false).await?;
            let spec = BuildSpec {
                context,
                tag: tag.clone(),
                args: args.clone(),
                labels: vec![(
                    crate::runtime::LABEL_INSTALL.to_owned(),
                    self.install_id().await?,
                )],
            };
            let outcome = self
                .follow_engine(&mut log, settings.builder.clone(), spec, build_id)
                .await;
            log.flush(true).await?;
            outcome
        };
        let result = match tokio::time::timeout(settings.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Refused(format!(
                "The build took longer than {} (SLIPWAY_BUILD_TIMEOUT).",
                humanize(settings.timeout)
            ))
            .into()),
        };
        let _ = tokio::fs::remove_dir_all(&dir).await;
        let finish = Finish {
            claim,
            build_id,
            tag: &tag,
            app_name: &app_name,
            github: github.is_some(),
        };
        self.settle_build(finish, result, &mut log).await
    }

    /// Fails a build that never started (its worker died, its credential is gone), with one
    /// line saying why, and reports it on its commit.
    async fn fail_unstarted(&self, claim: &Claim, build_id: Uuid, why: String) -> Result<()> {
        let failed = persist(claim, || {
            self.finish_build(
                build_id,
                None,
                std::slice::from_ref(&why),
                Some(claim.fence),
            )
        })
        .await?;
        if failed {
            self.post_build_status(build_id, "failure").await;
        }
        Ok(())
    }

    /// Marks a queued build pending, under its claim; `None` when it is no longer queued.
    async fn mark_pending(&self, claim: &Claim, build_id: Uuid) -> Result<Option<Claimed>> {
        persist(claim, || async {
            let mut tx = self.pool.begin().await?;
            claim.fence.hold(&mut tx).await?;
            let row = sqlx::query_as!(
                Claimed,
                "update builds set status = 'pending'
                  where id = $1 and status = 'queued'
                  returning app_id, source_enc, source_url, checksum, commit_sha, branch, repo, source_kind",
                build_id
            )
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(row)
        })
        .await
    }

    /// Has the engine build `spec`, its output streaming into `log`, until it is done; a
    /// build cancelled meanwhile stops with `Cancelled`.
    async fn follow_engine(
        &self,
        log: &mut LogWriter,
        builder: Arc<dyn ImageBuilder>,
        spec: BuildSpec,
        build_id: Uuid,
    ) -> anyhow::Result<()> {
        let (tx, mut rx) = mpsc::channel::<String>(256);
        // Aborted when this future is dropped (shutdown, timeout, cancel): the engine sees
        // its connection close and stops the build.
        let mut engine = AbortOnDrop(tokio::spawn(async move { builder.build(spec, tx).await }));
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        let mut idle = 0u32;
        loop {
            tokio::select! {
                // Once the engine is done the channel closes; its branch below then wins.
                Some(c) = rx.recv() => {
                    log.push(&c);
                    if log.pending.len() >= MAX_BATCH {
                        log.flush(false).await?;
                    }
                }
                done = &mut engine.0 => {
                    // Drain what the engine sent before it finished.
                    while let Ok(c) = rx.try_recv() {
                        log.push(&c);
                    }
                    return done.map_err(anyhow::Error::from)?;
                }
                _ = tick.tick() => {
                    // A flush also notices a cancel (the build is no longer pending).
                    if log.has_pending() {
                        log.flush(false).await?;
                        idle = 0;
                    } else {
                        idle += 1;
                        if idle.is_multiple_of(CANCEL_CHECK_TICKS) && !self.build_is_pending(build_id).await {
                            return Err(Cancelled.into());
                        }
                    }
                }
            }
        }
    }

    /// Records how a started build ended: succeeded with its image, cancelled, or failed with
    /// a reason people may read (anything else stays in the server log); the commit's status
    /// follows the record.
    async fn settle_build(
        &self,
        f: Finish<'_>,
        result: anyhow::Result<()>,
        log: &mut LogWriter,
    ) -> Result<()> {
        let (claim, build_id, app_name) = (f.claim, f.build_id, f.app_name);
        match result {
            Ok(()) => {
                let finished = persist(claim, || {
                    self.finish_build(build_id, Some(f.tag), &[], Some(claim.fence))
                })
                .await?;
                // The commit's status says what the build's record says: a cancel may have won
                // the race, or a retried write found its first attempt committed.
                if f.github {
                    let succeeded = finished || self.build_succeeded(build_id).await;
                    let state = if succeeded { "success" } else { "failure" };
                    self.post_build_status(build_id, state).await;
                }
                if finished {
                    tracing::info!(build = %build_id, app = %app_name, "build succeeded");
                }
            }
            Err(e) if e.is::<Cancelled>() => {
                tracing::info!(build = %build_id, app = %app_name, "build cancelled");
                if f.github {
                    self.post_build_status(build_id, "failure").await;
                }
            }
            Err(e) if e.downcast_ref::<Error>().is_some_and(is_lost) => return Err(lost()),
            Err(e) => {
                let reason = match Error::refusal(&e) {
                    Some(text) => text.to_owned(),
                    None => {
                        tracing::error!(build = %build_id, error = %format!("{e:#}"), "build failed");
                        "The build failed on the server; the server log has the details.".into()
                    }
                };
                let mut lines = std::mem::take(&mut log.pending);
                lines.push(log.mask(reason));
                persist(claim, || {
                    self.finish_build(build_id, None, &lines, Some(claim.fence))
                })
                .await?;
                if f.github {
                    self.post_build_status(build_id, "failure").await;
                }
                tracing::info!(build = %build_id, app = %app_name, "build failed");
            }
        }
        Ok(())
    }

    /// Whether the build's record says it succeeded.
    async fn build_succeeded(&self, build_id: Uuid) -> bool {
        sqlx::query_scalar!(
            "select status = 'succeeded' as \"succeeded!\" from builds where id = $1",
            build_id
        )
        .fetch_optional(&self.pool)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
    }

    /// Whether the build is still running; a database that does not answer says yes (the
    /// next look will tell).
    async fn build_is_pending(&self, build_id: Uuid) -> bool {
        sqlx::query_scalar!(
            "select status = 'pending' as \"pending!\" from builds where id = $1",
            build_id
        )
        .fetch_optional(&self.pool)
        .await
        .map_or(true, |s| s.unwrap_or(false))
    }

    /// Ends a running build: succeeded with `image`, or failed; `lines` then the final line.
    /// With `fence`, only while that claim holds (else `LostClaim`). Answers false when the
    /// build had already finished.
    pub(crate) async fn finish_build(
        &self,
        build_id: Uuid,
        image: Option<&str>,
        lines: &[String],
        fence: Option<Fence>,
    ) -> Result<bool> {
        let mut all = lines.to_vec();
        all.push(
            if image.is_some() {
                domain::FINISHED_SUCCESS
            } else {
                domain::FINISHED_FAILURE
            }
            .into(),
        );
        let mut tx = self.pool.begin().await?;
        if let Some(f) = fence {
            f.hold(&mut tx).await?;
        }
        let status = if image.is_some() {
            BuildStatus::Succeeded
        } else {
            BuildStatus::Failed
        };
        let app_id: Option<Uuid> = sqlx::query_scalar!(
            "update builds set status = $2, image = coalesce($3, image)
              where id = $1 and status in ('queued', 'pending')
              returning app_id",
            build_id,
            status as _,
            image
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(app_id) = app_id else {
            return Ok(false);
        };
        // The final line lands with the status: a viewer that sees the status has every line.
        append_lines_in(&mut tx, build_id, &all, None).await?;
        if image.is_some() {
            // The automatic release (or holding it back) commits with the success.
            let app = self.find_app(&app_id.to_string()).await?;
            self.after_build_succeeded_in(&mut tx, &app, build_id)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// A build as its worker takes it.
struct Claimed {
    app_id: Uuid,
    source_enc: Option<Vec<u8>>,
    source_url: String,
    checksum: Option<String>,
    commit_sha: Option<String>,
    branch: Option<String>,
    repo: Option<String>,
    source_kind: String,
}

/// What settling a started build needs to know.
struct Finish<'a> {
    claim: &'a Claim,
    build_id: Uuid,
    tag: &'a str,
    app_name: &'a str,
    github: bool,
}

/// The build args: the app's config, and the commit it builds when it has one.
fn build_args(config: &BTreeMap<String, String>, b: &Claimed) -> Vec<(String, String)> {
    let mut args: Vec<(String, String)> =
        config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (name, value) in [
        ("AKKERIS_GIT_SHA1", &b.commit_sha),
        ("AKKERIS_GIT_BRANCH", &b.branch),
        ("AKKERIS_GIT_REPO", &b.repo),
    ] {
        if let Some(v) = value {
            args.push((name.into(), v.clone()));
        }
    }
    args
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} minutes", s / 60)
    } else {
        format!("{s} seconds")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn minutes_and_seconds() {
        assert_eq!(
            super::humanize(std::time::Duration::from_secs(1200)),
            "20 minutes"
        );
        assert_eq!(
            super::humanize(std::time::Duration::from_secs(45)),
            "45 seconds"
        );
    }
}
