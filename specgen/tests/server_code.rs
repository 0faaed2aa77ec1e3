//! The generated server code for operations with more than one success
//! status: the handler chooses, among the documented ones only.

mod common;

use common::{assert_no_errors, load};
use specgen::emit::{EmitOptions, server_code};

#[test]
fn several_success_statuses_make_an_enum_the_handler_returns() {
    let spec = load("two_successes");
    assert_no_errors(&spec);
    let code = server_code(&spec, &EmitOptions::default()).expect("the code generates");
    let squeezed: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
    // One variant per documented 2xx, lowest first, named after the status,
    // carrying that status's body (a shared schema is one type).
    for expected in [
        "pub enum PutUserSuccess {",
        "/// 200: Modified. Ok(types::User),",
        "/// 201: Created. Created(types::User),",
        "/// 202: Accepted, with a body of its own. Accepted(types::PutUserResponse202),",
        "PutUserSuccess::Created(body) => runtime::Answer::new(201u16, body),",
        "Output = Result<PutUserSuccess, Error>",
        "Operation::PutUser => { runtime::respond_with_status(",
    ] {
        assert!(squeezed.contains(expected), "no `{expected}` in:\n{code}");
    }
    // An operation with one success keeps its fixed status and its body type.
    assert!(squeezed.contains("Operation::DeleteUser => { runtime::respond::< _, 204u16, >("), "{code}");
    assert!(!squeezed.contains("DeleteUserSuccess"), "{code}");
}
