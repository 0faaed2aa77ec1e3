//! Diagnostics that point a spec editor at the exact place to fix.
//!
//! Every message names the source file (relative to the tree that was loaded)
//! and the YAML path inside it, written the way a person reads YAML:
//! `paths./login.post.parameters[0].schema.example`.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing, never fails anything (e.g. an operation without a handler).
    Warning,
    /// The tree cannot be used as written: unparseable file, unresolvable
    /// `$ref`, unsupported construct, duplicate `operationId`.
    Error,
}

/// A place in the loaded tree: a file and a YAML path inside it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file, relative to the root folder that was loaded.
    pub file: PathBuf,
    /// Path segments from the document root: map keys and `[index]`es.
    pub yaml_path: YamlPath,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, yaml_path: YamlPath) -> Self {
        Location { file: file.into(), yaml_path }
    }

    /// The whole file (e.g. for a parse error without a position).
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location { file: file.into(), yaml_path: YamlPath::root() }
    }

    pub fn child(&self, key: impl Into<Segment>) -> Self {
        Location { file: self.file.clone(), yaml_path: self.yaml_path.child(key) }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", display_path(&self.file))?;
        if !self.yaml_path.is_root() {
            write!(f, ": {}", self.yaml_path)?;
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

/// A path from a document's root, e.g. `paths./register.post.responses.200`.
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

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document root)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// One finding, with where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Location,
    pub message: String,
}

impl Diagnostic {
    pub fn error(location: Location, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, location, message: message.into() }
    }

    pub fn warning(location: Location, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, location, message: message.into() }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{severity}: {}: {}", self.location, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_paths_read_like_yaml() {
        let path =
            YamlPath::root().child("paths").child("/login").child("post").child("parameters").child(0).child("schema");
        assert_eq!(path.to_string(), "paths./login.post.parameters[0].schema");
    }

    #[test]
    fn diagnostics_name_file_and_path() {
        let location = Location::new("v1/login.yaml", YamlPath::from_pointer("/paths/~1login/post"));
        let diagnostic = Diagnostic::error(location, "no operationId");
        assert_eq!(diagnostic.to_string(), "error: v1/login.yaml: paths./login.post: no operationId");
    }
}
