use domain::AppListItem;
use leptos::prelude::*;

use leptos::server_fn::ServerFn;

use super::{Header, PostForm};
use crate::server::{list_apps, whoami, CreateApp};
use crate::FormOutcome;

/// `/ui/apps`: every app with its current release.
#[component]
pub fn AppsPage() -> impl IntoView {
    view! {
        <Header/>
        <main class="page">
            <h1>"Apps"</h1>
            <FormOutcome/>
            <Suspense fallback=|| view! { <p class="muted">"Loading apps…"</p> }>
                {Suspend::new(async move {
                    // Viewers cannot create apps: no form for them.
                    let may_create = whoami().await.is_ok_and(|(_, role)| role.includes(domain::Role::Deployer));
                    let list = match list_apps().await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="empty">"No apps yet. Create one with the Akkeris CLI: "
                                <code>"aka apps:create NAME -s SPACE"</code></p>
                        }.into_any(),
                        Ok(list) => view! { <AppTable apps=list/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    };
                    view! { {may_create.then(|| view! { <CreateAppForm/> })} {list} }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn AppTable(apps: Vec<AppListItem>) -> impl IntoView {
    view! {
        <table class="apps">
            <thead>
                <tr><th scope="col">"App"</th><th scope="col">"Space"</th><th scope="col">"Current release"</th></tr>
            </thead>
            <tbody>
                {apps.into_iter().map(|a| view! { <AppRow app=a/> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn AppRow(app: AppListItem) -> impl IntoView {
    let full = domain::full_app_name(&app.name, &app.space);
    let release = match (app.current_version, app.current_description) {
        (Some(v), Some(d)) => {
            view! { <span class="version">{format!("v{v}")}</span>" "<span class="desc">{d}</span> }
                .into_any()
        }
        _ => view! { <span class="muted">"No release yet"</span> }.into_any(),
    };
    view! {
        <tr>
            <th scope="row" class="name">
                {app.favorite.then(|| view! { <span class="star" title="Favourite">"★ "</span> })}
                <a href=format!("/ui/apps/{full}")>{full.clone()}</a>
                {app.description.map(|d| view! { <div class="app-desc muted small">{d}</div> })}
            </th>
            <td data-label="Space">{app.space}</td>
            <td data-label="Current release">{release}</td>
        </tr>
    }
}

/// A plain form: the server answers with the new app's page, or this page with the reason.
#[component]
fn CreateAppForm() -> impl IntoView {
    view! {
        <details class="card create-app">
            <summary>"Create app"</summary>
            <PostForm action=CreateApp::PATH class="set-form">
                <div class="field">
                    <label for="app-name">"Name"</label>
                    <input id="app-name" name="name" required autocomplete="off" spellcheck="false" pattern="[a-z][a-z0-9]*"/>
                </div>
                <div class="field">
                    <label for="app-space">"Space"</label>
                    <input id="app-space" name="space" required autocomplete="off" spellcheck="false" pattern="[a-z][a-z0-9]*"/>
                </div>
                <div class="field">
                    <label for="app-org">"Org"</label>
                    <input id="app-org" name="org" autocomplete="off" spellcheck="false" placeholder="default"/>
                </div>
                <div class="field grow">
                    <label for="app-description">"Description"</label>
                    <input id="app-description" name="description" autocomplete="off"/>
                </div>
                <button type="submit" class="primary">"Create app"</button>
            </PostForm>
            <p class="muted small">"Names and spaces use lowercase letters and digits; name-space is at most 30 characters."</p>
        </details>
    }
}
