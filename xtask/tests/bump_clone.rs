//! `cargo xtask bump` in a fresh clone: a real bump changes exactly the version line, the
//! requirement lines and the lock; a dry run and every refusal leave the tree untouched.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn git_status(clone: &Path) -> String {
    text(&Command::new("git").args(["status", "--porcelain"]).current_dir(clone).output().unwrap().stdout)
}

fn git_diff(clone: &Path) -> String {
    text(&Command::new("git").args(["diff", "--unified=0"]).current_dir(clone).output().unwrap().stdout)
}

/// The changed lines of a `git diff --unified=0`, without headers.
fn changed_lines(diff: &str) -> Vec<&str> {
    diff.lines()
        .filter(|line| {
            (line.starts_with('+') || line.starts_with('-')) && !line.starts_with("+++") && !line.starts_with("---")
        })
        .collect()
}

fn version_of(clone: &Path, package: &str) -> String {
    let text = std::fs::read_to_string(clone.join(format!("packages/{package}/pyproject.toml"))).unwrap();
    let document: toml_edit::DocumentMut = text.parse().unwrap();
    document["project"]["version"].as_str().unwrap().to_string()
}

#[test]
fn a_minor_bump_of_core_edits_the_version_the_requirements_and_the_lock() {
    let (_folder, clone) = fresh_clone();
    let old = version_of(&clone, "core");
    let dry = xtask(&clone, &["bump", "core", "minor", "--dry-run"]);
    succeeded(&dry, "dry run");
    assert!(text(&dry.stdout).contains("+++ b/packages/core/pyproject.toml"), "{}", text(&dry.stdout));
    assert_eq!(git_status(&clone), "", "a dry run wrote something");

    succeeded(&xtask(&clone, &["bump", "core", "minor"]), "bump");
    let new = version_of(&clone, "core");
    assert_ne!(new, old);
    let status = git_status(&clone);
    let mut touched: Vec<&str> = status.lines().map(|line| &line[3..]).collect();
    touched.sort();
    assert_eq!(
        touched,
        ["packages/agent/pyproject.toml", "packages/core/pyproject.toml", "packages/proxy/pyproject.toml", "uv.lock"]
    );
    let diff = git_diff(&clone);
    let core_diff = diff.split("diff --git").find(|part| part.contains("packages/core/pyproject.toml")).unwrap();
    assert_eq!(changed_lines(core_diff), [format!("-version = \"{old}\""), format!("+version = \"{new}\"")]);
    for member in ["agent", "proxy"] {
        let member_diff =
            diff.split("diff --git").find(|part| part.contains(&format!("packages/{member}/pyproject.toml"))).unwrap();
        let lines = changed_lines(member_diff);
        assert_eq!(lines.len(), 2, "{member_diff}");
        assert!(lines[1].contains(&format!("lumen-argus-core>={}", new.rsplit_once('.').unwrap().0)), "{member_diff}");
    }
    // The lock agrees with the manifests.
    let check = Command::new(uv_path()).args(["lock", "--check"]).current_dir(&clone).output().unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
}

#[test]
fn every_refusal_leaves_the_tree_untouched() {
    let (_folder, clone) = fresh_clone();
    let long = format!("1{}", ".0".repeat(40));
    let cases: [(&[&str], &str); 10] = [
        (&["bump", "nope", "patch"], "no package named `nope`"),
        (&["bump", "proxy", "release"], "is already a release"),
        (&["bump", "proxy", &long], "is longer than 64 characters"),
        (&["bump", "proxy", "1.0.0.post18446744073709551615"], "has a number over 18446744073709551614"),
        (&["bump", "proxy", "18446744073709551615.0"], "has a number over 18446744073709551614"),
        (&["bump", "proxy", "huge"], "neither a bump kind nor a PEP 440 version"),
        (&["bump", "proxy", "1.2.x"], "neither a bump kind nor a PEP 440 version"),
        (&["bump", "proxy", "0.0.1"], "is not newer than"),
        (&["bump", "proxy", "9.0.0+local"], "local part"),
        (&["bump", "proxy", "patch", "--json"], "--json"),
    ];
    for (args, expected) in cases {
        let output = xtask(&clone, args);
        let stderr = text(&output.stderr);
        // Usage errors, all of them: the xtask's say what to do in a hint, clap's point at --help.
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(stderr.contains("hint: ") || stderr.contains("try '--help'"), "{args:?}: {stderr}");
        assert_eq!(git_status(&clone), "", "{args:?} changed the tree");
    }
    let proxy = clone.join("packages/proxy/pyproject.toml");
    let original = std::fs::read_to_string(&proxy).unwrap();
    for (broken, expected) in [
        ("[project\nname = ", "TOML"),
        ("[project]\nname = \"lumen-argus-proxy\"\n", "[project].version is missing"),
        ("[project]\nname = \"lumen-argus-proxy\"\ndynamic = [\"version\"]\n", "dynamic"),
        (
            "[project]\nname = \"lumen-argus-proxy\"\nversion = \"1.0.post18446744073709551615\"\n",
            "has a number over 18446744073709551614",
        ),
    ] {
        std::fs::write(&proxy, broken).unwrap();
        let output = xtask(&clone, &["bump", "proxy", "patch"]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert_eq!(std::fs::read_to_string(&proxy).unwrap(), broken, "the broken file was rewritten");
        std::fs::write(&proxy, &original).unwrap();
    }
    assert_eq!(git_status(&clone), "");
}

/// Regression (issue 12, class 10), end to end: a pyproject with CRLF line ends, a BOM, a literal
/// multi-line version string and no final newline keeps every byte but the version's.
#[test]
fn a_real_bump_keeps_every_byte_but_the_version() {
    let (_folder, clone) = fresh_clone();
    let path = clone.join("packages/proxy/pyproject.toml");
    // LF first: a checkout that already has CRLF (Git for Windows' default) must not get "\r\r\n".
    let original = std::fs::read_to_string(&path).unwrap().replace("\r\n", "\n");
    let old = version_of(&clone, "proxy");
    let odd = format!(
        "\u{feff}{}",
        original.replacen(&format!("version = \"{old}\""), &format!("version = '''{old}'''"), 1).replace('\n', "\r\n")
    );
    let odd = odd.trim_end_matches("\r\n").to_string();
    std::fs::write(&path, &odd).unwrap();
    succeeded(&xtask(&clone, &["bump", "proxy", "patch"]), "bump");
    let new = version_of(&clone, "proxy");
    assert_ne!(new, old);
    let expected = odd.replacen(&format!("'''{old}'''"), &format!("'''{new}'''"), 1);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected, "only the version's bytes may change");
}
