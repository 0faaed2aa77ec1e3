//! Regressions found in review, over HTTP on today's paths: what a client
//! sees of the UIA rules (the follow-up's password wins, a completed password
//! change or 3pid add session is used up, one session registers one
//! account), of the registration rate limit (starting a flow costs an
//! attempt), and of disabled registration (no guests either). The domain
//! tests (`tests/it/accounts_*.rs`) cover the same rules in more detail.

use crate::common;
use crate::identity_server;
use crate::v3_support;

use common::{Answer, TestServer, call, client};
use identity_server::IdentityServer;
use matrix_accounts::config::Bucket;
use serde_json::json;
use v3_support::{PASSWORD, V3, assert_error, login_with, ok, password_auth, session_of, text, user};

#[tokio::test]
async fn a_registration_follow_up_with_another_password_sets_that_one() {
    let server = TestServer::start();
    let path = format!("{V3}/register");
    let first = json!({"username": "ada", "password": "first password"});
    let session = session_of(&call(&server, "POST", &path, Some(&first), None).await);
    let follow_up = json!({"username": "ada", "password": "second password",
        "auth": {"type": "m.login.dummy", "session": session}});
    ok(call(&server, "POST", &path, Some(&follow_up), None).await);
    ok(login_with(&server, V3, "ada", "second password", json!({})).await);
    assert_error(&login_with(&server, V3, "ada", "first password", json!({})).await, 403, "M_FORBIDDEN");
}

#[tokio::test]
async fn a_completed_password_change_session_cannot_be_replayed() {
    let server = TestServer::start();
    let token = user(&server, V3, "bo").await;
    let path = format!("{V3}/account/password");
    let first = json!({"new_password": "new password", "logout_devices": false});
    let session = session_of(&call(&server, "POST", &path, Some(&first), Some(&token)).await);
    let follow_up = json!({"auth": password_auth("bo", PASSWORD, Some(&session))});
    ok(call(&server, "POST", &path, Some(&follow_up), Some(&token)).await);

    // The same auth again, now with a password of the replayer's choosing.
    let replay = json!({"new_password": "stolen", "auth": password_auth("bo", PASSWORD, Some(&session))});
    let answer = call(&server, "POST", &path, Some(&replay), Some(&token)).await;
    assert_error(&answer, 400, "M_UNKNOWN");
    ok(login_with(&server, V3, "bo", "new password", json!({})).await);
    assert_error(&login_with(&server, V3, "bo", "stolen", json!({})).await, 403, "M_FORBIDDEN");
}

#[tokio::test]
async fn a_completed_3pid_add_session_cannot_be_replayed() {
    let identity = IdentityServer::start();
    let server = TestServer::with(|c| {
        c.identity.trusted_servers = vec![identity.address.clone()];
        c.identity.insecure_http = true;
        c.identity.threepid_delegate = Some(identity.address.clone());
    });
    let token = user(&server, V3, "cy").await;
    let add = format!("{V3}/account/3pid/add");
    identity.validate("sid1", "secret1", "email", "cy@example.org");
    identity.validate("sid2", "secret2", "email", "someone-else@example.org");
    let first = json!({"sid": "sid1", "client_secret": "secret1"});
    let session = session_of(&call(&server, "POST", &add, Some(&first), Some(&token)).await);
    let follow_up = json!({"auth": password_auth("cy", PASSWORD, Some(&session))});
    ok(call(&server, "POST", &add, Some(&follow_up), Some(&token)).await);

    let replay = json!({"sid": "sid2", "client_secret": "secret2",
        "auth": password_auth("cy", PASSWORD, Some(&session))});
    assert_error(&call(&server, "POST", &add, Some(&replay), Some(&token)).await, 400, "M_UNKNOWN");
    let listed = ok(call(&server, "GET", &format!("{V3}/account/3pid"), None, Some(&token)).await);
    assert_eq!(listed["threepids"].as_array().map(Vec::len), Some(1), "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_completions_of_one_registration_session_make_one_account() {
    let server = TestServer::start();
    let path = format!("{V3}/register");
    let first = json!({"password": PASSWORD});
    let session = session_of(&call(&server, "POST", &path, Some(&first), None).await);
    // Each completion repeats the request (a retry must prove it is the
    // client that completed the session: the same password).
    let done = json!({"password": PASSWORD, "auth": {"type": "m.login.dummy", "session": session}});
    let url = server.url(&path);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (url, done) = (url.clone(), done.clone());
            tokio::spawn(async move { Answer::from(client().post(url).json(&done).send().await.unwrap()).await })
        })
        .collect();
    let mut user_ids = Vec::new();
    for task in tasks {
        user_ids.push(text(&ok(task.await.unwrap()), "user_id").to_owned());
    }
    user_ids.sort();
    user_ids.dedup();
    assert_eq!(user_ids, ["@1:localhost"]);
}

#[tokio::test]
async fn starting_a_registration_flow_costs_an_attempt() {
    let server = TestServer::with(|c| {
        c.rate_limits.enabled = true;
        c.rate_limits.register = Bucket { per_second: 0.001, burst: 2 };
    });
    let path = format!("{V3}/register");
    // Each first step stores a session and hashes a password: it counts.
    for name in ["dee", "eve"] {
        let first = json!({"username": name, "password": PASSWORD});
        session_of(&call(&server, "POST", &path, Some(&first), None).await);
    }
    let third = json!({"username": "fay", "password": PASSWORD});
    let answer = call(&server, "POST", &path, Some(&third), None).await;
    assert_error(&answer, 429, "M_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn disabled_registration_refuses_guests_too() {
    let server = TestServer::with(|c| {
        c.registration.enabled = false;
        c.registration.guest_access = true;
    });
    let answer = call(&server, "POST", &format!("{V3}/register?kind=guest"), Some(&json!({})), None).await;
    assert_error(&answer, 403, "M_FORBIDDEN");
}
