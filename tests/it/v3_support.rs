//! Helpers for the tests of today's paths (`tests/it/v3_*.rs`): the two
//! prefixes every operation but `/refresh` is served under, and the few
//! requests most tests start with. Builds on `tests/it/common.rs`.

use serde_json::{Value, json};

use crate::common::{Answer, TestServer, call, client};

/// Today's prefix and the r0 one; `/refresh` exists only under the first.
pub const PREFIXES: [&str; 2] = [V3, R0];
pub const V3: &str = "/_matrix/client/v3";
pub const R0: &str = "/_matrix/client/r0";

/// The password every helper registers with.
pub const PASSWORD: &str = "correct horse battery staple";

/// Asserts a Matrix error: status and errcode, with the body in the message.
#[track_caller]
pub fn assert_error(answer: &Answer, status: u16, errcode: &str) {
    assert_eq!((answer.status, answer.errcode()), (status, errcode), "{}", answer.body);
}

/// Asserts a 200 and hands back the body.
#[track_caller]
pub fn ok(answer: Answer) -> Value {
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

/// A string member of a body.
#[track_caller]
pub fn text<'a>(body: &'a Value, member: &str) -> &'a str {
    body[member].as_str().unwrap_or_else(|| panic!("no string {member:?} in {body}"))
}

/// One-shot registration under `prefix` (`auth: m.login.dummy` without a
/// session, as real clients do), with `extra` merged into the body.
pub async fn register_with(server: &TestServer, prefix: &str, username: &str, extra: Value) -> Answer {
    let mut body = json!({"username": username, "password": PASSWORD, "auth": {"type": "m.login.dummy"}});
    merge(&mut body, extra);
    call(server, "POST", &format!("{prefix}/register"), Some(&body), None).await
}

/// [`register_with`] that must succeed; answers the body.
pub async fn register(server: &TestServer, prefix: &str, username: &str) -> Value {
    ok(register_with(server, prefix, username, json!({})).await)
}

/// Registers `username` and answers its access token.
pub async fn user(server: &TestServer, prefix: &str, username: &str) -> String {
    text(&register(server, prefix, username).await, "access_token").to_owned()
}

/// `POST /login` with an `m.id.user` identifier, `extra` merged in.
pub async fn login_with(server: &TestServer, prefix: &str, user: &str, password: &str, extra: Value) -> Answer {
    let mut body = json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    });
    merge(&mut body, extra);
    call(server, "POST", &format!("{prefix}/login"), Some(&body), None).await
}

/// [`login_with`] that must succeed; answers the access token.
pub async fn login(server: &TestServer, prefix: &str, user: &str, password: &str) -> String {
    let body = ok(login_with(server, prefix, user, password, json!({})).await);
    text(&body, "access_token").to_owned()
}

/// `GET /account/whoami` with a bearer token.
pub async fn whoami(server: &TestServer, prefix: &str, token: &str) -> Answer {
    call(server, "GET", &format!("{prefix}/account/whoami"), None, Some(token)).await
}

/// `auth` for an `m.login.password` stage as `user`: the same JSON the
/// domain tests send.
pub use crate::accounts_support::password_auth;

/// The session of a 401 UIA challenge.
#[track_caller]
pub fn session_of(answer: &Answer) -> String {
    assert_eq!(answer.status, 401, "not a UIA challenge: {}", answer.body);
    text(&answer.body, "session").to_owned()
}

/// Sends a request with the token in the deprecated `access_token` query
/// parameter and, optionally, an `Authorization` header of any form.
pub async fn call_with_query_token(
    server: &TestServer,
    method: &str,
    path: &str,
    query_token: &str,
    authorization: Option<&str>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let separator = if path.contains('?') { '&' } else { '?' };
    let token: String = form_urlencoded::byte_serialize(query_token.as_bytes()).collect();
    let url = server.url(&format!("{path}{separator}access_token={token}"));
    let mut request = client().request(method, url);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    Answer::from(request.send().await.expect("sending the request")).await
}

/// Sends a request with a raw `Authorization` header.
pub async fn call_with_authorization(server: &TestServer, method: &str, path: &str, authorization: &str) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let request = client().request(method, server.url(path)).header("authorization", authorization);
    Answer::from(request.send().await.expect("sending the request")).await
}

/// Sends a POST without any body at all (no `Content-Length: 0` JSON).
pub async fn post_without_body(server: &TestServer, path: &str, token: Option<&str>) -> Answer {
    let mut request = client().post(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Answer::from(request.send().await.expect("sending the request")).await
}

fn merge(body: &mut Value, extra: Value) {
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
}
