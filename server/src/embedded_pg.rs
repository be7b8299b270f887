//! The embedded PostgreSQL: a private cluster made from the machine's PostgreSQL binaries.
//!
//! - The cluster lives in `<data dir>/pg`; as root it runs as an unprivileged user (`postgres`,
//!   else `nobody`), and when that user cannot reach the data directory it lives in
//!   `/var/lib/slipway/pg-<hash of the data directory>` instead.
//! - It listens only on a unix socket in `/tmp/slipway-<hash>` (socket paths are limited to
//!   ~107 bytes), a directory only that user may enter.
//! - Ownership is an exclusive `flock` on `<data dir>/pg.lock`: the process holding it owns
//!   the cluster and stops it when it exits cleanly. Others on the same data directory use the
//!   running cluster. When the owner dies, the next process takes the lock and adopts the
//!   cluster, still running; a stale `postmaster.pid` (its process gone or not PostgreSQL) is
//!   removed before starting.
//! - The add-ons' cluster ([`Spec::addons`], for the built-in PostgreSQL add-on) is a second
//!   one made the same way in `<data dir>/addons-pg`. Besides its socket it listens on one
//!   address, the one the container engine's containers reach the host at, and admits only
//!   password (SCRAM) logins from the engine's subnet, each role to the database of its own
//!   name (`sameuser`). Address and subnet are written again at every start.
#![allow(unsafe_code)] // flock(2) on the lock file

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use slipway_core::pgtools::{self, RunAs};
use sqlx::postgres::PgConnectOptions;
use sqlx::ConnectOptions;

const PORT: u16 = 5432;
const SUPERUSER: &str = "slipway";
const DATABASE: &str = "slipway";

/// Which embedded cluster: Slipway's own, or the add-ons'.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The cluster's directory and lock file are named after it.
    name: &'static str,
    port: u16,
    /// Where the add-ons' cluster is reached from containers; none for the ledger's.
    network: Option<Network>,
}

/// The one TCP address the add-ons' cluster listens on, and who may log in over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub listen: std::net::IpAddr,
    /// The containers' subnet, `172.17.0.0/16`.
    pub subnet: String,
}

impl Spec {
    /// Slipway's own cluster: a socket only.
    pub fn ledger() -> Self {
        Spec {
            name: "pg",
            port: PORT,
            network: None,
        }
    }

    /// The add-ons' cluster, on `port` at `network.listen`.
    pub fn addons(network: Network, port: u16) -> Self {
        Spec {
            name: "addons-pg",
            port,
            network: Some(network),
        }
    }

    fn database(&self) -> &'static str {
        if self.network.is_some() {
            "postgres"
        } else {
            DATABASE
        }
    }
}

/// A cluster this process uses; `owner` is set when this process must stop it.
pub struct Embedded {
    pub options: PgConnectOptions,
    pub cluster_dir: PathBuf,
    owner: Option<Owner>,
}

struct Owner {
    bin: PathBuf,
    who: Option<RunAs>,
    // Held for the process's life: the flock is the ownership.
    _lock: File,
}

impl Embedded {
    pub fn is_owner(&self) -> bool {
        self.owner.is_some()
    }

    /// Stops the cluster if this process owns it.
    pub fn stop(&self) {
        if let Some(o) = &self.owner {
            let out = pgtools::command(&o.bin, "pg_ctl", o.who)
                .args(["-D"])
                .arg(&self.cluster_dir)
                .args(["-m", "fast", "-w", "-t", "60", "stop"])
                .output();
            match out {
                Ok(o) if o.status.success() => tracing::info!("embedded PostgreSQL stopped"),
                Ok(o) => {
                    tracing::warn!(stderr = %String::from_utf8_lossy(&o.stderr).trim(), "pg_ctl stop failed")
                }
                Err(e) => tracing::warn!(error = %e, "cannot run pg_ctl stop"),
            }
        }
    }
}

/// Finds the binaries: `SLIPWAY_PG_BIN_DIR` when given (no search), else the usual places.
pub fn bin_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    match given {
        Some(dir) if pgtools::has_initdb(dir) => Ok(dir.to_owned()),
        Some(dir) => bail!(
            "no PostgreSQL binaries (initdb, pg_ctl, postgres) in SLIPWAY_PG_BIN_DIR={}: install PostgreSQL (apt-get install postgresql) and point SLIPWAY_PG_BIN_DIR at its bin directory, or set DATABASE_URL",
            dir.display()
        ),
        None => pgtools::find_bin_dir().ok_or_else(|| {
            anyhow::anyhow!(
                "no PostgreSQL binaries found: install PostgreSQL (apt-get install postgresql), set SLIPWAY_PG_BIN_DIR to its bin directory, or set DATABASE_URL"
            )
        }),
    }
}

/// Starts (or joins, or adopts) Slipway's own cluster for `data_dir`.
pub async fn start(data_dir: &Path, given_bin: Option<&Path>) -> anyhow::Result<Embedded> {
    start_cluster(data_dir, given_bin, &Spec::ledger()).await
}

/// Starts (or joins, or adopts) the cluster `spec` names for `data_dir`.
pub async fn start_cluster(
    data_dir: &Path,
    given_bin: Option<&Path>,
    spec: &Spec,
) -> anyhow::Result<Embedded> {
    let bin = bin_dir(given_bin)?;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize()?;
    let hash = &hex::encode(Sha256::digest(data_dir.as_os_str().as_encoded_bytes()))[..12];
    let who = pgtools::run_as();
    let socket_dir = match spec.network {
        None => PathBuf::from(format!("/tmp/slipway-{hash}")),
        Some(_) => PathBuf::from(format!("/tmp/slipway-{}-{hash}", spec.name)),
    };
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join(format!("{}.lock", spec.name)))
        .context("cannot open the embedded PostgreSQL lock file")?;
    let owner = try_lock(&lock)?;
    let cluster_dir = cluster_dir(&data_dir, spec.name, hash, who)?;
    let options = PgConnectOptions::new()
        .socket(&socket_dir)
        .port(spec.port)
        .username(SUPERUSER)
        .database(spec.database())
        .disable_statement_logging();
    if !owner {
        tracing::info!(cluster = %cluster_dir.display(), "using the embedded PostgreSQL another slipway process owns");
        // The add-ons' port is the owner's (its SLIPWAY_ADDON_POSTGRES_PORT), not ours.
        let options = match spec.network {
            Some(_) => options.port(running_port(&cluster_dir, Duration::from_secs(120)).await?),
            None => options,
        };
        wait_ready(&options, Duration::from_secs(120)).await?;
        return Ok(Embedded {
            options,
            cluster_dir,
            owner: None,
        });
    }
    prepare_socket_dir(&socket_dir, who)?;
    if !cluster_dir.join("PG_VERSION").exists() {
        init(&bin, &cluster_dir, &socket_dir, spec, who)?;
    }
    check_version(&bin, &cluster_dir)?;
    let network_changed = match &spec.network {
        Some(n) => write_network(&cluster_dir, n, spec.port, who)?,
        None => false,
    };
    // A running cluster keeps the port it started on until it restarts.
    let mut options = options;
    if running_postmaster(&cluster_dir).is_some() {
        tracing::info!(cluster = %cluster_dir.display(), "adopting the running embedded PostgreSQL");
        if let Some(port) = pid_file_port(&cluster_dir).filter(|p| *p != spec.port) {
            tracing::warn!(cluster = %cluster_dir.display(), port, "the running cluster listens on another port than configured; restart it to move it");
            options = options.port(port);
        }
        if network_changed {
            // Logins are read again at once; a new address needs a restart of the cluster.
            let _ = pgtools::command(&bin, "pg_ctl", who)
                .arg("-D")
                .arg(&cluster_dir)
                .arg("reload")
                .output();
            tracing::warn!(cluster = %cluster_dir.display(), "the engine's network changed: restart Slipway once nothing uses the add-ons' cluster, so it listens on the new address");
        }
    } else {
        let _ = std::fs::remove_file(cluster_dir.join("postmaster.pid"));
        let out = pgtools::command(&bin, "pg_ctl", who)
            .arg("-D")
            .arg(&cluster_dir)
            .arg("-l")
            .arg(cluster_dir.join("server.log"))
            .args(["-w", "-t", "120", "start"])
            .output()
            .context("cannot run pg_ctl")?;
        if !out.status.success() {
            let log = std::fs::read_to_string(cluster_dir.join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            bail!(
                "the embedded PostgreSQL did not start: {} {}",
                String::from_utf8_lossy(&out.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            );
        }
        tracing::info!(cluster = %cluster_dir.display(), "embedded PostgreSQL started");
    }
    wait_ready(
        &options.clone().database("postgres"),
        Duration::from_secs(60),
    )
    .await?;
    if spec.network.is_none() {
        create_database(&options).await?;
    }
    let bin = bin.clone();
    Ok(Embedded {
        options,
        cluster_dir,
        owner: Some(Owner {
            bin,
            who,
            _lock: lock,
        }),
    })
}

fn try_lock(f: &File) -> anyhow::Result<bool> {
    // SAFETY: flock on a file descriptor we own; no memory is shared.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err).context("cannot lock the embedded PostgreSQL lock file")
    }
}

/// `<data>/<name>`, unless the unprivileged user cannot reach it: then
/// `/var/lib/slipway/<name>-<hash>`.
fn cluster_dir(
    data_dir: &Path,
    name: &str,
    hash: &str,
    who: Option<RunAs>,
) -> anyhow::Result<PathBuf> {
    let local = data_dir.join(name);
    let Some(w) = who else { return Ok(local) };
    let fallback = PathBuf::from(format!("/var/lib/slipway/{name}-{hash}"));
    if fallback.join("PG_VERSION").exists() {
        return Ok(fallback);
    }
    if !local.exists() {
        std::fs::create_dir(&local)?;
        std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o700))?;
        std::os::unix::fs::chown(&local, Some(w.uid), Some(w.gid))?;
    }
    if can_use(&local, w) {
        return Ok(local);
    }
    if std::fs::read_dir(&local)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
    {
        let _ = std::fs::remove_dir(&local);
    }
    std::fs::create_dir_all("/var/lib/slipway").context("cannot create /var/lib/slipway")?;
    if !fallback.exists() {
        std::fs::create_dir(&fallback)?;
    }
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o700))?;
    std::os::unix::fs::chown(&fallback, Some(w.uid), Some(w.gid))?;
    tracing::info!(
        data_dir = %data_dir.display(),
        cluster = %fallback.display(),
        "the PostgreSQL user cannot reach the data directory; the cluster lives in /var/lib/slipway"
    );
    Ok(fallback)
}

/// Whether `who` can enter and write `dir` (checked by running `test` as that user).
fn can_use(dir: &Path, who: RunAs) -> bool {
    use std::os::unix::process::CommandExt;
    std::process::Command::new("/usr/bin/test")
        .arg("-w")
        .arg(dir)
        .arg("-a")
        .arg("-x")
        .arg(dir)
        .uid(who.uid)
        .gid(who.gid)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn prepare_socket_dir(dir: &Path, who: Option<RunAs>) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let uid = who.map(|w| w.uid).unwrap_or_else(|| {
        std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(0)
    });
    if let Some(w) = who {
        std::os::unix::fs::chown(dir, Some(w.uid), Some(w.gid))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != uid {
        bail!(
            "{} is not a directory owned by the PostgreSQL user; remove it and start again",
            dir.display()
        );
    }
    Ok(())
}

fn init(
    bin: &Path,
    cluster: &Path,
    socket_dir: &Path,
    spec: &Spec,
    who: Option<RunAs>,
) -> anyhow::Result<()> {
    tracing::info!(cluster = %cluster.display(), "creating the embedded PostgreSQL cluster");
    let out = pgtools::command(bin, "initdb", who)
        .args([
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "-D",
        ])
        .arg(cluster)
        .output()
        .context("cannot run initdb")?;
    if !out.status.success() {
        bail!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // Only the private socket: no TCP at all (the add-ons' cluster: and the one address its
    // network file names).
    let mut conf = format!(
        "\n# slipway\nlisten_addresses = ''\nport = {}\nunix_socket_directories = '{}'\nunix_socket_permissions = 0700\n",
        spec.port,
        socket_dir.display()
    );
    if spec.network.is_some() {
        conf.push_str(
            "password_encryption = 'scram-sha-256'\ninclude_if_exists = 'slipway-network.conf'\n",
        );
    }
    let mut f = File::options()
        .append(true)
        .open(cluster.join("postgresql.conf"))?;
    std::io::Write::write_all(&mut f, conf.as_bytes())?;
    Ok(())
}

/// Writes the add-ons' cluster's address (`slipway-network.conf`) and its logins
/// (`pg_hba.conf`): the socket for Slipway's own superuser, and SCRAM logins from the
/// containers' subnet, each role to its own database. Answers whether either changed.
fn write_network(
    cluster: &Path,
    n: &Network,
    port: u16,
    who: Option<RunAs>,
) -> anyhow::Result<bool> {
    let subnet: ipnet_like::Subnet = n.subnet.parse().map_err(anyhow::Error::msg)?;
    let files = [
        (
            "slipway-network.conf",
            format!(
                "# written by slipway at every start\nlisten_addresses = '{}'\nport = {port}\n",
                n.listen
            ),
        ),
        (
            "pg_hba.conf",
            format!(
                "# written by slipway at every start\n\
                 local all {SUPERUSER} trust\n\
                 host sameuser all {subnet} scram-sha-256\n"
            ),
        ),
    ];
    let mut changed = false;
    for (name, text) in files {
        let path = cluster.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        if let Some(w) = who {
            std::os::unix::fs::chown(&path, Some(w.uid), Some(w.gid))?;
        }
        changed = true;
    }
    Ok(changed)
}

/// A subnet checked before it is written into `pg_hba.conf`.
mod ipnet_like {
    use std::net::IpAddr;

    pub struct Subnet(IpAddr, u8);

    impl std::str::FromStr for Subnet {
        type Err = String;

        fn from_str(s: &str) -> Result<Self, String> {
            let bad = || format!("\"{s}\" is not a subnet like 172.17.0.0/16");
            let (ip, bits) = s.split_once('/').ok_or_else(bad)?;
            let ip: IpAddr = ip.parse().map_err(|_| bad())?;
            let bits: u8 = bits.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(bad());
            }
            Ok(Subnet(ip, bits))
        }
    }

    impl std::fmt::Display for Subnet {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}/{}", self.0, self.1)
        }
    }
}

fn check_version(bin: &Path, cluster: &Path) -> anyhow::Result<()> {
    let made_by: u32 = std::fs::read_to_string(cluster.join("PG_VERSION"))?
        .trim()
        .parse()?;
    let ours =
        pgtools::bin_major_version(bin).context("cannot tell the PostgreSQL binaries' version")?;
    if made_by != ours {
        bail!(
            "the embedded cluster in {} was made by PostgreSQL {made_by}, but the binaries in {} are PostgreSQL {ours}: set SLIPWAY_PG_BIN_DIR to PostgreSQL {made_by}'s bin directory",
            cluster.display(),
            bin.display()
        );
    }
    Ok(())
}

/// The port in a cluster's pid file (its fourth line).
fn pid_file_port(cluster: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(cluster.join("postmaster.pid")).ok()?;
    text.lines().nth(3)?.trim().parse().ok()
}

/// The port of the live postmaster of `cluster`, once there is one (its owner may be starting
/// it), waiting at most `limit`.
async fn running_port(cluster: &Path, limit: Duration) -> anyhow::Result<u16> {
    let deadline = Instant::now() + limit;
    loop {
        if running_postmaster(cluster).is_some() {
            if let Some(port) = pid_file_port(cluster) {
                return Ok(port);
            }
        }
        if Instant::now() > deadline {
            bail!(
                "no PostgreSQL of {} started within {} s",
                cluster.display(),
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The pid of a live postmaster for `cluster`, if its pid file names one.
fn running_postmaster(cluster: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(cluster.join("postmaster.pid")).ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "postgres").then_some(pid)
}

async fn wait_ready(options: &PgConnectOptions, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        match options.connect().await {
            Ok(c) => {
                let _ = sqlx::Connection::close(c).await;
                return Ok(());
            }
            Err(e) if Instant::now() > deadline => {
                return Err(e).context("the embedded PostgreSQL does not answer")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn create_database(options: &PgConnectOptions) -> anyhow::Result<()> {
    let mut c = options.clone().database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut c)
            .await?;
    if !exists {
        sqlx::query(&format!("create database {DATABASE}"))
            .execute(&mut c)
            .await?;
    }
    Ok(())
}
