//! GitHub's push webhook (DESIGN §5, §7): the signature over the raw body, the repository,
//! ping, redelivery, and the pushes that are not built (other branches, tags, deletions,
//! pushes without a head commit).

use hmac::{Hmac, Mac};
use serde::Deserialize;
use uuid::Uuid;

use crate::builds::BuildRequest;
use crate::github::repos::author_line;
use crate::{Core, Error, Result};

/// What the receiver needs from the request.
#[derive(Debug, Clone, Default)]
pub struct Delivery<'a> {
    /// `X-GitHub-Event`.
    pub event: Option<&'a str>,
    /// `X-GitHub-Delivery`.
    pub id: Option<&'a str>,
    /// `X-Hub-Signature-256` (`sha256=…`).
    pub signature_256: Option<&'a str>,
    /// `X-Hub-Signature` (`sha1=…`), GitHub's legacy header.
    pub signature_1: Option<&'a str>,
    pub body: &'a [u8],
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A build was queued (201).
    Built(Uuid),
    /// Not something Slipway acts on (205), and why.
    Ignored(String),
    /// A ping (200 `pong.`).
    Pong,
    /// A delivery id seen before (200 `already processed`).
    AlreadyProcessed,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Person {
    name: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct HeadCommit {
    id: String,
    message: String,
    author: Option<Person>,
}

#[derive(Deserialize)]
struct Sender {
    login: Option<String>,
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref", default)]
    git_ref: String,
    #[serde(default)]
    deleted: bool,
    head_commit: Option<HeadCommit>,
    sender: Option<Sender>,
}

#[derive(Deserialize)]
struct Envelope {
    repository: Option<Repository>,
}

impl Core {
    /// Receives a delivery for `app_key`'s attachment. Errors: no attachment (404), a bad or
    /// missing signature or another repository (403, `Forbidden`), a body that is not JSON
    /// (422).
    pub async fn receive_webhook(&self, app_key: &str, d: Delivery<'_>) -> Result<Received> {
        // An unknown app and an app without an attachment answer alike: the address reveals
        // nothing about which apps exist.
        let nothing = || Error::NotFound("No repository is attached here.".into());
        let app = self.find_app(app_key).await.map_err(|e| match e {
            Error::NotFound(_) => nothing(),
            e => e,
        })?;
        let att = self.find_attachment(app.id).await?.ok_or_else(nothing)?;
        let secret = self.attachment_secret(&att).await?;
        if !signed(&secret, &d) {
            tracing::warn!(app = %app.full_name(), delivery = d.id.unwrap_or("-"), "webhook refused: bad or missing signature");
            return Err(Error::Forbidden(
                "The signature does not match (X-Hub-Signature-256).".into(),
            ));
        }
        let envelope: Envelope = serde_json::from_slice(d.body)
            .map_err(|_| Error::Invalid("The webhook body is not GitHub's JSON.".into()))?;
        let gh = self.github()?;
        let watched = domain::github::RepoUrl::parse(&att.repo, &gh.settings().web_url)
            .map_err(Error::Invalid)?;
        let from = envelope.repository.map(|r| r.full_name).unwrap_or_default();
        if !from.eq_ignore_ascii_case(&watched.full_name()) {
            tracing::warn!(app = %app.full_name(), repo = %from, "webhook refused: another repository");
            return Err(Error::Forbidden(format!(
                "This webhook is for {}, not {from}.",
                watched.full_name()
            )));
        }
        let event = d.event.unwrap_or("");
        if event == "ping" {
            return Ok(Received::Pong);
        }
        if event != "push" {
            return Ok(Received::Ignored(format!("{event} events are not built.")));
        }
        let push: Push = serde_json::from_slice(d.body)
            .map_err(|_| Error::Invalid("The push event is not GitHub's JSON.".into()))?;
        let Some(branch) = push.git_ref.strip_prefix("refs/heads/") else {
            return Ok(Received::Ignored(format!(
                "{} is not a branch.",
                push.git_ref
            )));
        };
        if branch != att.branch {
            return Ok(Received::Ignored(format!(
                "A push to {branch}; {} watches {}.",
                app.full_name(),
                att.branch
            )));
        }
        let head = match (push.deleted, push.head_commit) {
            (false, Some(h)) => h,
            (true, _) => return Ok(Received::Ignored("The branch was deleted.".into())),
            (false, None) => return Ok(Received::Ignored("The push has no head commit.".into())),
        };
        let author = head.author.as_ref().and_then(|a| {
            author_line(
                a.name.as_deref(),
                a.username
                    .as_deref()
                    .or(push.sender.as_ref().and_then(|s| s.login.as_deref())),
            )
        });
        let req = BuildRequest {
            url: gh.settings().tarball_url(&watched, &head.id),
            sha: Some(head.id.clone()),
            branch: Some(branch.to_owned()),
            repo: Some(att.repo.clone()),
            author,
            message: Some(head.message),
            ..Default::default()
        };
        let delivery_id =
            d.id.map(str::to_owned)
                .unwrap_or_else(|| format!("sha:{}", head.id));
        let seen: bool = sqlx::query_scalar!("select exists (select 1 from webhook_deliveries where app_id = $1 and delivery_id = $2) as \"seen!\"", app.id, &delivery_id)
        .fetch_one(&self.pool)
        .await?;
        if seen {
            return Ok(Received::AlreadyProcessed);
        }
        // The delivery id is not signed: an old signed push resent under a new id must not
        // build (and deploy) an old commit. Only the branch's current head is built.
        let token = self.attachment_token(&att).await?;
        let current = gh
            .branch_head(&token, &watched, branch)
            .await
            .map_err(crate::github::repos::refused)?;
        if current.as_ref().map(|c| c.sha.as_str()) != Some(head.id.as_str()) {
            return Ok(Received::Ignored(format!(
                "{} is no longer the head of {branch}.",
                head.id
            )));
        }
        let mut tx = self.pool.begin().await?;
        // The delivery is recorded with its build, in one transaction: a concurrent
        // redelivery waits for it, finds it, and builds nothing.
        let fresh = sqlx::query!("insert into webhook_deliveries (app_id, delivery_id) values ($1, $2) on conflict do nothing", app.id, &delivery_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if fresh == 0 {
            return Ok(Received::AlreadyProcessed);
        }
        let build = self
            .queue_github_build(&mut tx, None, &app, Some(att.id), &req)
            .await?;
        sqlx::query!(
            "update webhook_deliveries set build_id = $3 where app_id = $1 and delivery_id = $2",
            app.id,
            &delivery_id,
            build.id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(app = %app.full_name(), build = %build.id, sha = %head.id, delivery = %delivery_id, "push received; build queued");
        Ok(Received::Built(build.id))
    }
}

/// Whether the delivery carries a valid signature: `X-Hub-Signature-256` when present, else
/// the legacy SHA-1 one. Compared in constant time.
fn signed(secret: &str, d: &Delivery<'_>) -> bool {
    if secret.is_empty() {
        return false;
    }
    if let Some(sig) = d.signature_256 {
        let Some(hex_sig) = sig.trim().strip_prefix("sha256=") else {
            return false;
        };
        let Ok(want) = hex::decode(hex_sig) else {
            return false;
        };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
        mac.update(d.body);
        return mac.verify_slice(&want).is_ok();
    }
    if let Some(sig) = d.signature_1 {
        let Some(hex_sig) = sig.trim().strip_prefix("sha1=") else {
            return false;
        };
        let Ok(want) = hex::decode(hex_sig) else {
            return false;
        };
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("any key");
        mac.update(d.body);
        return mac.verify_slice(&want).is_ok();
    }
    false
}

impl Core {
    /// Forgets webhook deliveries older than 30 days (GitHub redelivers within days).
    pub async fn forget_old_deliveries(&self) {
        if let Err(e) = sqlx::query!(
            "delete from webhook_deliveries where received_at < now() - interval '30 days'"
        )
        .execute(&self.pool)
        .await
        {
            tracing::warn!(error = %e, "cannot forget old webhook deliveries");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign256(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_signature_over_the_raw_body_with_the_secret_passes() {
        let body = br#"{"zen":"x"}"#;
        let sig = sign256("s3cret", body);
        let d = Delivery {
            signature_256: Some(&sig),
            body,
            ..Default::default()
        };
        assert!(signed("s3cret", &d));
        assert!(!signed("other", &d));
        let tampered = Delivery {
            body: br#"{"zen":"y"}"#,
            ..d.clone()
        };
        assert!(!signed("s3cret", &tampered));
    }

    #[test]
    fn the_legacy_sha1_header_counts_only_without_the_sha256_one() {
        let body = b"{}";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"k").unwrap();
        mac.update(body);
        let sha1 = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));
        let only1 = Delivery {
            signature_1: Some(&sha1),
            body,
            ..Default::default()
        };
        assert!(signed("k", &only1));
        let both_bad = Delivery {
            signature_256: Some("sha256=00"),
            ..only1.clone()
        };
        assert!(!signed("k", &both_bad));
        assert!(!signed(
            "k",
            &Delivery {
                body,
                ..Default::default()
            }
        ));
        assert!(!signed("", &only1));
    }
}
