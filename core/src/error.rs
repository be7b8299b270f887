use thiserror::Error;

/// The core's errors. Each variant but `Internal` and `Unavailable` carries a message meant for
/// the user; the API and UI map them to status codes and never show those two's text.
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
    /// More than a limit allows (413).
    #[error("{0}")]
    TooLarge(String),
    /// The database is not answering for now (restarting, unreachable, the pool timed out):
    /// worth trying again (503).
    #[error("the database is not answering")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            Error::Unavailable(anyhow::Error::new(e).context("database"))
        } else {
            Error::Internal(anyhow::Error::new(e).context("database"))
        }
    }
}

impl From<domain::NameError> for Error {
    fn from(e: domain::NameError) -> Self {
        Error::Invalid(e.to_string())
    }
}

impl Error {
    /// Whether this is a passing fault of the database (see [`Error::Unavailable`]), also when
    /// it reached here wrapped in an `anyhow` error.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Unavailable(_) => true,
            Error::Internal(e) => e.chain().any(|c| {
                c.downcast_ref::<sqlx::Error>().is_some_and(is_transient)
                    || c.downcast_ref::<Error>()
                        .is_some_and(|e| matches!(e, Error::Unavailable(_)))
            }),
            _ => false,
        }
    }
}

/// A connection-level failure (PostgreSQL restarting or out of reach, the pool timing out),
/// as opposed to a query that is wrong.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions; 57P01-57P03: the server is shutting down or
        // starting; 53300: too many connections.
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a database error is a violation of the named constraint.
pub(crate) fn violates(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(constraint))
}
