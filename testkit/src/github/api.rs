//! The REST API under `/api/v3`, and archive downloads on the codeload origin.
//!
//! Access follows GitHub: a classic token needs the scopes the endpoint accepts (named back in
//! `X-Accepted-OAuth-Scopes`) and the user the repository role; failing either is `404 Not
//! Found`, so private resources do not leak. A fine-grained token that lacks a permission gets
//! `403 Resource not accessible by personal access token`.

use std::collections::HashMap;
use std::sync::MutexGuard;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};

use super::shape::{self, DOCS};
use super::{git, hooks, random_alphanumeric, Data, Hook, Repo, Role, StandIn, Status, TokenKind};

type Answer = Result<Response, Failure>;

/// An error answer: GitHub's JSON error body with its status.
struct Failure(StatusCode, Value);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        answer(self.0, self.1)
    }
}

/// The holder of the token a request came with.
struct Caller {
    token: String,
    login: String,
    kind: TokenKind,
}

/// What an endpoint needs of the caller.
#[derive(Clone, Copy, PartialEq)]
enum Need {
    Read,
    ReadStatuses,
    WriteStatuses,
    ReadHooks,
    WriteHooks,
}

const HOOK_SCOPES: &str = "admin:repo_hook, read:repo_hook, repo, write:repo_hook";
const HOOK_WRITE_SCOPES: &str = "admin:repo_hook, repo, write:repo_hook";
const STATUS_SCOPES: &str = "repo, repo:status";

pub(super) fn answer(status: StatusCode, body: Value) -> Response {
    let content_type = [(header::CONTENT_TYPE, "application/json; charset=utf-8")];
    (status, content_type, body.to_string()).into_response()
}

fn error(status: StatusCode, message: &str, docs: &str) -> Failure {
    Failure(
        status,
        json!({"message": message, "documentation_url": docs}),
    )
}

fn not_found() -> Failure {
    error(StatusCode::NOT_FOUND, "Not Found", DOCS)
}

fn requires_authentication() -> Failure {
    error(StatusCode::UNAUTHORIZED, "Requires authentication", DOCS)
}

fn no_commit(rev: &str) -> Failure {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("No commit found for SHA: {rev}"),
        "https://docs.github.com/rest/commits/commits#get-a-commit",
    )
}

fn validation_failed(error: Value, docs: &str) -> Failure {
    let body =
        json!({"message": "Validation Failed", "errors": [error], "documentation_url": docs});
    Failure(StatusCode::UNPROCESSABLE_ENTITY, body)
}

pub(super) async fn unknown_route() -> Response {
    not_found().into_response()
}

pub(super) async fn handle(
    State(gh): State<StandIn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match authenticate(&gh, &headers) {
        Ok(caller) => caller,
        Err(failure) => return failure.into_response(),
    };
    let path = uri.path().trim_start_matches("/api/v3");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let api = Api {
        gh: &gh,
        caller: caller.as_ref(),
    };
    let (accepted, answer) = api.route(&method, &segments, &body);
    let mut response = answer.unwrap_or_else(IntoResponse::into_response);
    if let Some(TokenKind::Classic { scopes }) = caller.as_ref().map(|c| &c.kind) {
        let headers = response.headers_mut();
        if let Ok(scopes) = HeaderValue::from_str(&scopes.join(", ")) {
            headers.insert("x-oauth-scopes", scopes);
        }
        headers.insert(
            "x-accepted-oauth-scopes",
            HeaderValue::from_static(accepted),
        );
    }
    response
}

/// `Authorization: token X` or `Bearer X`; an unknown or revoked token is 401 right away.
fn authenticate(gh: &StandIn, headers: &HeaderMap) -> Result<Option<Caller>, Failure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        let known = scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer");
        known.then(|| token.trim())
    });
    let st = gh.lock();
    match token.and_then(|t| Some((t, st.tokens.get(t).filter(|k| !k.revoked)?))) {
        Some((token, t)) => Ok(Some(Caller {
            token: token.to_owned(),
            login: t.login.clone(),
            kind: t.kind.clone(),
        })),
        None => Err(error(StatusCode::UNAUTHORIZED, "Bad credentials", DOCS)),
    }
}

/// Whether `caller` may do what `need` says on `repo`.
fn check(st: &Data, caller: Option<&Caller>, repo: &Repo, need: Need) -> Result<(), Failure> {
    let public_read = !repo.private && matches!(need, Need::Read | Need::ReadStatuses);
    let Some(caller) = caller else {
        return if public_read {
            Ok(())
        } else if repo.private {
            Err(not_found())
        } else {
            Err(requires_authentication())
        };
    };
    let role = st.role(repo, &caller.login);
    let role_ok = match need {
        Need::Read | Need::ReadStatuses => public_read || role >= Role::Read,
        Need::WriteStatuses => role >= Role::Write,
        Need::ReadHooks | Need::WriteHooks => role == Role::Admin,
    };
    match &caller.kind {
        TokenKind::Classic { scopes } => {
            let has = |wanted: &[&str]| scopes.iter().any(|s| wanted.contains(&s.as_str()));
            let scopes_ok = match need {
                Need::Read => !repo.private || has(&["repo"]),
                Need::ReadStatuses => !repo.private || has(&["repo", "repo:status"]),
                Need::WriteStatuses => {
                    has(&["repo", "repo:status"]) || (!repo.private && has(&["public_repo"]))
                }
                Need::ReadHooks => has(&[
                    "repo",
                    "admin:repo_hook",
                    "write:repo_hook",
                    "read:repo_hook",
                ]),
                Need::WriteHooks => has(&["repo", "admin:repo_hook", "write:repo_hook"]),
            };
            if role_ok && scopes_ok {
                Ok(())
            } else {
                Err(not_found())
            }
        }
        TokenKind::FineGrained {
            repos,
            administration,
            statuses,
        } => {
            let listed = repos
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&repo.full_name));
            if !(listed || public_read) || !role_ok {
                return Err(not_found());
            }
            let granted = match need {
                Need::WriteStatuses => *statuses,
                Need::ReadHooks | Need::WriteHooks => *administration,
                Need::Read | Need::ReadStatuses => true,
            };
            if granted {
                Ok(())
            } else {
                Err(error(
                    StatusCode::FORBIDDEN,
                    "Resource not accessible by personal access token",
                    DOCS,
                ))
            }
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "Problems parsing JSON", DOCS))
}

struct Api<'a> {
    gh: &'a StandIn,
    caller: Option<&'a Caller>,
}

impl Api<'_> {
    /// Dispatches on method and path; answers with the scopes the endpoint accepts.
    fn route(&self, method: &Method, path: &[&str], body: &[u8]) -> (&'static str, Answer) {
        match (method.as_str(), path) {
            ("GET", ["user"]) => ("", self.user()),
            ("GET", ["user", "orgs"]) => ("admin:org, read:org, write:org", self.orgs()),
            ("GET", ["repos", o, r]) => ("repo", self.repo(o, r)),
            ("GET", ["repos", o, r, "branches"]) => ("repo", self.branches(o, r)),
            ("GET", ["repos", o, r, "branches", b @ ..]) if !b.is_empty() => {
                ("repo", self.branch(o, r, &b.join("/")))
            }
            ("GET", ["repos", o, r, "commits", rev @ .., "status"]) if !rev.is_empty() => {
                (STATUS_SCOPES, self.combined_status(o, r, &rev.join("/")))
            }
            ("GET", ["repos", o, r, "commits", rev @ .., "statuses"]) if !rev.is_empty() => {
                (STATUS_SCOPES, self.list_statuses(o, r, &rev.join("/")))
            }
            ("GET", ["repos", o, r, "statuses", rev]) => {
                (STATUS_SCOPES, self.list_statuses(o, r, rev))
            }
            ("GET", ["repos", o, r, "commits", rev @ .., "check-runs"]) if !rev.is_empty() => {
                ("repo", self.check_runs(o, r, &rev.join("/")))
            }
            ("GET", ["repos", o, r, "commits", rev @ ..]) if !rev.is_empty() => {
                ("repo", self.commit(o, r, &rev.join("/")))
            }
            ("POST", ["repos", o, r, "statuses", sha]) => {
                (STATUS_SCOPES, self.create_status(o, r, sha, body))
            }
            ("GET", ["repos", o, r, "hooks"]) => (HOOK_SCOPES, self.list_hooks(o, r)),
            ("POST", ["repos", o, r, "hooks"]) => (HOOK_WRITE_SCOPES, self.create_hook(o, r, body)),
            ("GET", ["repos", o, r, "hooks", id]) => (HOOK_SCOPES, self.get_hook(o, r, id)),
            ("DELETE", ["repos", o, r, "hooks", id]) => {
                (HOOK_WRITE_SCOPES, self.delete_hook(o, r, id))
            }
            ("POST", ["repos", o, r, "hooks", id, "pings"]) => {
                (HOOK_SCOPES, self.ping_hook(o, r, id))
            }
            ("GET", ["repos", o, r, "tarball", rev @ ..]) => {
                ("repo", self.tarball(o, r, &rev.join("/")))
            }
            _ => ("", Err(not_found())),
        }
    }

    /// The state, locked, and the index of the repository, if the caller may do `need` there.
    fn open(
        &self,
        owner: &str,
        name: &str,
        need: Need,
    ) -> Result<(MutexGuard<'_, Data>, usize), Failure> {
        let st = self.gh.lock();
        let i = st
            .repo_index(&format!("{owner}/{name}"))
            .ok_or_else(not_found)?;
        check(&st, self.caller, &st.repos[i], need)?;
        Ok((st, i))
    }

    fn user(&self) -> Answer {
        let caller = self.caller.ok_or_else(requires_authentication)?;
        let st = self.gh.lock();
        let user = st.user(&caller.login).ok_or_else(not_found)?;
        let since = shape::timestamp(Utc::now());
        let body = shape::merged(
            shape::account(&st, self.gh.urls(), &user.login),
            json!({
                "name": user.name, "email": user.email, "company": null, "blog": "",
                "location": null, "bio": null, "hireable": null, "twitter_username": null,
                "public_repos": 0, "public_gists": 0, "followers": 0, "following": 0,
                "created_at": since, "updated_at": since,
            }),
        );
        Ok(answer(StatusCode::OK, body))
    }

    /// Without `read:org`, GitHub lists only public memberships: none here.
    fn orgs(&self) -> Answer {
        let caller = self.caller.ok_or_else(requires_authentication)?;
        let st = self.gh.lock();
        let user = st.user(&caller.login).ok_or_else(not_found)?;
        let visible = |org: &&String| match &caller.kind {
            TokenKind::Classic { scopes } => scopes
                .iter()
                .any(|s| ["read:org", "write:org", "admin:org"].contains(&s.as_str())),
            TokenKind::FineGrained { repos, .. } => repos.iter().any(|r| {
                r.split('/')
                    .next()
                    .is_some_and(|o| o.eq_ignore_ascii_case(org))
            }),
        };
        let orgs: Vec<Value> = user
            .orgs
            .iter()
            .filter(visible)
            .map(|o| shape::org(self.gh.urls(), o))
            .collect();
        Ok(answer(StatusCode::OK, Value::Array(orgs)))
    }

    fn repo(&self, owner: &str, name: &str) -> Answer {
        let (st, i) = self.open(owner, name, Need::Read)?;
        let repo = &st.repos[i];
        let mut body = shape::repository(&st, self.gh.urls(), repo);
        if let Some(caller) = self.caller {
            let role = st.role(repo, &caller.login);
            body["permissions"] = json!({
                "admin": role == Role::Admin,
                "maintain": role == Role::Admin,
                "push": role >= Role::Write,
                "triage": role >= Role::Write,
                "pull": role >= Role::Read || !repo.private,
            });
        }
        Ok(answer(StatusCode::OK, body))
    }

    fn branches(&self, owner: &str, name: &str) -> Answer {
        let (st, i) = self.open(owner, name, Need::Read)?;
        let repo = &st.repos[i];
        let list: Vec<Value> = git::branches(&repo.git_dir)
            .into_iter()
            .map(|(name, sha)| {
                let url = format!(
                    "{}/repos/{}/commits/{sha}",
                    self.gh.urls().api,
                    repo.full_name
                );
                json!({"name": name, "commit": {"sha": sha, "url": url}, "protected": false})
            })
            .collect();
        Ok(answer(StatusCode::OK, Value::Array(list)))
    }

    fn branch(&self, owner: &str, name: &str, branch: &str) -> Answer {
        let (st, i) = self.open(owner, name, Need::Read)?;
        let repo = &st.repos[i];
        let commit =
            git::commit(&repo.git_dir, &format!("refs/heads/{branch}")).ok_or_else(|| {
                let docs = "https://docs.github.com/rest/branches/branches#get-a-branch";
                error(StatusCode::NOT_FOUND, "Branch not found", docs)
            })?;
        let urls = self.gh.urls();
        let api = format!("{}/repos/{}/branches/{branch}", urls.api, repo.full_name);
        let body = json!({
            "name": branch,
            "commit": shape::commit(&st, urls, repo, &commit),
            "_links": {"self": api, "html": format!("{}/{}/tree/{branch}", urls.web, repo.full_name)},
            "protected": false,
            "protection": {"enabled": false, "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}},
            "protection_url": format!("{api}/protection"),
        });
        Ok(answer(StatusCode::OK, body))
    }

    fn commit(&self, owner: &str, name: &str, rev: &str) -> Answer {
        let (st, i) = self.open(owner, name, Need::Read)?;
        let repo = &st.repos[i];
        let commit = git::commit(&repo.git_dir, rev).ok_or_else(|| no_commit(rev))?;
        Ok(answer(
            StatusCode::OK,
            shape::commit(&st, self.gh.urls(), repo, &commit),
        ))
    }

    /// The latest status of each context; `pending` when there is none, like GitHub.
    fn combined_status(&self, owner: &str, name: &str, rev: &str) -> Answer {
        let (st, i) = self.open(owner, name, Need::ReadStatuses)?;
        let repo = &st.repos[i];
        let sha = git::resolve(&repo.git_dir, rev).ok_or_else(|| no_commit(rev))?;
        let mut latest: Vec<&Status> = Vec::new();
        for s in repo.statuses.iter().rev().filter(|s| s.sha == sha) {
            if !latest
                .iter()
                .any(|l| l.context.eq_ignore_ascii_case(&s.context))
            {
                latest.push(s);
            }
        }
        let state = if latest
            .iter()
            .any(|s| s.state == "error" || s.state == "failure")
        {
            "failure"
        } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
            "pending"
        } else {
            "success"
        };
        let urls = self.gh.urls();
        let commit_url = format!("{}/repos/{}/commits/{sha}", urls.api, repo.full_name);
        let statuses: Vec<Value> = latest
            .iter()
            .map(|s| shape::status(&st, urls, repo, s, false))
            .collect();
        let body = json!({
            "state": state,
            "statuses": statuses,
            "sha": sha,
            "total_count": latest.len(),
            "repository": shape::repository(&st, urls, repo),
            "commit_url": commit_url,
            "url": format!("{commit_url}/status"),
        });
        Ok(answer(StatusCode::OK, body))
    }

    /// Every status of the commit, newest first.
    fn list_statuses(&self, owner: &str, name: &str, rev: &str) -> Answer {
        let (st, i) = self.open(owner, name, Need::ReadStatuses)?;
        let repo = &st.repos[i];
        let sha = git::resolve(&repo.git_dir, rev).ok_or_else(|| no_commit(rev))?;
        let list: Vec<Value> = repo
            .statuses
            .iter()
            .rev()
            .filter(|s| s.sha == sha)
            .map(|s| shape::status(&st, self.gh.urls(), repo, s, true))
            .collect();
        Ok(answer(StatusCode::OK, Value::Array(list)))
    }

    fn check_runs(&self, owner: &str, name: &str, rev: &str) -> Answer {
        let (st, i) = self.open(owner, name, Need::Read)?;
        let repo = &st.repos[i];
        let sha = git::resolve(&repo.git_dir, rev).ok_or_else(|| no_commit(rev))?;
        let runs: Vec<Value> = repo
            .check_runs
            .iter()
            .filter(|run| run.sha == sha)
            .map(|run| shape::check_run(self.gh.urls(), repo, run))
            .collect();
        let body = json!({"total_count": runs.len(), "check_runs": runs});
        Ok(answer(StatusCode::OK, body))
    }

    fn create_status(&self, owner: &str, name: &str, rev: &str, body: &[u8]) -> Answer {
        let caller = self.caller.ok_or_else(requires_authentication)?;
        let (mut st, i) = self.open(owner, name, Need::WriteStatuses)?;
        let input = parse_json(body)?;
        let sha = git::resolve(&st.repos[i].git_dir, rev).ok_or_else(|| no_commit(rev))?;
        let state = input["state"].as_str().unwrap_or_default();
        if !["error", "failure", "pending", "success"].contains(&state) {
            let error = json!({"resource": "Status", "code": "custom", "field": "state",
                               "message": "state is not included in the list"});
            let docs = "https://docs.github.com/rest/commits/statuses#create-a-commit-status";
            return Err(validation_failed(error, docs));
        }
        let text = |field: &str| input[field].as_str().map(str::to_owned);
        let status = Status {
            id: st.next_id(),
            sha,
            state: state.to_owned(),
            context: text("context").unwrap_or_else(|| "default".to_owned()),
            target_url: text("target_url"),
            description: text("description"),
            creator_token: Some(caller.token.clone()),
            creator_login: Some(caller.login.clone()),
            created_at: shape::timestamp(Utc::now()),
        };
        st.repos[i].statuses.push(status.clone());
        let body = shape::status(&st, self.gh.urls(), &st.repos[i], &status, true);
        Ok(answer(StatusCode::CREATED, body))
    }

    fn list_hooks(&self, owner: &str, name: &str) -> Answer {
        let (st, i) = self.open(owner, name, Need::ReadHooks)?;
        let repo = &st.repos[i];
        let list: Vec<Value> = repo
            .hooks
            .iter()
            .map(|h| shape::hook(self.gh.urls(), repo, h))
            .collect();
        Ok(answer(StatusCode::OK, Value::Array(list)))
    }

    fn get_hook(&self, owner: &str, name: &str, id: &str) -> Answer {
        let (st, i) = self.open(owner, name, Need::ReadHooks)?;
        let repo = &st.repos[i];
        let hook = find_hook(repo, id).ok_or_else(not_found)?;
        Ok(answer(
            StatusCode::OK,
            shape::hook(self.gh.urls(), repo, hook),
        ))
    }

    fn delete_hook(&self, owner: &str, name: &str, id: &str) -> Answer {
        let (mut st, i) = self.open(owner, name, Need::WriteHooks)?;
        let hook_id = find_hook(&st.repos[i], id).ok_or_else(not_found)?.id;
        st.repos[i].hooks.retain(|h| h.id != hook_id);
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    fn create_hook(&self, owner: &str, name: &str, body: &[u8]) -> Answer {
        let caller = self.caller.ok_or_else(requires_authentication)?;
        let (mut st, i) = self.open(owner, name, Need::WriteHooks)?;
        let input = parse_json(body)?;
        let docs = "https://docs.github.com/rest/repos/webhooks#create-a-repository-webhook";
        let config = &input["config"];
        let url = config["url"].as_str().unwrap_or_default();
        if url::Url::parse(url).map_or(true, |u| !["http", "https"].contains(&u.scheme())) {
            let error = json!({"resource": "Hook", "code": "custom", "message": "Config must contain a valid URL"});
            return Err(validation_failed(error, docs));
        }
        let events: Vec<String> = match input["events"].as_array() {
            Some(list) => list
                .iter()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect(),
            None => vec!["push".to_owned()],
        };
        let overlapping = st.repos[i]
            .hooks
            .iter()
            .any(|h| h.url == url && h.events.iter().any(|e| events.contains(e)));
        if overlapping {
            let error = json!({"resource": "Hook", "code": "custom", "message": "Hook already exists on this repository"});
            return Err(validation_failed(error, docs));
        }
        let insecure_ssl = match &config["insecure_ssl"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => "0".to_owned(),
        };
        let hook = Hook {
            id: st.next_id(),
            url: url.to_owned(),
            content_type: config["content_type"].as_str().unwrap_or("form").to_owned(),
            secret: config["secret"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            events,
            active: input["active"].as_bool().unwrap_or(true),
            insecure_ssl,
            created_at: shape::timestamp(Utc::now()),
            last_response: None,
        };
        st.repos[i].hooks.push(hook.clone());
        let repo = &st.repos[i];
        let body = shape::hook(self.gh.urls(), repo, &hook);
        let location = body["url"].as_str().unwrap_or_default().to_owned();
        // GitHub pings a new hook right away, in the background.
        let ping = hooks::ping_payload(&st, self.gh.urls(), repo, &hook, &caller.login);
        tokio::spawn(hooks::ping(
            self.gh.clone(),
            repo.full_name.clone(),
            hook.id,
            ping,
        ));
        let mut response = answer(StatusCode::CREATED, body);
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    }

    fn ping_hook(&self, owner: &str, name: &str, id: &str) -> Answer {
        let caller = self.caller.ok_or_else(requires_authentication)?;
        let (st, i) = self.open(owner, name, Need::ReadHooks)?;
        let repo = &st.repos[i];
        let hook = find_hook(repo, id).ok_or_else(not_found)?;
        let ping = hooks::ping_payload(&st, self.gh.urls(), repo, hook, &caller.login);
        tokio::spawn(hooks::ping(
            self.gh.clone(),
            repo.full_name.clone(),
            hook.id,
            ping,
        ));
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    /// Like api.github.com: a redirect to codeload with a short-lived token in the query.
    fn tarball(&self, owner: &str, name: &str, rev: &str) -> Answer {
        let (mut st, i) = self.open(owner, name, Need::Read)?;
        let repo = &st.repos[i];
        let rev = if rev.is_empty() {
            repo.default_branch.as_str()
        } else {
            rev
        };
        let sha = git::resolve(&repo.git_dir, rev).ok_or_else(not_found)?;
        let full_name = repo.full_name.clone();
        let token = format!("A{}", random_alphanumeric(28).to_ascii_uppercase());
        let location = format!(
            "{}/{full_name}/legacy.tar.gz/{sha}?token={token}",
            self.gh.urls().codeload
        );
        st.archive_tokens.insert(token, (full_name, sha));
        Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
    }
}

fn find_hook<'r>(repo: &'r Repo, id: &str) -> Option<&'r Hook> {
    let id: u64 = id.parse().ok()?;
    repo.hooks.iter().find(|h| h.id == id)
}

/// `GET /{owner}/{repo}/legacy.tar.gz/{sha}?token=…` on the codeload origin: the token is the
/// only credential, and it works once.
pub(super) async fn codeload(
    State(gh): State<StandIn>,
    Path((owner, name, sha)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let full_name = format!("{owner}/{name}");
    let git_dir = {
        let mut st = gh.lock();
        let grant = query.get("token").and_then(|t| st.archive_tokens.remove(t));
        match grant {
            Some((repo, granted)) if repo.eq_ignore_ascii_case(&full_name) && granted == sha => {
                st.repo(&full_name).map(|r| r.git_dir.clone())
            }
            _ => None,
        }
    };
    let prefix = format!("{owner}-{name}-{}", sha.get(..7).unwrap_or(&sha));
    let Some(archive) = git_dir.and_then(|dir| git::archive(&dir, &format!("{prefix}/"), &sha))
    else {
        return codeload_not_found().await;
    };
    let headers = [
        (header::CONTENT_TYPE, "application/x-gzip".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename={prefix}.tar.gz"),
        ),
    ];
    (headers, Body::from(archive)).into_response()
}

pub(super) async fn codeload_not_found() -> Response {
    (StatusCode::NOT_FOUND, "404: Not Found").into_response()
}
