//! What a server's `build.rs` calls: load `api/` strictly, report, generate.
//!
//! The build fails when the YAML is broken (every error printed with its
//! file and YAML path) and warns, without failing, about operations that
//! are served only as stubs. It never fails because the spec grew.

use std::path::{Path, PathBuf};

use crate::emit::{self, EmitOptions};
use crate::{Options, Spec, load_dir};

/// The generated files, by name inside `OUT_DIR` (and `generated/`).
pub const SERVER_FILE: &str = "api.rs";
pub const DOCUMENT_FILE: &str = "openapi.json";
pub const CLIENT_FILE: &str = "client.rs";
pub const DOCS_FILE: &str = "docs.html";

/// Configuration of one build.
#[derive(Debug, Clone)]
pub struct Build {
    api: PathBuf,
    handlers: Option<PathBuf>,
    options: EmitOptions,
}

impl Build {
    /// Builds from the API descriptions under `api`.
    pub fn new(api: impl Into<PathBuf>) -> Self {
        Build { api: api.into(), handlers: None, options: EmitOptions::default() }
    }

    /// Where the hand-written `impl Operations for …` blocks live, to warn
    /// about operations served as stubs.
    pub fn handlers(mut self, dir: impl Into<PathBuf>) -> Self {
        self.handlers = Some(dir.into());
        self
    }

    /// Where the generated code finds its runtime and error type, for a
    /// server that keeps them elsewhere than `crate::api::runtime`.
    pub fn emit_options(mut self, options: EmitOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs the build script: on any error, prints it and exits non-zero.
    pub fn run(self) {
        if let Err(message) = self.try_run() {
            eprintln!("{message}");
            std::process::exit(1);
        }
    }

    fn try_run(&self) -> Result<(), String> {
        println!("cargo:rerun-if-changed={}", self.api.display());
        if let Some(handlers) = &self.handlers {
            println!("cargo:rerun-if-changed={}", handlers.display());
        }
        let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set: run from build.rs")?);

        let spec = self.load()?;
        for warning in spec.warnings() {
            println!("cargo:warning={}/{}: {}", self.api.display(), warning.location, warning.message);
        }
        let mut options = self.options.clone();
        if let Some(handlers) = &self.handlers {
            let implemented = emit::handlers::implemented(handlers, &spec)
                .map_err(|e| format!("reading handlers in {}: {e}", handlers.display()))?;
            self.warn_about_stubs(&spec, handlers, &implemented);
            options.implemented = Some(implemented);
        }

        let output = emit::emit(&spec, &options).map_err(|e| format!("{}: {e}", self.api.display()))?;
        write(&out_dir.join(SERVER_FILE), &output.server)?;
        write(&out_dir.join(DOCUMENT_FILE), &output.document)?;
        write(&out_dir.join(CLIENT_FILE), &output.client)?;
        write(&out_dir.join(DOCS_FILE), &output.docs)?;
        Ok(())
    }

    fn load(&self) -> Result<Spec, String> {
        let options = Options { strict: true, ..Options::matrix() };
        let spec = load_dir(&self.api, &options);
        if spec.has_errors() {
            let mut message = format!("{} does not describe a servable API:\n", self.api.display());
            for error in spec.errors() {
                message.push_str(&format!("  error: {}/{}: {}\n", self.api.display(), error.location, error.message));
            }
            message.push_str(&spec.summary());
            return Err(message);
        }
        Ok(spec)
    }

    fn warn_about_stubs(&self, spec: &Spec, handlers: &Path, implemented: &emit::handlers::Implemented) {
        for operation_id in emit::handlers::missing(spec, implemented) {
            for route in spec.routes.iter().filter(|r| r.operation_id == operation_id) {
                println!(
                    "cargo:warning={} {} ({operation_id}) has no handler in {}: it answers 404 M_UNRECOGNIZED",
                    route.method,
                    route.path,
                    handlers.display()
                );
            }
        }
    }
}

/// Writes a file only when its content changed, so unchanged output does not
/// trigger a rebuild of everything that includes it.
fn write(path: &Path, content: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    std::fs::write(path, content).map_err(|e| format!("writing {}: {e}", path.display()))
}
