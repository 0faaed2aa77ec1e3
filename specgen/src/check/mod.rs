//! Checks on the merged document that find what would make the server or
//! its clients wrong, beyond what normalizing already reports (broken refs,
//! duplicate `operationId`s, unsupported constructs):
//!
//! * every example (parameters, request and response bodies per status and
//!   media type, headers, schema-level `example`s) is validated against its
//!   schema ([`examples`]);
//! * a string in an example that is a near miss of a value its schema's
//!   description quotes is reported as a likely typo ([`typos`]);
//! * every status the server can answer is declared, and public operations
//!   say `security: []` ([`statuses`]).
//!
//! Findings are warnings unless [`Options::strict`] is set; they name the
//! example's source file and YAML path, found through
//! [`crate::normalize::Provenance`].

mod examples;
mod json_schema;
mod statuses;
mod typos;

pub use json_schema::Schemas;

use crate::{Options, Spec};

/// Runs every check and adds its findings to `spec`.
pub fn check(spec: &mut Spec, options: &Options) {
    let outcome = examples::check_examples(spec, options.strict);
    spec.examples = outcome.checked;
    spec.diagnostics.extend(outcome.diagnostics);
    spec.diagnostics.extend(statuses::check_statuses(spec, options.strict));
}
