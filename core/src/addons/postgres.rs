//! The built-in PostgreSQL add-on (`slipway-postgresql`): a database and a role of its own per
//! add-on, with a random password, on a PostgreSQL server the app's containers reach.
//!
//! Every statement is written by the server's own `format()` with `%I` (identifiers) and `%L`
//! (literals); the password goes over as a SCRAM-SHA-256 verifier, so the plain password never
//! reaches the server or its logs.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::{distributions::Alphanumeric, Rng, RngCore};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use uuid::Uuid;

use super::{Plan, Provider, Provisioning, Service};
use crate::{Error, Result};

/// The built-in service's name.
pub const SERVICE: &str = "slipway-postgresql";

/// What a plan sets on its role.
struct Limits {
    connections: i32,
    statement_timeout: &'static str,
}

fn limits(plan: &str) -> Limits {
    match plan {
        "standard" => Limits {
            connections: 100,
            statement_timeout: "5min",
        },
        _ => Limits {
            connections: 20,
            statement_timeout: "30s",
        },
    }
}

/// The provider: an admin connection to the server, and the address apps reach it at.
pub struct BuiltinPostgres {
    admin: PgPool,
    host: String,
    port: u16,
}

impl BuiltinPostgres {
    /// `admin_url` may create roles and databases; apps get `host:port` in their URLs (the
    /// admin URL's own host and port when `None`).
    pub fn new(admin_url: &str, public: Option<(String, u16)>) -> Result<Self> {
        let opts: PgConnectOptions = admin_url.parse().map_err(|_| {
            Error::Invalid("SLIPWAY_ADDON_POSTGRES_URL is not a PostgreSQL URL.".into())
        })?;
        let public = match public {
            Some(hp) => hp,
            None => (opts.get_host().to_owned(), opts.get_port()),
        };
        if public.0.starts_with('/') {
            return Err(Error::Invalid(
                "SLIPWAY_ADDON_POSTGRES_URL names a socket: apps need a TCP host.".into(),
            ));
        }
        Ok(Self::with_options(opts, public))
    }

    /// The server at `admin` (a role that may create roles and databases), which apps reach at
    /// `public` (`host`, `port`).
    pub fn with_options(admin: PgConnectOptions, public: (String, u16)) -> Self {
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(admin.disable_statement_logging());
        Self {
            admin,
            host: public.0,
            port: public.1,
        }
    }

    /// The role's and the database's name (the same): the add-on's id, never user input.
    pub fn ident(addon: Uuid) -> String {
        format!("addon_{}", addon.simple())
    }

    /// Runs a statement `format()` wrote.
    async fn run(&self, statement: String) -> Result<()> {
        sqlx::raw_sql(&statement).execute(&self.admin).await?;
        Ok(())
    }

    async fn provision_as(&self, name: &str, plan: &Plan) -> Result<BTreeMap<String, String>> {
        let limits = limits(&plan.key);
        let password: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        let verifier = scram_verifier(&password);
        // Again after a failed try: the role and database may exist already.
        let role_exists: bool =
            sqlx::query_scalar("select exists (select 1 from pg_roles where rolname = $1)")
                .bind(name)
                .fetch_one(&self.admin)
                .await?;
        let verb = if role_exists { "alter" } else { "create" };
        let stmt: String = sqlx::query_scalar(&format!(
            "select format('{verb} role %I with login password %L connection limit %s \
             nosuperuser nocreatedb nocreaterole noreplication', $1::text, $2::text, $3::int)"
        ))
        .bind(name)
        .bind(&verifier)
        .bind(limits.connections)
        .fetch_one(&self.admin)
        .await?;
        self.run(stmt).await?;
        let stmt: String = sqlx::query_scalar(
            "select format('alter role %I set statement_timeout = %L', $1::text, $2::text)",
        )
        .bind(name)
        .bind(limits.statement_timeout)
        .fetch_one(&self.admin)
        .await?;
        self.run(stmt).await?;
        let db_exists: bool =
            sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
                .bind(name)
                .fetch_one(&self.admin)
                .await?;
        if !db_exists {
            let stmt: String = sqlx::query_scalar(
                "select format('create database %I owner %I', $1::text, $1::text)",
            )
            .bind(name)
            .fetch_one(&self.admin)
            .await?;
            self.run(stmt).await?;
        }
        // Only its own role may connect: other add-ons' roles cannot reach it.
        let stmt: String =
            sqlx::query_scalar("select format('revoke all on database %I from public', $1::text)")
                .bind(name)
                .fetch_one(&self.admin)
                .await?;
        self.run(stmt).await?;
        let url = format!(
            "postgres://{name}:{password}@{}:{}/{name}",
            url_host(&self.host),
            self.port
        );
        Ok(BTreeMap::from([("DATABASE_URL".to_owned(), url)]))
    }

    async fn deprovision_as(&self, name: &str) -> Result<()> {
        sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where usename = $1")
            .bind(name)
            .execute(&self.admin)
            .await?;
        let stmt: String = sqlx::query_scalar(
            "select format('drop database if exists %I with (force)', $1::text)",
        )
        .bind(name)
        .fetch_one(&self.admin)
        .await?;
        self.run(stmt).await?;
        let stmt: String = sqlx::query_scalar("select format('drop role if exists %I', $1::text)")
            .bind(name)
            .fetch_one(&self.admin)
            .await?;
        self.run(stmt).await?;
        Ok(())
    }
}

/// A host as a URL writes it (IPv6 in brackets).
fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// What the provider's failures tell users: the server's own words stay in the log.
fn upstream(doing: &str, e: Error) -> Error {
    tracing::error!(error = %format!("{e:#}"), "the built-in PostgreSQL add-on could not {doing}");
    Error::Upstream(format!(
        "The PostgreSQL add-on server could not {doing}; try again shortly."
    ))
}

#[async_trait::async_trait]
impl Provider for BuiltinPostgres {
    fn name(&self) -> &str {
        "builtin"
    }

    /// Provisioning happens in the request: one still `provisioning` after this long lost its
    /// request (the process stopped), and may be destroyed.
    fn provision_timeout(&self) -> Duration {
        Duration::from_secs(120)
    }

    fn services(&self) -> Vec<Service> {
        let plan = |key: &str, human: &str, description: &str| {
            let l = limits(key);
            Plan {
                id: super::stable_id(&format!("{SERVICE}:{key}")),
                name: format!("{SERVICE}:{key}"),
                key: key.to_owned(),
                human_name: human.to_owned(),
                description: description.to_owned(),
                attributes: BTreeMap::from([
                    ("connection_limit".to_owned(), l.connections.to_string()),
                    (
                        "statement_timeout".to_owned(),
                        l.statement_timeout.to_owned(),
                    ),
                ]),
            }
        };
        vec![Service {
            id: super::stable_id(SERVICE),
            name: SERVICE.to_owned(),
            human_name: "PostgreSQL".to_owned(),
            description: "A PostgreSQL database of the app's own, set as DATABASE_URL.".to_owned(),
            provider: "builtin".to_owned(),
            plans: vec![
                plan(
                    "hobby",
                    "Hobby",
                    "20 connections; statements stop after 30 seconds.",
                ),
                plan(
                    "standard",
                    "Standard",
                    "100 connections; statements stop after 5 minutes.",
                ),
            ],
        }]
    }

    async fn provision(&self, addon: Uuid, plan: &Plan) -> Result<Provisioning> {
        self.provision_as(&Self::ident(addon), plan)
            .await
            .map(Provisioning::Ready)
            .map_err(|e| upstream("create the database", e))
    }

    async fn deprovision(&self, addon: Uuid, _plan: &Plan) -> Result<()> {
        self.deprovision_as(&Self::ident(addon))
            .await
            .map_err(|e| upstream("remove the database", e))
    }
}

/// PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802, RFC 7677; what
/// `password_encryption = scram-sha-256` stores): the server checks logins against it and
/// never learns the password.
pub fn scram_verifier(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    scram_verifier_with(password, &salt, 4096)
}

fn scram_verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    type H = Hmac<Sha256>;
    let hmac = |key: &[u8], data: &[u8]| -> [u8; 32] {
        let mut m = <H as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(data);
        m.finalize().into_bytes().into()
    };
    // PBKDF2-HMAC-SHA256, one block.
    let mut u = hmac(password.as_bytes(), &[salt, &1u32.to_be_bytes()].concat());
    let mut salted = u;
    for _ in 1..iterations {
        u = hmac(password.as_bytes(), &u);
        salted.iter_mut().zip(u).for_each(|(s, x)| *s ^= x);
    }
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example (user "user", password "pencil"): its salt and 4096 iterations give
    /// the proof the RFC shows, so the StoredKey and ServerKey derived here are the ones a
    /// server checks that proof against.
    #[test]
    fn the_verifier_matches_rfc_7677() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = scram_verifier_with("pencil", &salt, 4096);
        let (head, keys) = v.split_once('$').unwrap().1.split_once('$').unwrap();
        assert_eq!(head, "4096:W22ZaJ0SNY7soEsUEjb6gQ==");
        let (stored, server) = keys.split_once(':').unwrap();
        // ServerSignature = HMAC(ServerKey, AuthMessage); the RFC's is
        // 6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=.
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&STANDARD.decode(server).unwrap()).unwrap();
        m.update(auth.as_bytes());
        assert_eq!(
            STANDARD.encode(m.finalize().into_bytes()),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage); the RFC's proof
        // recovers a ClientKey whose SHA-256 is the StoredKey.
        let stored = STANDARD.decode(stored).unwrap();
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&stored).unwrap();
        m.update(auth.as_bytes());
        let sig = m.finalize().into_bytes();
        let proof = STANDARD
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        let client_key: Vec<u8> = proof.iter().zip(sig).map(|(p, s)| p ^ s).collect();
        assert_eq!(Sha256::digest(&client_key).as_slice(), stored.as_slice());
    }
}
