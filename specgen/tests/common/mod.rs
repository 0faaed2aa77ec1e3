//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use specgen::{Options, Spec};

/// A fixture tree under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Loads a fixture with the Matrix options.
pub fn load(name: &str) -> Spec {
    specgen::load_dir(&fixture(name), &Options::matrix())
}

/// The merged document as JSON (what is published).
pub fn document(spec: &Spec) -> Value {
    serde_json::to_value(&spec.document).expect("the document serializes")
}

/// Every diagnostic as its printed line, without the trailing `(at
/// POINTER; hint: …)`: `file:line:column: severity[rule]: message`.
pub fn lines(spec: &Spec) -> Vec<String> {
    spec.diagnostics
        .iter()
        .map(|d| {
            let severity = if d.is_error() { "error" } else { "warning" };
            format!("{}: {severity}[{}]: {}", d.location, d.rule, d.message)
        })
        .collect()
}

/// Fails with every diagnostic printed unless there are no errors.
pub fn assert_no_errors(spec: &Spec) {
    let errors: Vec<String> = spec.errors().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "unexpected errors:\n{}", errors.join("\n"));
}
