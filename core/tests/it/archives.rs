//! Hostile and broken source archives: each is refused with a reason (a `Refused` the build
//! log shows), never a panic or an internal error, and what is accepted goes into the build
//! context exactly as checked. The property test at the end generates archives — valid,
//! truncated, with mismatched sizes, long names, links, duplicates — and checks those
//! invariants on each.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use slipway_core::builds::unpack::{make_context, Entry, Kind, Limits, Stop};
use slipway_core::Error;

/// A scratch directory for one case.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "slipway-archives-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The context's entries as written: path, kind, content.
type Context = Vec<(String, Kind, Vec<u8>)>;

/// Runs `make_context` on `archive` bytes; answers the plan and the context's entries (path,
/// kind, content), or the refusal's text. Any other error fails the test.
fn unpack(archive: &[u8], limits: &Limits) -> Result<(Vec<Entry>, Context), String> {
    unpack_with(archive, limits, &Stop::default())
}

fn unpack_with(
    archive: &[u8],
    limits: &Limits,
    stop: &Stop,
) -> Result<(Vec<Entry>, Context), String> {
    let dir = scratch();
    let (src, out) = (dir.join("source"), dir.join("context.tar"));
    std::fs::write(&src, archive).unwrap();
    let result = make_context(&src, &out, limits, &[], stop);
    let answer = match result {
        Ok(plan) => Ok((plan, read_context(&out))),
        Err(e) => match e.downcast_ref::<Error>() {
            Some(Error::Refused(text)) => Err(text.clone()),
            _ => panic!("not a refusal with a reason: {e:#}"),
        },
    };
    let _ = std::fs::remove_dir_all(&dir);
    answer
}

/// The context tar as written: every entry with its kind and content.
fn read_context(path: &Path) -> Vec<(String, Kind, Vec<u8>)> {
    let mut tar = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = Vec::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let kind = match e.header().entry_type() {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Regular => Kind::File {
                size: e.size(),
                executable: e.header().mode().unwrap() & 0o111 != 0,
            },
            tar::EntryType::Symlink => {
                Kind::Symlink(String::from_utf8(e.link_name_bytes().unwrap().into_owned()).unwrap())
            }
            tar::EntryType::Link => Kind::Hardlink(
                String::from_utf8(e.link_name_bytes().unwrap().into_owned())
                    .unwrap()
                    .split('/')
                    .map(str::to_owned)
                    .collect(),
            ),
            other => panic!("the context holds a {other:?}"),
        };
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((path.trim_end_matches('/').to_owned(), kind, data));
    }
    out
}

/// The context's entries are exactly the plan, in order.
fn assert_context_is_plan(plan: &[Entry], context: &[(String, Kind, Vec<u8>)]) {
    let planned: Vec<(String, Kind)> = plan
        .iter()
        .map(|e| (e.path.join("/"), e.kind.clone()))
        .collect();
    let written: Vec<(String, Kind)> = context
        .iter()
        .map(|(p, k, _)| (p.clone(), k.clone()))
        .collect();
    assert_eq!(written, planned);
    for (path, kind, data) in context {
        if let Kind::File { size, .. } = kind {
            assert_eq!(
                data.len() as u64,
                *size,
                "{path}: the count written is the size"
            );
        }
        for part in path.split('/') {
            assert!(!part.is_empty() && part != "..", "{path}");
        }
    }
}

/// What any accepted context must be, judged from the context alone (not from the plan that
/// made it): names without control characters, each path once (folders may repeat), symlinks
/// that lead inside, hard links to a file written before them.
fn assert_context_is_safe(context: &[(String, Kind, Vec<u8>)]) {
    let mut seen: BTreeMap<&str, bool> = BTreeMap::new();
    for (path, kind, _) in context {
        assert!(!path.chars().any(char::is_control), "{path:?}");
        let is_dir = *kind == Kind::Dir;
        if let Some(was_dir) = seen.insert(path, is_dir) {
            assert!(was_dir && is_dir, "{path} is written twice");
        }
        match kind {
            Kind::Symlink(target) => {
                assert!(
                    !target.starts_with('/') && !target.chars().any(char::is_control),
                    "{path} -> {target:?}"
                );
                let mut depth = path.split('/').count() as i64 - 1;
                for part in target.split('/') {
                    match part {
                        "" | "." => {}
                        ".." => depth -= 1,
                        _ => depth += 1,
                    }
                    assert!(depth >= 0, "{path} -> {target} leads outside");
                }
            }
            Kind::Hardlink(target) => {
                let target = target.join("/");
                assert_eq!(
                    seen.get(target.as_str()),
                    Some(&false),
                    "{path} => {target} is not a file before it"
                );
            }
            Kind::Dir | Kind::File { .. } => {}
        }
    }
}

fn tar_gz(tar: Vec<u8>) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// A tar of `files` (path, content), with GNU long names where needed.
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A raw ustar header block for `name` of `kind`, declaring `size`, with its checksum.
fn raw_header(name: &[u8], kind: u8, size: u64) -> [u8; 512] {
    let mut h = tar::Header::new_ustar();
    {
        let bytes = h.as_mut_bytes();
        bytes[..name.len()].copy_from_slice(name);
    }
    h.set_mode(0o644);
    h.set_size(size);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_cksum();
    *h.as_bytes()
}

fn padded(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.resize(data.len().div_ceil(512) * 512, 0);
    v
}

fn zip_of(files: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (path, data) in files {
        w.start_file(*path, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Offsets of every record with `signature` in a zip.
fn records(zip: &[u8], signature: [u8; 4]) -> Vec<usize> {
    (0..zip.len().saturating_sub(3))
        .filter(|&i| zip[i..i + 4] == signature)
        .collect()
}

const DOCKERFILE: &[u8] = b"FROM scratch\nCOPY . /\n";

fn limits() -> Limits {
    Limits {
        max_source_bytes: 100 << 20,
        max_unpacked_bytes: 10 << 20,
        max_files: 1000,
    }
}

#[test]
fn the_context_holds_exactly_the_checked_entries() {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if path.ends_with(".sh") { 0o755 } else { 0o644 });
        match link {
            Some(l) => b.append_link(&mut h, path, l).unwrap(),
            None => b.append_data(&mut h, path, data).unwrap(),
        }
    };
    add("app-1234/", tar::EntryType::Directory, b"", None);
    add(
        "app-1234/Dockerfile",
        tar::EntryType::Regular,
        DOCKERFILE,
        None,
    );
    add("app-1234/src/", tar::EntryType::Directory, b"", None);
    add(
        "app-1234/src/run.sh",
        tar::EntryType::Regular,
        b"#!/bin/sh\necho hi\n",
        None,
    );
    let long = format!("app-1234/src/{}.txt", "n".repeat(150));
    add(&long, tar::EntryType::Regular, b"a long name", None);
    add(
        "app-1234/current",
        tar::EntryType::Symlink,
        b"",
        Some("src/run.sh"),
    );
    add(
        "app-1234/again.sh",
        tar::EntryType::Link,
        b"",
        Some("app-1234/src/run.sh"),
    );
    let tar = b.into_inner().unwrap();
    for archive in [tar.clone(), tar_gz(tar)] {
        let (plan, context) = unpack(&archive, &limits()).unwrap();
        assert_context_is_plan(&plan, &context);
        let paths: Vec<&str> = context.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "Dockerfile",
                "src",
                "src/run.sh",
                &long["app-1234/".len()..],
                "current",
                "again.sh"
            ]
        );
        assert_eq!(context[0].2, DOCKERFILE);
        assert_eq!(
            context[2].1,
            Kind::File {
                size: 18,
                executable: true
            }
        );
    }
    let zip = zip_of(
        &[("Dockerfile", DOCKERFILE), ("a/b.txt", b"bee")],
        zip::CompressionMethod::Deflated,
    );
    let (plan, context) = unpack(&zip, &limits()).unwrap();
    assert_context_is_plan(&plan, &context);
    assert_eq!(context[1].2, b"bee");
}

#[test]
fn a_tar_entry_shorter_than_its_header_says_is_refused() {
    // The archive ends inside the entry's data.
    let mut tar = raw_header(b"Dockerfile", b'0', DOCKERFILE.len() as u64).to_vec();
    tar.extend_from_slice(&padded(DOCKERFILE));
    tar.extend_from_slice(&raw_header(b"big.bin", b'0', 4096));
    tar.extend_from_slice(&[7u8; 1000]);
    for archive in [tar.clone(), tar_gz(tar)] {
        let why = unpack(&archive, &limits()).unwrap_err();
        assert!(
            why.contains("cannot be read") || why.contains("less than its header says"),
            "{why}"
        );
    }
}

#[test]
fn a_tar_entry_longer_than_its_header_says_is_refused() {
    // The content runs on past the declared size into where the next header should be.
    let mut tar = raw_header(b"Dockerfile", b'0', DOCKERFILE.len() as u64).to_vec();
    tar.extend_from_slice(&padded(DOCKERFILE));
    tar.extend_from_slice(&raw_header(b"a.txt", b'0', 10));
    tar.extend_from_slice(&padded(&[b'x'; 1500]));
    tar.extend_from_slice(&[0u8; 1024]);
    let why = unpack(&tar, &limits()).unwrap_err();
    assert!(why.contains("cannot be read"), "{why}");
}

#[test]
fn zip_sizes_must_agree_with_the_content_and_between_headers() {
    let files: &[(&str, &[u8])] = &[("Dockerfile", DOCKERFILE), ("a.txt", b"hello world")];
    let good = zip_of(files, zip::CompressionMethod::Stored);
    assert!(unpack(&good, &limits()).is_ok());
    let central = records(&good, [0x50, 0x4b, 0x01, 0x02]);
    let local = records(&good, [0x50, 0x4b, 0x03, 0x04]);
    // The directory says a.txt is shorter, then longer, than it is (local header alike).
    for (declared, expect) in [
        (5u32, "more than its header says"),
        (40, "less than its header says"),
    ] {
        let mut z = good.clone();
        for at in [central[1] + 24, local[1] + 22] {
            z[at..at + 4].copy_from_slice(&declared.to_le_bytes());
        }
        let why = unpack(&z, &limits()).unwrap_err();
        assert!(
            why.contains(expect) || why.contains("cannot be read"),
            "{declared}: {why}"
        );
    }
    // The local header alone disagrees with the directory.
    let mut z = good.clone();
    z[local[1] + 22..local[1] + 26].copy_from_slice(&99u32.to_le_bytes());
    let why = unpack(&z, &limits()).unwrap_err();
    assert!(why.contains("other sizes in its local header"), "{why}");
    // Another name in the local header than in the directory.
    let mut z = good.clone();
    z[local[1] + 30] = b'b';
    let why = unpack(&z, &limits()).unwrap_err();
    assert!(why.contains("differently in its local header"), "{why}");
}

#[test]
fn a_deflated_zip_entry_that_inflates_past_its_size_is_refused() {
    let files: &[(&str, &[u8])] = &[("Dockerfile", DOCKERFILE), ("zeros", &[0u8; 100_000])];
    let good = zip_of(files, zip::CompressionMethod::Deflated);
    let mut z = good.clone();
    let central = records(&good, [0x50, 0x4b, 0x01, 0x02]);
    let local = records(&good, [0x50, 0x4b, 0x03, 0x04]);
    for at in [central[1] + 24, local[1] + 22] {
        z[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
    }
    let why = unpack(&z, &limits()).unwrap_err();
    assert!(
        why.contains("more than its header says") || why.contains("cannot be read"),
        "{why}"
    );
}

#[test]
fn names_and_link_targets_with_control_characters_are_refused() {
    for name in [&b"evil\x1b[2Jname"[..], b"new\nline", b"tab\there"] {
        let mut tar = raw_header(b"Dockerfile", b'0', DOCKERFILE.len() as u64).to_vec();
        tar.extend_from_slice(&padded(DOCKERFILE));
        tar.extend_from_slice(&raw_header(name, b'0', 0));
        tar.extend_from_slice(&[0u8; 1024]);
        let why = unpack(&tar, &limits()).unwrap_err();
        assert!(why.contains("control character"), "{why}");
    }
    // A NUL inside a GNU long name.
    let mut tar = raw_header(b"Dockerfile", b'0', DOCKERFILE.len() as u64).to_vec();
    tar.extend_from_slice(&padded(DOCKERFILE));
    let long = b"a\0b/../../etc/passwd";
    tar.extend_from_slice(&raw_header(b"././@LongLink", b'L', long.len() as u64));
    tar.extend_from_slice(&padded(long));
    tar.extend_from_slice(&raw_header(b"short", b'0', 0));
    tar.extend_from_slice(&[0u8; 1024]);
    let why = unpack(&tar, &limits()).unwrap_err();
    assert!(why.contains("control character"), "{why}");
    // A symlink whose target holds an escape sequence.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(DOCKERFILE.len() as u64);
    b.append_data(&mut h, "Dockerfile", DOCKERFILE).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "link", "a\x07b").unwrap();
    let why = unpack(&b.into_inner().unwrap(), &limits()).unwrap_err();
    assert!(
        why.contains("link target with a control character"),
        "{why}"
    );
}

#[test]
fn a_name_that_is_not_utf8_or_appears_twice_is_refused() {
    let mut tar = raw_header(b"Dockerfile", b'0', DOCKERFILE.len() as u64).to_vec();
    tar.extend_from_slice(&padded(DOCKERFILE));
    tar.extend_from_slice(&raw_header(b"caf\xe9", b'0', 0));
    tar.extend_from_slice(&[0u8; 1024]);
    assert!(unpack(&tar, &limits()).unwrap_err().contains("not UTF-8"));
    // Checked as a file, then replaced by a symlink of the same name.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(DOCKERFILE.len() as u64);
    b.append_data(&mut h, "Dockerfile", DOCKERFILE).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    b.append_data(&mut h, "a", &b"hi"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "a", "Dockerfile").unwrap();
    let why = unpack(&b.into_inner().unwrap(), &limits()).unwrap_err();
    assert!(why.contains("a more than once"), "{why}");
}

#[test]
fn extension_records_count_against_the_unpacked_limit() {
    // 400 empty files, each with a 60 KiB PAX record: nothing declared as file content, yet
    // 24 MB come out of the decompressor, over a 10 MB limit.
    let mut tar = raw_header(b"Dockerfile", b'0', DOCKERFILE.len() as u64).to_vec();
    tar.extend_from_slice(&padded(DOCKERFILE));
    // A PAX record is "<length> <key>=<value>\n", the length counting itself.
    let body = format!(" comment={}\n", "c".repeat(60_000));
    let mut len = body.len();
    while (len.to_string().len() + body.len()) != len {
        len = len.to_string().len() + body.len();
    }
    let record = format!("{len}{body}");
    for i in 0..400 {
        tar.extend_from_slice(&raw_header(b"PaxHeader", b'x', record.len() as u64));
        tar.extend_from_slice(&padded(record.as_bytes()));
        tar.extend_from_slice(&raw_header(format!("f{i}").as_bytes(), b'0', 0));
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let gz = tar_gz(tar);
    assert!(gz.len() < 2 << 20, "a small archive: {} bytes", gz.len());
    let why = unpack(&gz, &limits()).unwrap_err();
    assert!(why.contains("SLIPWAY_MAX_UNPACKED_BYTES"), "{why}");
}

#[test]
fn an_oversized_extension_record_is_refused_without_reading_it() {
    // A GNU long name that says it is 1 GB long.
    let mut tar = raw_header(b"Dockerfile", b'0', DOCKERFILE.len() as u64).to_vec();
    tar.extend_from_slice(&padded(DOCKERFILE));
    tar.extend_from_slice(&raw_header(b"././@LongLink", b'L', 1 << 30));
    tar.extend_from_slice(&[b'a'; 4096]);
    let why = unpack(&tar_gz(tar), &limits()).unwrap_err();
    assert!(why.contains("long name record"), "{why}");
}

#[test]
fn a_gzip_bomb_fails_on_the_limit() {
    // 64 MB of zeros behind a header that declares 64 MB: about 64 KB of gzip.
    let mut tar = raw_header(b"Dockerfile", b'0', DOCKERFILE.len() as u64).to_vec();
    tar.extend_from_slice(&padded(DOCKERFILE));
    tar.extend_from_slice(&raw_header(b"zeros", b'0', 64 << 20));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let why = unpack(&bomb, &limits()).unwrap_err();
    assert!(why.contains("SLIPWAY_MAX_UNPACKED_BYTES"), "{why}");
}

#[test]
fn a_gzip_bomb_that_declares_nothing_fails_on_what_it_inflates_to() {
    // A valid two-entry tar, then 256 MiB of zeros inside the same gzip stream: no header
    // declares them, so only counting what comes out of the decompressor can refuse them.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar_of(&[("Dockerfile", DOCKERFILE), ("a.txt", b"hello")]))
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(
        bomb.len() < 1 << 20,
        "the bomb is small: {} bytes",
        bomb.len()
    );
    let why = unpack(&bomb, &limits()).unwrap_err();
    assert!(why.contains("SLIPWAY_MAX_UNPACKED_BYTES"), "{why}");
}

#[test]
fn link_targets_count_towards_the_names_a_source_may_hold() {
    // 17,000 links whose 4,000-byte targets add up to more than the 64 MiB of names a plan
    // may hold, while every path is short: the targets are held in the plan as names are.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(DOCKERFILE.len() as u64);
    b.append_data(&mut h, "Dockerfile", DOCKERFILE).unwrap();
    let target = "t/".repeat(2000);
    for i in 0..17_000 {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, format!("l{i}"), &target).unwrap();
    }
    let roomy = Limits {
        max_source_bytes: 1 << 30,
        max_unpacked_bytes: 1 << 30,
        max_files: 1_000_000,
    };
    let why = unpack(&b.into_inner().unwrap(), &roomy).unwrap_err();
    assert!(why.contains("names in the source add up"), "{why}");
}

#[test]
fn a_zip_link_whose_size_disagrees_with_its_target_is_refused() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("Dockerfile", options).unwrap();
    w.write_all(DOCKERFILE).unwrap();
    w.add_symlink("link", "Dockerfile", options).unwrap();
    let good = w.finish().unwrap().into_inner();
    assert!(unpack(&good, &limits()).is_ok());
    // Both headers say the target is 20 bytes; it inflates to 10.
    let mut z = good.clone();
    let central = records(&good, [0x50, 0x4b, 0x01, 0x02]);
    let local = records(&good, [0x50, 0x4b, 0x03, 0x04]);
    for at in [central[1] + 24, local[1] + 22] {
        z[at..at + 4].copy_from_slice(&20u32.to_le_bytes());
    }
    let why = unpack(&z, &limits()).unwrap_err();
    assert!(why.contains("the link link holds 20 bytes"), "{why}");
}

#[test]
fn a_gzip_whose_data_does_not_match_its_checksum_is_refused() {
    // Stored (uncompressed) deflate blocks: a changed byte still inflates, so only the
    // gzip trailer's checksum, after the tar's end, can tell.
    let tar = tar_of(&[("Dockerfile", DOCKERFILE)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    gz.write_all(&tar).unwrap();
    let mut gz = gz.finish().unwrap();
    let at = gz
        .windows(7)
        .position(|w| w == b"scratch")
        .expect("the Dockerfile is stored as is");
    gz[at] = b'S';
    let why = unpack(&gz, &limits()).unwrap_err();
    assert!(why.contains("damaged"), "{why}");
    // What is after the tar's end is still metered.
    let mut padded_tar = tar.clone();
    padded_tar.extend(std::iter::repeat_n(0u8, 2 << 20));
    let small = Limits {
        max_unpacked_bytes: 1 << 20,
        ..limits()
    };
    let why = unpack(&tar_gz(padded_tar), &small).unwrap_err();
    assert!(why.contains("SLIPWAY_MAX_UNPACKED_BYTES"), "{why}");
}

#[test]
fn a_zip_directory_of_too_many_entries_is_refused_before_it_is_read() {
    let files: Vec<(String, Vec<u8>)> = (0..50).map(|i| (format!("f{i}"), vec![])).collect();
    let mut all: Vec<(&str, &[u8])> = vec![("Dockerfile", DOCKERFILE)];
    all.extend(files.iter().map(|(p, d)| (p.as_str(), d.as_slice())));
    let zip = zip_of(&all, zip::CompressionMethod::Stored);
    let few = Limits {
        max_files: 10,
        ..limits()
    };
    let why = unpack(&zip, &few).unwrap_err();
    assert!(why.contains("SLIPWAY_MAX_FILES"), "{why}");
}

#[test]
fn unpacking_stops_when_the_build_is_stopped() {
    let tar = tar_of(&[("Dockerfile", DOCKERFILE), ("a", b"a")]);
    let stop = Stop::default();
    stop.stop();
    let why = unpack_with(&tar_gz(tar), &limits(), &stop).unwrap_err();
    assert!(why.contains("stopped"), "{why}");
}

// ---- the property -------------------------------------------------------------------------

/// One entry of a generated archive.
#[derive(Debug, Clone)]
enum Gen {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
    Hardlink(String, String),
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        "[a-z]{1,4}/[a-z]{1,4}",
        Just("..".to_owned()),
        Just("a/../../x".to_owned()),
        Just("/etc/passwd".to_owned()),
        "[a-z]{100,160}",
        "[a-z]{1,3}\u{1b}[a-z]{1,3}",
        "[a-z]{1,3}\u{0}[a-z]{1,3}",
        "[a-zé]{1,3}/ü[a-z]{0,3}",
        Just("Dockerfile".to_owned()),
    ]
}

fn entry() -> impl Strategy<Value = Gen> {
    prop_oneof![
        4 => (name(), proptest::collection::vec(any::<u8>(), 0..600)).prop_map(|(n, d)| Gen::File(n, d)),
        1 => name().prop_map(Gen::Dir),
        1 => (name(), prop_oneof![name(), Just("../..".to_owned()), Just("/".to_owned())]).prop_map(|(n, t)| Gen::Symlink(n, t)),
        1 => (name(), name()).prop_map(|(n, t)| Gen::Hardlink(n, t)),
    ]
}

/// How an archive is damaged after it is made.
#[derive(Debug, Clone)]
enum Damage {
    None,
    /// Cut at this fraction of its length.
    Truncate(f64),
    /// One byte changed at this fraction.
    Flip(f64, u8),
    /// The size the k-th header (every header that states it, for zip) gives its entry,
    /// changed by this many bytes, the header otherwise valid.
    SizeLie(usize, i64),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => Just(Damage::None),
        1 => (0.0..1.0f64).prop_map(Damage::Truncate),
        1 => (0.0..1.0f64, any::<u8>()).prop_map(|(at, b)| Damage::Flip(at, b)),
        2 => (0..14usize, prop_oneof![-600..-1i64, 1..600i64]).prop_map(|(k, d)| Damage::SizeLie(k, d)),
    ]
}

fn build_tar(entries: &[Gen]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(DOCKERFILE.len() as u64);
    b.append_data(&mut h, "Dockerfile", DOCKERFILE).unwrap();
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        // tar refuses some names itself ("..", absolute): those become raw names.
        let r = match e {
            Gen::File(n, d) => {
                h.set_size(d.len() as u64);
                b.append_data(&mut h, n, d.as_slice())
            }
            Gen::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, n, std::io::empty())
            }
            Gen::Symlink(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, n, t)
            }
            Gen::Hardlink(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, n, t)
            }
        };
        if r.is_err() {
            let raw = match e {
                Gen::File(n, _) | Gen::Dir(n) | Gen::Symlink(n, _) | Gen::Hardlink(n, _) => n,
            };
            let bytes = raw.as_bytes();
            if bytes.len() < 100 {
                b.get_mut().extend_from_slice(&raw_header(bytes, b'0', 0));
            }
        }
    }
    b.into_inner().unwrap()
}

fn build_zip(entries: &[Gen]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    w.start_file("Dockerfile", options).unwrap();
    w.write_all(DOCKERFILE).unwrap();
    for e in entries {
        let _ = match e {
            Gen::File(n, d) => w
                .start_file(n.as_str(), options)
                .and_then(|_| w.write_all(d).map_err(Into::into)),
            Gen::Dir(n) => w.add_directory(n.as_str(), options),
            Gen::Symlink(n, t) | Gen::Hardlink(n, t) => {
                w.add_symlink(n.as_str(), t.as_str(), options)
            }
        };
    }
    w.finish().map(|c| c.into_inner()).unwrap_or_default()
}

/// Changes the size the `k`-th header of a tar states by `delta`, and its checksum with it.
fn tar_size_lie(mut tar: Vec<u8>, k: usize, delta: i64) -> Vec<u8> {
    let headers: Vec<usize> = (0..tar.len() / 512)
        .map(|b| b * 512)
        .filter(|&at| &tar[at + 257..at + 262] == b"ustar")
        .collect();
    let Some(&at) = headers.get(k % headers.len().max(1)) else {
        return tar;
    };
    let field = std::str::from_utf8(&tar[at + 124..at + 135]).unwrap_or("0");
    let size =
        i64::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8).unwrap_or(0);
    let lie = (size + delta).max(0);
    tar[at + 124..at + 136].copy_from_slice(format!("{lie:011o}\0").as_bytes());
    tar[at + 148..at + 156].copy_from_slice(b"        ");
    let sum: u32 = tar[at..at + 512].iter().map(|&b| u32::from(b)).sum();
    tar[at + 148..at + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    tar
}

/// Changes the sizes the `k`-th entry of a zip states, in its local header and in the central
/// directory alike, by `delta`.
fn zip_size_lie(mut zip: Vec<u8>, k: usize, delta: i64) -> Vec<u8> {
    let local = records(&zip, [0x50, 0x4b, 0x03, 0x04]);
    let central = records(&zip, [0x50, 0x4b, 0x01, 0x02]);
    if local.is_empty() || local.len() != central.len() {
        return zip;
    }
    let i = k % local.len();
    for (at, fields) in [(local[i], [18, 22]), (central[i], [20, 24])] {
        for f in fields {
            let old = u32::from_le_bytes(zip[at + f..at + f + 4].try_into().unwrap());
            let new = (i64::from(old) + delta).clamp(0, i64::from(u32::MAX - 1)) as u32;
            zip[at + f..at + f + 4].copy_from_slice(&new.to_le_bytes());
        }
    }
    zip
}

fn damaged(mut bytes: Vec<u8>, d: &Damage) -> Vec<u8> {
    match *d {
        Damage::None | Damage::SizeLie(..) => bytes,
        Damage::Truncate(at) => {
            bytes.truncate((bytes.len() as f64 * at) as usize);
            bytes
        }
        Damage::Flip(at, b) => {
            if !bytes.is_empty() {
                let i = ((bytes.len() - 1) as f64 * at) as usize;
                bytes[i] = b;
            }
            bytes
        }
    }
}

proptest! {
    // A fixed number of cases, so the test command's time is known (PROPTEST_CASES overrides).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn any_archive_is_refused_with_a_reason_or_becomes_exactly_its_plan(
        entries in proptest::collection::vec(entry(), 0..12),
        format in 0..3u8,
        hurt in damage(),
    ) {
        let lie = |tar: Vec<u8>| match hurt {
            Damage::SizeLie(k, delta) => tar_size_lie(tar, k, delta),
            _ => tar,
        };
        let archive = match format {
            0 => lie(build_tar(&entries)),
            1 => tar_gz(lie(build_tar(&entries))),
            _ => match hurt {
                Damage::SizeLie(k, delta) => zip_size_lie(build_zip(&entries), k, delta),
                _ => build_zip(&entries),
            },
        };
        let archive = damaged(archive, &hurt);
        let small = Limits { max_source_bytes: 1 << 20, max_unpacked_bytes: 64 << 10, max_files: 10 };
        for limits in [limits(), small] {
            // `unpack` panics on anything but a refusal with a reason.
            if let Ok((plan, context)) = unpack(&archive, &limits) {
                assert_context_is_plan(&plan, &context);
                assert_context_is_safe(&context);
                let files: BTreeMap<&str, &[u8]> = context.iter()
                    .filter(|(_, k, _)| matches!(k, Kind::File { .. }))
                    .map(|(p, _, d)| (p.as_str(), d.as_slice()))
                    .collect();
                // A generated second Dockerfile may replace the first (zip's writer does);
                // a plain tar has no checksum of its content, so a changed byte there is
                // built as it is (gzip and zip have one: the change is refused).
                // A tar states each size once, so a size changed before it was compressed
                // is the size (within the block padding, the entry just holds more or less).
                let unchecked = (format == 0 && matches!(hurt, Damage::Flip(..)))
                    || (format < 2 && matches!(hurt, Damage::SizeLie(..)));
                if !unchecked && !entries.iter().any(|e| matches!(e, Gen::File(n, _) if n == "Dockerfile")) {
                    prop_assert_eq!(files.get("Dockerfile").copied(), Some(DOCKERFILE));
                }
                let total: usize = files.values().map(|d| d.len()).sum();
                prop_assert!(total as u64 <= limits.max_unpacked_bytes);
                prop_assert!(plan.len() as u64 <= limits.max_files);
                // What is written is what the archive held: for undamaged archives, each
                // file's content is the generated one.
                if matches!(hurt, Damage::None) {
                    for e in &entries {
                        if let Gen::File(n, d) = e.clone() {
                            // The archive's own Dockerfile shares the name.
                            if n == "Dockerfile" {
                                continue;
                            }
                            let (n, d) = (&n, &d);
                            if let Some(got) = files.get(n.as_str()) {
                                if entries.iter().filter(|x| matches!(x, Gen::File(m, _) if m == n)).count() == 1 {
                                    prop_assert_eq!(*got, d.as_slice());
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
