//! The app page: its heading, its release history, then its builds.

mod builds;
mod heading;
mod history;

use leptos::prelude::*;

use super::Header;
use crate::server::{app_history, runtime_log};
use history::History;

/// `/ui/apps/{app}`: the app and its release history, newest first (`?before=N` pages back,
/// `?log` shows the running release's last lines).
#[component]
pub fn AppPage() -> impl IntoView {
    let app = crate::pages::param("app");
    let before = crate::pages::query("before").and_then(|b| b.parse::<i32>().ok());
    let show_log = crate::pages::query("log").is_some();
    view! {
        <Header/>
        <main class="page">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {Suspend::new(async move {
                    match app_history(app.clone(), before).await {
                        Ok(page) => {
                            let log = if show_log && page.app.web_url.is_some() {
                                Some(runtime_log(app.clone()).await)
                            } else {
                                None
                            };
                            view! { <History page log/> }.into_any()
                        }
                        Err(e) => view! { <h1>{app}</h1><p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}
