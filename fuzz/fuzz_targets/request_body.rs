//! The request-body reader: any bytes, read as the body of each operation
//! that takes one, must give a value or a Matrix error (`M_NOT_JSON`,
//! `M_BAD_JSON`, `M_MISSING_PARAM`), never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use matrix_accounts::api::runtime::parse_json;
use matrix_accounts::api::types;

fuzz_target!(|data: &[u8]| {
    let _ = parse_json::<types::RegisterRequest>(data);
    let _ = parse_json::<types::RegisterV2AlphaRequest>(data);
    let _ = parse_json::<types::LoginRequest>(data);
    let _ = parse_json::<types::LoginV1Request>(data);
    let _ = parse_json::<types::ChangePasswordRequest>(data);
    let _ = parse_json::<types::Add3pidRequest>(data);
    let _ = parse_json::<types::Post3pidsRequest>(data);
    let _ = parse_json::<types::RefreshRequest>(data);
    let _ = parse_json::<types::RequestEmailValidation>(data);
    let _ = parse_json::<types::SubmitEmailTokenRequest>(data);
    let _ = parse_json::<types::DeactivateAccountRequest>(data);
    let _ = parse_json::<types::DeleteDevicesRequest>(data);
    let _ = parse_json::<types::UpdateDeviceRequest>(data);
    let _ = parse_json::<types::SharedSecretRegisterRequest>(data);
    let _ = parse_json::<types::AdminResetPasswordRequest>(data);
    let _ = parse_json::<types::NewRegistrationTokenRequest>(data);
    let _ = parse_json::<types::UpdateRegistrationTokenRequest>(data);
    let _ = parse_json::<serde_json::Map<String, serde_json::Value>>(data);
});
