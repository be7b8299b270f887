//! The app's heading: its current release, favourite star and the deploy-an-image form.

use domain::AppSummary;
use leptos::prelude::*;

use crate::server::{set_auto_deploy, set_favorite, DeployImage};

#[component]
pub(super) fn AppHeading(
    app: AppSummary,
    can_deploy: bool,
    on_change: Callback<()>,
) -> impl IntoView {
    let name = app.name.clone();
    let switch = Action::new(move |(app, on): &(String, bool)| {
        let (app, on) = (app.clone(), *on);
        async move { set_auto_deploy(app, on).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = switch.value().get() {
            on_change.run(());
        }
    });
    let auto = app.auto_release;
    view! {
        <div class="app-head">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "</p>
            <div class="title-row">
                <h1>{app.name.clone()}</h1>
                <FavoriteButton app=app.name.clone() initial=app.favorite/>
            </div>
            <dl class="facts">
                <div><dt>"Running"</dt><dd>{app.current_version.map(|v| format!("v{v}")).unwrap_or_else(|| "nothing yet".into())}</dd></div>
                <div><dt>"Address"</dt><dd>{match app.web_url.clone() {
                    Some(url) => { let text = url.clone(); view! { <a class="mono" href=url rel="noopener">{text}</a> }.into_any() }
                    None => view! { <span class="muted">"after the first deploy"</span> }.into_any(),
                }}</dd></div>
                <div><dt>"Image"</dt><dd class="mono">{app.image.clone().unwrap_or_else(|| "none".into())}</dd></div>
                <div><dt>"Org"</dt><dd>{app.org.clone()}</dd></div>
                <div><dt>"Auto-deploy"</dt><dd>
                    {if can_deploy {
                        view! {
                            <button type="button" class="switch" role="switch" aria-checked=if auto { "true" } else { "false" }
                                title="Release every build that succeeds"
                                on:click=move |_| { switch.dispatch((name.clone(), !auto)); }>
                                {if auto { "On" } else { "Off" }}
                            </button>
                        }.into_any()
                    } else {
                        view! { <span>{if auto { "on" } else { "off" }}</span> }.into_any()
                    }}
                    {move || switch.value().get().and_then(|r| r.err()).map(|e| view! { <span class="error" role="alert">{e.to_string()}</span> })}
                </dd></div>
            </dl>
            {app.description.map(|d| view! { <p class="muted">{d}</p> })}
        </div>
    }
}

/// Stars the app for the signed-in user (starred in the apps list). The page's data says
/// whether it is starred, so the button costs no request of its own.
#[component]
pub(super) fn FavoriteButton(app: String, initial: bool) -> impl IntoView {
    let on = RwSignal::new(initial);
    let toggle = Action::new(move |(app, want): &(String, bool)| {
        let (app, want) = (app.clone(), *want);
        async move {
            if set_favorite(app, want).await.is_ok() {
                on.set(want);
            }
        }
    });
    view! {
        <button type="button" class="favorite" aria-pressed=move || if on.get() { "true" } else { "false" }
            on:click=move |_| { toggle.dispatch((app.clone(), !on.get_untracked())); }>
            {move || if on.get() { "★ Favourite" } else { "☆ Favourite" }}
        </button>
    }
}

/// Deploys an image the engine already has: records a `docker://` build and releases it.
#[component]
pub(super) fn DeployForm(app: String, deploy: ServerAction<DeployImage>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="deploy-title">
            <h2 id="deploy-title">"Deploy an image"</h2>
            <ActionForm action=deploy attr:class="set-form">
                <input type="hidden" name="app" value=app/>
                <div class="field grow">
                    <label for="deploy-image">"Image"</label>
                    <input id="deploy-image" name="image" required autocomplete="off" spellcheck="false"
                        placeholder="registry.example.com/team/web:1.2.3"/>
                </div>
                <button type="submit" class="primary">"Deploy"</button>
            </ActionForm>
            <p role="status" class="outcome">
                {move || deploy.value().get().map(|r| match r {
                    Ok(v) => view! { <span class="ok">{format!("Deploying as release v{v}.")}</span> }.into_any(),
                    Err(e) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
                })}
            </p>
        </section>
    }
}
