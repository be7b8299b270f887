//! The release ledger: apps, their immutable numbered releases and what each one changes
//! (config, port, features), favourites, and the difference between two releases.

pub mod apps;
pub mod config;
pub mod diff;
pub mod favorites;
pub mod features;
pub mod releases;
