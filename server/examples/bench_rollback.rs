//! Benchmark of the emergency action (issue 11): the time from `POST …/releases
//! {"release": "vN"}` to the app's address answering with vN's content, for the README's
//! busybox sample on the real container engine, (a) on an idle app and (b) while a build of
//! the same app is running. Prints p50 and max over ROLLBACKS rollbacks each; the goal is
//! 2 s or less in both cases.
//!
//!   scripts/bench-rollback.sh        (ROLLBACKS=10)

use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The README's sample: static busybox serving `$GREETING from $PORT`.
fn sample() -> Vec<u8> {
    use std::io::Write;
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian's busybox-static)");
    let dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"sh\", \"-c\", \"echo \\\"$GREETING from $PORT\\\" > /index.html && exec httpd -f -p $PORT -h /\"]\n";
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data, mode) in [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("busybox", busybox.as_slice(), 0o755),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        tar.append_data(&mut h, name, data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Waits (up to `limit`) for a condition on a GET, saying what it waited for.
    async fn wait(
        &self,
        path: &str,
        what: &str,
        limit: Duration,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.call(reqwest::Method::GET, path, None).await;
            if ok(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "waited {limit:?} for {what}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The version of the app's newest release.
    async fn newest(&self, app: &str) -> i64 {
        let all = self
            .call(reqwest::Method::GET, &format!("/apps/{app}/releases"), None)
            .await;
        all.as_array().unwrap().last().unwrap()["version"]
            .as_i64()
            .unwrap()
    }

    async fn settled(&self, app: &str, version: i64) {
        let r = self
            .wait(
                &format!("/apps/{app}/releases/{version}"),
                &format!("v{version} to deploy"),
                Duration::from_secs(120),
                |r| r["status"] != "queued" && r["status"] != "pending",
            )
            .await;
        assert_eq!(r["status"], "succeeded", "v{version}: {r}");
    }
}

/// Polls the app's address until it answers `want`; answers when it did.
async fn answers(url: &str, want: &str, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        // A new connection each time: the proxy routes new connections to the new container.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        if let Ok(r) = http.get(url).send().await {
            if r.text().await.map(|t| t.trim() == want).unwrap_or(false) {
                return Instant::now();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the address did not answer {want:?} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn summary(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let p50 = times[times.len() / 2];
    let max = *times.last().unwrap();
    println!(
        "{name:<44} p50 {:>6.2}s   max {:>6.2}s   (goal <= 2 s)",
        p50.as_secs_f64(),
        max.as_secs_f64()
    );
}

/// `rollbacks` times: roll back to v2 ("one"), wait for it, then set GREETING=two again
/// (not timed) so the next rollback changes what runs.
async fn rollbacks(c: &Client, app: &str, url: &str, n: u64) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..n {
        let sent = Instant::now();
        let r = c
            .call(
                reqwest::Method::POST,
                &format!("/apps/{app}/releases"),
                Some(json!({"release": "v2"})),
            )
            .await;
        let answered = answers(url, "one from 9000", Duration::from_secs(120)).await;
        times.push(answered - sent);
        c.settled(app, r["version"].as_i64().unwrap()).await;
        let v = c
            .call(
                reqwest::Method::PATCH,
                &format!("/apps/{app}/config-vars"),
                Some(json!({"GREETING": "two"})),
            )
            .await;
        assert_eq!(v["GREETING"], "two");
        answers(url, "two from 9000", Duration::from_secs(120)).await;
        // Settled too, so the next rollback's target is not the current release.
        let newest = c.newest(app).await;
        c.settled(app, newest).await;
    }
    times
}

#[tokio::main]
async fn main() {
    let n = env("ROLLBACKS", 10);
    let bin = std::env::var("SLIPWAY_BIN").expect("SLIPWAY_BIN: the slipway binary");
    let dir = std::env::temp_dir().join(format!("slwbr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The sample, served over HTTP (a loopback source is allowed on a loopback server).
    let archive = sample();
    let files = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let source = format!("http://{}/sample.tgz", files.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/sample.tgz",
        axum::routing::get(move || {
            let a = archive.clone();
            async move { a }
        }),
    );
    tokio::spawn(async move { axum::serve(files, router).await.unwrap() });

    let port = env("PORT", 3997);
    let server = std::process::Command::new(&bin)
        .arg("serve")
        .env("SLIPWAY_DATA_DIR", dir.join("data"))
        .env("SLIPWAY_ADDR", format!("127.0.0.1:{port}"))
        .env("SLIPWAY_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("slipway starts");
    // Stopped whatever happens, a failed wait included.
    let mut server = Stopped(server);
    {
        use std::io::BufRead;
        let out = server.0.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = std::io::BufReader::new(out).read_line(&mut first);
            let _ = tx.send(first);
        });
        let first = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("waited 120s for slipway to say it is listening");
        assert!(first.starts_with("listening on"), "{first}");
    }
    let token = String::from_utf8(
        std::process::Command::new(&bin)
            .args(["token", "create", "--user", "bench"])
            .env("SLIPWAY_DATA_DIR", dir.join("data"))
            .env("SLIPWAY_LOG", "warn")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let c = Client {
        base: format!("http://127.0.0.1:{port}"),
        token,
        http: reqwest::Client::new(),
    };
    let app = "back-bench";
    c.call(
        reqwest::Method::POST,
        "/apps",
        Some(json!({"name": "back", "space": "bench"})),
    )
    .await;
    // v1 GREETING=one; v2 the sample (answers "one"); v3 GREETING=two.
    c.call(
        reqwest::Method::PATCH,
        &format!("/apps/{app}/config-vars"),
        Some(json!({"GREETING": "one"})),
    )
    .await;
    c.settled(app, 1).await;
    let b = c
        .call(
            reqwest::Method::POST,
            &format!("/apps/{app}/builds"),
            Some(json!({ "url": source })),
        )
        .await;
    let id = b["id"].as_str().unwrap().to_owned();
    c.wait(
        &format!("/apps/{app}/builds/{id}"),
        "the sample to build",
        Duration::from_secs(300),
        |b| b["status"] == "succeeded" || b["status"] == "failed",
    )
    .await;
    c.call(
        reqwest::Method::POST,
        &format!("/apps/{app}/releases"),
        Some(json!({"slug": id})),
    )
    .await;
    c.settled(app, 2).await;
    // Pinned: twenty rollbacks and changes later, its image is still kept.
    c.call(
        reqwest::Method::PATCH,
        &format!("/apps/{app}/releases/v2"),
        Some(json!({"pinned": true})),
    )
    .await;
    let url = c
        .call(reqwest::Method::GET, &format!("/apps/{app}"), None)
        .await["web_url"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call(
        reqwest::Method::PATCH,
        &format!("/apps/{app}/config-vars"),
        Some(json!({"GREETING": "two"})),
    )
    .await;
    answers(&url, "two from 9000", Duration::from_secs(120)).await;
    c.settled(app, 3).await;

    summary(
        "(a) rollback on an idle app",
        rollbacks(&c, app, &url, n).await,
    );

    // (b) A build of the same app runs (it sleeps) while the rollbacks happen.
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let dockerfile = format!("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo {nonce}; /bin/busybox sleep 3600\"]\n");
    let long = {
        use std::io::Write;
        let busybox = std::fs::read("/bin/busybox").unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data, mode) in [
            ("Dockerfile", dockerfile.as_bytes(), 0o644),
            ("busybox", busybox.as_slice(), 0o755),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            tar.append_data(&mut h, name, data).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    };
    let files = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let long_url = format!("http://{}/long.tgz", files.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/long.tgz",
        axum::routing::get(move || {
            let a = long.clone();
            async move { a }
        }),
    );
    tokio::spawn(async move { axum::serve(files, router).await.unwrap() });
    let b = c
        .call(
            reqwest::Method::POST,
            &format!("/apps/{app}/builds"),
            Some(json!({ "url": long_url })),
        )
        .await;
    let building = b["id"].as_str().unwrap().to_owned();
    c.wait(
        &format!("/apps/{app}/builds/{building}/result"),
        "the long build to run",
        Duration::from_secs(300),
        |r| {
            r["lines"]
                .as_array()
                .is_some_and(|l| l.iter().any(|l| l.as_str() == Some(nonce.as_str())))
        },
    )
    .await;
    let during = rollbacks(&c, app, &url, n).await;
    let still = c
        .call(
            reqwest::Method::GET,
            &format!("/apps/{app}/builds/{building}"),
            None,
        )
        .await;
    assert_eq!(still["status"], "pending", "the build ran throughout");
    summary("(b) rollback while a build of the app runs", during);
    c.call(
        reqwest::Method::DELETE,
        &format!("/apps/{app}/builds/{building}"),
        None,
    )
    .await;
    c.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None)
        .await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The server, stopped (SIGTERM, then waited for) when dropped.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}
