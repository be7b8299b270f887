//! A fetched source archive turned into the build context the engine receives.
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
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::Error::Refused;
use crate::secrets::starts_with_ignore_case;

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

pub(super) fn refuse<T>(text: impl Into<String>) -> anyhow::Result<T> {
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
    match crate::error::refusal_in(&e) {
        Some(text) => Refused(text.to_owned()).into(),
        None => Refused(format!("{what}: {e}.")).into(),
    }
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
            tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
                let (slot, what) = if kind == tar::EntryType::GNULongName {
                    (&mut long_name, "long name")
                } else {
                    (&mut long_link, "long link")
                };
                if slot.is_some() {
                    return twice();
                }
                let mut name = record(&mut entry, what)?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                *slot = Some(name);
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
    // A tar ends at its first empty header, before the gzip trailer: read on to the end of
    // the compressed stream (still metered), so its checksum is checked and damaged data
    // is refused instead of built.
    if format == Format::TarGz {
        std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(|e| {
            unwrap_io(
                e,
                "The gzip archive is damaged: its data does not match its checksum",
            )
        })?;
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
        // Link targets are names too: they are held in the plan just as paths are.
        names += e.path.iter().map(String::len).sum::<usize>();
        names += match &e.kind {
            Kind::Symlink(target) => target.len(),
            Kind::Hardlink(target) => target.iter().map(String::len).sum(),
            Kind::Dir | Kind::File { .. } => 0,
        };
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
                        if target.len() as u64 != f.size() {
                            return refuse(format!(
                                "The zip archive says the link {raw} holds {} bytes, but it holds {}.",
                                f.size(),
                                target.len()
                            ));
                        }
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
}
