//! Diagnostics that point a spec editor at the exact place to fix.
//!
//! Every diagnostic is one line that starts the way compilers start theirs,
//! so that terminals and editors make it clickable, and names the rule that
//! fired, the node's JSON pointer (RFC 6901: `/` in a key is `~1`) and a fix:
//!
//! ```text
//! api/client-server/v3/whoami.yaml:42:11: error[example-mismatch]: example does not match its schema: … (at /paths/~1account~1whoami/get/responses/200/content/application~1json/example; hint: …)
//! ```
//!
//! File paths are relative to the parent of the folder that was loaded
//! (`specgen check api` and the build both say `api/…`).

use std::fmt;
use std::path::{Path, PathBuf};

pub use crate::positions::Position;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing, never fails anything (e.g. an operation without a handler).
    Warning,
    /// The tree cannot be used as written: unparseable file, unresolvable
    /// `$ref`, unsupported construct, duplicate `operationId`.
    Error,
}

/// A place in the loaded tree: a file, a node inside it and where that node
/// is written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file, relative to the parent of the folder that was loaded.
    pub file: PathBuf,
    /// Line and column of the node (or of its nearest written ancestor).
    /// Filled in by [`crate::load::Tree::place`] once the tree is read;
    /// `None` before that, and for a whole folder.
    pub position: Option<Position>,
    /// Path segments from the document root: map keys and indexes.
    pub yaml_path: YamlPath,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, yaml_path: YamlPath) -> Self {
        Location { file: file.into(), position: None, yaml_path }
    }

    /// The whole file (e.g. for a parse error without a position).
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location::new(file, YamlPath::root())
    }

    pub fn child(&self, key: impl Into<Segment>) -> Self {
        Location::new(self.file.clone(), self.yaml_path.child(key))
    }

    /// The node's JSON pointer inside its file (RFC 6901).
    pub fn pointer(&self) -> String {
        self.yaml_path.to_string()
    }
}

/// `file:line:column` (what terminals and editors open), or the file alone
/// when no position is known.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", display_path(&self.file))?;
        if let Some(Position { line, column }) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        Ok(())
    }
}

/// File paths are shown with forward slashes on every platform.
fn display_path(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// One step of a YAML path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

impl From<&str> for Segment {
    fn from(key: &str) -> Self {
        Segment::Key(key.to_owned())
    }
}

impl From<String> for Segment {
    fn from(key: String) -> Self {
        Segment::Key(key)
    }
}

impl From<usize> for Segment {
    fn from(index: usize) -> Self {
        Segment::Index(index)
    }
}

/// A path from a document's root, shown as a JSON pointer
/// (`/paths/~1register/post/responses/200`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YamlPath(pub Vec<Segment>);

impl YamlPath {
    pub fn root() -> Self {
        YamlPath(Vec::new())
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn child(&self, segment: impl Into<Segment>) -> Self {
        let mut path = self.0.clone();
        path.push(segment.into());
        YamlPath(path)
    }

    /// Parses a JSON pointer fragment (`/components/schemas/Error`, with
    /// `~0`/`~1` escapes) into a path. Numeric segments stay keys: whether
    /// they index an array is only known against a document.
    pub fn from_pointer(pointer: &str) -> Self {
        YamlPath(
            pointer
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| Segment::Key(s.replace("~1", "/").replace("~0", "~")))
                .collect(),
        )
    }
}

/// The JSON pointer (RFC 6901, `~0`/`~1` escapes); empty for the root.
impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.0 {
            match segment {
                Segment::Key(key) => write!(f, "/{}", crate::refs::escape(key))?,
                Segment::Index(index) => write!(f, "/{index}")?,
            }
        }
        Ok(())
    }
}

/// Which check fired: a short id that stays stable across releases (for
/// searching, and for people who learn them), and a one-line fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    YamlSyntax,
    UnreadableFile,
    UnsupportedVersion,
    UnresolvedRef,
    RefCycle,
    RefThroughSymlink,
    MissingOperationId,
    DuplicateOperationId,
    DuplicateRoute,
    InvalidOpenapi,
    Unsupported,
    DroppedKey,
    SecuritySchemeConflict,
    ExampleMismatch,
    ExampleTypo,
    ExampleNotJson,
    ExampleUnchecked,
    UndeclaredStatus,
}

impl Rule {
    pub fn id(self) -> &'static str {
        match self {
            Rule::YamlSyntax => "yaml-syntax",
            Rule::UnreadableFile => "unreadable-file",
            Rule::UnsupportedVersion => "unsupported-version",
            Rule::UnresolvedRef => "unresolved-ref",
            Rule::RefCycle => "ref-cycle",
            Rule::RefThroughSymlink => "ref-through-symlink",
            Rule::MissingOperationId => "missing-operation-id",
            Rule::DuplicateOperationId => "duplicate-operation-id",
            Rule::DuplicateRoute => "duplicate-route",
            Rule::InvalidOpenapi => "invalid-openapi",
            Rule::Unsupported => "unsupported",
            Rule::DroppedKey => "dropped-key",
            Rule::SecuritySchemeConflict => "security-scheme-conflict",
            Rule::ExampleMismatch => "example-mismatch",
            Rule::ExampleTypo => "example-typo",
            Rule::ExampleNotJson => "example-not-json",
            Rule::ExampleUnchecked => "example-unchecked",
            Rule::UndeclaredStatus => "undeclared-status",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            Rule::YamlSyntax => "fix the syntax at the position shown (indentation, quotes, a missing `:`)",
            Rule::UnreadableFile => "check that the file exists and is readable",
            Rule::UnsupportedVersion => "write `swagger: '2.0'`, `openapi: 3.0.3` or `openapi: 3.1.0`",
            Rule::UnresolvedRef => {
                "point the `$ref` at an existing file (relative to this one) and `#/pointer` inside it"
            }
            Rule::RefCycle => "break the cycle: inline one of the objects, or ref a schema instead",
            Rule::RefThroughSymlink => "write the `$ref` relative to this file",
            Rule::MissingOperationId => {
                "add `operationId: someName` to the operation: it names the handler method and the client call"
            }
            Rule::DuplicateOperationId => "rename one of the two `operationId`s",
            Rule::DuplicateRoute => "remove one of the two operations, or change its path or method",
            Rule::InvalidOpenapi => "compare with the OpenAPI specification of the file's version",
            Rule::Unsupported => "remove the construct, or express it with what OpenAPI 3.0 has",
            Rule::DroppedKey => "remove the key, or move it where OpenAPI gives it a meaning",
            Rule::SecuritySchemeConflict => "give the two different schemes different names",
            Rule::ExampleMismatch => "correct the example, or the schema if the example is right",
            Rule::ExampleTypo => "correct the value to the one the description quotes",
            Rule::ExampleNotJson => "write the example as YAML, or as a string that is valid JSON",
            Rule::ExampleUnchecked => "simplify the schema so that it compiles as JSON Schema",
            Rule::UndeclaredStatus => {
                "declare the status, or a `default` response with the Matrix error schema; a public operation says `security: []`"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One finding: where, which rule, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    pub location: Location,
    pub severity: Severity,
    pub rule: Rule,
    pub message: String,
}

impl Diagnostic {
    pub fn new(severity: Severity, rule: Rule, location: Location, message: impl Into<String>) -> Self {
        Diagnostic { location, severity, rule, message: message.into() }
    }

    pub fn error(rule: Rule, location: Location, message: impl Into<String>) -> Self {
        Diagnostic::new(Severity::Error, rule, location, message)
    }

    pub fn warning(rule: Rule, location: Location, message: impl Into<String>) -> Self {
        Diagnostic::new(Severity::Warning, rule, location, message)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn hint(&self) -> &'static str {
        self.rule.hint()
    }
}

/// `file:line:column: severity[rule]: message (at POINTER; hint: …)`, on one
/// line: the message itself never holds a line break.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        let message = self.message.replace('\n', " ");
        write!(f, "{}: {severity}[{}]: {message} (", self.location, self.rule)?;
        if !self.location.yaml_path.is_root() {
            write!(f, "at {}; ", self.location.yaml_path)?;
        }
        write!(f, "hint: {})", self.hint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_paths_are_json_pointers() {
        let path =
            YamlPath::root().child("paths").child("/login").child("post").child("parameters").child(0).child("a~b");
        assert_eq!(path.to_string(), "/paths/~1login/post/parameters/0/a~0b");
        assert_eq!(YamlPath::from_pointer(&path.to_string()).to_string(), path.to_string());
    }

    #[test]
    fn diagnostics_start_with_file_line_and_column() {
        let mut location = Location::new("api/v1/login.yaml", YamlPath::from_pointer("/paths/~1login/post"));
        location.position = Some(Position { line: 3, column: 5 });
        let diagnostic = Diagnostic::error(Rule::MissingOperationId, location, "no operationId");
        assert_eq!(
            diagnostic.to_string(),
            format!(
                "api/v1/login.yaml:3:5: error[missing-operation-id]: no operationId (at /paths/~1login/post; hint: {})",
                Rule::MissingOperationId.hint()
            )
        );
    }
}
