//! Hoisting schemas into `components.schemas` under readable names.
//!
//! Every schema reached by a `$ref` (another file, a fragment, a
//! `definitions` entry) is converted once and referred to by name, which is
//! also how cycles are cut: the second visit finds the name already taken by
//! the same target. Names come from the file stem (`definitions/error.yaml` →
//! `Error`) or the definition name; a different schema with the same name
//! gets its folder in front (`V2AlphaError`), then a number. After
//! everything is converted, [`Registry::dedupe`] folds same-named entries
//! whose converted content is identical back into one.

use std::collections::HashMap;

use serde_json::Value;

use super::{Normalizer, Prov, Src, names, schema};
use crate::diagnostics::Location;
use crate::refs::{self, Target};

/// A hoisted schema.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    /// The name before disambiguation; only entries sharing it are merged.
    pub base: String,
    pub value: Value,
    pub prov: Prov,
    pub source: Location,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    by_target: HashMap<Target, String>,
    index: HashMap<String, usize>,
    pub entries: Vec<Entry>,
}

impl Registry {
    fn unique_name(&self, base: &str, qualifier: &str) -> String {
        if !self.index.contains_key(base) {
            return base.to_owned();
        }
        let qualified = format!("{qualifier}{base}");
        if !qualifier.is_empty() && !self.index.contains_key(&qualified) {
            return qualified;
        }
        (2..).map(|n| format!("{base}{n}")).find(|name| !self.index.contains_key(name)).unwrap_or_default()
    }

    /// Merges entries that share a base name and have identical content,
    /// repeating until nothing changes (merging can make others identical).
    /// Returns the renames to apply to every `$ref`.
    pub fn dedupe(&mut self) -> HashMap<String, String> {
        let mut renames: HashMap<String, String> = HashMap::new();
        loop {
            let mut round: HashMap<String, String> = HashMap::new();
            let mut first: HashMap<(String, String), String> = HashMap::new();
            for entry in &self.entries {
                let key = (entry.base.clone(), entry.value.to_string());
                match first.get(&key) {
                    Some(kept) => {
                        round.insert(entry.name.clone(), kept.clone());
                    }
                    None => {
                        first.insert(key, entry.name.clone());
                    }
                }
            }
            if round.is_empty() {
                break;
            }
            self.entries.retain(|e| !round.contains_key(&e.name));
            for entry in &mut self.entries {
                rename_refs(&mut entry.value, &round);
            }
            for target in renames.values_mut() {
                if let Some(kept) = round.get(target) {
                    *target = kept.clone();
                }
            }
            renames.extend(round);
        }
        self.index = self.entries.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
        renames
    }
}

impl Registry {
    /// Adds an already converted schema under `name` (numbered if taken)
    /// and returns the name it got. An entry of the same name and content
    /// is reused: the same body reached through two media types is one
    /// schema.
    pub fn add_converted(&mut self, name: &str, value: Value, prov: Prov, source: Location) -> String {
        if let Some(&slot) = self.index.get(name)
            && self.entries[slot].value == value
        {
            return name.to_owned();
        }
        let name = self.unique_name(name, "");
        self.index.insert(name.clone(), self.entries.len());
        self.entries.push(Entry { name: name.clone(), base: name.clone(), value, prov, source });
        name
    }
}

/// The `$ref` string for a hoisted schema.
pub(crate) fn schema_ref(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

/// Rewrites `#/components/schemas/<old>` refs according to `renames`.
pub(crate) fn rename_refs(value: &mut Value, renames: &HashMap<String, String>) {
    rename_refs_under(None, value, renames);
}

fn rename_refs_under(parent: Option<&str>, value: &mut Value, renames: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(new) = reference.strip_prefix("#/components/schemas/").and_then(|name| renames.get(name))
            {
                *reference = schema_ref(new);
            }
            for (key, child) in map.iter_mut() {
                if !refs::holds_literal(parent, key) {
                    rename_refs_under(Some(key), child, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|child| rename_refs_under(parent, child, renames)),
        _ => {}
    }
}

impl<'t> Normalizer<'t> {
    /// Converts the schema at `target` (once) into `components.schemas` and
    /// returns its name. `base` is the preferred name.
    pub fn hoist(&mut self, target: Target, src: Src<'t>, base: String) -> String {
        if let Some(name) = self.registry.by_target.get(&target) {
            return name.clone();
        }
        let file = &self.tree.files[target.file];
        let qualifier = if target.pointer.is_empty() {
            // The first folder of the file's path relative to the root
            // tells trees apart best: `../identity/definitions/x.yaml` →
            // `Identity`. (Not the shown path, which starts with the root's
            // own name: names must not depend on where the tree is.)
            let first_folder = crate::load::relative_to(&file.path, &self.tree.root)
                .parent()
                .into_iter()
                .flat_map(|p| p.components())
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .find(|c| c != ".." && c != ".");
            names::upper_camel(&first_folder.unwrap_or_default())
        } else {
            let stem = file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            names::from_file_stem(&stem)
        };
        let name = self.registry.unique_name(&base, &qualifier);
        self.registry.by_target.insert(target, name.clone());
        let slot = self.registry.entries.len();
        self.registry.index.insert(name.clone(), slot);
        self.registry.entries.push(Entry {
            name: name.clone(),
            base,
            value: Value::Null,
            prov: Prov::default(),
            source: src.location(),
        });
        let mut prov = Prov::default();
        let value = schema::convert(self, &src, &[], &mut prov);
        let entry = &mut self.registry.entries[slot];
        entry.value = value;
        entry.prov = prov;
        name
    }

    /// Hoists the schema a `$ref` names and returns the name; the preferred
    /// name is the file stem for a whole file, the last pointer segment for a
    /// fragment.
    pub fn hoist_ref(&mut self, target: Target, src: Src<'t>) -> String {
        let base = if target.pointer.is_empty() {
            let file = &self.tree.files[target.file];
            names::from_file_stem(&file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
        } else {
            let last = target.pointer.rsplit('/').next().unwrap_or_default();
            names::component_name(&last.replace("~1", "/").replace("~0", "~"))
        };
        self.hoist(target, src, base)
    }
}
