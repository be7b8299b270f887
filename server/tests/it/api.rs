//! The Platform API over real HTTP against the real `slipway` binary (DESIGN §5).

use crate::support;

use serde_json::{json, Value};
use support::Slipway;

#[tokio::test]
async fn requests_without_a_valid_token_are_401_with_an_empty_body() {
    let s = Slipway::on_fresh_database().await;
    let anon = s.anonymous();
    for (m, p) in [
        ("GET", "/apps"),
        ("POST", "/apps"),
        ("GET", "/spaces"),
        ("GET", "/favorites"),
    ] {
        let a = anon.call(m, p, Some("{}"), &[]).await;
        assert_eq!((a.status, a.text.as_str()), (401, ""), "{m} {p}");
    }
    let bad = support::Api {
        token: Some("slw_not-a-token".into()),
        ..anon
    };
    assert_eq!(bad.get("/apps").await.status, 401);
}

#[tokio::test]
async fn apps_are_created_listed_read_and_deleted() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    let created = api
        .post(
            "/apps",
            r#"{"name":"web","space":"prod","org":"acme","description":"the site"}"#,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let app = created.json();
    assert_eq!(app["name"], "web-prod");
    assert_eq!(app["simple_name"], "web");
    assert_eq!(app["space"]["name"], "prod");
    assert_eq!(app["organization"]["name"], "acme");
    assert_eq!(app["region"]["name"], "local");
    // "" rather than null: the Akkeris CLI's apps:info cannot print null.
    assert_eq!(app["image"], "");
    assert_eq!(app["web_url"], "");
    assert_eq!(app["released_at"], Value::Null);
    let ts = app["created_at"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && ts.len() == "2026-11-26T12:00:00.000Z".len(),
        "{ts}"
    );
    api.create_app("api", "prod").await;
    let list = api.get("/apps").await.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["web-prod", "api-prod"], "oldest first");
    let by_id = api
        .get(&format!("/apps/{}", app["id"].as_str().unwrap()))
        .await;
    assert_eq!(by_id.json()["name"], "web-prod");
    let spaces = api.get("/spaces").await.json();
    assert_eq!(spaces.as_array().unwrap().len(), 1);
    let orgs = api.get("/organizations").await.json();
    let orgs: Vec<&str> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, vec!["acme", "default"]);
    let deleted = api.delete("/apps/web-prod").await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        deleted.json(),
        json!({"id": app["id"], "name": "web-prod", "result": "successful"})
    );
    assert_eq!(api.get("/apps/web-prod").await.status, 404);
}

#[tokio::test]
async fn bad_app_input_is_refused_and_writes_nothing() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    let cases = [
        (r#"{"name":"web","space":"prod"}"#, 409),
        (r#"{"name":"Web","space":"prod"}"#, 422),
        (r#"{"name":"web-x","space":"prod"}"#, 422),
        (r#"{"name":"web","space":""}"#, 422),
        (r#"{"space":"prod"}"#, 422),
        (
            r#"{"name":"averyveryverylongname","space":"andalongspace"}"#,
            422,
        ),
        (r#"{"name": 5, "space":"prod"}"#, 422),
        (r#"{"name":"web","#, 400),
        ("", 422),
    ];
    for (body, status) in cases {
        let a = api.post("/apps", body).await;
        assert_eq!(a.status, status, "{body}: {}", a.text);
        assert!(!a.text.is_empty(), "{body}: a reason is given");
        assert!(
            !a.text.starts_with('{'),
            "errors are plain text: {}",
            a.text
        );
    }
    assert_eq!(api.get("/apps").await.json().as_array().unwrap().len(), 1);
    assert_eq!(api.get("/spaces").await.json().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_apps_routes_and_objects_are_404() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    for p in [
        "/apps/nope-prod",
        "/apps/not_a_name",
        "/apps/web-prod/pipeline-couplings",
        "/apps/web-prod/releases/7",
        "/apps/web-prod/releases/v7",
        "/apps/web-prod/releases/x7",
        "/apps/web-prod/builds/00000000-0000-0000-0000-000000000000",
        "/apps/web-prod/no-such-thing",
        "/slugs/00000000-0000-0000-0000-000000000000",
        "/apps/web-prod/features/teleport",
    ] {
        let a = api.get(p).await;
        assert_eq!(a.status, 404, "{p}: {}", a.text);
    }
    assert_eq!(
        api.get("/apps/web-prod/addons").await.json(),
        json!([]),
        "no add-ons yet"
    );
}

#[tokio::test]
async fn config_vars_patch_rules() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    let p = "/apps/web-prod/config-vars";
    let a = api.patch(p, r#"{"FOO":"1","BAR":"2"}"#).await;
    assert_eq!((a.status, a.json()), (200, json!({"BAR": "2", "FOO": "1"})));
    // No change: 200, no release.
    let a = api.patch(p, r#"{"FOO":"1"}"#).await;
    assert_eq!(a.status, 200);
    let a = api.patch(p, r#"{"FOO":null,"BAZ":"3"}"#).await;
    assert_eq!(a.json(), json!({"BAR": "2", "BAZ": "3"}));
    for (body, status) in [
        ("{}", 422),
        ("", 422),
        (r#"{"MISSING":null}"#, 409),
        (r#"{"PORT":"80"}"#, 409),
        (r#"{"AKKERIS_X":"1"}"#, 409),
        (r#"{"SLIPWAY_X":"1"}"#, 409),
        (r#"{"1BAD":"1"}"#, 422),
        (r#"{"A-B":"1"}"#, 422),
        (r#"{"OK":{"nested":1}}"#, 422),
        (r#"{"OK":"1","MISSING":null}"#, 409),
        ("[1,2]", 422),
        ("{nope", 400),
    ] {
        let a = api.patch(p, body).await;
        assert_eq!(a.status, status, "{body}: {}", a.text);
    }
    assert_eq!(api.get(p).await.json(), json!({"BAR": "2", "BAZ": "3"}));
    let rels = api.get("/apps/web-prod/releases").await.json();
    let descs: Vec<&str> = rels
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    assert_eq!(
        descs,
        vec![
            "Set BAR, FOO config vars",
            "Set BAZ; remove FOO config vars"
        ]
    );
}

#[tokio::test]
async fn formation_port_changes_make_releases() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    assert_eq!(
        api.get("/apps/web-prod/formation").await.json(),
        json!([{"type": "web", "quantity": 1, "port": 9000}])
    );
    let a = api
        .patch("/apps/web-prod/formation/web", r#"{"port": 8080}"#)
        .await;
    assert_eq!(
        (a.status, a.json()),
        (200, json!({"type": "web", "quantity": 1, "port": 8080}))
    );
    api.patch("/apps/web-prod/formation/web", r#"{"port": 8080}"#)
        .await;
    for body in [
        r#"{"port": 0}"#,
        r#"{"port": 70000}"#,
        r#"{"port": "x"}"#,
        "{}",
    ] {
        assert_eq!(
            api.patch("/apps/web-prod/formation/web", body).await.status,
            422,
            "{body}"
        );
    }
    assert_eq!(
        api.patch("/apps/web-prod/formation/worker", r#"{"port": 1}"#)
            .await
            .status,
        404
    );
    let rels = api.settled("web-prod").await;
    assert_eq!(rels.len(), 1);
    assert_eq!(rels[0]["description"], "Set PORT to 8080");
}

#[tokio::test]
async fn builds_deploys_and_the_release_object() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    // The Akkeris CLI's releases:create sends empty strings for what it does not know.
    let b = api.post("/apps/web-prod/builds", r#"{"checksum":"","url":"docker://registry.local/web:1","repo":"","sha":"","branch":""}"#).await;
    assert_eq!(b.status, 201, "{}", b.text);
    let build = b.json();
    let id = build["id"].as_str().unwrap().to_owned();
    assert_eq!(build["status"], "succeeded");
    assert_eq!(build["slug"]["id"], id.as_str());
    assert_eq!(build["source_blob"]["url"], "docker://registry.local/web:1");
    assert_eq!(build["source_blob"]["repo"], Value::Null);
    assert_eq!(build["release"], Value::Null);
    assert_eq!(
        build["output_stream_url"],
        s.url(&format!("/apps/web-prod/builds/{id}/result"))
    );
    let result = api
        .get(&format!("/apps/web-prod/builds/{id}/result"))
        .await
        .json();
    assert_eq!(result["build"]["id"], id.as_str());
    assert_eq!(
        result["lines"].as_array().unwrap().last().unwrap(),
        "Finished: SUCCESS"
    );
    assert_eq!(
        api.get(&format!("/slugs/{id}")).await.json()["id"],
        id.as_str()
    );
    assert_eq!(
        api.delete(&format!("/apps/web-prod/builds/{id}"))
            .await
            .status,
        409
    );
    let again = api
        .call("PUT", &format!("/apps/web-prod/builds/{id}"), None, &[])
        .await;
    assert_eq!(again.status, 201);
    assert_ne!(again.json()["id"], id.as_str());
    assert_eq!(
        api.get("/apps/web-prod/builds")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let r = api
        .post("/apps/web-prod/releases", &format!(r#"{{"slug":"{id}"}}"#))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rel = r.json();
    assert_eq!(rel["version"], json!(1), "version is an integer");
    assert_eq!(rel["status"], "queued");
    assert_eq!(rel["description"], format!("Deploy of {id}"));
    assert_eq!(rel["slug"], json!({"id": id}));
    assert_eq!(rel["user"]["login"], "ops");
    assert_eq!(rel["user"]["email"], Value::Null);
    assert_eq!(rel["addon_plan_names"], json!([]));
    assert_eq!(rel["state"], "success");
    let settled = api.settled("web-prod").await;
    assert_eq!(settled[0]["status"], "succeeded");
    assert_eq!(settled[0]["current"], true);
    let app = api.get("/apps/web-prod").await.json();
    assert_eq!(app["image"], "registry.local/web:1");
    assert!(app["released_at"].is_string());
    let built = api.get(&format!("/apps/web-prod/builds/{id}")).await.json();
    assert_eq!(built["release"]["id"], rel["id"]);
    let st = api
        .get(&format!(
            "/apps/web-prod/releases/{}/statuses",
            rel["id"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(
        st,
        json!({"state": "success", "release": {"id": rel["id"]}, "statuses": []})
    );
    // A release without a build has a slug object with a null id.
    api.patch("/apps/web-prod/config-vars", r#"{"A":"1"}"#)
        .await;
    let l = api
        .post(
            "/apps/web-prod/releases",
            r#"{"slug":"latest","description":"ship it"}"#,
        )
        .await
        .json();
    assert_eq!(
        (l["version"].as_i64(), l["description"].as_str()),
        (Some(3), Some("ship it"))
    );
    for v in ["2", "v2"] {
        assert_eq!(
            api.get(&format!("/apps/web-prod/releases/{v}"))
                .await
                .json()["description"],
            "Set A config vars"
        );
    }
}

#[tokio::test]
async fn bad_builds_and_releases_are_refused_and_write_nothing() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    api.create_app("other", "prod").await;
    let theirs = api
        .post("/apps/other-prod/builds", r#"{"url":"docker://o:1"}"#)
        .await
        .json();
    for (body, status) in [
        (r#"{"url":"https://"}"#, 422),
        (r#"{"url":"data:application/gzip;base64"}"#, 422),
        (r#"{"url":"ftp://x/y"}"#, 422),
        (r#"{"url":"docker://"}"#, 422),
        (r#"{"url":""}"#, 422),
        ("{}", 422),
    ] {
        let a = api.post("/apps/web-prod/builds", body).await;
        assert_eq!(a.status, status, "{body}: {}", a.text);
    }
    let unsupported = api
        .post(
            "/apps/web-prod/builds",
            r#"{"url":"ftp://example.com/src.tgz"}"#,
        )
        .await;
    assert!(
        unsupported.text.contains("is not supported"),
        "{}",
        unsupported.text
    );
    for (body, status) in [
        (
            format!(r#"{{"slug":"{}"}}"#, theirs["id"].as_str().unwrap()),
            409,
        ),
        (
            r#"{"slug":"00000000-0000-0000-0000-000000000000"}"#.to_owned(),
            409,
        ),
        (r#"{"slug":"latest"}"#.to_owned(), 409),
        (r#"{"slug":"nope"}"#.to_owned(), 422),
        ("{}".to_owned(), 422),
        (r#"{"slug":"latest","release":"v1"}"#.to_owned(), 422),
    ] {
        let a = api.post("/apps/web-prod/releases", &body).await;
        assert_eq!(a.status, status, "{body}: {}", a.text);
    }
    assert_eq!(api.get("/apps/web-prod/builds").await.json(), json!([]));
    assert_eq!(api.get("/apps/web-prod/releases").await.json(), json!([]));
}

#[tokio::test]
async fn rollback_through_the_api() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    api.patch("/apps/web-prod/config-vars", r#"{"A":"1"}"#)
        .await; // v1
                // Deployed before the next change (a release superseded while queued is skipped).
    api.settled("web-prod").await;
    api.patch("/apps/web-prod/config-vars", r#"{"A":"2"}"#)
        .await; // v2
    let rels = api.settled("web-prod").await;
    let v1 = rels[0]["id"].as_str().unwrap().to_owned();
    // The Akkeris CLI sends the uuid and the target's description, which is ignored.
    let r = api
        .post(
            "/apps/web-prod/releases",
            &format!(r#"{{"release":"{v1}","description":"Set A config vars"}}"#),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (
            r.json()["version"].as_i64(),
            r.json()["description"].as_str()
        ),
        (Some(3), Some("Rollback to v1"))
    );
    assert_eq!(
        api.get("/apps/web-prod/config-vars").await.json(),
        json!({"A": "1"})
    );
    api.settled("web-prod").await;
    for (target, status) in [
        (json!(3), 409),
        (json!("v3"), 409),
        (json!("v9"), 404),
        (json!("x"), 422),
    ] {
        let a = api
            .post(
                "/apps/web-prod/releases",
                &json!({"release": target}).to_string(),
            )
            .await;
        assert_eq!(a.status, status, "{target}: {}", a.text);
    }
    for target in [json!(2), json!("2"), json!("v1")] {
        let a = api
            .post(
                "/apps/web-prod/releases",
                &json!({"release": target}).to_string(),
            )
            .await;
        assert_eq!(a.status, 201, "{target}: {}", a.text);
        api.settled("web-prod").await;
    }
    // Another app's release is not found here.
    api.create_app("other", "prod").await;
    api.patch("/apps/other-prod/config-vars", r#"{"A":"1"}"#)
        .await;
    let a = api
        .post(
            "/apps/other-prod/releases",
            &format!(r#"{{"release":"{v1}"}}"#),
        )
        .await;
    assert_eq!(a.status, 404);
    let versions: Vec<i64> = api
        .settled("web-prod")
        .await
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn range_pages_releases_as_heroku_does() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    for i in 1..=12 {
        api.patch("/apps/web-prod/config-vars", &format!(r#"{{"N":"{i}"}}"#))
            .await;
    }
    let versions = |a: &support::Answer| -> Vec<i64> {
        a.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["version"].as_i64().unwrap())
            .collect()
    };
    let page = |range: &'static str| {
        let api = api.clone();
        async move {
            api.call("GET", "/apps/web-prod/releases", None, &[("Range", range)])
                .await
        }
    };
    let a = page("version ..; max=5").await;
    assert_eq!((a.status, versions(&a)), (206, vec![1, 2, 3, 4, 5]));
    assert_eq!(a.header("content-range").as_deref(), Some("version 1..5"));
    assert_eq!(
        a.header("next-range").as_deref(),
        Some("version ]5..; max=5")
    );
    let a = page("version ]10..; max=5").await;
    assert_eq!((a.status, versions(&a)), (200, vec![11, 12]));
    assert_eq!(a.header("next-range"), None);
    let a = page("version ..; max=5, order=desc").await;
    assert_eq!((a.status, versions(&a)), (206, vec![12, 11, 10, 9, 8]));
    assert_eq!(a.header("content-range").as_deref(), Some("version 12..8"));
    assert_eq!(
        a.header("next-range").as_deref(),
        Some("version ]8..; max=5, order=desc")
    );
    let a = page("version ]3..; max=5, order=desc").await;
    assert_eq!((a.status, versions(&a)), (200, vec![2, 1]));
    let a = page("version 4..6").await;
    assert_eq!((a.status, versions(&a)), (200, vec![4, 5, 6]));
    for bad in [
        "version 1-5",
        "items ..",
        "version ..; max=0",
        "version ..; order=sideways",
    ] {
        assert_eq!(page(bad).await.status, 416, "{bad}");
    }
    let all = api.get("/apps/web-prod/releases").await;
    assert_eq!((all.status, versions(&all).len()), (200, 12));
}

#[tokio::test]
async fn features_and_auto_release() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    let f = api.get("/apps/web-prod/features").await.json();
    assert_eq!(f[0]["name"], "auto-release");
    assert_eq!(f[0]["enabled"], false);
    assert!(f[0]["id"].is_string() && f[0]["description"].is_string());
    let on = api
        .patch(
            "/apps/web-prod/features/auto-release",
            r#"{"enabled":true}"#,
        )
        .await;
    assert_eq!(
        (on.status, on.json()["enabled"].clone()),
        (200, json!(true))
    );
    assert_eq!(
        api.patch("/apps/web-prod/features/auto-release", "{}")
            .await
            .status,
        422
    );
    assert_eq!(
        api.patch("/apps/web-prod/features/teleport", r#"{"enabled":true}"#)
            .await
            .status,
        404
    );
    let b = api
        .post("/apps/web-prod/builds", r#"{"url":"docker://web:1"}"#)
        .await
        .json();
    let rels = api.settled("web-prod").await;
    let id = b["id"].as_str().unwrap();
    assert_eq!(rels[0]["description"], format!("Auto-Deploy {}", &id[..8]));
}

#[tokio::test]
async fn favorites_belong_to_the_caller() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    let a = api.post("/favorites", r#"{"app":"web-prod"}"#).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(api.get("/favorites").await.json()[0]["name"], "web-prod");
    let other = support::Api {
        token: Some(s.token("someone")),
        ..s.anonymous()
    };
    assert_eq!(other.get("/favorites").await.json(), json!([]));
    assert_eq!(
        api.post("/favorites", r#"{"app":"nope-prod"}"#)
            .await
            .status,
        404
    );
    assert_eq!(api.delete("/favorites/web-prod").await.status, 200);
    assert_eq!(api.get("/favorites").await.json(), json!([]));
}

#[tokio::test]
async fn foreign_hosts_get_421_except_for_healthz() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    let a = api
        .call("GET", "/apps", None, &[("Host", "evil.example")])
        .await;
    assert_eq!(a.status, 421);
    for host in ["localhost:1234", "127.0.0.1", "[::1]:9"] {
        assert_eq!(
            api.call("GET", "/apps", None, &[("Host", host)])
                .await
                .status,
            200,
            "{host}"
        );
    }
    let h = api
        .call("GET", "/healthz", None, &[("Host", "evil.example")])
        .await;
    assert_eq!(h.status, 200);
}

#[tokio::test]
async fn the_public_url_host_is_accepted_and_used_in_answers() {
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    // A public URL beyond loopback needs GitHub sign-in (no local admin there).
    let s = Slipway::start(&[
        ("DATABASE_URL", &url),
        ("SLIPWAY_SECRET_KEY", &key),
        ("SLIPWAY_PUBLIC_URL", "https://slipway.example.com"),
        ("SLIPWAY_GITHUB_CLIENT_ID", "Iv1.example"),
        ("SLIPWAY_GITHUB_CLIENT_SECRET", "not-used-here"),
    ])
    .unwrap();
    let api = s.github_admin(&url, "ops").await;
    let a = api
        .call(
            "POST",
            "/apps",
            Some(r#"{"name":"web","space":"prod"}"#),
            &[("Host", "slipway.example.com")],
        )
        .await;
    assert_eq!(a.status, 201);
    let b = api
        .post("/apps/web-prod/builds", r#"{"url":"docker://web:1"}"#)
        .await
        .json();
    assert!(b["output_stream_url"]
        .as_str()
        .unwrap()
        .starts_with("https://slipway.example.com/apps/web-prod/builds/"));
}

#[tokio::test]
async fn cookie_writes_need_this_servers_origin() {
    let s = Slipway::on_fresh_database().await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = s.base.clone();
    // Signing in needs the Origin too.
    let r = http
        .post(s.url("/auth/local"))
        .form(&[("next", "/ui/apps")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(s.url("/auth/local"))
        .header("Origin", &origin)
        .form(&[("next", "/ui/apps")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/apps");
    let body = r#"{"name":"web","space":"prod"}"#;
    let post = |o: Option<&str>| {
        let mut req = http
            .post(s.url("/apps"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(o) = o {
            req = req.header("Origin", o);
        }
        req.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 403);
    assert_eq!(
        post(Some("http://evil.example")).await.unwrap().status(),
        403
    );
    assert_eq!(post(Some(&origin)).await.unwrap().status(), 201);
    // Reads need no Origin.
    assert_eq!(http.get(s.url("/apps")).send().await.unwrap().status(), 200);
    assert_eq!(s.admin().app_count().await, 1);
}

#[tokio::test]
async fn ui_pages_send_strangers_to_sign_in_and_the_session_cookie_is_lax_and_http_only() {
    let s = Slipway::on_fresh_database().await;
    let anon = s.anonymous();
    let a = anon.get("/ui/apps").await;
    assert_eq!(
        (a.status, a.header("location").as_deref()),
        (303, Some("/ui/signin?next=/ui/apps"))
    );
    assert_eq!(
        anon.get("/").await.header("location").as_deref(),
        Some("/ui/apps")
    );
    let page = anon.get("/ui/signin").await;
    assert_eq!(page.status, 200);
    let refused = anon.get("/ui/signin?error=not-allowed").await;
    assert_eq!(refused.status, 403);
    assert!(refused.text.contains("not allowed"), "{}", refused.text);
    assert!(
        page.text.contains("Sign in as local admin"),
        "{}",
        page.text
    );
    let r = s
        .anonymous()
        .http
        .post(s.url("/auth/local"))
        .header("Origin", &s.base)
        .form(&[("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        "/ui/apps",
        "only local paths are followed"
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http public URL: {cookie}"
    );
}

#[tokio::test]
async fn healthz_answers_when_the_database_does() {
    let s = Slipway::on_fresh_database().await;
    let a = s.anonymous().get("/healthz").await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn a_viewer_reads_with_masked_values_and_cannot_write() {
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    let s = Slipway::start(&[("DATABASE_URL", &url), ("SLIPWAY_SECRET_KEY", &key)]).unwrap();
    let admin = s.admin();
    admin.create_app("web", "prod").await;
    admin
        .patch("/apps/web-prod/config-vars", r#"{"SECRET":"hunter2"}"#)
        .await;
    let viewer = support::Api {
        token: Some(s.token("viewer")),
        ..s.anonymous()
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("update users set role = 'viewer' where login = 'viewer'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(viewer.get("/apps/web-prod").await.status, 200);
    assert_eq!(
        viewer.get("/apps/web-prod/config-vars").await.json(),
        json!({"SECRET": "***"})
    );
    for (m, p, body) in [
        ("POST", "/apps", r#"{"name":"x","space":"prod"}"#),
        ("PATCH", "/apps/web-prod/config-vars", r#"{"A":"1"}"#),
        ("POST", "/apps/web-prod/releases", r#"{"release":"v1"}"#),
        ("POST", "/apps/web-prod/builds", r#"{"url":"docker://x:1"}"#),
        ("PATCH", "/apps/web-prod/formation/web", r#"{"port":1234}"#),
        (
            "PATCH",
            "/apps/web-prod/features/auto-release",
            r#"{"enabled":true}"#,
        ),
        ("DELETE", "/apps/web-prod", ""),
    ] {
        let a = viewer.call(m, p, Some(body), &[]).await;
        assert_eq!(a.status, 403, "{m} {p}: {}", a.text);
        assert!(
            a.text.contains("viewer"),
            "the refusal says why: {}",
            a.text
        );
    }
    assert_eq!(
        viewer
            .post("/favorites", r#"{"app":"web-prod"}"#)
            .await
            .status,
        201,
        "favourites are a viewer's own"
    );
    // A deployer may change things but not delete apps.
    // Changed behind the server's back (as another process would): a token's actor is
    // remembered for at most `remembered::TTL`, so the new role applies within it.
    sqlx::query("update users set role = 'deployer' where login = 'viewer'")
        .execute(&pool)
        .await
        .unwrap();
    support::eventually(
        slipway_core::access::remembered::TTL * 2,
        "the viewer's new role to apply",
        || async {
            viewer.get("/apps/web-prod/config-vars").await.json() == json!({"SECRET": "hunter2"})
        },
    )
    .await;
    assert_eq!(viewer.delete("/apps/web-prod").await.status, 403);
    assert_eq!(admin.release_count("web-prod").await, 1);
}

#[tokio::test]
async fn only_a_bearer_token_skips_the_origin_check_and_then_it_alone_authenticates() {
    let s = Slipway::on_fresh_database().await;
    let browser = s.browser().await;
    let form = [
        ("name", "csrf"),
        ("space", "prod"),
        ("org", ""),
        ("description", ""),
    ];
    // A cross-site form post that carries the session cookie and some other Authorization
    // header is still a cookie-authenticated write: it needs this server's Origin.
    let r = browser
        .post(s.url("/api/create_app"))
        .header("Authorization", "Basic b3BzOnNlY3JldA==")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // With a bearer token the cookie does not count: a token that is not one is refused, even
    // with the admin's session cookie beside it.
    let r = browser
        .post(s.url("/api/create_app"))
        .header("Authorization", "Bearer slw_not-a-token")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200);
    let r = browser
        .post(s.url("/apps"))
        .header("Authorization", "Bearer slw_not-a-token")
        .header("content-type", "application/json")
        .body(r#"{"name":"csrf","space":"prod"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(s.admin().app_count().await, 0);
    // The same form from this server's page works.
    let (status, _) = s.server_fn(&browser, "create_app", &form).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_webhook_answers_alike_for_an_unknown_app_and_one_without_a_repository() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    let anon = s.anonymous();
    let push = |app: &'static str| {
        let anon = anon.clone();
        async move {
            anon.call(
                "POST",
                &format!("/apps/{app}/builds/auto/github"),
                Some(r#"{"zen":"hi"}"#),
                &[
                    ("X-GitHub-Event", "ping"),
                    ("X-Hub-Signature-256", "sha256=00"),
                ],
            )
            .await
        }
    };
    let (unknown, bare) = (push("nope-prod").await, push("web-prod").await);
    assert_eq!((unknown.status, bare.status), (404, 404));
    assert_eq!(unknown.text, bare.text);
    assert!(!bare.text.contains("web-prod"), "{}", bare.text);
}

#[tokio::test]
async fn secrets_in_a_source_url_never_reach_a_viewer() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    // Port 9 on loopback: nothing listens, the fetch fails with a reason.
    let url =
        "http://user:p4ssw0rd@127.0.0.1:9/app.tgz?X-Amz-Signature=s1gnature&token=t0ken#fr4gment";
    let b = api
        .post("/apps/web-prod/builds", &json!({ "url": url }).to_string())
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    let id = b.json()["id"].as_str().unwrap().to_owned();
    let (done, lines) =
        support::build_finished(&api, "web-prod", &id, std::time::Duration::from_secs(60)).await;
    assert_eq!(done["status"], "failed");
    let shown = done["source_blob"]["url"].as_str().unwrap().to_owned();
    assert_eq!(shown, "http://127.0.0.1:9/app.tgz?…#…");
    assert!(lines.contains(&format!("Fetching {shown}")), "{lines:?}");
    let everything = format!(
        "{} {} {} {}",
        api.get("/apps/web-prod/builds").await.text,
        lines.join("\n"),
        s.browser()
            .await
            .get(s.url(&format!("/ui/apps/web-prod/builds/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        s.logs()
    );
    for secret in ["p4ssw0rd", "s1gnature", "t0ken", "fr4gment"] {
        assert!(!everything.contains(secret), "{secret} was shown");
    }
}

#[tokio::test]
async fn unicode_in_urls_and_names_is_answered_never_panics() {
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("web", "prod").await;
    for url in [
        "€€€€€€",
        "dat€:x",
        "€€://x",
        "docker://€",
        "https://exa€mple.com/a.tgz?€=€#€",
    ] {
        let b = api
            .post("/apps/web-prod/builds", &json!({ "url": url }).to_string())
            .await;
        assert!(
            b.status == 201 || b.status == 422,
            "{url}: {} {}",
            b.status,
            b.text
        );
    }
    for path in [
        "/apps/€€€-prod",
        "/apps/web-prod/releases/v€",
        "/apps/web-prod/builds/€€",
    ] {
        assert_eq!(api.get(path).await.status, 404, "{path}");
    }
    assert_eq!(api.get("/healthz").await.status, 200, "still serving");
    assert!(!s.logs().contains("panicked"), "{}", s.logs());
}

#[tokio::test]
async fn expired_sessions_are_purged_when_the_server_starts() {
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("SLIPWAY_SECRET_KEY", key.as_str()),
    ];
    drop(Slipway::start(&env).unwrap());
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(
        "insert into tower_sessions.session (id, data, expiry_date)
         values ('expired-one', '\\x00', now() - interval '1 day'),
                ('live-one', '\\x00', now() + interval '1 day')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let _s = Slipway::start(&env).unwrap();
    support::eventually(
        std::time::Duration::from_secs(30),
        "the expired session to go",
        || async {
            let ids: Vec<String> = sqlx::query_scalar("select id from tower_sessions.session")
                .fetch_all(&pool)
                .await
                .unwrap();
            ids == ["live-one"]
        },
    )
    .await;
}
