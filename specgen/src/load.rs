//! Reading a tree of API descriptions into JSON values.
//!
//! Every `.yaml`/`.yml`/`.json` file under the root folder is read, in sorted
//! order so that everything downstream is deterministic. Files that a `$ref`
//! reaches are read too, even outside the root (the Matrix client-server API
//! refers to `../../event-schemas/...`) or without an extension (the 2015
//! event schemas are called `m.room.member`). Which files are API documents
//! is decided by their content: a `swagger:` or `openapi:` key at the root.
//!
//! The loader only reads: resolving a `$ref` to a value is [`Tree::resolve`]
//! (see [`crate::refs`]), called by the normalizer, which knows what kind of
//! object the ref stands for and so how bad a broken one is.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::diagnostics::{Diagnostic, Location, Position, Rule};
use crate::positions::Positions;
use crate::refs;

/// Index of a file in [`Tree::files`].
pub type FileId = usize;

/// One file that was read.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Absolute, lexically cleaned path (no `.` or `..`).
    pub path: PathBuf,
    /// The path diagnostics show: relative to the root folder's parent
    /// (`api/client-server/v3/login.yaml` for a root `api`), with `..` for
    /// files outside it.
    pub display: PathBuf,
    /// The parsed content; `None` when the file could not be read or parsed
    /// (an error diagnostic says why).
    pub value: Option<Value>,
    /// Where each node of `value` is written.
    pub positions: Positions,
}

/// Every file of a tree, parsed, plus the list of API documents among them.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The folder that was loaded (absolute).
    pub root: PathBuf,
    /// What display paths are relative to: the root's parent.
    base: PathBuf,
    pub files: Vec<SourceFile>,
    /// Files with `swagger:` or `openapi:` at their root, in path order.
    pub documents: Vec<FileId>,
    /// Unreadable or unparseable files.
    pub diagnostics: Vec<Diagnostic>,
    by_path: HashMap<PathBuf, FileId>,
}

impl Tree {
    /// Reads every description file under `dir`, then every file their
    /// `$ref`s reach. Never fails: problems become diagnostics.
    pub fn load(dir: &Path) -> Tree {
        let root = absolute(dir);
        let base = root.parent().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
        let mut tree = Tree {
            root: root.clone(),
            base,
            files: Vec::new(),
            documents: Vec::new(),
            diagnostics: Vec::new(),
            by_path: HashMap::new(),
        };
        let mut found = Vec::new();
        let mut visited_dirs = BTreeSet::new();
        if let Err(err) = collect_files(&root, &mut found, &mut visited_dirs) {
            let folder = Location::file(relative_to(&root, &tree.base));
            tree.diagnostics.push(Diagnostic::error(
                Rule::UnreadableFile,
                folder,
                format!("cannot read folder: {err}"),
            ));
        }
        for path in found {
            tree.read(path);
        }
        tree.read_ref_targets();
        tree.documents =
            (0..tree.files.len()).filter(|&id| tree.files[id].value.as_ref().is_some_and(is_api_document)).collect();
        tree.documents.sort_by(|&a, &b| tree.files[a].display.cmp(&tree.files[b].display));
        tree
    }

    /// The file with this absolute path, if it was read.
    pub fn file_id(&self, path: &Path) -> Option<FileId> {
        self.by_path.get(&clean(path)).copied()
    }

    /// The `index.yaml` directly in the root folder, if it is a document.
    pub fn index_document(&self) -> Option<FileId> {
        let index = self.root.join("index.yaml");
        self.file_id(&index).filter(|id| self.documents.contains(id))
    }

    /// The root folder's own name, used to title a merged document.
    pub fn root_name(&self) -> String {
        self.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "api".to_owned())
    }

    /// How diagnostics show an absolute path.
    pub(crate) fn display(&self, path: &Path) -> PathBuf {
        relative_to(path, &self.base)
    }

    /// Fills in the line and column of a location in one of the files read
    /// (a location that already has one, from a syntax error, keeps it).
    pub fn place(&self, location: &mut Location) {
        if location.position.is_some() {
            return;
        }
        if let Some(id) = self.file_id(&self.base.join(&location.file))
            && self.files[id].value.is_some()
        {
            location.position = Some(self.files[id].positions.find(&location.pointer()));
        }
    }

    /// A copy of `location` with its line and column, for a message that
    /// names a second place.
    pub fn placed(&self, location: &Location) -> Location {
        let mut location = location.clone();
        self.place(&mut location);
        location
    }

    /// Reads one file (once) and returns its id.
    pub(crate) fn read(&mut self, path: PathBuf) -> FileId {
        let path = clean(&path);
        if let Some(&id) = self.by_path.get(&path) {
            return id;
        }
        let display = self.display(&path);
        let mut positions = Positions::default();
        let value = match fs::read_to_string(&path) {
            Ok(text) => {
                positions = Positions::index(&text);
                match parse(&path, &text) {
                    Ok(value) => Some(value),
                    Err(error) => {
                        let mut location = Location::file(display.clone());
                        location.position = error.position;
                        self.diagnostics.push(Diagnostic::error(Rule::YamlSyntax, location, error.message));
                        None
                    }
                }
            }
            Err(err) => {
                let location = Location::file(display.clone());
                self.diagnostics.push(Diagnostic::error(
                    Rule::UnreadableFile,
                    location,
                    format!("cannot read file: {err}"),
                ));
                None
            }
        };
        let id = self.files.len();
        self.files.push(SourceFile { path: path.clone(), display, value, positions });
        self.by_path.insert(path, id);
        id
    }

    /// Reads, transitively, every existing file named by a `$ref` in a file
    /// already read. Missing targets are left for the normalizer to report,
    /// where it knows whether the ref is structural or sits inside an example.
    fn read_ref_targets(&mut self) {
        let mut queue: VecDeque<FileId> = (0..self.files.len()).collect();
        while let Some(id) = queue.pop_front() {
            let mut refs = Vec::new();
            if let Some(value) = &self.files[id].value {
                collect_refs(value, &mut refs);
            }
            let dir = self.files[id].path.parent().map(Path::to_path_buf).unwrap_or_default();
            for reference in refs {
                let Some(path) = refs::existing_target_file(&dir, &reference) else {
                    continue;
                };
                if self.by_path.contains_key(&clean(&path)) {
                    continue;
                }
                let new = self.read(path);
                queue.push_back(new);
            }
        }
    }
}

/// Whether a parsed file is an API document rather than a ref target.
fn is_api_document(value: &Value) -> bool {
    value.get("swagger").is_some() || value.get("openapi").is_some()
}

fn is_description_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Lists description files under `dir`, sorted, following symbolic links
/// but never into a folder twice (a link to `.` would loop forever).
fn collect_files(dir: &Path, found: &mut Vec<PathBuf>, visited: &mut BTreeSet<PathBuf>) -> std::io::Result<()> {
    let canonical = fs::canonicalize(dir)?;
    if !visited.insert(canonical) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            // A folder we cannot read is skipped; its files would be reported
            // when a ref reaches them.
            let _ = collect_files(&path, found, visited);
        } else if is_description_file(&path) {
            found.push(path);
        }
    }
    Ok(())
}

/// Every `$ref` string anywhere in a value, in document order.
fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                out.push(reference.clone());
            }
            for child in map.values() {
                collect_refs(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|child| collect_refs(child, out)),
        _ => {}
    }
}

/// Why a file could not be parsed, and where when the parser says.
#[derive(Debug)]
struct ParseError {
    message: String,
    position: Option<Position>,
}

/// Parses a file by its extension: JSON for `.json`, YAML for `.yaml`/`.yml`,
/// and for anything else (extensionless 2015 event schemas) JSON, then YAML.
fn parse(path: &Path, text: &str) -> Result<Value, ParseError> {
    let json = |text| {
        serde_json::from_str(text).map_err(|e: serde_json::Error| ParseError {
            message: format!("invalid JSON: {e}"),
            position: Some(Position { line: e.line(), column: e.column() }),
        })
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => json(text),
        Some("yaml" | "yml") => yaml(text),
        _ => json(text).or_else(|_| yaml(text)),
    }
}

fn yaml(text: &str) -> Result<Value, ParseError> {
    let yaml: serde_norway::Value = serde_norway::from_str(text).map_err(|e| ParseError {
        position: e.location().map(|l| Position { line: l.line(), column: l.column() }),
        message: format!("invalid YAML: {e}"),
    })?;
    yaml_value_to_json(yaml).map_err(|message| ParseError { message, position: None })
}

/// Parses YAML into a JSON value: merge keys (`<<`) applied, tags dropped,
/// and non-string keys (`200:`) turned into strings.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    yaml(text).map_err(|e| e.message)
}

fn yaml_value_to_json(mut yaml: serde_norway::Value) -> Result<Value, String> {
    yaml.apply_merge().map_err(|e| format!("invalid YAML merge key: {e}"))?;
    yaml_to_json(yaml)
}

fn yaml_to_json(yaml: serde_norway::Value) -> Result<Value, String> {
    use serde_norway::Value as Y;
    Ok(match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("number {n} cannot be represented in JSON"))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect::<Result<_, _>>()?),
        Y::Mapping(map) => {
            let mut object = serde_json::Map::with_capacity(map.len());
            for (key, value) in map {
                let key = match key {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_owned(),
                    other => {
                        return Err(format!("unsupported mapping key {other:?}: keys must be scalars"));
                    }
                };
                object.insert(key, yaml_to_json(value)?);
            }
            Value::Object(object)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// An absolute, cleaned version of `path` (relative paths are taken from the
/// current directory). Symbolic links are kept as written so that
/// diagnostics show the paths a spec editor sees.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        clean(path)
    } else {
        let cwd = std::env::current_dir().unwrap_or_default();
        clean(&cwd.join(path))
    }
}

/// Removes `.` and resolves `..` lexically.
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `path` relative to `base`, with `..` where `path` lies outside it.
pub(crate) fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let path: Vec<_> = path.components().collect();
    let base: Vec<_> = base.components().collect();
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..base.len() {
        out.push("..");
    }
    for component in &path[common..] {
        out.push(component.as_os_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_keys_become_strings() {
        let value = parse_yaml("responses:\n  200:\n    description: ok\n  default: {}\n").unwrap();
        assert!(value["responses"]["200"].is_object());
    }

    #[test]
    fn relative_paths_climb_out_of_the_root() {
        let rel = relative_to(Path::new("/a/event-schemas/x.yaml"), Path::new("/a/api/cs"));
        assert_eq!(rel, PathBuf::from("../../event-schemas/x.yaml"));
        assert_eq!(clean(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
    }
}
