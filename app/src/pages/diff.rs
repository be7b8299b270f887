use crate::UiError;
use domain::DiffView;
use leptos::prelude::*;

use crate::server::reveal_value;

/// The difference between two releases: image, port, commits, and config keys with masked
/// values. Values are never in the page as sent; "Reveal" (an island) fetches one at a time.
#[component]
pub fn DiffDetails(diff: DiffView, app: String) -> impl IntoView {
    let (from, to) = (diff.from.version, diff.to.version);
    let image = |i: &Option<String>| i.clone().unwrap_or_else(|| "no image".into());
    let same_image = diff.from.image == diff.to.image;
    view! {
        <dl class="diff">
            <div>
                <dt>"Image"</dt>
                <dd class="mono">
                    {if same_image {
                        view! { <span>{image(&diff.to.image)}" (unchanged)"</span> }.into_any()
                    } else {
                        view! { <span class="from">{image(&diff.from.image)}</span>" → "<span class="to">{image(&diff.to.image)}</span> }.into_any()
                    }}
                </dd>
            </div>
            {(diff.port_from != diff.port_to).then(|| view! {
                <div><dt>"Port"</dt><dd>{format!("{} → {}", diff.port_from, diff.port_to)}</dd></div>
            })}
        </dl>
        {(!diff.commits.is_empty()).then(|| view! {
            <h3>"Commits between"</h3>
            <ul class="commits">
                {diff.commits.iter().map(|c| view! {
                    <li><code>{c.sha.chars().take(7).collect::<String>()}</code>" "{c.message.clone().unwrap_or_default()}
                        {c.author.clone().map(|a| view! { <span class="muted">" — "{a}</span> })}</li>
                }).collect_view()}
            </ul>
        })}
        <h3>"Config vars"</h3>
        {if diff.config.is_empty() {
            view! { <p class="muted">"No config var changes."</p> }.into_any()
        } else {
            view! {
                <table class="config-diff">
                    <thead><tr><th scope="col">"Key"</th><th scope="col">"Change"</th><th scope="col">"Value"</th></tr></thead>
                    <tbody>
                        {diff.config.into_iter().map(|k| view! {
                            <tr class=format!("change-{}", k.change)>
                                <th scope="row" class="mono">{k.key.clone()}</th>
                                <td>{k.change.clone()}</td>
                                <td><RevealChange app=app.clone() key=k.key from to/></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}

/// One changed key's value before and after, masked until "Reveal" fetches both.
#[island]
pub fn RevealChange(app: String, key: String, from: i32, to: i32) -> impl IntoView {
    let reveal = Action::new(move |key: &String| {
        let (app, key) = (app.clone(), key.clone());
        async move {
            let before = reveal_value(app.clone(), from, key.clone()).await?;
            let after = reveal_value(app, to, key).await?;
            Ok::<_, UiError>((before, after))
        }
    });
    let shown = |v: Option<String>| v.unwrap_or_else(|| "(not set)".into());
    move || match reveal.value().get() {
        Some(Ok((before, after))) => view! {
            <span class="mono revealed">{shown(before)}" → "{shown(after)}</span>
        }
        .into_any(),
        Some(Err(e)) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
        None => {
            let k = key.clone();
            view! {
                <span class="masked" aria-label="hidden value">"••••••"</span>" "
                <button type="button" class="link" aria-label=format!("Reveal {k}")
                    on:click=move |_| { reveal.dispatch(k.clone()); }>"Reveal"</button>
            }
            .into_any()
        }
    }
}
