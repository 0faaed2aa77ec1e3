//! Swagger 2.0 into OpenAPI 3.0: prefixes, bodies, forms, responses,
//! security definitions, definitions and string-encoded examples.

mod common;

use common::{assert_no_errors, document, lines, load};
use serde_json::json;

#[test]
fn base_path_becomes_the_prefix_with_placeholders_substituted() {
    let spec = load("swagger2");
    assert_no_errors(&spec);
    let paths: Vec<&str> = spec.routes.iter().map(|r| r.path.as_str()).collect();
    assert!(paths.contains(&"/_matrix/client/v3/login"), "{paths:?}");
    assert!(paths.contains(&"/_matrix/client/v2_alpha/register"), "{paths:?}");
    let login = spec.routes.iter().find(|r| r.operation_id == "login").unwrap();
    assert_eq!(login.route_id, "login");
    assert_eq!(login.method, "POST");
    assert_eq!(login.prefix, "/_matrix/client/v3");
    assert_eq!(login.source.to_string(), "swagger2/v1/login.yaml:14:5");
    assert_eq!(login.source.pointer(), "/paths/~1login/post");
    assert_eq!(spec.operations, 4);
    assert_eq!(spec.files, 5);
}

#[test]
fn body_parameter_becomes_a_request_body_with_a_parsed_example() {
    let spec = load("swagger2");
    let doc = document(&spec);
    let body = &doc["paths"]["/_matrix/client/v3/login"]["post"]["requestBody"];
    assert_eq!(body["required"], json!(true));
    // The inline body is published as a schema named after the operation.
    let media = &body["content"]["application/json"];
    assert_eq!(media["schema"], json!({"$ref": "#/components/schemas/LoginRequest"}));
    let schema = &doc["components"]["schemas"]["LoginRequest"];
    assert_eq!(schema["type"], "object");
    // `example: |- {...}` (a string holding JSON) became the JSON value,
    // copied to the media type, which keeps the operation's example.
    assert_eq!(schema["example"], json!({"type": "m.login.pasword", "user": "cheeky_monkey"}));
    assert_eq!(media["example"], schema["example"]);
}

#[test]
fn responses_get_content_schemas_and_examples() {
    let spec = load("swagger2");
    let doc = document(&spec);
    let responses = &doc["paths"]["/_matrix/client/v3/login"]["post"]["responses"];
    let ok = &responses["200"]["content"]["application/json"];
    assert_eq!(ok["schema"]["$ref"], "#/components/schemas/LoginResponse");
    assert_eq!(ok["example"]["user_id"], "@cheeky_monkey:example.org");
    assert_eq!(responses["429"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error");
}

#[test]
fn operation_fields_and_extensions_are_carried() {
    let spec = load("swagger2");
    let doc = document(&spec);
    let login = &doc["paths"]["/_matrix/client/v3/login"]["post"];
    assert_eq!(login["operationId"], "login");
    assert_eq!(login["summary"], "Log in.");
    assert_eq!(login["tags"], json!(["Session"]));
    assert_eq!(login["x-addedInMatrixVersion"], "1.0");
    assert_eq!(login["security"], json!([{"accessToken": []}]));
    assert_eq!(doc["tags"], json!([{"name": "Session"}]));
}

#[test]
fn security_definitions_behind_a_ref_become_security_schemes() {
    let doc = document(&load("swagger2"));
    assert_eq!(
        doc["components"]["securitySchemes"]["accessToken"],
        json!({"type": "apiKey", "name": "access_token", "in": "query"})
    );
}

#[test]
fn query_parameters_get_schemas_styles_and_examples() {
    let spec = load("swagger2");
    let doc = document(&spec);
    let parameters = &doc["paths"]["/_matrix/client/v3/search"]["get"]["parameters"];
    assert_eq!(parameters[0]["schema"], json!({"type": "array", "items": {"type": "string"}}));
    // Style and explode through the typed model: whether openapiv3 writes
    // defaults out depends on a feature another crate of the build may set.
    let search = spec.document.paths.paths["/_matrix/client/v3/search"].as_item().unwrap().get.as_ref().unwrap();
    let openapiv3::ReferenceOr::Item(openapiv3::Parameter::Query { style, parameter_data, .. }) = &search.parameters[0]
    else {
        panic!("the first parameter is an inline query parameter");
    };
    assert_eq!(*style, openapiv3::QueryStyle::Form);
    assert_eq!(parameter_data.explode, Some(true));
    assert_eq!(parameters[0]["example"], json!(["a", "b"]));
    assert_eq!(parameters[1]["schema"], json!({"type": "integer", "minimum": 0}));
    assert_eq!(parameters[1]["example"], json!(10));
}

#[test]
fn form_data_and_files() {
    let doc = document(&load("swagger2"));
    let upload = &doc["paths"]["/_matrix/client/v3/upload"]["post"];
    let schema = &upload["requestBody"]["content"]["multipart/form-data"]["schema"];
    assert_eq!(schema["properties"]["file"], json!({"type": "string", "format": "binary"}));
    assert_eq!(schema["required"], json!(["file"]));
    let response = &upload["responses"]["200"]["content"]["application/octet-stream"]["schema"];
    assert_eq!(response, &json!({"type": "string", "format": "binary"}));
}

#[test]
fn same_stem_different_content_gets_a_qualified_name() {
    let doc = document(&load("swagger2"));
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let names: Vec<&String> = schemas.keys().collect();
    assert_eq!(names, ["Error", "LoginRequest", "LoginResponse", "RegisterRequest", "V2Error"]);
    let register = &doc["paths"]["/_matrix/client/v2_alpha/register"]["post"]["responses"];
    assert_eq!(register["400"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/V2Error");
    // The same file reached from another folder is the same schema.
    assert_eq!(register["401"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error");
}

#[test]
fn the_typo_in_a_string_encoded_example_is_reported_at_its_source() {
    let spec = load("swagger2");
    let lines = lines(&spec);
    assert!(
        spec.diagnostics.iter().zip(&lines).any(|(d, l)| d.location.pointer()
            == "/paths/~1login/post/parameters/0/schema/example"
            && l.starts_with("swagger2/v1/login.yaml:")
            && d.rule == specgen::Rule::ExampleTypo
            && l.contains("\"m.login.pasword\"")
            && l.contains("typo of \"m.login.password\"")),
        "{lines:#?}"
    );
    assert_eq!(spec.examples, 4);
}

/// `x-basePaths` serves a 2.0 document's operations under more prefixes
/// than its `basePath` (a repeat is served once); the routes under the
/// others are named after their prefix's last segment, or the whole prefix
/// when the operationId already ends with that segment.
#[test]
fn more_base_paths_give_more_routes() {
    let spec = load("swagger2_base_paths");
    assert_no_errors(&spec);
    let routes: Vec<(&str, &str)> = spec.routes.iter().map(|r| (r.route_id.as_str(), r.path.as_str())).collect();
    assert_eq!(
        routes,
        [
            ("changePasswordV2Alpha", "/_matrix/client/api/v2_alpha/account/password"),
            ("changePasswordV2Alpha_MatrixClientV2Alpha", "/_matrix/client/v2_alpha/account/password"),
            ("whoami", "/_matrix/client/api/v2_alpha/account/whoami"),
            ("whoami_V2Alpha", "/_matrix/client/v2_alpha/account/whoami"),
        ]
    );
    assert_eq!(spec.operations, 2);
}
