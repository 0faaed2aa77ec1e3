//! `GET` and `POST /_matrix/client/api/v2_alpha/account/3pid` over HTTP,
//! validated by a real identity server that the test runs on 127.0.0.1.

use crate::common;
use crate::identity_server;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{SEED_V2, TestServer, call, seed_user};
use identity_server::{IdentityServer, VALIDATED_AT, unreachable_address};
use serde_json::{Value, json};

fn path() -> String {
    format!("{SEED_V2}/account/3pid")
}

/// A server that trusts these identity servers, over plain HTTP.
fn server_trusting(servers: &[&str]) -> TestServer {
    TestServer::with(|c| {
        c.identity.trusted_servers = servers.iter().map(|s| s.to_string()).collect();
        c.identity.insecure_http = true;
    })
}

async fn list(server: &TestServer, token: &str) -> Value {
    let answer = call(server, "GET", &path(), None, Some(token)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["threepids"].clone()
}

async fn add(server: &TestServer, token: &str, creds: Value, bind: Option<bool>) -> common::Answer {
    let mut body = json!({"threePidCreds": creds});
    if let Some(bind) = bind {
        body["bind"] = bind.into();
    }
    call(server, "POST", &path(), Some(&body), Some(token)).await
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn assert_auth_failed(answer: &common::Answer, what: &str) {
    assert_eq!((answer.status, answer.errcode()), (400, "M_THREEPID_AUTH_FAILED"), "{what}: {}", answer.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn validated_3pids_are_stored_with_their_times() {
    let identity = IdentityServer::start();
    let server = server_trusting(&[&identity.address]);
    let token = seed_user(&server, "alice").await;

    let empty = call(&server, "GET", &path(), None, Some(&token)).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!({"threepids": []}), "the array is there even when empty");

    identity.validate("s1", "secret1", "email", "Alice@Example.org");
    let before = now_ms();
    let added = add(&server, &token, identity.creds_json("s1", "secret1"), None).await;
    let after = now_ms();
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body, json!({}));
    assert!(
        identity
            .requests()
            .iter()
            .any(|r| r == "/_matrix/identity/api/v1/3pid/getValidated3pid?sid=s1&client_secret=secret1"),
        "the identity server was asked: {:?}",
        identity.requests()
    );
    assert!(identity.binds().is_empty(), "no bind without bind: true");

    let threepids = list(&server, &token).await;
    assert_eq!(threepids.as_array().unwrap().len(), 1, "{threepids}");
    let stored = &threepids[0];
    assert_eq!(stored["medium"], "email");
    assert_eq!(stored["address"], "alice@example.org", "e-mail addresses are stored lower-cased");
    assert_eq!(stored["validated_at"], VALIDATED_AT, "validated_at is the identity server's");
    let added_at = stored["added_at"].as_i64().expect("added_at");
    assert!((before..=after).contains(&added_at), "added_at {added_at} not within [{before}, {after}]");

    // Adding it again changes nothing.
    assert_eq!(add(&server, &token, identity.creds_json("s1", "secret1"), Some(false)).await.status, 200);
    assert_eq!(list(&server, &token).await, threepids);
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_true_binds_at_the_identity_server() {
    let identity = IdentityServer::start();
    let server = server_trusting(&[&identity.address]);
    let token = seed_user(&server, "bob").await;
    identity.validate("s2", "secret2", "email", "bob@example.org");
    let added = add(&server, &token, identity.creds_json("s2", "secret2"), Some(true)).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(identity.binds(), [json!({"sid": "s2", "client_secret": "secret2", "mxid": "@bob:localhost"})]);
    assert_eq!(list(&server, &token).await[0]["address"], "bob@example.org");

    // A refused bind stores nothing.
    identity.refuse_binds(true);
    identity.validate("s3", "secret3", "email", "bob2@example.org");
    let refused = add(&server, &token, identity.creds_json("s3", "secret3"), Some(true)).await;
    assert_auth_failed(&refused, "bind refused");
    assert_eq!(list(&server, &token).await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_validation_failure_is_threepid_auth_failed_and_stores_nothing() {
    let identity = IdentityServer::start();
    identity.validate("s1", "secret1", "email", "carol@example.org");
    // Knows the same session, but this homeserver does not trust it.
    let untrusted = IdentityServer::start();
    untrusted.validate("s1", "secret1", "email", "carol@example.org");
    let unreachable = unreachable_address();
    let server = server_trusting(&[&identity.address, &unreachable]);
    let token = seed_user(&server, "carol").await;

    assert_auth_failed(&add(&server, &token, untrusted.creds_json("s1", "secret1"), None).await, "untrusted");
    assert!(untrusted.requests().is_empty(), "an untrusted server is never asked: {:?}", untrusted.requests());
    let named = json!({"id_server": "id.example.org", "sid": "s1", "client_secret": "secret1"});
    assert_auth_failed(&add(&server, &token, named, None).await, "untrusted host name");

    assert_auth_failed(&add(&server, &token, identity.creds_json("s9", "secret9"), None).await, "not validated");
    assert_auth_failed(&add(&server, &token, identity.creds_json("s1", "wrong-secret"), None).await, "wrong secret");
    let unreachable_creds = json!({"id_server": unreachable, "sid": "s1", "client_secret": "secret1"});
    assert_auth_failed(&add(&server, &token, unreachable_creds, Some(true)).await, "unreachable");

    assert_eq!(list(&server, &token).await, json!([]));
    assert!(identity.binds().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_3pid_on_another_account_is_refused() {
    let identity = IdentityServer::start();
    let server = server_trusting(&[&identity.address]);
    let dave = seed_user(&server, "dave").await;
    let erin = seed_user(&server, "erin").await;
    identity.validate("s1", "secret1", "email", "shared@example.org");
    assert_eq!(add(&server, &dave, identity.creds_json("s1", "secret1"), None).await.status, 200);

    // Erin validated the same address (in another case) in her own session.
    identity.validate("s2", "secret2", "email", "SHARED@example.org");
    let refused = add(&server, &erin, identity.creds_json("s2", "secret2"), Some(true)).await;
    assert_eq!((refused.status, refused.errcode()), (400, "M_THREEPID_IN_USE"), "{}", refused.body);
    assert_eq!(list(&server, &erin).await, json!([]));
    assert!(identity.binds().is_empty(), "no bind for a refused 3pid");
    assert_eq!(list(&server, &dave).await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_and_tokens() {
    let identity = IdentityServer::start();
    let server = server_trusting(&[&identity.address]);
    let token = seed_user(&server, "finn").await;
    let creds = identity.creds_json("s1", "secret1");

    let no_token = call(&server, "GET", &path(), None, None).await;
    assert_eq!((no_token.status, no_token.errcode()), (401, "M_MISSING_TOKEN"));
    let bad_token = call(&server, "GET", &path(), None, Some("nope")).await;
    assert_eq!((bad_token.status, bad_token.errcode()), (401, "M_UNKNOWN_TOKEN"));
    let by_query = call(&server, "GET", &format!("{}?access_token={token}", path()), None, None).await;
    assert_eq!((by_query.status, by_query.body.clone()), (200, json!({"threepids": []})), "the deprecated query token");
    let post_no_token = call(&server, "POST", &path(), Some(&json!({"threePidCreds": creds})), None).await;
    assert_eq!((post_no_token.status, post_no_token.errcode()), (401, "M_MISSING_TOKEN"));

    for (body, code) in [
        (json!({}), "M_MISSING_PARAM"),
        (json!({"threePidCreds": {"id_server": identity.address, "client_secret": "x"}}), "M_MISSING_PARAM"),
        (json!({"three_pid_creds": creds}), "M_MISSING_PARAM"),
        (json!({"threePidCreds": "creds"}), "M_BAD_JSON"),
        (json!({"threePidCreds": creds, "bind": "yes"}), "M_BAD_JSON"),
    ] {
        let answer = call(&server, "POST", &path(), Some(&body), Some(&token)).await;
        assert_eq!((answer.status, answer.errcode()), (400, code), "{body}: {}", answer.body);
    }
    // A client secret outside the spec's grammar never reaches the identity server.
    let bad_secret = json!({"id_server": identity.address, "sid": "s1", "client_secret": "bad secret!"});
    let answer = add(&server, &token, bad_secret, None).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(identity.requests().is_empty(), "{:?}", identity.requests());
}

/// The seed's prose prefix `/_matrix/client/v2_alpha` serves the same 3pid
/// calls, on the same account data.
#[tokio::test(flavor = "multi_thread")]
async fn the_prose_prefix_serves_the_same_3pids() {
    let identity = IdentityServer::start();
    let server = server_trusting(&[&identity.address]);
    let token = seed_user(&server, "kai").await;
    let prose = format!("{}/account/3pid", common::SEED_V2_PROSE);

    let empty = call(&server, "GET", &prose, None, Some(&token)).await;
    assert_eq!((empty.status, empty.body), (200, json!({"threepids": []})));
    identity.validate("s1", "secret1", "email", "kai@example.org");
    let body = json!({"threePidCreds": identity.creds_json("s1", "secret1")});
    let added = call(&server, "POST", &prose, Some(&body), Some(&token)).await;
    assert_eq!((added.status, added.body), (200, json!({})));
    assert_eq!(list(&server, &token).await[0]["address"], "kai@example.org");
    let listed = call(&server, "GET", &prose, None, Some(&token)).await;
    assert_eq!(listed.body["threepids"][0]["address"], "kai@example.org");

    let missing = call(&server, "GET", &prose, None, None).await;
    assert_eq!((missing.status, missing.errcode()), (401, "M_MISSING_TOKEN"), "{}", missing.body);
    let forged = json!({"threePidCreds": identity.creds_json("never", "validated")});
    assert_auth_failed(&call(&server, "POST", &prose, Some(&forged), Some(&token)).await, "an unvalidated session");
}
