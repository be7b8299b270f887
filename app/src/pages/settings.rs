use domain::github::{new_token_link, RepoChecklist, RepoSettings, RepoView, REPO_SCOPES};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{AppNav, Header};
use crate::server::{
    build_repo_now, check_repo, load_repo_settings, set_auto_deploy, set_status_check, AttachRepo,
    DeleteApp, DetachRepo,
};

/// `/ui/apps/{app}/settings`: the GitHub repository (attach with token guidance, switches,
/// build now, detach), and the danger zone (delete, by typing the app's name; admins).
#[component]
pub fn SettingsPage() -> impl IntoView {
    let params = use_params_map();
    let app = move || params.with(|p| p.get("app").unwrap_or_default());
    let attach = ServerAction::<AttachRepo>::new();
    let detach = ServerAction::<DetachRepo>::new();
    let changed = RwSignal::new(0u32);
    let settings = Resource::new(
        move || {
            (
                app(),
                attach.version().get(),
                detach.version().get(),
                changed.get(),
            )
        },
        |(app, ..)| load_repo_settings(app),
    );
    view! {
        <Header/>
        <main class="page">
            <p class="crumbs"><a href="/ui/apps">"Apps"</a>" / "<a href=move || format!("/ui/apps/{}", app())>{app}</a>" /"</p>
            <h1>{app}</h1>
            <AppNav app=app() here="settings"/>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || settings.get().map(|r| match r {
                    Ok(s) => view! {
                        <RepoSection settings=s.clone() attach detach changed/>
                        <DangerZone app=s.app.clone() allowed=s.can_delete_app/>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </main>
    }
}

/// The GitHub repository the app deploys from: attached, or the form to attach one.
#[component]
fn RepoSection(
    settings: RepoSettings,
    attach: ServerAction<AttachRepo>,
    detach: ServerAction<DetachRepo>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let body = match (settings.attached.clone(), settings.can_attach) {
        (Some(repo), can) => view! {
            <AttachedRepo app=settings.app.clone() repo can_change=can paused=settings.auto_release_paused detach changed/>
        }
        .into_any(),
        (None, true) => view! { <AttachRepoForm settings=settings.clone() attach/> }.into_any(),
        (None, false) => view! {
            <p class="muted">"No repository is attached. Deployers can attach one to build and deploy every push."</p>
        }
        .into_any(),
    };
    view! {
        <section class="card" aria-labelledby="repo-title">
            <h2 id="repo-title">"GitHub repository"</h2>
            {body}
            {move || detach.value().get().map(|r| match r {
                Ok(Some(m)) => view! { <p class="warning" role="alert">{m}</p> }.into_any(),
                Ok(None) => view! { <p role="status" class="ok">"Detached; its webhook was deleted."</p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}

/// What is attached, the switches, "Build now" and "Detach".
#[component]
fn AttachedRepo(
    app: String,
    repo: RepoView,
    can_change: bool,
    paused: bool,
    detach: ServerAction<DetachRepo>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let switch = Action::new(move |(app, which, on): &(String, &'static str, bool)| {
        let (app, which, on) = (app.clone(), *which, *on);
        async move {
            let r = if which == "auto" {
                set_auto_deploy(app, on).await.map(|_| ())
            } else {
                set_status_check(app, on).await
            };
            if r.is_ok() {
                changed.update(|n| *n += 1);
            }
            r
        }
    });
    let build = Action::new(move |app: &String| {
        let app = app.clone();
        async move { build_repo_now(app.clone()).await.map(|id| (app, id)) }
    });
    Effect::new(move |_| {
        if let Some(Ok((app, id))) = build.value().get() {
            let navigate = leptos_router::hooks::use_navigate();
            navigate(&format!("/ui/apps/{app}/builds/{id}"), Default::default());
        }
    });
    let (a1, a2, a3) = (app.clone(), app.clone(), app.clone());
    let confirming = RwSignal::new(false);
    let (app_sv, repo_sv) = (
        StoredValue::new(app.clone()),
        StoredValue::new(repo.repo.clone()),
    );
    view! {
        <dl class="facts">
            <div><dt>"Repository"</dt><dd><a href=repo.repo.clone() rel="noreferrer">{repo.repo.clone()}</a></dd></div>
            <div><dt>"Branch"</dt><dd><code>{repo.branch.clone()}</code></dd></div>
            <div><dt>"Reached with"</dt><dd>{repo.credential.clone()}</dd></div>
        </dl>
        {paused.then(|| view! {
            <p class="warning">"Auto-deploy is paused because the app was rolled back: pushes build but are not released until someone presses “Resume auto-deploy” on the Releases page."</p>
        })}
        <div class="switches">
            <label class="switch">
                <input type="checkbox" checked=repo.auto_deploy disabled=!can_change
                    on:change=move |ev| { switch.dispatch((a1.clone(), "auto", event_target_checked(&ev))); }/>
                <span>"Deploy every push to "<code>{repo.branch.clone()}</code>" that builds (auto-deploy)"</span>
            </label>
            <label class="switch">
                <input type="checkbox" checked=repo.status_check disabled=!can_change
                    on:change=move |ev| { switch.dispatch((a2.clone(), "checks", event_target_checked(&ev))); }/>
                " Wait for the commit's other status checks to pass before deploying"
            </label>
        </div>
        {move || switch.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        {can_change.then(|| view! {
            <div class="row-buttons">
                <button type="button" class="primary" on:click=move |_| { build.dispatch(a3.clone()); }>"Build now"</button>
                <button type="button" aria-expanded=move || confirming.get().to_string()
                    on:click=move |_| confirming.update(|c| *c = !*c)>"Detach"</button>
            </div>
            <Show when=move || confirming.get()>
                <div class="warning" role="group" aria-label="Detach the repository">
                    <p>{format!("Slipway stops building pushes to {} and deletes its webhook on GitHub. Builds and releases stay.", repo_sv.get_value())}</p>
                    <ActionForm action=detach attr:class="row-buttons">
                        <input type="hidden" name="app" value=app_sv.get_value()/>
                        <button type="submit" class="danger">"Confirm detach"</button>
                        <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </ActionForm>
                </div>
            </Show>
        })}
        {move || build.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}

/// Attaching: the repository, the branch, how Slipway reaches it (the service account, your
/// GitHub account, or a token with its guidance), a live checklist, and the switches. The
/// form's fields may come pre-filled from the query (after asking GitHub for more scopes).
#[component]
fn AttachRepoForm(settings: RepoSettings, attach: ServerAction<AttachRepo>) -> impl IntoView {
    let query = use_query_map();
    let q = move |k: &str| query.with_untracked(|q| q.get(k)).unwrap_or_default();
    let default_cred = if settings.service_user.is_some() {
        "service"
    } else if settings.my_login.is_some() {
        "mine"
    } else {
        "token"
    };
    let repo = RwSignal::new(q("repo"));
    let branch = RwSignal::new(
        Some(q("branch"))
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "master".into()),
    );
    let cred = RwSignal::new(
        Some(q("credential"))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| default_cred.into()),
    );
    let token = RwSignal::new(String::new());
    let auto_deploy = RwSignal::new(q("auto_deploy") != "off");
    let status_check = RwSignal::new(q("status_check") == "on");
    let app = settings.app.clone();
    let check = Action::new(
        move |(app, repo, branch, cred, token): &(String, String, String, String, String)| {
            let args = (
                app.clone(),
                repo.clone(),
                branch.clone(),
                cred.clone(),
                token.clone(),
            );
            async move { check_repo(args.0, args.1, args.2, args.3, args.4).await }
        },
    );
    // Asks GitHub once typing pauses, for the newest values only.
    let pending = StoredValue::new(0u32);
    let app_for_check = app.clone();
    let recheck = move || {
        let n = pending.get_value() + 1;
        pending.set_value(n);
        let app = app_for_check.clone();
        set_timeout(
            move || {
                if pending.get_value() != n {
                    return;
                }
                let (r, b, c, t) = (
                    repo.get_untracked(),
                    branch.get_untracked(),
                    cred.get_untracked(),
                    token.get_untracked(),
                );
                if r.trim().is_empty() || (c == "token" && t.trim().is_empty()) {
                    return;
                }
                check.dispatch((app, r, b, c, t));
            },
            std::time::Duration::from_millis(400),
        );
    };
    let recheck = StoredValue::new(recheck);
    let on_edit = move |sig: RwSignal<String>| {
        move |ev: leptos::ev::Event| {
            sig.set(event_target_value(&ev));
            recheck.with_value(|f| f());
        }
    };
    // Pre-filled fields (back from GitHub) are checked at once.
    Effect::new(move |_| {
        if !repo.get_untracked().is_empty() {
            recheck.with_value(|f| f());
        }
    });
    let latest = move || check.value().get();
    let ready = move || matches!(latest(), Some(Ok(c)) if c.ready) && !check.pending().get();
    let github_url = settings.github_url.clone();
    let link = new_token_link(&github_url, &app);
    let host = github_url
        .split("://")
        .nth(1)
        .unwrap_or("github.com")
        .to_owned();
    let app_for_reauth = app.clone();
    let reauth_href = move || {
        let next = format!(
            "/ui/apps/{}/settings?repo={}&branch={}&credential=mine&auto_deploy={}&status_check={}",
            app_for_reauth,
            domain::encode_query(&repo.get()),
            domain::encode_query(&branch.get()),
            if auto_deploy.get() { "on" } else { "off" },
            if status_check.get() { "on" } else { "off" },
        );
        format!(
            "/auth/github/login?scope=repo&next={}",
            domain::encode_query(&next)
        )
    };
    let my_scopes_ok = settings.my_scopes_ok;
    let service_user = settings.service_user.clone();
    let my_login = settings.my_login.clone();
    view! {
        <p class="muted">"Slipway builds every push to the branch and, with auto-deploy on, releases it. It adds a webhook to the repository and reports each build on its commit."</p>
        <ActionForm action=attach attr:class="repo-form">
            <input type="hidden" name="app" value=app.clone()/>
            <div class="field">
                <label for="repo-url">"Repository URL"</label>
                <input id="repo-url" name="repo" required autocomplete="off" spellcheck="false"
                    placeholder=format!("https://{host}/owner/repo")
                    value=repo.get_untracked() prop:value=move || repo.get() on:input=on_edit(repo)/>
                <p class="small muted">"https://, git@…: and .git forms are all fine."</p>
            </div>
            <div class="field">
                <label for="repo-branch">"Branch"</label>
                <input id="repo-branch" name="branch" list="repo-branches" autocomplete="off" spellcheck="false"
                    value=branch.get_untracked() prop:value=move || branch.get() on:input=on_edit(branch)/>
                <datalist id="repo-branches">
                    {move || latest().and_then(|r| r.ok()).map(|c| c.branches.into_iter().map(|b| view! { <option value=b/> }).collect_view())}
                </datalist>
            </div>
            <fieldset class="field credential">
                <legend>"How Slipway reaches the repository"</legend>
                {service_user.map(|u| view! {
                    <label class="choice">
                        <input type="radio" name="credential" value="service" checked=cred.get_untracked() == "service" prop:checked=move || cred.get() == "service" on:change=on_edit(cred)/>
                        <span>"The service account "<strong>{u}</strong></span>
                    </label>
                })}
                {my_login.map(|login| view! {
                    <label class="choice">
                        <input type="radio" name="credential" value="mine" checked=cred.get_untracked() == "mine" prop:checked=move || cred.get() == "mine" on:change=on_edit(cred)/>
                        <span>"My GitHub account ("{login}")"</span>
                    </label>
                })}
                <label class="choice">
                    <input type="radio" name="credential" value="token" checked=cred.get_untracked() == "token" prop:checked=move || cred.get() == "token" on:change=on_edit(cred)/>
                    " A personal access token"
                </label>
            </fieldset>
            {move || (cred.get() == "mine" && !my_scopes_ok).then(|| view! {
                <p class="warning">"Your GitHub sign-in did not grant access to repositories. "
                    <a href=reauth_href()>"Authorize repository access on GitHub"</a>
                    " (asks for repo and admin:repo_hook); you come back here with the form filled in."</p>
            })}
            <Show when=move || cred.get() == "token">
                <TokenGuidance link=link.clone() checked=Signal::derive(move || matches!(check.value().get(), Some(Ok(c)) if !c.items.is_empty()))/>
                <div class="field">
                    <label for="repo-token">"Token"</label>
                    <input id="repo-token" name="token" type="password" autocomplete="off" spellcheck="false"
                        placeholder="ghp_… or github_pat_…"
                        prop:value=move || token.get() on:input=on_edit(token)/>
                    <p class="small muted">"Stored encrypted; never shown again."</p>
                </div>
            </Show>
            <ScopeChecklist check/>
            <div class="switches">
                <label class="switch">
                    <input type="checkbox" name="auto_deploy" value="on" checked=auto_deploy.get_untracked() prop:checked=move || auto_deploy.get()
                        on:change=move |ev| auto_deploy.set(event_target_checked(&ev))/>
                    " Deploy every push that builds (auto-deploy)"
                </label>
                <label class="switch">
                    <input type="checkbox" name="status_check" value="on" checked=status_check.get_untracked() prop:checked=move || status_check.get()
                        on:change=move |ev| status_check.set(event_target_checked(&ev))/>
                    " Wait for the commit's other status checks to pass"
                </label>
            </div>
            <button type="submit" class="primary" disabled=move || !ready()>"Attach repository"</button>
        </ActionForm>
        {move || attach.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}

/// What a token needs, each scope with why, and the link that makes one with them selected.
/// Once a token is checked, the checklist below shows the same scopes with their reasons.
#[component]
fn TokenGuidance(link: String, checked: Signal<bool>) -> impl IntoView {
    view! {
        <div class="guidance">
            <p>
                <a href=link target="_blank" rel="noopener noreferrer">"Create a token on GitHub"</a>
                " with the scopes Slipway needs already selected (repo, admin:repo_hook and read:user cover them all), then paste it here."
            </p>
            <ul class="scope-reasons" hidden=move || checked.get()>
                {REPO_SCOPES.iter().map(|(s, why)| view! { <li><code>{*s}</code>" "{*why}</li> }).collect_view()}
            </ul>
        </div>
    }
}

/// Asks GitHub about (app, repo, branch, credential kind, token).
type CheckAction =
    Action<(String, String, String, String, String), Result<RepoChecklist, ServerFnError>>;

/// The live checklist: what GitHub says the credential can do, before anything is saved.
#[component]
fn ScopeChecklist(check: CheckAction) -> impl IntoView {
    view! {
        <div class="checklist" role="status" aria-live="polite" aria-label="What the credential can do">
            {move || {
                if check.pending().get() {
                    return view! { <p class="muted">"Asking GitHub…"</p> }.into_any();
                }
                match check.value().get() {
                    None => view! { <p class="muted">"Fill in the repository and the credential: GitHub is asked what they allow before anything is saved."</p> }.into_any(),
                    Some(Err(e)) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Some(Ok(c)) => view! {
                        {c.login.clone().map(|l| view! { <p class="small">{format!("GitHub says this is {l}'s {} credential.", if c.kind == "fine-grained" { "fine-grained" } else { "classic" })}</p> })}
                        <ul class="checks">
                            {c.items.iter().map(|i| view! {
                                <li class=if i.ok { "check ok" } else { "check missing" }>
                                    <span class="mark" aria-hidden="true">{if i.ok { "✓" } else { "✗" }}</span>
                                    <span>
                                        <span class="sr-only">{if i.ok { "granted: " } else { "missing: " }}</span>
                                        <code>{i.label.clone()}</code><span class="muted">{i.detail.clone()}</span>
                                    </span>
                                </li>
                            }).collect_view()}
                        </ul>
                        {c.problem.clone().map(|p| view! { <p class="error">{p}</p> })}
                        {c.ready.then(|| view! { <p class="ok">"Everything Slipway needs is there."</p> })}
                    }.into_any(),
                }
            }}
        </div>
    }
}

/// Delete the app (admins).
#[component]
fn DangerZone(app: String, allowed: bool) -> impl IntoView {
    let delete = ServerAction::<DeleteApp>::new();
    // Gone: back to the list.
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            let navigate = leptos_router::hooks::use_navigate();
            navigate("/ui/apps", Default::default());
        }
    });
    let body = if allowed {
        view! {
            <p>"Deleting the app removes its releases, builds and config vars. It cannot be undone."</p>
            <ActionForm action=delete attr:class="set-form">
                <input type="hidden" name="app" value=app.clone()/>
                <div class="field grow">
                    <label for="confirm-name">{format!("Type {app} to confirm")}</label>
                    <input id="confirm-name" name="confirm" required autocomplete="off" spellcheck="false"/>
                </div>
                <button type="submit" class="danger">"Delete app"</button>
            </ActionForm>
            <p role="alert" class="error">{move || delete.value().get().and_then(|r| r.err()).map(|e| e.to_string())}</p>
        }
        .into_any()
    } else {
        view! { <p class="muted">"Only admins can delete apps."</p> }.into_any()
    };
    view! {
        <section class="card danger-zone" aria-labelledby="danger-title">
            <h2 id="danger-title">"Danger zone"</h2>
            {body}
        </section>
    }
}
