//! The release ledger against a real PostgreSQL (a throwaway cluster, a fresh database per test).

use std::sync::Arc;
use std::time::Duration;

use domain::{AppName, ConfigKey, ReleaseKind, ReleaseStatus, Role, SimpleName};
use slipway_core::access::authz::Actor;
use slipway_core::builds::BuildRequest;
use slipway_core::ledger::apps::{App, NewApp};
use slipway_core::ledger::releases::{Release, ReleaseRef, SlugRef, Window};
use slipway_core::queue::Engines;
use slipway_core::runtime::NoopRuntime;
use slipway_core::{Core, Error};

pub(crate) async fn admin(core: &Core) -> Actor {
    core.local_admin("admin").await.unwrap().actor().unwrap()
}

pub(crate) async fn new_app(core: &Core, actor: &Actor, name: &str) -> App {
    let new = NewApp {
        name: AppName::parse(name).unwrap(),
        org: SimpleName::parse("org", "default").unwrap(),
        description: None,
    };
    core.create_app(actor, new).await.unwrap()
}

/// Release `n` of an app, by version.
pub(crate) fn v(n: i32) -> ReleaseRef {
    ReleaseRef::Version(domain::Version::new(n).unwrap())
}

pub(crate) fn set(pairs: &[(&str, Option<&str>)]) -> Vec<(ConfigKey, Option<String>)> {
    pairs
        .iter()
        .map(|(k, v)| (ConfigKey::parse(k).unwrap(), v.map(str::to_owned)))
        .collect()
}

pub(crate) async fn image_build(core: &Core, actor: &Actor, app: &App, image: &str) -> uuid::Uuid {
    let req = BuildRequest {
        url: format!("docker://{image}"),
        ..Default::default()
    };
    core.create_build(actor, app, req).await.unwrap().id
}

/// Runs every queued job to the end, as a worker would.
pub(crate) async fn drain(core: &Core) {
    while let Some(job) = core
        .claim_job("test", Duration::from_secs(60))
        .await
        .unwrap()
    {
        core.run_job(&job, &Engines::with_runtime(Arc::new(NoopRuntime)))
            .await
            .unwrap();
    }
}

pub(crate) async fn fresh(core: &Core, app: &App) -> App {
    core.find_app_for_tests(&app.id.to_string()).await
}

pub(crate) async fn all_releases(core: &Core, actor: &Actor, app: &App) -> Vec<Release> {
    let app = fresh(core, app).await;
    core.releases(actor, &app, Window::all()).await.unwrap().0
}

pub(crate) trait FindForTests {
    async fn find_app_for_tests(&self, key: &str) -> App;
}

impl FindForTests for Core {
    async fn find_app_for_tests(&self, key: &str) -> App {
        let actor = self.local_admin("admin").await.unwrap().actor().unwrap();
        self.app(&actor, key).await.unwrap()
    }
}

#[tokio::test]
async fn creating_an_app_creates_no_release_and_names_are_unique() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    assert_eq!(app.full_name(), "web-prod");
    assert!(all_releases(&core, &a, &app).await.is_empty());
    let again = NewApp {
        name: AppName::parse("web-prod").unwrap(),
        org: SimpleName::parse("org", "other").unwrap(),
        description: None,
    };
    assert!(matches!(
        core.create_app(&a, again).await,
        Err(Error::Conflict(_))
    ));
}

#[tokio::test]
async fn versions_count_from_one_without_gaps_across_kinds_of_change() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    let b = image_build(&core, &a, &app, "web:1").await;
    core.deploy(&a, &app, SlugRef::Build(b), None)
        .await
        .unwrap();
    core.patch_config(&a, &app, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    core.set_port(&a, &app, 8080).await.unwrap();
    // A no-op change consumes no version.
    core.patch_config(&a, &app, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    core.set_port(&a, &app, 8080).await.unwrap();
    core.patch_config(&a, &app, set(&[("A", None)]))
        .await
        .unwrap();
    let versions: Vec<i32> = all_releases(&core, &a, &app)
        .await
        .iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn concurrent_writers_get_distinct_gapless_versions() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (core, a, app) = (core.clone(), a.clone(), app.clone());
            tokio::spawn(async move {
                core.patch_config(&a, &app, set(&[(&format!("K{i}"), Some("v"))]))
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap().release.is_some());
    }
    let versions: Vec<i32> = all_releases(&core, &a, &app)
        .await
        .iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, (1..=40).collect::<Vec<_>>());
    let config = core
        .config_vars(&a, &fresh(&core, &app).await)
        .await
        .unwrap();
    assert_eq!(
        config.len(),
        40,
        "every change is kept: each release builds on the one before"
    );
}

#[tokio::test]
async fn config_changes_are_described_with_sorted_keys() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    let d = |o: slipway_core::ledger::config::ConfigOutcome| o.release.unwrap().description;
    assert_eq!(
        d(core
            .patch_config(&a, &app, set(&[("FOO", Some("1")), ("BAR", Some("2"))]))
            .await
            .unwrap()),
        "Set BAR, FOO config vars"
    );
    assert_eq!(
        d(core
            .patch_config(&a, &app, set(&[("FOO", None)]))
            .await
            .unwrap()),
        "Remove FOO config vars"
    );
    assert_eq!(
        d(core
            .patch_config(&a, &app, set(&[("ZED", Some("1")), ("BAR", None)]))
            .await
            .unwrap()),
        "Set ZED; remove BAR config vars"
    );
    let (_, r) = core.set_port(&a, &app, 8080).await.unwrap();
    assert_eq!(r.unwrap().description, "Set PORT to 8080");
}

#[tokio::test]
async fn config_changes_that_are_refused_write_nothing() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.patch_config(&a, &app, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    // Removing a missing key, even next to a valid change, is a conflict and changes nothing.
    let r = core
        .patch_config(&a, &app, set(&[("B", Some("2")), ("MISSING", None)]))
        .await;
    assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
    for reserved in ["PORT", "AKKERIS_X", "SLIPWAY_Y"] {
        let r = core
            .patch_config(&a, &app, set(&[(reserved, Some("1"))]))
            .await;
        assert!(matches!(r, Err(Error::Conflict(_))), "{reserved}: {r:?}");
    }
    assert!(matches!(
        core.patch_config(&a, &app, vec![]).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        core.set_port(&a, &app, 70000).await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(all_releases(&core, &a, &app).await.len(), 1);
    let config = core
        .config_vars(&a, &fresh(&core, &app).await)
        .await
        .unwrap();
    assert_eq!(
        config.into_iter().collect::<Vec<_>>(),
        vec![("A".to_owned(), "1".to_owned())]
    );
}

#[tokio::test]
async fn viewers_see_config_keys_with_masked_values() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.patch_config(&a, &app, set(&[("SECRET", Some("hunter2"))]))
        .await
        .unwrap();
    let viewer = Actor {
        role: Role::Viewer,
        ..a.clone()
    };
    let config = core.config_vars(&viewer, &app).await.unwrap();
    assert_eq!(config.get("SECRET").map(String::as_str), Some("***"));
    assert!(matches!(
        core.reveal_config_var(&viewer, &app, &ConfigKey::parse("SECRET").unwrap())
            .await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(
        core.reveal_config_var(&a, &app, &ConfigKey::parse("SECRET").unwrap())
            .await
            .unwrap(),
        "hunter2"
    );
}

#[tokio::test]
async fn config_values_are_not_readable_in_the_tables() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    let secret = "correct-horse-battery-staple";
    core.patch_config(&a, &app, set(&[("DATABASE_URL", Some(secret))]))
        .await
        .unwrap();
    let b = image_build(&core, &a, &app, "web:1").await;
    core.deploy(&a, &app, SlugRef::Build(b), None)
        .await
        .unwrap();
    // Dump every table as text and look for the value.
    let tables: Vec<String> = sqlx::query_scalar(
        "select quote_ident(table_schema) || '.' || quote_ident(table_name) from information_schema.tables
         where table_schema in ('public', 'tower_sessions') and table_type = 'BASE TABLE'",
    )
    .fetch_all(core.pool())
    .await
    .unwrap();
    assert!(tables.len() > 5);
    for t in tables {
        let dump: Option<String> =
            sqlx::query_scalar(&format!("select string_agg(x::text, '\n') from {t} x"))
                .fetch_one(core.pool())
                .await
                .unwrap();
        let dump = dump.unwrap_or_default();
        assert!(!dump.contains(secret), "{t} holds the value in clear");
        assert!(
            !dump.contains(&hex_of(secret)),
            "{t} holds the value as hex"
        );
    }
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn rollback_copies_slug_config_and_port_of_the_target() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    let b1 = image_build(&core, &a, &app, "web:1").await;
    core.patch_config(&a, &app, set(&[("A", Some("old"))]))
        .await
        .unwrap(); // v1
    core.deploy(&a, &app, SlugRef::Build(b1), None)
        .await
        .unwrap(); // v2
                   // Deployed before the next change (a release superseded while queued is skipped).
    drain(&core).await;
    let b2 = image_build(&core, &a, &app, "web:2").await;
    core.patch_config(&a, &app, set(&[("A", Some("new")), ("B", Some("x"))]))
        .await
        .unwrap(); // v3
    core.set_port(&a, &app, 8080).await.unwrap(); // v4
    core.deploy(&a, &app, SlugRef::Build(b2), None)
        .await
        .unwrap(); // v5
    drain(&core).await;
    let app = fresh(&core, &app).await;
    let r = core.rollback(&a, &app, v(2)).await.unwrap();
    assert_eq!((r.version, r.description.as_str()), (6, "Rollback to v2"));
    assert_eq!(r.kind, ReleaseKind::Rollback);
    assert_eq!(r.build_id, Some(b1));
    assert_eq!(r.port, 9000);
    assert_eq!(r.rollback_of, Some(2));
    let config = core.config_vars(&a, &app).await.unwrap();
    assert_eq!(
        config.into_iter().collect::<Vec<_>>(),
        vec![("A".to_owned(), "old".to_owned())]
    );
    drain(&core).await;
    let app = fresh(&core, &app).await;
    assert_eq!(app.current_version, Some(6));
    assert_eq!(app.image.as_deref(), Some("web:1"));
}

#[tokio::test]
async fn rollback_to_the_current_release_is_refused() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.patch_config(&a, &app, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    core.patch_config(&a, &app, set(&[("A", Some("2"))]))
        .await
        .unwrap();
    drain(&core).await;
    let app = fresh(&core, &app).await;
    let r = core.rollback(&a, &app, v(2)).await;
    assert!(
        matches!(&r, Err(Error::Conflict(m)) if m.contains("current")),
        "{r:?}"
    );
    assert_eq!(all_releases(&core, &a, &app).await.len(), 2);
}

#[tokio::test]
async fn rollback_to_a_release_that_has_not_succeeded_is_refused() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.patch_config(&a, &app, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    drain(&core).await;
    core.patch_config(&a, &app, set(&[("A", Some("2"))]))
        .await
        .unwrap(); // v2 stays queued
    core.patch_config(&a, &app, set(&[("A", Some("3"))]))
        .await
        .unwrap(); // v3 queued too
    let app = fresh(&core, &app).await;
    let r = core.rollback(&a, &app, v(2)).await;
    assert!(
        matches!(&r, Err(Error::Conflict(m)) if m.contains("not succeeded")),
        "{r:?}"
    );
    // A failed release is refused too.
    sqlx::query("update releases set status = 'failed' where version = 2")
        .execute(core.pool())
        .await
        .unwrap();
    let r = core.rollback(&a, &app, v(2)).await;
    assert!(
        matches!(&r, Err(Error::Conflict(m)) if m.contains("failed")),
        "{r:?}"
    );
    assert_eq!(all_releases(&core, &a, &app).await.len(), 3);
}

#[tokio::test]
async fn rollback_to_another_apps_release_is_not_found() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let one = new_app(&core, &a, "one-prod").await;
    let two = new_app(&core, &a, "two-prod").await;
    let r1 = core
        .patch_config(&a, &one, set(&[("A", Some("1"))]))
        .await
        .unwrap()
        .release
        .unwrap();
    core.patch_config(&a, &two, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    core.patch_config(&a, &two, set(&[("A", Some("2"))]))
        .await
        .unwrap();
    drain(&core).await;
    let two = fresh(&core, &two).await;
    let r = core.rollback(&a, &two, ReleaseRef::Id(r1.id)).await;
    assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
    let r = core.rollback(&a, &two, v(9)).await;
    assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
}

#[tokio::test]
async fn rollback_pauses_auto_release_and_leaves_addons_alone() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.set_feature(&a, &app, "auto-release", true)
        .await
        .unwrap();
    image_build(&core, &a, &app, "web:1").await; // v1, auto-deployed
    drain(&core).await;
    image_build(&core, &a, &app, "web:2").await; // v2
    drain(&core).await;
    let rels = all_releases(&core, &a, &app).await;
    assert!(
        rels[0].description.starts_with("Auto-Deploy "),
        "{}",
        rels[0].description
    );
    assert_eq!(rels[0].description.len(), "Auto-Deploy ".len() + 8);
    sqlx::query("update releases set addon_plan_names = '{pg:small}' where version = 2")
        .execute(core.pool())
        .await
        .unwrap();
    let app = fresh(&core, &app).await;
    let r = core.rollback(&a, &app, v(1)).await.unwrap();
    assert_eq!(
        r.addon_plan_names,
        vec!["pg:small".to_owned()],
        "add-ons are not touched"
    );
    let app = fresh(&core, &app).await;
    assert!(!app.auto_release && app.auto_release_paused);
    // While paused, a succeeded build is not released.
    image_build(&core, &a, &app, "web:3").await;
    assert_eq!(all_releases(&core, &a, &app).await.len(), 3);
    // Resuming switches it back on.
    core.set_feature(&a, &app, "auto-release", true)
        .await
        .unwrap();
    let app = fresh(&core, &app).await;
    assert!(app.auto_release && !app.auto_release_paused);
}

#[tokio::test]
async fn deploys_need_a_succeeded_build_of_the_same_app() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let one = new_app(&core, &a, "one-prod").await;
    let two = new_app(&core, &a, "two-prod").await;
    let theirs = image_build(&core, &a, &two, "two:1").await;
    assert!(matches!(
        core.deploy(&a, &one, SlugRef::Build(theirs), None).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        core.deploy(&a, &one, SlugRef::Build(uuid::Uuid::new_v4()), None)
            .await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        core.deploy(&a, &one, SlugRef::Latest, None).await,
        Err(Error::Conflict(_))
    ));
    let mine = image_build(&core, &a, &one, "one:1").await;
    let r = core.deploy(&a, &one, SlugRef::Latest, None).await.unwrap();
    assert_eq!(r.description, format!("Deploy of {mine}"));
    assert_eq!(r.status, ReleaseStatus::Queued);
    assert!(all_releases(&core, &a, &two).await.is_empty());
}

/// A runtime whose deploys wait for the test to open a gate, and count themselves.
struct Gated {
    gate: tokio::sync::Semaphore,
    deploys: std::sync::atomic::AtomicUsize,
}

impl Default for Gated {
    fn default() -> Self {
        Gated {
            gate: tokio::sync::Semaphore::new(0),
            deploys: Default::default(),
        }
    }
}

impl Gated {
    fn open(&self, deploys: usize) {
        self.gate.add_permits(deploys);
    }
}

#[async_trait::async_trait]
impl slipway_core::runtime::Runtime for Gated {
    async fn deploy(&self, _d: &slipway_core::runtime::Deployment) -> anyhow::Result<()> {
        self.deploys
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.gate.acquire().await?.forget();
        Ok(())
    }
}

/// Waits (up to ten seconds) until release `version` of `app` has `status`.
async fn release_becomes(core: &Core, app: &App, version: i32, status: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now: String =
            sqlx::query_scalar("select status from releases where app_id = $1 and version = $2")
                .bind(app.id)
                .bind(version)
                .fetch_one(core.pool())
                .await
                .unwrap();
        if now == status {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "v{version} stayed {now}, never {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_queue_deploys_each_apps_releases_one_at_a_time_in_order() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let one = new_app(&core, &a, "one-prod").await;
    let two = new_app(&core, &a, "two-prod").await;
    core.patch_config(&a, &one, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    core.patch_config(&a, &two, set(&[("A", Some("x"))]))
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let j1 = core.claim_job("w1", lease).await.unwrap().unwrap();
    let j2 = core.claim_job("w2", lease).await.unwrap().unwrap();
    assert_eq!((j1.app_id, j2.app_id), (one.id, two.id));
    // one's v1 deploys, held open by the gate; its v2 waits for it.
    let gated = Arc::new(Gated::default());
    let running = {
        let (core, engines) = (core.clone(), Engines::with_runtime(gated.clone()));
        tokio::spawn(async move { core.run_job(&j1, &engines).await })
    };
    release_becomes(&core, &one, 1, "pending").await;
    core.patch_config(&a, &one, set(&[("A", Some("2"))]))
        .await
        .unwrap();
    assert!(core.claim_job("w3", lease).await.unwrap().is_none());
    gated.open(1);
    running.await.unwrap().unwrap();
    let j3 = core.claim_job("w3", lease).await.unwrap().unwrap();
    let v: i32 = sqlx::query_scalar("select version from releases where id = $1")
        .bind(j3.release_id)
        .fetch_one(core.pool())
        .await
        .unwrap();
    assert_eq!((j3.app_id, v), (one.id, 2));
    core.run_job(&j3, &Engines::with_runtime(Arc::new(NoopRuntime)))
        .await
        .unwrap();
    core.run_job(&j2, &Engines::with_runtime(Arc::new(NoopRuntime)))
        .await
        .unwrap();
    drain(&core).await;
    let statuses: Vec<ReleaseStatus> = all_releases(&core, &a, &one)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![ReleaseStatus::Succeeded; 2]);
}

#[tokio::test]
async fn a_burst_of_changes_deploys_once_and_skips_the_superseded_releases() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.patch_config(&a, &app, set(&[("A", Some("0"))]))
        .await
        .unwrap();
    drain(&core).await;
    for i in 1..=5 {
        core.patch_config(&a, &app, set(&[("A", Some(&i.to_string()))]))
            .await
            .unwrap();
    }
    let counting = Arc::new(Gated::default());
    counting.open(100);
    let engines = Engines::with_runtime(counting.clone());
    while let Some(job) = core.claim_job("w", Duration::from_secs(60)).await.unwrap() {
        core.run_job(&job, &engines).await.unwrap();
    }
    assert_eq!(
        counting.deploys.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one restart for the burst"
    );
    let rels = all_releases(&core, &a, &app).await;
    let statuses: Vec<ReleaseStatus> = rels.iter().map(|r| r.status).collect();
    use ReleaseStatus::*;
    assert_eq!(
        statuses,
        vec![Succeeded, Skipped, Skipped, Skipped, Skipped, Succeeded]
    );
    assert!(rels[5].current);
    assert!(!rels[2].is_rollback_target() && rels[0].is_rollback_target());
    // A skipped release is no rollback target.
    assert!(matches!(
        core.rollback(&a, &app, v(3)).await,
        Err(Error::Conflict(_))
    ));
    let left: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(core.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn an_apps_deploys_do_not_wait_behind_its_build() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    let build = core
        .create_build(
            &a,
            &app,
            BuildRequest {
                url: "https://example.com/a.tgz".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let building = core.claim_job("w1", lease).await.unwrap().unwrap();
    assert_eq!(building.build_id, Some(build.id));
    // While the build holds its lane, a second build waits but a release deploys.
    core.create_build(
        &a,
        &app,
        BuildRequest {
            url: "https://example.com/b.tgz".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    core.patch_config(&a, &app, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    let deploy = core.claim_job("w2", lease).await.unwrap().unwrap();
    assert_eq!(deploy.kind, slipway_core::jobs::JobKind::Deploy);
    assert!(core.claim_job("w3", lease).await.unwrap().is_none());
}

#[tokio::test]
async fn a_worker_whose_lease_was_taken_over_changes_nothing() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.patch_config(&a, &app, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let first = core.claim_job("w1", lease).await.unwrap().unwrap();
    // w1 is held inside its deploy (frozen) until its lease runs out and w2 takes the job.
    let gated = Arc::new(Gated::default());
    let frozen = {
        let (core, engines) = (core.clone(), Engines::with_runtime(gated.clone()));
        let first = first.clone();
        tokio::spawn(async move { core.run_job(&first, &engines).await })
    };
    release_becomes(&core, &app, 1, "pending").await;
    sqlx::query("update jobs set locked_until = now() - interval '1 second'")
        .execute(core.pool())
        .await
        .unwrap();
    let second = core.claim_job("w2", lease).await.unwrap().unwrap();
    assert_eq!(second.id, first.id);
    assert_ne!(second.claim_id, first.claim_id);
    let failing = Arc::new(FailingRuntime);
    core.run_job(&second, &Engines::with_runtime(failing))
        .await
        .unwrap();
    release_becomes(&core, &app, 1, "failed").await;
    // w1 thaws: its deploy "succeeds", but its claim is gone: the record stays w2's.
    gated.open(1);
    frozen.await.unwrap().unwrap();
    let r = &all_releases(&core, &a, &app).await[0];
    assert_eq!(r.status, ReleaseStatus::Failed);
    assert!(!core.renew_lease(&first, lease).await.unwrap());
}

struct FailingRuntime;

#[async_trait::async_trait]
impl slipway_core::runtime::Runtime for FailingRuntime {
    async fn deploy(&self, _d: &slipway_core::runtime::Deployment) -> anyhow::Result<()> {
        anyhow::bail!("the container exited")
    }
}

#[tokio::test]
async fn a_job_whose_lease_expired_is_taken_again() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.patch_config(&a, &app, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let held = core.claim_job("dead-worker", lease).await.unwrap().unwrap();
    assert!(
        core.claim_job("w2", lease).await.unwrap().is_none(),
        "leased jobs are not shared"
    );
    // The worker died: its lease runs out.
    sqlx::query("update jobs set locked_until = now() - interval '1 second'")
        .execute(core.pool())
        .await
        .unwrap();
    let again = core.claim_job("w2", lease).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (held.id, 2));
    // The dead worker's late completion does not remove the job it no longer holds.
    core.run_job(&held, &Engines::with_runtime(Arc::new(NoopRuntime)))
        .await
        .unwrap();
    assert!(!core.renew_lease(&held, lease).await.unwrap());
    core.run_job(&again, &Engines::with_runtime(Arc::new(NoopRuntime)))
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(core.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    let rels = all_releases(&core, &a, &app).await;
    assert_eq!(rels[0].status, ReleaseStatus::Succeeded);
}

#[tokio::test]
async fn a_failed_deploy_leaves_the_previous_release_current() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.patch_config(&a, &app, set(&[("A", Some("1"))]))
        .await
        .unwrap();
    drain(&core).await;
    core.patch_config(&a, &app, set(&[("A", Some("2"))]))
        .await
        .unwrap();
    let job = core
        .claim_job("w", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    core.run_job(&job, &Engines::with_runtime(Arc::new(FailingRuntime)))
        .await
        .unwrap();
    let app = fresh(&core, &app).await;
    assert_eq!(app.current_version, Some(1));
    let rels = all_releases(&core, &a, &app).await;
    assert_eq!(rels[1].status, ReleaseStatus::Failed);
    assert!(rels[0].current && !rels[1].current);
}

#[tokio::test]
async fn tokens_are_stored_hashed_and_stop_working_when_revoked() {
    use slipway_core::access::users::LocalUsers;
    let core = testkit::fresh_core().await;
    let user = core.local_admin("ops").await.unwrap();
    let (token, text) = core.create_token(&user, "ci").await.unwrap();
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from api_tokens where position($1 in encode(token_hash, 'escape')) > 0",
    )
    .bind(&text)
    .fetch_one(core.pool())
    .await
    .unwrap();
    assert_eq!(stored, 0);
    let actor = core
        .authenticate_token(&text, LocalUsers::Allowed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((actor.login.as_str(), actor.role), ("ops", Role::Admin));
    assert!(core
        .authenticate_token(&text, LocalUsers::Refused)
        .await
        .unwrap()
        .is_none());
    assert!(core
        .authenticate_token("slw_nope", LocalUsers::Allowed)
        .await
        .unwrap()
        .is_none());
    core.revoke_token(&actor, token.id).await.unwrap();
    assert!(core
        .authenticate_token(&text, LocalUsers::Allowed)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_remembered_token_stops_acting_at_once_when_its_user_is_disabled_or_demoted() {
    use slipway_core::access::users::{GitHubSignIn, LocalUsers};
    let core = testkit::fresh_core().await;
    let who = GitHubSignIn {
        id: 4242,
        login: "jdoe".into(),
        name: None,
        email: None,
        token: "gho_x".into(),
        scopes: vec![],
    };
    let user = core.github_sign_in(&who, Role::Viewer, true).await.unwrap();
    let (_, text) = core.create_token(&user, "ci").await.unwrap();
    let as_token = || core.authenticate_token(&text, LocalUsers::Refused);
    // Remembered from here on.
    assert_eq!(as_token().await.unwrap().unwrap().role, Role::Admin);
    // Taken off SLIPWAY_ADMINS: the next sign-in makes them a viewer, and the token with it.
    core.github_sign_in(&who, Role::Viewer, false)
        .await
        .unwrap();
    assert_eq!(as_token().await.unwrap().unwrap().role, Role::Viewer);
    // No longer a member: the token stops at once, not when the remembered actor expires.
    core.set_user_allowed(user.id, false).await.unwrap();
    assert!(as_token().await.unwrap().is_none());
    core.set_user_allowed(user.id, true).await.unwrap();
    assert!(as_token().await.unwrap().is_some());
}

#[tokio::test]
async fn a_database_refuses_a_process_with_another_key() {
    let pool = testkit::fresh_pool().await;
    slipway_core::db::prepare(pool.clone(), slipway_core::crypto::SecretKey::generate())
        .await
        .unwrap();
    let other = slipway_core::db::prepare(pool, slipway_core::crypto::SecretKey::generate()).await;
    assert!(other
        .err()
        .unwrap()
        .to_string()
        .contains("SLIPWAY_SECRET_KEY"));
}

#[tokio::test]
async fn a_diff_names_image_port_config_keys_and_commits_between_two_releases() {
    use slipway_core::ledger::diff::KeyChange;
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    let commit = |sha: &str, msg: &str, image: &str| BuildRequest {
        url: format!("docker://{image}"),
        sha: Some(sha.into()),
        message: Some(msg.into()),
        author: Some("Jane Doe (jdoe)".into()),
        ..Default::default()
    };
    core.patch_config(&a, &app, set(&[("A", Some("1")), ("B", Some("2"))]))
        .await
        .unwrap(); // v1
    let b1 = core
        .create_build(&a, &app, commit("aaaaaaa1", "first", "web:1"))
        .await
        .unwrap()
        .id;
    core.deploy(&a, &app, SlugRef::Build(b1), None)
        .await
        .unwrap(); // v2
    core.create_build(&a, &app, commit("bbbbbbb2", "second", "web:2"))
        .await
        .unwrap();
    let b3 = core
        .create_build(&a, &app, commit("ccccccc3", "third", "web:3"))
        .await
        .unwrap()
        .id;
    core.patch_config(
        &a,
        &app,
        set(&[("A", Some("changed")), ("B", None), ("C", Some("3"))]),
    )
    .await
    .unwrap(); // v3
    core.set_port(&a, &app, 8080).await.unwrap(); // v4
    core.deploy(&a, &app, SlugRef::Build(b3), None)
        .await
        .unwrap(); // v5
    drain(&core).await;
    let app = fresh(&core, &app).await;
    let d = core.diff(&a, &app, v(2), v(5)).await.unwrap();
    assert_eq!(
        (d.from.image.as_deref(), d.to.image.as_deref()),
        (Some("web:1"), Some("web:3"))
    );
    assert_eq!((d.from.port, d.to.port), (9000, 8080));
    assert_eq!(
        d.config,
        vec![
            ("A".into(), KeyChange::Changed),
            ("B".into(), KeyChange::Removed),
            ("C".into(), KeyChange::Added)
        ]
    );
    let shas: Vec<&str> = d.commits.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(
        shas,
        vec!["ccccccc3", "bbbbbbb2"],
        "the builds after v2's up to v5's, newest first"
    );
    assert!(d.to.current && !d.from.current);
    // Going back names the same commits (those being undone) and the reverse changes.
    let back = core.diff(&a, &app, v(5), v(2)).await.unwrap();
    assert_eq!(back.commits.len(), 2);
    assert_eq!(back.config[1], ("B".into(), KeyChange::Added));
    // Two releases of one build: no commits between them.
    assert!(core
        .diff(&a, &app, v(2), v(3))
        .await
        .unwrap()
        .commits
        .is_empty());
}

#[tokio::test]
async fn the_app_knows_when_it_runs_a_rolled_back_release() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.set_feature(&a, &app, "auto-release", true)
        .await
        .unwrap();
    image_build(&core, &a, &app, "web:1").await; // v1
    drain(&core).await;
    image_build(&core, &a, &app, "web:2").await; // v2
    drain(&core).await;
    let app = fresh(&core, &app).await;
    assert_eq!(core.rolled_back(&a, &app).await.unwrap(), None);
    core.rollback(&a, &app, v(1)).await.unwrap(); // v3
    drain(&core).await;
    let app = fresh(&core, &app).await;
    let rb = core.rolled_back(&a, &app).await.unwrap().unwrap();
    assert_eq!(
        (rb.running, rb.from, rb.release, rb.auto_release_paused),
        (1, 2, 3, true)
    );
    // A config change keeps the rolled-back image running.
    core.patch_config(&a, &app, set(&[("A", Some("1"))]))
        .await
        .unwrap(); // v4
    drain(&core).await;
    let app = fresh(&core, &app).await;
    assert_eq!(
        core.rolled_back(&a, &app).await.unwrap().map(|r| r.running),
        Some(1)
    );
    // Deploying a build ends it.
    let b = image_build(&core, &a, &app, "web:3").await;
    core.deploy(&a, &app, SlugRef::Build(b), None)
        .await
        .unwrap();
    drain(&core).await;
    let app = fresh(&core, &app).await;
    assert_eq!(core.rolled_back(&a, &app).await.unwrap(), None);
}

#[tokio::test]
async fn revealing_a_release_value_needs_the_deployer_role() {
    let core = testkit::fresh_core().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "web-prod").await;
    core.patch_config(&a, &app, set(&[("SECRET", Some("hunter2"))]))
        .await
        .unwrap();
    let v1 = v(1);
    let viewer = Actor {
        role: Role::Viewer,
        ..a.clone()
    };
    assert!(matches!(
        core.reveal_release_value(&viewer, &app, v1, "SECRET").await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(
        core.reveal_release_value(&a, &app, v1, "SECRET")
            .await
            .unwrap()
            .as_deref(),
        Some("hunter2")
    );
    assert_eq!(
        core.reveal_release_value(&a, &app, v1, "NOPE")
            .await
            .unwrap(),
        None
    );
}
