//! Shared set-up for the domain-level account tests: a service over a
//! temporary SQLite file, with argon2 parameters cheap enough for tests and
//! rate limits off unless a test turns them on.

use std::net::IpAddr;

use matrix_accounts::accounts::{Accounts, ClientInfo, LoginRequest, RegisterRequest, Registered, UserIdentifier};
use matrix_accounts::config::{Config, Passwords};
use matrix_accounts::error::{Error, ErrorCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Server {
    pub accounts: Accounts,
    pub config: Config,
    /// Holds the database's folder until the test ends.
    _dir: tempfile::TempDir,
}

pub fn config() -> Config {
    let mut config = Config {
        passwords: Passwords { memory_kib: 64, iterations: 1, parallelism: 1, ..Passwords::default() },
        ..Config::default()
    };
    config.rate_limits.enabled = false;
    config
}

impl Server {
    pub fn start() -> Server {
        Server::with(config())
    }

    pub fn with(mut config: Config) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        config.database = crate::common::fresh_database(dir.path());
        let accounts = Accounts::open(&config).expect("open accounts");
        Server { accounts, config, _dir: dir }
    }

    /// A new service over the same database: what a restart sees.
    pub fn restart(&mut self) {
        let store = self.config.database.open().expect("reopen store");
        self.accounts = Accounts::new(&self.config, store).expect("accounts");
    }

    /// One-shot registration (`auth: m.login.dummy` without a session).
    pub async fn register(&self, username: &str) -> Registered {
        self.accounts
            .register(user_request(username), Some(json!({"type": "m.login.dummy"})), &client())
            .await
            .expect("registration")
    }

    pub async fn login(&self, user: &str, password: &str) -> Result<matrix_accounts::accounts::LoggedIn, Error> {
        self.accounts.login(login_request(user, password), &client()).await
    }
}

pub fn client() -> ClientInfo {
    ClientInfo { ip: IpAddr::from([127, 0, 0, 1]) }
}

pub fn user_request(username: &str) -> RegisterRequest {
    RegisterRequest { username: Some(username.into()), password: Some(PASSWORD.into()), ..RegisterRequest::default() }
}

pub fn login_request(user: &str, password: &str) -> LoginRequest {
    LoginRequest {
        login_type: "m.login.password".into(),
        identifier: UserIdentifier::User(user.into()),
        password: Some(password.into()),
        device_id: None,
        initial_device_display_name: None,
        refresh_token: false,
    }
}

/// `auth` for an `m.login.password` stage.
pub fn password_auth(user: &str, password: &str, session: Option<&str>) -> Value {
    let mut auth = json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    });
    if let Some(session) = session {
        auth["session"] = session.into();
    }
    auth
}

/// The session ID of a UIA challenge.
pub fn session_of(challenge: &Error) -> String {
    assert_eq!(challenge.status().as_u16(), 401, "not a UIA challenge: {challenge}");
    challenge.challenge().expect("a UIA challenge").session.clone()
}

pub fn assert_error(result: Result<impl std::fmt::Debug, Error>, status: u16, code: ErrorCode) -> Error {
    let error = result.expect_err("expected an error");
    assert_eq!((error.status().as_u16(), error.code()), (status, Some(code)), "{error}");
    error
}
