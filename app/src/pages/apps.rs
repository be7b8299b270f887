use domain::AppListItem;
use leptos::prelude::*;

use super::Header;
use crate::server::{list_apps, whoami, CreateApp};

/// `/ui/apps`: every app with its current release.
#[component]
pub fn AppsPage() -> impl IntoView {
    let create = ServerAction::<CreateApp>::new();
    let apps = Resource::new(move || create.version().get(), |_| list_apps());
    // Viewers cannot create apps: no form for them.
    let me = Resource::new(|| (), |_| whoami());
    // A new app: go to it.
    Effect::new(move |_| {
        if let Some(Ok(name)) = create.value().get() {
            let navigate = leptos_router::hooks::use_navigate();
            navigate(&format!("/ui/apps/{name}"), Default::default());
        }
    });
    view! {
        <Header/>
        <main class="page">
            <h1>"Apps"</h1>
            <Suspense fallback=|| ()>
                {move || me.get().and_then(|r| r.ok()).filter(|(_, role)| role.includes(domain::Role::Deployer)).map(|_| view! { <CreateAppForm create/> })}
            </Suspense>
            <Suspense fallback=|| view! { <p class="muted">"Loading apps…"</p> }>
                {move || apps.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">"No apps yet. Create one with the Akkeris CLI: "
                            <code>"aka apps:create NAME -s SPACE"</code></p>
                    }.into_any(),
                    Ok(list) => view! { <AppTable apps=list/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
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

#[component]
fn CreateAppForm(create: ServerAction<CreateApp>) -> impl IntoView {
    view! {
        <details class="card create-app">
            <summary>"Create app"</summary>
            <ActionForm action=create attr:class="set-form">
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
            </ActionForm>
            <p class="muted small">"Names and spaces use lowercase letters and digits; name-space is at most 30 characters."</p>
            <p role="alert" class="error">{move || create.value().get().and_then(|r| r.err()).map(|e| e.to_string())}</p>
        </details>
    }
}
