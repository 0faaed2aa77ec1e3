//! `generated/` holds committed copies of what the build emits from `api/`,
//! for review and for client authors. This test fails when they are stale.
//!
//! To rewrite them after changing `api/`:
//!
//! ```sh
//! UPDATE_GENERATED=1 cargo test --test generated
//! ```

use std::path::Path;

const FILES: [(&str, &str); 4] = [
    ("api.rs", include_str!(concat!(env!("OUT_DIR"), "/api.rs"))),
    ("openapi.json", include_str!(concat!(env!("OUT_DIR"), "/openapi.json"))),
    ("client.rs", include_str!(concat!(env!("OUT_DIR"), "/client.rs"))),
    ("docs.html", include_str!(concat!(env!("OUT_DIR"), "/docs.html"))),
];

#[test]
fn generated_copies_match_the_build() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("generated");
    let update = std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, built) in FILES {
        let path = dir.join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed == built {
            continue;
        }
        if update {
            std::fs::create_dir_all(&dir).expect("creating generated/");
            std::fs::write(&path, built).expect("writing the generated copy");
        } else {
            stale.push(format!("generated/{name}"));
        }
    }
    assert!(
        stale.is_empty(),
        "{} differ from what the build emits from api/; rewrite them with `UPDATE_GENERATED=1 cargo test --test generated` and commit",
        stale.join(", ")
    );
}
