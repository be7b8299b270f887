//! Types shared by the server and the browser: validated names, versions, statuses, roles and
//! the small read models the UI renders. Nothing here touches I/O, so it builds for wasm.
//!
//! Raw strings stop at the boundary: `AppName::parse`, `ConfigKey::parse` and friends are the
//! only ways in, and their errors are the user-facing reasons (they end up in 422 bodies).

pub mod ansi;
pub mod github;
mod names;
mod status;
mod views;

pub use names::{full_app_name, AppName, ConfigKey, NameError, SimpleName, SpaceName};
pub use status::{
    BuildStatus, ReleaseKind, ReleaseStatus, Role, Version, FINISHED_FAILURE, FINISHED_SUCCESS,
};
pub use views::{
    encode_query, relative_time, source_suffix, AddonView, AddonsPage, AppListItem, AppSummary,
    AttachableView, BuildPage, CommitView, ConfigPage, DiffView, HistoryPage, KeyDiffView,
    LogFrame, LogLine, PlanView, ReleaseView, RolledBackView, ServiceView, TokenView,
    UnreleasedBuildView, ROLLBACK_WARNING,
};
