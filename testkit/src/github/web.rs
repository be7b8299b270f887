//! GitHub's web side: the OAuth authorization page (plain HTML that works without JavaScript)
//! and the exchange of a code for a token, with GitHub's quirk of answering errors with 200.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use url::form_urlencoded;

use super::{
    api, random_alphanumeric, random_hex, AuthorizeRequest, Grant, StandIn, Token, TokenKind,
};

/// An OAuth error: code, description, documentation.
type OAuthError = (&'static str, &'static str, &'static str);

const INCORRECT_CLIENT_CREDENTIALS: OAuthError = (
    "incorrect_client_credentials",
    "The client_id and/or client_secret passed are incorrect.",
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials",
);
const BAD_VERIFICATION_CODE: OAuthError = (
    "bad_verification_code",
    "The code passed is incorrect or expired.",
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code",
);
const REDIRECT_URI_MISMATCH: OAuthError = (
    "redirect_uri_mismatch",
    "The redirect_uri MUST match the registered callback URL for this application.",
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch2",
);

const STYLE: &str = "body{margin:0;background:#f6f8fa;color:#1f2328;font:14px/1.5 -apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif}\
header{background:#24292f;color:#fff;padding:12px 24px;font-weight:600}\
main{max-width:460px;margin:32px auto;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:16px 24px}\
h1{font-size:24px;font-weight:300;text-align:center}h2{font-size:14px}\
select,button{font:inherit;padding:5px 12px;border:1px solid #d0d7de;border-radius:6px}\
button{background:#f6f8fa;cursor:pointer}button.primary{background:#1f883d;color:#fff;font-weight:600}\
.actions{display:flex;gap:8px;justify-content:flex-end}.note{color:#59636e;text-align:center}";

fn page(status: StatusCode, title: &str, main: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><header>GitHub</header><main>{main}</main></body></html>"
    );
    (status, Html(html)).into_response()
}

fn not_found_page() -> Response {
    let main = "<h1>404</h1><p class=\"note\">This is not the web page you are looking for.</p>";
    page(StatusCode::NOT_FOUND, "Page not found · GitHub", main)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Scopes as GitHub reads them: separated by spaces or commas.
fn split_scopes(scope: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for s in scope.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !scopes.iter().any(|known| known == s) {
            scopes.push(s.to_owned());
        }
    }
    scopes
}

fn describe(scope: &str) -> &'static str {
    match scope {
        "repo" => "Full control of private repositories",
        "repo:status" => "Access commit status",
        "public_repo" => "Access public repositories",
        "admin:repo_hook" => "Full control of repository hooks",
        "write:repo_hook" => "Write repository hooks",
        "read:repo_hook" => "Read repository hooks",
        "read:org" => "Read org and team membership, read org projects",
        "read:user" => "Read all user profile data",
        "user:email" => "Access user email addresses (read-only)",
        "user" => "Update ALL user data",
        _ => "",
    }
}

pub(super) async fn authorize_page(
    State(gh): State<StandIn>,
    Query(query): Query<AuthorizeRequest>,
) -> Response {
    let mut st = gh.lock();
    st.authorize_requests.push(query.clone());
    let Some(app) = query.client_id.as_deref().and_then(|id| st.app(id)) else {
        return not_found_page();
    };
    let redirect = query.redirect_uri.as_deref().unwrap_or_default();
    let Ok(redirect_url) = url::Url::parse(redirect) else {
        return not_found_page();
    };
    let app_name = escape(&app.name);
    let scopes = split_scopes(query.scope.as_deref().unwrap_or_default());
    let scope_items: String = if scopes.is_empty() {
        "<li>Public information only (read-only)</li>".to_owned()
    } else {
        let item = |s: &String| format!("<li><code>{}</code> {}</li>", escape(s), describe(s));
        scopes.iter().map(item).collect()
    };
    let options: String = st
        .users
        .iter()
        .map(|u| {
            let login = escape(&u.login);
            format!(
                "<option value=\"{login}\">{login} ({})</option>",
                escape(&u.name)
            )
        })
        .collect();
    let login_field = if options.is_empty() {
        "<input id=\"login\" name=\"login\" autocomplete=\"username\">".to_owned()
    } else {
        format!("<select id=\"login\" name=\"login\">{options}</select>")
    };
    let hidden: String = [
        ("client_id", query.client_id.as_deref()),
        ("redirect_uri", query.redirect_uri.as_deref()),
        ("scope", query.scope.as_deref()),
        ("state", query.state.as_deref()),
    ]
    .iter()
    .filter_map(|(name, value)| {
        let value = escape((*value)?);
        Some(format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{value}\">"
        ))
    })
    .collect();
    let main = format!(
        "<h1>Authorize {app_name}</h1>\
         <p><strong>{app_name}</strong> wants to access your account.</p>\
         <section aria-labelledby=\"permissions\"><h2 id=\"permissions\">Requested permissions</h2>\
         <ul>{scope_items}</ul></section>\
         <form method=\"post\" action=\"/login/oauth/authorize\">\
         <p><label for=\"login\">Sign in as</label> {login_field}</p>{hidden}\
         <p class=\"actions\"><button type=\"submit\" name=\"authorize\" value=\"1\" class=\"primary\">Authorize</button>\
         <button type=\"submit\" name=\"authorize\" value=\"0\">Cancel</button></p></form>\
         <p class=\"note\">Authorizing will redirect to <strong>{}</strong></p>",
        escape(&redirect_url.origin().ascii_serialization())
    );
    page(StatusCode::OK, &format!("Authorize {app_name}"), &main)
}

#[derive(Deserialize)]
pub(super) struct Decision {
    #[serde(default)]
    login: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    scope: String,
    state: Option<String>,
    /// "1" (or absent) authorizes, "0" cancels.
    authorize: Option<String>,
}

/// The form's answer: a one-time code (or `access_denied`) sent back to the redirect URI with
/// the state, verbatim.
pub(super) async fn authorize(
    State(gh): State<StandIn>,
    Form(decision): Form<Decision>,
) -> Response {
    let Ok(mut target) = url::Url::parse(&decision.redirect_uri) else {
        return not_found_page();
    };
    let mut st = gh.lock();
    if st.app(&decision.client_id).is_none() || st.user(&decision.login).is_none() {
        return not_found_page();
    }
    {
        let mut query = target.query_pairs_mut();
        if decision.authorize.as_deref() == Some("0") {
            query
                .append_pair("error", "access_denied")
                .append_pair("error_description", "The user has denied your application access.")
                .append_pair("error_uri", "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied");
        } else {
            let code = random_hex(10);
            let grant = Grant {
                client_id: decision.client_id.clone(),
                redirect_uri: decision.redirect_uri.clone(),
                login: decision.login.clone(),
                scope: decision.scope.clone(),
            };
            st.codes.insert(code.clone(), grant);
            query.append_pair("code", &code);
        }
        if let Some(state) = &decision.state {
            query.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

/// `POST /login/oauth/access_token`: parameters in a form or JSON body, the query, or client
/// credentials in HTTP Basic; JSON answer when asked by `Accept`, else form-encoded.
pub(super) async fn access_token(
    State(gh): State<StandIn>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut params = body_params(&headers, &body);
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        params
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    if let Some((id, secret)) = basic_credentials(&headers) {
        params.entry("client_id".to_owned()).or_insert(id);
        params.entry("client_secret".to_owned()).or_insert(secret);
    }
    let fields: Vec<(&str, String)> = match exchange(&gh, &params) {
        Ok((token, scope)) => vec![
            ("access_token", token),
            ("scope", scope),
            ("token_type", "bearer".to_owned()),
        ],
        Err((error, description, uri)) => vec![
            ("error", error.to_owned()),
            ("error_description", description.to_owned()),
            ("error_uri", uri.to_owned()),
        ],
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if accept.is_some_and(|a| a.contains("application/json")) {
        let object = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)));
        return api::answer(StatusCode::OK, Value::Object(object.collect()));
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    let content_type = [(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    (content_type, body).into_response()
}

fn exchange(
    gh: &StandIn,
    params: &HashMap<String, String>,
) -> Result<(String, String), OAuthError> {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    let mut st = gh.lock();
    let app = st
        .app(get("client_id"))
        .filter(|a| a.client_secret == get("client_secret"));
    if app.is_none() {
        return Err(INCORRECT_CLIENT_CREDENTIALS);
    }
    let grant = st
        .codes
        .get(get("code"))
        .filter(|g| g.client_id == get("client_id"))
        .cloned()
        .ok_or(BAD_VERIFICATION_CODE)?;
    if params.contains_key("redirect_uri") && get("redirect_uri") != grant.redirect_uri {
        return Err(REDIRECT_URI_MISMATCH);
    }
    st.codes.remove(get("code"));
    let token = format!("gho_{}", random_alphanumeric(36));
    let scopes = split_scopes(&grant.scope);
    let scope = scopes.join(",");
    let kind = TokenKind::Classic { scopes };
    st.tokens.insert(
        token.clone(),
        Token {
            login: grant.login,
            kind,
            revoked: false,
        },
    );
    Ok((token, scope))
}

fn body_params(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.contains("json") {
        return form_urlencoded::parse(body).into_owned().collect();
    }
    let json: HashMap<String, Value> = serde_json::from_slice(body).unwrap_or_default();
    json.into_iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect()
}

/// Client credentials sent as HTTP Basic (form-url-encoded first, per RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// Avatars: a plain grey square, so pages that show them do not show broken images.
pub(super) async fn avatar() -> Response {
    let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" height=\"40\"><rect width=\"40\" height=\"40\" fill=\"#d0d7de\"/></svg>";
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}
