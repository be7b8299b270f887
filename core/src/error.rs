use thiserror::Error;

/// The core's errors. Each variant but `Internal` carries a message meant for the user; the
/// API and UI map them to status codes and never show `Internal`'s text.
#[derive(Debug, Error)]
pub enum Error {
    /// Unknown app, release, build… (404).
    #[error("{0}")]
    NotFound(String),
    /// Refused in the ledger's current state (409).
    #[error("{0}")]
    Conflict(String),
    /// Input that does not make sense (422).
    #[error("{0}")]
    Invalid(String),
    /// The actor's role does not allow the action (403).
    #[error("{0}")]
    Forbidden(String),
    /// Refused by an outside system (GitHub), with its reason (400).
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<domain::NameError> for Error {
    fn from(e: domain::NameError) -> Self {
        Error::Invalid(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a database error is a violation of the named constraint.
pub(crate) fn violates(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(constraint))
}
