//! The real Matrix API descriptions of three eras (`../shared/corpus`
//! beside the workspace): no structural errors, every operation counted,
//! a document that round-trips through `openapiv3`, and the known 2015 typo
//! found. Skipped, with a notice, where the corpus is not checked out.

use std::fs;
use std::path::{Path, PathBuf};

use specgen::{Options, Spec};

const ERAS: &[&str] = &["2015-seed", "2023-r0", "2026-v1.19"];
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn corpus() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if path.is_dir() {
        Some(path)
    } else {
        eprintln!("notice: {} does not exist; corpus tests skipped", path.display());
        None
    }
}

/// Counts (path, method) pairs by walking the raw YAML, independently of
/// the loader.
fn count_operations(dir: &Path) -> usize {
    let mut count = 0;
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            count += count_operations(&path);
            continue;
        }
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let Ok(value) = serde_norway::from_str::<serde_norway::Value>(&text) else {
            continue;
        };
        if value.get("swagger").is_none() && value.get("openapi").is_none() {
            continue;
        }
        let Some(paths) = value.get("paths").and_then(|p| p.as_mapping()) else {
            continue;
        };
        for item in paths.values() {
            if let Some(item) = item.as_mapping() {
                count += item.keys().filter(|k| k.as_str().is_some_and(|k| METHODS.contains(&k))).count();
            }
        }
    }
    count
}

fn check(dir: &Path) -> Spec {
    let spec = specgen::load_dir(dir, &Options::matrix());
    let errors: Vec<String> = spec.errors().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "{}: structural errors:\n{}", dir.display(), errors.join("\n"));
    eprintln!("{}: {}", dir.display(), spec.summary());
    for warning in spec.warnings().filter(|w| w.message.contains("does not match") || w.message.contains("typo")) {
        eprintln!("  {warning}");
    }
    spec
}

#[test]
fn client_server_api_of_every_era() {
    let Some(corpus) = corpus() else { return };
    for era in ERAS {
        let dir = corpus.join(era).join("api/client-server");
        let spec = check(&dir);
        assert_eq!(spec.operations, count_operations(&dir), "{era}: operations counted");
        assert!(spec.routes.len() >= spec.operations, "{era}: every operation is routed");
        assert!(spec.examples > 100, "{era}: examples checked: {}", spec.examples);

        // The merged document is valid OpenAPI 3.0 for `openapiv3` and
        // survives a round trip.
        let text = serde_json::to_string(&spec.document).unwrap();
        let reread: openapiv3::OpenAPI = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&reread).unwrap(), text, "{era}: round trip");
        assert_eq!(
            reread.paths.paths.len(),
            spec.routes.iter().map(|r| &r.path).collect::<std::collections::BTreeSet<_>>().len()
        );
    }
}

#[test]
fn the_2015_login_typo_is_found() {
    let Some(corpus) = corpus() else { return };
    let spec = specgen::load_dir(&corpus.join("2015-seed/api/client-server"), &Options::matrix());
    let found = spec.warnings().any(|w| {
        w.location.file == Path::new("client-server/v1/login.yaml")
            && w.location.pointer() == "/paths/~1login/post/parameters/0/schema/example"
            && w.location.position.is_some()
            && w.message.contains("\"m.login.pasword\"")
            && w.message.contains("\"m.login.password\"")
    });
    assert!(found, "{:#?}", spec.warnings().map(ToString::to_string).collect::<Vec<_>>());
}

#[test]
fn identity_and_application_service_apis() {
    let Some(corpus) = corpus() else { return };
    for era in ERAS {
        for api in ["identity", "application-service"] {
            let dir = corpus.join(era).join("api").join(api);
            if dir.is_dir() {
                let spec = check(&dir);
                assert_eq!(spec.operations, count_operations(&dir), "{era} {api}");
            }
        }
    }
}
