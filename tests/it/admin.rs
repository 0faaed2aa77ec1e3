//! Synapse's admin API over HTTP: who may use it, shared-secret
//! registration, and what an admin can do to an account.

use serde_json::{Value, json};

use crate::common::{TestServer, call};
use crate::v3_support::{PASSWORD, V3, assert_error, login_with, ok, text, user, whoami};

pub(crate) const SECRET: &str = "it-is-a-secret";
pub(crate) const REGISTER: &str = "/_synapse/admin/v1/register";

fn server() -> TestServer {
    TestServer::with(|c| c.admin.registration_shared_secret = Some(SECRET.into()))
}

/// `register_new_matrix_user`'s MAC.
pub(crate) fn mac(secret: &str, nonce: &str, user: &str, password: &str, admin: bool) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let flag = if admin { "admin" } else { "notadmin" };
    let signed = hmac::sign(&key, format!("{nonce}\0{user}\0{password}\0{flag}").as_bytes());
    signed.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(crate) async fn nonce(server: &TestServer) -> String {
    text(&ok(call(server, "GET", REGISTER, None, None).await), "nonce").to_owned()
}

pub(crate) fn registration(nonce: &str, user: &str, admin: bool, mac: String) -> Value {
    json!({"nonce": nonce, "username": user, "password": PASSWORD, "admin": admin, "mac": mac})
}

/// Registers `user` with the shared secret; answers its access token.
pub(crate) async fn shared_secret_user(server: &TestServer, user: &str, admin: bool) -> String {
    let nonce = nonce(server).await;
    let body = registration(&nonce, user, admin, mac(SECRET, &nonce, user, PASSWORD, admin));
    text(&ok(call(server, "POST", REGISTER, Some(&body), None).await), "access_token").to_owned()
}

#[tokio::test]
async fn shared_secret_registration_creates_admins_once_per_nonce() {
    let server = server();
    let nonce = nonce(&server).await;
    let body = registration(&nonce, "root", true, mac(SECRET, &nonce, "root", PASSWORD, true));
    let answer = ok(call(&server, "POST", REGISTER, Some(&body), None).await);
    assert_eq!(answer["user_id"], "@root:localhost");
    assert_eq!(ok(whoami(&server, V3, text(&answer, "access_token")).await)["user_id"], "@root:localhost");
    // The nonce was used up.
    let again = registration(&nonce, "root2", true, mac(SECRET, &nonce, "root2", PASSWORD, true));
    assert_error(&call(&server, "POST", REGISTER, Some(&again), None).await, 400, "M_UNKNOWN");
    // The admin flag is part of the MAC: a MAC for notadmin cannot make an admin.
    let nonce = self::nonce(&server).await;
    let forged = registration(&nonce, "mallory", true, mac(SECRET, &nonce, "mallory", PASSWORD, false));
    assert_error(&call(&server, "POST", REGISTER, Some(&forged), None).await, 403, "M_FORBIDDEN");
    // ...and a wrong MAC used the nonce up too.
    let retry = registration(&nonce, "mallory", false, mac(SECRET, &nonce, "mallory", PASSWORD, false));
    assert_error(&call(&server, "POST", REGISTER, Some(&retry), None).await, 400, "M_UNKNOWN");
    let wrong_secret = {
        let nonce = self::nonce(&server).await;
        registration(&nonce, "eve", false, mac("guess", &nonce, "eve", PASSWORD, false))
    };
    assert_error(&call(&server, "POST", REGISTER, Some(&wrong_secret), None).await, 403, "M_FORBIDDEN");
    assert_error(&login_with(&server, V3, "eve", PASSWORD, json!({})).await, 403, "M_FORBIDDEN");
}

#[tokio::test]
async fn without_a_secret_there_is_no_shared_secret_registration() {
    let server = TestServer::start();
    assert_error(&call(&server, "GET", REGISTER, None, None).await, 400, "M_UNKNOWN");
    let body = registration("n", "root", true, mac("", "n", "root", PASSWORD, true));
    assert_error(&call(&server, "POST", REGISTER, Some(&body), None).await, 400, "M_UNKNOWN");
}

#[tokio::test]
async fn the_secret_may_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    let server = TestServer::with(|c| c.admin.registration_shared_secret_path = Some(path.clone()));
    shared_secret_user(&server, "root", true).await;
}

#[tokio::test]
async fn only_admins_use_the_admin_api() {
    let server = server();
    let admin = shared_secret_user(&server, "root", true).await;
    let plain = user(&server, V3, "wren").await;
    let path = "/_synapse/admin/v1/users/@wren:localhost/admin";
    assert_error(&call(&server, "GET", path, None, None).await, 401, "M_MISSING_TOKEN");
    assert_error(&call(&server, "GET", path, None, Some("nonsense")).await, 401, "M_UNKNOWN_TOKEN");
    assert_error(&call(&server, "GET", path, None, Some(&plain)).await, 403, "M_FORBIDDEN");
    let promote = json!({"admin": true});
    assert_error(&call(&server, "PUT", path, Some(&promote), Some(&plain)).await, 403, "M_FORBIDDEN");
    assert_eq!(ok(call(&server, "GET", path, None, Some(&admin)).await), json!({"admin": false}));

    // Promoted, wren may use the API at once; demoted, no longer.
    ok(call(&server, "PUT", path, Some(&promote), Some(&admin)).await);
    assert_eq!(ok(call(&server, "GET", path, None, Some(&plain)).await), json!({"admin": true}));
    let root = "/_synapse/admin/v1/users/@root:localhost/admin";
    ok(call(&server, "PUT", root, Some(&json!({"admin": false})), Some(&plain)).await);
    assert_error(&call(&server, "GET", path, None, Some(&admin)).await, 403, "M_FORBIDDEN");
    // Nobody demotes themself.
    let me = "/_synapse/admin/v1/users/@wren:localhost/admin";
    assert_error(&call(&server, "PUT", me, Some(&json!({"admin": false})), Some(&plain)).await, 400, "M_UNKNOWN");
    assert_error(&call(&server, "PUT", path, Some(&json!({"admin": "yes"})), Some(&plain)).await, 400, "M_BAD_JSON");

    // Unknown admin paths are the usual 404.
    let unknown = call(&server, "GET", "/_synapse/admin/v1/no_such_thing", None, Some(&plain)).await;
    assert_error(&unknown, 404, "M_UNRECOGNIZED");
    let other_server = "/_synapse/admin/v1/users/@wren:elsewhere.org/admin";
    assert_error(&call(&server, "GET", other_server, None, Some(&plain)).await, 400, "M_INVALID_PARAM");
    let nobody = "/_synapse/admin/v1/users/@nobody:localhost/admin";
    assert_error(&call(&server, "GET", nobody, None, Some(&plain)).await, 404, "M_NOT_FOUND");
}

#[tokio::test]
async fn an_admin_deactivates_and_resets_passwords() {
    let server = server();
    let admin = shared_secret_user(&server, "root", true).await;
    let wren = user(&server, V3, "wren").await;
    let reset = json!({"new_password": "new-pass-2"});
    ok(call(&server, "POST", "/_synapse/admin/v1/reset_password/@wren:localhost", Some(&reset), Some(&admin)).await);
    assert_error(&whoami(&server, V3, &wren).await, 401, "M_UNKNOWN_TOKEN");
    let wren = text(&ok(login_with(&server, V3, "wren", "new-pass-2", json!({})).await), "access_token").to_owned();

    let deactivate = "/_synapse/admin/v1/deactivate/@wren:localhost";
    let done = ok(call(&server, "POST", deactivate, Some(&json!({})), Some(&admin)).await);
    assert_eq!(done, json!({"id_server_unbind_result": "success"}));
    assert_error(&whoami(&server, V3, &wren).await, 401, "M_UNKNOWN_TOKEN");
    assert_error(&login_with(&server, V3, "wren", "new-pass-2", json!({})).await, 403, "M_USER_DEACTIVATED");
    let available = "/_synapse/admin/v1/username_available?username=wren";
    assert_error(&call(&server, "GET", available, None, Some(&admin)).await, 400, "M_USER_IN_USE");
    let free = "/_synapse/admin/v1/username_available?username=newcomer";
    assert_eq!(ok(call(&server, "GET", free, None, Some(&admin)).await), json!({"available": true}));
    // Shared-secret registration cannot bring the ID back either.
    let nonce = nonce(&server).await;
    let body = registration(&nonce, "wren", false, mac(SECRET, &nonce, "wren", PASSWORD, false));
    assert_error(&call(&server, "POST", REGISTER, Some(&body), None).await, 400, "M_USER_IN_USE");
}

#[tokio::test]
async fn the_server_version_is_public() {
    let server = TestServer::start();
    let body = ok(call(&server, "GET", "/_synapse/admin/v1/server_version", None, None).await);
    assert!(text(&body, "server_version").starts_with("matrix-accounts "), "{body}");
}

#[tokio::test]
async fn an_admin_hands_out_registration_tokens() {
    let server = TestServer::with(|c| {
        c.admin.registration_shared_secret = Some(SECRET.into());
        c.registration.requires_token = true;
    });
    let admin = shared_secret_user(&server, "root", true).await;
    let tokens = "/_synapse/admin/v1/registration_tokens";
    let new = format!("{tokens}/new");
    let plain_token = {
        let body = json!({"token": "plain"});
        ok(call(&server, "POST", &new, Some(&body), Some(&admin)).await)
    };
    assert_eq!(
        plain_token,
        json!({"token": "plain", "uses_allowed": null, "pending": 0, "completed": 0, "expiry_time": null})
    );
    let random = ok(call(&server, "POST", &new, Some(&json!({"length": 20, "uses_allowed": 1})), Some(&admin)).await);
    let once = text(&random, "token").to_owned();
    assert_eq!(once.len(), 20);
    for refused in [
        json!({"token": "plain"}),
        json!({"token": "no spaces"}),
        json!({"length": 65}),
        json!({"uses_allowed": -1}),
        json!({"expiry_time": 1}),
    ] {
        let answer = call(&server, "POST", &new, Some(&refused), Some(&admin)).await;
        assert_error(&answer, 400, "M_INVALID_PARAM");
    }

    // uses_allowed 1 and 20 registrations at once: exactly one account.
    let attempts = (0..20).map(|n| {
        let body = json!({"username": format!("racer{n}"), "password": PASSWORD,
                          "auth": {"type": "m.login.registration_token", "token": once}});
        let url = server.url("/_matrix/client/v3/register");
        async move { crate::common::client().post(url).json(&body).send().await.expect("sending").status().as_u16() }
    });
    let statuses = futures_join_all(attempts).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    let shown = ok(call(&server, "GET", &format!("{tokens}/{once}"), None, Some(&admin)).await);
    assert_eq!((shown["completed"].as_i64(), shown["pending"].as_i64()), (Some(1), Some(0)), "{shown}");

    let valid = ok(call(&server, "GET", &format!("{tokens}?valid=true"), None, Some(&admin)).await);
    assert_eq!(valid["registration_tokens"].as_array().map(|t| t.len()), Some(1), "only `plain` is usable: {valid}");
    let invalid = ok(call(&server, "GET", &format!("{tokens}?valid=false"), None, Some(&admin)).await);
    assert_eq!(invalid["registration_tokens"][0]["token"], once.as_str());
    assert_error(
        &call(&server, "GET", &format!("{tokens}?valid=maybe"), None, Some(&admin)).await,
        400,
        "M_INVALID_PARAM",
    );

    // A null lifts the limit; absence leaves a field alone.
    let lifted =
        ok(call(&server, "PUT", &format!("{tokens}/{once}"), Some(&json!({"uses_allowed": null})), Some(&admin)).await);
    assert_eq!(lifted["uses_allowed"], Value::Null);
    let kept = ok(call(&server, "PUT", &format!("{tokens}/{once}"), Some(&json!({})), Some(&admin)).await);
    assert_eq!(kept["completed"], 1);
    let bad =
        call(&server, "PUT", &format!("{tokens}/{once}"), Some(&json!({"uses_allowed": "many"})), Some(&admin)).await;
    assert_error(&bad, 400, "M_INVALID_PARAM");

    ok(call(&server, "DELETE", &format!("{tokens}/plain"), None, Some(&admin)).await);
    assert_error(&call(&server, "DELETE", &format!("{tokens}/plain"), None, Some(&admin)).await, 404, "M_NOT_FOUND");
    assert_error(&call(&server, "GET", &format!("{tokens}/plain"), None, Some(&admin)).await, 404, "M_NOT_FOUND");
    // Registration needs a token here: a non-admin comes by the shared secret.
    let plain = shared_secret_user(&server, "wren", false).await;
    assert_error(&call(&server, "GET", tokens, None, Some(&plain)).await, 403, "M_FORBIDDEN");
}

/// Runs futures to completion together.
async fn futures_join_all<F: std::future::Future<Output = u16> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<u16> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.expect("a task"));
    }
    results
}

#[tokio::test]
async fn an_admin_looks_an_account_up() {
    let server = server();
    let admin = shared_secret_user(&server, "root", true).await;
    let wren = user(&server, V3, "wren").await;
    let device = text(&ok(whoami(&server, V3, &wren).await), "device_id").to_owned();

    let whois = ok(call(&server, "GET", "/_synapse/admin/v1/whois/@wren:localhost", None, Some(&admin)).await);
    assert_eq!(whois["user_id"], "@wren:localhost");
    let connection = &whois["devices"][&device]["sessions"][0]["connections"][0];
    assert_eq!(connection["ip"], "127.0.0.1", "{whois}");
    assert!(connection["last_seen"].is_i64(), "{whois}");

    let shown = ok(call(&server, "GET", "/_synapse/admin/v2/users/@wren:localhost", None, Some(&admin)).await);
    assert_eq!(
        (&shown["name"], &shown["admin"], &shown["deactivated"], &shown["is_guest"], &shown["threepids"]),
        (&json!("@wren:localhost"), &json!(false), &json!(false), &json!(false), &json!([]))
    );
    let seconds = shown["creation_ts"].as_i64().expect("creation_ts");
    assert!((1_700_000_000..100_000_000_000).contains(&seconds), "seconds, as Synapse: {shown}");
    let root = ok(call(&server, "GET", "/_synapse/admin/v2/users/@root:localhost", None, Some(&admin)).await);
    assert_eq!(root["admin"], true);
    for path in ["/_synapse/admin/v1/whois/@root:localhost", "/_synapse/admin/v2/users/@root:localhost"] {
        assert_error(&call(&server, "GET", path, None, Some(&wren)).await, 403, "M_FORBIDDEN");
    }
    let nobody = call(&server, "GET", "/_synapse/admin/v2/users/@nobody:localhost", None, Some(&admin)).await;
    assert_error(&nobody, 404, "M_NOT_FOUND");
    let by_email =
        call(&server, "GET", "/_synapse/admin/v1/threepid/email/users/nobody@example.org", None, Some(&admin));
    assert_error(&by_email.await, 404, "M_NOT_FOUND");
}

/// A log sink the audit test reads back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn admin_actions_are_audited_without_secrets() {
    use matrix_accounts::accounts::{AdminUserUpdate, Secret, SharedSecretRegistration};

    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || sink.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut config = crate::accounts_support::config();
    config.admin.registration_shared_secret = Some(SECRET.into());
    let server = crate::accounts_support::Server::with(config);
    let accounts = &server.accounts;
    let client = crate::accounts_support::client();
    let nonce = accounts.registration_nonce().unwrap();
    let mac = mac(SECRET, &nonce, "root", PASSWORD, true);
    let registration = SharedSecretRegistration {
        nonce,
        username: "root".into(),
        password: Secret::from(PASSWORD),
        admin: true,
        mac: mac.clone(),
    };
    let root = accounts.register_with_shared_secret(registration, &client).await.unwrap();
    let admin = accounts.authenticate(&root.access_token.unwrap()).await.unwrap();
    server.register("wren").await;
    accounts.set_admin(&admin, "@wren:localhost", true).await.unwrap();
    accounts.admin_reset_password(&admin, "@wren:localhost", Secret::from("hunter2-new"), true).await.unwrap();
    accounts.admin_deactivate(&admin, "@wren:localhost", true).await.unwrap();
    let update = |password: &str| AdminUserUpdate {
        password: Some(Secret::from(password)),
        logout_devices: true,
        admin: None,
        deactivated: None,
        threepids: Some(vec![("email".into(), "kite@example.org".into())]),
    };
    accounts.admin_upsert_user(&admin, "@kite:localhost", update("kite-pass-1")).await.unwrap();
    accounts.admin_upsert_user(&admin, "@kite:localhost", update("kite-pass-2")).await.unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = |event: &str| {
        text.lines().find(|l| l.contains(&format!("event=\"{event}\"")) || l.contains(&format!("event={event}")))
    };
    let registered = line("admin.register").unwrap_or_else(|| panic!("no admin.register line in:\n{text}"));
    assert!(registered.contains("shared-secret") && registered.contains("@root:localhost"), "{registered}");
    for event in ["admin.set_admin", "admin.reset_password", "admin.deactivate"] {
        let logged = line(event).unwrap_or_else(|| panic!("no {event} line in:\n{text}"));
        assert!(logged.contains("admin=@root:localhost") && logged.contains("target=@wren:localhost"), "{logged}");
    }
    for event in ["admin.user.created", "admin.user.modified"] {
        let logged = line(event).unwrap_or_else(|| panic!("no {event} line in:\n{text}"));
        assert!(logged.contains("admin=@root:localhost") && logged.contains("target=@kite:localhost"), "{logged}");
    }
    let modified = line("admin.user.modified").unwrap();
    assert!(modified.contains("threepids") && modified.contains("password"), "{modified}");
    for secret in [PASSWORD, "hunter2-new", "kite-pass-1", "kite-pass-2", SECRET, mac.as_str()] {
        assert!(!text.contains(secret), "a secret was logged: {secret}\n{text}");
    }
}

#[tokio::test]
async fn an_admin_pages_through_the_accounts() {
    let server = TestServer::with(|c| {
        c.admin.registration_shared_secret = Some(SECRET.into());
        c.registration.guest_access = true;
    });
    let admin = shared_secret_user(&server, "root", true).await;
    for name in ["anna", "bert", "carl", "dora"] {
        user(&server, V3, name).await;
    }
    ok(call(&server, "POST", "/_matrix/client/v3/register?kind=guest", Some(&json!({})), None).await);
    let dora = text(&ok(login_with(&server, V3, "dora", PASSWORD, json!({})).await), "access_token").to_owned();
    let close = json!({"auth": crate::v3_support::password_auth("dora", PASSWORD, None)});
    ok(call(&server, "POST", "/_matrix/client/v3/account/deactivate", Some(&close), Some(&dora)).await);

    let list = |query: &str| {
        let server = &server;
        let admin = admin.clone();
        let path = format!("/_synapse/admin/v2/users?{query}");
        async move { call(server, "GET", &path, None, Some(&admin)).await }
    };
    let names = |page: &Value| -> Vec<String> {
        page["users"].as_array().unwrap().iter().map(|u| text(u, "name").to_owned()).collect()
    };
    // Default: guests in, deactivated out, by name.
    let page = ok(list("limit=2").await);
    assert_eq!(names(&page), ["@1:localhost", "@anna:localhost"], "{page}");
    assert_eq!(page["total"], 5);
    assert_eq!(page["next_token"], "2", "a string, as Synapse gives it");
    let page = ok(list("limit=2&from=4").await);
    assert_eq!(names(&page), ["@root:localhost"]);
    assert!(page.get("next_token").is_none(), "the last page: {page}");
    assert!(page["users"][0]["creation_ts"].as_i64().is_some_and(|ts| ts > 1_700_000_000_000), "ms: {page}");

    let everyone = ok(list("deactivated=true&guests=false&dir=b").await);
    assert_eq!(
        names(&everyone),
        ["@root:localhost", "@dora:localhost", "@carl:localhost", "@bert:localhost", "@anna:localhost"]
    );
    assert_eq!(names(&ok(list("admins=true").await)), ["@root:localhost"]);
    assert_eq!(names(&ok(list("name=ar").await)), ["@carl:localhost"]);
    assert_eq!(ok(list("order_by=admin&dir=b&limit=1").await)["users"][0]["name"], "@root:localhost");
    for bad in ["order_by=password_hash", "dir=sideways", "from=-1", "limit=x"] {
        let answer = list(bad).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }
    let anna = login_with(&server, V3, "anna", PASSWORD, json!({})).await;
    let anna = text(&ok(anna), "access_token").to_owned();
    let refused = call(&server, "GET", "/_synapse/admin/v2/users", None, Some(&anna)).await;
    assert_error(&refused, 403, "M_FORBIDDEN");
}

#[tokio::test]
async fn an_admin_manages_an_accounts_devices() {
    let server = server();
    let admin = shared_secret_user(&server, "root", true).await;
    let phone = user(&server, V3, "wren").await;
    let phone_id = text(&ok(whoami(&server, V3, &phone).await), "device_id").to_owned();
    let laptop =
        text(&ok(login_with(&server, V3, "wren", PASSWORD, json!({"device_id": "LAPTOP"})).await), "access_token")
            .to_owned();
    let base = "/_synapse/admin/v2/users/@wren:localhost";

    let listed = ok(call(&server, "GET", &format!("{base}/devices"), None, Some(&admin)).await);
    assert_eq!(listed["total"], 2, "{listed}");
    let rename = json!({"display_name": "seized"});
    ok(call(&server, "PUT", &format!("{base}/devices/LAPTOP"), Some(&rename), Some(&admin)).await);
    let shown = ok(call(&server, "GET", &format!("{base}/devices/LAPTOP"), None, Some(&admin)).await);
    assert_eq!(shown["display_name"], "seized");

    ok(call(&server, "DELETE", &format!("{base}/devices/LAPTOP"), None, Some(&admin)).await);
    assert_error(&whoami(&server, V3, &laptop).await, 401, "M_UNKNOWN_TOKEN");
    let missing = call(&server, "DELETE", &format!("{base}/devices/LAPTOP"), None, Some(&admin)).await;
    assert_error(&missing, 404, "M_NOT_FOUND");
    let both = json!({"devices": [phone_id, "NOSUCH"]});
    ok(call(&server, "POST", &format!("{base}/delete_devices"), Some(&both), Some(&admin)).await);
    assert_error(&whoami(&server, V3, &phone).await, 401, "M_UNKNOWN_TOKEN");
    let listed = ok(call(&server, "GET", &format!("{base}/devices"), None, Some(&admin)).await);
    assert_eq!(listed, json!({"devices": [], "total": 0}));
    let other = user(&server, V3, "rook").await;
    assert_error(&call(&server, "GET", &format!("{base}/devices"), None, Some(&other)).await, 403, "M_FORBIDDEN");
}

const WREN: &str = "/_synapse/admin/v2/users/@wren:localhost";

/// `PUT /_synapse/admin/v2/users/{user_id}`: 201 and the new account when
/// there was none, 200 and the account as it is now when there was; the
/// answer is what `GET` shows.
#[tokio::test]
async fn an_admin_creates_and_modifies_an_account_with_put() {
    let server = server();
    let admin = shared_secret_user(&server, "root", true).await;
    let create = json!({
        "password": "first-pass-1", "displayname": "Wren", "admin": false,
        "threepids": [{"medium": "email", "address": "Wren@Example.org"}],
        "avatar_url": "mxc://example.org/ignored", "user_type": null,
    });
    let created = call(&server, "PUT", WREN, Some(&create), Some(&admin)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["name"], "@wren:localhost");
    assert_eq!((created.body["admin"].clone(), created.body["deactivated"].clone()), (json!(false), json!(false)));
    assert_eq!(created.body["threepids"][0]["address"], "wren@example.org");
    assert!(created.body.get("displayname").is_none(), "no profile is kept: {}", created.body);
    assert_eq!(ok(call(&server, "GET", WREN, None, Some(&admin)).await), created.body);
    let wren = text(&ok(login_with(&server, V3, "wren", "first-pass-1", json!({})).await), "access_token").to_owned();
    let by_mail = "/_synapse/admin/v1/threepid/email/users/wren@example.org";
    assert_eq!(ok(call(&server, "GET", by_mail, None, Some(&admin)).await)["user_id"], "@wren:localhost");

    // Modified: 200; the list of 3pids is replaced; absent fields stay.
    let modify = json!({"admin": true, "threepids": [{"medium": "email", "address": "wren@other.example"}]});
    let modified = call(&server, "PUT", WREN, Some(&modify), Some(&admin)).await;
    assert_eq!(modified.status, 200, "{}", modified.body);
    assert_eq!(modified.body["admin"], true);
    assert_eq!(modified.body["creation_ts"], created.body["creation_ts"]);
    let addresses: Vec<&Value> = modified.body["threepids"].as_array().unwrap().iter().map(|t| &t["address"]).collect();
    assert_eq!(addresses, [&json!("wren@other.example")]);
    assert_error(&call(&server, "GET", by_mail, None, Some(&admin)).await, 404, "M_NOT_FOUND");
    ok(whoami(&server, V3, &wren).await); // no password change: still logged in
    // The user sees the change too (the 3pid list is not served stale).
    let own = ok(call(&server, "GET", &format!("{V3}/account/3pid"), None, Some(&wren)).await);
    assert_eq!(own["threepids"][0]["address"], "wren@other.example");
    // An empty list removes them all; `null` is as absent.
    let kept = ok(call(&server, "PUT", WREN, Some(&json!({"threepids": null})), Some(&admin)).await);
    assert_eq!(kept["threepids"].as_array().unwrap().len(), 1);
    let emptied = ok(call(&server, "PUT", WREN, Some(&json!({"threepids": []})), Some(&admin)).await);
    assert_eq!(emptied["threepids"], json!([]));

    // A new password logs every device out by default, not with
    // `logout_devices: false`.
    let keep = json!({"password": "second-pass-2", "logout_devices": false});
    ok(call(&server, "PUT", WREN, Some(&keep), Some(&admin)).await);
    ok(whoami(&server, V3, &wren).await);
    assert_error(&login_with(&server, V3, "wren", "first-pass-1", json!({})).await, 403, "M_FORBIDDEN");
    ok(call(&server, "PUT", WREN, Some(&json!({"password": "third-pass-3"})), Some(&admin)).await);
    assert_error(&whoami(&server, V3, &wren).await, 401, "M_UNKNOWN_TOKEN");
    ok(login_with(&server, V3, "wren", "third-pass-3", json!({})).await);
}

#[tokio::test]
async fn put_deactivates_and_is_for_admins_only() {
    let server = server();
    let admin = shared_secret_user(&server, "root", true).await;
    let wren = user(&server, V3, "wren").await;
    let body = json!({"admin": true});
    assert_error(&call(&server, "PUT", WREN, Some(&body), None).await, 401, "M_MISSING_TOKEN");
    assert_error(&call(&server, "PUT", WREN, Some(&body), Some(&wren)).await, 403, "M_FORBIDDEN");
    let rook = "/_synapse/admin/v2/users/@rook:localhost";
    assert_error(&call(&server, "PUT", rook, Some(&body), Some(&wren)).await, 403, "M_FORBIDDEN");
    assert_error(&call(&server, "GET", rook, None, Some(&admin)).await, 404, "M_NOT_FOUND");
    assert_eq!(ok(call(&server, "GET", WREN, None, Some(&admin)).await)["admin"], false);

    let closed = ok(call(&server, "PUT", WREN, Some(&json!({"deactivated": true})), Some(&admin)).await);
    assert_eq!(closed["deactivated"], true);
    assert_error(&whoami(&server, V3, &wren).await, 401, "M_UNKNOWN_TOKEN");
    assert_error(&login_with(&server, V3, "wren", PASSWORD, json!({})).await, 403, "M_USER_DEACTIVATED");
    // Deactivating again changes nothing. Reactivating needs a password
    // (refused without one, nothing changed), then the account logs in
    // with it and its old password no longer works.
    ok(call(&server, "PUT", WREN, Some(&json!({"deactivated": true})), Some(&admin)).await);
    let no_password = json!({"deactivated": false});
    assert_error(&call(&server, "PUT", WREN, Some(&no_password), Some(&admin)).await, 400, "M_UNKNOWN");
    assert_error(&login_with(&server, V3, "wren", PASSWORD, json!({})).await, 403, "M_USER_DEACTIVATED");
    let reopen = json!({"deactivated": false, "password": "new-pass-4"});
    let reopened = call(&server, "PUT", WREN, Some(&reopen), Some(&admin)).await;
    assert_eq!((reopened.status, reopened.body["deactivated"].clone()), (200, json!(false)), "{}", reopened.body);
    ok(login_with(&server, V3, "wren", "new-pass-4", json!({})).await);
    assert_error(&login_with(&server, V3, "wren", PASSWORD, json!({})).await, 403, "M_FORBIDDEN");

    // Created deactivated: the ID is taken, nobody can log in.
    let shut = json!({"password": "rook-pass-5", "deactivated": true});
    let created = call(&server, "PUT", rook, Some(&shut), Some(&admin)).await;
    assert_eq!((created.status, created.body["deactivated"].clone()), (201, json!(true)), "{}", created.body);
    assert_error(&login_with(&server, V3, "rook", "rook-pass-5", json!({})).await, 403, "M_USER_DEACTIVATED");
}

/// A refused `PUT` changes nothing, whatever it got wrong.
#[tokio::test]
async fn a_bad_put_changes_nothing() {
    let server = server();
    let admin = shared_secret_user(&server, "root", true).await;
    let wren = user(&server, V3, "wren").await;
    let rook = user(&server, V3, "rook").await;
    let set_email = |address: &str| json!({"threepids": [{"medium": "email", "address": address}]});
    let rook_path = "/_synapse/admin/v2/users/@rook:localhost";
    ok(call(&server, "PUT", rook_path, Some(&set_email("rook@example.org")), Some(&admin)).await);
    let before = ok(call(&server, "GET", WREN, None, Some(&admin)).await);

    let refused = [
        (json!({"admin": "yes", "password": "changed-1"}), "M_BAD_JSON"),
        (json!({"password": "changed-1", "threepids": [{"medium": "email"}]}), "M_MISSING_PARAM"),
        (json!({"password": "changed-1", "threepids": [{"medium": "fax", "address": "1"}]}), "M_INVALID_PARAM"),
        (json!({"password": "changed-1", "threepids": [{"medium": "email", "address": "no-at"}]}), "M_INVALID_PARAM"),
        (json!({"password": "x".repeat(513), "admin": true}), "M_INVALID_PARAM"),
        (
            json!({"admin": true, "password": "changed-1", "threepids": [{"medium": "email", "address": "ROOK@example.org"}]}),
            "M_THREEPID_IN_USE",
        ),
    ];
    for (body, errcode) in refused {
        let answer = call(&server, "PUT", WREN, Some(&body), Some(&admin)).await;
        assert_error(&answer, 400, errcode);
        assert_eq!(ok(call(&server, "GET", WREN, None, Some(&admin)).await), before, "after {body}");
        ok(whoami(&server, V3, &wren).await);
    }
    let not_json = crate::common::call_raw_with(&server, "PUT", WREN, b"{\"admin\"".to_vec(), &[], Some(&admin)).await;
    assert_error(&not_json, 400, "M_NOT_JSON");
    ok(login_with(&server, V3, "wren", PASSWORD, json!({})).await);
    ok(whoami(&server, V3, &rook).await);

    // Not a local user, not a valid localpart, nor an admin demoting themself.
    let elsewhere = "/_synapse/admin/v2/users/@wren:elsewhere.org";
    assert_error(&call(&server, "PUT", elsewhere, Some(&json!({})), Some(&admin)).await, 400, "M_INVALID_PARAM");
    let numeric = "/_synapse/admin/v2/users/@12345:localhost";
    assert_error(&call(&server, "PUT", numeric, Some(&json!({})), Some(&admin)).await, 400, "M_INVALID_USERNAME");
    let me = "/_synapse/admin/v2/users/@root:localhost";
    assert_error(&call(&server, "PUT", me, Some(&json!({"admin": false})), Some(&admin)).await, 400, "M_UNKNOWN");
    assert_eq!(ok(call(&server, "GET", me, None, Some(&admin)).await)["admin"], true);
}
