//! The `specgen` command: `check` (strict like the build, or `--lenient`)
//! prints diagnostics, one summary line, and exits non-zero on errors;
//! `generate` rewrites stale generated files.

mod common;

use std::process::Command;

use common::fixture;

fn run(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_specgen")).args(args).output().expect("specgen runs");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn check_is_strict_by_default_and_fails_on_an_example_mismatch() {
    let dir = fixture("contradiction");
    let (status, stdout) = run(&["check", dir.to_str().unwrap()]);
    assert_eq!(status, 1, "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("contradiction/api.yaml:11:11: error[example-mismatch]: "), "{stdout}");
    assert!(lines[0].contains("(at /paths/~1whoami/get/parameters/0/example; hint: "), "{stdout}");
    assert_eq!(lines[3], "files=1 operations=1 examples=4 errors=3 warnings=0");
}

#[test]
fn lenient_turns_contradictions_into_warnings_and_exits_zero() {
    let dir = fixture("contradiction");
    let (status, stdout) = run(&["check", dir.to_str().unwrap(), "--lenient"]);
    assert_eq!(status, 0, "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[..3]
            .iter()
            .all(|l| l.starts_with("contradiction/api.yaml:") && l.contains(": warning[example-mismatch]: "))
    );
    assert_eq!(lines[3], "files=1 operations=1 examples=4 errors=0 warnings=3");
}

#[test]
fn a_missing_operation_id_fails_the_check_at_its_line() {
    let dir = fixture("index");
    let (status, stdout) = run(&["check", dir.to_str().unwrap()]);
    assert_eq!(status, 1, "{stdout}");
    assert!(
        stdout.starts_with("index/account.yaml:6:5: error[missing-operation-id]: operation has no `operationId`"),
        "{stdout}"
    );
    let (status, stdout) = run(&["check", dir.to_str().unwrap(), "--lenient"]);
    assert_eq!(status, 0, "{stdout}");
}

#[test]
fn structural_errors_exit_one_even_when_lenient() {
    let dir = fixture("broken_ref");
    let (status, stdout) = run(&["check", dir.to_str().unwrap(), "--lenient"]);
    assert_eq!(status, 1);
    assert!(stdout.contains("broken_ref/api.yaml:11:13: error[unresolved-ref]: cannot resolve"), "{stdout}");
}

#[test]
fn placeholders_can_be_overridden() {
    let dir = fixture("swagger2");
    let (status, stdout) =
        run(&["check", dir.to_str().unwrap(), "--lenient", "--placeholder", "%CLIENT_MAJOR_VERSION%=r0"]);
    assert_eq!(status, 0, "{stdout}");
    let spec = specgen::load_dir(
        &dir,
        &specgen::Options { placeholders: vec![("%CLIENT_MAJOR_VERSION%".into(), "r0".into())], strict: false },
    );
    assert!(spec.routes.iter().any(|r| r.path == "/_matrix/client/r0/login"));
}

#[test]
fn generate_rewrites_a_stale_file_and_leaves_fresh_ones_alone() {
    let out = std::env::temp_dir().join(format!("specgen-generate-{}", std::process::id()));
    let api = fixture("outside/api");
    let args = ["generate", "--api", api.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let (status, stdout) = run(&args);
    assert_eq!(status, 0, "{stdout}");
    let fresh = std::fs::read_to_string(out.join("openapi.json")).unwrap();

    std::fs::write(out.join("openapi.json"), "stale").unwrap();
    let (status, stdout) = run(&args);
    assert_eq!(status, 0, "{stdout}");
    assert_eq!(std::fs::read_to_string(out.join("openapi.json")).unwrap(), fresh);
    assert!(stdout.contains(&format!("wrote {}", out.join("openapi.json").display())), "{stdout}");
    assert!(stdout.contains(&format!("unchanged {}", out.join("api.rs").display())), "{stdout}");
    assert!(stdout.contains(&format!("unchanged {}", out.join("client.rs").display())), "{stdout}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn generate_refuses_a_tree_with_errors() {
    let out = std::env::temp_dir().join(format!("specgen-generate-broken-{}", std::process::id()));
    let api = fixture("contradiction");
    let (status, stdout) = run(&["generate", "--api", api.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(status, 1, "{stdout}");
    assert!(stdout.contains("error[example-mismatch]"), "{stdout}");
    assert!(!out.exists());
}
