//! `POST /_matrix/client/api/v2_alpha/register` over HTTP, against the real
//! binary: User-Interactive Authentication, the username rules (checked
//! before UIA), registration tokens, and the seed's response shape.

use crate::common;

use common::{
    SEED_PASSWORD, SEED_V2, TestServer, call, call_raw_with, seed_login, seed_register, seed_token_status, seed_user,
};
use serde_json::{Value, json};

fn register_path() -> String {
    format!("{SEED_V2}/register")
}

async fn register(server: &TestServer, body: &Value) -> common::Answer {
    call(server, "POST", &register_path(), Some(body), None).await
}

/// The session of a 401 UIA challenge, after checking its shape.
fn challenge_session(answer: &common::Answer, stages: &[&str]) -> String {
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.body["flows"], json!([{ "stages": stages }]), "{}", answer.body);
    assert_eq!(answer.body["params"], json!({}), "{}", answer.body);
    assert!(answer.body.get("errcode").is_none(), "a plain challenge has no errcode: {}", answer.body);
    let session = answer.body["session"].as_str().expect("a session").to_owned();
    assert!(!session.is_empty());
    session
}

#[tokio::test]
async fn the_first_request_is_a_uia_challenge() {
    let server = TestServer::start();
    let empty = register(&server, &json!({})).await;
    let first = challenge_session(&empty, &["m.login.dummy"]);
    assert!(empty.body.get("completed").is_none(), "the first challenge lists no completed stages");

    // No body at all is the same challenge (the seed's body is optional).
    let no_body = call(&server, "POST", &register_path(), None, None).await;
    let second = challenge_session(&no_body, &["m.login.dummy"]);
    assert_ne!(first, second, "each challenge opens its own session");

    // Nothing was created: the challenge names no user and writes no account.
    let answer = register(&server, &json!({"username": "amy", "password": SEED_PASSWORD})).await;
    challenge_session(&answer, &["m.login.dummy"]);
    assert_eq!(seed_login(&server, "amy", SEED_PASSWORD).await.status, 403);
}

#[tokio::test]
async fn two_steps_with_a_session_register_and_answer_the_seed_shape() {
    let server = TestServer::start();
    let body = json!({"username": "alice", "password": SEED_PASSWORD});
    let session = challenge_session(&register(&server, &body).await, &["m.login.dummy"]);

    let mut complete = body.clone();
    complete["auth"] = json!({"type": "m.login.dummy", "session": session});
    let done = register(&server, &complete).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["user_id"], "@alice:localhost");
    assert_eq!(done.body["home_server"], "localhost");
    let access = done.body["access_token"].as_str().expect("access_token");
    let refresh = done.body["refresh_token"].as_str().expect("refresh_token");
    assert!(!access.is_empty() && !refresh.is_empty() && access != refresh);
    let keys: Vec<&str> = done.body.as_object().unwrap().keys().map(String::as_str).collect();
    assert!(
        keys.iter().all(|key| ["user_id", "access_token", "home_server", "refresh_token"].contains(key)),
        "the seed answers only its four fields: {keys:?}"
    );

    // The tokens are real: the access token authenticates, the refresh
    // token rotates, the password logs in.
    assert_eq!(seed_token_status(&server, access).await, (200, String::new()));
    let refreshed =
        call(&server, "POST", &format!("{SEED_V2}/tokenrefresh"), Some(&json!({"refresh_token": refresh})), None).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(seed_login(&server, "alice", SEED_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn one_shot_dummy_auth_without_a_session() {
    let server = TestServer::start();
    let answer = seed_register(&server, "bob").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["user_id"], "@bob:localhost");
    assert_eq!(seed_login(&server, "bob", SEED_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_follow_up_with_only_auth_completes_the_original_request() {
    let server = TestServer::start();
    let first = register(&server, &json!({"username": "Carol", "password": "carol's own password"})).await;
    let session = challenge_session(&first, &["m.login.dummy"]);

    let done = register(&server, &json!({"auth": {"type": "m.login.dummy", "session": session}})).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["user_id"], "@carol:localhost", "the username came from the first request");
    // ...and so did the password.
    assert_eq!(seed_login(&server, "carol", "carol's own password").await.status, 200);
    assert_eq!(seed_login(&server, "carol", SEED_PASSWORD).await.status, 403);
}

#[tokio::test]
async fn replaying_a_completed_session_returns_the_same_user() {
    let server = TestServer::start();
    let body = json!({"username": "dora", "password": SEED_PASSWORD});
    let session = challenge_session(&register(&server, &body).await, &["m.login.dummy"]);
    let mut complete = body.clone();
    complete["auth"] = json!({"type": "m.login.dummy", "session": session});

    let first = register(&server, &complete).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let replay = register(&server, &complete).await;
    assert_eq!(replay.status, 200, "a replay is not M_USER_IN_USE: {}", replay.body);
    assert_eq!(replay.body["user_id"], first.body["user_id"]);
    assert_ne!(replay.body["access_token"], first.body["access_token"], "a replay signs in a new device");
    for answer in [&first, &replay] {
        let token = answer.body["access_token"].as_str().unwrap();
        assert_eq!(seed_token_status(&server, token).await.0, 200);
    }
    // An unknown session is refused, and creates nothing.
    let unknown = register(
        &server,
        &json!({"username": "eddie", "password": SEED_PASSWORD, "auth": {"type": "m.login.dummy", "session": "nope"}}),
    )
    .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(seed_register(&server, "eddie").await.status, 200);
}

#[tokio::test]
async fn registration_tokens_when_configured() {
    let server = TestServer::with(|c| c.registration.tokens = vec!["letmein".into()]);
    let body = json!({"username": "fred", "password": SEED_PASSWORD});
    let session = challenge_session(&register(&server, &body).await, &["m.login.registration_token"]);

    // Dummy is not offered when tokens are required.
    let dummy =
        register(&server, &json!({"username": "fred", "password": SEED_PASSWORD, "auth": {"type": "m.login.dummy"}}))
            .await;
    assert_eq!(dummy.status, 400, "{}", dummy.body);
    assert_eq!(dummy.errcode(), "M_INVALID_PARAM");

    // A wrong token fails the stage: 401, the same session, completed,
    // M_UNAUTHORIZED (as Synapse answers).
    let mut wrong = body.clone();
    wrong["auth"] = json!({"type": "m.login.registration_token", "token": "guess", "session": session});
    let refused = register(&server, &wrong).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.errcode(), "M_UNAUTHORIZED");
    assert_eq!(refused.body["session"], session.as_str());
    assert_eq!(refused.body["completed"], json!([]));
    assert_eq!(refused.body["flows"], json!([{"stages": ["m.login.registration_token"]}]));
    assert_eq!(seed_login(&server, "fred", SEED_PASSWORD).await.status, 403, "no account yet");

    let mut right = body.clone();
    right["auth"] = json!({"type": "m.login.registration_token", "token": "letmein", "session": session});
    let done = register(&server, &right).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["user_id"], "@fred:localhost");

    // One-shot with the token, no session.
    let one_shot = register(
        &server,
        &json!({"username": "gina", "password": SEED_PASSWORD,
                "auth": {"type": "m.login.registration_token", "token": "letmein"}}),
    )
    .await;
    assert_eq!(one_shot.status, 200, "{}", one_shot.body);
    let one_shot_wrong = register(
        &server,
        &json!({"username": "hank", "password": SEED_PASSWORD,
                "auth": {"type": "m.login.registration_token", "token": "nope"}}),
    )
    .await;
    assert_eq!((one_shot_wrong.status, one_shot_wrong.errcode()), (401, "M_UNAUTHORIZED"), "{}", one_shot_wrong.body);
}

#[tokio::test]
async fn usernames_are_lower_cased() {
    let server = TestServer::start();
    let answer = seed_register(&server, "MixedCase_X").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["user_id"], "@mixedcase_x:localhost");
    // The other case is the same name.
    let again = seed_register(&server, "MIXEDCASE_x").await;
    assert_eq!((again.status, again.errcode()), (400, "M_USER_IN_USE"), "{}", again.body);
}

#[tokio::test]
async fn invalid_usernames_are_refused_before_uia() {
    let server = TestServer::start();
    let too_long = "a".repeat(245); // "@" + 245 + ":localhost" = 256 bytes
    for (username, why) in [
        ("Bad Name!", "characters outside the grammar"),
        ("é", "non-ASCII"),
        ("12345", "all digits"),
        ("_bridge", "a leading underscore"),
        ("", "empty"),
        (too_long.as_str(), "a user ID over 255 bytes"),
    ] {
        // Without auth: refused at once, not challenged.
        let first = register(&server, &json!({"username": username, "password": SEED_PASSWORD})).await;
        assert_eq!((first.status, first.errcode()), (400, "M_INVALID_USERNAME"), "{why}: {}", first.body);
        assert!(first.body.get("session").is_none(), "{why}: no UIA session for a bad name");
        let one_shot = seed_register(&server, username).await;
        assert_eq!((one_shot.status, one_shot.errcode()), (400, "M_INVALID_USERNAME"), "{why}: {}", one_shot.body);
    }
    // The boundary: exactly 255 bytes is allowed.
    let longest = "a".repeat(244);
    let answer = seed_register(&server, &longest).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["user_id"].as_str().unwrap().len(), 255);
    // Every allowed character.
    assert_eq!(seed_register(&server, "a.b=c-d/e+f_g").await.status, 200);
}

#[tokio::test]
async fn a_taken_username_is_refused_on_the_first_request() {
    let server = TestServer::start();
    seed_user(&server, "ivy").await;
    let first = register(&server, &json!({"username": "ivy", "password": "other"})).await;
    assert_eq!((first.status, first.errcode()), (400, "M_USER_IN_USE"), "{}", first.body);
    assert!(first.body.get("session").is_none());
    let one_shot = seed_register(&server, "IVY").await;
    assert_eq!((one_shot.status, one_shot.errcode()), (400, "M_USER_IN_USE"), "{}", one_shot.body);
    // The original password is untouched.
    assert_eq!(seed_login(&server, "ivy", SEED_PASSWORD).await.status, 200);
    assert_eq!(seed_login(&server, "ivy", "other").await.status, 403);
}

#[tokio::test]
async fn a_name_taken_during_the_session_is_in_use_at_its_end() {
    let server = TestServer::start();
    let session = challenge_session(
        &register(&server, &json!({"username": "jack", "password": "first"})).await,
        &["m.login.dummy"],
    );
    seed_user(&server, "jack").await;
    let late = register(&server, &json!({"auth": {"type": "m.login.dummy", "session": session}})).await;
    assert_eq!((late.status, late.errcode()), (400, "M_USER_IN_USE"), "{}", late.body);
    assert_eq!(seed_login(&server, "jack", SEED_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn exclusive_namespaces_are_refused() {
    let server = TestServer::with(|c| c.registration.exclusive_namespaces = vec!["bridge_.*".into()]);
    for username in ["bridge_alice", "Bridge_Bob"] {
        let first = register(&server, &json!({"username": username, "password": SEED_PASSWORD})).await;
        assert_eq!((first.status, first.errcode()), (400, "M_EXCLUSIVE"), "{username}: {}", first.body);
        let one_shot = seed_register(&server, username).await;
        assert_eq!((one_shot.status, one_shot.errcode()), (400, "M_EXCLUSIVE"), "{username}: {}", one_shot.body);
    }
    // The pattern covers the whole localpart only.
    assert_eq!(seed_register(&server, "my_bridge_alice").await.status, 200);
}

#[tokio::test]
async fn without_a_username_the_server_picks_one() {
    let server = TestServer::start();
    let body = json!({"password": SEED_PASSWORD, "auth": {"type": "m.login.dummy"}});
    let first = register(&server, &body).await;
    let second = register(&server, &body).await;
    for answer in [&first, &second] {
        assert_eq!(answer.status, 200, "{}", answer.body);
        let user_id = answer.body["user_id"].as_str().unwrap();
        let localpart = user_id.strip_prefix('@').and_then(|id| id.strip_suffix(":localhost")).expect(user_id);
        assert!(!localpart.is_empty());
        assert_eq!(seed_login(&server, localpart, SEED_PASSWORD).await.status, 200, "{user_id} logs in");
    }
    assert_ne!(first.body["user_id"], second.body["user_id"]);
}

#[tokio::test]
async fn a_missing_password_is_refused_and_leaves_the_name_free() {
    let server = TestServer::start();
    for body in [
        json!({"username": "kim", "auth": {"type": "m.login.dummy"}}),
        json!({"username": "kim", "password": "", "auth": {"type": "m.login.dummy"}}),
    ] {
        let answer = register(&server, &body).await;
        assert_eq!((answer.status, answer.errcode()), (400, "M_MISSING_PARAM"), "{body}: {}", answer.body);
    }
    assert_eq!(seed_register(&server, "kim").await.status, 200, "the failures reserved nothing");
}

#[tokio::test]
async fn disabled_registration_is_forbidden() {
    let server = TestServer::with(|c| c.registration.enabled = false);
    for body in [json!({}), json!({"username": "leo", "password": SEED_PASSWORD, "auth": {"type": "m.login.dummy"}})] {
        let answer = register(&server, &body).await;
        assert_eq!((answer.status, answer.errcode()), (403, "M_FORBIDDEN"), "{body}: {}", answer.body);
    }
    assert_eq!(seed_login(&server, "leo", SEED_PASSWORD).await.status, 403);
}

#[tokio::test]
async fn curl_form_content_type_is_read_as_json() {
    let server = TestServer::start();
    let body = json!({"username": "mia", "password": SEED_PASSWORD, "auth": {"type": "m.login.dummy"}});
    let answer = call_raw_with(
        &server,
        "POST",
        &register_path(),
        body.to_string().into_bytes(),
        &[("content-type", "application/x-www-form-urlencoded")],
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["user_id"], "@mia:localhost");
    // And the first step too.
    let challenge = call_raw_with(
        &server,
        "POST",
        &register_path(),
        b"{}".to_vec(),
        &[("content-type", "application/x-www-form-urlencoded")],
        None,
    )
    .await;
    challenge_session(&challenge, &["m.login.dummy"]);
}
