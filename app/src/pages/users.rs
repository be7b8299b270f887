use leptos::prelude::*;

use super::{island_action, Header};
use crate::server::{list_users, SetUserRole};
use crate::FormOutcome;

/// `/ui/users`: every user and their role; admins change roles here.
#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Header/>
        <main class="page">
            <h1>"Users"</h1>
            <FormOutcome/>
            <section class="card" aria-labelledby="users-title">
                <h2 id="users-title">"Roles"</h2>
                <p class="muted">"Viewers read apps, releases and logs. Deployers also build, release, roll back, change config vars and attach repositories. Admins also delete apps and manage users."</p>
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {Suspend::new(async move {
                        match list_users().await {
                            Ok(list) => view! {
                                <table class="config users">
                                    <thead><tr><th scope="col">"User"</th><th scope="col">"Signs in with"</th><th scope="col">"Role"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|u| view! {
                                            <tr>
                                                <th scope="row">{u.login.clone()}{u.me.then_some(" (you)")}</th>
                                                <td data-label="Signs in with">{if u.provider == "github" { "GitHub" } else { "local" }}</td>
                                                <td data-label="Role"><RoleForm user=u.id login=u.login role=u.role me=u.me/></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

/// One user's role picker; says what it did in place.
#[island(lazy)]
pub fn RoleForm(user: String, login: String, role: domain::Role, me: bool) -> impl IntoView {
    let set = island_action::<SetUserRole>();
    let label = format!("Role of {login}");
    let id = format!("role-{user}");
    view! {
        <ActionForm action=set attr:class="role-form">
            <input type="hidden" name="user" value=user.clone()/>
            <label for=id.clone() class="sr-only">{label}</label>
            <select id=id name="role" disabled=me>
                {[domain::Role::Viewer, domain::Role::Deployer, domain::Role::Admin].into_iter().map(|r| view! {
                    <option value=r.as_str() selected=r == role>{r.as_str()}</option>
                }).collect_view()}
            </select>
            <button type="submit" disabled=me aria-label=format!("Set the role of {login}")>"Set"</button>
        </ActionForm>
        {move || set.value().get().map(|r| match r {
            Ok(done) => view! { <p class="outcome" role="status">{done}</p> }.into_any(),
            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
        })}
    }
}
