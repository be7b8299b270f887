//! The binary's surface: options, refusals, and the worker subcommand.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::Slipway;

#[test]
fn help_lists_every_option_with_its_variable_and_default() {
    let out = Command::new(support::BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (var, default) in [
        ("SLIPWAY_ADDR", Some("127.0.0.1:3000")),
        ("SLIPWAY_DATA_DIR", Some("./.slipway")),
        ("SLIPWAY_PUBLIC_URL", None),
        ("SLIPWAY_PG_BIN_DIR", None),
        ("DATABASE_URL", None),
        ("SLIPWAY_NO_WORKER", Some("false")),
        ("SLIPWAY_BUILD_TIMEOUT", Some("20m")),
        ("SLIPWAY_JOB_LEASE", Some("60s")),
        ("SLIPWAY_HEALTH_TIMEOUT", Some("30s")),
        ("SLIPWAY_MAX_SOURCE_BYTES", Some("500MB")),
        ("SLIPWAY_MAX_UNPACKED_BYTES", Some("2GB")),
        ("SLIPWAY_MAX_FILES", Some("100000")),
        ("SLIPWAY_APP_PORTS", Some("42000-42999")),
        ("SLIPWAY_APP_HOST", Some("127.0.0.1")),
        ("SLIPWAY_KEEP_RELEASES", Some("20")),
        ("SLIPWAY_MAX_LOG_BYTES", Some("32MB")),
        ("SLIPWAY_ACCESS_RECHECK", Some("5m")),
        ("SLIPWAY_WORKER_JOBS", Some("4")),
    ] {
        assert!(
            help.contains(&format!("env: {var}")),
            "{var} missing from --help"
        );
        if let Some(d) = default {
            assert!(
                help.contains(&format!("default: {d}")),
                "{var}'s default {d} missing"
            );
        }
    }
    for sub in ["serve", "worker", "token"] {
        assert!(help.contains(sub), "{sub}");
    }
}

#[tokio::test]
async fn a_public_url_beyond_loopback_without_oauth_is_refused() {
    // Behind a reverse proxy the bind address is loopback, yet anyone can reach the server.
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    let err = Slipway::start(&[
        ("DATABASE_URL", &url),
        ("SLIPWAY_SECRET_KEY", &key),
        ("SLIPWAY_PUBLIC_URL", "https://slipway.example.com"),
    ])
    .err()
    .expect("slipway refuses to start");
    assert!(
        err.contains("refusing to serve https://slipway.example.com without GitHub sign-in"),
        "{err}"
    );
}

#[tokio::test]
async fn listening_beyond_loopback_without_oauth_is_refused() {
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    let err = Slipway::start(&[
        ("DATABASE_URL", &url),
        ("SLIPWAY_SECRET_KEY", &key),
        ("SLIPWAY_ADDR", "0.0.0.0:0"),
    ])
    .err()
    .expect("slipway refuses to start");
    assert!(err.contains("refusing to listen on 0.0.0.0"), "{err}");
}

#[tokio::test]
async fn database_url_needs_a_secret_key() {
    let url = testkit::fresh_url().await;
    let err = Slipway::start(&[("DATABASE_URL", &url)])
        .err()
        .expect("slipway refuses to start");
    assert!(err.contains("SLIPWAY_SECRET_KEY is required"), "{err}");
}

#[tokio::test]
async fn a_server_without_a_worker_leaves_deploys_to_slipway_worker() {
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("SLIPWAY_SECRET_KEY", key.as_str()),
        ("SLIPWAY_NO_WORKER", "true"),
    ];
    let s = Slipway::start(&env).unwrap();
    let api = s.admin();
    api.create_app("web", "prod").await;
    api.patch("/apps/web-prod/config-vars", r#"{"A":"1"}"#)
        .await;
    let status = api.get("/apps/web-prod/releases/1").await.json()["status"].clone();
    assert_eq!(status, "queued");
    // Its log goes to a pipe here, as to a file or a collector: plain text, no colour codes.
    let logs = s.logs();
    assert!(logs.contains("listening"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "escape codes in a piped log: {logs:?}"
    );
    let mut worker = Command::new(support::BIN)
        .arg("worker")
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.get("/apps/web-prod/releases/1").await.json()["status"] != "succeeded" {
        assert!(
            Instant::now() < deadline,
            "the worker did not deploy the release"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    support::signal(worker.id(), libc::SIGTERM);
    assert!(
        worker.wait().unwrap().success(),
        "the worker stops cleanly on SIGTERM"
    );
}
