//! Benchmark of the live build log (issue 4): a build whose output is LINES timestamped lines,
//! watched by VIEWERS websocket clients of a real `slipway serve` (release build, embedded
//! PostgreSQL). Prints lines stored per second, the latency from a line's timestamp to a
//! viewer receiving it (p50, p99, max), and the server's memory.
//!
//! The container engine is a stand-in that speaks the Docker Engine API on a unix socket and
//! replays a build's output (`{"stream": "<ns timestamp> line N\n"}` objects) as fast as Slipway
//! takes it, or at RATE lines per second: so the figures measure Slipway, not a real engine.
//!
//!   scripts/bench-logs.sh        (LINES=100000 VIEWERS=100 RATE=0, i.e. unthrottled)

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A websocket frame, read without copying the lines' text.
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(borrow, default)]
    lines: Vec<Line<'a>>,
    #[serde(borrow)]
    status: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct Line<'a> {
    seq: i64,
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The stand-in engine: `_ping`, and `build` replaying `lines` lines.
async fn engine(req: Request, lines: u64, rate: u64) -> Response {
    let path = req.uri().path().to_owned();
    if path.ends_with("/_ping") {
        return Response::new(Body::from("OK"));
    }
    if path.ends_with("/containers/json") || path.ends_with("/images/json") {
        return Response::new(Body::from("[]"));
    }
    if !path.ends_with("/build") {
        return Response::builder()
            .status(404)
            .body(Body::from(r#"{"message":"not in the stand-in engine"}"#))
            .unwrap();
    }
    // Take the context, as the engine would, before answering.
    let _ = axum::body::to_bytes(req.into_body(), usize::MAX).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(async move {
        let chunk = if rate == 0 { 500 } else { (rate / 100).max(1) };
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut i = 0;
        while i < lines {
            if rate > 0 {
                tick.tick().await;
            }
            let mut out = Vec::with_capacity(chunk as usize * 48);
            let ts = now_ns();
            for _ in 0..chunk.min(lines - i) {
                i += 1;
                out.extend_from_slice(format!("{{\"stream\":\"{ts} line {i}\\n\"}}\n").as_bytes());
            }
            if tx.send(Ok(out)).await.is_err() {
                return;
            }
        }
        let _ = tx
            .send(Ok(
                b"{\"stream\":\"Successfully built 0123456789ab\\n\"}\n".to_vec()
            ))
            .await;
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(tokio_stream_from(rx)))
        .unwrap()
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The resident and peak memory of a process, in MiB (from /proc).
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds (user + system) a process has used.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of the PostgreSQL processes serving `data_dir`'s cluster.
fn postgres_cpu(data_dir: &std::path::Path) -> f64 {
    let needle = data_dir.to_string_lossy().into_owned();
    let mut total = 0.0;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let postmasters: Vec<String> = procs
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c).contains(&needle)
                        && String::from_utf8_lossy(&c).contains("postgres")
                })
                .unwrap_or(false)
        })
        .collect();
    for pm in &postmasters {
        total += cpu_secs(pm);
        // Its backends.
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{pm}/task/{pm}/children")) {
            for c in children.split_whitespace() {
                total += cpu_secs(c);
            }
        }
    }
    total
}

#[tokio::main]
async fn main() {
    let lines = env("LINES", 100_000);
    let viewers = env("VIEWERS", 100) as usize;
    let rate = env("RATE", 0);
    let bin = std::env::var("SLIPWAY_BIN").expect("SLIPWAY_BIN: the slipway binary");
    let dir = std::env::temp_dir().join(format!("slwbl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("engine.sock");

    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let app = axum::Router::new().fallback(move |req: Request| engine(req, lines, rate));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let port = env("PORT", 3998);
    let mut server = std::process::Command::new(&bin)
        .arg("serve")
        .env("SLIPWAY_DATA_DIR", dir.join("data"))
        .env("SLIPWAY_ADDR", format!("127.0.0.1:{port}"))
        .env("SLIPWAY_LOG", "warn")
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("slipway starts");
    let pid = server.id();
    {
        use std::io::BufRead;
        let mut first = String::new();
        std::io::BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with("listening on"), "{first}");
    }
    let base = format!("http://127.0.0.1:{port}");
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
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = call(
        reqwest::Method::POST,
        "/apps",
        serde_json::json!({"name": "logs", "space": "bench"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let (mem_before, _) = memory(pid);
    let cpu_before = (
        cpu_secs(&pid.to_string()),
        postgres_cpu(&dir),
        cpu_secs("self"),
    );

    // A tiny source: the stand-in engine ignores the Dockerfile.
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let df = b"FROM scratch\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(df.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "Dockerfile", &df[..]).unwrap();
    let gz = tar.into_inner().unwrap().finish().unwrap();
    use base64::Engine as _;
    let url = format!(
        "data:application/gzip;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(gz)
    );
    let build: serde_json::Value = call(
        reqwest::Method::POST,
        "/apps/logs-bench/builds",
        serde_json::json!({ "url": url }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = build["id"].as_str().unwrap().to_owned();

    // The viewers, connected from the start.
    let started = Instant::now();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                let (rss, _) = memory(pid);
                peak.fetch_max(rss as u64, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..viewers {
        let mut req = format!("ws://127.0.0.1:{port}/apps/logs-bench/builds/{id}/stream")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
            let mut latencies: Vec<u32> = Vec::with_capacity(lines as usize);
            let mut next = 1i64;
            let mut first_line_at = None;
            // Every frame within a minute of the one before, or the benchmark says what it missed.
            let quiet = std::time::Duration::from_secs(60);
            while let Some(msg) =
                tokio::time::timeout(quiet, ws.next())
                    .await
                    .unwrap_or_else(|_| {
                        panic!("waited 60s for the next frame of the build log (line {next} next)")
                    })
            {
                let Ok(Message::Text(t)) = msg else { continue };
                let now = now_ns();
                let frame: Frame<'_> = serde_json::from_str(&t).unwrap();
                if frame.status.is_some() {
                    let _ = ws.close(None).await;
                    break;
                }
                for l in &frame.lines {
                    assert_eq!(l.seq, next, "every line once, in order");
                    next += 1;
                    let text: &str = &l.text;
                    if let Some((ts, rest)) = text.split_once(' ') {
                        if rest.starts_with("line ") {
                            if let Ok(ts) = ts.parse::<u64>() {
                                first_line_at.get_or_insert_with(Instant::now);
                                latencies.push((now.saturating_sub(ts) / 1000) as u32);
                            }
                        }
                    }
                }
            }
            (latencies, first_line_at, Instant::now())
        }));
    }
    let mut all: Vec<u32> = Vec::with_capacity(lines as usize * viewers);
    let mut first = None::<Instant>;
    let mut last = started;
    for t in tasks {
        let (lat, f, done) = t.await.unwrap();
        assert_eq!(lat.len() as u64, lines, "a viewer got every line");
        all.extend(lat);
        if let Some(f) = f {
            first = Some(first.map_or(f, |x: Instant| x.min(f)));
        }
        last = last.max(done);
    }
    sampler.abort();
    let (_, hwm) = memory(pid);
    let cpu = (
        cpu_secs(&pid.to_string()) - cpu_before.0,
        postgres_cpu(&dir) - cpu_before.1,
        cpu_secs("self") - cpu_before.2,
    );
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    let secs = (last - first.unwrap_or(started)).as_secs_f64();
    // Stored: from the build's creation to its last line (written with its final status).
    let b: serde_json::Value = call(
        reqwest::Method::GET,
        &format!("/apps/logs-bench/builds/{id}"),
        serde_json::Value::Null,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let at = |k: &str| chrono::DateTime::parse_from_rfc3339(b[k].as_str().unwrap()).unwrap();
    let build_secs = (at("updated_at") - at("created_at")).num_milliseconds() as f64 / 1000.0;
    println!(
        "lines {lines}, viewers {viewers}, engine rate {}",
        if rate == 0 {
            "unthrottled".to_owned()
        } else {
            format!("{rate}/s")
        }
    );
    println!(
        "stored: {:.0} lines/s (the build took {build_secs:.2} s from its creation to its last line)",
        lines as f64 / build_secs
    );
    println!("delivered to every viewer: {:.0} lines/s ({secs:.2} s from the first line to the last viewer's end)", lines as f64 / secs);
    println!(
        "latency, line timestamp to viewer: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "server memory: {mem_before:.0} MiB before the build, {} MiB peak while streaming (VmHWM {hwm:.0} MiB)",
        peak.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "CPU seconds during the build: slipway {:.1}, PostgreSQL {:.1}, this process (stand-in engine and the viewers) {:.1}",
        cpu.0, cpu.1, cpu.2
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
