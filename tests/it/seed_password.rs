//! `POST /_matrix/client/api/v2_alpha/account/password` over HTTP: UIA with
//! `m.login.password` for the access token's own user, what a change does
//! to the account's other devices, and the token-less reset through a
//! validated e-mail address.

use crate::common;
use crate::identity_server;

use common::{SEED_PASSWORD, SEED_V2, TestServer, call, seed_login, seed_token_status, seed_user};
use identity_server::IdentityServer;
use serde_json::{Value, json};

fn password_path() -> String {
    format!("{SEED_V2}/account/password")
}

async fn change(server: &TestServer, token: Option<&str>, body: &Value) -> common::Answer {
    call(server, "POST", &password_path(), Some(body), token).await
}

fn password_auth(user: &str, password: &str, session: Option<&str>) -> Value {
    let mut auth = json!({"type": "m.login.password", "user": user, "password": password});
    if let Some(session) = session {
        auth["session"] = session.into();
    }
    auth
}

/// A seed login that must succeed: (access token, refresh token).
async fn device(server: &TestServer, user: &str) -> (String, String) {
    let answer = seed_login(server, user, SEED_PASSWORD).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    (answer.body["access_token"].as_str().unwrap().into(), answer.body["refresh_token"].as_str().unwrap().into())
}

#[tokio::test]
async fn uia_then_change_revokes_the_other_devices_only() {
    let server = TestServer::start();
    let d1 = seed_user(&server, "alice").await;
    let (d2, d2_refresh) = device(&server, "alice").await;
    let (d3, _) = device(&server, "alice").await;
    let bob = seed_user(&server, "bob").await;

    // No auth: the challenge.
    let challenge = change(&server, Some(&d1), &json!({"new_password": "new-pw"})).await;
    assert_eq!(challenge.status, 401, "{}", challenge.body);
    assert_eq!(challenge.body["flows"], json!([{"stages": ["m.login.password"]}]));
    assert_eq!(challenge.body["params"], json!({}));
    assert!(challenge.body.get("errcode").is_none(), "{}", challenge.body);
    let session = challenge.body["session"].as_str().expect("a session").to_owned();

    // A wrong password: 401 again, same session, completed, M_FORBIDDEN.
    let body = json!({"new_password": "new-pw", "auth": password_auth("alice", "wrong", Some(&session))});
    let wrong = change(&server, Some(&d1), &body).await;
    assert_eq!((wrong.status, wrong.errcode()), (401, "M_FORBIDDEN"), "{}", wrong.body);
    assert_eq!(wrong.body["flows"], json!([{"stages": ["m.login.password"]}]));
    assert_eq!(wrong.body["completed"], json!([]));
    assert_eq!(wrong.body["session"], session.as_str());

    // Another user's valid credentials: 403, and nothing changes.
    let other = json!({"new_password": "new-pw", "auth": password_auth("bob", SEED_PASSWORD, None)});
    let forbidden = change(&server, Some(&d1), &other).await;
    assert_eq!((forbidden.status, forbidden.errcode()), (403, "M_FORBIDDEN"), "{}", forbidden.body);
    // ...nor into a session started by alice.
    let other_in_session =
        json!({"new_password": "new-pw", "auth": password_auth("bob", SEED_PASSWORD, Some(&session))});
    assert_eq!(change(&server, Some(&d1), &other_in_session).await.status, 403);
    // ...nor alice's session through bob's token.
    let hijack = json!({"new_password": "bob-pw", "auth": password_auth("bob", SEED_PASSWORD, Some(&session))});
    assert_eq!(change(&server, Some(&bob), &hijack).await.status, 403);
    for token in [&d1, &d2, &d3] {
        assert_eq!(seed_token_status(&server, token).await.0, 200, "the failures revoked nothing");
    }
    assert_eq!(seed_login(&server, "alice", SEED_PASSWORD).await.status, 200);
    assert_eq!(seed_login(&server, "bob", SEED_PASSWORD).await.status, 200);

    // The right password completes the session.
    let body = json!({"new_password": "new-pw", "auth": password_auth("alice", SEED_PASSWORD, Some(&session))});
    let done = change(&server, Some(&d1), &body).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body, json!({}));

    // The caller's device survives; the others are logged out, refresh tokens too.
    assert_eq!(seed_token_status(&server, &d1).await, (200, String::new()));
    assert_eq!(seed_token_status(&server, &d2).await, (401, "M_UNKNOWN_TOKEN".into()));
    assert_eq!(seed_token_status(&server, &d3).await, (401, "M_UNKNOWN_TOKEN".into()));
    let refresh =
        call(&server, "POST", &format!("{SEED_V2}/tokenrefresh"), Some(&json!({"refresh_token": d2_refresh})), None)
            .await;
    assert_eq!((refresh.status, refresh.errcode()), (401, "M_UNKNOWN_TOKEN"), "{}", refresh.body);
    // Bob is untouched.
    assert_eq!(seed_token_status(&server, &bob).await.0, 200);

    // The new password logs in, the old one does not.
    assert_eq!(seed_login(&server, "alice", "new-pw").await.status, 200);
    let old = seed_login(&server, "alice", SEED_PASSWORD).await;
    assert_eq!((old.status, old.errcode()), (403, "M_FORBIDDEN"));
}

#[tokio::test]
async fn a_follow_up_with_only_auth_sets_the_first_requests_password() {
    let server = TestServer::start();
    let token = seed_user(&server, "carol").await;
    let challenge = change(&server, Some(&token), &json!({"new_password": "from-step-one"})).await;
    let session = challenge.body["session"].as_str().expect("a session").to_owned();
    let done =
        change(&server, Some(&token), &json!({"auth": password_auth("carol", SEED_PASSWORD, Some(&session))})).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(seed_login(&server, "carol", "from-step-one").await.status, 200);
}

#[tokio::test]
async fn one_shot_with_an_identifier_and_any_case() {
    let server = TestServer::start();
    let token = seed_user(&server, "dave").await;
    let auth = json!({"type": "m.login.password", "password": SEED_PASSWORD,
                      "identifier": {"type": "m.id.user", "user": "@DAVE:localhost"}});
    let done = change(&server, Some(&token), &json!({"new_password": "dave-2", "auth": auth})).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(seed_login(&server, "dave", "dave-2").await.status, 200);
}

#[tokio::test]
async fn a_missing_new_password_is_400_not_500() {
    let server = TestServer::start();
    let token = seed_user(&server, "erin").await;
    for body in [
        json!({"auth": password_auth("erin", SEED_PASSWORD, None)}),
        json!({"new_password": "", "auth": password_auth("erin", SEED_PASSWORD, None)}),
        json!({}),
    ] {
        let answer = change(&server, Some(&token), &body).await;
        assert_eq!((answer.status, answer.errcode()), (400, "M_MISSING_PARAM"), "{body}: {}", answer.body);
        assert!(answer.body["error"].as_str().unwrap().contains("new_password"), "{}", answer.body);
    }
    let wrong_type = change(&server, Some(&token), &json!({"new_password": 5})).await;
    assert_eq!((wrong_type.status, wrong_type.errcode()), (400, "M_BAD_JSON"), "{}", wrong_type.body);
    assert_eq!(seed_login(&server, "erin", SEED_PASSWORD).await.status, 200, "the password is unchanged");
}

#[tokio::test]
async fn an_unknown_third_party_identifier_is_not_found() {
    let server = TestServer::start();
    let token = seed_user(&server, "finn").await;
    for auth in [
        json!({"type": "m.login.password", "medium": "email", "address": "nobody@example.org",
               "password": SEED_PASSWORD}),
        json!({"type": "m.login.password", "password": SEED_PASSWORD,
               "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "nobody@example.org"}}),
    ] {
        let answer = change(&server, Some(&token), &json!({"new_password": "x", "auth": auth})).await;
        assert_eq!((answer.status, answer.errcode()), (404, "M_NOT_FOUND"), "{auth}: {}", answer.body);
    }
    assert_eq!(seed_login(&server, "finn", SEED_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn without_a_token_only_the_email_reset_is_offered_and_a_bad_token_is_refused() {
    let server = TestServer::start();
    seed_user(&server, "gina").await;
    let missing = change(&server, None, &json!({"new_password": "x"})).await;
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert_eq!(missing.body["flows"], json!([{"stages": ["m.login.email.identity"]}]), "{}", missing.body);
    // The account's password is no proof without the account's token.
    let body = json!({"new_password": "x", "auth": password_auth("gina", SEED_PASSWORD, None)});
    let password_stage = change(&server, None, &body).await;
    assert_eq!((password_stage.status, password_stage.errcode()), (400, "M_INVALID_PARAM"), "{}", password_stage.body);
    let unknown = change(&server, Some("not-a-token"), &body).await;
    assert_eq!((unknown.status, unknown.errcode()), (401, "M_UNKNOWN_TOKEN"), "{}", unknown.body);
    assert_eq!(seed_login(&server, "gina", SEED_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_a_validated_email() {
    let identity = IdentityServer::start();
    let server = TestServer::with(|c| {
        c.identity.trusted_servers = vec![identity.address.clone()];
        c.identity.insecure_http = true;
    });
    let token = seed_user(&server, "ines").await;
    identity.validate("owned", "secret-1", "email", "ines@example.org");
    let add = json!({"threePidCreds": identity.creds_json("owned", "secret-1")});
    let added = call(&server, "POST", &format!("{SEED_V2}/account/3pid"), Some(&add), Some(&token)).await;
    assert_eq!(added.status, 200, "{}", added.body);

    // An address no account has: the seed's 404 M_NOT_FOUND.
    identity.validate("stranger", "secret-2", "email", "nobody@example.org");
    let stranger = json!({"new_password": "reset-pass",
        "auth": {"type": "m.login.email.identity", "threepidCreds": identity.creds_json("stranger", "secret-2")}});
    let refused = change(&server, None, &stranger).await;
    assert_eq!((refused.status, refused.errcode()), (404, "M_NOT_FOUND"), "{}", refused.body);

    // The account's own address: the password is reset, every device is out.
    let own = json!({"new_password": "reset-pass",
        "auth": {"type": "m.login.email.identity", "threepidCreds": identity.creds_json("owned", "secret-1")}});
    let reset = change(&server, None, &own).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(seed_login(&server, "ines", "reset-pass").await.status, 200);
    assert_eq!(seed_login(&server, "ines", SEED_PASSWORD).await.status, 403);
    assert_eq!(seed_token_status(&server, &token).await, (401, "M_UNKNOWN_TOKEN".to_owned()));
}

#[tokio::test]
async fn a_session_belongs_to_its_operation() {
    let server = TestServer::start();
    let token = seed_user(&server, "hank").await;
    // A registration session cannot authorise a password change.
    let register = call(&server, "POST", &format!("{SEED_V2}/register"), Some(&json!({})), None).await;
    let session = register.body["session"].as_str().expect("a session").to_owned();
    let body = json!({"new_password": "x", "auth": password_auth("hank", SEED_PASSWORD, Some(&session))});
    let answer = change(&server, Some(&token), &body).await;
    assert_eq!((answer.status, answer.errcode()), (403, "M_FORBIDDEN"), "{}", answer.body);
    assert_eq!(seed_login(&server, "hank", SEED_PASSWORD).await.status, 200);
}

/// The seed's prose gives the password call the prefix
/// `/_matrix/client/v2_alpha` (no `api/`): it is served there too, the
/// same operation, with the seed's `M_NOT_FOUND` for a third-party
/// identifier no account has, with or without an access token.
#[tokio::test]
async fn the_prose_prefix_serves_the_same_password_change() {
    let identity = IdentityServer::start();
    let server = TestServer::with(|c| {
        c.identity.trusted_servers = vec![identity.address.clone()];
        c.identity.insecure_http = true;
    });
    let prose = format!("{}/account/password", common::SEED_V2_PROSE);
    let token = seed_user(&server, "jude").await;
    let (other, _) = device(&server, "jude").await;

    let unknown = json!({"new_password": "x", "auth": {"type": "m.login.password", "password": SEED_PASSWORD,
        "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "nobody@example.org"}}});
    let answer = call(&server, "POST", &prose, Some(&unknown), Some(&token)).await;
    assert_eq!((answer.status, answer.errcode()), (404, "M_NOT_FOUND"), "{}", answer.body);
    identity.validate("stranger", "secret-2", "email", "nobody@example.org");
    let stranger = json!({"new_password": "reset-pass",
        "auth": {"type": "m.login.email.identity", "threepidCreds": identity.creds_json("stranger", "secret-2")}});
    let answer = call(&server, "POST", &prose, Some(&stranger), None).await;
    assert_eq!((answer.status, answer.errcode()), (404, "M_NOT_FOUND"), "{}", answer.body);

    // A session started under one prefix completes under the other: one operation.
    let challenge = call(&server, "POST", &prose, Some(&json!({"new_password": "prose-pass"})), Some(&token)).await;
    assert_eq!(challenge.status, 401, "{}", challenge.body);
    assert_eq!(challenge.body["flows"], json!([{"stages": ["m.login.password"]}]));
    let session = challenge.body["session"].as_str().expect("a session");
    let body = json!({"auth": password_auth("jude", SEED_PASSWORD, Some(session))});
    let done = change(&server, Some(&token), &body).await;
    assert_eq!((done.status, done.body.clone()), (200, json!({})));
    assert_eq!(seed_login(&server, "jude", "prose-pass").await.status, 200);
    assert_eq!(seed_token_status(&server, &other).await, (401, "M_UNKNOWN_TOKEN".to_owned()));

    // Registration and token refresh keep the one prefix their YAML gives.
    let register = call(&server, "POST", &format!("{}/register", common::SEED_V2_PROSE), Some(&json!({})), None).await;
    assert_eq!((register.status, register.errcode()), (404, "M_UNRECOGNIZED"), "{}", register.body);
}
