//! GitHub (DESIGN §3, §5, §7), against the stand-in in `testkit::github`, which serves GitHub's
//! web and API on `localhost` while Slipway runs on 127.0.0.1 (so the sign-in round trip is
//! cross-site, as with github.com): OAuth sign-in and roles, attaching a repository with each
//! credential, and signed push webhooks that build real images and release them.

mod attach;
mod oauth;
mod webhook;
