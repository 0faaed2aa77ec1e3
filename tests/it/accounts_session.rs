//! Client sessions against the account domain (no HTTP): register, log in,
//! refresh, change the password, log out — and the ways each can fail.

use crate::accounts_support;

use std::time::Duration;

use accounts_support::{
    PASSWORD, Server, assert_error, client, login_request, password_auth, session_of, user_request,
};
use matrix_accounts::accounts::{ChangePasswordRequest, LoginRequest, RegisterRequest, UserIdentifier};
use matrix_accounts::error::ErrorCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn register_with_a_uia_session_then_use_the_account() {
    let server = Server::start();
    let accounts = &server.accounts;

    // The first request gets a challenge, even for the dummy stage.
    let challenge = accounts.register(user_request("Alice"), None, &client()).await.unwrap_err();
    assert_eq!(challenge.code(), None);
    assert_eq!(challenge.body()["flows"], json!([{"stages": ["m.login.dummy"]}]));
    assert_eq!(challenge.body()["params"], json!({}));
    assert!(challenge.body().get("completed").is_none());
    let session = session_of(&challenge);

    // A follow-up carrying only `auth` completes the original request.
    let auth = json!({"type": "m.login.dummy", "session": session});
    let registered = accounts.register(RegisterRequest::default(), Some(auth.clone()), &client()).await.unwrap();
    assert_eq!(registered.user_id, "@alice:localhost");
    let whoami = accounts.authenticate(registered.access_token.as_deref().unwrap()).await.unwrap();
    assert_eq!(
        (whoami.user_id(), whoami.device_id(), whoami.is_guest()),
        ("@alice:localhost", registered.device_id.as_deref().unwrap(), false)
    );
    assert_eq!(registered.refresh_token, None);
    assert_eq!(registered.expires_in_ms, None);

    // Replaying the completed session needs its password; with it, it
    // answers the same user, on a new device.
    let bare = accounts.register(RegisterRequest::default(), Some(auth.clone()), &client()).await;
    assert_error(bare, 403, ErrorCode::Forbidden);
    let retry = RegisterRequest { password: Some(PASSWORD.into()), ..RegisterRequest::default() };
    let replay = accounts.register(retry, Some(auth), &client()).await.unwrap();
    assert_eq!(replay.user_id, "@alice:localhost");
    assert_ne!(replay.device_id, registered.device_id);
    assert_ne!(replay.access_token, registered.access_token);

    // The password remembered by the session (as a hash) is the account's.
    server.login("alice", PASSWORD).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_options() {
    let server = Server::start();
    let accounts = &server.accounts;
    let dummy = || Some(json!({"type": "m.login.dummy"}));

    let with_device = RegisterRequest {
        device_id: Some("MYPHONE".into()),
        initial_device_display_name: Some("Jungle Phone".into()),
        refresh_token: Some(true),
        ..user_request("bob")
    };
    let registered = accounts.register(with_device, dummy(), &client()).await.unwrap();
    assert_eq!(registered.device_id.as_deref(), Some("MYPHONE"));
    assert!(registered.refresh_token.as_deref().unwrap().starts_with("mar_"));
    assert!(registered.access_token.as_deref().unwrap().starts_with("mat_"));
    assert_eq!(registered.expires_in_ms, Some(300_000));

    let inhibited = RegisterRequest { inhibit_login: Some(true), ..user_request("carol") };
    let registered = accounts.register(inhibited, dummy(), &client()).await.unwrap();
    assert_eq!(registered.user_id, "@carol:localhost");
    assert_eq!((registered.access_token, registered.device_id), (None, None));

    // No username: the server picks numbers.
    let anonymous = RegisterRequest { password: Some(PASSWORD.into()), ..RegisterRequest::default() };
    let first = accounts.register(anonymous.clone(), dummy(), &client()).await.unwrap();
    let second = accounts.register(anonymous, dummy(), &client()).await.unwrap();
    assert_eq!((first.user_id.as_str(), second.user_id.as_str()), ("@1:localhost", "@2:localhost"));
}

#[tokio::test(flavor = "multi_thread")]
async fn usernames_are_checked_before_uia() {
    let mut config = accounts_support::config();
    config.registration.exclusive_namespaces = vec!["irc_.*".into()];
    let server = Server::with(config);
    let accounts = &server.accounts;
    server.register("dave").await;

    // Even without `auth` (the first request), a bad name is refused at once.
    let me = client();
    let refused = |name: &str| accounts.register(user_request(name), None, &me);
    assert_error(refused("dave").await, 400, ErrorCode::UserInUse);
    assert_error(refused("DAVE").await, 400, ErrorCode::UserInUse);
    assert_error(refused("Bad Name!").await, 400, ErrorCode::InvalidUsername);
    assert_error(refused("12345").await, 400, ErrorCode::InvalidUsername);
    assert_error(refused("_hidden").await, 400, ErrorCode::InvalidUsername);
    assert_error(refused(&"a".repeat(250)).await, 400, ErrorCode::InvalidUsername);
    assert_error(refused("irc_dave").await, 400, ErrorCode::Exclusive);

    accounts.check_username_available("erin", &client()).await.unwrap();
    assert_error(accounts.check_username_available("dave", &client()).await, 400, ErrorCode::UserInUse);
    assert_error(accounts.check_username_available("Bad Name!", &client()).await, 400, ErrorCode::InvalidUsername);
}

#[tokio::test(flavor = "multi_thread")]
async fn uia_mistakes() {
    let server = Server::start();
    let accounts = &server.accounts;

    let unknown = json!({"type": "m.login.dummy", "session": "nosuchsession"});
    let error =
        assert_error(accounts.register(user_request("frank"), Some(unknown), &client()).await, 400, ErrorCode::Unknown);
    assert_eq!(error.message(), "Unknown session ID: nosuchsession");

    let not_offered = json!({"type": "m.login.recaptcha"});
    assert_error(
        accounts.register(user_request("frank"), Some(not_offered), &client()).await,
        400,
        ErrorCode::InvalidParam,
    );

    // `auth` without a type is a challenge again, now with `completed`.
    let session = session_of(&accounts.register(user_request("frank"), None, &client()).await.unwrap_err());
    let challenge =
        accounts.register(user_request("frank"), Some(json!({"session": session})), &client()).await.unwrap_err();
    assert_eq!(session_of(&challenge), session);
    assert_eq!(challenge.body()["completed"], json!([]));

    // A missing or empty password is refused once UIA is done.
    let no_password = RegisterRequest { password: Some(String::new()), ..user_request("frank") };
    assert_error(
        accounts.register(no_password, Some(json!({"type": "m.login.dummy"})), &client()).await,
        400,
        ErrorCode::MissingParam,
    );
    // Nothing was written by the failures.
    accounts.check_username_available("frank", &client()).await.unwrap();

    // A registration session cannot change a password.
    let registered = server.register("gina").await;
    let caller = accounts.authenticate(registered.access_token.as_deref().unwrap()).await.unwrap();
    let change = ChangePasswordRequest { new_password: Some("new".into()), logout_devices: None };
    let error = accounts
        .change_password(Some(&caller), change, Some(password_auth("gina", PASSWORD, Some(&session))), &client())
        .await;
    assert_error(error, 403, ErrorCode::Forbidden);
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_tokens_and_switches() {
    let mut config = accounts_support::config();
    config.registration.tokens = vec!["letmein".into()];
    let server = Server::with(config);
    let accounts = &server.accounts;

    let challenge = accounts.register(user_request("hank"), None, &client()).await.unwrap_err();
    assert_eq!(challenge.body()["flows"], json!([{"stages": ["m.login.registration_token"]}]));
    let session = session_of(&challenge);
    let wrong = json!({"type": "m.login.registration_token", "token": "guess", "session": session});
    let failed = accounts.register(user_request("hank"), Some(wrong), &client()).await.unwrap_err();
    assert_eq!((failed.status().as_u16(), failed.code()), (401, Some(ErrorCode::Unauthorized)));
    assert_eq!(failed.body()["completed"], json!([]));
    let dummy = json!({"type": "m.login.dummy", "session": session});
    assert_error(accounts.register(user_request("hank"), Some(dummy), &client()).await, 400, ErrorCode::InvalidParam);
    let right = json!({"type": "m.login.registration_token", "token": "letmein", "session": session});
    accounts.register(user_request("hank"), Some(right), &client()).await.unwrap();

    let mut config = accounts_support::config();
    config.registration.enabled = false;
    let closed = Server::with(config);
    assert_error(closed.accounts.register(user_request("ivan"), None, &client()).await, 403, ErrorCode::Forbidden);
    let guest = RegisterRequest { guest: true, ..RegisterRequest::default() };
    assert_error(closed.accounts.register(guest, None, &client()).await, 403, ErrorCode::Forbidden);
}

#[tokio::test(flavor = "multi_thread")]
async fn guests() {
    let mut config = accounts_support::config();
    config.registration.guest_access = true;
    let server = Server::with(config);
    let accounts = &server.accounts;

    // Everything but the display name is ignored, and no UIA is asked.
    let request = RegisterRequest { guest: true, device_id: Some("IGNORED".into()), ..user_request("guestname") };
    let guest = accounts.register(request, None, &client()).await.unwrap();
    assert_eq!(guest.user_id, "@1:localhost");
    assert_ne!(guest.device_id.as_deref(), Some("IGNORED"));
    let session = accounts.authenticate(guest.access_token.as_deref().unwrap()).await.unwrap();
    assert!(session.is_guest());

    assert_error(accounts.threepids(&session).await, 403, ErrorCode::GuestAccessForbidden);
    let change = ChangePasswordRequest { new_password: Some("x".into()), logout_devices: None };
    assert_error(
        accounts.change_password(Some(&session), change, None, &client()).await,
        403,
        ErrorCode::GuestAccessForbidden,
    );
    // A guest has no password to log in with.
    assert_error(server.login("1", "").await, 403, ErrorCode::Forbidden);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_accepts_every_way_of_naming_the_user() {
    let server = Server::start();
    server.register("judy").await;
    for name in ["judy", "JUDY", "@judy:localhost", "@Judy:LOCALHOST"] {
        let logged_in = server.login(name, PASSWORD).await.unwrap();
        assert_eq!(logged_in.user_id, "@judy:localhost", "{name}");
    }

    let with_options = LoginRequest {
        device_id: Some("LAPTOP".into()),
        initial_device_display_name: Some("Laptop".into()),
        refresh_token: true,
        ..login_request("judy", PASSWORD)
    };
    let logged_in = server.accounts.login(with_options.clone(), &client()).await.unwrap();
    assert_eq!(logged_in.device_id, "LAPTOP");
    assert!(logged_in.refresh_token.is_some() && logged_in.expires_in_ms == Some(300_000));
    // Logging in again on the same device replaces its tokens.
    let again = server.accounts.login(with_options, &client()).await.unwrap();
    assert_error(server.accounts.authenticate(&logged_in.access_token).await, 401, ErrorCode::UnknownToken);
    server.accounts.authenticate(&again.access_token).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn login_failures_look_alike() {
    let server = Server::start();
    server.register("kate").await;
    for (user, password) in [("kate", "wrong"), ("nobody", PASSWORD), ("@kate:elsewhere.org", PASSWORD), ("", PASSWORD)]
    {
        let error = assert_error(server.login(user, password).await, 403, ErrorCode::Forbidden);
        assert_eq!(error.message(), "Invalid username or password");
    }
    let unknown_3pid = LoginRequest {
        identifier: UserIdentifier::ThirdParty { medium: "email".into(), address: "nobody@example.org".into() },
        ..login_request("", PASSWORD)
    };
    assert_error(server.accounts.login(unknown_3pid, &client()).await, 403, ErrorCode::Forbidden);

    let no_password = LoginRequest { password: None, ..login_request("kate", PASSWORD) };
    assert_error(server.accounts.login(no_password, &client()).await, 400, ErrorCode::InvalidParam);
    let other_type = LoginRequest { login_type: "m.login.token".into(), ..login_request("kate", PASSWORD) };
    assert_error(server.accounts.login(other_type, &client()).await, 400, ErrorCode::Unknown);
    assert_eq!(server.accounts.login_flows(), ["m.login.password"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_tokens_rotate() {
    let server = Server::start();
    let accounts = &server.accounts;
    let request = RegisterRequest { refresh_token: Some(true), ..user_request("leo") };
    let registered = accounts.register(request, Some(json!({"type": "m.login.dummy"})), &client()).await.unwrap();
    let (a1, r1) = (registered.access_token.unwrap(), registered.refresh_token.unwrap());

    let second = accounts.refresh(&r1, &client()).await.unwrap();
    assert_eq!(second.expires_in_ms, 300_000);
    accounts.authenticate(&a1).await.unwrap();
    // R1 again before the new pair was used: another pair; the previous dies.
    let third = accounts.refresh(&r1, &client()).await.unwrap();
    assert_error(accounts.authenticate(&second.access_token).await, 401, ErrorCode::UnknownToken);
    assert_error(accounts.refresh(&second.refresh_token, &client()).await, 401, ErrorCode::UnknownToken);
    // Using the newest pair retires R1; A1 lives on until it expires.
    let caller = accounts.authenticate(&third.access_token).await.unwrap();
    assert_eq!(caller.user_id(), "@leo:localhost");
    accounts.authenticate(&third.access_token).await.unwrap();
    accounts.authenticate(&a1).await.unwrap();
    let error = assert_error(accounts.refresh(&r1, &client()).await, 401, ErrorCode::UnknownToken);
    assert_eq!(error.body()["soft_logout"], json!(false));
    // Refreshing the newest refresh token (without using its access token)
    // also counts as using the pair.
    let fourth = accounts.refresh(&third.refresh_token, &client()).await.unwrap();
    let fifth = accounts.refresh(&fourth.refresh_token, &client()).await.unwrap();
    assert_error(accounts.refresh(&third.refresh_token, &client()).await, 401, ErrorCode::UnknownToken);
    accounts.authenticate(&fifth.access_token).await.unwrap();

    // Not refresh tokens at all.
    assert_error(accounts.refresh("mar_garbage", &client()).await, 401, ErrorCode::UnknownToken);
    assert_error(accounts.refresh(&a1, &client()).await, 401, ErrorCode::UnknownToken);
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_access_tokens_ask_for_a_soft_logout() {
    let mut config = accounts_support::config();
    config.tokens.access_token_lifetime = Duration::from_millis(50);
    let server = Server::with(config);
    let login = LoginRequest { refresh_token: true, ..login_request("mia", PASSWORD) };
    server.register("mia").await;
    let logged_in = server.accounts.login(login, &client()).await.unwrap();
    server.accounts.authenticate(&logged_in.access_token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    let error = assert_error(server.accounts.authenticate(&logged_in.access_token).await, 401, ErrorCode::UnknownToken);
    assert_eq!(error.body()["soft_logout"], json!(true));
    let refreshed = server.accounts.refresh(logged_in.refresh_token.as_deref().unwrap(), &client()).await.unwrap();
    server.accounts.authenticate(&refreshed.access_token).await.unwrap();

    let error = assert_error(server.accounts.authenticate("mat_unknown").await, 401, ErrorCode::UnknownToken);
    assert_eq!(error.body()["soft_logout"], json!(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn change_password_with_uia() {
    let server = Server::start();
    let accounts = &server.accounts;
    let d1 = server.register("nick").await.access_token.unwrap();
    let d2 = server.login("nick", PASSWORD).await.unwrap().access_token;
    server.register("olga").await;
    let caller = accounts.authenticate(&d1).await.unwrap();
    let change = |new_password: Option<&str>| ChangePasswordRequest {
        new_password: new_password.map(str::to_owned),
        logout_devices: None,
    };

    // Missing new_password: refused before UIA.
    assert_error(
        accounts.change_password(Some(&caller), change(None), None, &client()).await,
        400,
        ErrorCode::MissingParam,
    );

    let challenge = accounts.change_password(Some(&caller), change(Some("pw-2")), None, &client()).await.unwrap_err();
    assert_eq!(challenge.body()["flows"], json!([{"stages": ["m.login.password"]}]));
    let session = session_of(&challenge);

    // A wrong password: 401 with the state and M_FORBIDDEN.
    let wrong = password_auth("nick", "wrong", Some(&session));
    let failed =
        accounts.change_password(Some(&caller), change(Some("pw-2")), Some(wrong), &client()).await.unwrap_err();
    assert_eq!((failed.status().as_u16(), failed.code()), (401, Some(ErrorCode::Forbidden)));
    assert_eq!(
        (failed.challenge().map(|c| c.session.as_str()), &failed.body()["completed"]),
        (Some(session.as_str()), &json!([]))
    );
    // Another user's valid credentials: 403.
    let other = password_auth("olga", PASSWORD, Some(&session));
    assert_error(
        accounts.change_password(Some(&caller), change(Some("pw-2")), Some(other), &client()).await,
        403,
        ErrorCode::Forbidden,
    );

    // The right password, in a follow-up carrying only `auth`: the session
    // remembered the new password.
    let right = password_auth("nick", PASSWORD, Some(&session));
    accounts.change_password(Some(&caller), change(None), Some(right), &client()).await.unwrap();
    accounts.authenticate(&d1).await.unwrap();
    assert_error(accounts.authenticate(&d2).await, 401, ErrorCode::UnknownToken);
    assert_error(server.login("nick", PASSWORD).await, 403, ErrorCode::Forbidden);
    let d3 = server.login("nick", "pw-2").await.unwrap().access_token;

    // One-shot, keeping the other devices.
    let keep = ChangePasswordRequest { new_password: Some("pw-3".into()), logout_devices: Some(false) };
    let auth = password_auth("@nick:localhost", "pw-2", None);
    accounts.change_password(Some(&caller), keep, Some(auth), &client()).await.unwrap();
    accounts.authenticate(&d3).await.unwrap();
    server.login("nick", "pw-3").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_one_device_or_all() {
    let server = Server::start();
    let accounts = &server.accounts;
    let t1 = server.register("pam").await.access_token.unwrap();
    let t2 = server.login("pam", PASSWORD).await.unwrap().access_token;
    let t3 = server.login("pam", PASSWORD).await.unwrap().access_token;

    let first = accounts.authenticate(&t1).await.unwrap();
    accounts.logout(&first).await.unwrap();
    assert_error(accounts.authenticate(&t1).await, 401, ErrorCode::UnknownToken);
    let second = accounts.authenticate(&t2).await.unwrap();
    accounts.authenticate(&t3).await.unwrap();

    accounts.logout_all(&second).await.unwrap();
    assert_error(accounts.authenticate(&t2).await, 401, ErrorCode::UnknownToken);
    assert_error(accounts.authenticate(&t3).await, 401, ErrorCode::UnknownToken);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_and_accounts_survive_a_restart() {
    let mut server = Server::start();
    let token = server.register("quinn").await.access_token.unwrap();
    let challenge = server.accounts.register(user_request("rita"), None, &client()).await.unwrap_err();
    let session = session_of(&challenge);

    server.restart();
    server.accounts.authenticate(&token).await.unwrap();
    let auth = json!({"type": "m.login.dummy", "session": session});
    let registered = server.accounts.register(RegisterRequest::default(), Some(auth), &client()).await.unwrap();
    assert_eq!(registered.user_id, "@rita:localhost");
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits() {
    let mut config = accounts_support::config();
    config.rate_limits.enabled = true;
    let server = Server::with(config);
    let accounts = &server.accounts;

    // Registrations per IP: 3, then 429 with the wait.
    for name in ["sam", "tess", "uma"] {
        server.register(name).await;
    }
    let error = assert_error(
        accounts.register(user_request("vic"), Some(json!({"type": "m.login.dummy"})), &client()).await,
        429,
        ErrorCode::LimitExceeded,
    );
    assert!(error.retry_after_ms().unwrap() > 1000);

    // Failed logins per account and address: 3, then 429 from that
    // address even with the right password.
    for _ in 0..3 {
        assert_error(server.login("sam", "wrong").await, 403, ErrorCode::Forbidden);
    }
    assert_error(server.login("sam", PASSWORD).await, 429, ErrorCode::LimitExceeded);
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_uia_sessions_are_forgotten() {
    let mut config = accounts_support::config();
    config.tokens.uia_session_lifetime = Duration::from_millis(30);
    let server = Server::with(config);
    let session = session_of(&server.accounts.register(user_request("wes"), None, &client()).await.unwrap_err());
    tokio::time::sleep(Duration::from_millis(60)).await;
    let auth = json!({"type": "m.login.dummy", "session": session});
    assert_error(server.accounts.register(user_request("wes"), Some(auth), &client()).await, 400, ErrorCode::Unknown);
}

/// An unknown user costs one argon2 verification, like a wrong password:
/// timing does not reveal which accounts exist.
#[tokio::test(flavor = "multi_thread")]
async fn login_failures_take_the_same_time() {
    let mut config = accounts_support::config();
    config.passwords.memory_kib = 4096; // ~5 ms a hash: measurable, still quick
    let server = Server::with(config);
    server.register("yves").await;
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    // Interleaved, so that load from other tests falls on both alike; the
    // first rounds warm up (the dummy hash is made on first need).
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for round in 0..15 {
        for (user, samples) in [("yves", &mut wrong), ("nobody", &mut unknown)] {
            let started = std::time::Instant::now();
            assert_error(server.login(user, "wrong").await, 403, ErrorCode::Forbidden);
            if round >= 3 {
                samples.push(started.elapsed());
            }
        }
    }
    let (wrong_password, unknown_user) = (median(wrong), median(unknown));
    let ratio = unknown_user.as_secs_f64() / wrong_password.as_secs_f64();
    // A path without its hash would be ~50× faster: the bounds catch that,
    // not the noise of a shared machine.
    assert!((0.4..2.5).contains(&ratio), "wrong password {wrong_password:?}, unknown user {unknown_user:?}");
}
