//! The API's JSON body: an empty body counts as `{}`, malformed JSON is 400, a body of the
//! wrong shape is 422 — each with a plain-text reason.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::api::ApiError;

pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::BadRequest("The request body could not be read.".into()))?;
        let text = if bytes.iter().all(u8::is_ascii_whitespace) {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        let value: serde_json::Value = serde_json::from_slice(text)
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}.")))?;
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| ApiError::Invalid(format!("The request body is not valid: {e}.")))
    }
}
