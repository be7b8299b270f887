//! Add-ons against real PostgreSQL: the built-in provider makes real databases and roles on
//! the test cluster, and each change is a release.

use std::collections::BTreeMap;
use std::sync::Arc;

use domain::{ReleaseKind, Role};
use slipway_core::access::authz::Actor;
use slipway_core::addons::postgres::BuiltinPostgres;
use slipway_core::addons::{Provider, Providers};
use slipway_core::ledger::apps::App;
use slipway_core::{Core, Error};
use sqlx::{Connection, PgConnection};

use super::ledger::{admin, all_releases, drain, fresh, image_build, new_app, set, v};

/// The test cluster's superuser, as the provider's admin.
fn admin_url() -> String {
    testkit::cluster().url("postgres")
}

fn builtin(url: &str) -> Providers {
    let p: Arc<dyn Provider> = Arc::new(BuiltinPostgres::new(url, None).unwrap());
    Providers::new(vec![p])
}

async fn core_with_addons() -> Core {
    testkit::fresh_core()
        .await
        .with_addon_providers(builtin(&admin_url()))
}

async fn config(core: &Core, a: &Actor, app: &App) -> BTreeMap<String, String> {
    core.config_vars(a, &fresh(core, app).await).await.unwrap()
}

async fn databases(name_like: &str) -> Vec<String> {
    let mut c = PgConnection::connect(&admin_url()).await.unwrap();
    sqlx::query_scalar("select datname::text from pg_database where datname like $1 order by 1")
        .bind(name_like)
        .fetch_all(&mut c)
        .await
        .unwrap()
}

async fn roles(name_like: &str) -> Vec<String> {
    let mut c = PgConnection::connect(&admin_url()).await.unwrap();
    sqlx::query_scalar("select rolname::text from pg_roles where rolname like $1 order by 1")
        .bind(name_like)
        .fetch_all(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_postgres_addon_is_an_attach_release_with_a_working_database_and_destroy_removes_it() {
    let core = core_with_addons().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "shop-prod").await;
    core.patch_config(&a, &app, set(&[("FOO", Some("1"))]))
        .await
        .unwrap();
    let app = fresh(&core, &app).await;
    let made = core
        .create_addon(&a, &app, "slipway-postgresql:hobby", None)
        .await
        .unwrap();
    let addon = made.value;
    assert_eq!(addon.state, "provisioned");
    assert!(addon.name.starts_with("postgresql-"), "{}", addon.name);
    let r = made.release.unwrap();
    assert_eq!((r.version, r.kind), (2, ReleaseKind::Addon));
    assert_eq!(r.description, format!("Attach {}", addon.name));
    assert_eq!(r.addon_plan_names, vec!["slipway-postgresql:hobby"]);

    let env = config(&core, &a, &app).await;
    assert_eq!(env["FOO"], "1", "the user's vars stay");
    let url = env["DATABASE_URL"].clone();
    let ident = BuiltinPostgres::ident(addon.id);
    assert!(url.starts_with(&format!("postgres://{ident}:")), "{url}");
    assert!(url.ends_with(&format!("/{ident}")), "{url}");

    // The database works under its own role, with the plan's limits.
    let mut db = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("create table t (x int); insert into t values (42)")
        .execute(&mut db)
        .await
        .unwrap();
    let (user, timeout): (String, String) =
        sqlx::query_as("select current_user::text, current_setting('statement_timeout')")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!((user.as_str(), timeout.as_str()), (ident.as_str(), "30s"));
    let limit: i32 = sqlx::query_scalar("select rolconnlimit from pg_roles where rolname = $1")
        .bind(&ident)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(limit, 20);
    let superuser: bool =
        sqlx::query_scalar("select rolsuper from pg_roles where rolname = current_user")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert!(!superuser);
    db.close().await.unwrap();

    // Another add-on's role cannot reach this database.
    let other = core
        .create_addon(&a, &app, "slipway-postgresql:standard", Some("reports"))
        .await
        .unwrap();
    let env = config(&core, &a, &app).await;
    let other_url = env["REPORTS_DATABASE_URL"].clone();
    let (base, own_db) = other_url.rsplit_once('/').unwrap();
    assert_eq!(own_db, BuiltinPostgres::ident(other.value.id));
    let crossed = format!("{base}/{ident}");
    let err = PgConnection::connect(&crossed).await.unwrap_err();
    assert!(
        err.to_string().contains("permission denied"),
        "another add-on's role reached the database: {err}"
    );

    // Destroy: the Detach release, the var gone, the database and role dropped, even with a
    // connection open.
    let mut held = PgConnection::connect(&url).await.unwrap();
    let app = fresh(&core, &app).await;
    let gone = core.destroy_addon(&a, &app, &addon.name).await.unwrap();
    let r = gone.release.unwrap();
    assert_eq!(r.description, format!("Detach {}", addon.name));
    assert_eq!(r.addon_plan_names, vec!["slipway-postgresql:standard"]);
    let env = config(&core, &a, &app).await;
    assert!(!env.contains_key("DATABASE_URL"), "{env:?}");
    assert!(env.contains_key("REPORTS_DATABASE_URL"));
    assert!(databases(&ident).await.is_empty());
    assert!(roles(&ident).await.is_empty());
    assert!(sqlx::query("select 1").execute(&mut held).await.is_err());
    assert!(
        PgConnection::connect(&url).await.is_err(),
        "the URL still works"
    );
    let versions: Vec<i32> = all_releases(&core, &a, &app)
        .await
        .iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn add_on_vars_are_names_the_user_cannot_set_and_values_viewers_cannot_see() {
    let core = core_with_addons().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "shop-prod").await;
    let made = core
        .create_addon(&a, &app, "slipway-postgresql:hobby", Some("main-db"))
        .await
        .unwrap();
    let app = fresh(&core, &app).await;
    let err = core
        .patch_config(&a, &app, set(&[("DATABASE_URL", Some("postgres://mine"))]))
        .await
        .unwrap_err();
    match err {
        Error::Conflict(m) => assert!(m.contains("set by the add-on main-db"), "{m}"),
        e => panic!("{e:?}"),
    }
    assert!(core
        .patch_config(&a, &app, set(&[("DATABASE_URL", None)]))
        .await
        .is_err());
    assert_eq!(
        all_releases(&core, &a, &app).await.len(),
        1,
        "nothing written"
    );

    let viewer = Actor {
        role: Role::Viewer,
        login: "v".into(),
        ..a.clone()
    };
    let seen = core.config_vars(&viewer, &app).await.unwrap();
    assert_eq!(seen["DATABASE_URL"], "***");
    let vars = core.addon_vars(&viewer, &app, &made.value).await.unwrap();
    assert_eq!(vars["DATABASE_URL"], "***");
    let vars = core.addon_vars(&a, &app, &made.value).await.unwrap();
    assert!(vars["DATABASE_URL"].starts_with("postgres://"));
    assert!(matches!(
        core.create_addon(&viewer, &app, "slipway-postgresql:hobby", None)
            .await,
        Err(Error::Forbidden(_))
    ));

    // The credentials are not readable in the tables.
    let url = &vars["DATABASE_URL"];
    let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    for (table, col) in [("addons", "vars_enc"), ("releases", "addon_config_enc")] {
        let hits: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {table} where position($1::bytea in {col}) > 0"
        ))
        .bind(password.as_bytes())
        .fetch_one(core.pool())
        .await
        .unwrap();
        assert_eq!(hits, 0, "{table}.{col} holds the password in the clear");
    }

    // A user var of the same name blocks an attach, and nothing is left of the try.
    let other = new_app(&core, &a, "blog-prod").await;
    core.patch_config(&a, &other, set(&[("DATABASE_URL", Some("postgres://old"))]))
        .await
        .unwrap();
    let before = databases("addon_%").await;
    let other = fresh(&core, &other).await;
    let err = core
        .create_addon(&a, &other, "slipway-postgresql:hobby", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("already has a config var DATABASE_URL")),
        "{err:?}"
    );
    assert_eq!(databases("addon_%").await, before, "a database was left");
    assert!(core.addons(&a, &other).await.unwrap().is_empty());
    assert_eq!(all_releases(&core, &a, &other).await.len(), 1);
}

#[tokio::test]
async fn rollback_copies_the_users_vars_and_keeps_todays_addons() {
    let core = core_with_addons().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "shop-prod").await;
    image_build(&core, &a, &app, "shop:1").await;
    let app = fresh(&core, &app).await;
    core.deploy(
        &a,
        &app,
        slipway_core::ledger::releases::SlugRef::Latest,
        None,
    )
    .await
    .unwrap(); // v1
    core.patch_config(&a, &app, set(&[("FOO", Some("1"))]))
        .await
        .unwrap(); // v2
    drain(&core).await;
    let app = fresh(&core, &app).await;
    let first = core
        .create_addon(&a, &app, "slipway-postgresql:hobby", None)
        .await
        .unwrap(); // v3
    core.patch_config(&a, &app, set(&[("FOO", Some("2"))]))
        .await
        .unwrap(); // v4
    drain(&core).await;
    let url = config(&core, &a, &app).await["DATABASE_URL"].clone();

    // The dialog's diff: FOO changes, DATABASE_URL stays.
    let app = fresh(&core, &app).await;
    let d = core.diff(&a, &app, v(4), v(2)).await.unwrap();
    let keys: Vec<&str> = d.config.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["FOO"]);
    assert_eq!(d.addon_keys, vec!["DATABASE_URL"]);

    let r = core.rollback(&a, &app, v(2)).await.unwrap(); // v5
    assert_eq!(r.addon_plan_names, vec!["slipway-postgresql:hobby"]);
    let env = config(&core, &a, &app).await;
    assert_eq!(env["FOO"], "1");
    assert_eq!(env["DATABASE_URL"], url, "the live database stays attached");
    drain(&core).await;

    // Destroyed, then rolled back to a release that had it: the dead URL is not revived.
    let app = fresh(&core, &app).await;
    core.destroy_addon(&a, &app, &first.value.id.to_string())
        .await
        .unwrap(); // v6
    drain(&core).await;
    let app = fresh(&core, &app).await;
    let r = core.rollback(&a, &app, v(4)).await.unwrap(); // v7
    assert!(r.addon_plan_names.is_empty());
    let env = config(&core, &a, &app).await;
    assert_eq!(env["FOO"], "2");
    assert!(!env.contains_key("DATABASE_URL"), "{env:?}");
}

#[tokio::test]
async fn a_shared_addon_is_attached_elsewhere_and_cannot_be_destroyed_until_detached() {
    let core = core_with_addons().await;
    let a = admin(&core).await;
    let owner = new_app(&core, &a, "shop-prod").await;
    let other = new_app(&core, &a, "report-prod").await;
    let addon = core
        .create_addon(&a, &owner, "slipway-postgresql:hobby", None)
        .await
        .unwrap()
        .value;
    let id = addon.id.to_string();

    // Refusals write nothing.
    let refused = [
        core.attach_addon(&a, &owner, &id, None).await.unwrap_err(),
        core.attach_addon(&a, &other, &id, Some("1bad"))
            .await
            .unwrap_err(),
        core.attach_addon(&a, &other, "not-a-uuid", None)
            .await
            .unwrap_err(),
        core.attach_addon(&a, &other, &uuid::Uuid::new_v4().to_string(), None)
            .await
            .unwrap_err(),
        core.create_addon(&a, &other, "slipway-postgresql:nope", None)
            .await
            .unwrap_err(),
    ];
    let kinds: Vec<&str> = refused
        .iter()
        .map(|e| match e {
            Error::Conflict(_) => "409",
            Error::Invalid(_) => "422",
            Error::NotFound(_) => "404",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["409", "422", "404", "404", "422"], "{refused:?}");
    assert!(all_releases(&core, &a, &other).await.is_empty());

    let att = core.attach_addon(&a, &other, &id, None).await.unwrap();
    assert_eq!(att.value.attachment.name, addon.name);
    assert!(att.value.attachment.is_primary && !att.value.attachment.owner);
    let r = att.release.unwrap();
    assert_eq!(
        (r.version, r.description.as_str()),
        (1, format!("Attach {}", addon.name).as_str())
    );
    let shared_url = config(&core, &a, &other).await["DATABASE_URL"].clone();
    assert_eq!(shared_url, config(&core, &a, &owner).await["DATABASE_URL"]);
    assert!(matches!(
        core.attach_addon(&a, &other, &id, Some("again")).await,
        Err(Error::Conflict(_))
    ));

    // Listed as the CLI reads them: owned add-ons, and attachments of others'.
    assert_eq!(core.addons(&a, &other).await.unwrap().len(), 0);
    assert_eq!(core.addon_attachments(&a, &other).await.unwrap().len(), 1);
    assert_eq!(
        core.addon(&a, &other, &addon.name).await.unwrap().id,
        addon.id
    );
    let attached_to = core.attachments_of(&a, &addon).await.unwrap();
    assert_eq!(attached_to.len(), 2);

    let owner = fresh(&core, &owner).await;
    let before = all_releases(&core, &a, &owner).await.len();
    match core.destroy_addon(&a, &owner, &id).await.unwrap_err() {
        Error::Conflict(m) => assert!(m.contains("report-prod"), "{m}"),
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        core.destroy_addon(&a, &other, &id).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        core.delete_app(&a, "shop-prod").await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(all_releases(&core, &a, &owner).await.len(), before);
    assert!(PgConnection::connect(&shared_url).await.is_ok());

    let other = fresh(&core, &other).await;
    assert!(matches!(
        core.detach_addon(&a, &owner, &addon.name).await,
        Err(Error::Conflict(_))
    ));
    let d = core
        .detach_addon(&a, &other, &att.value.attachment.id.to_string())
        .await
        .unwrap();
    assert_eq!(
        d.release.unwrap().description,
        format!("Detach {}", addon.name)
    );
    assert!(!config(&core, &a, &other).await.contains_key("DATABASE_URL"));

    // Deleting the owner now removes its database.
    core.delete_app(&a, "shop-prod").await.unwrap();
    assert!(databases(&BuiltinPostgres::ident(addon.id))
        .await
        .is_empty());
}

#[tokio::test]
async fn a_provider_that_fails_leaves_nothing_and_says_so_without_its_internals() {
    let port = testkit::free_port().unwrap();
    let down = format!("postgres://postgres:hunter2@127.0.0.1:{port}/postgres");
    let core = testkit::fresh_core()
        .await
        .with_addon_providers(builtin(&down));
    let a = admin(&core).await;
    let app = new_app(&core, &a, "shop-prod").await;
    let err = core
        .create_addon(&a, &app, "slipway-postgresql:hobby", None)
        .await
        .unwrap_err();
    let (status, text) = err.public("test");
    assert_eq!(status, 502);
    assert!(
        !text.contains("hunter2") && !text.contains(&port.to_string()),
        "{text}"
    );
    assert!(core.addons(&a, &app).await.unwrap().is_empty());
    assert!(all_releases(&core, &a, &app).await.is_empty());
}

#[tokio::test]
async fn concurrent_creates_get_their_own_versions_and_one_primary() {
    let core = core_with_addons().await;
    let a = admin(&core).await;
    let app = new_app(&core, &a, "shop-prod").await;
    let (x, y) = tokio::join!(
        core.create_addon(&a, &app, "slipway-postgresql:hobby", Some("one")),
        core.create_addon(&a, &app, "slipway-postgresql:hobby", Some("two")),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let mut versions = [x.release.unwrap().version, y.release.unwrap().version];
    versions.sort();
    assert_eq!(versions, [1, 2]);
    let env = config(&core, &a, &app).await;
    let names: Vec<&str> = env.keys().map(String::as_str).collect();
    assert!(
        names == ["DATABASE_URL", "TWO_DATABASE_URL"]
            || names == ["DATABASE_URL", "ONE_DATABASE_URL"],
        "{names:?}"
    );
    // The same name twice is refused.
    assert!(matches!(
        core.create_addon(&a, &app, "slipway-postgresql:hobby", Some("ONE"))
            .await,
        Err(Error::Conflict(_))
    ));
}
