//! Small facts about the PostgreSQL installation, shared by the embedded launcher and the test
//! harness: where the binaries are, and which unprivileged user runs them when we are root.

use std::path::{Path, PathBuf};

/// Finds the newest `/usr/lib/postgresql/*/bin` (or `/usr/local/pgsql/bin`) holding `initdb`,
/// else `initdb` on `PATH`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    candidates.sort();
    let found = candidates
        .into_iter()
        .rev()
        .map(|(_, p)| p)
        .find(|p| has_initdb(p));
    found
        .or_else(|| Some(PathBuf::from("/usr/local/pgsql/bin")).filter(|p| has_initdb(p)))
        .or_else(|| {
            std::env::var_os("PATH")
                .and_then(|path| std::env::split_paths(&path).find(|p| has_initdb(p)))
        })
}

pub fn has_initdb(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file() && dir.join("pg_ctl").is_file()
}

/// The major version of the binaries in `bin` (from `postgres --version`).
pub fn bin_major_version(bin: &Path) -> Option<u32> {
    let out = std::process::Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "postgres (PostgreSQL) 15.18 (Debian …)"
    let version = text.split_whitespace().nth(2)?;
    version.split('.').next()?.parse().ok()
}

/// An unprivileged account to run PostgreSQL as, when we are root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// `None` when not root (run as ourselves); else `postgres`, or `nobody` if there is none.
pub fn run_as() -> Option<RunAs> {
    if !is_root() {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let lookup = |name: &str| {
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() > 3 && f[0] == name).then(|| {
                Some(RunAs {
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                })
            })?
        })
    };
    lookup("postgres").or_else(|| lookup("nobody"))
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A command for a PostgreSQL binary, run as `who` when given, with a clean environment.
pub fn command(bin: &Path, program: &str, who: Option<RunAs>) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(bin.join(program));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C.UTF-8");
    if let Some(w) = who {
        cmd.uid(w.uid).gid(w.gid);
    }
    cmd
}
