//! One page per file.

mod account;
mod app;
mod apps;
mod build_log;
mod chrome;
mod compare;
mod config;
mod diff;
#[cfg(feature = "hydrate")]
mod live_log;
mod not_found;
mod rollback;
mod settings;
mod signin;
mod users;

pub use account::AccountPage;
pub use app::AppPage;
pub use apps::AppsPage;
pub use build_log::BuildLogPage;
pub use chrome::{AppNav, Header};
pub use compare::ComparePage;
pub use config::ConfigPage;
pub use not_found::NotFound;
pub use settings::SettingsPage;
pub use signin::SignInPage;
pub use users::UsersPage;
