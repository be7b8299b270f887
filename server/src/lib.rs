//! The `slipway` binary: options, the embedded PostgreSQL launcher, and the axum server that
//! carries the Platform API, sign-in, and the Leptos UI on one port.
//!
//! Layout:
//! - `cli`: the entry point (`serve`, `worker`, `token create`) and its shutdown path;
//! - `options`: every option, as a flag and an environment variable;
//! - `embedded_pg`: the private PostgreSQL cluster used when there is no `DATABASE_URL`;
//! - `http`: the router (`guard` for Host/Origin, `auth` for sessions and tokens, `api` for
//!   the Akkeris-compatible routes, the Leptos routes).

pub mod cli;
pub mod embedded_pg;
pub mod http;
pub mod options;
