use domain::AppListItem;
use leptos::prelude::*;

use super::Header;
use crate::server::list_apps;

/// `/ui/apps`: every app with its current release.
#[component]
pub fn AppsPage() -> impl IntoView {
    let apps = Resource::new(|| (), |_| list_apps());
    view! {
        <Header/>
        <main class="page">
            <h1>"Apps"</h1>
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
    let full = format!("{}-{}", app.name, app.space);
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
