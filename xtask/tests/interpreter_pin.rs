//! The interpreter pinned in `.python-version`: a machine without it still builds, with a warning
//! that says so; inside GitHub Actions a missing pin is an error, never a silent substitute.

mod support;

use support::*;

fn doctor_with_pin(pin: &str, in_actions: bool) -> (Option<i32>, String, String) {
    let (_folder, clone) = fresh_clone();
    std::fs::write(clone.join(".python-version"), pin).unwrap();
    let mut command = xtask_command(&clone, &["doctor"]);
    command.env_remove("UV_PYTHON");
    if in_actions {
        command.env("GITHUB_ACTIONS", "true");
    }
    let output = command.output().unwrap();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn without_the_pinned_python_the_system_one_stands_in_with_a_warning() {
    let (code, stdout, stderr) = doctor_with_pin("3.99\n", false);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let line = stdout.lines().find(|line| line.contains("interpreter")).expect("an interpreter line");
    assert!(line.starts_with("note") && line.contains("not the pinned 3.99"), "{stdout}");
    assert!(stdout.contains("fix: uv python install 3.99"), "{stdout}");
    assert!(stderr.contains("warning: building with Python"), "{stderr}");
}

#[test]
fn inside_actions_a_missing_pin_is_an_error() {
    let (code, stdout, _stderr) = doctor_with_pin("3.99\n", true);
    assert_eq!(code, Some(1), "{stdout}");
    let line = stdout.lines().find(|line| line.contains("interpreter")).expect("an interpreter line");
    assert!(line.starts_with("MISSING") && line.contains("Python 3.99"), "{stdout}");
}

#[test]
fn a_pin_that_is_not_a_version_is_refused_with_the_fix() {
    let (code, stdout, _stderr) = doctor_with_pin("python-three\n", false);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("is not a CPython version"), "{stdout}");
    assert!(stdout.contains("fix: write the CPython version to build with"), "{stdout}");
}

#[test]
fn inside_actions_a_uv_python_that_is_not_the_pin_is_an_error() {
    let (_folder, clone) = fresh_clone();
    std::fs::write(clone.join(".python-version"), "3.99\n").unwrap();
    let output =
        xtask_command(&clone, &["doctor"]).env("GITHUB_ACTIONS", "true").env("UV_PYTHON", "python3").output().unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let line = stdout.lines().find(|line| line.contains("interpreter")).expect("an interpreter line");
    assert!(line.starts_with("MISSING") && line.contains("not the 3.99 pinned"), "{stdout}");
}
