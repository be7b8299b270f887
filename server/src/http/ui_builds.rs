//! Plain-HTML routes of the build pages, so they work without JavaScript: starting a build from
//! a form (a source URL, or an archive uploaded from the browser), and the raw log download.

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine as _;
use slipway_core::authz::Actor;
use slipway_core::builds::BuildRequest;

use super::AppState;

pub fn routes(max_upload: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/ui/apps/{app}/builds",
            // Base64 makes an upload a third larger on its way to the build's source.
            post(start_build).layer(DefaultBodyLimit::max(max_upload.saturating_add(1 << 20))),
        )
        .route("/ui/apps/{app}/builds/{build}/log.txt", get(raw_log))
}

/// A refusal the form's page can show: the status and a short plain-text reason.
fn refuse(status: StatusCode, text: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.into(),
    )
        .into_response()
}

fn core_error(e: slipway_core::Error) -> Response {
    use slipway_core::Error::*;
    match e {
        NotFound(m) => refuse(StatusCode::NOT_FOUND, m),
        Conflict(m) => refuse(StatusCode::CONFLICT, m),
        Invalid(m) => refuse(StatusCode::UNPROCESSABLE_ENTITY, m),
        Forbidden(m) => refuse(StatusCode::FORBIDDEN, m),
        BadRequest(m) => refuse(StatusCode::BAD_REQUEST, m),
        Internal(e) => {
            tracing::error!(error = %format!("{e:#}"), "build form failed");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on the server.",
            )
        }
    }
}

/// `POST /ui/apps/{app}/builds` (multipart: `url`, or `archive`): starts a build and shows its
/// log page.
async fn start_build(
    State(s): State<AppState>,
    actor: Option<Extension<Actor>>,
    Path(app): Path<String>,
    mut form: Multipart,
) -> Response {
    let Some(Extension(actor)) = actor else {
        return refuse(StatusCode::UNAUTHORIZED, "Sign in first.");
    };
    let mut url = String::new();
    let mut archive: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return refuse(
                    e.status(),
                    format!("The form could not be read: {}.", e.body_text()),
                )
            }
        };
        match field.name() {
            Some("url") => url = field.text().await.unwrap_or_default().trim().to_owned(),
            Some("archive") => {
                let name = field.file_name().unwrap_or("").to_ascii_lowercase();
                match field.bytes().await {
                    Ok(b) if !b.is_empty() => archive = Some((name, b.to_vec())),
                    Ok(_) => {}
                    Err(e) => {
                        return refuse(
                            e.status(),
                            format!("The archive could not be read: {}.", e.body_text()),
                        )
                    }
                }
            }
            _ => {}
        }
    }
    let url = match (archive, url.is_empty()) {
        (Some((name, bytes)), true) => {
            let media = if name.ends_with(".zip") {
                "application/zip"
            } else {
                "application/gzip"
            };
            format!(
                "data:{media};base64,{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            )
        }
        (None, false) => url,
        (Some(_), false) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Give a source URL or an archive, not both.",
            )
        }
        (None, true) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Give a source URL (.tar.gz, .tgz or .zip) or choose an archive to upload.",
            )
        }
    };
    let app = match s.core.app(&actor, &app).await {
        Ok(a) => a,
        Err(e) => return core_error(e),
    };
    let req = BuildRequest {
        url,
        ..Default::default()
    };
    match s.core.create_build(&actor, &app, req).await {
        Ok(b) => {
            Redirect::to(&format!("/ui/apps/{}/builds/{}", app.full_name(), b.id)).into_response()
        }
        Err(e) => core_error(e),
    }
}

/// `GET /ui/apps/{app}/builds/{id}/log.txt`: the whole log as text, for download.
async fn raw_log(
    State(s): State<AppState>,
    actor: Option<Extension<Actor>>,
    Path((app, build)): Path<(String, String)>,
) -> Response {
    let Some(Extension(actor)) = actor else {
        return refuse(StatusCode::UNAUTHORIZED, "Sign in first.");
    };
    let Ok(id) = uuid::Uuid::parse_str(&build) else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("The build \"{build}\" was not found."),
        );
    };
    let app = match s.core.app(&actor, &app).await {
        Ok(a) => a,
        Err(e) => return core_error(e),
    };
    match s.core.build_log(&actor, &app, id).await {
        Ok((_, lines)) => {
            let mut text = lines.join("\n");
            text.push('\n');
            (
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"build-{id}.log\""),
                    ),
                ],
                text,
            )
                .into_response()
        }
        Err(e) => core_error(e),
    }
}
