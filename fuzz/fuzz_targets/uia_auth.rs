//! The UIA `auth` parser: any JSON document, read as the `auth` of a
//! request, must give a stage or a Matrix error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(auth) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = matrix_accounts::accounts::check_uia_auth(auth);
    }
});
