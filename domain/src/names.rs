use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name, space or key was refused; the message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(String);

/// `^[a-z][a-z0-9]*$`, the shape of app names, space names and org names.
fn is_simple(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// An app's own name (`myapp`), or a space or org name: `^[a-z][a-z0-9]*$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SimpleName(String);

impl SimpleName {
    pub fn parse(what: &str, s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError(format!("The {what} name is required.")));
        }
        if !is_simple(s) {
            return Err(NameError(format!(
                "The {what} name \"{s}\" is invalid: use lowercase letters and digits, starting with a letter."
            )));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SimpleName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse("", &s)
    }
}

impl From<SimpleName> for String {
    fn from(n: SimpleName) -> String {
        n.0
    }
}

impl fmt::Display for SimpleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A space name; same shape as an app's simple name.
pub type SpaceName = SimpleName;

/// An app's full name from its name and space: `name-space`, the one place they are joined.
pub fn full_app_name(name: &str, space: &str) -> String {
    format!("{name}-{space}")
}

/// An app's full name, `name-space`, at most 30 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppName {
    name: SimpleName,
    space: SimpleName,
}

impl AppName {
    pub const MAX_LEN: usize = 30;

    pub fn new(name: SimpleName, space: SimpleName) -> Result<Self, NameError> {
        let full = name.as_str().len() + 1 + space.as_str().len();
        if full > Self::MAX_LEN {
            return Err(NameError(format!(
                "The app name \"{}\" is too long: name and space together must be at most {} characters.",
                full_app_name(name.as_str(), space.as_str()),
                Self::MAX_LEN
            )));
        }
        Ok(Self { name, space })
    }

    /// Parses `name-space`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let Some((name, space)) = s.split_once('-') else {
            return Err(NameError(format!(
                "\"{s}\" is not an app name of the form name-space."
            )));
        };
        Self::new(
            SimpleName::parse("app", name)?,
            SimpleName::parse("space", space)?,
        )
    }

    pub fn name(&self) -> &SimpleName {
        &self.name
    }

    pub fn space(&self) -> &SimpleName {
        &self.space
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&full_app_name(self.name.as_str(), self.space.as_str()))
    }
}

/// A config var name: `^[A-Za-z_][A-Za-z0-9_]*$`. Reserved names are refused by the core,
/// which answers 409 for them rather than 422.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConfigKey(String);

impl ConfigKey {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let mut chars = s.chars();
        let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(NameError(format!(
                "The config var name \"{s}\" is invalid: use letters, digits and _, not starting with a digit."
            )));
        }
        Ok(Self(s.to_owned()))
    }

    /// `PORT` and names starting `AKKERIS_` or `SLIPWAY_` belong to the platform.
    pub fn is_reserved(&self) -> bool {
        self.0 == "PORT" || self.0.starts_with("AKKERIS_") || self.0.starts_with("SLIPWAY_")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConfigKey {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<ConfigKey> for String {
    fn from(k: ConfigKey) -> String {
        k.0
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_split_on_the_first_dash_and_check_both_halves() {
        let n = AppName::parse("web-prod").unwrap();
        assert_eq!((n.name().as_str(), n.space().as_str()), ("web", "prod"));
        assert!(AppName::parse("web").is_err());
        assert!(AppName::parse("Web-prod").is_err());
        assert!(AppName::parse("web-pr-od").is_err());
        assert!(AppName::parse("1web-prod").is_err());
        assert!(AppName::parse("-prod").is_err());
    }

    #[test]
    fn app_names_are_at_most_thirty_characters() {
        assert!(AppName::parse(&format!("{}-{}", "a".repeat(20), "b".repeat(9))).is_ok());
        assert!(AppName::parse(&format!("{}-{}", "a".repeat(20), "b".repeat(10))).is_err());
    }

    #[test]
    fn config_keys_follow_the_environment_variable_shape() {
        for ok in ["FOO", "_x", "a1_B"] {
            assert!(ConfigKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "Ä"] {
            assert!(ConfigKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn platform_keys_are_reserved() {
        for k in ["PORT", "AKKERIS_GIT_SHA1", "SLIPWAY_X"] {
            assert!(ConfigKey::parse(k).unwrap().is_reserved(), "{k}");
        }
        assert!(!ConfigKey::parse("PORTS").unwrap().is_reserved());
    }
}
