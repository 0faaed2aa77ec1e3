//! `POST /account/password` under `/v3` and `/r0`: the `m.login.password`
//! stage with every UIA rule of MATRIX.md, `logout_devices`, and the
//! `"auth": null` first request matrix-js-sdk sends.

use crate::common;
use crate::v3_support;

use common::{Answer, TestServer, call};
use serde_json::{Value, json};
use v3_support::{
    PASSWORD, PREFIXES, assert_error, login, login_with, ok, password_auth, register_with, session_of, text, user,
    whoami,
};

async fn change(server: &TestServer, prefix: &str, token: &str, body: Value) -> Answer {
    call(server, "POST", &format!("{prefix}/account/password"), Some(&body), Some(token)).await
}

#[tokio::test]
async fn a_two_step_change_logs_out_the_other_devices() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("rae{}", &prefix[16..]);
        let registered = ok(register_with(&server, prefix, &name, json!({"refresh_token": true})).await);
        let other_refresh = text(&registered, "refresh_token").to_owned();
        let other = text(&registered, "access_token").to_owned();
        let caller = login(&server, prefix, &name, PASSWORD).await;

        // matrix-js-sdk's first request carries `"auth": null`.
        let first = change(&server, prefix, &caller, json!({"new_password": "new-pw-1", "auth": null})).await;
        assert_eq!(first.body["flows"], json!([{"stages": ["m.login.password"]}]));
        assert_eq!(first.body["params"], json!({}));
        assert!(first.body.get("completed").is_none() && first.body.get("errcode").is_none(), "{}", first.body);
        let session = session_of(&first);

        // A wrong password fails the stage: the same session, and the error.
        let wrong = json!({"auth": password_auth(&name, "wrong", Some(&session))});
        let failed = change(&server, prefix, &caller, wrong).await;
        assert_error(&failed, 401, "M_FORBIDDEN");
        assert_eq!(session_of(&failed), session);
        assert_eq!(failed.body["completed"], json!([]));
        assert_eq!(failed.body["flows"], json!([{"stages": ["m.login.password"]}]));

        // The follow-up carries only `auth`; the session remembers the rest.
        let right = json!({"auth": password_auth(&name, PASSWORD, Some(&session))});
        assert_eq!(ok(change(&server, prefix, &caller, right).await), json!({}));

        // The caller's device survives; every other device is logged out.
        ok(whoami(&server, prefix, &caller).await);
        let dead = whoami(&server, prefix, &other).await;
        assert_error(&dead, 401, "M_UNKNOWN_TOKEN");
        let refresh = json!({"refresh_token": other_refresh});
        let refreshed = call(&server, "POST", "/_matrix/client/v3/refresh", Some(&refresh), None).await;
        assert_error(&refreshed, 401, "M_UNKNOWN_TOKEN");

        assert_error(&login_with(&server, prefix, &name, PASSWORD, json!({})).await, 403, "M_FORBIDDEN");
        login(&server, prefix, &name, "new-pw-1").await;
    }
}

#[tokio::test]
async fn logout_devices_false_keeps_the_other_devices() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("sol{}", &prefix[16..]);
        let other = user(&server, prefix, &name).await;
        let caller = login(&server, prefix, &name, PASSWORD).await;

        // In one request, as a stage completed without a session.
        let one_shot =
            json!({"new_password": "new-pw-1", "logout_devices": false, "auth": password_auth(&name, PASSWORD, None)});
        assert_eq!(ok(change(&server, prefix, &caller, one_shot).await), json!({}));
        ok(whoami(&server, prefix, &other).await);

        // In two steps: the choice made in the first request is remembered.
        let first =
            change(&server, prefix, &caller, json!({"new_password": "new-pw-2", "logout_devices": false})).await;
        let session = session_of(&first);
        let follow_up = json!({"auth": password_auth(&format!("@{name}:localhost"), "new-pw-1", Some(&session))});
        assert_eq!(ok(change(&server, prefix, &caller, follow_up).await), json!({}));
        ok(whoami(&server, prefix, &other).await);
        ok(whoami(&server, prefix, &caller).await);
        login(&server, prefix, &name, "new-pw-2").await;

        // `logout_devices: true` said out loud.
        let explicit =
            json!({"new_password": "new-pw-3", "logout_devices": true, "auth": password_auth(&name, "new-pw-2", None)});
        assert_eq!(ok(change(&server, prefix, &caller, explicit).await), json!({}));
        assert_error(&whoami(&server, prefix, &other).await, 401, "M_UNKNOWN_TOKEN");
        ok(whoami(&server, prefix, &caller).await);
    }
}

#[tokio::test]
async fn uia_rules_across_users_and_operations() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let suffix = &prefix[16..];
        let (tess, uma) = (format!("tess{suffix}"), format!("uma{suffix}"));
        let tess_token = user(&server, prefix, &tess).await;
        let uma_token = user(&server, prefix, &uma).await;

        // Proving to be another user, even with their right password: 403.
        let as_uma = json!({"new_password": "x", "auth": password_auth(&uma, PASSWORD, None)});
        let answer = change(&server, prefix, &tess_token, as_uma).await;
        assert_error(&answer, 403, "M_FORBIDDEN");
        login(&server, prefix, &uma, PASSWORD).await;
        login(&server, prefix, &tess, PASSWORD).await;

        // Tess's session cannot be continued with Uma's token.
        let session = session_of(&change(&server, prefix, &tess_token, json!({"new_password": "x"})).await);
        let hijack = json!({"auth": password_auth(&uma, PASSWORD, Some(&session))});
        assert_error(&change(&server, prefix, &uma_token, hijack).await, 403, "M_FORBIDDEN");

        // Nor used for another operation.
        let add = json!({"sid": "s", "client_secret": "c", "auth": password_auth(&tess, PASSWORD, Some(&session))});
        let answer = call(&server, "POST", &format!("{prefix}/account/3pid/add"), Some(&add), Some(&tess_token)).await;
        assert_error(&answer, 403, "M_FORBIDDEN");

        // A session that does not exist.
        let unknown = json!({"new_password": "x", "auth": password_auth(&tess, PASSWORD, Some("NoSuchSession"))});
        assert_error(&change(&server, prefix, &tess_token, unknown).await, 400, "M_UNKNOWN");
        // Stages not offered to a caller with a token (the e-mail reset is
        // for a caller without one).
        for stage in ["m.login.dummy", "m.login.terms", "m.login.email.identity", "m.login.registration_token"] {
            let body = json!({"new_password": "x", "auth": {"type": stage}});
            assert_error(&change(&server, prefix, &tess_token, body).await, 400, "M_INVALID_PARAM");
        }

        // Nothing changed through all that.
        login(&server, prefix, &tess, PASSWORD).await;
    }
}

#[tokio::test]
async fn malformed_changes() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("vic{}", &prefix[16..]);
        let token = user(&server, prefix, &name).await;
        let path = format!("{prefix}/account/password");

        // A new password is needed, once the stage passed.
        let missing = json!({"auth": password_auth(&name, PASSWORD, None)});
        assert_error(&change(&server, prefix, &token, missing).await, 400, "M_MISSING_PARAM");
        let wrong_type = json!({"new_password": 5, "auth": password_auth(&name, PASSWORD, None)});
        assert_error(&change(&server, prefix, &token, wrong_type).await, 400, "M_BAD_JSON");
        // Without a token, the only flow offered is the e-mail reset.
        let body = json!({"new_password": "x"});
        let tokenless = call(&server, "POST", &path, Some(&body), None).await;
        assert_eq!(tokenless.status, 401, "{}", tokenless.body);
        assert_eq!(tokenless.body["flows"], json!([{"stages": ["m.login.email.identity"]}]));
        assert_error(&call(&server, "POST", &path, Some(&body), Some("mat_unknown")).await, 401, "M_UNKNOWN_TOKEN");
        login(&server, prefix, &name, PASSWORD).await;
    }
}
