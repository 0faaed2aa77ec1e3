//! A real server for tests: the `matrix-accounts` binary on 127.0.0.1, on a
//! port the OS picks, with a database of its own and fast password
//! hashing. Each test gets its own.
//!
//! The database is a temporary SQLite file or, with
//! `MATRIX_ACCOUNTS_TEST_ENGINE=postgres`, a new database on the PostgreSQL
//! server `MATRIX_ACCOUNTS_TEST_POSTGRES` names: the whole suite runs
//! against either engine. (Tests of PostgreSQL itself, several instances
//! and faults, run whenever the server is named.)

#![allow(dead_code)] // tests/spec_editing.rs uses a part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use matrix_accounts::config::Config;
use matrix_accounts::store::Database;
use serde_json::Value;

/// Settings every test server starts with: cheap argon2, no rate limits
/// unless a test asks for them (the file says why; the scripts share it).
pub const TEST_CONFIG: &str = include_str!("../fixtures/test_server.toml");

/// [`TEST_CONFIG`] as a value, for a test to change before a server starts.
pub fn test_config() -> Config {
    toml::from_str(TEST_CONFIG).expect("tests/fixtures/test_server.toml is a valid configuration")
}

/// A new, empty database for one test: a file in `dir`, or a database of
/// its own on the PostgreSQL server under test.
pub fn fresh_database(dir: &Path) -> Database {
    if std::env::var("MATRIX_ACCOUNTS_TEST_ENGINE").is_ok_and(|engine| engine == "postgres") {
        let url = matrix_accounts::store::postgres::test_server()
            .expect("MATRIX_ACCOUNTS_TEST_ENGINE=postgres needs MATRIX_ACCOUNTS_TEST_POSTGRES");
        let test = std::thread::current().name().unwrap_or("it").rsplit("::").next().unwrap_or("it").to_owned();
        let database = matrix_accounts::store::postgres::create_database(&url, &test).expect("a test database");
        return Database::Postgres(database);
    }
    Database::Sqlite(dir.join("accounts.db"))
}

pub struct TestServer {
    child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    /// The database the server runs on.
    pub database: Database,
    binary: PathBuf,
    config: PathBuf,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::with(|_| {})
    }

    /// Starts with [`test_config`] as `change` leaves it.
    pub fn with(change: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::with_binary(Path::new(env!("CARGO_BIN_EXE_matrix-accounts")), change)
    }

    /// Starts another build of the server (see `tests/spec_editing.rs`).
    pub fn with_binary(binary: &Path, change: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = test_config();
        change(&mut config);
        TestServer::launch(binary, config, &[], None)
    }

    /// Starts with [`test_config`] as `change` leaves it, on `database`
    /// (instead of a fresh one).
    pub fn on_database(database: Database, change: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = test_config();
        change(&mut config);
        TestServer::launch(Path::new(env!("CARGO_BIN_EXE_matrix-accounts")), config, &[], Some(database))
    }

    /// Another instance of this server: another process with the same
    /// configuration file, so on the same database (a PostgreSQL one, for
    /// instances to share). It lives as long as `self` keeps the file.
    pub fn another_instance(&self) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (child, base) = spawn(&self.binary, &self.config, dir.path(), &[]);
        TestServer {
            child,
            base,
            dir,
            database: self.database.clone(),
            binary: self.binary.clone(),
            config: self.config.clone(),
        }
    }

    /// Like [`Self::with`], with command-line `args` too (which
    /// [`Self::restart`] does not keep).
    pub fn with_args(args: &[&str], change: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = test_config();
        change(&mut config);
        TestServer::launch(Path::new(env!("CARGO_BIN_EXE_matrix-accounts")), config, args, None)
    }

    /// Writes `config` (with `database`, or a fresh one) as the TOML file
    /// the binary reads, and starts `binary` with it.
    fn launch(binary: &Path, mut config: Config, args: &[&str], database: Option<Database>) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        config.database = database.unwrap_or_else(|| fresh_database(dir.path()));
        let database = config.database.clone();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, toml::to_string(&config).expect("a configuration serializes"))
            .expect("writing the test configuration");
        let (child, base) = spawn(binary, &path, dir.path(), args);
        TestServer { child, base, dir, database, binary: binary.to_owned(), config: path }
    }

    /// The configuration file the server was started with: another run of
    /// the binary (the operator's command line) given it works on the same
    /// database, with the same settings.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Kills the process with SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process with SIGTERM, as a service manager does, and waits
    /// for it: the server's graceful shutdown runs.
    pub fn terminate(&mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: sends a signal to our own child process; no memory is touched.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let _ = self.child.wait();
    }

    /// Starts the server again on the same database (after [`Self::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let (child, base) = spawn(&self.binary, &self.config, self.dir.path(), &[]);
        self.child = child;
        self.base = base;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the binary with extra command-line `args` and waits for the line
/// that says where it listens.
fn spawn(binary: &Path, config: &Path, dir: &Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting matrix-accounts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines.next().expect("the server exited before listening").expect("reading server output");
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().expect("an address").to_owned();
        }
    };
    // Keep draining the output so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{address}"))
}

/// A client that keeps no cookies or connections between tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("HTTP client")
}

/// A response reduced to what tests assert on.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn from(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("reading the body");
        let text = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|media| media.starts_with("text/"));
        let body = if bytes.is_empty() {
            Value::Null
        } else if text {
            // A page (`/docs`): its schema is a string.
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        Answer { status, headers, body }
    }

    pub fn errcode(&self) -> &str {
        self.body["errcode"].as_str().unwrap_or("")
    }
}

/// Sends `method path` with an optional JSON body and bearer token.
pub async fn call(server: &TestServer, method: &str, path: &str, body: Option<&Value>, token: Option<&str>) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = client().request(method, server.url(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Answer::from(request.send().await.expect("sending the request")).await
}

/// Sends raw bytes as the body (for malformed input).
pub async fn call_raw(server: &TestServer, method: &str, path: &str, body: Vec<u8>) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let request = client().request(method, server.url(path)).body(body);
    Answer::from(request.send().await.expect("sending the request")).await
}

// ---------------------------------------------------------------------------
// Seed-era helpers (tests/it/seed_*.rs): the `/_matrix/client/api/v1` and
// `/_matrix/client/api/v2_alpha` paths, servers with a configuration of
// their own, and requests with chosen headers or source address.

/// The seed's login prefix.
pub const SEED_V1: &str = "/_matrix/client/api/v1";
/// The seed's prefix for everything else.
pub const SEED_V2: &str = "/_matrix/client/api/v2_alpha";
/// The prefix the seed's prose gives its password and 3pid calls (no
/// `api/`); they are served under both.
pub const SEED_V2_PROSE: &str = "/_matrix/client/v2_alpha";
/// The password the seed helpers register with.
pub const SEED_PASSWORD: &str = "correct horse battery staple";

/// Sends raw bytes with the given headers (e.g. curl's default
/// `Content-Type: application/x-www-form-urlencoded`) and bearer token.
pub async fn call_raw_with(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
    token: Option<&str>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = client().request(method, server.url(path)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Answer::from(request.send().await.expect("sending the request")).await
}

/// [`call`] from another loopback source address (e.g. 127.0.0.2), for
/// per-IP rate limits: Linux accepts any 127/8 source towards 127.0.0.1.
pub async fn call_from(
    server: &TestServer,
    source: std::net::IpAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Answer {
    let client =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).local_address(source).build().expect("HTTP client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = client.request(method, server.url(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Answer::from(request.send().await.expect("sending the request")).await
}

/// One-shot seed registration: `auth: {type: m.login.dummy}` without a
/// session, password [`SEED_PASSWORD`].
pub async fn seed_register(server: &TestServer, username: &str) -> Answer {
    let body = serde_json::json!({
        "username": username,
        "password": SEED_PASSWORD,
        "auth": {"type": "m.login.dummy"},
    });
    call(server, "POST", &format!("{SEED_V2}/register"), Some(&body), None).await
}

/// [`seed_register`] that must succeed; answers the access token.
pub async fn seed_user(server: &TestServer, username: &str) -> String {
    let answer = seed_register(server, username).await;
    assert_eq!(answer.status, 200, "registering {username}: {}", answer.body);
    answer.body["access_token"].as_str().expect("an access token").to_owned()
}

/// The seed's `POST /api/v1/login` with `m.login.password`.
pub async fn seed_login(server: &TestServer, user: &str, password: &str) -> Answer {
    let body = serde_json::json!({"type": "m.login.password", "user": user, "password": password});
    call(server, "POST", &format!("{SEED_V1}/login"), Some(&body), None).await
}

/// Whether an access token is accepted, through the seed's
/// `GET /account/3pid`: the status (200, or 401 with its errcode).
pub async fn seed_token_status(server: &TestServer, token: &str) -> (u16, String) {
    let answer = call(server, "GET", &format!("{SEED_V2}/account/3pid"), None, Some(token)).await;
    (answer.status, answer.errcode().to_owned())
}
