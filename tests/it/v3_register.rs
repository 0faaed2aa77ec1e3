//! `POST /register` and `GET /register/available` under `/v3` and `/r0`:
//! User-Interactive Authentication as MATRIX.md states it, devices,
//! `inhibit_login`, refresh tokens, guests, and the username rules.

use crate::common;
use crate::v3_support;

use common::{TestServer, call};
use serde_json::json;
use v3_support::{
    PASSWORD, PREFIXES, assert_error, login, ok, register, register_with, session_of, text, user, whoami,
};

#[tokio::test]
async fn a_two_step_registration_remembers_the_first_request() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let path = format!("{prefix}/register");
        let name = format!("Wren{}", &prefix[16..]);

        // Even an empty body, or one whose only stage is dummy, is challenged.
        let empty = call(&server, "POST", &path, Some(&json!({})), None).await;
        assert_eq!(empty.status, 401, "{}", empty.body);
        assert_eq!(empty.body["flows"], json!([{"stages": ["m.login.dummy"]}]));
        assert_eq!(empty.body["params"], json!({}));
        assert!(empty.body.get("completed").is_none() && empty.body.get("errcode").is_none(), "{}", empty.body);

        let first = json!({
            "username": name, "password": PASSWORD, "device_id": "WRENLAPTOP",
            "initial_device_display_name": "Wren's laptop", "refresh_token": true,
        });
        let challenge = call(&server, "POST", &path, Some(&first), None).await;
        let session = session_of(&challenge);
        assert_eq!(session.len(), 24, "{session}");

        // The follow-up carries `auth` alone: user name, password, device and
        // refresh token all come from the first request.
        let auth = json!({"auth": {"type": "m.login.dummy", "session": session}});
        let done = ok(call(&server, "POST", &path, Some(&auth), None).await);
        let user_id = format!("@{}:localhost", name.to_lowercase());
        assert_eq!(text(&done, "user_id"), user_id);
        assert_eq!(text(&done, "home_server"), "localhost");
        assert_eq!(text(&done, "device_id"), "WRENLAPTOP");
        assert!(text(&done, "refresh_token").starts_with("mar_"), "{done}");
        assert_eq!(done["expires_in_ms"], 300_000);
        let me = ok(whoami(&server, prefix, text(&done, "access_token")).await);
        assert_eq!(me, json!({"user_id": user_id, "device_id": "WRENLAPTOP", "is_guest": false}));
        login(&server, prefix, &name, PASSWORD).await;

        // Replaying the completed session needs its password: the session
        // ID alone does not sign in to the account.
        assert_error(&call(&server, "POST", &path, Some(&auth), None).await, 403, "M_FORBIDDEN");
        // With it: the same user, a new device.
        let retry = json!({"password": PASSWORD, "auth": {"type": "m.login.dummy", "session": session}});
        let replay = ok(call(&server, "POST", &path, Some(&retry), None).await);
        assert_eq!(text(&replay, "user_id"), user_id);
        assert_ne!(replay["access_token"], done["access_token"]);
    }
}

#[tokio::test]
async fn a_stage_may_be_completed_in_the_first_request() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("oneshot{}", &prefix[16..]);
        let body = register(&server, prefix, &name).await;
        assert_eq!(text(&body, "user_id"), format!("@{name}:localhost"));
        let device = text(&body, "device_id");
        assert!(!device.is_empty());
        // No refresh token unless asked for: the access token never expires.
        assert!(body.get("refresh_token").is_none() && body.get("expires_in_ms").is_none(), "{body}");
        let me = ok(whoami(&server, prefix, text(&body, "access_token")).await);
        assert_eq!(me["device_id"], device);
    }
}

#[tokio::test]
async fn uia_refusals() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let path = format!("{prefix}/register");
        let name = format!("uia{}", &prefix[16..]);
        let start = json!({"username": name, "password": PASSWORD});

        let unknown = json!({"auth": {"type": "m.login.dummy", "session": "NoSuchSession"}});
        let answer = call(&server, "POST", &path, Some(&unknown), None).await;
        assert_error(&answer, 400, "M_UNKNOWN");

        // Stages the flows do not offer.
        for stage in ["m.login.recaptcha", "m.login.terms", "m.login.password", "m.login.email.identity"] {
            let mut body = start.clone();
            body["auth"] = json!({"type": stage, "response": "x"});
            assert_error(&call(&server, "POST", &path, Some(&body), None).await, 400, "M_INVALID_PARAM");
        }

        // `auth` without a type is no attempt: the challenge again, with
        // the session's progress.
        let session = session_of(&call(&server, "POST", &path, Some(&start), None).await);
        let untyped = json!({"auth": {"session": session}});
        let again = call(&server, "POST", &path, Some(&untyped), None).await;
        assert_eq!(session_of(&again), session);
        assert_eq!(again.body["completed"], json!([]));
        assert!(again.body.get("errcode").is_none(), "{}", again.body);

        // `auth: null` is no auth at all.
        let mut null = start.clone();
        null["auth"] = json!(null);
        assert_eq!(call(&server, "POST", &path, Some(&null), None).await.status, 401);

        // A session started for registration cannot change a password.
        let token = user(&server, prefix, &format!("other{}", &prefix[16..])).await;
        let change = json!({"new_password": "x", "auth": {"type": "m.login.dummy", "session": session}});
        let answer = call(&server, "POST", &format!("{prefix}/account/password"), Some(&change), Some(&token)).await;
        assert_error(&answer, 403, "M_FORBIDDEN");
    }
}

#[tokio::test]
async fn uia_sessions_expire() {
    let server = TestServer::with(|c| c.tokens.uia_session_lifetime = std::time::Duration::from_millis(300));
    for prefix in PREFIXES {
        let path = format!("{prefix}/register");
        let first = json!({"username": format!("late{}", &prefix[16..]), "password": PASSWORD});
        let session = session_of(&call(&server, "POST", &path, Some(&first), None).await);
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let late = json!({"auth": {"type": "m.login.dummy", "session": session}});
        assert_error(&call(&server, "POST", &path, Some(&late), None).await, 400, "M_UNKNOWN");
    }
}

#[tokio::test]
async fn registration_tokens_are_a_stage() {
    let server = TestServer::with(|c| c.registration.tokens = vec!["let-me-in".into()]);
    for prefix in PREFIXES {
        let path = format!("{prefix}/register");
        let name = format!("invited{}", &prefix[16..]);
        let first = json!({"username": name, "password": PASSWORD});
        let challenge = call(&server, "POST", &path, Some(&first), None).await;
        assert_eq!(challenge.body["flows"], json!([{"stages": ["m.login.registration_token"]}]));
        let session = session_of(&challenge);

        // The dummy stage is not offered here.
        let dummy = json!({"auth": {"type": "m.login.dummy", "session": session}});
        assert_error(&call(&server, "POST", &path, Some(&dummy), None).await, 400, "M_INVALID_PARAM");

        // A wrong token fails the stage: the same challenge, plus the error.
        let wrong = json!({"auth": {"type": "m.login.registration_token", "token": "nope", "session": session}});
        let failed = call(&server, "POST", &path, Some(&wrong), None).await;
        assert_eq!(session_of(&failed), session);
        assert_eq!(failed.body["completed"], json!([]));
        assert!(failed.errcode().starts_with("M_"), "{}", failed.body);
        assert!(failed.body["error"].is_string(), "{}", failed.body);

        let right = json!({"auth": {"type": "m.login.registration_token", "token": "let-me-in", "session": session}});
        let done = ok(call(&server, "POST", &path, Some(&right), None).await);
        assert_eq!(text(&done, "user_id"), format!("@{name}:localhost"));
    }
}

#[tokio::test]
async fn devices_and_login_options() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let suffix = &prefix[16..];

        let named = json!({"device_id": "KIOSK", "initial_device_display_name": "Lobby kiosk"});
        let body = ok(register_with(&server, prefix, &format!("dev{suffix}"), named).await);
        assert_eq!(text(&body, "device_id"), "KIOSK");
        assert_eq!(ok(whoami(&server, prefix, text(&body, "access_token")).await)["device_id"], "KIOSK");

        let generated = register(&server, prefix, &format!("gen{suffix}")).await;
        let device = text(&generated, "device_id");
        assert!(device.len() >= 8 && device.bytes().all(|b| b.is_ascii_uppercase()), "{device}");

        // inhibit_login: only user_id (and the deprecated home_server).
        let inhibited =
            ok(register_with(&server, prefix, &format!("quiet{suffix}"), json!({"inhibit_login": true})).await);
        assert_eq!(inhibited, json!({"user_id": format!("@quiet{suffix}:localhost"), "home_server": "localhost"}));
        login(&server, prefix, &format!("quiet{suffix}"), PASSWORD).await;

        let refreshing =
            ok(register_with(&server, prefix, &format!("fresh{suffix}"), json!({"refresh_token": true})).await);
        assert!(text(&refreshing, "refresh_token").starts_with("mar_"));
        assert_eq!(refreshing["expires_in_ms"], 300_000);

        // No username: the server picks a number.
        let anonymous = json!({"password": PASSWORD, "auth": {"type": "m.login.dummy"}});
        let picked = ok(call(&server, "POST", &format!("{prefix}/register"), Some(&anonymous), None).await);
        let localpart = text(&picked, "user_id").trim_start_matches('@').split(':').next().unwrap().to_owned();
        assert!(localpart.bytes().all(|b| b.is_ascii_digit()), "{picked}");

        // An empty device ID is refused before anything is created.
        let empty = register_with(&server, prefix, &format!("nodev{suffix}"), json!({"device_id": ""})).await;
        assert_error(&empty, 400, "M_INVALID_PARAM");
    }
}

#[tokio::test]
async fn usernames_are_checked_before_authentication() {
    let server = TestServer::with(|c| c.registration.exclusive_namespaces = vec!["irc_.*".into()]);
    for prefix in PREFIXES {
        let path = format!("{prefix}/register");
        let suffix = &prefix[16..];
        let taken = format!("taken{suffix}");
        register(&server, prefix, &taken).await;

        // Refused on the very first request, before any 401, and with auth.
        for name in [taken.clone(), taken.to_uppercase()] {
            let first = json!({"username": name, "password": PASSWORD});
            assert_error(&call(&server, "POST", &path, Some(&first), None).await, 400, "M_USER_IN_USE");
            assert_error(&register_with(&server, prefix, &name, json!({})).await, 400, "M_USER_IN_USE");
        }
        let long = "a".repeat(250);
        for bad in ["Bad Name!", "12345", "_bridge", "", "caf\u{e9}", long.as_str()] {
            let first = json!({"username": bad, "password": PASSWORD});
            let answer = call(&server, "POST", &path, Some(&first), None).await;
            assert_error(&answer, 400, "M_INVALID_USERNAME");
        }
        assert_error(&register_with(&server, prefix, "irc_wren", json!({})).await, 400, "M_EXCLUSIVE");

        // Registration lower-cases; `+` is allowed since v1.8.
        let mixed = register(&server, prefix, &format!("Mixed.Case+tag{suffix}")).await;
        assert_eq!(text(&mixed, "user_id"), format!("@mixed.case+tag{suffix}:localhost"));

        // A password is required once UIA is done, and must not be empty.
        let none = json!({"username": format!("nopw{suffix}"), "auth": {"type": "m.login.dummy"}});
        assert_error(&call(&server, "POST", &path, Some(&none), None).await, 400, "M_MISSING_PARAM");
        let empty = register_with(&server, prefix, &format!("emptypw{suffix}"), json!({"password": ""})).await;
        assert_error(&empty, 400, "M_MISSING_PARAM");

        // Wrong JSON types.
        assert_error(&register_with(&server, prefix, "x", json!({"username": 12})).await, 400, "M_BAD_JSON");
        let not_bool = register_with(&server, prefix, &format!("nb{suffix}"), json!({"refresh_token": "yes"})).await;
        assert_error(&not_bool, 400, "M_BAD_JSON");
        let bogus = call(&server, "POST", &format!("{path}?kind=bogus"), Some(&json!({})), None).await;
        assert_eq!(bogus.status, 400, "{}", bogus.body);
        assert!(bogus.errcode().starts_with("M_"), "{}", bogus.body);
    }
}

#[tokio::test]
async fn username_availability() {
    let server = TestServer::with(|c| c.registration.exclusive_namespaces = vec!["irc_.*".into()]);
    for prefix in PREFIXES {
        let suffix = &prefix[16..];
        let path = |name: &str| format!("{prefix}/register/available?username={name}");
        register(&server, prefix, &format!("held{suffix}")).await;

        assert_eq!(
            ok(call(&server, "GET", &path(&format!("free{suffix}")), None, None).await),
            json!({"available": true})
        );
        // Checked the way registration checks: lower-cased first.
        for name in [format!("held{suffix}"), format!("HELD{suffix}")] {
            assert_error(&call(&server, "GET", &path(&name), None, None).await, 400, "M_USER_IN_USE");
        }
        assert_error(&call(&server, "GET", &path("Bad%20Name!"), None, None).await, 400, "M_INVALID_USERNAME");
        assert_error(&call(&server, "GET", &path("12345"), None, None).await, 400, "M_INVALID_USERNAME");
        assert_error(&call(&server, "GET", &path("irc_x"), None, None).await, 400, "M_EXCLUSIVE");
        let missing = call(&server, "GET", &format!("{prefix}/register/available"), None, None).await;
        assert_error(&missing, 400, "M_MISSING_PARAM");
        assert!(missing.body["error"].as_str().unwrap().contains("username"), "{}", missing.body);
    }
}

#[tokio::test]
async fn guests_only_where_allowed() {
    let closed = TestServer::start();
    for prefix in PREFIXES {
        let answer = call(&closed, "POST", &format!("{prefix}/register?kind=guest"), Some(&json!({})), None).await;
        assert_error(&answer, 403, "M_FORBIDDEN");
    }

    let open = TestServer::with(|c| c.registration.guest_access = true);
    for prefix in PREFIXES {
        let path = format!("{prefix}/register?kind=guest");
        // No UIA, and every field but the display name is ignored.
        let body = json!({"username": "wannabe", "password": PASSWORD, "initial_device_display_name": "Kiosk"});
        let guest = ok(call(&open, "POST", &path, Some(&body), None).await);
        let user_id = text(&guest, "user_id");
        assert!(user_id.trim_start_matches('@').split(':').next().unwrap().bytes().all(|b| b.is_ascii_digit()));
        let token = text(&guest, "access_token");
        let me = ok(whoami(&open, prefix, token).await);
        assert_eq!(me, json!({"user_id": user_id, "device_id": guest["device_id"], "is_guest": true}));

        // Guests may not manage an account.
        let threepids = call(&open, "GET", &format!("{prefix}/account/3pid"), None, Some(token)).await;
        assert_error(&threepids, 403, "M_GUEST_ACCESS_FORBIDDEN");
        let change = json!({"new_password": "x", "auth": {"type": "m.login.password", "password": "x",
            "identifier": {"type": "m.id.user", "user": user_id}}});
        let password = call(&open, "POST", &format!("{prefix}/account/password"), Some(&change), Some(token)).await;
        assert_error(&password, 403, "M_GUEST_ACCESS_FORBIDDEN");
        let wannabe = call(&open, "GET", &format!("{prefix}/register/available?username=wannabe"), None, None).await;
        assert_eq!(ok(wannabe), json!({"available": true}));
    }
}
