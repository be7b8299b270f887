use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::{AppNav, Header};
use crate::server::{my_role, DeleteApp};

/// `/ui/apps/{app}/settings`: the danger zone (delete, by typing the app's name; admins).
#[component]
pub fn SettingsPage() -> impl IntoView {
    let params = use_params_map();
    let app = move || params.with(|p| p.get("app").unwrap_or_default());
    let role = Resource::new(|| (), |_| my_role());
    let delete = ServerAction::<DeleteApp>::new();
    // Gone: back to the list.
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            let navigate = leptos_router::hooks::use_navigate();
            navigate("/ui/apps", Default::default());
        }
    });
    view! {
        <Header/>
        <main class="page">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=move || format!("/ui/apps/{}", app())>{app}</a>" /"</p>
            <h1>{app}</h1>
            <AppNav app=app() here="settings"/>
            <section class="card danger-zone" aria-labelledby="danger-title">
                <h2 id="danger-title">"Danger zone"</h2>
                <Suspense fallback=|| ()>
                    {move || role.get().map(|r| match r {
                        Ok(role) if role.includes(domain::Role::Admin) => view! {
                            <p>"Deleting the app removes its releases, builds and config vars. It cannot be undone."</p>
                            <ActionForm action=delete attr:class="set-form">
                                <input type="hidden" name="app" value=app()/>
                                <div class="field grow">
                                    <label for="confirm-name">{format!("Type {} to confirm", app())}</label>
                                    <input id="confirm-name" name="confirm" required autocomplete="off" spellcheck="false"/>
                                </div>
                                <button type="submit" class="danger">"Delete app"</button>
                            </ActionForm>
                            <p role="alert" class="error">{move || delete.value().get().and_then(|r| r.err()).map(|e| e.to_string())}</p>
                        }.into_any(),
                        Ok(_) => view! { <p class="muted">"Only admins can delete apps."</p> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    })}
                </Suspense>
            </section>
        </main>
    }
}
