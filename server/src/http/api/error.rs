//! The API's errors (a status and a plain-text reason) and its JSON body: an empty body counts
//! as `{}`, malformed JSON is 400, a body of the wrong shape is 422.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// An API error: a status and a plain-text reason. Core errors become one through
/// [`slipway_core::Error::public`], the one table of statuses, so internal text never leaves.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    text: String,
}

impl From<slipway_core::Error> for ApiError {
    fn from(e: slipway_core::Error) -> Self {
        let (status, text) = e.public("request");
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            text,
        }
    }
}

impl ApiError {
    pub fn bad_request(text: impl Into<String>) -> Self {
        slipway_core::Error::BadRequest(text.into()).into()
    }

    pub fn not_found(text: impl Into<String>) -> Self {
        slipway_core::Error::NotFound(text.into()).into()
    }

    pub fn invalid(text: impl Into<String>) -> Self {
        slipway_core::Error::Invalid(text.into()).into()
    }

    /// A `Range` header that selects nothing (416); the API's own.
    pub fn range_not_satisfiable(text: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::RANGE_NOT_SATISFIABLE,
            text: text.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            self.text,
        )
            .into_response()
    }
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::bad_request("The request body could not be read."))?;
        let text = if bytes.iter().all(u8::is_ascii_whitespace) {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        let value: serde_json::Value = serde_json::from_slice(text)
            .map_err(|e| ApiError::bad_request(format!("Malformed JSON: {e}.")))?;
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| ApiError::invalid(format!("The request body is not valid: {e}.")))
    }
}
