//! OpenAPI 3.1 into OpenAPI 3.0: server variables into prefixes and route
//! ids, nullable types, `const`, `examples`, numeric exclusive bounds,
//! refs with siblings, component refs inlined, unknown keys dropped.

mod common;

use common::{assert_no_errors, document, lines, load};
use serde_json::json;

#[test]
fn server_enum_values_give_one_route_per_prefix() {
    let spec = load("openapi31");
    assert_no_errors(&spec);
    let routes: Vec<(&str, &str, &str)> =
        spec.routes.iter().map(|r| (r.route_id.as_str(), r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(
        routes,
        [
            ("getRoom", "GET", "/_matrix/client/v3/rooms/{roomId}"),
            ("getRoom_R0", "GET", "/_matrix/client/r0/rooms/{roomId}"),
            ("getVersions", "GET", "/_matrix/client/versions"),
            ("getConfig", "GET", "/_matrix/media/v3/media/config"),
            ("getConfig_R0", "GET", "/_matrix/media/r0/media/config"),
        ]
    );
    assert!(spec.routes.iter().filter(|r| r.operation_id == "getRoom").count() == 2);
    assert_eq!(spec.operations, 3);
    let doc = document(&spec);
    assert_eq!(doc["paths"]["/_matrix/client/r0/rooms/{roomId}"]["get"]["operationId"], "getRoom_R0");
    assert_eq!(doc["servers"], json!([{"url": "/"}]));
    assert_eq!(doc["info"], json!({"title": "openapi31", "version": "0.0.0"}));
}

#[test]
fn nullable_types_const_and_examples() {
    let doc = document(&load("openapi31"));
    let room = &doc["components"]["schemas"]["Room"];
    let properties = &room["properties"];
    assert_eq!(properties["name"], json!({"type": "string", "nullable": true, "example": "Cats"}));
    assert_eq!(properties["topic"], json!({"nullable": true, "allOf": [{"type": "string"}]}));
    assert_eq!(properties["kind"], json!({"enum": ["m.room"]}));
    // A ref with a sibling keeps both.
    assert_eq!(
        properties["visibility"],
        json!({"description": "Who can see the room.", "allOf": [{"$ref": "#/components/schemas/Visibility"}]})
    );
    // Several types: one branch per type with its own keywords.
    assert_eq!(
        properties["size"],
        json!({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "maxLength": 10}]})
    );
}

#[test]
fn numeric_exclusive_bounds_become_booleans() {
    let doc = document(&load("openapi31"));
    // The inline response body is published as a named schema.
    let body = &doc["paths"]["/_matrix/media/v3/media/config"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert_eq!(body, &json!({"$ref": "#/components/schemas/GetConfigResponse"}));
    let size = &doc["components"]["schemas"]["GetConfigResponse"]["properties"]["size"];
    assert_eq!(size, &json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true}));
}

#[test]
fn parameters_responses_examples_and_schemes_behind_refs() {
    let doc = document(&load("openapi31"));
    let get_room = &doc["paths"]["/_matrix/client/v3/rooms/{roomId}"]["get"];
    assert_eq!(get_room["parameters"][0]["name"], "roomId");
    assert_eq!(get_room["parameters"][0]["example"], "!a:example.org");
    assert_eq!(get_room["deprecated"], json!(true));
    let ok = &get_room["responses"]["200"]["content"]["application/json"];
    assert_eq!(ok["schema"]["$ref"], "#/components/schemas/Room");
    assert_eq!(ok["examples"]["response"]["value"]["topic"], "Cats");
    let limited = &get_room["responses"]["429"];
    assert_eq!(limited["description"], "Rate-limited.");
    assert_eq!(limited["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/RateLimited");
    assert_eq!(doc["components"]["securitySchemes"]["accessTokenBearer"], json!({"type": "http", "scheme": "bearer"}));
    // The only refs left point at schemas.
    let text = serde_json::to_string(&doc).unwrap();
    for reference in text.split("\"$ref\":\"").skip(1) {
        assert!(reference.starts_with("#/components/schemas/"), "{reference}");
    }
}

#[test]
fn webhooks_are_dropped_with_a_warning() {
    let spec = load("openapi31");
    let lines = lines(&spec);
    assert_eq!(
        lines,
        ["openapi31/rooms.yaml:18:1: warning[dropped-key]: `webhooks` is dropped (webhooks are not served)"]
    );
    // The example with `name: null` validates against `type: [string, "null"]`.
    assert_eq!(spec.examples, 3);
}
