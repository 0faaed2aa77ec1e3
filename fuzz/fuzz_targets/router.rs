//! The generated router: any method and path (the first byte picks the
//! method, the rest is the path) must route somewhere or nowhere, never
//! panic; and a path parameter it hands out must percent-decode to a value
//! or a Matrix error.

#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use matrix_accounts::api::route;
use matrix_accounts::api::runtime::Routed;

const METHODS: [Method; 8] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
    Method::TRACE,
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let Ok(path) = std::str::from_utf8(rest) else { return };
    let method = &METHODS[usize::from(first) % METHODS.len()];
    if let Routed::Operation(_, parameters) = route(method, path) {
        for parameter in parameters {
            let _ = percent_encoding_roundtrip(&parameter);
        }
    }
});

/// What `Request::path_parameter` does with a parameter.
fn percent_encoding_roundtrip(raw: &str) -> Option<String> {
    matrix_accounts::api::runtime::decode_path_parameter(raw).ok()
}
