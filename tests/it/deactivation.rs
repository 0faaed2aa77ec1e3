//! `POST /account/deactivate` over HTTP, under `/v3` and `/r0`.

use serde_json::json;

use crate::common::{TestServer, call};
use crate::v3_support::{
    PASSWORD, PREFIXES, V3, assert_error, login_with, ok, password_auth, register_with, session_of, text, user, whoami,
};

#[tokio::test]
async fn a_deactivated_account_is_gone_for_good() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("kate{}", &prefix[16..]);
        let token = user(&server, prefix, &name).await;
        let other_device =
            text(&ok(login_with(&server, prefix, &name, PASSWORD, json!({})).await), "access_token").to_owned();
        let path = format!("{prefix}/account/deactivate");

        let challenge = call(&server, "POST", &path, Some(&json!({"erase": true})), Some(&token)).await;
        let session = session_of(&challenge);
        assert_eq!(challenge.body["flows"], json!([{"stages": ["m.login.password"]}]));
        let wrong = json!({"auth": password_auth(&name, "not it", Some(&session))});
        assert_error(&call(&server, "POST", &path, Some(&wrong), Some(&token)).await, 401, "M_FORBIDDEN");
        assert_eq!(whoami(&server, prefix, &token).await.status, 200, "a failed stage deactivated the account");

        let right = json!({"auth": password_auth(&name, PASSWORD, Some(&session))});
        let done = ok(call(&server, "POST", &path, Some(&right), Some(&token)).await);
        assert_eq!(done, json!({"id_server_unbind_result": "no-support"}));

        for token in [&token, &other_device] {
            assert_error(&whoami(&server, prefix, token).await, 401, "M_UNKNOWN_TOKEN");
        }
        // The right password is told the account is closed; a wrong one learns nothing.
        assert_error(&login_with(&server, prefix, &name, PASSWORD, json!({})).await, 403, "M_USER_DEACTIVATED");
        assert_error(&login_with(&server, prefix, &name, "not it", json!({})).await, 403, "M_FORBIDDEN");
        // The user ID is never handed out again.
        assert_error(&register_with(&server, prefix, &name, json!({})).await, 400, "M_USER_IN_USE");
        let available = call(&server, "GET", &format!("{prefix}/register/available?username={name}"), None, None).await;
        assert_error(&available, 400, "M_USER_IN_USE");
    }
}

#[tokio::test]
async fn another_users_password_does_not_deactivate() {
    let server = TestServer::start();
    let token = user(&server, V3, "liam").await;
    user(&server, V3, "mona").await;
    let body = json!({"auth": password_auth("mona", PASSWORD, None)});
    let answer = call(&server, "POST", "/_matrix/client/v3/account/deactivate", Some(&body), Some(&token)).await;
    assert_error(&answer, 403, "M_FORBIDDEN");
    assert_eq!(whoami(&server, V3, &token).await.status, 200);
    let mona = login_with(&server, V3, "mona", PASSWORD, json!({})).await;
    assert_eq!(mona.status, 200, "{}", mona.body);
}

#[tokio::test]
async fn a_deactivated_accounts_uia_session_authorises_nothing() {
    let server = TestServer::start();
    let token = user(&server, V3, "nell").await;
    let phone = text(&ok(login_with(&server, V3, "nell", PASSWORD, json!({})).await), "access_token").to_owned();
    // A password change started on the phone...
    let change = json!({"new_password": "new-pass-1"});
    let session =
        session_of(&call(&server, "POST", "/_matrix/client/v3/account/password", Some(&change), Some(&phone)).await);
    // ...then the account is closed from the other device, in one shot.
    let deactivate = json!({"auth": password_auth("nell", PASSWORD, None)});
    ok(call(&server, "POST", "/_matrix/client/v3/account/deactivate", Some(&deactivate), Some(&token)).await);
    let finish = json!({"auth": password_auth("nell", PASSWORD, Some(&session))});
    let answer = call(&server, "POST", "/_matrix/client/v3/account/password", Some(&finish), Some(&phone)).await;
    assert_error(&answer, 401, "M_UNKNOWN_TOKEN");
    assert_error(&login_with(&server, V3, "nell", "new-pass-1", json!({})).await, 403, "M_FORBIDDEN");
}
