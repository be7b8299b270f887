//! Attaching a repository with each credential, its checklist, and its webhook going.

use serde_json::{json, Value};
use testkit::github::{TokenKind, User};

use crate::support;
use crate::support::github::{
    api_as, attach, boss_with_web_prod, check, classic, server_fn, sign_in, signed_in, World,
    FULL_TOKEN,
};

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
    let page = support::page(&jane, s.url(&end)).await;
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
async fn deleting_an_app_whose_webhook_cannot_be_deleted_says_to_remove_it_by_hand() {
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
    let r = api.delete("/apps/web-prod").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body: serde_json::Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(body["result"], "successful");
    let warning = body["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("remove it on GitHub by hand"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("ghp_soon_revoked"), "{}", r.text);
    assert_eq!(
        w.gh.hooks("acme/web").len(),
        1,
        "the webhook is still there"
    );
    assert_eq!(api.get("/apps/web-prod").await.status, 404);
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
