//! The progenitor client generated from the published document (the
//! committed copy is `generated/client.rs`) is enough to use the server:
//! register through UIA, log in, refresh, change the password and list
//! third-party identifiers, with no hand-written HTTP.

use crate::common;

#[allow(dead_code, unused_imports, clippy::all, clippy::pedantic)]
mod client {
    // The committed copy, kept fresh by `tests/it/generated.rs`: server builds
    // never generate the client.
    include!("../../generated/client.rs");
}

use client::{Client, Error, types};
use common::TestServer;
use serde_json::{Map, Value, json};

/// A client that sends `token` as its bearer token.
fn client_with_token(server: &TestServer, token: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    headers.insert(reqwest::header::AUTHORIZATION, value);
    Client::new_with_client(&server.base, reqwest::Client::builder().default_headers(headers).build().unwrap())
}

fn auth(fields: Value) -> types::UiaAuthData {
    let Value::Object(fields) = fields else { unreachable!("auth is an object") };
    types::UiaAuthData(fields)
}

/// The body of a documented error answer, with its status.
fn error_body(error: Error<types::MatrixError>) -> (u16, Map<String, Value>) {
    match error {
        Error::ErrorResponse(response) => (response.status().as_u16(), response.into_inner().0),
        other => panic!("expected a documented error answer, got {other}"),
    }
}

#[tokio::test]
async fn the_generated_client_covers_an_account_lifetime() {
    let server = TestServer::start();
    let anonymous = Client::new(&server.base);

    // Register: the first request gets a UIA challenge, the second
    // completes it with the session and nothing else.
    let first = types::RegisterV2AlphaRequest {
        username: Some("Lark".into()),
        password: Some("first-pass".into()),
        auth: None,
        bind_email: None,
    };
    let (status, challenge) = error_body(anonymous.register_v2_alpha(&first).await.unwrap_err());
    assert_eq!(status, 401);
    assert_eq!(challenge["flows"], json!([{"stages": ["m.login.dummy"]}]));
    let session = challenge["session"].as_str().expect("a UIA session").to_owned();
    let completing = types::RegisterV2AlphaRequest {
        auth: Some(auth(json!({"type": "m.login.dummy", "session": session}))),
        username: None,
        password: None,
        bind_email: None,
    };
    let registered = anonymous.register_v2_alpha(&completing).await.unwrap().into_inner();
    assert_eq!(registered.user_id, "@lark:localhost");
    assert_eq!(registered.home_server, "localhost");

    // Log in, any letter case.
    let login =
        types::LoginV1Request { type_: "m.login.password".into(), user: "LARK".into(), password: "first-pass".into() };
    let logged_in = anonymous.login_v1(&login).await.unwrap().into_inner();
    assert_eq!(logged_in.user_id, "@lark:localhost");
    let refresh_token = logged_in.refresh_token.expect("the seed's login gives a refresh token");

    // Refresh: a new pair, and the new access token works.
    let refreshed = anonymous
        .token_refresh_v2_alpha(&types::TokenRefreshV2AlphaRequest { refresh_token: refresh_token.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(refreshed.refresh_token, refresh_token);
    let me = client_with_token(&server, &refreshed.access_token);
    let threepids = me.get_three_pids_v2_alpha().await.unwrap().into_inner();
    assert!(threepids.threepids.is_empty());

    // Change the password with m.login.password, in one request.
    let change = types::ChangePasswordV2AlphaRequest {
        new_password: Some("second-pass".into()),
        auth: Some(auth(json!({"type": "m.login.password", "user": "lark", "password": "first-pass"}))),
    };
    me.change_password_v2_alpha(&change).await.unwrap();
    let old =
        types::LoginV1Request { type_: "m.login.password".into(), user: "lark".into(), password: "first-pass".into() };
    let (status, refused) = error_body(anonymous.login_v1(&old).await.unwrap_err());
    assert_eq!((status, refused["errcode"].as_str()), (403, Some("M_FORBIDDEN")));
    let new =
        types::LoginV1Request { type_: "m.login.password".into(), user: "lark".into(), password: "second-pass".into() };
    anonymous.login_v1(&new).await.unwrap();

    // The caller's own token survived the password change.
    let still = me.get_three_pids_v2_alpha().await.unwrap().into_inner();
    assert!(still.threepids.is_empty());
}
