//! What a spec editor sees: the YAML alone decides what is served.
//!
//! Each test copies the project to a temporary folder, edits only its YAML,
//! and runs `cargo build` there, exactly as an editor would. The copies
//! share one target folder (`target/spec-editing`), so only the two
//! project crates are rebuilt after the first run.
//!
//! Cargo gives both copies the same artifact names (it hashes a workspace
//! member's path relative to the workspace), and decides whether to rerun
//! `build.rs` by comparing file times. So the tests take turns, copying
//! only once the previous build is done: each copy's YAML is then newer
//! than the last run of `build.rs`, which therefore runs again.

#[path = "it/common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Answer, client};
use tokio::sync::Mutex;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One copy and build at a time (see the module documentation).
static TURN: Mutex<()> = Mutex::const_new(());

/// A copy of the sources that build the server: manifests, `build.rs`,
/// `api/`, `src/`, the generator, and the bench target the manifest names.
fn copy_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = Path::new(ROOT);
    for file in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        std::fs::copy(root.join(file), dir.path().join(file)).expect("copying a manifest");
    }
    for folder in ["api", "src", "specgen/src", "benches"] {
        copy_tree(&root.join(folder), &dir.path().join(folder));
    }
    std::fs::copy(root.join("specgen/Cargo.toml"), dir.path().join("specgen/Cargo.toml")).expect("copying specgen");
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a folder");
    for entry in std::fs::read_dir(from).expect("reading a folder") {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copying a file");
        }
    }
}

fn build(project: &Path) -> Output {
    let target: PathBuf = Path::new(ROOT).join("target").join("spec-editing");
    Command::new(env!("CARGO"))
        .args(["build", "--offline", "--bin", "matrix-accounts"])
        .current_dir(project)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("running cargo build")
}

#[tokio::test]
async fn a_new_operation_in_yaml_is_served_without_rust() {
    let _turn = TURN.lock().await;
    let project = copy_project();
    std::fs::write(
        project.path().join("api/client-server/v2_alpha/greeting.yaml"),
        r#"swagger: '2.0'
info:
  title: "A new operation"
  version: "1.0.0"
basePath: /_matrix/client/api/v2_alpha
paths:
  "/greeting":
    get:
      summary: Says hello.
      operationId: getGreeting
      security: []
      responses:
        200:
          description: A greeting.
          examples:
            application/json: {"greeting": "hello"}
          schema:
            type: object
            properties:
              greeting:
                type: string
"#,
    )
    .expect("writing the new YAML");

    let output = build(project.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the build failed:\n{stderr}");
    assert!(
        stderr.contains("GET /_matrix/client/api/v2_alpha/greeting (getGreeting) has no handler"),
        "the build did not warn about the stub:\n{stderr}"
    );

    let binary = Path::new(ROOT).join("target/spec-editing/debug/matrix-accounts");
    let server = common::TestServer::with_binary(&binary, |_| {});
    let answer =
        Answer::from(client().get(server.url("/_matrix/client/api/v2_alpha/greeting")).send().await.unwrap()).await;
    assert_eq!((answer.status, answer.errcode()), (404, "M_UNRECOGNIZED"), "{}", answer.body);
    assert!(answer.body["error"].as_str().unwrap().contains("getGreeting"), "{}", answer.body);
    let document = Answer::from(client().get(server.url("/openapi.json")).send().await.unwrap()).await;
    assert!(document.body["paths"]["/_matrix/client/api/v2_alpha/greeting"]["get"].is_object());
}

#[tokio::test]
async fn a_broken_ref_fails_the_build_naming_file_and_yaml_path() {
    let _turn = TURN.lock().await;
    let project = copy_project();
    let file = project.path().join("api/client-server/v2_alpha/tokenrefresh.yaml");
    let yaml = std::fs::read_to_string(&file).expect("reading the YAML");
    let broken = yaml.replacen("definitions/invalid_token.yaml", "definitions/no_such_file.yaml", 1);
    assert_ne!(yaml, broken, "the fixture must contain the ref to break");
    std::fs::write(&file, &broken).expect("writing the broken YAML");

    let output = build(project.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the build succeeded with a broken $ref");
    let line = broken.lines().position(|l| l.contains("no_such_file.yaml")).expect("the broken line") + 1;
    let at = format!("api/client-server/v2_alpha/tokenrefresh.yaml:{line}:");
    let located = stderr.lines().any(|l| {
        l.split_once(&at).is_some_and(|(_, rest)| {
            rest.split_once(": error[unresolved-ref]: ").is_some_and(|(column, _)| column.parse::<u32>().is_ok())
        })
    });
    assert!(located, "no file, line ({line}) and column:\n{stderr}");
    assert!(
        stderr.contains("(at /paths/~1tokenrefresh/post/responses/401/schema/$ref; hint: "),
        "no pointer:\n{stderr}"
    );
    assert!(stderr.contains("no_such_file.yaml"), "the bad target is not named:\n{stderr}");
    assert_quiet(&stderr);
}

#[tokio::test]
async fn a_missing_operation_id_fails_the_build_at_its_line_not_in_rustc() {
    let _turn = TURN.lock().await;
    let project = copy_project();
    let file = project.path().join("api/client-server/v2_alpha/tokenrefresh.yaml");
    let yaml = std::fs::read_to_string(&file).expect("reading the YAML");
    let broken = yaml.replacen("      operationId: tokenRefreshV2Alpha\n", "", 1);
    assert_ne!(yaml, broken, "the fixture must contain the operationId to remove");
    std::fs::write(&file, broken).expect("writing the broken YAML");

    let output = build(project.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the build succeeded without an operationId");
    assert!(
        stderr.contains("api/client-server/v2_alpha/tokenrefresh.yaml:16:5: error[missing-operation-id]: "),
        "not reported at the operation:\n{stderr}"
    );
    assert!(!stderr.contains("error[E"), "rustc ran on code generated from broken YAML:\n{stderr}");
    assert_quiet(&stderr);
}

/// The diagnostics are cargo's own `error:` lines, the summary last, and
/// cargo does not repeat the build script's output around them.
fn assert_quiet(stderr: &str) {
    assert!(!stderr.contains("--- stdout"), "cargo repeated the build script's output:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let summary = lines.iter().position(|l| l.contains("does not describe a servable API: files="));
    let last_diagnostic = lines.iter().rposition(|l| l.contains("yaml:"));
    assert!(summary.is_some() && summary > last_diagnostic, "the summary is not last:\n{stderr}");
}
