use domain::{AddonView, AddonsPage as Page};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::config::RevealValue;
use super::{Header, PostForm};
use crate::server::{
    addon_list, reveal_config, AttachAddon, CreateAddon, DestroyAddon, DetachAddon,
};
use crate::FormOutcome;

/// `/ui/apps/{app}/addons`: the add-ons attached to the app, with the vars each sets (values
/// masked); add one, attach another app's, detach or destroy (typing the name to confirm).
/// Every change is a release, and the page says which. Plain forms: nothing here moves but the
/// Reveal buttons.
#[component]
pub fn AddonsPage() -> impl IntoView {
    let app = crate::pages::param("app");
    let reveal = super::query("reveal");
    view! {
        <Header/>
        <main class="page">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=format!("/ui/apps/{app}")>{app.clone()}</a>" /"</p>
            <h1>{app.clone()}</h1>
            <super::AppNav app=app.clone() here="addons"/>
            <FormOutcome/>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {Suspend::new(async move {
                    match addon_list(app.clone()).await {
                        Ok(page) => {
                            // `?reveal=KEY` (the Reveal button without JavaScript).
                            let revealed = match reveal.filter(|_| page.can_reveal) {
                                Some(key) => reveal_config(app.clone(), key.clone()).await.ok().map(|v| (key, v)),
                                None => None,
                            };
                            view! { <Addons page revealed/> }.into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn Addons(page: Page, revealed: Option<(String, String)>) -> impl IntoView {
    let Page {
        app,
        attached,
        services,
        attachable,
        can_edit,
        can_reveal,
    } = page;
    let list = if attached.is_empty() {
        view! {
            <p class="empty">"No add-ons yet. An add-on is a resource, such as a database, whose vars (DATABASE_URL) the app gets; attaching or removing one is a release."</p>
        }
        .into_any()
    } else {
        attached
            .into_iter()
            .map(|a| {
                view! { <AddonCard app=app.clone() addon=a can_edit can_reveal revealed=revealed.clone()/> }
            })
            .collect_view()
            .into_any()
    };
    let offered = !services.is_empty();
    view! {
        <section class="addons" aria-label="Attached add-ons">{list}</section>
        {(can_edit && offered).then(|| view! { <AddForm app=app.clone() services/> })}
        {(can_edit && !attachable.is_empty()).then(|| view! { <AttachForm app=app.clone() attachable/> })}
        {(!offered).then(|| view! {
            <p class="muted small">"No add-on services are offered here: the built-in PostgreSQL add-on needs SLIPWAY_ADDON_POSTGRES_URL, or embedded mode with a container engine."</p>
        })}
    }
}

#[component]
fn AddonCard(
    app: String,
    addon: AddonView,
    can_edit: bool,
    can_reveal: bool,
    revealed: Option<(String, String)>,
) -> impl IntoView {
    let a = addon;
    let shown = a.attachment_name.clone().unwrap_or_else(|| a.name.clone());
    let heading_id = format!("addon-{}", a.id);
    let state = a.state.clone();
    let origin = if a.owned {
        "Owned by this app".to_owned()
    } else {
        format!("Attached from {} (it owns the add-on)", a.owner_app)
    };
    let also = (!a.shared_with.is_empty()).then(|| {
        view! { <p class="meta">"Also attached to "{a.shared_with.join(", ")}</p> }
    });
    let failure = (state == "failed" && !a.state_description.is_empty()).then(|| {
        view! { <p class="error">{a.state_description.clone()}</p> }
    });
    // A broker provisions in the background: the release comes when it is done.
    let underway = (state == "provisioning").then(|| {
        view! {
            <p class="meta" role="status">{if a.state_description.is_empty() { "Provisioning…".to_owned() } else { a.state_description.clone() }}
                " The Attach release is made when it is ready. "<a href=format!("/ui/apps/{app}/addons")>"Refresh"</a></p>
        }
    });
    let vars = if a.vars.is_empty() {
        view! { <p class="muted small">"No vars on this app."</p> }.into_any()
    } else {
        view! {
            <table class="config addon-vars">
                <thead><tr><th scope="col">"Var"</th><th scope="col">"Value"</th></tr></thead>
                <tbody>
                    {a.vars.iter().map(|key| view! {
                        <tr>
                            <th scope="row" class="mono">{key.clone()}</th>
                            <td class="value"><RevealValue app=app.clone() key=key.clone() can_reveal
                                revealed=revealed.clone().filter(|(k, _)| k == key).map(|(_, v)| v)/></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    let var_list = if a.vars.is_empty() {
        "its vars".to_owned()
    } else {
        a.vars.join(", ")
    };
    let remove = can_edit.then(|| {
        if a.owned {
            let input = format!("destroy-{}", a.id);
            view! {
                <details class="danger">
                    <summary>"Destroy…"</summary>
                    <PostForm action=DestroyAddon::PATH class="confirm-form">
                        <p>"Destroying "<strong>{a.name.clone()}</strong>" deletes its database and all the data in it, for good, and creates a release without "{var_list.clone()}"."
                            {(!a.shared_with.is_empty()).then_some(" Detach it from the other apps first.")}</p>
                        <input type="hidden" name="app" value=app.clone()/>
                        <input type="hidden" name="addon" value=a.id.clone()/>
                        <label for=input.clone()>"Type "<span class="mono">{a.name.clone()}</span>" to confirm"</label>
                        <input id=input name="confirm" required autocomplete="off" spellcheck="false"/>
                        <button type="submit" class="danger">{format!("Destroy {}", a.name)}</button>
                    </PostForm>
                </details>
            }
            .into_any()
        } else {
            let input = format!("detach-{}", a.id);
            let name = shown.clone();
            view! {
                <details class="danger">
                    <summary>"Detach…"</summary>
                    <PostForm action=DetachAddon::PATH class="confirm-form">
                        <p>"Detaching "<strong>{name.clone()}</strong>" creates a release without "{var_list.clone()}"; the add-on and its data stay with "{a.owner_app.clone()}"."</p>
                        <input type="hidden" name="app" value=app.clone()/>
                        <input type="hidden" name="attachment" value=a.attachment_id.clone().unwrap_or_default()/>
                        <label for=input.clone()>"Type "<span class="mono">{name.clone()}</span>" to confirm"</label>
                        <input id=input name="confirm" required autocomplete="off" spellcheck="false"/>
                        <button type="submit" class="danger">{format!("Detach {name}")}</button>
                    </PostForm>
                </details>
            }
            .into_any()
        }
    });
    view! {
        <section class="card addon" id=shown.clone() aria-labelledby=heading_id.clone()>
            <div class="addon-head">
                <h2 id=heading_id.clone()>{shown.clone()}</h2>
                <span class="badge plan">{a.plan.clone()}</span>
                <span class=format!("status status-{state}")>{state.clone()}</span>
                {a.primary.then(|| view! { <span class="badge" title="The first add-on of its service: its vars keep their names">"Primary"</span> })}
            </div>
            <p class="meta">{origin}</p>
            {also}
            {underway}
            {failure}
            {vars}
            {remove}
        </section>
    }
}

#[component]
fn AddForm(app: String, services: Vec<domain::ServiceView>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="add-title">
            <h2 id="add-title">"Add an add-on"</h2>
            <PostForm action=CreateAddon::PATH class="set-form">
                <input type="hidden" name="app" value=app/>
                <div class="field grow">
                    <label for="addon-plan">"Service and plan"</label>
                    <select id="addon-plan" name="plan" required>
                        {services.into_iter().map(|s| view! {
                            <optgroup label=s.human_name.clone()>
                                {s.plans.into_iter().map(|p| view! {
                                    <option value=p.name.clone()>{format!("{} ({}) — {}", p.human_name, p.name, p.description)}</option>
                                }).collect_view()}
                            </optgroup>
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="addon-name">"Name "<span class="muted">"(optional)"</span></label>
                    <input id="addon-name" name="name" autocomplete="off" spellcheck="false" maxlength="22"
                        pattern="[A-Za-z][A-Za-z0-9_\\-]+" title="2 to 22 letters, digits, - or _, starting with a letter"/>
                </div>
                <button type="submit" class="primary">"Add add-on"</button>
            </PostForm>
            <p class="muted small">"Creates a release: the app restarts with the add-on's vars. The first add-on of a service sets DATABASE_URL; later ones are prefixed with their name (REPORTS_DATABASE_URL)."</p>
        </section>
    }
}

#[component]
fn AttachForm(app: String, attachable: Vec<domain::AttachableView>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="attach-title">
            <h2 id="attach-title">"Attach an existing add-on"</h2>
            <PostForm action=AttachAddon::PATH class="set-form">
                <input type="hidden" name="app" value=app/>
                <div class="field grow">
                    <label for="attach-addon">"Add-on"</label>
                    <select id="attach-addon" name="addon" required>
                        {attachable.into_iter().map(|a| view! {
                            <option value=a.id.clone()>{format!("{} ({}, of {})", a.name, a.plan, a.owner_app)}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="attach-name">"Name here "<span class="muted">"(optional)"</span></label>
                    <input id="attach-name" name="name" autocomplete="off" spellcheck="false" maxlength="22"
                        pattern="[A-Za-z][A-Za-z0-9_\\-]+" title="2 to 22 letters, digits, - or _, starting with a letter"/>
                </div>
                <button type="submit">"Attach"</button>
            </PostForm>
            <p class="muted small">"Shares the other app's add-on: this app gets its vars in a new release. Its owner cannot destroy it while it is attached here."</p>
        </section>
    }
}
