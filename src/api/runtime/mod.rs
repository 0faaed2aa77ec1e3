//! Support for the generated layer: the request a handler sees, the answer
//! it gives, credentials, routing helpers, and the Matrix shape of every
//! error.
//!
//! The generated code (`route`, `dispatch`, the group traits) is specific to
//! the document; everything here is not, and is written once: the body is
//! read with the spec's errcodes, every answer carries CORS headers, a
//! path the document does not describe is 404 `M_UNRECOGNIZED` and a
//! method a path does not serve is 405 `M_UNRECOGNIZED`.

mod body;
mod cors;
mod credentials;
mod errors;
mod request;
mod responses;
mod routing;

pub use body::{parse_json, read_body};
pub use credentials::AccessToken;
pub use errors::{method_not_allowed, not_found, not_implemented};
pub use request::{Request, decode_path_parameter};
pub use responses::{
    Answer, Prerendered, Response, WithStatus, error_response, preflight, respond, respond_with_status,
};
pub use routing::{Routed, split_path};
