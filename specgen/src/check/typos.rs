//! A lint for near misses: a string in an example that is not one of the
//! values its schema's description quotes (in "double quotes" or
//! ``double backticks``) but is within edit distance 2 of one. The 2015
//! Matrix login example says `"m.login.pasword"` where the description says
//! `Currently only "m.login.password" is supported.`: a schema without an
//! `enum` cannot catch that, this lint does.

use serde_json::{Map, Value};

/// How far a value may be from a quoted one to count as a typo of it.
const MAX_DISTANCE: usize = 2;
/// Quoted values shorter than this are too short to call a near miss.
const MIN_LENGTH: usize = 4;
/// How deep refs and nesting are followed.
const MAX_DEPTH: usize = 64;

/// Reports near misses in `instance` against `schema`, as messages.
pub(crate) fn lint(instance: &Value, schema: &Value, components: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    walk(instance, schema, components, "", 0, &mut out);
    out.sort();
    out.dedup();
    out
}

fn walk(
    instance: &Value,
    schema: &Value,
    components: &Map<String, Value>,
    at: &str,
    depth: usize,
    out: &mut Vec<String>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        if let Some(target) = components.get(name) {
            walk(instance, target, components, at, depth + 1, out);
        }
        return;
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for branch in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            walk(instance, branch, components, at, depth + 1, out);
        }
    }
    match instance {
        Value::String(text) if schema.get("enum").is_none() => {
            let description = schema.get("description").and_then(Value::as_str).unwrap_or_default();
            let quoted = quoted_values(description);
            if quoted.iter().any(|q| q == text) {
                return;
            }
            for candidate in quoted {
                let distance = strsim::levenshtein(text, &candidate);
                if (1..=MAX_DISTANCE).contains(&distance) && candidate.chars().count() >= MIN_LENGTH {
                    let place = if at.is_empty() { String::new() } else { format!(" at `{at}`") };
                    out.push(format!(
                        "example value \"{text}\"{place} looks like a typo of \"{candidate}\" (quoted in the schema's description)"
                    ));
                }
            }
        }
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, value) in map {
                let child_at = format!("{at}/{}", crate::refs::escape(key));
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => walk(value, property, components, &child_at, depth + 1, out),
                    None => {
                        if let Some(additional @ Value::Object(_)) = schema.get("additionalProperties") {
                            walk(value, additional, components, &child_at, depth + 1, out);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item, item_schema, components, &format!("{at}/{i}"), depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

/// Values a description quotes: `"like this"` or ``` ``like this`` ```.
fn quoted_values(description: &str) -> Vec<String> {
    let mut out = Vec::new();
    for delimiter in ["\"", "``"] {
        let parts: Vec<&str> = description.split(delimiter).collect();
        // Odd parts lie between an opening and a closing delimiter.
        for (i, part) in parts.iter().enumerate() {
            if i % 2 == 1 && i + 1 < parts.len() && !part.is_empty() && part.len() <= 80 && !part.contains('\n') {
                out.push((*part).to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_2015_login_typo() {
        let schema = json!({
            "type": "object",
            "properties": {"type": {"type": "string", "description": "Currently only \"m.login.password\" is supported."}}
        });
        let found = lint(&json!({"type": "m.login.pasword"}), &schema, &Map::new());
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("looks like a typo of \"m.login.password\""), "{found:?}");
        assert!(lint(&json!({"type": "m.login.password"}), &schema, &Map::new()).is_empty());
        assert!(lint(&json!({"type": "m.login.token.other"}), &schema, &Map::new()).is_empty());
    }

    #[test]
    fn quotes_in_both_styles() {
        assert_eq!(quoted_values("use ``m.text`` or \"m.emote\""), ["m.emote", "m.text"]);
    }
}
