//! Benchmark of the job queue (issue 11): how fast deploys settle while the queue is short,
//! and while 10,000 config releases of one app (21 config vars each) wait behind a deploy that
//! holds that app's lane. A deploy's cost should not grow with the backlog. Runs the real
//! worker loop (`Core::run_worker`, 4 jobs at once) with a runtime that runs nothing, on a
//! throwaway PostgreSQL, and prints `EXPLAIN ANALYZE` of the claim with the backlog in place
//! (and of the claim before issue 11, which scanned the backlog, for comparison).
//!
//!   scripts/bench-queue.sh        (BACKLOG=10000 DEPLOYS=500)

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{AppName, ConfigKey, SimpleName};
use slipway_core::access::authz::Actor;
use slipway_core::ledger::apps::{App, NewApp};
use slipway_core::queue::Engines;
use slipway_core::runtime::NoopRuntime;
use slipway_core::Core;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn app(core: &Core, actor: &Actor, name: &str) -> App {
    let new = NewApp {
        name: AppName::parse(name).unwrap(),
        org: SimpleName::parse("org", "default").unwrap(),
        description: None,
    };
    core.create_app(actor, new).await.unwrap()
}

fn vars(i: usize, n: usize) -> Vec<(ConfigKey, Option<String>)> {
    (0..n)
        .map(|k| {
            (
                ConfigKey::parse(&format!("VAR_{k}")).unwrap(),
                Some(format!("value-{i}-{k}-{}", "x".repeat(24))),
            )
        })
        .collect()
}

/// Queues one release on each of `n` new apps named `{prefix}{i}-bench`.
async fn one_release_each(core: &Core, actor: &Actor, prefix: &str, n: usize) -> Vec<App> {
    let mut apps = Vec::with_capacity(n);
    for i in 0..n {
        let a = app(core, actor, &format!("{prefix}{i}-bench")).await;
        core.patch_config(actor, &a, vars(i, 3)).await.unwrap();
        apps.push(a);
    }
    apps
}

async fn unsettled(core: &Core, apps: &[App]) -> i64 {
    let ids: Vec<uuid::Uuid> = apps.iter().map(|a| a.id).collect();
    sqlx::query_scalar(
        "select count(*) from releases where app_id = any($1) and status in ('queued', 'pending')",
    )
    .bind(&ids)
    .fetch_one(core.pool())
    .await
    .unwrap()
}

/// Runs a worker until every release of `apps` has settled; answers the deploys per second.
async fn drain(core: &Core, apps: &[App], limit: Duration) -> f64 {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let worker = {
        let core = core.clone();
        let engines = Engines {
            max_jobs: 4,
            ..Engines::with_runtime(Arc::new(NoopRuntime))
        };
        tokio::spawn(async move {
            core.run_worker(
                "bench".into(),
                Duration::from_secs(60),
                engines,
                async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                },
            )
            .await
        })
    };
    let started = Instant::now();
    loop {
        if unsettled(core, apps).await == 0 {
            break;
        }
        assert!(
            started.elapsed() < limit,
            "the releases did not settle within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = apps.len() as f64 / started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    worker.await.unwrap();
    rate
}

async fn explain(core: &Core, what: &str, sql: &str, binds: bool) {
    let q = format!("explain (analyze, buffers, costs off) {sql}");
    let mut tx = core.pool().begin().await.unwrap();
    let rows: Vec<String> = if binds {
        sqlx::query_scalar(&q)
            .bind(uuid::Uuid::new_v4())
            .bind("explain")
            .bind(Duration::from_secs(60))
            .fetch_all(&mut *tx)
            .await
            .unwrap()
    } else {
        sqlx::query_scalar(&q).fetch_all(&mut *tx).await.unwrap()
    };
    // Nothing claimed for real.
    tx.rollback().await.unwrap();
    println!("== {what}");
    for r in rows {
        println!("   {r}");
    }
}

/// The claim before issue 11: the oldest job of its app, found by asking, for each waiting job,
/// whether an older job of its app exists.
const OLD_CLAIM: &str = "select j.id from jobs j
     where (j.locked_until is null or j.locked_until < now())
       and not exists (select 1 from jobs e where e.app_id = j.app_id and e.id < j.id)
     order by j.id limit 1 for update skip locked";

#[tokio::main]
async fn main() {
    let backlog = env("BACKLOG", 10_000);
    let deploys = env("DEPLOYS", 500);
    let core = testkit::fresh_core().await;
    let actor = core.local_admin("bench").await.unwrap().actor().unwrap();

    let short = one_release_each(&core, &actor, "s", deploys).await;
    let short_rate = drain(&core, &short, Duration::from_secs(600)).await;
    println!("short queue: {deploys} deploys of {deploys} apps at {short_rate:.0} a second");

    // One app's lane is held by a running deploy (claimed, leased, never finished) while its
    // backlog waits behind it.
    let busy = app(&core, &actor, "busy-bench").await;
    core.patch_config(&actor, &busy, vars(0, 21)).await.unwrap();
    let head = core
        .claim_job("holder", Duration::from_secs(3600))
        .await
        .unwrap()
        .expect("the busy app's first deploy");
    assert_eq!(head.app_id, busy.id);
    let made = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let (core, actor, busy) = (core.clone(), actor.clone(), busy.clone());
            tokio::spawn(async move {
                for i in (t..backlog).step_by(8) {
                    core.patch_config(&actor, &busy, vars(i, 21)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "backlog: {backlog} releases of one app (21 config vars each) queued in {:.1}s",
        made.elapsed().as_secs_f64()
    );
    sqlx::query("vacuum analyze jobs")
        .execute(core.pool())
        .await
        .unwrap();
    explain(
        &core,
        "the claim, with the backlog waiting behind its held lane",
        Core::claim_sql(),
        true,
    )
    .await;
    explain(
        &core,
        "the claim before issue 11, on the same jobs",
        OLD_CLAIM,
        false,
    )
    .await;
    let long = one_release_each(&core, &actor, "l", deploys).await;
    explain(
        &core,
        &format!("the claim, with the backlog and {deploys} other apps' releases waiting"),
        Core::claim_sql(),
        true,
    )
    .await;
    let long_rate = drain(&core, &long, Duration::from_secs(600)).await;
    println!(
        "with the backlog waiting: {deploys} deploys of {deploys} apps at {long_rate:.0} a second ({:.2} of the short queue's rate)",
        long_rate / short_rate
    );

    // The lane is let go: its next deploy skips every superseded release at once.
    sqlx::query("update jobs set locked_until = now() - interval '1 second' where id = $1")
        .bind(head.id)
        .execute(core.pool())
        .await
        .unwrap();
    let started = Instant::now();
    drain(&core, std::slice::from_ref(&busy), Duration::from_secs(600)).await;
    let (skipped, succeeded): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where status = 'skipped'), count(*) filter (where status = 'succeeded')
           from releases where app_id = $1",
    )
    .bind(busy.id)
    .fetch_one(core.pool())
    .await
    .unwrap();
    println!(
        "the busy app's {} releases settled in {:.2}s: {succeeded} deployed, {skipped} skipped as superseded",
        skipped + succeeded,
        started.elapsed().as_secs_f64()
    );
}
