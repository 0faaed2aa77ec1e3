//! Rate limits and the errors every seed endpoint shares, over HTTP: 429
//! with `retry_after_ms` and `Retry-After`, the body errcodes, the size
//! limit, that no error writes anything, and 20 concurrent registrations of
//! one name.

use crate::common;
use crate::identity_server;

use std::net::IpAddr;

use common::{
    SEED_PASSWORD, SEED_V1, SEED_V2, TestServer, call, call_from, call_raw, call_raw_with, seed_login, seed_register,
    seed_user,
};
use matrix_accounts::config::{Bucket, Config};
use serde_json::{Value, json};

/// Cheap argon2 and rate limits on, with small buckets that do not refill
/// during a test (one attempt per 1000 s).
fn limited(config: &mut Config, enabled: bool) {
    let burst = |burst| Bucket { per_second: 0.001, burst };
    let limits = &mut config.rate_limits;
    limits.enabled = enabled;
    (limits.register, limits.login, limits.login_failed, limits.threepid) = (burst(2), burst(3), burst(2), burst(2));
}

fn other_ip() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

/// The seed's login from the loopback address `ip`.
async fn login_from(server: &TestServer, ip: IpAddr, user: &str, password: &str) -> common::Answer {
    let body = json!({"type": "m.login.password", "user": user, "password": password});
    call_from(server, ip, "POST", &format!("{SEED_V1}/login"), Some(&body), None).await
}

/// A 429 in the Matrix shape, with the wait in the body and the header.
fn assert_limited(answer: &common::Answer, what: &str) {
    assert_eq!((answer.status, answer.errcode()), (429, "M_LIMIT_EXCEEDED"), "{what}: {}", answer.body);
    let retry_after_ms = answer.body["retry_after_ms"].as_u64().unwrap_or_else(|| panic!("{what}: {}", answer.body));
    // One attempt per 1000 s: the next one is between 0 and 1000 s away.
    assert!((1..=1_000_000).contains(&retry_after_ms), "{what}: retry_after_ms {retry_after_ms}");
    let header = answer.headers.get("retry-after").unwrap_or_else(|| panic!("{what}: no Retry-After header"));
    let seconds: u64 = header.to_str().unwrap().parse().expect("Retry-After in whole seconds");
    assert_eq!(seconds, retry_after_ms.div_ceil(1000), "{what}: Retry-After is retry_after_ms in seconds, rounded up");
    assert_eq!(answer.headers.get("access-control-allow-origin").unwrap(), "*", "{what}: CORS on a 429");
}

#[tokio::test]
async fn registrations_are_limited_per_ip() {
    let server = TestServer::with(|c| limited(c, true));
    let register = format!("{SEED_V2}/register");
    // Refusals before UIA cost nothing.
    for _ in 0..3 {
        assert_eq!(seed_register(&server, "Bad Name!").await.status, 400);
    }
    // Starting a flow costs an attempt (it stores a UIA session and hashes
    // a password); the session's follow-ups cost nothing.
    let first = json!({"username": "reg1", "password": SEED_PASSWORD});
    let challenge = call(&server, "POST", &register, Some(&first), None).await;
    assert_eq!(challenge.status, 401, "{}", challenge.body);
    let session = challenge.body["session"].as_str().expect("a session").to_owned();
    for _ in 0..3 {
        let incomplete = json!({"auth": {"session": session}});
        assert_eq!(call(&server, "POST", &register, Some(&incomplete), None).await.status, 401);
    }
    let done = json!({"auth": {"type": "m.login.dummy", "session": session}});
    assert_eq!(call(&server, "POST", &register, Some(&done), None).await.status, 200);
    assert_eq!(seed_register(&server, "reg2").await.status, 200);
    let limited = seed_register(&server, "reg3").await;
    assert_limited(&limited, "third registration");
    // Limited even on the first UIA step, and nothing was created.
    assert_limited(&call(&server, "POST", &format!("{SEED_V2}/register"), Some(&json!({})), None).await, "first step");
    assert_eq!(seed_login(&server, "reg3", SEED_PASSWORD).await.status, 403);
    // Another address has its own bucket.
    let body = json!({"username": "reg3", "password": SEED_PASSWORD, "auth": {"type": "m.login.dummy"}});
    let elsewhere = call_from(&server, other_ip(), "POST", &format!("{SEED_V2}/register"), Some(&body), None).await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.body);
}

#[tokio::test]
async fn logins_are_limited_per_ip() {
    let server = TestServer::with(|c| limited(c, true));
    seed_user(&server, "alice").await;
    // Three logins from one address, each for a different (unknown) account...
    for i in 0..3 {
        assert_eq!(seed_login(&server, &format!("ghost{i}"), "x").await.status, 403);
    }
    // ...use up the address: even a right password for a fresh account is refused.
    assert_limited(&seed_login(&server, "alice", SEED_PASSWORD).await, "login per IP");
    let body = json!({"type": "m.login.password", "user": "alice", "password": SEED_PASSWORD});
    let elsewhere = call_from(&server, other_ip(), "POST", &format!("{SEED_V1}/login"), Some(&body), None).await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.body);
}

#[tokio::test]
async fn logins_are_limited_per_account() {
    let server = TestServer::with(|c| limited(c, true));
    seed_user(&server, "bob").await;
    seed_user(&server, "carol").await;
    let login = |user: &'static str, ip| login_from(&server, ip, user, SEED_PASSWORD);
    let (first, second) = (IpAddr::from([127, 0, 0, 3]), IpAddr::from([127, 0, 0, 4]));
    for _ in 0..3 {
        assert_eq!(login("bob", first).await.status, 200);
    }
    // Bob's account is used up, from any address; the new address is not.
    assert_limited(&login("bob", second).await, "login per account");
    assert_limited(&login("@BOB:localhost", second).await, "the same account by another name");
    assert_eq!(login("carol", second).await.status, 200);
}

/// Failures are counted per account *and* address, as Synapse keys them:
/// wrong passwords from one address lock that address out of the account
/// (under any name), never the owner's right password from another.
#[tokio::test]
async fn failed_logins_are_limited_per_account_and_address() {
    let server = TestServer::with(|c| limited(c, true));
    seed_user(&server, "dave").await;
    let stranger = IpAddr::from([127, 0, 0, 5]);
    // Two failures from one address, naming the account two ways...
    assert_eq!(login_from(&server, stranger, "dave", "wrong").await.status, 403);
    assert_eq!(login_from(&server, stranger, "@DAVE:LocalHost", "wrong").await.status, 403);
    // ...lock that address out, even with the right password, under any name...
    let limited = login_from(&server, stranger, "Dave", SEED_PASSWORD).await;
    assert_limited(&limited, "after failed logins");
    // ...but not the owner, from another address.
    let owner = login_from(&server, IpAddr::from([127, 0, 0, 7]), "dave", SEED_PASSWORD).await;
    assert_eq!(owner.status, 200, "{}", owner.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn adding_3pids_is_limited() {
    let identity = identity_server::IdentityServer::start();
    let server = TestServer::with(|c| {
        limited(c, true);
        c.identity.trusted_servers = vec![identity.address.clone()];
        c.identity.insecure_http = true;
    });
    let token = seed_user(&server, "erin").await;
    let path = format!("{SEED_V2}/account/3pid");
    let body = json!({"threePidCreds": identity.creds_json("s1", "secret1")});
    for _ in 0..2 {
        let answer = call(&server, "POST", &path, Some(&body), Some(&token)).await;
        assert_eq!(answer.errcode(), "M_THREEPID_AUTH_FAILED", "{}", answer.body);
    }
    assert_limited(&call(&server, "POST", &path, Some(&body), Some(&token)).await, "3pid");
    assert_eq!(identity.requests().len(), 2, "a limited request does not reach the identity server");
    // Per account too: erin from another address is still limited.
    let elsewhere = call_from(&server, other_ip(), "POST", &path, Some(&body), Some(&token)).await;
    assert_limited(&elsewhere, "3pid per account");
}

#[tokio::test]
async fn limits_switch_off_by_flag_or_config() {
    for server in
        [TestServer::with_args(&["--no-rate-limits"], |c| limited(c, true)), TestServer::with(|c| limited(c, false))]
    {
        for i in 0..5 {
            let answer = seed_register(&server, &format!("user{i}")).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
        for _ in 0..5 {
            assert_eq!(seed_login(&server, "user0", "wrong").await.status, 403);
            assert_eq!(seed_login(&server, "user0", SEED_PASSWORD).await.status, 200);
        }
    }
}

/// Every seed endpoint that takes a body, with a valid token where needed.
async fn body_endpoints(server: &TestServer) -> Vec<(String, Option<String>)> {
    let token = seed_user(server, "errors").await;
    vec![
        (format!("{SEED_V1}/login"), None),
        (format!("{SEED_V2}/register"), None),
        (format!("{SEED_V2}/tokenrefresh"), None),
        (format!("{SEED_V2}/account/password"), Some(token.clone())),
        (format!("{SEED_V2}/account/3pid"), Some(token)),
    ]
}

#[tokio::test]
async fn unreadable_bodies_are_not_json() {
    let server = TestServer::start();
    for (path, token) in body_endpoints(&server).await {
        for body in
            [b"{\"user\": ".to_vec(), vec![0xff, 0xfe, b'{', b'}'], b"{\"a\": \"\xc3\x28\"}".to_vec(), b"nope".to_vec()]
        {
            let answer = call_raw_with(&server, "POST", &path, body.clone(), &[], token.as_deref()).await;
            assert_eq!(
                (answer.status, answer.errcode()),
                (400, "M_NOT_JSON"),
                "{path} {:?}: {}",
                String::from_utf8_lossy(&body),
                answer.body
            );
            assert_eq!(answer.headers.get("access-control-allow-origin").unwrap(), "*");
        }
    }
}

#[tokio::test]
async fn wrong_shapes_are_bad_json_and_missing_fields_missing_param() {
    let server = TestServer::start();
    for (path, token) in body_endpoints(&server).await {
        for body in [json!([1, 2]), json!("hello"), json!(42), json!(null)] {
            let answer = call(&server, "POST", &path, Some(&body), token.as_deref()).await;
            assert_eq!((answer.status, answer.errcode()), (400, "M_BAD_JSON"), "{path} {body}: {}", answer.body);
        }
    }
    let wrong_types = [
        (format!("{SEED_V1}/login"), json!({"type": "m.login.password", "user": 1, "password": "x"})),
        (format!("{SEED_V2}/register"), json!({"username": 123, "password": "x"})),
        (format!("{SEED_V2}/register"), json!({"username": "x", "password": true})),
        (format!("{SEED_V2}/register"), json!({"auth": "m.login.dummy"})),
        (format!("{SEED_V2}/tokenrefresh"), json!({"refresh_token": {}})),
    ];
    for (path, body) in wrong_types {
        let answer = call(&server, "POST", &path, Some(&body), None).await;
        assert_eq!((answer.status, answer.errcode()), (400, "M_BAD_JSON"), "{path} {body}: {}", answer.body);
    }
    let missing = [
        (format!("{SEED_V1}/login"), json!({"type": "m.login.password", "user": "x"}), "password"),
        (format!("{SEED_V2}/tokenrefresh"), json!({}), "refresh_token"),
    ];
    for (path, body, field) in missing {
        let answer = call(&server, "POST", &path, Some(&body), None).await;
        assert_eq!((answer.status, answer.errcode()), (400, "M_MISSING_PARAM"), "{path} {body}: {}", answer.body);
        assert!(answer.body["error"].as_str().unwrap().contains(field), "{}", answer.body);
    }
    // A bad body never registered anyone.
    assert_eq!(seed_register(&server, "x").await.status, 200);
}

#[tokio::test]
async fn bodies_over_the_limit_are_too_large() {
    // The default limit is 64 KiB.
    let server = TestServer::start();
    let register = format!("{SEED_V2}/register");
    let padded = |size: usize, username: &str| {
        let body = json!({"username": username, "password": SEED_PASSWORD, "auth": {"type": "m.login.dummy"}});
        let mut bytes = body.to_string().into_bytes();
        bytes.resize(size, b' ');
        bytes
    };
    let huge = call_raw(&server, "POST", &register, padded(64 * 1024 + 1, "huge")).await;
    assert_eq!((huge.status, huge.errcode()), (413, "M_TOO_LARGE"), "{}", huge.body);
    assert_eq!(seed_login(&server, "huge", SEED_PASSWORD).await.status, 403, "nothing was registered");
    let fits = call_raw(&server, "POST", &register, padded(64 * 1024, "fits")).await;
    assert_eq!(fits.status, 200, "exactly 64 KiB is allowed: {}", fits.body);

    // The limit is configurable.
    let small = TestServer::with(|c| {
        limited(c, false);
        c.max_body_bytes = 1024;
    });
    let refused = call_raw(&small, "POST", &register, padded(1025, "small")).await;
    assert_eq!((refused.status, refused.errcode()), (413, "M_TOO_LARGE"), "{}", refused.body);
    for path in [format!("{SEED_V1}/login"), format!("{SEED_V2}/tokenrefresh")] {
        let answer = call_raw(&small, "POST", &path, vec![b' '; 4096]).await;
        assert_eq!((answer.status, answer.errcode()), (413, "M_TOO_LARGE"), "{path}: {}", answer.body);
    }
    assert_eq!(call_raw(&small, "POST", &register, padded(1024, "small")).await.status, 200);
}

#[tokio::test]
async fn no_error_path_writes_anything() {
    let server = TestServer::with(|c| c.registration.exclusive_namespaces = vec!["reserved_.*".into()]);
    let register = format!("{SEED_V2}/register");
    let failures: Vec<Value> = vec![
        json!({"username": "frank", "password": 5, "auth": {"type": "m.login.dummy"}}),
        json!({"username": "frank", "auth": {"type": "m.login.dummy"}}),
        json!({"username": "frank", "password": "", "auth": {"type": "m.login.dummy"}}),
        json!({"username": "frank", "password": SEED_PASSWORD, "auth": {"type": "m.login.recaptcha"}}),
        json!({"username": "frank", "password": SEED_PASSWORD, "auth": {"type": "m.login.dummy", "session": "x"}}),
        json!({"username": "frank", "password": SEED_PASSWORD, "auth": {"type": "m.login.dummy"}, "bind_email": "x"}),
    ];
    for body in failures {
        let answer = call(&server, "POST", &register, Some(&body), None).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert!(answer.body.get("access_token").is_none());
        // The name is still free (an availability check that writes nothing).
        let challenge = call(&server, "POST", &register, Some(&json!({"username": "frank"})), None).await;
        assert_eq!(challenge.status, 401, "after {body}: frank is free ({})", challenge.body);
    }
    assert_eq!(seed_register(&server, "reserved_x").await.errcode(), "M_EXCLUSIVE");
    assert_eq!(seed_register(&server, "frank").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_registrations_of_one_name() {
    let server = TestServer::start();
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..20 {
        let url = server.url(&format!("{SEED_V2}/register"));
        let body =
            json!({"username": "popular", "password": format!("password {i}"), "auth": {"type": "m.login.dummy"}});
        attempts.spawn(async move {
            let response = common::client().post(url).json(&body).send().await.expect("sending");
            (i, common::Answer::from(response).await)
        });
    }
    let answers = attempts.join_all().await;
    let mut winner = None;
    for (i, answer) in &answers {
        assert!(answer.status < 500, "attempt {i}: {} {}", answer.status, answer.body);
        match answer.status {
            200 => {
                assert!(winner.replace(*i).is_none(), "two registrations of one name succeeded");
                assert_eq!(answer.body["user_id"], "@popular:localhost");
            }
            _ => assert_eq!((answer.status, answer.errcode()), (400, "M_USER_IN_USE"), "attempt {i}: {}", answer.body),
        }
    }
    let winner = winner.expect("exactly one registration succeeds");
    // The account has the winner's password, nobody else's.
    assert_eq!(seed_login(&server, "popular", &format!("password {winner}")).await.status, 200);
    let loser = (winner + 1) % 20;
    assert_eq!(seed_login(&server, "popular", &format!("password {loser}")).await.status, 403);
}
