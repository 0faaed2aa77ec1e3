//! Every answer of a generated route: the documented success, or a Matrix
//! error, both with CORS headers.
//!
//! dropshot renders a handler's `Err` itself, and gives custom error types
//! no way to add headers. So the generated handlers answer `Ok(Reply)`
//! whatever happened, and [`Reply`] renders both outcomes: the success body
//! with the status the YAML documents, or the error with its own status,
//! `Retry-After` and any other header it implies.

use dropshot::{ApiEndpointResponse, Body, HttpError, HttpResponse, HttpResponseOk};
use http::{Response, StatusCode, header};
use schemars::JsonSchema;
use serde::Serialize;

use super::cors;
use crate::error::Error;

type HandlerResult = Result<Response<Body>, HttpError>;

/// The outcome of an operation whose success is `STATUS` with a `T` body.
/// A 204 success has no body.
pub struct Reply<T, const STATUS: u16 = 200>(pub Result<T, Error>);

impl<T, const STATUS: u16> Reply<T, STATUS> {
    const STATUS_CODE: StatusCode = match StatusCode::from_u16(STATUS) {
        Ok(status) => status,
        Err(_) => panic!("Reply needs a valid HTTP status"),
    };
}

/// Runs a handler body and wraps its outcome, so that `?` works inside.
pub async fn reply<T, const STATUS: u16>(
    handler: impl Future<Output = Result<T, Error>>,
) -> Result<Reply<T, STATUS>, Error> {
    Ok(Reply(handler.await))
}

impl<T, const STATUS: u16> HttpResponse for Reply<T, STATUS>
where
    T: Serialize + JsonSchema + Send + Sync + 'static,
{
    fn to_result(self) -> HandlerResult {
        match self.0 {
            Ok(_) if Self::STATUS_CODE == StatusCode::NO_CONTENT => {
                Ok(cors::allow_any_origin(Response::builder()).status(StatusCode::NO_CONTENT).body(Body::empty())?)
            }
            Ok(body) => json(Self::STATUS_CODE, &body, cors::allow_any_origin(Response::builder())),
            Err(error) => {
                let mut builder = cors::allow_any_origin(Response::builder());
                if let Some(seconds) = error.retry_after_secs() {
                    builder = builder.header(header::RETRY_AFTER, seconds);
                }
                for (name, value) in error.headers() {
                    builder = builder.header(name, value);
                }
                json(error.status(), &error, builder)
            }
        }
    }

    fn response_metadata() -> ApiEndpointResponse {
        ApiEndpointResponse { success: Some(Self::STATUS_CODE), ..HttpResponseOk::<T>::response_metadata() }
    }

    fn status_code(&self) -> StatusCode {
        match &self.0 {
            Ok(_) => Self::STATUS_CODE,
            Err(error) => error.status(),
        }
    }
}

fn json(status: StatusCode, body: &impl Serialize, builder: http::response::Builder) -> HandlerResult {
    let body = serde_json::to_vec(body).map_err(|e| HttpError::for_internal_error(e.to_string()))?;
    Ok(builder.status(status).header(header::CONTENT_TYPE, dropshot::CONTENT_TYPE_JSON).body(body.into())?)
}
