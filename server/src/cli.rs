//! The entry point: parse options, connect to PostgreSQL (embedded or given), then serve, work,
//! or make a token. Shutdown path: SIGINT/SIGTERM stops accepting connections and the worker,
//! waits for requests in flight, then stops the embedded cluster if this process owns it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Parser;
use leptos::prelude::LeptosOptions;
use slipway_core::builds::fetch::AddressPolicy;
use slipway_core::builds::unpack::Limits;
use slipway_core::crypto::SecretKey;
use slipway_core::github::{GitHub, GitHubApi, GitHubSettings};
use slipway_core::queue::build::BuildSettings;
use slipway_core::queue::Engines;
use slipway_core::runtime::Runtime;
use slipway_core::runtime::{DockerRuntime, RuntimeSettings};
use slipway_core::Core;
use tokio::sync::watch;

use crate::embedded_pg::{self, Embedded};
use crate::http::{self, guard::PublicUrl, AppState};
use crate::options::{Cli, Command, Options, TokenCommand};

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; plain text for a file or a log collector.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLIPWAY_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_sessions=warn")
            }),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slipway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let opts = cli.options;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(opts).await,
        Command::Worker => worker(opts).await,
        Command::Token {
            command: TokenCommand::Create { user },
        } => token_create(opts, &user).await,
    }
}

/// The database and, in embedded mode, the clusters this process uses.
struct Database {
    core: Core,
    embedded: Option<Embedded>,
    /// The add-ons' cluster, in embedded mode. It outlives this process, as the apps'
    /// containers do: they use it whether Slipway runs or not. The next start adopts it.
    addons: Option<Embedded>,
}

impl Database {
    fn close(&self) {
        if let Some(e) = &self.embedded {
            e.stop();
        }
    }
}

/// The ledger's database; `serve` and `worker` also get the add-on providers (in embedded mode
/// the add-ons' cluster is started or joined).
async fn open_database(
    opts: &Options,
    max_connections: u32,
    with_addons: bool,
) -> anyhow::Result<Database> {
    let mut db = open_ledger(opts, max_connections).await?;
    if with_addons {
        match addon_providers(opts, db.embedded.is_some()).await {
            Ok((providers, cluster)) => {
                db.core = db.core.clone().with_addon_providers(providers);
                db.addons = cluster;
            }
            Err(e) => {
                db.close();
                return Err(e);
            }
        }
    }
    Ok(db)
}

/// The built-in PostgreSQL add-on: on SLIPWAY_ADDON_POSTGRES_URL's server when set; else, in
/// embedded mode, on the add-ons' embedded cluster at the engine's bridge gateway (off, with a
/// warning, when no engine answers); else off.
async fn addon_providers(
    opts: &Options,
    embedded: bool,
) -> anyhow::Result<(slipway_core::addons::Providers, Option<Embedded>)> {
    use slipway_core::addons::{postgres::BuiltinPostgres, Provider, Providers};
    let brokers = brokers(opts).await?;
    let with = |builtin: Option<Arc<dyn Provider>>| {
        Providers::new(builtin.into_iter().chain(brokers.iter().cloned()).collect())
    };
    if let Some(p) = opts.addon_postgres()? {
        return Ok((with(Some(Arc::new(p))), None));
    }
    if !embedded {
        tracing::info!("the built-in PostgreSQL add-on is off: set SLIPWAY_ADDON_POSTGRES_URL to offer it with DATABASE_URL");
        return Ok((with(None), None));
    }
    if opts.addon_postgres_port == 0 {
        tracing::info!("the built-in PostgreSQL add-on is off (SLIPWAY_ADDON_POSTGRES_PORT=0)");
        return Ok((with(None), None));
    }
    let (gateway, subnet) = match slipway_core::runtime::bridge_network().await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "the built-in PostgreSQL add-on is off: the container engine's bridge network cannot be read");
            return Ok((with(None), None));
        }
    };
    let spec = embedded_pg::Spec::addons(
        embedded_pg::Network {
            listen: gateway,
            subnet,
        },
        opts.addon_postgres_port,
    );
    // The app's own work does not depend on it: a cluster that cannot start turns the add-on
    // off, and says why.
    let cluster = match embedded_pg::start_cluster(
        &opts.data_dir,
        opts.pg_bin_dir.as_deref(),
        &spec,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the built-in PostgreSQL add-on is off: its embedded cluster did not start");
            return Ok((with(None), None));
        }
    };
    // The port the cluster listens on: its owner's, which may be another process.
    let port = cluster.options.get_port();
    let p: Arc<dyn Provider> = Arc::new(BuiltinPostgres::with_options(
        cluster.options.clone(),
        (gateway.to_string(), port),
    ));
    Ok((with(Some(p)), Some(cluster)))
}

/// The brokers of SLIPWAY_ADDON_BROKERS, each with its catalog read (a broker that does not
/// answer yet offers nothing until it does: its catalog is read again every minute).
async fn brokers(opts: &Options) -> anyhow::Result<Vec<Arc<dyn slipway_core::addons::Provider>>> {
    use slipway_core::addons::osb::Broker;
    let mut out: Vec<Arc<dyn slipway_core::addons::Provider>> = Vec::new();
    for spec in opts.addon_brokers.iter().filter(|s| !s.trim().is_empty()) {
        let broker = Arc::new(
            Broker::parse(spec, opts.addon_provision_timeout).map_err(anyhow::Error::msg)?,
        );
        if let Err(e) = broker.refresh().await {
            tracing::warn!(broker = broker.broker_name(), error = %e, "cannot read the broker's catalog; trying again every minute");
        }
        let b = broker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = b.refresh().await {
                    tracing::warn!(broker = b.broker_name(), error = %e, "cannot read the broker's catalog");
                }
            }
        });
        out.push(broker);
    }
    Ok(out)
}

async fn open_ledger(opts: &Options, max_connections: u32) -> anyhow::Result<Database> {
    if let Some(url) = &opts.database_url {
        let key = opts.secret_key.as_deref().context(
            "SLIPWAY_SECRET_KEY is required with DATABASE_URL: 32 random bytes in base64, e.g. from `openssl rand -base64 32`",
        )?;
        let key = SecretKey::from_base64(key).map_err(anyhow::Error::msg)?;
        let options: sqlx::postgres::PgConnectOptions = url
            .parse()
            .context("DATABASE_URL is not a PostgreSQL URL")?;
        let core = slipway_core::db::connect(options, max_connections, key)
            .await?
            .with_engine(Arc::new(slipway_core::builds::engine::Docker::from_env()));
        return Ok(Database {
            core,
            embedded: None,
            addons: None,
        });
    }
    let embedded = embedded_pg::start(&opts.data_dir, opts.pg_bin_dir.as_deref()).await?;
    let key = match &opts.secret_key {
        Some(k) => SecretKey::from_base64(k).map_err(anyhow::Error::msg),
        None => embedded_key(&opts.data_dir),
    };
    let core = match key {
        Ok(key) => slipway_core::db::connect(embedded.options.clone(), max_connections, key).await,
        Err(e) => Err(e),
    };
    match core {
        Ok(core) => Ok(Database {
            core: core.with_engine(Arc::new(slipway_core::builds::engine::Docker::from_env())),
            embedded: Some(embedded),
            addons: None,
        }),
        Err(e) => {
            embedded.stop();
            Err(e)
        }
    }
}

/// The key generated into the data directory on first start (mode 0600).
fn embedded_key(data_dir: &std::path::Path) -> anyhow::Result<SecretKey> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("secret.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            SecretKey::from_base64(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            f.write_all(key.to_base64().as_bytes())?;
            f.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled, so a signal right after "listening on" is not lost.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

fn site_root(opts: &Options) -> PathBuf {
    if let Some(root) = &opts.site_root {
        return root.clone();
    }
    // cargo-leptos puts the binary in target/<profile>/ and the site in target/site.
    let beside = std::env::current_exe().ok().and_then(|exe| {
        exe.parent()
            .and_then(|p| p.parent())
            .map(|t| t.join("site"))
    });
    match beside {
        Some(p) if p.join("pkg").exists() => p,
        _ => PathBuf::from("target/site"),
    }
}

async fn serve(opts: Options) -> anyhow::Result<()> {
    // From here on a SIGTERM waits for a clean stop (the embedded cluster included).
    let stop = shutdown_signal()?;
    let oauth = opts.oauth_configured();
    if !opts.addr.ip().is_loopback() && !oauth {
        bail!(
            "refusing to listen on {} without GitHub sign-in: anyone who can reach it could sign in as the local admin. Set SLIPWAY_GITHUB_CLIENT_ID and SLIPWAY_GITHUB_CLIENT_SECRET, or listen on a loopback address",
            opts.addr
        );
    }
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("cannot listen on {}", opts.addr))?;
    let bound = listener.local_addr()?;
    let public = match &opts.public_url {
        Some(u) => PublicUrl::parse(u).map_err(anyhow::Error::msg)?,
        None => PublicUrl::parse(&format!("http://{bound}")).map_err(anyhow::Error::msg)?,
    };
    // Behind a reverse proxy a loopback bind proves nothing: the public URL says who can
    // reach the server.
    if !oauth && !public.is_loopback() {
        bail!(
            "refusing to serve {} without GitHub sign-in: anyone who can reach it could sign in as the local admin. Set SLIPWAY_GITHUB_CLIENT_ID and SLIPWAY_GITHUB_CLIENT_SECRET, or use a loopback SLIPWAY_PUBLIC_URL",
            public.base
        );
    }
    let local_sign_in = !oauth && bound.ip().is_loopback() && public.is_loopback();
    let mut db = open_database(&opts, 20, true).await?;
    db.core = db.core.clone().with_github(github(&opts, &public.base));
    let leptos = LeptosOptions::builder()
        .output_name("slipway")
        .site_root(site_root(&opts).to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build();
    let runtime = docker_runtime(&db.core, &opts);
    let broker = match opts.osb_credentials.as_deref() {
        Some(c) => Some(Arc::new(
            crate::http::osb::BrokerCredential::parse(c).map_err(anyhow::Error::msg)?,
        )),
        None => None,
    };
    let state = AppState {
        core: db.core.clone(),
        logs: slipway_core::builds::log_feed::LogHub::start(db.core.clone()),
        runtime: runtime.clone(),
        max_upload: usize::try_from(opts.max_source_bytes).unwrap_or(usize::MAX),
        broker,
        leptos,
        public: Arc::new(public),
        local_sign_in,
        oauth,
        github_sign_in: sign_in_policy(&opts).map(Arc::new),
        oauth_http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(30))
            .build()?,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker =
        (!opts.no_worker).then(|| spawn_worker(&db.core, runtime.clone(), &opts, stop_rx.clone()));
    // Background chores of the web process, ended with it: access re-checked with GitHub,
    // expired sessions purged.
    let chores = [
        tokio::spawn(http::oauth::recheck_members(
            state.clone(),
            opts.access_recheck,
        )),
        tokio::spawn(purge_sessions(state.core.pool().clone())),
    ];
    let app = http::router(state);
    println!("listening on http://{bound}");
    tracing::info!(addr = %bound, "listening");
    let served = axum::serve(listener, app).with_graceful_shutdown(async move {
        stop.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let result = served.await.context("the server failed");
    for chore in chores {
        chore.abort();
    }
    if let Some(w) = worker {
        let _ = w.await;
    }
    db.core.pool().close().await;
    db.close();
    result
}

/// Removes expired sessions now and every hour.
async fn purge_sessions(pool: sqlx::PgPool) {
    use tower_sessions::ExpiredDeletion;
    let store = tower_sessions_sqlx_store::PostgresStore::new(pool);
    loop {
        if let Err(e) = store.delete_expired().await {
            tracing::warn!(error = %e, "cannot remove expired sessions");
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// The GitHub adapter: where GitHub is, the service account, and this server's public URL
/// (webhook and status addresses).
fn github(opts: &Options, public_url: &str) -> Arc<dyn GitHubApi> {
    Arc::new(GitHub::new(GitHubSettings {
        web_url: opts.github_url.trim().trim_end_matches('/').to_owned(),
        api_url: opts.github_api_url.trim().trim_end_matches('/').to_owned(),
        service: opts.service_account(),
        public_url: public_url.trim_end_matches('/').to_owned(),
    }))
}

/// The OAuth app and who may sign in, when OAuth is configured.
fn sign_in_policy(opts: &Options) -> Option<http::oauth::GitHubSignInPolicy> {
    if !opts.oauth_configured() {
        return None;
    }
    if opts.allowed_orgs().is_empty()
        && opts.allowed_users().is_empty()
        && opts.admin_logins().is_empty()
    {
        tracing::warn!("GitHub sign-in is configured, but nobody may sign in: set SLIPWAY_GITHUB_ORGS, SLIPWAY_GITHUB_USERS or SLIPWAY_ADMINS");
    }
    Some(http::oauth::GitHubSignInPolicy {
        client_id: opts.github_client_id.clone()?.trim().to_owned(),
        client_secret: opts.github_client_secret.clone()?.trim().to_owned(),
        orgs: opts.allowed_orgs(),
        users: opts.allowed_users(),
        admins: opts.admin_logins(),
        default_role: opts.default_role,
        web_url: opts.github_url.trim().trim_end_matches('/').to_owned(),
    })
}

/// The process's one runtime: deploys (in the worker) and runtime logs (in the UI).
fn docker_runtime(core: &Core, opts: &Options) -> Arc<DockerRuntime> {
    Arc::new(DockerRuntime::new(
        core.clone(),
        RuntimeSettings {
            health_timeout: opts.health_timeout,
            ports: opts.app_ports,
            host: opts.app_host,
            keep_releases: opts.keep_releases,
        },
    ))
}

fn spawn_worker(
    core: &Core,
    docker: Arc<DockerRuntime>,
    opts: &Options,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let core = core.clone();
    let lease = opts.job_lease;
    let runtime: Arc<dyn Runtime> = docker.clone();
    let engines = Engines {
        runtime,
        builds: build_settings(opts),
        max_jobs: opts.worker_jobs,
    };
    let name = format!("{}-{}", hostname(), std::process::id());
    tokio::spawn(async move {
        let mut stop2 = stop.clone();
        let reconciler = tokio::spawn(docker.run_reconciler(async move {
            let _ = stop2.wait_for(|s| *s).await;
        }));
        core.run_worker(name, lease, engines, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
        let _ = reconciler.await;
    })
}

/// The builder, limits and address policy builds run with (DESIGN §6, §8).
fn build_settings(opts: &Options) -> BuildSettings {
    let public_is_loopback = match &opts.public_url {
        Some(u) => url_host_is_loopback(u),
        None => opts.addr.ip().is_loopback(),
    };
    let mut allow_hosts: Vec<String> = opts
        .source_allow_hosts
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    // GitHub's API host is always allowed (its archive redirects are followed from there).
    if let Some(h) = url_host(&opts.github_api_url) {
        allow_hosts.push(h);
    }
    BuildSettings {
        builder: Arc::new(slipway_core::builds::engine::Docker::from_env()),
        limits: Limits {
            max_source_bytes: opts.max_source_bytes,
            max_unpacked_bytes: opts.max_unpacked_bytes,
            max_files: opts.max_files,
        },
        policy: AddressPolicy {
            allow_private: opts.allow_private_sources.unwrap_or(public_is_loopback),
            allow_hosts,
        },
        timeout: opts.build_timeout,
        work_dir: std::env::temp_dir().join("slipway-builds"),
        max_log_bytes: opts.max_log_bytes,
    }
}

fn url_host(u: &str) -> Option<String> {
    let rest = u.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let host = if host.starts_with('[') {
        host.split(']').next()?.trim_start_matches('[')
    } else {
        host.split(':').next()?
    };
    Some(host.to_ascii_lowercase())
}

fn url_host_is_loopback(u: &str) -> bool {
    match url_host(u) {
        Some(h) if h == "localhost" => true,
        Some(h) => h
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "slipway".into())
}

async fn worker(opts: Options) -> anyhow::Result<()> {
    let stop = shutdown_signal()?;
    let mut db = open_database(&opts, 5, true).await?;
    // A worker binds nothing: its statuses link to SLIPWAY_PUBLIC_URL, else to the address
    // the web server listens on by default.
    let public = opts.public_url.clone().unwrap_or_else(|| {
        tracing::warn!(
            "SLIPWAY_PUBLIC_URL is not set: commit statuses will link to http://{}, the web server's default address",
            opts.addr
        );
        format!("http://{}", opts.addr)
    });
    db.core = db.core.clone().with_github(github(&opts, &public));
    let (stop_tx, stop_rx) = watch::channel(false);
    let w = spawn_worker(&db.core, docker_runtime(&db.core, &opts), &opts, stop_rx);
    tracing::info!("worker running");
    stop.await;
    let _ = stop_tx.send(true);
    let _ = w.await;
    db.core.pool().close().await;
    db.close();
    Ok(())
}

async fn token_create(opts: Options, login: &str) -> anyhow::Result<()> {
    let db = open_database(&opts, 2, false).await?;
    let result = async {
        let user = if opts.oauth_configured() {
            db.core
                .user_by_login("github", login)
                .await?
                .with_context(|| {
                    format!(
                        "there is no user \"{login}\": they must sign in with GitHub once first"
                    )
                })?
        } else {
            db.core.local_admin(login).await?
        };
        let (_, text) = db
            .core
            .create_token(&user, "created with `slipway token create`")
            .await?;
        anyhow::Ok(text)
    }
    .await;
    db.core.pool().close().await;
    db.close();
    println!("{}", result?);
    Ok(())
}
