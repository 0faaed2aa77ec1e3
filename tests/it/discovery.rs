//! What the server tells clients about itself: capabilities, server
//! discovery (`/.well-known/matrix/client`, `well_known` in login), the
//! registration-token validity check.

use matrix_accounts::config::{Bucket, RateLimits};
use serde_json::json;

use crate::common::{TestServer, call};
use crate::v3_support::{PASSWORD, PREFIXES, V3, assert_error, login_with, ok, user};

#[tokio::test]
async fn capabilities_say_what_the_server_really_does() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let token = user(&server, prefix, &format!("olga{}", &prefix[16..])).await;
        let body = ok(call(&server, "GET", &format!("{prefix}/capabilities"), None, Some(&token)).await);
        assert_eq!(
            body["capabilities"],
            json!({
                "m.change_password": {"enabled": true},
                "m.3pid_changes": {"enabled": true},
                "m.set_displayname": {"enabled": false},
                // POST /v1/login/get_token is optional and not offered.
                "m.get_login_token": {"enabled": false},
            })
        );
        assert_error(
            &call(&server, "GET", &format!("{prefix}/capabilities"), None, None).await,
            401,
            "M_MISSING_TOKEN",
        );
    }
}

#[tokio::test]
async fn server_discovery_comes_from_the_configuration() {
    let server = TestServer::start();
    assert_error(&call(&server, "GET", "/.well-known/matrix/client", None, None).await, 404, "M_NOT_FOUND");
    user(&server, V3, "pete").await;
    let login = ok(login_with(&server, V3, "pete", PASSWORD, json!({})).await);
    assert!(login.get("well_known").is_none(), "nothing configured, nothing sent: {login}");

    // public_base_url is the default.
    let server = TestServer::with(|c| c.public_base_url = Some("https://matrix.example.org/".into()));
    let answer = call(&server, "GET", "/.well-known/matrix/client", None, None).await;
    assert_eq!(answer.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
    let expected = json!({"m.homeserver": {"base_url": "https://matrix.example.org"}});
    assert_eq!(ok(answer), expected);
    user(&server, V3, "pete").await;
    let login = ok(login_with(&server, V3, "pete", PASSWORD, json!({})).await);
    assert_eq!(login["well_known"], expected);

    // [well_known] overrides it and may name an identity server.
    let server = TestServer::with(|c| {
        c.public_base_url = Some("https://accounts.example.org".into());
        c.well_known.base_url = Some("https://matrix.example.org".into());
        c.well_known.identity_server = Some("https://id.example.org".into());
    });
    let body = ok(call(&server, "GET", "/.well-known/matrix/client", None, None).await);
    assert_eq!(
        body,
        json!({"m.homeserver": {"base_url": "https://matrix.example.org"},
               "m.identity_server": {"base_url": "https://id.example.org"}})
    );
}

#[tokio::test]
async fn a_registration_token_is_valid_only_while_it_can_be_used() {
    let server = TestServer::with(|c| c.registration.tokens = vec!["open-sesame".into()]);
    let validity =
        |token: &str| format!("/_matrix/client/v1/register/m.login.registration_token/validity?token={token}");
    let body = ok(call(&server, "GET", &validity("open-sesame"), None, None).await);
    assert_eq!(body, json!({"valid": true}));
    let body = ok(call(&server, "GET", &validity("open-sesamE"), None, None).await);
    assert_eq!(body, json!({"valid": false}));
    let missing =
        call(&server, "GET", "/_matrix/client/v1/register/m.login.registration_token/validity", None, None).await;
    assert_error(&missing, 400, "M_MISSING_PARAM");
    // Only under /v1, as the spec has it.
    let v3 =
        call(&server, "GET", "/_matrix/client/v3/register/m.login.registration_token/validity?token=x", None, None)
            .await;
    assert_error(&v3, 404, "M_UNRECOGNIZED");
}

#[tokio::test]
async fn the_validity_check_is_limited_per_address() {
    let server = TestServer::with(|c| {
        c.rate_limits = RateLimits::default();
        c.rate_limits.available = Bucket { per_second: 0.001, burst: 2 };
    });
    let path = "/_matrix/client/v1/register/m.login.registration_token/validity?token=guess";
    for _ in 0..2 {
        ok(call(&server, "GET", path, None, None).await);
    }
    assert_error(&call(&server, "GET", path, None, None).await, 429, "M_LIMIT_EXCEEDED");
}
