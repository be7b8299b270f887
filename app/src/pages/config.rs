use crate::UiError;
use domain::ConfigPage;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::Header;
use crate::server::{config_keys, reveal_config, SetConfig, UnsetConfig};

/// `/ui/apps/{app}/config`: config keys with masked values; reveal one, set, remove. Each
/// change is a release, and the page says which.
#[component]
pub fn ConfigPage() -> impl IntoView {
    let params = use_params_map();
    let app = move || params.with(|p| p.get("app").unwrap_or_default());
    let set = ServerAction::<SetConfig>::new();
    let unset = ServerAction::<UnsetConfig>::new();
    let keys = Resource::new(
        move || (app(), set.version().get(), unset.version().get()),
        |(app, _, _)| config_keys(app),
    );
    // What the last change did, whichever form made it.
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let report = move |what: &'static str, r: Result<Option<i32>, UiError>| {
        outcome.set(Some(match r {
            Ok(Some(v)) => Ok(format!("{what}: created release v{v}.")),
            Ok(None) => Ok("Nothing changed, so no release was made.".to_owned()),
            Err(e) => Err(e.to_string()),
        }))
    };
    Effect::new(move |_| {
        if let Some(r) = set.value().get() {
            report("Saved", r);
        }
    });
    Effect::new(move |_| {
        if let Some(r) = unset.value().get() {
            report("Removed", r);
        }
    });
    view! {
        <Header/>
        <main class="page">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=move || format!("/ui/apps/{}", app())>{app}</a>" /"</p>
            <h1>{app}</h1>
            <super::AppNav app=app() here="config"/>
            <p role="status" class="outcome">
                {move || outcome.get().map(|r| match r {
                    Ok(text) => view! { <span class="ok">{text}</span> }.into_any(),
                    Err(text) => view! { <span class="error">{text}</span> }.into_any(),
                })}
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || keys.get().map(|r| match r {
                    Ok(page) => view! { <ConfigTable page unset/> <SetForm app=app() set/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </main>
    }
}

#[component]
fn ConfigTable(page: ConfigPage, unset: ServerAction<UnsetConfig>) -> impl IntoView {
    let ConfigPage {
        app,
        keys,
        can_edit,
        can_reveal,
    } = page;
    if keys.is_empty() {
        return view! { <p class="empty">"No config vars yet."</p> }.into_any();
    }
    view! {
        <table class="config">
            <thead><tr><th scope="col">"Key"</th><th scope="col">"Value"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
            <tbody>
                {keys.into_iter().map(|key| view! { <ConfigRow app=app.clone() key can_edit can_reveal unset/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn ConfigRow(
    app: String,
    key: String,
    can_edit: bool,
    can_reveal: bool,
    unset: ServerAction<UnsetConfig>,
) -> impl IntoView {
    let reveal = Action::new(move |(app, key): &(String, String)| {
        let (app, key) = (app.clone(), key.clone());
        async move { reveal_config(app, key).await }
    });
    let (a, k) = (app.clone(), key.clone());
    view! {
        <tr>
            <th scope="row" class="mono">{key.clone()}</th>
            <td class="value">
                {move || match reveal.value().get() {
                    Some(Ok(v)) => view! { <code class="revealed">{v}</code> }.into_any(),
                    Some(Err(e)) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
                    None => view! { <span class="masked" aria-label="hidden value">"••••••"</span> }.into_any(),
                }}
                {can_reveal.then(|| {
                    let (a, k) = (a.clone(), k.clone());
                    view! {
                        " "<button type="button" class="link" aria-label=format!("Reveal {k}")
                            on:click=move |_| { reveal.dispatch((a.clone(), k.clone())); }>"Reveal"</button>
                    }
                })}
            </td>
            <td class="row-actions">
                {can_edit.then(|| view! {
                    <ActionForm action=unset>
                        <input type="hidden" name="app" value=app.clone()/>
                        <input type="hidden" name="key" value=key.clone()/>
                        <button type="submit" aria-label=format!("Remove {key}")>"Remove"</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

#[component]
fn SetForm(app: String, set: ServerAction<SetConfig>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="set-title">
            <h2 id="set-title">"Set a config var"</h2>
            <ActionForm action=set attr:class="set-form">
                <input type="hidden" name="app" value=app/>
                <div class="field">
                    <label for="config-key">"Key"</label>
                    <input id="config-key" name="key" required autocomplete="off" spellcheck="false" pattern="[A-Za-z_][A-Za-z0-9_]*"/>
                </div>
                <div class="field grow">
                    <label for="config-value">"Value"</label>
                    <input id="config-value" name="value" autocomplete="off" spellcheck="false"/>
                </div>
                <button type="submit" class="primary">"Set"</button>
            </ActionForm>
            <p class="muted small">"Each change creates a new release. PORT is set through the formation; AKKERIS_* and SLIPWAY_* are reserved."</p>
        </section>
    }
}
