//! Open Service Brokers (OSB API v2.17) as add-on providers: the catalog becomes services and
//! plans; provision, bind, unbind and deprovision follow the spec, including asynchronous
//! provisioning (polled through `last_operation` by a job) and orphan mitigation.
//!
//! Each add-on is one service instance, its id the add-on's, with one binding of the same id
//! whose credentials become the add-on's vars. Brokers are reached with HTTP basic auth; the
//! credentials never appear in a URL this module prints or logs.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{stable_id, Plan, Progress, Provider, Provisioning, Service};
use crate::{Error, Result};

/// The version of the spec spoken.
pub const API_VERSION: &str = "2.17";
/// The most of a broker's answer read.
const MAX_BODY: usize = 1 << 20;

/// One broker: `name=https://user:password@host/path` (`SLIPWAY_ADDON_BROKERS`).
pub struct Broker {
    name: String,
    /// Without credentials.
    base: url::Url,
    user: String,
    password: String,
    http: reqwest::Client,
    timeout: Duration,
    catalog: RwLock<Catalog>,
}

#[derive(Default, Clone)]
struct Catalog {
    services: Vec<Service>,
    /// Our plan id → the broker's service and plan ids.
    ids: Vec<(Uuid, String, String)>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// What a broker's answer said.
struct Answer {
    status: u16,
    body: Value,
}

impl Broker {
    /// Parses `name=url`; the URL carries the basic-auth credentials. `timeout` bounds an
    /// asynchronous provision.
    pub fn parse(spec: &str, timeout: Duration) -> std::result::Result<Self, String> {
        let (name, url) = spec.split_once('=').ok_or_else(|| {
            "a broker is given as name=https://user:password@host/path".to_owned()
        })?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "the broker name \"{name}\" must be letters, digits, - or _"
            ));
        }
        let mut base = url::Url::parse(url.trim())
            .map_err(|_| format!("the broker {name}'s URL is not a URL"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("the broker {name}'s URL must be http or https"));
        }
        let user = percent_decode(base.username());
        let password = base.password().map(percent_decode).unwrap_or_default();
        let _ = base.set_username("");
        let _ = base.set_password(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            name: name.to_owned(),
            base,
            user,
            password,
            http,
            timeout,
            catalog: RwLock::default(),
        })
    }

    pub fn broker_name(&self) -> &str {
        &self.name
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.base
            .join(path)
            .map_err(|e| Error::Internal(anyhow::anyhow!("a broker URL: {e}")))
    }

    /// One request; the answer's status and JSON body (at most 1 MB; `{}` when empty or not
    /// JSON).
    async fn call(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<Value>,
    ) -> Result<Answer> {
        let mut req = self
            .http
            .request(method, url)
            .basic_auth(&self.user, Some(&self.password))
            .header("X-Broker-API-Version", API_VERSION)
            .header("X-Broker-API-Request-Identity", Uuid::new_v4().to_string())
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let mut resp = req.send().await.map_err(|e| {
            // reqwest's text names the URL, which has no credentials (they travel as a header).
            Error::Upstream(format!(
                "The broker {} cannot be reached: {}.",
                self.name,
                e.without_url()
            ))
        })?;
        let status = resp.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            Error::Upstream(format!(
                "The broker {}'s answer broke off: {}.",
                self.name,
                e.without_url()
            ))
        })? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(Error::Upstream(format!(
                    "The broker {} answered with more than 1 MB.",
                    self.name
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
        Ok(Answer { status, body })
    }

    /// What a broker's error answer says: its `description`, else its `error`, else the status.
    fn says(&self, a: &Answer) -> String {
        let text = a.body["description"]
            .as_str()
            .or_else(|| a.body["error"].as_str())
            .map(|s| s.chars().take(500).collect::<String>());
        match text {
            Some(t) if !t.trim().is_empty() => format!("The broker {} said: {t}", self.name),
            _ => format!("The broker {} answered {}.", self.name, a.status),
        }
    }

    /// Reads the broker's catalog again.
    pub async fn refresh(&self) -> Result<()> {
        let a = self
            .call(reqwest::Method::GET, self.url("v2/catalog")?, None)
            .await?;
        if a.status != 200 {
            return Err(Error::Upstream(self.says(&a)));
        }
        let catalog = self.read_catalog(&a.body)?;
        *self
            .catalog
            .write()
            .expect("the catalog lock is never poisoned") = catalog;
        Ok(())
    }

    fn read_catalog(&self, body: &Value) -> Result<Catalog> {
        let bad = |what: &str| {
            Error::Upstream(format!(
                "The broker {}'s catalog is not valid: {what}.",
                self.name
            ))
        };
        let mut out = Catalog::default();
        for s in body["services"]
            .as_array()
            .ok_or_else(|| bad("no services"))?
        {
            let (Some(sid), Some(sname)) = (s["id"].as_str(), s["name"].as_str()) else {
                return Err(bad("a service without its id or name"));
            };
            if !s["bindable"].as_bool().unwrap_or(false) {
                continue; // without a binding there are no credentials to give an app
            }
            let mut plans = Vec::new();
            for p in s["plans"]
                .as_array()
                .ok_or_else(|| bad("a service without plans"))?
            {
                let (Some(pid), Some(pname)) = (p["id"].as_str(), p["name"].as_str()) else {
                    return Err(bad("a plan without its id or name"));
                };
                if p["bindable"].as_bool() == Some(false) {
                    continue;
                }
                // Ours, derived from the broker's: another provider may use the same ids
                // (a Slipway's broker offers its built-in add-on's).
                let id = stable_id(&format!("{}:{pid}", self.name));
                out.ids.push((id, sid.to_owned(), pid.to_owned()));
                plans.push(Plan {
                    id,
                    name: format!("{sname}:{pname}"),
                    key: pname.to_owned(),
                    human_name: p["metadata"]["displayName"]
                        .as_str()
                        .unwrap_or(pname)
                        .to_owned(),
                    description: p["description"].as_str().unwrap_or("").to_owned(),
                    attributes: BTreeMap::new(),
                });
            }
            out.services.push(Service {
                id: stable_id(&format!("{}:{sid}", self.name)),
                name: sname.to_owned(),
                human_name: s["metadata"]["displayName"]
                    .as_str()
                    .unwrap_or(sname)
                    .to_owned(),
                description: s["description"].as_str().unwrap_or("").to_owned(),
                provider: self.name.clone(),
                plans,
            });
        }
        Ok(out)
    }

    /// The broker's service and plan ids of our plan.
    fn ids(&self, plan: &Plan) -> Result<(String, String)> {
        self.catalog
            .read()
            .expect("the catalog lock is never poisoned")
            .ids
            .iter()
            .find(|(id, _, _)| *id == plan.id)
            .map(|(_, s, p)| (s.clone(), p.clone()))
            .ok_or_else(|| {
                Error::Upstream(format!(
                    "The broker {} no longer offers {}.",
                    self.name, plan.name
                ))
            })
    }

    fn query(&self, mut url: url::Url, pairs: &[(&str, &str)]) -> url::Url {
        url.query_pairs_mut().extend_pairs(pairs);
        url
    }

    /// Binds the instance (one binding, of the add-on's id) and answers its credentials as
    /// vars.
    async fn bind(&self, addon: Uuid, plan: &Plan) -> Result<BTreeMap<String, String>> {
        let (service_id, plan_id) = self.ids(plan)?;
        let url = self.url(&format!(
            "v2/service_instances/{addon}/service_bindings/{addon}"
        ))?;
        let a = self
            .call(
                reqwest::Method::PUT,
                url,
                Some(json!({
                    "service_id": service_id,
                    "plan_id": plan_id,
                    "bind_resource": {"app_guid": addon.to_string()},
                    "context": {"platform": "slipway"},
                })),
            )
            .await?;
        match a.status {
            200 | 201 => Ok(vars_of(&self.name, &a.body["credentials"])),
            _ => Err(Error::Upstream(self.says(&a))),
        }
    }

    async fn last_operation(
        &self,
        path: &str,
        plan: &Plan,
        operation: Option<&str>,
    ) -> Result<Answer> {
        let (service_id, plan_id) = self.ids(plan)?;
        let mut pairs = vec![
            ("service_id", service_id.as_str()),
            ("plan_id", plan_id.as_str()),
        ];
        if let Some(op) = operation {
            pairs.push(("operation", op));
        }
        let url = self.query(self.url(path)?, &pairs);
        self.call(reqwest::Method::GET, url, None).await
    }
}

/// Credentials as vars: values as text, names made valid config keys (`database-url` →
/// `database_url`); reserved names are left out.
fn vars_of(broker: &str, credentials: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(map) = credentials.as_object() else {
        return out;
    };
    for (k, v) in map {
        let mut key: String = k
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if key.is_empty() || key.starts_with(|c: char| c.is_ascii_digit()) {
            key.insert(0, '_');
        }
        let Ok(parsed) = domain::ConfigKey::parse(&key) else {
            continue;
        };
        if parsed.is_reserved() {
            tracing::warn!(broker, key = %key, "a broker's credential has a reserved name; left out");
            continue;
        }
        let value = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.insert(key, value);
    }
    out
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[async_trait::async_trait]
impl Provider for Broker {
    fn name(&self) -> &str {
        &self.name
    }

    fn services(&self) -> Vec<Service> {
        self.catalog
            .read()
            .expect("the catalog lock is never poisoned")
            .services
            .clone()
    }

    fn provision_timeout(&self) -> Duration {
        self.timeout
    }

    async fn provision(&self, addon: Uuid, plan: &Plan) -> Result<Provisioning> {
        let (service_id, plan_id) = self.ids(plan)?;
        let url = self.query(
            self.url(&format!("v2/service_instances/{addon}"))?,
            &[("accepts_incomplete", "true")],
        );
        let a = self
            .call(
                reqwest::Method::PUT,
                url,
                Some(json!({
                    "service_id": service_id,
                    "plan_id": plan_id,
                    "organization_guid": "slipway",
                    "space_guid": "slipway",
                    "context": {"platform": "slipway"},
                })),
            )
            .await?;
        match a.status {
            200 | 201 => Ok(Provisioning::Ready(self.bind(addon, plan).await?)),
            202 => Ok(Provisioning::Started {
                operation: a.body["operation"]
                    .as_str()
                    .map(|s| s.chars().take(10_000).collect()),
            }),
            // Refused: the broker made nothing (the spec's 4xx), so nothing is cleaned up; but a
            // 408 is a timeout, after which the spec asks for orphan mitigation.
            400..=407 | 409..=499 => Err(Error::BadRequest(self.says(&a))),
            _ => Err(Error::Upstream(self.says(&a))),
        }
    }

    async fn progress(
        &self,
        addon: Uuid,
        plan: &Plan,
        operation: Option<&str>,
    ) -> Result<Progress> {
        let a = self
            .last_operation(
                &format!("v2/service_instances/{addon}/last_operation"),
                plan,
                operation,
            )
            .await?;
        if a.status != 200 {
            // 410 while provisioning means nothing (the spec): asked again, as for others.
            return Ok(Progress::Working(format!(
                "The broker answered {} when asked how it goes.",
                a.status
            )));
        }
        let description = a.body["description"]
            .as_str()
            .map(|s| s.chars().take(500).collect::<String>());
        match a.body["state"].as_str() {
            Some("succeeded") => Ok(Progress::Ready(self.bind(addon, plan).await?)),
            Some("failed") => Ok(Progress::Failed(match description {
                Some(d) if !d.is_empty() => format!("The broker {} said: {d}", self.name),
                _ => format!("The broker {} says provisioning failed.", self.name),
            })),
            _ => Ok(Progress::Working(description.unwrap_or_default())),
        }
    }

    async fn deprovision(&self, addon: Uuid, plan: &Plan) -> Result<()> {
        let (service_id, plan_id) = self.ids(plan)?;
        let pairs = [
            ("service_id", service_id.as_str()),
            ("plan_id", plan_id.as_str()),
        ];
        let unbind = self.query(
            self.url(&format!(
                "v2/service_instances/{addon}/service_bindings/{addon}"
            ))?,
            &pairs,
        );
        let a = self.call(reqwest::Method::DELETE, unbind, None).await?;
        if !matches!(a.status, 200 | 410) {
            return Err(Error::Upstream(self.says(&a)));
        }
        let mut pairs = pairs.to_vec();
        pairs.push(("accepts_incomplete", "true"));
        let url = self.query(self.url(&format!("v2/service_instances/{addon}"))?, &pairs);
        let a = self.call(reqwest::Method::DELETE, url, None).await?;
        match a.status {
            200 | 410 => Ok(()),
            202 => {
                let operation = a.body["operation"].as_str().map(str::to_owned);
                let path = format!("v2/service_instances/{addon}/last_operation");
                for _ in 0..120 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let a = self
                        .last_operation(&path, plan, operation.as_deref())
                        .await?;
                    match (a.status, a.body["state"].as_str()) {
                        (410, _) | (200, Some("succeeded")) => return Ok(()),
                        (200, Some("failed")) => return Err(Error::Upstream(self.says(&a))),
                        _ => {}
                    }
                }
                Err(Error::Upstream(format!(
                    "The broker {} did not finish removing the instance within a minute.",
                    self.name
                )))
            }
            _ => Err(Error::Upstream(self.says(&a))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_keeps_no_credentials() {
        let b = Broker::parse(
            "reports=https://svc:p%40ss@broker.example/osb",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(b.base.as_str(), "https://broker.example/osb/");
        assert_eq!((b.user.as_str(), b.password.as_str()), ("svc", "p@ss"));
        assert!(!format!("{b:?}").contains("p@ss"));
        assert!(Broker::parse("no-equals", Duration::from_secs(1)).is_err());
        assert!(Broker::parse("x=ftp://a/b", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn credentials_become_config_keys() {
        let v = vars_of(
            "b",
            &json!({"uri": "postgres://x", "database-url": "y", "port": 5432, "PORT": "1", "9lives": true}),
        );
        assert_eq!(
            v,
            BTreeMap::from([
                ("_9lives".to_owned(), "true".to_owned()),
                ("database_url".to_owned(), "y".to_owned()),
                ("port".to_owned(), "5432".to_owned()),
                ("uri".to_owned(), "postgres://x".to_owned()),
            ])
        );
    }
}
