//! The `specgen check` command: diagnostics, one summary line, exit status.

mod common;

use std::process::Command;

use common::fixture;

fn run(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_specgen")).args(args).output().expect("specgen runs");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn warnings_only_exit_zero_and_end_with_the_summary() {
    let dir = fixture("contradiction");
    let (status, stdout) = run(&["check", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[..3].iter().all(|l| l.starts_with("warning: api.yaml: ")));
    assert_eq!(lines[3], "files=1 operations=1 examples=4 errors=0 warnings=3");
}

#[test]
fn strict_turns_contradictions_into_a_failure() {
    let dir = fixture("contradiction");
    let (status, stdout) = run(&["check", dir.to_str().unwrap(), "--strict"]);
    assert_eq!(status, 1);
    assert!(stdout.ends_with("files=1 operations=1 examples=4 errors=3 warnings=0\n"), "{stdout}");
}

#[test]
fn structural_errors_exit_one() {
    let dir = fixture("broken_ref");
    let (status, stdout) = run(&["check", dir.to_str().unwrap()]);
    assert_eq!(status, 1);
    assert!(stdout.contains("error: api.yaml: paths./login.post.responses.429.schema.$ref: cannot resolve"));
}

#[test]
fn placeholders_can_be_overridden() {
    let dir = fixture("swagger2");
    let (status, stdout) = run(&["check", dir.to_str().unwrap(), "--placeholder", "%CLIENT_MAJOR_VERSION%=r0"]);
    assert_eq!(status, 0, "{stdout}");
    let spec = specgen::load_dir(
        &dir,
        &specgen::Options { placeholders: vec![("%CLIENT_MAJOR_VERSION%".into(), "r0".into())], strict: false },
    );
    assert!(spec.routes.iter().any(|r| r.path == "/_matrix/client/r0/login"));
}
