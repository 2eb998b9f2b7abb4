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

// Not on macOS: there CODESIGN_IDENTITY is a setup that can sign, not a preflight problem.
#[cfg(not(target_os = "macos"))]
#[test]
fn a_signing_setup_that_cannot_sign_is_a_preflight_problem_before_anything_is_built() {
    let (_folder, clone) = fresh_clone();
    let head = |clone: &std::path::Path| {
        text(&Command::new("git").args(["rev-parse", "HEAD"]).current_dir(clone).output().unwrap().stdout)
    };
    let before = head(&clone);
    let output = xtask_command(&clone, &["release", "--execute"])
        .env("CODESIGN_IDENTITY", "Developer ID Application: Example")
        .env_remove("XTASK_CODESIGN_PROGRAM")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("preflight: CODESIGN_IDENTITY is set, but this is not macOS"), "{stdout}");
    assert!(stdout.contains("XTASK_CODESIGN_PROGRAM"), "the fix names the stand-in: {stdout}");
    assert!(stderr.contains("nothing was built or changed"), "{stderr}");
    assert!(!clone.join("dist").exists(), "something was built");
    assert_eq!(head(&clone), before, "a commit was made");
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
    // The committed bytes on every platform, as in `fresh_clone` (Git for Windows would check out CRLF).
    let (origin_text, work_text) = (origin.to_str().unwrap(), work.to_str().unwrap());
    git(folder.path(), &["clone", "--quiet", "--config", "core.autocrlf=false", origin_text, work_text]);
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

/// HEAD, `git status`, the tags and the changelog: what `release --execute` may change.
fn repository_state(clone: &std::path::Path) -> (String, String, String, String) {
    let git = |args: &[&str]| text(&Command::new("git").args(args).current_dir(clone).output().unwrap().stdout);
    (
        git(&["rev-parse", "HEAD"]),
        git(&["status", "--porcelain"]),
        git(&["tag", "--list"]),
        std::fs::read_to_string(clone.join("docs/development/changelog.md")).unwrap(),
    )
}

/// `release --execute` refused in preflight: exit 1, the cause on stdout and in the `error:` line,
/// no panic, and nothing built or changed.
fn assert_refused_before_anything(clone: &std::path::Path, output: &std::process::Output, cause: &str) {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains(cause), "expected {cause:?} in\n{stdout}");
    assert!(stderr.contains("error: release --execute refused: ") && stderr.contains("hint: "), "{stderr}");
    assert!(!stderr.contains("panicked") && !stdout.contains("wheels and sdists"), "{stdout}\n{stderr}");
    assert!(!clone.join("dist").exists(), "a refused --execute built something");
}

/// Regression (issue 12, class 3): an unreachable origin counted as "tag absent", and `--push`
/// then committed and tagged locally before failing. It is a preflight problem now.
#[test]
fn an_unreachable_origin_is_a_preflight_problem_and_nothing_is_committed() {
    let (folder, clone) = fresh_clone();
    let nowhere = folder.path().join("no-such-origin.git");
    for url in [nowhere.to_str().unwrap().to_string(), format!("file://{}", nowhere.display())] {
        let set = Command::new("git").args(["remote", "set-url", "origin", &url]).current_dir(&clone).status().unwrap();
        assert!(set.success());
        let before = repository_state(&clone);
        let output = xtask_command(&clone, &["release", "--execute", "--push"])
            .env("GIT_AUTHOR_NAME", "Release Test")
            .env("GIT_AUTHOR_EMAIL", "release@example.invalid")
            .env("GIT_COMMITTER_NAME", "Release Test")
            .env("GIT_COMMITTER_EMAIL", "release@example.invalid")
            .output()
            .unwrap();
        assert_refused_before_anything(&clone, &output, &format!("cannot reach origin ({url})"));
        assert!(!text(&output.stdout).contains("already exists on origin"));
        assert_eq!(repository_state(&clone), before, "{url}: the clone changed");
    }
}

/// Regression (issue 12, class 3): without a git identity the commit failed after the changelog
/// was rewritten and staged. The identity is checked up front now.
#[test]
fn a_missing_git_identity_is_a_preflight_problem() {
    let (_folder, clone) = fresh_clone();
    let set = Command::new("git").args(["config", "user.useConfigOnly", "true"]).current_dir(&clone).status().unwrap();
    assert!(set.success());
    let before = repository_state(&clone);
    let mut command = xtask_command(&clone, &["release", "--execute"]);
    for variable in ["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"] {
        command.env_remove(variable);
    }
    let output = command.env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_CONFIG_NOSYSTEM", "1").output().unwrap();
    assert_refused_before_anything(&clone, &output, "git has no author identity for the release commit");
    assert!(text(&output.stdout).contains("git config user.email"), "{}", text(&output.stdout));
    assert_eq!(repository_state(&clone), before);
}

/// Regression (issue 12, class 4): `## Unreleased (draft)` passed preflight and `--execute` then
/// panicked in the changelog cut. Preflight and the cut now agree, and refuse it with the fix.
#[test]
fn an_unreleased_heading_with_more_text_is_refused_in_preflight() {
    let (_folder, clone) = fresh_clone();
    let path = clone.join("docs/development/changelog.md");
    let changelog =
        std::fs::read_to_string(&path).unwrap().replacen("\n## Unreleased\n", "\n## Unreleased (draft)\n", 1);
    std::fs::write(&path, changelog).unwrap();
    let git = |args: &[&str]| assert!(Command::new("git").args(args).current_dir(&clone).status().unwrap().success());
    git(&["add", "."]);
    git(&["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "--quiet", "-m", "draft"]);
    let before = repository_state(&clone);
    let output = xtask_command(&clone, &["release", "--execute"])
        .env("GIT_AUTHOR_NAME", "Release Test")
        .env("GIT_AUTHOR_EMAIL", "release@example.invalid")
        .env("GIT_COMMITTER_NAME", "Release Test")
        .env("GIT_COMMITTER_EMAIL", "release@example.invalid")
        .output()
        .unwrap();
    assert_refused_before_anything(
        &clone,
        &output,
        "the heading `## Unreleased (draft)` in docs/development/changelog.md is not exactly `## Unreleased`",
    );
    assert!(text(&output.stdout).contains("rename it to `## Unreleased`"), "{}", text(&output.stdout));
    assert_eq!(repository_state(&clone), before);
}
