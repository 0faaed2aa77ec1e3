//! The YAML loader of `specgen`: any bytes, written as one description
//! file, must load (strict and lenient) without panicking. Whatever the
//! loader thinks of the input is a diagnostic, never a crash.
//!
//! The file is `index.yaml` (the head document, which the normalizer
//! treats specially) for inputs of even length and `api.yaml` otherwise, so
//! both paths are reached while a crashing input stays plain YAML that
//! `specgen check` reproduces on its own.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One folder per fuzzing process, reused for every input (under `TMPDIR`,
/// which fuzz/run.sh points at a scratch folder it removes).
fn folder() -> &'static PathBuf {
    static FOLDER: OnceLock<PathBuf> = OnceLock::new();
    FOLDER.get_or_init(|| tempfile::tempdir().expect("creating a temporary folder").keep())
}

fuzz_target!(|data: &[u8]| {
    let dir = folder();
    let (this, other) = if data.len() % 2 == 0 { ("index.yaml", "api.yaml") } else { ("api.yaml", "index.yaml") };
    let _ = std::fs::remove_file(dir.join(other));
    std::fs::write(dir.join(this), data).expect("writing the input");
    for strict in [false, true] {
        let options = specgen::Options { strict, ..specgen::Options::matrix() };
        let spec = specgen::load_dir(dir, &options);
        let _ = spec.summary();
    }
});
