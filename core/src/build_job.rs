//! Running a build: fetch the source, make the context, build the image, and write the log as it
//! comes, line by line, in batches (DESIGN §6).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::engine::{BuildSpec, ImageBuilder};
use crate::queue::{is_lost, lost, Claim, Fence};
use crate::source::{self, AddressPolicy, Limits, Refused};
use crate::{Core, Error, Result};

/// Channel on which a build's new log lines are announced (payload: the build id).
pub const LOG_CHANNEL: &str = "slipway_log";

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

/// A longer line is cut into pieces of this many bytes, each but the last marked.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// What marks a piece of a cut line.
pub const CUT_MARK: &str = " [line continues]";

/// Turns the engine's output into stored lines: split on `\n` whatever the chunking, a line
/// rewritten with `\r` kept as its last state, lines longer than [`MAX_LINE_BYTES`] cut into
/// marked pieces, secrets masked, written in batches, and no more than the log's size limit
/// kept. A write the database cannot take now (it is restarting) is tried again later.
pub(crate) struct LogWriter {
    core: Core,
    build_id: Uuid,
    claim: Option<Claim>,
    partial: String,
    pending: Vec<String>,
    secrets: Vec<String>,
    /// Bytes of text kept so far, and the limit.
    kept: u64,
    max_bytes: u64,
    truncated: bool,
    /// Whether the database's refusal was already logged.
    warned: bool,
}

/// The build finished elsewhere (cancelled) while it ran.
#[derive(Debug)]
pub(crate) struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the build was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Values this short are not masked: they would mask half the log.
const MIN_MASKED: usize = 4;
/// Lines held while the database does not answer; past this, writing waits for it.
const MAX_HELD_LINES: usize = 20_000;

impl LogWriter {
    pub(crate) fn new(
        core: Core,
        build_id: Uuid,
        claim: Option<Claim>,
        config: &BTreeMap<String, String>,
        max_bytes: u64,
    ) -> Self {
        Self {
            core,
            build_id,
            claim,
            partial: String::new(),
            pending: Vec::new(),
            secrets: secrets_of(config),
            kept: 0,
            max_bytes,
            truncated: false,
            warned: false,
        }
    }

    /// Takes a chunk of output; complete lines wait in the batch. An unfinished line that
    /// grows past the cap is cut now, so no output grows memory without bound: masked first,
    /// and cut only where no secret can still be completed across the cut by what comes next.
    pub(crate) fn push(&mut self, chunk: &str) {
        self.partial.push_str(chunk);
        for line in take_lines(&mut self.partial) {
            self.line(line);
        }
        let longest = self.secrets.first().map_or(0, String::len);
        if self.partial.len() > MAX_LINE_BYTES + longest {
            if let Some(i) = self.partial.rfind('\r') {
                self.partial.drain(..=i);
            }
            self.partial = mask(std::mem::take(&mut self.partial), &self.secrets);
            while self.partial.len() > MAX_LINE_BYTES + longest {
                let at = floor_char_boundary(&self.partial, MAX_LINE_BYTES);
                let mut piece: String = self.partial.drain(..at).collect();
                piece.push_str(CUT_MARK);
                self.keep(piece);
            }
        }
    }

    /// Adds one whole line: masked, then cut into pieces when it is too long.
    pub(crate) fn line(&mut self, text: impl Into<String>) {
        for piece in cut(self.mask(text.into())) {
            self.keep(piece);
        }
    }

    /// Adds a masked line to the batch while the log is under its size limit.
    fn keep(&mut self, line: String) {
        if self.truncated {
            return;
        }
        self.kept += line.len() as u64 + 1;
        if self.kept > self.max_bytes {
            self.truncated = true;
            self.pending.push(format!(
                "The log is longer than the limit of {} bytes (SLIPWAY_MAX_LOG_BYTES); the rest of it is not kept. The build goes on.",
                self.max_bytes
            ));
            return;
        }
        self.pending.push(line);
    }

    fn mask(&self, line: String) -> String {
        mask(line, &self.secrets)
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the batch (and a partial last line when `all`). A build that is no longer
    /// running (cancelled) takes no more lines: `Cancelled`; a claim taken over: `LostClaim`.
    /// While the database does not answer, the lines wait for the next flush; `all` and a
    /// batch grown too large wait for the database instead.
    pub(crate) async fn flush(&mut self, all: bool) -> anyhow::Result<()> {
        if all && !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            let rest = rest.rsplit('\r').next().unwrap_or("").to_owned();
            self.line(rest);
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let fence = self.claim.as_ref().map(|c| c.fence);
        let append = || {
            append_lines(
                &self.core,
                self.build_id,
                &self.pending,
                Some("pending"),
                fence,
            )
        };
        let written = match append().await {
            Err(e) if e.is_unavailable() && !all && self.pending.len() < MAX_HELD_LINES => {
                if !self.warned {
                    tracing::warn!(build = %self.build_id, error = %format!("{e:#}"), "cannot write log lines now; holding them");
                    self.warned = true;
                }
                return Ok(());
            }
            Err(e) if e.is_unavailable() => match &self.claim {
                Some(claim) => self.core.persist(claim, append).await?,
                None => return Err(e.into()),
            },
            r => r?,
        };
        self.warned = false;
        if !written {
            return Err(Cancelled.into());
        }
        self.pending.clear();
        Ok(())
    }
}

/// `line` cut into pieces of at most [`MAX_LINE_BYTES`] (at character boundaries), each
/// but the last marked.
fn cut(mut line: String) -> Vec<String> {
    let mut pieces = Vec::new();
    while line.len() > MAX_LINE_BYTES {
        let at = floor_char_boundary(&line, MAX_LINE_BYTES);
        let rest = line.split_off(at);
        line.push_str(CUT_MARK);
        pieces.push(line);
        line = rest;
    }
    pieces.push(line);
    pieces
}

/// The largest character boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The config values that logs must not show: 4 characters or longer, multi-line values line by
/// line, longest first (so a value containing another is masked whole).
pub(crate) fn secrets_of(config: &BTreeMap<String, String>) -> Vec<String> {
    let mut secrets: Vec<String> = config
        .values()
        .flat_map(|v| {
            v.lines()
                .map(str::trim)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|v| v.chars().count() >= MIN_MASKED)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// `line` with every secret replaced by `***`.
pub(crate) fn mask(mut line: String, secrets: &[String]) -> String {
    for s in secrets {
        if line.contains(s.as_str()) {
            line = line.replace(s.as_str(), "***");
        }
    }
    line
}

/// Appends `lines` to a build's log, taking their sequence numbers under the build's row lock.
/// With `only_if`, nothing is written unless the build has that status; with `fence`, nothing
/// unless the claim still holds (else `LostClaim`). Answers whether the lines were written.
pub(crate) async fn append_lines(
    core: &Core,
    build_id: Uuid,
    lines: &[String],
    only_if: Option<&str>,
    fence: Option<Fence>,
) -> Result<bool> {
    let mut tx = core.pool.begin().await?;
    // A running build's lines need not wait for the disk: after a crash the build fails anyway,
    // and its counter and lines roll back together. The final lines and status (written by
    // `finish_build`) commit durably.
    sqlx::query("set local synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    if let Some(f) = fence {
        f.hold(&mut tx).await?;
    }
    let written = append_lines_in(&mut tx, build_id, lines, only_if).await?;
    tx.commit().await?;
    Ok(written)
}

/// [`append_lines`] inside the caller's transaction.
pub(crate) async fn append_lines_in(
    tx: &mut sqlx::PgConnection,
    build_id: Uuid,
    lines: &[String],
    only_if: Option<&str>,
) -> Result<bool> {
    let last: Option<i32> = sqlx::query_scalar(
        "update builds set log_lines = log_lines + $2
          where id = $1 and ($3::text is null or status = $3)
          returning log_lines",
    )
    .bind(build_id)
    .bind(lines.len() as i32)
    .bind(only_if)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(last) = last else {
        return Ok(false);
    };
    let first = last - lines.len() as i32 + 1;
    sqlx::query(
        "insert into build_log_lines (build_id, seq, text)
         select $1, $2 + n - 1, t from unnest($3::text[]) with ordinality as u(t, n)",
    )
    .bind(build_id)
    .bind(first)
    .bind(lines)
    .execute(&mut *tx)
    .await?;
    // Delivered at commit.
    sqlx::query("select pg_notify($1, $2)")
        .bind(LOG_CHANNEL)
        .bind(build_id.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

/// The complete lines at the front of `partial` (which keeps the unfinished rest). A line
/// rewritten with `\r` (progress output) is kept as its last state.
fn take_lines(partial: &mut String) -> Vec<String> {
    let Some(end) = partial.rfind('\n') else {
        return Vec::new();
    };
    let done: String = partial.drain(..=end).collect();
    done.split_terminator('\n')
        .map(|l| {
            let l = l.trim_end_matches('\r');
            l.rsplit('\r').next().unwrap_or("").to_owned()
        })
        .collect()
}

/// How often a running build's new lines are written (sooner when a batch fills).
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Idle ticks between looks for a cancel (every 200 ms).
const CANCEL_CHECK_TICKS: u32 = 4;
const MAX_BATCH: usize = 1000;

impl Core {
    /// Runs a queued build to its end. A build already finished (cancelled, or finished by a
    /// worker that died afterwards) is left alone; a build whose worker died is failed. Every
    /// write checks the claim, so a worker whose lease was taken over writes nothing more.
    pub(crate) async fn run_build(
        &self,
        claim: &Claim,
        build_id: Uuid,
        attempts: i32,
        settings: &BuildSettings,
    ) -> Result<()> {
        let fence = claim.fence;
        if attempts > 1 {
            // Its worker stopped while it ran (the lease expired): builds are not retried.
            let line = "The worker running this build stopped; the build failed.".to_owned();
            let failed = self
                .persist(claim, || {
                    self.finish_build(build_id, None, std::slice::from_ref(&line), Some(fence))
                })
                .await?;
            if failed {
                self.post_build_status(build_id, "failure").await;
            }
            return Ok(());
        }
        #[derive(sqlx::FromRow)]
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
        let row: Option<Claimed> = self
            .persist(claim, || async {
                let mut tx = self.pool.begin().await?;
                fence.hold(&mut tx).await?;
                let row = sqlx::query_as(
                    "update builds set status = 'pending', updated_at = now()
                      where id = $1 and status = 'queued'
                      returning app_id, source_enc, source_url, checksum, commit_sha, branch, repo, source_kind",
                )
                .bind(build_id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            })
            .await?;
        let Some(Claimed {
            app_id,
            source_enc: sealed,
            source_url: shown_url,
            checksum,
            commit_sha: sha,
            branch,
            repo,
            source_kind,
        }) = row
        else {
            return Ok(());
        };
        // A GitHub commit is fetched with the attachment's token and reported on the commit.
        let github = if source_kind == "github" {
            match self
                .persist(claim, || self.github_build_token(build_id))
                .await
            {
                Ok(t) => Some(t),
                Err(e) => {
                    let reason = match e {
                        Error::Internal(e) => {
                            tracing::error!(build = %build_id, error = %format!("{e:#}"), "no token for a GitHub build");
                            "The repository's credential could not be read.".to_owned()
                        }
                        e => e.to_string(),
                    };
                    let failed = self
                        .persist(claim, || {
                            self.finish_build(
                                build_id,
                                None,
                                std::slice::from_ref(&reason),
                                Some(fence),
                            )
                        })
                        .await?;
                    if failed {
                        self.post_build_status(build_id, "failure").await;
                    }
                    return Ok(());
                }
            }
        } else {
            None
        };
        if github.is_some() {
            self.post_build_status(build_id, "pending").await;
        }
        let url = match sealed {
            Some(s) => String::from_utf8(self.key.open(&format!("build:{build_id}"), &s)?)
                .map_err(anyhow::Error::from)?,
            None => shown_url.clone(),
        };
        let (config, app_name) = self
            .persist(claim, || async {
                let mut conn = self.pool.acquire().await?;
                let config = self.latest_snapshot(&mut conn, app_id).await?.config;
                let app_name: String = sqlx::query_scalar(
                    "select a.name || '-' || s.name from apps a join spaces s on s.id = a.space_id where a.id = $1",
                )
                .bind(app_id)
                .fetch_one(&mut *conn)
                .await?;
                Ok((config, app_name))
            })
            .await?;
        let mut args: Vec<(String, String)> =
            config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (name, value) in [
            ("AKKERIS_GIT_SHA1", sha),
            ("AKKERIS_GIT_BRANCH", branch),
            ("AKKERIS_GIT_REPO", repo),
        ] {
            if let Some(v) = value {
                args.push((name.into(), v));
            }
        }
        let tag = format!("slipway/{app_name}:{}", build_id.simple());
        let mut log = LogWriter::new(
            self.clone(),
            build_id,
            Some(claim.clone()),
            &config,
            settings.max_log_bytes,
        );
        log.line(format!("Fetching {shown_url}"));
        let dir = settings
            .work_dir
            .join(format!("build-{}", build_id.simple()));
        let work = async {
            // Set when this future ends or is dropped (time limit, cancel, lost claim,
            // shutdown): the unpacking thread stops at its next read.
            let stop = source::Stop::default();
            let _stop_unpacking = stop.on_drop();
            tokio::fs::create_dir_all(&dir).await?;
            let archive = dir.join("source");
            let context = dir.join("context.tar");
            log.flush(false).await?;
            source::fetch(
                self,
                &url,
                checksum.as_deref(),
                &settings.limits,
                &settings.policy,
                &archive,
                github
                    .as_deref()
                    .zip(self.github.as_deref().map(|g| g.settings.api_url.as_str())),
            )
            .await?;
            log.line("Unpacking the source");
            log.flush(false).await?;
            let names: Vec<String> = args.iter().map(|(k, _)| k.clone()).collect();
            let limits = settings.limits.clone();
            let ctx = context.clone();
            let stop2 = stop.clone();
            tokio::task::spawn_blocking(move || {
                source::make_context(&archive, &ctx, &limits, &names, &stop2)
            })
            .await
            .map_err(anyhow::Error::from)??;
            log.line(format!(
                "Building {tag} with the engine at {}",
                settings.builder.address()
            ));
            log.flush(false).await?;
            let (tx, mut rx) = mpsc::channel::<String>(256);
            let spec = BuildSpec {
                context,
                tag: tag.clone(),
                args: args.clone(),
                labels: vec![(
                    crate::runtime::LABEL_INSTALL.to_owned(),
                    self.install_id().await?,
                )],
            };
            let builder = settings.builder.clone();
            // Aborted when this future is dropped (shutdown, timeout, cancel): the engine sees
            // its connection close and stops the build.
            let mut engine =
                AbortOnDrop(tokio::spawn(async move { builder.build(spec, tx).await }));
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            let mut idle = 0u32;
            let outcome = loop {
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
                        break done.map_err(anyhow::Error::from)?;
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
            };
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
        match result {
            Ok(()) => {
                let finished = self
                    .persist(claim, || {
                        self.finish_build(build_id, Some(&tag), &[], Some(fence))
                    })
                    .await?;
                // The commit's status says what the build's record says: a cancel may have won
                // the race, or a retried write found its first attempt committed.
                if github.is_some() {
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
                if github.is_some() {
                    self.post_build_status(build_id, "failure").await;
                }
            }
            Err(e) if e.downcast_ref::<Error>().is_some_and(is_lost) => return Err(lost()),
            Err(e) => {
                let reason = match e.downcast_ref::<Refused>() {
                    Some(r) => r.0.clone(),
                    None => {
                        tracing::error!(build = %build_id, error = %format!("{e:#}"), "build failed");
                        "The build failed on the server; the server log has the details.".into()
                    }
                };
                let mut lines = std::mem::take(&mut log.pending);
                lines.push(log.mask(reason));
                self.persist(claim, || {
                    self.finish_build(build_id, None, &lines, Some(fence))
                })
                .await?;
                if github.is_some() {
                    self.post_build_status(build_id, "failure").await;
                }
                tracing::info!(build = %build_id, app = %app_name, "build failed");
            }
        }
        Ok(())
    }

    /// Whether the build's record says it succeeded.
    async fn build_succeeded(&self, build_id: Uuid) -> bool {
        sqlx::query_scalar::<_, bool>("select status = 'succeeded' from builds where id = $1")
            .bind(build_id)
            .fetch_optional(&self.pool)
            .await
            .ok()
            .flatten()
            .unwrap_or(false)
    }

    /// Whether the build is still running; a database that does not answer says yes (the
    /// next look will tell).
    async fn build_is_pending(&self, build_id: Uuid) -> bool {
        sqlx::query_scalar::<_, bool>("select status = 'pending' from builds where id = $1")
            .bind(build_id)
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
        let app_id: Option<Uuid> = sqlx::query_scalar(
            "update builds set status = $2, image = coalesce($3, image), updated_at = now()
              where id = $1 and status in ('queued', 'pending')
              returning app_id",
        )
        .bind(build_id)
        .bind(if image.is_some() {
            "succeeded"
        } else {
            "failed"
        })
        .bind(image)
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

/// A task that is aborted when this is dropped.
pub(crate) struct AbortOnDrop<T>(pub(crate) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
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
    use super::take_lines;

    #[test]
    fn lines_are_split_on_newlines_whatever_the_chunks() {
        let mut partial = String::new();
        let mut lines = Vec::new();
        for chunk in [
            "Step 1/2 : FROM x",
            "\n ---> abc\nhal",
            "f\n",
            "",
            "\n",
            "tail",
        ] {
            partial.push_str(chunk);
            lines.extend(take_lines(&mut partial));
        }
        assert_eq!(lines, ["Step 1/2 : FROM x", " ---> abc", "half", ""]);
        assert_eq!(partial, "tail");
    }

    #[test]
    fn a_progress_line_keeps_its_last_state() {
        let mut partial = "10%\r50%\r100%\r\ndone\r\n".to_owned();
        assert_eq!(take_lines(&mut partial), ["100%", "done"]);
    }

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
