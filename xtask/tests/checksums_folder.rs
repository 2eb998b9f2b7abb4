//! `cargo xtask checksums` on real folders: the written files pass the standard tools, re-runs
//! change nothing, every refusal leaves the folder as it was, and `--verify` names bad files.

mod support;

use std::path::Path;

use support::*;

fn artifact(dir: &Path, name: &str, contents: &[u8]) {
    std::fs::write(dir.join(name), contents).unwrap();
    std::fs::write(dir.join(format!("{name}.sha256")), format!("{}  {name}\n", sha256_hex(&dir.join(name)))).unwrap();
}

fn release_folder() -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    artifact(folder.path(), "lumen-argus-x86_64-unknown-linux-gnu", b"proxy binary");
    artifact(folder.path(), "lumen-argus-agent-x86_64-pc-windows-msvc.exe", b"agent binary");
    artifact(folder.path(), "lumen-argus-0.0.1-x86_64-unknown-linux-gnu.tar.gz", b"archive");
    folder
}

fn checksums(args: &[&str]) -> std::process::Output {
    xtask(&repository_root(), &[&["checksums"], args].concat())
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let contents = if e.file_type().unwrap().is_file() { std::fs::read(e.path()).unwrap() } else { Vec::new() };
            (e.file_name().to_string_lossy().into_owned(), contents)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn writes_checksums_and_notes_that_standard_tools_accept_and_reruns_change_nothing() {
    let folder = release_folder();
    let dir = folder.path();
    succeeded(&checksums(&[dir.to_str().unwrap()]), "checksums");
    let listing = std::fs::read_to_string(dir.join("checksums.txt")).unwrap();
    let names: Vec<&str> = listing.lines().map(|line| line.split_once("  ").unwrap().1).collect();
    assert_eq!(
        names,
        [
            "lumen-argus-0.0.1-x86_64-unknown-linux-gnu.tar.gz",
            "lumen-argus-agent-x86_64-pc-windows-msvc.exe",
            "lumen-argus-x86_64-unknown-linux-gnu"
        ]
    );
    assert!(listing.ends_with('\n') && !listing.contains("\n\n") && !listing.contains('\r'));
    assert_standard_tools_accept(dir, "checksums.txt");
    let notes = std::fs::read_to_string(dir.join("release-notes.md")).unwrap();
    let proxy_hash = sha256_hex(&dir.join("lumen-argus-x86_64-unknown-linux-gnu"));
    assert!(notes.contains(&format!("- `lumen-argus-x86_64-unknown-linux-gnu` — `sha256:{proxy_hash}`")), "{notes}");
    assert!(notes.contains("docker pull ghcr.io/lumen-argus/lumen-argus-community:"), "{notes}");
    let before = snapshot(dir);
    succeeded(&checksums(&[dir.to_str().unwrap()]), "second run");
    assert_eq!(snapshot(dir), before);
    succeeded(&checksums(&[dir.to_str().unwrap(), "--verify"]), "verify");
}

fn assert_refused_untouched(dir: &Path, args: &[&str], expected: &str) {
    let before = snapshot(dir);
    let output = checksums(args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(expected), "expected {expected:?} in {stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
    assert_eq!(snapshot(dir), before, "a refused run changed the folder");
}

#[test]
fn conflicts_mismatches_and_bad_names_are_refused_without_touching_anything() {
    let folder = release_folder();
    let dir = folder.path();
    let path = dir.to_str().unwrap();
    succeeded(&checksums(&[path]), "first run");

    std::fs::write(dir.join("extra.sha256"), format!("{}  lumen-argus-x86_64-unknown-linux-gnu\n", "0".repeat(64)))
        .unwrap();
    assert_refused_untouched(dir, &[path], "conflicting checksums: lumen-argus-x86_64-unknown-linux-gnu");
    std::fs::remove_file(dir.join("extra.sha256")).unwrap();

    std::fs::write(dir.join("lumen-argus-x86_64-unknown-linux-gnu"), b"tampered").unwrap();
    assert_refused_untouched(dir, &[path], "do not match their .sha256: lumen-argus-x86_64-unknown-linux-gnu");
    std::fs::write(dir.join("lumen-argus-x86_64-unknown-linux-gnu"), b"proxy binary").unwrap();

    for bad_name in ["../escape", "/etc/passwd", "sub/file"] {
        std::fs::write(dir.join("bad.sha256"), format!("{}  {bad_name}\n", "a".repeat(64))).unwrap();
        assert_refused_untouched(dir, &[path], "not a plain file name");
    }
}

#[test]
fn verify_names_every_bad_file() {
    let folder = release_folder();
    let dir = folder.path();
    let path = dir.to_str().unwrap();
    succeeded(&checksums(&[path]), "checksums");
    std::fs::write(dir.join("lumen-argus-x86_64-unknown-linux-gnu"), b"tampered").unwrap();
    std::fs::remove_file(dir.join("lumen-argus-0.0.1-x86_64-unknown-linux-gnu.tar.gz")).unwrap();
    std::fs::write(dir.join("lumen-argus-aarch64-apple-darwin"), b"stray").unwrap();
    let output = checksums(&[path, "--verify"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lumen-argus-x86_64-unknown-linux-gnu: hash is"), "{stderr}");
    assert!(stderr.contains("lumen-argus-0.0.1-x86_64-unknown-linux-gnu.tar.gz: missing"), "{stderr}");
    assert!(stderr.contains("lumen-argus-aarch64-apple-darwin: not listed"), "{stderr}");
    assert!(!stderr.contains("lumen-argus-agent-x86_64-pc-windows-msvc.exe"), "a good file was reported: {stderr}");
}

/// Regression (issue 12, class 9): a `.sha256` listing `checksums.txt` made a list that fails
/// `sha256sum -c --strict`; the release-notes and manifest names are refused the same way.
#[test]
fn a_sha256_listing_a_file_that_checksums_writes_is_refused() {
    let folder = release_folder();
    let dir = folder.path();
    let path = dir.to_str().unwrap();
    for reserved in ["checksums.txt", "release-notes.md", "manifest.json"] {
        std::fs::write(dir.join(reserved), b"{}").unwrap();
        std::fs::write(dir.join("extra.sha256"), format!("{}  {reserved}\n", sha256_hex(&dir.join(reserved)))).unwrap();
        assert_refused_untouched(dir, &[path], &format!("extra.sha256 lists {reserved}"));
        std::fs::remove_file(dir.join(reserved)).unwrap();
    }
    std::fs::remove_file(dir.join("extra.sha256")).unwrap();
    succeeded(&checksums(&[path]), "checksums without the bad line");
    assert_standard_tools_accept(dir, "checksums.txt");
}

/// Regression (issue 12, class 9): symlinks were followed (a listed link to a file outside the
/// folder verified) and an unlisted link was not reported. Both modes name every link now.
// Unix only: creating a symlink on Windows needs a privilege (or developer mode) runners lack.
#[cfg(unix)]
#[test]
fn symlinks_are_refused_by_name_in_both_modes() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("payload"), b"from elsewhere").unwrap();
    let folder = release_folder();
    let dir = folder.path();
    let path = dir.to_str().unwrap();
    succeeded(&checksums(&[path]), "checksums");
    std::os::unix::fs::symlink(outside.path().join("payload"), dir.join("linked-binary")).unwrap();
    std::fs::write(
        dir.join("linked-binary.sha256"),
        format!("{}  linked-binary\n", sha256_hex(&outside.path().join("payload"))),
    )
    .unwrap();
    assert_refused_untouched(dir, &[path], "holds symlinks: linked-binary");
    std::fs::remove_file(dir.join("linked-binary.sha256")).unwrap();

    // --verify: an unlisted link is reported ...
    let output = checksums(&[path, "--verify"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("linked-binary: a symlink, not listed"), "{}", text(&output.stderr));
    // ... and so is a listed one, even when its target's hash matches.
    let mut listing = std::fs::read_to_string(dir.join("checksums.txt")).unwrap();
    listing.push_str(&format!("{}  linked-binary\n", sha256_hex(&outside.path().join("payload"))));
    std::fs::write(dir.join("checksums.txt"), &listing).unwrap();
    let output = checksums(&[path, "--verify"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("linked-binary: a symlink, not a regular file"), "{}", text(&output.stderr));
}

/// Regression (issue 12, class 9): `--verify` of an empty `checksums.txt` passed.
#[test]
fn verifying_an_empty_list_is_refused() {
    let folder = release_folder();
    let dir = folder.path();
    std::fs::write(dir.join("checksums.txt"), b"").unwrap();
    let output = checksums(&[dir.to_str().unwrap(), "--verify"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lists no files") && stderr.contains("hint: "), "{stderr}");
}

/// Regression (issue 12, class 9): identical duplicate entries were accepted silently;
/// docs/reference/commands.md says duplicates are refused, in one `.sha256`, across two, and in a downloaded `checksums.txt`.
#[test]
fn duplicate_entries_are_refused_in_both_modes() {
    let folder = release_folder();
    let dir = folder.path();
    let path = dir.to_str().unwrap();
    let name = "lumen-argus-x86_64-unknown-linux-gnu";
    let line = format!("{}  {name}\n", sha256_hex(&dir.join(name)));
    std::fs::write(dir.join("copy.sha256"), &line).unwrap();
    assert_refused_untouched(dir, &[path], &format!("listed more than once: {name} in copy.sha256 and {name}.sha256"));
    std::fs::remove_file(dir.join("copy.sha256")).unwrap();
    std::fs::write(dir.join(format!("{name}.sha256")), format!("{line}{line}")).unwrap();
    assert_refused_untouched(dir, &[path], "listed more than once");
    std::fs::write(dir.join(format!("{name}.sha256")), &line).unwrap();
    succeeded(&checksums(&[path]), "checksums");
    assert_standard_tools_accept(dir, "checksums.txt");
    let listing = std::fs::read_to_string(dir.join("checksums.txt")).unwrap();
    std::fs::write(dir.join("checksums.txt"), format!("{listing}{line}")).unwrap();
    let output = checksums(&[path, "--verify"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains(&format!("{name}: listed twice")), "{}", text(&output.stderr));
}

/// Regression (issue 12, class 9): names went into release-notes.md as raw Markdown. A name that
/// would break the notes (a backtick, edge spaces, invisible bidi characters) is refused; an odd
/// but harmless one (spaces, `*`, `|`, non-ASCII) is listed in a code span and passes the tools.
#[test]
fn hostile_names_are_refused_and_odd_ones_survive_the_notes() {
    let folder = release_folder();
    let dir = folder.path();
    let path = dir.to_str().unwrap();
    for hostile in ["evil`name", " leading-space", "trailing-space ", "gnp.exe\u{202e}", "zero\u{200b}width"] {
        std::fs::write(dir.join("hostile.sha256"), format!("{}  {hostile}\n", "a".repeat(64))).unwrap();
        assert_refused_untouched(dir, &[path], "hostile.sha256:1");
    }
    std::fs::remove_file(dir.join("hostile.sha256")).unwrap();
    // Windows file names cannot hold `*` or `|`: there the name keeps the rest of the oddities.
    let odd = if cfg!(windows) { "odd _name_ é [x](y)" } else { "odd *name* | é [x](y)" };
    artifact(dir, odd, b"odd");
    succeeded(&checksums(&[path]), "checksums with an odd name");
    assert_standard_tools_accept(dir, "checksums.txt");
    let notes = std::fs::read_to_string(dir.join("release-notes.md")).unwrap();
    assert!(notes.contains(&format!("- `{odd}` — `sha256:")), "{notes}");
}

/// Regression (issue 12, class 9): `checksums` took its default `dist` from the current directory,
/// while `sidecar` and `smoke` use the repository root. An explicit DIR is still relative to it.
#[test]
fn the_default_folder_is_the_repository_dist_from_any_subfolder() {
    let (_folder, clone) = fresh_clone();
    let dist = clone.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    artifact(&dist, "lumen-argus-x86_64-unknown-linux-gnu", b"proxy binary");
    let from_subfolder = xtask(&clone.join("packages/proxy"), &["checksums"]);
    succeeded(&from_subfolder, "checksums from packages/proxy");
    assert!(dist.join("checksums.txt").is_file(), "the repository's dist/ got no checksums.txt");
    assert!(!clone.join("packages/proxy/dist").exists());
    succeeded(&xtask(&clone.join("packages"), &["checksums", "--verify"]), "verify from packages/");
    let relative = clone.join("packages/downloaded");
    std::fs::create_dir_all(&relative).unwrap();
    artifact(&relative, "lumen-argus-agent-x86_64-unknown-linux-gnu", b"agent");
    succeeded(&xtask(&clone.join("packages"), &["checksums", "downloaded"]), "explicit relative DIR");
    assert!(relative.join("checksums.txt").is_file());
}

/// Regression (issue 12, class 9): a corrupt manifest.json, a `.sha256` that is a folder or is
/// not UTF-8 got an error without a hint.
#[test]
fn corrupt_manifest_and_unreadable_sha256_files_get_a_hint() {
    let folder = release_folder();
    let dir = folder.path();
    let path = dir.to_str().unwrap();
    std::fs::write(dir.join("manifest.json"), b"{\"artifacts\": [").unwrap();
    assert_refused_untouched(dir, &[path], "manifest.json is not valid JSON");
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    std::fs::create_dir(dir.join("folder.sha256")).unwrap();
    assert_refused_untouched(dir, &[path], "folder.sha256 is a folder");
    std::fs::remove_dir(dir.join("folder.sha256")).unwrap();
    std::fs::write(dir.join("latin1.sha256"), b"\xff\xfe not text\n").unwrap();
    assert_refused_untouched(dir, &[path], "latin1.sha256 is not UTF-8 text");
}

/// The `error:` and `hint:` lines of a run refused with exit code 1.
fn refusal_lines(output: &std::process::Output) -> (String, String) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let line = |prefix: &str| stderr.lines().find_map(|line| line.strip_prefix(prefix)).map(str::to_string);
    let (Some(error), Some(hint)) = (line("error: "), line("hint: ")) else { panic!("no error and hint in {stderr}") };
    (error, hint)
}

/// A fresh clone has built nothing yet: `checksums` and `checksums --verify` say what is wrong on
/// the first line, and the hint says what to run first and names the folder they looked in.
#[test]
fn a_fresh_clone_is_told_to_build_first() {
    let (_folder, clone) = fresh_clone();
    let (error, hint) = refusal_lines(&xtask(&clone, &["checksums"]));
    let dist = error.strip_suffix(" does not exist: nothing has been built in this checkout yet").expect(&error);
    assert!(dist.ends_with("dist"), "{error}");
    assert!(hint.starts_with("build first: `cargo xtask sidecar`") && hint.contains(&format!("into {dist}")), "{hint}");
    let (verify_error, hint) = refusal_lines(&xtask(&clone, &["checksums", "--verify"]));
    assert_eq!(verify_error, error);
    for step in ["`cargo xtask sidecar`", "`cargo xtask checksums`", &format!("into {dist}"), "point --verify at"] {
        assert!(hint.contains(step), "{step:?} not in {hint}");
    }

    std::fs::create_dir(clone.join("dist")).unwrap();
    let (error, hint) = refusal_lines(&xtask(&clone, &["checksums"]));
    assert_eq!(error, format!("{dist} holds no .sha256 files"));
    assert!(hint.starts_with("build first: `cargo xtask sidecar`"), "{hint}");
    let (error, hint) = refusal_lines(&xtask(&clone, &["checksums", "--verify"]));
    let list = Path::new(dist).join("checksums.txt");
    assert!(error.starts_with(&list.display().to_string()), "{error}");
    assert!(error.contains("is missing"), "{error}");
    let write_list = format!("`cargo xtask checksums {}`", shell_word(dist));
    assert!(hint.contains(&write_list) && hint.contains("point --verify at the folder"), "{hint}");
}

/// Files built at other versions than the checkout's (built, then `bump`ed) are refused: their
/// notes would name the checkout's release and Docker tag next to archives of another version.
#[test]
fn files_built_at_other_versions_than_the_checkout_are_refused() {
    let folder = release_folder();
    let dir = folder.path();
    let manifest = serde_json::json!({"artifacts": [
        {"file": "lumen-argus-x86_64-unknown-linux-gnu", "kind": "binary", "package": "proxy", "version": "0.0.1"},
    ]});
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    assert_refused_untouched(
        dir,
        &[dir.to_str().unwrap()],
        "were built at other versions than this checkout's: proxy 0.0.1",
    );
}
