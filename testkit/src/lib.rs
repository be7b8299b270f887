//! The test harness: one throwaway PostgreSQL cluster per test process, a fresh database per
//! test. The cluster is started on first use by a thread that lives as long as the process,
//! and it receives SIGQUIT when the process ends (`PR_SET_PDEATHSIG`), so nothing outlives a
//! test run.
#![allow(unsafe_code)] // pre_exec + prctl, to tie the cluster's life to the test process

pub mod github;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use slipway_core::pgtools;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

/// A running throwaway cluster.
pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The process's cluster, started on first call.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| start().expect("cannot start the test PostgreSQL cluster"))
}

fn start() -> anyhow::Result<Cluster> {
    use std::os::unix::process::CommandExt;
    let bin =
        pgtools::find_bin_dir().ok_or_else(|| anyhow::anyhow!("PostgreSQL binaries not found"))?;
    let who = pgtools::run_as();
    sweep_leftovers();
    let dir = PathBuf::from(format!("/tmp/slwt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sock"))?;
    if let Some(w) = who {
        for d in [dir.clone(), dir.join("sock")] {
            std::os::unix::fs::chown(&d, Some(w.uid), Some(w.gid))?;
        }
    }
    let data = dir.join("data");
    let out = pgtools::command(&bin, "initdb", who)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port()?;
    let (tx, rx) = std::sync::mpsc::channel();
    // The thread that spawns postgres must outlive every test: PDEATHSIG follows the thread.
    let (bin2, data2, sock) = (bin.clone(), data.clone(), dir.join("sock"));
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || {
            let mut cmd = pgtools::command(&bin2, "postgres", who);
            cmd.arg("-D").arg(&data2).args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-p",
                &port.to_string(),
            ]);
            cmd.arg("-c")
                .arg(format!("unix_socket_directories={}", sock.display()));
            cmd.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
            cmd.args(["-c", "max_connections=500", "-c", "shared_buffers=64MB"]);
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
                    Ok(())
                });
            }
            let child = cmd.spawn();
            let ok = child.is_ok();
            tx.send(child.map(|_| ())).ok();
            if ok {
                loop {
                    std::thread::park();
                }
            }
        })?;
    rx.recv()??;
    // Wait until it accepts connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the test cluster did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Cluster { port, dir })
}

/// Removes data directories of test processes that are gone.
fn sweep_leftovers() {
    for e in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name
            .strip_prefix("slwt-")
            .and_then(|p| p.parse::<u32>().ok())
        {
            if !PathBuf::from(format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A free TCP port on loopback (bound and released).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    fn options(&self, db: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username("postgres")
            .database(db)
            .disable_statement_logging()
    }

    /// The URL of a database in this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

/// A new, empty database in the process's cluster; returns its name.
pub async fn fresh_database() -> String {
    let c = cluster();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(c.options("postgres"))
        .await
        .expect("connect to the test cluster");
    sqlx::query(&format!("create database {name}"))
        .execute(&admin)
        .await
        .expect("create database");
    admin.close().await;
    name
}

/// A pool on a fresh database (not migrated).
pub async fn fresh_pool() -> PgPool {
    let name = fresh_database().await;
    PgPoolOptions::new()
        .max_connections(20)
        .connect_with(cluster().options(&name))
        .await
        .expect("connect to the fresh database")
}

/// The URL of a fresh database.
pub async fn fresh_url() -> String {
    let name = fresh_database().await;
    cluster().url(&name)
}

/// A migrated core on a fresh database, with a new key.
pub async fn fresh_core() -> slipway_core::Core {
    slipway_core::db::prepare(
        fresh_pool().await,
        slipway_core::crypto::SecretKey::generate(),
    )
    .await
    .expect("migrate the fresh database")
}
