//! The PostgreSQL-backed core of Slipway: the release ledger and everything that writes to it.
//!
//! Layout:
//! - `db`: connecting, migrations (`core/migrations`), the key fingerprint check;
//! - `crypto`: AES-GCM encryption at rest for config values and other secrets;
//! - `authz`: the one `authorize(actor, action)` seam, with the role table;
//! - `apps`, `releases`, `config`, `builds`, `features`, `favorites`: the ledger's use cases;
//! - `diff`: what differs between two releases, and whether the app runs a rolled-back one;
//! - `users`, `tokens`: who acts, and how scripts prove it;
//! - `github`: the GitHub REST adapter; `repos`: repository attachments and their webhook;
//!   `webhooks`: the push receiver (signature, repository, redelivery);
//! - `queue`: the job queue (`for update skip locked` + leases) and the worker, which drives
//!   the `Runtime` port (deploys) and runs builds (`build_job`); `log_feed`: live build logs
//!   for any number of viewers, through one `LISTEN` per process;
//! - `source`: fetching a build's source within limits and address checks, and turning the
//!   archive into a checked build context; `uploads`: archives uploaded through the build
//!   form, stored sealed in chunks; `engine`: the image builder port and its Docker
//!   Engine API adapter; `runtime`: releases as containers behind each app's stable address;
//! - `pgtools`: where PostgreSQL's binaries are and whom they run as (embedded cluster, tests).
//!
//! Every rule of release semantics lives here; the API and the UI only parse, call and map.

pub mod apps;
pub mod authz;
pub mod build_job;
pub mod builds;
pub mod config;
pub mod crypto;
pub mod db;
pub mod diff;
pub mod engine;
mod error;
pub mod favorites;
pub mod features;
pub mod github;
pub mod log_feed;
pub mod pgtools;
pub mod queue;
pub mod releases;
pub mod repos;
pub mod runtime;
pub mod source;
pub mod tokens;
pub mod uploads;
pub mod users;
pub mod webhooks;

pub use error::{Error, Result};

use std::sync::Arc;

use sqlx::PgPool;

/// The handle every use case hangs off: the pool and the secret key.
#[derive(Clone)]
pub struct Core {
    pub(crate) pool: PgPool,
    pub(crate) key: Arc<crypto::SecretKey>,
    /// The engine `docker://` builds are checked against; none in the ledger's own tests.
    pub(crate) engine: Option<Arc<dyn engine::ImageBuilder>>,
    /// GitHub, when configured: repository attachments, push builds, commit statuses.
    pub(crate) github: Option<Arc<github::GitHub>>,
    install_id: Arc<tokio::sync::OnceCell<String>>,
}

impl Core {
    /// Wraps a migrated pool; use [`db::connect`] to get one with the fingerprint checked.
    pub fn new(pool: PgPool, key: crypto::SecretKey) -> Self {
        Self {
            pool,
            key: Arc::new(key),
            engine: None,
            github: None,
            install_id: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// This installation's id: containers and images carry it, so installations sharing an
    /// engine leave each other's alone.
    pub async fn install_id(&self) -> Result<String> {
        let id = self
            .install_id
            .get_or_try_init(|| async {
                sqlx::query_scalar::<_, String>(
                    "select value from settings where name = 'install_id'",
                )
                .fetch_one(&self.pool)
                .await
            })
            .await?;
        Ok(id.clone())
    }

    /// Checks `docker://` builds against `engine`.
    pub fn with_engine(mut self, engine: Arc<dyn engine::ImageBuilder>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Talks to GitHub through `github` (repository attachments, push builds, statuses).
    pub fn with_github(mut self, github: github::GitHub) -> Self {
        self.github = Some(Arc::new(github));
        self
    }

    /// The GitHub adapter, when configured.
    pub fn github_client(&self) -> Option<&github::GitHub> {
        self.github.as_deref()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `data` encrypted and authenticated with the secret key, bound to `purpose` (short-lived
    /// values the server hands out and takes back, such as the OAuth state cookie).
    pub fn seal_value(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        self.key.seal(purpose, data)
    }

    /// What [`Core::seal_value`] sealed for `purpose`; `None` when forged or for another purpose.
    pub fn open_value(&self, purpose: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        self.key.open(purpose, sealed).ok()
    }
}
