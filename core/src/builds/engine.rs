//! The image builder port and its Docker Engine API adapter (bollard). Podman serves the same
//! API, so the adapter works with it too.

use std::collections::HashMap;
use std::path::PathBuf;

use futures::StreamExt;
use tokio::sync::mpsc;

/// What to build: a context tar on disk, the tag, and build args.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub context: PathBuf,
    pub tag: String,
    pub args: Vec<(String, String)>,
    /// Labels the image gets (the installation that built it).
    pub labels: Vec<(String, String)>,
}

/// The port to whatever builds images.
#[async_trait::async_trait]
pub trait ImageBuilder: Send + Sync {
    /// Where the engine is, for messages.
    fn address(&self) -> String;
    /// Whether the engine has `image` (never pulled).
    async fn has_image(&self, image: &str) -> anyhow::Result<bool>;
    /// Builds `spec`, sending the engine's output as it comes (raw chunks; the caller splits
    /// lines). An error is a failed build; its text is shown in the log.
    async fn build(&self, spec: BuildSpec, out: mpsc::Sender<String>) -> anyhow::Result<()>;
}

/// The Docker Engine API at `DOCKER_HOST` or the default socket.
pub struct Docker {
    client: Option<bollard::Docker>,
    address: String,
}

impl Docker {
    /// Connects lazily: an engine that is not there makes builds fail, nothing else.
    pub fn from_env() -> Self {
        let address = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
        let client = bollard::Docker::connect_with_defaults().ok();
        Self { client, address }
    }

    fn client(&self) -> anyhow::Result<&bollard::Docker> {
        self.client.as_ref().ok_or_else(|| self.unreachable())
    }

    fn unreachable(&self) -> anyhow::Error {
        crate::Error::Refused(format!("no container engine reachable at {}", self.address)).into()
    }
}

#[async_trait::async_trait]
impl ImageBuilder for Docker {
    fn address(&self) -> String {
        self.address.clone()
    }

    async fn has_image(&self, image: &str) -> anyhow::Result<bool> {
        let c = self.client()?;
        match c.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) if is_connect_error(&e) => Err(self.unreachable()),
            Err(e) => Err(e.into()),
        }
    }

    async fn build(&self, spec: BuildSpec, out: mpsc::Sender<String>) -> anyhow::Result<()> {
        let c = self.client()?;
        if c.ping().await.is_err() {
            return Err(self.unreachable());
        }
        let args: HashMap<String, String> = spec.args.into_iter().collect();
        let labels: HashMap<String, String> = spec.labels.into_iter().collect();
        let options = bollard::query_parameters::BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(&spec.tag)
            .rm(true)
            .forcerm(true)
            .pull("false")
            .buildargs(&args)
            .labels(&labels)
            .build();
        let file = tokio::fs::File::open(&spec.context).await?;
        let body = tokio_util::io::ReaderStream::new(file);
        let mut stream = c.build_image(options, None, Some(bollard::body_try_stream(body)));
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error_detail.and_then(|d| d.message) {
                        anyhow::bail!(crate::Error::Refused(err.trim_end().to_owned()));
                    }
                    if let Some(text) = info.stream {
                        let _ = out.send(text).await;
                    }
                    if let Some(status) = info.status {
                        let _ = out.send(format!("{status}\n")).await;
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    anyhow::bail!(crate::Error::Refused(error.trim_end().to_owned()))
                }
                Err(e) if is_connect_error(&e) => return Err(self.unreachable()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

fn is_connect_error(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error::*;
    matches!(
        e,
        HyperResponseError { .. } | IOError { .. } | SocketNotFoundError(_)
    )
}
