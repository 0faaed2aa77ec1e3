//! `generated/` holds committed copies of what specgen generates from
//! `api/`: the server code and published document the build emits, and the
//! client the tests include (`tests/it/generated_client.rs`). This test fails
//! when they are stale.
//!
//! To rewrite them after changing `api/` (well under a second once built):
//!
//! ```sh
//! cargo run -p specgen -- generate
//! ```
//!
//! `UPDATE_GENERATED=1 cargo test --test generated` does the same.
//!
//! The server code, document and reference page are compared with what
//! this very build emitted into `OUT_DIR`, not regenerated here: in a test
//! build, cargo unifies specgen's dependencies' features with those of the
//! test's other dependencies (a feature of `openapiv3` changes how the
//! document is written), while the build script's copy, like `specgen
//! generate`'s, has its own. The client is generated here, since the build
//! does not emit it.

use std::path::Path;

use specgen::build::{CLIENT_FILE, DOCS_FILE, DOCUMENT_FILE, SERVER_FILE, load_strict};

const COMMAND: &str = "cargo run -p specgen -- generate";

const BUILT: [(&str, &str); 3] = [
    (SERVER_FILE, include_str!(concat!(env!("OUT_DIR"), "/api.rs"))),
    (DOCUMENT_FILE, include_str!(concat!(env!("OUT_DIR"), "/openapi.json"))),
    (DOCS_FILE, include_str!(concat!(env!("OUT_DIR"), "/docs.html"))),
];

#[test]
fn generated_copies_match_the_yaml() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = load_strict(&root.join("api"));
    assert!(!spec.has_errors(), "api/ has errors: {}", spec.summary());
    let client = specgen::emit::client::generate(&spec).expect("generating the client");
    let dir = root.join("generated");
    let update = std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, fresh) in BUILT.into_iter().chain([(CLIENT_FILE, client.as_str())]) {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|committed| committed == fresh) {
            continue;
        }
        if update {
            std::fs::write(&path, fresh).expect("writing the generated copy");
        } else {
            stale.push(format!("generated/{name}"));
        }
    }
    assert!(
        stale.is_empty(),
        "{} differ from what specgen generates from api/; rewrite them with `{COMMAND}` and commit",
        stale.join(", ")
    );
}
