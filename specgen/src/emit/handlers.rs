//! Which operations hand-written code implements.
//!
//! The build warns about every operation in the YAML that is served only as
//! a stub. It finds the implemented ones by parsing the handler sources with
//! syn and collecting the methods of every `impl Operations for …` block, so
//! renaming, moving or splitting handlers across files needs no registry.

use std::collections::BTreeSet;
use std::path::Path;

use super::names;
use crate::Spec;

/// Method names defined in `impl <trait_name> for …` blocks in the `.rs`
/// files under `dir`.
pub fn implemented(dir: &Path, trait_name: &str) -> std::io::Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path)?;
                // A file that does not parse fails rustc with a better
                // message than we could give; here it just implements nothing.
                if let Ok(file) = syn::parse_file(&source) {
                    collect(&file.items, trait_name, &mut found);
                }
            }
        }
    }
    Ok(found)
}

fn collect(items: &[syn::Item], trait_name: &str, found: &mut BTreeSet<String>) {
    for item in items {
        match item {
            syn::Item::Impl(block) => {
                let implements = block
                    .trait_
                    .as_ref()
                    .and_then(|(path, _)| path.segments.last())
                    .is_some_and(|segment| segment.ident == trait_name);
                if implements {
                    for item in &block.items {
                        if let syn::ImplItem::Fn(function) = item {
                            found.insert(function.sig.ident.to_string());
                        }
                    }
                }
            }
            syn::Item::Mod(module) => {
                if let Some((_, items)) = &module.content {
                    collect(items, trait_name, found);
                }
            }
            _ => {}
        }
    }
}

/// The `operationId`s of the spec whose `Operations` method is not in
/// `implemented`, in document order.
pub fn missing(spec: &Spec, implemented: &BTreeSet<String>) -> Vec<String> {
    let mut missing = Vec::new();
    for route in &spec.routes {
        let method = names::method(&route.operation_id).to_string();
        if !implemented.contains(&method) && !missing.contains(&route.operation_id) {
            missing.push(route.operation_id.clone());
        }
    }
    missing
}
