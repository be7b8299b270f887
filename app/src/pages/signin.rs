use leptos::prelude::*;

use crate::server::sign_in_options;

/// `/ui/signin?next=…`: the ways to sign in that this installation offers.
#[component]
pub fn SignInPage() -> impl IntoView {
    let next = super::query("next")
        .filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .unwrap_or_else(|| "/ui/apps".into());
    let error = super::query("error");
    #[cfg(feature = "ssr")]
    if error.as_deref() == Some("not-allowed") {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::FORBIDDEN);
        }
    }
    view! {
        <main class="signin">
            <h1>"Sign in to Slipway"</h1>
            {error.map(|e| {
                let text = if e == "not-allowed" {
                    "Your account is not allowed to use this Slipway."
                } else {
                    "Signing in did not work. Try again."
                };
                let refused = e == "not-allowed";
                view! {
                    <p class="error" role="alert">{text}</p>
                    {refused.then(|| view! {
                        <p class="muted small">"This Slipway lets in members of the GitHub organisations its operators chose and the people they listed. Ask one of them to add you, or sign in with another GitHub account."</p>
                    })}
                }
            })}
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {Suspend::new(async move { match sign_in_options().await {
                    Ok(o) => view! {
                        <div class="signin-options">
                            {o.github.then(|| view! {
                                <a class="button primary" href=format!("/auth/github/login?next={}", domain::encode_query(&next))>"Sign in with GitHub"</a>
                            })}
                            {o.local.then(|| view! {
                                <form method="post" action="/auth/local">
                                    <input type="hidden" name="next" value=next.clone()/>
                                    <button type="submit" class="primary">"Sign in as local admin"</button>
                                </form>
                                <p class="muted small">"Offered because Slipway listens on a loopback address and no GitHub sign-in is configured."</p>
                            })}
                        </div>
                    }.into_any(),
                    Err(_) => view! { <p class="error" role="alert">"Cannot load the sign-in options."</p> }.into_any(),
                }})}
            </Suspense>
        </main>
    }
}
