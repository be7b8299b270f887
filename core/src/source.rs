//! A build's source: fetched within limits from an address that passed the checks of DESIGN §6,
//! then turned into the build context the engine receives.
//!
//! The archive is never unpacked onto the disk. Its entries are read, checked and written into
//! a fresh tar (the context), so nothing can land outside the build directory whatever the
//! archive holds: `..`, absolute paths, links out of the tree, writes through links, device
//! files, names with control characters, duplicate names and entries whose content is shorter
//! or longer than their header says are refused with a reason, as are archives over the size
//! and file-count limits. Every byte read out of the decompressor counts against
//! `SLIPWAY_MAX_UNPACKED_BYTES` (tar headers, extension records and the data of entries passed
//! over included), extension records have their own small cap, and the reading stops when the
//! build's time runs out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use crate::Core;

/// Limits on what a build may fetch and unpack (DESIGN §8).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_source_bytes: u64,
    pub max_unpacked_bytes: u64,
    pub max_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_source_bytes: 500_000_000,
            max_unpacked_bytes: 2_000_000_000,
            max_files: 100_000,
        }
    }
}

/// Which hosts a source may come from (DESIGN §6).
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Loopback, private and link-local addresses are allowed.
    pub allow_private: bool,
    /// Hosts allowed whatever they resolve to (lowercase).
    pub allow_hosts: Vec<String>,
}

/// A failure the build log shows as is: its text names no secret.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refuse<T>(text: impl Into<String>) -> anyhow::Result<T> {
    Err(Refused(text.into()).into())
}

/// Tells the unpacking thread to stop (the build's time ran out, or it was cancelled).
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that stops the unpacking when it is dropped (with the future that holds it).
    pub fn on_drop(&self) -> StopOnDrop {
        StopOnDrop(self.clone())
    }
}

/// See [`Stop::on_drop`].
pub struct StopOnDrop(Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

const MAX_REDIRECTS: usize = 5;

/// The scheme of a source uploaded through the build form: `upload:<id>` (kept sealed; shown
/// as `upload:<file name>`).
pub const UPLOAD_SCHEME: &str = "upload:";

/// Whether `s` starts with `prefix`, ignoring ASCII case (never slicing inside a character).
pub(crate) fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

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

/// Runs `op`, and again every half second while the database is unavailable (restarting),
/// for up to a minute.
pub(crate) async fn through_outage<T, F, Fut>(mut op: F) -> crate::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match op().await {
            Err(e) if e.is_unavailable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            r => return r,
        }
    }
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
        let shown = crate::builds::redact(current.as_str());
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

/// What an entry of the context is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File { size: u64, executable: bool },
    Symlink(String),
    Hardlink(Vec<String>),
}

/// An entry of the archive that passed the checks, as it goes into the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it came from in the archive (tar: position among real entries; zip: index).
    index: usize,
    pub path: Vec<String>,
    pub kind: Kind,
}

/// What the archive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    TarGz,
    Tar,
    Zip,
}

fn format_of(archive: &Path) -> anyhow::Result<Format> {
    let mut head = [0u8; 512];
    let mut f = std::fs::File::open(archive)?;
    let n = read_up_to(&mut f, &mut head)?;
    if n >= 2 && head[..2] == [0x1f, 0x8b] {
        Ok(Format::TarGz)
    } else if n >= 4 && (head[..4] == *b"PK\x03\x04" || head[..4] == *b"PK\x05\x06") {
        Ok(Format::Zip)
    } else if n >= 262 && &head[257..262] == b"ustar" {
        Ok(Format::Tar)
    } else {
        refuse("The source is not a .tar.gz, .tgz, .tar or .zip archive.")
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The longest name (or link target) an entry may have, in bytes.
const MAX_NAME: usize = 4096;
/// The most the names of all entries may add up to, so the entry list stays small.
const MAX_NAMES_TOTAL: usize = 64 << 20;
/// The largest extension record (GNU long name or link, PAX header) read into memory.
const MAX_EXTENSION: u64 = 64 << 10;
/// The largest Dockerfile read into memory.
const MAX_DOCKERFILE: u64 = 1 << 20;

/// A name as the archive gives it: UTF-8, no control characters, not too long.
fn checked_name(raw: &[u8], what: &str) -> anyhow::Result<String> {
    if raw.len() > MAX_NAME {
        return refuse(format!(
            "The archive holds a {what} longer than {MAX_NAME} bytes."
        ));
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return refuse(format!(
            "The archive holds a {what} that is not UTF-8 ({}).",
            String::from_utf8_lossy(raw).escape_debug()
        ));
    };
    if text.chars().any(char::is_control) {
        return refuse(format!(
            "The archive holds a {what} with a control character ({}).",
            text.escape_debug()
        ));
    }
    Ok(text.to_owned())
}

/// An archive path as clean components; `..` and absolute paths are refused.
fn clean_path(raw: &str) -> anyhow::Result<Vec<String>> {
    if raw.starts_with('/') || raw.starts_with('\\') || raw.as_bytes().get(1) == Some(&b':') {
        return refuse(format!("The archive holds an absolute path, {raw}."));
    }
    let mut parts = Vec::new();
    for part in raw.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return refuse(format!("The archive holds a path with \"..\", {raw}.")),
            p => parts.push(p.to_owned()),
        }
    }
    Ok(parts)
}

/// Where a symlink at `at` pointing to `target` leads, or None when outside the tree.
fn resolve_link(at: &[String], target: &str) -> Option<Vec<String>> {
    if target.starts_with('/') {
        return None;
    }
    let mut out: Vec<String> = at[..at.len().saturating_sub(1)].to_vec();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            p => out.push(p.to_owned()),
        }
    }
    Some(out)
}

/// The refusal an I/O error carries (from the metered reader, through the tar and zip
/// crates), or a reason made of `what` and the error: archive errors are about the user's
/// archive and say nothing secret.
fn unwrap_io(e: std::io::Error, what: &str) -> anyhow::Error {
    match find_refused(&e) {
        Some(r) => Refused(r.0.clone()).into(),
        None => Refused(format!("{what}: {e}.")).into(),
    }
}

/// A `Refused` anywhere in `e`'s chain, looking inside I/O errors too (their `source` skips
/// the error they wrap).
fn find_refused<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some(r);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(r) = find_refused(inner) {
                return Some(r);
            }
        }
        current = err.source();
    }
    None
}

/// Every byte read through it counts against the unpacked limit; it fails once the limit is
/// passed or the build is stopped.
struct Metered<R> {
    inner: R,
    read: u64,
    limit: u64,
    stop: Stop,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.stopped() {
            return Err(std::io::Error::other(Refused(
                "The build stopped while its source was unpacked.".into(),
            )));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other(Refused(format!(
                "The source unpacks to more than the limit of {} bytes (SLIPWAY_MAX_UNPACKED_BYTES).",
                self.limit
            ))));
        }
        Ok(n)
    }
}

/// Reads exactly `size` bytes of an entry: shorter content is an error, and so is content
/// that goes on past `size` when `check_end` (zip; a tar entry ends where its header says).
struct Exact<'a> {
    inner: &'a mut dyn Read,
    left: u64,
    shown: &'a str,
    check_end: bool,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            if self.check_end && self.inner.read(&mut [0u8; 1])? > 0 {
                return Err(std::io::Error::other(Refused(format!(
                    "The archive's entry {} holds more than its header says.",
                    self.shown
                ))));
            }
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::other(Refused(format!(
                "The archive's entry {} holds less than its header says.",
                self.shown
            ))));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// An entry of a tar archive, its extension records applied.
struct TarItem {
    name: Vec<u8>,
    link: Option<Vec<u8>>,
    kind: tar::EntryType,
    size: u64,
    mode: u32,
}

/// Walks the real entries of a tar archive in order, applying GNU long names and links and
/// PAX records (each read within [`MAX_EXTENSION`]) and refusing what cannot be told apart:
/// two records for one entry, a record with no entry after it, a PAX size that differs from
/// the header's. `each` gets the entry's index, the entry and its data reader.
fn walk_tar(
    archive: &Path,
    format: Format,
    limit: u64,
    stop: &Stop,
    mut each: impl FnMut(usize, TarItem, &mut dyn Read) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = std::io::BufReader::new(std::fs::File::open(archive)?);
    let raw: Box<dyn Read> = if format == Format::TarGz {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let metered = Metered {
        inner: raw,
        read: 0,
        limit,
        stop: stop.clone(),
    };
    let mut tar = tar::Archive::new(metered);
    let unreadable = "The tar archive cannot be read";
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut pax: Option<Vec<u8>> = None;
    let mut index = 0;
    for entry in tar
        .entries()
        .map_err(|e| unwrap_io(e, unreadable))?
        .raw(true)
    {
        let mut entry = entry.map_err(|e| unwrap_io(e, unreadable))?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        let size = entry.size();
        let record = |entry: &mut dyn Read, what: &str| -> anyhow::Result<Vec<u8>> {
            if size > MAX_EXTENSION {
                return refuse(format!(
                    "The archive holds a {what} record of {size} bytes, more than the {MAX_EXTENSION} allowed."
                ));
            }
            let mut data = Vec::with_capacity(size as usize);
            Exact {
                inner: entry,
                left: size,
                shown: what,
                check_end: false,
            }
            .read_to_end(&mut data)
            .map_err(|e| unwrap_io(e, unreadable))?;
            Ok(data)
        };
        let twice =
            || refuse("The archive describes one entry with two extension records of a kind.");
        match kind {
            tar::EntryType::GNULongName => {
                if long_name.is_some() {
                    return twice();
                }
                let mut name = record(&mut entry, "long name")?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                long_name = Some(name);
                continue;
            }
            tar::EntryType::GNULongLink => {
                if long_link.is_some() {
                    return twice();
                }
                let mut name = record(&mut entry, "long link")?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                long_link = Some(name);
                continue;
            }
            tar::EntryType::XHeader => {
                if pax.is_some() {
                    return twice();
                }
                pax = Some(record(&mut entry, "PAX header")?);
                continue;
            }
            tar::EntryType::XGlobalHeader => {
                // GitHub's archives carry one (the commit); nothing in it applies here.
                record(&mut entry, "PAX global header")?;
                continue;
            }
            _ => {}
        }
        let mut name = long_name
            .take()
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        let mut link = long_link
            .take()
            .or_else(|| entry.link_name_bytes().map(|l| l.into_owned()));
        if let Some(records) = pax.take() {
            for ext in tar::PaxExtensions::new(&records) {
                let ext =
                    ext.map_err(|_| Refused("The archive holds a malformed PAX header.".into()))?;
                match ext.key_bytes() {
                    b"path" => name = ext.value_bytes().to_vec(),
                    b"linkpath" => link = Some(ext.value_bytes().to_vec()),
                    b"size" => {
                        let said = std::str::from_utf8(ext.value_bytes())
                            .ok()
                            .and_then(|v| v.parse::<u64>().ok());
                        if said != Some(size) {
                            return refuse("The archive's PAX header gives an entry a size other than its header does.");
                        }
                    }
                    _ => {}
                }
            }
        }
        let mode = header.mode().unwrap_or(0o644);
        each(
            index,
            TarItem {
                name,
                link,
                kind,
                size,
                mode,
            },
            &mut entry,
        )?;
        index += 1;
    }
    if long_name.is_some() || long_link.is_some() || pax.is_some() {
        return refuse("The archive ends with an extension record that describes no entry.");
    }
    Ok(())
}

/// How many entries a zip's end of central directory says it has (zip64 too), read before
/// the directory is, so a directory of millions of entries is refused without reading it.
fn zip_entry_count(file: &mut std::fs::File) -> anyhow::Result<u64> {
    let len = file.seek(SeekFrom::End(0))?;
    if len < 22 {
        return refuse("The zip archive has no end of central directory.");
    }
    let tail_len = len.min(22 + 65_535);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    let Some(at) = (0..=tail.len().saturating_sub(22))
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
    else {
        return refuse("The zip archive has no end of central directory.");
    };
    let count = u16::from_le_bytes([tail[at + 10], tail[at + 11]]);
    if count != 0xffff {
        return Ok(u64::from(count));
    }
    // Zip64: the locator sits right before the record and points at the zip64 record.
    let Some(loc) = at
        .checked_sub(20)
        .filter(|&l| tail[l..l + 4] == [0x50, 0x4b, 0x06, 0x07])
    else {
        return refuse("The zip archive's zip64 directory cannot be found.");
    };
    let offset = u64::from_le_bytes(tail[loc + 8..loc + 16].try_into()?);
    let mut record = [0u8; 56];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut record)
        .map_err(|_| Refused("The zip archive's zip64 directory cannot be read.".into()))?;
    if record[..4] != [0x50, 0x4b, 0x06, 0x06] {
        return refuse("The zip archive's zip64 directory cannot be found.");
    }
    Ok(u64::from_le_bytes(record[32..40].try_into()?))
}

/// Refuses a zip entry whose local header disagrees with the central directory: another
/// name, or (when the local header gives them) other sizes. Tools that read one or the
/// other would see different archives.
fn check_local_header(
    file: &mut std::fs::File,
    f: &zip::read::ZipFile<'_, std::fs::File>,
    shown: &str,
) -> anyhow::Result<()> {
    let mut head = [0u8; 30];
    file.seek(SeekFrom::Start(f.header_start()))?;
    if file.read_exact(&mut head).is_err() || head[..4] != [0x50, 0x4b, 0x03, 0x04] {
        return refuse(format!(
            "The zip archive's entry {shown} has no local header."
        ));
    }
    let flags = u16::from_le_bytes([head[6], head[7]]);
    let csize = u32::from_le_bytes(head[18..22].try_into()?);
    let usize_ = u32::from_le_bytes(head[22..26].try_into()?);
    let name_len = u16::from_le_bytes([head[26], head[27]]) as usize;
    let mut name = vec![0u8; name_len];
    if file.read_exact(&mut name).is_err() || name != f.name_raw() {
        return refuse(format!(
            "The zip archive names the entry {shown} differently in its local header."
        ));
    }
    // Bit 3: sizes follow the data instead; 0xffffffff: they are in the zip64 extra field.
    let sizes_given = flags & 0x08 == 0 && csize != u32::MAX && usize_ != u32::MAX;
    if sizes_given && (u64::from(csize) != f.compressed_size() || u64::from(usize_) != f.size()) {
        return refuse(format!(
            "The zip archive gives the entry {shown} other sizes in its local header than in its directory."
        ));
    }
    Ok(())
}

/// Reads the entry list of an archive, refusing what may not be in a build context.
fn list_entries(
    archive: &Path,
    format: Format,
    limits: &Limits,
    stop: &Stop,
) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut total: u64 = 0;
    let mut names: usize = 0;
    let mut push = |entries: &mut Vec<Entry>, e: Entry| -> anyhow::Result<()> {
        if let Kind::File { size, .. } = e.kind {
            total = total.saturating_add(size);
            if total > limits.max_unpacked_bytes {
                return refuse(format!(
                    "The source unpacks to more than the limit of {} bytes (SLIPWAY_MAX_UNPACKED_BYTES).",
                    limits.max_unpacked_bytes
                ));
            }
        }
        if entries.len() as u64 >= limits.max_files {
            return refuse(format!(
                "The source holds more than the limit of {} files (SLIPWAY_MAX_FILES).",
                limits.max_files
            ));
        }
        names += e.path.iter().map(String::len).sum::<usize>();
        if names > MAX_NAMES_TOTAL {
            return refuse("The names in the source add up to more than 64 MiB.");
        }
        entries.push(e);
        Ok(())
    };
    match format {
        Format::Zip => {
            let mut file = std::fs::File::open(archive)?;
            let count = zip_entry_count(&mut file)?;
            if count > limits.max_files {
                return refuse(format!(
                    "The source holds more than the limit of {} files (SLIPWAY_MAX_FILES).",
                    limits.max_files
                ));
            }
            let unreadable =
                |e: zip::result::ZipError| Refused(format!("The zip archive cannot be read: {e}."));
            let mut zip =
                zip::ZipArchive::new(std::fs::File::open(archive)?).map_err(unreadable)?;
            // The zip crate keeps one entry per name: a directory that lists more entries
            // than it keeps holds a name twice.
            if zip.len() as u64 != count {
                return refuse("The zip archive holds a name more than once.");
            }
            for i in 0..zip.len() {
                if stop.stopped() {
                    return refuse("The build stopped while its source was unpacked.");
                }
                let mut f = zip.by_index(i).map_err(unreadable)?;
                let raw = checked_name(f.name_raw(), "name")?;
                check_local_header(&mut file, &f, &raw)?;
                let path = clean_path(&raw)?;
                if path.is_empty() {
                    continue;
                }
                let mode = f.unix_mode().unwrap_or(0);
                let kind = match mode & 0o170000 {
                    0o120000 => {
                        let mut target = Vec::new();
                        let read = Read::by_ref(&mut f)
                            .take(MAX_NAME as u64 + 1)
                            .read_to_end(&mut target);
                        read.map_err(|e| unwrap_io(e, "The zip archive cannot be read"))?;
                        Kind::Symlink(checked_name(&target, "link target")?)
                    }
                    0o020000 | 0o060000 | 0o010000 | 0o140000 => {
                        return refuse(format!(
                            "The archive holds a device or special file, {raw}."
                        ))
                    }
                    _ if f.is_dir() => Kind::Dir,
                    _ => Kind::File {
                        size: f.size(),
                        executable: mode & 0o111 != 0,
                    },
                };
                push(
                    &mut entries,
                    Entry {
                        index: i,
                        path,
                        kind,
                    },
                )?;
            }
        }
        Format::Tar | Format::TarGz => {
            walk_tar(
                archive,
                format,
                limits.max_unpacked_bytes,
                stop,
                |i, item, _| {
                    let raw = checked_name(&item.name, "name")?;
                    use tar::EntryType::*;
                    let link = || -> anyhow::Result<String> {
                        checked_name(item.link.as_deref().unwrap_or_default(), "link target")
                    };
                    let kind = match item.kind {
                        Directory => Kind::Dir,
                        Regular | Continuous => Kind::File {
                            size: item.size,
                            executable: item.mode & 0o111 != 0,
                        },
                        Symlink => Kind::Symlink(link()?),
                        Link => {
                            let target = link()?;
                            match clean_path(&target) {
                            Ok(t) => Kind::Hardlink(t),
                            Err(_) => {
                                return refuse(format!(
                                    "The archive holds a hard link pointing outside the source, {raw} -> {target}."
                                ))
                            }
                        }
                        }
                        Char | Block | Fifo => {
                            return refuse(format!(
                                "The archive holds a device or special file, {raw}."
                            ))
                        }
                        other => {
                            return refuse(format!(
                            "The archive holds an entry of an unsupported kind ({other:?}), {raw}."
                        ))
                        }
                    };
                    let path = clean_path(&raw)?;
                    if path.is_empty() {
                        return Ok(());
                    }
                    push(
                        &mut entries,
                        Entry {
                            index: i,
                            path,
                            kind,
                        },
                    )
                },
            )?;
        }
    }
    Ok(entries)
}

/// Checks links and names, lifts a single top-level folder; answers the entries to write.
fn plan(mut entries: Vec<Entry>) -> anyhow::Result<Vec<Entry>> {
    // A single top-level folder (GitHub's archives have one) becomes the root.
    let tops: BTreeSet<&str> = entries.iter().map(|e| e.path[0].as_str()).collect();
    if tops.len() == 1
        && entries
            .iter()
            .all(|e| e.path.len() > 1 || e.kind == Kind::Dir)
    {
        let top = tops.into_iter().next().unwrap_or_default().to_owned();
        entries.retain(|e| e.path.len() > 1);
        for e in &mut entries {
            e.path.remove(0);
            if let Kind::Hardlink(t) = &mut e.kind {
                if t.first() == Some(&top) {
                    t.remove(0);
                } else {
                    let shown = t.join("/");
                    return refuse(format!(
                        "The archive holds a hard link pointing outside the source, {} -> {shown}.",
                        e.path.join("/")
                    ));
                }
            }
        }
    }
    let mut links: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut files: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut seen: BTreeMap<Vec<String>, bool> = BTreeMap::new();
    for e in &entries {
        let shown = e.path.join("/");
        // One name, one entry: a later entry of the same name would replace an earlier one
        // after it was checked. A folder named twice changes nothing.
        let is_dir = e.kind == Kind::Dir;
        match seen.insert(e.path.clone(), is_dir) {
            Some(true) if is_dir => {}
            Some(_) => return refuse(format!("The archive holds {shown} more than once.")),
            None => {}
        }
        // Nothing may be written through a symlink that came earlier.
        for n in 1..e.path.len() {
            if links.contains(&e.path[..n]) {
                return refuse(format!(
                    "The archive writes through a symlink, {shown} (via {}).",
                    e.path[..n].join("/")
                ));
            }
        }
        match &e.kind {
            Kind::Symlink(target) => {
                if resolve_link(&e.path, target).is_none() {
                    return refuse(format!(
                        "The archive holds a symlink pointing outside the source, {shown} -> {target}."
                    ));
                }
                links.insert(e.path.clone());
            }
            Kind::Hardlink(target) => {
                if !files.contains(target) {
                    return refuse(format!(
                        "The archive holds a hard link pointing outside the source, {shown} -> {}.",
                        target.join("/")
                    ));
                }
                files.insert(e.path.clone());
            }
            Kind::File { .. } => {
                files.insert(e.path.clone());
            }
            Kind::Dir => {}
        }
    }
    Ok(entries)
}

/// Writes the build context for `archive` to `out` (a tar): every checked entry, and the
/// Dockerfile with an `ARG` for each of `args` after every `FROM`; answers the entries as
/// planned. Each file's content is copied exactly as its header says, within the limits; the
/// work stops when `stop` is set.
pub fn make_context(
    archive: &Path,
    out: &Path,
    limits: &Limits,
    args: &[String],
    stop: &Stop,
) -> anyhow::Result<Vec<Entry>> {
    let format = format_of(archive)?;
    let entries = plan(list_entries(archive, format, limits, stop)?)?;
    let dockerfile = entries
        .iter()
        .find(|e| e.path.len() == 1 && e.path[0] == "Dockerfile");
    match dockerfile.map(|e| &e.kind) {
        Some(Kind::File { size, .. }) if *size <= MAX_DOCKERFILE => {}
        Some(Kind::File { .. }) => return refuse("The Dockerfile is larger than 1 MB."),
        Some(_) => {
            return refuse("The Dockerfile at the root of the source is not a regular file.")
        }
        None => return refuse("The source has no Dockerfile at its root."),
    }
    let by_index: BTreeMap<usize, &Entry> = entries.iter().map(|e| (e.index, e)).collect();
    let mut builder = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(out)?));
    let mut written = 0usize;
    let mut write = |e: &Entry, data: &mut dyn Read, check_end: bool| -> anyhow::Result<()> {
        let path = e.path.join("/");
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        let io = |e: std::io::Error| unwrap_io(e, "Writing the build context failed");
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                builder
                    .append_data(&mut h, &path, std::io::empty())
                    .map_err(io)?;
            }
            Kind::File { size, executable } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(if *executable { 0o755 } else { 0o644 });
                let mut exact = Exact {
                    inner: data,
                    left: *size,
                    shown: &path,
                    check_end,
                };
                if path == "Dockerfile" {
                    let mut bytes = Vec::with_capacity(*size as usize);
                    exact.read_to_end(&mut bytes).map_err(io)?;
                    let text = String::from_utf8(bytes)
                        .map_err(|_| Refused("The Dockerfile is not UTF-8 text.".into()))?;
                    let text = with_args(&text, args);
                    h.set_size(text.len() as u64);
                    builder
                        .append_data(&mut h, &path, text.as_bytes())
                        .map_err(io)?;
                } else {
                    h.set_size(*size);
                    // `Exact` fails the copy unless it is exactly `size` bytes, so the size
                    // in the header is the count written.
                    builder.append_data(&mut h, &path, &mut exact).map_err(io)?;
                }
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                builder.append_link(&mut h, &path, target).map_err(io)?;
            }
            Kind::Hardlink(target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                builder
                    .append_link(&mut h, &path, target.join("/"))
                    .map_err(io)?;
            }
        }
        written += 1;
        Ok(())
    };
    match format {
        Format::Zip => {
            let mut zip = zip::ZipArchive::new(std::fs::File::open(archive)?)
                .map_err(|err| Refused(format!("The zip archive cannot be read: {err}.")))?;
            let mut unpacked: u64 = 0;
            for e in &entries {
                if stop.stopped() {
                    return refuse("The build stopped while its source was unpacked.");
                }
                let f = zip
                    .by_index(e.index)
                    .map_err(|err| Refused(format!("The zip archive cannot be read: {err}.")))?;
                let mut metered = Metered {
                    inner: f,
                    read: unpacked,
                    limit: limits.max_unpacked_bytes,
                    stop: stop.clone(),
                };
                write(e, &mut metered, true)?;
                unpacked = metered.read;
            }
        }
        Format::Tar | Format::TarGz => {
            walk_tar(
                archive,
                format,
                limits.max_unpacked_bytes,
                stop,
                |i, _, data| match by_index.get(&i) {
                    Some(e) => write(e, data, false),
                    None => Ok(()),
                },
            )?;
        }
    }
    if written != entries.len() {
        return refuse("The archive changed while it was unpacked.");
    }
    builder
        .into_inner()
        .map_err(|e| unwrap_io(e, "Writing the build context failed"))?
        .flush()?;
    Ok(entries)
}

/// The Dockerfile with `ARG NAME` for each build arg after every `FROM` (and its continuation
/// lines), so the args are in scope in every stage.
pub fn with_args(dockerfile: &str, args: &[String]) -> String {
    if args.is_empty() {
        return dockerfile.to_owned();
    }
    let mut out = String::with_capacity(dockerfile.len() + args.len() * 16);
    let mut in_from = false;
    for line in dockerfile.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let starts_from =
            starts_with_ignore_case(trimmed, "FROM") && trimmed[4..].starts_with([' ', '\t']);
        out.push_str(line);
        if starts_from || in_from {
            let continued = line.trim_end().ends_with('\\');
            in_from = continued;
            if !continued {
                if !line.ends_with('\n') {
                    out.push('\n');
                }
                for a in args {
                    out.push_str("ARG ");
                    out.push_str(a);
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_gets_an_arg_for_each_build_arg() {
        let df = "FROM a AS build\nRUN make\nfrom --platform=x \\\n  b\nCOPY --from=build /x /x";
        let out = with_args(df, &["GREETING".into(), "AKKERIS_GIT_SHA1".into()]);
        assert_eq!(
            out,
            "FROM a AS build\nARG GREETING\nARG AKKERIS_GIT_SHA1\nRUN make\nfrom --platform=x \\\n  b\nARG GREETING\nARG AKKERIS_GIT_SHA1\nCOPY --from=build /x /x"
        );
        assert_eq!(with_args(df, &[]), df);
    }

    #[test]
    fn dockerfile_lines_with_multibyte_characters_do_not_panic() {
        for df in [
            "€€€ x\n",
            "é\n",
            "FRO€ x\n",
            "\u{1F600}FROM a\n",
            "FROM€ a\n",
            "FROM\u{a0}a\n",
        ] {
            assert_eq!(with_args(df, &["A".into()]), df, "{df:?}");
        }
        assert_eq!(with_args("FROM é\n", &["A".into()]), "FROM é\nARG A\n");
    }

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
    fn paths_and_links_stay_inside() {
        assert_eq!(clean_path("./a//b/").unwrap(), ["a", "b"]);
        assert!(clean_path("a/../../b").is_err());
        assert!(clean_path("/etc/passwd").is_err());
        let at = |p: &str| p.split('/').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(resolve_link(&at("a/b/link"), "../c"), Some(at("a/c")));
        assert_eq!(resolve_link(&at("link"), ".."), None);
        assert_eq!(resolve_link(&at("a/link"), "/etc"), None);
    }

    #[test]
    fn names_with_control_characters_or_bad_utf8_are_refused() {
        assert!(checked_name(b"a/b.txt", "name").is_ok());
        assert!(checked_name(b"a\0b", "name").is_err());
        assert!(checked_name(b"a\nb", "name").is_err());
        assert!(checked_name(b"a\x1b[31mb", "name").is_err());
        assert!(checked_name(b"\xff\xfe", "name").is_err());
        assert!(checked_name(&[b'a'; MAX_NAME + 1], "name").is_err());
    }

    #[test]
    fn data_uris_decode() {
        assert_eq!(decode_data_uri("data:;base64,aGk=").unwrap(), b"hi");
        assert_eq!(decode_data_uri("data:text/plain,a%20b").unwrap(), b"a b");
        assert!(decode_data_uri("data:;base64,***").is_err());
    }
}
