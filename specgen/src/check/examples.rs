//! Every example against its schema.
//!
//! Examples are found in the merged document (what is published), and each
//! finding names the example's place in the *source* YAML through the
//! provenance table. An example written once but published several times
//! (one operation under two prefixes, one body under two media types) is
//! checked and counted once.

use std::collections::{HashMap, HashSet};

use jsonschema::Validator;
use serde_json::{Map, Value};

use super::json_schema::Schemas;
use super::typos;
use crate::Spec;
use crate::diagnostics::{Diagnostic, Location, Rule, Severity};
use crate::refs::escape;

/// How many validation errors one finding lists.
const MAX_ERRORS_SHOWN: usize = 3;
/// Longer error texts (they quote the instance) are cut.
const MAX_ERROR_LENGTH: usize = 240;

pub(crate) struct Outcome {
    pub checked: usize,
    pub diagnostics: Vec<Diagnostic>,
}

struct Checker<'s> {
    spec: &'s Spec,
    severity: Severity,
    schemas: Option<Schemas>,
    components: Map<String, Value>,
    validators: HashMap<String, Option<Validator>>,
    seen: HashSet<Location>,
    outcome: Outcome,
}

pub(crate) fn check_examples(spec: &Spec, strict: bool) -> Outcome {
    let mut outcome = Outcome { checked: 0, diagnostics: Vec::new() };
    let document = match serde_json::to_value(&spec.document) {
        Ok(document) => document,
        Err(err) => {
            outcome.diagnostics.push(Diagnostic::error(
                Rule::InvalidOpenapi,
                Location::file("."),
                format!("cannot read the merged document: {err}"),
            ));
            return outcome;
        }
    };
    let components = document.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();
    let schemas = match Schemas::new(&document) {
        Ok(schemas) => Some(schemas),
        Err(err) => {
            outcome.diagnostics.push(Diagnostic::warning(
                Rule::ExampleUnchecked,
                Location::file("."),
                format!("examples are not checked: {err}"),
            ));
            None
        }
    };
    let mut checker = Checker {
        spec,
        severity: if strict { Severity::Error } else { Severity::Warning },
        schemas,
        components,
        validators: HashMap::new(),
        seen: HashSet::new(),
        outcome,
    };
    checker.document(&document);
    checker.outcome
}

impl Checker<'_> {
    fn document(&mut self, document: &Value) {
        for (path, item) in document.get("paths").and_then(Value::as_object).into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let base = format!("/paths/{}/{}", escape(path), escape(method));
                self.operation(operation, &base);
            }
        }
        for (name, schema) in self.components.clone() {
            self.schema_examples(&schema, &format!("/components/schemas/{}", escape(&name)));
        }
    }

    fn operation(&mut self, operation: &Value, base: &str) {
        for (i, parameter) in operation.get("parameters").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let at = format!("{base}/parameters/{i}");
            self.holder(parameter, &at);
            self.content(parameter.get("content"), &format!("{at}/content"));
        }
        if let Some(body) = operation.get("requestBody") {
            self.content(body.get("content"), &format!("{base}/requestBody/content"));
        }
        for (status, response) in operation.get("responses").and_then(Value::as_object).into_iter().flatten() {
            let at = format!("{base}/responses/{}", escape(status));
            self.content(response.get("content"), &format!("{at}/content"));
            for (name, header) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
                self.holder(header, &format!("{at}/headers/{}", escape(name)));
            }
        }
    }

    fn content(&mut self, content: Option<&Value>, at: &str) {
        for (media_type, entry) in content.and_then(Value::as_object).into_iter().flatten() {
            self.holder(entry, &format!("{at}/{}", escape(media_type)));
        }
    }

    /// A parameter, header or media type: its `example`/`examples` against
    /// its `schema`, then the examples inside the schema.
    fn holder(&mut self, holder: &Value, at: &str) {
        let Some(schema) = holder.get("schema") else {
            return;
        };
        let schema_at = format!("{at}/schema");
        if let Some(example) = holder.get("example") {
            self.validate(example, &format!("{at}/example"), schema, &schema_at);
        }
        for (name, example) in holder.get("examples").and_then(Value::as_object).into_iter().flatten() {
            if let Some(value) = example.get("value") {
                self.validate(value, &format!("{at}/examples/{}/value", escape(name)), schema, &schema_at);
            }
        }
        self.schema_examples(schema, &schema_at);
    }

    /// Schema-level `example`s, in this schema and every schema under it.
    fn schema_examples(&mut self, schema: &Value, at: &str) {
        let Value::Object(map) = schema else { return };
        if let Some(example) = map.get("example") {
            self.validate(example, &format!("{at}/example"), schema, at);
        }
        for (key, value) in map {
            let here = format!("{at}/{}", escape(key));
            match key.as_str() {
                "properties" | "x-patternProperties" => {
                    for (name, child) in value.as_object().into_iter().flatten() {
                        self.schema_examples(child, &format!("{here}/{}", escape(name)));
                    }
                }
                "additionalProperties" | "items" | "not" => self.schema_examples(value, &here),
                "allOf" | "anyOf" | "oneOf" => {
                    for (i, child) in value.as_array().into_iter().flatten().enumerate() {
                        self.schema_examples(child, &format!("{here}/{i}"));
                    }
                }
                _ => {}
            }
        }
    }

    fn validate(&mut self, example: &Value, example_at: &str, schema: &Value, schema_at: &str) {
        if self.spec.provenance.incomplete_examples.contains(example_at) {
            return;
        }
        let location = self.spec.provenance.locate(example_at).unwrap_or_else(|| Location::file("."));
        if !self.seen.insert(location.clone()) {
            return;
        }
        self.outcome.checked += 1;
        let severity = self.severity;
        if let Some(validator) = self.validator(schema, schema_at, &location) {
            let errors: Vec<String> = validator
                .iter_errors(example)
                .map(|error| {
                    let instance = error.instance_path().to_string();
                    let instance = if instance.is_empty() { "(root)".to_owned() } else { instance };
                    let mut text = format!("at {instance}: {error} (schema {})", error.schema_path());
                    if text.len() > MAX_ERROR_LENGTH {
                        let cut = (0..=MAX_ERROR_LENGTH).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                        text.truncate(cut);
                        text.push('…');
                    }
                    text
                })
                .collect();
            if !errors.is_empty() {
                let shown: Vec<&str> = errors.iter().take(MAX_ERRORS_SHOWN).map(String::as_str).collect();
                let more = errors.len().saturating_sub(MAX_ERRORS_SHOWN);
                let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
                self.outcome.diagnostics.push(Diagnostic::new(
                    severity,
                    Rule::ExampleMismatch,
                    location.clone(),
                    format!("example does not match its schema: {}{more}", shown.join("; ")),
                ));
            }
        }
        for message in typos::lint(example, schema, &self.components) {
            self.outcome.diagnostics.push(Diagnostic::new(severity, Rule::ExampleTypo, location.clone(), message));
        }
    }

    /// The compiled validator for the schema at `schema_at` (cached).
    fn validator(&mut self, schema: &Value, schema_at: &str, location: &Location) -> Option<&Validator> {
        if !self.validators.contains_key(schema_at) {
            let compiled = match self.schemas.as_ref().map(|schemas| schemas.compile(schema)) {
                Some(Ok(validator)) => Some(validator),
                Some(Err(err)) => {
                    self.outcome.diagnostics.push(Diagnostic::warning(
                        Rule::ExampleUnchecked,
                        location.clone(),
                        format!("example not checked: {err}"),
                    ));
                    None
                }
                None => None,
            };
            self.validators.insert(schema_at.to_owned(), compiled);
        }
        self.validators.get(schema_at).and_then(Option::as_ref)
    }
}
