use domain::{DiffView, ROLLBACK_WARNING};
use leptos::html::Dialog;
use leptos::prelude::*;

use super::diff::DiffDetails;
use crate::server::{rollback_preview, rollback_to};

/// The confirmation before a rollback: what changes, the warning, then Confirm or Cancel.
/// A native modal `<dialog>`: focus moves into it, Escape cancels, focus returns on close.
#[component]
pub fn RollbackDialog(
    app: Signal<String>,
    target: RwSignal<Option<i32>>,
    on_done: Callback<()>,
) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let preview = LocalResource::new(move || {
        let (app, v) = (app.get(), target.get());
        async move {
            match v {
                Some(v) => Some(rollback_preview(app, v).await),
                None => None,
            }
        }
    });
    let confirm = Action::new(move |v: &i32| {
        let (app, v) = (app.get_untracked(), *v);
        async move { rollback_to(app, v).await }
    });
    // Open when a target is chosen.
    Effect::new(move |_| {
        if target.get().is_some() {
            if let Some(d) = dialog.get() {
                if !d.open() {
                    let _ = d.show_modal();
                }
            }
        }
    });
    // A confirmed rollback closes the dialog and refreshes the history.
    Effect::new(move |_| {
        if let Some(Ok(_)) = confirm.value().get() {
            confirm.value().set(None);
            if let Some(d) = dialog.get_untracked() {
                d.close();
            }
            on_done.run(());
        }
    });
    let close = move |_| {
        if let Some(d) = dialog.get_untracked() {
            d.close();
        }
    };
    view! {
        <dialog node_ref=dialog class="rollback" aria-labelledby="rollback-title"
            on:close=move |_| { target.set(None); confirm.value().set(None); }>
            <h2 id="rollback-title">{move || target.get().map(|v| format!("Roll back to v{v}?")).unwrap_or_default()}</h2>
            <Suspense fallback=|| view! { <p class="muted">"Working out what changes…"</p> }>
                {move || preview.get().flatten().map(|r| match r {
                    Ok(diff) => view! { <RollbackBody diff app/> }.into_any(),
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
fn RollbackBody(diff: DiffView, app: Signal<String>) -> impl IntoView {
    view! {
        <p>
            "This creates a new release that runs "<strong>{format!("v{}", diff.to.version)}</strong>
            "'s image with its config vars and port, replacing "<strong>{format!("v{}", diff.from.version)}</strong>"."
        </p>
        <DiffDetails diff app/>
    }
}
