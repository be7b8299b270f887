//! Deploys on the real container engine (DESIGN §2, §6): the app answers at one address with
//! each release's environment; releases that exit or never answer fail with their reason and
//! leave the previous one running; restarts reconcile; deleting an app removes its containers.
//! The images come from `scripts/test-images.sh` (run by the test command).

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Api, Slipway};

/// Containers the engine has for an app (running or not).
fn containers(app_id: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=slipway.app={app_id}"),
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Records a `docker://` build of `image` and releases it; answers the release once settled.
async fn deploy_image(api: &Api, app: &str, image: &str) -> Value {
    let b = api
        .post(
            &format!("/apps/{app}/builds"),
            &json!({ "url": format!("docker://{image}") }).to_string(),
        )
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    assert_eq!(b.json()["status"], "succeeded", "{}", b.text);
    let r = api
        .post(
            &format!("/apps/{app}/releases"),
            &json!({ "slug": b.json()["id"] }).to_string(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    support::settled(api, app, r.json()["version"].as_i64().unwrap()).await
}

#[tokio::test]
async fn deploys_config_changes_and_rollbacks_answer_at_one_address() {
    support::docker_build(
        "slipway-test/exits-showing-key",
        "FROM slipway-test/busybox\nCMD [\"sh\", \"-c\", \"echo starting with $API_KEY; echo boom; exit 3\"]\n",
        &[],
    );
    support::docker_build(
        "slipway-test/silent",
        "FROM slipway-test/busybox\nCMD [\"sleep\", \"3600\"]\n",
        &[],
    );
    let db = testkit::fresh_url().await;
    let key = support::fresh_key();
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("SLIPWAY_SECRET_KEY", key.as_str()),
        ("SLIPWAY_HEALTH_TIMEOUT", "4s"),
    ];
    let mut s = Slipway::start(&env).unwrap();
    let api = s.admin();
    let created = api.create_app("runs", "test").await;
    let app_id = created["id"].as_str().unwrap().to_owned();
    let app = "runs-test";
    assert_eq!(created["web_url"], "", "no address before the first deploy");

    // v1: the image runs with PORT and answers at the app's address.
    let v1 = deploy_image(&api, app, "slipway-test/web").await;
    assert_eq!(v1["status"], "succeeded", "{v1}");
    let url = api.get(&format!("/apps/{app}")).await.json()["web_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (lo, hi) = support::app_ports(&db);
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{url} is not an address on SLIPWAY_APP_HOST"));
    assert!((lo..=hi).contains(&port), "{url} is outside {lo}-{hi}");
    let e = support::env_at(&url).await;
    assert!(support::has(&e, "PORT=9000"), "{e}");
    assert!(!e.contains("GREETING="), "{e}");

    // v2: a config change restarts the app with the new value, same address.
    let p = api
        .patch(
            &format!("/apps/{app}/config-vars"),
            r#"{"GREETING":"hello there","API_KEY":"sekrit-value-123"}"#,
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(support::settled(&api, app, 2).await["status"], "succeeded");
    let e = support::env_at(&url).await;
    assert!(support::has(&e, "GREETING=hello there"), "{e}");
    assert_eq!(
        containers(&app_id).len(),
        1,
        "the previous container stopped"
    );

    // v3: a port change runs the app on the new PORT behind the same address.
    let f = api
        .patch(&format!("/apps/{app}/formation/web"), r#"{"port":8080}"#)
        .await;
    assert_eq!(f.status, 200, "{}", f.text);
    assert_eq!(support::settled(&api, app, 3).await["status"], "succeeded");
    assert!(support::has(&support::env_at(&url).await, "PORT=8080"));

    // v4: an image that exits fails with its reason and last lines, secrets masked; v3 runs on.
    let v4 = deploy_image(&api, app, "slipway-test/exits-showing-key").await;
    assert_eq!(v4["status"], "failed", "{v4}");
    let why = v4["failure"].as_str().unwrap();
    assert!(why.contains("exited with code 3"), "{why}");
    assert!(why.contains("boom"), "{why}");
    assert!(why.contains("starting with ***"), "{why}");
    assert!(!why.contains("sekrit-value-123"), "{why}");
    assert!(support::has(
        &support::env_at(&url).await,
        "GREETING=hello there"
    ));
    assert_eq!(
        api.get(&format!("/apps/{app}/releases/3")).await.json()["current"],
        true
    );

    // v5: an image that runs but never answers HTTP fails after the health timeout; v3 runs on.
    let v5 = deploy_image(&api, app, "slipway-test/silent").await;
    assert_eq!(v5["status"], "failed", "{v5}");
    assert!(
        v5["failure"]
            .as_str()
            .unwrap()
            .contains("did not answer HTTP on port 8080 within 4s"),
        "{v5}"
    );
    assert!(support::has(
        &support::env_at(&url).await,
        "GREETING=hello there"
    ));
    assert_eq!(
        containers(&app_id).len(),
        1,
        "failed containers are removed"
    );

    // v6: rollback to v1 runs v1's image with v1's config and port, same address.
    let rb = api
        .post(&format!("/apps/{app}/releases"), r#"{"release":"v1"}"#)
        .await;
    assert_eq!(rb.status, 201, "{}", rb.text);
    assert_eq!(support::settled(&api, app, 6).await["status"], "succeeded");
    let e = support::env_at(&url).await;
    assert!(support::has(&e, "PORT=9000"), "{e}");
    assert!(!e.contains("GREETING="), "{e}");

    // A restarted Slipway takes the app's address back and routes it to the running release.
    s.terminate();
    assert!(
        support::client()
            .get(format!("{url}/env.txt"))
            .send()
            .await
            .is_err(),
        "the address closed with the process"
    );
    let s = Slipway::start(&env).unwrap();
    support::eventually(
        Duration::from_secs(30),
        "the address to come back",
        || async {
            let r = support::client().get(format!("{url}/env.txt")).send().await;
            r.is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
    assert!(support::has(&support::env_at(&url).await, "PORT=9000"));

    // Deleting the app removes its containers and closes its address.
    let api = s.admin();
    assert_eq!(api.delete(&format!("/apps/{app}")).await.status, 200);
    support::eventually(
        Duration::from_secs(20),
        "the app's containers to go with it",
        || async { containers(&app_id).is_empty() },
    )
    .await;
    assert!(support::client()
        .get(format!("{url}/env.txt"))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn a_docker_build_needs_the_image_on_the_engine() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("noimage", "test").await;
    let b = api
        .post(
            "/apps/noimage-test/builds",
            r#"{"url":"docker://registry.invalid/nothing:1"}"#,
        )
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    let b = b.json();
    assert_eq!(b["status"], "failed", "{b}");
    let id = b["id"].as_str().unwrap();
    let log = api
        .get(&format!("/apps/noimage-test/builds/{id}/result"))
        .await
        .json();
    let lines: Vec<&str> = log["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lines[0].contains("has no image registry.invalid/nothing:1"),
        "{lines:?}"
    );
    assert_eq!(*lines.last().unwrap(), "Finished: FAILURE");
    let r = api
        .post(
            "/apps/noimage-test/releases",
            &json!({"slug": id}).to_string(),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
}

/// Builds from source and deploys it (auto-release is on); answers (build, release).
async fn build_and_deploy(api: &Api, app: &str, version: i64) -> (Value, Value) {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let url = support::dockerfile_source(&format!(
        "FROM slipway-test/web\nRUN echo {nonce} > /nonce\n"
    ));
    let b = api
        .post(
            &format!("/apps/{app}/builds"),
            &json!({ "url": url }).to_string(),
        )
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    let id = b.json()["id"].as_str().unwrap().to_owned();
    let r = support::settled(api, app, version).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["slug"]["id"], id.as_str());
    let b = api.get(&format!("/apps/{app}/builds/{id}")).await.json();
    (b, r)
}

fn image_exists(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .unwrap()
        .status
        .success()
}

#[tokio::test]
async fn images_of_old_releases_go_unless_pinned_and_their_rollback_is_refused() {
    let s = Slipway::start(&[
        ("DATABASE_URL", &testkit::fresh_url().await),
        ("SLIPWAY_SECRET_KEY", &support::fresh_key()),
        ("SLIPWAY_KEEP_RELEASES", "2"),
    ])
    .unwrap();
    let api = s.admin();
    api.create_app("keep", "test").await;
    let app = "keep-test";
    let f = api
        .patch(
            &format!("/apps/{app}/features/auto-release"),
            r#"{"enabled":true}"#,
        )
        .await;
    assert_eq!(f.status, 200, "{}", f.text);
    let (b1, _) = build_and_deploy(&api, app, 1).await;
    let (b2, _) = build_and_deploy(&api, app, 2).await;
    let pin = api
        .patch(&format!("/apps/{app}/releases/v2"), r#"{"pinned":true}"#)
        .await;
    assert_eq!(pin.status, 200, "{}", pin.text);
    assert_eq!(pin.json()["pinned"], true);
    let (_, _) = build_and_deploy(&api, app, 3).await;
    let (_, _) = build_and_deploy(&api, app, 4).await;
    let image_of = |b: &Value| {
        format!(
            "slipway/{app}:{}",
            b["id"].as_str().unwrap().replace('-', "")
        )
    };
    // v1 is outside the last two releases: its image is gone, and so is its rollback.
    assert!(!image_exists(&image_of(&b1)), "v1's image was removed");
    let r = api
        .post(&format!("/apps/{app}/releases"), r#"{"release":"v1"}"#)
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("no longer kept"), "{}", r.text);
    // v2 is pinned: kept, and rolling back to it works.
    assert!(
        image_exists(&image_of(&b2)),
        "the pinned v2's image was kept"
    );
    let r = api
        .post(&format!("/apps/{app}/releases"), r#"{"release":"v2"}"#)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(support::settled(&api, app, 5).await["status"], "succeeded");
}

#[tokio::test]
async fn a_deploy_by_another_process_moves_the_address_the_first_one_holds() {
    let db = testkit::fresh_url().await;
    let key = support::fresh_key();
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("SLIPWAY_SECRET_KEY", key.as_str()),
    ];
    let first = Slipway::start(&env).unwrap();
    let api = first.admin();
    api.create_app("handoff", "test").await;
    let app = "handoff-test";
    assert_eq!(
        api.patch(&format!("/apps/{app}/config-vars"), r#"{"GREETING":"one"}"#)
            .await
            .status,
        200
    );
    assert_eq!(
        deploy_image(&api, app, "slipway-test/web").await["status"],
        "succeeded"
    );
    let url = api.get(&format!("/apps/{app}")).await.json()["web_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(support::has(&support::env_at(&url).await, "GREETING=one"));

    // The first process is frozen (its address stays bound); a second one takes the next deploy.
    support::signal(first.child.id(), libc::SIGSTOP);
    let second = Slipway::start(&env).unwrap();
    let other = second.admin();
    assert_eq!(
        other
            .patch(&format!("/apps/{app}/config-vars"), r#"{"GREETING":"two"}"#)
            .await
            .status,
        200
    );
    let v3 = support::settled(&other, app, 3).await;
    support::signal(first.child.id(), libc::SIGCONT);
    assert_eq!(v3["status"], "succeeded", "{v3}");
    assert_eq!(
        other.get(&format!("/apps/{app}")).await.json()["web_url"],
        url.as_str(),
        "the same address"
    );
    // Thawed, the holder follows the new container.
    support::eventually(
        Duration::from_secs(20),
        "the address to move to v3",
        || async {
            match support::client().get(format!("{url}/env.txt")).send().await {
                Ok(r) => support::has(&r.text().await.unwrap_or_default(), "GREETING=two"),
                Err(_) => false,
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_long_build_does_not_hold_up_another_apps_deploy() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("slow", "test").await;
    api.create_app("quick", "test").await;
    // A build that runs for a minute, in the only worker.
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let slow = api
        .post(
            "/apps/slow-test/builds",
            &json!({ "url": support::dockerfile_source(&format!(
                "FROM slipway-test/busybox\nRUN echo started {nonce} && sleep 60\n"
            )) })
            .to_string(),
        )
        .await;
    assert_eq!(slow.status, 201, "{}", slow.text);
    let id = slow.json()["id"].as_str().unwrap().to_owned();
    support::eventually(
        Duration::from_secs(60),
        "the slow build to start",
        || async {
            api.get(&format!("/apps/slow-test/builds/{id}"))
                .await
                .json()["status"]
                == "pending"
        },
    )
    .await;
    // Meanwhile another app deploys.
    let started = Instant::now();
    let r = deploy_image(&api, "quick-test", "slipway-test/web").await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(
        api.get(&format!("/apps/slow-test/builds/{id}"))
            .await
            .json()["status"],
        "pending",
        "the deploy ran while the build did ({:?})",
        started.elapsed()
    );
    assert_eq!(
        api.delete(&format!("/apps/slow-test/builds/{id}"))
            .await
            .status,
        205
    );
}

/// Waits for a whole reconcile pass that starts after `from` (a length of `s`'s log), which
/// the test triggers by deleting an app. Needs `SLIPWAY_LOG` with `slipway_core::runtime=debug`.
async fn reconciled_after(s: &Slipway, from: usize) {
    support::eventually(Duration::from_secs(60), "a reconcile pass", || async {
        let logs = s.logs();
        let later = logs.get(from..).unwrap_or("");
        later
            .find("reconcile started")
            .is_some_and(|at| later[at..].contains("reconciled"))
    })
    .await;
}

fn reconcile_logging(db: &str, key: &str, health: &str) -> Slipway {
    Slipway::start(&[
        ("DATABASE_URL", db),
        ("SLIPWAY_SECRET_KEY", key),
        ("SLIPWAY_HEALTH_TIMEOUT", health),
        ("SLIPWAY_LOG", "info,slipway_core::runtime=debug"),
    ])
    .unwrap()
}

/// Releases a `docker://` image of the gated web app; answers once its container exists.
async fn held_first_deploy(api: &Api, app: &str, app_id: &str, gate: &support::Gate) {
    let tag = format!("slipway-test/gated-{}", gate.port);
    support::gated_web_image(&tag, gate);
    let b = api
        .post(
            &format!("/apps/{app}/builds"),
            &json!({ "url": format!("docker://{tag}") }).to_string(),
        )
        .await;
    let r = api
        .post(
            &format!("/apps/{app}/releases"),
            &json!({ "slug": b.json()["id"] }).to_string(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    support::eventually(
        Duration::from_secs(60),
        "the deploy's container",
        || async { !containers(app_id).is_empty() },
    )
    .await;
}

/// An app's first deploy is under way (its container exists, no release has succeeded yet)
/// when another app is deleted, which makes every process reconcile: the new container is
/// not taken for one of a deleted app.
#[tokio::test]
async fn a_reconcile_during_an_apps_first_deploy_leaves_its_container_alone() {
    let (db, key) = (testkit::fresh_url().await, support::fresh_key());
    let s = reconcile_logging(&db, &key, "300s");
    let api = s.admin();
    let app_id = api.create_app("first", "test").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.create_app("doomed", "test").await;
    let gate = support::Gate::new().await;
    held_first_deploy(&api, "first-test", &app_id, &gate).await;
    let from = s.logs().len();
    assert_eq!(api.delete("/apps/doomed-test").await.status, 200);
    reconciled_after(&s, from).await;
    gate.open();
    let v1 = support::settled(&api, "first-test", 1).await;
    assert_eq!(v1["status"], "succeeded", "{v1}");
}

/// A deploy whose health check outlasts a minute (SLIPWAY_HEALTH_TIMEOUT over 60 s) keeps its
/// container through reconciles: it is not taken for an old release's.
#[tokio::test]
async fn a_reconcile_leaves_a_container_inside_a_long_health_window_alone() {
    let (db, key) = (testkit::fresh_url().await, support::fresh_key());
    let s = reconcile_logging(&db, &key, "300s");
    let api = s.admin();
    let app_id = api.create_app("patient", "test").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gate = support::Gate::new().await;
    held_first_deploy(&api, "patient-test", &app_id, &gate).await;
    let born = Instant::now();
    // Past a minute old, still in its health check…
    tokio::time::sleep(Duration::from_secs(62).saturating_sub(born.elapsed())).await;
    api.create_app("doomed", "test").await;
    let from = s.logs().len();
    assert_eq!(api.delete("/apps/doomed-test").await.status, 200);
    reconciled_after(&s, from).await;
    assert_eq!(containers(&app_id).len(), 1, "the container is still there");
    gate.open();
    let v1 = support::settled(&api, "patient-test", 1).await;
    assert_eq!(v1["status"], "succeeded", "{v1}");
}

/// The emergency action does not wait: a rollback deploys while a build of the same app runs.
#[tokio::test]
async fn a_rollback_deploys_while_a_build_of_the_same_app_runs() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("back", "test").await;
    let v1 = deploy_image(&api, "back-test", "slipway-test/web").await;
    assert_eq!(v1["status"], "succeeded", "{v1}");
    assert_eq!(
        api.patch("/apps/back-test/config-vars", r#"{"BROKEN":"yes"}"#)
            .await
            .status,
        200
    );
    assert_eq!(
        support::settled(&api, "back-test", 2).await["status"],
        "succeeded"
    );
    let gate = support::Gate::new().await;
    let b = api
        .post(
            "/apps/back-test/builds",
            &json!({ "url": support::dockerfile_source(&format!(
                "FROM slipway-test/busybox\nRUN echo started; {}\n",
                gate.wait_shell()
            )) })
            .to_string(),
        )
        .await;
    let build = b.json()["id"].as_str().unwrap().to_owned();
    support::eventually(Duration::from_secs(90), "the build to run", || async {
        api.get(&format!("/apps/back-test/builds/{build}/result"))
            .await
            .json()["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "started")
    })
    .await;
    let r = api
        .post("/apps/back-test/releases", r#"{"release":"v1"}"#)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v3 = support::settled(&api, "back-test", 3).await;
    assert_eq!(v3["status"], "succeeded", "{v3}");
    assert_eq!(
        api.get(&format!("/apps/back-test/builds/{build}"))
            .await
            .json()["status"],
        "pending",
        "the rollback did not wait for the build"
    );
    let url = api.get("/apps/back-test").await.json()["web_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!support::has(&support::env_at(&url).await, "BROKEN=yes"));
    gate.open();
    let (b, _) = support::build_finished(&api, "back-test", &build, Duration::from_secs(60)).await;
    assert_eq!(b["status"], "succeeded");
}

/// For tests that drive a runtime in-process: a fresh core (no server, no worker), an app
/// with a `docker://` build of `image`, and a release of it, queued.
async fn queued_in_process(
    name: &str,
    image: &str,
) -> (
    slipway_core::Core,
    slipway_core::access::authz::Actor,
    slipway_core::ledger::apps::App,
    slipway_core::builds::Build,
    slipway_core::ledger::releases::Release,
) {
    let core = testkit::fresh_core().await;
    let admin = core.local_admin("ops").await.unwrap().actor().unwrap();
    let new = slipway_core::ledger::apps::NewApp {
        name: domain::AppName::parse(name).unwrap(),
        org: domain::SimpleName::parse("org", "default").unwrap(),
        description: None,
    };
    let app = core.create_app(&admin, new).await.unwrap();
    let request = slipway_core::builds::BuildRequest {
        url: format!("docker://{image}"),
        ..Default::default()
    };
    let build = core.create_build(&admin, &app, request).await.unwrap();
    let release = core
        .deploy(
            &admin,
            &app,
            slipway_core::ledger::releases::SlugRef::Latest,
            None,
        )
        .await
        .unwrap();
    (core, admin, app, build, release)
}

/// The runtime holds the deploy's claim while it moves the address and removes containers: a
/// deploy whose claim another worker took over removes only the container it started itself,
/// never the one the newer claim runs.
#[tokio::test]
async fn a_deploy_whose_claim_was_taken_over_removes_only_its_own_container() {
    use slipway_core::runtime::{Deployment, Runtime};
    use slipway_core::runtime::{DockerRuntime, RuntimeSettings};
    let (core, _, app, build, release) = queued_in_process("fenced-test", "slipway-test/web").await;
    let lease = Duration::from_secs(60);
    let stale = core.claim_job("a", lease).await.unwrap().unwrap();
    sqlx::query("update jobs set locked_until = now() - interval '1 second'")
        .execute(core.pool())
        .await
        .unwrap();
    let taken = core.claim_job("b", lease).await.unwrap().unwrap();
    let port = support::app_ports(&uuid::Uuid::new_v4().to_string()).0;
    let runtime = DockerRuntime::new(
        core.clone(),
        RuntimeSettings {
            health_timeout: Duration::from_secs(30),
            ports: (port, port),
            host: "127.0.0.1".parse().unwrap(),
            keep_releases: 20,
        },
    );
    let deployment = |fence| Deployment {
        app_id: app.id,
        app_name: app.full_name(),
        release_id: release.id,
        version: release.version,
        image: build.image.clone(),
        config: Default::default(),
        port: 9000,
        fence: Some(fence),
    };
    let label = format!("slipway.release={}", release.id);
    runtime.deploy(&deployment(taken.fence())).await.unwrap();
    let newer = support::containers_with(&label);
    assert_eq!(newer.len(), 1);
    let refused = runtime.deploy(&deployment(stale.fence())).await;
    assert!(refused.is_err(), "the stale claim's deploy is refused");
    assert_eq!(
        support::containers_with(&label),
        newer,
        "the newer claim's container stays, and the stale one's is gone"
    );
    for id in newer {
        let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    }
}

/// The reconciler puts an app's current release back when nothing runs it. When a deploy of
/// the app begins while the restored container is still starting, the address is the
/// deploy's to move: the restore neither moves it nor leaves its container behind.
#[tokio::test]
async fn a_restore_that_a_deploy_overtakes_moves_nothing_and_leaves_nothing() {
    use slipway_core::ledger::releases::SlugRef;
    use slipway_core::runtime::{DockerRuntime, RuntimeSettings};
    let gate = support::Gate::new().await;
    let tag = format!("slipway-test/gated-{}", gate.port);
    support::gated_web_image(&tag, &gate);
    // v1 is current and nothing runs it; v2 waits in the queue (no worker here).
    let (core, admin, app, _, v1) = queued_in_process("overtaken-test", &tag).await;
    sqlx::query("update releases set status = 'succeeded' where id = $1")
        .bind(v1.id)
        .execute(core.pool())
        .await
        .unwrap();
    let v2 = core
        .deploy(&admin, &app, SlugRef::Latest, None)
        .await
        .unwrap();
    let runtime = std::sync::Arc::new(DockerRuntime::new(
        core.clone(),
        RuntimeSettings {
            health_timeout: Duration::from_secs(120),
            ports: support::app_ports(&uuid::Uuid::new_v4().to_string()),
            host: "127.0.0.1".parse().unwrap(),
            keep_releases: 20,
        },
    ));
    let reconciling = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.reconcile().await }
    });
    let label = format!("slipway.release={}", v1.id);
    support::eventually(
        Duration::from_secs(60),
        "the restored container of v1",
        || async { support::containers_with(&label).len() == 1 },
    )
    .await;
    // A worker starts deploying v2 while the restored container waits at the gate.
    sqlx::query("update releases set status = 'pending' where id = $1")
        .bind(v2.id)
        .execute(core.pool())
        .await
        .unwrap();
    gate.open();
    tokio::time::timeout(Duration::from_secs(120), reconciling)
        .await
        .expect("the reconcile ends within its health timeout")
        .unwrap()
        .unwrap();
    let target: Option<String> = sqlx::query_scalar("select web_target from apps where id = $1")
        .bind(app.id)
        .fetch_one(core.pool())
        .await
        .unwrap();
    assert_eq!(target, None, "the restore did not move the address");
    assert!(
        support::containers_with(&label).is_empty(),
        "the restored container is gone"
    );
}
