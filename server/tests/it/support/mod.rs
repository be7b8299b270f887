//! Starts the real `slipway` binary for tests and talks to it over HTTP.

pub mod github;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_slipway");

/// A running `slipway` process; SIGTERM and wait on drop.
pub struct Slipway {
    pub child: Child,
    pub base: String,
    pub env: Vec<(String, String)>,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Slipway {
    fn drop(&mut self) {
        let exited = self.child.try_wait().ok().flatten();
        self.terminate();
        if std::thread::panicking() {
            // The test failed: what the server said is the first thing to read.
            let logs = self.logs();
            let lines: Vec<&str> = logs.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
            eprintln!(
                "--- slipway at {} ({}), its last {} log lines:\n{}\n---",
                self.base,
                match exited {
                    Some(status) => format!("had exited: {status}"),
                    None => "was running".to_owned(),
                },
                tail.len(),
                tail.join("\n")
            );
        }
    }
}

/// The ports for app addresses of one installation (a database, shared by the processes the
/// test starts on it): its own, so tests in parallel never take each other's addresses, and
/// below the kernel's ephemeral range (32768-60999), where neither outgoing connections nor
/// the engine's published ports land, so a restarted server finds its app's port free.
pub fn app_ports(installation: &str) -> (u16, u16) {
    const FIRST: u16 = 20_000;
    const EACH: u16 = 16;
    static TAKEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN.lock().unwrap();
    let slot = match taken.iter().position(|i| i == installation) {
        Some(slot) => slot,
        None => {
            taken.push(installation.to_owned());
            taken.len() - 1
        }
    };
    let lo = u32::from(FIRST) + u32::from(EACH) * slot as u32;
    assert!(
        lo + u32::from(EACH) <= 32_768,
        "the tests ran out of app port ranges"
    );
    (lo as u16, (lo as u16) + EACH - 1)
}

/// How many of a server's last log lines a failed test prints.
const LOG_TAIL: usize = 80;

impl Slipway {
    /// Starts `slipway serve` with `env` (plus `SLIPWAY_ADDR=127.0.0.1:0`) and waits for its
    /// `listening on` line.
    pub fn start(env: &[(&str, &str)]) -> Result<Slipway, String> {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env("SLIPWAY_ADDR", "127.0.0.1:0")
            .env("SLIPWAY_LOG", "info");
        // Only what the test gives: nothing from the environment the tests run in.
        for (k, _) in std::env::vars() {
            if k.starts_with("SLIPWAY_") || k == "DATABASE_URL" {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // Each embedded-mode server would start an add-ons' cluster on one port: only the
        // tests that ask for it get one.
        if !env.iter().any(|(k, _)| k == "SLIPWAY_ADDON_POSTGRES_PORT") {
            cmd.env("SLIPWAY_ADDON_POSTGRES_PORT", "0");
        }
        if !env.iter().any(|(k, _)| k == "SLIPWAY_APP_PORTS") {
            let installation = env
                .iter()
                .find(|(k, _)| k == "DATABASE_URL")
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), |(_, v)| v.clone());
            let (lo, hi) = app_ports(&installation);
            cmd.env("SLIPWAY_APP_PORTS", format!("{lo}-{hi}"));
            env.push(("SLIPWAY_APP_PORTS".into(), format!("{lo}-{hi}")));
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = {
            let err = child.stderr.take().unwrap();
            let sink = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut s = sink.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            })
        };
        let out = child.stdout.take().unwrap();
        let mut first = String::new();
        BufReader::new(out)
            .read_line(&mut first)
            .map_err(|e| e.to_string())?;
        let Some(base) = first
            .trim()
            .strip_prefix("listening on ")
            .map(str::to_owned)
        else {
            let _ = child.wait();
            let _ = reader.join();
            return Err(stderr.lock().unwrap().clone());
        };
        Ok(Slipway {
            child,
            base,
            env,
            stderr,
        })
    }

    /// Starts one on a fresh database in the test cluster.
    pub async fn on_fresh_database() -> Slipway {
        let url = testkit::fresh_url().await;
        let key = fresh_key();
        Slipway::start(&[("DATABASE_URL", &url), ("SLIPWAY_SECRET_KEY", &key)])
            .expect("slipway starts")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `slipway token create --user <login>` with this server's settings.
    pub fn token(&self, login: &str) -> String {
        let mut cmd = Command::new(BIN);
        cmd.args(["token", "create", "--user", login]);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run slipway token create");
        assert!(
            out.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// An HTTP client acting with a new admin token.
    pub fn admin(&self) -> Api {
        Api {
            base: self.base.clone(),
            token: Some(self.token("ops")),
            http: client(),
        }
    }

    /// An HTTP client acting as an admin who signed in with GitHub once (made in the database
    /// at `db`), for servers with GitHub sign-in configured.
    pub async fn github_admin(&self, db: &str, login: &str) -> Api {
        let pool = sqlx::PgPool::connect(db).await.unwrap();
        sqlx::query(
            "insert into users (id, provider, provider_id, login, role)
             values (gen_random_uuid(), 'github', $1, $2, 'admin')",
        )
        .bind(format!("{}", 90_000 + login.len()))
        .bind(login)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        Api {
            base: self.base.clone(),
            token: Some(self.token(login)),
            http: client(),
        }
    }

    pub fn anonymous(&self) -> Api {
        Api {
            base: self.base.clone(),
            token: None,
            http: client(),
        }
    }

    /// A browser's client, signed in as the local admin (cookie jar, this server's Origin).
    pub async fn browser(&self) -> reqwest::Client {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http
            .post(self.url("/auth/local"))
            .header("Origin", &self.base)
            .form(&[("next", "/ui/apps")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "local sign-in");
        http
    }

    /// Calls a server function with `http`'s session, from this server's origin.
    pub async fn server_fn(
        &self,
        http: &reqwest::Client,
        name: &str,
        form: &[(&str, &str)],
    ) -> (u16, String) {
        let r = http
            .post(self.url(&format!("/api/{name}")))
            .header("Origin", &self.base)
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub fn terminate(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), libc::SIGTERM);
            let _ = self.child.wait();
        }
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a pid we started.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

pub fn fresh_key() -> String {
    slipway_core::crypto::SecretKey::generate().to_base64()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A small typed client for the API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    pub http: reqwest::Client,
}

/// An answer: status, headers and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

impl Api {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req = req.header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b.to_owned());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Answer {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Answer {
        self.call("POST", path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: &str) -> Answer {
        self.call("PATCH", path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call("DELETE", path, None, &[]).await
    }

    /// Creates `name-space` and returns its JSON.
    pub async fn create_app(&self, name: &str, space: &str) -> serde_json::Value {
        let a = self
            .post(
                "/apps",
                &format!(r#"{{"name":"{name}","space":"{space}"}}"#),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        a.json()
    }

    /// How many releases `app` has.
    pub async fn release_count(&self, app: &str) -> usize {
        let releases = self.get(&format!("/apps/{app}/releases")).await.json();
        releases.as_array().unwrap().len()
    }

    /// How many apps the API lists.
    pub async fn app_count(&self) -> usize {
        self.get("/apps").await.json().as_array().unwrap().len()
    }

    /// Waits until every release of `app` has finished deploying (or was skipped for a newer).
    pub async fn settled(&self, app: &str) -> Vec<serde_json::Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let list = self.get(&format!("/apps/{app}/releases")).await.json();
            let list = list.as_array().unwrap().clone();
            if list.iter().all(|r| {
                r["status"] == "succeeded" || r["status"] == "failed" || r["status"] == "skipped"
            }) {
                return list;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "releases did not settle: {:?}",
                list.iter()
                    .map(|r| format!("v{} {}", r["version"], r["status"]))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Waits up to `limit` for a build to finish; answers the build and its log lines.
pub async fn build_finished(
    api: &Api,
    app: &str,
    id: &str,
    limit: Duration,
) -> (serde_json::Value, Vec<String>) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let b = api.get(&format!("/apps/{app}/builds/{id}")).await.json();
        if b["status"] == "succeeded" || b["status"] == "failed" {
            let result = api
                .get(&format!("/apps/{app}/builds/{id}/result"))
                .await
                .json();
            let lines = result["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_owned())
                .collect();
            return (b, lines);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "build did not finish: {b}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for release `version` of `app` to exist and succeed or fail; answers it.
pub async fn settled(api: &Api, app: &str, version: i64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let a = api.get(&format!("/apps/{app}/releases/{version}")).await;
        // Not there yet (an auto-release waits for its build): 404.
        let r = if a.status == 404 {
            serde_json::Value::Null
        } else {
            a.json()
        };
        if r["status"] == "succeeded" || r["status"] == "failed" || r["status"] == "skipped" {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "release did not settle: {r}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `data:` URI of a tar.gz holding just a `Dockerfile`.
pub fn dockerfile_source(dockerfile: &str) -> String {
    use base64::Engine as _;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(dockerfile.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "Dockerfile", dockerfile.as_bytes())
        .unwrap();
    let gz = tar.into_inner().unwrap().finish().unwrap();
    format!(
        "data:application/gzip;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(gz)
    )
}

/// Builds `tag` on the engine at DOCKER_HOST with the docker CLI, from `dockerfile` and the
/// host files `copy` (each under its file name).
pub fn docker_build(tag: &str, dockerfile: &str, copy: &[&str]) {
    let dir = std::env::temp_dir().join(format!(
        "slipway-img-{}-{}",
        std::process::id(),
        tag.replace(['/', ':'], "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for file in copy {
        let name = std::path::Path::new(file).file_name().unwrap();
        std::fs::copy(file, dir.join(name)).unwrap();
    }
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let out = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(&dir)
        .output()
        .expect("the docker CLI runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "building {tag} failed (is DOCKER_HOST an engine?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two `slipway` processes on one fresh database: the first runs the worker, the second only
/// serves.
pub async fn worker_and_web() -> (Slipway, Slipway) {
    let db = testkit::fresh_url().await;
    let key = fresh_key();
    let worker = Slipway::start(&[("DATABASE_URL", &db), ("SLIPWAY_SECRET_KEY", &key)]).unwrap();
    let web = Slipway::start(&[
        ("DATABASE_URL", &db),
        ("SLIPWAY_SECRET_KEY", &key),
        ("SLIPWAY_NO_WORKER", "true"),
    ])
    .unwrap();
    (worker, web)
}

/// The body of a GET of `url` by `client` (a signed-in browser, say).
pub async fn page(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The environment an app built on `slipway-test/web` reports at its address.
pub async fn env_at(url: &str) -> String {
    let r = client()
        .get(format!("{url}/env.txt"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the app answers at {url}: {e:?}"));
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// Whether `env` (lines of `KEY=value`) has exactly `line`.
pub fn has(env: &str, line: &str) -> bool {
    env.lines().any(|l| l == line)
}

/// A gate the test opens: a build step or an app's container waits on it over HTTP (from the
/// container, at its network's gateway), so a test holds a build or a deploy open for exactly
/// as long as it needs, whatever the machine's speed.
pub struct Gate {
    pub port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gate {
    /// A closed gate on a free port of every address (containers reach it through their
    /// gateway).
    pub async fn new() -> Gate {
        let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = open.clone();
        let task = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                let open = flag.load(std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf).await;
                    let answer: &[u8] = if open {
                        b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nopen"
                    } else {
                        b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 6\r\n\r\nclosed"
                    };
                    let _ = s.write_all(answer).await;
                });
            }
        });
        Gate { port, open, task }
    }

    pub fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Shell that waits until the gate opens (five minutes at most), printing `waiting at the
    /// gate` about every second meanwhile (for a Dockerfile's RUN or a container's command).
    /// Nothing goes to stderr: the engine would colour it, and the lines would change.
    pub fn wait_shell(&self) -> String {
        format!(
            "gw=$(ip route | awk '/^default/ {{print $3}}'); n=0; until wget -q -O /dev/null \"http://$gw:{}/\" 2>/dev/null || [ $n -gt 1500 ]; do n=$((n+1)); [ $((n % 5)) -eq 1 ] && echo \"waiting at the gate\"; sleep 0.2; done; echo \"through the gate\"",
            self.port
        )
    }
}

/// Builds (once per tag) an image of `slipway-test/web` whose container waits on `gate`
/// before it serves: a deploy stays inside its health check until the test opens the gate.
pub fn gated_web_image(tag: &str, gate: &Gate) {
    docker_build(
        tag,
        &format!(
            "FROM slipway-test/web\nCMD [\"sh\", \"-c\", {}]\n",
            serde_json::to_string(&format!(
                "{}; mkdir -p /www && env > /www/env.txt && echo ok > /www/index.html && exec httpd -f -p \"$PORT\" -h /www",
                gate.wait_shell()
            ))
            .unwrap()
        ),
        &[],
    );
}

/// The ids of containers on the engine with `label` (`key=value`), running or not.
pub fn containers_with(label: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter"])
        .arg(format!("label={label}"))
        .output()
        .expect("the docker CLI runs");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits up to `limit` for `what` to hold, checking every 100 ms; panics naming `waiting_for`.
pub async fn eventually<F, Fut>(limit: Duration, waiting_for: &str, mut what: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while !what().await {
        assert!(
            std::time::Instant::now() < deadline,
            "waited {limit:?} for {waiting_for}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
