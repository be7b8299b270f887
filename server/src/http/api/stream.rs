//! The live build log websocket (DESIGN §5): `…/builds/{id}/stream?from=N`. Frames are JSON:
//! `{"lines": [{"seq", "text"}, …]}` until the build ends, then `{"status"}`, then a close with
//! code 1000. The server pings every 20 s.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use slipway_core::builds::log_feed::{Tail, TailEvent};

use super::builds::build_id;
use super::{ApiError, ApiResult, AppOf};
use crate::http::AppState;

const PING_EVERY: Duration = Duration::from_secs(20);
/// A viewer that takes no data for this long is gone (a dead peer would otherwise hold its
/// cursor, and the build's feed, forever).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

async fn send(socket: &mut WebSocket, msg: Message) -> anyhow::Result<()> {
    tokio::time::timeout(SEND_TIMEOUT, socket.send(msg))
        .await
        .map_err(|_| anyhow::anyhow!("the viewer took nothing for {SEND_TIMEOUT:?}"))??;
    Ok(())
}

#[derive(Deserialize)]
pub(super) struct From {
    from: Option<String>,
}

pub(super) async fn build_stream(
    State(s): State<AppState>,
    AppOf { actor, app }: AppOf,
    Path((_, build)): Path<(String, String)>,
    Query(q): Query<From>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let from = match q.from.as_deref() {
        None | Some("") => 1,
        Some(f) => f
            .parse::<i32>()
            .ok()
            .filter(|f| *f >= 1)
            .ok_or_else(|| ApiError::bad_request("from must be a line number, 1 or more."))?,
    };
    let build = s.core.build(&actor, &app, build_id(&build)?).await?;
    let tail = s.logs.tail(build.id, from);
    Ok(ws
        .on_upgrade(move |socket| async move {
            if let Err(e) = stream(socket, tail).await {
                tracing::debug!(error = %e, "log stream ended early");
            }
        })
        .into_response())
}

async fn stream(mut socket: WebSocket, mut tail: Tail) -> anyhow::Result<()> {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        tokio::select! {
            event = tail.next() => match event? {
                TailEvent::Lines(batch) => {
                    // Serialized once per chunk for every viewer of the feed.
                    let frame = batch.frame();
                    send(&mut socket, Message::Text(frame.as_ref().into())).await?;
                }
                TailEvent::Done(status) => {
                    let frame = domain::LogFrame {
                        lines: Default::default(),
                        status: Some(status),
                    };
                    let frame = serde_json::to_string(&frame)?;
                    send(&mut socket, Message::Text(frame.into())).await?;
                    send(
                        &mut socket,
                        Message::Close(Some(CloseFrame {
                            code: 1000,
                            reason: "".into(),
                        })),
                    )
                    .await?;
                    // Wait (briefly) for the client's close, so the close handshake completes.
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        while let Some(Ok(m)) = socket.recv().await {
                            if matches!(m, Message::Close(_)) {
                                break;
                            }
                        }
                    })
                    .await;
                    return Ok(());
                }
            },
            _ = ping.tick() => send(&mut socket, Message::Ping(Default::default())).await?,
            msg = socket.recv() => match msg {
                // The viewer went away.
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
        }
    }
}
