//! Schemas of every dialect (Swagger 2.0, OpenAPI 3.0, OpenAPI 3.1 / JSON
//! Schema 2020-12, the draft-04 JSON files of 2015) into OpenAPI 3.0 schemas.
//!
//! What changes:
//! * `$ref` → hoisted, `#/components/schemas/Name`; keywords next to a ref
//!   (3.1 allows them) are kept, the ref becoming an `allOf` branch;
//! * `type: [T, "null"]` → `type: T, nullable: true`; several non-null types
//!   → `anyOf` of one branch per type, each with the keywords for its type;
//!   a `{type: "null"}` branch of `anyOf`/`oneOf` → `nullable: true`;
//! * `const` → one-value `enum`; `examples: [..]` → `example` (the first);
//!   numeric `exclusiveMinimum`/`exclusiveMaximum` → bound + boolean;
//! * 2.0: `type: file` → binary string, `x-nullable`, `discriminator: name`;
//! * draft-03 `required: true` on a property → the parent's `required`;
//! * `patternProperties` (no 3.0 equivalent; Matrix uses it for maps keyed by
//!   user id) → `additionalProperties` with the pattern's schema, the
//!   original kept as `x-patternProperties` so examples are still checked
//!   against it; other JSON-Schema-only keywords → `x-<keyword>` and a
//!   warning;
//! * `$schema`, `$id`, `$comment`, local `definitions` → dropped (the
//!   definitions a ref uses are hoisted).

use crate::diagnostics::Rule;
use serde_json::{Map, Value, json};

use super::examples::example;
use super::registry::schema_ref;
use super::{Normalizer, Prov, Src, at};

/// JSON Schema keywords with no OpenAPI 3.0 equivalent, kept as `x-<name>`
/// so that `check` can restore them when it validates examples.
pub(crate) const KEPT_AS_EXTENSIONS: &[&str] = &[
    "patternProperties",
    "propertyNames",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "contains",
    "minContains",
    "maxContains",
    "if",
    "then",
    "else",
    "prefixItems",
    "additionalItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
];

/// Keys that carry no meaning once refs are resolved.
const DROPPED: &[&str] = &["$schema", "$id", "$comment", "$anchor", "$dynamicAnchor", "definitions", "$defs"];

/// Keywords that only constrain one JSON type (for splitting multi-type
/// schemas into `anyOf` branches).
fn keyword_types(key: &str) -> &'static [&'static str] {
    match key {
        "properties"
        | "additionalProperties"
        | "required"
        | "minProperties"
        | "maxProperties"
        | "x-patternProperties"
        | "x-propertyNames"
        | "discriminator" => &["object"],
        "items" | "minItems" | "maxItems" | "uniqueItems" => &["array"],
        "minLength" | "maxLength" | "pattern" => &["string"],
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" => &["integer", "number"],
        "format" => &["string", "integer", "number"],
        _ => &[],
    }
}

/// Converts the schema at `src`, writing provenance under `out`.
pub(crate) fn convert(cx: &mut Normalizer<'_>, src: &Src<'_>, out: &[String], prov: &mut Prov) -> Value {
    prov.record(out, src.location());
    let map = match src.value {
        Value::Object(map) => map,
        Value::Bool(true) => return json!({}),
        Value::Bool(false) => return json!({"not": {}}),
        _ => {
            cx.error(Rule::InvalidOpenapi, src.location(), "a schema must be an object");
            return json!({});
        }
    };
    let Some(reference) = src.ref_string() else {
        return convert_object(cx, src, out, prov);
    };
    let reference = cx
        .resolve_ref(src, reference)
        .map(|(target, target_src)| json!({"$ref": schema_ref(&cx.hoist_ref(target, target_src))}));
    let siblings: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "$ref" && !DROPPED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if siblings.is_empty() {
        return reference.unwrap_or_else(|| json!({}));
    }
    // Keywords next to a ref: both apply. The ref joins `allOf` last so that
    // the recorded positions of the written branches stay right.
    let siblings = Value::Object(siblings);
    let mut converted = convert_object(cx, &src.with_value(&siblings), out, prov);
    if let (Some(reference), Value::Object(object)) = (reference, &mut converted) {
        match object.get_mut("allOf") {
            Some(Value::Array(branches)) => branches.push(reference),
            _ => {
                object.insert("allOf".into(), json!([reference]));
            }
        }
    }
    converted
}

fn convert_object(cx: &mut Normalizer<'_>, src: &Src<'_>, out: &[String], prov: &mut Prov) -> Value {
    let mut result = Map::new();
    let mut nullable = false;
    let mut types: Vec<String> = Vec::new();
    let mut required_by_property: Vec<String> = Vec::new();
    let mut example_src: Option<Src<'_>> = None;
    let mut first_example: Option<Src<'_>> = None;
    let mut exclusive: Vec<(&str, Value)> = Vec::new();

    for (key, child) in src.entries() {
        let here = at(out, &[key]);
        match key {
            "$ref" => {}
            k if DROPPED.contains(&k) => {}
            "id" if child.value.is_string() => {}
            "type" => match child.value {
                Value::String(t) => match t.as_str() {
                    "file" => {
                        result.insert("type".into(), json!("string"));
                        if src.value.get("format").is_none() {
                            result.insert("format".into(), json!("binary"));
                        }
                    }
                    "null" => nullable = true,
                    _ => types.push(t.clone()),
                },
                Value::Array(list) => {
                    for t in list {
                        match t.as_str() {
                            Some("null") => nullable = true,
                            Some(t) => types.push(t.to_owned()),
                            None => cx.error(Rule::InvalidOpenapi, child.location(), "`type` entries must be strings"),
                        }
                    }
                }
                _ => cx.error(Rule::InvalidOpenapi, child.location(), "`type` must be a string or a list of strings"),
            },
            "nullable" | "x-nullable" => nullable |= child.value.as_bool().unwrap_or(false),
            "const" => {
                result.insert("enum".into(), json!([child.value.clone()]));
            }
            "example" => example_src = Some(child),
            "examples" => match child.value {
                Value::Array(_) => first_example = child.items().into_iter().next(),
                _ => cx.warning(Rule::InvalidOpenapi, child.location(), "schema `examples` must be a list; ignored"),
            },
            "exclusiveMinimum" | "exclusiveMaximum" if child.value.is_number() => {
                exclusive.push((key, child.value.clone()));
            }
            "properties" => {
                let mut properties = Map::new();
                for (name, property) in child.entries() {
                    if property.value.get("required") == Some(&Value::Bool(true)) {
                        required_by_property.push(name.to_owned());
                    }
                    properties.insert(name.to_owned(), convert(cx, &property, &at(&here, &[name]), prov));
                }
                result.insert(key.into(), Value::Object(properties));
            }
            "additionalProperties" | "not" => {
                let value = match child.value {
                    Value::Bool(b) if key == "additionalProperties" => Value::Bool(*b),
                    _ => convert(cx, &child, &here, prov),
                };
                result.insert(key.into(), value);
            }
            "items" => match child.value {
                Value::Array(_) => {
                    cx.warning(Rule::Unsupported,
                        child.location(),
                        "tuple `items` (a list of schemas) cannot be expressed in OpenAPI 3.0; items may match any of them",
                    );
                    let branches = child
                        .items()
                        .iter()
                        .enumerate()
                        .map(|(i, item)| convert(cx, item, &at(&here, &["anyOf", &i.to_string()]), prov))
                        .collect();
                    result.insert(key.into(), json!({"anyOf": Value::Array(branches)}));
                }
                _ => {
                    result.insert(key.into(), convert(cx, &child, &here, prov));
                }
            },
            "allOf" | "anyOf" | "oneOf" => {
                let branches: Vec<Value> = child
                    .items()
                    .iter()
                    .enumerate()
                    .map(|(i, item)| convert(cx, item, &at(&here, &[&i.to_string()]), prov))
                    .collect();
                if !child.value.is_array() {
                    cx.error(Rule::InvalidOpenapi, child.location(), format!("`{key}` must be a list of schemas"));
                }
                result.insert(key.into(), Value::Array(branches));
            }
            "discriminator" => {
                let mut value = match child.value {
                    Value::String(name) => json!({"propertyName": name}),
                    other => other.clone(),
                };
                // Mapping values are references like `$ref`s: a file or a
                // fragment becomes the name it is hoisted under.
                if let Some(mapping) = child.get("mapping") {
                    for (tag, target) in mapping.entries() {
                        let Some(reference) = target.value.as_str() else { continue };
                        if reference.starts_with("#/components/schemas/") {
                            continue;
                        }
                        if let Some((target, target_src)) = cx.resolve_ref(&target, reference) {
                            let name = cx.hoist_ref(target, target_src);
                            value["mapping"][tag] = json!(schema_ref(&name));
                        }
                    }
                }
                result.insert(key.into(), value);
            }
            "required" => match child.value {
                Value::Array(_) => {
                    result.insert(key.into(), child.value.clone());
                }
                // draft-03 `required: true` is lifted into the parent.
                Value::Bool(_) => {}
                _ => cx.error(Rule::InvalidOpenapi, child.location(), "`required` must be a list of property names"),
            },
            k if KEPT_AS_EXTENSIONS.contains(&k) => {
                let kept = match child.value {
                    Value::Object(_) if k == "patternProperties" || k == "dependentSchemas" => {
                        let mut map = Map::new();
                        for (name, schema) in child.entries() {
                            map.insert(name.to_owned(), convert(cx, &schema, &at(&here, &[name]), prov));
                        }
                        Value::Object(map)
                    }
                    Value::Object(_) if matches!(k, "propertyNames" | "contains" | "if" | "then" | "else") => {
                        convert(cx, &child, &here, prov)
                    }
                    other => other.clone(),
                };
                if k != "patternProperties" {
                    cx.warning(Rule::Unsupported,
                        child.location(),
                        format!("`{k}` cannot be expressed in OpenAPI 3.0; kept as `x-{k}` (examples are still checked against it)"),
                    );
                }
                result.insert(format!("x-{k}"), kept);
            }
            _ => {
                result.insert(key.into(), child.value.clone());
            }
        }
    }

    // A single type stays a type; several become branches below.
    if types.len() == 1 {
        result.insert("type".into(), json!(types[0]));
    }
    if types.is_empty() && nullable && src.value.get("type").is_some() && result.get("enum").is_none() {
        // `type: "null"` alone: only null is allowed.
        result.insert("enum".into(), json!([null]));
    }
    for (key, bound) in exclusive {
        let inclusive = if key == "exclusiveMinimum" { "minimum" } else { "maximum" };
        let stricter = match result.get(inclusive).and_then(Value::as_f64) {
            Some(existing) if key == "exclusiveMinimum" => existing < bound.as_f64().unwrap_or(f64::MIN),
            Some(existing) => existing > bound.as_f64().unwrap_or(f64::MAX),
            None => true,
        };
        if stricter {
            result.insert(inclusive.into(), bound);
            result.insert(key.into(), Value::Bool(true));
        }
    }
    if !required_by_property.is_empty() {
        let mut required: Vec<Value> = result.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
        for name in required_by_property {
            if !required.contains(&json!(name)) {
                required.push(json!(name));
            }
        }
        result.insert("required".into(), Value::Array(required));
    }
    if let Some(patterns) = result.get("x-patternProperties").and_then(Value::as_object)
        && !result.contains_key("additionalProperties")
    {
        let schemas: Vec<Value> = patterns.values().cloned().collect();
        let additional = if schemas.len() == 1 { schemas[0].clone() } else { json!({"anyOf": schemas}) };
        result.insert("additionalProperties".into(), additional);
    }
    fold_null_branches(&mut result, &mut nullable);
    if nullable {
        result.insert("nullable".into(), Value::Bool(true));
    }
    if types.len() > 1 {
        split_types(&mut result, &types);
    }

    // The example, decoded against the type now known.
    let example_src = example_src.or(first_example);
    if let Some(example_src) = example_src {
        let wants_string = match result.get("type").and_then(Value::as_str) {
            Some(t) => Some(t == "string"),
            None if types.len() > 1 => Some(types.iter().all(|t| t == "string")),
            None => None,
        };
        let converted = example(cx, &example_src, wants_string);
        let here = at(out, &["example"]);
        prov.record(&here, example_src.location());
        if !converted.complete {
            prov.incomplete.push(here);
        }
        result.insert("example".into(), converted.value);
    }
    Value::Object(result)
}

/// Whether a converted branch is the null type.
fn is_null_branch(branch: &Value) -> bool {
    branch.get("enum") == Some(&json!([null]))
        && branch.get("type").is_none()
        && branch.get("nullable") == Some(&json!(true))
}

/// `anyOf`/`oneOf` with a `{type: "null"}` branch → the other branches and
/// `nullable: true` (one remaining branch becomes `allOf: [it]`).
fn fold_null_branches(result: &mut Map<String, Value>, nullable: &mut bool) {
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = result.get_mut(key) else {
            continue;
        };
        let before = branches.len();
        branches.retain(|b| !is_null_branch(b));
        let remaining = branches.len();
        if remaining == before {
            continue;
        }
        *nullable = true;
        if remaining == 1 && !result.contains_key("allOf") {
            if let Some(Value::Array(mut remaining)) = result.shift_remove(key) {
                result.insert("allOf".into(), Value::Array(vec![remaining.remove(0)]));
            }
        } else if remaining == 0 {
            result.shift_remove(key);
        }
    }
}

/// Several non-null types: one `anyOf` branch per type, carrying the
/// keywords that constrain that type.
fn split_types(result: &mut Map<String, Value>, types: &[String]) {
    let mut branches: Vec<Map<String, Value>> = types
        .iter()
        .map(|t| {
            let mut branch = Map::new();
            branch.insert("type".into(), json!(t));
            branch
        })
        .collect();
    let keys: Vec<String> = result.keys().filter(|k| !keyword_types(k).is_empty()).cloned().collect();
    for key in keys {
        let applies = keyword_types(&key);
        if let Some(value) = result.shift_remove(&key) {
            for (branch, t) in branches.iter_mut().zip(types) {
                if applies.contains(&t.as_str()) {
                    branch.insert(key.clone(), value.clone());
                }
            }
        }
    }
    let branches = Value::Array(branches.into_iter().map(Value::Object).collect());
    match result.shift_remove("anyOf") {
        Some(existing) => {
            let mut all_of = result.get("allOf").and_then(Value::as_array).cloned().unwrap_or_default();
            all_of.push(json!({"anyOf": existing}));
            all_of.push(json!({"anyOf": branches}));
            result.insert("allOf".into(), Value::Array(all_of));
        }
        None => {
            result.insert("anyOf".into(), branches);
        }
    }
}
