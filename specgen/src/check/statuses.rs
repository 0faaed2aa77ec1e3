//! Every status the server can answer is declared, and every public
//! operation says it is public.
//!
//! A generated client treats a status its operation does not declare as a
//! surprise (openapi-python-client raises, others return an untyped
//! value). The generated server answers some statuses by itself, whatever
//! the YAML says, so the YAML must declare them:
//!
//! * an operation with a request body: `400` (`M_NOT_JSON`, `M_BAD_JSON`,
//!   `M_MISSING_PARAM`), `408` (the body did not arrive in time) and `413`
//!   (`M_TOO_LARGE`);
//! * an operation with security requirements: `401` (`M_MISSING_TOKEN`,
//!   `M_UNKNOWN_TOKEN`);
//! * an operation marked `x-rate-limited: true` (the Matrix spec's
//!   "rate-limited" mark, which it writes as a 429 response): `429`.
//!
//! A `default` response, or a range (`4XX`), declares them all at once.
//!
//! An operation without `security` is public only if the document says so:
//! with no document-wide `security`, linters and generators cannot tell a
//! forgotten requirement from a public operation, so a public operation in
//! a document with security schemes must write `security: []`.
//!
//! Findings are errors in strict mode, warnings otherwise, at the
//! operation's source.

use std::collections::HashSet;

use serde_json::Value;

use crate::Spec;
use crate::diagnostics::{Diagnostic, Location, Rule};

/// The vendor extension that marks a rate-limited operation.
pub const RATE_LIMITED: &str = "x-rate-limited";

/// What one operation lacks, as messages.
pub(crate) fn missing(operation: &Value, document: &Value) -> Vec<String> {
    let mut findings = Vec::new();
    let declared: Vec<&str> = operation
        .get("responses")
        .and_then(Value::as_object)
        .map(|r| r.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let covers = |status: u16| {
        let code = status.to_string();
        let range = format!("{}XX", status / 100);
        declared.iter().any(|d| *d == "default" || *d == code || d.eq_ignore_ascii_case(&range))
    };
    let security = operation.get("security").or_else(|| document.get("security"));
    let mut needed: Vec<(u16, &str)> = Vec::new();
    if operation.get("requestBody").is_some() {
        needed.push((400, "it takes a body, which may not be JSON (`M_NOT_JSON`, `M_BAD_JSON`, `M_MISSING_PARAM`)"));
        needed.push((408, "it takes a body, which may not arrive in time"));
        needed.push((413, "it takes a body, which may be too large (`M_TOO_LARGE`)"));
    }
    if security.and_then(Value::as_array).is_some_and(|requirements| !requirements.is_empty()) {
        needed.push((401, "it takes an access token, which may be missing or unknown"));
    }
    if operation.get(RATE_LIMITED).and_then(Value::as_bool) == Some(true) {
        needed.push((429, "it is rate-limited (`x-rate-limited: true`)"));
    }
    for (status, why) in needed {
        if !covers(status) {
            findings.push(format!(
                "the server can answer {status} here, which this operation does not declare: {why}; \
                 declare it, or a `default` error response"
            ));
        }
    }
    let has_schemes =
        document.pointer("/components/securitySchemes").and_then(Value::as_object).is_some_and(|s| !s.is_empty());
    if has_schemes && security.is_none() {
        findings.push(
            "this operation has no `security`, and the document none for it to inherit: \
             write `security: []` if it is public, or the schemes it needs"
                .to_owned(),
        );
    }
    findings
}

pub(crate) fn check_statuses(spec: &Spec, strict: bool) -> Vec<Diagnostic> {
    let Ok(document) = serde_json::to_value(&spec.document) else {
        return Vec::new();
    };
    let mut seen: HashSet<&Location> = HashSet::new();
    let mut diagnostics = Vec::new();
    for route in &spec.routes {
        // One operation served under several prefixes is written once.
        if !seen.insert(&route.source) {
            continue;
        }
        let Some(operation) = document
            .get("paths")
            .and_then(|paths| paths.get(&route.path))
            .and_then(|item| item.get(route.method.to_ascii_lowercase()))
        else {
            continue;
        };
        for message in missing(operation, &document) {
            let message = format!("{} {} ({}): {message}", route.method, route.path, route.operation_id);
            diagnostics.push(if strict {
                Diagnostic::error(Rule::UndeclaredStatus, route.source.clone(), message)
            } else {
                Diagnostic::warning(Rule::UndeclaredStatus, route.source.clone(), message)
            });
        }
    }
    diagnostics
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document() -> Value {
        json!({"components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}})
    }

    #[test]
    fn a_body_needs_400_408_and_413() {
        let operation = json!({"requestBody": {}, "security": [], "responses": {"200": {}, "400": {}}});
        let found = missing(&operation, &document());
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("answer 408"), "{found:#?}");
        assert!(found[1].contains("answer 413"), "{found:#?}");
    }

    #[test]
    fn credentials_need_401_and_rate_limits_429() {
        let operation =
            json!({"security": [{"bearer": []}], "x-rate-limited": true, "responses": {"200": {}, "403": {}}});
        let found = missing(&operation, &document());
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("answer 401") && found[0].contains("access token"), "{found:#?}");
        assert!(found[1].contains("answer 429") && found[1].contains("x-rate-limited"), "{found:#?}");
        // An optional token (`{}` among the requirements) can still be wrong.
        let optional = json!({"security": [{"bearer": []}, {}], "responses": {"200": {}}});
        assert!(missing(&optional, &document())[0].contains("answer 401"));
    }

    #[test]
    fn a_default_or_a_range_declares_the_rest() {
        let operation = json!({
            "requestBody": {}, "security": [{"bearer": []}], "x-rate-limited": true,
            "responses": {"200": {}, "default": {}}
        });
        assert_eq!(missing(&operation, &document()), Vec::<String>::new());
        let ranged = json!({"requestBody": {}, "security": [], "responses": {"200": {}, "4XX": {}}});
        assert_eq!(missing(&ranged, &document()), Vec::<String>::new());
    }

    #[test]
    fn a_public_operation_must_say_so() {
        let operation = json!({"responses": {"200": {}}});
        let found = missing(&operation, &document());
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("`security: []`"), "{found:#?}");
        // Inheriting the document's requirements is saying something.
        let mut secured = document();
        secured["security"] = json!([{"bearer": []}]);
        assert!(missing(&operation, &secured).iter().all(|f| !f.contains("`security: []`")));
        // Without any scheme there is nothing to be ambiguous about.
        assert_eq!(missing(&operation, &json!({})), Vec::<String>::new());
    }

    #[test]
    fn the_server_api_keeps_it_so() {
        let api = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api");
        if !api.is_dir() {
            return;
        }
        let spec = crate::load_dir(&api, &crate::Options { strict: true, ..crate::Options::default() });
        let findings: Vec<String> = check_statuses(&spec, true).iter().map(ToString::to_string).collect();
        assert!(findings.is_empty(), "{}", findings.join("\n"));
    }
}
