//! Reads branches, commits and archives from a git repository on disk, with the `git` command.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};

pub(super) struct Person {
    pub name: String,
    pub email: String,
    /// ISO 8601 with the author's own offset, as git stores it.
    pub date: String,
}

impl Person {
    /// The date in UTC, as the REST API writes dates.
    pub fn utc(&self) -> String {
        DateTime::parse_from_rfc3339(&self.date)
            .map(|d| super::shape::timestamp(d.with_timezone(&Utc)))
            .unwrap_or_else(|_| self.date.clone())
    }
}

pub(super) struct Commit {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub author: Person,
    pub committer: Person,
    pub message: String,
}

/// Files a commit added, removed and modified.
#[derive(Default)]
pub(super) struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
}

fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .args(["-c", "safe.directory=*", "-C"])
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

fn text(dir: &Path, args: &[&str]) -> Option<String> {
    git(dir, args).map(|out| String::from_utf8_lossy(&out).trim_end().to_owned())
}

/// The commit a sha, branch or tag names.
pub(super) fn resolve(dir: &Path, rev: &str) -> Option<String> {
    if rev.is_empty() || rev.starts_with('-') {
        return None;
    }
    text(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
}

/// (name, head) of every branch, by name.
pub(super) fn branches(dir: &Path) -> Vec<(String, String)> {
    let out = text(
        dir,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads",
        ],
    );
    out.unwrap_or_default()
        .lines()
        .filter_map(|line| line.strip_prefix("refs/heads/")?.split_once(' '))
        .map(|(name, sha)| (name.to_owned(), sha.to_owned()))
        .collect()
}

pub(super) fn commit(dir: &Path, rev: &str) -> Option<Commit> {
    let sha = resolve(dir, rev)?;
    let format = "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B";
    let out = text(dir, &["log", "-1", format, &sha])?;
    let fields: Vec<&str> = out.splitn(10, '\0').collect();
    let [sha, tree, parents, an, ae, ad, cn, ce, cd, message] = fields[..] else {
        return None;
    };
    let person = |name: &str, email: &str, date: &str| Person {
        name: name.to_owned(),
        email: email.to_owned(),
        date: date.to_owned(),
    };
    Some(Commit {
        sha: sha.to_owned(),
        tree: tree.to_owned(),
        parents: parents.split_whitespace().map(str::to_owned).collect(),
        author: person(an, ae, ad),
        committer: person(cn, ce, cd),
        message: message.trim_end().to_owned(),
    })
}

pub(super) fn changes(dir: &Path, sha: &str) -> Changes {
    let out = text(
        dir,
        &[
            "diff-tree",
            "--no-commit-id",
            "--name-status",
            "-r",
            "--root",
            sha,
        ],
    );
    let mut changes = Changes::default();
    for line in out.unwrap_or_default().lines() {
        let Some((kind, path)) = line.split_once('\t') else {
            continue;
        };
        let list = match kind.chars().next() {
            Some('A') => &mut changes.added,
            Some('D') => &mut changes.removed,
            _ => &mut changes.modified,
        };
        list.push(path.to_owned());
    }
    changes
}

/// Up to the last 20 commits `args` select, oldest first (the order of a push payload).
pub(super) fn rev_list(dir: &Path, args: &[&str]) -> Vec<String> {
    let args = [&["rev-list", "--reverse", "--max-count=20"], args].concat();
    text(dir, &args)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(super) fn is_ancestor(dir: &Path, ancestor: &str, descendant: &str) -> bool {
    git(dir, &["merge-base", "--is-ancestor", ancestor, descendant]).is_some()
}

/// A `.tar.gz` of the commit's tree under `prefix`, with git's `pax_global_header` carrying the
/// commit id, like GitHub's tarballs.
pub(super) fn archive(dir: &Path, prefix: &str, sha: &str) -> Option<Vec<u8>> {
    git(
        dir,
        &[
            "archive",
            "--format=tar.gz",
            &format!("--prefix={prefix}"),
            sha,
        ],
    )
}
