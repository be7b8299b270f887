//! Core's wings import only the wings before them (`src/lib.rs`'s layout note): checked here by
//! reading the source, both the `crate::…` paths and the `Core` methods a wing calls, since a
//! method defined in a higher wing is an upward arrow that no `use` line shows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The wings, lowest first. The base (up to `jobs`) is one level: its modules may use each other.
const WINGS: &[&str] = &[
    "error", "crypto", "secrets", "db", "pgtools", "lease", "jobs", "access", "ledger", "addons",
    "runtime", "builds", "github", "queue",
];
const BASE: usize = 6;

fn rank(wing: &str) -> Option<usize> {
    WINGS.iter().position(|w| *w == wing)
}

/// Every `.rs` file under `dir`, with its wing (the first path segment under `src`).
fn sources(dir: &Path, out: &mut Vec<(String, PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let wing = first.trim_end_matches(".rs").to_owned();
            out.push((wing, path.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The names of the methods defined in `impl Core` blocks of `text`.
fn core_methods(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("impl Core {") {
            inside = true;
        } else if inside && line == "}" {
            inside = false;
        } else if inside && line.starts_with("    ") && !line.starts_with("     ") {
            let rest = line.trim_start();
            let rest = rest
                .strip_prefix("pub(crate) ")
                .or_else(|| rest.strip_prefix("pub "))
                .unwrap_or(rest);
            let rest = rest.strip_prefix("async ").unwrap_or(rest);
            if let Some(name) = rest.strip_prefix("fn ") {
                names.push(ident_at(name).to_owned());
            }
        }
    }
    names
}

/// The names `text` calls as methods of the core (`self.x(`, `core.x(`, `self.core.x(`).
fn calls(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in ["self.", "core.", "self.core."] {
        for (at, _) in text.match_indices(prefix) {
            let name = ident_at(&text[at + prefix.len()..]);
            if text[at + prefix.len() + name.len()..].starts_with('(') {
                out.insert(name.to_owned());
            }
        }
    }
    out
}

/// The wings `text` names by path (`crate::wing`).
fn paths(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .map(|(at, _)| ident_at(&text[at + 7..]).to_owned())
        .collect()
}

fn upward_arrows() -> Vec<String> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut defined: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (wing, _, text) in &files {
        if let Some(r) = rank(wing) {
            for m in core_methods(text) {
                defined.entry(m).or_default().insert(r);
            }
        }
    }
    let up = |from: usize, to: usize| to > from && !(from <= BASE && to <= BASE);
    let mut found = Vec::new();
    for (wing, path, text) in &files {
        let Some(from) = rank(wing) else { continue };
        let file = path.display();
        for to in paths(text) {
            if rank(&to).is_some_and(|to| up(from, to)) {
                found.push(format!("{file}: {wing} imports {to}"));
            }
        }
        for name in calls(text) {
            for &to in defined.get(&name).into_iter().flatten() {
                // A name defined in the caller's own wing as well is taken as its own.
                if up(from, to) && !defined[&name].contains(&from) {
                    found.push(format!("{file}: {wing} calls {name} of {}", WINGS[to]));
                }
            }
        }
    }
    found
}

#[test]
fn no_wing_reaches_up() {
    let found = upward_arrows();
    assert!(found.is_empty(), "upward arrows:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_a_method_of_a_higher_wing() {
    // The reader of `impl Core` blocks and of calls, on a line each wing might hold.
    let ledger = "impl Core {\n    pub async fn find_attachment(&self) {}\n}\n";
    assert_eq!(core_methods(ledger), ["find_attachment"]);
    let caller =
        "let a = self.find_attachment(app.id).await?; self.core.persist(x); crate::github::X";
    assert_eq!(
        calls(caller),
        BTreeSet::from(["find_attachment".to_owned(), "persist".to_owned()])
    );
    assert!(paths(caller).contains("github"));
}
