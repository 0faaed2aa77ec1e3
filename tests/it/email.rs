//! E-mail addresses the server validates itself, read the way a person
//! reads them: a real server sends real mail (SMTP) to a sink on
//! 127.0.0.1; each test takes the link or the code out of the mail's text
//! and follows the link, submits the page's form, or posts the code.
//!
//! The server's `public_base_url` is not known before it listens on a
//! port the OS picks, so links are followed by their path and query on
//! the test server.

use std::time::Duration;

use matrix_accounts::config::{Bucket, Config, Email, RateLimits, ResetUnknownAddress};
use serde_json::{Value, json};

use crate::common::{Answer, TestServer, call, call_from, client};
use crate::smtp_sink::{Received, SmtpSink};

const V3: &str = "/_matrix/client/v3";
const R0: &str = "/_matrix/client/r0";

struct Mailbox {
    server: TestServer,
    sink: SmtpSink,
}

impl Mailbox {
    /// A server that mails through a fresh sink, its `[email]` as
    /// `change` leaves it.
    fn start(change: impl FnOnce(&mut Email)) -> Mailbox {
        Mailbox::with(|config, mut email| {
            change(&mut email);
            config.email = Some(email);
        })
    }

    /// A server whose configuration `change` sets, given the sink's `[email]`.
    fn with(change: impl FnOnce(&mut Config, Email)) -> Mailbox {
        let sink = SmtpSink::start();
        let server = TestServer::with(|config| change(config, sink.config()));
        Mailbox { server, sink }
    }

    async fn request_token(&self, prefix: &str, purpose: &str, email: &str, secret: &str, attempt: i64) -> Answer {
        let body = json!({"client_secret": secret, "email": email, "send_attempt": attempt});
        call(&self.server, "POST", &format!("{prefix}/{purpose}/email/requestToken"), Some(&body), None).await
    }

    /// Asks for a token (`send_attempt` `attempt`) and waits for the new
    /// mail to `email`.
    async fn mailed(&self, purpose: &str, email: &str, secret: &str, attempt: i64) -> (String, Received) {
        let before = self.sink.to(email).len();
        let answer = self.request_token(V3, purpose, email, secret, attempt).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let sid = answer.body["sid"].as_str().expect("a sid").to_owned();
        (sid, self.sink.wait_for(email, before + 1))
    }

    /// Opens a link from a mail (GET), or submits a form (POST) to its
    /// action, a path on the page's server.
    async fn follow(&self, method: &str, link: &str) -> Answer {
        let url = if link.starts_with('/') { self.server.url(&link.replace("&amp;", "&")) } else { link.to_owned() };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        Answer::from(client().request(method, url).send().await.unwrap()).await
    }

    async fn submit_code(&self, sid: &str, secret: &str, code: &str) -> Answer {
        let body = json!({"sid": sid, "client_secret": secret, "token": code});
        call(&self.server, "POST", "/_matrix/client/unstable/email/submit_token", Some(&body), None).await
    }

    /// Registers `localpart` without an address; answers its access token.
    async fn account(&self, localpart: &str) -> String {
        let body = json!({"username": localpart, "password": "old-pass-1", "auth": {"type": "m.login.dummy"}});
        let answer = call(&self.server, "POST", &format!("{V3}/register"), Some(&body), None).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Gives the account of `token` the address, validated by code and
    /// attached through the deprecated `POST /account/3pid` without
    /// `id_server`.
    async fn give_address(&self, token: &str, email: &str) {
        let (sid, mail) = self.mailed("account/3pid", email, "give-secret", 1).await;
        assert_eq!(self.submit_code(&sid, "give-secret", &code(&mail)).await.status, 200);
        let body = json!({"three_pid_creds": {"sid": sid, "client_secret": "give-secret"}});
        let answer = call(&self.server, "POST", &format!("{R0}/account/3pid"), Some(&body), Some(token)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    async fn addresses(&self, token: &str) -> Vec<String> {
        let answer = call(&self.server, "GET", &format!("{V3}/account/3pid"), None, Some(token)).await;
        let threepids = answer.body["threepids"].as_array().expect("a list").clone();
        threepids.iter().map(|t| t["address"].as_str().unwrap().to_owned()).collect()
    }
}

/// The validation link in a mail's text.
fn link(mail: &Received) -> String {
    let text = mail.text();
    let start = text.find("http").unwrap_or_else(|| panic!("no link in the mail: {text}"));
    text[start..].split_whitespace().next().unwrap().to_owned()
}

/// The code in a mail's text (after "enter this code").
fn code(mail: &Received) -> String {
    let text = mail.text();
    let after = text.split("code where you were asked to:").nth(1).unwrap_or_else(|| panic!("no code: {text}"));
    after.split_whitespace().next().unwrap().to_owned()
}

fn page(answer: &Answer) -> &str {
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body.as_str().expect("an HTML page")
}

fn email_auth(sid: &str, secret: &str, session: Option<&str>) -> Value {
    let mut auth = json!({"type": "m.login.email.identity", "threepid_creds": {"sid": sid, "client_secret": secret}});
    if let Some(session) = session {
        auth["session"] = session.into();
    }
    auth
}

/// Registration with an address: the link validates it, the flow with
/// `m.login.email.identity` completes, and the account has the address.
#[tokio::test]
async fn registering_with_an_address_validated_by_the_link() {
    let mailbox = Mailbox::start(|_| {});
    let (sid, mail) = mailbox.mailed("register", "Wren@Example.org", "reg-secret", 1).await;
    assert_eq!(mail.to, ["wren@example.org"]);
    assert_eq!(mail.header("From").as_deref(), Some("Matrix <noreply@example.org>"));
    assert!(mail.header("Subject").unwrap().contains("Validate your e-mail address"), "{mail:?}");
    let html = mail.part("text/html").expect("an HTML part");
    assert!(html.contains(&code(&mail)), "{html}");

    assert!(link(&mail).starts_with(&mailbox.server.base), "{}", link(&mail));
    let opened = mailbox.follow("GET", &link(&mail)).await;
    assert!(page(&opened).contains("validated"), "{}", page(&opened));

    let first = json!({"username": "wren", "password": "wren-pass-1"});
    let challenge = call(&mailbox.server, "POST", &format!("{V3}/register"), Some(&first), None).await;
    assert_eq!(challenge.status, 401, "{}", challenge.body);
    assert_eq!(challenge.body["flows"], json!([{"stages": ["m.login.dummy"]}, {"stages": ["m.login.email.identity"]}]));
    let session = challenge.body["session"].as_str().unwrap();
    let body = json!({"auth": email_auth(&sid, "reg-secret", Some(session))});
    let registered = call(&mailbox.server, "POST", &format!("{V3}/register"), Some(&body), None).await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    let token = registered.body["access_token"].as_str().unwrap();
    assert_eq!(mailbox.addresses(token).await, ["wren@example.org"]);
}

/// The code typed into the client, posted to `submit_url`, validates; the
/// address is then added with `POST /account/3pid/add` (r0).
#[tokio::test]
async fn the_code_posted_to_submit_url_validates_an_address_to_add() {
    let mailbox = Mailbox::start(|_| {});
    let token = mailbox.account("finch").await;
    let answer = mailbox.request_token(R0, "account/3pid", "finch@example.org", "add-secret", 1).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let sid = answer.body["sid"].as_str().unwrap();
    assert!(answer.body["submit_url"].as_str().unwrap().ends_with("/_matrix/client/unstable/email/submit_token"));
    let mail = mailbox.sink.wait_for("finch@example.org", 1);

    let submitted = mailbox.submit_code(sid, "add-secret", &format!(" {} ", code(&mail).to_lowercase())).await;
    assert_eq!((submitted.status, &submitted.body), (200, &json!({"success": true})));
    let add = json!({"sid": sid, "client_secret": "add-secret",
                     "auth": {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "finch"},
                              "password": "old-pass-1"}});
    let added = call(&mailbox.server, "POST", &format!("{R0}/account/3pid/add"), Some(&add), Some(&token)).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(mailbox.addresses(&token).await, ["finch@example.org"]);
}

/// Forgot password: the link opens a form (the GET alone validates
/// nothing), submitting it validates, and the reset without an access
/// token sets the new password and logs the devices out.
#[tokio::test]
async fn forgot_password_through_the_mail() {
    let mailbox = Mailbox::start(|_| {});
    let token = mailbox.account("robin").await;
    mailbox.give_address(&token, "robin@example.org").await;

    let (sid, mail) = mailbox.mailed("account/password", "robin@example.org", "reset-secret", 1).await;
    assert!(mail.header("Subject").unwrap().contains("Reset your password"), "{mail:?}");
    let form = mailbox.follow("GET", &link(&mail)).await;
    let form = page(&form);
    assert!(form.contains("<form method=\"post\""), "{form}");
    let reset = json!({"new_password": "new-pass-2", "auth": email_auth(&sid, "reset-secret", None)});
    let early = call(&mailbox.server, "POST", &format!("{V3}/account/password"), Some(&reset), None).await;
    assert_eq!((early.status, early.errcode()), (401, "M_UNAUTHORIZED"), "a scanner's GET validated: {}", early.body);

    let action = form.split("action=\"").nth(1).unwrap().split('"').next().unwrap();
    let confirmed = mailbox.follow("POST", action).await;
    assert!(page(&confirmed).contains("validated"), "{}", page(&confirmed));

    let early_session = early.body["session"].as_str().unwrap();
    let reset = json!({"new_password": "new-pass-2", "auth": email_auth(&sid, "reset-secret", Some(early_session))});
    let done = call(&mailbox.server, "POST", &format!("{V3}/account/password"), Some(&reset), None).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let whoami = call(&mailbox.server, "GET", &format!("{V3}/account/whoami"), None, Some(&token)).await;
    assert_eq!(whoami.errcode(), "M_UNKNOWN_TOKEN", "devices are logged out by default");
    let login = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "robin"},
                       "password": "new-pass-2"});
    assert_eq!(call(&mailbox.server, "POST", &format!("{V3}/login"), Some(&login), None).await.status, 200);

    // The session was used up: it resets nothing twice.
    let again = json!({"new_password": "new-pass-3", "auth": email_auth(&sid, "reset-secret", None)});
    let again = call(&mailbox.server, "POST", &format!("{V3}/account/password"), Some(&again), None).await;
    assert_eq!((again.status, again.errcode()), (401, "M_UNAUTHORIZED"), "{}", again.body);
}

/// `logout_devices: false` keeps the devices through a reset.
#[tokio::test]
async fn a_reset_may_keep_the_devices() {
    let mailbox = Mailbox::start(|_| {});
    let token = mailbox.account("lark").await;
    mailbox.give_address(&token, "lark@example.org").await;
    let (sid, mail) = mailbox.mailed("account/password", "lark@example.org", "keep-secret", 1).await;
    assert_eq!(mailbox.submit_code(&sid, "keep-secret", &code(&mail)).await.status, 200);
    let reset = json!({"new_password": "new-pass-2", "logout_devices": false,
                       "auth": email_auth(&sid, "keep-secret", None)});
    let done = call(&mailbox.server, "POST", &format!("{R0}/account/password"), Some(&reset), None).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let whoami = call(&mailbox.server, "GET", &format!("{V3}/account/whoami"), None, Some(&token)).await;
    assert_eq!(whoami.status, 200, "{}", whoami.body);
}

/// A token is single use: the link and the code work once.
#[tokio::test]
async fn a_replayed_token_is_refused() {
    let mailbox = Mailbox::start(|_| {});
    let (sid, mail) = mailbox.mailed("register", "replay@example.org", "replay-secret", 1).await;
    assert!(page(&mailbox.follow("GET", &link(&mail)).await).contains("validated"));
    let replayed = mailbox.follow("GET", &link(&mail)).await;
    assert!(page(&replayed).contains("does not work"), "{}", page(&replayed));
    let posted = mailbox.submit_code(&sid, "replay-secret", &code(&mail)).await;
    assert_eq!((posted.status, posted.errcode()), (400, "M_THREEPID_AUTH_FAILED"), "{}", posted.body);
}

/// Tokens expire (`token_lifetime`), and so does the session.
#[tokio::test]
async fn an_expired_token_is_refused() {
    let mailbox = Mailbox::start(|email| email.token_lifetime = Duration::from_millis(300));
    let (sid, mail) = mailbox.mailed("register", "late@example.org", "late-secret", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let posted = mailbox.submit_code(&sid, "late-secret", &code(&mail)).await;
    assert_eq!((posted.status, posted.errcode()), (400, "M_THREEPID_AUTH_FAILED"), "{}", posted.body);
    assert!(page(&mailbox.follow("GET", &link(&mail)).await).contains("does not work"));
}

/// A session that was never validated does not pass the stage: 401
/// `M_UNAUTHORIZED`, and no account is created.
#[tokio::test]
async fn an_unvalidated_session_does_not_register() {
    let mailbox = Mailbox::start(|_| {});
    let (sid, _) = mailbox.mailed("register", "unread@example.org", "unread-secret", 1).await;
    let body = json!({"username": "unread", "password": "pass-1", "auth": email_auth(&sid, "unread-secret", None)});
    let answer = call(&mailbox.server, "POST", &format!("{V3}/register"), Some(&body), None).await;
    assert_eq!((answer.status, answer.errcode()), (401, "M_UNAUTHORIZED"), "{}", answer.body);
    assert!(answer.body["session"].is_string(), "a failed stage answers the challenge: {}", answer.body);
    let available = call(&mailbox.server, "GET", &format!("{V3}/register/available?username=unread"), None, None).await;
    assert_eq!(available.status, 200, "{}", available.body);
}

/// An address an account has cannot be registered or added again.
#[tokio::test]
async fn an_address_in_use_is_refused() {
    let mailbox = Mailbox::start(|_| {});
    let token = mailbox.account("owl").await;
    mailbox.give_address(&token, "owl@example.org").await;
    for purpose in ["register", "account/3pid"] {
        let answer = mailbox.request_token(V3, purpose, "OWL@example.org", "other-secret", 1).await;
        assert_eq!((answer.status, answer.errcode()), (400, "M_THREEPID_IN_USE"), "{purpose}: {}", answer.body);
    }
    assert_eq!(mailbox.sink.to("owl@example.org").len(), 1, "only the mail that gave the address");
}

/// A reset for an address no account has: 400 `M_THREEPID_NOT_FOUND` by
/// default; with `reset_unknown_address = "pretend"`, a `sid` and no mail.
#[tokio::test]
async fn a_reset_for_an_unknown_address() {
    let mailbox = Mailbox::start(|_| {});
    let answer = mailbox.request_token(V3, "account/password", "nobody@example.org", "s", 1).await;
    assert_eq!((answer.status, answer.errcode()), (400, "M_THREEPID_NOT_FOUND"), "{}", answer.body);

    let pretending = Mailbox::start(|email| email.reset_unknown_address = ResetUnknownAddress::Pretend);
    let answer = pretending.request_token(V3, "account/password", "nobody@example.org", "s", 1).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body["sid"].is_string());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(pretending.sink.all().is_empty() && mailbox.sink.all().is_empty(), "no mail for an unknown address");
}

/// Another client's secret validates nothing and passes no stage; the
/// right one still works afterwards.
#[tokio::test]
async fn a_wrong_client_secret_is_refused() {
    let mailbox = Mailbox::start(|_| {});
    let (sid, mail) = mailbox.mailed("register", "jay@example.org", "jay-secret", 1).await;
    let posted = mailbox.submit_code(&sid, "not-the-secret", &code(&mail)).await;
    assert_eq!((posted.status, posted.errcode()), (400, "M_THREEPID_AUTH_FAILED"), "{}", posted.body);
    let wrong_link = link(&mail).replace("client_secret=jay-secret", "client_secret=not-the-secret");
    assert!(page(&mailbox.follow("GET", &wrong_link).await).contains("does not work"));

    assert_eq!(mailbox.submit_code(&sid, "jay-secret", &code(&mail)).await.status, 200);
    let body = json!({"username": "jay", "password": "pass-1", "auth": email_auth(&sid, "not-the-secret", None)});
    let answer = call(&mailbox.server, "POST", &format!("{V3}/register"), Some(&body), None).await;
    assert_eq!((answer.status, answer.errcode()), (401, "M_UNAUTHORIZED"), "{}", answer.body);
}

/// Guessing the short code: the token is void after five wrong ones.
#[tokio::test]
async fn wrong_codes_void_the_token() {
    let mailbox = Mailbox::start(|_| {});
    let (sid, mail) = mailbox.mailed("register", "guess@example.org", "guess-secret", 1).await;
    for _ in 0..5 {
        assert_eq!(mailbox.submit_code(&sid, "guess-secret", "AAAAAAAA").await.status, 400);
    }
    let right = mailbox.submit_code(&sid, "guess-secret", &code(&mail)).await;
    assert_eq!((right.status, right.errcode()), (400, "M_THREEPID_AUTH_FAILED"), "{}", right.body);
}

/// The same `client_secret`, address and `send_attempt`: the same `sid`
/// and no second mail; a higher attempt mails a new token into the same
/// session, and the earlier token stops working.
#[tokio::test]
async fn the_same_send_attempt_sends_no_second_mail() {
    let mailbox = Mailbox::start(|_| {});
    let (sid, first) = mailbox.mailed("register", "kite@example.org", "kite-secret", 1).await;
    let again = mailbox.request_token(R0, "register", "kite@example.org", "kite-secret", 1).await;
    assert_eq!(again.body["sid"], sid.as_str(), "{}", again.body);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(mailbox.sink.to("kite@example.org").len(), 1, "a repeated send_attempt mailed again");

    let (second_sid, second) = mailbox.mailed("register", "kite@example.org", "kite-secret", 2).await;
    assert_eq!(second_sid, sid);
    assert_eq!(mailbox.submit_code(&sid, "kite-secret", &code(&first)).await.status, 400, "the earlier token");
    assert_eq!(mailbox.submit_code(&sid, "kite-secret", &code(&second)).await.status, 200);
}

/// Per client IP and per address, mail requests are limited
/// (`[rate_limits] email`): 429 with `Retry-After`, and no mail.
#[tokio::test]
async fn requesting_mail_is_rate_limited() {
    let mailbox = Mailbox::with(|config, email| {
        config.email = Some(email);
        config.rate_limits = RateLimits::default();
        config.rate_limits.email = Bucket { per_second: 0.001, burst: 2 };
    });
    for attempt in 1..=2 {
        let answer = mailbox.request_token(V3, "register", "flood@example.org", "flood-secret", attempt).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let limited = mailbox.request_token(V3, "register", "flood@example.org", "flood-secret", 3).await;
    assert_eq!((limited.status, limited.errcode()), (429, "M_LIMIT_EXCEEDED"), "{}", limited.body);
    assert!(limited.headers.get("retry-after").is_some());
    // This client's own bucket is empty too: another address is refused.
    let other = mailbox.request_token(V3, "register", "other@example.org", "other-secret", 1).await;
    assert_eq!(other.status, 429, "{}", other.body);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(mailbox.sink.to("flood@example.org").len(), 2);

    // The address's own bucket: from fresh client addresses, a third
    // request for one mailbox is refused all the same.
    let path = format!("{V3}/register/email/requestToken");
    for (attempt, source) in [(1, [127, 0, 0, 2]), (2, [127, 0, 0, 3]), (3, [127, 0, 0, 4])] {
        let body = json!({"client_secret": "s", "email": "victim@example.org", "send_attempt": attempt});
        let answer = call_from(&mailbox.server, source.into(), "POST", &path, Some(&body), None).await;
        let expected = if attempt < 3 { 200 } else { 429 };
        assert_eq!(answer.status, expected, "attempt {attempt}: {}", answer.body);
    }
}

/// Without `[email]`: the e-mail endpoints answer
/// `M_THREEPID_MEDIUM_NOT_SUPPORTED` and registration offers no e-mail
/// stage; phone numbers are never validated.
#[tokio::test]
async fn without_email_nothing_is_offered() {
    let server = TestServer::start();
    let body = json!({"client_secret": "s", "email": "a@example.org", "send_attempt": 1});
    let answer = call(&server, "POST", &format!("{V3}/account/3pid/email/requestToken"), Some(&body), None).await;
    assert_eq!((answer.status, answer.errcode()), (400, "M_THREEPID_MEDIUM_NOT_SUPPORTED"), "{}", answer.body);
    let first = json!({"username": "plain", "password": "pass-1"});
    let challenge = call(&server, "POST", &format!("{V3}/register"), Some(&first), None).await;
    assert_eq!(challenge.body["flows"], json!([{"stages": ["m.login.dummy"]}]));

    let mailbox = Mailbox::start(|_| {});
    let sms = json!({"client_secret": "s", "country": "GB", "phone_number": "07700900001", "send_attempt": 1});
    for prefix in [V3, R0] {
        let path = format!("{prefix}/register/msisdn/requestToken");
        let answer = call(&mailbox.server, "POST", &path, Some(&sms), None).await;
        assert_eq!((answer.status, answer.errcode()), (400, "M_THREEPID_MEDIUM_NOT_SUPPORTED"), "{}", answer.body);
    }
}

/// Malformed requests are the client's errors, never the server's.
#[tokio::test]
async fn malformed_requests_are_400() {
    let mailbox = Mailbox::start(|_| {});
    let path = format!("{V3}/register/email/requestToken");
    for body in [
        json!({"client_secret": "s", "email": "not an address", "send_attempt": 1}),
        json!({"client_secret": "bad secret!", "email": "a@example.org", "send_attempt": 1}),
        json!({"client_secret": "s", "email": "a@example.org", "send_attempt": 1, "next_link": "javascript:alert(1)"}),
        json!({"client_secret": "s", "email": "a@example.org\r\nBcc: x@example.org", "send_attempt": 1}),
    ] {
        let answer = call(&mailbox.server, "POST", &path, Some(&body), None).await;
        assert_eq!((answer.status, answer.errcode()), (400, "M_INVALID_PARAM"), "{body}: {}", answer.body);
    }
    let page = call(&mailbox.server, "GET", "/_matrix/client/unstable/email/validate?sid=x", None, None).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(mailbox.sink.all().is_empty());
}

/// `[registration] require_email = true`: the e-mail stage is in every
/// flow (after the token stage when there is one), a registration without
/// it is refused, and one with it registers the address.
#[tokio::test]
async fn require_email_puts_the_email_stage_in_every_flow() {
    let mailbox = Mailbox::with(|config, email| {
        config.email = Some(email);
        config.registration.require_email = true;
    });
    let first = json!({"username": "wren", "password": "wren-pass-1"});
    let challenge = call(&mailbox.server, "POST", &format!("{V3}/register"), Some(&first), None).await;
    assert_eq!(challenge.status, 401, "{}", challenge.body);
    assert_eq!(challenge.body["flows"], json!([{"stages": ["m.login.email.identity"]}]));
    let session = challenge.body["session"].as_str().unwrap().to_owned();

    // The dummy stage, in the session or one-shot, registers nobody.
    for prefix in [V3, R0] {
        let dummy = json!({"username": "wren", "password": "wren-pass-1",
            "auth": {"type": "m.login.dummy", "session": session}});
        let refused = call(&mailbox.server, "POST", &format!("{prefix}/register"), Some(&dummy), None).await;
        assert_eq!((refused.status, refused.errcode()), (400, "M_INVALID_PARAM"), "{}", refused.body);
        let one_shot = json!({"username": "wren", "password": "wren-pass-1", "auth": {"type": "m.login.dummy"}});
        let refused = call(&mailbox.server, "POST", &format!("{prefix}/register"), Some(&one_shot), None).await;
        assert_eq!((refused.status, refused.errcode()), (400, "M_INVALID_PARAM"), "{}", refused.body);
    }
    let seed = json!({"username": "wren", "password": "wren-pass-1", "auth": {"type": "m.login.dummy"}});
    let refused = call(&mailbox.server, "POST", "/_matrix/client/api/v2_alpha/register", Some(&seed), None).await;
    assert_eq!((refused.status, refused.errcode()), (400, "M_INVALID_PARAM"), "{}", refused.body);
    let available = call(&mailbox.server, "GET", &format!("{V3}/register/available?username=wren"), None, None).await;
    assert_eq!((available.status, available.body), (200, json!({"available": true})));

    // With a validated address it registers, and the account has it.
    let (sid, mail) = mailbox.mailed("register", "wren@example.org", "reg-secret", 1).await;
    mailbox.submit_code(&sid, "reg-secret", &code(&mail)).await;
    let body = json!({"auth": email_auth(&sid, "reg-secret", Some(&session))});
    let registered = call(&mailbox.server, "POST", &format!("{V3}/register"), Some(&body), None).await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    let token = registered.body["access_token"].as_str().unwrap();
    assert_eq!(mailbox.addresses(token).await, ["wren@example.org"]);

    // With registration tokens too: the token stage, then the e-mail one.
    let mailbox = Mailbox::with(|config, email| {
        config.email = Some(email);
        config.registration.require_email = true;
        config.registration.tokens = vec!["invite".into()];
    });
    let challenge = call(&mailbox.server, "POST", &format!("{V3}/register"), Some(&first), None).await;
    let stages = json!([{"stages": ["m.login.registration_token", "m.login.email.identity"]}]);
    assert_eq!(challenge.body["flows"], stages);
}

/// Without `require_email`, the e-mail flow is an option beside the one
/// without (the default, also with tokens).
#[tokio::test]
async fn without_require_email_the_email_flow_is_an_option() {
    let mailbox = Mailbox::with(|config, email| {
        config.email = Some(email);
        config.registration.tokens = vec!["invite".into()];
    });
    let first = json!({"username": "wren", "password": "wren-pass-1"});
    let challenge = call(&mailbox.server, "POST", &format!("{V3}/register"), Some(&first), None).await;
    let flows = json!([{"stages": ["m.login.registration_token"]},
                       {"stages": ["m.login.registration_token", "m.login.email.identity"]}]);
    assert_eq!(challenge.body["flows"], flows);
}

/// `require_email` without `[email]` is a configuration error: the server
/// does not start, and says why.
#[test]
fn require_email_without_email_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    let database = dir.path().join("accounts.db");
    std::fs::write(&config, "[registration]\nrequire_email = true\n").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_matrix-accounts"))
        .arg("--config")
        .arg(&config)
        .arg("--database")
        .arg(&database)
        .args(["--listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting matrix-accounts");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the server started with require_email and no [email]");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("require_email") && stderr.contains("[email]"), "{stderr}");
}
