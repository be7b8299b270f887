//! The GitHub stand-in as a process, for the end-to-end tests:
//!
//! `github-stand-in [--port N] [--codeload-port N] [--config setup.json]`
//!
//! Prints one line, `{"web_url": …, "api_url": …, "codeload_url": …}`, once listening, then
//! serves until SIGTERM, SIGINT, or (when stdin is a pipe) stdin closing. The optional setup
//! file has the shape of `testkit::github::Setup`; tests can also configure it and look at what
//! it saw through `/_stand-in/` (see `testkit::github`).

use anyhow::Context;
use testkit::github::{Setup, StandIn};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (mut port, mut codeload_port, mut config) = (0, 0, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => port = value()?.parse()?,
            "--codeload-port" => codeload_port = value()?.parse()?,
            "--config" => config = Some(value()?),
            _ => anyhow::bail!("unknown argument {arg}"),
        }
    }
    let gh = StandIn::start_on(port, codeload_port)
        .await
        .context("cannot listen")?;
    if let Some(path) = config {
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let setup: Setup =
            serde_json::from_str(&text).with_context(|| format!("bad setup in {path}"))?;
        gh.apply(setup);
    }
    let urls = serde_json::json!({
        "web_url": gh.web_url(),
        "api_url": gh.api_url(),
        "codeload_url": gh.codeload_url(),
    });
    println!("{urls}");
    until_stopped().await
}

async fn until_stopped() -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    // Only a pipe on stdin means "stop when I go": /dev/null or a terminal would end it at once.
    let piped = std::fs::metadata("/dev/stdin").is_ok_and(|m| m.file_type().is_fifo());
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    if piped {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            let _ = closed_tx.send(());
        });
    }
    let stdin_closed = async {
        if piped {
            let _ = closed_rx.await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        () = stdin_closed => {}
    }
    Ok(())
}
