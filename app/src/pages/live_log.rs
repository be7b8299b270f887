//! The browser's end of the live log websocket (DESIGN §5): appends each frame's lines, shows
//! the final status, and after a dropped connection (network, a sleeping laptop, a server
//! restart) reconnects with `from` = the next line it lacks, so nothing is missed or repeated.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use domain::{BuildStatus, LogFrame, LogLine};
use leptos::prelude::*;
use leptos::wasm_bindgen::closure::Closure;
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys::{CloseEvent, MessageEvent, VisibilityState, WebSocket};

use super::build_log::Link;

struct Follow {
    app: String,
    id: String,
    /// The seq of the next line the page lacks.
    next: Cell<i32>,
    ended: Cell<bool>,
    retries: Cell<u32>,
    socket: RefCell<Option<WebSocket>>,
    chunks: RwSignal<Vec<Arc<Vec<LogLine>>>>,
    status: RwSignal<BuildStatus>,
    link: RwSignal<Link>,
}

/// Follows the build's log from line `from` until it ends or the page goes away.
pub(crate) fn follow(
    app: String,
    id: String,
    from: i32,
    chunks: RwSignal<Vec<Arc<Vec<LogLine>>>>,
    status: RwSignal<BuildStatus>,
    link: RwSignal<Link>,
) {
    let f = Rc::new(Follow {
        app,
        id,
        next: Cell::new(from),
        ended: Cell::new(false),
        retries: Cell::new(0),
        socket: RefCell::new(None),
        chunks,
        status,
        link,
    });
    connect(f.clone());
    // A tab coming back from sleep reconnects at once rather than at its next retry.
    let on_visible = Closure::<dyn Fn()>::new(move || {
        let visible = document().visibility_state() == VisibilityState::Visible;
        if visible && f.socket.borrow().is_none() && !f.ended.get() && alive(&f) {
            f.retries.set(0);
            connect(f.clone());
        }
    });
    let _ = document()
        .add_event_listener_with_callback("visibilitychange", on_visible.as_ref().unchecked_ref());
    on_visible.forget();
}

/// Whether the page that follows is still there (its signals not disposed).
fn alive(f: &Follow) -> bool {
    f.chunks.try_with_untracked(|_| ()).is_some()
}

fn connect(f: Rc<Follow>) {
    let location = window().location();
    let scheme = if location.protocol().as_deref() == Ok("https:") {
        "wss"
    } else {
        "ws"
    };
    let host = location.host().unwrap_or_default();
    let url = format!(
        "{scheme}://{host}/apps/{}/builds/{}/stream?from={}",
        f.app,
        f.id,
        f.next.get()
    );
    let Ok(ws) = WebSocket::new(&url) else {
        retry(f);
        return;
    };

    let on_open = {
        let f = f.clone();
        Closure::<dyn Fn()>::new(move || {
            f.retries.set(0);
            let _ = f.link.try_set(Link::Live);
        })
    };
    let on_message = {
        let f = f.clone();
        Closure::<dyn Fn(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            let Ok(frame) = serde_json::from_str::<LogFrame>(&text) else {
                return;
            };
            // Only lines the page lacks, in order.
            let next = f.next.get();
            let lines: Vec<LogLine> = frame
                .lines
                .into_owned()
                .into_iter()
                .filter(|l| l.seq >= next)
                .collect();
            if let Some(last) = lines.last() {
                f.next.set(last.seq + 1);
                // Lines flowing means the build runs, even if the page was made while queued.
                if f.status.try_get_untracked() == Some(BuildStatus::Queued) {
                    let _ = f.status.try_set(BuildStatus::Pending);
                }
                if f.chunks.try_update(|c| c.push(Arc::new(lines))).is_none() {
                    // The page went away.
                    f.ended.set(true);
                    if let Some(ws) = f.socket.borrow_mut().take() {
                        let _ = ws.close();
                    }
                    return;
                }
            }
            if let Some(s) = frame.status {
                f.ended.set(true);
                let _ = f.status.try_set(s);
                let _ = f.link.try_set(Link::Ended);
            }
        })
    };
    let on_close = {
        let f = f.clone();
        Closure::<dyn Fn(CloseEvent)>::new(move |_: CloseEvent| {
            f.socket.borrow_mut().take();
            if !f.ended.get() && alive(&f) {
                let _ = f.link.try_set(Link::Retrying);
                retry(f.clone());
            }
        })
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    on_open.forget();
    on_message.forget();
    on_close.forget();
    *f.socket.borrow_mut() = Some(ws);
}

/// Tries again after 0.5 s, 1 s, 2 s … at most 10 s.
fn retry(f: Rc<Follow>) {
    let n = f.retries.get();
    f.retries.set(n + 1);
    let delay = (500u64 << n.min(5)).min(10_000);
    set_timeout(
        move || {
            if f.socket.borrow().is_none() && !f.ended.get() && alive(&f) {
                connect(f);
            }
        },
        Duration::from_millis(delay),
    );
}
