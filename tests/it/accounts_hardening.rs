//! What a stranger must not be able to do: lock an owner out of their
//! account, enumerate names without limit, or pass for another user with a
//! look-alike name; and the audit trail the security-relevant events leave.

use crate::accounts_support;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use accounts_support::{PASSWORD, Server, assert_error, client, login_request, user_request};
use matrix_accounts::accounts::{ChangePasswordRequest, ClientInfo};
use matrix_accounts::config::Bucket;
use matrix_accounts::error::ErrorCode;
use serde_json::json;

fn stranger() -> ClientInfo {
    ClientInfo { ip: IpAddr::from([10, 0, 0, 66]) }
}

fn limited() -> Server {
    let mut config = accounts_support::config();
    config.rate_limits.enabled = true;
    config.rate_limits.login = Bucket { per_second: 0.001, burst: 5 };
    config.rate_limits.login_failed = Bucket { per_second: 0.001, burst: 3 };
    config.rate_limits.available = Bucket { per_second: 0.001, burst: 4 };
    Server::with(config)
}

/// A stranger who knows a user ID and guesses from another address locks
/// only their own address out; the owner's right password still works.
#[tokio::test(flavor = "multi_thread")]
async fn a_stranger_cannot_lock_the_owner_out() {
    let server = limited();
    server.register("owner").await;
    let accounts = &server.accounts;
    for _ in 0..3 {
        let guess = accounts.login(login_request("owner", "guess"), &stranger()).await;
        assert_error(guess, 403, ErrorCode::Forbidden);
    }
    // The stranger's address is locked out of the account, right password or not.
    let locked = accounts.login(login_request("@OWNER:localhost", PASSWORD), &stranger()).await;
    assert_error(locked, 429, ErrorCode::LimitExceeded);
    // The owner, elsewhere, is not.
    accounts.login(login_request("owner", PASSWORD), &client()).await.unwrap();
    // Nor are the owner's own mistakes charged to the stranger's lock.
    assert_error(accounts.login(login_request("owner", "typo"), &client()).await, 403, ErrorCode::Forbidden);
    accounts.login(login_request("owner", PASSWORD), &client()).await.unwrap();
}

/// KELVIN SIGN lower-cases to an ASCII `k`: `\u{212A}ate` is neither
/// registrable nor a way to log in as `kate`.
#[tokio::test(flavor = "multi_thread")]
async fn look_alike_names_are_not_folded_onto_ascii() {
    let server = Server::start();
    server.register("kate").await;
    let accounts = &server.accounts;
    let kelvin = "\u{212A}ate";
    let request = user_request(kelvin);
    let auth = Some(json!({"type": "m.login.dummy"}));
    assert_error(accounts.register(request, auth, &client()).await, 400, ErrorCode::InvalidUsername);
    assert_error(accounts.check_username_available(kelvin, &client()).await, 400, ErrorCode::InvalidUsername);
    for name in [kelvin.to_owned(), format!("@{kelvin}:localhost")] {
        assert_error(server.login(&name, PASSWORD).await, 403, ErrorCode::Forbidden);
    }
    server.login("KATE", PASSWORD).await.unwrap();
}

/// `GET /register/available` answers whether a name exists: limited per IP.
#[tokio::test(flavor = "multi_thread")]
async fn the_availability_oracle_is_limited_per_ip() {
    let server = limited();
    let accounts = &server.accounts;
    for i in 0..4 {
        accounts.check_username_available(&format!("free{i}"), &stranger()).await.unwrap();
    }
    let limited = accounts.check_username_available("free9", &stranger()).await;
    let error = assert_error(limited, 429, ErrorCode::LimitExceeded);
    assert!(error.retry_after_ms().unwrap() > 1000);
    accounts.check_username_available("free9", &client()).await.unwrap();
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything this test binary logs. A process-wide subscriber, not a
/// per-thread one: tracing caches per call site whether anyone listens,
/// and a call site first reached by another test's thread (without a
/// subscriber) would stay silent for a thread-local one.
fn captured_log() -> Captured {
    static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        captured
    })
    .clone()
}

/// Login failures, lock-outs and password changes each leave one line
/// with a stable `event`, the user and the client IP, and no password.
#[tokio::test]
async fn security_events_are_logged_without_secrets() {
    let captured = captured_log();
    let server = limited();
    let accounts = &server.accounts;
    let token = server.register("audited").await.access_token.unwrap();
    for _ in 0..3 {
        let failed = accounts.login(login_request("audited", "Sup3rS3cretGuess"), &stranger()).await;
        assert_error(failed, 403, ErrorCode::Forbidden);
    }
    let locked = accounts.login(login_request("audited", "Sup3rS3cretGuess"), &stranger()).await;
    assert_error(locked, 429, ErrorCode::LimitExceeded);
    let caller = accounts.authenticate(&token).await.unwrap();
    let change = ChangePasswordRequest { new_password: Some("N3wS3cretPassword".into()), logout_devices: None };
    let auth = accounts_support::password_auth("audited", PASSWORD, None);
    accounts.change_password(Some(&caller), change, Some(auth), &client()).await.unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let ours: Vec<&str> = log.lines().filter(|line| line.contains("audited")).collect();
    let lines = |event: &str| ours.iter().filter(|line| line.contains(&format!("event=\"{event}\""))).count();
    assert_eq!(lines("login.failed"), 3, "{log}");
    assert_eq!(lines("login.locked"), 1, "{log}");
    assert_eq!(lines("password.changed"), 1, "{log}");
    for line in ours.iter().filter(|line| line.contains("event=")) {
        assert!(line.contains("10.0.0.66") || line.contains("127.0.0.1"), "no client IP: {line}");
    }
    for secret in ["Sup3rS3cretGuess", "N3wS3cretPassword", PASSWORD] {
        assert!(!log.contains(secret), "a password reached the log: {log}");
    }
}
