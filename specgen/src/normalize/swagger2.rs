//! Swagger 2.0 documents into OpenAPI 3.0 operations.
//!
//! * `basePath` (placeholders substituted) → the operations' prefix, and
//!   each of `x-basePaths` (a list) → one more: 2.0 has one base path where
//!   3.x has `servers`, and an API served under several (the 2015 Matrix
//!   prose gave `/_matrix/client/v2_alpha` where the YAML said
//!   `/_matrix/client/api/v2_alpha`) needs to say so;
//! * `in: body` → `requestBody` (its `required` kept) with one media type per
//!   `consumes` entry (default `application/json`); `in: formData` → a form
//!   body (`multipart/form-data` when a field is a file);
//! * other parameters: type fields → `schema`, `collectionFormat` →
//!   `style`/`explode`, `x-example` → `example`;
//! * `responses.X.schema` → `content.<produces>.schema`,
//!   `responses.X.examples.<media type>` → `content.<media type>.example`;
//! * `securityDefinitions` (even written as a `$ref` to a file) → security
//!   schemes, where an `apiKey` in the `Authorization` header becomes
//!   `type: http, scheme: bearer` (what 2.0 could not say); `definitions` → hoisted schemas; document-level `security`
//!   is copied into each operation that has none, since documents merge.

use crate::diagnostics::Rule;
use serde_json::{Map, Value, json};

use super::examples::{example, schema_wants_string};
use super::{DocumentParts, Normalizer, OperationUnit, Prov, Src, at, names, schema, servers};
use crate::OPERATION_METHODS as METHODS;
use crate::refs::{self, Target};

/// Fields of a 2.0 non-body parameter, header or `items` that describe its
/// type, and so move into a 3.0 `schema`.
const TYPE_FIELDS: &[&str] = &[
    "type",
    "format",
    "items",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
    "x-nullable",
];

/// Document-wide defaults an operation may override.
struct Defaults {
    consumes: Vec<String>,
    produces: Vec<String>,
    security: Option<Value>,
}

fn media_types(src: Option<Src<'_>>) -> Option<Vec<String>> {
    let list: Vec<String> = src?.value.as_array()?.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    if list.is_empty() { None } else { Some(list) }
}

pub(crate) fn document<'t>(cx: &mut Normalizer<'t>, doc: &Src<'t>) -> DocumentParts {
    let mut parts = DocumentParts::default();
    let prefixes = servers::base_path_prefixes(cx, doc);
    let defaults = Defaults {
        consumes: media_types(doc.get("consumes")).unwrap_or_else(|| vec!["application/json".into()]),
        produces: media_types(doc.get("produces")).unwrap_or_else(|| vec!["application/json".into()]),
        security: doc.value.get("security").cloned(),
    };

    if let Some((definitions, _)) = doc.get("securityDefinitions").and_then(|d| cx.deref(d)) {
        for (name, scheme) in definitions.entries() {
            let Some((scheme, _)) = cx.deref(scheme) else {
                continue;
            };
            if let Some(converted) = security_scheme(cx, &scheme) {
                parts.security_schemes.push((name.to_owned(), converted, scheme.location()));
            }
        }
    }
    if let Some(definitions) = doc.get("definitions") {
        for (name, definition) in definitions.entries() {
            let target = Target { file: doc.file, pointer: refs::pointer(&["definitions", name]) };
            cx.hoist(target, definition, names::component_name(name));
        }
    }
    if let Some(Value::Array(tags)) = doc.value.get("tags") {
        parts.tags.extend(tags.iter().cloned());
    }

    let Some(paths) = doc.get("paths") else {
        cx.error(Rule::InvalidOpenapi, doc.location(), "a Swagger 2.0 document needs `paths`");
        return parts;
    };
    for (path, item) in paths.entries() {
        if path.starts_with("x-") {
            continue;
        }
        if !path.starts_with('/') {
            cx.error(Rule::InvalidOpenapi, item.location(), format!("path `{path}` must start with `/`"));
            continue;
        }
        let Some((item, _)) = cx.deref(item) else {
            continue;
        };
        let shared: Vec<Src<'t>> = item.get("parameters").map(|p| p.items()).unwrap_or_default();
        for (method, operation_src) in item.entries() {
            if !METHODS.contains(&method) {
                if method != "parameters" && !method.starts_with("x-") {
                    cx.warning(
                        Rule::DroppedKey,
                        operation_src.location(),
                        format!("`{method}` is not an HTTP method of Swagger 2.0; ignored"),
                    );
                }
                continue;
            }
            let (value, prov) = operation(cx, &operation_src, &shared, &defaults);
            parts.operations.push(OperationUnit {
                method: method.to_owned(),
                path: path.to_owned(),
                prefixes: prefixes.clone(),
                value,
                source: operation_src.location(),
                prov,
            });
        }
    }
    parts
}

/// Copies `keys` (and every `x-*` key except those in `except`) from `src`.
pub(crate) fn copy_keys(src: &Src<'_>, keys: &[&str], except: &[&str], into: &mut Map<String, Value>) {
    if let Value::Object(map) = src.value {
        for (key, value) in map {
            if keys.contains(&key.as_str()) || (key.starts_with("x-") && !except.contains(&key.as_str())) {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Path-level parameters, then operation-level ones; an operation-level
/// parameter replaces a path-level one with the same name and location.
pub(crate) fn merged_parameters<'t>(cx: &mut Normalizer<'t>, shared: &[Src<'t>], own: Option<Src<'t>>) -> Vec<Src<'t>> {
    let resolve = |cx: &mut Normalizer<'t>, list: Vec<Src<'t>>| -> Vec<Src<'t>> {
        list.into_iter().filter_map(|p| cx.deref(p).map(|(p, _)| p)).collect()
    };
    let own = resolve(cx, own.map(|o| o.items()).unwrap_or_default());
    let shared = resolve(cx, shared.to_vec());
    let key = |p: &Src<'_>| (p.str("name").unwrap_or_default().to_owned(), p.str("in").unwrap_or_default().to_owned());
    let mut out: Vec<Src<'t>> = shared.into_iter().filter(|s| !own.iter().any(|o| key(o) == key(s))).collect();
    out.extend(own);
    out
}

fn operation<'t>(cx: &mut Normalizer<'t>, op: &Src<'t>, shared: &[Src<'t>], defaults: &Defaults) -> (Value, Prov) {
    let mut prov = Prov::default();
    prov.record(&[], op.location());
    let mut result = Map::new();
    copy_keys(op, &["tags", "summary", "description", "externalDocs", "operationId", "deprecated"], &[], &mut result);
    let consumes = media_types(op.get("consumes")).unwrap_or_else(|| defaults.consumes.clone());
    let produces = media_types(op.get("produces")).unwrap_or_else(|| defaults.produces.clone());

    let mut parameters = Vec::new();
    let mut body: Option<Src<'t>> = None;
    let mut form: Vec<Src<'t>> = Vec::new();
    for parameter_src in merged_parameters(cx, shared, op.get("parameters")) {
        match parameter_src.str("in") {
            Some("body") => {
                if body.is_some() {
                    cx.error(
                        Rule::InvalidOpenapi,
                        parameter_src.location(),
                        "an operation can have only one `in: body` parameter",
                    );
                } else {
                    body = Some(parameter_src);
                }
            }
            Some("formData") => form.push(parameter_src),
            Some("query" | "header" | "path") => {
                let out = vec!["parameters".to_owned(), parameters.len().to_string()];
                parameters.push(parameter(cx, &parameter_src, &out, &mut prov));
            }
            other => cx.error(
                Rule::InvalidOpenapi,
                parameter_src.location_of("in"),
                format!("unsupported parameter location `{}`", other.unwrap_or("(missing)")),
            ),
        }
    }
    if !parameters.is_empty() {
        result.insert("parameters".into(), Value::Array(parameters));
    }
    match (body, form.is_empty()) {
        (Some(body), true) => {
            let request_body = body_parameter(cx, &body, &consumes, &mut prov);
            result.insert("requestBody".into(), request_body);
        }
        (Some(body), false) => {
            cx.error(
                Rule::InvalidOpenapi,
                body.location(),
                "an operation cannot have both `in: body` and `in: formData` parameters",
            );
        }
        (None, false) => {
            let request_body = form_parameters(cx, &form, &consumes, &mut prov);
            result.insert("requestBody".into(), request_body);
        }
        (None, true) => {}
    }

    let mut responses = Map::new();
    match op.get("responses") {
        Some(list) => {
            for (status, response_src) in list.entries() {
                if status.starts_with("x-") {
                    continue;
                }
                let Some((response_src, _)) = cx.deref(response_src) else {
                    continue;
                };
                let out = vec!["responses".to_owned(), status.to_owned()];
                responses.insert(status.to_owned(), response(cx, &response_src, &produces, &out, &mut prov));
            }
        }
        None => cx.error(Rule::InvalidOpenapi, op.location(), "an operation needs `responses`"),
    }
    result.insert("responses".into(), Value::Object(responses));
    if let Some(security) = op.value.get("security").or(defaults.security.as_ref()) {
        result.insert("security".into(), security.clone());
    }
    (Value::Object(result), prov)
}

/// The 3.0 `schema` of a 2.0 parameter, header or form field: its type
/// fields, converted like any schema (so `items`, enums and bounds follow).
fn type_fields_schema(cx: &mut Normalizer<'_>, src: &Src<'_>, out: &[String], prov: &mut Prov) -> Value {
    if let Some(schema_src) = src.get("schema") {
        return schema::convert(cx, &schema_src, out, prov);
    }
    let mut fields = Map::new();
    if let Value::Object(map) = src.value {
        for (key, value) in map {
            if TYPE_FIELDS.contains(&key.as_str()) {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
    let fields = Value::Object(fields);
    schema::convert(cx, &src.with_value(&fields), out, prov)
}

fn parameter(cx: &mut Normalizer<'_>, src: &Src<'_>, out: &[String], prov: &mut Prov) -> Value {
    prov.record(out, src.location());
    let mut result = Map::new();
    copy_keys(src, &["name", "in", "description", "deprecated", "allowEmptyValue"], &["x-example"], &mut result);
    let location = src.str("in").unwrap_or_default();
    let required = location == "path" || src.value.get("required").and_then(Value::as_bool).unwrap_or(false);
    result.insert("required".into(), Value::Bool(required));
    if src.str("name").is_none() {
        cx.error(Rule::InvalidOpenapi, src.location(), "a parameter needs a `name`");
    }
    let schema = type_fields_schema(cx, src, &at(out, &["schema"]), prov);
    result.insert("schema".into(), schema);
    if src.str("type") == Some("array") {
        let format = src.str("collectionFormat").unwrap_or("csv");
        let (style, explode) = match (format, location) {
            ("multi", _) => ("form", true),
            ("ssv", "query") => ("spaceDelimited", false),
            ("pipes", "query") => ("pipeDelimited", false),
            (_, "query") => ("form", false),
            _ => ("simple", false),
        };
        if !matches!(format, "csv" | "multi" | "ssv" | "pipes")
            || (matches!(format, "ssv" | "pipes") && location != "query")
        {
            cx.warning(
                Rule::Unsupported,
                src.location_of("collectionFormat"),
                format!("`collectionFormat: {format}` has no OpenAPI 3.0 equivalent here; comma-separated is assumed"),
            );
        }
        result.insert("style".into(), json!(style));
        result.insert("explode".into(), json!(explode));
    }
    if let Some(example_src) = src.get("x-example") {
        let converted = example(cx, &example_src, Some(src.str("type") == Some("string")));
        let here = at(out, &["example"]);
        prov.record(&here, example_src.location());
        if !converted.complete {
            prov.incomplete.push(here);
        }
        result.insert("example".into(), converted.value);
    }
    Value::Object(result)
}

fn body_parameter(cx: &mut Normalizer<'_>, src: &Src<'_>, consumes: &[String], prov: &mut Prov) -> Value {
    let out = vec!["requestBody".to_owned()];
    prov.record(&out, src.location());
    let mut result = Map::new();
    copy_keys(src, &["description"], &["x-example"], &mut result);
    let Some(schema_src) = src.get("schema") else {
        cx.error(Rule::InvalidOpenapi, src.location(), "an `in: body` parameter needs a `schema`");
        return json!({"content": {}});
    };
    let wants_string = schema_wants_string(cx, Some(&schema_src));
    let mut content = Map::new();
    for media_type in consumes {
        let here = at(&out, &["content", media_type]);
        prov.record(&here, src.location());
        let mut entry = Map::new();
        entry.insert("schema".into(), schema::convert(cx, &schema_src, &at(&here, &["schema"]), prov));
        if let Some(example_src) = src.get("x-example") {
            let converted = example(cx, &example_src, wants_string);
            prov.record(&at(&here, &["example"]), example_src.location());
            if !converted.complete {
                prov.incomplete.push(at(&here, &["example"]));
            }
            entry.insert("example".into(), converted.value);
        }
        content.insert(media_type.clone(), Value::Object(entry));
    }
    result.insert("content".into(), Value::Object(content));
    let required = src.value.get("required").and_then(Value::as_bool).unwrap_or(false);
    result.insert("required".into(), Value::Bool(required));
    Value::Object(result)
}

fn form_parameters(cx: &mut Normalizer<'_>, fields: &[Src<'_>], consumes: &[String], prov: &mut Prov) -> Value {
    let has_file = fields.iter().any(|f| f.str("type") == Some("file"));
    let media_type = if has_file || consumes.iter().any(|c| c == "multipart/form-data") {
        "multipart/form-data"
    } else {
        "application/x-www-form-urlencoded"
    };
    let out = vec!["requestBody".to_owned()];
    let schema_out = at(&out, &["content", media_type, "schema"]);
    if let Some(first) = fields.first() {
        prov.record(&out, first.location());
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        let name = field.str("name").unwrap_or_default().to_owned();
        let mut schema = type_fields_schema(cx, field, &at(&schema_out, &["properties", &name]), prov);
        if let (Some(description), Value::Object(map)) = (field.value.get("description"), &mut schema) {
            map.insert("description".into(), description.clone());
        }
        if field.value.get("required").and_then(Value::as_bool).unwrap_or(false) {
            required.push(json!(name));
        }
        properties.insert(name, schema);
    }
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = Value::Array(required.clone());
    }
    json!({"required": !required.is_empty(), "content": {media_type: {"schema": schema}}})
}

fn response(cx: &mut Normalizer<'_>, src: &Src<'_>, produces: &[String], out: &[String], prov: &mut Prov) -> Value {
    prov.record(out, src.location());
    let mut result = Map::new();
    match src.str("description") {
        Some(description) => {
            result.insert("description".into(), json!(description));
        }
        None => {
            cx.warning(Rule::InvalidOpenapi, src.location(), "a response needs a `description`; an empty one is used");
            result.insert("description".into(), json!(""));
        }
    }
    copy_keys(src, &[], &[], &mut result);
    if let Some(headers_src) = src.get("headers") {
        let mut headers = Map::new();
        for (name, header_src) in headers_src.entries() {
            let Some((header_src, _)) = cx.deref(header_src) else {
                continue;
            };
            let here = at(out, &["headers", name]);
            prov.record(&here, header_src.location());
            let mut header = Map::new();
            copy_keys(&header_src, &["description"], &[], &mut header);
            header.insert("schema".into(), type_fields_schema(cx, &header_src, &at(&here, &["schema"]), prov));
            headers.insert(name.to_owned(), Value::Object(header));
        }
        result.insert("headers".into(), Value::Object(headers));
    }
    let schema_src = src.get("schema");
    let wants_string = schema_wants_string(cx, schema_src.as_ref());
    let mut content = Map::new();
    let media_type_entry =
        |cx: &mut Normalizer<'_>, prov: &mut Prov, content: &mut Map<String, Value>, media_type: &str| {
            if !content.contains_key(media_type) {
                let here = at(out, &["content", media_type]);
                prov.record(&here, src.location());
                let mut entry = Map::new();
                if let Some(schema_src) = &schema_src {
                    entry.insert("schema".into(), schema::convert(cx, schema_src, &at(&here, &["schema"]), prov));
                }
                content.insert(media_type.to_owned(), Value::Object(entry));
            }
        };
    if schema_src.is_some() {
        for media_type in produces {
            media_type_entry(cx, prov, &mut content, media_type);
        }
    }
    if let Some(examples) = src.get("examples") {
        for (media_type, example_src) in examples.entries() {
            media_type_entry(cx, prov, &mut content, media_type);
            let converted = example(cx, &example_src, wants_string);
            let here = at(out, &["content", media_type, "example"]);
            prov.record(&here, example_src.location());
            if !converted.complete {
                prov.incomplete.push(here);
            }
            if let Some(Value::Object(entry)) = content.get_mut(media_type) {
                entry.insert("example".into(), converted.value);
            }
        }
    }
    if !content.is_empty() {
        result.insert("content".into(), Value::Object(content));
    }
    Value::Object(result)
}

/// An API key in the `Authorization` header: in practice always a bearer
/// token (the only other use, a raw token without scheme, is not valid
/// HTTP authentication and no Matrix server accepts it).
fn is_authorization_header(src: &Src<'_>) -> bool {
    src.str("in") == Some("header") && src.str("name").is_some_and(|name| name.eq_ignore_ascii_case("authorization"))
}

/// A 2.0 security definition as a 3.0 security scheme.
fn security_scheme(cx: &mut Normalizer<'_>, src: &Src<'_>) -> Option<Value> {
    let mut result = Map::new();
    copy_keys(src, &["description"], &[], &mut result);
    match src.str("type") {
        // Swagger 2.0 has no bearer scheme, so a bearer token was written as
        // an API key in the `Authorization` header. Published as such,
        // generated clients send `Authorization: <token>`, without
        // `Bearer`; OpenAPI 3.0 can say what is meant, so it does.
        Some("apiKey") if is_authorization_header(src) => {
            result.insert("type".into(), json!("http"));
            result.insert("scheme".into(), json!("bearer"));
        }
        Some("apiKey") => {
            result.insert("type".into(), json!("apiKey"));
            copy_keys(src, &["name", "in"], &[], &mut result);
        }
        Some("basic") => {
            result.insert("type".into(), json!("http"));
            result.insert("scheme".into(), json!("basic"));
        }
        Some("oauth2") => {
            let flow = match src.str("flow") {
                Some("implicit") => "implicit",
                Some("password") => "password",
                Some("application") => "clientCredentials",
                Some("accessCode") => "authorizationCode",
                other => {
                    cx.error(
                        Rule::Unsupported,
                        src.location_of("flow"),
                        format!("unknown OAuth2 flow `{}`", other.unwrap_or("(missing)")),
                    );
                    return None;
                }
            };
            let mut details = Map::new();
            copy_keys(src, &["authorizationUrl", "tokenUrl"], &[], &mut details);
            details.insert("scopes".into(), src.value.get("scopes").cloned().unwrap_or_else(|| json!({})));
            result.insert("type".into(), json!("oauth2"));
            result.insert("flows".into(), json!({ flow: details }));
        }
        other => {
            cx.error(
                Rule::Unsupported,
                src.location_of("type"),
                format!("unknown security scheme type `{}`", other.unwrap_or("(missing)")),
            );
            return None;
        }
    }
    Some(Value::Object(result))
}
