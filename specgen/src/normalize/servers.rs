//! Path prefixes from `basePath` (2.0) and `servers` (3.x).
//!
//! The server only cares about the path part of a server URL:
//! `{protocol}://{hostname}{basePath}` with `basePath` defaulting to
//! `/_matrix/client/v3` gives the prefix `/_matrix/client/v3`. Every value a
//! variable may take (its `default`, then each of its `enum`) is expanded;
//! values that only change the scheme or host give the same prefix and
//! collapse, values of a path variable give extra prefixes. Several servers
//! give several prefixes, the first one first.

use crate::diagnostics::Rule;
use serde_json::Value;

use super::{Normalizer, Src};

/// At most this many combinations of variable values are expanded per URL.
const MAX_COMBINATIONS: usize = 256;

/// A `basePath` (after placeholder substitution) as a prefix.
pub(crate) fn base_path_prefix(cx: &Normalizer<'_>, base_path: Option<&str>) -> String {
    normalize_prefix(&cx.substitute(base_path.unwrap_or("")))
}

/// The prefixes of a Swagger 2.0 document: its `basePath`, then each of
/// its `x-basePaths` (a list of strings), without repeats.
pub(crate) fn base_path_prefixes(cx: &mut Normalizer<'_>, doc: &Src<'_>) -> Vec<String> {
    let mut out = vec![base_path_prefix(cx, doc.str("basePath"))];
    let Some(more) = doc.get(EXTRA_BASE_PATHS) else {
        return out;
    };
    if !more.value.is_array() {
        cx.error(Rule::InvalidOpenapi, more.location(), format!("`{EXTRA_BASE_PATHS}` must be a list of base paths"));
        return out;
    }
    for item in more.items() {
        match item.value.as_str() {
            Some(base_path) => {
                let prefix = base_path_prefix(cx, Some(base_path));
                if !out.contains(&prefix) {
                    out.push(prefix);
                }
            }
            None => cx.error(Rule::InvalidOpenapi, item.location(), "a base path must be a string"),
        }
    }
    out
}

/// The Swagger 2.0 extension listing more base paths than `basePath`.
pub(crate) const EXTRA_BASE_PATHS: &str = "x-basePaths";

/// The prefixes a `servers` list gives; `None` when there is no list (the
/// caller falls back to the enclosing level).
pub(crate) fn prefixes(cx: &mut Normalizer<'_>, servers: Option<Src<'_>>) -> Option<Vec<String>> {
    let servers = servers?;
    if !servers.value.is_array() {
        cx.error(Rule::InvalidOpenapi, servers.location(), "`servers` must be a list");
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for server in servers.items() {
        let Some(url) = server.str("url") else {
            cx.error(Rule::InvalidOpenapi, server.location(), "a server needs a `url`");
            continue;
        };
        for prefix in expand(cx, &server, url) {
            if !out.contains(&prefix) {
                out.push(prefix);
            }
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

/// Every prefix one server URL template gives.
fn expand(cx: &mut Normalizer<'_>, server: &Src<'_>, url: &str) -> Vec<String> {
    let names = variable_names(url);
    let mut combinations: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for name in &names {
        let values = match server.get("variables").and_then(|v| v.get(name)) {
            Some(variable) => variable_values(&variable),
            None => Vec::new(),
        };
        if values.is_empty() {
            cx.error(
                Rule::InvalidOpenapi,
                server.location_of("url"),
                format!("server URL `{url}` uses `{{{name}}}`, which has no `default` under `variables`"),
            );
            return Vec::new();
        }
        combinations = combinations
            .into_iter()
            .flat_map(|combination| {
                values.iter().map(move |value| {
                    let mut next = combination.clone();
                    next.push((name.clone(), value.clone()));
                    next
                })
            })
            .take(MAX_COMBINATIONS)
            .collect();
    }
    let mut out = Vec::new();
    for combination in combinations {
        let mut expanded = url.to_owned();
        for (name, value) in &combination {
            expanded = expanded.replace(&format!("{{{name}}}"), value);
        }
        let prefix = normalize_prefix(&path_part(&cx.substitute(&expanded)));
        if !out.contains(&prefix) {
            out.push(prefix);
        }
    }
    out
}

/// `{name}`s in a URL template, in order, without repeats.
fn variable_names(url: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = url;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = rest[start + 1..start + len].to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &rest[start + len + 1..];
    }
    names
}

/// A variable's values: its `default` first, then its `enum`.
fn variable_values(variable: &Src<'_>) -> Vec<String> {
    let as_text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    let mut values: Vec<String> = variable.value.get("default").map(as_text).into_iter().collect();
    for value in variable.value.get("enum").and_then(Value::as_array).into_iter().flatten() {
        let value = as_text(value);
        if !values.contains(&value) {
            values.push(value);
        }
    }
    values
}

/// The path part of an absolute or relative URL.
fn path_part(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| rest[i..].to_owned()).unwrap_or_default(),
        None => url.to_owned(),
    }
}

/// A prefix starts with `/` and has no trailing `/` (the root is `""`).
fn normalize_prefix(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parts() {
        assert_eq!(path_part("https://localhost:8008/_matrix/client/v3"), "/_matrix/client/v3");
        assert_eq!(path_part("https://localhost:8008"), "");
        assert_eq!(normalize_prefix("/"), "");
        assert_eq!(normalize_prefix("/_matrix/client/"), "/_matrix/client");
        assert_eq!(variable_names("{protocol}://{hostname}{basePath}"), ["protocol", "hostname", "basePath"]);
    }
}
