//! OpenAPI 3.0 and 3.1 documents into OpenAPI 3.0 operations.
//!
//! The object layout is already 3.0's; the work is resolving refs (parameters,
//! responses, request bodies, examples and headers are inlined, schemas
//! hoisted, security schemes read even from other files), converting schemas
//! (3.1 → 3.0, see [`super::schema`]), decoding examples, and turning
//! `servers` at document, path and operation level into prefixes. 3.1-only
//! parts with no 3.0 meaning (`webhooks`, `jsonSchemaDialect`) are dropped
//! with a warning.

use crate::diagnostics::Rule;
use serde_json::{Map, Value, json};

use super::context::overlay;
use super::examples::{example, schema_wants_string};
use super::swagger2::{copy_keys, merged_parameters};
use super::{DocumentParts, Format, Normalizer, OperationUnit, Prov, Src, at, names, schema, servers};
use crate::OPERATION_METHODS as METHODS;
use crate::refs::{self, Target};

/// Root keys of a 3.x document that mean something to us.
const ROOT_KEYS: &[&str] = &["openapi", "info", "servers", "paths", "components", "security", "tags", "externalDocs"];

pub(crate) fn document<'t>(cx: &mut Normalizer<'t>, doc: &Src<'t>, format: Format) -> DocumentParts {
    let mut parts = DocumentParts::default();
    for (key, child) in doc.entries() {
        if !ROOT_KEYS.contains(&key) && !key.starts_with("x-") {
            let why = match (key, format) {
                ("webhooks", _) => "webhooks are not served",
                ("jsonSchemaDialect", _) => "schemas are read as OpenAPI 3.1's default dialect",
                _ => "not an OpenAPI key",
            };
            cx.warning(Rule::DroppedKey, child.location(), format!("`{key}` is dropped ({why})"));
        }
    }
    let document_prefixes = servers::prefixes(cx, doc.get("servers")).unwrap_or_else(|| vec![String::new()]);
    let security = doc.value.get("security").cloned();

    if let Some(components) = doc.get("components") {
        if let Some(schemas) = components.get("schemas") {
            for (name, definition) in schemas.entries() {
                let target = Target { file: doc.file, pointer: refs::pointer(&["components", "schemas", name]) };
                cx.hoist(target, definition, names::component_name(name));
            }
        }
        if let Some((schemes, _)) = components.get("securitySchemes").and_then(|s| cx.deref(s)) {
            for (name, scheme) in schemes.entries() {
                let Some((scheme, siblings)) = cx.deref(scheme) else {
                    continue;
                };
                let mut value = scheme.value.clone();
                overlay(&mut value, siblings, &["description"]);
                if scheme.str("type") == Some("mutualTLS") {
                    cx.error(
                        Rule::Unsupported,
                        scheme.location_of("type"),
                        "`mutualTLS` security schemes do not exist in OpenAPI 3.0",
                    );
                    continue;
                }
                parts.security_schemes.push((name.to_owned(), value, scheme.location()));
            }
        }
    }
    if let Some(Value::Array(tags)) = doc.value.get("tags") {
        parts.tags.extend(tags.iter().cloned());
    }

    let Some(paths) = doc.get("paths") else {
        if format == Format::OpenApi30 {
            cx.error(Rule::InvalidOpenapi, doc.location(), "an OpenAPI 3.0 document needs `paths`");
        }
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
        let path_prefixes = servers::prefixes(cx, item.get("servers")).unwrap_or_else(|| document_prefixes.clone());
        let shared: Vec<Src<'t>> = item.get("parameters").map(|p| p.items()).unwrap_or_default();
        for (method, operation_src) in item.entries() {
            if !METHODS.contains(&method) {
                if !matches!(method, "parameters" | "servers" | "summary" | "description" | "$ref")
                    && !method.starts_with("x-")
                {
                    cx.warning(
                        Rule::DroppedKey,
                        operation_src.location(),
                        format!("`{method}` is not an HTTP method; ignored"),
                    );
                }
                continue;
            }
            let prefixes = servers::prefixes(cx, operation_src.get("servers")).unwrap_or_else(|| path_prefixes.clone());
            let (mut value, prov) = operation(cx, &operation_src, &shared);
            if let (Some(security), Value::Object(map)) = (&security, &mut value) {
                map.entry("security").or_insert_with(|| security.clone());
            }
            parts.operations.push(OperationUnit {
                method: method.to_owned(),
                path: path.to_owned(),
                prefixes,
                value,
                source: operation_src.location(),
                prov,
            });
        }
    }
    parts
}

fn operation<'t>(cx: &mut Normalizer<'t>, op: &Src<'t>, shared: &[Src<'t>]) -> (Value, Prov) {
    let mut prov = Prov::default();
    prov.record(&[], op.location());
    let mut result = Map::new();
    copy_keys(
        op,
        &["tags", "summary", "description", "externalDocs", "operationId", "deprecated", "security"],
        &[],
        &mut result,
    );
    if op.value.get("callbacks").is_some() {
        cx.warning(Rule::Unsupported, op.location_of("callbacks"), "`callbacks` are not supported; dropped");
    }

    let mut parameters = Vec::new();
    for parameter_src in merged_parameters(cx, shared, op.get("parameters")) {
        let out = vec!["parameters".to_owned(), parameters.len().to_string()];
        parameters.push(parameter(cx, &parameter_src, &out, &mut prov));
    }
    if !parameters.is_empty() {
        result.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some((body, siblings)) = op.get("requestBody").and_then(|b| cx.deref(b)) {
        let out = vec!["requestBody".to_owned()];
        prov.record(&out, body.location());
        let mut request_body = Map::new();
        copy_keys(&body, &["description", "required"], &[], &mut request_body);
        request_body.insert("content".into(), content(cx, body.get("content"), &at(&out, &["content"]), &mut prov));
        let mut request_body = Value::Object(request_body);
        overlay(&mut request_body, siblings, &["description"]);
        result.insert("requestBody".into(), request_body);
    }
    let mut responses = Map::new();
    match op.get("responses") {
        Some(list) => {
            for (status, response_src) in list.entries() {
                if status.starts_with("x-") {
                    continue;
                }
                let out = vec!["responses".to_owned(), status.to_owned()];
                if let Some(converted) = response(cx, response_src, &out, &mut prov) {
                    responses.insert(status.to_owned(), converted);
                }
            }
        }
        None => cx.error(Rule::InvalidOpenapi, op.location(), "an operation needs `responses`"),
    }
    result.insert("responses".into(), Value::Object(responses));
    (Value::Object(result), prov)
}

fn parameter(cx: &mut Normalizer<'_>, src: &Src<'_>, out: &[String], prov: &mut Prov) -> Value {
    prov.record(out, src.location());
    let mut result = Map::new();
    copy_keys(
        src,
        &[
            "name",
            "in",
            "description",
            "required",
            "deprecated",
            "allowEmptyValue",
            "style",
            "explode",
            "allowReserved",
        ],
        &[],
        &mut result,
    );
    if src.str("in") == Some("path") {
        result.insert("required".into(), Value::Bool(true));
    }
    let schema_src = src.get("schema");
    if let Some(schema_src) = &schema_src {
        result.insert("schema".into(), schema::convert(cx, schema_src, &at(out, &["schema"]), prov));
    }
    let wants_string = schema_wants_string(cx, schema_src.as_ref());
    add_examples(cx, src, wants_string, out, prov, &mut result);
    if let Some(content_src) = src.get("content") {
        result.insert("content".into(), content(cx, Some(content_src), &at(out, &["content"]), prov));
    }
    if schema_src.is_none() && src.get("content").is_none() {
        cx.error(Rule::InvalidOpenapi, src.location(), "a parameter needs a `schema` or `content`");
        result.insert("schema".into(), json!({}));
    }
    Value::Object(result)
}

/// `example` and `examples` of a parameter or media type.
fn add_examples(
    cx: &mut Normalizer<'_>,
    src: &Src<'_>,
    wants_string: Option<bool>,
    out: &[String],
    prov: &mut Prov,
    into: &mut Map<String, Value>,
) {
    if let Some(example_src) = src.get("example") {
        let converted = example(cx, &example_src, wants_string);
        let here = at(out, &["example"]);
        prov.record(&here, example_src.location());
        if !converted.complete {
            prov.incomplete.push(here);
        }
        into.insert("example".into(), converted.value);
    }
    let Some(examples_src) = src.get("examples") else {
        return;
    };
    let mut examples = Map::new();
    for (name, example_src) in examples_src.entries() {
        let Some((example_src, siblings)) = cx.deref(example_src) else {
            continue;
        };
        let here = at(out, &["examples", name]);
        prov.record(&here, example_src.location());
        let mut entry = Map::new();
        copy_keys(&example_src, &["summary", "description", "externalValue"], &[], &mut entry);
        if let Some(value_src) = example_src.get("value") {
            let converted = example(cx, &value_src, wants_string);
            let value_here = at(&here, &["value"]);
            prov.record(&value_here, value_src.location());
            if !converted.complete {
                prov.incomplete.push(value_here);
            }
            entry.insert("value".into(), converted.value);
        }
        let mut entry = Value::Object(entry);
        overlay(&mut entry, siblings, &["summary", "description"]);
        examples.insert(name.to_owned(), entry);
    }
    into.insert("examples".into(), Value::Object(examples));
}

/// A `content` map: media type → schema, examples, encoding.
fn content(cx: &mut Normalizer<'_>, src: Option<Src<'_>>, out: &[String], prov: &mut Prov) -> Value {
    let mut result = Map::new();
    let Some(src) = src else {
        return Value::Object(result);
    };
    for (media_type, media_src) in src.entries() {
        let here = at(out, &[media_type]);
        prov.record(&here, media_src.location());
        let mut entry = Map::new();
        let schema_src = media_src.get("schema");
        if let Some(schema_src) = &schema_src {
            entry.insert("schema".into(), schema::convert(cx, schema_src, &at(&here, &["schema"]), prov));
        }
        let wants_string = schema_wants_string(cx, schema_src.as_ref());
        add_examples(cx, &media_src, wants_string, &here, prov, &mut entry);
        copy_keys(&media_src, &["encoding"], &[], &mut entry);
        result.insert(media_type.to_owned(), Value::Object(entry));
    }
    Value::Object(result)
}

fn response(cx: &mut Normalizer<'_>, src: Src<'_>, out: &[String], prov: &mut Prov) -> Option<Value> {
    let (src, siblings) = cx.deref(src)?;
    prov.record(out, src.location());
    let mut result = Map::new();
    copy_keys(&src, &["description"], &[], &mut result);
    if !result.contains_key("description") {
        cx.warning(Rule::InvalidOpenapi, src.location(), "a response needs a `description`; an empty one is used");
        result.insert("description".into(), json!(""));
    }
    if let Some(headers_src) = src.get("headers") {
        let mut headers = Map::new();
        for (name, header_src) in headers_src.entries() {
            let Some((header_src, header_siblings)) = cx.deref(header_src) else {
                continue;
            };
            let here = at(out, &["headers", name]);
            prov.record(&here, header_src.location());
            let mut header = Map::new();
            copy_keys(&header_src, &["description", "required", "deprecated", "style", "explode"], &[], &mut header);
            let schema_src = header_src.get("schema");
            match &schema_src {
                Some(schema_src) => {
                    header.insert("schema".into(), schema::convert(cx, schema_src, &at(&here, &["schema"]), prov));
                }
                None => {
                    header.insert("schema".into(), json!({}));
                }
            }
            let wants_string = schema_wants_string(cx, schema_src.as_ref());
            add_examples(cx, &header_src, wants_string, &here, prov, &mut header);
            let mut header = Value::Object(header);
            overlay(&mut header, header_siblings, &["description"]);
            headers.insert(name.to_owned(), header);
        }
        result.insert("headers".into(), Value::Object(headers));
    }
    if let Some(content_src) = src.get("content") {
        result.insert("content".into(), content(cx, Some(content_src), &at(out, &["content"]), prov));
    }
    if src.value.get("links").is_some() {
        cx.warning(Rule::Unsupported, src.location_of("links"), "response `links` are not supported; dropped");
    }
    let mut result = Value::Object(result);
    overlay(&mut result, siblings, &["description"]);
    Some(result)
}
