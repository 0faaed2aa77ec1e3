//! Third-party identifiers under `/v3` and `/r0`: the list, `3pid/add`
//! (UIA, validated through the configured `identity.threepid_delegate`),
//! `3pid/delete`, the deprecated `POST /account/3pid` with
//! `three_pid_creds`, and `3pid/bind` / `3pid/unbind`, against a tiny
//! identity server on 127.0.0.1.

use crate::common;
use crate::identity_server;
use crate::v3_support;

use common::{Answer, TestServer, call};
use identity_server::{IdentityServer, VALIDATED_AT, unreachable_address};
use matrix_accounts::config::Bucket;
use serde_json::{Value, json};
use v3_support::{PASSWORD, PREFIXES, assert_error, login_with, ok, password_auth, session_of, text, user};

/// A server trusting `identity`, which also validates `3pid/add` sessions
/// when `delegate` is set.
fn server_trusting(identity: &IdentityServer, delegate: bool) -> TestServer {
    TestServer::with(|c| {
        c.identity.trusted_servers = vec![identity.address.clone()];
        c.identity.insecure_http = true;
        c.identity.threepid_delegate = delegate.then(|| identity.address.clone());
    })
}

async fn post(server: &TestServer, path: &str, token: &str, body: Value) -> Answer {
    call(server, "POST", path, Some(&body), Some(token)).await
}

async fn list(server: &TestServer, prefix: &str, token: &str) -> Value {
    ok(call(server, "GET", &format!("{prefix}/account/3pid"), None, Some(token)).await)["threepids"].clone()
}

#[tokio::test]
async fn add_through_the_delegate_list_and_delete() {
    let identity = IdentityServer::start();
    let server = server_trusting(&identity, true);
    for prefix in PREFIXES {
        let suffix = &prefix[16..];
        let name = format!("wes{suffix}");
        let token = user(&server, prefix, &name).await;
        let add = format!("{prefix}/account/3pid/add");
        let address = format!("wes{suffix}@example.org");
        let (sid, secret) = (format!("sid{suffix}"), format!("secret{suffix}"));
        identity.validate(&sid, &secret, "email", &address);

        // The array is always there, even empty.
        assert_eq!(list(&server, prefix, &token).await, json!([]));

        let first = post(&server, &add, &token, json!({"sid": sid, "client_secret": secret})).await;
        assert_eq!(first.body["flows"], json!([{"stages": ["m.login.password"]}]));
        let session = session_of(&first);
        // The follow-up carries only `auth`: the session remembers sid and secret.
        let follow_up = json!({"auth": password_auth(&name, PASSWORD, Some(&session))});
        assert_eq!(ok(post(&server, &add, &token, follow_up).await), json!({}));

        let threepids = list(&server, prefix, &token).await;
        assert_eq!(threepids.as_array().unwrap().len(), 1, "{threepids}");
        assert_eq!((&threepids[0]["medium"], &threepids[0]["address"]), (&json!("email"), &json!(address)));
        assert_eq!(threepids[0]["validated_at"], VALIDATED_AT);
        assert!(threepids[0]["added_at"].as_i64().unwrap() > VALIDATED_AT, "{threepids}");

        // The address now names the account at login.
        let by_email = json!({"identifier": {"type": "m.id.thirdparty", "medium": "email", "address": address}});
        let logged_in = ok(login_with(&server, prefix, "", PASSWORD, by_email).await);
        assert_eq!(text(&logged_in, "user_id"), format!("@{name}:localhost"));

        // Someone else cannot take it.
        let other_name = format!("xia{suffix}");
        let other = user(&server, prefix, &other_name).await;
        let taken = json!({"sid": sid, "client_secret": secret, "auth": password_auth(&other_name, PASSWORD, None)});
        assert_error(&post(&server, &add, &other, taken).await, 400, "M_THREEPID_IN_USE");

        // A session the identity server never validated.
        let unvalidated = json!({"sid": "nope", "client_secret": "nope", "auth": password_auth(&name, PASSWORD, None)});
        assert_error(&post(&server, &add, &token, unvalidated).await, 400, "M_THREEPID_AUTH_FAILED");
        let missing = json!({"client_secret": "c", "auth": password_auth(&name, PASSWORD, None)});
        assert_error(&post(&server, &add, &token, missing).await, 400, "M_MISSING_PARAM");

        let delete = format!("{prefix}/account/3pid/delete");
        let gone =
            ok(post(&server, &delete, &token, json!({"medium": "email", "address": address.to_uppercase()})).await);
        assert_eq!(gone, json!({"id_server_unbind_result": "no-support"}));
        assert_eq!(list(&server, prefix, &token).await, json!([]));
        // Deleting what the account does not have is no error.
        let again = ok(post(&server, &delete, &token, json!({"medium": "email", "address": address})).await);
        assert_eq!(again, json!({"id_server_unbind_result": "no-support"}));
        assert_error(&post(&server, &delete, &token, json!({"medium": "email"})).await, 400, "M_MISSING_PARAM");
    }
}

#[tokio::test]
async fn without_a_delegate_add_validates_nothing() {
    let identity = IdentityServer::start();
    identity.validate("s1", "c1", "email", "yan@example.org");
    let server = server_trusting(&identity, false);
    for prefix in PREFIXES {
        let name = format!("yan{}", &prefix[16..]);
        let token = user(&server, prefix, &name).await;
        let body = json!({"sid": "s1", "client_secret": "c1", "auth": password_auth(&name, PASSWORD, None)});
        let answer = post(&server, &format!("{prefix}/account/3pid/add"), &token, body).await;
        assert_error(&answer, 400, "M_THREEPID_AUTH_FAILED");
        assert_eq!(list(&server, prefix, &token).await, json!([]));
    }
}

#[tokio::test]
async fn the_deprecated_post_with_three_pid_creds() {
    let identity = IdentityServer::start();
    let server = server_trusting(&identity, false);
    for prefix in PREFIXES {
        let suffix = &prefix[16..];
        let token = user(&server, prefix, &format!("zed{suffix}")).await;
        let path = format!("{prefix}/account/3pid");
        let (sid, secret) = (format!("s{suffix}"), format!("c{suffix}"));
        let address = format!("zed{suffix}@example.org");
        let creds = identity.creds_json(&sid, &secret);

        // Not validated yet.
        let answer = post(&server, &path, &token, json!({"three_pid_creds": creds})).await;
        assert_error(&answer, 400, "M_THREEPID_AUTH_FAILED");

        // No UIA on this old form; `bind` asks the identity server to bind.
        identity.validate(&sid, &secret, "email", &address);
        let answer = ok(post(&server, &path, &token, json!({"three_pid_creds": creds, "bind": true})).await);
        assert_eq!(answer, json!({}));
        assert_eq!(list(&server, prefix, &token).await[0]["address"], json!(address));
        let binds = identity.binds();
        assert_eq!(binds.last().unwrap()["sid"], json!(sid), "{binds:?}");

        // Identity servers the operator does not trust are not asked.
        let untrusted =
            json!({"three_pid_creds": {"id_server": "id.example.org", "sid": sid, "client_secret": secret}});
        assert_error(&post(&server, &path, &token, untrusted).await, 400, "M_THREEPID_AUTH_FAILED");
        assert!(identity.requests().iter().all(|request| !request.contains("id.example.org")));

        assert_error(&post(&server, &path, &token, json!({})).await, 400, "M_MISSING_PARAM");
        let partial = json!({"three_pid_creds": {"id_server": identity.address, "sid": sid}});
        assert_error(&post(&server, &path, &token, partial).await, 400, "M_MISSING_PARAM");
        assert_error(
            &call(&server, "POST", &path, Some(&json!({"three_pid_creds": creds})), None).await,
            401,
            "M_MISSING_TOKEN",
        );
    }

    // A trusted but unreachable identity server fails the request cleanly.
    let down = unreachable_address();
    let server = TestServer::with(|c| {
        c.identity.trusted_servers = vec![down.clone()];
        c.identity.insecure_http = true;
    });
    let token = user(&server, PREFIXES[0], "ada").await;
    let creds = json!({"three_pid_creds": {"id_server": down, "sid": "s", "client_secret": "c"}});
    let answer = post(&server, &format!("{}/account/3pid", PREFIXES[0]), &token, creds).await;
    assert!(matches!(answer.status, 400 | 502 | 503 | 504), "{} {}", answer.status, answer.body);
    assert!(answer.errcode().starts_with("M_"), "{}", answer.body);
}

#[tokio::test]
async fn every_3pid_operation_needs_a_token() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let get = call(&server, "GET", &format!("{prefix}/account/3pid"), None, None).await;
        assert_error(&get, 401, "M_MISSING_TOKEN");
        for (path, body) in [
            ("3pid/add", json!({"sid": "s", "client_secret": "c"})),
            ("3pid/delete", json!({"medium": "email", "address": "a@example.org"})),
            ("3pid/bind", json!({"sid": "s", "client_secret": "c", "id_server": "i", "id_access_token": "t"})),
            ("3pid/unbind", json!({"medium": "email", "address": "a@example.org"})),
        ] {
            let answer = call(&server, "POST", &format!("{prefix}/account/{path}"), Some(&body), None).await;
            assert_error(&answer, 401, "M_MISSING_TOKEN");
            let answer = call(&server, "POST", &format!("{prefix}/account/{path}"), Some(&body), Some("mat_x")).await;
            assert_error(&answer, 401, "M_UNKNOWN_TOKEN");
        }
    }
}

#[tokio::test]
async fn bind_asks_a_trusted_identity_server() {
    let identity = IdentityServer::start();
    let server = server_trusting(&identity, false);
    for prefix in PREFIXES {
        let suffix = &prefix[16..];
        let name = format!("bea{suffix}");
        let token = user(&server, prefix, &name).await;
        let path = format!("{prefix}/account/3pid/bind");
        let (sid, secret) = (format!("b{suffix}"), format!("k{suffix}"));
        let body = |id_server: &str, sid: &str| json!({"client_secret": secret, "id_server": id_server, "id_access_token": "ida_x", "sid": sid});

        // Not validated: the identity server refuses, as for 3pid add.
        let bound = identity.binds().len();
        assert_error(&post(&server, &path, &token, body(&identity.address, &sid)).await, 400, "M_THREEPID_AUTH_FAILED");
        assert_eq!(identity.binds().len(), bound);

        identity.validate(&sid, &secret, "email", &format!("bea{suffix}@example.org"));
        assert_eq!(ok(post(&server, &path, &token, body(&identity.address, &sid)).await), json!({}));
        let binds = identity.binds();
        assert_eq!(
            binds.last().unwrap(),
            &json!({"sid": sid, "client_secret": secret, "mxid": format!("@{name}:localhost")}),
            "{binds:?}"
        );
        // Binding attaches nothing here.
        assert_eq!(list(&server, prefix, &token).await, json!([]));

        // Identity servers the operator does not trust are not asked.
        let asked = identity.requests().len();
        let untrusted = post(&server, &path, &token, body("id.example.org", &sid)).await;
        assert_error(&untrusted, 400, "M_THREEPID_AUTH_FAILED");
        assert_eq!(identity.requests().len(), asked);

        let mut partial = body(&identity.address, &sid);
        partial.as_object_mut().unwrap().remove("sid");
        assert_error(&post(&server, &path, &token, partial).await, 400, "M_MISSING_PARAM");
        assert_error(&post(&server, &path, &token, body(&identity.address, "bad sid!")).await, 400, "M_INVALID_PARAM");
    }
}

#[tokio::test]
async fn bind_is_rate_limited_like_adding() {
    let identity = IdentityServer::start();
    let server = TestServer::with(|c| {
        c.identity.trusted_servers = vec![identity.address.clone()];
        c.identity.insecure_http = true;
        c.rate_limits.enabled = true;
        c.rate_limits.threepid = Bucket { per_second: 0.001, burst: 2 };
    });
    identity.validate("sid", "secret", "email", "rae@example.org");
    let token = user(&server, PREFIXES[0], "rae").await;
    let body = json!({"client_secret": "secret", "id_server": identity.address, "id_access_token": "t", "sid": "sid"});
    let mut statuses = Vec::new();
    for prefix in PREFIXES.iter().cycle().take(3) {
        statuses.push(post(&server, &format!("{prefix}/account/3pid/bind"), &token, body.clone()).await.status);
    }
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test]
async fn unbind_answers_no_support_and_keeps_the_3pid() {
    let identity = IdentityServer::start();
    let server = server_trusting(&identity, false);
    for prefix in PREFIXES {
        let suffix = &prefix[16..];
        let token = user(&server, prefix, &format!("una{suffix}")).await;
        let address = format!("una{suffix}@example.org");
        let (sid, secret) = (format!("u{suffix}"), format!("v{suffix}"));
        identity.validate(&sid, &secret, "email", &address);
        let creds = identity.creds_json(&sid, &secret);
        ok(post(&server, &format!("{prefix}/account/3pid"), &token, json!({"three_pid_creds": creds})).await);

        let path = format!("{prefix}/account/3pid/unbind");
        let asked = identity.requests().len();
        let body = json!({"medium": "email", "address": address, "id_server": identity.address});
        assert_eq!(ok(post(&server, &path, &token, body).await), json!({"id_server_unbind_result": "no-support"}));
        let without_server = json!({"medium": "email", "address": address});
        assert_eq!(
            ok(post(&server, &path, &token, without_server).await),
            json!({"id_server_unbind_result": "no-support"})
        );
        assert_eq!(identity.requests().len(), asked, "no identity server is asked");
        assert_eq!(list(&server, prefix, &token).await[0]["address"], json!(address), "the 3pid stays attached");

        assert_error(&post(&server, &path, &token, json!({"medium": "email"})).await, 400, "M_MISSING_PARAM");
        assert_error(&post(&server, &path, &token, json!({"medium": 5, "address": "a"})).await, 400, "M_BAD_JSON");
    }
}
