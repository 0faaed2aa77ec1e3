//! `matrix-accounts import synapse`, against a database made by a real
//! Synapse (`tests/synapse/make_fixture.sh real`, which writes
//! `synapse.db` and, beside it, `fixture.json` with the passwords and
//! tokens it used). Point `MATRIX_ACCOUNTS_SYNAPSE_FIXTURE` at the
//! `synapse.db`; without it these tests are skipped, except under
//! `CI=true`, where a missing fixture fails them. The same Synapse database
//! moved to PostgreSQL by Synapse's own `synapse_port_db`
//! (`make_fixture.sh postgres URL`, which prints the URL to set as
//! `MATRIX_ACCOUNTS_SYNAPSE_POSTGRES`) is imported the same way.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::{TestServer, call};

const FIXTURE_VARIABLE: &str = "MATRIX_ACCOUNTS_SYNAPSE_FIXTURE";

/// The fixture database and its description, or `None` (test skipped).
fn fixture() -> Option<(PathBuf, Value)> {
    let Some(path) = std::env::var_os(FIXTURE_VARIABLE) else {
        let reason = format!("{FIXTURE_VARIABLE} is not set; make one with tests/synapse/make_fixture.sh real");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
        eprintln!("skipped: {reason}");
        return None;
    };
    let path = PathBuf::from(path);
    let description = path.with_file_name("fixture.json");
    let text = std::fs::read_to_string(&description)
        .unwrap_or_else(|error| panic!("reading {}: {error}", description.display()));
    Some((path, serde_json::from_str(&text).expect("fixture.json is JSON")))
}

/// A server with the fixture's server name and pepper, stopped, so that the
/// import writes its database first.
fn stopped_server(fixture: &Value) -> TestServer {
    let server_name = fixture["server_name"].as_str().unwrap().to_owned();
    let pepper = fixture["pepper"].as_str().unwrap().to_owned();
    let mut server = TestServer::with(move |config| {
        config.server_name = server_name;
        config.passwords.bcrypt_pepper = pepper;
    });
    server.kill();
    server
}

/// Runs the binary with the server's configuration file and `args`.
fn matrix_accounts(server: &TestServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_matrix-accounts"))
        .arg("--config")
        .arg(server.dir.path().join("config.toml"))
        .args(args)
        .output()
        .expect("running matrix-accounts")
}

fn import_json(server: &TestServer, source: &str, extra: &[&str]) -> Value {
    let mut args = vec!["import", "synapse", source, "--json"];
    args.extend_from_slice(extra);
    let output = matrix_accounts(server, &args);
    assert!(output.status.success(), "import failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the --json report is JSON")
}

async fn login(server: &TestServer, user: &str, password: &str) -> crate::common::Answer {
    let body =
        json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password});
    call(server, "POST", "/_matrix/client/v3/login", Some(&body), None).await
}

#[tokio::test]
async fn synapse_users_log_in_with_their_passwords_and_sessions() {
    let Some((source, fixture)) = fixture() else { return };
    import_and_log_in(source.to_str().unwrap(), &fixture).await;
}

#[tokio::test]
async fn the_same_synapse_on_postgresql_comes_over_the_same() {
    let Some((_, fixture)) = fixture() else { return };
    let Ok(url) = std::env::var("MATRIX_ACCOUNTS_SYNAPSE_POSTGRES") else {
        let reason = "MATRIX_ACCOUNTS_SYNAPSE_POSTGRES is not set; make one with tests/synapse/make_fixture.sh postgres URL";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
        eprintln!("skipped: {reason}");
        return;
    };
    import_and_log_in(&url, &fixture).await;
}

/// Imports `source` (the fixture, on either engine) and checks what came
/// over, as its users would.
async fn import_and_log_in(source: &str, fixture: &Value) {
    let mut server = stopped_server(fixture);
    let users = &fixture["users"];

    let report = import_json(&server, source, &["--sessions"]);
    assert_eq!(report["users_imported"], 5, "{report}");
    assert_eq!(report["threepids"], 1, "{report}");
    assert!(report["devices"].as_u64().unwrap() >= 4, "{report}");
    assert!(report["access_tokens"].as_u64().unwrap() >= 4, "{report}");
    assert_eq!(report["refresh_tokens"], 1, "{report}");
    server.restart();

    // Synapse's passwords, Unicode included (NFKC) and peppered, log in.
    for name in ["admin", "alice", "bob", "dave"] {
        let answer = login(&server, name, users[name]["password"].as_str().unwrap()).await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
    }
    let wrong = login(&server, "alice", "not-alice-password").await;
    assert_eq!((wrong.status, wrong.errcode()), (403, "M_FORBIDDEN"), "{}", wrong.body);
    // Synapse erases the password hash of an account it deactivates, so
    // carol's password fails like a wrong one (as it did on Synapse).
    let deactivated = login(&server, "carol", users["carol"]["password"].as_str().unwrap()).await;
    assert_eq!((deactivated.status, deactivated.errcode()), (403, "M_FORBIDDEN"), "{}", deactivated.body);

    let store = server.database.open().unwrap();
    let alice = store.user("alice").unwrap().unwrap();
    assert!(alice.password_hash.unwrap().starts_with("$argon2id$"), "the bcrypt hash was not upgraded");
    assert!(store.user("carol").unwrap().unwrap().deactivated);
    let email = users["alice"]["email"].as_str().unwrap();
    assert_eq!(store.threepid_owner("email", email).unwrap().as_deref(), Some("alice"));

    let admin = store.user("admin").unwrap().unwrap().admin;
    let not_admin = store.user("bob").unwrap().unwrap().admin;
    assert!(admin && !not_admin, "the admin flag did not come over");
    let device = store.device("alice", users["alice"]["device_id"].as_str().unwrap()).unwrap().unwrap();
    assert_eq!(device.display_name.as_deref(), Some("Alice phone"));

    // Sessions: a Synapse access token still answers whoami, a refresh token
    // still refreshes.
    for name in ["bob", "dave"] {
        let token = users[name]["access_token"].as_str();
        let whoami = call(&server, "GET", "/_matrix/client/v3/account/whoami", None, token).await;
        assert_eq!(whoami.status, 200, "{name}: {}", whoami.body);
        assert_eq!(whoami.body["user_id"], format!("@{name}:test.local"));
        assert_eq!(whoami.body["device_id"], users[name]["device_id"]);
    }
    let refresh = json!({"refresh_token": users["alice"]["refresh_token"]});
    let refreshed = call(&server, "POST", "/_matrix/client/v3/refresh", Some(&refresh), None).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);

    // A second run changes nothing, and says so.
    let again = import_json(&server, source, &["--sessions"]);
    assert_eq!((again["users_imported"].clone(), again["users_already_present"].clone()), (json!(0), json!(5)));
    let text = matrix_accounts(&server, &["import", "synapse", source]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("nothing new to import"));
}

#[tokio::test]
async fn another_server_name_is_refused_unless_forced() {
    let Some((source, fixture)) = fixture() else { return };
    let server = stopped_server(&fixture);
    let source = source.to_str().unwrap();
    // Nothing written: no SQLite file (not even an empty one), no account
    // in PostgreSQL.
    let nothing_written = |what: &str| match server.database.sqlite_path() {
        Some(path) => assert!(!path.exists(), "{what} created the database"),
        None => assert!(server.database.open().unwrap().user("alice").unwrap().is_none(), "{what} wrote"),
    };
    if let Some(path) = server.database.sqlite_path() {
        std::fs::remove_file(path).unwrap();
    }

    let refused = matrix_accounts(&server, &["import", "synapse", source, "--server-name", "other.example"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("test.local") && message.contains("--force-server-name"), "{message}");
    nothing_written("a refused import");

    // A dry run reads everything and writes nothing.
    let dry = matrix_accounts(&server, &["import", "synapse", source, "--dry-run", "--json"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let report: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!((report["dry_run"].clone(), report["users_imported"].clone()), (json!(true), json!(5)));
    nothing_written("a dry run");

    let forced = matrix_accounts(
        &server,
        &["--server-name", "other.example", "import", "synapse", source, "--force-server-name", "--json"],
    );
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
    let store = server.database.open().unwrap();
    assert!(store.user("alice").unwrap().is_some());
}

#[test]
fn an_unknown_schema_version_is_refused_naming_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("synapse.db");
    let db = rusqlite::Connection::open(&source).unwrap();
    db.execute_batch(
        "CREATE TABLE schema_version (lock TEXT, version INTEGER, upgraded BOOL); \
                      INSERT INTO schema_version VALUES ('X', 12, 1);",
    )
    .unwrap();
    drop(db);
    let output = Command::new(env!("CARGO_BIN_EXE_matrix-accounts"))
        .args(["--database", dir.path().join("accounts.db").to_str().unwrap(), "import", "synapse"])
        .arg(&source)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("schema version 12") && message.contains("94 (Synapse 1.163.2)"), "{message}");
}
