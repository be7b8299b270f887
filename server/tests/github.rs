//! GitHub (DESIGN §3, §5, §7), against the stand-in in `testkit::github`, which serves GitHub's
//! web and API on `localhost` while Slipway runs on 127.0.0.1 (so the sign-in round trip is
//! cross-site, as with github.com): OAuth sign-in and roles, attaching a repository with each
//! credential, and signed push webhooks that build real images and release them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use support::{Api, Slipway};
use testkit::github::{StandIn, TokenKind, User};

const CLIENT_ID: &str = "Iv1.slipwaytest";
const CLIENT_SECRET: &str = "client-secret-0123456789";
/// A classic token with exactly the documented three scopes.
const FULL_TOKEN: &str = "ghp_fullscopes000000000000000000000000";

fn classic(scopes: &[&str]) -> TokenKind {
    TokenKind::Classic {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

/// A git repository with a Dockerfile on `master`, made with the git CLI.
fn git_repo(dockerfile: &str) -> PathBuf {
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

fn git(dir: &Path, args: &[&str]) -> String {
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
fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// The stand-in with an OAuth app, the people of these tests and `acme/web`.
struct World {
    gh: StandIn,
    repo: PathBuf,
}

impl World {
    async fn new() -> World {
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
    async fn slipway(&self, extra: &[(&str, &str)]) -> (Slipway, String) {
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
    fn repo_url(&self) -> String {
        format!("{}/acme/web", self.gh.web_url())
    }
}

/// A browser: a cookie jar, no redirects followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(std::sync::Arc::new(reqwest::cookie::Jar::default()))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no Location on {}", r.status()))
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Signs in through the stand-in's OAuth pages as `login`, starting from
/// `/auth/github/login?{query}`; answers where Slipway sent the browser at the end.
async fn sign_in(
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
async fn press_authorize(
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
async fn server_fn(
    s: &Slipway,
    http: &reqwest::Client,
    name: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    s.server_fn(http, name, form).await
}

/// Gives `login` the `role`, as the admin signed in with `admin` does on the users page;
/// answers the server function's status.
async fn set_role(s: &Slipway, admin: &reqwest::Client, login: &str, role: &str) -> u16 {
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
async fn check(s: &Slipway, w: &World, http: &reqwest::Client, token: &str) -> (u16, String) {
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
async fn boss_with_web_prod(s: &Slipway, w: &World) -> (reqwest::Client, Api) {
    let http = signed_in(s, w, "boss").await;
    let api = api_as(s, "boss");
    api.create_app("web", "prod").await;
    (http, api)
}

/// `POST /apps/web-prod/builds/auto` with `body`.
async fn attach(api: &Api, body: Value) -> support::Answer {
    api.post("/apps/web-prod/builds/auto", &body.to_string())
        .await
}

/// An API client acting with a token of `login` (who signed in once).
fn api_as(s: &Slipway, login: &str) -> Api {
    Api {
        base: s.base.clone(),
        token: Some(s.token(login)),
        http: support::client(),
    }
}

async fn signed_in(s: &Slipway, w: &World, login: &str) -> reqwest::Client {
    let http = browser();
    assert_eq!(
        sign_in(s, &w.gh, &http, login, "next=/ui/apps").await,
        "/ui/apps"
    );
    http
}

// ---- OAuth ------------------------------------------------------------------------------

#[tokio::test]
async fn signing_in_with_github_asks_for_read_user_and_read_org_and_renews_the_session() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let http = browser();
    // A session exists before sign-in (it holds the state); its id must change.
    let r = http
        .get(s.url("/auth/github/login?next=/ui/apps/x"))
        .send()
        .await
        .unwrap();
    let before = r
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().to_owned());
    let authorize = location(&r);
    assert_eq!(http.get(&authorize).send().await.unwrap().status(), 200);
    let asked = w.gh.authorize_requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].scope.as_deref(), Some("read:user read:org"));
    assert_eq!(asked[0].client_id.as_deref(), Some(CLIENT_ID));
    assert_eq!(
        asked[0].redirect_uri.as_deref(),
        Some(s.url("/auth/github/callback").as_str()),
        "the redirect URI comes from the public URL"
    );
    assert!(asked[0].state.as_deref().is_some_and(|st| st.len() >= 16));
    let r = press_authorize(&w.gh, &http, &authorize, "jdoe", None).await;
    let r = http.get(location(&r)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/ui/apps/x", "back to next");
    let after = r
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().to_owned());
    assert!(
        after.is_some() && after != before,
        "a new session id at sign-in"
    );
    let page = http.get(s.url("/ui/apps")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("jdoe"));
    // The token exchange sent the client credentials, and the user's token stays sealed.
    let exchange =
        w.gh.requests()
            .into_iter()
            .find(|r| r.path_and_query.starts_with("/login/oauth/access_token"))
            .expect("the code was exchanged");
    assert!(
        exchange.body.contains("client_secret="),
        "{}",
        exchange.body
    );
}

#[tokio::test]
async fn a_callback_with_the_wrong_state_signs_nobody_in() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let http = browser();
    let r = http.get(s.url("/auth/github/login")).send().await.unwrap();
    let authorize = location(&r);
    let r = press_authorize(
        &w.gh,
        &http,
        &authorize,
        "jdoe",
        Some("forged-state-from-another-site"),
    )
    .await;
    let r = http.get(location(&r)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/ui/signin?error=failed");
    let page = http.get(s.url("/ui/apps")).send().await.unwrap();
    assert_eq!(page.status(), 303, "still signed out");
    assert!(
        !w.gh
            .requests()
            .iter()
            .any(|r| r.path_and_query.starts_with("/login/oauth/access_token")),
        "the code is never exchanged"
    );
}

#[tokio::test]
async fn a_used_code_is_refused_by_github_with_a_200_error_and_signs_nobody_in() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let http = browser();
    let r = http.get(s.url("/auth/github/login")).send().await.unwrap();
    let authorize = location(&r);
    let r = press_authorize(&w.gh, &http, &authorize, "jdoe", None).await;
    let callback = location(&r);
    // Someone else uses the code first.
    let code = query_param(&callback, "code").unwrap();
    let stolen = support::client()
        .post(format!("{}/login/oauth/access_token", w.gh.web_url()))
        .header("Accept", "application/json")
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", &code),
        ])
        .send()
        .await
        .unwrap();
    assert!(stolen.text().await.unwrap().contains("access_token"));
    let r = http.get(&callback).send().await.unwrap();
    assert_eq!(location(&r), "/ui/signin?error=failed");
    assert_eq!(
        http.get(s.url("/ui/apps")).send().await.unwrap().status(),
        303
    );
    assert!(!s.logs().contains(CLIENT_SECRET), "no secret in the logs");
}

/// How many sessions the database holds.
async fn session_rows(db: &str) -> i64 {
    let pool = sqlx::PgPool::connect(db).await.unwrap();
    let n = sqlx::query_scalar("select count(*) from tower_sessions.session")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

#[tokio::test]
async fn anonymous_sign_in_starts_write_nothing_to_the_database() {
    let w = World::new().await;
    let (s, db) = w.slipway(&[]).await;
    for _ in 0..20 {
        let r = browser()
            .get(s.url("/auth/github/login?next=/ui/apps"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection());
    }
    assert_eq!(
        session_rows(&db).await,
        0,
        "no session row per anonymous request"
    );
    // The state travels in a sealed cookie that a sign-in still completes with.
    let http = browser();
    assert_eq!(
        sign_in(&s, &w.gh, &http, "jdoe", "next=/ui/apps").await,
        "/ui/apps"
    );
    assert_eq!(session_rows(&db).await, 1);
}

#[tokio::test]
async fn access_ends_when_github_no_longer_lists_the_user() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[("SLIPWAY_ACCESS_RECHECK", "1s")]).await;
    let http = signed_in(&s, &w, "dev").await;
    let api = api_as(&s, "dev");
    assert_eq!(api.get("/apps").await.status, 200);
    assert_eq!(
        http.get(s.url("/ui/apps")).send().await.unwrap().status(),
        200
    );
    // dev leaves acme on GitHub.
    w.gh.add_user(User {
        id: 1004,
        login: "dev".into(),
        name: "A Developer".into(),
        email: Some("dev@example.com".into()),
        orgs: vec![],
    });
    support::eventually(
        Duration::from_secs(30),
        "dev's token to stop working",
        || async { api.get("/apps").await.status == 401 },
    )
    .await;
    let page = http.get(s.url("/ui/apps")).send().await.unwrap();
    assert_eq!(page.status(), 303, "the session no longer signs dev in");
    // Signing in again is refused now; back in acme, it works again.
    assert_eq!(
        sign_in(&s, &w.gh, &browser(), "dev", "").await,
        "/ui/signin?error=not-allowed"
    );
    w.gh.add_user(User {
        id: 1004,
        login: "dev".into(),
        name: "A Developer".into(),
        email: Some("dev@example.com".into()),
        orgs: vec!["acme".into()],
    });
    signed_in(&s, &w, "dev").await;
    assert_eq!(api.get("/apps").await.status, 200);
}

#[tokio::test]
async fn an_admin_taken_off_the_list_is_a_default_user_at_the_next_sign_in() {
    let w = World::new().await;
    let db = testkit::fresh_url().await;
    let key = support::fresh_key();
    let (web, gh_api) = (w.gh.web_url(), w.gh.api_url());
    let env = |admins: &'static str| {
        vec![
            ("DATABASE_URL", db.clone()),
            ("SLIPWAY_SECRET_KEY", key.clone()),
            ("SLIPWAY_GITHUB_URL", web.clone()),
            ("SLIPWAY_GITHUB_API_URL", gh_api.clone()),
            ("SLIPWAY_GITHUB_CLIENT_ID", CLIENT_ID.into()),
            ("SLIPWAY_GITHUB_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("SLIPWAY_GITHUB_USERS", "boss".into()),
            ("SLIPWAY_ADMINS", admins.into()),
        ]
    };
    let start = |admins: &'static str| {
        let env = env(admins);
        let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Slipway::start(&refs).expect("slipway starts")
    };
    let s = start("boss");
    let http = signed_in(&s, &w, "boss").await;
    assert_eq!(
        api_as(&s, "boss").create_app("web", "prod").await["name"],
        "web-prod"
    );
    drop(http);
    drop(s);
    let s = start("");
    signed_in(&s, &w, "boss").await;
    let r = api_as(&s, "boss")
        .post("/apps", r#"{"name":"more","space":"prod"}"#)
        .await;
    assert_eq!(r.status, 403, "boss is a viewer now: {}", r.text);
}

#[tokio::test]
async fn someone_outside_the_allowed_orgs_is_refused_with_a_clear_page() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let http = browser();
    let end = sign_in(&s, &w.gh, &http, "mallory", "").await;
    assert_eq!(end, "/ui/signin?error=not-allowed");
    let page = http.get(s.url(&end)).send().await.unwrap();
    assert_eq!(page.status(), 403);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Your account is not allowed to use this Slipway."));
    assert_eq!(
        http.get(s.url("/ui/apps")).send().await.unwrap().status(),
        303
    );
}

#[tokio::test]
async fn new_users_get_the_default_role_and_listed_admins_are_admins() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[("SLIPWAY_DEFAULT_ROLE", "deployer")]).await;
    let jane = signed_in(&s, &w, "jdoe").await;
    let boss = signed_in(&s, &w, "boss").await;
    let (status, body) = server_fn(&s, &jane, "whoami", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("deployer"), "{body}");
    let (_, body) = server_fn(&s, &boss, "whoami", &[]).await;
    assert!(body.contains("admin"), "boss is in SLIPWAY_ADMINS: {body}");
    // Only admins see and change roles; an admin cannot demote themselves.
    let (status, _) = server_fn(&s, &jane, "list_users", &[]).await;
    assert_eq!(status, 403);
    let (status, body) = server_fn(&s, &boss, "list_users", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("jdoe") && body.contains("boss"), "{body}");
    assert_eq!(set_role(&s, &boss, "jdoe", "viewer").await, 200);
    let (_, body) = server_fn(&s, &jane, "whoami", &[]).await;
    assert!(
        body.contains("viewer"),
        "the new role applies at once: {body}"
    );
    let status = set_role(&s, &boss, "boss", "viewer").await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn with_oauth_local_admin_sign_in_and_local_tokens_stop_working() {
    let w = World::new().await;
    let (s, db) = w.slipway(&[]).await;
    let r = support::client()
        .post(s.url("/auth/local"))
        .header("Origin", &s.base)
        .form(&[("next", "/ui/apps")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A token a local user made before OAuth was configured.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let core = slipway_core::Core::new(pool, slipway_core::crypto::SecretKey::generate());
    let local = core.local_admin("old").await.unwrap();
    let (_, token) = core.create_token(&local, "before OAuth").await.unwrap();
    let api = Api {
        base: s.base.clone(),
        token: Some(token),
        http: support::client(),
    };
    assert_eq!(api.get("/apps").await.status, 401);
}

#[tokio::test]
async fn each_role_may_do_what_its_row_of_the_table_says_on_the_api_server_functions_and_websocket()
{
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let boss_http = signed_in(&s, &w, "boss").await;
    let viewer_http = signed_in(&s, &w, "jdoe").await;
    let deployer_http = signed_in(&s, &w, "dev").await;
    assert_eq!(set_role(&s, &boss_http, "dev", "deployer").await, 200);
    let (admin, deployer, viewer) = (api_as(&s, "boss"), api_as(&s, "dev"), api_as(&s, "jdoe"));

    // Creating: deployers and admins.
    assert_eq!(
        viewer
            .post("/apps", r#"{"name":"v","space":"s"}"#)
            .await
            .status,
        403
    );
    assert_eq!(
        deployer
            .post("/apps", r#"{"name":"web","space":"prod"}"#)
            .await
            .status,
        201
    );
    // Reading: everyone.
    for api in [&admin, &deployer, &viewer] {
        assert_eq!(api.get("/apps/web-prod").await.status, 200);
        assert_eq!(api.get("/apps/web-prod/releases").await.status, 200);
    }
    // Building and config: deployers and admins.
    let body = json!({"url": "docker://slipway-test/web"}).to_string();
    assert_eq!(
        viewer.post("/apps/web-prod/builds", &body).await.status,
        403
    );
    let build = deployer.post("/apps/web-prod/builds", &body).await;
    assert_eq!(build.status, 201, "{}", build.text);
    let build_id = build.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        viewer
            .patch("/apps/web-prod/config-vars", r#"{"A":"1"}"#)
            .await
            .status,
        403
    );
    assert_eq!(
        deployer
            .patch("/apps/web-prod/config-vars", r#"{"A":"1"}"#)
            .await
            .status,
        200
    );
    // Attaching repositories: deployers and admins.
    let attach = json!({"repo": w.repo_url(), "token": FULL_TOKEN}).to_string();
    assert_eq!(
        viewer
            .post("/apps/web-prod/builds/auto", &attach)
            .await
            .status,
        403
    );
    assert!(
        w.gh.hooks("acme/web").is_empty(),
        "a refused attach asks GitHub nothing"
    );
    // The same rules on server functions, through the session.
    let (status, _) = check(&s, &w, &viewer_http, FULL_TOKEN).await;
    assert_eq!(status, 403);
    let (status, _) = server_fn(
        &s,
        &viewer_http,
        "set_auto_deploy",
        &[("app", "web-prod"), ("enabled", "true")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = check(&s, &w, &deployer_http, FULL_TOKEN).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server_fn(
        &s,
        &deployer_http,
        "delete_app",
        &[("app", "web-prod"), ("confirm", "web-prod")],
    )
    .await;
    assert_eq!(status, 403);
    // The build log websocket: any role may watch; no credential, no upgrade.
    let ws_url = format!(
        "{}/apps/web-prod/builds/{build_id}/stream",
        s.base.replacen("http", "ws", 1)
    );
    for api in [&admin, &deployer, &viewer] {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                ws_url.as_str(),
            )
            .unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", api.token.as_ref().unwrap())
                .parse()
                .unwrap(),
        );
        let (_, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgrade");
        assert_eq!(resp.status(), 101);
    }
    let refused = tokio_tungstenite::connect_async(ws_url.as_str()).await;
    assert!(
        matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401),
        "{refused:?}"
    );
    // Deleting: admins only.
    assert_eq!(deployer.delete("/apps/web-prod").await.status, 403);
    assert_eq!(admin.delete("/apps/web-prod").await.status, 200);
}

// ---- attaching a repository -------------------------------------------------------------

#[tokio::test]
async fn attaching_with_a_token_creates_the_push_webhook_and_stores_secrets_sealed() {
    let w = World::new().await;
    let (s, db) = w.slipway(&[]).await;
    let (_, api) = boss_with_web_prod(&s, &w).await;
    let r = attach(&api, json!({"app": "web-prod", "repo": format!("{}.git", w.repo_url()), "branch": "master",
                    "status_check": true, "auto_deploy": true, "username": "jdoe", "token": FULL_TOKEN})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json(), json!({"status": "successful"}));
    let hooks = w.gh.hooks("acme/web");
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(hook.url, s.url("/apps/web-prod/builds/auto/github"));
    assert_eq!(hook.content_type, "json");
    assert_eq!(hook.events, vec!["push".to_owned()]);
    let secret = hook.secret.clone().expect("a secret");
    assert!(secret.len() >= 32, "a random secret");
    // GitHub pings a new hook; Slipway answers pong.
    let pings = w.gh.wait_for_deliveries("ping", 1).await;
    assert_eq!(pings[0].answers[0].status, Some(200));
    assert_eq!(pings[0].answers[0].body, "pong.");

    let info = api.get("/apps/web-prod/builds/auto/github").await;
    assert_eq!(info.status, 200);
    let info = info.json();
    assert_eq!(info["repo"], w.repo_url(), "the .git form is normalised");
    assert_eq!(info["branch"], "master");
    assert_eq!(info["username"], "jdoe");
    assert_eq!(info["auto_deploy"], true);
    assert_eq!(info["status_check"], true);
    assert_eq!(info["app"]["name"], "web-prod");
    assert!(!info.to_string().contains(FULL_TOKEN) && !info.to_string().contains(&secret));
    // Attaching switched auto-release on.
    let features = api.get("/apps/web-prod/features").await.json();
    assert_eq!(features[0]["enabled"], true);
    // Twice is a conflict.
    let again = attach(&api, json!({"repo": w.repo_url(), "token": FULL_TOKEN})).await;
    assert_eq!(again.status, 409);
    // Neither the token nor the secret is in the database in clear.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let (token_enc, secret_enc): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("select token_enc, secret_enc from repo_attachments")
            .fetch_one(&pool)
            .await
            .unwrap();
    let dump: String =
        sqlx::query_scalar("select string_agg(t::text, ' ') from repo_attachments t")
            .fetch_one(&pool)
            .await
            .unwrap();
    for clear in [FULL_TOKEN.as_bytes(), secret.as_bytes()] {
        assert!(!token_enc.windows(clear.len()).any(|w| w == clear));
        assert!(!secret_enc.windows(clear.len()).any(|w| w == clear));
        assert!(!dump.contains(std::str::from_utf8(clear).unwrap()));
    }
    assert!(
        !s.logs().contains(FULL_TOKEN) && !s.logs().contains(&secret),
        "never logged"
    );

    // Detaching deletes the webhook.
    let r = api.delete("/apps/web-prod/builds/auto/github").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(w.gh.hooks("acme/web").is_empty());
    assert_eq!(
        api.get("/apps/web-prod/builds/auto/github").await.status,
        404
    );
}

#[tokio::test]
async fn a_token_missing_scopes_is_told_exactly_which_and_nothing_is_saved() {
    let w = World::new().await;
    w.gh.add_token("ghp_repoonly", "jdoe", classic(&["repo"]));
    let (s, _) = w.slipway(&[]).await;
    let (boss, api) = boss_with_web_prod(&s, &w).await;
    // The live checklist, before anything is saved.
    let (status, body) = check(&s, &w, &boss, "ghp_repoonly").await;
    assert_eq!(status, 200, "{body}");
    let check: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(check["ready"], false);
    assert_eq!(check["login"], "jdoe");
    let missing: Vec<&str> = check["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["ok"] == false)
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        missing,
        [
            "admin:repo_hook",
            "write:repo_hook",
            "read:repo_hook",
            "read:user"
        ]
    );
    let granted: Vec<&str> = check["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["ok"] == true)
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        granted.contains(&"repo:status"),
        "repo implies repo:status: {granted:?}"
    );
    assert!(granted.contains(&"Branch master"), "{granted:?}");
    // The API refuses with the same reason.
    let r = attach(&api, json!({"repo": w.repo_url(), "token": "ghp_repoonly"})).await;
    assert_eq!(r.status, 400);
    assert!(
        r.text
            .contains("admin:repo_hook, write:repo_hook, read:repo_hook, read:user"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("repo:status"), "{}", r.text);
    assert!(w.gh.hooks("acme/web").is_empty());
    assert_eq!(
        api.get("/apps/web-prod/builds/auto/github").await.status,
        404
    );
    // A token GitHub does not know.
    let r = attach(&api, json!({"repo": w.repo_url(), "token": "ghp_nonsense"})).await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("Bad credentials"), "{}", r.text);
}

#[tokio::test]
async fn a_user_without_admin_rights_on_the_repo_cannot_attach_it() {
    let w = World::new().await;
    w.gh.add_token(
        "ghp_dev",
        "dev",
        classic(&["repo", "admin:repo_hook", "read:user"]),
    );
    let (s, _) = w.slipway(&[]).await;
    let (_, api) = boss_with_web_prod(&s, &w).await;
    let r = attach(&api, json!({"repo": w.repo_url(), "token": "ghp_dev"})).await;
    assert_eq!(r.status, 400);
    assert!(
        r.text.contains("dev has no admin rights on acme/web"),
        "{}",
        r.text
    );
    assert!(w.gh.hooks("acme/web").is_empty());
    // A branch that does not exist.
    let r = attach(
        &api,
        json!({"repo": w.repo_url(), "branch": "nope", "token": FULL_TOKEN}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("no branch nope"), "{}", r.text);
}

#[tokio::test]
async fn fine_grained_tokens_are_checked_by_permissions_and_a_hooks_probe() {
    let w = World::new().await;
    w.gh.add_token(
        "github_pat_nohooks",
        "jdoe",
        TokenKind::FineGrained {
            repos: vec!["acme/web".into()],
            administration: false,
            statuses: true,
        },
    );
    w.gh.add_token(
        "github_pat_good",
        "jdoe",
        TokenKind::FineGrained {
            repos: vec!["acme/web".into()],
            administration: true,
            statuses: true,
        },
    );
    let (s, _) = w.slipway(&[]).await;
    let (boss, api) = boss_with_web_prod(&s, &w).await;
    let (_, body) = check(&s, &w, &boss, "github_pat_nohooks").await;
    let check: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(check["kind"], "fine-grained");
    assert_eq!(check["ready"], false);
    assert!(
        check["problem"].as_str().unwrap().contains("webhooks"),
        "{check}"
    );
    let r = attach(
        &api,
        json!({"repo": w.repo_url(), "token": "github_pat_good"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn every_url_form_names_the_same_repository_and_other_hosts_are_refused() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let (_, api) = boss_with_web_prod(&s, &w).await;
    let host = w.gh.web_url().trim_start_matches("http://").to_owned();
    let hostname = host.split(':').next().unwrap().to_owned();
    for form in [
        w.repo_url(),
        format!("{}.git", w.repo_url()),
        format!("{}/", w.repo_url()),
        w.repo_url().replacen("http://", "https://", 1),
        format!("git@{hostname}:acme/web.git"),
        format!("ssh://git@{hostname}/acme/web.git"),
    ] {
        let r = attach(&api, json!({"repo": form, "token": FULL_TOKEN})).await;
        assert_eq!(r.status, 201, "{form}: {}", r.text);
        let info = api.get("/apps/web-prod/builds/auto/github").await.json();
        assert_eq!(info["repo"], w.repo_url(), "{form}");
        assert_eq!(
            api.delete("/apps/web-prod/builds/auto/github").await.status,
            200
        );
    }
    for (bad, why) in [
        (
            "https://gitlab.com/acme/web",
            "is not the GitHub this Slipway uses",
        ),
        ("ftp://example.com/acme/web", "not supported"),
        (
            &format!("{}/acme", w.gh.web_url()),
            "is not a repository URL",
        ),
    ] {
        let r = attach(&api, json!({"repo": bad, "token": FULL_TOKEN})).await;
        assert_eq!(r.status, 422, "{bad}");
        assert!(r.text.contains(why), "{bad}: {}", r.text);
    }
    assert!(w.gh.hooks("acme/web").is_empty());
}

#[tokio::test]
async fn the_service_account_is_used_when_no_token_is_given_and_without_one_a_token_is_required() {
    let w = World::new().await;
    w.gh.add_user(User {
        id: 2001,
        login: "octobot".into(),
        name: "Octo Bot".into(),
        email: None,
        orgs: vec![],
    });
    w.gh.add_token(
        "ghp_service",
        "octobot",
        classic(&["repo", "admin:repo_hook", "read:user"]),
    );
    w.gh.add_repo("acme/api", &w.repo, "master", &[("octobot", true)]);
    let (s, _) = w
        .slipway(&[
            ("SLIPWAY_GITHUB_SERVICE_USER", "octobot"),
            ("SLIPWAY_GITHUB_SERVICE_TOKEN", "ghp_service"),
        ])
        .await;
    signed_in(&s, &w, "boss").await;
    let api = api_as(&s, "boss");
    api.create_app("api", "prod").await;
    let r = api
        .post(
            "/apps/api-prod/builds/auto",
            &json!({"repo": format!("{}/acme/api", w.gh.web_url())}).to_string(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        api.get("/apps/api-prod/builds/auto/github").await.json()["username"],
        "octobot"
    );
    let hook_calls: Vec<_> =
        w.gh.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path_and_query.ends_with("/acme/api/hooks"))
            .collect();
    assert_eq!(hook_calls.len(), 1);
    assert_eq!(
        hook_calls[0].authorization.as_deref(),
        Some("Bearer ghp_service")
    );

    // Without a service account, the token is required.
    let (s2, _) = w.slipway(&[]).await;
    signed_in(&s2, &w, "boss").await;
    let api2 = api_as(&s2, "boss");
    api2.create_app("api", "prod").await;
    let r = api2
        .post(
            "/apps/api-prod/builds/auto",
            &json!({"repo": format!("{}/acme/api", w.gh.web_url())}).to_string(),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("token is required"), "{}", r.text);
}

#[tokio::test]
async fn my_github_account_asks_github_again_for_exactly_the_repo_scopes_and_comes_back_to_the_form(
) {
    let w = World::new().await;
    let (s, _) = w.slipway(&[("SLIPWAY_DEFAULT_ROLE", "deployer")]).await;
    let jane = signed_in(&s, &w, "jdoe").await;
    let api = api_as(&s, "jdoe");
    api.create_app("web", "prod").await;
    // Signed in with read:user read:org only: the form says so and does not attach.
    let (status, body) = server_fn(&s, &jane, "load_repo_settings", &[("app", "web-prod")]).await;
    assert_eq!(status, 200, "{body}");
    let settings: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(settings["my_login"], "jdoe");
    assert_eq!(settings["my_scopes_ok"], false);
    let (status, body) = server_fn(
        &s,
        &jane,
        "attach_repo",
        &[
            ("app", "web-prod"),
            ("repo", &w.repo_url()),
            ("branch", "master"),
            ("credential", "mine"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(w.gh.hooks("acme/web").is_empty());
    // Through GitHub again, asking for the repository scopes; back to the filled-in form.
    let next = format!(
        "/ui/apps/web-prod/settings?repo={}&branch=master&credential=mine",
        w.repo_url()
    );
    let end = sign_in(
        &s,
        &w.gh,
        &jane,
        "jdoe",
        &format!(
            "scope=repo&next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        ),
    )
    .await;
    assert_eq!(end, next);
    let asked = w.gh.authorize_requests();
    assert_eq!(
        asked.last().unwrap().scope.as_deref(),
        Some("read:user read:org repo admin:repo_hook")
    );
    let page = jane
        .get(s.url(&end))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&w.repo_url()), "the form is filled in");
    let (_, body) = server_fn(&s, &jane, "load_repo_settings", &[("app", "web-prod")]).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["my_scopes_ok"],
        true
    );
    let (status, body) = server_fn(
        &s,
        &jane,
        "attach_repo",
        &[
            ("app", "web-prod"),
            ("repo", &w.repo_url()),
            ("branch", "master"),
            ("credential", "mine"),
            ("auto_deploy", "on"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let info = api.get("/apps/web-prod/builds/auto/github").await.json();
    assert_eq!(info["username"], "jdoe");
    assert_eq!(w.gh.hooks("acme/web").len(), 1);
}

#[tokio::test]
async fn deleting_an_app_deletes_its_webhook() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let (_, api) = boss_with_web_prod(&s, &w).await;
    let r = attach(
        &api,
        json!({"app": "web-prod", "repo": w.repo_url(), "branch": "master",
                    "username": "jdoe", "token": FULL_TOKEN}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(w.gh.hooks("acme/web").len(), 1);
    assert_eq!(api.delete("/apps/web-prod").await.status, 200);
    assert!(
        w.gh.hooks("acme/web").is_empty(),
        "the webhook went with the app"
    );
}

#[tokio::test]
async fn detaching_when_the_token_no_longer_works_says_to_remove_the_webhook_by_hand() {
    let w = World::new().await;
    w.gh.add_token(
        "ghp_soon_revoked",
        "jdoe",
        classic(&["repo", "admin:repo_hook", "read:user"]),
    );
    let (s, _) = w.slipway(&[]).await;
    let (_, api) = boss_with_web_prod(&s, &w).await;
    let r = attach(
        &api,
        json!({"repo": w.repo_url(), "token": "ghp_soon_revoked"}),
    )
    .await;
    assert_eq!(r.status, 201);
    w.gh.revoke_token("ghp_soon_revoked");
    let r = api.delete("/apps/web-prod/builds/auto/github").await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("remove it on GitHub by hand"), "{}", r.text);
    assert_eq!(
        api.get("/apps/web-prod/builds/auto/github").await.status,
        404,
        "detached anyway"
    );
    assert_eq!(
        w.gh.hooks("acme/web").len(),
        1,
        "the hook is still on GitHub"
    );
}

// ---- the webhook -----------------------------------------------------------------------

/// Attaches `acme/web` to a new app `web-prod` with a full token; answers the API and the
/// hook's secret.
async fn attached(w: &World, s: &Slipway, body: Value) -> (Api, String) {
    signed_in(s, w, "boss").await;
    let api = api_as(s, "boss");
    api.create_app("web", "prod").await;
    let mut req = json!({"repo": w.repo_url(), "token": FULL_TOKEN});
    for (k, v) in body.as_object().unwrap() {
        req[k] = v.clone();
    }
    let r = api
        .post("/apps/web-prod/builds/auto", &req.to_string())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = w.gh.hooks("acme/web")[0].secret.clone().unwrap();
    w.gh.wait_for_deliveries("ping", 1).await;
    (api, secret)
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts a webhook by hand (as a forger would).
async fn post_hook(s: &Slipway, event: &str, body: &str, signature: Option<&str>) -> (u16, String) {
    let mut req = support::client()
        .post(s.url("/apps/web-prod/builds/auto/github"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string())
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header("X-Hub-Signature-256", sig);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn builds(api: &Api) -> Vec<Value> {
    api.get("/apps/web-prod/builds")
        .await
        .json()
        .as_array()
        .unwrap()
        .clone()
}

/// Waits for a build of `web-prod` to finish; answers it and its log.
async fn finished(api: &Api, id: &str) -> (Value, Vec<String>) {
    support::build_finished(api, "web-prod", id, Duration::from_secs(120)).await
}

/// Waits until release `n` of `web-prod` has settled; answers every release.
async fn releases(api: &Api, n: i64) -> Vec<Value> {
    support::settled(api, "web-prod", n).await;
    api.get("/apps/web-prod/releases")
        .await
        .json()
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_signed_push_builds_the_commit_and_auto_deploys_it_reporting_statuses() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let (api, _) = attached(&w, &s, json!({"auto_deploy": true})).await;
    std::fs::write(w.repo.join("index.txt"), "v2").unwrap();
    let sha = commit(&w.repo, "Fix login\n\nThe longer story.");
    let push = w.gh.push("acme/web", "master").await;
    assert_eq!(
        push.answers[0].status,
        Some(201),
        "{}",
        push.answers[0].body
    );
    let all = builds(&api).await;
    assert_eq!(all.len(), 1);
    let (b, lines) = finished(&api, all[0]["id"].as_str().unwrap()).await;
    assert_eq!(b["status"], "succeeded", "{b}");
    let blob = &b["source_blob"];
    assert_eq!(blob["commit"], sha);
    assert_eq!(blob["author"], "Jane Doe (jdoe)");
    assert_eq!(blob["branch"], "master");
    assert_eq!(blob["repo"], w.repo_url());
    assert!(blob["message"].as_str().unwrap().starts_with("Fix login"));
    let build_id = b["id"].as_str().unwrap().to_owned();
    // The AKKERIS_GIT_* build args reached the build.
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("building {sha} of master from {}", w.repo_url()))),
        "{lines:?}"
    );
    // Released as Auto-Deploy <build8>, and running.
    let rel = releases(&api, 1).await;
    assert_eq!(
        rel[0]["description"],
        format!("Auto-Deploy {}", &build_id.replace('-', "")[..8])
    );
    assert_eq!(rel[0]["status"], "succeeded", "{}", rel[0]);
    // The token went to the API only, never to the archive host it redirects to.
    let requests = w.gh.requests();
    let tarball = requests
        .iter()
        .find(|r| {
            r.path_and_query
                .contains(&format!("/repos/acme/web/tarball/{sha}"))
        })
        .expect("the archive was asked of the API");
    assert_eq!(
        tarball.authorization.as_deref(),
        Some(format!("Bearer {FULL_TOKEN}").as_str())
    );
    let download = requests
        .iter()
        .find(|r| r.origin == testkit::github::Origin::Codeload)
        .expect("the archive was downloaded from the second origin");
    assert_eq!(
        download.authorization, None,
        "no token on the redirected download"
    );
    // Statuses: pending, then success, linking to the build log.
    let statuses = w.gh.statuses("acme/web", &sha);
    let states: Vec<&str> = statuses.iter().map(|st| st.state.as_str()).collect();
    assert_eq!(states, ["pending", "success"]);
    for st in &statuses {
        assert_eq!(st.context, "slipway/build");
        assert_eq!(
            st.target_url.as_deref(),
            Some(
                s.url(&format!("/ui/apps/web-prod/builds/{build_id}"))
                    .as_str()
            )
        );
    }
    // The history line names the commit.
    let page = reqwest::get(s.url("/healthz")).await.unwrap();
    assert_eq!(page.status(), 200);
    let boss = signed_in(&s, &w, "boss").await;
    let html = boss
        .get(s.url("/ui/apps/web-prod"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!(
        "Auto-Deploy {} - Jane Doe (jdoe) - Fix login - {}",
        &build_id.replace('-', "")[..8],
        &sha[..7]
    );
    assert!(html.contains(&line), "{line} in the history");
}

#[tokio::test]
async fn forged_foreign_and_irrelevant_deliveries_build_nothing_and_a_redelivery_builds_once() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let (api, secret) = attached(&w, &s, json!({"auto_deploy": false})).await;
    let body = w.gh.push_payload("acme/web", "master").to_string();
    // No signature, a wrong one, one made with an empty secret.
    assert_eq!(post_hook(&s, "push", &body, None).await.0, 403);
    assert_eq!(
        post_hook(
            &s,
            "push",
            &body,
            Some(&sign("not-the-secret", body.as_bytes()))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        post_hook(&s, "push", &body, Some(&sign("", body.as_bytes())))
            .await
            .0,
        403
    );
    // Signed, but about another repository.
    let mut other: Value = serde_json::from_str(&body).unwrap();
    other["repository"]["full_name"] = json!("acme/other");
    let other = other.to_string();
    assert_eq!(
        post_hook(&s, "push", &other, Some(&sign(&secret, other.as_bytes())))
            .await
            .0,
        403
    );
    // Another branch, a tag, a deletion: ignored.
    for (key, value) in [
        ("ref", json!("refs/heads/feature")),
        ("ref", json!("refs/tags/v1.0")),
    ] {
        let mut p: Value = serde_json::from_str(&body).unwrap();
        p[key] = value;
        let p = p.to_string();
        assert_eq!(
            post_hook(&s, "push", &p, Some(&sign(&secret, p.as_bytes())))
                .await
                .0,
            205
        );
    }
    let mut deleted: Value = serde_json::from_str(&body).unwrap();
    deleted["deleted"] = json!(true);
    deleted["head_commit"] = Value::Null;
    let deleted = deleted.to_string();
    assert_eq!(
        post_hook(
            &s,
            "push",
            &deleted,
            Some(&sign(&secret, deleted.as_bytes()))
        )
        .await
        .0,
        205
    );
    // Ping.
    let (status, text) = post_hook(&s, "ping", &body, Some(&sign(&secret, body.as_bytes()))).await;
    assert_eq!((status, text.as_str()), (200, "pong."));
    assert!(builds(&api).await.is_empty(), "nothing built so far");
    // A real push builds once, however often it is redelivered.
    let push = w.gh.push("acme/web", "master").await;
    assert_eq!(push.answers[0].status, Some(201));
    let again = w.gh.redeliver(&push.id).await;
    assert_eq!(again.answers[0].status, Some(200));
    assert_eq!(again.answers[0].body, "already processed");
    assert_eq!(builds(&api).await.len(), 1);
    // The delivery id is not signed: the old push resent under a new id, once the branch
    // has moved on, builds nothing (it would deploy old code).
    std::fs::write(w.repo.join("index.txt"), "newer").unwrap();
    commit(&w.repo, "Newer");
    w.gh.push("acme/web", "master").await;
    assert_eq!(builds(&api).await.len(), 2);
    let (status, _) = post_hook(
        &s,
        "push",
        &push.body,
        Some(&sign(&secret, push.body.as_bytes())),
    )
    .await;
    assert_eq!(status, 205, "a replayed push of an old head is ignored");
    assert_eq!(builds(&api).await.len(), 2);
    // An app with nothing attached.
    api.create_app("bare", "prod").await;
    let r = support::client()
        .post(s.url("/apps/bare-prod/builds/auto/github"))
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", sign(&secret, body.as_bytes()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn after_a_rollback_pushes_build_but_are_held_back_until_auto_deploy_resumes() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let (api, _) = attached(&w, &s, json!({"auto_deploy": true})).await;
    w.gh.push("acme/web", "master").await;
    releases(&api, 1).await;
    std::fs::write(w.repo.join("index.txt"), "v2").unwrap();
    commit(&w.repo, "Second");
    w.gh.push("acme/web", "master").await;
    releases(&api, 2).await;
    let r = api
        .post("/apps/web-prod/releases", r#"{"release": "v1"}"#)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    releases(&api, 3).await;
    std::fs::write(w.repo.join("index.txt"), "v3").unwrap();
    let sha = commit(&w.repo, "Third, while rolled back");
    w.gh.push("acme/web", "master").await;
    let all = builds(&api).await;
    let (held, _) = finished(&api, all.last().unwrap()["id"].as_str().unwrap()).await;
    assert_eq!(held["status"], "succeeded");
    // Built, but not released.
    assert_eq!(
        api.get("/apps/web-prod/releases")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        w.gh.statuses("acme/web", &sha).last().unwrap().state,
        "success"
    );
    let boss = signed_in(&s, &w, "boss").await;
    let html = boss
        .get(s.url("/ui/apps/web-prod"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Held back: auto-deploy is paused after a rollback"),
        "the history says which builds were held back"
    );
    assert!(html.contains(&sha[..7]));
}

#[tokio::test]
async fn with_status_checks_an_auto_release_waits_for_the_commits_other_checks() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let (api, _) = attached(&w, &s, json!({"auto_deploy": true, "status_check": true})).await;
    let sha = git(&w.repo, &["rev-parse", "HEAD"]);
    w.gh.set_status("acme/web", &sha, "pending", "ci/tests");
    w.gh.push("acme/web", "master").await;
    let all = builds(&api).await;
    let (b, _) = finished(&api, all[0]["id"].as_str().unwrap()).await;
    assert_eq!(b["status"], "succeeded");
    // Slipway's own success does not count; ci/tests is still pending. Once the sweep has
    // asked GitHub twice (so it settled the first answer), nothing has been released.
    let deadline = Instant::now() + Duration::from_secs(60);
    while w
        .gh
        .requests()
        .iter()
        .filter(|r| {
            r.path_and_query
                .contains(&format!("/commits/{sha}/check-runs"))
        })
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the sweep never asked GitHub twice"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(api
        .get("/apps/web-prod/releases")
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
    w.gh.set_status("acme/web", &sha, "success", "ci/tests");
    let rel = releases(&api, 1).await;
    assert!(rel[0]["description"]
        .as_str()
        .unwrap()
        .starts_with("Auto-Deploy "));

    // A failing check holds the next push back.
    std::fs::write(w.repo.join("index.txt"), "v2").unwrap();
    let sha2 = commit(&w.repo, "Breaks the tests");
    w.gh.add_check_run("acme/web", &sha2, "lint", "completed", Some("failure"));
    w.gh.push("acme/web", "master").await;
    let all = builds(&api).await;
    finished(&api, all.last().unwrap()["id"].as_str().unwrap()).await;
    let boss = signed_in(&s, &w, "boss").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let html = boss
            .get(s.url("/ui/apps/web-prod"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if html.contains("Not deployed: a status check failed") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the build was not marked as refused by its checks"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        api.get("/apps/web-prod/releases")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn build_now_builds_the_branch_head_and_the_cli_routes_answer_in_akkeris_shapes() {
    let w = World::new().await;
    let (s, _) = w.slipway(&[]).await;
    let (api, _) = attached(&w, &s, json!({"auto_deploy": false})).await;
    let sha = git(&w.repo, &["rev-parse", "HEAD"]);
    let r = api
        .post("/apps/web-prod/builds/auto/github/trigger", "")
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b = r.json();
    assert_eq!(b["source_blob"]["commit"], sha);
    assert_eq!(b["source_blob"]["author"], "Jane Doe (jdoe)");
    assert_eq!(b["source_blob"]["message"], "First commit");
    let (done, _) = finished(&api, b["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded");
    // Auto-deploy off: not released.
    assert!(api
        .get("/apps/web-prod/releases")
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
    let info = api.get("/apps/web-prod/builds/auto/github").await.json();
    for key in [
        "id",
        "app",
        "repo",
        "branch",
        "username",
        "auto_deploy",
        "status_check",
        "site",
        "organization",
        "space",
        "created_at",
        "updated_at",
    ] {
        assert!(info.get(key).is_some(), "{key} in {info}");
    }
    assert_eq!(info["auto_deploy"], false);
}
