//! `cargo xtask release` in fresh clones: the dry run passes from a clean main, preflight names
//! each reason a release would be refused, and `--execute --push` cuts, commits, tags and pushes.

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

#[test]
fn execute_and_push_cut_the_changelog_commit_tag_and_publish_in_order() {
    let folder = tempfile::tempdir().unwrap();
    let origin = folder.path().join("origin.git");
    let work = folder.path().join("work");
    let git = |dir: &std::path::Path, args: &[&str]| {
        let output = Command::new("git").args(args).current_dir(dir).output().unwrap();
        assert!(output.status.success(), "git {args:?}: {}", text(&output.stderr));
        text(&output.stdout)
    };
    git(folder.path(), &["clone", "--quiet", "--bare", repository_root().to_str().unwrap(), origin.to_str().unwrap()]);
    git(folder.path(), &["clone", "--quiet", origin.to_str().unwrap(), work.to_str().unwrap()]);
    let output = xtask_command(&work, &["release", "--execute", "--push"])
        .env("GIT_AUTHOR_NAME", "Release Test")
        .env("GIT_AUTHOR_EMAIL", "release@example.invalid")
        .env("GIT_COMMITTER_NAME", "Release Test")
        .env("GIT_COMMITTER_EMAIL", "release@example.invalid")
        .output()
        .unwrap();
    succeeded(&output, "release --execute --push");
    let tags = git(&origin, &["tag", "--list"]);
    let tag = tags.lines().find(|line| line.starts_with('v')).expect("a tag reached origin").to_string();
    assert_eq!(git(&origin, &["log", "-1", "--format=%s", "main"]).trim(), format!("chore(release): {tag}"));
    assert_eq!(git(&origin, &["cat-file", "-t", &tag]).trim(), "tag", "the tag is annotated");
    let changelog = std::fs::read_to_string(work.join("docs/development/changelog.md")).unwrap();
    let unreleased = changelog.find("## Unreleased\n\n## ").expect("a new empty Unreleased section on top");
    let header = changelog[unreleased..].lines().nth(2).unwrap();
    assert!(header.starts_with(&format!("## {tag} — 20")), "{header}");
    assert!(header.contains("(core ") && header.contains(", agent ") && header.contains(", proxy "), "{header}");
    // Running it again is refused: the tag exists now and Unreleased is empty.
    let again = xtask(&work, &["release", "--execute"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(git(&origin, &["log", "-1", "--format=%s", "main"]).trim(), format!("chore(release): {tag}"));
}
