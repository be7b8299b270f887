use crate::UiError;
use domain::DiffView;
use leptos::prelude::*;

use crate::server::reveal_value;

/// A key's value before and after, revealed on request.
pub type Revealed = (String, Option<String>, Option<String>);

/// The values of `key` in both releases of `diff`, for a page asked to reveal it (`?reveal`);
/// `None` when not asked, or not allowed (the page then shows the key masked, as usual).
pub async fn revealed(app: &str, diff: &DiffView, key: Option<String>) -> Option<Revealed> {
    let key = key?;
    let before = reveal_value(app.to_owned(), diff.from.version, key.clone())
        .await
        .ok()?;
    let after = reveal_value(app.to_owned(), diff.to.version, key.clone())
        .await
        .ok()?;
    Some((key, before, after))
}

/// The difference between two releases: image, port, commits, and config keys with masked
/// values. Values are never in the page as sent; "Reveal" (an island) fetches one at a time.
/// Without JavaScript, "Reveal" asks for the page again with `?reveal=KEY` (keeping the
/// page's other parameters, `keep`), and the server passes that key's values (`revealed`).
#[component]
pub fn DiffDetails(
    diff: DiffView,
    app: String,
    #[prop(optional)] keep: Vec<(String, String)>,
    #[prop(default = None)] revealed: Option<Revealed>,
) -> impl IntoView {
    let (from, to) = (diff.from.version, diff.to.version);
    let image = |i: &Option<String>| i.clone().unwrap_or_else(|| "no image".into());
    let same_image = diff.from.image == diff.to.image;
    let addon_kept = diff.addon_kept.clone();
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
                                <td><RevealChange app=app.clone() from to keep=keep.clone()
                                    revealed=revealed.clone().filter(|r| r.0 == k.key).map(|r| (r.1, r.2)) key=k.key/></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        {(!addon_kept.is_empty()).then(|| view! {
            <p class="muted addon-kept">"Set by add-ons, and kept as they are: "
                <span class="mono">{addon_kept.join(", ")}</span>"."</p>
        })}
    }
}

/// One changed key's value before and after, masked until "Reveal" fetches both.
#[island]
pub fn RevealChange(
    app: String,
    key: String,
    from: i32,
    to: i32,
    keep: Vec<(String, String)>,
    revealed: Option<(Option<String>, Option<String>)>,
) -> impl IntoView {
    let reveal = Action::new(move |key: &String| {
        let (app, key) = (app.clone(), key.clone());
        async move {
            let before = reveal_value(app.clone(), from, key.clone()).await?;
            let after = reveal_value(app, to, key).await?;
            Ok::<_, UiError>((before, after))
        }
    });
    if let Some(r) = revealed {
        reveal.value().set(Some(Ok(r)));
    }
    let shown = |v: Option<String>| v.unwrap_or_else(|| "(not set)".into());
    let k = key.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        reveal.dispatch(k.clone());
    };
    view! {
        {move || match reveal.value().get() {
            Some(Ok((before, after))) => view! {
                <span class="mono revealed">{shown(before)}" → "{shown(after)}</span>
            }
            .into_any(),
            Some(Err(e)) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
            None => view! { <span class="masked" aria-label="hidden value">"••••••"</span> }.into_any(),
        }}
        <form class="reveal" method="get" on:submit=submit hidden=move || reveal.value().with(|v| matches!(v, Some(Ok(_))))>
            {keep.into_iter().map(|(k, v)| view! { <input type="hidden" name=k value=v/> }).collect_view()}
            <input type="hidden" name="reveal" value=key.clone()/>
            <button type="submit" class="link" aria-label=format!("Reveal {key}")>"Reveal"</button>
        </form>
    }
}
