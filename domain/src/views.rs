//! Read models the UI renders; built on the server from `core`'s records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{BuildStatus, ReleaseKind, ReleaseStatus};

/// One row of the apps list: the app and its current release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppListItem {
    pub name: String,
    pub space: String,
    pub org: String,
    pub description: Option<String>,
    /// The current release (newest succeeded), if any.
    pub current_version: Option<i32>,
    pub current_description: Option<String>,
    pub released_at: Option<DateTime<Utc>>,
    pub favorite: bool,
}

/// An app's header on its pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSummary {
    /// `name-space`.
    pub name: String,
    pub org: String,
    pub description: Option<String>,
    pub image: Option<String>,
    pub current_version: Option<i32>,
    pub auto_release: bool,
    pub rolled_back: Option<RolledBackView>,
    /// Whether the signed-in user starred it.
    pub favorite: bool,
    /// Where the app answers, once deployed.
    pub web_url: Option<String>,
    /// Succeeded builds newer than the current release that were not released
    /// automatically: held back (auto-deploy paused), waiting for status checks, or refused
    /// by them. Newest first.
    pub unreleased: Vec<UnreleasedBuildView>,
}

/// A build that auto-deploy did not release (yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreleasedBuildView {
    pub id: String,
    /// `held`, `waiting` or `checks-failed`.
    pub state: String,
    /// `6d58b1ce - Jane Doe (jdoe) - Fix login - ef5c71a`.
    pub line: String,
    pub created_at: DateTime<Utc>,
}

/// The build's source info as the history shows it after a description:
/// ` - Jane Doe (jdoe) - Fix login - ef5c71a` (each part only when known; the message's first
/// line).
pub fn source_suffix(author: Option<&str>, message: Option<&str>, sha: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(a) = author.filter(|a| !a.is_empty()) {
        out.push_str(" - ");
        out.push_str(a);
    }
    if let Some(m) = message
        .and_then(|m| m.lines().next())
        .filter(|m| !m.is_empty())
    {
        out.push_str(" - ");
        out.push_str(m);
    }
    if let Some(s) = sha.filter(|s| !s.is_empty()) {
        out.push_str(" - ");
        out.extend(s.chars().take(7));
    }
    out
}

/// "Running v7, rolled back from v9".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBackView {
    pub running: i32,
    pub from: i32,
    pub release: i32,
    pub auto_release_paused: bool,
}

/// One release in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseView {
    pub id: String,
    pub version: i32,
    pub kind: ReleaseKind,
    pub description: String,
    pub status: ReleaseStatus,
    pub created_at: DateTime<Utc>,
    pub user: Option<String>,
    pub image: Option<String>,
    pub commit_sha: Option<String>,
    /// The history line: `Auto-Deploy 6d58b1ce - Jane Doe (jdoe) - Fix login - ef5c71a`
    /// (DESIGN §2), made on the server as held-back builds' lines are.
    pub line: String,
    pub current: bool,
    /// Whether "Rollback" is offered: succeeded, not current, image kept, and the actor may
    /// roll back.
    pub can_rollback: bool,
    /// The build it runs, for a link to its log.
    pub build_id: Option<String>,
    /// Why its deploy failed.
    pub failure: Option<String>,
    pub pinned: bool,
    /// Its image was removed (DESIGN §6): it cannot be rolled back to.
    pub image_gone: bool,
}

/// A line of a build log, as stored and as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct LogLine {
    pub seq: i32,
    pub text: String,
}

/// A frame of the live log websocket (DESIGN §5): `{"lines": […]}` while the build runs, then
/// `{"status": "succeeded" | "failed"}` once every line was sent. The server writes it (its
/// lines borrowed, serialized once per batch for every viewer) and the browser reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogFrame<'a> {
    #[serde(default, skip_serializing_if = "<[LogLine]>::is_empty")]
    pub lines: std::borrow::Cow<'a, [LogLine]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BuildStatus>,
}

/// The build log page: the build, and its log so far (the last lines of a long one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildPage {
    pub app: String,
    pub id: String,
    pub status: BuildStatus,
    /// The source, redacted (no credentials, no `data:` payload).
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub user: Option<String>,
    pub commit_sha: Option<String>,
    pub commit_message: Option<String>,
    /// The release that deployed it, if any.
    pub release_version: Option<i32>,
    pub lines: Vec<LogLine>,
    /// Lines in the whole log (more than `lines` holds when the log is long).
    pub total_lines: i32,
    /// Whether the viewer may deploy it.
    pub can_deploy: bool,
    pub now: DateTime<Utc>,
}

/// A page of an app's history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub app: AppSummary,
    pub releases: Vec<ReleaseView>,
    /// `?before=` for the next (older) page, when there is one.
    pub older: Option<i32>,
    /// Whether this page is not the newest.
    pub paged: bool,
    pub can_deploy: bool,
    pub can_reveal: bool,
    /// The server's clock when the page was made, so relative times render the same on the
    /// server and after hydration.
    pub now: DateTime<Utc>,
}

/// The config page: keys only; values are fetched one at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigPage {
    pub app: String,
    pub keys: Vec<String>,
    pub can_edit: bool,
    pub can_reveal: bool,
}

/// The add-ons page: what is attached to the app, and what can be added or attached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddonsPage {
    pub app: String,
    pub attached: Vec<AddonView>,
    pub services: Vec<ServiceView>,
    /// Other apps' add-ons this app could attach.
    pub attachable: Vec<AttachableView>,
    pub can_edit: bool,
    pub can_reveal: bool,
}

/// An add-on on the app (owned, or attached from another app).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddonView {
    pub id: String,
    /// The add-on's own name (its owner's attachment).
    pub name: String,
    /// Its attachment's id and name on this app; none while not attached (provisioning, failed).
    pub attachment_id: Option<String>,
    pub attachment_name: Option<String>,
    pub plan: String,
    pub state: String,
    pub state_description: String,
    pub owned: bool,
    pub owner_app: String,
    pub primary: bool,
    /// The vars it sets on this app (names only).
    pub vars: Vec<String>,
    /// Other apps it is attached to (for the owner).
    pub shared_with: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub name: String,
    pub human_name: String,
    pub description: String,
    pub plans: Vec<PlanView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanView {
    /// `service:plan`
    pub name: String,
    pub human_name: String,
    pub description: String,
}

/// Another app's add-on that could be attached here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachableView {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub owner_app: String,
}

/// An API token as its owner sees it later: never its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// How a config key differs between two releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDiffView {
    pub key: String,
    /// `added`, `removed` or `changed`.
    pub change: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitView {
    pub sha: String,
    pub message: Option<String>,
    pub author: Option<String>,
}

/// What differs from one release to another; values are never part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffView {
    pub from: ReleaseView,
    pub to: ReleaseView,
    pub port_from: i32,
    pub port_to: i32,
    pub config: Vec<KeyDiffView>,
    pub commits: Vec<CommitView>,
    /// Vars the add-ons set now: a rollback keeps them as they are.
    #[serde(default)]
    pub addon_kept: Vec<String>,
}

/// The warning shown before every rollback (DESIGN §2), word for word.
pub const ROLLBACK_WARNING: &str = "Rolling back does not change your source repository, your databases, or state held in add-ons; reconciling them is up to you. A rolled-back release is a temporary fix: fix the problem and deploy again.";

/// Percent-encodes a path and query for use as a query value (`/` kept, for readable
/// `next=` links).
pub fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// "3 minutes ago", from `now`.
pub fn relative_time(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().max(0);
    let (n, unit) = match secs {
        0..=44 => return "just now".into(),
        45..=5399 => ((secs + 30) / 60, "minute"),
        5400..=129_599 => ((secs + 1800) / 3600, "hour"),
        129_600..=3_887_999 => ((secs + 43_200) / 86_400, "day"),
        _ => ((secs + 1_296_000) / 2_592_000, "month"),
    };
    let n = n.max(1);
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::relative_time;
    use chrono::{Duration, Utc};

    #[test]
    fn the_history_line_names_author_message_and_short_sha() {
        assert_eq!(
            format!(
                "Auto-Deploy 6d58b1ce{}",
                super::source_suffix(
                    Some("Jane Doe (jdoe)"),
                    Some("Fix login\n\nLonger text"),
                    Some("ef5c71a0123456789")
                )
            ),
            "Auto-Deploy 6d58b1ce - Jane Doe (jdoe) - Fix login - ef5c71a"
        );
        assert_eq!(super::source_suffix(None, None, None), "");
    }

    #[test]
    fn relative_times_round_to_the_nearest_unit() {
        let now = Utc::now();
        assert_eq!(relative_time(now, now), "just now");
        assert_eq!(
            relative_time(now - Duration::seconds(60), now),
            "1 minute ago"
        );
        assert_eq!(
            relative_time(now - Duration::minutes(3), now),
            "3 minutes ago"
        );
        assert_eq!(relative_time(now - Duration::hours(5), now), "5 hours ago");
        assert_eq!(relative_time(now - Duration::days(3), now), "3 days ago");
    }
}
