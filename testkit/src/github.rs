//! A stand-in for GitHub that speaks GitHub's own formats, for Slipway's integration tests (as a
//! library) and end-to-end tests (as the `github-stand-in` binary).
//!
//! Two origins, like the real thing. The main one, addressed as `http://localhost:{port}` so a
//! sign-in round trip from Slipway on 127.0.0.1 is cross-site, serves the web sign-in pages at
//! `/`, the REST API under `/api/v3` (GitHub Enterprise's layout) and control endpoints under
//! `/_stand-in/`. The second, `http://127.0.0.1:{port}`, serves archive downloads only, like
//! codeload.github.com. Branches, commits and archives come from real git repositories on disk.
//!
//! Layout: this file holds the handle, the public types and the state; `web` the OAuth pages,
//! `api` the REST API and codeload, `hooks` webhook payloads and deliveries, `shape` GitHub's
//! JSON objects, `git` the git plumbing, `control` the `/_stand-in/` endpoints.

mod api;
mod control;
mod git;
mod hooks;
mod shape;
mod web;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpListener;

pub use control::{Collaborator, OAuthAppSpec, RepoSpec, Setup, TokenSpec};

/// A GitHub account that can sign in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub login: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Logins of the organizations the user is a member of.
    #[serde(default)]
    pub orgs: Vec<String>,
}

/// What a token may do. In JSON: `{"type": "classic", "scopes": [...]}` or
/// `{"type": "fine_grained", "repos": ["owner/name"], "administration": true, "statuses": true}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TokenKind {
    /// An OAuth or classic personal token; its scopes come back in `X-OAuth-Scopes`.
    Classic { scopes: Vec<String> },
    /// A fine-grained personal token, limited to some repositories.
    FineGrained {
        repos: Vec<String>,
        /// "Administration: write" (manage webhooks).
        administration: bool,
        /// "Commit statuses: write".
        statuses: bool,
    },
}

/// Which of the two origins a request reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Main,
    Codeload,
}

/// A request the stand-in received (control endpoints aside).
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub origin: Origin,
    pub method: String,
    pub path_and_query: String,
    pub authorization: Option<String>,
    pub body: String,
}

/// The query of a visit to `/login/oauth/authorize`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
}

/// A repository webhook, secret in clear.
#[derive(Clone, Debug, Serialize)]
pub struct Hook {
    pub id: u64,
    pub url: String,
    /// `json` or `form`, as configured (GitHub's default is `form`).
    pub content_type: String,
    pub secret: Option<String>,
    pub events: Vec<String>,
    pub active: bool,
    pub insecure_ssl: String,
    pub created_at: String,
    /// The HTTP status of the last delivery's answer.
    pub last_response: Option<u16>,
}

/// A commit status, as posted.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub id: u64,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub target_url: Option<String>,
    pub description: Option<String>,
    /// The token it was posted with; `None` when a test set it with [`StandIn::set_status`].
    pub creator_token: Option<String>,
    pub creator_login: Option<String>,
    pub created_at: String,
}

/// One webhook event sent to the hooks of a repository, with their answers.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    /// The `X-GitHub-Delivery` id (kept on redelivery).
    pub id: String,
    pub event: String,
    pub repo: String,
    /// The JSON payload exactly as sent (hooks configured for `form` get it as `payload=`).
    pub body: String,
    pub redelivery: bool,
    pub answers: Vec<HookAnswer>,
}

/// What one hook answered to a delivery.
#[derive(Clone, Debug, Serialize)]
pub struct HookAnswer {
    pub hook_id: u64,
    pub url: String,
    /// `None` when the hook could not be reached; `body` then holds the error.
    pub status: Option<u16>,
    pub body: String,
}

/// The delivery of a `push` event.
pub type PushDelivery = Delivery;

/// A running stand-in. Cheap to clone; its servers live as long as the Tokio runtime.
#[derive(Clone)]
pub struct StandIn {
    shared: Arc<Shared>,
}

struct Shared {
    urls: Urls,
    state: Mutex<Data>,
    http: reqwest::Client,
}

struct Urls {
    web: String,
    api: String,
    codeload: String,
    /// `localhost:{port}`, for git and ssh URLs.
    host: String,
}

#[derive(Default)]
struct Data {
    apps: Vec<OAuthApp>,
    users: Vec<User>,
    tokens: HashMap<String, Token>,
    repos: Vec<Repo>,
    codes: HashMap<String, Grant>,
    /// Codeload tokens: one-time, bound to a repository and a commit.
    archive_tokens: HashMap<String, (String, String)>,
    requests: Vec<Recorded>,
    authorize_requests: Vec<AuthorizeRequest>,
    deliveries: Vec<Delivery>,
    last_id: u64,
}

struct OAuthApp {
    name: String,
    client_id: String,
    client_secret: String,
}

struct Token {
    login: String,
    kind: TokenKind,
    revoked: bool,
}

/// What an authorization code stands for.
#[derive(Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    login: String,
    scope: String,
}

struct Repo {
    id: u64,
    full_name: String,
    git_dir: PathBuf,
    default_branch: String,
    private: bool,
    /// (login, admin); others have write access.
    collaborators: Vec<(String, bool)>,
    /// Branch heads as of the last push the stand-in delivered: the `before` of the next one.
    heads: HashMap<String, String>,
    hooks: Vec<Hook>,
    statuses: Vec<Status>,
    check_runs: Vec<CheckRun>,
    created_at: DateTime<Utc>,
}

struct CheckRun {
    id: u64,
    sha: String,
    name: String,
    status: String,
    conclusion: Option<String>,
    started_at: String,
}

/// A user's permission on a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    None,
    Read,
    Write,
    Admin,
}

impl Data {
    fn app(&self, client_id: &str) -> Option<&OAuthApp> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }

    fn user(&self, login: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
    }

    fn user_by_email(&self, email: &str) -> Option<&User> {
        let email = Some(email);
        self.users.iter().find(|u| u.email.as_deref() == email)
    }

    /// Repository names are case-insensitive, as on GitHub.
    fn repo_index(&self, full_name: &str) -> Option<usize> {
        self.repos
            .iter()
            .position(|r| r.full_name.eq_ignore_ascii_case(full_name))
    }

    fn repo(&self, full_name: &str) -> Option<&Repo> {
        self.repo_index(full_name).map(|i| &self.repos[i])
    }

    fn repo_mut(&mut self, full_name: &str) -> Option<&mut Repo> {
        self.repo_index(full_name).map(|i| &mut self.repos[i])
    }

    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// The owner and admin collaborators administer; other collaborators write; members of
    /// the owning organization read.
    fn role(&self, repo: &Repo, login: &str) -> Role {
        if repo.owner().eq_ignore_ascii_case(login) {
            return Role::Admin;
        }
        match repo
            .collaborators
            .iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(login))
        {
            Some((_, true)) => Role::Admin,
            Some(_) => Role::Write,
            None if self
                .user(login)
                .is_some_and(|u| u.orgs.iter().any(|o| o.eq_ignore_ascii_case(repo.owner()))) =>
            {
                Role::Read
            }
            None => Role::None,
        }
    }
}

impl Repo {
    fn owner(&self) -> &str {
        self.full_name.split('/').next().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.full_name.split('/').nth(1).unwrap_or_default()
    }
}

impl StandIn {
    /// Starts both origins on free ports. Panics if it cannot listen: it is a test fixture.
    pub async fn start() -> StandIn {
        Self::start_on(0, 0)
            .await
            .expect("cannot start the GitHub stand-in")
    }

    /// Starts both origins on the given ports (0: any free port).
    pub async fn start_on(port: u16, codeload_port: u16) -> std::io::Result<StandIn> {
        let main = TcpListener::bind(("127.0.0.1", port)).await?;
        let codeload = TcpListener::bind(("127.0.0.1", codeload_port)).await?;
        let port = main.local_addr()?.port();
        let web = format!("http://localhost:{port}");
        let urls = Urls {
            api: format!("{web}/api/v3"),
            codeload: format!("http://127.0.0.1:{}", codeload.local_addr()?.port()),
            host: format!("localhost:{port}"),
            web,
        };
        // Like GitHub, deliveries do not follow redirects.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let gh = StandIn {
            shared: Arc::new(Shared {
                urls,
                state: Mutex::default(),
                http,
            }),
        };
        let app = gh.main_router();
        // `localhost` may resolve to ::1 first: answer there too, where the host has IPv6.
        if let Ok(v6) = TcpListener::bind(("::1", port)).await {
            tokio::spawn(serve(v6, app.clone()));
        }
        tokio::spawn(serve(main, app));
        tokio::spawn(serve(codeload, gh.codeload_router()));
        Ok(gh)
    }

    fn main_router(&self) -> Router {
        Router::new()
            .route(
                "/login/oauth/authorize",
                get(web::authorize_page).post(web::authorize),
            )
            .route("/login/oauth/access_token", post(web::access_token))
            .route("/avatars/u/{id}", get(web::avatar))
            .route("/api/v3/{*path}", any(api::handle))
            .nest("/_stand-in", control::router())
            .fallback(api::unknown_route)
            .layer(middleware::from_fn_with_state(
                (self.clone(), Origin::Main),
                record,
            ))
            .with_state(self.clone())
    }

    fn codeload_router(&self) -> Router {
        Router::new()
            .route("/{owner}/{repo}/legacy.tar.gz/{sha}", get(api::codeload))
            .fallback(api::codeload_not_found)
            .layer(middleware::from_fn_with_state(
                (self.clone(), Origin::Codeload),
                record,
            ))
            .with_state(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn urls(&self) -> &Urls {
        &self.shared.urls
    }

    /// `http://localhost:{port}`: github.com.
    pub fn web_url(&self) -> String {
        self.urls().web.clone()
    }

    /// `http://localhost:{port}/api/v3`: api.github.com.
    pub fn api_url(&self) -> String {
        self.urls().api.clone()
    }

    /// `http://127.0.0.1:{port}`: codeload.github.com.
    pub fn codeload_url(&self) -> String {
        self.urls().codeload.clone()
    }

    /// Registers an OAuth app named "Slipway".
    pub fn oauth_app(&self, client_id: &str, client_secret: &str) {
        self.oauth_app_named("Slipway", client_id, client_secret);
    }

    pub fn oauth_app_named(&self, name: &str, client_id: &str, client_secret: &str) {
        let mut st = self.lock();
        st.apps.retain(|a| a.client_id != client_id);
        st.apps.push(OAuthApp {
            name: name.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
        });
    }

    pub fn add_user(&self, user: User) {
        let mut st = self.lock();
        st.users
            .retain(|u| !u.login.eq_ignore_ascii_case(&user.login));
        st.users.push(user);
    }

    pub fn add_token(&self, token: &str, login: &str, kind: TokenKind) {
        let token_data = Token {
            login: login.to_owned(),
            kind,
            revoked: false,
        };
        self.lock().tokens.insert(token.to_owned(), token_data);
    }

    /// From now on the API answers this token with 401 Bad credentials.
    pub fn revoke_token(&self, token: &str) {
        if let Some(t) = self.lock().tokens.get_mut(token) {
            t.revoked = true;
        }
    }

    /// Adds a private repository backed by the git repository at `git_dir`. The owner (first
    /// half of `full_name`) and admin collaborators administer it; other collaborators write.
    pub fn add_repo(
        &self,
        full_name: &str,
        git_dir: impl Into<PathBuf>,
        default_branch: &str,
        collaborators: &[(&str, bool)],
    ) {
        assert!(
            full_name.split('/').count() == 2,
            "a repository is named owner/name"
        );
        let git_dir = git_dir.into();
        let heads = git::branches(&git_dir).into_iter().collect();
        let mut st = self.lock();
        st.repos
            .retain(|r| !r.full_name.eq_ignore_ascii_case(full_name));
        let id = st.next_id();
        st.repos.push(Repo {
            id,
            full_name: full_name.to_owned(),
            git_dir,
            default_branch: default_branch.to_owned(),
            private: true,
            collaborators: collaborators
                .iter()
                .map(|(login, admin)| (login.to_string(), *admin))
                .collect(),
            heads,
            hooks: Vec::new(),
            statuses: Vec::new(),
            check_runs: Vec::new(),
            created_at: Utc::now(),
        });
    }

    /// Public repositories are readable by anyone, with any token.
    pub fn set_repo_private(&self, full_name: &str, private: bool) {
        self.with_repo(full_name, |r| r.private = private);
    }

    fn with_repo<T>(&self, full_name: &str, f: impl FnOnce(&mut Repo) -> T) -> T {
        let mut st = self.lock();
        let repo = st
            .repo_mut(full_name)
            .unwrap_or_else(|| panic!("no repository {full_name} in the stand-in"));
        f(repo)
    }

    /// A status posted by some other CI system (no token).
    pub fn set_status(&self, full_name: &str, sha: &str, state: &str, context: &str) {
        let mut st = self.lock();
        let id = st.next_id();
        let repo = st
            .repo_mut(full_name)
            .unwrap_or_else(|| panic!("no repository {full_name} in the stand-in"));
        let sha = git::resolve(&repo.git_dir, sha).unwrap_or_else(|| sha.to_owned());
        repo.statuses.push(Status {
            id,
            sha,
            state: state.to_owned(),
            context: context.to_owned(),
            target_url: None,
            description: None,
            creator_token: None,
            creator_login: None,
            created_at: shape::timestamp(Utc::now()),
        });
    }

    /// A check run of some GitHub App; `status` is `queued`, `in_progress` or `completed`.
    pub fn add_check_run(
        &self,
        full_name: &str,
        sha: &str,
        name: &str,
        status: &str,
        conclusion: Option<&str>,
    ) {
        let mut st = self.lock();
        let id = st.next_id();
        let repo = st
            .repo_mut(full_name)
            .unwrap_or_else(|| panic!("no repository {full_name} in the stand-in"));
        let sha = git::resolve(&repo.git_dir, sha).unwrap_or_else(|| sha.to_owned());
        repo.check_runs.push(CheckRun {
            id,
            sha,
            name: name.to_owned(),
            status: status.to_owned(),
            conclusion: conclusion.map(str::to_owned),
            started_at: shape::timestamp(Utc::now()),
        });
    }

    /// The `push` payload GitHub would send for `branch` now: `before` is the head of the last
    /// delivered push (or of when the repository was added), `after` the branch's head on disk
    /// (zeros when the branch is gone). Tests may alter it and send it with [`Self::deliver`].
    pub fn push_payload(&self, full_name: &str, branch: &str) -> Value {
        hooks::push_payload(self, full_name, branch)
            .unwrap_or_else(|| panic!("no branch {branch} in {full_name}, now or before"))
    }

    /// Delivers the `push` event for the branch's head to every active hook subscribed to it.
    pub async fn push(&self, full_name: &str, branch: &str) -> PushDelivery {
        let payload = self.push_payload(full_name, branch);
        self.with_repo(full_name, |r| match payload["after"].as_str() {
            Some(after) if payload["deleted"] != true => {
                r.heads.insert(branch.to_owned(), after.to_owned());
            }
            _ => {
                r.heads.remove(branch);
            }
        });
        self.deliver(full_name, "push", payload).await
    }

    /// Delivers any event to the repository's active hooks subscribed to it (or to `*`).
    /// Like every method here that names a repository to change or deliver for, it panics if
    /// the repository is unknown: a test fixture fails loudly.
    pub async fn deliver(&self, full_name: &str, event: &str, payload: Value) -> Delivery {
        let id = uuid::Uuid::new_v4().to_string();
        hooks::send(self, full_name, event, payload.to_string(), None, id, false).await
    }

    /// Sends a past delivery again, same body and same `X-GitHub-Delivery`, to the same hooks,
    /// as GitHub's "Redeliver" does.
    pub async fn redeliver(&self, delivery_id: &str) -> Delivery {
        let past = self
            .deliveries()
            .into_iter()
            .find(|d| d.id == delivery_id)
            .unwrap_or_else(|| panic!("no delivery {delivery_id}"));
        let hook_ids: Vec<u64> = past.answers.iter().map(|a| a.hook_id).collect();
        hooks::send(
            self,
            &past.repo,
            &past.event,
            past.body,
            Some(&hook_ids),
            past.id,
            true,
        )
        .await
    }

    /// Every request received, in order (control endpoints aside).
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub fn authorize_requests(&self) -> Vec<AuthorizeRequest> {
        self.lock().authorize_requests.clone()
    }

    pub fn hooks(&self, full_name: &str) -> Vec<Hook> {
        self.lock()
            .repo(full_name)
            .map(|r| r.hooks.clone())
            .unwrap_or_default()
    }

    /// The statuses of a commit (sha or ref), in the order they were posted.
    pub fn statuses(&self, full_name: &str, sha: &str) -> Vec<Status> {
        let st = self.lock();
        let Some(repo) = st.repo(full_name) else {
            return Vec::new();
        };
        let sha = git::resolve(&repo.git_dir, sha).unwrap_or_else(|| sha.to_owned());
        repo.statuses
            .iter()
            .filter(|s| s.sha == sha)
            .cloned()
            .collect()
    }

    /// Every delivery made, in order, redeliveries included.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    /// Waits up to five seconds for at least `count` deliveries of `event` (pings are sent in
    /// the background after a hook is created), and returns them all.
    pub async fn wait_for_deliveries(&self, event: &str, count: usize) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found: Vec<Delivery> = self
                .deliveries()
                .into_iter()
                .filter(|d| d.event == event)
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "waited 5 s for {count} {event} deliveries, saw {}",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn serve(listener: TcpListener, app: Router) {
    let _ = axum::serve(listener, app).await;
}

/// Records every request but the control ones, body included.
async fn record(
    State((gh, origin)): State<(StandIn, Origin)>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/_stand-in/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    gh.lock().requests.push(Recorded {
        origin,
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.to_string()),
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::thread_rng();
    hex::encode((0..bytes).map(|_| rng.gen::<u8>()).collect::<Vec<u8>>())
}

fn random_alphanumeric(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
