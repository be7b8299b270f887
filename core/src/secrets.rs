//! What must not be shown: config values masked in logs, and secrets in source URLs.

use std::collections::BTreeMap;

/// Values this short are not masked: they would mask half the log.
const MIN_MASKED: usize = 4;

/// The config values that logs must not show: 4 characters or longer, multi-line values line by
/// line, longest first (so a value containing another is masked whole).
pub fn secrets_of(config: &BTreeMap<String, String>) -> Vec<String> {
    let mut secrets: Vec<String> = config
        .values()
        .flat_map(|v| {
            v.lines()
                .map(str::trim)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|v| v.chars().count() >= MIN_MASKED)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// `line` with every secret replaced by `***`.
pub fn mask(mut line: String, secrets: &[String]) -> String {
    for s in secrets {
        if line.contains(s.as_str()) {
            line = line.replace(s.as_str(), "***");
        }
    }
    line
}

/// The scheme of a source uploaded through the build form: `upload:<id>` (kept sealed; shown
/// as `upload:<file name>`).
pub const UPLOAD_SCHEME: &str = "upload:";

/// Whether `s` starts with `prefix`, ignoring ASCII case (never slicing inside a character).
pub(crate) fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The url as it may be shown: no credentials, no `data:` payload, and neither query string
/// nor fragment (presigned URLs and tokens live there): `https://host/a.tgz?…`. A url that
/// does not parse is shown as its scheme alone when it might hide one of those.
pub fn redact(url: &str) -> String {
    if starts_with_ignore_case(url, "data:") {
        let media = url
            .get(5..)
            .unwrap_or("")
            .split([',', ';'])
            .next()
            .unwrap_or("");
        return format!("data:{media},…");
    }
    if starts_with_ignore_case(url, "docker://") || starts_with_ignore_case(url, UPLOAD_SCHEME) {
        return url.to_owned();
    }
    match url::Url::parse(url) {
        Ok(u) if u.host_str().is_some() => {
            let mut shown = format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default());
            if let Some(port) = u.port() {
                shown.push_str(&format!(":{port}"));
            }
            shown.push_str(u.path());
            if u.query().is_some() {
                shown.push_str("?…");
            }
            if u.fragment().is_some() {
                shown.push_str("#…");
            }
            shown
        }
        _ if !url.contains(['@', '?', '#']) => url.to_owned(),
        _ => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => "…".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn shown_urls_lose_credentials_and_data_payloads() {
        assert_eq!(
            redact("https://u:p@example.com/a.tgz"),
            "https://example.com/a.tgz"
        );
        assert_eq!(
            redact("data:application/gzip;base64,AAAA"),
            "data:application/gzip,…"
        );
        assert_eq!(redact("docker://busybox:1"), "docker://busybox:1");
    }
}
