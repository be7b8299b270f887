//! Plain-HTML routes of the build pages, so they work without JavaScript: starting a build from
//! a form (a source URL, or an archive uploaded from the browser and streamed into sealed
//! chunks), and the raw log download (streamed a page of lines at a time).

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures::StreamExt;
use slipway_core::access::authz::Actor;
use slipway_core::builds::BuildRequest;

use super::AppState;

pub fn routes(max_upload: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/ui/apps/{app}/builds",
            // The archive itself is limited as it streams in; this allows for the rest of the
            // form.
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
    let (status, text) = e.public("build form");
    refuse(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        text,
    )
}

/// The longest source URL the form takes.
const MAX_URL: usize = 8 << 10;

/// `POST /ui/apps/{app}/builds` (multipart: `url`, or `archive`): starts a build and shows its
/// log page. An archive streams into the upload store as it arrives, within
/// `SLIPWAY_MAX_SOURCE_BYTES`.
async fn start_build(
    State(s): State<AppState>,
    actor: Option<Extension<Actor>>,
    Path(app): Path<String>,
    mut form: Multipart,
) -> Response {
    let Some(Extension(actor)) = actor else {
        return refuse(StatusCode::UNAUTHORIZED, "Sign in first.");
    };
    let app = match s.core.app(&actor, &app).await {
        Ok(a) => a,
        Err(e) => return core_error(e),
    };
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        refuse(
            e.status(),
            format!("The form could not be read: {}.", e.body_text()),
        )
    };
    let mut url = String::new();
    let mut upload: Option<(slipway_core::builds::uploads::Upload, String)> = None;
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return unreadable(e),
        };
        match field.name() {
            Some("url") => {
                let mut text = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) if text.len() + c.len() <= MAX_URL => {
                            text.extend_from_slice(&c)
                        }
                        Ok(Some(_)) => {
                            return refuse(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "The source URL is longer than 8 KiB.",
                            )
                        }
                        Ok(None) => break,
                        Err(e) => return unreadable(e),
                    }
                }
                url = String::from_utf8_lossy(&text).trim().to_owned();
            }
            Some("archive") if upload.is_none() => {
                let name = field.file_name().unwrap_or("").to_owned();
                let limit = s.max_upload as u64;
                let mut up = match s.core.start_upload(&actor, &app, limit).await {
                    Ok(u) => u,
                    Err(e) => return core_error(e),
                };
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) => {
                            if let Err(e) = up.write(&c).await {
                                return core_error(e);
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            up.discard().await;
                            return unreadable(e);
                        }
                    }
                }
                if up.is_empty() {
                    up.discard().await;
                } else {
                    upload = Some((up, name));
                }
            }
            _ => {}
        }
    }
    let built = match (upload, url.is_empty()) {
        (Some((up, name)), true) => match up.finish().await {
            Ok(source) => {
                s.core
                    .create_build_from_upload(&actor, &app, source, &name)
                    .await
            }
            Err(e) => Err(e),
        },
        (None, false) => {
            let req = BuildRequest {
                url,
                ..Default::default()
            };
            s.core.create_build(&actor, &app, req).await
        }
        (Some((up, _)), false) => {
            up.discard().await;
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Give a source URL or an archive, not both.",
            );
        }
        (None, true) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Give a source URL (.tar.gz, .tgz or .zip) or choose an archive to upload.",
            )
        }
    };
    match built {
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
        Ok((_, pages)) => {
            let body = pages.map(|page| {
                let page = page.map_err(|e| {
                    tracing::error!(error = %format!("{e:#}"), "reading a build log failed mid-stream");
                    std::io::Error::other("the log could not be read")
                })?;
                let mut text = String::new();
                for line in page {
                    text.push_str(&line);
                    text.push('\n');
                }
                Ok::<_, std::io::Error>(axum::body::Bytes::from(text))
            });
            (
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"build-{id}.log\""),
                    ),
                ],
                axum::body::Body::from_stream(body),
            )
                .into_response()
        }
        Err(e) => core_error(e),
    }
}
