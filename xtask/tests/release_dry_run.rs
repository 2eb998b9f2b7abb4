//! `cargo xtask release` (dry run) in a fresh clone: the whole host pipeline passes from a clean
//! main, and preflight names each reason a release would be refused.

mod support;

use std::process::Command;

use support::*;

#[test]
fn a_clean_clone_passes_and_preflight_names_each_problem() {
    let (_folder, clone) = fresh_clone();
    let output = xtask(&clone, &["release"]);
    let stdout = text(&output.stdout);
    succeeded(&output, "release dry run");
    assert!(stdout.contains("preflight: all checks passed"), "{stdout}");
    assert!(stdout.contains("| smoke | 2 sidecars report their own build_id"), "{stdout}");
    for file in ["checksums.txt", "release-notes.md"] {
        assert!(clone.join("dist").join(file).is_file(), "{file} missing");
    }
    let python: Vec<String> = std::fs::read_dir(clone.join("dist/python"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(python.iter().filter(|name| name.ends_with(".whl")).count(), 3, "{python:?}");
    assert_eq!(python.iter().filter(|name| name.ends_with(".tar.gz")).count(), 3, "{python:?}");

    // Now make it unreleasable: an empty Unreleased section, the tag taken, a local edit.
    let changelog = clone.join("docs/development/changelog.md");
    std::fs::write(&changelog, "# Changelog\n\n## Unreleased\n\n## v0.0.1 — 2026-01-01\n\n- old\n").unwrap();
    let version = text(&xtask(&clone, &["bump", "--show", "--json"]).stdout);
    let proxy: serde_json::Value = serde_json::from_str::<serde_json::Value>(&version)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["package"] == "proxy")
        .unwrap()
        .clone();
    let tag = format!("v{}", proxy["version"].as_str().unwrap());
    assert!(Command::new("git").args(["tag", &tag]).current_dir(&clone).status().unwrap().success());
    let output = xtask(&clone, &["release"]);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("uncommitted change"), "{stdout}");
    assert!(stdout.contains(&format!("tag {tag} already exists locally")), "{stdout}");
    assert!(stdout.contains("`## Unreleased` section"), "{stdout}");
    assert!(
        stderr.contains("error: the pipeline passed, but a release from here would be refused: 3 preflight problem(s)"),
        "{stderr}"
    );
}
