//! Helpers of the GitHub tests: the stand-in's world (an OAuth app, its people, `acme/web`),
//! a browser that signs in through it, and Slipway configured for it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use testkit::github::{StandIn, TokenKind, User};

use super as support;
use super::{Api, Slipway};

pub const CLIENT_ID: &str = "Iv1.slipwaytest";
pub const CLIENT_SECRET: &str = "client-secret-0123456789";
/// A classic token with exactly the documented three scopes.
pub const FULL_TOKEN: &str = "ghp_fullscopes000000000000000000000000";

pub fn classic(scopes: &[&str]) -> TokenKind {
    TokenKind::Classic {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

/// A git repository with a Dockerfile on `master`, made with the git CLI.
pub fn git_repo(dockerfile: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "slipway-gh-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "master"]);
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    commit(&dir, "First commit");
    dir
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Jane Doe",
            "-c",
            "user.email=jdoe@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Commits everything with `message`; answers the new head.
pub fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// The stand-in with an OAuth app, the people of these tests and `acme/web`.
pub struct World {
    pub gh: StandIn,
    pub repo: PathBuf,
}

impl World {
    pub async fn new() -> World {
        let gh = StandIn::start().await;
        gh.oauth_app(CLIENT_ID, CLIENT_SECRET);
        for (id, login, name, orgs) in [
            (1001, "jdoe", "Jane Doe", vec!["acme"]),
            (1002, "mallory", "Mallory", vec!["elsewhere"]),
            (1003, "boss", "The Boss", vec![]),
            (1004, "dev", "A Developer", vec!["acme"]),
        ] {
            gh.add_user(User {
                id,
                login: login.into(),
                name: name.into(),
                email: Some(format!("{login}@example.com")),
                orgs: orgs.into_iter().map(String::from).collect(),
            });
        }
        gh.add_token(
            FULL_TOKEN,
            "jdoe",
            classic(&["repo", "admin:repo_hook", "read:user"]),
        );
        let repo = git_repo(
            "FROM slipway-test/web\nRUN echo \"building $AKKERIS_GIT_SHA1 of $AKKERIS_GIT_BRANCH from $AKKERIS_GIT_REPO\"\n",
        );
        gh.add_repo(
            "acme/web",
            &repo,
            "master",
            &[("jdoe", true), ("dev", false)],
        );
        World { gh, repo }
    }

    /// Slipway configured for the stand-in, with `extra` options.
    pub async fn slipway(&self, extra: &[(&str, &str)]) -> (Slipway, String) {
        let db = testkit::fresh_url().await;
        let key = support::fresh_key();
        let (web, api) = (self.gh.web_url(), self.gh.api_url());
        let mut env = vec![
            ("DATABASE_URL", db.as_str()),
            ("SLIPWAY_SECRET_KEY", key.as_str()),
            ("SLIPWAY_GITHUB_URL", web.as_str()),
            ("SLIPWAY_GITHUB_API_URL", api.as_str()),
            ("SLIPWAY_GITHUB_CLIENT_ID", CLIENT_ID),
            ("SLIPWAY_GITHUB_CLIENT_SECRET", CLIENT_SECRET),
            ("SLIPWAY_GITHUB_ORGS", "acme"),
            ("SLIPWAY_ADMINS", "boss"),
        ];
        env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        env.extend_from_slice(extra);
        (Slipway::start(&env).expect("slipway starts"), db)
    }

    /// A GitHub URL of the stand-in's host (`http://localhost:PORT/acme/web`).
    pub fn repo_url(&self) -> String {
        format!("{}/acme/web", self.gh.web_url())
    }
}

/// A browser: a cookie jar, no redirects followed.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(std::sync::Arc::new(reqwest::cookie::Jar::default()))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no Location on {}", r.status()))
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Signs in through the stand-in's OAuth pages as `login`, starting from
/// `/auth/github/login?{query}`; answers where Slipway sent the browser at the end.
pub async fn sign_in(
    s: &Slipway,
    gh: &StandIn,
    http: &reqwest::Client,
    login: &str,
    query: &str,
) -> String {
    let r = http
        .get(s.url(&format!("/auth/github/login?{query}")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "login: {}", r.status());
    let authorize = location(&r);
    assert!(
        authorize.starts_with(&format!("{}/login/oauth/authorize?", gh.web_url())),
        "{authorize}"
    );
    // GitHub's page: the user picks their account and presses Authorize.
    let page = http.get(&authorize).send().await.unwrap();
    assert_eq!(page.status(), 200, "the authorize page");
    let r = press_authorize(gh, http, &authorize, login, None).await;
    assert_eq!(r.status(), 302, "authorize");
    let callback = location(&r);
    let r = http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 303, "callback");
    location(&r)
}

/// Presses "Authorize" on GitHub's page as `login`, for the authorize URL Slipway sent the
/// browser to (with another `state` when given); answers GitHub's redirect.
pub async fn press_authorize(
    gh: &StandIn,
    http: &reqwest::Client,
    authorize: &str,
    login: &str,
    state: Option<&str>,
) -> reqwest::Response {
    let param = |name| query_param(authorize, name).unwrap_or_default();
    http.post(format!("{}/login/oauth/authorize", gh.web_url()))
        .form(&[
            ("login", login),
            ("client_id", &param("client_id")),
            ("redirect_uri", &param("redirect_uri")),
            ("scope", &param("scope")),
            ("state", state.unwrap_or(&param("state"))),
        ])
        .send()
        .await
        .unwrap()
}

/// Calls a server function as the browser's session.
pub async fn server_fn(
    s: &Slipway,
    http: &reqwest::Client,
    name: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    s.server_fn(http, name, form).await
}

/// Gives `login` the `role`, as the admin signed in with `admin` does on the users page;
/// answers the server function's status.
pub async fn set_role(s: &Slipway, admin: &reqwest::Client, login: &str, role: &str) -> u16 {
    let (_, body) = server_fn(s, admin, "list_users", &[]).await;
    let users: Value = serde_json::from_str(&body).unwrap();
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == login)
        .unwrap_or_else(|| panic!("no user {login}: {users}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server_fn(s, admin, "set_user_role", &[("user", &id), ("role", role)])
        .await
        .0
}

/// The live checklist for `token` on `acme/web`'s master, as the settings form asks for it.
pub async fn check(s: &Slipway, w: &World, http: &reqwest::Client, token: &str) -> (u16, String) {
    server_fn(
        s,
        http,
        "check_repo",
        &[
            ("app", "web-prod"),
            ("repo", &w.repo_url()),
            ("branch", "master"),
            ("credential", "token"),
            ("token", token),
        ],
    )
    .await
}

/// The admin `boss`, signed in (a browser) and with a token (an API client), and a new app
/// `web-prod`.
pub async fn boss_with_web_prod(s: &Slipway, w: &World) -> (reqwest::Client, Api) {
    let http = signed_in(s, w, "boss").await;
    let api = api_as(s, "boss");
    api.create_app("web", "prod").await;
    (http, api)
}

/// `POST /apps/web-prod/builds/auto` with `body`.
pub async fn attach(api: &Api, body: Value) -> support::Answer {
    api.post("/apps/web-prod/builds/auto", &body.to_string())
        .await
}

/// An API client acting with a token of `login` (who signed in once).
pub fn api_as(s: &Slipway, login: &str) -> Api {
    Api {
        base: s.base.clone(),
        token: Some(s.token(login)),
        http: support::client(),
    }
}

pub async fn signed_in(s: &Slipway, w: &World, login: &str) -> reqwest::Client {
    let http = browser();
    assert_eq!(
        sign_in(s, &w.gh, &http, login, "next=/ui/apps").await,
        "/ui/apps"
    );
    http
}
