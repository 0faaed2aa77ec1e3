//! The UIA fallback (`/auth/{authType}/fallback/web`): a registration
//! that asks for a token, completed in the browser page, then finished
//! through the API with the session alone; the stages it does not serve;
//! and the escaping of what it echoes.

use serde_json::{Value, json};

use crate::admin::{SECRET, shared_secret_user};
use crate::common::{Answer, TestServer, call, call_raw_with, client};
use crate::v3_support::{PASSWORD, R0, V3, assert_error, ok, session_of};

const STAGE: &str = "m.login.registration_token";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn server() -> TestServer {
    TestServer::with(|c| {
        c.admin.registration_shared_secret = Some(SECRET.into());
        c.registration.requires_token = true;
    })
}

fn fallback(prefix: &str, stage: &str, session: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new()).append_pair("session", session).finish();
    format!("{prefix}/auth/{stage}/fallback/web?{query}")
}

async fn get(server: &TestServer, path: &str) -> Answer {
    Answer::from(client().get(server.url(path)).send().await.expect("sending the request")).await
}

async fn submit(server: &TestServer, path: &str, fields: &[(&str, &str)]) -> Answer {
    let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    call_raw_with(server, "POST", path, form.into_bytes(), &[FORM], None).await
}

fn page(answer: &Answer) -> &str {
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let media = answer.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(media, "text/html; charset=utf-8");
    assert_eq!(answer.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
    answer.body.as_str().expect("an HTML page")
}

async fn token_counts(server: &TestServer, admin: &str, token: &str) -> (i64, i64) {
    let path = format!("/_synapse/admin/v1/registration_tokens/{token}");
    let body = ok(call(server, "GET", &path, None, Some(admin)).await);
    (body["pending"].as_i64().unwrap(), body["completed"].as_i64().unwrap())
}

#[tokio::test]
async fn a_registration_token_entered_in_the_fallback_page_completes_the_stage() {
    let server = server();
    let admin = shared_secret_user(&server, "root", true).await;
    let new = json!({"token": "ticket-1", "uses_allowed": 1});
    ok(call(&server, "POST", "/_synapse/admin/v1/registration_tokens/new", Some(&new), Some(&admin)).await);

    let start = json!({"username": "wren", "password": PASSWORD});
    let challenge = call(&server, "POST", &format!("{V3}/register"), Some(&start), None).await;
    assert_eq!(challenge.status, 401, "{:?}", challenge.body);
    let session = session_of(&challenge);

    // The page: a form for the token, posting back with the session.
    let path = fallback(V3, STAGE, &session);
    let form = get(&server, &path).await;
    let html = page(&form);
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert!(html.contains("name=\"token\""), "{html}");
    assert!(html.contains(&format!("name=\"session\" value=\"{session}\"")), "{html}");
    assert!(!html.contains("<script"), "the form needs no script: {html}");

    // A wrong token: the form again, saying why; nothing reserved.
    let wrong = submit(&server, &path, &[("token", "not-the-ticket")]).await;
    let html = page(&wrong);
    assert!(html.contains("Invalid registration token"), "{html}");
    assert!(html.contains("name=\"token\""), "{html}");
    assert_eq!(token_counts(&server, &admin, "ticket-1").await, (0, 0));

    // The right one, with the session as a form field (as Synapse's form
    // sends it): done, and the client is told.
    let form_path = format!("{V3}/auth/{STAGE}/fallback/web");
    let done = submit(&server, &form_path, &[("session", &session), ("token", "ticket-1")]).await;
    let html = page(&done);
    assert!(html.contains("window.onAuthDone()"), "{html}");
    assert!(html.contains("window.opener.postMessage(\"authDone\", \"*\")"), "{html}");
    assert_eq!(token_counts(&server, &admin, "ticket-1").await, (1, 0));
    // Submitting it again (a reload) reserves nothing more.
    page(&submit(&server, &path, &[("token", "ticket-1")]).await);
    assert_eq!(token_counts(&server, &admin, "ticket-1").await, (1, 0));

    // The client finishes with the session alone: the stage is completed.
    let finish = json!({"auth": {"session": session}});
    let registered = ok(call(&server, "POST", &format!("{V3}/register"), Some(&finish), None).await);
    assert_eq!(registered["user_id"], "@wren:localhost");
    assert_eq!(token_counts(&server, &admin, "ticket-1").await, (0, 1));

    // The session registered: the page refuses it now.
    let after = submit(&server, &path, &[("token", "ticket-1")]).await;
    assert_error(&after, 403, "M_FORBIDDEN");
}

#[tokio::test]
async fn only_browser_stages_this_server_offers_have_a_page() {
    let server = server();
    for stage in ["m.login.dummy", "m.login.password", "m.login.email.identity", "m.login.recaptcha", "nonsense"] {
        for prefix in [V3, R0] {
            let path = fallback(prefix, stage, "some-session");
            assert_error(&get(&server, &path).await, 404, "M_UNRECOGNIZED");
            assert_error(&submit(&server, &path, &[("token", "x")]).await, 404, "M_UNRECOGNIZED");
        }
    }
    // Without a token required, the token stage is not offered either.
    let plain = TestServer::start();
    assert_error(&get(&plain, &fallback(V3, STAGE, "some-session")).await, 404, "M_UNRECOGNIZED");
    let unrecognized: Value = get(&plain, &fallback(V3, "m.login.dummy", "s")).await.body;
    assert_eq!(unrecognized["error"], "Unknown auth stage type");
}

#[tokio::test]
async fn sessions_the_page_cannot_use_are_refused() {
    let server = server();
    let bare = format!("{V3}/auth/{STAGE}/fallback/web");
    assert_error(&get(&server, &bare).await, 400, "M_MISSING_PARAM");
    assert_error(&submit(&server, &bare, &[("token", "x")]).await, 400, "M_MISSING_PARAM");
    let unknown = fallback(V3, STAGE, "no-such-session");
    assert_error(&submit(&server, &unknown, &[("token", "x")]).await, 400, "M_UNKNOWN");
    assert_error(&submit(&server, &unknown, &[]).await, 400, "M_MISSING_PARAM");
    // As in Synapse, the session is asked for before the stage type is judged.
    let dummy = format!("{V3}/auth/m.login.dummy/fallback/web");
    assert_error(&get(&server, &dummy).await, 400, "M_MISSING_PARAM");
    assert_error(&submit(&server, &dummy, &[]).await, 400, "M_MISSING_PARAM");
}

#[tokio::test]
async fn what_the_page_echoes_is_escaped() {
    let server = server();
    let hostile = "\"><script>alert('x')</script><a href=\"&";
    let html = page(&get(&server, &fallback(R0, STAGE, hostile)).await).to_owned();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;"), "{html}");
    // The form posts back to the prefix the page was asked at.
    assert!(html.contains(&format!("action=\"{R0}/auth/{STAGE}/fallback/web?session=")), "{html}");
}
