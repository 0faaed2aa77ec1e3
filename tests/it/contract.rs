//! Contract tests, driven by the examples in `api/`.
//!
//! Every request example of every operation is replayed against a freshly
//! started server, after a small per-operation hook has arranged the state
//! it needs (a registered user, an access token, a UIA session, a session
//! validated at a real identity server). The answer's status must be one
//! the operation documents, and its body must match that status's schema.
//! Then every documented error status is provoked where the server can be
//! made to produce it, and checked the same way.
//!
//! Response examples are contract too: each one is reproduced (the request
//! that gets its status is made, once per example) and the answer must say
//! what the example says, `errcode` included; volatile fields (ids, tokens,
//! sessions, timestamps, delays, the `error` text: see
//! [`specgen::contract::volatile`]) need only the same type. An example the
//! server cannot be made to answer is marked `x-illustrative: "reason"` in
//! the YAML (on the response, its media type or the example).
//!
//! A spec editor who adds an example gets a test; an implemented operation
//! whose examples no hook can arrange fails, it is never skipped. An
//! operation the document marks `x-not-implemented` needs no hook: it is
//! checked as the stub it is (404 `M_UNRECOGNIZED`, CORS headers).

use crate::common;
use crate::identity_server;
use crate::smtp_sink::SmtpSink;

use std::collections::BTreeMap;

use common::{Answer, TestServer, client};
use identity_server::IdentityServer;
use matrix_accounts::config::Bucket;
use serde_json::{Value, json};
use specgen::contract::{Contract, Operation, RequestExample, example_differs};

const DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The server name the examples use (`@wren:example.org`).
const SERVER_NAME: &str = "example.org";
/// The shared-registration secret of the contract's servers.
const SHARED_SECRET: &str = "contract-secret";

/// The admin operations, which act on `@wren` with an admin's token.
const ADMIN_OPERATIONS: [&str; 15] = [
    "adminPutUser",
    "getUserAdmin",
    "setUserAdmin",
    "adminDeactivateUser",
    "adminResetPassword",
    "adminUsernameAvailable",
    "adminWhois",
    "adminGetUser",
    "adminListUsers",
    "adminThreepidUser",
    "adminListDevices",
    "adminGetDevice",
    "adminUpdateDevice",
    "adminDeleteDevice",
    "adminDeleteDevices",
];

/// The registration-token administration, which an admin does on `defg`.
const TOKEN_OPERATIONS: [&str; 5] = [
    "listRegistrationTokens",
    "newRegistrationToken",
    "getRegistrationToken",
    "updateRegistrationToken",
    "deleteRegistrationToken",
];

/// The device the device examples name.
const EXAMPLE_DEVICE: &str = "WRENPHONE";

/// The base URL the examples' `submit_url` names.
const PUBLIC_BASE_URL: &str = "https://matrix.example.org";

fn contract() -> Contract {
    Contract::new(&serde_json::from_str(DOCUMENT).expect("the document is JSON")).expect("the document loads")
}

/// Which kind of server an arrangement needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// Guests allowed, rate limits off, the identity server trusted.
    Open,
    /// Registration disabled.
    Closed,
    /// Registration open, guests refused.
    NoGuests,
    /// Rate limits with buckets of one (and e-mail configured).
    Limited,
    /// As `Open`, and e-mail is configured (mail goes to a sink): only for
    /// the e-mail operations, as it adds a flow to registration's answers.
    Email,
    /// As `Open`, and registration asks for a token: only for the UIA
    /// fallback, whose one served stage is the token's.
    Tokens,
}

impl Setup {
    /// The server an operation's examples are replayed on.
    fn for_operation(operation: &Operation) -> Setup {
        if sends_mail(family(operation)) {
            Setup::Email
        } else if is_fallback(family(operation)) {
            Setup::Tokens
        } else {
            Setup::Open
        }
    }
}

/// Whether an operation family is one of the e-mail validation ones.
fn sends_mail(family: &str) -> bool {
    family.starts_with("requestToken") && family.ends_with("Email")
        || matches!(family, "getEmailValidationPage" | "confirmEmailValidation" | "submitEmailToken")
}

/// Whether an operation family is one of the UIA fallback's.
fn is_fallback(family: &str) -> bool {
    matches!(family, "getAuthFallbackPage" | "submitAuthFallback")
}

/// The stage the fallback examples complete, and the token they submit.
const FALLBACK_STAGE: &str = "m.login.registration_token";
const FALLBACK_TOKEN: &str = "fBVFdqVE";

/// A fresh server, the identity server it trusts, and the SMTP sink it
/// mails to (with `Setup::Email` and `Setup::Limited`).
struct Fixture {
    server: TestServer,
    identity: IdentityServer,
    sink: SmtpSink,
}

impl Fixture {
    fn start(setup: Setup) -> Fixture {
        let identity = IdentityServer::start();
        let sink = SmtpSink::start();
        let server = TestServer::with(|c| {
            c.server_name = SERVER_NAME.into();
            c.public_base_url = Some(PUBLIC_BASE_URL.into());
            c.registration.enabled = setup != Setup::Closed;
            c.registration.guest_access = setup != Setup::NoGuests;
            if setup == Setup::Limited {
                let once = Bucket { per_second: 0.001, burst: 1 };
                let limits = &mut c.rate_limits;
                limits.enabled = true;
                (limits.register, limits.login, limits.login_failed, limits.threepid, limits.email) =
                    (once, once, once, once, once);
            }
            c.identity.trusted_servers = vec![identity.address.clone()];
            c.identity.insecure_http = true;
            c.identity.threepid_delegate = Some(identity.address.clone());
            if matches!(setup, Setup::Email | Setup::Limited) {
                c.email = Some(sink.config());
            }
            c.admin.registration_shared_secret = Some(SHARED_SECRET.into());
            c.registration.requires_token = setup == Setup::Tokens;
        });
        Fixture { server, identity, sink }
    }

    /// Asks for a registration e-mail token for the examples' address and
    /// secret, and reads the mail: the `sid` and the code.
    async fn mailed_token(&self) -> (String, String) {
        let body = json!({"client_secret": "moth-Dial-4417", "email": "wren@example.org", "send_attempt": 1});
        let path = "/_matrix/client/v3/register/email/requestToken";
        let answer = self.send("POST", path, &BTreeMap::new(), Some(&body), None).await;
        assert_eq!(answer.status, 200, "arranging an e-mail token: {}", answer.body);
        let text = self.sink.wait_for("wren@example.org", 1).text();
        let code = text.split("code where you were asked to:").nth(1).and_then(|rest| rest.split_whitespace().next());
        (answer.body["sid"].as_str().expect("a sid").to_owned(), code.expect("a code in the mail").to_owned())
    }

    /// Registers `localpart` with `password` (v3, one-shot UIA); answers
    /// the access token and the refresh token.
    async fn account(&self, localpart: &str, password: &str) -> (String, String) {
        let body = json!({
            "username": localpart, "password": password, "refresh_token": true,
            "auth": {"type": "m.login.dummy"},
        });
        let answer = self.send("POST", "/_matrix/client/v3/register", &BTreeMap::new(), Some(&body), None).await;
        assert_eq!(answer.status, 200, "arranging account {localpart}: {}", answer.body);
        let token = |key: &str| answer.body[key].as_str().expect("a token").to_owned();
        (token("access_token"), token("refresh_token"))
    }

    /// Registers `localpart` on the device the device examples show
    /// (`WRENPHONE`, "Wren's phone"), its only device; answers its access
    /// token.
    async fn device_account(&self, localpart: &str, password: &str) -> String {
        let body = json!({
            "username": localpart, "password": password, "device_id": EXAMPLE_DEVICE,
            "initial_device_display_name": "Wren's phone", "auth": {"type": "m.login.dummy"},
        });
        let answer = self.send("POST", "/_matrix/client/v3/register", &BTreeMap::new(), Some(&body), None).await;
        assert_eq!(answer.status, 200, "arranging account {localpart}: {}", answer.body);
        answer.body["access_token"].as_str().expect("a token").to_owned()
    }

    /// Fills a shared-secret registration body with a fresh nonce and the
    /// MAC of its username, password and admin flag.
    async fn shared_secret_body(&self, mut body: Value) -> Value {
        let path = "/_synapse/admin/v1/register";
        let nonce = self.send("GET", path, &BTreeMap::new(), None, None).await;
        let nonce = nonce.body["nonce"].as_str().expect("a nonce").to_owned();
        let (user, password) = (body["username"].as_str().unwrap_or(""), body["password"].as_str().unwrap_or(""));
        let admin = if body["admin"] == true { "admin" } else { "notadmin" };
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, SHARED_SECRET.as_bytes());
        let signed = aws_lc_rs::hmac::sign(&key, format!("{nonce}\0{user}\0{password}\0{admin}").as_bytes());
        body["mac"] = signed.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>().into();
        body["nonce"] = nonce.into();
        body
    }

    /// Creates a server admin by shared-secret registration; answers its token.
    async fn admin(&self) -> String {
        let body = json!({"username": "root", "password": "root-pass-1", "admin": true});
        let body = self.shared_secret_body(body).await;
        let path = "/_synapse/admin/v1/register";
        let answer = self.send("POST", path, &BTreeMap::new(), Some(&body), None).await;
        assert_eq!(answer.status, 200, "arranging an admin: {}", answer.body);
        answer.body["access_token"].as_str().expect("a token").to_owned()
    }

    /// Gives an account an e-mail address, through the identity server.
    async fn email(&self, token: &str, address: &str) {
        self.identity.validate("arranged", "secret", "email", address);
        let body = json!({"three_pid_creds": self.identity.creds_json("arranged", "secret")});
        let answer =
            self.send("POST", "/_matrix/client/v3/account/3pid", &BTreeMap::new(), Some(&body), Some(token)).await;
        assert_eq!(answer.status, 200, "arranging e-mail {address}: {}", answer.body);
    }

    /// Starts a registration (with a token required, it stops at the
    /// token stage) and answers its UIA session.
    async fn registration_session(&self) -> Result<String, String> {
        let body = json!({"username": "wren", "password": "lantern-ink-7"});
        let answer = self.send("POST", "/_matrix/client/v3/register", &BTreeMap::new(), Some(&body), None).await;
        match answer.body["session"].as_str() {
            Some(session) if answer.status == 401 => Ok(session.to_owned()),
            _ => Err(format!("arranging a registration session: {} {}", answer.status, answer.body)),
        }
    }

    /// Creates a registration token with this text, as an admin.
    async fn registration_token(&self, token: &str) -> Result<(), String> {
        let admin = self.admin().await;
        let new = json!({"token": token});
        let path = "/_synapse/admin/v1/registration_tokens/new";
        let created = self.send("POST", path, &BTreeMap::new(), Some(&new), Some(&admin)).await;
        if created.status != 200 {
            return Err(format!("arranging token {token}: {}", created.body));
        }
        Ok(())
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        query: &BTreeMap<String, String>,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut url = self.server.url(path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish());
        }
        let mut request = client().request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Answer::from(request.send().await.expect("sending the request")).await
    }

    async fn replay(&self, operation: &Operation, request: &Request) -> Answer {
        let path = request.path.as_deref().unwrap_or(&operation.path);
        let Some(raw) = &request.raw else {
            let (body, token) = (request.body.as_ref(), request.token.as_deref());
            return self.send(&operation.method, path, &request.query, body, token).await;
        };
        let method = reqwest::Method::from_bytes(operation.method.as_bytes()).expect("an HTTP method");
        let mut url = self.server.url(path);
        if !request.query.is_empty() {
            url.push('?');
            url.push_str(&form_urlencoded::Serializer::new(String::new()).extend_pairs(&request.query).finish());
        }
        let mut call = client().request(method, url).body(raw.clone());
        if let Some(token) = &request.token {
            call = call.bearer_auth(token);
        }
        Answer::from(call.send().await.expect("sending the request")).await
    }
}

/// A request ready to send, and the status it should get.
struct Request {
    token: Option<String>,
    /// The path with its parameters filled in, for an operation that has
    /// some.
    path: Option<String>,
    query: BTreeMap<String, String>,
    body: Option<Value>,
    /// Bytes sent instead of `body` (malformed input).
    raw: Option<Vec<u8>>,
    expect: u16,
}

impl Request {
    fn from_example(example: &RequestExample, expect: u16) -> Request {
        Request { token: None, path: None, query: example.query.clone(), body: example.body.clone(), raw: None, expect }
    }
}

/// The operation family of a route: `login_R0` is served like `login`,
/// `changePasswordV2Alpha_MatrixClientV2Alpha` (the seed's prose prefix)
/// like `changePasswordV2Alpha`.
fn family(operation: &Operation) -> &str {
    let id = operation.id.as_str();
    ["_R0", "_MatrixClientV2Alpha"].iter().find_map(|suffix| id.strip_suffix(suffix)).unwrap_or(id)
}

/// The documented success status of an operation.
fn success(operation: &Operation) -> u16 {
    operation.statuses().into_iter().find(|s| (200..300).contains(s)).unwrap_or(200)
}

/// Who an example authenticates or logs in as, and with which password.
/// An example that names nobody (a UIA first attempt, a login by e-mail)
/// acts for the user the operation's other examples name.
fn credentials(operation: &Operation, body: &Value) -> Result<(String, String), String> {
    let named = |body: &Value| {
        let holder = if body.get("auth").is_some() { &body["auth"] } else { body };
        let user = holder["identifier"]["user"].as_str().or(holder["user"].as_str())?;
        let localpart = user.trim_start_matches('@').split(':').next()?.to_owned();
        Some((localpart, holder["password"].as_str()?.to_owned()))
    };
    let password = |body: &Value| body["auth"]["password"].as_str().or(body["password"].as_str()).map(str::to_owned);
    named(body)
        .or_else(|| {
            let (localpart, other_password) = operation.requests.iter().find_map(|r| named(r.body.as_ref()?))?;
            Some((localpart, password(body).unwrap_or(other_password)))
        })
        .ok_or_else(|| "no example of the operation names a user".to_owned())
}

/// Replaces the example's placeholder UIA session with a real one, got by
/// sending `first` (the session's first request) the way a client would.
async fn with_real_session(
    fixture: &Fixture,
    operation: &Operation,
    token: Option<&str>,
    first: Value,
    body: Value,
) -> Result<Value, String> {
    with_real_session_at(fixture, operation, &operation.path, token, first, body).await
}

/// [`with_real_session`] for an operation whose path has parameters.
async fn with_real_session_at(
    fixture: &Fixture,
    operation: &Operation,
    path: &str,
    token: Option<&str>,
    first: Value,
    mut body: Value,
) -> Result<Value, String> {
    let answer = fixture.send(&operation.method, path, &BTreeMap::new(), Some(&first), token).await;
    let session = answer.body["session"].as_str().ok_or(format!("no UIA session from {first}: {}", answer.body))?;
    body["auth"]["session"] = session.into();
    Ok(body)
}

/// The first request of the session an example completes: the operation's
/// `first_attempt` example, else the example without its `auth`.
fn first_request(operation: &Operation, body: &Value) -> Value {
    let first = operation.requests.iter().find(|r| r.name == "first_attempt").and_then(|r| r.body.clone());
    first.unwrap_or_else(|| {
        let mut first = body.clone();
        first.as_object_mut().map(|o| o.remove("auth"));
        first
    })
}

/// The hook: arranges what `example` needs and says what it should get.
async fn arrange(fixture: &Fixture, operation: &Operation, example: &RequestExample) -> Result<Request, String> {
    let mut request = Request::from_example(example, success(operation));
    if example.name == "first_attempt" {
        request.expect = 401; // a UIA challenge, by design of the example
    }
    let body = example.body.clone().unwrap_or(Value::Null);
    let in_session = body["auth"]["session"].is_string();
    match family(operation) {
        "getOpenApiDocument"
        | "getReferencePage"
        | "getVersions"
        | "getLoginFlows"
        | "checkUsernameAvailability"
        | "registerV2Alpha"
        | "getWellknown"
        | "registrationTokenValidity"
        | "getRegistrationNonce"
        | "getServerVersion" => {}
        "sharedSecretRegister" => request.body = Some(fixture.shared_secret_body(body).await),
        // Creates `@wren` (201) or modifies the existing one (200), by the
        // example's name.
        "adminPutUser" => {
            if example.name == "create" {
                request.expect = 201;
            } else {
                fixture.device_account("wren", "lantern-ink-7").await;
            }
            request.token = Some(fixture.admin().await);
            request.path = Some(operation.path.replace("{user_id}", "@wren:example.org"));
        }
        admin if ADMIN_OPERATIONS.contains(&admin) => {
            let wren = fixture.device_account("wren", "lantern-ink-7").await;
            if admin == "adminThreepidUser" {
                fixture.email(&wren, "wren@example.org").await;
            }
            request.token = Some(fixture.admin().await);
            let path = operation.path.replace("{medium}", "email").replace("{address}", "wren@example.org");
            let path = path.replace("{device_id}", EXAMPLE_DEVICE);
            request.path = Some(path.replace("{user_id}", "@wren:example.org"));
        }
        tokens if TOKEN_OPERATIONS.contains(&tokens) => {
            let admin = fixture.admin().await;
            if operation.path.contains("{registration_token}") {
                let new = json!({"token": "defg", "uses_allowed": 1});
                let path = "/_synapse/admin/v1/registration_tokens/new";
                let created = fixture.send("POST", path, &BTreeMap::new(), Some(&new), Some(&admin)).await;
                if created.status != 200 {
                    return Err(format!("arranging token defg: {}", created.body));
                }
            }
            request.token = Some(admin);
            request.path = Some(operation.path.replace("{registration_token}", "defg"));
        }
        "getDevices" | "getDevice" | "updateDevice" | "getCapabilities" => {
            request.token = Some(fixture.device_account("wren", "lantern-ink-7").await);
            request.path = Some(operation.path.replace("{deviceId}", EXAMPLE_DEVICE));
        }
        "deleteDevice" | "deleteDevices" | "deactivateAccount" => {
            let (localpart, password) = credentials(operation, &body)?;
            let token = fixture.device_account(&localpart, &password).await;
            let path = operation.path.replace("{deviceId}", EXAMPLE_DEVICE);
            if in_session {
                let first = first_request(operation, &body);
                request.body = Some(with_real_session_at(fixture, operation, &path, Some(&token), first, body).await?);
            }
            request.token = Some(token);
            request.path = Some(path);
        }
        "register" => {
            if example.name == "guest" {
                request.query.insert("kind".into(), "guest".into());
            }
            if in_session {
                let first = first_request(operation, &body);
                request.body = Some(with_real_session(fixture, operation, None, first, body).await?);
            }
        }
        "loginV1" | "login" => {
            let (localpart, password) = credentials(operation, &body)?;
            let (token, _) = fixture.account(&localpart, &password).await;
            if body["identifier"]["type"] == "m.id.thirdparty" {
                let address = body["identifier"]["address"].as_str().ok_or("no address")?;
                fixture.email(&token, address).await;
            }
        }
        "tokenRefreshV2Alpha" | "refresh" => {
            let (_, refresh_token) = fixture.account("wren", "lantern-ink-7").await;
            request.body = Some(json!({"refresh_token": refresh_token}));
        }
        "logout"
        | "logout_all"
        | "getTokenOwner"
        | "getThreePidsV2Alpha"
        | "getAccount3PIDs"
        | "delete3pidFromAccount"
        | "unbind3pidFromAccount" => {
            request.token = Some(fixture.account("wren", "lantern-ink-7").await.0);
        }
        "changePasswordV2Alpha" | "changePassword" => {
            let (localpart, password) = credentials(operation, &body)?;
            let token = fixture.account(&localpart, &password).await.0;
            if in_session {
                let first = first_request(operation, &body);
                request.body = Some(with_real_session(fixture, operation, Some(&token), first, body).await?);
            }
            request.token = Some(token);
        }
        "addThreePidV2Alpha" | "post3PIDs" => {
            let token = fixture.account("wren", "lantern-ink-7").await.0;
            let key = if body.get("threePidCreds").is_some() { "threePidCreds" } else { "three_pid_creds" };
            let creds = &body[key];
            let (sid, secret) =
                (creds["sid"].as_str().ok_or("no sid")?, creds["client_secret"].as_str().ok_or("no secret")?);
            fixture.identity.validate(sid, secret, "email", "wren@example.org");
            let mut body = body.clone();
            body[key]["id_server"] = fixture.identity.address.clone().into();
            request.body = Some(body);
            request.token = Some(token);
        }
        "bind3PID" => {
            let token = fixture.account("wren", "lantern-ink-7").await.0;
            let (sid, secret) =
                (body["sid"].as_str().ok_or("no sid")?, body["client_secret"].as_str().ok_or("no secret")?);
            fixture.identity.validate(sid, secret, "email", "wren@example.org");
            let mut body = body.clone();
            body["id_server"] = fixture.identity.address.clone().into();
            request.body = Some(body);
            request.token = Some(token);
        }
        "add3PID" => {
            let token = fixture.account("wren", "lantern-ink-7").await.0;
            let (sid, secret) =
                (body["sid"].as_str().ok_or("no sid")?, body["client_secret"].as_str().ok_or("no secret")?);
            fixture.identity.validate(sid, secret, "email", "wren@example.org");
            if in_session {
                let first = first_request(operation, &body);
                request.body = Some(with_real_session(fixture, operation, Some(&token), first, body).await?);
            }
            request.token = Some(token);
        }
        "requestTokenToRegisterEmail" | "requestTokenTo3PIDEmail" => {}
        "requestTokenToResetPasswordEmail" => {
            let (token, _) = fixture.account("wren", "lantern-ink-7").await;
            fixture.email(&token, "wren@example.org").await;
        }
        // No SMS is ever sent: the one answer is the 400.
        "requestTokenToRegisterMSISDN" | "requestTokenTo3PIDMSISDN" | "requestTokenToResetPasswordMSISDN" => {
            request.expect = 400;
        }
        "submitEmailToken" | "getEmailValidationPage" | "confirmEmailValidation" => {
            let (sid, code) = fixture.mailed_token().await;
            match request.body.as_mut() {
                Some(body) => {
                    body["sid"] = sid.into();
                    body["token"] = code.into();
                }
                None => {
                    request.query.insert("sid".into(), sid);
                    request.query.insert("token".into(), code);
                }
            }
        }
        // The page for a real registration session; the form submits the
        // example's token, which an admin created.
        "getAuthFallbackPage" | "submitAuthFallback" => {
            request.path = Some(operation.path.replace("{authType}", FALLBACK_STAGE));
            let session = fixture.registration_session().await?;
            request.query.insert("session".into(), session);
            if family(operation) == "submitAuthFallback" {
                fixture.registration_token(FALLBACK_TOKEN).await?;
                let form =
                    form_urlencoded::Serializer::new(String::new()).append_pair("token", FALLBACK_TOKEN).finish();
                request.raw = Some(form.into_bytes());
            }
        }
        other => {
            return Err(format!(
                "no hook arranges the state `{other}` needs: add a match arm for it to `fn arrange` in \
                 tests/it/contract.rs (an operation marked x-not-implemented needs none)"
            ));
        }
    }
    Ok(request)
}

#[tokio::test]
async fn every_request_example_keeps_the_contract() {
    let contract = contract();
    let mut replayed = 0;
    let mut failures = Vec::new();
    for operation in contract.operations().iter().filter(|o| !o.not_implemented) {
        let mut answers = Vec::new();
        for example in &operation.requests {
            let fixture = Fixture::start(Setup::for_operation(operation));
            let request = match arrange(&fixture, operation, example).await {
                Ok(request) => request,
                Err(why) => {
                    failures.push(format!("{}, example `{}` cannot be replayed: {why}", operation.id, example.name));
                    continue;
                }
            };
            let answer = fixture.replay(operation, &request).await;
            replayed += 1;
            if let Err(violation) = operation.check(&example.name, answer.status, &answer.body) {
                failures.push(violation.to_string());
            } else if answer.status != request.expect {
                failures.push(format!(
                    "{}, example `{}`: answered {} where the example means {}: {}",
                    operation.id, example.name, answer.status, request.expect, answer.body
                ));
            }
            answers.push((example.name.clone(), answer.status, answer.body));
        }
        failures.extend(success_examples_answered(operation, &answers));
    }
    println!("contract: replayed {replayed} request examples of {} operations", contract.operations().len());
    assert!(failures.is_empty(), "{} contract failures:\n{}", failures.len(), failures.join("\n"));
    assert!(replayed >= contract.operations().len(), "every operation has at least one request");
}

/// The response examples of `status` that are contract: all but those
/// marked `x-illustrative`.
fn contract_examples(operation: &Operation, status: u16) -> Vec<(&str, &Value)> {
    let examples = operation.response_examples(status).iter();
    examples.filter(|(name, _)| operation.illustrative(status, name).is_none()).map(|(n, v)| (n.as_str(), v)).collect()
}

/// Checks the success examples of an operation against the answers its
/// request examples got (`(request example, status, body)`): each must be
/// answered, by the request example of the same name if there is one.
fn success_examples_answered(operation: &Operation, answers: &[(String, u16, Value)]) -> Vec<String> {
    let mut failures = Vec::new();
    for status in operation.statuses().into_iter().filter(|s| (200..300).contains(s)) {
        for (name, example) in contract_examples(operation, status) {
            let named = answers.iter().any(|(request, ..)| request == name);
            let candidates: Vec<&Value> = answers
                .iter()
                .filter(|(request, got, _)| *got == status && (!named || request == name))
                .map(|(.., body)| body)
                .collect();
            let differences: Vec<String> =
                candidates.iter().filter_map(|body| example_differs(example, body)).collect();
            if candidates.is_empty() {
                failures.push(format!(
                    "{}: the {status} example `{name}` is never answered: no request example gets {status} \
                     (add a request example that does, or mark it `x-illustrative: \"reason\"`)",
                    operation.id
                ));
            } else if differences.len() == candidates.len() {
                failures.push(format!(
                    "{}: the {status} example `{name}` is not what the server answers: {}",
                    operation.id, differences[0]
                ));
            }
        }
    }
    failures
}

/// A guest's access token.
async fn guest_token(fixture: &Fixture) -> Option<String> {
    let guest = fixture
        .send("POST", "/_matrix/client/v3/register", &[("kind".into(), "guest".into())].into(), Some(&json!({})), None)
        .await;
    Some(guest.body["access_token"].as_str()?.to_owned())
}

/// How to make an operation answer a documented error status, if the
/// server can be made to; with `target`, the answer its example describes
/// (chosen by the example's `errcode`).
async fn provoke(fixture: &Fixture, operation: &Operation, status: u16, target: Option<&Value>) -> Option<Request> {
    let errcode = target.and_then(|t| t["errcode"].as_str()).unwrap_or("");
    // Identifiers are checked after UIA: start from the example that completes it.
    let completes = |r: &&RequestExample| r.body.as_ref().is_some_and(|b| b["auth"]["session"].is_string());
    let example = match errcode {
        "M_THREEPID_AUTH_FAILED" => operation.requests.iter().find(completes).or(operation.requests.first())?,
        _ => operation.requests.first()?,
    };
    let mut request = arrange(fixture, operation, example).await.ok()?;
    request.expect = status;
    let family = family(operation);
    let login = family.starts_with("login");
    let refresh = family == "refresh" || family == "tokenRefreshV2Alpha";
    match (status, errcode) {
        (404, "M_UNRECOGNIZED") if is_fallback(family) => {
            request.path = Some(operation.path.replace("{authType}", "m.login.dummy"));
            return Some(request);
        }
        (400, "M_UNKNOWN") if is_fallback(family) => {
            request.query.insert("session".into(), "xXyYzZaAbBcCdDeE".into());
            return Some(request);
        }
        (400, "M_NOT_JSON") => {
            request.raw = Some(b"{\"not json".to_vec());
            return Some(request);
        }
        (400, "M_BAD_JSON") if refresh => {
            request.body.as_mut()?["refresh_token"] = 5.into();
            return Some(request);
        }
        (400, "M_BAD_JSON") => {
            request.body = Some(json!([]));
            return Some(request);
        }
        (400, "M_MISSING_PARAM") => {
            let error = target?["error"].as_str()?;
            let parameter = error.strip_prefix("Missing parameter: ")?;
            if request.query.remove(parameter).is_none() {
                let body = request.body.as_mut()?.as_object_mut()?;
                body.remove(parameter)?;
                // A request completing a UIA session may leave parameters out
                // (the session remembers them): make it a first request.
                body.remove("auth");
            }
            return Some(request);
        }
        (400, "M_UNKNOWN") if login => {
            request.body.as_mut()?["type"] = "m.login.bogus".into();
            return Some(request);
        }
        (400, "M_INVALID_PARAM") if login => {
            request.body = Some(json!({"type": "m.login.password", "password": "whatever"}));
            return Some(request);
        }
        (400, "M_USER_IN_USE") => {
            let named = request.query.get("username").cloned();
            let body = request.body.get_or_insert_with(|| json!({}));
            let named = named.or_else(|| body["username"].as_str().map(str::to_owned));
            let username = named.unwrap_or_else(|| {
                body["username"] = "wren".into();
                "wren".into()
            });
            fixture.account(&username, "an-earlier-pass").await;
            return Some(request);
        }
        (400, "M_INVALID_USERNAME") => {
            request.body.as_mut()?["username"] = "Not A Valid Name!".into();
            return Some(request);
        }
        (400, "M_THREEPID_AUTH_FAILED") => {
            let body = request.body.as_mut()?;
            let key = ["threePidCreds", "three_pid_creds"].into_iter().find(|k| body.get(k).is_some());
            match key {
                Some(key) => body[key]["sid"] = "never-validated".into(),
                None => body["sid"] = "never-validated".into(),
            }
            return Some(request);
        }
        (400, "M_THREEPID_NOT_FOUND") => {
            request.body.as_mut()?["email"] = "nobody@example.org".into();
            return Some(request);
        }
        // The phone-number operations answer it to any request.
        (400, "M_THREEPID_MEDIUM_NOT_SUPPORTED") => return Some(request),
        (400, "M_THREEPID_IN_USE") => {
            let (other, _) = fixture.account("rook", "rook-pass-3").await;
            fixture.email(&other, "wren@example.org").await;
            return Some(request);
        }
        (401, "M_UNKNOWN_TOKEN") if operation.secured => {
            request.token = Some("no_such_token".into());
            return Some(request);
        }
        (401, "") if operation.secured && target.is_some() && request.body.is_some() => {
            // A UIA challenge: authenticated, no `auth` yet.
            request.body.as_mut()?.as_object_mut()?.remove("auth");
            return Some(request);
        }
        (401, "M_FORBIDDEN") if operation.secured && request.body.is_some() => {
            // A failed stage: the wrong password.
            let body = request.body.as_mut()?;
            body["auth"] = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "wren"},
                                  "password": "not the password"});
            return Some(request);
        }
        (404, "M_NOT_FOUND") if request.path.is_some() => {
            let path = operation.path.replace("{deviceId}", "NOSUCHDEVICE");
            let path = path.replace("{registration_token}", "nosuchtoken");
            let path = path.replace("{medium}", "email").replace("{address}", "nobody@example.org");
            let path = path.replace("{device_id}", "NOSUCHDEVICE");
            request.path = Some(path.replace("{user_id}", "@nobody:example.org"));
            request.body.as_mut().and_then(Value::as_object_mut).map(|body| body.remove("auth"));
            return Some(request);
        }
        (403, "M_USER_DEACTIVATED") if login => {
            // The account logs in with the right password after closing itself.
            let body = request.body.clone()?;
            let (localpart, password) = credentials(operation, &body).ok()?;
            let logged_in = fixture.send("POST", &operation.path, &BTreeMap::new(), Some(&body), None).await;
            let token = logged_in.body["access_token"].as_str()?.to_owned();
            let auth = json!({"auth": {"type": "m.login.password", "user": localpart, "password": password}});
            let path = "/_matrix/client/v3/account/deactivate";
            let closed = fixture.send("POST", path, &BTreeMap::new(), Some(&auth), Some(&token)).await;
            (closed.status == 200).then_some(())?;
            return Some(request);
        }
        (400, "M_UNKNOWN") if family == "sharedSecretRegister" => {
            request.body.as_mut()?["nonce"] = "stale".into();
            return Some(request);
        }
        (403, "M_FORBIDDEN") if family == "sharedSecretRegister" => {
            request.body.as_mut()?["mac"] = "0".repeat(40).into();
            return Some(request);
        }
        (403, "M_FORBIDDEN") if ADMIN_OPERATIONS.contains(&family) || TOKEN_OPERATIONS.contains(&family) => {
            // A valid token, of a user who is no admin.
            request.token = Some(fixture.account("intruder", "intruder-pass").await.0);
            return Some(request);
        }
        (400, "M_INVALID_PARAM") if family == "adminListUsers" => {
            request.query.insert("order_by".into(), "bogus".into());
            return Some(request);
        }
        (400, "M_INVALID_PARAM") if ADMIN_OPERATIONS.contains(&family) => {
            request.path = Some(operation.path.replace("{user_id}", "@wren:elsewhere.org"));
            return Some(request);
        }
        (403, "M_GUEST_ACCESS_FORBIDDEN") => {
            request.token = Some(guest_token(fixture).await?);
            return Some(request);
        }
        (403, "M_FORBIDDEN") if operation.secured => {
            // UIA with another user's credentials.
            fixture.account("intruder", "intruder-pass").await;
            let body = request.body.as_mut()?;
            body["auth"] = json!({"type": "m.login.password", "user": "intruder", "password": "intruder-pass"});
            return Some(request);
        }
        _ => {}
    }
    match status {
        400 if example.body.is_some() => request.raw = Some(b"{\"not json".to_vec()),
        400 if !request.query.is_empty() => request.query.clear(),
        401 if operation.secured => {
            // No token; and no `auth` either, where the token is optional
            // (a password reset) and the stages offered depend on it.
            request.token = None;
            if let Some(body) = request.body.as_mut().and_then(Value::as_object_mut) {
                body.remove("auth");
            }
        }
        401 if family == "refresh" || family == "tokenRefreshV2Alpha" => {
            request.body = Some(json!({"refresh_token": "no_such_token"}));
        }
        401 if family.starts_with("register") => {
            let body = request.body.as_mut()?.as_object_mut()?;
            body.remove("auth");
            body.insert("username".into(), "newcomer".into());
        }
        403 if family == "login" || family == "loginV1" => {
            let body = request.body.as_mut()?;
            if body.get("password").is_some() {
                body["password"] = "not the password".into();
            }
        }
        403 if family.starts_with("register") => return None, // needs a closed server: see below
        403 if family.starts_with("changePassword") => {
            fixture.account("intruder", "intruder-pass").await;
            let body = request.body.as_mut()?;
            body["auth"] = json!({"type": "m.login.password", "user": "intruder", "password": "intruder-pass"});
        }
        403 if operation.secured => {
            // Guests may not manage third-party identifiers.
            request.token = Some(guest_token(fixture).await?);
        }
        404 => {
            let body = request.body.as_mut()?;
            body["auth"] = json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "nobody@example.org"},
                "password": "whatever",
            });
            if body.get("new_password").is_none() && family.starts_with("changePassword") {
                body["new_password"] = "another".into();
            }
        }
        _ => return None,
    }
    Some(request)
}

#[tokio::test]
async fn documented_errors_keep_the_contract() {
    let contract = contract();
    let mut outcome = Outcome::default();
    for operation in contract.operations().iter().filter(|o| !o.not_implemented) {
        check_errors(operation, &mut outcome).await;
    }
    let Outcome { provoked, not_provoked, failures } = outcome;
    println!("contract: provoked {provoked} documented error statuses; not provoked: {}", not_provoked.join(", "));
    assert!(failures.is_empty(), "{} contract failures:\n{}", failures.len(), failures.join("\n"));
    assert!(provoked >= 60, "only {provoked} error statuses were provoked");
}

/// What provoking an operation's documented errors found.
#[derive(Default)]
struct Outcome {
    provoked: usize,
    not_provoked: Vec<String>,
    failures: Vec<String>,
}

/// Provokes each documented error status of an operation, once per response
/// example of that status that is not marked illustrative (once if there is
/// none), and checks each answer: its status, its schema, and the example.
async fn check_errors(operation: &Operation, outcome: &mut Outcome) {
    for status in operation.statuses().into_iter().filter(|s| *s >= 400) {
        let examples = contract_examples(operation, status);
        let targets: Vec<Option<(&str, &Value)>> =
            if examples.is_empty() { vec![None] } else { examples.into_iter().map(Some).collect() };
        for target in targets {
            let example = target.map(|(_, example)| example);
            let guests = example.and_then(|e| e["error"].as_str()).is_some_and(|e| e.contains("Guest"));
            let answer = match status {
                429 => rate_limited(operation).await,
                403 if family(operation).starts_with("register") => {
                    let fixture = Fixture::start(if guests { Setup::NoGuests } else { Setup::Closed });
                    let mut request = Request::from_example(&operation.requests[0], 403);
                    if guests {
                        request.query.insert("kind".into(), "guest".into());
                    }
                    Some(fixture.replay(operation, &request).await)
                }
                _ => {
                    let fixture = Fixture::start(Setup::for_operation(operation));
                    match provoke(&fixture, operation, status, example).await {
                        Some(request) => Some(fixture.replay(operation, &request).await),
                        None => None,
                    }
                }
            };
            let Some(answer) = answer else {
                match target {
                    Some((name, _)) => outcome.failures.push(format!(
                        "{}: the {status} example `{name}` is neither provoked nor marked illustrative: teach \
                         `fn provoke` in tests/it/contract.rs to provoke it, or mark it `x-illustrative: \"reason\"`",
                        operation.id
                    )),
                    None => outcome.not_provoked.push(format!("{} {status}", operation.id)),
                }
                continue;
            };
            outcome.provoked += 1;
            let label = target.map_or(format!("provoked {status}"), |(name, _)| name.to_owned());
            if answer.status != status {
                outcome.failures.push(format!(
                    "{}, example `{label}`: provoking {status} got {}: {}",
                    operation.id, answer.status, answer.body
                ));
            } else if let Err(violation) = operation.check(&label, answer.status, &answer.body) {
                outcome.failures.push(violation.to_string());
            } else if let Some((name, example)) = target
                && let Some(difference) = example_differs(example, &answer.body)
            {
                outcome.failures.push(format!(
                    "{}: the {status} example `{name}` is not what the server answers: {difference} (answer: {}); \
                     fix the example, provoke it properly in `fn provoke`, or mark it `x-illustrative: \"reason\"`",
                    operation.id, answer.body
                ));
            }
        }
    }
}

/// Repeats an operation's first example on a server with buckets of one
/// until it is refused (three tries).
async fn rate_limited(operation: &Operation) -> Option<Answer> {
    let fixture = Fixture::start(Setup::Limited);
    let family = family(operation);
    let request = if family.starts_with("login") {
        // Logins are limited per account whether or not the password is right.
        let example = &operation.requests[0];
        let mut request = Request::from_example(example, 429);
        if let Some(body) = request.body.as_mut() {
            body["password"] = "wrong".into();
        }
        request
    } else if sends_mail(family) && family.starts_with("requestToken") {
        // Every request counts against the address and the client.
        arrange(&fixture, operation, &operation.requests[0]).await.ok()?
    } else if family.starts_with("register") || family.contains("3P") || family.contains("ThreePid") {
        let example = operation.requests.iter().find(|r| r.name != "first_attempt" && r.name != "guest")?;
        let mut request = arrange(&fixture, operation, example).await.ok()?;
        if let Some(body) = request.body.as_mut().and_then(Value::as_object_mut) {
            body.remove("username"); // each try registers a new account
        }
        request
    } else {
        return None;
    };
    for _ in 0..3 {
        let answer = fixture.replay(operation, &request).await;
        if answer.status == 429 {
            assert!(answer.headers.get("retry-after").is_some(), "{}: 429 without Retry-After", operation.id);
            return Some(answer);
        }
    }
    None
}

/// The checker catches a wrong example: in a fixture spec whose 200
/// example has a number where its schema wants a string, it names the
/// operation, the status, the example and the schema path; `specgen check`
/// names the file and YAML path.
#[test]
fn a_wrong_example_is_caught() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wrong_example");
    let spec = specgen::load_dir(&fixture, &specgen::Options::default());
    let document = serde_json::to_value(&spec.document).unwrap();
    let violations = Contract::new(&document).unwrap().check_examples();
    let messages: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        ["register, example `created`: the 200 body does not match its schema at \
          #/components/schemas/Registered/properties/user_id/type (body at /user_id): 42 is not of type \"string\""]
    );

    let warning = spec.warnings().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(warning.contains("wrong_example/api.yaml:31:19: warning[example-mismatch]"), "{warning}");
}

/// An operation the document marks `x-not-implemented` is served as a stub:
/// 404 `M_UNRECOGNIZED` with the CORS headers, on its path. It needs no hook.
#[tokio::test]
async fn unimplemented_operations_answer_their_stub() {
    let contract = contract();
    let stubs: Vec<&Operation> = contract.operations().iter().filter(|o| o.not_implemented).collect();
    let failures = check_stubs(&stubs).await;
    println!("contract: checked {} stubs", stubs.len());
    assert!(failures.is_empty(), "{} stub failures:\n{}", failures.len(), failures.join("\n"));
}

async fn check_stubs(stubs: &[&Operation]) -> Vec<String> {
    let mut failures = Vec::new();
    if stubs.is_empty() {
        return failures;
    }
    let fixture = Fixture::start(Setup::Open);
    for operation in stubs {
        // Any value serves a path parameter: the stub reads none.
        let path = operation
            .path
            .split('/')
            .map(|segment| if segment.starts_with('{') { "stub" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        let example = &operation.requests[0];
        let answer = fixture.send(&operation.method, &path, &example.query, example.body.as_ref(), None).await;
        let cors = answer.headers.get("access-control-allow-origin").is_some();
        if answer.status != 404 || answer.body["errcode"] != "M_UNRECOGNIZED" || !cors {
            failures.push(format!(
                "{} ({} {path}) is marked x-not-implemented but answered {} {} (CORS headers: {cors})",
                operation.id, operation.method, answer.status, answer.body
            ));
        } else if let Err(violation) = operation.check("stub", 404, &answer.body) {
            failures.push(violation.to_string());
        }
    }
    failures
}

/// Examples are contract: give the whoami 401 example the `errcode`
/// `M_FORBIDDEN` (the server answers `M_MISSING_TOKEN`) and the check
/// fails, naming the example and both codes; mark it illustrative and it
/// passes. The operation is found by its path, not its `operationId`.
#[tokio::test]
async fn an_example_the_server_does_not_answer_is_caught() {
    const WHOAMI: &str = "/_matrix/client/v3/account/whoami";
    let mut document: Value = serde_json::from_str(DOCUMENT).unwrap();
    let media = &mut document["paths"][WHOAMI]["get"]["responses"]["401"]["content"]["application/json"];
    let mut examples: Vec<&mut Value> =
        media["examples"].as_object_mut().into_iter().flat_map(|e| e.values_mut()).collect();
    let wrong = examples
        .iter_mut()
        .find(|e| e["value"]["errcode"] == "M_MISSING_TOKEN")
        .expect("a 401 example with M_MISSING_TOKEN");
    wrong["value"]["errcode"] = "M_FORBIDDEN".into();
    let outcome = errors_of(&document, WHOAMI).await;
    assert!(
        outcome.failures.iter().any(|f| f.contains(r#"is "M_MISSING_TOKEN" where the example has "M_FORBIDDEN""#)),
        "{:?}",
        outcome.failures
    );

    let media = &mut document["paths"][WHOAMI]["get"]["responses"]["401"]["content"]["application/json"];
    media["x-illustrative"] = "a test marks it".into();
    let outcome = errors_of(&document, WHOAMI).await;
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
}

async fn errors_of(document: &Value, path: &str) -> Outcome {
    let contract = Contract::new(document).unwrap();
    let operation = contract.operations().iter().find(|o| o.path == path && o.method == "GET").unwrap();
    let mut outcome = Outcome::default();
    check_errors(operation, &mut outcome).await;
    outcome
}

/// A YAML-only operation stays green: marked `x-not-implemented`, it is
/// checked as its stub and needs no hook; unmarked (implemented), it has no
/// hook and fails, naming where to add one. The fixture operation's path
/// is not routed by this server, whose fallback answers like a stub.
#[tokio::test]
async fn a_yaml_only_operation_needs_no_hook() {
    let mut document: Value = serde_json::from_str(DOCUMENT).unwrap();
    document["paths"]["/_matrix/client/v3/greeting/{name}"] = json!({"get": {
        "operationId": "getGreeting",
        "x-not-implemented": true,
        "responses": {"404": {"description": "not implemented", "content": {"application/json": {
            "schema": {"type": "object", "required": ["errcode"], "properties": {"errcode": {"type": "string"}}},
            "example": {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}
        }}}}
    }});
    let contract = Contract::new(&document).unwrap();
    let greeting = contract.operation("getGreeting").unwrap();
    assert!(greeting.not_implemented);
    assert_eq!(check_stubs(&[greeting]).await, Vec::<String>::new());

    document["paths"]["/_matrix/client/v3/greeting/{name}"]["get"]["x-not-implemented"] = false.into();
    let contract = Contract::new(&document).unwrap();
    let greeting = contract.operation("getGreeting").unwrap();
    let fixture = Fixture::start(Setup::Open);
    let Err(why) = arrange(&fixture, greeting, &greeting.requests[0]).await else { panic!("a hook for getGreeting") };
    assert!(why.contains("`fn arrange` in tests/it/contract.rs"), "{why}");
}
