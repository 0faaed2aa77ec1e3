//! Behind a trusted reverse proxy, per-IP rate limits apply to the client
//! named in `X-Forwarded-For`; from anyone else, that header is ignored
//! (a client cannot pick its own bucket).

use crate::common;

use common::{TestServer, call_raw_with};
use matrix_accounts::config::Bucket;
use serde_json::json;
use std::net::IpAddr;

/// One registration per address, then 429.
fn server(trusted_proxies: &[IpAddr]) -> TestServer {
    TestServer::with(|c| {
        c.trusted_proxies = trusted_proxies.to_vec();
        c.rate_limits.enabled = true;
        c.rate_limits.register = Bucket { per_second: 0.001, burst: 1 };
    })
}

async fn register(server: &TestServer, name: &str, forwarded_for: &str) -> u16 {
    let body = json!({"username": name, "password": "pw", "auth": {"type": "m.login.dummy"}});
    let headers = [("X-Forwarded-For", forwarded_for), ("Content-Type", "application/json")];
    let path = "/_matrix/client/v3/register";
    call_raw_with(server, "POST", path, body.to_string().into_bytes(), &headers, None).await.status
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client() {
    let server = server(&[IpAddr::from([127, 0, 0, 1])]);
    assert_eq!(register(&server, "first", "203.0.113.7").await, 200);
    // Another client behind the same proxy has its own bucket.
    assert_eq!(register(&server, "second", "203.0.113.8").await, 200);
    // The first client again: its bucket is empty. Addresses the client
    // itself wrote before the proxy's are not believed.
    assert_eq!(register(&server, "third", "198.51.100.1, 203.0.113.7").await, 429);
}

#[tokio::test]
async fn anyone_else_cannot_choose_a_bucket() {
    let server = server(&[]);
    assert_eq!(register(&server, "first", "203.0.113.7").await, 200);
    assert_eq!(register(&server, "second", "203.0.113.8").await, 429);
}
