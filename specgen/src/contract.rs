//! The contract a running server must keep, read from the published
//! document: for each operation, the requests its examples describe, and
//! for each answer, whether the document allows it.
//!
//! Contract tests replay every request example against a real server and
//! hand each answer to [`Contract::check`]: the status must be one the
//! operation documents, and the body must match that status's schema. A
//! violation names the operation, the example, the status and the failing
//! schema path, so a spec editor can tell whether the YAML or the server is
//! wrong.

use std::collections::BTreeMap;
use std::fmt;

use jsonschema::Validator;
use serde_json::Value;

use crate::OPERATION_METHODS as METHODS;
use crate::check::Schemas;
use crate::refs::escape;

/// Every operation of a document, with its examples and response schemas.
pub struct Contract {
    operations: Vec<Operation>,
}

/// One operation (one route) of the document.
pub struct Operation {
    /// The document's `operationId` (unique per route).
    pub id: String,
    /// Upper-case HTTP method.
    pub method: String,
    pub path: String,
    /// Whether the operation asks for credentials (`security`).
    pub secured: bool,
    /// The requests its examples describe; an operation without a body or
    /// parameters has one empty request, so that it too is exercised.
    pub requests: Vec<RequestExample>,
    /// Whether the published document marks it `x-not-implemented` (it is
    /// served as a stub answering 404 `M_UNRECOGNIZED`).
    pub not_implemented: bool,
    /// The documented statuses, with the validator of each JSON body.
    responses: BTreeMap<u16, Response>,
}

/// A request an example describes.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestExample {
    /// The example's name (`examples` key), or where it was found.
    pub name: String,
    /// The JSON body, if the example has one.
    pub body: Option<Value>,
    /// Query parameters from the parameters' examples.
    pub query: BTreeMap<String, String>,
}

struct Response {
    /// A JSON pointer to the schema in the document, for messages.
    schema_at: String,
    validator: Option<Validator>,
    /// The documented examples of this status, by name.
    examples: Vec<(String, Value)>,
    /// Why an example is only illustrative (`x-illustrative` on the
    /// response, its media type or the example), by example name.
    illustrative: BTreeMap<String, String>,
}

/// An answer the document does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub operation: String,
    pub example: String,
    pub status: u16,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The operation does not document this status.
    UndocumentedStatus { documented: Vec<u16> },
    /// The body does not match the status's schema.
    Schema { schema_path: String, instance_path: String, message: String },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, example `{}`: ", self.operation, self.example)?;
        match &self.problem {
            Problem::UndocumentedStatus { documented } => {
                let documented: Vec<String> = documented.iter().map(u16::to_string).collect();
                write!(f, "status {} is not documented (documented: {})", self.status, documented.join(", "))
            }
            Problem::Schema { schema_path, instance_path, message } => write!(
                f,
                "the {} body does not match its schema at {schema_path} (body at {}): {message}",
                self.status,
                if instance_path.is_empty() { "/" } else { instance_path }
            ),
        }
    }
}

impl std::error::Error for Violation {}

impl Contract {
    /// Reads every operation of an OpenAPI 3.0 document (as JSON).
    pub fn new(document: &Value) -> Result<Contract, String> {
        let schemas = Schemas::new(document)?;
        let mut operations = Vec::new();
        let paths = document.get("paths").and_then(Value::as_object).ok_or("the document has no paths")?;
        for (path, item) in paths {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    let at = format!("#/paths/{}/{method}", escape(path));
                    operations.push(Operation::read(document, &schemas, method, path, operation, &at)?);
                }
            }
        }
        Ok(Contract { operations })
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|operation| operation.id == id)
    }

    /// Checks the document against itself: every documented response
    /// example must be an answer the document allows.
    pub fn check_examples(&self) -> Vec<Violation> {
        let mut violations = Vec::new();
        for operation in &self.operations {
            for (status, response) in &operation.responses {
                for (name, example) in &response.examples {
                    violations.extend(operation.check(name, *status, example).err().map(|v| *v));
                }
            }
        }
        violations
    }
}

impl Operation {
    fn read(
        document: &Value,
        schemas: &Schemas,
        method: &str,
        path: &str,
        operation: &Value,
        at: &str,
    ) -> Result<Operation, String> {
        let id = operation.get("operationId").and_then(Value::as_str).unwrap_or(path).to_owned();
        let security = operation.get("security").or_else(|| document.get("security"));
        let secured = security.and_then(Value::as_array).is_some_and(|r| !r.is_empty());

        let mut responses = BTreeMap::new();
        for (status, response) in operation.get("responses").and_then(Value::as_object).into_iter().flatten() {
            let Ok(status) = status.parse::<u16>() else { continue };
            let media = json_media(response);
            let schema_at = format!("{at}/responses/{status}/content/application~1json/schema");
            let validator = match media.and_then(|m| m.get("schema")) {
                Some(schema) => Some(schemas.compile(schema).map_err(|e| format!("{id} {status}: {e}"))?),
                None => None,
            };
            let examples = media.map(examples_of).unwrap_or_default();
            let illustrative = illustrative_examples(response, &examples);
            responses.insert(status, Response { schema_at, validator, examples, illustrative });
        }

        Ok(Operation {
            requests: request_examples(operation),
            id,
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            secured,
            not_implemented: operation.get("x-not-implemented").and_then(Value::as_bool).unwrap_or(false),
            responses,
        })
    }

    /// The documented statuses, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.responses.keys().copied().collect()
    }

    /// The documented examples of one status, by name.
    pub fn response_examples(&self, status: u16) -> &[(String, Value)] {
        self.responses.get(&status).map(|r| r.examples.as_slice()).unwrap_or_default()
    }

    /// Why the example `name` of `status` is only illustrative, if it is
    /// marked so; an unmarked response example is contract (see
    /// [`example_differs`]).
    pub fn illustrative(&self, status: u16, name: &str) -> Option<&str> {
        self.responses.get(&status)?.illustrative.get(name).map(String::as_str)
    }

    /// Checks one answer to the request `example` against the document.
    pub fn check(&self, example: &str, status: u16, body: &Value) -> Result<(), Box<Violation>> {
        let violation =
            |problem| Box::new(Violation { operation: self.id.clone(), example: example.to_owned(), status, problem });
        let Some(response) = self.responses.get(&status) else {
            return Err(violation(Problem::UndocumentedStatus { documented: self.statuses() }));
        };
        let Some(validator) = &response.validator else {
            return Ok(());
        };
        match validator.iter_errors(body).next() {
            None => Ok(()),
            Some(error) => Err(violation(Problem::Schema {
                schema_path: schema_location(&response.schema_at, &error.schema_path().to_string()),
                instance_path: error.instance_path().to_string(),
                message: error.to_string(),
            })),
        }
    }
}

/// Where in the document a failing keyword is: inside the response's own
/// schema, or, past a `$ref`, inside a component schema (the validator
/// reports those by their place in the shared components resource).
fn schema_location(schema_at: &str, keyword_path: &str) -> String {
    match keyword_path.strip_prefix("/definitions/") {
        Some(inside_component) => format!("#/components/schemas/{inside_component}"),
        None => format!("{schema_at}{keyword_path}"),
    }
}

/// The extension that marks a response example as illustrative: the
/// contract test does not replay it. Its value says why.
pub const ILLUSTRATIVE: &str = "x-illustrative";

/// The reason each example of a response is illustrative: the response's or
/// its JSON media type's `x-illustrative` covers all of them, an example
/// object's covers that one.
fn illustrative_examples(response: &Value, examples: &[(String, Value)]) -> BTreeMap<String, String> {
    let reason = |holder: Option<&Value>| {
        let reason = holder?.get(ILLUSTRATIVE)?;
        Some(reason.as_str().map(str::to_owned).unwrap_or_else(|| reason.to_string()))
    };
    let media = json_media(response);
    let whole = reason(Some(response)).or_else(|| reason(media));
    let mut found = BTreeMap::new();
    for (name, _) in examples {
        let own = media.and_then(|m| m.get("examples")).and_then(|e| e.get(name));
        if let Some(why) = reason(own).or_else(|| whole.clone()) {
            found.insert(name.clone(), why);
        }
    }
    found
}

/// Whether a key's value changes from answer to answer, so that an example
/// can only fix its type: ids, tokens, session ids, timestamps and delays
/// (`session`, `sid`, and keys ending in `_id`, `_token`, `_at`, `_ms`,
/// `_ts`, such as `user_id`, `device_id`, `access_token`, `added_at`,
/// `retry_after_ms`, `last_seen_ts`), and the human-readable `error` text.
pub fn volatile(key: &str) -> bool {
    matches!(key, "session" | "sid" | "error")
        || ["_id", "_token", "_at", "_ms", "_ts"].iter().any(|suffix| key.ends_with(suffix))
}

/// How an answer's body differs from a response example, or `None` when it
/// answers what the example says: every field the example fixes is there,
/// equal to the example's value (arrays element by element, same length),
/// except [`volatile`] ones, which need only the same JSON type. Fields the
/// example does not mention are free.
pub fn example_differs(example: &Value, answer: &Value) -> Option<String> {
    differs(example, answer, "")
}

fn differs(example: &Value, answer: &Value, at: &str) -> Option<String> {
    let here = || if at.is_empty() { "/".to_owned() } else { at.to_owned() };
    match (example, answer) {
        (Value::Object(fixed), Value::Object(got)) => fixed.iter().find_map(|(key, want)| {
            let inner = format!("{at}/{}", escape(key));
            match got.get(key) {
                None => Some(format!("{inner} is missing (the example has {want})")),
                Some(value) if volatile(key) => (json_type(want) != json_type(value))
                    .then(|| format!("{inner} is {value}, not a {}", json_type(want))),
                Some(value) => differs(want, value, &inner),
            }
        }),
        (Value::Array(fixed), Value::Array(got)) if fixed.len() == got.len() => {
            fixed.iter().zip(got).enumerate().find_map(|(i, (want, value))| differs(want, value, &format!("{at}/{i}")))
        }
        _ if example == answer => None,
        _ => Some(format!("{} is {answer} where the example has {example}", here())),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The `application/json` media type of a request body or response.
fn json_media(holder: &Value) -> Option<&Value> {
    let content = holder.get("content")?.as_object()?;
    content.iter().find(|(media, _)| media.starts_with("application/json")).map(|(_, media)| media)
}

/// Named examples of a media type: `example`, each of `examples`, and the
/// schema's own `example` (where Swagger 2.0 bodies keep theirs).
fn examples_of(media: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    if let Some(example) = media.get("example") {
        found.push(("example".to_owned(), example.clone()));
    }
    for (name, example) in media.get("examples").and_then(Value::as_object).into_iter().flatten() {
        if let Some(value) = example.get("value") {
            found.push((name.clone(), value.clone()));
        }
    }
    if found.is_empty()
        && let Some(example) = media.get("schema").and_then(|s| s.get("example"))
    {
        found.push(("schema example".to_owned(), example.clone()));
    }
    found
}

fn request_examples(operation: &Value) -> Vec<RequestExample> {
    let query = query_example(operation);
    let bodies = operation.get("requestBody").and_then(json_media).map(examples_of).unwrap_or_default();
    if bodies.is_empty() {
        let name = if query.is_empty() { "no input" } else { "parameters" };
        return vec![RequestExample { name: name.to_owned(), body: None, query }];
    }
    bodies.into_iter().map(|(name, body)| RequestExample { name, body: Some(body), query: query.clone() }).collect()
}

/// One value per query parameter that has an example.
fn query_example(operation: &Value) -> BTreeMap<String, String> {
    let mut query = BTreeMap::new();
    for parameter in operation.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        if parameter.get("in").and_then(Value::as_str) != Some("query") {
            continue;
        }
        let Some(name) = parameter.get("name").and_then(Value::as_str) else { continue };
        let example = parameter.get("example").cloned().or_else(|| {
            let examples = parameter.get("examples").and_then(Value::as_object)?;
            examples.values().find_map(|e| e.get("value").cloned())
        });
        if let Some(example) = example {
            query.insert(name.to_owned(), query_value(&example));
        }
    }
    query
}

fn query_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/login": {"post": {
                "operationId": "login",
                "requestBody": {"content": {"application/json": {
                    "schema": {"type": "object"},
                    "examples": {"plain": {"value": {"user": "wren"}}}
                }}},
                "responses": {
                    "200": {"description": "ok", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Session"},
                        "example": {"user_id": "@wren:example.org"}
                    }}}
                }
            }}},
            "components": {"schemas": {"Session": {
                "type": "object",
                "properties": {"user_id": {"type": "string"}},
                "required": ["user_id"]
            }}}
        })
    }

    #[test]
    fn reads_requests_and_checks_answers() {
        let contract = Contract::new(&document()).unwrap();
        let login = contract.operation("login").unwrap();
        assert_eq!(login.requests[0].name, "plain");
        assert_eq!(login.statuses(), vec![200]);
        assert!(login.check("plain", 200, &json!({"user_id": "@wren:example.org"})).is_ok());

        let wrong = login.check("plain", 200, &json!({"user_id": 7})).unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "login, example `plain`: the 200 body does not match its schema at \
             #/components/schemas/Session/properties/user_id/type (body at /user_id): 7 is not of type \"string\""
        );
        let undocumented = login.check("plain", 500, &json!({})).unwrap_err();
        assert_eq!(undocumented.to_string(), "login, example `plain`: status 500 is not documented (documented: 200)");
    }

    #[test]
    fn reads_illustrative_markers() {
        let mut document = document();
        let media = &mut document["paths"]["/login"]["post"]["responses"]["200"]["content"]["application/json"];
        media["x-illustrative"] = json!("the server names no one");
        let contract = Contract::new(&document).unwrap();
        let login = contract.operation("login").unwrap();
        assert_eq!(login.illustrative(200, "example"), Some("the server names no one"));
        assert!(!login.not_implemented);

        let mut document = self::document();
        let operation = &mut document["paths"]["/login"]["post"];
        operation["x-not-implemented"] = json!(true);
        operation["responses"]["200"]["content"]["application/json"]["examples"] =
            json!({"one": {"value": {}, "x-illustrative": "why"}, "two": {"value": {}}});
        let contract = Contract::new(&document).unwrap();
        let login = contract.operation("login").unwrap();
        assert!(login.not_implemented);
        assert_eq!(login.illustrative(200, "one"), Some("why"));
        assert_eq!(login.illustrative(200, "two"), None);
    }

    #[test]
    fn an_example_fixes_its_non_volatile_fields() {
        let example = json!({"errcode": "M_FORBIDDEN", "error": "No", "user_id": "@wren:example.org",
                             "flows": [{"stages": ["m.login.dummy"]}], "retry_after_ms": 2000});
        let same = json!({"errcode": "M_FORBIDDEN", "error": "Other words", "user_id": "@x:y",
                          "flows": [{"stages": ["m.login.dummy"]}], "retry_after_ms": 7, "extra": 1});
        assert_eq!(example_differs(&example, &same), None);

        let mut other = same.clone();
        other["errcode"] = json!("M_MISSING_TOKEN");
        assert_eq!(
            example_differs(&example, &other).unwrap(),
            "/errcode is \"M_MISSING_TOKEN\" where the example has \"M_FORBIDDEN\""
        );
        other = same.clone();
        other["retry_after_ms"] = json!("soon");
        assert_eq!(example_differs(&example, &other).unwrap(), "/retry_after_ms is \"soon\", not a number");
        other = same.clone();
        other["flows"] = json!([{"stages": ["m.login.dummy"]}, {"stages": []}]);
        assert!(example_differs(&example, &other).unwrap().starts_with("/flows is"));
        other.as_object_mut().unwrap().remove("flows");
        assert!(example_differs(&example, &other).unwrap().starts_with("/flows is missing"));
        assert!(volatile("access_token") && volatile("session") && !volatile("errcode") && !volatile("home_server"));
    }
}
