//! What a browser client needs from today's paths: CORS headers on every
//! answer (errors, UIA challenges and rate limits included), preflights on
//! every path, served or not, Matrix-shaped 404s and 405s, and `/versions`.

use crate::common;
use crate::v3_support;

use common::{Answer, TestServer, call, call_raw, call_raw_with, client};
use matrix_accounts::config::{Bucket, RateLimits};
use serde_json::json;
use v3_support::{PASSWORD, PREFIXES, R0, V3, assert_error, ok, user};

const CORS: [(&str, &str); 3] = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("access-control-allow-headers", "X-Requested-With, Content-Type, Authorization"),
];

#[track_caller]
fn assert_cors(answer: &Answer, what: &str) {
    for (name, value) in CORS {
        let got = answer.headers.get(name).map(|v| v.to_str().unwrap());
        assert_eq!(got, Some(value), "{what}: {name}");
    }
}

/// Every (method, path) served under today's prefixes, and `/versions`.
fn routes() -> Vec<(&'static str, String)> {
    let mut routes = vec![("GET", "/_matrix/client/versions".to_owned())];
    for prefix in PREFIXES {
        for (method, path) in [
            ("POST", "/register"),
            ("GET", "/register/available"),
            ("GET", "/login"),
            ("POST", "/login"),
            ("POST", "/logout"),
            ("POST", "/logout/all"),
            ("GET", "/account/whoami"),
            ("POST", "/account/password"),
            ("GET", "/account/3pid"),
            ("POST", "/account/3pid"),
            ("POST", "/account/3pid/add"),
            ("POST", "/account/3pid/delete"),
            ("POST", "/account/3pid/bind"),
            ("POST", "/account/3pid/unbind"),
        ] {
            routes.push((method, format!("{prefix}{path}")));
        }
    }
    routes.push(("POST", format!("{V3}/refresh")));
    routes
}

#[tokio::test]
async fn every_answer_carries_cors_headers() {
    let server = TestServer::start();
    let token = user(&server, V3, "cora").await;
    for (index, (method, path)) in routes().into_iter().enumerate() {
        for token in [None, Some(token.as_str()), Some("mat_unknown")] {
            let body = (method == "POST").then(|| json!({}));
            let answer = call(&server, method, &path, body.as_ref(), token).await;
            let what = format!("{method} {path} → {} {}", answer.status, answer.body);
            assert!(answer.status < 500, "{what}");
            assert_cors(&answer, &what);
            if answer.status >= 400 && answer.status != 401 {
                assert!(answer.errcode().starts_with("M_"), "{what}");
            }
        }
        // Bodies that cannot be read are answered by our code too (with a
        // token of its own: the token is checked first).
        if method == "POST" {
            let own = user(&server, V3, &format!("cora{index}")).await;
            for (body, status, errcode) in
                [(b"{not json".to_vec(), 400, "M_NOT_JSON"), (vec![b' '; 65 * 1024], 413, "M_TOO_LARGE")]
            {
                let answer = call_raw_with(&server, method, &path, body, &[], Some(&own)).await;
                assert_error(&answer, status, errcode);
                assert_cors(&answer, &path);
            }
        }
    }
}

#[tokio::test]
async fn preflights_on_every_served_path() {
    let server = TestServer::start();
    for (method, path) in routes() {
        let preflight = client()
            .request(reqwest::Method::OPTIONS, server.url(&path))
            .header("origin", "https://app.example.org")
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "authorization, content-type")
            .send()
            .await
            .unwrap();
        let preflight = Answer::from(preflight).await;
        assert!(matches!(preflight.status, 200 | 204), "OPTIONS {path} → {}", preflight.status);
        assert_cors(&preflight, &format!("OPTIONS {path}"));
    }
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths() {
    let server = TestServer::start();
    for (method, path) in routes() {
        for wrong in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if wrong == method || routes().contains(&(wrong, path.clone())) {
                continue;
            }
            let answer = call(&server, wrong, &path, None, None).await;
            let what = format!("{wrong} {path}");
            assert_error(&answer, 405, "M_UNRECOGNIZED");
            let allow = answer.headers.get("allow").unwrap_or_else(|| panic!("{what}: no Allow")).to_str().unwrap();
            assert!(allow.contains(method), "{what}: Allow: {allow}");
            assert_cors(&answer, &what);
        }
    }
    // Paths no operation describes: 404 M_UNRECOGNIZED, which clients that
    // probe optional endpoints read, with CORS so that browsers can; a
    // trailing slash names another path, as for the reference server.
    let unknown = [
        format!("{V3}/nonexistent"),
        format!("{R0}/account/whoami/extra"),
        format!("{V3}/versions"),
        format!("{V3}/login/"),
        "/foo".to_owned(),
        "/_synapse/admin/v1/nope".to_owned(),
    ];
    for path in unknown {
        let what = format!("GET {path}");
        let answer = call(&server, "GET", &path, None, None).await;
        assert_error(&answer, 404, "M_UNRECOGNIZED");
        assert_cors(&answer, &what);
        let preflight =
            Answer::from(client().request(reqwest::Method::OPTIONS, server.url(&path)).send().await.unwrap()).await;
        assert!(matches!(preflight.status, 200 | 204), "OPTIONS {path}: {}", preflight.status);
        assert_cors(&preflight, &format!("OPTIONS {path}"));
    }
}

#[tokio::test]
async fn versions_is_unprefixed() {
    let server = TestServer::start();
    let versions = ok(call(&server, "GET", "/_matrix/client/versions", None, None).await);
    let list: Vec<&str> = versions["versions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    // r0 clients and today's: v1.1 introduced /v3, v1.3 /refresh.
    for version in ["r0.6.1", "v1.1", "v1.3"] {
        assert!(list.contains(&version), "{list:?}");
    }
    assert!(versions["unstable_features"].is_object(), "{versions}");
    for prefix in PREFIXES {
        assert_eq!(call(&server, "GET", &format!("{prefix}/versions"), None, None).await.status, 404);
    }
}

#[tokio::test]
async fn bodies_are_json_objects_whatever_the_content_type() {
    let server = TestServer::start();
    for prefix in PREFIXES {
        let name = format!("dee{}", &prefix[16..]);
        let token = user(&server, prefix, &name).await;
        let path = format!("{prefix}/login");
        // curl's default form encoding, or none: the body is read as JSON.
        let body = json!({"type": "m.login.password", "user": name, "password": PASSWORD}).to_string();
        for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
            let request = client().post(server.url(&path)).header("content-type", content_type).body(body.clone());
            ok(Answer::from(request.send().await.unwrap()).await);
        }
        // A JSON value that is not an object is refused, never read as a
        // struct's fields in order.
        for not_object in [json!(["m.login.password", name, PASSWORD]), json!("text"), json!(3), json!(null)] {
            let answer = call(&server, "POST", &path, Some(&not_object), None).await;
            assert_error(&answer, 400, "M_BAD_JSON");
        }
        let refresh = call(&server, "POST", &format!("{V3}/refresh"), Some(&json!(["mar_x"])), None).await;
        assert_error(&refresh, 400, "M_BAD_JSON");
        let logout = call(&server, "POST", &format!("{prefix}/logout"), Some(&json!([])), Some(&token)).await;
        assert_error(&logout, 400, "M_BAD_JSON");
        assert_error(&call_raw(&server, "POST", &path, vec![0xff, 0xfe]).await, 400, "M_NOT_JSON");
        assert_error(&call_raw(&server, "POST", &path, Vec::new()).await, 400, "M_NOT_JSON");
    }
}

#[tokio::test]
async fn rate_limits_answer_like_every_error() {
    // Synapse's limits, but one registration per 100 s.
    let server = TestServer::with(|c| {
        c.rate_limits = RateLimits::default();
        c.rate_limits.register = Bucket { per_second: 0.01, burst: 1 };
    });
    let first = v3_support::register_with(&server, V3, "rita", json!({})).await;
    ok(first);
    let limited = v3_support::register_with(&server, R0, "rhea", json!({})).await;
    assert_error(&limited, 429, "M_LIMIT_EXCEEDED");
    assert!(limited.body["retry_after_ms"].as_u64().unwrap() > 0, "{}", limited.body);
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 0);
    assert_cors(&limited, "429");
}
