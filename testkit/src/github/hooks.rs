//! Webhook payloads and their delivery, the way GitHub's "Hookshot" sends them.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::Sha256;

use super::{git, shape, Data, Delivery, Hook, HookAnswer, Repo, StandIn, Urls};

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// Who pushes: the owner if it is a user, else the first admin collaborator.
fn pusher(st: &Data, repo: &Repo) -> String {
    let admin = repo.collaborators.iter().find(|(_, admin)| *admin);
    match (st.user(repo.owner()), admin, repo.collaborators.first()) {
        (Some(owner), _, _) => owner.login.clone(),
        (None, Some((login, _)), _) | (None, None, Some((login, _))) => login.clone(),
        (None, None, None) => repo.owner().to_owned(),
    }
}

pub(super) fn push_payload(gh: &StandIn, full_name: &str, branch: &str) -> Option<Value> {
    let st = gh.lock();
    let urls = gh.urls();
    let repo = st.repo(full_name)?;
    let dir = &repo.git_dir;
    let after = git::resolve(dir, &format!("refs/heads/{branch}"));
    let before = repo.heads.get(branch).cloned();
    if before.is_none() && after.is_none() {
        return None;
    }
    let shas = match (&before, &after) {
        (_, None) => Vec::new(),
        (Some(before), Some(after)) => git::rev_list(dir, &[&format!("{before}..{after}")]),
        // A new branch: its commits that no other branch has.
        (None, Some(after)) => {
            let others: Vec<String> = repo
                .heads
                .iter()
                .filter(|(name, _)| *name != branch)
                .map(|(_, sha)| format!("^{sha}"))
                .collect();
            let mut args = vec![after.as_str()];
            args.extend(others.iter().map(String::as_str));
            git::rev_list(dir, &args)
        }
    };
    let listed = |sha: &str| {
        let commit = git::commit(dir, sha)?;
        let changes = git::changes(dir, sha);
        Some(shape::push_commit(&st, urls, repo, &commit, &changes))
    };
    let commits: Vec<Value> = shas.iter().filter_map(|sha| listed(sha)).collect();
    let head_commit = after.as_deref().and_then(listed);
    let forced = match (&before, &after) {
        (Some(before), Some(after)) => !git::is_ancestor(dir, before, after),
        _ => false,
    };
    let (b, a) = (
        before.as_deref().unwrap_or(ZERO_SHA),
        after.as_deref().unwrap_or(ZERO_SHA),
    );
    let compare = match before {
        None => format!("{}/{full_name}/compare/{branch}", urls.web),
        Some(_) => format!(
            "{}/{full_name}/compare/{}...{}",
            urls.web,
            &b[..12],
            &a[..12]
        ),
    };
    let pusher = pusher(&st, repo);
    let email = |login: &str| st.user(login).and_then(|u| u.email.clone());
    // The push payload's repository is the REST one with a few legacy differences.
    let mut repository = shape::repository(&st, urls, repo);
    repository["created_at"] = repo.created_at.timestamp().into();
    repository["pushed_at"] = chrono::Utc::now().timestamp().into();
    repository["master_branch"] = repo.default_branch.clone().into();
    repository["stargazers"] = 0.into();
    repository["owner"]["name"] = repo.owner().into();
    repository["owner"]["email"] = email(repo.owner()).into();
    Some(json!({
        "ref": format!("refs/heads/{branch}"),
        "before": b,
        "after": a,
        "repository": repository,
        "pusher": {"name": pusher, "email": email(&pusher)},
        "sender": shape::account(&st, urls, &pusher),
        "created": before.is_none(),
        "deleted": after.is_none(),
        "forced": forced,
        "base_ref": null,
        "compare": compare,
        "commits": commits,
        "head_commit": head_commit,
    }))
}

pub(super) fn ping_payload(
    st: &Data,
    urls: &Urls,
    repo: &Repo,
    hook: &Hook,
    sender: &str,
) -> Value {
    json!({
        "zen": "Keep it logically awesome.",
        "hook_id": hook.id,
        "hook": shape::hook(urls, repo, hook),
        "repository": shape::repository(st, urls, repo),
        "sender": shape::account(st, urls, sender),
    })
}

/// Pings one hook (run in the background).
pub(super) async fn ping(gh: StandIn, full_name: String, hook_id: u64, payload: Value) {
    let id = uuid::Uuid::new_v4().to_string();
    send(
        &gh,
        &full_name,
        "ping",
        payload.to_string(),
        Some(&[hook_id]),
        id,
        false,
    )
    .await;
}

/// Sends `body` to the active hooks of the repository that subscribe to `event` (or to those
/// named in `only`), one after the other, and records the delivery.
pub(super) async fn send(
    gh: &StandIn,
    full_name: &str,
    event: &str,
    body: String,
    only: Option<&[u64]>,
    id: String,
    redelivery: bool,
) -> Delivery {
    let (repo_id, targets) = {
        let st = gh.lock();
        let Some(repo) = st.repo(full_name) else {
            panic!("no repository {full_name} in the stand-in");
        };
        let wanted = |h: &&Hook| match only {
            Some(ids) => ids.contains(&h.id),
            None => h.events.iter().any(|e| e == event || e == "*"),
        };
        let hooks: Vec<Hook> = repo
            .hooks
            .iter()
            .filter(|h| h.active)
            .filter(wanted)
            .cloned()
            .collect();
        (repo.id, hooks)
    };
    let mut answers = Vec::new();
    for hook in &targets {
        answers.push(send_one(gh, repo_id, hook, event, &id, &body).await);
    }
    let delivery = Delivery {
        id,
        event: event.to_owned(),
        repo: full_name.to_owned(),
        body,
        redelivery,
        answers,
    };
    let mut st = gh.lock();
    if let Some(repo) = st.repo_mut(full_name) {
        for answer in &delivery.answers {
            if let Some(hook) = repo.hooks.iter_mut().find(|h| h.id == answer.hook_id) {
                hook.last_response = answer.status.or(hook.last_response);
            }
        }
    }
    st.deliveries.push(delivery.clone());
    delivery
}

async fn send_one(
    gh: &StandIn,
    repo_id: u64,
    hook: &Hook,
    event: &str,
    id: &str,
    json: &str,
) -> HookAnswer {
    let (content_type, body) = if hook.content_type == "form" {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", json)
            .finish();
        ("application/x-www-form-urlencoded", form)
    } else {
        ("application/json", json.to_owned())
    };
    let mut request = gh
        .shared
        .http
        .post(&hook.url)
        .header("Accept", "*/*")
        .header("User-Agent", "GitHub-Hookshot/a5788b1")
        .header("Content-Type", content_type)
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", id)
        .header("X-GitHub-Hook-ID", hook.id.to_string())
        .header("X-GitHub-Hook-Installation-Target-ID", repo_id.to_string())
        .header("X-GitHub-Hook-Installation-Target-Type", "repository");
    if let Some(secret) = &hook.secret {
        let (sha1, sha256) = signatures(secret, body.as_bytes());
        request = request
            .header("X-Hub-Signature", sha1)
            .header("X-Hub-Signature-256", sha256);
    }
    let (status, body) = match request.body(body).send().await {
        Ok(response) => (
            Some(response.status().as_u16()),
            response.text().await.unwrap_or_default(),
        ),
        Err(e) => (None, e.to_string()),
    };
    HookAnswer {
        hook_id: hook.id,
        url: hook.url.clone(),
        status,
        body,
    }
}

/// `X-Hub-Signature` (HMAC-SHA1) and `X-Hub-Signature-256` (HMAC-SHA256) of the raw body.
fn signatures(secret: &str, body: &[u8]) -> (String, String) {
    let mut sha1 = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    sha1.update(body);
    let mut sha256 = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    sha256.update(body);
    (
        format!("sha1={}", hex::encode(sha1.finalize().into_bytes())),
        format!("sha256={}", hex::encode(sha256.finalize().into_bytes())),
    )
}
