//! The operator's command line (`matrix-accounts user ...`, `token ...`):
//! the real binary against a database a running server uses at the same
//! time, and alone against a database no server has open.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{TestServer, call};
use crate::v3_support::{V3, assert_error, login, login_with, ok, whoami};

/// One run of the command line: exit status, stdout, stderr.
struct Run {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The run succeeded; its stdout.
    #[track_caller]
    fn ok(self) -> String {
        assert!(self.success, "exit {:?}, stderr: {}", self.code, self.stderr);
        self.stdout
    }

    /// The run succeeded; its stdout as JSON.
    #[track_caller]
    fn json(self) -> Value {
        let stdout = self.ok();
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"))
    }

    /// The run failed with one line on stderr and nothing on stdout; the line.
    #[track_caller]
    fn failed(self) -> String {
        assert!(!self.success, "succeeded: {}", self.stdout);
        assert_eq!(self.stdout, "", "a failure prints no report");
        assert_eq!(self.stderr.lines().count(), 1, "one line: {:?}", self.stderr);
        self.stderr
    }
}

/// Runs the binary with `settings` (`--config FILE` or `--database FILE`)
/// then `args`; `stdin` is piped in, or stdin is empty and not a terminal.
fn cli(settings: &[&std::ffi::OsStr], args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_matrix-accounts"))
        .args(settings)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting matrix-accounts");
    if let Some(text) = stdin {
        child.stdin.take().expect("piped stdin").write_all(text.as_bytes()).expect("writing stdin");
    }
    let output = child.wait_with_output().expect("running matrix-accounts");
    Run {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// The command line on the running server's configuration (its database,
/// server name and argon2 settings).
fn on(server: &TestServer) -> [&std::ffi::OsStr; 2] {
    ["--config".as_ref(), server.config_path().as_os_str()]
}

/// The command line on a database file alone (no server, default settings).
fn on_file(database: &Path) -> [&std::ffi::OsStr; 2] {
    ["--database".as_ref(), database.as_os_str()]
}

/// The server notices another process's writes within a second or so
/// (`server::watch_outside_writes`) and drops the tokens it cached.
async fn assert_token_dies(server: &TestServer, token: &str) {
    for _ in 0..50 {
        let answer = whoami(server, V3, token).await;
        if answer.status == 401 {
            assert_error(&answer, 401, "M_UNKNOWN_TOKEN");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("a token revoked on the command line still works on the running server");
}

#[tokio::test]
async fn accounts_made_and_changed_on_the_command_line_act_on_the_running_server() {
    let server = TestServer::start();
    let run = |args: &[&str], stdin: Option<&str>| cli(&on(&server), args, stdin);

    let created = run(&["user", "create", "alice", "--password-stdin", "--json"], Some("first password\n")).json();
    assert_eq!(created["user_id"], "@alice:localhost");
    assert_eq!(created["admin"], false);
    // The trailing newline of `echo` is not part of the password.
    let token = login(&server, V3, "alice", "first password").await;

    // Not an admin yet; the server reads the flag on every admin request.
    let me = "/_synapse/admin/v2/users/@alice:localhost";
    assert_error(&call(&server, "GET", me, None, Some(&token)).await, 403, "M_FORBIDDEN");
    assert_eq!(run(&["user", "set-admin", "alice", "true"], None).ok(), "@alice:localhost: now an admin\n");
    assert_eq!(ok(call(&server, "GET", me, None, Some(&token)).await)["admin"], json!(true));

    let shown = run(&["user", "show", "@alice:localhost", "--json"], None).json();
    assert_eq!((shown["admin"].clone(), shown["deactivated"].clone()), (json!(true), json!(false)));
    assert!(shown["creation_ts"].as_i64().is_some_and(|at| at > 0), "{shown}");
    run(&["user", "create", "bob", "--password-stdin"], Some("bob's password")).ok();
    let bobs = login(&server, V3, "bob", "bob's password").await;
    ok(whoami(&server, V3, &bobs).await);
    let admins = run(&["user", "list", "--admins", "--json"], None).json();
    assert_eq!(admins.as_array().map(Vec::len), Some(1), "{admins}");
    assert_eq!(run(&["user", "list"], None).ok(), "@alice:localhost admin\n@bob:localhost\n");

    // The token is now in the server's memory; the reset below must reach it.
    ok(whoami(&server, V3, &token).await);
    let reset = run(&["user", "reset-password", "alice", "--password-stdin", "--json"], Some("second password")).json();
    assert_eq!(reset, json!({"user_id": "@alice:localhost", "logout_devices": true}));
    assert_error(&login_with(&server, V3, "alice", "first password", json!({})).await, 403, "M_FORBIDDEN");
    login(&server, V3, "alice", "second password").await;
    assert_token_dies(&server, &token).await;
    let kept = login(&server, V3, "alice", "second password").await;
    run(&["user", "reset-password", "alice", "--keep-devices", "--password-stdin"], Some("third password")).ok();
    login(&server, V3, "alice", "third password").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    ok(whoami(&server, V3, &kept).await);

    assert_eq!(run(&["user", "deactivate", "bob"], None).ok(), "@bob:localhost: deactivated\n");
    assert_error(&login_with(&server, V3, "bob", "bob's password", json!({})).await, 403, "M_USER_DEACTIVATED");
    assert_token_dies(&server, &bobs).await;
    // Listed only when asked for, as the admin API does.
    assert_eq!(run(&["user", "list", "--json"], None).json().as_array().map(Vec::len), Some(1));
    let all = run(&["user", "list", "--deactivated", "--name", "bo", "--json"], None).json();
    assert_eq!(
        all,
        json!([{"user_id": "@bob:localhost", "admin": false, "deactivated": true, "guest": false,
        "creation_ts": all[0]["creation_ts"]}])
    );
    // A deactivated ID is never handed out again.
    let taken = run(&["user", "create", "bob", "--password-stdin"], Some("another")).failed();
    assert!(taken.contains("M_USER_IN_USE"), "{taken}");
}

#[tokio::test]
async fn registration_tokens_issued_on_the_command_line_admit_registrations() {
    let server = TestServer::with(|c| c.registration.requires_token = true);
    let run = |args: &[&str]| cli(&on(&server), args, None);
    let validity = |token: String| {
        let server = &server;
        async move {
            let path = format!("/_matrix/client/v1/register/m.login.registration_token/validity?token={token}");
            ok(call(server, "GET", &path, None, None).await)["valid"].clone()
        }
    };

    let issued = run(&["token", "issue", "--uses", "2", "--expires-in-days", "7", "--json"]).json();
    let random = issued["token"].as_str().expect("a token").to_owned();
    assert_eq!(random.len(), 16);
    assert_eq!((issued["uses_allowed"].clone(), issued["completed"].clone()), (json!(2), json!(0)));
    assert!(issued["expiry_time"].as_i64().is_some_and(|at| at > 6 * 86_400_000), "{issued}");
    assert_eq!(run(&["token", "issue", "--token", "invite-1"]).ok(), "invite-1\n");
    assert_eq!(run(&["token", "issue", "--length", "5"]).ok().trim().len(), 5);
    assert_eq!(validity("invite-1".into()).await, json!(true));

    let listed = run(&["token", "list", "--valid", "--json"]).json();
    let mut names: Vec<&str> = listed.as_array().expect("a list").iter().filter_map(|t| t["token"].as_str()).collect();
    names.sort_unstable();
    assert!(names.contains(&"invite-1") && names.contains(&random.as_str()) && names.len() == 3, "{listed}");
    assert!(run(&["token", "list"]).ok().lines().any(|line| line.starts_with("invite-1 uses=0/unlimited")));

    assert_eq!(run(&["token", "revoke", "invite-1", "--json"]).json(), json!({"token": "invite-1", "revoked": true}));
    assert_eq!(validity("invite-1".into()).await, json!(false));
    assert!(run(&["token", "revoke", "invite-1"]).failed().contains("No such registration token"));
    assert!(run(&["token", "issue", "--token", &random]).failed().contains("already exists"));
    assert!(run(&["token", "issue", "--token", "not valid!"]).failed().contains("M_INVALID_PARAM"));
}

#[test]
fn mistakes_exit_non_zero_with_one_line_and_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("accounts.db");
    let run = |args: &[&str], stdin: Option<&str>| cli(&on_file(&database), args, stdin);

    // A password is never taken from nowhere: no terminal and no --password-stdin.
    let refused = run(&["user", "create", "carol"], None).failed();
    assert!(refused.contains("--password-stdin"), "{refused}");
    assert!(run(&["user", "create", "carol", "--password-stdin"], Some("\n")).failed().contains("empty"));
    // Flags are global: accepted after the subcommand too.
    let created = cli(
        &[],
        &["user", "create", "carol", "--password-stdin", "--database", database.to_str().unwrap()],
        Some("pw"),
    );
    assert_eq!(created.ok(), "created @carol:localhost\n");

    let taken = run(&["user", "create", "@carol:localhost", "--password-stdin"], Some("pw")).failed();
    assert!(taken.contains("M_USER_IN_USE"), "{taken}");
    assert!(
        run(&["user", "create", "@carol:elsewhere", "--password-stdin"], Some("pw"))
            .failed()
            .contains("not a user ID of this server")
    );
    assert!(
        run(&["user", "create", "Not Valid", "--password-stdin"], Some("pw")).failed().contains("M_INVALID_USERNAME")
    );
    for args in [&["user", "show", "dave"][..], &["user", "deactivate", "dave"], &["user", "set-admin", "dave", "true"]]
    {
        let unknown = run(args, None).failed();
        assert!(unknown.contains("User not found"), "{args:?}: {unknown}");
    }
    let unknown = run(&["user", "reset-password", "dave", "--password-stdin"], Some("pw")).failed();
    assert!(unknown.contains("User not found"), "{unknown}");
    assert!(run(&["user", "show", "@carol:elsewhere"], None).failed().contains("local users"));
    // The command line has no account of its own: it may demote anyone.
    run(&["user", "set-admin", "carol", "true"], None).ok();
    run(&["user", "set-admin", "carol", "false"], None).ok();
    assert_eq!(run(&["user", "show", "carol", "--json"], None).json()["admin"], json!(false));
    // clap's own refusal: exit status 2, usage on stderr.
    let bad = run(&["user", "set-admin", "carol", "maybe"], None);
    assert_eq!((bad.code, bad.stdout.as_str()), (Some(2), ""));
}
