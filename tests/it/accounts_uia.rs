//! The rules UIA follow-ups obey, whatever the operation: the follow-up's
//! values win over the session's (the password included), a session that
//! authorised a password change is used up, starting a registration flow is
//! rate limited, and disabled registration means no guests either.

use crate::accounts_support;

use accounts_support::{PASSWORD, Server, assert_error, client, password_auth, session_of, user_request};
use matrix_accounts::accounts::{ChangePasswordRequest, RegisterRequest};
use matrix_accounts::config::Bucket;
use matrix_accounts::error::ErrorCode;
use serde_json::json;

fn dummy(session: &str) -> serde_json::Value {
    json!({"type": "m.login.dummy", "session": session})
}

fn register_with(name: &str, password: &str) -> RegisterRequest {
    RegisterRequest { password: Some(password.into()), ..user_request(name) }
}

fn change(new_password: Option<&str>, logout_devices: Option<bool>) -> ChangePasswordRequest {
    ChangePasswordRequest { new_password: new_password.map(str::to_owned), logout_devices }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_follow_up_with_another_password_sets_that_one() {
    let server = Server::start();
    let accounts = &server.accounts;
    let session = session_of(&accounts.register(register_with("ann", "first-pw"), None, &client()).await.unwrap_err());
    accounts.register(register_with("ann", "second-pw"), Some(dummy(&session)), &client()).await.unwrap();
    server.login("ann", "second-pw").await.unwrap();
    assert_error(server.login("ann", "first-pw").await, 403, ErrorCode::Forbidden);

    // The same password again, or none: the session's.
    for (name, follow_up) in [("bea", Some("first-pw")), ("cid", None)] {
        let session =
            session_of(&accounts.register(register_with(name, "first-pw"), None, &client()).await.unwrap_err());
        let request = RegisterRequest { password: follow_up.map(str::to_owned), ..user_request(name) };
        accounts.register(request, Some(dummy(&session)), &client()).await.unwrap();
        server.login(name, "first-pw").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_follow_up_with_another_password_sets_that_one() {
    let server = Server::start();
    let accounts = &server.accounts;
    let caller = accounts.authenticate(&server.register("dan").await.access_token.unwrap()).await.unwrap();
    let challenge = accounts.change_password(Some(&caller), change(Some("pw-a"), None), None, &client()).await;
    let session = session_of(&challenge.unwrap_err());
    let auth = password_auth("dan", PASSWORD, Some(&session));
    accounts.change_password(Some(&caller), change(Some("pw-b"), None), Some(auth), &client()).await.unwrap();
    server.login("dan", "pw-b").await.unwrap();
    assert_error(server.login("dan", "pw-a").await, 403, ErrorCode::Forbidden);
}

/// After a restart the digest key is new: the same password is hashed again,
/// and still applies.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_password_after_a_restart_still_applies() {
    let mut server = Server::start();
    let session =
        session_of(&server.accounts.register(register_with("eli", "kept-pw"), None, &client()).await.unwrap_err());
    server.restart();
    server.accounts.register(register_with("eli", "kept-pw"), Some(dummy(&session)), &client()).await.unwrap();
    server.login("eli", "kept-pw").await.unwrap();
}

/// A follow-up that does not complete the session but brings another
/// password: the earlier password is not silently used by a completion
/// that brings none; it must be sent again.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_changed_mid_session_is_not_replaced_by_the_earlier_one() {
    let mut config = accounts_support::config();
    config.registration.tokens = vec!["letmein".into()];
    let server = Server::with(config);
    let accounts = &server.accounts;
    let session = session_of(&accounts.register(register_with("fox", "first-pw"), None, &client()).await.unwrap_err());
    let wrong = json!({"type": "m.login.registration_token", "token": "guess", "session": session});
    let failed = accounts.register(register_with("fox", "second-pw"), Some(wrong), &client()).await.unwrap_err();
    assert_eq!((failed.status().as_u16(), failed.code()), (401, Some(ErrorCode::Unauthorized)));
    let right = json!({"type": "m.login.registration_token", "token": "letmein", "session": session});
    assert_error(
        accounts.register(user_request_without_password("fox"), Some(right.clone()), &client()).await,
        400,
        ErrorCode::MissingParam,
    );
    accounts.register(register_with("fox", "second-pw"), Some(right), &client()).await.unwrap();
    server.login("fox", "second-pw").await.unwrap();
}

fn user_request_without_password(name: &str) -> RegisterRequest {
    RegisterRequest { password: None, ..user_request(name) }
}

#[tokio::test(flavor = "multi_thread")]
async fn explicit_options_on_the_follow_up_win() {
    let server = Server::start();
    let accounts = &server.accounts;

    // logout_devices: false at first, true on the follow-up: logged out.
    let mine = server.register("gus").await.access_token.unwrap();
    let other = server.login("gus", PASSWORD).await.unwrap().access_token;
    let caller = accounts.authenticate(&mine).await.unwrap();
    let challenge = accounts.change_password(Some(&caller), change(Some("pw-2"), Some(false)), None, &client()).await;
    let session = session_of(&challenge.unwrap_err());
    let auth = password_auth("gus", PASSWORD, Some(&session));
    accounts.change_password(Some(&caller), change(Some("pw-2"), Some(true)), Some(auth), &client()).await.unwrap();
    assert_error(accounts.authenticate(&other).await, 401, ErrorCode::UnknownToken);

    // And the other way round: kept.
    let other = server.login("gus", "pw-2").await.unwrap().access_token;
    let challenge = accounts.change_password(Some(&caller), change(Some("pw-3"), Some(true)), None, &client()).await;
    let session = session_of(&challenge.unwrap_err());
    let auth = password_auth("gus", "pw-2", Some(&session));
    accounts.change_password(Some(&caller), change(Some("pw-3"), Some(false)), Some(auth), &client()).await.unwrap();
    accounts.authenticate(&other).await.unwrap();

    // inhibit_login: true at first, false on the follow-up: signed in.
    let first = RegisterRequest { inhibit_login: Some(true), ..user_request("hal") };
    let session = session_of(&accounts.register(first, None, &client()).await.unwrap_err());
    let follow_up = RegisterRequest { inhibit_login: Some(false), ..user_request("hal") };
    let registered = accounts.register(follow_up, Some(dummy(&session)), &client()).await.unwrap();
    assert!(registered.access_token.is_some());
    // Absent on the follow-up: the session's value.
    let first = RegisterRequest { inhibit_login: Some(true), ..user_request("ida") };
    let session = session_of(&accounts.register(first, None, &client()).await.unwrap_err());
    let registered = accounts.register(user_request("ida"), Some(dummy(&session)), &client()).await.unwrap();
    assert_eq!(registered.access_token, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_session_authorises_one_change() {
    let server = Server::start();
    let accounts = &server.accounts;
    let caller = accounts.authenticate(&server.register("jon").await.access_token.unwrap()).await.unwrap();
    let challenge = accounts.change_password(Some(&caller), change(Some("pw-2"), None), None, &client()).await;
    let session = session_of(&challenge.unwrap_err());
    let auth = password_auth("jon", PASSWORD, Some(&session));
    accounts.change_password(Some(&caller), change(None, None), Some(auth.clone()), &client()).await.unwrap();

    // Replaying the completed session, with or without a new password: the
    // session is gone, nothing changes.
    for new_password in [Some("stolen"), None] {
        let me = client();
        let replay = accounts.change_password(Some(&caller), change(new_password, None), Some(auth.clone()), &me);
        let error = assert_error(replay.await, 400, ErrorCode::Unknown);
        assert_eq!(error.message(), format!("Unknown session ID: {session}"));
    }
    server.login("jon", "pw-2").await.unwrap();
    assert_error(server.login("jon", "stolen").await, 403, ErrorCode::Forbidden);
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_a_registration_flow_uses_an_attempt() {
    let mut config = accounts_support::config();
    config.rate_limits.enabled = true;
    config.rate_limits.register = Bucket { per_second: 0.001, burst: 3 };
    let server = Server::with(config);
    let accounts = &server.accounts;

    // One flow: its start costs an attempt, its follow-ups nothing.
    let session = session_of(&accounts.register(user_request("kim"), None, &client()).await.unwrap_err());
    for _ in 0..4 {
        let incomplete = json!({"session": session});
        accounts.register(user_request("kim"), Some(incomplete), &client()).await.unwrap_err();
    }
    accounts.register(user_request("kim"), Some(dummy(&session)), &client()).await.unwrap();
    accounts.register(user_request("kim"), Some(dummy(&session)), &client()).await.unwrap(); // a replay

    // Refusals before UIA cost nothing.
    for _ in 0..4 {
        assert_error(accounts.register(user_request("kim"), None, &client()).await, 400, ErrorCode::UserInUse);
    }
    // Each new session costs one, stored or not: 2 attempts are left.
    session_of(&accounts.register(user_request("lea"), None, &client()).await.unwrap_err());
    session_of(&accounts.register(user_request("mo"), None, &client()).await.unwrap_err());
    let error =
        assert_error(accounts.register(user_request("ned"), None, &client()).await, 429, ErrorCode::LimitExceeded);
    assert!(error.retry_after_ms().unwrap() > 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_registration_refuses_guests_too() {
    let mut config = accounts_support::config();
    config.registration.enabled = false;
    config.registration.guest_access = true;
    let server = Server::with(config);
    let guest = RegisterRequest { guest: true, ..RegisterRequest::default() };
    let error = assert_error(server.accounts.register(guest, None, &client()).await, 403, ErrorCode::Forbidden);
    assert_eq!(error.message(), "Registration has been disabled");
}

/// Holding a completed registration's session ID is not enough to sign in
/// to the account it created: a retry must repeat the password (and not
/// name another user), and only for `tokens.completed_registration_retry`.
#[tokio::test(flavor = "multi_thread")]
async fn a_completed_registration_is_retried_only_by_its_client_and_briefly() {
    let mut config = accounts_support::config();
    config.tokens.completed_registration_retry = std::time::Duration::from_millis(300);
    let server = Server::with(config);
    let accounts = &server.accounts;
    let session = session_of(&accounts.register(register_with("ola", "ola-pw"), None, &client()).await.unwrap_err());
    let done = accounts.register(register_with("ola", "ola-pw"), Some(dummy(&session)), &client()).await.unwrap();

    for stranger in [
        RegisterRequest::default(),
        user_request_without_password("ola"),
        register_with("ola", "a-guess"),
        register_with("olb", "ola-pw"),
    ] {
        let answer = accounts.register(stranger, Some(dummy(&session)), &client()).await;
        assert_error(answer, 403, ErrorCode::Forbidden);
    }
    // The client itself, repeating its request: the same account.
    let again = accounts.register(register_with("ola", "ola-pw"), Some(dummy(&session)), &client()).await.unwrap();
    assert_eq!(again.user_id, done.user_id);
    assert_ne!(again.access_token, done.access_token);

    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let late = accounts.register(register_with("ola", "ola-pw"), Some(dummy(&session)), &client()).await;
    assert_error(late, 400, ErrorCode::Unknown);
}
