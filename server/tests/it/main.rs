//! The server's integration tests, one module per area, in one binary so the server and its
//! dependencies link once. Each test starts the real `slipway` binary (`support`) on a fresh
//! database of one throwaway PostgreSQL cluster per run.

mod support;

mod addons;
mod api;
mod binary;
mod builds;
mod concurrency;
mod deploys;
mod embedded_pg;
mod faults;
mod github;
mod server_fns;
