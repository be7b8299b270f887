//! Signing in with GitHub: the OAuth round trip, who is allowed, roles, and access ending.

use std::time::Duration;

use serde_json::json;
use testkit::github::User;

use crate::support;
use crate::support::github::{
    api_as, browser, check, location, press_authorize, query_param, server_fn, set_role, sign_in,
    signed_in, World, CLIENT_ID, CLIENT_SECRET, FULL_TOKEN,
};
use crate::support::{Api, Slipway};

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
async fn access_ends_in_time_however_many_users_are_due_before() {
    // Checked every 10 s, in rounds every 2.5 s: a round that took fifty users would need
    // twenty rounds (50 s) for the thousand due before dev; every round takes all that are due.
    let w = World::new().await;
    let (s, db) = w.slipway(&[("SLIPWAY_ACCESS_RECHECK", "10s")]).await;
    signed_in(&s, &w, "dev").await;
    let api = api_as(&s, "dev");
    assert_eq!(api.get("/apps").await.status, 200);
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    sqlx::query(
        "insert into users (id, provider, provider_id, login, role)
         select gen_random_uuid(), 'github', 'many-' || i, 'many' || i, 'viewer'
           from generate_series(1, 1000) i",
    )
    .execute(&pool)
    .await
    .unwrap();
    w.gh.add_user(User {
        id: 1004,
        login: "dev".into(),
        name: "A Developer".into(),
        email: Some("dev@example.com".into()),
        orgs: vec![],
    });
    support::eventually(
        Duration::from_secs(25),
        "dev's token to stop working within 25 s (10 s to be due, a round, and slack)",
        || async { api.get("/apps").await.status == 401 },
    )
    .await;
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
