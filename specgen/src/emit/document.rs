//! The published OpenAPI 3.0 document.
//!
//! It is the merged, normalized document exactly as [`crate::load_dir`] built
//! it, pretty-printed with a final newline so the committed copy diffs
//! cleanly. The running server serves the same document at
//! `/openapi.json` (the same bytes).
//!
//! When the build knows what hand-written code implements, an operation
//! served as a stub says so: it declares the 404 `M_UNRECOGNIZED` it
//! answers, and carries `x-not-implemented: true`, so that a generated
//! client knows what it will get.

use openapiv3::{MediaType, ReferenceOr, Response, StatusCode};
use serde_json::json;

use super::EmitError;
use super::handlers::Implemented;
use crate::Spec;

/// The vendor extension marking an operation served as a stub.
pub const NOT_IMPLEMENTED: &str = "x-not-implemented";

pub fn render(spec: &Spec, implemented: Option<&Implemented>) -> Result<String, EmitError> {
    let mut document = spec.document.clone();
    if let Some(implemented) = implemented {
        for item in document.paths.paths.values_mut() {
            let ReferenceOr::Item(item) = item else { continue };
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let Some(operation_id) = operation.operation_id.clone() else { continue };
                let base = spec.routes.iter().find(|r| r.route_id == operation_id).map(|r| &r.operation_id);
                if base.is_none_or(|id| implemented.has(id)) {
                    continue;
                }
                mark_stub(operation, base.map_or(&operation_id, |id| id));
            }
        }
    }
    let mut text = serde_json::to_string_pretty(&document)
        .map_err(|e| EmitError::new(format!("serializing the document: {e}")))?;
    text.push('\n');
    Ok(text)
}

fn mark_stub(operation: &mut openapiv3::Operation, operation_id: &str) {
    operation.extensions.insert(NOT_IMPLEMENTED.into(), true.into());
    let example = json!({
        "errcode": "M_UNRECOGNIZED",
        "error": format!("{operation_id} is described in this server's API but not implemented yet"),
    });
    let schema = json!({
        "type": "object",
        "properties": {"errcode": {"type": "string"}, "error": {"type": "string"}},
        "required": ["errcode"],
    });
    let media =
        MediaType { schema: serde_json::from_value(schema).ok(), example: Some(example), ..MediaType::default() };
    let response = Response {
        description: "Not implemented by this server yet: `M_UNRECOGNIZED`.".into(),
        content: [("application/json".to_owned(), media)].into_iter().collect(),
        ..Response::default()
    };
    operation.responses.responses.entry(StatusCode::Code(404)).or_insert(ReferenceOr::Item(response));
}
