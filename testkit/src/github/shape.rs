//! GitHub's JSON objects, with the fields GitHub sends (those that matter to a client).

use std::fmt::Display;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::git::{Changes, Commit, Person};
use super::{CheckRun, Data, Hook, Repo, Status, Urls};

/// The documentation link of generic API errors.
pub(super) const DOCS: &str = "https://docs.github.com/rest";

/// GitHub's legacy global node ids: base64 of `0{len(kind)}:{kind}{id}` (`MDQ6VXNlcjE=`).
pub(super) fn node_id(kind: &str, id: impl Display) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{}:{kind}{id}", kind.len()))
}

pub(super) fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Adds `extra`'s fields to the object `base`.
pub(super) fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// Organizations are not registered: their id is derived from the name, stably.
pub(super) fn org_id(login: &str) -> u64 {
    let hash = login
        .to_ascii_lowercase()
        .bytes()
        .fold(0u64, |h, b| (h * 31 + u64::from(b)) % 1_000_000);
    9_000_000 + hash
}

/// A "simple user": a user or organization as GitHub embeds it in other objects.
pub(super) fn account(st: &Data, urls: &Urls, login: &str) -> Value {
    let (login, id, kind) = match st.user(login) {
        Some(u) => (u.login.as_str(), u.id, "User"),
        None => (login, org_id(login), "Organization"),
    };
    let api = format!("{}/users/{login}", urls.api);
    json!({
        "login": login,
        "id": id,
        "node_id": node_id(kind, id),
        "avatar_url": format!("{}/avatars/u/{id}?v=4", urls.web),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("{}/{login}", urls.web),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// An organization as `GET /user/orgs` lists it.
pub(super) fn org(urls: &Urls, login: &str) -> Value {
    let id = org_id(login);
    let api = format!("{}/orgs/{login}", urls.api);
    json!({
        "login": login,
        "id": id,
        "node_id": node_id("Organization", id),
        "url": api,
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events"),
        "hooks_url": format!("{api}/hooks"),
        "issues_url": format!("{api}/issues"),
        "members_url": format!("{api}/members{{/member}}"),
        "public_members_url": format!("{api}/public_members{{/member}}"),
        "avatar_url": format!("{}/avatars/u/{id}?v=4", urls.web),
        "description": null,
    })
}

pub(super) fn repository(st: &Data, urls: &Urls, repo: &Repo) -> Value {
    let full = &repo.full_name;
    let api = format!("{}/repos/{full}", urls.api);
    let created = timestamp(repo.created_at);
    json!({
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name(),
        "full_name": full,
        "private": repo.private,
        "owner": account(st, urls, repo.owner()),
        "html_url": format!("{}/{full}", urls.web),
        "description": null,
        "fork": false,
        "url": api,
        "archive_url": format!("{api}/{{archive_format}}{{/ref}}"),
        "branches_url": format!("{api}/branches{{/branch}}"),
        "commits_url": format!("{api}/commits{{/sha}}"),
        "hooks_url": format!("{api}/hooks"),
        "statuses_url": format!("{api}/statuses/{{sha}}"),
        "git_url": format!("git://{}/{full}.git", urls.host),
        "ssh_url": format!("git@localhost:{full}.git"),
        "clone_url": format!("{}/{full}.git", urls.web),
        "homepage": null,
        "size": 0,
        "language": null,
        "archived": false,
        "disabled": false,
        "visibility": if repo.private { "private" } else { "public" },
        "default_branch": repo.default_branch,
        "created_at": created,
        "updated_at": created,
        "pushed_at": created,
    })
}

/// A commit as the REST API gives it (`GET /repos/{o}/{r}/commits/{ref}`, branches).
pub(super) fn commit(st: &Data, urls: &Urls, repo: &Repo, c: &Commit) -> Value {
    let api = format!("{}/repos/{}", urls.api, repo.full_name);
    let web = format!("{}/{}", urls.web, repo.full_name);
    let person = |p: &Person| json!({"name": p.name, "email": p.email, "date": p.utc()});
    // GitHub links a commit to the account whose (verified) email it carries.
    let account_of = |p: &Person| {
        st.user_by_email(&p.email)
            .map_or(Value::Null, |u| account(st, urls, &u.login))
    };
    let parents: Vec<Value> = c
        .parents
        .iter()
        .map(|p| json!({"sha": p, "url": format!("{api}/commits/{p}"), "html_url": format!("{web}/commit/{p}")}))
        .collect();
    json!({
        "sha": c.sha,
        "node_id": node_id("Commit", format!("{}:{}", repo.id, c.sha)),
        "commit": {
            "author": person(&c.author),
            "committer": person(&c.committer),
            "message": c.message,
            "tree": {"sha": c.tree, "url": format!("{api}/git/trees/{}", c.tree)},
            "url": format!("{api}/git/commits/{}", c.sha),
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
        },
        "url": format!("{api}/commits/{}", c.sha),
        "html_url": format!("{web}/commit/{}", c.sha),
        "comments_url": format!("{api}/commits/{}/comments", c.sha),
        "author": account_of(&c.author),
        "committer": account_of(&c.committer),
        "parents": parents,
    })
}

/// A commit as a push payload lists it.
pub(super) fn push_commit(
    st: &Data,
    urls: &Urls,
    repo: &Repo,
    c: &Commit,
    changes: &Changes,
) -> Value {
    let person = |p: &Person| {
        let mut v = json!({"name": p.name, "email": p.email});
        if let Some(u) = st.user_by_email(&p.email) {
            v["username"] = u.login.clone().into();
        }
        v
    };
    json!({
        "id": c.sha,
        "tree_id": c.tree,
        "distinct": true,
        "message": c.message,
        "timestamp": c.author.date,
        "url": format!("{}/{}/commit/{}", urls.web, repo.full_name, c.sha),
        "author": person(&c.author),
        "committer": person(&c.committer),
        "added": changes.added,
        "removed": changes.removed,
        "modified": changes.modified,
    })
}

pub(super) fn hook(urls: &Urls, repo: &Repo, h: &Hook) -> Value {
    let url = format!("{}/repos/{}/hooks/{}", urls.api, repo.full_name, h.id);
    let mut config =
        json!({"content_type": h.content_type, "insecure_ssl": h.insecure_ssl, "url": h.url});
    if h.secret.is_some() {
        config["secret"] = "********".into();
    }
    let last_response = match h.last_response {
        None => json!({"code": null, "status": "unused", "message": null}),
        Some(code) if (200..300).contains(&code) => {
            json!({"code": code, "status": "active", "message": "OK"})
        }
        Some(code) => {
            json!({"code": code, "status": "failed", "message": format!("Invalid HTTP Response: {code}")})
        }
    };
    json!({
        "type": "Repository",
        "id": h.id,
        "name": "web",
        "active": h.active,
        "events": h.events,
        "config": config,
        "updated_at": h.created_at,
        "created_at": h.created_at,
        "url": url,
        "test_url": format!("{url}/test"),
        "ping_url": format!("{url}/pings"),
        "deliveries_url": format!("{url}/deliveries"),
        "last_response": last_response,
    })
}

/// A commit status; the combined status lists them without their creator.
pub(super) fn status(st: &Data, urls: &Urls, repo: &Repo, s: &Status, creator: bool) -> Value {
    let mut v = json!({
        "url": format!("{}/repos/{}/statuses/{}", urls.api, repo.full_name, s.sha),
        "avatar_url": null,
        "id": s.id,
        "node_id": node_id("StatusContext", s.id),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": s.created_at,
        "updated_at": s.created_at,
    });
    if creator {
        v["creator"] = s
            .creator_login
            .as_deref()
            .map_or(Value::Null, |l| account(st, urls, l));
    }
    v
}

pub(super) fn check_run(urls: &Urls, repo: &Repo, run: &CheckRun) -> Value {
    let completed = run.status == "completed";
    json!({
        "id": run.id,
        "name": run.name,
        "head_sha": run.sha,
        "node_id": node_id("CheckRun", run.id),
        "external_id": "",
        "url": format!("{}/repos/{}/check-runs/{}", urls.api, repo.full_name, run.id),
        "html_url": format!("{}/{}/runs/{}", urls.web, repo.full_name, run.id),
        "details_url": null,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": run.started_at,
        "completed_at": if completed { Some(&run.started_at) } else { None },
        "output": {"title": null, "summary": null, "text": null, "annotations_count": 0,
                   "annotations_url": format!("{}/repos/{}/check-runs/{}/annotations", urls.api, repo.full_name, run.id)},
        "check_suite": {"id": run.id},
        "app": {"id": 15368, "slug": "github-actions", "node_id": node_id("App", 15368), "name": "GitHub Actions"},
        "pull_requests": [],
    })
}
