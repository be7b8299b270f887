//! Connecting to PostgreSQL: migrations, and the secret-key fingerprint check.

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::crypto::SecretKey;
use crate::Core;

/// The project's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects, runs pending migrations, and checks that `key` is the key this database was
/// written with (storing its fingerprint the first time).
pub async fn connect(
    opts: PgConnectOptions,
    max_connections: u32,
    key: SecretKey,
) -> anyhow::Result<Core> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(opts)
        .await
        .context("cannot connect to PostgreSQL")?;
    prepare(pool, key).await
}

/// Migrates `pool` and checks the key fingerprint.
pub async fn prepare(pool: PgPool, key: SecretKey) -> anyhow::Result<Core> {
    // Several processes may start at once on one database; the migrator takes an advisory lock.
    MIGRATOR
        .run(&pool)
        .await
        .context("cannot migrate the database")?;
    let fp = key.fingerprint();
    sqlx::query!("insert into settings (name, value) values ('key_fingerprint', $1) on conflict (name) do nothing", &fp)
        .execute(&pool)
        .await?;
    let stored: String =
        sqlx::query_scalar!("select value from settings where name = 'key_fingerprint'")
            .fetch_one(&pool)
            .await?;
    anyhow::ensure!(
        stored == fp,
        "SLIPWAY_SECRET_KEY is not the key this database was written with; start with the original key"
    );
    Ok(Core::new(pool, key))
}

/// Runs `op`, and again every half second while the database is unavailable (restarting),
/// for up to a minute.
pub(crate) async fn through_outage<T, F, Fut>(op: F) -> crate::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while_unavailable(op, |e| {
        if tokio::time::Instant::now() < deadline {
            Ok(())
        } else {
            Err(e)
        }
    })
    .await
}

/// The one retry loop of the core: runs `op`, and again every half second while the
/// database is unavailable, until `go_on` answers the error to give up with.
pub(crate) async fn while_unavailable<T, F, Fut>(
    mut op: F,
    mut go_on: impl FnMut(crate::Error) -> crate::Result<()>,
) -> crate::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    loop {
        match op().await {
            Err(e) if e.is_unavailable() => {
                go_on(e)?;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            r => return r,
        }
    }
}
