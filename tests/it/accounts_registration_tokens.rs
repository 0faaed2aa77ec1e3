//! Registration tokens as Synapse models them: stored, counted exactly
//! (`uses_allowed`, `pending`, `completed`), expiring, compared in constant
//! time, and wrong guesses limited per IP.

use crate::accounts_support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use accounts_support::{PASSWORD, Server, assert_error, client, session_of, user_request};
use matrix_accounts::accounts::{ClientInfo, RegisterRequest};
use matrix_accounts::config::Bucket;
use matrix_accounts::error::ErrorCode;
use matrix_accounts::store::{RegistrationTokenRecord, Store};
use serde_json::json;

/// A server that requires tokens, and a second handle on its database (what
/// the coming admin API will use).
fn server() -> (Server, Arc<dyn Store>) {
    let mut config = accounts_support::config();
    config.registration.requires_token = true;
    let server = Server::with(config);
    let store = server.config.database.open().unwrap();
    (server, store)
}

fn token_auth(token: &str, session: Option<&str>) -> serde_json::Value {
    let mut auth = json!({"type": "m.login.registration_token", "token": token});
    if let Some(session) = session {
        auth["session"] = session.into();
    }
    auth
}

/// Of the racing registrations, exactly one made an account, the others
/// were told the token is used up, and the token counts one completed use.
async fn exactly_one_registered<T>(
    tasks: Vec<tokio::task::JoinHandle<Result<T, matrix_accounts::error::Error>>>,
    store: &dyn Store,
) {
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(error) => assert_eq!((error.status().as_u16(), error.code()), (401, Some(ErrorCode::Unauthorized))),
        }
    }
    assert_eq!(created, 1);
    let single = store.registration_token("single").unwrap().unwrap();
    assert_eq!((single.pending, single.completed), (0, 1));
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Twenty parallel one-shot registrations with a token of one use: one
/// account, nineteen 401 `M_UNAUTHORIZED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_of_one_use_registers_one_account_under_a_race() {
    let (server, store) = server();
    store.create_registration_token(&RegistrationTokenRecord::new("single", Some(1), None)).unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (accounts, start) = (server.accounts.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                accounts.register(user_request(&format!("racer{i}")), Some(token_auth("single", None)), &client()).await
            })
        })
        .collect();
    exactly_one_registered(tasks, &*store).await;
}

/// The same race through twenty UIA sessions, each passing the stage on its
/// follow-up: the use is reserved by one session (`pending`) and becomes
/// `completed` when it registers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_of_one_use_is_reserved_by_one_session() {
    let (server, store) = server();
    store.create_registration_token(&RegistrationTokenRecord::new("single", Some(1), None)).unwrap();
    let mut sessions = Vec::new();
    for i in 0..20 {
        let challenge = server.accounts.register(user_request(&format!("s{i}")), None, &client()).await.unwrap_err();
        sessions.push(session_of(&challenge));
    }
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, session)| {
            let (accounts, start) = (server.accounts.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let auth = token_auth("single", Some(&session));
                accounts.register(user_request(&format!("s{i}")), Some(auth), &client()).await
            })
        })
        .collect();
    exactly_one_registered(tasks, &*store).await;
}

/// Unknown, expired and used-up tokens fail the stage alike; a session that
/// passed the stage holds its use until it registers or expires.
#[tokio::test(flavor = "multi_thread")]
async fn expired_used_up_and_pending_uses() {
    let mut config = accounts_support::config();
    config.registration.requires_token = true;
    config.tokens.uia_session_lifetime = Duration::from_millis(200);
    let server = Server::with(config);
    let store = server.config.database.open().unwrap();
    let accounts = &server.accounts;
    store.create_registration_token(&RegistrationTokenRecord::new("past", None, Some(now_ms() - 1))).unwrap();
    store.create_registration_token(&RegistrationTokenRecord::new("once", Some(1), None)).unwrap();
    for token in ["past", "unknown", "", &"x".repeat(500)] {
        let answer = accounts.register(user_request("tom"), Some(token_auth(token, None)), &client()).await;
        let error = assert_error(answer, 401, ErrorCode::Unauthorized);
        assert!(error.challenge().is_some(), "a UIA answer: {error}");
    }
    assert!(!accounts.registration_token_valid("past", &client()).await.unwrap());
    assert!(accounts.registration_token_valid("once", &client()).await.unwrap());

    // Anne passes the stage but sends no password: no account, and her
    // session holds the only use, so Bob cannot register with it...
    let no_password = RegisterRequest { password: None, ..user_request("anne") };
    let session = session_of(&accounts.register(no_password.clone(), None, &client()).await.unwrap_err());
    let auth = token_auth("once", Some(&session));
    assert_error(accounts.register(no_password, Some(auth), &client()).await, 400, ErrorCode::MissingParam);
    assert_eq!(store.registration_token("once").unwrap().unwrap().pending, 1);
    assert!(!accounts.registration_token_valid("once", &client()).await.unwrap());
    let bob = accounts.register(user_request("bob"), Some(token_auth("once", None)), &client()).await;
    assert_error(bob, 401, ErrorCode::Unauthorized);
    // ...until her session expires (swept by the next session stored).
    tokio::time::sleep(Duration::from_millis(300)).await;
    accounts.register(user_request("cat"), None, &client()).await.unwrap_err();
    assert_eq!(store.registration_token("once").unwrap().unwrap().pending, 0);
    accounts.register(user_request("bob"), Some(token_auth("once", None)), &client()).await.unwrap();
    server.login("bob", PASSWORD).await.unwrap();
}

/// Wrong guesses are limited per IP; another address is not.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_tokens_are_limited_per_ip() {
    let mut config = accounts_support::config();
    config.registration.tokens = vec!["letmein".into()];
    config.rate_limits.enabled = true;
    config.rate_limits.register = Bucket { per_second: 1000.0, burst: 1000 };
    config.rate_limits.registration_token_failed = Bucket { per_second: 0.001, burst: 3 };
    let server = Server::with(config);
    let accounts = &server.accounts;
    let guesser = ClientInfo { ip: IpAddr::from([10, 9, 8, 7]) };
    for i in 0..3 {
        let guess = accounts.register(user_request("gus"), Some(token_auth(&format!("guess{i}"), None)), &guesser);
        assert_error(guess.await, 401, ErrorCode::Unauthorized);
    }
    let limited = accounts.register(user_request("gus"), Some(token_auth("letmein", None)), &guesser).await;
    assert_error(limited, 429, ErrorCode::LimitExceeded);
    accounts.register(user_request("gus"), Some(token_auth("letmein", None)), &client()).await.unwrap();
}

/// Tokens from the configuration are stored at start, unlimited; a restart
/// keeps their counts.
#[tokio::test(flavor = "multi_thread")]
async fn configured_tokens_are_stored_unlimited() {
    let mut config = accounts_support::config();
    config.registration.tokens = vec!["letmein".into()];
    let mut server = Server::with(config);
    for name in ["ann", "ben"] {
        let request = RegisterRequest { ..user_request(name) };
        server.accounts.register(request, Some(token_auth("letmein", None)), &client()).await.unwrap();
    }
    server.restart();
    let store = server.config.database.open().unwrap();
    let stored = store.registration_token("letmein").unwrap().unwrap();
    assert_eq!(stored, RegistrationTokenRecord { completed: 2, ..RegistrationTokenRecord::new("letmein", None, None) });
}
