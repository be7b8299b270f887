//! Attaching a repository: the credential, token guidance and the live scope checklist.

use crate::UiError;
use domain::github::{new_token_link, RepoChecklist, RepoSettings, REPO_SCOPES};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::server::{check_repo, AttachRepo};

/// Attaching: the repository, the branch, how Slipway reaches it (the service account, your
/// GitHub account, or a token with its guidance), a live checklist, and the switches. The
/// form's fields may come pre-filled (`prefill`, from the page's query, after asking GitHub for
/// more scopes). An island; without JavaScript it is a plain form, without the live checklist.
#[island(lazy)]
pub fn AttachRepoForm(settings: RepoSettings, prefill: Prefill) -> impl IntoView {
    let attach = crate::pages::island_action::<AttachRepo>();
    let q = move |k: &str| -> String {
        match k {
            "repo" => prefill.repo.clone(),
            "branch" => prefill.branch.clone(),
            "credential" => prefill.credential.clone(),
            "auto_deploy" => prefill.auto_deploy.clone(),
            _ => prefill.status_check.clone(),
        }
    };
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
    {
        let page = format!("/ui/apps/{app}/settings");
        Effect::new(move |_| {
            if let Some(Ok(())) = attach.value().get() {
                crate::outcome::go(&crate::Done::Attached.url(&page));
            }
        });
    }
    let fields = Fields {
        repo,
        branch,
        cred,
        token,
        auto_deploy,
        status_check,
    };
    let (check, recheck) = live_check(app.clone(), fields);
    let on_edit = move |sig: RwSignal<String>| {
        move |ev: leptos::ev::Event| {
            sig.set(event_target_value(&ev));
            recheck.run(());
        }
    };
    // Pre-filled fields (back from GitHub) are checked at once.
    Effect::new(move |_| {
        if !repo.get_untracked().is_empty() {
            recheck.run(());
        }
    });
    // In the browser the live check decides when the form may be sent; without JavaScript the
    // server checks it when it is sent.
    let live = RwSignal::new(false);
    Effect::new(move |_| live.set(true));
    let latest = move || check.value().get();
    let ready = move || matches!(latest(), Some(Ok(c)) if c.ready) && !check.pending().get();
    let github_url = settings.github_url.clone();
    let link = new_token_link(&github_url, &app);
    let host = github_url
        .split("://")
        .nth(1)
        .unwrap_or("github.com")
        .to_owned();
    let my_scopes_ok = settings.my_scopes_ok;
    let app_for_hint = app.clone();
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
            <CredentialChoice service_user my_login cred on_change=recheck/>
            {move || (cred.get() == "mine" && !my_scopes_ok).then(|| view! { <ReauthorizeHint app=app_for_hint.clone() fields/> })}
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
            <Switches auto_deploy status_check/>
            <button type="submit" class="primary" disabled=move || live.get() && !ready()>"Attach repository"</button>
        </ActionForm>
        {move || attach.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}

/// Fields the form starts with (from the page's query; empty when not given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prefill {
    pub repo: String,
    pub branch: String,
    pub credential: String,
    pub auto_deploy: String,
    pub status_check: String,
}

/// The form's fields, as signals.
#[derive(Clone, Copy)]
struct Fields {
    repo: RwSignal<String>,
    branch: RwSignal<String>,
    cred: RwSignal<String>,
    token: RwSignal<String>,
    auto_deploy: RwSignal<bool>,
    status_check: RwSignal<bool>,
}

/// Asks GitHub what the form's credential can do, once typing pauses (400 ms), for the newest
/// values only; answers the check and the callback that schedules one.
fn live_check(app: String, f: Fields) -> (CheckAction, Callback<()>) {
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
    let pending = StoredValue::new(0u32);
    let recheck = Callback::new(move |()| {
        let n = pending.get_value() + 1;
        pending.set_value(n);
        let app = app.clone();
        set_timeout(
            move || {
                if pending.get_value() != n {
                    return;
                }
                let (r, b, c, t) = (
                    f.repo.get_untracked(),
                    f.branch.get_untracked(),
                    f.cred.get_untracked(),
                    f.token.get_untracked(),
                );
                if r.trim().is_empty() || (c == "token" && t.trim().is_empty()) {
                    return;
                }
                check.dispatch((app, r, b, c, t));
            },
            std::time::Duration::from_millis(400),
        );
    });
    (check, recheck)
}

/// When "My GitHub account" lacks the repository scopes: a way through GitHub again that
/// comes back to this form with its fields filled in.
#[component]
fn ReauthorizeHint(app: String, fields: Fields) -> impl IntoView {
    let href = move || {
        let next =
            format!(
            "/ui/apps/{}/settings?repo={}&branch={}&credential=mine&auto_deploy={}&status_check={}",
            app,
            domain::encode_query(&fields.repo.get()),
            domain::encode_query(&fields.branch.get()),
            if fields.auto_deploy.get() { "on" } else { "off" },
            if fields.status_check.get() { "on" } else { "off" },
        );
        format!(
            "/auth/github/login?scope=repo&next={}",
            domain::encode_query(&next)
        )
    };
    view! {
        <p class="warning">"Your GitHub sign-in did not grant access to repositories. "
            <a href=href>"Authorize repository access on GitHub"</a>
            " (asks for repo and admin:repo_hook); you come back here with the form filled in."</p>
    }
}

/// How Slipway reaches the repository: the service account (when there is one), the user's
/// own GitHub account (when signed in with GitHub), or a personal access token.
#[component]
fn CredentialChoice(
    service_user: Option<String>,
    my_login: Option<String>,
    cred: RwSignal<String>,
    /// Called after the choice changes.
    on_change: Callback<()>,
) -> impl IntoView {
    let choose = move |ev: leptos::ev::Event| {
        cred.set(event_target_value(&ev));
        on_change.run(());
    };
    view! {
        <fieldset class="field credential">
            <legend>"How Slipway reaches the repository"</legend>
            {service_user.map(|u| view! {
                <label class="choice">
                    <input type="radio" name="credential" value="service" checked=cred.get_untracked() == "service" prop:checked=move || cred.get() == "service" on:change=choose/>
                    <span>"The service account "<strong>{u}</strong></span>
                </label>
            })}
            {my_login.map(|login| view! {
                <label class="choice">
                    <input type="radio" name="credential" value="mine" checked=cred.get_untracked() == "mine" prop:checked=move || cred.get() == "mine" on:change=choose/>
                    <span>"My GitHub account ("{login}")"</span>
                </label>
            })}
            <label class="choice">
                <input type="radio" name="credential" value="token" checked=cred.get_untracked() == "token" prop:checked=move || cred.get() == "token" on:change=choose/>
                " A personal access token"
            </label>
        </fieldset>
    }
}

/// The attachment's switches: deploy every push that builds, and wait for the commit's other
/// status checks first.
#[component]
fn Switches(auto_deploy: RwSignal<bool>, status_check: RwSignal<bool>) -> impl IntoView {
    view! {
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
    }
}

/// What a token needs, each scope with why, and the link that makes one with them selected.
/// Once a token is checked, the checklist below shows the same scopes with their reasons.
#[component]
pub(super) fn TokenGuidance(link: String, checked: Signal<bool>) -> impl IntoView {
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
type CheckAction = Action<(String, String, String, String, String), Result<RepoChecklist, UiError>>;

/// The live checklist: what GitHub says the credential can do, before anything is saved.
#[component]
pub(super) fn ScopeChecklist(check: CheckAction) -> impl IntoView {
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
