//! The GitHub REST API adapter: who a token belongs to and what it may do, a repository's
//! branches, its webhook, commit statuses and the status checks of a commit. Everything is
//! asked with the token given; the token never appears in an error or a log line.

pub mod checks;
pub mod repos;
pub mod statuses;
pub mod webhooks;

use std::time::Duration;

use domain::github::{split_scopes, RepoUrl};
use serde::Deserialize;
use serde_json::json;

/// Where GitHub is, and the operator's service account (DESIGN §7).
#[derive(Clone)]
pub struct GitHubSettings {
    /// `SLIPWAY_GITHUB_URL`, without a trailing slash.
    pub web_url: String,
    /// `SLIPWAY_GITHUB_API_URL`, without a trailing slash.
    pub api_url: String,
    /// `SLIPWAY_GITHUB_SERVICE_USER` and `SLIPWAY_GITHUB_SERVICE_TOKEN`.
    pub service: Option<(String, String)>,
    /// `SLIPWAY_PUBLIC_URL`, without a trailing slash: webhook and status addresses.
    pub public_url: String,
}

impl std::fmt::Debug for GitHubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubSettings")
            .field("web_url", &self.web_url)
            .field("api_url", &self.api_url)
            .field("service_user", &self.service.as_ref().map(|s| &s.0))
            .finish()
    }
}

impl GitHubSettings {
    /// Host names the build fetcher may reach whatever they resolve to: the API's host.
    pub fn api_host(&self) -> Option<String> {
        reqwest::Url::parse(&self.api_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    }

    /// The archive of `sha`, as the API serves it (a redirect to another host).
    pub fn tarball_url(&self, repo: &RepoUrl, sha: &str) -> String {
        format!(
            "{}/repos/{}/{}/tarball/{sha}",
            self.api_url,
            repo.owner(),
            repo.name()
        )
    }
}

/// GitHub's answer, as far as a person needs to know it. The text names no token.
#[derive(Debug)]
pub enum GitHubError {
    /// 401: the token is not (or no longer) valid.
    BadCredentials,
    /// 404: no such thing, or the token may not see it (GitHub answers 404 for both).
    NotFound,
    /// 403 or 422, with GitHub's message.
    Refused(String),
    /// GitHub could not be reached or answered something unexpected.
    Unavailable(String),
}

impl std::fmt::Display for GitHubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitHubError::BadCredentials => f.write_str("GitHub does not accept the token (Bad credentials)."),
            GitHubError::NotFound => f.write_str("GitHub answered Not Found: the repository does not exist, or the token cannot see it."),
            GitHubError::Refused(m) => write!(f, "GitHub refused: {m}"),
            GitHubError::Unavailable(m) => write!(f, "GitHub could not be reached: {m}"),
        }
    }
}

impl std::error::Error for GitHubError {}

pub type GhResult<T> = std::result::Result<T, GitHubError>;

/// A GitHub user.
#[derive(Debug, Clone, Deserialize)]
pub struct GhUser {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// What a token's owner may do on a repository.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GhPermissions {
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub push: bool,
    #[serde(default)]
    pub pull: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GhRepo {
    pub full_name: String,
    pub default_branch: Option<String>,
    #[serde(default)]
    pub permissions: GhPermissions,
}

/// A branch's head commit.
#[derive(Debug, Clone)]
pub struct GhCommit {
    pub sha: String,
    pub message: String,
    pub author_name: Option<String>,
    pub author_login: Option<String>,
}

/// Where a commit's status checks stand (not counting Slipway's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checks {
    Passed,
    Pending,
    /// The names of the checks that failed.
    Failed(Vec<String>),
}

/// The status context Slipway posts.
pub const STATUS_CONTEXT: &str = "slipway/build";

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct GitHub {
    settings: GitHubSettings,
    http: reqwest::Client,
}

impl GitHub {
    pub fn new(settings: GitHubSettings) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("Slipway/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Self { settings, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.api_url)
    }

    fn request(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"))
    }

    /// Sends and sorts GitHub's answer into success or a `GitHubError`.
    async fn send(&self, req: reqwest::RequestBuilder) -> GhResult<reqwest::Response> {
        let resp = req
            .send()
            .await
            .map_err(|e| GitHubError::Unavailable(without_url(&e)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let message = resp
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        Err(match status.as_u16() {
            401 => GitHubError::BadCredentials,
            404 => GitHubError::NotFound,
            403 | 422 => GitHubError::Refused(message),
            _ => GitHubError::Unavailable(format!("it answered {status}")),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
    ) -> GhResult<T> {
        let resp = self
            .send(self.request(reqwest::Method::GET, path, token))
            .await?;
        resp.json()
            .await
            .map_err(|_| GitHubError::Unavailable("its answer was not understood".into()))
    }
}

/// What Slipway asks of GitHub: one method per REST call it makes. [`GitHub`] speaks the REST
/// API (github.com, or an Enterprise server at other URLs); the core holds it as
/// `Arc<dyn GitHubApi>`, so another forge plugs in beside it without touching the ledger.
#[async_trait::async_trait]
pub trait GitHubApi: Send + Sync {
    /// Where GitHub lives, where it sends webhooks, and the service account.
    fn settings(&self) -> &GitHubSettings;

    /// The token's user, and its scopes (`None` for a fine-grained token, which has none).
    async fn user(&self, token: &str) -> GhResult<(GhUser, Option<Vec<String>>)>;

    /// The logins of the organisations the token's user belongs to (needs `read:org`).
    async fn orgs(&self, token: &str) -> GhResult<Vec<String>>;

    /// The repository as the token sees it, with the token's permissions on it.
    async fn repo(&self, token: &str, repo: &RepoUrl) -> GhResult<GhRepo>;

    /// The repository's branch names (the first hundred).
    async fn branches(&self, token: &str, repo: &RepoUrl) -> GhResult<Vec<String>>;

    /// A branch's head commit; `None` when there is no such branch.
    async fn branch_head(
        &self,
        token: &str,
        repo: &RepoUrl,
        branch: &str,
    ) -> GhResult<Option<GhCommit>>;

    /// Whether the token may manage the repository's webhooks (the probe for fine-grained
    /// tokens, which carry no scopes).
    async fn can_manage_hooks(&self, token: &str, repo: &RepoUrl) -> GhResult<bool>;

    /// Creates the push webhook; answers its id.
    async fn create_hook(
        &self,
        token: &str,
        repo: &RepoUrl,
        url: &str,
        secret: &str,
    ) -> GhResult<i64>;

    /// Deletes a webhook; one already gone counts as deleted.
    async fn delete_hook(&self, token: &str, repo: &RepoUrl, id: i64) -> GhResult<()>;

    /// Posts a `slipway/build` commit status.
    async fn post_status(
        &self,
        token: &str,
        repo: &RepoUrl,
        sha: &str,
        state: &str,
        target_url: &str,
        description: &str,
    ) -> GhResult<()>;

    /// The commit's other statuses and check runs: all succeeded (or none), some still
    /// running, or some failed.
    async fn checks(&self, token: &str, repo: &RepoUrl, sha: &str) -> GhResult<Checks>;
}

#[async_trait::async_trait]
impl GitHubApi for GitHub {
    fn settings(&self) -> &GitHubSettings {
        &self.settings
    }

    async fn user(&self, token: &str) -> GhResult<(GhUser, Option<Vec<String>>)> {
        let resp = self
            .send(self.request(reqwest::Method::GET, "/user", token))
            .await?;
        let scopes = resp
            .headers()
            .get("x-oauth-scopes")
            .and_then(|h| h.to_str().ok())
            .map(split_scopes);
        let user = resp
            .json()
            .await
            .map_err(|_| GitHubError::Unavailable("its answer was not understood".into()))?;
        Ok((user, scopes))
    }

    async fn orgs(&self, token: &str) -> GhResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Org {
            login: String,
        }
        let orgs: Vec<Org> = self.get_json("/user/orgs?per_page=100", token).await?;
        Ok(orgs.into_iter().map(|o| o.login).collect())
    }

    async fn repo(&self, token: &str, repo: &RepoUrl) -> GhResult<GhRepo> {
        self.get_json(&format!("/repos/{}", repo.full_name()), token)
            .await
    }

    async fn branches(&self, token: &str, repo: &RepoUrl) -> GhResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Branch {
            name: String,
        }
        let b: Vec<Branch> = self
            .get_json(
                &format!("/repos/{}/branches?per_page=100", repo.full_name()),
                token,
            )
            .await?;
        Ok(b.into_iter().map(|b| b.name).collect())
    }

    async fn branch_head(
        &self,
        token: &str,
        repo: &RepoUrl,
        branch: &str,
    ) -> GhResult<Option<GhCommit>> {
        #[derive(Deserialize)]
        struct Author {
            name: Option<String>,
        }
        #[derive(Deserialize)]
        struct Inner {
            message: String,
            author: Option<Author>,
        }
        #[derive(Deserialize)]
        struct Login {
            login: String,
        }
        #[derive(Deserialize)]
        struct Commit {
            sha: String,
            commit: Inner,
            author: Option<Login>,
        }
        #[derive(Deserialize)]
        struct Branch {
            commit: Commit,
        }
        let path = format!(
            "/repos/{}/branches/{}",
            repo.full_name(),
            encode_path(branch)
        );
        match self.get_json::<Branch>(&path, token).await {
            Ok(b) => Ok(Some(GhCommit {
                sha: b.commit.sha,
                message: b.commit.commit.message,
                author_name: b.commit.commit.author.and_then(|a| a.name),
                author_login: b.commit.author.map(|a| a.login),
            })),
            Err(GitHubError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn can_manage_hooks(&self, token: &str, repo: &RepoUrl) -> GhResult<bool> {
        let req = self.request(
            reqwest::Method::GET,
            &format!("/repos/{}/hooks?per_page=1", repo.full_name()),
            token,
        );
        match self.send(req).await {
            Ok(_) => Ok(true),
            Err(GitHubError::NotFound | GitHubError::Refused(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn create_hook(
        &self,
        token: &str,
        repo: &RepoUrl,
        url: &str,
        secret: &str,
    ) -> GhResult<i64> {
        #[derive(Deserialize)]
        struct Hook {
            id: i64,
        }
        let req = self
            .request(
                reqwest::Method::POST,
                &format!("/repos/{}/hooks", repo.full_name()),
                token,
            )
            .json(&json!({
                "name": "web",
                "active": true,
                "events": ["push"],
                "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
            }));
        let hook: Hook = self
            .send(req)
            .await?
            .json()
            .await
            .map_err(|_| GitHubError::Unavailable("its answer was not understood".into()))?;
        Ok(hook.id)
    }

    async fn delete_hook(&self, token: &str, repo: &RepoUrl, id: i64) -> GhResult<()> {
        let req = self.request(
            reqwest::Method::DELETE,
            &format!("/repos/{}/hooks/{id}", repo.full_name()),
            token,
        );
        match self.send(req).await {
            Ok(_) | Err(GitHubError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn post_status(
        &self,
        token: &str,
        repo: &RepoUrl,
        sha: &str,
        state: &str,
        target_url: &str,
        description: &str,
    ) -> GhResult<()> {
        let req = self
            .request(
                reqwest::Method::POST,
                &format!("/repos/{}/statuses/{sha}", repo.full_name()),
                token,
            )
            .json(&json!({
                "state": state,
                "target_url": target_url,
                "description": description,
                "context": STATUS_CONTEXT,
            }));
        self.send(req).await.map(|_| ())
    }

    async fn checks(&self, token: &str, repo: &RepoUrl, sha: &str) -> GhResult<Checks> {
        #[derive(Deserialize)]
        struct Status {
            state: String,
            context: String,
        }
        #[derive(Deserialize)]
        struct Combined {
            statuses: Vec<Status>,
        }
        #[derive(Deserialize)]
        struct Run {
            name: String,
            status: String,
            conclusion: Option<String>,
        }
        #[derive(Deserialize)]
        struct Runs {
            check_runs: Vec<Run>,
        }
        let full = repo.full_name();
        let combined: Combined = self
            .get_json(
                &format!("/repos/{full}/commits/{sha}/status?per_page=100"),
                token,
            )
            .await?;
        let runs: Runs = match self
            .get_json(
                &format!("/repos/{full}/commits/{sha}/check-runs?per_page=100"),
                token,
            )
            .await
        {
            Ok(r) => r,
            // A gate that cannot see the check runs does not open: a token without access to
            // them (a fine-grained one without "Checks: read") holds releases back, saying why.
            Err(GitHubError::NotFound | GitHubError::Refused(_)) => {
                return Ok(Checks::Failed(vec![
                    "check runs (the token may not read them)".into(),
                ]))
            }
            Err(e) => return Err(e),
        };
        let mut failed = Vec::new();
        let mut pending = false;
        for s in combined
            .statuses
            .iter()
            .filter(|s| s.context != STATUS_CONTEXT)
        {
            match s.state.as_str() {
                "success" => {}
                "pending" => pending = true,
                _ => failed.push(s.context.clone()),
            }
        }
        for r in &runs.check_runs {
            if r.status != "completed" {
                pending = true;
            } else if !matches!(
                r.conclusion.as_deref(),
                Some("success" | "neutral" | "skipped")
            ) {
                failed.push(r.name.clone());
            }
        }
        Ok(if !failed.is_empty() {
            Checks::Failed(failed)
        } else if pending {
            Checks::Pending
        } else {
            Checks::Passed
        })
    }
}

/// reqwest's error text names the URL; the URL names no secret here, but keep it short.
fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    match text.find(" for url (") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Percent-encodes a branch name for a path segment (branches may hold `/`).
fn encode_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
