//! One page per file.

mod app_page;
mod apps;
mod chrome;
mod compare;
mod config;
mod diff;
mod not_found;
mod rollback;
mod signin;

pub use app_page::AppPage;
pub use apps::AppsPage;
pub use chrome::{AppNav, Header};
pub use compare::ComparePage;
pub use config::ConfigPage;
pub use not_found::NotFound;
pub use signin::SignInPage;
