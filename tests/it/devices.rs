//! Devices over HTTP (`/devices`, `/devices/{deviceId}`, `/delete_devices`),
//! under `/v3` and `/r0`: listing, renaming, deleting with UIA, and the
//! last-seen times written in batches.

use serde_json::{Value, json};

use crate::common::{TestServer, call};
use crate::v3_support::{
    PASSWORD, PREFIXES, V3, assert_error, login_with, ok, password_auth, register_with, session_of, text, whoami,
};

/// Registers `username` on device `device` ("first device"); answers the token.
async fn user_on(server: &TestServer, prefix: &str, username: &str, device: &str) -> String {
    let extra = json!({"device_id": device, "initial_device_display_name": "first device"});
    let body = ok(register_with(server, prefix, username, extra).await);
    text(&body, "access_token").to_owned()
}

/// Logs `username` in on `device`; answers the token.
async fn login_on(server: &TestServer, prefix: &str, username: &str, device: &str) -> String {
    let body = ok(login_with(server, prefix, username, PASSWORD, json!({"device_id": device})).await);
    text(&body, "access_token").to_owned()
}

async fn devices(server: &TestServer, prefix: &str, token: &str) -> Vec<Value> {
    let body = ok(call(server, "GET", &format!("{prefix}/devices"), None, Some(token)).await);
    body["devices"].as_array().expect("a devices array").clone()
}

fn ids(devices: &[Value]) -> Vec<&str> {
    devices.iter().map(|device| text(device, "device_id")).collect()
}

#[tokio::test]
async fn devices_are_listed_shown_and_renamed() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("dana{}", &prefix[16..]);
        let token = user_on(&server, prefix, &name, "PHONE").await;
        login_on(&server, prefix, &name, "LAPTOP").await;

        let listed = devices(&server, prefix, &token).await;
        assert_eq!(ids(&listed), ["LAPTOP", "PHONE"], "{listed:?}");
        let phone = &listed[1];
        assert_eq!(phone["display_name"], "first device");
        // The listing request itself is the phone's latest use.
        assert_eq!(phone["last_seen_ip"], "127.0.0.1", "{phone}");
        assert!(phone["last_seen_ts"].as_i64().is_some_and(|ts| ts > 0), "{phone}");
        assert!(listed[0].get("last_seen_ts").is_none(), "the laptop was never used: {}", listed[0]);

        let path = format!("{prefix}/devices/LAPTOP");
        ok(call(&server, "PUT", &path, Some(&json!({"display_name": "work laptop"})), Some(&token)).await);
        let laptop = ok(call(&server, "GET", &path, None, Some(&token)).await);
        assert_eq!(
            (laptop["device_id"].as_str(), laptop["display_name"].as_str()),
            (Some("LAPTOP"), Some("work laptop"))
        );
        ok(call(&server, "PUT", &path, Some(&json!({})), Some(&token)).await);
        let laptop = ok(call(&server, "GET", &path, None, Some(&token)).await);
        assert!(laptop.get("display_name").is_none(), "an absent name clears it: {laptop}");

        let long = json!({"display_name": "x".repeat(101)});
        assert_error(&call(&server, "PUT", &path, Some(&long), Some(&token)).await, 400, "M_INVALID_PARAM");
        let missing = format!("{prefix}/devices/NOSUCH");
        assert_error(&call(&server, "GET", &missing, None, Some(&token)).await, 404, "M_NOT_FOUND");
        assert_error(&call(&server, "PUT", &missing, Some(&json!({})), Some(&token)).await, 404, "M_NOT_FOUND");
        assert_error(&call(&server, "GET", &format!("{prefix}/devices"), None, None).await, 401, "M_MISSING_TOKEN");
    }
}

#[tokio::test]
async fn another_accounts_device_is_not_found() {
    let server = TestServer::start();
    let mine = user_on(&server, V3, "erin", "MINE").await;
    user_on(&server, V3, "frank", "THEIRS").await;
    assert_error(
        &call(&server, "GET", "/_matrix/client/v3/devices/THEIRS", None, Some(&mine)).await,
        404,
        "M_NOT_FOUND",
    );
    let rename = json!({"display_name": "mine now"});
    let answer = call(&server, "PUT", "/_matrix/client/v3/devices/THEIRS", Some(&rename), Some(&mine)).await;
    assert_error(&answer, 404, "M_NOT_FOUND");
}

#[tokio::test]
async fn deleting_a_device_asks_for_the_password_and_logs_it_out() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("gail{}", &prefix[16..]);
        let token = user_on(&server, prefix, &name, "PHONE").await;
        let laptop = login_on(&server, prefix, &name, "LAPTOP").await;
        let path = format!("{prefix}/devices/LAPTOP");

        let challenge = call(&server, "DELETE", &path, None, Some(&token)).await;
        let session = session_of(&challenge);
        assert_eq!(challenge.body["flows"], json!([{"stages": ["m.login.password"]}]));
        let wrong = json!({"auth": password_auth(&name, "not it", Some(&session))});
        let failed = call(&server, "DELETE", &path, Some(&wrong), Some(&token)).await;
        assert_error(&failed, 401, "M_FORBIDDEN");
        assert_eq!(whoami(&server, prefix, &laptop).await.status, 200, "a failed stage deleted the device");

        let right = json!({"auth": password_auth(&name, PASSWORD, Some(&session))});
        ok(call(&server, "DELETE", &path, Some(&right), Some(&token)).await);
        assert_error(&whoami(&server, prefix, &laptop).await, 401, "M_UNKNOWN_TOKEN");
        assert_eq!(ids(&devices(&server, prefix, &token).await), ["PHONE"]);
        // The session was used up by the deletion.
        let replay = call(
            &server,
            "POST",
            &format!("{prefix}/delete_devices"),
            Some(&json!({"devices": ["PHONE"], "auth": password_auth(&name, PASSWORD, Some(&session))})),
            Some(&token),
        )
        .await;
        assert_error(&replay, 400, "M_UNKNOWN");
        // Unknown before any password is asked for.
        assert_error(&call(&server, "DELETE", &path, None, Some(&token)).await, 404, "M_NOT_FOUND");
    }
}

#[tokio::test]
async fn delete_devices_remembers_the_list_and_refuses_another_users_password() {
    let server = TestServer::start();
    let token = user_on(&server, V3, "hana", "PHONE").await;
    let laptop = login_on(&server, V3, "hana", "LAPTOP").await;
    let tablet = login_on(&server, V3, "hana", "TABLET").await;
    user_on(&server, V3, "ivan", "IVAN").await;
    let path = "/_matrix/client/v3/delete_devices";

    let first = json!({"devices": ["LAPTOP", "TABLET", "NOSUCH"]});
    let session = session_of(&call(&server, "POST", path, Some(&first), Some(&token)).await);
    let intruder = json!({"devices": [], "auth": password_auth("ivan", PASSWORD, Some(&session))});
    assert_error(&call(&server, "POST", path, Some(&intruder), Some(&token)).await, 403, "M_FORBIDDEN");
    // A follow-up carrying only `auth` deletes what the first request named.
    let follow_up = json!({"devices": [], "auth": password_auth("hana", PASSWORD, Some(&session))});
    ok(call(&server, "POST", path, Some(&follow_up), Some(&token)).await);
    for gone in [&laptop, &tablet] {
        assert_error(&whoami(&server, V3, gone).await, 401, "M_UNKNOWN_TOKEN");
    }
    assert_eq!(ids(&devices(&server, V3, &token).await), ["PHONE"]);
    assert_error(&call(&server, "POST", path, Some(&json!({})), Some(&token)).await, 400, "M_MISSING_PARAM");
    assert_error(&call(&server, "POST", path, Some(&json!([])), Some(&token)).await, 400, "M_BAD_JSON");
}

#[tokio::test]
async fn guests_cannot_delete_devices() {
    let server = TestServer::with(|c| c.registration.guest_access = true);
    let guest = ok(call(&server, "POST", "/_matrix/client/v3/register?kind=guest", Some(&json!({})), None).await);
    let token = text(&guest, "access_token");
    let device = text(&guest, "device_id");
    let answer = call(&server, "DELETE", &format!("/_matrix/client/v3/devices/{device}"), None, Some(token)).await;
    assert_error(&answer, 403, "M_GUEST_ACCESS_FORBIDDEN");
}

/// Last uses reach the database in batches: periodically (a SIGKILL after
/// a flush loses nothing) and at a graceful stop (even with a flush
/// interval that never came).
#[tokio::test]
async fn last_uses_are_written_periodically_and_at_shutdown() {
    for (interval, stop) in [(50, "kill after a flush"), (3_600_000, "graceful stop")] {
        let mut server = TestServer::with(|c| {
            c.devices.last_seen_flush_interval = std::time::Duration::from_millis(interval);
        });
        let phone = user_on(&server, V3, "jane", "PHONE").await;
        ok(whoami(&server, V3, &phone).await);
        if interval < 1000 {
            tokio::time::sleep(std::time::Duration::from_millis(400)).await;
            server.restart(); // SIGKILL: only what was flushed survives
        } else {
            server.terminate();
            server.restart();
        }
        // Another device looks: the phone's use must come from the database.
        let laptop = login_on(&server, V3, "jane", "LAPTOP").await;
        let listed = devices(&server, V3, &laptop).await;
        let phone = listed.iter().find(|d| d["device_id"] == "PHONE").expect("the phone");
        assert_eq!(phone["last_seen_ip"], "127.0.0.1", "{stop}: {phone}");
        assert!(phone["last_seen_ts"].is_i64(), "{stop}: {phone}");
    }
}
