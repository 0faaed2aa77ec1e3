//! Generates the HTTP layer from `api/`: see the `specgen` crate.
fn main() {
    specgen::build::Build::new("api").handlers("src/http").run();
}
