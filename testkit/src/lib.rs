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
    let dir = PathBuf::from(format!("/tmp/slwt-{}", std::process::id()));
    let (port, _) = init_and_start(&dir)?;
    Ok(Cluster { port, dir })
}

/// Makes a cluster in `dir` and starts it on a free port; answers the port and its server's
/// process id.
fn init_and_start(dir: &std::path::Path) -> anyhow::Result<(u16, u32)> {
    let bin =
        pgtools::find_bin_dir().ok_or_else(|| anyhow::anyhow!("PostgreSQL binaries not found"))?;
    let who = pgtools::run_as();
    sweep_leftovers();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("sock"))?;
    if let Some(w) = who {
        for d in [dir.to_path_buf(), dir.join("sock")] {
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
    let pid = spawn_postgres(dir, port)?;
    Ok((port, pid))
}

/// Starts the server of the cluster in `dir` on `port` and waits until it accepts connections;
/// answers its process id. It receives SIGQUIT when the test process ends.
fn spawn_postgres(dir: &std::path::Path, port: u16) -> anyhow::Result<u32> {
    use std::os::unix::process::CommandExt;
    let bin =
        pgtools::find_bin_dir().ok_or_else(|| anyhow::anyhow!("PostgreSQL binaries not found"))?;
    let who = pgtools::run_as();
    let (tx, rx) = std::sync::mpsc::channel();
    // The thread that spawns postgres must outlive it: PDEATHSIG follows the thread.
    let (data, sock) = (dir.join("data"), dir.join("sock"));
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || {
            let mut cmd = pgtools::command(&bin, "postgres", who);
            cmd.arg("-D").arg(&data).args([
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
            match cmd.spawn() {
                Ok(mut child) => {
                    tx.send(Ok(child.id())).ok();
                    // Reaped here, so a stopped server leaves no zombie.
                    let _ = child.wait();
                    // Keep the thread (and so PDEATHSIG) alive no longer than the server.
                }
                Err(e) => {
                    tx.send(Err(e)).ok();
                }
            }
        })?;
    let pid = rx.recv()??;
    // Wait until it accepts connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the test cluster did not accept connections within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(pid)
}

/// A cluster of one test's own, which the test can stop and start again (a database
/// restart), on the same port and data.
pub struct PrivateCluster {
    pub port: u16,
    dir: PathBuf,
    pid: std::sync::Mutex<Option<u32>>,
}

impl PrivateCluster {
    pub fn start() -> anyhow::Result<PrivateCluster> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = PathBuf::from(format!("/tmp/slwt-{}-own{n}", std::process::id()));
        let (port, pid) = init_and_start(&dir)?;
        Ok(PrivateCluster {
            port,
            dir,
            pid: std::sync::Mutex::new(Some(pid)),
        })
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: connections are closed) and waits until it is gone.
    pub fn stop(&self) {
        let Some(pid) = self.pid.lock().unwrap().take() else {
            return;
        };
        unsafe {
            libc::kill(pid as i32, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not stop within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&self) {
        let pid = spawn_postgres(&self.dir, self.port).expect("PostgreSQL starts again");
        *self.pid.lock().unwrap() = Some(pid);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes data directories of test processes that are gone.
fn sweep_leftovers() {
    for e in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name
            .strip_prefix("slwt-")
            .and_then(|p| p.split('-').next())
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
