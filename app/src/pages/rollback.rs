//! Rolling back: the confirmation page (`/ui/apps/{app}/releases/vN/rollback`), which works
//! without JavaScript, and the dialog that opens in its place once the history page is live.

use domain::{DiffView, ROLLBACK_WARNING};
use leptos::html::Dialog;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::diff::DiffDetails;
use super::{Header, PostForm};
use crate::server::{rollback_preview, rollback_to, RollbackTo};
use crate::{Done, FormOutcome};

/// `/ui/apps/{app}/releases/vN/rollback`: what rolling back to vN changes, the warning, and
/// "Confirm rollback" (a form) or "Cancel" (back to the history).
#[component]
pub fn RollbackPage() -> impl IntoView {
    let app = super::param("app");
    let release = super::param("release");
    let version = release
        .strip_prefix('v')
        .unwrap_or(&release)
        .parse::<i32>()
        .unwrap_or(0);
    let history = format!("/ui/apps/{app}");
    let reveal = super::query("reveal");
    view! {
        <Header/>
        <main class="page narrow-page">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=history.clone()>{app.clone()}</a>" /"</p>
            <h1>{format!("Roll back to v{version}?")}</h1>
            <FormOutcome/>
            <Suspense fallback=|| view! { <p class="muted">"Working out what changes…"</p> }>
                {Suspend::new(async move {
                    match rollback_preview(app.clone(), version).await {
                        Ok(diff) => {
                            let revealed = super::diff::revealed(&app, &diff, reveal).await;
                            view! {
                            <RollbackBody diff app=app.clone() revealed/>
                            <p class="warning">{ROLLBACK_WARNING}</p>
                            <PostForm action=RollbackTo::PATH class="dialog-actions">
                                <input type="hidden" name="app" value=app.clone()/>
                                <input type="hidden" name="version" value=version.to_string()/>
                                <button type="submit" class="danger">"Confirm rollback"</button>
                                <a class="button" href=history.clone()>"Cancel"</a>
                            </PostForm>
                        }.into_any()
                        }
                        Err(e) => view! {
                            <p class="error" role="alert">{e.to_string()}</p>
                            <p><a href=history.clone()>"Back to the releases"</a></p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

/// The confirmation before a rollback, as a native modal `<dialog>` over the history: focus
/// moves into it, Escape cancels, focus returns on close. It opens for any "Rollback" link on
/// the page (`data-rollback="N"`), in place of the confirmation page the link goes to.
#[island]
pub fn RollbackDialog(app: String) -> impl IntoView {
    let app = StoredValue::new(app);
    let target = RwSignal::new(None::<i32>);
    let dialog = NodeRef::<Dialog>::new();
    let preview = LocalResource::new(move || {
        let v = target.get();
        async move {
            match v {
                Some(v) => Some(rollback_preview(app.get_value(), v).await),
                None => None,
            }
        }
    });
    let confirm = Action::new(move |v: &i32| {
        let v = *v;
        async move { rollback_to(app.get_value(), v).await }
    });
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        // Clicks on the page's "Rollback" links open the dialog instead.
        let handle = window_event_listener(leptos::ev::click, move |ev| {
            let link = ev
                .target()
                .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
                .and_then(|e| e.closest("a[data-rollback]").ok().flatten());
            let version = link
                .and_then(|l| l.get_attribute("data-rollback"))
                .and_then(|v| v.parse::<i32>().ok());
            if let Some(v) = version {
                ev.prevent_default();
                confirm.value().set(None);
                target.set(Some(v));
                if let Some(d) = dialog.get_untracked() {
                    if !d.open() {
                        let _ = d.show_modal();
                    }
                }
            }
        });
        on_cleanup(move || handle.remove());
    }
    // A confirmed rollback shows the history with the new release.
    Effect::new(move |_| {
        if let Some(Ok(r)) = confirm.value().get() {
            crate::outcome::go(
                &Done::RollingBack(r.version).url(&format!("/ui/apps/{}", app.get_value())),
            );
        }
    });
    let close = move |_| {
        if let Some(d) = dialog.get_untracked() {
            d.close();
        }
    };
    view! {
        <dialog node_ref=dialog class="rollback" aria-labelledby="rollback-title"
            on:close=move |_| { target.set(None); }>
            <h2 id="rollback-title">{move || target.get().map(|v| format!("Roll back to v{v}?")).unwrap_or_default()}</h2>
            <Suspense fallback=|| view! { <p class="muted">"Working out what changes…"</p> }>
                {move || preview.get().flatten().map(|r| match r {
                    Ok(diff) => view! { <RollbackBody diff app=app.get_value() revealed=None/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
            <p class="warning">{ROLLBACK_WARNING}</p>
            {move || confirm.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
            <div class="dialog-actions">
                <button type="button" class="danger" disabled=move || confirm.pending().get()
                    on:click=move |_| { if let Some(v) = target.get_untracked() { confirm.dispatch(v); } }>
                    "Confirm rollback"
                </button>
                <button type="button" autofocus on:click=close>"Cancel"</button>
            </div>
        </dialog>
    }
}

#[component]
fn RollbackBody(
    diff: DiffView,
    app: String,
    revealed: Option<super::diff::Revealed>,
) -> impl IntoView {
    view! {
        <p>
            "This creates a new release that runs "<strong>{format!("v{}", diff.to.version)}</strong>
            "'s image with its config vars and port, replacing "<strong>{format!("v{}", diff.from.version)}</strong>"."
        </p>
        <DiffDetails diff app revealed/>
    }
}
