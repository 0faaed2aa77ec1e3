//! The breaking-change check: each kind of break is named with its operation
//! and field, harmless edits report nothing, and `$ref`s, `allOf` and
//! recursive schemas are followed.

use serde_json::{Value, json};
use specgen::compat::{BreakingChange, Change, Field, Place, breaking_changes, major_version_raised};

/// A small published document: login (a body and a `$ref`'d response),
/// register (a query parameter, `allOf`, a UIA challenge with nested arrays),
/// a path parameter and a recursive schema.
fn base() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1.0.0"},
        "paths": {
            "/_matrix/client/v3/login": {
                "post": {
                    "operationId": "login",
                    "summary": "Log in.",
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {
                                "type": {"type": "string", "enum": ["m.login.password", "m.login.token"]},
                                "user": {"type": "string"},
                                "password": {"type": "string"},
                                "device_id": {"type": "string"},
                                "attempt": {"type": "integer"}
                            },
                            "required": ["type"]
                        }}}
                    },
                    "responses": {
                        "200": {
                            "description": "Logged in.",
                            "headers": {"X-Session": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LoginResponse"}}}
                        },
                        "429": {"description": "Too fast.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                }
            },
            "/_matrix/client/v3/register": {
                "post": {
                    "operationId": "register",
                    "parameters": [
                        {"in": "query", "name": "kind", "schema": {"type": "string", "enum": ["user", "guest"]}}
                    ],
                    "requestBody": {
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {
                                "username": {"type": "string"},
                                "device_id": {"type": "string"},
                                "auth": {"allOf": [{"$ref": "#/components/schemas/AuthData"}]}
                            }
                        }}}
                    },
                    "responses": {
                        "200": {"description": "Registered.", "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {
                                "user_id": {"type": "string"},
                                "access_token": {"type": "string"},
                                "expires_in_ms": {"type": "integer"}
                            },
                            "required": ["user_id"]
                        }}}},
                        "401": {"description": "UIA.", "content": {"application/json": {"schema": {
                            "allOf": [{"$ref": "#/components/schemas/Error"}, {"$ref": "#/components/schemas/UiaChallenge"}]
                        }}}}
                    }
                }
            },
            "/_matrix/client/v3/rooms/{roomId}/filter": {
                "parameters": [{"in": "path", "name": "roomId", "required": true, "schema": {"type": "string"}}],
                "put": {
                    "operationId": "setFilter",
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Filter"}}}},
                    "responses": {"200": {"description": "Stored.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Filter"}}}}}
                }
            }
        },
        "components": {
            "schemas": {
                "LoginResponse": {
                    "type": "object",
                    "properties": {
                        "user_id": {"type": "string"},
                        "access_token": {"type": "string"},
                        "device_id": {"type": "string"},
                        "well_known": {"type": "object", "properties": {
                            "m.homeserver": {"type": "object", "properties": {"base_url": {"type": "string"}}}
                        }}
                    },
                    "required": ["user_id", "access_token"]
                },
                "Error": {
                    "type": "object",
                    "properties": {"errcode": {"type": "string"}, "error": {"type": "string"}},
                    "required": ["errcode"]
                },
                "UiaChallenge": {
                    "type": "object",
                    "properties": {
                        "flows": {"type": "array", "items": {
                            "type": "object",
                            "properties": {"stages": {"type": "array", "items": {"type": "string"}}},
                            "required": ["stages"]
                        }},
                        "session": {"type": "string"},
                        "kind": {"type": "string", "enum": ["dummy", "token"]}
                    },
                    "required": ["flows"]
                },
                "AuthData": {
                    "type": "object",
                    "properties": {"type": {"type": "string"}, "session": {"type": "string"}}
                },
                "Filter": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "and": {"type": "array", "items": {"$ref": "#/components/schemas/Filter"}}
                    }
                }
            }
        }
    })
}

/// The messages for `base()` against `base()` edited by `edit`.
fn after(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    changes_after(edit).iter().map(ToString::to_string).collect()
}

fn changes_after(edit: impl FnOnce(&mut Value)) -> Vec<BreakingChange> {
    let old = base();
    let mut new = base();
    edit(&mut new);
    breaking_changes(&old, &new)
}

/// The value at a JSON pointer, for editing.
fn at<'a>(doc: &'a mut Value, pointer: &str) -> &'a mut Value {
    doc.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer} in the test document"))
}

fn remove(doc: &mut Value, pointer: &str, key: &str) {
    at(doc, pointer).as_object_mut().unwrap().remove(key).unwrap_or_else(|| panic!("no {key} in {pointer}"));
}

const LOGIN: &str = "/paths/~1_matrix~1client~1v3~1login/post";
const REGISTER: &str = "/paths/~1_matrix~1client~1v3~1register/post";
const SCHEMAS: &str = "/components/schemas";

// --- operations ------------------------------------------------------------

#[test]
fn the_same_document_breaks_nothing() {
    assert_eq!(after(|_| {}), Vec::<String>::new());
}

#[test]
fn a_removed_operation_names_the_call_that_now_gets_404() {
    let messages = after(|doc| remove(doc, "/paths", "/_matrix/client/v3/login"));
    assert_eq!(messages, ["removed operation POST /_matrix/client/v3/login (login): clients calling login() get 404"]);
}

#[test]
fn a_removed_method_on_a_kept_path_is_a_removed_operation() {
    let changes = changes_after(|doc| {
        let item = at(doc, "/paths/~1_matrix~1client~1v3~1login");
        let post = item.as_object_mut().unwrap().remove("post").unwrap();
        item["put"] = post;
    });
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].change, Change::OperationRemoved);
    assert_eq!(changes[0].operation.method, "POST");
}

#[test]
fn a_renamed_operation_id_breaks_generated_clients() {
    let messages = after(|doc| at(doc, LOGIN)["operationId"] = json!("logIn"));
    assert_eq!(
        messages,
        [
            "operation POST /_matrix/client/v3/login (login) was renamed to logIn: code calling login() on a generated client no longer builds"
        ]
    );
}

#[test]
fn a_renamed_path_parameter_is_the_same_operation() {
    let messages = after(|doc| {
        let paths = at(doc, "/paths").as_object_mut().unwrap();
        let mut item = paths.remove("/_matrix/client/v3/rooms/{roomId}/filter").unwrap();
        item["parameters"][0]["name"] = json!("room_id");
        paths.insert("/_matrix/client/v3/rooms/{room_id}/filter".into(), item);
    });
    assert_eq!(messages, Vec::<String>::new());
}

// --- responses -------------------------------------------------------------

#[test]
fn a_removed_inline_response_field_names_status_operation_and_field() {
    let messages = after(|doc| {
        remove(doc, &format!("{REGISTER}/responses/200/content/application~1json/schema/properties"), "user_id")
    });
    assert_eq!(
        messages,
        [
            "response field user_id of 200 from POST /_matrix/client/v3/register (register) was removed: clients reading it break"
        ]
    );
}

#[test]
fn a_removed_field_behind_a_ref_is_found() {
    let messages = after(|doc| remove(doc, &format!("{SCHEMAS}/LoginResponse/properties"), "device_id"));
    assert_eq!(
        messages,
        [
            "response field device_id of 200 from POST /_matrix/client/v3/login (login) was removed: clients reading it break"
        ]
    );
}

#[test]
fn a_removed_field_of_an_all_of_member_is_found_for_any_status() {
    // Error is used by login's 429 and, through allOf, by register's 401.
    let messages = after(|doc| remove(doc, &format!("{SCHEMAS}/Error/properties"), "error"));
    assert_eq!(
        messages,
        [
            "response field error of 429 from POST /_matrix/client/v3/login (login) was removed: clients reading it break",
            "response field error of 401 from POST /_matrix/client/v3/register (register) was removed: clients reading it break",
        ]
    );
}

#[test]
fn nested_objects_and_array_items_are_followed() {
    let messages = after(|doc| {
        remove(
            doc,
            &format!("{SCHEMAS}/LoginResponse/properties/well_known/properties/m.homeserver/properties"),
            "base_url",
        );
        remove(doc, &format!("{SCHEMAS}/UiaChallenge/properties/flows/items/properties"), "stages");
    });
    assert_eq!(
        messages,
        [
            "response field well_known.m.homeserver.base_url of 200 from POST /_matrix/client/v3/login (login) was removed: clients reading it break",
            "response field flows[].stages of 401 from POST /_matrix/client/v3/register (register) was removed: clients reading it break",
        ]
    );
}

#[test]
fn recursive_schemas_end_and_are_still_compared() {
    let changes = changes_after(|doc| remove(doc, &format!("{SCHEMAS}/Filter/properties"), "name"));
    let messages: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "response field name of 200 from PUT /_matrix/client/v3/rooms/{roomId}/filter (setFilter) was removed: clients reading it break"
        ]
    );
}

#[test]
fn a_response_field_no_longer_required_breaks_clients_relying_on_it() {
    let messages = after(|doc| at(doc, &format!("{SCHEMAS}/LoginResponse"))["required"] = json!(["user_id"]));
    assert_eq!(
        messages,
        [
            "response field access_token of 200 from POST /_matrix/client/v3/login (login) is no longer required: clients relying on it being present break"
        ]
    );
}

#[test]
fn a_response_type_change_is_reported_and_nullable_counts() {
    let messages = after(|doc| {
        let properties = at(doc, &format!("{REGISTER}/responses/200/content/application~1json/schema/properties"));
        properties["expires_in_ms"] = json!({"type": "string"});
        properties["access_token"] = json!({"type": "string", "nullable": true});
    });
    assert_eq!(
        messages,
        [
            "response field access_token of 200 from POST /_matrix/client/v3/register (register) changed type from string to null or string: clients parsing it as string break",
            "response field expires_in_ms of 200 from POST /_matrix/client/v3/register (register) changed type from integer to string: clients parsing it as integer break",
        ]
    );
}

#[test]
fn new_values_in_a_response_enum_break_clients_matching_on_them() {
    let messages = after(|doc| {
        at(doc, &format!("{SCHEMAS}/UiaChallenge/properties/kind/enum")).as_array_mut().unwrap().push(json!("sso"))
    });
    assert_eq!(
        messages,
        [
            "response field kind of 401 from POST /_matrix/client/v3/register (register) may now be \"sso\": clients matching on its known values break"
        ]
    );
}

#[test]
fn a_removed_success_status_breaks_and_a_removed_error_status_does_not() {
    let messages = after(|doc| {
        remove(doc, &format!("{LOGIN}/responses"), "429");
        remove(doc, &format!("{REGISTER}/responses"), "200");
    });
    assert_eq!(
        messages,
        ["response 200 of POST /_matrix/client/v3/register (register) was removed: clients expecting it break"]
    );
}

#[test]
fn a_removed_response_header_or_body_and_an_unknown_media_type_are_reported() {
    let messages = after(|doc| {
        let ok = at(doc, &format!("{LOGIN}/responses/200"));
        ok.as_object_mut().unwrap().remove("headers");
        let content = ok["content"].as_object_mut().unwrap();
        let json = content.remove("application/json").unwrap();
        content.insert("text/plain".into(), json);
        at(doc, &format!("{LOGIN}/responses/429")).as_object_mut().unwrap().remove("content");
    });
    assert_eq!(
        messages,
        [
            "response header X-Session of 200 from POST /_matrix/client/v3/login (login) was removed: clients reading it break",
            "response 200 of POST /_matrix/client/v3/login (login) may now come as text/plain: clients parsing it as application/json break",
            "response 429 of POST /_matrix/client/v3/login (login) no longer has a body: clients reading it break",
        ]
    );
}

#[test]
fn response_media_types_may_be_dropped_or_made_precise_and_binary_bodies_have_no_fields() {
    let mut old = base();
    let schema = json!({"type": "object", "properties": {"url": {"type": "string"}}});
    at(&mut old, &format!("{LOGIN}/responses/429"))["content"] = json!({"*/*": {"schema": schema.clone()}});
    at(&mut old, &format!("{LOGIN}/responses/200/content"))["image/png"] =
        json!({"schema": {"type": "string", "format": "binary"}});
    let mut new = base();
    // The 429 narrows `*/*` to JSON, and the image's schema loses its type
    // (as OpenAPI 3.1 documents often write binary bodies).
    at(&mut new, &format!("{LOGIN}/responses/429"))["content"] =
        json!({"application/json; charset=utf-8": {"schema": schema}});
    at(&mut new, &format!("{LOGIN}/responses/200/content"))["image/png"] =
        json!({"schema": {"description": "The image."}});
    assert_eq!(breaking_changes(&old, &new), []);
    // The server dropping the image, so that the 200 is only ever JSON,
    // breaks nobody: clients already parse JSON.
    at(&mut new, &format!("{LOGIN}/responses/200/content")).as_object_mut().unwrap().remove("image/png");
    assert_eq!(breaking_changes(&old, &new), []);
}

// --- requests --------------------------------------------------------------

#[test]
fn a_request_field_that_became_required_is_reported() {
    let changes = changes_after(|doc| {
        at(doc, &format!("{LOGIN}/requestBody/content/application~1json/schema/required"))
            .as_array_mut()
            .unwrap()
            .push(json!("device_id"));
    });
    assert_eq!(
        changes[0].change,
        Change::RequestFieldBecameRequired {
            field: Field { place: Place::Body, path: "device_id".into() },
            added: false
        }
    );
    assert_eq!(
        changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "request field device_id of POST /_matrix/client/v3/login (login) became required: clients that leave it out get 400"
        ]
    );
}

#[test]
fn a_new_required_request_field_is_reported_even_when_nested_behind_all_of() {
    let messages = after(|doc| {
        let auth = at(doc, &format!("{SCHEMAS}/AuthData"));
        auth["properties"]["stage"] = json!({"type": "string"});
        auth["required"] = json!(["stage"]);
    });
    assert_eq!(
        messages,
        [
            "request field auth.stage of POST /_matrix/client/v3/register (register) was added as required: clients written before it leave it out and get 400"
        ]
    );
}

#[test]
fn a_request_body_that_became_required_is_reported() {
    let messages = after(|doc| at(doc, &format!("{REGISTER}/requestBody"))["required"] = json!(true));
    assert_eq!(
        messages,
        ["request body of POST /_matrix/client/v3/register (register) became required: clients that send none get 400"]
    );
}

#[test]
fn required_parameters_are_reported_whether_new_or_made_required() {
    let messages = after(|doc| {
        let parameters = at(doc, &format!("{REGISTER}/parameters"));
        parameters[0]["required"] = json!(true);
        parameters
            .as_array_mut()
            .unwrap()
            .push(json!({"in": "header", "name": "X-Client", "required": true, "schema": {"type": "string"}}));
        parameters.as_array_mut().unwrap().push(json!({"in": "query", "name": "lang", "schema": {"type": "string"}}));
    });
    assert_eq!(
        messages,
        [
            "query parameter kind of POST /_matrix/client/v3/register (register) became required: clients that leave it out get 400",
            "header parameter X-Client of POST /_matrix/client/v3/register (register) was added as required: clients written before it leave it out and get 400",
        ]
    );
}

#[test]
fn parameters_behind_refs_and_on_the_path_item_are_compared() {
    let old = base();
    let mut new = base();
    new["components"]["parameters"] =
        json!({"Limit": {"in": "query", "name": "limit", "required": true, "schema": {"type": "integer"}}});
    at(&mut new, "/paths/~1_matrix~1client~1v3~1rooms~1{roomId}~1filter/parameters")
        .as_array_mut()
        .unwrap()
        .push(json!({"$ref": "#/components/parameters/Limit"}));
    let messages: Vec<String> = breaking_changes(&old, &new).iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "query parameter limit of PUT /_matrix/client/v3/rooms/{roomId}/filter (setFilter) was added as required: clients written before it leave it out and get 400"
        ]
    );
}

#[test]
fn a_narrowed_request_type_refuses_what_old_clients_send() {
    let messages = after(|doc| {
        let properties = at(doc, &format!("{LOGIN}/requestBody/content/application~1json/schema/properties"));
        properties["user"] = json!({"type": "integer"});
        properties["attempt"] = json!({"type": "number"}); // wider: an integer is a number
    });
    assert_eq!(
        messages,
        [
            "request field user of POST /_matrix/client/v3/login (login) changed type from string to integer: clients sending a string get 400"
        ]
    );
}

#[test]
fn a_narrowed_request_enum_names_the_refused_values() {
    let messages = after(|doc| {
        at(doc, &format!("{LOGIN}/requestBody/content/application~1json/schema/properties/type"))["enum"] =
            json!(["m.login.password"]);
        at(doc, &format!("{REGISTER}/parameters/0/schema"))["enum"] = json!(["user"]);
        at(doc, &format!("{SCHEMAS}/AuthData/properties/type"))["enum"] = json!(["m.login.dummy"]);
    });
    assert_eq!(
        messages,
        [
            "request field type of POST /_matrix/client/v3/login (login) no longer accepts \"m.login.token\": clients sending it get 400",
            "query parameter kind of POST /_matrix/client/v3/register (register) no longer accepts \"guest\": clients sending it get 400",
            "request field auth.type of POST /_matrix/client/v3/register (register) now only accepts \"m.login.dummy\": clients sending other values get 400",
        ]
    );
}

#[test]
fn a_removed_request_field_breaks_only_where_unknown_fields_are_refused() {
    let pointer = format!("{LOGIN}/requestBody/content/application~1json/schema");
    assert_eq!(after(|doc| remove(doc, &format!("{pointer}/properties"), "device_id")), Vec::<String>::new());
    let messages = after(|doc| {
        remove(doc, &format!("{pointer}/properties"), "device_id");
        at(doc, &pointer)["additionalProperties"] = json!(false);
    });
    assert_eq!(
        messages,
        [
            "request field device_id of POST /_matrix/client/v3/login (login) was removed and unknown fields are refused: clients sending it get 400"
        ]
    );
}

#[test]
fn a_request_media_type_covered_by_a_new_range_is_still_accepted() {
    let messages = after(|doc| {
        let content = at(doc, &format!("{LOGIN}/requestBody/content")).as_object_mut().unwrap();
        let json = content.remove("application/json").unwrap();
        content.insert("application/*".into(), json);
    });
    assert_eq!(messages, Vec::<String>::new());
}

#[test]
fn a_request_media_type_no_longer_accepted_is_reported() {
    let messages = after(|doc| {
        let content = at(doc, &format!("{LOGIN}/requestBody/content")).as_object_mut().unwrap();
        let json = content.remove("application/json").unwrap();
        content.insert("application/x-www-form-urlencoded".into(), json);
    });
    assert_eq!(
        messages,
        [
            "request body of POST /_matrix/client/v3/login (login) no longer accepts application/json, only application/x-www-form-urlencoded: clients sending application/json get 415"
        ]
    );
}

// --- what breaks nobody ----------------------------------------------------

#[test]
fn additions_and_documentation_changes_break_nothing() {
    let messages = after(|doc| {
        // An added operation.
        at(doc, "/paths")["/_matrix/client/v3/logout"] =
            json!({"post": {"operationId": "logout", "responses": {"200": {"description": "Bye."}}}});
        // An added optional request field, an added request enum value, an
        // added optional query parameter.
        let login_body = at(doc, &format!("{LOGIN}/requestBody/content/application~1json/schema"));
        login_body["properties"]["initial_device_display_name"] = json!({"type": "string"});
        login_body["properties"]["type"]["enum"].as_array_mut().unwrap().push(json!("m.login.sso"));
        at(doc, &format!("{REGISTER}/parameters"))
            .as_array_mut()
            .unwrap()
            .push(json!({"in": "query", "name": "lang", "schema": {"type": "string"}}));
        // Added response fields, a response field made required, a narrower
        // response type, a new error status.
        let login_response = at(doc, &format!("{SCHEMAS}/LoginResponse"));
        login_response["properties"]["expires_in_ms"] = json!({"type": "integer"});
        login_response["required"] = json!(["user_id", "access_token", "device_id"]);
        at(doc, &format!("{LOGIN}/responses"))["403"] = json!({"description": "Forbidden."});
        // Documentation: summaries, descriptions, examples, titles.
        at(doc, LOGIN)["summary"] = json!("Logs a device in.");
        at(doc, LOGIN)["description"] = json!("Longer words.");
        at(doc, &format!("{SCHEMAS}/Error"))["example"] = json!({"errcode": "M_FORBIDDEN"});
        at(doc, &format!("{SCHEMAS}/Error/properties/errcode"))["description"] = json!("The code.");
        at(doc, &format!("{REGISTER}/responses/200"))["description"] = json!("The account exists.");
        at(doc, "/info")["description"] = json!("Now with a description.");
    });
    assert_eq!(messages, Vec::<String>::new());
}

#[test]
fn moving_an_inline_schema_behind_a_ref_or_all_of_breaks_nothing() {
    let messages = after(|doc| {
        let pointer = format!("{REGISTER}/responses/200/content/application~1json/schema");
        let inline = at(doc, &pointer).take();
        at(doc, SCHEMAS)["RegisterResponse"] = inline;
        *at(doc, &pointer) = json!({"allOf": [{"$ref": "#/components/schemas/RegisterResponse"}]});
    });
    assert_eq!(messages, Vec::<String>::new());
}

// --- versions --------------------------------------------------------------

fn version(v: &str) -> Value {
    json!({"info": {"version": v}})
}

#[test]
fn major_version_is_read_semver_ish() {
    assert!(major_version_raised(&version("1.0.0"), &version("2.0.0")));
    assert!(major_version_raised(&version("1.2"), &version("2")));
    assert!(major_version_raised(&version("v1"), &version("v2")));
    assert!(major_version_raised(&version("1.9.3"), &version("V2.0")));
    assert!(!major_version_raised(&version("1.0.0"), &version("1.1.0")));
    assert!(!major_version_raised(&version("1.2"), &version("v1.3")));
    assert!(!major_version_raised(&version("2.0.0"), &version("1.0.0")));
    assert!(!major_version_raised(&version("2.0.0"), &version("2.0.0")));
    assert!(!major_version_raised(&version("draft"), &version("2.0.0")));
    assert!(!major_version_raised(&json!({}), &version("2.0.0")));
}
