//! The HTTP surface comes from `api/`: every described route answers in the
//! Matrix shape, with CORS headers, and so do preflights and wrong methods.

use crate::common;

use common::{Answer, TestServer, call, client};
use serde_json::{Value, json};

const DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// Every (method, path) of the published document.
fn routes() -> Vec<(String, String)> {
    let document: Value = serde_json::from_str(DOCUMENT).unwrap();
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

fn assert_cors(answer: &Answer, what: &str) {
    assert_eq!(
        answer.headers.get("access-control-allow-origin").map(|v| v.to_str().unwrap()),
        Some("*"),
        "{what}: no CORS header"
    );
}

#[tokio::test]
async fn every_route_answers_from_the_generated_layer() {
    let server = TestServer::start();
    let routes = routes();
    assert!(routes.len() >= 7, "the document lists {} routes", routes.len());
    for (method, path) in routes {
        let body = (method != "GET").then(|| json!({}));
        let answer = call(&server, &method, &path, body.as_ref(), None).await;
        let what = format!("{method} {path} → {}", answer.status);
        assert!(answer.status < 500, "{what}");
        // Every answer is a JSON object, but the reference page's.
        let page = path == "/docs" && answer.body.as_str().is_some_and(|page| page.starts_with("<!DOCTYPE html>"));
        assert!(answer.body.is_object() || page, "{what}: not a JSON object: {}", answer.body);
        if answer.status >= 400 {
            assert!(answer.errcode().starts_with("M_") || answer.body.get("flows").is_some(), "{what}: no errcode");
        }
        assert_cors(&answer, &what);
    }
}

#[tokio::test]
async fn preflights_and_wrong_methods_are_answered() {
    let server = TestServer::start();
    let routes = routes();
    for (method, path) in routes.clone() {
        let preflight = client().request(reqwest::Method::OPTIONS, server.url(&path)).send().await.unwrap();
        let preflight = Answer::from(preflight).await;
        assert!(matches!(preflight.status, 200 | 204), "OPTIONS {path} → {}", preflight.status);
        assert_cors(&preflight, &format!("OPTIONS {path}"));
        assert_eq!(
            preflight.headers.get("access-control-allow-headers").map(|v| v.to_str().unwrap()),
            Some("X-Requested-With, Content-Type, Authorization")
        );

        // A method the path serves for no operation (`/devices/{deviceId}`
        // serves GET, PUT and DELETE).
        let served: Vec<String> = routes.iter().filter(|(_, p)| *p == path).map(|(m, _)| m.clone()).collect();
        let wrong = ["PUT", "PATCH"].into_iter().find(|m| !served.iter().any(|s| s == m)).expect("an unserved method");
        let answer = call(&server, wrong, &path, None, None).await;
        assert_eq!((answer.status, answer.errcode()), (405, "M_UNRECOGNIZED"), "{wrong} {path}");
        let allow = answer.headers.get("allow").expect("an Allow header").to_str().unwrap();
        assert!(allow.contains(&method), "{wrong} {path}: Allow: {allow}");
        assert_cors(&answer, &format!("{wrong} {path}"));
    }
}

#[tokio::test]
async fn the_published_document_is_the_committed_one() {
    let server = TestServer::start();
    let served = call(&server, "GET", "/openapi.json", None, None).await;
    assert_eq!(served.status, 200);
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/generated/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(served.body, committed, "GET /openapi.json differs from generated/openapi.json");
    assert_eq!(served.body["openapi"].as_str().map(|v| &v[..4]), Some("3.0."));
}

#[tokio::test]
async fn bodies_are_read_the_matrix_way() {
    let server = TestServer::start();
    let path = "/_matrix/client/api/v2_alpha/tokenrefresh";
    let not_json = common::call_raw(&server, "POST", path, b"{\"refresh_token\": ".to_vec()).await;
    assert_eq!((not_json.status, not_json.errcode()), (400, "M_NOT_JSON"));
    let not_utf8 = common::call_raw(&server, "POST", path, vec![0xff, 0xfe, 0x7b]).await;
    assert_eq!((not_utf8.status, not_utf8.errcode()), (400, "M_NOT_JSON"));
    let wrong_type = call(&server, "POST", path, Some(&json!({"refresh_token": 12})), None).await;
    assert_eq!((wrong_type.status, wrong_type.errcode()), (400, "M_BAD_JSON"));
    let array = call(&server, "POST", path, Some(&json!([1])), None).await;
    assert_eq!((array.status, array.errcode()), (400, "M_BAD_JSON"));
    let missing = call(&server, "POST", path, Some(&json!({})), None).await;
    assert_eq!((missing.status, missing.errcode()), (400, "M_MISSING_PARAM"));
    assert!(missing.body["error"].as_str().unwrap().contains("refresh_token"), "{}", missing.body);
    let huge = common::call_raw(&server, "POST", path, vec![b' '; 65 * 1024]).await;
    assert_eq!((huge.status, huge.errcode()), (413, "M_TOO_LARGE"));
}
