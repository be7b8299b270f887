//! Builds and their logs. A build from a URL (`http`, `https`, `data:`) is queued and run by a
//! worker (`queue::build`); a `docker://` build names an image that exists already and is
//! recorded as succeeded at once.

pub mod engine;
pub mod fetch;
pub mod log;
pub mod log_feed;
pub mod unpack;
pub mod uploads;

use chrono::{DateTime, Utc};
use domain::{BuildStatus, ReleaseKind};
use uuid::Uuid;

use crate::access::authz::{authorize, Action, Actor};
use crate::ledger::apps::App;
use crate::secrets::{redact, UPLOAD_SCHEME};
use crate::{Core, Error, Result};

/// A build as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Build {
    pub id: Uuid,
    pub app_id: Uuid,
    pub status: BuildStatus,
    pub source_url: String,
    pub checksum: Option<String>,
    pub version: Option<String>,
    pub commit_sha: Option<String>,
    pub author: Option<String>,
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub message: Option<String>,
    pub image: Option<String>,
    pub release_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a caller asks to build. Empty strings have been turned into `None` by the caller.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    pub url: String,
    pub checksum: Option<String>,
    pub version: Option<String>,
    pub sha: Option<String>,
    pub author: Option<String>,
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub message: Option<String>,
    /// For an uploaded archive (see [`Core::create_build_from_upload`]): its file name, shown
    /// as the source (`upload:<name>`).
    pub upload_name: Option<String>,
}

/// A parsed source reference.
enum Source {
    Docker {
        image: String,
    },
    /// Fetched and built by a worker.
    Fetch,
}

impl Source {
    fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        if url.is_empty() {
            return Err(Error::Invalid("A build needs a source url.".into()));
        }
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(Error::Invalid(format!(
                "The source url \"{}\" has no scheme.",
                redact(url)
            )));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "docker" => {
                let image = rest.strip_prefix("//").unwrap_or("");
                if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(Error::Invalid("A docker:// url needs an image reference, like docker://registry/name:tag.".into()));
                }
                Ok(Source::Docker {
                    image: image.to_owned(),
                })
            }
            "http" | "https" => {
                if url::Url::parse(url).map(|u| u.host_str().is_some()) != Ok(true) {
                    return Err(Error::Invalid(format!(
                        "The source url \"{}\" is not a valid url.",
                        redact(url)
                    )));
                }
                Ok(Source::Fetch)
            }
            "data" => {
                if !rest.contains(',') {
                    return Err(Error::Invalid(
                        "A data: url needs a comma before its data.".into(),
                    ));
                }
                Ok(Source::Fetch)
            }
            other => Err(Error::Invalid(format!(
                "The source url scheme \"{other}\" is not supported."
            ))),
        }
    }
}

/// `Auto-Deploy <first 8 hex of the build uuid>` (DESIGN §2).
pub(crate) fn auto_deploy_description(build_id: Uuid) -> String {
    let hex = build_id.simple().to_string();
    format!("Auto-Deploy {}", hex.get(..8).unwrap_or(&hex))
}

/// Dynamic SQL (not `query_as!`): the build's select list, shared by every reader of builds; `query_as!` takes only a literal, so
/// each reader would repeat the list. A view would let them be checked; not done yet.
const BUILD_SELECT: &str = "
    select b.id, b.app_id, b.status, b.source_url, b.checksum, b.version, b.commit_sha, b.author,
           b.repo, b.branch, b.message, b.image, b.created_at, b.updated_at,
           (select r.id from releases r where r.build_id = b.id order by r.version limit 1) as release_id
      from builds b";

const BUILD_SELECT_WITH_AUTO: &str = "
    select b.id, b.app_id, b.status, b.source_url, b.checksum, b.version, b.commit_sha, b.author,
           b.repo, b.branch, b.message, b.image, b.created_at, b.updated_at, b.auto_release,
           (select r.id from releases r where r.build_id = b.id order by r.version limit 1) as release_id
      from builds b";

impl Core {
    /// Records a build. A build from a URL is queued for a worker; a `docker://` build succeeds
    /// at once when the engine has its image (never pulled). With `auto-release` on, a succeeded build is released as `Auto-Deploy <build8>`.
    pub async fn create_build(&self, actor: &Actor, app: &App, req: BuildRequest) -> Result<Build> {
        authorize(actor, Action::Build, Some(app.id))?;
        let image = match Source::parse(&req.url)? {
            Source::Docker { image } => image,
            Source::Fetch => return self.queue_build(actor, app, req).await,
        };
        // The engine must have the image: it is never pulled. Without an engine (the ledger's
        // own tests), the build is recorded as succeeded.
        let missing = match &self.engine {
            None => None,
            Some(engine) => match engine.has_image(&image).await {
                Ok(true) => None,
                Ok(false) => Some(format!(
                    "The container engine at {} has no image {image}. Slipway never pulls images: build or load it there first.",
                    engine.address()
                )),
                Err(e) => Some(match Error::refusal(&e) {
                    Some(text) => text.to_owned(),
                    None => {
                        tracing::warn!(error = %format!("{e:#}"), "cannot look up an image");
                        format!("The container engine at {} did not answer.", engine.address())
                    }
                }),
            },
        };
        let id = Uuid::new_v4();
        let mut tx = self.pool.begin().await?;
        let lines = match &missing {
            None => {
                self.insert_build(
                    &mut tx,
                    id,
                    Some(actor.user_id),
                    app,
                    &req,
                    BuildStatus::Succeeded,
                    Some(&image),
                )
                .await?;
                [
                    format!("Using the image {image} as is (docker:// sources are not built)."),
                    domain::FINISHED_SUCCESS.into(),
                ]
            }
            Some(why) => {
                self.insert_build(
                    &mut tx,
                    id,
                    Some(actor.user_id),
                    app,
                    &req,
                    BuildStatus::Failed,
                    None,
                )
                .await?;
                [why.clone(), domain::FINISHED_FAILURE.into()]
            }
        };
        crate::builds::log::append_lines_in(&mut tx, id, &lines, None).await?;
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, build = %id, "build recorded");
        if missing.is_none() {
            self.after_build_succeeded(app, id).await?;
        }
        self.find_build(app, id).await
    }

    /// Inserts a build with `status` (and `image` when it succeeded). The source URL is stored
    /// sealed (it may carry credentials) and shown redacted.
    #[allow(clippy::too_many_arguments)]
    async fn insert_build(
        &self,
        tx: &mut sqlx::PgConnection,
        id: Uuid,
        user_id: Option<Uuid>,
        app: &App,
        req: &BuildRequest,
        status: BuildStatus,
        image: Option<&str>,
    ) -> Result<()> {
        let url = req.url.trim();
        let sealed_source = self.key.seal(&format!("build:{id}"), url.as_bytes());
        let upload: Option<Uuid> = url.strip_prefix(UPLOAD_SCHEME).and_then(|u| u.parse().ok());
        let shown = match upload {
            Some(_) => format!(
                "{}{}",
                UPLOAD_SCHEME,
                req.upload_name.as_deref().unwrap_or("archive")
            ),
            None => redact(url),
        };
        sqlx::query!("insert into builds (id, app_id, status, source_url, source_enc, checksum, version, commit_sha,
                                 author, repo, branch, message, image, user_id, upload_id)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)", 
            id,
            app.id,
            status as _,
            shown,
            sealed_source,
            req.checksum.as_deref(),
            req.version.as_deref(),
            req.sha.as_deref(),
            req.author.as_deref(),
            req.repo.as_deref(),
            req.branch.as_deref(),
            req.message.as_deref(),
            image,
            user_id,
            upload
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Queues a build of an archive uploaded with [`Core::start_upload`]: `source` is what
    /// [`crate::builds::uploads::Upload::finish`] answered, `file_name` is shown as the source.
    pub async fn create_build_from_upload(
        &self,
        actor: &Actor,
        app: &App,
        source: String,
        file_name: &str,
    ) -> Result<Build> {
        authorize(actor, Action::Build, Some(app.id))?;
        let name: String = file_name
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let req = BuildRequest {
            url: source,
            upload_name: Some(if name.trim().is_empty() {
                "archive".into()
            } else {
                name
            }),
            ..Default::default()
        };
        self.queue_build(actor, app, req).await
    }

    /// Records a build from a URL as queued, with its job, in one transaction.
    async fn queue_build(&self, actor: &Actor, app: &App, req: BuildRequest) -> Result<Build> {
        let id = Uuid::new_v4();
        let mut tx = self.pool.begin().await?;
        self.insert_build(
            &mut tx,
            id,
            Some(actor.user_id),
            app,
            &req,
            BuildStatus::Queued,
            None,
        )
        .await?;
        crate::jobs::enqueue(&mut tx, app.id, crate::jobs::JobFor::Build(id)).await?;
        // Read before commit: a worker may take it the moment it is committed.
        let build = sqlx::query_as(&format!("{BUILD_SELECT} where b.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, build = %id, "build queued");
        Ok(build)
    }

    /// Queues a build of a GitHub commit (a push, or "build now"): fetched with the
    /// attachment's token, reported back as commit statuses. `user_id` is who asked, none
    /// for a push.
    pub(crate) async fn queue_github_build(
        &self,
        tx: &mut sqlx::PgConnection,
        user_id: Option<Uuid>,
        app: &App,
        attachment_id: Option<Uuid>,
        req: &BuildRequest,
    ) -> Result<Build> {
        let id = Uuid::new_v4();
        self.insert_build(tx, id, user_id, app, req, BuildStatus::Queued, None)
            .await?;
        sqlx::query!(
            "update builds set source_kind = 'github', attachment_id = $2 where id = $1",
            id,
            attachment_id
        )
        .execute(&mut *tx)
        .await?;
        crate::jobs::enqueue(tx, app.id, crate::jobs::JobFor::Build(id)).await?;
        Ok(sqlx::query_as(&format!("{BUILD_SELECT} where b.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?)
    }

    /// Releases a succeeded build when the app's `auto-release` feature is on (its own
    /// transaction; see `after_build_succeeded_in`).
    pub(crate) async fn after_build_succeeded(&self, app: &App, build_id: Uuid) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.after_build_succeeded_in(&mut tx, app, build_id)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Releases a succeeded build when the app's `auto-release` feature is on, inside the
    /// transaction that records the success: a worker that dies after it cannot lose the
    /// release. While auto-deploy is paused after a rollback the build is held back instead;
    /// a GitHub build whose attachment has `status_check` waits for the commit's other checks
    /// (`release_waiting_builds`). The app's row is locked first, so a concurrent rollback
    /// either sees this release or is seen pausing it.
    pub(crate) async fn after_build_succeeded_in(
        &self,
        tx: &mut sqlx::PgConnection,
        app: &App,
        build_id: Uuid,
    ) -> Result<()> {
        let (auto, paused, github, attached, waits) = sqlx::query!(
            r#"select a.auto_release as "auto!", a.auto_release_paused as "paused!",
                      b.source_kind = 'github' as "github!", r.id is not null as "attached!",
                      coalesce(r.status_check, false) and b.commit_sha is not null as "waits!"
                 from apps a join builds b on b.id = $2
                 left join repo_attachments r on r.id = b.attachment_id
                where a.id = $1
                  for update of a"#,
            app.id,
            build_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map_or((false, false, false, false, false), |r| {
            (r.auto, r.paused, r.github, r.attached, r.waits)
        });
        if github && !attached {
            // Its repository was detached while it built: nobody asked for this release.
            return Ok(());
        }
        if !auto {
            if paused {
                sqlx::query!(
                    "update builds set auto_release = 'held' where id = $1",
                    build_id
                )
                .execute(&mut *tx)
                .await?;
                tracing::info!(app = %app.full_name(), build = %build_id, "auto-deploy is paused after a rollback; build held back");
            }
            return Ok(());
        }
        if waits {
            // A newer build supersedes older ones still waiting.
            sqlx::query!(
                "update builds set auto_release = null, checks_next_at = null
                  where app_id = $1 and auto_release = 'waiting'
                    and created_at < (select created_at from builds where id = $2)",
                app.id,
                build_id
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "update builds set auto_release = 'waiting', checks_next_at = now() where id = $1",
                build_id
            )
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        self.release_build_in(
            tx,
            app,
            build_id,
            ReleaseKind::Deploy,
            auto_deploy_description(build_id),
            None,
        )
        .await?;
        Ok(())
    }

    /// Builds again from the same source: a new build.
    pub async fn rebuild(&self, actor: &Actor, app: &App, build_id: Uuid) -> Result<Build> {
        authorize(actor, Action::Build, Some(app.id))?;
        let old = self.find_build(app, build_id).await?;
        let r = sqlx::query!(
            "select source_enc, source_kind, attachment_id, upload_id from builds where id = $1",
            build_id
        )
        .fetch_one(&self.pool)
        .await?;
        let (sealed, kind, attachment_id, upload_id) =
            (r.source_enc, r.source_kind, r.attachment_id, r.upload_id);
        let gone = || {
            Error::Conflict(format!(
                "The source of the build {build_id} is no longer kept (only builds as recent as the kept releases keep theirs); build from the source again."
            ))
        };
        let url = match sealed {
            Some(s) => String::from_utf8(self.key.open(&format!("build:{build_id}"), &s)?)
                .map_err(anyhow::Error::from)?,
            // A `data:` payload that was removed (the shown url lacks it).
            None if old.source_url.starts_with("data:") => return Err(gone()),
            None => old.source_url.clone(),
        };
        let uploaded = url.starts_with(UPLOAD_SCHEME);
        if uploaded && upload_id.is_none() {
            return Err(gone());
        }
        let req = BuildRequest {
            upload_name: old
                .source_url
                .strip_prefix(UPLOAD_SCHEME)
                .map(str::to_owned),
            url,
            checksum: old.checksum,
            version: old.version,
            sha: old.commit_sha,
            author: old.author,
            repo: old.repo,
            branch: old.branch,
            message: old.message,
        };
        if kind == "github" {
            // Fetched with the attachment's token again, and reported on the commit.
            let mut tx = self.pool.begin().await?;
            let build = self
                .queue_github_build(&mut tx, Some(actor.user_id), app, attachment_id, &req)
                .await?;
            tx.commit().await?;
            return Ok(build);
        }
        if uploaded {
            return self.queue_build(actor, app, req).await;
        }
        self.create_build(actor, app, req).await
    }

    /// Cancels a build that has not finished; a finished one is a conflict.
    pub async fn cancel_build(&self, actor: &Actor, app: &App, build_id: Uuid) -> Result<()> {
        authorize(actor, Action::Build, Some(app.id))?;
        self.find_build(app, build_id).await?;
        let mut tx = self.pool.begin().await?;
        let cancelled = sqlx::query!(
            "update builds set status = 'failed'
             where id = $1 and status in ('queued', 'pending')",
            build_id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if cancelled == 0 {
            return Err(Error::Conflict(format!(
                "The build {build_id} has already finished."
            )));
        }
        crate::builds::log::append_lines_in(
            &mut tx,
            build_id,
            &[
                format!("Cancelled by {}.", actor.login),
                domain::FINISHED_FAILURE.into(),
            ],
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn builds(&self, actor: &Actor, app: &App) -> Result<Vec<Build>> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        Ok(sqlx::query_as(&format!(
            "{BUILD_SELECT} where b.app_id = $1 order by b.created_at, b.id"
        ))
        .bind(app.id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn build(&self, actor: &Actor, app: &App, build_id: Uuid) -> Result<Build> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        self.find_build(app, build_id).await
    }

    /// Succeeded builds newer than the current release that auto-deploy did not release:
    /// held back while paused after a rollback, waiting for status checks, or refused by
    /// them. Newest first, at most ten.
    pub async fn unreleased_builds(
        &self,
        actor: &Actor,
        app: &App,
    ) -> Result<Vec<(Build, String)>> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            build: Build,
            auto_release: String,
        }
        // Since the newest deploy or rollback that succeeded (not the current release: a
        // config change after it does not make its held-back builds old).
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "{BUILD_SELECT_WITH_AUTO} where b.app_id = $1 and b.auto_release is not null
                and b.created_at > coalesce((select max(r.created_at) from releases r
                                              where r.app_id = $1 and r.status = 'succeeded'
                                                and r.kind in ('deploy', 'rollback')), '-infinity')
              order by b.created_at desc limit 10"
        ))
        .bind(app.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.build, r.auto_release))
            .collect())
    }

    /// A build by id alone (`GET /slugs/{id}`).
    pub async fn slug(&self, actor: &Actor, build_id: Uuid) -> Result<(Build, App)> {
        authorize(actor, Action::ReadApp, None)?;
        let build: Build = sqlx::query_as(&format!("{BUILD_SELECT} where b.id = $1"))
            .bind(build_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("The slug {build_id} was not found.")))?;
        let app = self.find_app(&build.app_id.to_string()).await?;
        Ok((build, app))
    }

    async fn find_build(&self, app: &App, build_id: Uuid) -> Result<Build> {
        sqlx::query_as(&format!("{BUILD_SELECT} where b.id = $1 and b.app_id = $2"))
            .bind(build_id)
            .bind(app.id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "The build {build_id} was not found in {}.",
                    app.full_name()
                ))
            })
    }

    /// A build and the last lines of its log (seq, text), at most `max` lines and about
    /// `max_bytes` of text, with the log's line count (the seq of its last line).
    pub async fn build_log_tail(
        &self,
        actor: &Actor,
        app: &App,
        build_id: Uuid,
        max: i32,
        max_bytes: i64,
    ) -> Result<(Build, Vec<crate::builds::log_feed::LogLine>, i32)> {
        let build = self.build(actor, app, build_id).await?;
        let lines: Vec<crate::builds::log_feed::LogLine> = sqlx::query_as!(
            crate::builds::log_feed::LogLine,
            r#"select seq as "seq!", text as "text!" from (
                 select seq, text, sum(octet_length(text)) over (order by seq desc) as upto
                   from build_log_lines
                  where build_id = $1 and seq > (select log_lines from builds where id = $1) - $2) sized
              where upto - octet_length(text) < $3
              order by seq"#,
            build_id,
            max,
            max_bytes
        )
        .fetch_all(&self.pool)
        .await?;
        let total = lines.last().map_or(0, |l| l.seq);
        Ok((build, lines, total))
    }

    /// A build, and its log as a stream of pages of lines, each read when the one before has
    /// been taken: a log of any length is sent without being held in memory.
    pub async fn build_log(
        &self,
        actor: &Actor,
        app: &App,
        build_id: Uuid,
    ) -> Result<(
        Build,
        impl futures::Stream<Item = Result<Vec<String>>> + Send + 'static,
    )> {
        let build = self.build(actor, app, build_id).await?;
        let pool = self.pool.clone();
        let pages = futures::stream::try_unfold(Some(0), move |after| {
            let pool = pool.clone();
            async move {
                let Some(after) = after else {
                    return Ok(None);
                };
                let rows: Vec<(i32, String)> = sqlx::query!(
                    r#"select seq as "seq!", text as "text!" from (
                         select seq, text, sum(octet_length(text)) over (order by seq) as upto
                           from (select seq, text from build_log_lines
                                  where build_id = $1 and seq > $2 order by seq limit 2000) page) sized
                      where upto - octet_length(text) < $3
                      order by seq"#,
                    build_id,
                    after,
                    crate::builds::log_feed::BATCH_BYTES
                )
                .fetch_all(&pool)
                .await?
                .into_iter()
                .map(|r| (r.seq, r.text))
                .collect();
                let Some(&(last, _)) = rows.last() else {
                    return Ok(None);
                };
                let lines: Vec<String> = rows.into_iter().map(|(_, t)| t).collect();
                Ok(Some((lines, Some(last))))
            }
        });
        Ok((build, pages))
    }
}
