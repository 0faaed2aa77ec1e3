//! `GET /login` and `POST /login` under `/v3` and `/r0`: identifier objects,
//! the legacy `user` field, devices, refresh tokens, and one answer for
//! every credential failure.

use crate::common;
use crate::v3_support;

use common::{TestServer, call};
use serde_json::json;
use v3_support::{PASSWORD, PREFIXES, assert_error, login_with, ok, register, text, whoami};

#[tokio::test]
async fn the_flows() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let flows = ok(call(&server, "GET", &format!("{prefix}/login"), None, None).await);
        assert_eq!(flows, json!({"flows": [{"type": "m.login.password"}]}));
    }
}

#[tokio::test]
async fn every_way_of_naming_the_user() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("ivy{}", &prefix[16..]);
        register(&server, prefix, &name).await;
        let user_id = format!("@{name}:localhost");
        let path = format!("{prefix}/login");

        let identifiers = [
            json!({"identifier": {"type": "m.id.user", "user": name}}),
            json!({"identifier": {"type": "m.id.user", "user": user_id}}),
            json!({"identifier": {"type": "m.id.user", "user": name.to_uppercase()}}),
            json!({"identifier": {"type": "m.id.user", "user": format!("@{}:LOCALHOST", name.to_uppercase())}}),
            // The legacy top-level `user` (matrix-js-sdk sends it), alone or
            // beside the identifier.
            json!({"user": name}),
            json!({"user": user_id.to_uppercase()}),
            json!({"user": name, "identifier": {"type": "m.id.user", "user": name}}),
        ];
        for identifier in identifiers {
            let mut body = json!({"type": "m.login.password", "password": PASSWORD});
            body.as_object_mut().unwrap().extend(identifier.as_object().unwrap().clone());
            let answer = ok(call(&server, "POST", &path, Some(&body), None).await);
            assert_eq!(text(&answer, "user_id"), user_id, "{body}");
            assert_eq!(text(&answer, "home_server"), "localhost");
            assert!(text(&answer, "access_token").starts_with("mat_"));
            assert!(answer.get("refresh_token").is_none() && answer.get("expires_in_ms").is_none(), "{answer}");
            let me = ok(whoami(&server, prefix, text(&answer, "access_token")).await);
            assert_eq!(me["device_id"], answer["device_id"]);
        }
    }
}

#[tokio::test]
async fn devices_and_refresh_tokens() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("jay{}", &prefix[16..]);
        register(&server, prefix, &name).await;

        let device = json!({"device_id": "JAYPHONE", "initial_device_display_name": "Jay's phone"});
        let first = ok(login_with(&server, prefix, &name, PASSWORD, device.clone()).await);
        assert_eq!(text(&first, "device_id"), "JAYPHONE");
        let first_token = text(&first, "access_token");
        assert_eq!(ok(whoami(&server, prefix, first_token).await)["device_id"], "JAYPHONE");

        // Logging in again on the same device replaces its tokens.
        let second = ok(login_with(&server, prefix, &name, PASSWORD, device).await);
        assert_eq!(text(&second, "device_id"), "JAYPHONE");
        assert_error(&whoami(&server, prefix, first_token).await, 401, "M_UNKNOWN_TOKEN");
        ok(whoami(&server, prefix, text(&second, "access_token")).await);

        // Two logins without a device ID: two devices, both valid.
        let a = ok(login_with(&server, prefix, &name, PASSWORD, json!({})).await);
        let b = ok(login_with(&server, prefix, &name, PASSWORD, json!({})).await);
        assert_ne!(a["device_id"], b["device_id"]);
        ok(whoami(&server, prefix, text(&a, "access_token")).await);

        let refreshing = ok(login_with(&server, prefix, &name, PASSWORD, json!({"refresh_token": true})).await);
        assert!(text(&refreshing, "refresh_token").starts_with("mar_"), "{refreshing}");
        assert_eq!(refreshing["expires_in_ms"], 300_000);
        let plain = ok(login_with(&server, prefix, &name, PASSWORD, json!({"refresh_token": false})).await);
        assert!(plain.get("refresh_token").is_none(), "{plain}");
    }
}

#[tokio::test]
async fn every_credential_failure_is_the_same_403() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("kai{}", &prefix[16..]);
        register(&server, prefix, &name).await;
        let failures = [
            login_with(&server, prefix, &name, "wrong", json!({})).await,
            login_with(&server, prefix, "nobody", PASSWORD, json!({})).await,
            login_with(&server, prefix, &format!("@{name}:other.example"), PASSWORD, json!({})).await,
            login_with(&server, prefix, "@", PASSWORD, json!({})).await,
            login_with(
                &server,
                prefix,
                "",
                PASSWORD,
                json!({"identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "kai@example.org"}}),
            )
            .await,
        ];
        for answer in failures {
            assert_error(&answer, 403, "M_FORBIDDEN");
            assert_eq!(answer.body["error"], "Invalid username or password");
        }
    }
}

#[tokio::test]
async fn malformed_logins() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let path = format!("{prefix}/login");
        let send = |body: serde_json::Value| {
            let (server, path) = (&server, path.clone());
            async move { call(server, "POST", &path, Some(&body), None).await }
        };
        let user = json!({"type": "m.id.user", "user": "someone"});
        assert_error(&send(json!({"type": "m.login.password", "identifier": user})).await, 400, "M_INVALID_PARAM");
        assert_error(&send(json!({"type": "m.login.password", "password": PASSWORD})).await, 400, "M_INVALID_PARAM");
        assert_error(&send(json!({"identifier": user, "password": PASSWORD})).await, 400, "M_MISSING_PARAM");
        let unknown_type = send(json!({"type": "m.login.carrier_pigeon", "identifier": user, "password": "x"})).await;
        assert_error(&unknown_type, 400, "M_UNKNOWN");
        // A type this server does not offer, whose body names no user.
        let token_login = send(json!({"type": "m.login.token", "token": "abc"})).await;
        assert_error(&token_login, 400, "M_UNKNOWN");
        assert_eq!(token_login.body["error"], "Unknown login type m.login.token");
        let unknown_identifier =
            send(json!({"type": "m.login.password", "identifier": {"type": "m.id.bogus"}, "password": "x"})).await;
        assert_eq!(unknown_identifier.status, 400, "{}", unknown_identifier.body);
        assert_error(&send(json!({"type": 5})).await, 400, "M_BAD_JSON");
    }
}
