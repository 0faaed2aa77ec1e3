//! The published OpenAPI 3.0 document.
//!
//! It is the merged, normalized document exactly as [`crate::load_dir`] built
//! it, pretty-printed with a final newline so the committed copy diffs
//! cleanly. The running server serves the same document at
//! `/openapi.json` (the same JSON, written compactly).

use super::EmitError;
use crate::Spec;

pub fn render(spec: &Spec) -> Result<String, EmitError> {
    let mut text = serde_json::to_string_pretty(&spec.document)
        .map_err(|e| EmitError::new(format!("serializing the document: {e}")))?;
    text.push('\n');
    Ok(text)
}
