//! Two `slipway serve` processes on one PostgreSQL take concurrent config changes for one app:
//! versions come out exactly 1..N and every request succeeds.

use crate::support;

use support::Slipway;

#[tokio::test]
async fn two_processes_number_concurrent_changes_without_gaps() {
    const N: usize = 60;
    let url = testkit::fresh_url().await;
    let key = support::fresh_key();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("SLIPWAY_SECRET_KEY", key.as_str()),
    ];
    let one = Slipway::start(&env).unwrap();
    let two = Slipway::start(&env).unwrap();
    let a = one.admin();
    let b = support::Api {
        base: two.base.clone(),
        ..a.clone()
    };
    a.create_app("web", "prod").await;
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let api = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                api.patch("/apps/web-prod/config-vars", &format!(r#"{{"K{i}":"v"}}"#))
                    .await
            })
        })
        .collect();
    for t in futures::future::join_all(tasks).await {
        let answer = t.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let rels = a.settled("web-prod").await;
    let versions: Vec<i64> = rels
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, (1..=N as i64).collect::<Vec<_>>());
    // Each deployed, or was skipped because a newer one came before its turn; the newest ran.
    assert!(rels
        .iter()
        .all(|r| r["status"] == "succeeded" || r["status"] == "skipped"));
    assert_eq!(rels[N - 1]["status"], "succeeded");
    assert_eq!(rels[N - 1]["current"], true);
    let config = a.get("/apps/web-prod/config-vars").await.json();
    assert_eq!(config.as_object().unwrap().len(), N, "no change was lost");
}
