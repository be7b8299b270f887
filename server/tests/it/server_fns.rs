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
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    // Signing in makes the `admin` user whose role the test changes.
    s.browser().await;
    set_role(&pool, "viewer").await;
    // A new session: one signed in before sees the change within the few seconds a
    // session is remembered (the cache of `core::access::remembered`).
    let browser = s.browser().await;

    let (status, body) = call(
        &s,
        &browser,
        "reveal_value",
        &[("app", "web-prod"), ("version", "1"), ("key", "SECRET")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("viewer") && !body.contains("hunter"),
        "{body}"
    );
    let (status, body) = call(
        &s,
        &browser,
        "rollback_to",
        &[("app", "web-prod"), ("version", "1")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("viewer"), "{body}");
    let (status, _) = call(&s, &browser, "resume_auto_deploy", &[("app", "web-prod")]).await;
    assert_eq!(status, 403);
    assert_eq!(
        api.release_count("web-prod").await,
        2,
        "nothing was created"
    );

    // Reading is allowed, and the history says rollback is not offered.
    let (status, body) = call(&s, &browser, "app_history", &[("app", "web-prod")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"can_rollback\":false") && !body.contains("\"can_rollback\":true"),
        "{body}"
    );
    assert!(!body.contains("hunter"), "no values in the history: {body}");

    // Bad input is a 422 with the reason, and changes nothing.
    set_role(&pool, "admin").await;
    // A new session: one signed in before sees the change within the few seconds a
    // session is remembered (the cache of `core::access::remembered`).
    let browser = s.browser().await;
    let (status, body) = call(
        &s,
        &browser,
        "delete_app",
        &[("app", "web-prod"), ("confirm", "web")],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("Type the app's name"), "{body}");
    assert_eq!(api.get("/apps/web-prod").await.status, 200);
    let (status, _) = call(
        &s,
        &browser,
        "rollback_to",
        &[("app", "web-prod"), ("version", "0")],
    )
    .await;
    assert_eq!(status, 422);

    // A deployer may do both.
    set_role(&pool, "deployer").await;
    // A new session: one signed in before sees the change within the few seconds a
    // session is remembered (the cache of `core::access::remembered`).
    let browser = s.browser().await;
    let (status, body) = call(
        &s,
        &browser,
        "reveal_value",
        &[("app", "web-prod"), ("version", "1"), ("key", "SECRET")],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "\"hunter2\""));
    let (status, body) = call(
        &s,
        &browser,
        "rollback_to",
        &[("app", "web-prod"), ("version", "1")],
    )
    .await;
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

/// Posts a form as a browser without JavaScript does: accepting HTML, from `page`.
async fn post_plainly(
    s: &Slipway,
    http: &reqwest::Client,
    name: &str,
    page: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let r = http
        .post(s.url(&format!("/api/{name}")))
        .header("Origin", &s.base)
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("Referer", s.url(page))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), support::github::location(&r))
}

#[tokio::test]
async fn a_form_posted_without_javascript_comes_back_to_the_page_that_shows_its_outcome() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    let browser = s.browser().await;
    let config = "/ui/apps/web-prod/config";

    // Done: "see the config page, which says what it made".
    let form = [("app", "web-prod"), ("key", "GREETING"), ("value", "hi")];
    let (status, location) = post_plainly(&s, &browser, "set_config", config, &form).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/ui/apps/web-prod/config?did=saved&v=1")
    );
    let html = support::page(&browser, s.url(&location)).await;
    assert!(html.contains("Saved: created release v1."), "{html}");
    assert!(!html.contains(">hi<"), "the value is never in the page");

    // Refused: back to the page it came from, the reason in its address, shown as an alert; a
    // status code would have replaced the redirect.
    let form = [("app", "web-prod"), ("key", "PORT"), ("value", "80")];
    let (status, location) = post_plainly(&s, &browser, "set_config", config, &form).await;
    assert_eq!(status, 302, "{location}");
    assert!(
        location.starts_with(&s.url(config)) && location.contains("__err="),
        "{location}"
    );
    let html = support::page(&browser, &location).await;
    assert!(
        html.contains("role=\"alert\"") && html.contains("PORT is reserved"),
        "{html}"
    );
    assert_eq!(api.release_count("web-prod").await, 1);

    // The same call from an island (JSON) answers the value, no redirect.
    let (status, body) = call(
        &s,
        &browser,
        "unset_config",
        &[("app", "web-prod"), ("key", "GREETING")],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "2"));

    // A token made by a plain form is shown once by the page it goes to, then never again.
    let (status, location) = post_plainly(
        &s,
        &browser,
        "create_token",
        "/ui/account",
        &[("description", "cli")],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/ui/account?did=token"));
    let first = support::page(&browser, s.url(&location)).await;
    let token = first
        .split("slw_")
        .nth(1)
        .map(|t| {
            format!(
                "slw_{}",
                t.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            )
        })
        .expect("the new token is on the page");
    let again = support::page(&browser, s.url(&location)).await;
    assert!(!again.contains(&token), "shown twice");
}
