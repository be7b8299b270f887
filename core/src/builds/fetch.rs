//! Fetching a build's source (DESIGN §6): `http`, `https`, `data:` and uploads, within the
//! size limit, from addresses that pass the checks (no private, shared or special-purpose
//! address unless allowed; the checked address is the one connected to; never through a
//! proxy), with the checksum checked when one is given.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;

use super::unpack::{refuse, Limits};
use crate::db::through_outage;
use crate::error::Error::Refused;
use crate::secrets::{starts_with_ignore_case, UPLOAD_SCHEME};
use crate::Core;

/// Which hosts a source may come from (DESIGN §6).
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Loopback, private and link-local addresses are allowed.
    pub allow_private: bool,
    /// Hosts allowed whatever they resolve to (lowercase).
    pub allow_hosts: Vec<String>,
}

const MAX_REDIRECTS: usize = 5;

/// Fetches `url` (`http`, `https`, `data:` or an upload) into `dest`, checking every address on
/// the way and the `sha256:` checksum when one is given. A `token` (with the API address it is
/// for) goes to that API's origin only, never to where it redirects (GitHub's archives
/// redirect to another host).
pub async fn fetch(
    core: &Core,
    url: &str,
    checksum: Option<&str>,
    limits: &Limits,
    policy: &AddressPolicy,
    dest: &Path,
    token: Option<(&str, &str)>,
) -> anyhow::Result<()> {
    use sha2::{Digest, Sha256};
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(dest).await?;
    let mut hash = Sha256::new();
    let mut total: u64 = 0;
    let too_big = || {
        Refused(format!(
            "The source is larger than the limit of {} bytes (SLIPWAY_MAX_SOURCE_BYTES).",
            limits.max_source_bytes
        ))
    };
    if starts_with_ignore_case(url, "data:") {
        let bytes = decode_data_uri(url)?;
        if bytes.len() as u64 > limits.max_source_bytes {
            return Err(too_big().into());
        }
        hash.update(&bytes);
        file.write_all(&bytes).await?;
    } else if let Some(id) = url.strip_prefix(UPLOAD_SCHEME) {
        let id: uuid::Uuid = id
            .parse()
            .map_err(|_| Refused("The uploaded source is not known.".into()))?;
        let gone = || Refused("The uploaded source of this build is no longer kept.".into());
        let (chunks, bytes) = through_outage(|| core.upload_size(id))
            .await?
            .ok_or_else(gone)?;
        for n in 0..chunks {
            let chunk = through_outage(|| core.upload_chunk(id, n))
                .await?
                .ok_or_else(gone)?;
            total += chunk.len() as u64;
            if total > limits.max_source_bytes {
                return Err(too_big().into());
            }
            hash.update(&chunk);
            file.write_all(&chunk).await?;
        }
        if total != bytes as u64 {
            return Err(gone().into());
        }
    } else {
        let mut resp = open(url, policy, token).await?;
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            Refused(format!(
                "Reading the source failed: {}.",
                without_url(&e.to_string())
            ))
        })? {
            total += chunk.len() as u64;
            if total > limits.max_source_bytes {
                return Err(too_big().into());
            }
            hash.update(&chunk);
            file.write_all(&chunk).await?;
        }
    }
    file.flush().await?;
    if let Some(want) = checksum {
        let want = want.trim();
        let hex_want = want.strip_prefix("sha256:").ok_or_else(|| {
            Refused(format!(
                "The checksum \"{want}\" is not of the form sha256:<hex>."
            ))
        })?;
        let got = hex::encode(hash.finalize());
        if !got.eq_ignore_ascii_case(hex_want) {
            return refuse(format!(
                "The source's checksum is sha256:{got}, not the {want} the build asked for."
            ));
        }
    }
    Ok(())
}

/// Opens `url`, following at most five redirects, each to an address the policy allows. The
/// connection goes to the address that was checked, so a second DNS answer cannot swap it, and
/// never through a proxy (`HTTP(S)_PROXY` in the environment would bypass the check).
async fn open(
    url: &str,
    policy: &AddressPolicy,
    token: Option<(&str, &str)>,
) -> anyhow::Result<reqwest::Response> {
    let mut current = reqwest::Url::parse(url)
        .map_err(|_| Refused("The source url is not a valid url.".into()))?;
    let origin = match token.map(|(_, api)| reqwest::Url::parse(api)) {
        Some(Ok(api)) => api.origin(),
        _ => current.origin(),
    };
    let token = token.map(|(t, _)| t);
    let mut vouched = false;
    for _ in 0..=MAX_REDIRECTS {
        let shown = crate::secrets::redact(current.as_str());
        if !matches!(current.scheme(), "http" | "https") {
            return refuse(format!("The source {shown} is not an http or https url."));
        }
        let host = current
            .host_str()
            .ok_or_else(|| Refused(format!("The source {shown} has no host.")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = current.port_or_known_default().unwrap_or(80);
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| {
                Refused(format!(
                    "The host {host} of the source could not be resolved."
                ))
            })?
            .collect();
        // GitHub's API host is allowed (the server puts it in `allow_hosts`), and so is the
        // host it redirects an archive download to.
        let allowed_host = vouched || policy.allow_hosts.iter().any(|h| h == &host);
        let addr = addrs
            .iter()
            .find(|a| allowed_host || policy.allow_private || !is_private(a.ip()))
            .copied()
            .ok_or_else(|| {
                Refused(format!(
                    "The source host {host} resolves to a private address, which builds may not fetch from (SLIPWAY_ALLOW_PRIVATE_SOURCES, SLIPWAY_SOURCE_ALLOW_HOSTS)."
                ))
            })?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(30))
            .resolve(&host, addr)
            .build()?;
        let mut req = client.get(current.clone());
        if let Some(t) = token.filter(|_| current.origin() == origin) {
            req = req
                .header(reqwest::header::AUTHORIZATION, format!("Bearer {t}"))
                .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                .header(reqwest::header::USER_AGENT, "Slipway");
        }
        let resp = req.send().await.map_err(|e| {
            Refused(format!(
                "Fetching the source {shown} failed: {}.",
                without_url(&e.to_string())
            ))
        })?;
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| Refused(format!("The source {shown} redirected nowhere.")))?;
            vouched = token.is_some() && allowed_host && current.origin() == origin;
            current = current.join(location).map_err(|_| {
                Refused(format!("The source {shown} redirected to an invalid url."))
            })?;
            continue;
        }
        if !status.is_success() {
            return refuse(format!("Fetching the source {shown} answered {status}."));
        }
        return Ok(resp);
    }
    refuse(format!(
        "The source redirected more than {MAX_REDIRECTS} times."
    ))
}

/// reqwest's error texts repeat the url, which may carry credentials.
fn without_url(text: &str) -> String {
    match text.find(" for url (") {
        Some(i) => text[..i].to_owned(),
        None => text.to_owned(),
    }
}

/// Whether `ip` is not a public unicast address: loopback, private, shared, link-local,
/// documentation, benchmarking, multicast, reserved and the rest of IANA's special-purpose
/// registries. Addresses that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are
/// judged by it.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(v4: Ipv4Addr) -> bool {
    let n = u32::from(v4);
    let within = |net: [u8; 4], bits: u32| {
        let net = u32::from(Ipv4Addr::from(net));
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        n & mask == net & mask
    };
    within([0, 0, 0, 0], 8) // "this network"
        || within([10, 0, 0, 0], 8)
        || within([100, 64, 0, 0], 10) // shared address space (carrier-grade NAT)
        || within([127, 0, 0, 0], 8)
        || within([169, 254, 0, 0], 16)
        || within([172, 16, 0, 0], 12)
        || within([192, 0, 0, 0], 24) // IETF protocol assignments
        || within([192, 0, 2, 0], 24) // TEST-NET-1
        || within([192, 31, 196, 0], 24) // AS112-v4
        || within([192, 52, 193, 0], 24) // AMT
        || within([192, 88, 99, 0], 24) // 6to4 relay anycast
        || within([192, 168, 0, 0], 16)
        || within([192, 175, 48, 0], 24) // direct delegation AS112
        || within([198, 18, 0, 0], 15) // benchmarking
        || within([198, 51, 100, 0], 24) // TEST-NET-2
        || within([203, 0, 113, 0], 24) // TEST-NET-3
        || within([224, 0, 0, 0], 4) // multicast
        || within([240, 0, 0, 0], 4) // reserved, and the broadcast address
}

fn is_private_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_private_v4(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated): judged by its IPv4 address; :: and ::1 are
    // unspecified and loopback.
    if s[..6] == [0; 6] {
        return v6.is_unspecified() || v6.is_loopback() || is_private_v4(embedded(s[6], s[7]));
    }
    // NAT64 (64:ff9b::/96): the IPv4 address it reaches.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_private_v4(embedded(s[6], s[7]));
    }
    // 6to4 (2002::/16): the IPv4 address in bits 16-48.
    if s[0] == 0x2002 {
        return is_private_v4(embedded(s[1], s[2]));
    }
    let within = |prefix: u128, bits: u32| {
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        u128::from(v6) & mask == prefix & mask
    };
    within(0x0064_ff9b_0001 << 80, 48) // local-use NAT64
        || within(0x0100 << 112, 64) // discard-only
        || within(0x2001 << 112, 23) // IETF protocol assignments (Teredo, ORCHID, …)
        || within(0x2001_0db8 << 96, 32) // documentation
        || within(0x3fff << 112, 20) // documentation
        || within(0x5f00 << 112, 16) // segment routing
        || within(0xfc00 << 112, 7) // unique local
        || within(0xfe80 << 112, 10) // link-local
        || within(0xfec0 << 112, 10) // site-local (deprecated)
        || within(0xff00 << 112, 8) // multicast
}

/// The bytes of a `data:` URI: base64 or percent-encoded.
fn decode_data_uri(url: &str) -> anyhow::Result<Vec<u8>> {
    let rest = url.get(5..).unwrap_or("");
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| Refused("The data: url has no comma before its data.".into()))?;
    if meta.to_ascii_lowercase().ends_with(";base64") {
        let cleaned: String = data.chars().filter(|c| !c.is_whitespace()).collect();
        let cleaned = percent_decode(cleaned.as_bytes());
        base64::engine::general_purpose::STANDARD
            .decode(&cleaned)
            .map_err(|_| Refused("The data: url's base64 is not valid.".into()).into())
    } else {
        Ok(percent_decode(data.as_bytes()))
    }
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            let hex = std::str::from_utf8(&s[i + 1..i + 3]).unwrap_or("zz");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

// ---- unpacking into a build context ----------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_compare_without_slicing_characters() {
        assert!(starts_with_ignore_case("DATA:x", "data:"));
        assert!(!starts_with_ignore_case("€€", "data:"));
        assert!(!starts_with_ignore_case("dat", "data:"));
    }

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
            "3fff::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "140.82.112.3",
            "8.8.8.8",
            "198.20.0.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:8.8.8.8",
            "2a00:1450::1",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn data_uris_decode() {
        assert_eq!(decode_data_uri("data:;base64,aGk=").unwrap(), b"hi");
        assert_eq!(decode_data_uri("data:text/plain,a%20b").unwrap(), b"a b");
        assert!(decode_data_uri("data:;base64,***").is_err());
    }
}
