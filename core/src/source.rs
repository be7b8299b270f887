//! A build's source: fetched within limits from an address that passed the checks of DESIGN §6,
//! then turned into the build context the engine receives.
//!
//! The archive is never unpacked onto the disk. Its entries are read, checked and written into
//! a fresh tar (the context), so nothing can land outside the build directory whatever the
//! archive holds: `..`, absolute paths, links out of the tree, writes through links and device
//! files are refused with a reason, as are archives over the size and file-count limits.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;

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

const MAX_REDIRECTS: usize = 5;

/// Fetches `url` (`http`, `https` or `data:`) into `dest`, checking every address on the way and
/// the `sha256:` checksum when one is given. A `token` (with the API address it is for) goes to
/// that API's origin only, never to where it redirects (GitHub's archives redirect to another
/// host).
pub async fn fetch(
    url: &str,
    checksum: Option<&str>,
    limits: &Limits,
    policy: &AddressPolicy,
    dest: &Path,
    token: Option<(&str, &str)>,
) -> anyhow::Result<()> {
    use sha2::{Digest, Sha256};
    let mut file = tokio::fs::File::create(dest).await?;
    let mut hash = Sha256::new();
    let mut total: u64 = 0;
    let too_big = || {
        Refused(format!(
            "The source is larger than the limit of {} bytes (SLIPWAY_MAX_SOURCE_BYTES).",
            limits.max_source_bytes
        ))
    };
    if url.len() >= 5 && url[..5].eq_ignore_ascii_case("data:") {
        let bytes = decode_data_uri(url)?;
        if bytes.len() as u64 > limits.max_source_bytes {
            return Err(too_big().into());
        }
        hash.update(&bytes);
        tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
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
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await?;
        }
    }
    tokio::io::AsyncWriteExt::flush(&mut file).await?;
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
/// connection goes to the address that was checked, so a second DNS answer cannot swap it.
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

/// Loopback, private, link-local, unspecified and other non-public addresses.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The bytes of a `data:` URI: base64 or percent-encoded.
fn decode_data_uri(url: &str) -> anyhow::Result<Vec<u8>> {
    let rest = &url[5..];
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    File { size: u64, executable: bool },
    Symlink(String),
    Hardlink(Vec<String>),
}

#[derive(Debug, Clone)]
struct Entry {
    /// Where it came from in the archive (tar: position; zip: index).
    index: usize,
    path: Vec<String>,
    kind: Kind,
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
    } else if n >= 4 && head[..4] == *b"PK\x03\x04" {
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

/// Reads the entry list of an archive, refusing what may not be in a build context.
fn list_entries(archive: &Path, format: Format, limits: &Limits) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut total: u64 = 0;
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
        entries.push(e);
        Ok(())
    };
    match format {
        Format::Zip => {
            let mut zip = zip::ZipArchive::new(std::fs::File::open(archive)?)
                .map_err(|e| Refused(format!("The zip archive cannot be read: {e}.")))?;
            for i in 0..zip.len() {
                let mut f = zip
                    .by_index(i)
                    .map_err(|e| Refused(format!("The zip archive cannot be read: {e}.")))?;
                let raw = f.name().to_owned();
                let path = clean_path(&raw)?;
                if path.is_empty() {
                    continue;
                }
                let mode = f.unix_mode().unwrap_or(0);
                let kind = match mode & 0o170000 {
                    0o120000 => {
                        let mut target = String::new();
                        f.by_ref().take(4096).read_to_string(&mut target)?;
                        Kind::Symlink(target)
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
            let mut tar = open_tar(archive, format)?;
            for (i, e) in tar
                .entries()
                .map_err(|e| Refused(format!("The tar archive cannot be read: {e}.")))?
                .enumerate()
            {
                let e = e.map_err(|e| Refused(format!("The tar archive cannot be read: {e}.")))?;
                let header = e.header();
                let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                use tar::EntryType::*;
                let kind = match header.entry_type() {
                    XGlobalHeader | XHeader | GNULongName | GNULongLink => continue,
                    Directory => Kind::Dir,
                    Regular | Continuous | GNUSparse => Kind::File {
                        size: e.size(),
                        executable: header.mode().unwrap_or(0o644) & 0o111 != 0,
                    },
                    Symlink => Kind::Symlink(
                        e.link_name_bytes()
                            .map(|l| String::from_utf8_lossy(&l).into_owned())
                            .unwrap_or_default(),
                    ),
                    Link => {
                        let target = e
                            .link_name_bytes()
                            .map(|l| String::from_utf8_lossy(&l).into_owned())
                            .unwrap_or_default();
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
                    continue;
                }
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
    }
    Ok(entries)
}

fn open_tar(archive: &Path, format: Format) -> anyhow::Result<tar::Archive<Box<dyn Read>>> {
    let f = std::io::BufReader::new(std::fs::File::open(archive)?);
    let r: Box<dyn Read> = if format == Format::TarGz {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(tar::Archive::new(r))
}

/// Checks links and lifts a single top-level folder; answers the entries to write.
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
    for e in &entries {
        let shown = e.path.join("/");
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

/// The largest Dockerfile read into memory.
const MAX_DOCKERFILE: u64 = 1 << 20;

/// Writes the build context for `archive` to `out` (a tar): every checked entry, and the
/// Dockerfile with an `ARG` for each of `args` after every `FROM`.
pub fn make_context(
    archive: &Path,
    out: &Path,
    limits: &Limits,
    args: &[String],
) -> anyhow::Result<()> {
    let format = format_of(archive)?;
    let entries = plan(list_entries(archive, format, limits)?)?;
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
    let mut write = |e: &Entry, data: &mut dyn Read| -> anyhow::Result<()> {
        let path = e.path.join("/");
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                builder.append_data(&mut h, &path, std::io::empty())?;
            }
            Kind::File { size, executable } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(if *executable { 0o755 } else { 0o644 });
                if path == "Dockerfile" {
                    let mut text = String::new();
                    data.take(MAX_DOCKERFILE)
                        .read_to_string(&mut text)
                        .map_err(|_| Refused("The Dockerfile is not UTF-8 text.".into()))?;
                    let text = with_args(&text, args);
                    h.set_size(text.len() as u64);
                    builder.append_data(&mut h, &path, text.as_bytes())?;
                } else {
                    h.set_size(*size);
                    builder.append_data(&mut h, &path, data.take(*size))?;
                }
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                builder.append_link(&mut h, &path, target)?;
            }
            Kind::Hardlink(target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                builder.append_link(&mut h, &path, target.join("/"))?;
            }
        }
        Ok(())
    };
    match format {
        Format::Zip => {
            let mut zip = zip::ZipArchive::new(std::fs::File::open(archive)?)?;
            for e in &entries {
                let mut f = zip.by_index(e.index)?;
                write(e, &mut f)?;
            }
        }
        Format::Tar | Format::TarGz => {
            let mut tar = open_tar(archive, format)?;
            for (i, item) in tar.entries()?.enumerate() {
                let mut item = item?;
                if let Some(e) = by_index.get(&i) {
                    write(e, &mut item)?;
                }
            }
        }
    }
    builder.into_inner()?.flush()?;
    Ok(())
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
        let starts_from = trimmed.len() >= 5
            && trimmed[..4].eq_ignore_ascii_case("FROM")
            && trimmed[4..].starts_with([' ', '\t']);
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
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["140.82.112.3", "8.8.8.8", "2606:4700::1111"] {
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
    fn data_uris_decode() {
        assert_eq!(decode_data_uri("data:;base64,aGk=").unwrap(), b"hi");
        assert_eq!(decode_data_uri("data:text/plain,a%20b").unwrap(), b"a b");
        assert!(decode_data_uri("data:;base64,***").is_err());
    }
}
