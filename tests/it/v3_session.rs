//! What an access token is worth under `/v3` and `/r0`: whoami, where the
//! token may come from, `POST /refresh` rotation (v3 only, as in the spec
//! since v1.3), expiry, and logging out one device or all of them.

use crate::common;
use crate::v3_support;

use std::time::Duration;

use common::{Answer, TestServer, call};
use serde_json::{Value, json};
use v3_support::{
    PREFIXES, R0, V3, assert_error, call_with_authorization, call_with_query_token, login, login_with, ok,
    post_without_body, register, register_with, text, user, whoami,
};

/// 401 `M_UNKNOWN_TOKEN` with the given `soft_logout`.
#[track_caller]
fn assert_unknown_token(answer: &Answer, soft_logout: bool) {
    assert_error(answer, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(answer.body["soft_logout"], soft_logout, "{}", answer.body);
}

async fn refresh(server: &TestServer, refresh_token: &str) -> Answer {
    call(server, "POST", &format!("{V3}/refresh"), Some(&json!({"refresh_token": refresh_token})), None).await
}

/// The (access, refresh) pair of a registration or refresh body.
fn pair(body: &Value) -> (String, String) {
    (text(body, "access_token").to_owned(), text(body, "refresh_token").to_owned())
}

#[tokio::test]
async fn whoami_and_where_the_token_comes_from() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("lou{}", &prefix[16..]);
        let registered = register(&server, prefix, &name).await;
        let token = text(&registered, "access_token");
        let path = format!("{prefix}/account/whoami");
        let expected =
            json!({"user_id": format!("@{name}:localhost"), "device_id": registered["device_id"], "is_guest": false});

        assert_eq!(ok(whoami(&server, prefix, token).await), expected);
        // The deprecated query parameter, alone or beside a header (the
        // header wins); the auth scheme is case-insensitive (RFC 9110).
        assert_eq!(ok(call_with_query_token(&server, "GET", &path, token, None).await), expected);
        let both = call_with_query_token(&server, "GET", &path, "mat_stale", Some(&format!("Bearer {token}"))).await;
        assert_eq!(ok(both), expected);
        assert_eq!(ok(call_with_authorization(&server, "GET", &path, &format!("bearer {token}")).await), expected);

        assert_error(&call(&server, "GET", &path, None, None).await, 401, "M_MISSING_TOKEN");
        assert_error(
            &call_with_authorization(&server, "GET", &path, "Basic dXNlcjpwdw==").await,
            401,
            "M_MISSING_TOKEN",
        );
        assert_error(&call_with_authorization(&server, "GET", &path, "Bearer ").await, 401, "M_MISSING_TOKEN");
        assert_unknown_token(&whoami(&server, prefix, "mat_nonsense").await, false);
        assert_unknown_token(&call_with_query_token(&server, "GET", &path, "mat_nonsense", None).await, false);
    }
}

#[tokio::test]
async fn refresh_rotates_the_pair() {
    let server = TestServer::start();
    let registered = ok(register_with(&server, V3, "mia", json!({"refresh_token": true})).await);
    let device = registered["device_id"].clone();
    let (a1, r1) = pair(&registered);

    let second = ok(refresh(&server, &r1).await);
    assert_eq!(second["expires_in_ms"], 300_000);
    let (a2, r2) = pair(&second);
    assert!(a2.starts_with("mat_") && r2.starts_with("mar_") && a2 != a1 && r2 != r1);
    // The old access token still works, and the new pair is the same device.
    ok(whoami(&server, V3, &a1).await);

    // R1 may be used again until the new pair is: that kills (A2, R2).
    let third = ok(refresh(&server, &r1).await);
    let (a3, r3) = pair(&third);
    assert_unknown_token(&whoami(&server, V3, &a2).await, false);
    assert_unknown_token(&refresh(&server, &r2).await, false);

    // Using A3 retires R1 for good.
    assert_eq!(ok(whoami(&server, V3, &a3).await)["device_id"], device);
    assert_unknown_token(&refresh(&server, &r1).await, false);

    // Refreshing R3 straight away chains; then R3 is spent.
    let (_, r4) = pair(&ok(refresh(&server, &r3).await));
    let (a5, _) = pair(&ok(refresh(&server, &r4).await));
    assert_unknown_token(&refresh(&server, &r3).await, false);
    assert_eq!(ok(whoami(&server, V3, &a5).await)["device_id"], device);

    // Not refresh tokens at all.
    assert_unknown_token(&refresh(&server, "mar_garbage").await, false);
    assert_unknown_token(&refresh(&server, &a5).await, false);
    assert_unknown_token(&refresh(&server, "").await, false);
    let path = format!("{V3}/refresh");
    assert_error(&call(&server, "POST", &path, Some(&json!({})), None).await, 400, "M_MISSING_PARAM");
    assert_error(&call(&server, "POST", &path, Some(&json!({"refresh_token": 7})), None).await, 400, "M_BAD_JSON");

    // `/refresh` arrived in v1.3: there is no r0 one.
    let r0 = call(&server, "POST", &format!("{R0}/refresh"), Some(&json!({"refresh_token": r4})), None).await;
    assert_eq!(r0.status, 404, "{}", r0.body);
}

#[tokio::test]
async fn an_expired_access_token_is_a_soft_logout() {
    let server = TestServer::with(|c| c.tokens.access_token_lifetime = std::time::Duration::from_millis(2000));
    for prefix in PREFIXES {
        let name = format!("nia{}", &prefix[16..]);
        let registered = ok(register_with(&server, prefix, &name, json!({"refresh_token": true})).await);
        assert_eq!(registered["expires_in_ms"], 2000);
        let (access, refresh_token) = pair(&registered);
        // A token issued without a refresh token does not expire.
        let forever = login(&server, prefix, &name, v3_support::PASSWORD).await;
        ok(whoami(&server, prefix, &access).await);

        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_unknown_token(&whoami(&server, prefix, &access).await, true);
        ok(whoami(&server, prefix, &forever).await);
        // The refresh token outlives it.
        let (renewed, _) = pair(&ok(refresh(&server, &refresh_token).await));
        ok(whoami(&server, prefix, &renewed).await);
    }
}

/// The spec lets a client log out with an expired access token (it is
/// ending the session anyway), as Synapse does; whoami still refuses it.
#[tokio::test]
async fn logout_accepts_an_expired_access_token() {
    let server = TestServer::with(|c| c.tokens.access_token_lifetime = std::time::Duration::from_millis(1000));
    let registered = ok(register_with(&server, V3, "lapsed", json!({"refresh_token": true})).await);
    let (one, refresh_token) = pair(&registered);
    let second = ok(login_with(&server, V3, "lapsed", v3_support::PASSWORD, json!({"refresh_token": true})).await);
    let (all, _) = pair(&second);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_unknown_token(&whoami(&server, V3, &one).await, true);

    assert_eq!(ok(post_without_body(&server, &format!("{V3}/logout"), Some(&one)).await), json!({}));
    assert_unknown_token(&refresh(&server, &refresh_token).await, false);
    assert_unknown_token(&post_without_body(&server, &format!("{V3}/logout"), Some(&one)).await, false);
    assert_eq!(ok(post_without_body(&server, &format!("{V3}/logout/all"), Some(&all)).await), json!({}));
    assert_unknown_token(&post_without_body(&server, &format!("{V3}/logout/all"), Some(&all)).await, false);
}

#[tokio::test]
async fn logout_of_one_device() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("ola{}", &prefix[16..]);
        let registered = ok(register_with(&server, prefix, &name, json!({"refresh_token": true})).await);
        let (first, refresh_token) = pair(&registered);
        let second = login(&server, prefix, &name, v3_support::PASSWORD).await;
        let third = login(&server, prefix, &name, v3_support::PASSWORD).await;

        // The body may be absent, or `{}`.
        let path = format!("{prefix}/logout");
        assert_eq!(ok(post_without_body(&server, &path, Some(&first)).await), json!({}));
        assert_unknown_token(&whoami(&server, prefix, &first).await, false);
        assert_unknown_token(&call(&server, "POST", &path, Some(&json!({})), Some(&first)).await, false);
        // The device's refresh token went with it.
        assert_unknown_token(&refresh(&server, &refresh_token).await, false);
        ok(whoami(&server, prefix, &second).await);

        assert_eq!(ok(call(&server, "POST", &path, Some(&json!({})), Some(&second)).await), json!({}));
        assert_unknown_token(&whoami(&server, prefix, &second).await, false);
        // The query parameter works here too.
        assert_eq!(ok(call_with_query_token(&server, "POST", &path, &third, None).await), json!({}));
        assert_unknown_token(&whoami(&server, prefix, &third).await, false);

        assert_error(&post_without_body(&server, &path, None).await, 401, "M_MISSING_TOKEN");
    }
}

#[tokio::test]
async fn logout_of_every_device() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("pia{}", &prefix[16..]);
        let registered = ok(register_with(&server, prefix, &name, json!({"refresh_token": true})).await);
        let (first, refresh_token) = pair(&registered);
        let second = login(&server, prefix, &name, v3_support::PASSWORD).await;
        let bystander = user(&server, prefix, &format!("quin{}", &prefix[16..])).await;

        let path = format!("{prefix}/logout/all");
        assert_eq!(ok(post_without_body(&server, &path, Some(&second)).await), json!({}));
        // The caller's device too, and every refresh token.
        for token in [&first, &second] {
            assert_unknown_token(&whoami(&server, prefix, token).await, false);
        }
        assert_unknown_token(&refresh(&server, &refresh_token).await, false);
        ok(whoami(&server, prefix, &bystander).await);
        // Logging in again works.
        let again = login(&server, prefix, &name, v3_support::PASSWORD).await;
        assert_eq!(ok(call(&server, "POST", &path, Some(&json!({})), Some(&again)).await), json!({}));
        assert_error(&post_without_body(&server, &path, None).await, 401, "M_MISSING_TOKEN");
    }
}
