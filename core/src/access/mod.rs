//! Who acts: users (local and GitHub), API tokens, and the one `authorize` seam.

pub mod authz;
pub mod remembered;
pub mod tokens;
pub mod users;
