//! The JSON shapes of the API's objects, field for field as Akkeris clients read them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use slipway_core::builds::Build;
use slipway_core::ledger::apps::{App, Grouping};
use slipway_core::ledger::releases::Release;
use uuid::Uuid;

use crate::http::AppState;

/// RFC 3339 UTC with milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    Ts(t).to_string()
}

/// A timestamp as the API writes it (RFC 3339, UTC, milliseconds), formatted without
/// chrono's format-string parser: lists write two per row.
#[derive(Clone, Copy)]
pub(super) struct Ts(DateTime<Utc>);

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.timestamp_subsec_millis().min(999)
        )
    }
}

impl Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Serialize)]
pub(super) struct Ref<'a> {
    pub(super) id: Uuid,
    pub(super) name: &'a str,
}

/// The app object. `description`, `image` and `web_url` are `""` rather than null when not
/// known: the Akkeris CLI's `apps:info` hands them to cliui, which fails on null.
#[derive(Serialize)]
pub(super) struct AppJson<'a> {
    id: Uuid,
    name: String,
    simple_name: &'a str,
    space: Ref<'a>,
    organization: Ref<'a>,
    region: Ref<'static>,
    description: &'a str,
    image: &'a str,
    released_at: Option<Ts>,
    web_url: &'a str,
    git_url: Option<&'a str>,
    git_branch: Option<&'a str>,
    preview: Option<&'a str>,
    created_at: Ts,
    updated_at: Ts,
}

pub(super) fn app_json(a: &App) -> AppJson<'_> {
    AppJson {
        id: a.id,
        name: a.full_name(),
        simple_name: &a.name,
        space: Ref {
            id: a.space_id,
            name: &a.space_name,
        },
        organization: Ref {
            id: a.org_id,
            name: &a.org_name,
        },
        region: Ref {
            id: Uuid::nil(),
            name: "local",
        },
        description: a.description.as_deref().unwrap_or(""),
        image: a.image.as_deref().unwrap_or(""),
        released_at: a.released_at.map(Ts),
        web_url: a.web_url.as_deref().unwrap_or(""),
        git_url: None,
        git_branch: None,
        preview: None,
        created_at: Ts(a.created_at),
        updated_at: Ts(a.updated_at),
    }
}

#[derive(Serialize)]
pub(super) struct IdRef {
    id: Option<Uuid>,
}

#[derive(Serialize)]
pub(super) struct UserRef<'a> {
    id: Option<Uuid>,
    login: Option<&'a str>,
    email: Option<&'a str>,
}

/// The release object.
#[derive(Serialize)]
pub(super) struct ReleaseJson<'a> {
    id: Uuid,
    app: Ref<'a>,
    version: i32,
    description: &'a str,
    status: &'static str,
    state: &'static str,
    current: bool,
    slug: IdRef,
    user: UserRef<'a>,
    addon_plan_names: &'a [String],
    pinned: bool,
    /// Why the deploy failed (Slipway's own field), or null.
    failure: Option<&'a str>,
    created_at: Ts,
    updated_at: Ts,
}

/// One release as its JSON value (the app's name made once for it).
pub(super) fn one_release(app: &App, r: &Release) -> Value {
    let name = app.full_name();
    json!(release_json(
        Ref {
            id: app.id,
            name: &name,
        },
        r,
    ))
}

pub(super) fn release_json<'a>(app: Ref<'a>, r: &'a Release) -> ReleaseJson<'a> {
    ReleaseJson {
        id: r.id,
        app,
        version: r.version,
        description: &r.description,
        status: r.status.as_str(),
        state: "success",
        current: r.current,
        slug: IdRef { id: r.build_id },
        user: UserRef {
            id: r.user_id,
            login: r.user_login.as_deref(),
            email: r.user_email.as_deref(),
        },
        addon_plan_names: &r.addon_plan_names,
        pinned: r.pinned,
        failure: r.failure.as_deref(),
        created_at: Ts(r.created_at),
        updated_at: Ts(r.updated_at),
    }
}

pub(super) fn build_json(state: &AppState, a: &App, b: &Build) -> Value {
    let result = result_url(state, a, b.id);
    json!({
        "id": b.id,
        "app": {"id": a.id, "name": a.full_name()},
        "status": b.status,
        "source_blob": {
            "url": b.source_url,
            "checksum": b.checksum,
            "version": b.version,
            "commit": b.commit_sha,
            "author": b.author,
            "repo": b.repo,
            "branch": b.branch,
            "message": b.message,
        },
        "slug": {"id": (b.status == domain::BuildStatus::Succeeded).then_some(b.id)},
        "release": b.release_id.map(|id| json!({"id": id})),
        "output_stream_url": result,
        "created_at": ts(b.created_at),
        "updated_at": ts(b.updated_at),
    })
}

/// The absolute URL of a build's log snapshot (`output_stream_url`).
pub(super) fn result_url(state: &AppState, a: &App, build: Uuid) -> String {
    state
        .public
        .url(&format!("/apps/{}/builds/{build}/result", a.full_name()))
}

pub(super) fn grouping_json(g: &Grouping) -> Value {
    json!({"id": g.id, "name": g.name, "created_at": ts(g.created_at), "updated_at": ts(g.updated_at)})
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::microseconds(123_999);
        assert_eq!(super::ts(t), "2026-01-02T03:04:05.123Z");
        assert_eq!(
            super::ts(t),
            t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "the same text chrono's formatter writes"
        );
    }
}
