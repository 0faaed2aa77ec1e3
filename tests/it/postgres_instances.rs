//! Several instances on one PostgreSQL database behave as one server, the
//! database can go away and come back, and a SQLite deployment moves over.
//!
//! These need `MATRIX_ACCOUNTS_TEST_POSTGRES` (see `tests/postgres/
//! cluster.sh`) and skip without it, unless `CI=true`. The fault test starts
//! a private cluster of its own, so that stopping it disturbs no other test.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use matrix_accounts::store::Database;
use matrix_accounts::store::postgres::{create_database, test_server};
use serde_json::{Value, json};

use crate::accounts_support::password_auth;
use crate::common::{Answer, TestServer, call};
use crate::v3_support::{PASSWORD, assert_error, login, ok, register, register_with, session_of, text, whoami};

const V3: &str = "/_matrix/client/v3";

/// How long another instance may serve a revoked token from its cache.
const PROPAGATION: Duration = Duration::from_secs(1);

/// A server on a fresh PostgreSQL database, or `None` without one.
fn first_instance() -> Option<TestServer> {
    test_server()?;
    Some(TestServer::start())
}

/// Waits until `token` is refused on `server`; answers how long that took.
async fn until_refused(server: &TestServer, token: &str) -> Duration {
    let start = Instant::now();
    loop {
        let answer = whoami(server, V3, token).await;
        if answer.status == 401 {
            assert_error(&answer, 401, "M_UNKNOWN_TOKEN");
            return start.elapsed();
        }
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(start.elapsed() < Duration::from_secs(5), "the token still works after 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn revocations_on_one_instance_reach_the_others_within_a_second() {
    let Some(a) = first_instance() else { return };
    let b = a.another_instance();

    // A logout on A, of a token B holds in its cache.
    let token = text(&register(&a, V3, "alice").await, "access_token").to_owned();
    assert_eq!(whoami(&b, V3, &token).await.status, 200);
    ok(call(&a, "POST", &format!("{V3}/logout"), Some(&json!({})), Some(&token)).await);
    let took = until_refused(&b, &token).await;
    assert!(took <= PROPAGATION, "a logout took {took:?} to reach the other instance");

    // A password change on B logs out the device A holds.
    let on_b = login(&b, V3, "alice", PASSWORD).await;
    let on_a = login(&a, V3, "alice", PASSWORD).await;
    assert_eq!(whoami(&a, V3, &on_a).await.status, 200);
    let change = json!({"new_password": "another long passphrase", "auth": password_auth("alice", PASSWORD, None)});
    ok(call(&b, "POST", &format!("{V3}/account/password"), Some(&change), Some(&on_b)).await);
    let took = until_refused(&a, &on_a).await;
    assert!(took <= PROPAGATION, "a password change took {took:?} to reach the other instance");

    // A deactivation on A ends the session B holds.
    assert_eq!(whoami(&b, V3, &on_b).await.status, 200);
    let deactivate = json!({"auth": password_auth("alice", "another long passphrase", None)});
    let on_a = login(&a, V3, "alice", "another long passphrase").await;
    ok(call(&a, "POST", &format!("{V3}/account/deactivate"), Some(&deactivate), Some(&on_a)).await);
    let took = until_refused(&b, &on_b).await;
    assert!(took <= PROPAGATION, "a deactivation took {took:?} to reach the other instance");
    let again = crate::v3_support::login_with(&b, V3, "alice", "another long passphrase", json!({})).await;
    assert_error(&again, 403, "M_USER_DEACTIVATED");
}

#[tokio::test]
async fn a_uia_session_and_a_refresh_token_cross_instances() {
    let Some(a) = first_instance() else { return };
    let b = a.another_instance();
    let token = text(&register(&a, V3, "bob").await, "access_token").to_owned();

    // Started on A, finished on B.
    let change = json!({"new_password": "a new long passphrase"});
    let challenge = call(&a, "POST", &format!("{V3}/account/password"), Some(&change), Some(&token)).await;
    assert_eq!(challenge.status, 401, "{}", challenge.body);
    let session = session_of(&challenge);
    let finish = json!({"new_password": "a new long passphrase", "auth": password_auth("bob", PASSWORD, Some(&session))});
    ok(call(&b, "POST", &format!("{V3}/account/password"), Some(&finish), Some(&token)).await);
    login(&a, V3, "bob", "a new long passphrase").await;

    // Issued by A, used on B, then spent everywhere.
    let logged_in = ok(crate::v3_support::login_with(
        &a,
        V3,
        "bob",
        "a new long passphrase",
        json!({"refresh_token": true}),
    )
    .await);
    let first_refresh = text(&logged_in, "refresh_token").to_owned();
    let refreshed =
        ok(call(&b, "POST", &format!("{V3}/refresh"), Some(&json!({"refresh_token": first_refresh})), None).await);
    let access = text(&refreshed, "access_token");
    assert_eq!(whoami(&b, V3, access).await.status, 200);
    let spent = call(&a, "POST", &format!("{V3}/refresh"), Some(&json!({"refresh_token": first_refresh})), None).await;
    assert_error(&spent, 401, "M_UNKNOWN_TOKEN");
    let next = json!({"refresh_token": text(&refreshed, "refresh_token")});
    ok(call(&a, "POST", &format!("{V3}/refresh"), Some(&next), None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_name_registered_on_three_instances_at_once_makes_one_account() {
    let Some(a) = first_instance() else { return };
    let instances = [a.another_instance(), a.another_instance(), a];
    let answers: Vec<Answer> = futures_util::future::join_all(
        (0..12).map(|i| register_with(&instances[i % 3], V3, "contested", json!({"device_id": format!("D{i}")}))),
    )
    .await;
    let won = answers.iter().filter(|answer| answer.status == 200).count();
    let taken = answers.iter().filter(|answer| answer.errcode() == "M_USER_IN_USE").count();
    assert_eq!((won, taken), (1, 11), "{:?}", answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_killed_under_register_load_loses_no_acknowledged_account() {
    let Some(mut a) = first_instance() else { return };
    let b = a.another_instance();
    let base = a.base.clone();
    let registering = tokio::spawn(async move {
        let client = crate::common::client();
        let mut acknowledged = Vec::new();
        for i in 0.. {
            let body = json!({"username": format!("load{i}"), "password": PASSWORD, "auth": {"type": "m.login.dummy"}});
            match client.post(format!("{base}{V3}/register")).json(&body).send().await {
                Ok(response) if response.status() == 200 => acknowledged.push(format!("load{i}")),
                Ok(response) => panic!("registration {i} answered {}", response.status()),
                Err(_) => break, // the instance is gone
            }
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.kill();
    let acknowledged = registering.await.unwrap();
    assert!(!acknowledged.is_empty(), "no registration finished before the kill");
    for name in &acknowledged {
        let token = login(&b, V3, name, PASSWORD).await;
        assert_eq!(whoami(&b, V3, &token).await.status, 200);
    }
    // The survivor keeps registering.
    register(&b, V3, "after").await;
}

/// A PostgreSQL cluster of the test's own (`tests/postgres/cluster.sh`),
/// stopped when dropped.
struct PrivateCluster {
    dir: tempfile::TempDir,
    url: String,
}

impl PrivateCluster {
    fn start() -> PrivateCluster {
        let dir = tempfile::tempdir().unwrap();
        // The cluster runs as `postgres` when the tests run as root.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let port = free_port();
        let output = cluster(dir.path(), &["start", &port.to_string()]);
        PrivateCluster { url: String::from_utf8(output).unwrap().trim().to_owned(), dir }
    }

    fn stop(&self) {
        cluster(self.dir.path(), &["stop"]);
    }

    fn start_again(&self) {
        cluster(self.dir.path(), &["start"]);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn cluster(dir: &Path, args: &[&str]) -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/postgres/cluster.sh");
    let (action, rest) = args.split_first().unwrap();
    let output = Command::new("bash")
        .arg(script)
        .arg(action)
        .arg(dir.join("data"))
        .args(rest)
        .output()
        .expect("running tests/postgres/cluster.sh");
    assert!(output.status.success(), "cluster.sh {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_going_away_answers_503_and_the_server_recovers_by_itself() {
    if test_server().is_none() {
        return;
    }
    let cluster = PrivateCluster::start();
    let database = create_database(&cluster.url, "faults").unwrap();
    let server = TestServer::on_database(Database::Postgres(database), |_| {});
    let token = text(&register(&server, V3, "carol").await, "access_token").to_owned();

    // Load through the outage: every answer is a success or a clear 503,
    // within the client's timeout (no hang), never a 500.
    let base = server.base.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
            let mut statuses = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                let login = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "carol"},
                    "password": PASSWORD, "device_id": format!("L{i}")});
                let answers = [
                    client.get(format!("{base}{V3}/account/whoami")).bearer_auth(&token).send().await,
                    client.post(format!("{base}{V3}/login")).json(&login).send().await,
                ];
                for answer in answers {
                    let answer = answer.expect("an answer within 10 s");
                    let status = answer.status().as_u16();
                    let body: Value = answer.json().await.unwrap_or(Value::Null);
                    statuses.push((status, body["errcode"].as_str().unwrap_or("").to_owned()));
                }
            }
            statuses
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.stop();

    let started = Instant::now();
    let down = register_with(&server, V3, "dave", json!({})).await;
    assert!(started.elapsed() < Duration::from_secs(10), "the outage held a request {:?}", started.elapsed());
    assert_error(&down, 503, "M_UNKNOWN");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    cluster.start_again();
    let recovered = Instant::now();
    loop {
        let answer = register_with(&server, V3, "dave", json!({})).await;
        if answer.status == 200 {
            break;
        }
        assert_error(&answer, 503, "M_UNKNOWN");
        assert!(recovered.elapsed() < Duration::from_secs(20), "no recovery 20 s after the database came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let statuses = load.await.unwrap();
    assert!(statuses.iter().any(|(status, _)| *status == 503), "the load never saw the outage");
    for (status, errcode) in &statuses {
        assert!(
            *status == 200 || (*status == 503 && errcode == "M_UNKNOWN"),
            "during the outage: {status} {errcode}"
        );
    }
    assert_eq!(whoami(&server, V3, &token).await.status, 200);
}

#[tokio::test]
async fn migrate_copies_a_sqlite_deployment_into_postgres() {
    let Some(url) = test_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("accounts.db");
    let mut before = TestServer::on_database(Database::Sqlite(sqlite.clone()), |_| {});
    let kept = text(&register(&before, V3, "erin").await, "access_token").to_owned();
    register(&before, V3, "frank").await;
    let refresh = ok(crate::v3_support::login_with(&before, V3, "erin", PASSWORD, json!({"refresh_token": true})).await);
    before.kill();

    let target = create_database(&url, "migrate").unwrap();
    let migrate = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_matrix-accounts"))
            .args(["migrate", "--from", sqlite.to_str().unwrap(), "--to", &target, "--json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let copied = migrate(&[]);
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    let counts: Value = serde_json::from_slice(&copied.stdout).unwrap();
    let count = |table: &str| counts.as_array().unwrap().iter().find(|c| c["table"] == table).unwrap().clone();
    assert_eq!(count("users"), json!({"table": "users", "source": 2, "target": 2}));
    assert_eq!(count("devices")["target"], 3);
    assert_eq!(count("refresh_tokens")["target"], 1);
    for entry in counts.as_array().unwrap() {
        assert_eq!(entry["source"], entry["target"], "{entry}");
    }

    // A second copy into the now non-empty target is refused, unless forced.
    let refused = migrate(&[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert!(migrate(&["--force"]).status.success());

    // The server on PostgreSQL: the same sessions, passwords and tokens.
    let after = TestServer::on_database(Database::Postgres(target), |_| {});
    assert_eq!(whoami(&after, V3, &kept).await.status, 200);
    login(&after, V3, "frank", PASSWORD).await;
    let refreshed = call(&after, "POST", &format!("{V3}/refresh"), Some(&json!({"refresh_token": refresh["refresh_token"]})), None).await;
    ok(refreshed);
    // New refresh tokens do not collide with the copied ones.
    ok(crate::v3_support::login_with(&after, V3, "frank", PASSWORD, json!({"refresh_token": true})).await);
}

#[tokio::test]
async fn a_registration_nonce_from_one_instance_works_once_on_another() {
    use crate::admin::{REGISTER, SECRET, mac, nonce, registration};
    if test_server().is_none() {
        return;
    }
    let a = TestServer::with(|c| c.admin.registration_shared_secret = Some(SECRET.into()));
    let b = a.another_instance();
    let nonce = nonce(&a).await;
    let body = registration(&nonce, "root", true, mac(SECRET, &nonce, "root", PASSWORD, true));
    ok(call(&b, "POST", REGISTER, Some(&body), None).await);
    let again = registration(&nonce, "root2", true, mac(SECRET, &nonce, "root2", PASSWORD, true));
    assert_error(&call(&b, "POST", REGISTER, Some(&again), None).await, 400, "M_UNKNOWN");
}
