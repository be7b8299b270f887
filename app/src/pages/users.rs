use leptos::prelude::*;

use super::Header;
use crate::server::{list_users, SetUserRole, UserRow};

/// `/ui/users`: every user and their role; admins change roles here.
#[component]
pub fn UsersPage() -> impl IntoView {
    let set = ServerAction::<SetUserRole>::new();
    let users = Resource::new(move || set.version().get(), |_| list_users());
    view! {
        <Header/>
        <main class="page">
            <h1>"Users"</h1>
            <section class="card" aria-labelledby="users-title">
                <h2 id="users-title">"Roles"</h2>
                <p class="muted">"Viewers read apps, releases and logs. Deployers also build, release, roll back, change config vars and attach repositories. Admins also delete apps and manage users."</p>
                {move || set.value().get().map(|r| match r {
                    Ok(done) => view! { <p class="outcome" role="status">{done}</p> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || users.get().map(|r| match r {
                        Ok(list) => view! { <UserTable list set/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    })}
                </Transition>
            </section>
        </main>
    }
}

#[component]
fn UserTable(list: Vec<UserRow>, set: ServerAction<SetUserRole>) -> impl IntoView {
    view! {
        <table class="config users">
            <thead><tr><th scope="col">"User"</th><th scope="col">"Signs in with"</th><th scope="col">"Role"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|u| {
                    let label = format!("Role of {}", u.login);
                    let id = format!("role-{}", u.id);
                    view! {
                        <tr>
                            <th scope="row">{u.login.clone()}{u.me.then_some(" (you)")}</th>
                            <td data-label="Signs in with">{if u.provider == "github" { "GitHub" } else { "local" }}</td>
                            <td data-label="Role">
                                <ActionForm action=set attr:class="role-form">
                                    <input type="hidden" name="user" value=u.id.clone()/>
                                    <label for=id.clone() class="sr-only">{label.clone()}</label>
                                    <select id=id name="role" disabled=u.me>
                                        {[domain::Role::Viewer, domain::Role::Deployer, domain::Role::Admin].into_iter().map(|r| view! {
                                            <option value=r.as_str() selected=r == u.role>{r.as_str()}</option>
                                        }).collect_view()}
                                    </select>
                                    <button type="submit" disabled=u.me aria-label=format!("Set the role of {}", u.login)>"Set"</button>
                                </ActionForm>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
