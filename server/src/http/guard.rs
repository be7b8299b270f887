//! Request guards: the Host check (against DNS rebinding) and the Origin check for writes
//! authenticated by the session cookie (against cross-site requests).

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// `SLIPWAY_PUBLIC_URL`, parsed once.
#[derive(Debug, Clone)]
pub struct PublicUrl {
    /// Without a trailing slash.
    pub base: String,
    pub scheme: String,
    /// Host name, lowercase, without port.
    pub host: String,
}

impl PublicUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let (scheme, rest) = base.split_once("://").ok_or_else(|| {
            format!("SLIPWAY_PUBLIC_URL \"{url}\" is not an absolute http(s) URL")
        })?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "SLIPWAY_PUBLIC_URL \"{url}\" must start with http:// or https://"
            ));
        }
        let authority = rest.split('/').next().unwrap_or("");
        let host = host_of(authority).to_owned();
        if host.is_empty() {
            return Err(format!("SLIPWAY_PUBLIC_URL \"{url}\" has no host"));
        }
        Ok(Self { base, scheme, host })
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// Whether the host is a loopback name or address (only this machine can reach it).
    pub fn is_loopback(&self) -> bool {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// An absolute URL for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The host part of `host[:port]` or `[v6]:port`, lowercase.
fn host_of(authority: &str) -> String {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or("").to_owned()
    };
    host.to_ascii_lowercase()
}

fn is_loopback_name(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

fn request_host(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
}

/// 421 for a Host that is neither the public URL's host nor a loopback name.
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let ok = request_host(&req)
        .map(|h| host_of(&h))
        .is_some_and(|h| h == state.public.host || is_loopback_name(&h));
    if !ok {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "This server does not answer for that host name.",
        )
            .into_response();
    }
    next.run(req).await
}

/// 403 for a cookie-authenticated write or websocket upgrade whose Origin is not this server.
/// Sign-in and sign-out always need a matching Origin. A request with a bearer token needs
/// none, and is authenticated by its token alone: its cookies are dropped here, before the
/// session layer reads them. Any other `Authorization` header changes nothing.
pub async fn check_origin(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if super::auth::bearer_token(req.headers()).is_some() {
        req.headers_mut().remove(header::COOKIE);
        return next.run(req).await;
    }
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let has_cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .any(|c| c.to_str().is_ok_and(|c| c.contains("slipway_session=")));
    let auth_path = req.uri().path().starts_with("/auth/");
    let needs_origin = (writes || upgrade) && (has_cookie || (auth_path && writes));
    if needs_origin && !same_origin(&state, &req) {
        return (
            StatusCode::FORBIDDEN,
            "Cross-origin request refused: the Origin header must be this server's address.",
        )
            .into_response();
    }
    next.run(req).await
}

fn same_origin(state: &AppState, req: &Request) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return false;
    };
    let Some(host) = request_host(req) else {
        return false;
    };
    let scheme = if host_of(&host) == state.public.host {
        state.public.scheme.as_str()
    } else {
        "http"
    };
    origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_compared_without_ports() {
        assert_eq!(host_of("Example.com:8080"), "example.com");
        assert_eq!(host_of("[::1]:3000"), "[::1]");
        assert_eq!(host_of("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn public_urls_need_a_scheme_and_a_host() {
        let p = PublicUrl::parse("https://slipway.example.com/").unwrap();
        assert_eq!(
            (p.host.as_str(), p.is_https()),
            ("slipway.example.com", true)
        );
        assert_eq!(p.url("/apps"), "https://slipway.example.com/apps");
        assert!(PublicUrl::parse("slipway.example.com").is_err());
        assert!(PublicUrl::parse("ftp://x").is_err());
        assert!(!p.is_loopback());
        for url in [
            "http://127.0.0.1:3000",
            "http://localhost",
            "http://[::1]:8080",
            "http://127.1.2.3",
        ] {
            assert!(PublicUrl::parse(url).unwrap().is_loopback(), "{url}");
        }
        assert!(!PublicUrl::parse("http://10.0.0.1").unwrap().is_loopback());
    }
}
