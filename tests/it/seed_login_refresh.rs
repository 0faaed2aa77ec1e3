//! The seed's `POST /_matrix/client/api/v1/login` and
//! `POST /_matrix/client/api/v2_alpha/tokenrefresh` over HTTP.

use crate::common;

use std::time::{Duration, Instant};

use common::{SEED_PASSWORD, SEED_V1, SEED_V2, TestServer, call, seed_login, seed_token_status, seed_user};
use matrix_accounts::config::Passwords;
use serde_json::{Value, json};

fn login_path() -> String {
    format!("{SEED_V1}/login")
}

async fn refresh(server: &TestServer, refresh_token: &str) -> common::Answer {
    call(server, "POST", &format!("{SEED_V2}/tokenrefresh"), Some(&json!({"refresh_token": refresh_token})), None).await
}

fn token<'a>(answer: &'a common::Answer, field: &str) -> &'a str {
    answer.body[field].as_str().unwrap_or_else(|| panic!("no {field}: {}", answer.body))
}

#[tokio::test]
async fn login_by_localpart_or_user_id_in_any_case() {
    let server = TestServer::start();
    seed_user(&server, "alice").await;
    let mut tokens = Vec::new();
    for user in ["alice", "ALICE", "@alice:localhost", "@Alice:LOCALHOST", "aLiCe"] {
        let answer = seed_login(&server, user, SEED_PASSWORD).await;
        assert_eq!(answer.status, 200, "{user}: {}", answer.body);
        assert_eq!(answer.body["user_id"], "@alice:localhost", "{user}: the canonical user ID");
        assert_eq!(answer.body["home_server"], "localhost");
        let access = token(&answer, "access_token").to_owned();
        assert!(!token(&answer, "refresh_token").is_empty());
        assert_eq!(seed_token_status(&server, &access).await, (200, String::new()), "{user}: the token works");
        tokens.push(access);
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 5, "each login is a new device with its own token");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_403() {
    let server = TestServer::start();
    seed_user(&server, "bob").await;
    let wrong = seed_login(&server, "bob", "not the password").await;
    let unknown = seed_login(&server, "nobody", SEED_PASSWORD).await;
    let elsewhere = seed_login(&server, "@bob:elsewhere.example", SEED_PASSWORD).await;
    let garbage = seed_login(&server, "not a user id!", SEED_PASSWORD).await;
    assert_eq!((wrong.status, wrong.errcode()), (403, "M_FORBIDDEN"), "{}", wrong.body);
    for other in [&unknown, &elsewhere, &garbage] {
        assert_eq!(other.status, 403);
        assert_eq!(other.body, wrong.body, "the answers must not tell which users exist");
    }
}

/// The median duration of `attempts`.
fn median(mut attempts: Vec<Duration>) -> Duration {
    attempts.sort();
    attempts[attempts.len() / 2]
}

/// A wrong password and an unknown user cost the same.
///
/// This test runs with the *default* argon2 parameters (OWASP: 19 MiB,
/// t=2, p=1; ~20-30 ms a hash here), not the cheap ones of the other tests:
/// the leak it guards against is the reference server answering unknown
/// users in 3 ms and wrong passwords in 250 ms, because it skips the hash
/// when there is no account. With cheap parameters a hash costs well under
/// a millisecond and a skipped hash would hide in the HTTP noise; with the
/// real ones a skipped hash makes the unknown-user median a small fraction
/// of the wrong-password one, far outside 0.5-2x. Attempts alternate so
/// that any load on the machine hits both series alike.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_unknown_user_take_comparable_time() {
    let server = TestServer::with(|c| c.passwords = Passwords::default());
    seed_user(&server, "carol").await;
    // Warm up both paths (connection set-up, the dummy hash made on first need).
    seed_login(&server, "carol", "warm-up").await;
    seed_login(&server, "warm-up-ghost", "warm-up").await;

    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..7 {
        let started = Instant::now();
        let answer = seed_login(&server, "carol", &format!("wrong {i}")).await;
        wrong.push(started.elapsed());
        assert_eq!(answer.status, 403);
        let started = Instant::now();
        let answer = seed_login(&server, &format!("ghost{i}"), SEED_PASSWORD).await;
        unknown.push(started.elapsed());
        assert_eq!(answer.status, 403);
    }
    let (wrong, unknown) = (median(wrong), median(unknown));
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    eprintln!("median wrong password {wrong:?}, unknown user {unknown:?}, ratio {ratio:.2}");
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown user {unknown:?} vs wrong password {wrong:?} (ratio {ratio:.2}): timing tells users apart"
    );
    // The parameters really are the expensive ones (else the ratio proves nothing).
    assert!(wrong >= Duration::from_millis(5), "a wrong password took only {wrong:?}: is argon2 running?");
}

#[tokio::test]
async fn missing_and_malformed_fields() {
    let server = TestServer::start();
    seed_user(&server, "dave").await;
    let path = login_path();
    for (body, missing) in [
        (json!({"type": "m.login.password", "user": "dave"}), "password"),
        (json!({"type": "m.login.password", "password": SEED_PASSWORD}), "user"),
        (json!({"user": "dave", "password": SEED_PASSWORD}), "type"),
        (json!({}), ""),
    ] {
        let answer = call(&server, "POST", &path, Some(&body), None).await;
        assert_eq!((answer.status, answer.errcode()), (400, "M_MISSING_PARAM"), "{body}: {}", answer.body);
        assert!(answer.body["error"].as_str().unwrap().contains(missing), "{body}: {}", answer.body);
    }
    for body in [
        json!({"type": "m.login.password", "user": 5, "password": SEED_PASSWORD}),
        json!({"type": "m.login.password", "user": "dave", "password": ["x"]}),
        json!({"type": 1, "user": "dave", "password": SEED_PASSWORD}),
        json!(["dave"]),
    ] {
        let answer = call(&server, "POST", &path, Some(&body), None).await;
        assert_eq!((answer.status, answer.errcode()), (400, "M_BAD_JSON"), "{body}: {}", answer.body);
    }
    // An unsupported login type is a 400, even with the right password.
    for login_type in ["m.login.bogus", "m.login.token", ""] {
        let body = json!({"type": login_type, "user": "dave", "password": SEED_PASSWORD});
        let answer = call(&server, "POST", &path, Some(&body), None).await;
        assert_eq!(answer.status, 400, "{login_type}: {}", answer.body);
        assert!(answer.errcode().starts_with("M_"), "{}", answer.body);
        assert!(answer.body.get("access_token").is_none());
    }
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_lives_until_the_new_pair_is_used() {
    let server = TestServer::start();
    let login = {
        seed_user(&server, "erin").await;
        seed_login(&server, "erin", SEED_PASSWORD).await
    };
    let (a1, r1) = (token(&login, "access_token").to_owned(), token(&login, "refresh_token").to_owned());

    // R1 → (A2, R2): both new.
    let first = refresh(&server, &r1).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let (a2, r2) = (token(&first, "access_token").to_owned(), token(&first, "refresh_token").to_owned());
    assert!(a2 != a1 && r2 != r1 && a2 != r2);
    assert_eq!(first.body.as_object().unwrap().len(), 2, "the seed answers access_token and refresh_token");

    // The client lost the answer: R1 still works, and supersedes (A2, R2).
    let again = refresh(&server, &r1).await;
    assert_eq!(again.status, 200, "R1 works until the new pair is used: {}", again.body);
    let (a3, r3) = (token(&again, "access_token").to_owned(), token(&again, "refresh_token").to_owned());
    assert!(a3 != a2 && r3 != r2);
    assert_eq!(seed_token_status(&server, &a2).await, (401, "M_UNKNOWN_TOKEN".into()), "the superseded A2");
    let superseded = refresh(&server, &r2).await;
    assert_eq!((superseded.status, superseded.errcode()), (401, "M_UNKNOWN_TOKEN"), "{}", superseded.body);

    // Using A3 retires R1.
    assert_eq!(seed_token_status(&server, &a3).await, (200, String::new()), "the new access token works");
    let used_up = refresh(&server, &r1).await;
    assert_eq!((used_up.status, used_up.errcode()), (401, "M_UNKNOWN_TOKEN"), "{}", used_up.body);
    // A3 keeps working, and R3 rotates on.
    assert_eq!(seed_token_status(&server, &a3).await.0, 200);
    let next = refresh(&server, &r3).await;
    assert_eq!(next.status, 200, "{}", next.body);

    // Using the new refresh token (R4) also counts as using the new pair.
    let r4 = token(&next, "refresh_token").to_owned();
    assert_eq!(refresh(&server, &r4).await.status, 200);
    assert_eq!(refresh(&server, &r3).await.errcode(), "M_UNKNOWN_TOKEN");
}

#[tokio::test]
async fn refresh_refuses_what_is_not_a_live_refresh_token() {
    let server = TestServer::start();
    let access = seed_user(&server, "finn").await;
    for garbage in ["garbage", "", "syr_garbage", access.as_str()] {
        let answer = refresh(&server, garbage).await;
        assert_eq!((answer.status, answer.errcode()), (401, "M_UNKNOWN_TOKEN"), "{garbage:?}: {}", answer.body);
        assert_eq!(answer.body["soft_logout"], false);
    }
    let path = format!("{SEED_V2}/tokenrefresh");
    let missing = call(&server, "POST", &path, Some(&json!({})), None).await;
    assert_eq!((missing.status, missing.errcode()), (400, "M_MISSING_PARAM"), "{}", missing.body);
    let not_a_string = call(&server, "POST", &path, Some(&json!({"refresh_token": 5})), None).await;
    assert_eq!((not_a_string.status, not_a_string.errcode()), (400, "M_BAD_JSON"), "{}", not_a_string.body);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed() {
    // Access tokens issued with a refresh token expire after this long.
    let server = TestServer::with(|c| c.tokens.access_token_lifetime = std::time::Duration::from_millis(1000));
    let registered = call(
        &server,
        "POST",
        &format!("{SEED_V2}/register"),
        Some(&json!({"username": "gail", "password": SEED_PASSWORD, "auth": {"type": "m.login.dummy"}})),
        None,
    )
    .await;
    let (access, refresh_token) = (token(&registered, "access_token"), token(&registered, "refresh_token"));
    assert_eq!(seed_token_status(&server, access).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let expired = call(&server, "GET", &format!("{SEED_V2}/account/3pid"), None, Some(access)).await;
    assert_eq!((expired.status, expired.errcode()), (401, "M_UNKNOWN_TOKEN"), "{}", expired.body);
    assert_eq!(expired.body["soft_logout"], Value::Bool(true), "an expired token is a soft logout");
    let refreshed = refresh(&server, refresh_token).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(seed_token_status(&server, token(&refreshed, "access_token")).await.0, 200);
}
