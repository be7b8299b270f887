//! Options: each is a flag and an environment variable (`SLIPWAY_FOO_BAR` ⇔ `--foo-bar`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "slipway",
    version,
    about = "A self-hosted release manager for container apps."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web UI and the Platform API, and run a worker (the default).
    Serve,
    /// Run jobs (builds and deploys) only.
    Worker,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user and print it alone on stdout.
    Create {
        /// The user's login. Without OAuth, a local admin-role user of that login is made on first use.
        #[arg(long)]
        user: String,
    },
}

fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 30s, 20m)"))
}

fn bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("\"{s}\" is not a size (use e.g. 500MB, 2GB)"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KIB" => 1 << 10,
        "MIB" => 1 << 20,
        "GIB" => 1 << 30,
        _ => {
            return Err(format!(
                "\"{s}\" has an unknown unit (use B, KB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("\"{s}\" is too large"))
}

fn role(s: &str) -> Result<domain::Role, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("\"{s}\" is not a role: use viewer, deployer or admin"))
}

fn port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("\"{s}\" is not a port range like 42000-42999"))?;
    let (a, b): (u16, u16) = (
        a.trim()
            .parse()
            .map_err(|_| format!("\"{a}\" is not a port"))?,
        b.trim()
            .parse()
            .map_err(|_| format!("\"{b}\" is not a port"))?,
    );
    if a == 0 || a > b {
        return Err(format!("\"{s}\" is not a port range like 42000-42999"));
    }
    Ok((a, b))
}

/// `host:port` (`[v6]:port`), or a bare host on PostgreSQL's port.
fn host_port(s: &str) -> Result<(String, u16), String> {
    let s = s.trim();
    let bad = || format!("\"{s}\" is not a host:port");
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once(']').ok_or_else(bad)?;
        let port = match port.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if port.is_empty() => 5432,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Ok((h.to_owned(), p.parse().map_err(|_| bad())?)),
        None if !s.is_empty() => Ok((s.to_owned(), 5432)),
        _ => Err(bad()),
    }
}

/// Every option of every subcommand, with its default.
#[derive(Debug, Clone, Args)]
pub struct Options {
    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        env = "SLIPWAY_ADDR",
        default_value = "127.0.0.1:3000",
        global = true
    )]
    pub addr: SocketAddr,
    /// Where Slipway keeps its embedded database and generated key.
    #[arg(
        long,
        env = "SLIPWAY_DATA_DIR",
        default_value = "./.slipway",
        global = true
    )]
    pub data_dir: PathBuf,
    /// The externally reachable base URL [default: http:// + the bound address].
    #[arg(long, env = "SLIPWAY_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// PostgreSQL's binaries for the embedded cluster [default: found automatically].
    #[arg(long, env = "SLIPWAY_PG_BIN_DIR", global = true)]
    pub pg_bin_dir: Option<PathBuf>,
    /// Use this PostgreSQL instead of the embedded one.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// The key that encrypts secrets at rest: 32 bytes, base64 [default: generated into the data directory; required with DATABASE_URL].
    #[arg(
        long,
        env = "SLIPWAY_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// Serve without running a worker.
    #[arg(long, env = "SLIPWAY_NO_WORKER", global = true, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub no_worker: bool,
    /// How long a build may run.
    #[arg(long, env = "SLIPWAY_BUILD_TIMEOUT", default_value = "20m", value_parser = duration, global = true)]
    pub build_timeout: Duration,
    /// How long a worker holds a job before another may take it.
    #[arg(long, env = "SLIPWAY_JOB_LEASE", default_value = "60s", value_parser = duration, global = true)]
    pub job_lease: Duration,
    /// How long a new release may take to answer HTTP.
    #[arg(long, env = "SLIPWAY_HEALTH_TIMEOUT", default_value = "30s", value_parser = duration, global = true)]
    pub health_timeout: Duration,
    /// Largest source archive fetched.
    #[arg(long, env = "SLIPWAY_MAX_SOURCE_BYTES", default_value = "500MB", value_parser = bytes, global = true)]
    pub max_source_bytes: u64,
    /// Largest unpacked source.
    #[arg(long, env = "SLIPWAY_MAX_UNPACKED_BYTES", default_value = "2GB", value_parser = bytes, global = true)]
    pub max_unpacked_bytes: u64,
    /// The most a build's log keeps; past it, the log says so and the build goes on.
    #[arg(long, env = "SLIPWAY_MAX_LOG_BYTES", default_value = "32MB", value_parser = bytes, global = true)]
    pub max_log_bytes: u64,
    /// Most files in a source archive.
    #[arg(
        long,
        env = "SLIPWAY_MAX_FILES",
        default_value_t = 100_000,
        global = true
    )]
    pub max_files: u64,
    /// Builds may fetch sources from loopback, private and link-local addresses [default: true only when the public URL is a loopback URL].
    #[arg(long, env = "SLIPWAY_ALLOW_PRIVATE_SOURCES", global = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_sources: Option<bool>,
    /// Hosts builds may fetch sources from whatever address they resolve to (comma-separated).
    #[arg(
        long,
        env = "SLIPWAY_SOURCE_ALLOW_HOSTS",
        global = true,
        value_delimiter = ','
    )]
    pub source_allow_hosts: Vec<String>,
    /// Ports for apps' stable addresses.
    #[arg(long, env = "SLIPWAY_APP_PORTS", default_value = "42000-42999", value_parser = port_range, global = true)]
    pub app_ports: (u16, u16),
    /// Address apps' proxies bind to.
    #[arg(
        long,
        env = "SLIPWAY_APP_HOST",
        default_value = "127.0.0.1",
        global = true
    )]
    pub app_host: std::net::IpAddr,
    /// Jobs (builds and deploys) a worker runs at once; one app's jobs always run one at a
    /// time, in order.
    #[arg(long, env = "SLIPWAY_WORKER_JOBS", default_value_t = 4, global = true)]
    pub worker_jobs: usize,
    /// Releases whose images are kept.
    #[arg(
        long,
        env = "SLIPWAY_KEEP_RELEASES",
        default_value_t = 20,
        global = true
    )]
    pub keep_releases: u32,
    /// GitHub's web address.
    #[arg(
        long,
        env = "SLIPWAY_GITHUB_URL",
        default_value = "https://github.com",
        global = true
    )]
    pub github_url: String,
    /// GitHub's API address.
    #[arg(
        long,
        env = "SLIPWAY_GITHUB_API_URL",
        default_value = "https://api.github.com",
        global = true
    )]
    pub github_api_url: String,
    /// The GitHub OAuth app's client id.
    #[arg(long, env = "SLIPWAY_GITHUB_CLIENT_ID", global = true)]
    pub github_client_id: Option<String>,
    /// The GitHub OAuth app's client secret.
    #[arg(
        long,
        env = "SLIPWAY_GITHUB_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub github_client_secret: Option<String>,
    /// GitHub organisations whose members may sign in (comma-separated).
    #[arg(
        long,
        env = "SLIPWAY_GITHUB_ORGS",
        global = true,
        value_delimiter = ','
    )]
    pub github_orgs: Vec<String>,
    /// GitHub logins that may sign in (comma-separated).
    #[arg(
        long,
        env = "SLIPWAY_GITHUB_USERS",
        global = true,
        value_delimiter = ','
    )]
    pub github_users: Vec<String>,
    /// GitHub logins that are admins (comma-separated); with neither orgs nor users set,
    /// only they may sign in.
    #[arg(long, env = "SLIPWAY_ADMINS", global = true, value_delimiter = ',')]
    pub admins: Vec<String>,
    /// The role of users signing in for the first time: viewer, deployer or admin.
    #[arg(long, env = "SLIPWAY_DEFAULT_ROLE", default_value = "viewer", value_parser = role, global = true)]
    pub default_role: domain::Role,
    /// How often GitHub users' membership (orgs, users, admins) is checked again; one no longer
    /// allowed loses access within about this long.
    #[arg(long, env = "SLIPWAY_ACCESS_RECHECK", default_value = "5m", value_parser = duration, global = true)]
    pub access_recheck: Duration,
    /// The GitHub login of the service account that reaches repositories.
    #[arg(long, env = "SLIPWAY_GITHUB_SERVICE_USER", global = true)]
    pub github_service_user: Option<String>,
    /// The service account's token (scopes repo, admin:repo_hook, read:user).
    #[arg(
        long,
        env = "SLIPWAY_GITHUB_SERVICE_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub github_service_token: Option<String>,
    /// The PostgreSQL server the built-in PostgreSQL add-on makes databases on: a URL of a role
    /// that may create roles and databases. Without it the add-on is not offered.
    #[arg(
        long,
        env = "SLIPWAY_ADDON_POSTGRES_URL",
        global = true,
        hide_env_values = true
    )]
    pub addon_postgres_url: Option<String>,
    /// The `host:port` apps' containers reach that server at [default: the URL's own].
    #[arg(long, env = "SLIPWAY_ADDON_POSTGRES_HOST", global = true)]
    pub addon_postgres_host: Option<String>,
    /// Without SLIPWAY_ADDON_POSTGRES_URL and DATABASE_URL, the embedded add-ons' cluster
    /// listens on this port at the container engine's bridge gateway; 0 turns it off.
    #[arg(
        long,
        env = "SLIPWAY_ADDON_POSTGRES_PORT",
        default_value_t = 54320,
        global = true
    )]
    pub addon_postgres_port: u16,
    /// Open Service Brokers whose services are offered as add-ons: `name=https://user:password@host/path`, comma-separated.
    #[arg(
        long,
        env = "SLIPWAY_ADDON_BROKERS",
        global = true,
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub addon_brokers: Vec<String>,
    /// How long a broker's asynchronous provision may take before the add-on counts as failed.
    #[arg(long, env = "SLIPWAY_ADDON_PROVISION_TIMEOUT", default_value = "30m", value_parser = duration, global = true)]
    pub addon_provision_timeout: Duration,
    /// Serve the built-in PostgreSQL add-on as an Open Service Broker at /osb/v2, to platforms
    /// that log in with this `user:password` (the password at least 12 characters).
    #[arg(
        long,
        env = "SLIPWAY_OSB_CREDENTIALS",
        global = true,
        hide_env_values = true
    )]
    pub osb_credentials: Option<String>,
    /// Where the web assets (pkg/) are [default: the site folder next to the binary's target dir].
    #[arg(long, env = "SLIPWAY_SITE_ROOT", global = true)]
    pub site_root: Option<PathBuf>,
}

/// Comma-separated lists, trimmed, lowercase, without empty items.
fn logins(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Options {
    /// `SLIPWAY_GITHUB_ORGS`, normalised.
    pub fn allowed_orgs(&self) -> Vec<String> {
        logins(&self.github_orgs)
    }

    /// `SLIPWAY_GITHUB_USERS`, normalised.
    pub fn allowed_users(&self) -> Vec<String> {
        logins(&self.github_users)
    }

    /// `SLIPWAY_ADMINS`, normalised.
    pub fn admin_logins(&self) -> Vec<String> {
        logins(&self.admins)
    }

    /// The service account, when both of its options are set.
    pub fn service_account(&self) -> Option<(String, String)> {
        match (&self.github_service_user, &self.github_service_token) {
            (Some(u), Some(t)) if !u.trim().is_empty() && !t.trim().is_empty() => {
                Some((u.trim().to_owned(), t.trim().to_owned()))
            }
            _ => None,
        }
    }

    /// The built-in PostgreSQL add-on on the server SLIPWAY_ADDON_POSTGRES_URL names, when
    /// set.
    pub fn addon_postgres(
        &self,
    ) -> anyhow::Result<Option<slipway_core::addons::postgres::BuiltinPostgres>> {
        use slipway_core::addons::postgres::BuiltinPostgres;
        let Some(url) = self
            .addon_postgres_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(None);
        };
        let public = match self.addon_postgres_host.as_deref() {
            None => None,
            Some(hp) => Some(host_port(hp).map_err(anyhow::Error::msg)?),
        };
        BuiltinPostgres::new(url.trim(), public)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{}", e.public("configuring the add-ons").1))
    }

    /// OAuth is configured when both client options are set.
    pub fn oauth_configured(&self) -> bool {
        let set = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.trim().is_empty());
        set(&self.github_client_id) && set(&self.github_client_secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("20m").unwrap(), Duration::from_secs(1200));
        assert_eq!(duration("45").unwrap(), Duration::from_secs(45));
        assert!(duration("soon").is_err());
    }

    #[test]
    fn sizes_accept_decimal_and_binary_units() {
        assert_eq!(bytes("500MB").unwrap(), 500_000_000);
        assert_eq!(bytes("2GB").unwrap(), 2_000_000_000);
        assert_eq!(bytes("1KiB").unwrap(), 1024);
        assert_eq!(bytes("7").unwrap(), 7);
        assert!(bytes("lots").is_err());
    }

    #[test]
    fn port_ranges_are_ordered() {
        assert_eq!(port_range("42000-42999").unwrap(), (42000, 42999));
        assert!(port_range("5-1").is_err());
    }
}
