//! The one error type of server functions, on both sides: the text a user may read (core's
//! [`Error::public`](slipway_core::Error::public) decides it on the server) and nothing else.
//! It replaces `ServerFnError`, whose text says "error running server function: …".

use std::fmt;

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiError {
    pub message: String,
}

impl UiError {
    pub fn new(message: impl Into<String>) -> Self {
        UiError {
            message: message.into(),
        }
    }
}

impl fmt::Display for UiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl FromServerFnError for UiError {
    type Encoder = JsonEncoding;

    /// The framework's own failures: the server not reached, an answer that cannot be read.
    fn from_server_fn_error(e: ServerFnErrorErr) -> Self {
        UiError::new(match e {
            ServerFnErrorErr::Request(_) => {
                "The server could not be reached. Try again.".to_owned()
            }
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                "The form sent something the server does not take.".to_owned()
            }
            _ => "Something went wrong between this page and the server. Reload it.".to_owned(),
        })
    }
}
