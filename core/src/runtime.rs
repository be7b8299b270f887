//! The app runtime on the Docker Engine API (DESIGN §6): each release runs as a labelled
//! container with its config vars and `PORT`; once it answers HTTP, the app's TCP proxy (a
//! stable port from `SLIPWAY_APP_PORTS`) is switched to it and the previous container stops.
//! A release that exits or never answers fails with the container's last log lines, and the
//! previous container keeps running behind the same address.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::StreamExt;
use sqlx::postgres::PgListener;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use uuid::Uuid;

use crate::db::through_outage;
use crate::error::Error::Refused;
use crate::jobs::RECONCILE_CHANNEL;
use crate::lease::Fence;
use crate::secrets::{mask, secrets_of};
use crate::Core;

/// What the runtime is asked to run for a release.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub app_id: Uuid,
    pub app_name: String,
    pub release_id: Uuid,
    pub version: i32,
    /// The image to run; `None` for a release without a build (nothing to run).
    pub image: Option<String>,
    pub config: BTreeMap<String, String>,
    pub port: i32,
    /// The claim of the job deploying it: the runtime holds it while it moves the app's
    /// address and removes other containers. `None` when not deployed by a job (reconcile).
    pub fence: Option<Fence>,
}

impl Core {
    /// What the runtime needs to run a release.
    pub(crate) async fn deployment(&self, release_id: Uuid) -> crate::Result<Deployment> {
        let r = sqlx::query!(
            "select a.id as app_id, a.name, s.name as space, r.version,
                    (select image from builds b where b.id = r.build_id) as image, r.port
               from releases r join apps a on a.id = r.app_id join spaces s on s.id = a.space_id
              where r.id = $1",
            release_id
        )
        .fetch_one(&self.pool)
        .await?;
        let (app_id, name, space, version, image, port) =
            (r.app_id, r.name, r.space, r.version, r.image, r.port);
        let mut conn = self.pool.acquire().await?;
        let config = self.open_snapshot_config(&mut conn, release_id).await?;
        Ok(Deployment {
            app_id,
            app_name: domain::full_app_name(&name, &space),
            release_id,
            version,
            image,
            config,
            port,
            fence: None,
        })
    }
}

/// The port to the thing that runs apps.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    /// Starts the release and makes it the app's running one; an error fails the release.
    async fn deploy(&self, d: &Deployment) -> anyhow::Result<()>;
    /// How many recent releases keep their images; `None`: images are never removed.
    fn keep_releases(&self) -> Option<u32> {
        None
    }
    /// Removes images no kept release needs.
    async fn remove_images(&self, _images: &[String]) {}
    /// The app's running release's last `lines` log lines, config values masked; none when
    /// nothing runs.
    async fn app_log(&self, _app_id: Uuid, _lines: usize) -> anyhow::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// The runtime until a container engine is wired in: runs nothing, every release succeeds.
pub struct NoopRuntime;

#[async_trait::async_trait]
impl Runtime for NoopRuntime {
    async fn deploy(&self, _d: &Deployment) -> anyhow::Result<()> {
        Ok(())
    }
}

/// An image no build refers to is removed once it is this old (a build tags its image a
/// moment before it records it).
const ORPHAN_AGE_SECS: i64 = 600;
const RECONCILE_EVERY: Duration = Duration::from_secs(30);

/// The installation a container or an image belongs to.
pub const LABEL_INSTALL: &str = "slipway.install";
const LABEL_APP: &str = "slipway.app";
const LABEL_RELEASE: &str = "slipway.release";
/// How many of a failed container's last log lines the release keeps.
const FAILURE_LINES: usize = 20;

/// Where apps are reachable and how long a release has to answer.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    pub health_timeout: Duration,
    pub ports: (u16, u16),
    pub host: IpAddr,
    /// Images of this many recent releases (and of pinned ones) are kept.
    pub keep_releases: u32,
}

/// Runs releases as containers on the engine at `DOCKER_HOST` (or the default socket).
pub struct DockerRuntime {
    core: Core,
    client: Option<bollard::Docker>,
    address: String,
    settings: RuntimeSettings,
    proxies: Mutex<HashMap<Uuid, Arc<Proxy>>>,
    /// Taken by whatever points a proxy somewhere (a route, or following the database), so a
    /// target read from the database before a route committed is never applied after it.
    targets: tokio::sync::Mutex<()>,
}

/// Who moves an app's address, and on what condition.
#[derive(Debug, Clone, Copy)]
enum Mover {
    /// A deploy, while its claim holds (none: a caller without a claim).
    Deploy(Option<Fence>),
    /// The reconciler putting this release back: only while it is still the app's current
    /// release and no deploy of the app is under way (one that started meanwhile decides).
    Restore(Uuid),
}

/// An app's address: a listener that forwards each connection to the current container.
struct Proxy {
    target: watch::Sender<Option<SocketAddr>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where the engine's containers (at `DOCKER_HOST`) reach this host, and their subnet: the
/// gateway of the engine's default `bridge` network, which apps' containers run on.
pub async fn bridge_network() -> anyhow::Result<(std::net::IpAddr, String)> {
    let c = bollard::Docker::connect_with_defaults()?;
    let net = c
        .inspect_network(
            "bridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await?;
    net.ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .find_map(|c| Some((c.gateway?.parse().ok()?, c.subnet?)))
        .ok_or_else(|| anyhow::anyhow!("the engine's bridge network has no gateway"))
}

impl DockerRuntime {
    pub fn new(core: Core, settings: RuntimeSettings) -> Self {
        let address = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
        Self {
            core,
            client: bollard::Docker::connect_with_defaults().ok(),
            address,
            settings,
            proxies: Mutex::new(HashMap::new()),
            targets: tokio::sync::Mutex::new(()),
        }
    }

    fn client(&self) -> anyhow::Result<&bollard::Docker> {
        self.client.as_ref().ok_or_else(|| {
            Refused(format!("no container engine reachable at {}", self.address)).into()
        })
    }

    /// The app's proxy in this process: its stored port bound again, or a free one claimed.
    /// `None` when the stored port is already bound, which is another Slipway process holding
    /// the address (it follows `apps.web_target`).
    async fn proxy(&self, app_id: Uuid) -> anyhow::Result<Option<Arc<Proxy>>> {
        if let Some(p) = self.proxies.lock().unwrap().get(&app_id) {
            return Ok(Some(p.clone()));
        }
        let host = self.settings.host;
        let stored = sqlx::query!(
            "select web_port, web_target from apps where id = $1",
            app_id
        )
        .fetch_one(&self.core.pool)
        .await?;
        let listener = match stored.web_port {
            Some(port) => {
                let port = port as u16;
                match TcpListener::bind((host, port)).await {
                    Ok(l) => l,
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => return Ok(None),
                    Err(e) => {
                        return Err(Refused(format!(
                            "The app's address {host}:{port} cannot be opened ({e})."
                        ))
                        .into())
                    }
                }
            }
            None => self.claim_port(app_id).await?.0,
        };
        // Until a deploy says otherwise, forward where the last one left it.
        let (target, rx) = watch::channel(stored.web_target.and_then(|t| t.parse().ok()));
        let task = tokio::spawn(forward(listener, rx));
        let proxy = Arc::new(Proxy { target, task });
        let mut proxies = self.proxies.lock().unwrap();
        Ok(Some(proxies.entry(app_id).or_insert(proxy).clone()))
    }

    /// Points the app's address at `addr`: here when this process holds it, else through the
    /// database and a notification to the process that does. A deploy's claim (or a restore's
    /// condition, see [`Mover`]) is checked in the transaction that records the new target;
    /// answers whether the address moved.
    async fn route(
        &self,
        app_id: Uuid,
        proxy: Option<&Proxy>,
        addr: SocketAddr,
        by: Mover,
    ) -> crate::Result<bool> {
        let order = self.targets.lock().await;
        let mut tx = self.core.pool.begin().await?;
        let restoring = match by {
            Mover::Deploy(Some(f)) => {
                f.hold(&mut tx).await?;
                None
            }
            Mover::Deploy(None) => None,
            Mover::Restore(release) => Some(release),
        };
        let port: Option<i32> = sqlx::query_scalar!(
            r#"update apps set web_target = $2, web_url = 'http://' || $3 || ':' || web_port
                where id = $1
                  and ($4::uuid is null
                       or ((select id from current_release($1)) = $4
                           and not exists (select 1 from releases
                                            where app_id = $1 and status = 'pending')))
                returning web_port as "web_port!""#,
            app_id,
            addr.to_string(),
            self.settings.host.to_string(),
            restoring
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(port) = port else {
            return Ok(false);
        };
        if proxy.is_none() {
            // Delivered at commit.
            sqlx::query!(
                "select pg_notify($1, $2)",
                RECONCILE_CHANNEL,
                format!("target {app_id}")
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        match proxy {
            Some(p) => {
                p.target.send_replace(Some(addr));
            }
            None => {
                drop(order);
                tracing::info!(app = %app_id, port, "address held by another Slipway process; asked it to switch");
                // Give the holder a moment to switch before the previous container stops.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Ok(true)
    }

    /// Follows `apps.web_target` for the addresses this process holds (`only`: one app).
    async fn follow_targets(&self, only: Option<Uuid>) -> anyhow::Result<()> {
        let held: Vec<Uuid> = match only {
            Some(a) => vec![a],
            None => self.proxies.lock().unwrap().keys().copied().collect(),
        };
        if held.is_empty() {
            return Ok(());
        }
        let _order = self.targets.lock().await;
        let rows = sqlx::query!("select id, web_target from apps where id = any($1)", &held)
            .fetch_all(&self.core.pool)
            .await?
            .into_iter()
            .map(|r| (r.id, r.web_target));
        let proxies = self.proxies.lock().unwrap();
        for (app, target) in rows {
            if let (Some(p), Some(t)) = (proxies.get(&app), target.and_then(|t| t.parse().ok())) {
                p.target.send_if_modified(|cur| {
                    let changed = *cur != Some(t);
                    *cur = Some(t);
                    changed
                });
            }
        }
        Ok(())
    }

    /// Binds the first free port of the range that no other app has, and stores it.
    async fn claim_port(&self, app_id: Uuid) -> anyhow::Result<(TcpListener, u16)> {
        let (lo, hi) = self.settings.ports;
        let taken: Vec<i32> = sqlx::query_scalar!(
            "select web_port as \"web_port!\" from apps where web_port is not null"
        )
        .fetch_all(&self.core.pool)
        .await?;
        for port in lo..=hi {
            if taken.contains(&(port as i32)) {
                continue;
            }
            let Ok(listener) = TcpListener::bind((self.settings.host, port)).await else {
                continue;
            };
            let stored = sqlx::query!(
                "update apps set web_port = $2 where id = $1 and web_port is null",
                app_id,
                port as i32
            )
            .execute(&self.core.pool)
            .await;
            match stored {
                Ok(r) if r.rows_affected() == 1 => return Ok((listener, port)),
                // Another app took this port meanwhile: try the next.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
                Err(e) => return Err(e.into()),
                // Another process gave this app a port meanwhile: use that one.
                Ok(_) => {
                    drop(listener);
                    let port: i32 = sqlx::query_scalar!(
                        "select web_port as \"web_port!\" from apps where id = $1",
                        app_id
                    )
                    .fetch_one(&self.core.pool)
                    .await?;
                    let l = TcpListener::bind((self.settings.host, port as u16)).await?;
                    return Ok((l, port as u16));
                }
            }
        }
        Err(Refused(format!(
            "No free port is left in SLIPWAY_APP_PORTS ({lo}-{hi}) for the app's address."
        ))
        .into())
    }

    /// This installation's containers with `label` (`key` or `key=value`), running or not.
    async fn containers(
        &self,
        label: &str,
    ) -> anyhow::Result<Vec<bollard::models::ContainerSummary>> {
        let mine = format!("{LABEL_INSTALL}={}", self.core.install_id().await?);
        let filters = HashMap::from([("label".to_owned(), vec![label.to_owned(), mine])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        Ok(self.client()?.list_containers(Some(options)).await?)
    }

    async fn remove_container(&self, id: &str) {
        let Ok(c) = self.client() else { return };
        let _ = c
            .stop_container(
                id,
                Some(StopContainerOptionsBuilder::default().t(5).build()),
            )
            .await;
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        if let Err(e) = c.remove_container(id, Some(options)).await {
            tracing::warn!(container = id, error = %e, "cannot remove a container");
        }
    }

    /// Starts a container for `d` and waits until it answers HTTP; answers the address to
    /// forward to. On failure the container is removed and the error says why.
    async fn start(&self, d: &Deployment, image: &str) -> anyhow::Result<(String, SocketAddr)> {
        let c = self.client()?;
        let port = format!("{}/tcp", d.port);
        let mut env: Vec<String> = d.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("PORT={}", d.port));
        let labels = HashMap::from([
            (LABEL_INSTALL.to_owned(), self.core.install_id().await?),
            (LABEL_APP.to_owned(), d.app_id.to_string()),
            (LABEL_RELEASE.to_owned(), d.release_id.to_string()),
            ("slipway.app-name".to_owned(), d.app_name.clone()),
            ("slipway.version".to_owned(), d.version.to_string()),
        ]);
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            env: Some(env),
            labels: Some(labels),
            exposed_ports: Some(vec![port.clone()]),
            host_config: Some(HostConfig {
                init: Some(true),
                port_bindings: Some(HashMap::from([(
                    port.clone(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!(
            "slipway-{}-v{}-{}",
            d.app_name,
            d.version,
            &Uuid::new_v4().simple().to_string()[..6]
        );
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let id = match c.create_container(Some(options), body).await {
            Ok(r) => r.id,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => anyhow::bail!(Refused(format!(
                "The image {image} is no longer on the container engine."
            ))),
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = c.start_container(&id, None).await {
            self.remove_container(&id).await;
            anyhow::bail!(Refused(format!("The container did not start: {e}")));
        }
        match self.wait_healthy(&id, &port, d).await {
            Ok(addr) => Ok((id, addr)),
            Err(why) => {
                let lines = self.last_lines(&id, d).await;
                self.remove_container(&id).await;
                let mut text = why;
                if !lines.is_empty() {
                    text.push_str("\nThe container's last lines:\n");
                    text.push_str(&lines.join("\n"));
                }
                Err(Refused(text).into())
            }
        }
    }

    /// Healthy: still running, and an HTTP request to `PORT` gets an HTTP answer.
    async fn wait_healthy(
        &self,
        id: &str,
        port: &str,
        d: &Deployment,
    ) -> Result<SocketAddr, String> {
        let c = self.client().map_err(|e| e.to_string())?;
        let timeout = self.settings.health_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let info = c
                .inspect_container(id, None)
                .await
                .map_err(|_| "The container vanished while starting.".to_owned())?;
            let state = info.state.unwrap_or_default();
            if state.running != Some(true) {
                return Err(format!(
                    "The container exited with code {} before answering HTTP on port {}.",
                    state.exit_code.unwrap_or(-1),
                    d.port
                ));
            }
            let host_port = info
                .network_settings
                .and_then(|n| n.ports)
                .and_then(|p| p.get(port).cloned().flatten())
                .and_then(|b| b.into_iter().find_map(|b| b.host_port))
                .and_then(|p| p.parse::<u16>().ok());
            if let Some(hp) = host_port {
                let addr = SocketAddr::from(([127, 0, 0, 1], hp));
                if answers_http(addr).await {
                    return Ok(addr);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "The container did not answer HTTP on port {} within {}s (SLIPWAY_HEALTH_TIMEOUT).",
                    d.port,
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A container's last log lines, with config values masked.
    async fn last_lines(&self, id: &str, d: &Deployment) -> Vec<String> {
        self.tail(id, FAILURE_LINES, &secrets_of(&d.config))
            .await
            .unwrap_or_default()
    }

    /// A container's last `lines` log lines (stdout and stderr), with `secrets` masked.
    async fn tail(
        &self,
        id: &str,
        lines: usize,
        secrets: &[String],
    ) -> anyhow::Result<Vec<String>> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut out = String::new();
        let mut logs = self.client()?.logs(id, Some(options));
        while let Some(Ok(chunk)) = logs.next().await {
            out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(out.lines().map(|l| mask(l.to_owned(), secrets)).collect())
    }

    /// The app's running container's last log lines (the app page's runtime log), with its
    /// release's config values masked.
    async fn running_log(&self, app_id: Uuid, lines: usize) -> anyhow::Result<Vec<String>> {
        let running = self.containers(&format!("{LABEL_APP}={app_id}")).await?;
        let Some(newest) = running
            .into_iter()
            .filter(|c| c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING))
            .max_by_key(|c| c.created)
        else {
            return Ok(Vec::new());
        };
        let (Some(id), Some(release)) = (
            newest.id.clone(),
            newest
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_RELEASE))
                .and_then(|r| r.parse::<Uuid>().ok()),
        ) else {
            return Ok(Vec::new());
        };
        let secrets = secrets_of(&self.core.deployment(release).await?.config);
        self.tail(&id, lines, &secrets).await
    }

    /// Brings the engine in line with the ledger: containers of deleted apps and of releases
    /// that are no longer current go; each app's current release runs behind its address.
    /// Run when a worker starts, and now and then.
    pub async fn reconcile(&self) -> anyhow::Result<()> {
        tracing::debug!("reconcile started");
        // Releases being deployed, read first: a release that goes from pending to succeeded
        // meanwhile is then seen as current below, never as neither. Their containers may
        // still be inside their health window, however long SLIPWAY_HEALTH_TIMEOUT is, and
        // their apps are left to the deploy.
        let deploying: Vec<(Uuid, Uuid)> =
            sqlx::query!("select id, app_id from releases where status = 'pending'")
                .fetch_all(&self.core.pool)
                .await?
                .into_iter()
                .map(|r| (r.id, r.app_id))
                .collect();
        let deploying_apps: std::collections::HashSet<Uuid> =
            deploying.iter().map(|(_, app)| *app).collect();
        let deploying: std::collections::HashSet<Uuid> =
            deploying.into_iter().map(|(r, _)| r).collect();
        let containers = self.containers(LABEL_APP).await?;
        let current: HashMap<Uuid, Uuid> = sqlx::query!(
            r#"select a.id as "app!", cur.id as "release!" from apps a
                 join lateral current_release(a.id) cur on cur.build_id is not null"#
        )
        .fetch_all(&self.core.pool)
        .await?
        .into_iter()
        .map(|r| (r.app, r.release))
        .collect();
        // Apps that exist, with a current release or not (an app's first deploy may be under
        // way: its container must not be taken for one of a deleted app).
        let existing: std::collections::HashSet<Uuid> = sqlx::query_scalar!("select id from apps")
            .fetch_all(&self.core.pool)
            .await?
            .into_iter()
            .collect();
        // Proxies of apps that are gone.
        self.proxies
            .lock()
            .unwrap()
            .retain(|app, _| existing.contains(app));
        let mut running: HashMap<Uuid, (String, bool)> = HashMap::new();
        for c in &containers {
            let labels = c.labels.clone().unwrap_or_default();
            let app = labels.get(LABEL_APP).and_then(|a| a.parse::<Uuid>().ok());
            let release = labels
                .get(LABEL_RELEASE)
                .and_then(|r| r.parse::<Uuid>().ok());
            let Some(id) = c.id.clone() else { continue };
            match (app, release) {
                (Some(app), Some(release)) if current.get(&app) == Some(&release) => {
                    let up = c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING);
                    running.insert(app, (id, up));
                }
                // A deploy may be under way in another worker: only remove containers of
                // apps that are gone, or of releases not being deployed that are older than a
                // minute (a deploy creates its container a moment after marking it pending).
                (Some(app), release)
                    if !existing.contains(&app)
                        || (!release.is_some_and(|r| deploying.contains(&r))
                            && c.created.unwrap_or(0) < chrono::Utc::now().timestamp() - 60) =>
                {
                    self.remove_container(&id).await;
                }
                _ => {}
            }
        }
        for (app, release) in current {
            if deploying_apps.contains(&app) {
                // A deploy is moving this app's address: it decides what runs.
                continue;
            }
            let known = self.proxies.lock().unwrap().contains_key(&app);
            match running.get(&app) {
                Some((_, true)) if known => {}
                // Running: take the address if no other process holds it (it then forwards
                // to `apps.web_target`).
                Some((_, true)) => {
                    if let Err(e) = self.proxy(app).await {
                        tracing::warn!(app = %app, error = %format!("{e:#}"), "cannot open the app's address");
                    }
                }
                _ => {
                    if let Err(e) = self.restore(app, release, running.get(&app)).await {
                        tracing::warn!(app = %app, error = %format!("{e:#}"), "cannot restore the app's current release");
                    }
                }
            }
        }
        self.follow_targets(None).await?;
        self.remove_orphan_images().await?;
        tracing::debug!("reconciled");
        Ok(())
    }

    /// Removes `slipway/…` images that no build keeps (their app was deleted, or a build
    /// failed after tagging).
    async fn remove_orphan_images(&self) -> anyhow::Result<()> {
        let c = self.client()?;
        let filters = HashMap::from([
            ("reference".to_owned(), vec!["slipway/*".to_owned()]),
            (
                "label".to_owned(),
                vec![format!("{LABEL_INSTALL}={}", self.core.install_id().await?)],
            ),
        ]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let images = c.list_images(Some(options)).await?;
        let kept: Vec<String> = sqlx::query_scalar!(
            "select image as \"image!\" from builds where image is not null and not image_removed"
        )
        .fetch_all(&self.core.pool)
        .await?;
        let old = chrono::Utc::now().timestamp() - ORPHAN_AGE_SECS;
        let orphans: Vec<String> = images
            .into_iter()
            .filter(|i| i.created < old)
            .flat_map(|i| i.repo_tags)
            .filter(|t| t.starts_with("slipway/") && !kept.contains(t))
            .collect();
        self.remove_image_list(&orphans).await;
        Ok(())
    }

    /// Puts the app's current release back behind its address: its container started again
    /// when it exists, else a new one.
    async fn restore(
        &self,
        app_id: Uuid,
        release_id: Uuid,
        existing: Option<&(String, bool)>,
    ) -> anyhow::Result<()> {
        let d = self.core.deployment(release_id).await?;
        let Some(image) = d.image.clone() else {
            return Ok(());
        };
        let proxy = self.proxy(app_id).await?;
        if let Some((id, up)) = existing {
            let c = self.client()?;
            if !up {
                let _ = c.start_container(id, None).await;
            }
            let port = format!("{}/tcp", d.port);
            if let Ok(addr) = self.wait_healthy(id, &port, &d).await {
                self.route(app_id, proxy.as_deref(), addr, Mover::Restore(release_id))
                    .await?;
                return Ok(());
            }
            self.remove_container(id).await;
        }
        let (id, addr) = self.start(&d, &image).await?;
        if !self
            .route(app_id, proxy.as_deref(), addr, Mover::Restore(release_id))
            .await?
        {
            // A deploy began meanwhile, or another release is current now: it decides what
            // runs, and this container never took traffic.
            self.remove_container(&id).await;
        }
        Ok(())
    }

    /// Removes a deleted app's containers, its images and its address in this process.
    async fn remove_app(&self, app_id: Uuid, app_name: &str) -> anyhow::Result<()> {
        self.proxies.lock().unwrap().remove(&app_id);
        for c in self.containers(&format!("{LABEL_APP}={app_id}")).await? {
            if let Some(id) = c.id {
                self.remove_container(&id).await;
            }
        }
        let c = self.client()?;
        let repo = format!("slipway/{app_name}");
        let filters = HashMap::from([
            ("reference".to_owned(), vec![repo.clone()]),
            (
                "label".to_owned(),
                vec![format!("{LABEL_INSTALL}={}", self.core.install_id().await?)],
            ),
        ]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let tags: Vec<String> = c
            .list_images(Some(options))
            .await?
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .collect();
        // A new app of the same name may have built since: its images stay.
        let kept: Vec<String> = sqlx::query_scalar!(
            "select image as \"image!\" from builds where image like $1 and not image_removed",
            format!("{repo}:%")
        )
        .fetch_all(&self.core.pool)
        .await?;
        let gone: Vec<String> = tags.into_iter().filter(|t| !kept.contains(t)).collect();
        self.remove_image_list(&gone).await;
        Ok(())
    }

    /// Reconciles at start, whenever an app is deleted, and every half minute, until
    /// `shutdown`.
    pub async fn run_reconciler(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut listener = match PgListener::connect_with(&self.core.pool).await {
            Ok(mut l) => l.listen(RECONCILE_CHANNEL).await.is_ok().then_some(l),
            Err(_) => None,
        };
        loop {
            if let Err(e) = self.reconcile().await {
                tracing::warn!(error = %format!("{e:#}"), "cannot reconcile the container engine");
            }
            let wake = async {
                match listener.as_mut() {
                    Some(l) => match tokio::time::timeout(RECONCILE_EVERY, l.recv()).await {
                        Ok(Ok(n)) => Some(n.payload().to_owned()),
                        Ok(Err(_)) => {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            None
                        }
                        Err(_) => None,
                    },
                    None => {
                        tokio::time::sleep(RECONCILE_EVERY).await;
                        None
                    }
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                payload = wake => match payload.as_deref().and_then(|p| p.split_once(' ')) {
                    // Another worker deployed an app whose address this process may hold.
                    Some(("target", id)) => {
                        if let Ok(id) = id.parse::<Uuid>() {
                            if let Err(e) = self.follow_targets(Some(id)).await {
                                tracing::warn!(error = %format!("{e:#}"), "cannot follow an app's new container");
                            }
                        }
                        continue;
                    }
                    Some((id, name)) => {
                        if let Ok(id) = id.parse::<Uuid>() {
                            if let Err(e) = self.remove_app(id, name).await {
                                tracing::warn!(error = %format!("{e:#}"), "cannot remove a deleted app's containers");
                            }
                        }
                    }
                    None => {}
                },
            }
        }
    }

    /// Removes images (those in use or already gone are skipped).
    pub async fn remove_image_list(&self, images: &[String]) {
        let Ok(c) = self.client() else { return };
        for image in images {
            let options = RemoveImageOptionsBuilder::default().build();
            match c.remove_image(image, Some(options), None).await {
                Ok(_)
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => tracing::warn!(image, error = %e, "cannot remove an image"),
            }
        }
    }
}

#[async_trait::async_trait]
impl Runtime for DockerRuntime {
    async fn app_log(&self, app_id: Uuid, lines: usize) -> anyhow::Result<Vec<String>> {
        self.running_log(app_id, lines).await
    }

    async fn deploy(&self, d: &Deployment) -> anyhow::Result<()> {
        let Some(image) = d.image.clone() else {
            // A release without a build runs nothing.
            return Ok(());
        };
        let proxy = through_outage(|| async { Ok(self.proxy(d.app_id).await?) }).await?;
        let (id, addr) = self.start(d, &image).await?;
        // The address moves, and the other containers go, only while the claim holds: a
        // worker whose job was taken over touches neither (it removes only the container it
        // just started, which nothing routes to).
        if let Err(e) =
            through_outage(|| self.route(d.app_id, proxy.as_deref(), addr, Mover::Deploy(d.fence)))
                .await
        {
            if crate::lease::is_lost(&e) {
                self.remove_container(&id).await;
            }
            return Err(e.into());
        }
        // Held (a read lock on the job) while the other containers are removed; dropped at
        // the end, nothing to commit.
        let _held = match d.fence {
            Some(f) => Some(through_outage(|| f.guard(&self.core.pool)).await?),
            None => None,
        };
        // The previous containers stop only now, so the address never goes dark.
        for c in self
            .containers(&format!("{LABEL_APP}={}", d.app_id))
            .await?
        {
            if let Some(other) = c.id.filter(|other| *other != id) {
                self.remove_container(&other).await;
            }
        }
        Ok(())
    }

    fn keep_releases(&self) -> Option<u32> {
        Some(self.settings.keep_releases)
    }

    async fn remove_images(&self, images: &[String]) {
        self.remove_image_list(images).await;
    }
}

/// Forwards each connection to the current target; none yet: the connection is closed.
async fn forward(listener: TcpListener, target: watch::Receiver<Option<SocketAddr>>) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Some(to) = *target.borrow() else {
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// Whether `addr` answers an HTTP request with anything that looks like HTTP, within a second.
async fn answers_http(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: slipway-health\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 5];
        s.read_exact(&mut head).await.ok()?;
        Some(&head == b"HTTP/")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Some(true))
    )
}
