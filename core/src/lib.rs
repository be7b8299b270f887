//! The PostgreSQL-backed core of Slipway: the release ledger and everything that writes to it.
//!
//! Layout: wings, lowest first. A wing imports only the wings before it in this list.
//! - the base, at the root: `error`, `crypto` (AES-GCM at rest), `secrets` (masking config
//!   values in logs, redacting source URLs), `db` (connecting, migrations in
//!   `core/migrations`, riding out an outage), `pgtools` (PostgreSQL's binaries), `lease` (a
//!   job's fence and lost claims), `jobs` (queuing a job; the channels workers listen on);
//! - `access`: `authz` (the one `authorize(actor, action)` seam), `users`, `tokens`;
//! - `ledger`: `apps`, `releases`, `config`, `features`, `favorites`, `diff`;
//! - `addons`: add-ons and their attachments, each change a release (`mod`), the `Provider`
//!   port, and the built-in PostgreSQL provider (`postgres`);
//! - `runtime`: the `Runtime` port, and releases as containers behind each app's address;
//! - `builds`: requests and records (`mod`), `fetch` (a source, within limits and address
//!   checks), `unpack` (an archive into a checked build context), `uploads`, `engine` (the
//!   image builder port and its Docker adapter), `log` (a build's lines, written in batches),
//!   `log_feed` (live logs, one `LISTEN` per process);
//! - `github`: the `GitHubApi` port and its REST adapter (`mod`), `repos` (attachments and
//!   their webhook), `statuses` (commit statuses of builds), `checks` (auto-releases that wait
//!   for status checks), `webhooks` (the push receiver);
//! - `queue`: claiming jobs, two lanes per app, and the worker that drives the runtime
//!   (`mod`) and builds (`build`: running one, reporting its status to GitHub).
//!
//! No arrow runs upward, by import or by a `Core` method defined in a higher wing
//! (`tests/it/layout.rs` checks both). Deleting an app therefore starts in `github::repos`
//! (its webhook goes first), which then asks the ledger to remove the app's records; a job's
//! writes riding out an outage (`lease::persist`) and a release's `Deployment` (`runtime`)
//! sit in the lowest wing that needs them.
//!
//! Every rule of release semantics lives here; the API and the UI only parse, call and map.

pub mod access;
pub mod addons;
pub mod builds;
pub mod crypto;
pub mod db;
mod error;
pub mod github;
pub mod jobs;
pub mod lease;
pub mod ledger;
pub mod pgtools;
pub mod queue;
pub mod runtime;
pub mod secrets;

pub use error::{Error, Result};

use std::sync::Arc;

use sqlx::PgPool;

/// The handle every use case hangs off: the pool and the secret key.
#[derive(Clone)]
pub struct Core {
    pub(crate) pool: PgPool,
    pub(crate) key: Arc<crypto::SecretKey>,
    /// The engine `docker://` builds are checked against; none in the ledger's own tests.
    pub(crate) engine: Option<Arc<dyn builds::engine::ImageBuilder>>,
    /// GitHub, when configured: repository attachments, push builds, commit statuses.
    pub(crate) github: Option<Arc<dyn github::GitHubApi>>,
    install_id: Arc<tokio::sync::OnceCell<String>>,
    /// Who sessions and tokens are, for a moment (see the module).
    pub(crate) remembered: Arc<access::remembered::Remembered>,
    /// What provisions add-ons: the built-in PostgreSQL, service brokers.
    pub(crate) providers: addons::Providers,
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
            remembered: Arc::default(),
            providers: addons::Providers::default(),
        }
    }

    /// This installation's id: containers and images carry it, so installations sharing an
    /// engine leave each other's alone.
    pub async fn install_id(&self) -> Result<String> {
        let id = self
            .install_id
            .get_or_try_init(|| async {
                sqlx::query_scalar!("select value from settings where name = 'install_id'")
                    .fetch_one(&self.pool)
                    .await
            })
            .await?;
        Ok(id.clone())
    }

    /// Checks `docker://` builds against `engine`.
    pub fn with_engine(mut self, engine: Arc<dyn builds::engine::ImageBuilder>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Provisions add-ons with `providers`.
    pub fn with_addon_providers(mut self, providers: addons::Providers) -> Self {
        self.providers = providers;
        self
    }

    /// Talks to GitHub through `github` (repository attachments, push builds, statuses).
    pub fn with_github(mut self, github: Arc<dyn github::GitHubApi>) -> Self {
        self.github = Some(github);
        self
    }

    /// The GitHub adapter, when configured.
    pub fn github_client(&self) -> Option<Arc<dyn github::GitHubApi>> {
        self.github.clone()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the database answers (the health check).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query!("select 1 as answer")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
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
