//! Repository attachments (DESIGN §7): which GitHub repository and branch an app watches,
//! with whose credential, and its push webhook. The credential and the webhook secret are
//! sealed at rest and never shown again.

use chrono::{DateTime, Utc};
use domain::github::{missing_scopes, CheckItem, RepoChecklist, RepoUrl, REPO_SCOPES};
use rand::RngCore;
use uuid::Uuid;

use crate::access::authz::{authorize, Action, Actor};
use crate::builds::{Build, BuildRequest};
use crate::error::violates;
use crate::github::{GitHubApi, GitHubError};
use crate::ledger::apps::App;
use crate::{Core, Error, Result};

/// How Slipway reaches the repository, in the order the form offers them.
#[derive(Clone)]
pub enum Credential {
    /// The operator's service account.
    Service,
    /// The attaching user's own GitHub authorization (from signing in).
    Mine,
    /// A personal access token.
    Token(String),
}

/// Never the token itself.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Service => "Service",
            Credential::Mine => "Mine",
            Credential::Token(_) => "Token(…)",
        })
    }
}

impl Credential {
    fn kind(&self) -> &'static str {
        match self {
            Credential::Service => "service",
            Credential::Mine => "user",
            Credential::Token(_) => "token",
        }
    }
}

/// What attaching asks for.
#[derive(Debug, Clone)]
pub struct AttachRequest {
    pub repo: String,
    /// `master` when not given.
    pub branch: Option<String>,
    pub credential: Credential,
    pub auto_deploy: bool,
    pub status_check: bool,
}

/// An app's attachment, as the API and the settings page show it (no secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attachment {
    pub id: Uuid,
    pub app_id: Uuid,
    pub repo: String,
    pub branch: String,
    pub credential: String,
    pub username: String,
    pub hook_id: Option<i64>,
    pub auto_deploy: bool,
    pub status_check: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What detaching did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detached {
    /// The webhook was deleted too.
    Clean,
    /// The attachment is gone, but the webhook could not be deleted: the message says to
    /// remove it on GitHub by hand.
    HookLeft(String),
}

/// Dynamic SQL (not `query_as!`): the attachment's select list, shared by its readers here and in statuses; `query_as!` takes only a literal, so
/// each reader would repeat the list. A view would let them be checked; not done yet.
pub(super) const ATTACHMENT_SELECT: &str = "
    select r.id, r.app_id, r.repo, r.branch, r.credential, r.username, r.hook_id,
           a.auto_release as auto_deploy, r.status_check, r.created_at, r.updated_at
      from repo_attachments r join apps a on a.id = r.app_id";

impl Core {
    /// The GitHub adapter, or why repositories cannot be attached.
    pub(crate) fn github(&self) -> Result<&dyn GitHubApi> {
        self.github.as_deref().ok_or_else(|| {
            Error::Invalid("GitHub is not configured on this Slipway (SLIPWAY_GITHUB_URL, SLIPWAY_GITHUB_API_URL).".into())
        })
    }

    /// The app's attachment, if any.
    pub async fn attachment(&self, actor: &Actor, app: &App) -> Result<Option<Attachment>> {
        authorize(actor, Action::ReadApp, Some(app.id))?;
        self.find_attachment(app.id).await
    }

    pub(crate) async fn find_attachment(&self, app_id: Uuid) -> Result<Option<Attachment>> {
        Ok(
            sqlx::query_as(&format!("{ATTACHMENT_SELECT} where r.app_id = $1"))
                .bind(app_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The token a credential stands for, and its owner's login when known beforehand.
    async fn resolve_credential(
        &self,
        actor: &Actor,
        credential: &Credential,
    ) -> Result<(String, Option<String>)> {
        match credential {
            Credential::Service => match &self.github()?.settings().service {
                Some((user, token)) => Ok((token.clone(), Some(user.clone()))),
                None => Err(Error::Invalid(
                    "A token is required: this Slipway has no GitHub service account (SLIPWAY_GITHUB_SERVICE_TOKEN).".into(),
                )),
            },
            Credential::Mine => match self.user_github_token(actor.user_id).await? {
                Some((token, _)) => Ok((token, None)),
                None => Err(Error::Invalid(
                    "You have no GitHub authorization to use: sign in with GitHub, or paste a token.".into(),
                )),
            },
            Credential::Token(t) => {
                let t = t.trim();
                if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(Error::Invalid("The token is empty or malformed.".into()));
                }
                Ok((t.to_owned(), None))
            }
        }
    }

    /// Checks, before anything is saved, what a credential can do on a repository: its scopes
    /// (or a fine-grained token's permissions), admin rights, and the branch.
    pub async fn check_repo_access(
        &self,
        actor: &Actor,
        app: &App,
        repo: &str,
        branch: Option<&str>,
        credential: &Credential,
    ) -> Result<RepoChecklist> {
        authorize(actor, Action::RepoAttach, Some(app.id))?;
        let gh = self.github()?;
        let repo = RepoUrl::parse(repo, &gh.settings().web_url).map_err(Error::Invalid)?;
        let branch = branch
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .unwrap_or("master");
        let (token, _) = self.resolve_credential(actor, credential).await?;
        checklist(gh, &token, &repo, branch).await
    }

    /// Attaches a repository: checks the credential, creates the push webhook and stores
    /// everything, the token and the webhook secret sealed. Attaching with auto-deploy
    /// switches the app's `auto-release` on.
    pub async fn attach_repo(
        &self,
        actor: &Actor,
        app: &App,
        req: AttachRequest,
    ) -> Result<Attachment> {
        authorize(actor, Action::RepoAttach, Some(app.id))?;
        let gh = self.github()?;
        let repo = RepoUrl::parse(&req.repo, &gh.settings().web_url).map_err(Error::Invalid)?;
        let branch = req
            .branch
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .unwrap_or("master")
            .to_owned();
        if branch
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '~' || c == '^' || c == ':')
        {
            return Err(Error::Invalid(format!(
                "\"{branch}\" is not a branch name."
            )));
        }
        if self.find_attachment(app.id).await?.is_some() {
            return Err(Error::Conflict(format!(
                "{} already has a repository attached: detach it first.",
                app.full_name()
            )));
        }
        let (token, _) = self.resolve_credential(actor, &req.credential).await?;
        let check = checklist(gh, &token, &repo, &branch).await?;
        if !check.ready {
            return Err(Error::BadRequest(
                check
                    .problem
                    .unwrap_or_else(|| "GitHub refused the credential.".into()),
            ));
        }
        let username = check.login.clone().unwrap_or_default();
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let secret = hex::encode(secret);
        let hook_url = format!(
            "{}/apps/{}/builds/auto/github",
            gh.settings().public_url,
            app.full_name()
        );
        // The attachment is stored first, so the ping GitHub sends as soon as the webhook
        // exists finds it (and the unique app key settles a race before GitHub is touched).
        let id = Uuid::new_v4();
        let sealed_token = match req.credential {
            Credential::Service => None,
            _ => Some(self.key.seal(&format!("repo-token:{id}"), token.as_bytes())),
        };
        let inserted = sqlx::query!("insert into repo_attachments (id, app_id, repo, branch, credential, username, token_enc,
                                           secret_enc, auto_deploy, status_check, user_id)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", id, app.id, repo.to_string(), &branch, req.credential.kind(), &username, sealed_token, self.key.seal(&format!("repo-secret:{id}"), secret.as_bytes()), req.auto_deploy, req.status_check, actor.user_id)
        .execute(&self.pool)
        .await;
        if let Err(e) = inserted {
            return Err(if violates(&e, "repo_attachments_app_key") {
                Error::Conflict(format!(
                    "{} already has a repository attached: detach it first.",
                    app.full_name()
                ))
            } else {
                e.into()
            });
        }
        let hook_id = match gh.create_hook(&token, &repo, &hook_url, &secret).await {
            Ok(h) => h,
            Err(e) => {
                sqlx::query!("delete from repo_attachments where id = $1", id)
                    .execute(&self.pool)
                    .await?;
                return Err(refused(e));
            }
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "update repo_attachments set hook_id = $2 where id = $1",
            id,
            hook_id
        )
        .execute(&mut *tx)
        .await?;
        if req.auto_deploy {
            sqlx::query!(
                "update apps set auto_release = true, auto_release_paused = false where id = $1",
                app.id
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, repo = %repo, branch = %branch, "repository attached");
        Ok(self
            .find_attachment(app.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the attachment just made is gone"))?)
    }

    /// Changes the status-check switch of an attachment.
    pub async fn set_status_check(&self, actor: &Actor, app: &App, on: bool) -> Result<()> {
        authorize(actor, Action::RepoAttach, Some(app.id))?;
        let n = sqlx::query!(
            "update repo_attachments set status_check = $2 where app_id = $1",
            app.id,
            on
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::NotFound(format!(
                "{} has no repository attached.",
                app.full_name()
            )));
        }
        Ok(())
    }

    /// Detaches the repository and deletes its webhook. When the stored token no longer
    /// works the attachment goes anyway, and the answer says to remove the webhook by hand.
    pub async fn detach_repo(&self, actor: &Actor, app: &App) -> Result<Detached> {
        authorize(actor, Action::RepoAttach, Some(app.id))?;
        let Some(att) = self.find_attachment(app.id).await? else {
            return Err(Error::NotFound(format!(
                "{} has no repository attached.",
                app.full_name()
            )));
        };
        let outcome = self.delete_webhook(app, &att).await;
        // Builds waiting for status checks were waiting for this repository's checks.
        sqlx::query!(
            "update builds set auto_release = null, checks_next_at = null
              where attachment_id = $1 and auto_release = 'waiting'",
            att.id
        )
        .execute(&self.pool)
        .await?;
        sqlx::query!("delete from repo_attachments where id = $1", att.id)
            .execute(&self.pool)
            .await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, repo = %att.repo, "repository detached");
        Ok(outcome)
    }

    /// Deletes an app with its releases, builds and config. Its repository's webhook goes
    /// first: nothing would answer it any more. (Here, above the ledger, so the ledger's wing
    /// never reaches up to GitHub.) When the webhook cannot be deleted, the app still goes,
    /// and the answer says where to remove the webhook by hand.
    pub async fn delete_app(&self, actor: &Actor, key: &str) -> Result<(App, Detached)> {
        let app = self.find_app(key).await?;
        authorize(actor, Action::DeleteApp, Some(app.id))?;
        // Its add-ons first: refused while one is shared, and their instances removed.
        self.remove_app_addons(&app).await?;
        let mut detached = Detached::Clean;
        if let Some(att) = self.find_attachment(app.id).await? {
            detached = self.delete_webhook(&app, &att).await;
            if let Detached::HookLeft(why) = &detached {
                tracing::warn!(app = %app.full_name(), actor = %actor.login, reason = %why, "app deleted with its webhook left on GitHub");
            }
        }
        Ok((self.remove_app(actor, app).await?, detached))
    }

    /// Deletes the attachment's webhook on GitHub (detaching, deleting the app); when it
    /// cannot, says where to remove it by hand.
    pub(crate) async fn delete_webhook(&self, app: &App, att: &Attachment) -> Detached {
        match (self.attachment_token(att).await, att.hook_id, self.github()) {
            (Ok(token), Some(hook), Ok(gh)) => {
                let repo = match RepoUrl::parse(&att.repo, &gh.settings().web_url) {
                    Ok(r) => r,
                    Err(e) => return Detached::HookLeft(e),
                };
                match gh.delete_hook(&token, &repo, hook).await {
                    Ok(()) => Detached::Clean,
                    Err(e) => {
                        tracing::warn!(app = %app.full_name(), error = %e, "cannot delete the webhook");
                        Detached::HookLeft(hook_left(&att.repo, &e))
                    }
                }
            }
            (Ok(_), None, _) => Detached::Clean,
            (Err(e), _, _) | (_, _, Err(e)) => {
                tracing::warn!(app = %app.full_name(), error = %e, "cannot delete the webhook");
                Detached::HookLeft(format!(
                    "The repository is detached, but its webhook could not be deleted: remove it on GitHub by hand ({}/settings/hooks).",
                    att.repo
                ))
            }
        }
    }

    /// Builds the head of the attached branch now.
    pub async fn trigger_repo_build(&self, actor: &Actor, app: &App) -> Result<Build> {
        authorize(actor, Action::Build, Some(app.id))?;
        let att = self.find_attachment(app.id).await?.ok_or_else(|| {
            Error::NotFound(format!("{} has no repository attached.", app.full_name()))
        })?;
        let gh = self.github()?;
        let repo = RepoUrl::parse(&att.repo, &gh.settings().web_url).map_err(Error::Invalid)?;
        let token = self.attachment_token(&att).await?;
        let head = gh
            .branch_head(&token, &repo, &att.branch)
            .await
            .map_err(refused)?
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "The branch {} does not exist in {}.",
                    att.branch,
                    repo.full_name()
                ))
            })?;
        let req = BuildRequest {
            url: gh.settings().tarball_url(&repo, &head.sha),
            sha: Some(head.sha),
            branch: Some(att.branch.clone()),
            repo: Some(att.repo.clone()),
            author: author_line(head.author_name.as_deref(), head.author_login.as_deref()),
            message: Some(head.message),
            ..Default::default()
        };
        let mut tx = self.pool.begin().await?;
        let build = self
            .queue_github_build(&mut tx, Some(actor.user_id), app, Some(att.id), &req)
            .await?;
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), actor = %actor.login, build = %build.id, "build of the branch head queued");
        Ok(build)
    }

    /// The token of an attachment, unsealed (the service token for the service account).
    pub(crate) async fn attachment_token(&self, att: &Attachment) -> Result<String> {
        if att.credential == "service" {
            return match &self.github()?.settings().service {
                Some((_, token)) => Ok(token.clone()),
                None => Err(Error::Invalid(
                    "The repository was attached with the service account, which is no longer configured.".into(),
                )),
            };
        }
        let sealed: Option<Vec<u8>> = sqlx::query_scalar!(
            "select token_enc from repo_attachments where id = $1",
            att.id
        )
        .fetch_one(&self.pool)
        .await?;
        let sealed = sealed.ok_or_else(|| anyhow::anyhow!("an attachment without its token"))?;
        let plain = self.key.open(&format!("repo-token:{}", att.id), &sealed)?;
        Ok(String::from_utf8(plain).map_err(anyhow::Error::from)?)
    }

    /// The webhook secret of an attachment, unsealed.
    pub(crate) async fn attachment_secret(&self, att: &Attachment) -> Result<String> {
        let sealed: Vec<u8> = sqlx::query_scalar!(
            "select secret_enc from repo_attachments where id = $1",
            att.id
        )
        .fetch_one(&self.pool)
        .await?;
        let plain = self.key.open(&format!("repo-secret:{}", att.id), &sealed)?;
        Ok(String::from_utf8(plain).map_err(anyhow::Error::from)?)
    }
}

/// The history's author: `Name (login)`, or whichever is known.
pub(crate) fn author_line(name: Option<&str>, login: Option<&str>) -> Option<String> {
    match (
        name.filter(|n| !n.is_empty()),
        login.filter(|l| !l.is_empty()),
    ) {
        (Some(n), Some(l)) => Some(format!("{n} ({l})")),
        (Some(n), None) => Some(n.to_owned()),
        (None, Some(l)) => Some(l.to_owned()),
        (None, None) => None,
    }
}

/// GitHub's refusal, or its absence, as a 400 with the reason.
pub(crate) fn refused(e: GitHubError) -> Error {
    match e {
        GitHubError::Unavailable(m) => {
            Error::BadRequest(format!("GitHub could not be reached: {m}"))
        }
        e => Error::BadRequest(e.to_string()),
    }
}

fn hook_left(repo: &str, e: &GitHubError) -> String {
    let why = match e {
        GitHubError::BadCredentials => "the stored token no longer works",
        GitHubError::Refused(_) => "the stored token may no longer manage webhooks",
        _ => "GitHub did not answer",
    };
    format!(
        "The repository is detached, but its webhook could not be deleted ({why}): remove it on GitHub by hand ({repo}/settings/hooks)."
    )
}

/// What `token` can do on `repo`: the checklist the form shows and `attach_repo` insists on.
async fn checklist(
    gh: &dyn GitHubApi,
    token: &str,
    repo: &RepoUrl,
    branch: &str,
) -> Result<RepoChecklist> {
    let not_ready =
        |kind: &str, items: Vec<CheckItem>, login: Option<String>, problem: String| RepoChecklist {
            login,
            kind: kind.into(),
            items,
            branches: vec![],
            ready: false,
            problem: Some(problem),
        };
    let (user, scopes) = match gh.user(token).await {
        Ok(u) => u,
        Err(GitHubError::BadCredentials) => {
            return Ok(not_ready(
                "unknown",
                vec![],
                None,
                "GitHub does not accept this token (Bad credentials): check that it was pasted whole and has not expired.".into(),
            ))
        }
        Err(e) => return Err(refused(e)),
    };
    let login = Some(user.login.clone());
    let mut items = Vec::new();
    let mut problems = Vec::new();
    let kind = if scopes.is_some() {
        "classic"
    } else {
        "fine-grained"
    };
    if let Some(granted) = &scopes {
        let missing = missing_scopes(granted);
        for (scope, why) in REPO_SCOPES {
            items.push(CheckItem {
                label: scope.to_owned(),
                detail: why.to_owned(),
                ok: !missing.iter().any(|m| m == scope),
            });
        }
        if !missing.is_empty() {
            problems.push(format!(
                "The token lacks the scopes {}.",
                missing.join(", ")
            ));
        }
    }
    let found = match gh.repo(token, repo).await {
        Ok(r) => Some(r),
        Err(GitHubError::NotFound) => {
            problems.push(format!(
                "GitHub shows {} no repository {}: check the URL, or give the token access to it.",
                user.login,
                repo.full_name()
            ));
            None
        }
        Err(GitHubError::BadCredentials) => {
            return Ok(not_ready(
                kind,
                items,
                login,
                "GitHub does not accept this token (Bad credentials).".into(),
            ))
        }
        Err(e) => return Err(refused(e)),
    };
    let mut branches = Vec::new();
    if let Some(found) = &found {
        let admin = found.permissions.admin;
        items.push(CheckItem {
            label: "Admin rights on the repository".into(),
            detail: if admin {
                format!("{} is an admin of {}.", user.login, found.full_name)
            } else {
                format!(
                    "{} is not an admin of {}: creating its webhook needs admin rights.",
                    user.login, found.full_name
                )
            },
            ok: admin,
        });
        if !admin {
            problems.push(format!(
                "{} has no admin rights on {}: creating its webhook needs them.",
                user.login, found.full_name
            ));
        }
        if scopes.is_none() {
            // A fine-grained token: its permissions instead of scopes.
            let hooks = gh.can_manage_hooks(token, repo).await.map_err(refused)?;
            items.insert(
                0,
                CheckItem {
                    label: "Contents: read".into(),
                    detail: "Download the source of each push.".into(),
                    ok: found.permissions.pull,
                },
            );
            items.insert(
                1,
                CheckItem {
                    label: "Webhooks: read and write".into(),
                    detail:
                        "Create the push webhook, and delete it when the repository is detached."
                            .into(),
                    ok: hooks,
                },
            );
            if !hooks {
                problems.push("The token may not manage the repository's webhooks (give it the Webhooks permission, read and write).".into());
            }
        }
        branches = gh.branches(token, repo).await.unwrap_or_default();
        let exists = match gh.branch_head(token, repo, branch).await {
            Ok(h) => h.is_some(),
            Err(e) => return Err(refused(e)),
        };
        items.push(CheckItem {
            label: format!("Branch {branch}"),
            detail: if exists {
                "Exists: pushes to it are built.".into()
            } else {
                format!("There is no branch {branch} in {}.", found.full_name)
            },
            ok: exists,
        });
        if !exists {
            problems.push(format!(
                "There is no branch {branch} in {}.",
                found.full_name
            ));
        }
    }
    Ok(RepoChecklist {
        login,
        kind: kind.into(),
        ready: problems.is_empty(),
        problem: (!problems.is_empty()).then(|| problems.join(" ")),
        items,
        branches,
    })
}
