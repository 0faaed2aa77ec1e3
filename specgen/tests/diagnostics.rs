//! Every diagnostic names the file and the YAML path, and loading goes on
//! past each problem.

mod common;

use common::{assert_no_errors, document, fixture, lines, load};
use serde_json::json;
use specgen::{Options, Severity};

#[test]
fn a_broken_ref_is_an_error_naming_file_and_yaml_path() {
    let spec = load("broken_ref");
    assert_eq!(
        lines(&spec),
        [
            "broken_ref/api.yaml:11:13: error[unresolved-ref]: cannot resolve `definitions/missing.yaml`: file broken_ref/definitions/missing.yaml not found",
            "broken_ref/api.yaml:15:13: error[unresolved-ref]: cannot resolve `#/definitions/Nope`: broken_ref/api.yaml has nothing at `#/definitions/Nope`",
        ]
    );
    // The rest is still there.
    assert_eq!(spec.routes.len(), 2);
}

#[test]
fn cycles_through_schemas_are_cut_by_names_and_other_cycles_reported() {
    let spec = load("cycle");
    assert_eq!(
        lines(&spec),
        ["cycle/api.yaml:32:7: error[ref-cycle]: `#/components/parameters/loop` is part of a reference cycle"]
    );
    let doc = document(&spec);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Node"]["properties"]["children"]["items"]["$ref"], "#/components/schemas/Node");
    assert_eq!(schemas["Ping"]["properties"]["pong"]["$ref"], "#/components/schemas/Pong");
    assert_eq!(schemas["Pong"]["properties"]["ping"]["$ref"], "#/components/schemas/Ping");
    // The recursive example is checked through the recursive schema.
    assert_eq!(spec.examples, 1);
}

#[test]
fn duplicate_operation_ids_and_routes_name_both_places() {
    let spec = load("duplicates");
    assert_eq!(
        lines(&spec),
        [
            "duplicates/a.yaml:11:5: warning[missing-operation-id]: operation has no `operationId`; `postLogout` is used meanwhile",
            "duplicates/b.yaml:6:5: error[duplicate-operation-id]: operationId `login` is already used at duplicates/a.yaml:6:5",
            "duplicates/b.yaml:11:5: error[duplicate-route]: `POST /api/login` is already defined at duplicates/a.yaml:6:5",
        ]
    );
    let ids: Vec<&str> = spec.routes.iter().map(|r| r.route_id.as_str()).collect();
    assert_eq!(ids, ["login", "postLogout", "login2"]);
}

#[test]
fn contradicting_examples_are_warnings_at_their_source() {
    let spec = load("contradiction");
    assert!(!spec.has_errors());
    let lines = lines(&spec);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with("contradiction/api.yaml:11:11: warning[example-mismatch]: example does not match its schema: at (root): \"ten\" is not of type \"integer\""), "{lines:#?}");
    assert!(lines[1].starts_with("contradiction/api.yaml:23:15: warning[example-mismatch]: "));
    assert!(lines[1].contains("\"user_id\" is a required property"));
    assert!(lines[2].starts_with("contradiction/api.yaml:33:17: warning[example-mismatch]: "));
    let pointers: Vec<String> = spec.diagnostics.iter().map(|d| d.location.pointer()).collect();
    assert_eq!(
        pointers,
        [
            "/paths/~1whoami/get/parameters/0/example",
            "/paths/~1whoami/get/responses/200/content/application~1json/example",
            "/paths/~1whoami/get/responses/401/content/application~1json/schema/example",
        ]
    );
    assert!(lines[2].contains("at /errcode: 42 is not of type \"string\""));
    assert_eq!(spec.examples, 4);
}

#[test]
fn strict_mode_makes_contradictions_errors() {
    let options = Options { strict: true, ..Options::matrix() };
    let spec = specgen::load_dir(&fixture("contradiction"), &options);
    assert_eq!(spec.errors().count(), 3);
    assert!(spec.diagnostics.iter().all(|d| d.severity == Severity::Error));
}

#[test]
fn strict_mode_makes_a_missing_operation_id_an_error_at_the_operation() {
    let options = Options { strict: true, ..Options::matrix() };
    let spec = specgen::load_dir(&fixture("index"), &options);
    let error = spec.errors().next().expect("an error");
    assert_eq!(error.rule, specgen::Rule::MissingOperationId);
    assert_eq!(error.rule.id(), "missing-operation-id");
    assert_eq!(error.location.file, std::path::Path::new("index/account.yaml"));
    assert_eq!(error.location.position, Some(specgen::Position { line: 6, column: 5 }));
    assert_eq!(error.location.pointer(), "/paths/~1account~13pid/get");
    assert_eq!(
        error.to_string(),
        format!(
            "index/account.yaml:6:5: error[missing-operation-id]: operation has no `operationId`; `getAccount3pid` is used meanwhile (at /paths/~1account~13pid/get; hint: {})",
            error.rule.hint()
        )
    );
}

#[test]
fn every_diagnostic_has_a_line_and_column() {
    for name in ["broken_ref", "cycle", "duplicates", "contradiction", "index", "openapi31", "swagger2", "unparseable"]
    {
        let spec = load(name);
        for diagnostic in &spec.diagnostics {
            assert!(diagnostic.location.position.is_some(), "{name}: {diagnostic}");
        }
    }
}

#[test]
fn an_unparseable_file_is_an_error_and_the_rest_loads() {
    let spec = load("unparseable");
    let lines = lines(&spec);
    assert_eq!(lines.len(), 1);
    // The parser's own position of the syntax error.
    assert!(lines[0].starts_with("unparseable/broken.yaml:"), "{lines:?}");
    assert!(lines[0].contains(": error[yaml-syntax]: invalid YAML:"), "{lines:?}");
    assert!(spec.diagnostics[0].location.position.is_some(), "{lines:?}");
    assert_eq!(spec.routes.len(), 1);
    assert_eq!(spec.files, 2);
}

#[test]
fn index_yaml_gives_info_servers_tags_and_schemes() {
    let spec = load("index");
    assert_no_errors(&spec);
    let doc = document(&spec);
    assert_eq!(doc["info"], json!({"title": "Account API", "version": "0.1.0"}));
    assert_eq!(doc["servers"], json!([{"url": "/"}]));
    assert_eq!(
        doc["tags"],
        json!([
            {"name": "Session", "description": "Logging in and out."},
            {"name": "Accounts"},
            {"name": "Threepids"}
        ])
    );
    assert_eq!(doc["components"]["securitySchemes"]["accessToken"]["name"], "access_token");
    // No operationId: a warning (without `strict`) and a derived one.
    assert_eq!(
        lines(&spec),
        [
            "index/account.yaml:6:5: warning[missing-operation-id]: operation has no `operationId`; `getAccount3pid` is used meanwhile"
        ]
    );
    assert_eq!(doc["paths"]["/_matrix/client/api/v1/account/3pid"]["get"]["operationId"], "getAccount3pid");
}

#[test]
fn refs_leave_the_loaded_folder_and_examples_embed_files() {
    let spec = load("outside/api");
    assert_no_errors(&spec);
    assert_eq!(spec.files, 3);
    let doc = document(&spec);
    let ok = &doc["paths"]["/api/events"]["get"]["responses"]["200"]["content"]["application/json"];
    assert_eq!(ok["schema"]["items"]["$ref"], "#/components/schemas/Event");
    assert_eq!(ok["example"], json!([{"content": {"body": "Hello"}, "type": "m.room.message"}]));
    assert!(doc["components"]["schemas"]["Event"].get("$schema").is_none());
    assert_eq!(spec.examples, 1);
    assert!(spec.warnings().next().is_none(), "{:?}", lines(&spec));
}
