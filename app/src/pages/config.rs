use domain::ConfigPage;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::{island_action, Header, PostForm};
use crate::server::{config_keys, reveal_config, SetConfig, UnsetConfig};
use crate::{Done, FormOutcome};

/// `/ui/apps/{app}/config`: config keys with masked values; reveal one, set, remove. Each
/// change is a release, and the page says which.
#[component]
pub fn ConfigPage() -> impl IntoView {
    let app = crate::pages::param("app");
    let reveal = super::query("reveal");
    view! {
        <Header/>
        <main class="page">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=format!("/ui/apps/{app}")>{app.clone()}</a>" /"</p>
            <h1>{app.clone()}</h1>
            <super::AppNav app=app.clone() here="config"/>
            <FormOutcome/>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {Suspend::new(async move {
                    match config_keys(app.clone()).await {
                        Ok(page) => {
                            let can_edit = page.can_edit;
                            // `?reveal=KEY` (the Reveal button without JavaScript).
                            let revealed = match reveal.filter(|_| page.can_reveal) {
                                Some(key) => reveal_config(app.clone(), key.clone()).await.ok().map(|v| (key, v)),
                                None => None,
                            };
                            view! {
                                <ConfigTable page revealed/>
                                {can_edit.then(|| view! { <SetConfigForm app/> })}
                            }.into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn ConfigTable(page: ConfigPage, revealed: Option<(String, String)>) -> impl IntoView {
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
                {keys.into_iter().map(|key| { let app = app.clone(); view! {
                    <tr>
                        <th scope="row" class="mono">{key.clone()}</th>
                        <td class="value"><RevealValue app=app.clone() key=key.clone() can_reveal
                            revealed=revealed.clone().filter(|(k, _)| *k == key).map(|(_, v)| v)/></td>
                        <td class="row-actions">
                            {can_edit.then(|| { let app = app.clone(); view! {
                                <PostForm action=UnsetConfig::PATH>
                                    <input type="hidden" name="app" value=app/>
                                    <input type="hidden" name="key" value=key.clone()/>
                                    <button type="submit" aria-label=format!("Remove {key}")>"Remove"</button>
                                </PostForm>
                            }})}
                        </td>
                    </tr>
                }}).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// A masked value and, for those who may, "Reveal", which fetches it. Without JavaScript,
/// "Reveal" asks for the page again with `?reveal=KEY`, and the server passes it (`revealed`).
#[island(lazy)]
pub fn RevealValue(
    app: String,
    key: String,
    can_reveal: bool,
    revealed: Option<String>,
) -> impl IntoView {
    let reveal = Action::new(move |(app, key): &(String, String)| {
        let (app, key) = (app.clone(), key.clone());
        async move { reveal_config(app, key).await }
    });
    if let Some(v) = revealed {
        reveal.value().set(Some(Ok(v)));
    }
    let k = key.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        reveal.dispatch((app.clone(), k.clone()));
    };
    view! {
        {move || match reveal.value().get() {
            Some(Ok(v)) => view! { <code class="revealed">{v}</code> }.into_any(),
            Some(Err(e)) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
            None => view! { <span class="masked" aria-label="hidden value">"••••••"</span> }.into_any(),
        }}
        {can_reveal.then(|| view! {
            <form class="reveal" method="get" on:submit=submit>
                <input type="hidden" name="reveal" value=key.clone()/>
                <button type="submit" class="link" aria-label=format!("Reveal {key}")>"Reveal"</button>
            </form>
        })}
    }
}

/// Sets a config var. With JavaScript, a refused key or value is said here with the fields
/// as typed; what it made is shown by the page it goes to, as without.
#[island(lazy)]
pub fn SetConfigForm(app: String) -> impl IntoView {
    let set = island_action::<SetConfig>();
    let page = format!("/ui/apps/{app}/config");
    Effect::new(move |_| {
        if let Some(Ok(v)) = set.value().get() {
            crate::outcome::go(&Done::Saved(v).url(&page));
        }
    });
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
            {move || set.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
            <p class="muted small">"Each change creates a new release. PORT is set through the formation; AKKERIS_* and SLIPWAY_* are reserved."</p>
        </section>
    }
}
