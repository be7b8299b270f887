//! The same build and deploy against Podman's Docker-compatible service. The test command runs
//! this alone (`cargo test --test podman`) after stopping its dockerd, with DOCKER_HOST at a
//! Podman service it started (scripts/podman.sh) and the test images built there.

// The helpers the other tests share; this test uses only some of them.
#[allow(dead_code)]
#[path = "it/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::Slipway;

async fn engine_name() -> String {
    let host = std::env::var("DOCKER_HOST").expect("DOCKER_HOST: Podman's socket");
    let sock = host.strip_prefix("unix://").expect("a unix socket");
    let out = std::process::Command::new("curl")
        .args(["-sf", "--unix-socket", sock, "http://engine/version"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["Components"][0]["Name"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn build_and_deploy_on_podman() {
    assert_eq!(
        engine_name().await,
        "Podman Engine",
        "DOCKER_HOST is Podman"
    );
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("pod", "test").await;
    let app = "pod-test";
    assert_eq!(
        api.patch(
            &format!("/apps/{app}/config-vars"),
            r#"{"GREETING":"from podman"}"#
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.patch(
            &format!("/apps/{app}/features/auto-release"),
            r#"{"enabled":true}"#
        )
        .await
        .status,
        200
    );
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let url = support::dockerfile_source(&format!(
        "FROM slipway-test/web\nRUN echo \"built with $GREETING {nonce}\"\n"
    ));
    let b = api
        .post(
            &format!("/apps/{app}/builds"),
            &json!({ "url": url }).to_string(),
        )
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    let id = b.json()["id"].as_str().unwrap().to_owned();
    // v1 is the config change; v2 the auto-deploy of the build.
    let r = support::settled(&api, app, 2).await;
    let log = api
        .get(&format!("/apps/{app}/builds/{id}/result"))
        .await
        .json();
    assert_eq!(r["status"], "succeeded", "{r} {log}");
    let lines: Vec<&str> = log["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(*lines.last().unwrap(), "Finished: SUCCESS");
    assert!(
        !lines.iter().any(|l| l.contains("from podman")),
        "the config value is masked in the log: {lines:?}"
    );
    let url = api.get(&format!("/apps/{app}")).await.json()["web_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let env = support::env_at(&url).await;
    assert!(support::has(&env, "GREETING=from podman"), "{env}");
    // A config change restarts the app on Podman too, at the same address.
    assert_eq!(
        api.patch(
            &format!("/apps/{app}/config-vars"),
            r#"{"GREETING":"again"}"#
        )
        .await
        .status,
        200
    );
    assert_eq!(support::settled(&api, app, 3).await["status"], "succeeded");
    let env = support::env_at(&url).await;
    assert!(support::has(&env, "GREETING=again"), "{env}");
}
