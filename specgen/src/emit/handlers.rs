//! Which operations hand-written code implements.
//!
//! The build warns about every operation in the YAML that is served only as
//! a stub. It finds the implemented ones by parsing the handler sources with
//! syn and collecting the methods of every `impl <Group> for …` block (one
//! trait per operation group, see [`super::server`]), so renaming, moving or
//! splitting handlers across files needs no registry.

use std::collections::BTreeSet;
use std::path::Path;

use super::names;
use crate::Spec;

/// What hand-written code implements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Implemented {
    /// Operation groups with an `impl <Group> for …` block. A group without
    /// one gets a blanket implementation of its stubs, so that a new YAML
    /// file needs no Rust to build.
    pub groups: BTreeSet<String>,
    /// Methods defined in those blocks: the operations that are not stubs.
    pub methods: BTreeSet<String>,
}

impl Implemented {
    /// Whether the operation `operation_id` has a handler.
    pub fn has(&self, operation_id: &str) -> bool {
        self.methods.contains(&names::method(operation_id).to_string())
    }
}

/// What the `.rs` files under `dir` implement of `spec`'s operation groups.
pub fn implemented(dir: &Path, spec: &Spec) -> std::io::Result<Implemented> {
    let traits: BTreeSet<String> = spec.routes.iter().map(super::server::group_name).collect();
    let mut found = Implemented::default();
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
                    collect(&file.items, &traits, &mut found);
                }
            }
        }
    }
    Ok(found)
}

fn collect(items: &[syn::Item], traits: &BTreeSet<String>, found: &mut Implemented) {
    for item in items {
        match item {
            syn::Item::Impl(block) => {
                let group = block
                    .trait_
                    .as_ref()
                    .and_then(|(path, _)| path.segments.last())
                    .map(|segment| segment.ident.to_string())
                    .filter(|name| traits.contains(name));
                if let Some(group) = group {
                    for item in &block.items {
                        if let syn::ImplItem::Fn(function) = item {
                            found.methods.insert(function.sig.ident.to_string());
                        }
                    }
                    found.groups.insert(group);
                }
            }
            syn::Item::Mod(module) => {
                if let Some((_, items)) = &module.content {
                    collect(items, traits, found);
                }
            }
            _ => {}
        }
    }
}

/// The `operationId`s of the spec that have no handler, in document order.
pub fn missing(spec: &Spec, implemented: &Implemented) -> Vec<String> {
    let mut missing = Vec::new();
    for route in &spec.routes {
        if !implemented.has(&route.operation_id) && !missing.contains(&route.operation_id) {
            missing.push(route.operation_id.clone());
        }
    }
    missing
}
