//! Builds from source against the real binary: archives served by the test (HTTP and `data:`),
//! unpacking attacks refused with their reason, and real images built by the container engine
//! the test command started (DOCKER_HOST).

use crate::support;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use support::{Api, Slipway};

/// One archive entry a test wants, written byte for byte (the tar crate refuses `..`).
enum E<'a> {
    File(&'a str, &'a [u8]),
    Exec(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    CharDevice(&'a str),
}

fn tar_gz(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, kind, data, link): (&str, tar::EntryType, &[u8], Option<&str>) = match e {
            E::File(n, d) | E::Exec(n, d) => (n, tar::EntryType::Regular, d, None),
            E::Dir(n) => (n, tar::EntryType::Directory, b"", None),
            E::Symlink(n, t) => (n, tar::EntryType::Symlink, b"", Some(t)),
            E::Hardlink(n, t) => (n, tar::EntryType::Link, b"", Some(t)),
            E::CharDevice(n) => (n, tar::EntryType::Char, b"", None),
        };
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_mode(if matches!(e, E::Dir(_) | E::Exec(..)) {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        z.start_file(
            *name,
            zip::write::SimpleFileOptions::default().unix_permissions(0o644),
        )
        .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn data_uri(bytes: &[u8]) -> String {
    format!(
        "data:application/gzip;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Waits for a build to finish; answers the build and its log.
async fn finished(api: &Api, app: &str, build: &Value, limit: Duration) -> (Value, Vec<String>) {
    support::build_finished(api, app, build["id"].as_str().unwrap(), limit).await
}

async fn build(api: &Api, app: &str, body: Value) -> Value {
    let a = api
        .post(&format!("/apps/{app}/builds"), &body.to_string())
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let b = a.json();
    assert_eq!(b["status"], "queued");
    b
}

const DOCKERFILE_SMALL: &[u8] = b"FROM slipway-test/busybox\nCMD [\"sh\"]\n";

#[tokio::test]
async fn unpacking_attacks_fail_with_their_reason_and_write_nothing_outside() {
    let s = Slipway::start(&[
        ("DATABASE_URL", &testkit::fresh_url().await),
        ("SLIPWAY_SECRET_KEY", &support::fresh_key()),
        ("SLIPWAY_MAX_UNPACKED_BYTES", "1MB"),
        ("SLIPWAY_MAX_FILES", "50"),
    ])
    .unwrap();
    let api = s.admin();
    api.create_app("attacks", "test").await;
    let app = "attacks-test";
    let outside = format!("/tmp/slipway-escape-{}", uuid::Uuid::new_v4().simple());
    let outside_rel = format!("../../../../../../..{outside}");
    let big = vec![0u8; 2_000_000];
    let many: Vec<(String, Vec<u8>)> = (0..60).map(|i| (format!("f{i}"), vec![b'x'])).collect();
    let many_entries: Vec<E> = many
        .iter()
        .map(|(n, d)| E::File(n.as_str(), d.as_slice()))
        .chain([E::File("Dockerfile", DOCKERFILE_SMALL)])
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dot-dot",
            tar_gz(&[
                E::File("Dockerfile", DOCKERFILE_SMALL),
                E::File(&outside_rel, b"x"),
            ]),
            "a path with \"..\"",
        ),
        (
            "absolute",
            tar_gz(&[
                E::File("Dockerfile", DOCKERFILE_SMALL),
                E::File(&outside, b"x"),
            ]),
            "an absolute path",
        ),
        (
            "symlink escape",
            tar_gz(&[
                E::File("Dockerfile", DOCKERFILE_SMALL),
                E::Symlink("out", "../../../../../../tmp"),
            ]),
            "a symlink pointing outside the source, out",
        ),
        (
            "absolute symlink",
            tar_gz(&[
                E::File("Dockerfile", DOCKERFILE_SMALL),
                E::Symlink("out", &outside),
            ]),
            "a symlink pointing outside the source, out",
        ),
        (
            "write through a symlink",
            tar_gz(&[
                E::File("Dockerfile", DOCKERFILE_SMALL),
                E::Dir("sub"),
                E::Symlink("link", "sub"),
                E::File("link/x", b"x"),
            ]),
            "writes through a symlink, link/x",
        ),
        (
            "hardlink escape",
            tar_gz(&[
                E::File("Dockerfile", DOCKERFILE_SMALL),
                E::Hardlink("h", "../../../../etc/passwd"),
            ]),
            "a hard link pointing outside the source, h",
        ),
        (
            "hardlink to a missing file",
            tar_gz(&[
                E::File("Dockerfile", DOCKERFILE_SMALL),
                E::Hardlink("h", "etc/passwd"),
            ]),
            "a hard link pointing outside the source, h",
        ),
        (
            "device file",
            tar_gz(&[
                E::File("Dockerfile", DOCKERFILE_SMALL),
                E::CharDevice("dev"),
            ]),
            "a device or special file, dev",
        ),
        (
            "oversize",
            tar_gz(&[
                E::File("Dockerfile", DOCKERFILE_SMALL),
                E::File("big", &big),
            ]),
            "more than the limit of 1000000 bytes",
        ),
        (
            "too many files",
            tar_gz(&many_entries),
            "more than the limit of 50 files",
        ),
        (
            "no Dockerfile",
            tar_gz(&[E::File("README", b"hello")]),
            "The source has no Dockerfile at its root.",
        ),
        (
            "control character",
            tar_gz(&[
                E::File("Dockerfile", DOCKERFILE_SMALL),
                E::File("evil\u{1b}[2Jname", b"x"),
            ]),
            "a name with a control character",
        ),
        (
            "truncated",
            {
                let whole = tar_gz(&[
                    E::File("Dockerfile", DOCKERFILE_SMALL),
                    E::File("data", &[7u8; 300_000]),
                ]);
                let mut raw = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&whole[..]), &mut raw)
                    .unwrap();
                raw.truncate(100_000);
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&raw).unwrap();
                gz.finish().unwrap()
            },
            "cannot be read",
        ),
        (
            "not an archive",
            b"just some text".to_vec(),
            "is not a .tar.gz, .tgz, .tar or .zip archive",
        ),
    ];
    // Queued all at once: they run one after another on the worker.
    let mut queued = Vec::new();
    for (name, archive, _) in &cases {
        queued.push(
            build(
                &api,
                app,
                json!({"url": data_uri(archive), "version": name}),
            )
            .await,
        );
    }
    for ((name, _, reason), b) in cases.iter().zip(&queued) {
        let (b, lines) = finished(&api, app, b, Duration::from_secs(60)).await;
        assert_eq!(b["status"], "failed", "{name}: {lines:?}");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("Finished: FAILURE"),
            "{name}"
        );
        let reason_line = &lines[lines.len() - 2];
        assert!(
            reason_line.contains(reason),
            "{name}: {reason_line:?} should say {reason:?}"
        );
        assert_eq!(
            b["source_blob"]["url"], "data:application/gzip,…",
            "no payload shown"
        );
    }
    assert!(
        !std::path::Path::new(&outside).exists(),
        "something was written outside"
    );

    // A checksum that does not match.
    let good = tar_gz(&[E::File("Dockerfile", DOCKERFILE_SMALL)]);
    let b = build(
        &api,
        app,
        json!({"url": data_uri(&good), "checksum": format!("sha256:{}", "0".repeat(64))}),
    )
    .await;
    let (b, lines) = finished(&api, app, &b, Duration::from_secs(60)).await;
    assert_eq!(b["status"], "failed");
    assert!(
        lines[lines.len() - 2].contains("checksum is sha256:"),
        "{lines:?}"
    );

    // Bad input is refused at once and records nothing.
    let before = api.get(&format!("/apps/{app}/builds")).await.json();
    for url in ["ftp://example.com/a.tgz", "https://", "data:nocomma"] {
        let a = api
            .post(
                &format!("/apps/{app}/builds"),
                &json!({ "url": url }).to_string(),
            )
            .await;
        assert_eq!(a.status, 422, "{url}: {}", a.text);
    }
    assert_eq!(api.get(&format!("/apps/{app}/builds")).await.json(), before);
}

/// A test HTTP server: `/source.tgz` answers `archive`, `/hop` redirects to `target`.
async fn serve(archive: Vec<u8>, target: String) -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/source.tgz", get(move || async move { archive.clone() }))
        .route(
            "/hop",
            get(move || async move { axum::response::Redirect::temporary(&target) }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_refused() {
    let s = Slipway::start(&[
        ("DATABASE_URL", &testkit::fresh_url().await),
        ("SLIPWAY_SECRET_KEY", &support::fresh_key()),
        ("SLIPWAY_ALLOW_PRIVATE_SOURCES", "false"),
        ("SLIPWAY_SOURCE_ALLOW_HOSTS", "127.0.0.1"),
    ])
    .unwrap();
    let api = s.admin();
    api.create_app("redirect", "test").await;
    let archive = tar_gz(&[E::File("Dockerfile", DOCKERFILE_SMALL)]);
    // A placeholder first, to learn the port; then the real one redirecting to localhost.
    let base = serve(archive.clone(), "http://localhost:1/".into()).await;
    let port = base.rsplit(':').next().unwrap();
    let base = serve(archive, format!("http://localhost:{port}/source.tgz")).await;
    let b = build(&api, "redirect-test", json!({"url": format!("{base}/hop")})).await;
    let (b, lines) = finished(&api, "redirect-test", &b, Duration::from_secs(60)).await;
    assert_eq!(b["status"], "failed");
    assert!(
        lines[lines.len() - 2].contains("The source host localhost resolves to a private address"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_proxy_in_the_environment_cannot_carry_a_source_fetch() {
    // A "proxy" that counts who comes to it and answers nothing useful.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let visits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = visits.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut c, _)) = proxy.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = c
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let s = Slipway::start(&[
        ("DATABASE_URL", &testkit::fresh_url().await),
        ("SLIPWAY_SECRET_KEY", &support::fresh_key()),
        ("HTTP_PROXY", &proxy_url),
        ("http_proxy", &proxy_url),
        ("HTTPS_PROXY", &proxy_url),
        ("ALL_PROXY", &proxy_url),
        ("NO_PROXY", ""),
    ])
    .unwrap();
    let api = s.admin();
    api.create_app("direct", "test").await;
    let base = serve(
        tar_gz(&[E::File("Dockerfile", DOCKERFILE_SMALL)]),
        String::new(),
    )
    .await;
    let b = build(
        &api,
        "direct-test",
        json!({"url": format!("{base}/source.tgz")}),
    )
    .await;
    let (_, lines) = finished(&api, "direct-test", &b, Duration::from_secs(120)).await;
    assert!(
        lines.contains(&"Unpacking the source".to_owned()),
        "fetched directly: {lines:?}"
    );
    assert_eq!(
        visits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing went through the proxy"
    );
}

/// The base image small test apps build on: busybox in a scratch image (nothing is pulled).
fn base_image() {
    support::docker_build(
        "slipway-test/busybox",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
        &["/bin/busybox"],
    );
}

/// What a file in an image holds, read by running it.
fn read_in_image(image: &str, path: &str) -> String {
    let out = Command::new("docker")
        .args(["run", "--rm", image, "cat", path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn real_images_from_tar_gz_zip_and_data_uris_with_build_args_and_masking() {
    base_image();
    let s = Slipway::on_fresh_database().await;
    let api = s.admin();
    api.create_app("built", "test").await;
    let app = "built-test";
    let secret = "hunter2-very-secret";
    let a = api
        .patch(
            &format!("/apps/{app}/config-vars"),
            &json!({"GREETING": "hi", "API_SECRET": secret}).to_string(),
        )
        .await;
    assert_eq!(a.status, 200);

    // A new sha each run, so the engine's cache cannot skip the RUN steps that print.
    let sha = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    // tar.gz over HTTP, FROM scratch with busybox copied in, one folder at the top (lifted).
    let busybox = std::fs::read("/bin/busybox").unwrap();
    let dockerfile = b"FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
RUN echo \"greeting=$GREETING secret=$API_SECRET sha=$AKKERIS_GIT_SHA1\" && \\\n    echo \"$GREETING|$API_SECRET|$AKKERIS_GIT_SHA1|$AKKERIS_GIT_BRANCH|$AKKERIS_GIT_REPO\" > /built-with.txt\n\
RUN for i in 1 2 3; do echo line $i; done\nCMD [\"sh\"]\n";
    let archive = tar_gz(&[
        E::Dir("app-1.0"),
        E::File("app-1.0/Dockerfile", dockerfile),
        E::Exec("app-1.0/busybox", &busybox),
    ]);
    let base = serve(archive, String::new()).await;
    let b = build(
        &api,
        app,
        json!({"url": format!("{base}/source.tgz"), "sha": sha, "branch": "main", "repo": "https://github.com/acme/web"}),
    )
    .await;
    let (b, lines) = finished(&api, app, &b, Duration::from_secs(180)).await;
    assert_eq!(b["status"], "succeeded", "{lines:#?}");
    assert_eq!(lines.last().unwrap(), "Finished: SUCCESS");
    assert!(
        lines[0].starts_with("Fetching http://127.0.0.1:"),
        "{lines:?}"
    );
    let echoed = lines
        .iter()
        .find(|l| l.starts_with("greeting="))
        .unwrap_or_else(|| panic!("the RUN's output is in the log: {lines:#?}"));
    assert_eq!(
        *echoed,
        format!("greeting=hi secret=*** sha={sha}"),
        "values under 4 characters are not masked"
    );
    assert!(
        !lines.iter().any(|l| l.contains(secret)),
        "the secret is masked everywhere"
    );
    let order: Vec<&String> = lines.iter().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(order, ["line 1", "line 2", "line 3"]);
    let image = format!(
        "slipway/{app}:{}",
        b["id"].as_str().unwrap().replace('-', "")
    );
    assert_eq!(
        read_in_image(&image, "/built-with.txt").trim(),
        format!("hi|{secret}|{sha}|main|https://github.com/acme/web")
    );

    // A zip, and a data: URI, on the base image.
    let zipped = zip(&[(
        "Dockerfile",
        b"FROM slipway-test/busybox\nRUN echo \"from zip $GREETING\" > /where.txt\n",
    )]);
    let b = build(&api, app, json!({"url": format!("data:application/zip;base64,{}", base64::engine::general_purpose::STANDARD.encode(&zipped))})).await;
    let (b, lines) = finished(&api, app, &b, Duration::from_secs(120)).await;
    assert_eq!(b["status"], "succeeded", "{lines:#?}");
    let image = format!(
        "slipway/{app}:{}",
        b["id"].as_str().unwrap().replace('-', "")
    );
    assert_eq!(read_in_image(&image, "/where.txt").trim(), "from zip hi");

    let gz = tar_gz(&[E::File(
        "Dockerfile",
        b"FROM slipway-test/busybox\nRUN echo \"from data $GREETING\" > /where.txt\n",
    )]);
    let b = build(&api, app, json!({ "url": data_uri(&gz) })).await;
    let (b, lines) = finished(&api, app, &b, Duration::from_secs(120)).await;
    assert_eq!(b["status"], "succeeded", "{lines:#?}");
    let image = format!(
        "slipway/{app}:{}",
        b["id"].as_str().unwrap().replace('-', "")
    );
    assert_eq!(read_in_image(&image, "/where.txt").trim(), "from data hi");

    // A failing RUN fails the build with the engine's reason.
    let gz = tar_gz(&[E::File(
        "Dockerfile",
        format!("FROM slipway-test/busybox\nRUN echo about to fail {sha} && false\n").as_bytes(),
    )]);
    let b = build(&api, app, json!({ "url": data_uri(&gz) })).await;
    let (b, lines) = finished(&api, app, &b, Duration::from_secs(120)).await;
    assert_eq!(b["status"], "failed", "{lines:#?}");
    assert!(
        lines.iter().any(|l| *l == format!("about to fail {sha}")),
        "{lines:#?}"
    );
    assert!(
        lines[lines.len() - 2].contains("returned a non-zero code: 1"),
        "{lines:#?}"
    );
    assert_eq!(lines.last().unwrap(), "Finished: FAILURE");
}

#[tokio::test]
async fn a_running_build_is_cancelled_from_another_process() {
    base_image();
    let (worker, web) = support::worker_and_web().await;
    let (api, other) = (worker.admin(), web.admin());
    api.create_app("cancel", "test").await;
    let app = "cancel-test";
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let gz = tar_gz(&[E::File(
        "Dockerfile",
        format!("FROM slipway-test/busybox\nRUN echo started {marker} && sleep 60\n").as_bytes(),
    )]);
    let b = build(&api, app, json!({ "url": data_uri(&gz) })).await;
    let id = b["id"].as_str().unwrap().to_owned();
    // Wait until the RUN has started (its line is in the log).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = other
            .get(&format!("/apps/{app}/builds/{id}/result"))
            .await
            .json();
        if r["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| *l == format!("started {marker}"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the build never started: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = other.delete(&format!("/apps/{app}/builds/{id}")).await;
    assert_eq!(a.status, 205, "{}", a.text);
    assert_eq!(a.json()["status"], "failed");
    let again = other.delete(&format!("/apps/{app}/builds/{id}")).await;
    assert_eq!(again.status, 409, "{}", again.text);
    // The worker notices, stops the engine's build, and writes nothing after the last line.
    let (b, lines) = finished(&api, app, &b, Duration::from_secs(5)).await;
    assert_eq!(b["status"], "failed");
    assert_eq!(lines[lines.len() - 2], "Cancelled by ops.");
    assert_eq!(lines.last().unwrap(), "Finished: FAILURE");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = worker.logs();
        if log.contains("build cancelled") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not stop the build: {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, after) = finished(&api, app, &b, Duration::from_secs(5)).await;
    assert_eq!(after, lines, "no line after Finished: FAILURE");
}

/// A websocket viewer of a build's log, as an Akkeris-style client would be.
struct Viewer {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// What a viewer read: lines (seq, text), then maybe the final status and close code.
#[derive(Debug, PartialEq)]
enum Frame {
    Lines(Vec<(i64, String)>),
    Status(String),
    Closed(Option<u16>),
}

impl Viewer {
    async fn open(api: &Api, path: &str) -> Result<Viewer, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}{path}", api.base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().unwrap();
        if let Some(t) = &api.token {
            req.headers_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(Viewer { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("websocket: {e}"),
        }
    }

    async fn frame(&mut self) -> Frame {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(60), self.ws.next())
                .await
                .expect("a frame within a minute");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if let Some(status) = v["status"].as_str() {
                        return Frame::Status(status.to_owned());
                    }
                    let lines = v["lines"].as_array().unwrap_or_else(|| panic!("{v}"));
                    assert!(!lines.is_empty(), "a lines frame has lines");
                    return Frame::Lines(
                        lines
                            .iter()
                            .map(|l| {
                                (
                                    l["seq"].as_i64().unwrap(),
                                    l["text"].as_str().unwrap().to_owned(),
                                )
                            })
                            .collect(),
                    );
                }
                Some(Ok(Message::Close(c))) => {
                    return Frame::Closed(c.map(|c| u16::from(c.code)));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("websocket error: {e}"),
                None => return Frame::Closed(None),
            }
        }
    }
}

#[tokio::test]
async fn a_build_is_watched_live_through_another_process_across_a_reconnect() {
    base_image();
    let (worker, web) = support::worker_and_web().await;
    let (api, other) = (worker.admin(), web.admin());
    api.create_app("live", "test").await;
    let app = "live-test";
    // About four seconds of output, a line every 10 ms; the nonce defeats the engine's cache.
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let gz = tar_gz(&[E::File(
        "Dockerfile",
        format!("FROM slipway-test/busybox\nRUN echo {nonce}; i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo \"tick $i\"; usleep 10000; done\n").as_bytes(),
    )]);
    let b = build(&api, app, json!({ "url": data_uri(&gz) })).await;
    let id = b["id"].as_str().unwrap().to_owned();
    let stream = format!("/apps/{app}/builds/{id}/stream");

    // Refusals first: no token, a bad `from`, an unknown build.
    assert_eq!(
        Viewer::open(&web.anonymous(), &stream).await.err(),
        Some(401)
    );
    assert_eq!(
        Viewer::open(&other, &format!("{stream}?from=0"))
            .await
            .err(),
        Some(400)
    );
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(
        Viewer::open(&other, &format!("/apps/{app}/builds/{unknown}/stream"))
            .await
            .err(),
        Some(404)
    );

    // Watch through the process without a worker until tick 100, then hang up mid-build.
    let mut seen: Vec<(i64, String)> = Vec::new();
    let mut v = Viewer::open(&other, &stream).await.unwrap();
    while !seen.iter().any(|(_, t)| t == "tick 100") {
        match v.frame().await {
            Frame::Lines(l) => seen.extend(l),
            f => panic!("the build ended before tick 100: {f:?} after {seen:?}"),
        }
    }
    drop(v);
    let status = other.get(&format!("/apps/{app}/builds/{id}")).await.json()["status"].clone();
    assert_eq!(status, "pending", "the hang-up was mid-build");
    let last = seen.last().unwrap().0;

    // Resume from the next line; read to the end.
    let mut v = Viewer::open(&other, &format!("{stream}?from={}", last + 1))
        .await
        .unwrap();
    let end = loop {
        match v.frame().await {
            Frame::Lines(l) => seen.extend(l),
            Frame::Status(s) => break s,
            Frame::Closed(c) => panic!("closed ({c:?}) before the status"),
        }
    };
    assert_eq!(end, "succeeded");
    assert_eq!(v.frame().await, Frame::Closed(Some(1000)));

    // Every line exactly once, in order, and the same as the stored log.
    let seqs: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=seen.len() as i64).collect::<Vec<_>>());
    let (_, stored) = finished(&api, app, &b, Duration::from_secs(5)).await;
    let texts: Vec<String> = seen.iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(texts, stored);
    let ticks: Vec<&String> = texts.iter().filter(|t| t.starts_with("tick ")).collect();
    assert_eq!(ticks.len(), 400, "{texts:?}");
    assert_eq!(texts.last().unwrap(), "Finished: SUCCESS");

    // A finished build replays from any line, then ends.
    let n = stored.len() as i64;
    let mut v = Viewer::open(&api, &format!("{stream}?from={}", n - 2))
        .await
        .unwrap();
    let mut tail = Vec::new();
    loop {
        match v.frame().await {
            Frame::Lines(l) => tail.extend(l),
            Frame::Status(s) => {
                assert_eq!(s, "succeeded");
                break;
            }
            f => panic!("{f:?}"),
        }
    }
    assert_eq!(
        tail,
        (n - 2..=n)
            .map(|s| (s, stored[s as usize - 1].clone()))
            .collect::<Vec<_>>()
    );
}

/// A multipart form body with one file field `archive`; answers the body and its content type.
fn multipart(file_name: &str, bytes: &[u8]) -> (Vec<u8>, String) {
    let boundary = format!("slipway-{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"url\"\r\n\r\n\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"{file_name}\"\r\nContent-Type: application/gzip\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

/// Uploads `archive` through the build form as the signed-in `browser`; answers the status and
/// where it leads.
async fn upload(
    s: &Slipway,
    browser: &reqwest::Client,
    app: &str,
    name: &str,
    archive: &[u8],
) -> (u16, String) {
    let (body, content_type) = multipart(name, archive);
    let r = browser
        .post(s.url(&format!("/ui/apps/{app}/builds")))
        .header("Origin", &s.base)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let to = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), to)
}

/// Random bytes, so nothing compresses them and they are easy to look for.
fn noise(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        v.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    v.truncate(n);
    v
}

#[tokio::test]
async fn an_upload_streams_into_sealed_chunks_within_the_limit_and_can_be_built_again() {
    let db = testkit::fresh_url().await;
    let s = Slipway::start(&[
        ("DATABASE_URL", &db),
        ("SLIPWAY_SECRET_KEY", &support::fresh_key()),
        ("SLIPWAY_MAX_SOURCE_BYTES", "5MB"),
    ])
    .unwrap();
    let api = s.admin();
    api.create_app("up", "test").await;
    let browser = s.browser().await;
    let payload = noise(3_000_000);
    let archive = tar_gz(&[
        E::File("Dockerfile", DOCKERFILE_SMALL),
        E::File("payload.bin", &payload),
    ]);
    let (status, to) = upload(&s, &browser, "up-test", "app.tgz", &archive).await;
    assert_eq!(status, 303, "{to}");
    let id = to.rsplit('/').next().unwrap().to_owned();
    let (b, lines) = support::build_finished(&api, "up-test", &id, Duration::from_secs(120)).await;
    assert_eq!(b["status"], "succeeded", "{lines:?}");
    assert_eq!(b["source_blob"]["url"], "upload:app.tgz");
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let chunks: Vec<Vec<u8>> = sqlx::query_scalar("select data_enc from upload_chunks order by n")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        chunks.len() >= 3,
        "{} chunks of at most 1 MiB",
        chunks.len()
    );
    let probe = &archive[archive.len() / 2..archive.len() / 2 + 32];
    assert!(
        !chunks.iter().any(|c| c.windows(32).any(|w| w == probe)),
        "the upload is stored sealed"
    );
    let again = api
        .call("PUT", &format!("/apps/up-test/builds/{id}"), None, &[])
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    let again = again.json()["id"].as_str().unwrap().to_owned();
    let (b, _) = support::build_finished(&api, "up-test", &again, Duration::from_secs(120)).await;
    assert_eq!(b["status"], "succeeded", "a rebuild reads the same upload");

    // Over SLIPWAY_MAX_SOURCE_BYTES: 413, no build, nothing kept.
    let builds = api
        .get("/apps/up-test/builds")
        .await
        .json()
        .as_array()
        .unwrap()
        .len();
    let huge = tar_gz(&[
        E::File("Dockerfile", DOCKERFILE_SMALL),
        E::File("big", &noise(6_000_000)),
    ]);
    let (status, _) = upload(&s, &browser, "up-test", "big.tgz", &huge).await;
    assert_eq!(status, 413);
    assert_eq!(
        api.get("/apps/up-test/builds")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        builds
    );
    let stored: i64 = sqlx::query_scalar("select count(*) from uploads")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1, "only the first upload is kept");
}

#[tokio::test]
async fn uploads_of_builds_older_than_the_kept_releases_are_removed() {
    let db = testkit::fresh_url().await;
    let s = Slipway::start(&[
        ("DATABASE_URL", &db),
        ("SLIPWAY_SECRET_KEY", &support::fresh_key()),
        ("SLIPWAY_KEEP_RELEASES", "1"),
    ])
    .unwrap();
    let api = s.admin();
    api.create_app("kept", "test").await;
    let browser = s.browser().await;
    let mut ids = Vec::new();
    for v in 1..=3 {
        let archive = tar_gz(&[
            E::File("Dockerfile", b"FROM slipway-test/web\n"),
            E::File("n", format!("{v} {}", uuid::Uuid::new_v4()).as_bytes()),
        ]);
        let (status, to) = upload(&s, &browser, "kept-test", &format!("v{v}.tgz"), &archive).await;
        assert_eq!(status, 303);
        let id = to.rsplit('/').next().unwrap().to_owned();
        let (b, lines) =
            support::build_finished(&api, "kept-test", &id, Duration::from_secs(120)).await;
        assert_eq!(b["status"], "succeeded", "{lines:?}");
        let r = api
            .post(
                "/apps/kept-test/releases",
                &json!({ "slug": id }).to_string(),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            support::settled(&api, "kept-test", v).await["status"],
            "succeeded"
        );
        ids.push(id);
    }
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    // The worker forgets old images and sources after it marks the release succeeded: waited
    // for, up to 30 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left: i64 = sqlx::query_scalar("select count(*) from uploads")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only the kept release's upload should remain after v3's deploy; {left} remain after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let old = api
        .call(
            "PUT",
            &format!("/apps/kept-test/builds/{}", ids[0]),
            None,
            &[],
        )
        .await;
    assert_eq!(old.status, 409, "{}", old.text);
    assert!(old.text.contains("no longer kept"), "{}", old.text);
    let kept = api
        .call(
            "PUT",
            &format!("/apps/kept-test/builds/{}", ids[2]),
            None,
            &[],
        )
        .await;
    assert_eq!(kept.status, 201, "{}", kept.text);
}

#[tokio::test]
async fn long_lines_are_cut_and_a_log_past_its_limit_is_truncated_while_the_build_goes_on() {
    let s = Slipway::start(&[
        ("DATABASE_URL", &testkit::fresh_url().await),
        ("SLIPWAY_SECRET_KEY", &support::fresh_key()),
        ("SLIPWAY_MAX_LOG_BYTES", "200KB"),
    ])
    .unwrap();
    let api = s.admin();
    api.create_app("chatty", "test").await;
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let dockerfile = format!(
        "FROM slipway-test/busybox\nRUN echo {nonce}; head -c 40000 /dev/zero | tr '\\0' a; echo; echo after the long line\nRUN i=0; while [ $i -lt 4000 ]; do echo \"line $i of a chatty build, padded to be somewhat long\"; i=$((i+1)); done\nRUN echo still building\n"
    );
    let b = build(
        &api,
        "chatty-test",
        json!({ "url": support::dockerfile_source(&dockerfile) }),
    )
    .await;
    let (b, lines) = finished(&api, "chatty-test", &b, Duration::from_secs(180)).await;
    assert_eq!(
        b["status"], "succeeded",
        "the build goes on past the log's limit"
    );
    assert_eq!(lines.last().unwrap(), "Finished: SUCCESS");
    let cut: Vec<&String> = lines
        .iter()
        .filter(|l| l.ends_with(" [line continues]"))
        .collect();
    assert_eq!(cut.len(), 2, "a 40,000-byte line in three pieces");
    assert!(cut
        .iter()
        .all(|l| l.len() == 16 * 1024 + " [line continues]".len()));
    let at = lines
        .iter()
        .position(|l| l.ends_with(" [line continues]"))
        .unwrap();
    assert_eq!(lines[at + 2].len(), 40_000 - 2 * 16 * 1024);
    assert!(lines.contains(&"after the long line".to_owned()));
    let truncated: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("SLIPWAY_MAX_LOG_BYTES"))
        .collect();
    assert_eq!(truncated.len(), 1, "said once");
    assert!(
        !lines.contains(&"still building".to_owned()),
        "nothing kept past the limit"
    );
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    assert!(bytes < 210_000, "{bytes} bytes kept");
    // The raw download streams the same lines.
    let raw = s
        .browser()
        .await
        .get(s.url(&format!(
            "/ui/apps/chatty-test/builds/{}/log.txt",
            b["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        raw,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>()
    );
}
