//! Generates the HTTP layer from `api/`: see the `specgen` crate. YAML
//! problems are printed as `api/…/file.yaml:LINE:COLUMN: error[rule]: …`
//! lines and fail the build; the client is not generated here (`specgen
//! generate` writes `generated/client.rs` for the tests).
fn main() {
    specgen::build::Build::new("api").handlers("src/http").run();
}
