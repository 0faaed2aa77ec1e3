//! `specgen` turns a folder of API descriptions into one OpenAPI 3.0 document
//! and the Rust that serves it.
//!
//! Spec editors write YAML in whichever era's format they like: Swagger 2.0
//! (the Matrix spec until 2023), OpenAPI 3.0, or OpenAPI 3.1 (the Matrix spec
//! today). The pipeline is:
//!
//! ```text
//! load ──▶ normalize ──▶ check ──▶ emit
//! ```
//!
//! * [`load`] reads every `.yaml`/`.json` file under a folder and resolves
//!   relative `$ref`s across files (fragments, cycles, refs in places the
//!   standard does not allow), remembering where every value came from;
//! * [`normalize`] maps all three formats onto one OpenAPI 3.0 model
//!   (`openapiv3`), with `basePath`/`servers` turned into path prefixes;
//! * [`check`] finds what would make the server or its clients wrong:
//!   duplicate `operationId`s, examples that contradict their schemas;
//! * [`emit`] writes the schema types, the operation traits and router,
//!   the published document, its reference page and a progenitor client.
//!
//! It is a library so that `build.rs` stays thin, and a binary (`specgen
//! check DIR`) so that spec editors can check any tree, including the real
//! Matrix spec, without building a server.

pub mod build;
pub mod check;
#[cfg(feature = "compat")]
pub mod compat;
pub mod contract;
pub mod diagnostics;
pub mod emit;
pub mod json_schema;
pub mod load;
pub mod normalize;
pub mod positions;
pub mod refs;

use std::path::{Path, PathBuf};

pub use diagnostics::{Diagnostic, Location, Position, Rule, Segment, Severity, YamlPath};

/// The operations a path item may hold, by their OpenAPI key (Swagger 2.0
/// has all but `trace`).
pub const OPERATION_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// How to read a tree.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Text substitutions applied to `basePath`s and server URLs before they
    /// become prefixes, e.g. `%CLIENT_MAJOR_VERSION%` → `v3` for the 2023
    /// Matrix spec.
    pub placeholders: Vec<(String, String)>,
    /// When set, an example that contradicts its schema and an operation
    /// without `operationId` are errors, not warnings. The server's build
    /// and `specgen check` (unless `--lenient`) use strict mode.
    pub strict: bool,
}

impl Options {
    /// The options every Matrix tree needs: the spec's own placeholders.
    pub fn matrix() -> Self {
        Options { placeholders: vec![("%CLIENT_MAJOR_VERSION%".into(), "v3".into())], strict: false }
    }
}

/// A loaded and normalized tree: one document and what was found on the way.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The folder that was loaded; every [`Location`] is relative to its
    /// parent.
    pub root: PathBuf,
    /// How many files were read.
    pub files: usize,
    /// How many operations the YAML describes (a path + method in a source
    /// file), before prefixes multiply them into routes.
    pub operations: usize,
    /// How many examples were found and checked.
    pub examples: usize,
    /// Every file merged into one OpenAPI 3.0 document. Paths carry their
    /// full prefix (`/_matrix/client/v3/login`); `operationId`s are unique
    /// (see [`Route::route_id`]); the only `$ref`s left point at
    /// `#/components/schemas/*` and `#/components/securitySchemes/*`.
    pub document: openapiv3::OpenAPI,
    /// One entry per served (prefix, path, method), in document order.
    pub routes: Vec<Route>,
    /// Everything found, errors and warnings, sorted by location.
    pub diagnostics: Vec<Diagnostic>,
    /// Where the nodes of `document` were written in the source files, so
    /// that findings about the merged document name the YAML to fix.
    pub provenance: normalize::Provenance,
}

impl Spec {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The one-line summary `specgen check` ends with.
    pub fn summary(&self) -> String {
        format!(
            "files={} operations={} examples={} errors={} warnings={}",
            self.files,
            self.operations,
            self.examples,
            self.errors().count(),
            self.warnings().count()
        )
    }
}

/// One operation served under one prefix.
///
/// An OpenAPI 3 operation listing two servers (`/_matrix/client/v3` and
/// `/_matrix/client/r0`) becomes two routes sharing an `operation_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The `operationId` as the YAML writes it, shared by every prefix the
    /// operation is served under.
    pub operation_id: String,
    /// Unique in the document: `operation_id` for the operation's first
    /// server, `operation_id` + `_` + the prefix's last segment in
    /// UpperCamelCase for the others (`login_R0`, `add3PID_R0`: the
    /// underscore keeps generators from gluing the suffix to an acronym).
    pub route_id: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// The full path, prefix included.
    pub path: String,
    /// The prefix alone (`/_matrix/client/v3`; empty when there is none).
    pub prefix: String,
    /// Where the operation is written.
    pub source: Location,
}

/// Loads, normalizes and checks the tree under `dir`.
///
/// Never fails outright: structural problems (an unparseable file, an
/// unresolvable `$ref`) are [`Severity::Error`] diagnostics, and the document
/// holds everything that could be read.
pub fn load_dir(dir: &Path, options: &Options) -> Spec {
    let tree = load::Tree::load(dir);
    let mut spec = normalize::normalize(&tree, options);
    check::check(&mut spec, options);
    // Lines and columns last, in one place: findings carry only file and
    // path while they are made, wherever in the pipeline that is.
    for location in
        spec.diagnostics.iter_mut().map(|d| &mut d.location).chain(spec.routes.iter_mut().map(|r| &mut r.source))
    {
        tree.place(location);
    }
    spec.diagnostics.sort();
    spec.diagnostics.dedup();
    spec
}
