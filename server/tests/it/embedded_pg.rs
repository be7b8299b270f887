//! The embedded PostgreSQL: made from the machine's binaries, owned through a lock file,
//! shared, adopted after its owner is killed, and moved out of reach-less data directories.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::Slipway;

/// A short, fresh data directory (removed at the end, its clusters stopped).
pub(crate) struct DataDir(PathBuf);

impl DataDir {
    pub(crate) fn new() -> Self {
        let p = PathBuf::from(format!("/tmp/slwe-{}", &uuid_like()));
        std::fs::create_dir_all(&p).unwrap();
        DataDir(p)
    }

    pub(crate) fn s(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        for cluster in ["pg", "addons-pg"] {
            if let Some(pid) = postmaster(&self.0.join(cluster)) {
                support::signal(pid, libc::SIGQUIT);
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_u64()
    )
}

fn rand_u64() -> u128 {
    let mut b = [0u8; 8];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    u64::from_le_bytes(b) as u128
}

/// The live postmaster of a cluster directory, if any.
fn postmaster(cluster: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(cluster.join("postmaster.pid")).ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "postgres").then_some(pid)
}

/// Waits until the cluster has stopped (its postmaster is gone).
fn wait_stopped(cluster: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while postmaster(cluster).is_some() {
        assert!(Instant::now() < deadline, "the cluster did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn app_count(s: &Slipway) -> usize {
    s.admin().app_count().await
}

#[tokio::test]
async fn first_start_makes_the_cluster_and_a_restart_reuses_it() {
    let d = DataDir::new();
    let mut s = Slipway::start(&[("SLIPWAY_DATA_DIR", d.s())]).unwrap();
    let cluster = d.0.join("pg");
    assert!(cluster.join("PG_VERSION").exists());
    let key = std::fs::metadata(d.0.join("secret.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );
    let conf = std::fs::read_to_string(cluster.join("postgresql.conf")).unwrap();
    assert!(
        !conf
            .lines()
            .any(|l| l.trim_start().starts_with("fsync") && l.contains("off")),
        "fsync stays on"
    );
    s.admin().create_app("web", "prod").await;
    s.terminate();
    wait_stopped(&cluster);
    let s = Slipway::start(&[("SLIPWAY_DATA_DIR", d.s())]).unwrap();
    assert_eq!(app_count(&s).await, 1, "the data survived the restart");
}

#[tokio::test]
async fn a_second_process_shares_the_running_cluster() {
    let d = DataDir::new();
    let mut owner = Slipway::start(&[("SLIPWAY_DATA_DIR", d.s())]).unwrap();
    owner.admin().create_app("web", "prod").await;
    let mut guest = Slipway::start(&[("SLIPWAY_DATA_DIR", d.s())]).unwrap();
    assert_eq!(app_count(&guest).await, 1);
    guest.admin().create_app("api", "prod").await;
    guest.terminate();
    assert!(
        postmaster(&d.0.join("pg")).is_some(),
        "a guest leaving does not stop the cluster"
    );
    assert_eq!(app_count(&owner).await, 2);
    owner.terminate();
    wait_stopped(&d.0.join("pg"));
}

#[tokio::test]
async fn a_cluster_whose_owner_was_killed_is_adopted() {
    let d = DataDir::new();
    let cluster = d.0.join("pg");
    let mut first = Slipway::start(&[("SLIPWAY_DATA_DIR", d.s())]).unwrap();
    first.admin().create_app("web", "prod").await;
    support::signal(first.child.id(), libc::SIGKILL);
    first.child.wait().unwrap();
    let pid = postmaster(&cluster).expect("the cluster outlives its killed owner");
    let mut heir = Slipway::start(&[("SLIPWAY_DATA_DIR", d.s())]).unwrap();
    assert_eq!(postmaster(&cluster), Some(pid), "adopted, not restarted");
    assert!(heir.logs().contains("adopting"), "{}", heir.logs());
    assert_eq!(app_count(&heir).await, 1);
    heir.terminate();
    wait_stopped(&cluster);
}

#[tokio::test]
async fn a_stale_pid_file_does_not_stop_a_start() {
    let d = DataDir::new();
    let cluster = d.0.join("pg");
    let mut s = Slipway::start(&[("SLIPWAY_DATA_DIR", d.s())]).unwrap();
    s.terminate();
    wait_stopped(&cluster);
    // A pid file naming a live process that is not PostgreSQL (this test), as after a crash
    // and pid reuse.
    let stale = format!("{}\n{}\n0\n5432\n", std::process::id(), cluster.display());
    std::fs::write(cluster.join("postmaster.pid"), stale).unwrap();
    let s = Slipway::start(&[("SLIPWAY_DATA_DIR", d.s())]).unwrap();
    assert_eq!(app_count(&s).await, 0);
    assert!(postmaster(&cluster).is_some());
}

#[tokio::test]
async fn an_empty_pg_bin_dir_is_a_one_line_error() {
    let d = DataDir::new();
    let empty = d.0.join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let err = Slipway::start(&[
        ("SLIPWAY_DATA_DIR", d.s()),
        ("SLIPWAY_PG_BIN_DIR", empty.to_str().unwrap()),
    ])
    .err()
    .expect("slipway refuses to start");
    let last = err.trim().lines().last().unwrap_or("").to_owned();
    assert!(last.starts_with("slipway: no PostgreSQL binaries"), "{err}");
    assert!(
        last.contains("install PostgreSQL") && last.contains("DATABASE_URL"),
        "{last}"
    );
    assert!(!d.0.join("pg").exists());
}

#[tokio::test]
async fn a_data_directory_the_postgres_user_cannot_reach_moves_the_cluster_to_var_lib() {
    if !slipway_core::pgtools::is_root() {
        // Only root runs the cluster as another user; as a normal user every data directory
        // the process can use is one the cluster can use.
        return;
    }
    let d = DataDir::new();
    let private = d.0.join("private");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let data = private.join("data");
    let mut s = Slipway::start(&[("SLIPWAY_DATA_DIR", data.to_str().unwrap())]).unwrap();
    s.admin().create_app("web", "prod").await;
    let canonical = data.canonicalize().unwrap();
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            canonical.as_os_str().as_encoded_bytes(),
        ))[..12]
            .to_owned()
    };
    let fallback = PathBuf::from(format!("/var/lib/slipway/pg-{hash}"));
    assert!(fallback.join("PG_VERSION").exists(), "{}", s.logs());
    assert!(!data.join("pg").exists());
    s.terminate();
    wait_stopped(&fallback);
    let _ = std::fs::remove_dir_all(&fallback);
}
