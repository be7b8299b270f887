//! Add-ons over the Platform API, with the Akkeris CLI's exact requests (its
//! `plugins/addons/index.js`), against the built-in PostgreSQL add-on on real servers.

use crate::support;

use serde_json::{json, Value};
use sqlx::Connection;
use support::{Api, Slipway};

/// A server whose built-in PostgreSQL add-on makes databases on the test cluster.
async fn slipway_with_addons() -> Slipway {
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    let admin = testkit::cluster().url("postgres");
    Slipway::start(&[
        ("DATABASE_URL", &url),
        ("SLIPWAY_SECRET_KEY", &key),
        ("SLIPWAY_ADDON_POSTGRES_URL", &admin),
    ])
    .expect("slipway starts")
}

/// The Akkeris CLI prints add-ons and attachments with a printer that fails on null.
fn no_nulls(v: &Value, path: &str) {
    match v {
        Value::Null => panic!("{path} is null"),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| no_nulls(x, &format!("{path}[{i}]"))),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| no_nulls(x, &format!("{path}.{k}"))),
        _ => {}
    }
}

async fn releases(api: &Api, app: &str) -> Vec<Value> {
    api.get(&format!("/apps/{app}/releases"))
        .await
        .json()
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_cli_creates_lists_shares_detaches_and_destroys_a_postgres_addon() {
    let s = slipway_with_addons().await;
    let api = s.admin();
    let web = api.create_app("web", "prod").await;
    api.create_app("report", "prod").await;
    let report_id = api.get("/apps/report-prod").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // addons:services, addons:plans, addons:plans:info
    let services = api.get("/addon-services").await;
    assert_eq!(services.status, 200, "{}", services.text);
    let services = services.json();
    let pg = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "slipway-postgresql")
        .expect("the built-in service is listed")
        .clone();
    for field in ["human_name", "description", "id", "state"] {
        assert!(pg[field].is_string(), "{field}: {pg}");
    }
    let plans = api
        .get("/addon-services/slipway-postgresql/plans")
        .await
        .json();
    let names: Vec<&str> = plans
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["slipway-postgresql:hobby", "slipway-postgresql:standard"]
    );
    assert!(plans[0]["price"]["cents"].is_number() && plans[0]["state"] == "public");
    let plan = api
        .get("/addon-services/slipway-postgresql/plans/hobby")
        .await;
    assert_eq!(plan.status, 200);
    assert!(plan.json()["provisioned_by"].is_array());
    assert_eq!(api.get("/addon-services/nope/plans").await.status, 404);

    // addons:create slipway-postgresql:hobby -a web-prod (the CLI drops `as` and `name` when
    // not given).
    let made = api
        .post(
            "/apps/web-prod/addons",
            r#"{"plan":"slipway-postgresql:hobby","attachment":{}}"#,
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let addon = made.json();
    no_nulls(&addon, "the created add-on");
    assert_eq!(addon["state"], "provisioned");
    assert_eq!(addon["plan"]["name"], "slipway-postgresql:hobby");
    assert_eq!(addon["addon_service"]["name"], "slipway-postgresql");
    assert_eq!(addon["app"]["name"], "web-prod");
    assert_eq!(addon["primary"], true);
    let name = addon["name"].as_str().unwrap().to_owned();
    let id = addon["id"].as_str().unwrap().to_owned();
    let url = addon["config_vars"]["DATABASE_URL"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with("postgres://"), "{url}");

    let rels = releases(&api, "web-prod").await;
    let last = rels.last().unwrap();
    assert_eq!(last["description"], format!("Attach {name}"));
    assert_eq!(
        last["addon_plan_names"],
        json!(["slipway-postgresql:hobby"])
    );
    let config = api.get("/apps/web-prod/config-vars").await.json();
    assert_eq!(config["DATABASE_URL"], url.as_str());

    // The database answers.
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(one, 1);
    c.close().await.unwrap();

    // aka addons -a web-prod; addons:info
    let list = api.get("/apps/web-prod/addons").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(
        api.get("/apps/web-prod/addon-attachments").await.json(),
        json!([])
    );
    let info = api
        .get(&format!("/apps/web-prod/addons/{name}"))
        .await
        .json();
    assert_eq!(info["id"], id.as_str());
    assert_eq!(
        info["attached_to"],
        json!([{"id": web["id"], "name": "web-prod", "owner": true}])
    );

    // Refusals, each with its reason, writing nothing.
    let count = releases(&api, "web-prod").await.len();
    let refused = [
        (
            api.patch("/apps/web-prod/config-vars", r#"{"DATABASE_URL":"x"}"#)
                .await,
            409,
            "set by the add-on",
        ),
        (
            api.post("/apps/web-prod/addons", r#"{"plan":"slipway-postgresql:huge"}"#)
                .await,
            422,
            "slipway-postgresql:huge",
        ),
        (
            api.post("/apps/web-prod/addons", r#"{"attachment":{}}"#).await,
            422,
            "plan",
        ),
        (
            api.post(
                "/apps/web-prod/addons",
                r#"{"plan":"slipway-postgresql:hobby","attachment":{"name":"way-too-long-a-name-for-it"}}"#,
            )
            .await,
            422,
            "attachment name",
        ),
        (
            api.post(
                "/apps/web-prod/addons",
                &format!(r#"{{"plan":"slipway-postgresql:hobby","attachment":{{"name":"{name}"}}}}"#),
            )
            .await,
            409,
            "choose another name",
        ),
        (
            api.post(
                "/apps/web-prod/addon-attachments",
                &format!(r#"{{"app":"{}","addon":"{id}","force":false,"name":null}}"#, web["id"].as_str().unwrap()),
            )
            .await,
            409,
            "cannot be attached to the app that owns it",
        ),
        (api.get("/apps/web-prod/addons/nothing-here").await, 404, "nothing-here"),
        (
            api.post("/apps/web-prod/addons", r#"{"plan":"#).await,
            400,
            "Malformed JSON",
        ),
    ];
    for (a, status, text) in &refused {
        assert_eq!(a.status, *status, "{}", a.text);
        assert!(a.text.contains(text), "{status}: {}", a.text);
    }
    assert_eq!(releases(&api, "web-prod").await.len(), count);
    assert_eq!(
        api.get("/apps/web-prod/addons")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // addons:attach ID -a report-prod --as shared: GET /apps/report-prod, then the POST.
    let att = api
        .post(
            "/apps/report-prod/addon-attachments",
            &format!(r#"{{"app":"{report_id}","addon":"{id}","force":false,"name":"shared"}}"#),
        )
        .await;
    assert_eq!(att.status, 201, "{}", att.text);
    let att = att.json();
    no_nulls(&att, "the attachment");
    assert_eq!(att["name"], "shared");
    assert_eq!(att["addon"]["app"]["name"], "web-prod");
    assert_eq!(att["app"]["name"], "report-prod");
    assert_eq!(att["primary"], true);
    let att_id = att["id"].as_str().unwrap().to_owned();
    let listed = api.get("/apps/report-prod/addon-attachments").await.json();
    assert_eq!(listed[0]["id"], att_id.as_str());
    assert_eq!(
        api.get("/apps/report-prod/config-vars").await.json()["DATABASE_URL"],
        url.as_str()
    );
    assert_eq!(
        releases(&api, "report-prod").await[0]["description"],
        "Attach shared"
    );

    // addons:destroy while shared: 409, nothing changes.
    let d = api.delete(&format!("/apps/web-prod/addons/{name}")).await;
    assert_eq!(d.status, 409, "{}", d.text);
    assert!(d.text.contains("report-prod"), "{}", d.text);
    assert_eq!(releases(&api, "web-prod").await.len(), count);

    // addons:detach ID -a report-prod
    let gone = api
        .delete(&format!("/apps/report-prod/addon-attachments/{att_id}"))
        .await;
    assert_eq!(gone.status, 200, "{}", gone.text);
    assert_eq!(
        releases(&api, "report-prod").await.last().unwrap()["description"],
        "Detach shared"
    );
    assert!(api.get("/apps/report-prod/config-vars").await.json()["DATABASE_URL"].is_null());

    // addons:destroy NAME -a web-prod --confirm NAME
    let d = api.delete(&format!("/apps/web-prod/addons/{name}")).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.json()["state"], "deprovisioned");
    assert_eq!(d.json()["name"], name.as_str());
    let rels = releases(&api, "web-prod").await;
    assert_eq!(
        rels.last().unwrap()["description"],
        format!("Detach {name}")
    );
    assert_eq!(rels.last().unwrap()["addon_plan_names"], json!([]));
    assert!(api.get("/apps/web-prod/config-vars").await.json()["DATABASE_URL"].is_null());
    assert!(sqlx::PgConnection::connect(&url).await.is_err());
    assert_eq!(api.get("/apps/web-prod/addons").await.json(), json!([]));

    // The credentials never reached the log.
    let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert!(!s.logs().contains(password), "the log holds the password");
}

#[tokio::test]
async fn without_an_addon_server_no_service_is_offered() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    assert_eq!(api.get("/addon-services").await.json(), json!([]));
    let a = api
        .post(
            "/apps/web-prod/addons",
            r#"{"plan":"slipway-postgresql:hobby"}"#,
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert!(releases(&api, "web-prod").await.is_empty());
    // A viewer may not create one.
    assert_eq!(s.anonymous().get("/addon-services").await.status, 401);
}

/// The app the embedded add-on is checked from: at each start it logs in with its
/// `DATABASE_URL` and counts its starts in a table, tries a wrong password and another
/// database, and serves what each said.
const PSQL_APP: &str = r#"FROM slipway-test/psql
ENV PGCONNECT_TIMEOUT=5 PGOPTIONS="-c client_min_messages=warning"
CMD ["sh", "-c", "mkdir -p /www; { psql \"$DATABASE_URL\" -qtAc 'create table if not exists starts (at timestamptz default now()); insert into starts default values; select current_user || chr(32) || count(*) from starts'; psql \"$(echo \"$DATABASE_URL\" | sed 's/:[^:@]*@/:wrong@/')\" -tAc 'select 1'; psql \"$(echo \"$DATABASE_URL\" | sed 's|/[^/]*$|/postgres|')\" -tAc 'select 1'; } > /www/index.html 2>&1; exec httpd -f -p \"$PORT\" -h /www"]
"#;

/// What the app's page says once release `version` runs.
async fn page(api: &Api, app: &str, version: i64) -> Vec<String> {
    let r = support::settled(api, app, version).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let url = api.get(&format!("/apps/{app}")).await.json()["web_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = support::client()
        .get(format!("{url}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn the_embedded_addon_cluster_serves_the_apps_containers_and_outlives_a_restart() {
    support::docker_build("slipway-test/psql-app", PSQL_APP, &[]);
    let dir = crate::embedded_pg::DataDir::new();
    let port = testkit::free_port().unwrap().to_string();
    let env = [
        ("SLIPWAY_DATA_DIR", dir.s()),
        ("SLIPWAY_ADDON_POSTGRES_PORT", port.as_str()),
    ];
    let mut s = Slipway::start(&env).expect("slipway starts");
    let api = s.admin();
    api.create_app("shop", "prod").await;
    let b = api
        .post(
            "/apps/shop-prod/builds",
            r#"{"url":"docker://slipway-test/psql-app"}"#,
        )
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    let r = api
        .post(
            "/apps/shop-prod/releases",
            &json!({"slug": b.json()["id"]}).to_string(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let made = api
        .post(
            "/apps/shop-prod/addons",
            r#"{"plan":"slipway-postgresql:hobby","attachment":{"name":"main"}}"#,
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let addon = made.json();
    let url = addon["config_vars"]["DATABASE_URL"]
        .as_str()
        .unwrap()
        .to_owned();
    let (gateway, _) = slipway_core::runtime::bridge_network().await.unwrap();
    assert!(
        url.contains(&format!("@{gateway}:{port}/")),
        "the URL names the engine's gateway: {url}"
    );
    let role = format!("addon_{}", addon["id"].as_str().unwrap().replace('-', ""));
    // v2 attaches it; the container logs in, and only as it should.
    let lines = page(&api, "shop-prod", 2).await;
    assert_eq!(
        lines.first().map(String::as_str),
        Some(format!("{role} 1").as_str()),
        "{lines:?}"
    );
    let rest = lines[1..].join("\n");
    assert!(
        rest.contains("password authentication failed"),
        "a wrong password got in: {rest}"
    );
    assert!(
        rest.contains("no pg_hba.conf entry") && rest.contains("database \"postgres\""),
        "the role reached another database: {rest}"
    );

    // Slipway restarts; the cluster and its data stay, and a new release logs in again.
    s.terminate();
    let s = Slipway::start(&env).expect("slipway starts again");
    let api = s.admin();
    // A second process on the same data directory, configured with another port, uses the
    // running cluster where it listens (it used to wait two minutes for one on its own port).
    let started = std::time::Instant::now();
    let other = Slipway::start(&[
        ("SLIPWAY_DATA_DIR", dir.s()),
        ("SLIPWAY_NO_WORKER", "true"),
        ("SLIPWAY_ADDON_POSTGRES_PORT", "54999"),
    ])
    .expect("a second slipway starts");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let services = other.admin().get("/addon-services").await.json();
    assert_eq!(services[0]["name"], "slipway-postgresql", "{services}");
    drop(other);
    let r = api
        .patch("/apps/shop-prod/config-vars", r#"{"AGAIN":"1"}"#)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let lines = page(&api, "shop-prod", 3).await;
    assert_eq!(
        lines.first().map(String::as_str),
        Some(format!("{role} 2").as_str()),
        "{lines:?}"
    );

    // Destroyed: the next release's container has no database.
    let d = api.delete("/apps/shop-prod/addons/main").await;
    assert_eq!(d.status, 200, "{}", d.text);
    let lines = page(&api, "shop-prod", 4).await;
    assert!(!lines.join("\n").contains(&role), "{lines:?}");
}

/// The broker's credential, as `SLIPWAY_OSB_CREDENTIALS` and inside a broker URL.
const BROKER_USER: &str = "platform";
const BROKER_PASSWORD: &str = "a-long-broker-secret";

/// A Slipway serving its built-in PostgreSQL add-on (on `admin`) as a broker; and its
/// database's URL, to look at what it keeps.
async fn broker_slipway(admin: &str) -> (Slipway, String) {
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    let cred = format!("{BROKER_USER}:{BROKER_PASSWORD}");
    let s = Slipway::start(&[
        ("DATABASE_URL", &url),
        ("SLIPWAY_SECRET_KEY", &key),
        ("SLIPWAY_ADDON_POSTGRES_URL", admin),
        ("SLIPWAY_OSB_CREDENTIALS", &cred),
    ])
    .expect("the broker slipway starts");
    (s, url)
}

/// A Slipway whose add-ons come from the broker at `broker`, with `password`.
async fn platform_slipway(broker: &Slipway, password: &str, extra: &[(&str, &str)]) -> Slipway {
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    let port = broker.url("").rsplit(':').next().unwrap().to_owned();
    let spec = format!("pg=http://{BROKER_USER}:{password}@127.0.0.1:{port}/osb");
    let mut env = vec![
        ("DATABASE_URL", url.as_str()),
        ("SLIPWAY_SECRET_KEY", key.as_str()),
        ("SLIPWAY_ADDON_BROKERS", spec.as_str()),
    ];
    env.extend_from_slice(extra);
    Slipway::start(&env).expect("the platform slipway starts")
}

/// Counts rows of `table` in the database at `url`.
async fn rows(url: &str, table: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// Waits (up to 60 s) until the add-on leaves `provisioning`; answers it.
async fn provisioned(api: &Api, app: &str, id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let a = api.get(&format!("/apps/{app}/addons/{id}")).await.json();
        if a["state"] != "provisioning" {
            return a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the add-on was still provisioning after 60 s: {a}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_slipway_uses_anothers_broker_from_catalog_to_deprovision() {
    let (b, b_db) = broker_slipway(&testkit::cluster().url("postgres")).await;
    let http = support::client();
    let osb = |path: &str| b.url(&format!("/osb/v2/{path}"));

    // The broker's own door: basic auth, then the API version.
    let anon = http
        .get(osb("catalog"))
        .header("X-Broker-API-Version", "2.17")
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    let wrong = http
        .get(osb("catalog"))
        .basic_auth(BROKER_USER, Some("not-the-password"))
        .header("X-Broker-API-Version", "2.17")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let old = http
        .get(osb("catalog"))
        .basic_auth(BROKER_USER, Some(BROKER_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 412, "no X-Broker-API-Version");
    let catalog: Value = http
        .get(osb("catalog"))
        .basic_auth(BROKER_USER, Some(BROKER_PASSWORD))
        .header("X-Broker-API-Version", "2.17")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(catalog["services"][0]["name"], "slipway-postgresql");
    assert_eq!(catalog["services"][0]["bindable"], true);
    let sync = http
        .put(osb("service_instances/x1"))
        .basic_auth(BROKER_USER, Some(BROKER_PASSWORD))
        .header("X-Broker-API-Version", "2.17")
        .json(&json!({"service_id": catalog["services"][0]["id"], "plan_id": catalog["services"][0]["plans"][0]["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync.status(),
        422,
        "an asynchronous broker needs accepts_incomplete"
    );
    assert_eq!(
        sync.json::<Value>().await.unwrap()["error"],
        "AsyncRequired"
    );

    // The platform offers the broker's services beside its own built-in one (the same name,
    // so the broker's is offered under its name), and provisions through it.
    let admin = testkit::cluster().url("postgres");
    let a = platform_slipway(
        &b,
        BROKER_PASSWORD,
        &[("SLIPWAY_ADDON_POSTGRES_URL", &admin)],
    )
    .await;
    let api = a.admin();
    let services = api.get("/addon-services").await.json();
    let names: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["pg-slipway-postgresql", "slipway-postgresql"],
        "{services}"
    );
    api.create_app("shop", "prod").await;
    // A built-in add-on beside it is made and removed by the built-in provider, never by the
    // broker that offers the same plans.
    let own = api
        .post(
            "/apps/shop-prod/addons",
            r#"{"plan":"slipway-postgresql:hobby","attachment":{"name":"local"}}"#,
        )
        .await;
    assert_eq!(own.status, 201, "{}", own.text);
    let own = own.json();
    assert_eq!(own["state"], "provisioned");
    assert_eq!(rows(&b_db, "broker_instances").await, 0);
    let d = api.delete("/apps/shop-prod/addons/local").await;
    assert_eq!(d.status, 200, "{}", d.text);
    let local_url = own["config_vars"]["DATABASE_URL"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        sqlx::PgConnection::connect(&local_url).await.is_err(),
        "the built-in database is gone"
    );
    let made = api
        .post(
            "/apps/shop-prod/addons",
            r#"{"plan":"pg-slipway-postgresql:hobby","attachment":{"name":"db"}}"#,
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let made = made.json();
    assert_eq!(
        made["state"], "provisioning",
        "the broker provisions asynchronously"
    );
    assert_eq!(
        releases(&api, "shop-prod").await.len(),
        2,
        "no release before it is ready"
    );
    let id = made["id"].as_str().unwrap().to_owned();
    let done = provisioned(&api, "shop-prod", &id).await;
    assert_eq!(done["state"], "provisioned", "{done}");
    let rels = releases(&api, "shop-prod").await;
    let said: Vec<&str> = rels
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    assert_eq!(said, ["Attach local", "Detach local", "Attach db"]);
    assert_eq!(
        rels[2]["addon_plan_names"],
        json!(["pg-slipway-postgresql:hobby"])
    );
    let url = api.get("/apps/shop-prod/config-vars").await.json()["DATABASE_URL"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("select 1").execute(&mut c).await.unwrap();
    c.close().await.unwrap();
    assert_eq!(rows(&b_db, "broker_instances").await, 1);
    assert_eq!(rows(&b_db, "broker_bindings").await, 1);

    // Destroyed on the platform: unbound and deprovisioned at the broker.
    let d = api.delete("/apps/shop-prod/addons/db").await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(
        releases(&api, "shop-prod").await.last().unwrap()["description"],
        "Detach db"
    );
    assert_eq!(rows(&b_db, "broker_instances").await, 0);
    assert!(
        sqlx::PgConnection::connect(&url).await.is_err(),
        "the database is gone"
    );
    for log in [a.logs(), b.logs()] {
        assert!(
            !log.contains(BROKER_PASSWORD),
            "a log holds the broker's password"
        );
    }
}

#[tokio::test]
async fn a_platform_with_the_wrong_password_is_refused_and_offers_nothing() {
    let (b, _) = broker_slipway(&testkit::cluster().url("postgres")).await;
    let a = platform_slipway(&b, "not-the-broker-secret", &[]).await;
    let api = a.admin();
    assert_eq!(api.get("/addon-services").await.json(), json!([]));
    let made = api.create_app("shop", "prod").await;
    assert!(made["id"].is_string());
    let refused = api
        .post(
            "/apps/shop-prod/addons",
            r#"{"plan":"slipway-postgresql:hobby"}"#,
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(a.logs().contains("answered 401"), "{}", a.logs());
    assert!(!a.logs().contains("not-the-broker-secret"));
}

#[tokio::test]
async fn a_broker_that_does_not_finish_in_time_fails_the_addon_and_is_cleaned_up() {
    // The gate: a server that accepts the broker's connections to its PostgreSQL and never
    // answers, so the broker's provisioning stays under way (until its 10 s connect limit).
    let gate = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = gate.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        loop {
            let (sock, _) = gate.accept().await.unwrap();
            open.push(sock);
        }
    });
    let (b, b_db) = broker_slipway(&format!("postgres://postgres@127.0.0.1:{port}/postgres")).await;
    let a = platform_slipway(
        &b,
        BROKER_PASSWORD,
        &[("SLIPWAY_ADDON_PROVISION_TIMEOUT", "2s")],
    )
    .await;
    let api = a.admin();
    api.create_app("shop", "prod").await;
    let made = api
        .post(
            "/apps/shop-prod/addons",
            r#"{"plan":"slipway-postgresql:hobby","attachment":{"name":"db"}}"#,
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.json()["id"].as_str().unwrap().to_owned();
    let failed = provisioned(&api, "shop-prod", &id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["state_description"]
            .as_str()
            .unwrap()
            .contains("did not finish provisioning within 2 s"),
        "{failed}"
    );
    assert!(releases(&api, "shop-prod").await.is_empty(), "no release");
    assert!(api.get("/apps/shop-prod/config-vars").await.json()["DATABASE_URL"].is_null());
    // Orphan mitigation: the platform deprovisioned what it asked for.
    assert_eq!(rows(&b_db, "broker_instances").await, 0);
    // The failed add-on goes without a release.
    let d = api.delete(&format!("/apps/shop-prod/addons/{id}")).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert!(releases(&api, "shop-prod").await.is_empty());
    assert_eq!(api.get("/apps/shop-prod/addons").await.json(), json!([]));
    held.abort();
}
