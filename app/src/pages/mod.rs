//! One page per file.

mod apps;
mod chrome;
mod not_found;
mod signin;

pub use apps::AppsPage;
pub use chrome::Header;
pub use not_found::NotFound;
pub use signin::SignInPage;
