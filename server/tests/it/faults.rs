//! Faults survived, with the real binary, a real engine and PostgreSQL (DESIGN §6): a worker
//! killed mid-build and mid-deploy, two workers racing on an expired lease, and PostgreSQL
//! restarted under a running build and deploy. Every build and deploy here is held open by a
//! gate the test opens, never by hoping it is slow.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::{build_finished, containers_with, eventually, settled, signal, Api, Gate, Slipway};

const LEASE: &str = "3s";

/// The environment of processes sharing one fresh database, with a short lease and a long
/// health timeout (the gate holds deploys inside it).
async fn shared_env() -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".into(), testkit::fresh_url().await),
        ("SLIPWAY_SECRET_KEY".into(), support::fresh_key()),
        ("SLIPWAY_JOB_LEASE".into(), LEASE.into()),
        ("SLIPWAY_HEALTH_TIMEOUT".into(), "300s".into()),
    ]
}

fn start(env: &[(String, String)], extra: &[(&str, &str)]) -> Slipway {
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    Slipway::start(&all).expect("slipway starts")
}

/// A web process that runs no jobs: the test talks to it while workers come and go.
fn web(env: &[(String, String)]) -> Slipway {
    start(env, &[("SLIPWAY_NO_WORKER", "true")])
}

fn kill(s: &mut Slipway) {
    signal(s.child.id(), libc::SIGKILL);
    let _ = s.child.wait();
}

/// A build whose step prints `started`, then waits at `gate`.
async fn held_build(api: &Api, app: &str, gate: &Gate) -> String {
    let source = support::dockerfile_source(&format!(
        "FROM slipway-test/busybox\nRUN echo started; {}\n",
        gate.wait_shell()
    ));
    let b = api
        .post(
            &format!("/apps/{app}/builds"),
            &json!({ "url": source }).to_string(),
        )
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    b.json()["id"].as_str().unwrap().to_owned()
}

async fn log_of(api: &Api, app: &str, build: &str) -> Vec<String> {
    api.get(&format!("/apps/{app}/builds/{build}/result"))
        .await
        .json()["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

async fn until_log_has(api: &Api, app: &str, build: &str, line: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let lines = log_of(api, app, build).await;
        if lines.iter().any(|l| l == line) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited 90s for the build log to show \"{line}\": {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Releases a `docker://` image of `gate`'s gated web app; once the deploy's container
/// exists (held at the gate), answers the release id and the container's label.
async fn held_release(api: &Api, app: &str, gate: &Gate) -> (String, String) {
    let tag = format!("slipway-test/gated-{}", gate.port);
    support::gated_web_image(&tag, gate);
    let b = api
        .post(
            &format!("/apps/{app}/builds"),
            &json!({ "url": format!("docker://{tag}") }).to_string(),
        )
        .await
        .json();
    assert_eq!(b["status"], "succeeded", "{b}");
    let r = api
        .post(
            &format!("/apps/{app}/releases"),
            &json!({ "slug": b["id"] }).to_string(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let release = r.json()["id"].as_str().unwrap().to_owned();
    let label = format!("slipway.release={release}");
    eventually(
        Duration::from_secs(60),
        "the deploy's container",
        || async { containers_with(&label).len() == 1 },
    )
    .await;
    (release, label)
}

async fn release_status(api: &Api, app: &str, id: &str) -> String {
    api.get(&format!("/apps/{app}/releases/{id}")).await.json()["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The pid in the `locked_by` of the app's running job (`hostname-pid`).
async fn holder_pid(db: &str) -> u32 {
    let pool = sqlx::PgPool::connect(db).await.unwrap();
    let by: String = sqlx::query_scalar("select locked_by from jobs where locked_by is not null")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    by.rsplit('-').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_worker_killed_mid_build_fails_the_build_and_the_next_build_runs() {
    let env = shared_env().await;
    let web = web(&env);
    let mut worker = start(&env, &[]);
    let api = web.admin();
    api.create_app("killed", "prod").await;
    let gate = Gate::new().await;
    let held = held_build(&api, "killed-prod", &gate).await;
    until_log_has(&api, "killed-prod", &held, "started").await;
    kill(&mut worker);
    let quick = api
        .post(
            "/apps/killed-prod/builds",
            &json!({ "url": support::dockerfile_source("FROM slipway-test/busybox\nRUN echo quick\n") })
                .to_string(),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A new worker takes the queue: the dead worker's build fails once its lease is out.
    let _worker = start(&env, &[]);
    let (b, lines) = build_finished(&api, "killed-prod", &held, Duration::from_secs(60)).await;
    assert_eq!(b["status"], "failed");
    assert_eq!(
        &lines[lines.len() - 2..],
        [
            "The worker running this build stopped; the build failed.",
            "Finished: FAILURE"
        ]
    );
    let (b, lines) = build_finished(&api, "killed-prod", &quick, Duration::from_secs(120)).await;
    assert_eq!(b["status"], "succeeded", "{lines:?}");
    gate.open();
}

#[tokio::test]
async fn a_worker_killed_mid_deploy_is_retried_and_one_container_of_the_release_remains() {
    let env = shared_env().await;
    let web = web(&env);
    let mut worker = start(&env, &[]);
    let api = web.admin();
    api.create_app("redeploy", "prod").await;
    let gate = Gate::new().await;
    let (release, label) = held_release(&api, "redeploy-prod", &gate).await;
    assert_eq!(
        release_status(&api, "redeploy-prod", &release).await,
        "pending"
    );
    kill(&mut worker);
    let _worker = start(&env, &[]);
    // The new worker takes the deploy again once the lease is out: its own container.
    eventually(
        Duration::from_secs(60),
        "the retried deploy's container",
        || async { containers_with(&label).len() == 2 },
    )
    .await;
    gate.open();
    let r = settled(&api, "redeploy-prod", 1).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(
        containers_with(&label).len(),
        1,
        "one container of the release"
    );
    let app = api.get("/apps/redeploy-prod").await.json();
    let env_text = support::env_at(app["web_url"].as_str().unwrap()).await;
    assert!(support::has(&env_text, "PORT=9000"), "{env_text}");
}

#[tokio::test]
async fn two_workers_racing_on_an_expired_lease_deploy_once() {
    let env = shared_env().await;
    let web = web(&env);
    let (one, two) = (start(&env, &[]), start(&env, &[]));
    let api = web.admin();
    api.create_app("race", "prod").await;
    let gate = Gate::new().await;
    let (release, label) = held_release(&api, "race-prod", &gate).await;
    // The worker holding the deploy freezes; its lease runs out and the other takes over.
    let pid = holder_pid(&env[0].1).await;
    let (frozen, other) = if pid == one.child.id() {
        (&one, &two)
    } else {
        (&two, &one)
    };
    assert_eq!(frozen.child.id(), pid);
    signal(pid, libc::SIGSTOP);
    eventually(
        Duration::from_secs(60),
        "the other worker's container",
        || async { containers_with(&label).len() == 2 },
    )
    .await;
    gate.open();
    let r = settled(&api, "race-prod", 1).await;
    assert_eq!(r["status"], "succeeded");
    // Thawed, the first worker finds its claim gone: it writes nothing and removes nothing.
    signal(pid, libc::SIGCONT);
    eventually(
        Duration::from_secs(30),
        "the thawed worker to stop its job",
        || async { frozen.logs().contains("it stopped here") },
    )
    .await;
    assert_eq!(
        release_status(&api, "race-prod", &release).await,
        "succeeded"
    );
    assert_eq!(containers_with(&label).len(), 1, "{}", frozen.logs());
    let app = api.get("/apps/race-prod").await.json();
    support::env_at(app["web_url"].as_str().unwrap()).await;
    assert!(other.logs().contains("release deployed"));
}

#[tokio::test]
async fn two_workers_racing_on_an_expired_lease_finish_a_build_once() {
    let env = shared_env().await;
    let web = web(&env);
    let (one, two) = (start(&env, &[]), start(&env, &[]));
    let api = web.admin();
    api.create_app("racebuild", "prod").await;
    let gate = Gate::new().await;
    let held = held_build(&api, "racebuild-prod", &gate).await;
    until_log_has(&api, "racebuild-prod", &held, "started").await;
    let pid = holder_pid(&env[0].1).await;
    let frozen = if pid == one.child.id() { &one } else { &two };
    signal(pid, libc::SIGSTOP);
    // The other worker takes the expired lease and fails the build (builds do not resume).
    let (b, _) = build_finished(&api, "racebuild-prod", &held, Duration::from_secs(60)).await;
    assert_eq!(b["status"], "failed");
    signal(pid, libc::SIGCONT);
    gate.open();
    eventually(
        Duration::from_secs(30),
        "the thawed worker to stop its job",
        || async { frozen.logs().contains("it stopped here") },
    )
    .await;
    let lines = log_of(&api, "racebuild-prod", &held).await;
    let finished: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("Finished: "))
        .collect();
    assert_eq!(finished, ["Finished: FAILURE"], "{lines:?}");
    assert_eq!(
        lines.last().unwrap(),
        "Finished: FAILURE",
        "nothing after the end"
    );
    assert!(!lines.iter().any(|l| l == "through the gate"), "{lines:?}");
}

#[tokio::test]
async fn postgres_restarted_under_a_running_build_and_deploy_loses_nothing() {
    let pg = testkit::PrivateCluster::start().unwrap();
    let key = support::fresh_key();
    let s = Slipway::start(&[
        ("DATABASE_URL", &pg.url()),
        ("SLIPWAY_SECRET_KEY", &key),
        ("SLIPWAY_HEALTH_TIMEOUT", "300s"),
    ])
    .expect("slipway starts");
    let api = s.admin();
    api.create_app("pgbuild", "prod").await;
    api.create_app("pgdeploy", "prod").await;
    let gate = Gate::new().await;
    let build = held_build(&api, "pgbuild-prod", &gate).await;
    let (_, label) = held_release(&api, "pgdeploy-prod", &gate).await;
    let container = containers_with(&label);
    until_log_has(&api, "pgbuild-prod", &build, "waiting at the gate").await;

    pg.stop();
    // While the database is gone the API says so, and the build keeps printing (its lines
    // wait in the worker).
    let down = api.get("/apps").await;
    assert_eq!(down.status, 503, "{}", down.text);
    assert!(
        down.text.contains("database is not answering"),
        "{}",
        down.text
    );
    pg.restart();

    eventually(
        Duration::from_secs(60),
        "the API to answer again",
        || async { api.get("/apps").await.status == 200 },
    )
    .await;
    gate.open();
    let (b, lines) = build_finished(&api, "pgbuild-prod", &build, Duration::from_secs(120)).await;
    assert_eq!(b["status"], "succeeded", "{lines:?}");
    let once = |text: &str| lines.iter().filter(|l| l.as_str() == text).count() == 1;
    assert!(
        once("started") && once("through the gate") && once("Finished: SUCCESS"),
        "{lines:?}"
    );
    assert_eq!(lines.last().unwrap(), "Finished: SUCCESS");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("Fetching ")).count(),
        1,
        "the build ran once"
    );
    let r = settled(&api, "pgdeploy-prod", 1).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(
        containers_with(&label),
        container,
        "the deploy ran once: the container it started before the restart is the one that runs"
    );
    let app = api.get("/apps/pgdeploy-prod").await.json();
    support::env_at(app["web_url"].as_str().unwrap()).await;
    let mut s = s;
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "the process kept running"
    );
}

#[tokio::test]
async fn a_worker_that_cannot_renew_its_lease_in_time_stops_the_job_and_writes_nothing_more() {
    let pg = testkit::PrivateCluster::start().unwrap();
    let key = support::fresh_key();
    let s = Slipway::start(&[
        ("DATABASE_URL", &pg.url()),
        ("SLIPWAY_SECRET_KEY", &key),
        ("SLIPWAY_JOB_LEASE", LEASE),
    ])
    .expect("slipway starts");
    let api = s.admin();
    api.create_app("outlasted", "prod").await;
    let gate = Gate::new().await;
    let build = held_build(&api, "outlasted-prod", &gate).await;
    until_log_has(&api, "outlasted-prod", &build, "started").await;

    // The database stays away longer than the lease: the worker cannot renew it, so it
    // stops the build where it is (its own log says so) ...
    pg.stop();
    eventually(
        Duration::from_secs(30),
        "the worker to say it stopped the job it could not renew",
        || async {
            s.logs()
                .contains("could not be renewed in time; it stopped here")
        },
    )
    .await;
    // ... and when the build's step goes on and the database is back, nothing it does is
    // written: not its next line, not its success.
    gate.open();
    pg.restart();
    let (b, lines) = build_finished(&api, "outlasted-prod", &build, Duration::from_secs(90)).await;
    assert_eq!(b["status"], "failed", "{lines:?}");
    assert!(
        !lines.iter().any(|l| l == "through the gate"),
        "a stopped job wrote on: {lines:?}"
    );
    assert_eq!(
        &lines[lines.len() - 2..],
        [
            "The worker running this build stopped; the build failed.",
            "Finished: FAILURE"
        ]
    );
    // The app's next build runs, in the same process.
    let next = api
        .post(
            "/apps/outlasted-prod/builds",
            &json!({ "url": support::dockerfile_source("FROM slipway-test/busybox\nRUN echo next\n") })
                .to_string(),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (b, lines) = build_finished(&api, "outlasted-prod", &next, Duration::from_secs(120)).await;
    assert_eq!(b["status"], "succeeded", "{lines:?}");
}
