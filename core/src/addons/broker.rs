//! Slipway as an Open Service Broker (OSB API v2): other platforms provision the built-in
//! PostgreSQL add-on through it, so one Slipway can use another's (`/osb/v2/…`, served by the
//! server with basic auth). The rules of instances and bindings are here; the server only
//! parses and maps.
//!
//! Provisioning is asynchronous (the platform must accept it): the instance is recorded `in
//! progress` and made in the background; `last_operation` tells how it went. A deprovision
//! that arrives while it is still being made removes it as soon as it is.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use super::{Plan, Provider, Provisioning, Service};
use crate::{Core, Error, Result};

/// How a provision request is answered.
#[derive(Debug, PartialEq, Eq)]
pub enum ProvisionAnswer {
    /// Started (202), with the operation to poll.
    Started { operation: String },
    /// The same request again while it is under way (202).
    Underway { operation: String },
    /// The same request again once done (200).
    Exists,
}

/// How a bind request is answered.
#[derive(Debug, PartialEq, Eq)]
pub enum BindAnswer {
    Created(BTreeMap<String, String>),
    Exists(BTreeMap<String, String>),
}

/// A provision's state, as `last_operation` says it.
#[derive(Debug, PartialEq, Eq)]
pub struct LastOperation {
    pub state: String,
    pub description: String,
}

/// How long an instance may stay `in progress` before it counts as failed (the process that
/// made it stopped).
const STALE_MINUTES: i64 = 10;

impl Core {
    /// The services Slipway offers as a broker: the built-in provider's, with the provider.
    pub fn broker_services(&self) -> Vec<(Arc<dyn Provider>, Service)> {
        self.providers
            .0
            .iter()
            .filter(|p| p.name() == "builtin")
            .flat_map(|p| p.services().into_iter().map(move |s| (p.clone(), s)))
            .collect()
    }

    fn broker_plan(&self, service_id: &str, plan_id: &str) -> Result<(Arc<dyn Provider>, Plan)> {
        let (provider, service) = self
            .broker_services()
            .into_iter()
            .find(|(_, s)| s.id.to_string() == service_id)
            .ok_or_else(|| Error::Invalid(format!("There is no service {service_id}.")))?;
        let plan = service
            .plans
            .into_iter()
            .find(|p| p.id.to_string() == plan_id)
            .ok_or_else(|| Error::Invalid(format!("The service has no plan {plan_id}.")))?;
        Ok((provider, plan))
    }

    /// Provisions instance `instance` (the platform's id) of a plan, in the background.
    /// The same instance asked for with other ids is a conflict (409).
    pub async fn broker_provision(
        &self,
        instance: &str,
        service_id: &str,
        plan_id: &str,
    ) -> Result<ProvisionAnswer> {
        let (provider, plan) = self.broker_plan(service_id, plan_id)?;
        let addon = Uuid::new_v4();
        let operation = format!("provision-{}", Uuid::new_v4().simple());
        let inserted = sqlx::query!(
            "insert into broker_instances (id, addon_id, service_id, plan_id, state, operation)
             values ($1, $2, $3, $4, 'in progress', $5) on conflict (id) do nothing",
            instance,
            addon,
            service_id,
            plan_id,
            &operation
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 0 {
            let r = sqlx::query!(
                "select service_id, plan_id, state, operation from broker_instances where id = $1",
                instance
            )
            .fetch_one(&self.pool)
            .await?;
            let (s, p, state, op) = (r.service_id, r.plan_id, r.state, r.operation);
            if s != service_id || p != plan_id {
                return Err(Error::Conflict(format!(
                    "The instance {instance} exists with another service or plan."
                )));
            }
            return Ok(match state.as_str() {
                "in progress" => ProvisionAnswer::Underway { operation: op },
                "succeeded" => ProvisionAnswer::Exists,
                _ => {
                    return Err(Error::Conflict(format!(
                        "The instance {instance} failed; deprovision it first."
                    )))
                }
            });
        }
        tracing::info!(instance, plan = %plan.name, "broker: provisioning");
        let core = self.clone();
        let instance = instance.to_owned();
        tokio::spawn(async move {
            core.make_instance(&instance, addon, provider, plan).await;
        });
        Ok(ProvisionAnswer::Started { operation })
    }

    /// The background half of [`Core::broker_provision`].
    async fn make_instance(
        &self,
        instance: &str,
        addon: Uuid,
        provider: Arc<dyn Provider>,
        plan: Plan,
    ) {
        let made = match provider.provision(addon, &plan).await {
            Ok(Provisioning::Ready(vars)) => Ok(vars),
            Ok(Provisioning::Started { .. }) => Err(Error::Upstream(
                "The provider cannot provision in the background here.".into(),
            )),
            Err(e) => Err(e),
        };
        let ok = made.is_ok();
        let recorded = match made {
            Ok(vars) => {
                let json = serde_json::to_vec(&vars).unwrap_or_default();
                let sealed = self.key.seal(&format!("broker-instance:{addon}"), &json);
                sqlx::query!(
                    "update broker_instances set state = 'succeeded', vars_enc = $2
                      where addon_id = $1 and state = 'in progress'",
                    addon,
                    sealed
                )
                .execute(&self.pool)
                .await
            }
            Err(e) => {
                let (_, why) = e.public("broker provisioning");
                sqlx::query!(
                    "update broker_instances set state = 'failed', description = $2
                      where addon_id = $1 and state = 'in progress'",
                    addon,
                    why
                )
                .execute(&self.pool)
                .await
            }
        };
        match recorded {
            Ok(r) if r.rows_affected() == 1 => {
                tracing::info!(instance, ok, "broker: provisioning finished");
            }
            // Deprovisioned meanwhile (or the record is unreachable): remove what was made.
            _ => {
                tracing::info!(
                    instance,
                    "broker: an instance deprovisioned while it was made is removed"
                );
                if let Err(e) = provider.deprovision(addon, &plan).await {
                    tracing::error!(instance, error = %format!("{e:#}"), "broker: cannot remove an abandoned instance");
                }
            }
        }
    }

    /// How the provisioning of `instance` goes; `None` for an unknown instance.
    pub async fn broker_last_operation(&self, instance: &str) -> Result<Option<LastOperation>> {
        let row = sqlx::query!(
            r#"select state, description,
                      updated_at < now() - make_interval(mins => $2) as "stale!"
                 from broker_instances where id = $1"#,
            instance,
            STALE_MINUTES as i32
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|r| (r.state, r.description, r.stale));
        Ok(row.map(|(state, description, stale)| {
            if state == "in progress" && stale {
                LastOperation {
                    state: "failed".into(),
                    description: "The broker stopped while it provisioned the instance.".into(),
                }
            } else {
                LastOperation { state, description }
            }
        }))
    }

    /// Binds `instance`: its credentials. 404 for an unknown instance; 422 while it is not
    /// provisioned yet.
    pub async fn broker_bind(
        &self,
        instance: &str,
        binding: &str,
        service_id: &str,
        plan_id: &str,
    ) -> Result<BindAnswer> {
        let row = sqlx::query!(
            "select addon_id, service_id, plan_id, state, vars_enc from broker_instances where id = $1",
            instance
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Err(Error::NotFound(format!("There is no instance {instance}.")));
        };
        if row.service_id != service_id || row.plan_id != plan_id {
            return Err(Error::Invalid(format!(
                "The instance {instance} is of another service or plan."
            )));
        }
        let (addon, state) = (row.addon_id, row.state);
        let Some(sealed) = row.vars_enc.filter(|_| state == "succeeded") else {
            return Err(Error::Refused(format!(
                "The instance {instance} is {state}, not provisioned."
            )));
        };
        let plain = self
            .key
            .open(&format!("broker-instance:{addon}"), &sealed)?;
        let vars: BTreeMap<String, String> =
            serde_json::from_slice(&plain).map_err(anyhow::Error::from)?;
        let new = sqlx::query!(
            "insert into broker_bindings (instance_id, id) values ($1, $2) on conflict do nothing",
            instance,
            binding
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(if new == 1 {
            BindAnswer::Created(vars)
        } else {
            BindAnswer::Exists(vars)
        })
    }

    /// Unbinds; false when there was no such binding (410).
    pub async fn broker_unbind(&self, instance: &str, binding: &str) -> Result<bool> {
        Ok(sqlx::query!(
            "delete from broker_bindings where instance_id = $1 and id = $2",
            instance,
            binding
        )
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Deprovisions `instance`: its database and role go (its bindings with it); false when
    /// there was no such instance (410). One still being made is removed once it is.
    pub async fn broker_deprovision(&self, instance: &str) -> Result<bool> {
        let row = sqlx::query!(
            "select addon_id, service_id, plan_id, state from broker_instances where id = $1",
            instance
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|r| (r.addon_id, r.service_id, r.plan_id, r.state));
        let Some((addon, service_id, plan_id, state)) = row else {
            return Ok(false);
        };
        // One still being made is removed by its maker once made; one whose maker stopped
        // (stale) is removed here, whatever part of it was made.
        let stale = self
            .broker_last_operation(instance)
            .await?
            .is_some_and(|op| op.state == "failed");
        if state != "in progress" || stale {
            let (provider, plan) = self.broker_plan(&service_id, &plan_id)?;
            provider.deprovision(addon, &plan).await?;
        }
        sqlx::query!("delete from broker_instances where id = $1", instance)
            .execute(&self.pool)
            .await?;
        tracing::info!(instance, "broker: deprovisioned");
        Ok(true)
    }
}
