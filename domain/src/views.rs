use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One row of the apps list: the app and its current release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppListItem {
    pub name: String,
    pub space: String,
    pub org: String,
    pub description: Option<String>,
    /// The current release (newest succeeded), if any.
    pub current_version: Option<i32>,
    pub current_description: Option<String>,
    pub released_at: Option<DateTime<Utc>>,
    pub favorite: bool,
}
