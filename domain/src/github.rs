//! GitHub words shared by the server and the browser: a repository's URL, the token scopes
//! Slipway needs (DESIGN §7) and how GitHub's scopes imply one another, and the checklist a
//! pasted token is shown against.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A GitHub repository on the configured host, from any of the forms people paste:
/// `https://host/owner/repo`, `http://…`, `…/repo.git`, `git@host:owner/repo.git`,
/// `ssh://git@host/owner/repo.git`, with or without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoUrl {
    /// The configured GitHub's `scheme://host[:port]`.
    base: String,
    owner: String,
    name: String,
}

impl RepoUrl {
    /// Parses `input` as a repository on the GitHub at `github_url` (`https://github.com`,
    /// or an Enterprise address), or says why it is not one. The normal form uses that
    /// address's scheme and host.
    pub fn parse(input: &str, github_url: &str) -> Result<Self, String> {
        let (scheme, rest) = github_url
            .trim()
            .split_once("://")
            .unwrap_or(("https", github_url.trim()));
        let host = rest.split('/').next().unwrap_or("").to_ascii_lowercase();
        let host = host.as_str();
        let base = format!("{}://{host}", scheme.to_ascii_lowercase());
        let s = input.trim();
        if s.is_empty() {
            return Err("The repository URL is required.".into());
        }
        let rest = if let Some(r) = s.strip_prefix("git@") {
            // scp-like: git@host:owner/repo.git
            let (h, path) = r.split_once(':').ok_or_else(|| {
                format!("\"{s}\" is not a repository URL like https://{host}/owner/repo.")
            })?;
            format!("{h}/{path}")
        } else if let Some((scheme, r)) = s.split_once("://") {
            match scheme.to_ascii_lowercase().as_str() {
                "https" | "http" | "ssh" | "git" => {}
                other => {
                    return Err(format!(
                        "\"{other}://\" repository URLs are not supported: use https://{host}/owner/repo."
                    ))
                }
            }
            r.rsplit_once('@')
                .filter(|(user, _)| !user.contains('/'))
                .map_or(r, |(_, h)| h)
                .to_owned()
        } else {
            return Err(format!(
                "\"{s}\" is not a repository URL like https://{host}/owner/repo."
            ));
        };
        let ssh = s.starts_with("git@") || s.to_ascii_lowercase().starts_with("ssh://");
        let mut parts = rest.split('/').filter(|p| !p.is_empty());
        let given = parts.next().unwrap_or("").to_ascii_lowercase();
        let host_lc = host.to_ascii_lowercase();
        let name_of = |h: &str| h.split(':').next().unwrap_or("").to_owned();
        // ssh reaches the same host on its own port: only the host name has to match then.
        let same_host = given == host_lc || (ssh && name_of(&given) == name_of(&host_lc));
        if !same_host {
            return Err(format!(
                "{given} is not the GitHub this Slipway uses ({host}): attach a repository on {host}."
            ));
        }
        let owner = parts.next().unwrap_or("");
        let name = parts.next().unwrap_or("");
        let name = name.strip_suffix(".git").unwrap_or(name);
        if owner.is_empty() || name.is_empty() || parts.next().is_some() {
            return Err(format!(
                "\"{s}\" is not a repository URL like https://{host}/owner/repo."
            ));
        }
        let ok = |p: &str| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && p != "."
                && p != ".."
        };
        if !ok(owner) || !ok(name) {
            return Err(format!(
                "\"{owner}/{name}\" is not a GitHub repository name."
            ));
        }
        Ok(Self {
            base,
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// The normal form, `https://host/owner/name`, as stored and shown.
impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.base, self.owner, self.name)
    }
}

/// The scopes Akkeris documents for a repository token, in the order the checklist shows
/// them, each with why Slipway needs it.
pub const REPO_SCOPES: [(&str, &str); 8] = [
    (
        "repo",
        "Read the repository, private ones included, and download the source of each push.",
    ),
    (
        "repo:status",
        "Post each build's result on the commit (the slipway/build status).",
    ),
    ("repo_deployment", "Record deployments of your commits."),
    ("public_repo", "Read public repositories."),
    (
        "admin:repo_hook",
        "Create the push webhook, and delete it when the repository is detached.",
    ),
    ("write:repo_hook", "Create and update the push webhook."),
    (
        "read:repo_hook",
        "See that the push webhook is still there.",
    ),
    ("read:user", "Know whose token it is."),
];

/// The scopes the new-token link asks for: with their implications, all of `REPO_SCOPES`.
pub const TOKEN_LINK_SCOPES: &str = "repo,admin:repo_hook,read:user";

/// The scopes asked of a signed-in user who attaches a repository with their own account.
pub const USER_REPO_SCOPES: &str = "read:user read:org repo admin:repo_hook";

/// Whether `wanted` is granted by `granted`, directly or by GitHub's implications: `repo`
/// implies `repo:status`, `repo_deployment` and `public_repo`; `admin:repo_hook` implies
/// `write:repo_hook`, which implies `read:repo_hook`; `user` implies `read:user`.
pub fn scope_granted(granted: &[String], wanted: &str) -> bool {
    granted.iter().any(|g| implies(g.trim(), wanted))
}

fn implies(g: &str, wanted: &str) -> bool {
    g == wanted
        || match g {
            "repo" => matches!(wanted, "repo:status" | "repo_deployment" | "public_repo"),
            "admin:repo_hook" => matches!(wanted, "write:repo_hook" | "read:repo_hook"),
            "write:repo_hook" => wanted == "read:repo_hook",
            "user" => matches!(wanted, "read:user" | "user:email" | "user:follow"),
            "admin:org" => matches!(wanted, "write:org" | "read:org"),
            "write:org" => wanted == "read:org",
            _ => false,
        }
}

/// Splits GitHub's scope lists (`X-OAuth-Scopes: repo, read:user`; the token answer's
/// `repo,read:user`; OAuth's space-separated form).
pub fn split_scopes(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The scopes of `REPO_SCOPES` that `granted` lacks.
pub fn missing_scopes(granted: &[String]) -> Vec<String> {
    REPO_SCOPES
        .iter()
        .filter(|(s, _)| !scope_granted(granted, s))
        .map(|(s, _)| (*s).to_owned())
        .collect()
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckItem {
    pub label: String,
    /// Why Slipway needs it, or what was found.
    pub detail: String,
    pub ok: bool,
}

/// What a credential can do on a repository, checked before anything is saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoChecklist {
    /// Whose credential it is (GitHub login), when GitHub said.
    pub login: Option<String>,
    /// `classic` (scopes) or `fine-grained` (permissions).
    pub kind: String,
    /// The scopes, or for a fine-grained token the permissions, each granted or missing.
    pub items: Vec<CheckItem>,
    /// The repository's branches, when the credential may list them.
    pub branches: Vec<String>,
    /// Everything needed is there: the form may save.
    pub ready: bool,
    /// A sentence for what stops it, when not ready.
    pub problem: Option<String>,
}

/// The repository attached to an app, as the settings page shows it (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoView {
    pub repo: String,
    pub branch: String,
    /// Whose credential Slipway uses: "the service account octobot", "your GitHub account"…
    pub credential: String,
    pub username: String,
    pub auto_deploy: bool,
    pub status_check: bool,
}

/// The settings page's repository section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSettings {
    pub app: String,
    pub attached: Option<RepoView>,
    /// The configured GitHub's web address (for the new-token link and URL hints).
    pub github_url: String,
    /// The service account's login, when one is configured.
    pub service_user: Option<String>,
    /// The signed-in user's GitHub login (signed in with GitHub), and whether their
    /// authorization already has the repository scopes.
    pub my_login: Option<String>,
    pub my_scopes_ok: bool,
    pub can_attach: bool,
    pub can_delete_app: bool,
    /// Builds held back because auto-deploy is paused after a rollback.
    pub auto_release_paused: bool,
}

/// The new-token link of DESIGN §7, for `app`.
pub fn new_token_link(github_url: &str, app: &str) -> String {
    format!(
        "{}/settings/tokens/new?scopes={TOKEN_LINK_SCOPES}&description=Slipway%20({app})",
        github_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<String, String> {
        RepoUrl::parse(s, "https://github.com").map(|u| u.to_string())
    }

    #[test]
    fn every_form_people_paste_normalises_to_one_url() {
        for s in [
            "https://github.com/octo/web",
            "https://github.com/octo/web.git",
            "https://github.com/octo/web/",
            "http://github.com/octo/web",
            "git@github.com:octo/web.git",
            "ssh://git@github.com/octo/web.git",
            "  https://GitHub.com/octo/web  ",
        ] {
            assert_eq!(
                parse(s).as_deref(),
                Ok("https://github.com/octo/web"),
                "{s}"
            );
        }
    }

    #[test]
    fn other_hosts_and_shapes_are_refused_with_a_reason() {
        let e = parse("https://gitlab.com/octo/web").unwrap_err();
        assert!(e.contains("not the GitHub this Slipway uses"), "{e}");
        assert!(parse("https://github.com/octo").is_err());
        assert!(parse("https://github.com/octo/web/tree/main").is_err());
        assert!(parse("octo/web").is_err());
        assert!(parse("ftp://github.com/octo/web").is_err());
        assert!(parse("https://github.com/../web").is_err());
    }

    #[test]
    fn a_host_with_a_port_matches_itself() {
        let u = RepoUrl::parse("https://localhost:8080/octo/web", "http://localhost:8080").unwrap();
        assert_eq!(u.full_name(), "octo/web");
        assert_eq!(u.to_string(), "http://localhost:8080/octo/web");
        assert!(RepoUrl::parse("http://localhost:9/octo/web", "http://localhost:8080").is_err());
    }

    #[test]
    fn repo_implies_repo_status_and_the_documented_three_are_enough() {
        let granted = split_scopes("repo, admin:repo_hook, read:user");
        assert!(missing_scopes(&granted).is_empty());
        assert!(scope_granted(&split_scopes("repo"), "repo:status"));
        assert_eq!(
            missing_scopes(&split_scopes("repo")),
            vec![
                "admin:repo_hook",
                "write:repo_hook",
                "read:repo_hook",
                "read:user"
            ]
        );
        assert!(scope_granted(&split_scopes("user"), "read:user"));
    }
}
