use thiserror::Error;

/// The core's errors. Each variant but `Internal` and `Unavailable` carries a message meant for
/// the user. [`Error::public`] is the one table of what the API, the UI's routes and its server
/// functions answer with: a status, and text that is never internal.
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
    /// A failure whose text is written for people and names no secret, shown as is where a
    /// build or deploy fails (a refused archive, the engine's own words) (422).
    #[error("{0}")]
    Refused(String),
    /// An add-on's provider (the built-in PostgreSQL server, a service broker) failed; the
    /// text says so without its internals (502).
    #[error("{0}")]
    Upstream(String),
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

/// What a user is told when the database is away.
pub const UNAVAILABLE: &str = "The database is not answering; try again shortly.";
/// What a user is told of a failure that is the server's own.
pub const INTERNAL: &str = "Something went wrong on the server.";

impl Error {
    /// The HTTP status this error answers with (DESIGN §5).
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::TooLarge(_) => 413,
            Error::Invalid(_) | Error::Refused(_) => 422,
            Error::Upstream(_) => 502,
            e if e.is_unavailable() => 503,
            Error::Unavailable(_) | Error::Internal(_) => 500,
        }
    }

    /// What a user may see of this error: its status and text. User errors keep their
    /// message; the database being away and internal failures get a fixed sentence and are
    /// logged here, with `doing` (what failed) and the whole chain.
    pub fn public(self, doing: &str) -> (u16, String) {
        let status = self.status();
        let text = match self {
            Error::NotFound(m)
            | Error::Conflict(m)
            | Error::Invalid(m)
            | Error::Forbidden(m)
            | Error::BadRequest(m)
            | Error::TooLarge(m)
            | Error::Refused(m)
            | Error::Upstream(m) => m,
            e if status == 503 => {
                tracing::warn!(error = %format!("{e:#}"), "{doing} failed: the database is not answering");
                UNAVAILABLE.to_owned()
            }
            e => {
                tracing::error!(error = %format!("{e:#}"), "{doing} failed");
                INTERNAL.to_owned()
            }
        };
        (status, text)
    }

    /// The reason to show for a failed step: the text of a [`Error::Refused`] anywhere in
    /// `e`'s chain (also inside I/O errors, whose `source` skips what they wrap), or `None`
    /// when the failure is the server's own and only the server log may tell it.
    pub fn refusal(e: &anyhow::Error) -> Option<&str> {
        e.chain().find_map(refusal_in)
    }

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

/// The text of a [`Error::Refused`] in `e` or what it wraps.
pub(crate) fn refusal_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a str> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(Error::Refused(text)) = err.downcast_ref::<Error>() {
            return Some(text);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(text) = refusal_in(inner) {
                return Some(text);
            }
        }
        current = err.source();
    }
    None
}

/// Whether a database error is a violation of the named constraint.
pub(crate) fn violates(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(constraint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_errors_keep_their_text_and_internal_ones_never_show_it() {
        let cases = [
            (Error::BadRequest("b".into()), 400, "b"),
            (Error::Forbidden("f".into()), 403, "f"),
            (Error::NotFound("n".into()), 404, "n"),
            (Error::Conflict("c".into()), 409, "c"),
            (Error::TooLarge("t".into()), 413, "t"),
            (Error::Invalid("i".into()), 422, "i"),
            (Error::Refused("r".into()), 422, "r"),
            (
                Error::Internal(anyhow::anyhow!("password=hunter2")),
                500,
                INTERNAL,
            ),
            (Error::from(sqlx::Error::PoolTimedOut), 503, UNAVAILABLE),
            (
                Error::Internal(anyhow::Error::new(sqlx::Error::PoolTimedOut).context("wrapped")),
                503,
                UNAVAILABLE,
            ),
        ];
        for (e, status, text) in cases {
            assert_eq!(e.public("test"), (status, text.to_owned()));
        }
    }

    #[test]
    fn a_refusal_is_found_through_context_and_io_errors() {
        let io = std::io::Error::other(Error::Refused("too big".into()));
        let e = anyhow::Error::new(io).context("unpacking");
        assert_eq!(Error::refusal(&e), Some("too big"));
        assert_eq!(Error::refusal(&anyhow::anyhow!("engine gone")), None);
    }
}
