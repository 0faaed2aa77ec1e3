//! The reference page: the published document as one static HTML page.
//!
//! Spec editors edit YAML and rebuild; this is where they see the result.
//! It is rendered from the published document itself (so it shows exactly
//! what clients get, stubs marked), with no JavaScript and no asset from the
//! network: it must work on a machine with no internet. Operations are
//! grouped by tag; each shows its method, every path it is served under
//! (one per prefix), its description, parameters, request and response
//! schemas and the YAML's examples, and has an anchor named after its
//! `operationId`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::Route;

const STYLE: &str = "
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2430;background:#fbfbfd}
header{background:#0b5cad;color:#fff;padding:1.2em 2em}header h1{margin:0;font-size:1.6em}
header p{margin:.3em 0 0;opacity:.9;white-space:pre-line}
nav{position:fixed;top:0;bottom:0;left:0;width:17em;overflow:auto;padding:1em;background:#eef1f6;border-right:1px solid #d5dbe5}
nav h2{font-size:.8em;text-transform:uppercase;color:#556;margin:1.2em 0 .3em}nav a{display:block;color:#0b4a8c;text-decoration:none;font-size:.9em;padding:.1em 0}
main{margin-left:19em;padding:0 2em 4em}section.tag>h2{border-bottom:2px solid #0b5cad;padding-top:1em}
article{background:#fff;border:1px solid #d5dbe5;border-radius:6px;padding:.8em 1.2em;margin:1.2em 0}
article h3{margin:.2em 0 .4em;font-size:1.1em}.method{display:inline-block;min-width:4em;text-align:center;border-radius:4px;color:#fff;font-size:.8em;padding:.1em .4em;margin-right:.5em}
.get{background:#1a7f37}.post{background:#0b5cad}.put{background:#9a6700}.delete{background:#cf222e}.patch{background:#8250df}
.paths code{display:block}.badge{background:#cf222e;color:#fff;border-radius:4px;font-size:.75em;padding:.1em .4em;margin-left:.5em}
.deprecated{background:#9a6700}
.description{white-space:pre-line}table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #d5dbe5;padding:.2em .6em;text-align:left;vertical-align:top}
pre{background:#f3f5f9;border:1px solid #e1e6ee;padding:.6em;overflow:auto;font-size:.85em;max-height:28em}
details{margin:.3em 0}summary{cursor:pointer;font-weight:600}.status{font-weight:700}
";

/// Renders the page from the published document (as JSON) and the routes.
pub fn render(document: &Value, routes: &[Route]) -> String {
    let info = &document["info"];
    let title = info["title"].as_str().unwrap_or("API");
    let mut by_tag: BTreeMap<String, Vec<(&str, &str, &Value)>> = BTreeMap::new();
    let mut tag_order: Vec<String> = document["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tag| tag["name"].as_str().map(str::to_owned))
        .collect();
    // One entry per operation (its first route); the others are its paths.
    let mut seen = Vec::new();
    for route in routes {
        if seen.contains(&route.operation_id) {
            continue;
        }
        seen.push(route.operation_id.clone());
        let Some(operation) = document["paths"][&route.path].get(route.method.to_ascii_lowercase()) else {
            continue;
        };
        let tag = operation["tags"][0].as_str().unwrap_or("Other").to_owned();
        if !tag_order.contains(&tag) {
            tag_order.push(tag.clone());
        }
        by_tag.entry(tag).or_default().push((&route.operation_id, &route.method, operation));
    }

    let mut nav = String::new();
    let mut body = String::new();
    for tag in tag_order.iter().filter(|t| by_tag.contains_key(*t)) {
        let operations = &by_tag[tag];
        let _ = write!(nav, "<h2>{}</h2>", escape(tag));
        let _ = write!(body, "<section class=\"tag\" id=\"tag-{}\"><h2>{}</h2>", slug(tag), escape(tag));
        if let Some(description) = document["tags"]
            .as_array()
            .and_then(|tags| tags.iter().find(|t| t["name"] == tag.as_str()))
            .and_then(|t| t["description"].as_str())
        {
            let _ = write!(body, "<p>{}</p>", inline(description));
        }
        for (operation_id, method, operation) in operations {
            let summary = operation["summary"].as_str().unwrap_or(operation_id);
            let _ = write!(nav, "<a href=\"#{}\">{}</a>", escape(operation_id), escape(summary));
            let paths: Vec<&Route> = routes.iter().filter(|r| r.operation_id == *operation_id).collect();
            body.push_str(&operation_html(document, operation_id, method, &paths, operation));
        }
        body.push_str("</section>");
    }

    let description = info["description"].as_str().unwrap_or("");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\
         <nav><strong>{title}</strong>{nav}</nav><main><header><h1>{title}</h1><p>{description}</p>\
         <p>OpenAPI document: <a href=\"openapi.json\" style=\"color:#fff\">/openapi.json</a></p></header>{body}</main>\
         </body></html>\n",
        title = escape(title),
        description = inline(description),
    )
}

fn operation_html(document: &Value, operation_id: &str, method: &str, paths: &[&Route], operation: &Value) -> String {
    let mut out = String::new();
    let lower = method.to_ascii_lowercase();
    let _ = write!(out, "<article id=\"{}\">", escape(operation_id));
    let _ = write!(
        out,
        "<h3><span class=\"method {lower}\">{method}</span>{}",
        escape(operation["summary"].as_str().unwrap_or(operation_id))
    );
    if operation.get("x-not-implemented") == Some(&Value::Bool(true)) {
        out.push_str("<span class=\"badge\">not implemented</span>");
    }
    if operation.get("deprecated") == Some(&Value::Bool(true)) {
        out.push_str("<span class=\"badge deprecated\">deprecated</span>");
    }
    let _ = write!(out, "</h3><div class=\"paths\">");
    // Each path is also the anchor of its route id (`loginR0`), the
    // operationId the published document gives that path.
    for route in paths {
        let anchor =
            if route.route_id == operation_id { String::new() } else { format!(" id=\"{}\"", escape(&route.route_id)) };
        let _ = write!(out, "<code{anchor}>{method} {}</code>", escape(&route.path));
    }
    let _ = write!(out, "</div><p><small>operationId <code>{}</code>", escape(operation_id));
    if let Some(security) = operation["security"].as_array() {
        let schemes: Vec<String> =
            security.iter().filter_map(|r| r.as_object()).flat_map(|r| r.keys().cloned()).collect();
        let needs =
            if schemes.is_empty() { "no access token".to_owned() } else { format!("auth: {}", schemes.join(" or ")) };
        let optional = security.iter().any(|r| r.as_object().is_some_and(|r| r.is_empty()));
        let _ =
            write!(out, " · {}{}", escape(&needs), if optional && !schemes.is_empty() { " (optional)" } else { "" });
    }
    out.push_str("</small></p>");
    if let Some(description) = operation["description"].as_str() {
        let _ = write!(out, "<p class=\"description\">{}</p>", inline(description));
    }

    if let Some(parameters) = operation["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>");
        for parameter in parameters {
            let parameter = resolve(document, parameter);
            let required = if parameter["required"] == Value::Bool(true) { " <em>required</em>" } else { "" };
            let _ = write!(
                out,
                "<tr><td><code>{}</code>{required}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(parameter["name"].as_str().unwrap_or("")),
                escape(parameter["in"].as_str().unwrap_or("")),
                escape(&type_name(document, &parameter["schema"])),
                inline(parameter["description"].as_str().unwrap_or("")),
            );
        }
        out.push_str("</table>");
    }

    if let Some(body) = operation.get("requestBody") {
        let body = resolve(document, body);
        let required = if body["required"] == Value::Bool(true) { " (required)" } else { "" };
        let _ = write!(out, "<h4>Request body{required}</h4>");
        out.push_str(&media_html(document, &body["content"]));
    }

    if let Some(responses) = operation["responses"].as_object() {
        out.push_str("<h4>Responses</h4>");
        for (status, response) in responses {
            let response = resolve(document, response);
            let _ = write!(
                out,
                "<details{}><summary><span class=\"status\">{}</span> {}</summary>",
                if status.starts_with('2') { " open" } else { "" },
                escape(status),
                inline(response["description"].as_str().unwrap_or("")),
            );
            out.push_str(&media_html(document, &response["content"]));
            out.push_str("</details>");
        }
    }
    out.push_str("</article>");
    out
}

/// A body's schema and examples, for each media type.
fn media_html(document: &Value, content: &Value) -> String {
    let mut out = String::new();
    for (media, value) in content.as_object().into_iter().flatten() {
        let _ = write!(out, "<p><small>{}</small></p>", escape(media));
        if let Some(schema) = value.get("schema") {
            let _ = write!(
                out,
                "<details><summary>schema</summary><pre>{}</pre></details>",
                escape(&pretty(&expand(document, schema, 0)))
            );
        }
        let examples = value
            .get("example")
            .map(|example| vec![("example".to_owned(), example.clone())])
            .or_else(|| {
                value.get("examples").and_then(Value::as_object).map(|examples| {
                    examples
                        .iter()
                        .map(|(name, e)| (name.clone(), e.get("value").cloned().unwrap_or(Value::Null)))
                        .collect()
                })
            })
            .unwrap_or_default();
        for (name, example) in examples {
            let _ = write!(out, "<p><small>{}</small></p><pre>{}</pre>", escape(&name), escape(&pretty(&example)));
        }
    }
    out
}

/// A schema with its `$ref`s to components replaced by what they name
/// (titled, so the reader knows the name), to a bounded depth: recursive
/// schemas stay references past it.
fn expand(document: &Value, schema: &Value, depth: usize) -> Value {
    match schema {
        Value::Object(object) => {
            if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                if depth >= 4 {
                    return schema.clone();
                }
                let target = lookup(document, reference);
                let mut expanded = expand(document, &target, depth + 1);
                if let Value::Object(expanded) = &mut expanded {
                    let name = reference.rsplit('/').next().unwrap_or(reference);
                    expanded.entry("title").or_insert_with(|| name.into());
                    expanded.remove("example");
                }
                return expanded;
            }
            Value::Object(
                object
                    .iter()
                    .filter(|(key, _)| key.as_str() != "example")
                    .map(|(key, value)| (key.clone(), expand(document, value, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| expand(document, item, depth)).collect()),
        other => other.clone(),
    }
}

fn resolve(document: &Value, value: &Value) -> Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => lookup(document, reference),
        None => value.clone(),
    }
}

fn lookup(document: &Value, reference: &str) -> Value {
    reference.strip_prefix('#').and_then(|pointer| document.pointer(pointer)).cloned().unwrap_or(Value::Null)
}

fn type_name(document: &Value, schema: &Value) -> String {
    let schema = resolve(document, schema);
    match (schema["type"].as_str(), schema["enum"].as_array()) {
        (_, Some(values)) => values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" | "),
        (Some(ty), None) => ty.to_owned(),
        (None, None) => "any".to_owned(),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn slug(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// `text` safe in HTML, attribute values included (`&<>"'` escaped).
fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// Escaped text with the descriptions' inline code (`` `x` `` and the
/// Swagger era's ``` ``x`` ```) as `<code>`.
fn inline(text: &str) -> String {
    let escaped = escape(text).replace("``", "`");
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Location, YamlPath};

    fn route(operation_id: &str, method: &str, path: &str) -> Route {
        Route {
            operation_id: operation_id.into(),
            route_id: operation_id.into(),
            method: method.into(),
            path: path.into(),
            prefix: String::new(),
            source: Location::new("api.yaml", YamlPath::default()),
        }
    }

    #[test]
    fn every_operation_has_an_anchor_its_paths_and_examples() {
        let document = serde_json::json!({
            "info": {"title": "T <api>", "version": "1"},
            "tags": [{"name": "Session management"}],
            "paths": {
                "/v3/login": {"post": {
                    "operationId": "login", "tags": ["Session management"], "summary": "Log in",
                    "description": "Uses `m.login.password`.",
                    "x-not-implemented": true,
                    "responses": {"200": {"description": "ok", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Token"},
                        "example": {"access_token": "abc"}}}}}}},
                "/r0/login": {"post": {"operationId": "loginR0"}}
            },
            "components": {"schemas": {"Token": {"type": "object", "properties": {"access_token": {"type": "string"}}}}}
        });
        let mut r0 = route("login", "POST", "/r0/login");
        r0.route_id = "loginR0".into();
        let routes = [route("login", "POST", "/v3/login"), r0];
        let page = render(&document, &routes);
        assert!(page.contains("id=\"login\""), "{page}");
        assert!(page.contains("<code>POST /v3/login</code><code id=\"loginR0\">POST /r0/login</code>"), "{page}");
        assert!(page.contains("&quot;access_token&quot;: &quot;abc&quot;"), "{page}");
        assert!(page.contains("<code>m.login.password</code>"), "{page}");
        assert!(page.contains("not implemented"), "{page}");
        assert!(page.contains("T &lt;api&gt;"), "the title is escaped: {page}");
        assert!(page.contains("&quot;title&quot;: &quot;Token&quot;"), "references are expanded: {page}");
        assert!(!page.contains("<script"), "no JavaScript");
    }
}
