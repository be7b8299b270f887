use domain::TokenView;
use leptos::prelude::*;

use super::{island_action, Header};
use crate::server::{list_tokens, public_url, take_new_token, CreateToken, RevokeToken};
use crate::{Done, FormOutcome};

/// `/ui/account`: API tokens — create (shown once, with the Akkeris CLI set-up), list, revoke.
#[component]
pub fn AccountPage() -> impl IntoView {
    let just_made =
        super::query("did").and_then(|d| Done::parse(&d, None)) == Some(Done::TokenMade);
    view! {
        <Header/>
        <main class="page">
            <h1>"Your account"</h1>
            <FormOutcome/>
            <section class="card" aria-labelledby="tokens-title">
                <h2 id="tokens-title">"API tokens"</h2>
                <p class="muted">"Tokens let scripts and the Akkeris CLI act as you, with your role."</p>
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {Suspend::new(async move {
                        let base = public_url().await.unwrap_or_default();
                        // A token a plain form just made (it comes back with `?did=token`):
                        // shown here, this once. Other visits leave the session unread.
                        let made = if just_made {
                            take_new_token().await.ok().flatten()
                        } else {
                            None
                        };
                        match list_tokens().await {
                            Ok(list) => view! {
                                {made.map(|token| view! { <NewToken token base=base.clone()/> })}
                                <Tokens list base/>
                            }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
            <form method="post" action="/auth/logout">
                <button type="submit">"Sign out"</button>
            </form>
        </main>
    }
}

/// The token form and list: a token made here is shown in place, once; without JavaScript the
/// forms post and the page shows the outcome.
#[island(lazy)]
pub fn Tokens(list: Vec<TokenView>, base: String) -> impl IntoView {
    let create = island_action::<CreateToken>();
    let revoke = island_action::<RevokeToken>();
    let tokens = RwSignal::new(list);
    let refresh = move || {
        leptos::task::spawn_local(async move {
            if let Ok(list) = list_tokens().await {
                tokens.set(list);
            }
        });
    };
    Effect::new(move |_| {
        if create.version().get() + revoke.version().get() > 0 {
            refresh();
        }
    });
    view! {
        <ActionForm action=create attr:class="set-form">
            <div class="field grow">
                <label for="token-description">"Description"</label>
                <input id="token-description" name="description" required placeholder="laptop CLI" autocomplete="off"/>
            </div>
            <button type="submit" class="primary">"Create token"</button>
        </ActionForm>
        {move || create.value().get().map(|r| match r {
            Ok(token) => view! { <NewToken token base=base.clone()/> }.into_any(),
            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
        })}
        {move || {
            let list = tokens.get();
            if list.is_empty() {
                return view! { <p class="muted">"No tokens yet."</p> }.into_any();
            }
            view! {
                <table class="config tokens">
                    <thead><tr><th scope="col">"Description"</th><th scope="col">"Created"</th><th scope="col">"Last used"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                    <tbody>
                        {list.into_iter().map(|t| view! {
                            <tr>
                                <th scope="row">{t.description.clone()}</th>
                                <td data-label="Created">{t.created_at.format("%Y-%m-%d %H:%M UTC").to_string()}</td>
                                <td data-label="Last used">{t.last_used_at.map(|u| u.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "never".into())}</td>
                                <td class="row-actions">
                                    <ActionForm action=revoke>
                                        <input type="hidden" name="id" value=t.id.clone()/>
                                        <button type="submit" aria-label=format!("Revoke {}", t.description)>"Revoke"</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }
            .into_any()
        }}
    }
}

/// A token just made: shown this once, with the lines that set up the Akkeris CLI.
#[component]
fn NewToken(token: String, base: String) -> impl IntoView {
    let host = base
        .split("://")
        .nth(1)
        .unwrap_or(&base)
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    let setup = format!(
        "export AKKERIS_API_HOST={base}\nexport AKKERIS_AUTH_HOST={host}\nexport API_TOKEN={token}\naka apps"
    );
    view! {
        <div class="new-token" role="status">
            <p><strong>"Copy this token now: it is not shown again."</strong></p>
            <pre class="mono" aria-label="New token"><code>{token}</code></pre>
            <p>"Set up the Akkeris CLI:"</p>
            <pre class="mono"><code>{setup}</code></pre>
        </div>
    }
}
