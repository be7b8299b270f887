//! Signed push webhooks that build real images and release them, statuses and checks.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::support;
use crate::support::github::{api_as, commit, git, signed_in, World, FULL_TOKEN};
use crate::support::{Api, Slipway};

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
    let html = support::page(&boss, s.url("/ui/apps/web-prod")).await;
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
    assert_eq!(api.release_count("web-prod").await, 3);
    assert_eq!(
        w.gh.statuses("acme/web", &sha).last().unwrap().state,
        "success"
    );
    let boss = signed_in(&s, &w, "boss").await;
    let html = support::page(&boss, s.url("/ui/apps/web-prod")).await;
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
        let html = support::page(&boss, s.url("/ui/apps/web-prod")).await;
        if html.contains("Not deployed: a status check failed") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the build was not marked as refused by its checks"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(api.release_count("web-prod").await, 1);
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
