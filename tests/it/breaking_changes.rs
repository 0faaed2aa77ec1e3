//! Client authors generate their code from `generated/openapi.json`. This
//! test compares the working tree's copy with the committed one (at the merge
//! base with `origin/main`, else at `HEAD`) and fails on any change that
//! breaks such clients, unless `info.version`'s major number was raised to
//! say the break is intended.
//!
//! Where there is nothing to compare with (no git, a source tarball, a
//! document not committed yet) it says why and passes.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use specgen::compat::{Change, breaking_changes, major_version_raised};

const DOCUMENT: &str = "generated/openapi.json";

#[test]
fn the_published_document_breaks_no_client_unless_the_major_version_says_so() {
    let current = current_document();
    let (base, committed) = match committed_document() {
        Ok(found) => found,
        Err(why) => {
            println!("breaking-change check skipped: {why}");
            return;
        }
    };
    match verdict(&committed, &current, &base) {
        Ok(()) => println!("compared {DOCUMENT} with the committed version at {base}: no client breaks"),
        Err(message) => panic!("{message}"),
    }
}

/// The end-to-end proof that the check above is not vacuous: on a clean
/// clone the working tree equals `HEAD`, so this takes the current document,
/// breaks it on purpose, and expects both breaks in the failure message.
#[test]
fn removing_an_operation_and_a_response_field_from_the_current_document_fails() {
    let old = current_document();
    let mut new = old.clone();
    let (removed_method, removed_path, removed_id) = remove_last_operation(&mut new);
    let (operation_id, status, field) = remove_a_response_field(&mut new);

    let changes = breaking_changes(&old, &new);
    assert!(
        changes.iter().any(|c| c.change == Change::OperationRemoved
            && c.operation.method == removed_method
            && c.operation.path == removed_path),
        "removing {removed_method} {removed_path} was not reported: {changes:#?}"
    );
    assert!(
        changes.iter().any(|c| c.operation.operation_id.as_deref() == Some(operation_id.as_str())
            && c.change == Change::ResponseFieldRemoved { status: status.clone(), field: field.clone() }),
        "removing field {field} of {status} from {operation_id} was not reported: {changes:#?}"
    );

    let message = verdict(&old, &new, "HEAD").expect_err("the broken document must fail the check");
    println!("what a spec editor would see:\n{message}");
    assert!(
        message.contains(&format!("removed operation {removed_method} {removed_path} ({removed_id})")),
        "{message}"
    );
    assert!(message.contains(&format!("response field {field} of {status} from ")), "{message}");
    assert!(message.contains("api/index.yaml"), "{message}");

    // Raising the major version is how a spec editor says "on purpose".
    let major = old["info"]["version"].as_str().and_then(|v| v.trim_start_matches('v').split('.').next()?.parse().ok());
    let major: u64 = major.expect("info.version starts with a major number");
    new["info"]["version"] = Value::from(format!("{}.0.0", major + 1));
    assert_eq!(verdict(&old, &new, "HEAD"), Ok(()));
}

/// `Ok` when `new` breaks no client of `old` or says so with its major
/// version; otherwise the message for the spec editor.
fn verdict(old: &Value, new: &Value, base: &str) -> Result<(), String> {
    let changes = breaking_changes(old, new);
    if changes.is_empty() {
        return Ok(());
    }
    let version = |doc: &Value| doc["info"]["version"].as_str().unwrap_or("(none)").to_owned();
    if major_version_raised(old, new) {
        println!(
            "{} breaking change(s) since {base}, intended: info.version went from {} to {}",
            changes.len(),
            version(old),
            version(new)
        );
        return Ok(());
    }
    let list: Vec<String> = changes.iter().map(|change| format!("  - {change}")).collect();
    Err(format!(
        "{DOCUMENT} breaks clients written against the version at {base} ({} change(s)):\n{}\n\
         Undo these changes in api/, or, if the break is intended, raise the major number of \
         info.version in api/index.yaml (now {}) and rebuild.",
        changes.len(),
        list.join("\n"),
        version(new)
    ))
}

fn current_document() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DOCUMENT);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DOCUMENT} is not JSON: {e}"))
}

/// The committed document and the commit it was taken from, or why there
/// is none to compare with.
fn committed_document() -> Result<(String, Value), String> {
    let base = match git(&["merge-base", "HEAD", "origin/main"]) {
        Ok(commit) => commit.trim().to_owned(),
        Err(_) => {
            git(&["rev-parse", "--verify", "HEAD"]).map_err(|e| format!("no git history to compare with: {e}"))?;
            "HEAD".to_owned()
        }
    };
    // `./` makes the path relative to the crate, wherever the repository root is.
    let text = git(&["show", &format!("{base}:./{DOCUMENT}")])
        .map_err(|e| format!("{DOCUMENT} is not committed at {base}, so nothing to compare with: {e}"))?;
    let document =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("the committed {DOCUMENT} at {base} is not JSON: {e}"));
    Ok((base, document))
}

/// Runs git in the crate's folder: its stdout, or why it failed.
fn git(args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .map_err(|e| format!("git could not be run: {e}"))?;
    if !output.status.success() {
        return Err(format!("`git {}` failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("`git {}` printed non-UTF-8: {e}", args.join(" ")))
}

/// Removes the document's last operation; returns its method, path and
/// operationId.
fn remove_last_operation(doc: &mut Value) -> (String, String, String) {
    let paths = doc["paths"].as_object_mut().expect("the document has paths");
    let (path, item) = paths.iter_mut().last().expect("the document has operations");
    let item = item.as_object_mut().expect("a path item is an object");
    let method = ["get", "put", "post", "delete", "patch"]
        .into_iter()
        .rfind(|m| item.contains_key(*m))
        .expect("the last path item has an operation");
    let operation = item.remove(method).expect("the operation is there");
    let id = operation["operationId"].as_str().expect("every operation has an operationId").to_owned();
    (method.to_uppercase(), path.clone(), id)
}

/// Removes the first property of the first JSON response schema that has
/// properties (inline, or the component it refers to); returns the
/// operationId, status and field.
fn remove_a_response_field(doc: &mut Value) -> (String, String, String) {
    let (id, status, pointer, field) = first_response_field(doc);
    doc.pointer_mut(&format!("{pointer}/properties"))
        .and_then(Value::as_object_mut)
        .and_then(|properties| properties.remove(&field))
        .expect("the property is there");
    (id, status, field)
}

/// Operation, status, JSON pointer of the schema and name of the first
/// response property in the document.
fn first_response_field(doc: &Value) -> (String, String, String, String) {
    for (path, item) in doc["paths"].as_object().expect("the document has paths") {
        for (method, operation) in item.as_object().expect("a path item is an object") {
            let Some(id) = operation["operationId"].as_str() else { continue };
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                let schema = &response["content"]["application/json"]["schema"];
                let pointer = match schema["$ref"].as_str() {
                    Some(reference) => reference.trim_start_matches('#').to_owned(),
                    None => {
                        let path = path.replace('~', "~0").replace('/', "~1");
                        format!("/paths/{path}/{method}/responses/{status}/content/application~1json/schema")
                    }
                };
                let first = doc.pointer(&pointer).and_then(|s| s["properties"].as_object()?.keys().next().cloned());
                if let Some(field) = first {
                    return (id.to_owned(), status.clone(), pointer, field);
                }
            }
        }
    }
    panic!("no JSON response with properties in {DOCUMENT}");
}
