//! Server functions are public endpoints: each checks who is asking (DESIGN §3).

use crate::support;

use support::Slipway;

async fn call(
    s: &Slipway,
    http: &reqwest::Client,
    name: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    s.server_fn(http, name, form).await
}

/// Gives the test's `admin` user another role.
async fn set_role(pool: &sqlx::PgPool, role: &str) {
    sqlx::query("update users set role = $1 where login = 'admin'")
        .bind(role)
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_viewer_cannot_roll_back_reveal_values_or_resume_auto_deploy() {
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    let s = Slipway::start(&[("DATABASE_URL", &url), ("SLIPWAY_SECRET_KEY", &key)]).unwrap();
    let api = s.admin();
    api.create_app("web", "prod").await;
    api.patch("/apps/web-prod/config-vars", r#"{"SECRET":"hunter2"}"#)
        .await;
    // Deployed before the next change (a release superseded while queued is skipped).
    api.settled("web-prod").await;
    api.patch("/apps/web-prod/config-vars", r#"{"SECRET":"hunter3"}"#)
        .await;
    api.settled("web-prod").await;
    let browser = s.browser().await;
    let as_browser = |name: &'static str, form: &'static [(&'static str, &'static str)]| {
        call(&s, &browser, name, form)
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    set_role(&pool, "viewer").await;

    let (status, body) = as_browser(
        "reveal_value",
        &[("app", "web-prod"), ("version", "1"), ("key", "SECRET")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("viewer") && !body.contains("hunter"),
        "{body}"
    );
    let (status, body) = as_browser("rollback_to", &[("app", "web-prod"), ("version", "1")]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("viewer"), "{body}");
    let (status, _) = as_browser("resume_auto_deploy", &[("app", "web-prod")]).await;
    assert_eq!(status, 403);
    assert_eq!(
        api.get("/apps/web-prod/releases")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing was created"
    );

    // Reading is allowed, and the history says rollback is not offered.
    let (status, body) = as_browser("app_history", &[("app", "web-prod")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"can_rollback\":false") && !body.contains("\"can_rollback\":true"),
        "{body}"
    );
    assert!(!body.contains("hunter"), "no values in the history: {body}");

    // Bad input is a 422 with the reason, and changes nothing.
    set_role(&pool, "admin").await;
    let (status, body) = as_browser("delete_app", &[("app", "web-prod"), ("confirm", "web")]).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("Type the app's name"), "{body}");
    assert_eq!(api.get("/apps/web-prod").await.status, 200);
    let (status, _) = as_browser("rollback_to", &[("app", "web-prod"), ("version", "0")]).await;
    assert_eq!(status, 422);

    // A deployer may do both.
    set_role(&pool, "deployer").await;
    let (status, body) = as_browser(
        "reveal_value",
        &[("app", "web-prod"), ("version", "1"), ("key", "SECRET")],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "\"hunter2\""));
    let (status, body) = as_browser("rollback_to", &[("app", "web-prod"), ("version", "1")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Rollback to v1"), "{body}");
}

#[tokio::test]
async fn server_functions_need_a_session_and_this_servers_origin() {
    let s = Slipway::on_fresh_database().await;
    let anonymous = support::client();
    let r = anonymous
        .post(s.url("/api/list_apps"))
        .header("Origin", &s.base)
        .send()
        .await
        .unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(status, 401);
    assert!(body.contains("signed out"), "{body}");
    let browser = s.browser().await;
    let r = browser
        .post(s.url("/api/list_apps"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (status, body) = call(&s, &browser, "list_apps", &[]).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
}
