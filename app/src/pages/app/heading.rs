//! The app's heading: its current release, favourite star, auto-deploy switch, and the forms
//! that make a release, behind one button.

use domain::AppSummary;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::builds::NewBuildForm;
use crate::pages::{island_action, PostForm};
use crate::server::{DeployImage, SetAutoDeploy, SetFavorite};

#[component]
pub(super) fn AppHeading(app: AppSummary, can_deploy: bool) -> impl IntoView {
    let auto = app.auto_release;
    let name = app.name.clone();
    let switch = if can_deploy {
        view! {
            <PostForm action=SetAutoDeploy::PATH class="inline">
                <input type="hidden" name="app" value=name/>
                <input type="hidden" name="enabled" value=(!auto).to_string()/>
                <button type="submit" class="switch" role="switch" aria-checked=auto.to_string()
                    title="Release every build that succeeds">
                    {if auto { "On" } else { "Off" }}
                </button>
            </PostForm>
        }
        .into_any()
    } else {
        view! { <span>{if auto { "on" } else { "off" }}</span> }.into_any()
    };
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
                <div><dt>"Auto-deploy"</dt><dd>{switch}</dd></div>
            </dl>
            {app.description.map(|d| view! { <p class="muted">{d}</p> })}
            {can_deploy.then(|| view! { <DeployActions app=app.name.clone()/> })}
        </div>
    }
}

/// Stars the app for the signed-in user (starred in the apps list). The page's data says
/// whether it is starred, so the button costs no request of its own. Without JavaScript it is
/// a form like any other.
#[island]
pub fn FavoriteButton(app: String, initial: bool) -> impl IntoView {
    let on = RwSignal::new(initial);
    let toggle = island_action::<SetFavorite>();
    Effect::new(move |_| {
        if let Some(Ok(now)) = toggle.value().get() {
            on.set(now);
        }
    });
    view! {
        <ActionForm action=toggle attr:class="inline">
            <input type="hidden" name="app" value=app/>
            <input type="hidden" name="favorite" value=move || (!on.get()).to_string()/>
            <button type="submit" class="favorite" aria-pressed=move || on.get().to_string()>
                {move || if on.get() { "★ Favourite" } else { "☆ Favourite" }}
            </button>
        </ActionForm>
    }
}

/// "Build or deploy": the two ways to make a release by hand, folded away so the history
/// comes first. A `<details>`: it opens without JavaScript.
#[component]
fn DeployActions(app: String) -> impl IntoView {
    view! {
        <details class="deploy-actions">
            <summary class="button">"Build or deploy…"</summary>
            <div class="forms">
                <NewBuildForm app=app.clone()/>
                <DeployForm app/>
            </div>
        </details>
    }
}

/// Deploys an image the engine already has: records a `docker://` build and releases it.
#[component]
fn DeployForm(app: String) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="deploy-title">
            <h2 id="deploy-title">"Deploy an image"</h2>
            <PostForm action=DeployImage::PATH class="set-form">
                <input type="hidden" name="app" value=app/>
                <div class="field grow">
                    <label for="deploy-image">"Image"</label>
                    <input id="deploy-image" name="image" required autocomplete="off" spellcheck="false"
                        placeholder="registry.example.com/team/web:1.2.3"/>
                </div>
                <button type="submit" class="primary">"Deploy"</button>
            </PostForm>
        </section>
    }
}
