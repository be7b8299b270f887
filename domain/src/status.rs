use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A release number, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(i32);

impl Version {
    pub fn new(n: i32) -> Option<Self> {
        (n >= 1).then_some(Self(n))
    }

    /// Parses `N`, or `vN`, as users and the Akkeris CLI write it.
    pub fn parse(s: &str) -> Option<Self> {
        let digits = s.strip_prefix('v').unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().and_then(Self::new)
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
        #[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "lowercase"))]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("unknown {} \"{other}\"", stringify!($name))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// A release's deploy status: `queued → pending → succeeded | failed`, or `skipped` when a
    /// newer release of the app superseded it before it was deployed.
    ReleaseStatus { Queued = "queued", Pending = "pending", Succeeded = "succeeded", Failed = "failed", Skipped = "skipped" }
}

impl ReleaseStatus {
    /// Whether the release is done with: deployed, failed or skipped (not queued or pending).
    pub fn is_settled(self) -> bool {
        !matches!(self, Self::Queued | Self::Pending)
    }
}

/// The last line of every build log that succeeded; Akkeris clients wait for it (DESIGN §5).
pub const FINISHED_SUCCESS: &str = "Finished: SUCCESS";
/// The last line of every build log that failed.
pub const FINISHED_FAILURE: &str = "Finished: FAILURE";

text_enum! {
    /// A build's status: `queued → pending → succeeded | failed`.
    BuildStatus { Queued = "queued", Pending = "pending", Succeeded = "succeeded", Failed = "failed" }
}

text_enum! {
    /// What caused a release.
    ReleaseKind { Deploy = "deploy", Config = "config", Port = "port", Addon = "addon", Rollback = "rollback" }
}

text_enum! {
    /// A user's role; each includes the ones before it.
    Role { Viewer = "viewer", Deployer = "deployer", Admin = "admin" }
}

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Viewer => 0,
            Role::Deployer => 1,
            Role::Admin => 2,
        }
    }

    /// Whether this role has at least the rights of `least`.
    pub fn includes(self, least: Role) -> bool {
        self.rank() >= least.rank()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queued_and_pending_releases_are_unsettled() {
        use ReleaseStatus::*;
        let settled: Vec<bool> = [Queued, Pending, Succeeded, Failed, Skipped]
            .map(ReleaseStatus::is_settled)
            .into();
        assert_eq!(settled, [false, false, true, true, true]);
    }

    #[test]
    fn versions_parse_with_or_without_v() {
        assert_eq!(Version::parse("7").map(Version::get), Some(7));
        assert_eq!(Version::parse("v7").map(Version::get), Some(7));
        for bad in ["", "v", "0", "v0", "-1", "7a", "vv7", "99999999999"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn roles_include_lesser_roles() {
        assert!(Role::Admin.includes(Role::Deployer));
        assert!(Role::Deployer.includes(Role::Viewer));
        assert!(!Role::Viewer.includes(Role::Deployer));
        assert_eq!("deployer".parse::<Role>(), Ok(Role::Deployer));
    }
}
